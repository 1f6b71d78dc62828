// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * test_node.c - where splitd sits on a node: --cgroup auto over fake cgroup2
 * trees (plain directories and a mounts file of our own: no real cgroup is
 * ever chosen here), and splitd's own cgroup from fake /proc files.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "node.h"
#include "test.h"

static char base[64];

static void mk(const char *rel)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/%s", base, rel);
	mkdir(p, 0755);
}

static void put(const char *rel, const char *text)
{
	char p[PATH_MAX];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", base, rel);
	f = fopen(p, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void fresh(void)
{
	char cmd[128];

	if (base[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
		if (system(cmd))
			fprintf(stderr, "cleanup of %s failed\n", base);
	}
	snprintf(base, sizeof(base), "/tmp/split-test-node.XXXXXX");
	if (!mkdtemp(base))
		base[0] = 0;
}

/* A mounts file naming base/<a> (and base/<b>) as cgroup2 mounts, with
 * other filesystems around them. */
static void mounts(const char *a, const char *b)
{
	char text[2048];

	snprintf(text, sizeof(text),
		 "proc /proc proc rw 0 0\n"
		 "tmpfs %s/tmp tmpfs rw 0 0\n"
		 "cgroup2 %s/%s cgroup2 rw,nosuid 0 0\n"
		 "%s%s%s%s",
		 base, base, a, b ? "cgroup2 " : "", b ? base : "", b ? "/" : "",
		 b ? b : "");
	if (b)
		strcat(text, " cgroup2 rw 0 0\n");
	put("mounts", text);
}

/* split_cgroup_auto() on the fake base/mounts returns RET and names the
 * cgroup base/REL. */
#define ASSERT_AUTO(ret, rel)                                             \
	do {                                                              \
		char o_[PATH_MAX], w_[PATH_MAX], mf_[PATH_MAX];           \
		snprintf(mf_, sizeof(mf_), "%s/mounts", base);            \
		ASSERT_EQ(split_cgroup_auto(mf_, NULL, o_, sizeof(o_)), ret); \
		snprintf(w_, sizeof(w_), "%s/%s", base, rel);             \
		ASSERT_STREQ(o_, w_);                                     \
	} while (0)

TEST(cgroup_auto_finds_kubepods_slice)
{
	fresh();
	ASSERT_TRUE(base[0]);
	mk("cg");
	mk("cg/system.slice");
	mk("cg/kubepods");		/* cgroupfs name: systemd's wins */
	mk("cg/kubepods.slice");
	mounts("cg", NULL);
	ASSERT_AUTO(1, "cg/kubepods.slice");
}

TEST(cgroup_auto_cgroupfs_driver)
{
	fresh();
	mk("cg");
	mk("cg/kubepods");
	mounts("cg", NULL);
	ASSERT_AUTO(1, "cg/kubepods");
	/* A file of that name is not a cgroup. */
	fresh();
	mk("cg");
	put("cg/kubepods.slice", "x");
	mounts("cg", NULL);
	ASSERT_AUTO(0, "cg");
}

TEST(cgroup_auto_second_mount_and_fallback)
{
	char out[PATH_MAX], mf[PATH_MAX];

	/* The container's own cgroup2 first (no kubepods), the node's second. */
	fresh();
	mk("own");
	mk("node");
	mk("node/kubepods.slice");
	mounts("own", "node");
	ASSERT_AUTO(1, "node/kubepods.slice");
	/* No kubepods anywhere: the first mount's root. */
	fresh();
	mk("own");
	mk("node");
	mounts("own", "node");
	ASSERT_AUTO(0, "own");
	/* No cgroup2 mount at all: an error. */
	put("mounts", "proc /proc proc rw 0 0\n");
	snprintf(mf, sizeof(mf), "%s/mounts", base);
	ASSERT_EQ(split_cgroup_auto(mf, NULL, out, sizeof(out)), -ENOENT);
	/* A mount listed but not there is skipped. */
	mounts("gone", "node");
	ASSERT_AUTO(0, "node");
}

TEST(cgroup_auto_with_root)
{
	char out[PATH_MAX], want[PATH_MAX], root[PATH_MAX];

	fresh();
	mk("node");
	mk("node/kubepods");
	snprintf(root, sizeof(root), "%s/node/", base);	/* trailing slash */
	ASSERT_EQ(split_cgroup_auto("/nonexistent", root, out, sizeof(out)), 1);
	snprintf(want, sizeof(want), "%s/node/kubepods", base);
	ASSERT_STREQ(out, want);
	snprintf(root, sizeof(root), "%s/node/kubepods", base);
	ASSERT_EQ(split_cgroup_auto(NULL, root, out, sizeof(out)), 0);
	ASSERT_STREQ(out, root);
	snprintf(root, sizeof(root), "%s/missing", base);
	ASSERT_EQ(split_cgroup_auto(NULL, root, out, sizeof(out)), -ENOTDIR);
	ASSERT_EQ(split_cgroup_auto(NULL, "", out, sizeof(out)), -ENOTDIR);
	/* Too small a buffer: an error, not a cut path. */
	snprintf(root, sizeof(root), "%s/node", base);
	ASSERT_EQ(split_cgroup_auto(NULL, root, out, 8), -ENAMETOOLONG);
}

/* A fake procfs: self/cgroup and self/mountinfo. */
static void fake_proc(const char *cgroup, const char *mountinfo)
{
	mk("proc");
	mk("proc/self");
	put("proc/self/cgroup", cgroup);
	put("proc/self/mountinfo", mountinfo);
}

TEST(self_cgroup_in_a_cgroup_namespace)
{
	char proc[PATH_MAX], mi[4096], path[PATH_MAX], want[PATH_MAX];
	uint64_t id = 0;
	struct stat s;

	fresh();
	mk("host");
	mk("host/kubepods.slice");
	mk("own");
	mk("own/sub");
	/* The node's cgroup2 bound in from outside our namespace (root
	 * "/../.."): not ours to use. Ours, "/" with a space in the path. */
	mk("my cg");
	mk("my cg/sub");
	snprintf(mi, sizeof(mi),
		 "22 1 0:21 / /proc rw - proc proc rw\n"
		 "30 1 0:26 /../.. %s/host rw,relatime - cgroup2 cgroup2 rw\n"
		 "31 1 0:26 / %s/my\\040cg rw shared:9 - cgroup2 cgroup2 rw\n",
		 base, base);
	fake_proc("12:cpu:/x\n0::/sub\n", mi);
	snprintf(proc, sizeof(proc), "%s/proc", base);
	ASSERT_EQ(split_self_cgroup_id(proc, &id, path, sizeof(path)), 0);
	snprintf(want, sizeof(want), "%s/my cg/sub", base);
	ASSERT_STREQ(path, want);
	ASSERT_EQ(stat(want, &s), 0);
	ASSERT_EQ(id, (uint64_t)s.st_ino);
	/* At the namespace root: the mount itself. */
	fake_proc("0::/\n", mi);
	ASSERT_EQ(split_self_cgroup_id(proc, &id, path, sizeof(path)), 0);
	snprintf(want, sizeof(want), "%s/my cg", base);
	ASSERT_STREQ(path, want);
}

TEST(self_cgroup_errors)
{
	char proc[PATH_MAX], mi[1024];
	uint64_t id = 7;

	fresh();
	mk("cg");
	snprintf(proc, sizeof(proc), "%s/proc", base);
	snprintf(mi, sizeof(mi), "31 1 0:26 / %s/cg rw - cgroup2 cgroup2 rw\n", base);
	/* cgroup v1 only: no "0::" line. */
	fake_proc("4:memory:/a\n", mi);
	ASSERT_EQ(split_self_cgroup_id(proc, &id, NULL, 0), -ENOENT);
	/* Our cgroup's directory is not under the mount. */
	fake_proc("0::/elsewhere\n", mi);
	ASSERT_EQ(split_self_cgroup_id(proc, &id, NULL, 0), -ENOENT);
	/* Only a bound subtree: no mount with our namespace's root. */
	snprintf(mi, sizeof(mi), "31 1 0:26 /x %s/cg rw - cgroup2 cgroup2 rw\n", base);
	fake_proc("0::/\n", mi);
	ASSERT_EQ(split_self_cgroup_id(proc, &id, NULL, 0), -ENOENT);
	/* Garbage lines. */
	fake_proc("0::/\n", "garbage\n - cgroup2 \n1 2 3\n");
	ASSERT_EQ(split_self_cgroup_id(proc, &id, NULL, 0), -ENOENT);
	ASSERT_EQ(id, 7);
	snprintf(proc, sizeof(proc), "%s/noproc", base);
	ASSERT_EQ(split_self_cgroup_id(proc, &id, NULL, 0), -ENOENT);
}

TEST(self_cgroup_real)
{
	uint64_t id = 0;
	char path[PATH_MAX];
	struct stat s;
	int r;

	/* This process, on this machine: the id is its cgroup directory's. */
	if ((r = split_self_cgroup_id("/proc", &id, path, sizeof(path)))) {
		TEST_SKIP("no cgroup v2 here: %s", strerror(-r));
	}
	ASSERT_EQ(stat(path, &s), 0);
	ASSERT_EQ(id, (uint64_t)s.st_ino);
	ASSERT_GT(id, 0);
}

static void cleanup(void)
{
	char cmd[128];

	if (base[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
		if (system(cmd))
			fprintf(stderr, "cleanup of %s failed\n", base);
	}
}

/* also when a timeout's SIGTERM or a sanitizer's report ends the binary */
__attribute__((constructor)) static void cleanup_at_exit(void)
{
	test_at_exit(cleanup);
}
