// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * test_once.c - the record of `splitd --once` (user/lib/config/once.c) on
 * real pinned maps, under ASan/UBSan (root).
 *
 * Node A gets what splitd --once does: a full apply of the services file
 * (as apply_config: split_input_load, merge, split_apply) followed by
 * split_once_record(), then, after the file changed, split_once_plan() and
 * split_once_apply(). Node B gets the same files through full applies only
 * (the oracle). After every step the maps of A and B must be the same
 * (services, backends, weights, VIPs, names, objects, L7 maps, and tables
 * by what they hold), like tests/e2e/test_once.sh compares them with
 * build/mapdump. Also: what the plan refuses, a commit by someone else in
 * between, when no record is written, and weights set by splitctl's path.
 *
 * Each node loads split_sock (attached nowhere) with its maps pinned under
 * its own /sys/fs/bpf/split-test-once-<pid>-<n>; split_unload() of it at
 * the end (also at exit on failure) removes its record in /run/split too.
 * Services files go in a mkdtemp dir removed at exit.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "apply.h"
#include "log.h"
#include "mapsize.h"
#include "once.h"
#include "ops.h"
#include "split_sock.skel.h"
#include "state.h"
#include "test.h"
#include "util.h"

/* ---- fixture: nodes and files --------------------------------------------- */

#define NODE_TAG "once"
#include "state_node.h"

static char tmpdir[64];

static void remove_tmpdir(void)
{
	if (tmpdir[0]) {
		DIR *d = opendir(tmpdir);
		struct dirent *e;
		char p[PATH_MAX];

		while (d && (e = readdir(d)))
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
				snprintf(p, sizeof(p), "%s/%s", tmpdir, e->d_name);
				unlink(p);
			}
		if (d)
			closedir(d);
		rmdir(tmpdir);
	}
}

__attribute__((constructor)) static void remove_tmpdir_at_exit(void)
{
	test_at_exit(remove_tmpdir);
}

static void record_path(char *buf, size_t len, const struct node *n)
{
	split_run_path(buf, len, n->pin, ".once");
}

static int have_record(const struct node *n)
{
	char p[PATH_MAX];
	struct stat sb;

	record_path(p, sizeof(p), n);
	return !stat(p, &sb);
}

/* Root, a services file path in the temp dir, /run/split. */
static int setup(char *path, size_t len, struct split_err *err)
{
	if (!tmpdir[0]) {
		snprintf(tmpdir, sizeof(tmpdir), "/tmp/split-test-once-XXXXXX");
		if (!mkdtemp(tmpdir)) {
			tmpdir[0] = 0;
			return split_errc(err, errno, "mkdtemp: %s", strerror(errno));
		}
	}
	snprintf(path, len, "%s/svc.yaml", tmpdir);
	if (mkdir("/run/split", 0755) && errno != EEXIST)
		return split_errc(err, errno, "/run/split: %s", strerror(errno));
	return 0;
}

/* Written whole and renamed over the old file, as an editor or kubelet. */
static int write_file(const char *path, const char *text)
{
	char tmp[PATH_MAX];
	size_t len = strlen(text);
	int fd, ok;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	ok = write(fd, text, len) == (ssize_t)len;
	ok = !close(fd) && ok;
	return ok ? rename(tmp, path) : -1;
}

/*
 * The services file: a comment, then NSVC services, one document each, in
 * an order that is not their names' (nor their namespaces'). web has two
 * VIPs (IPv4 and IPv6) and two ports, the first the higher. Each edit
 * changes one service's document.
 */
#define NSVC 6
static const char *const names[NSVC] = { "web", "zulu", "alpha", "cart", "beta", "mid" };

enum {
	E_GROW = 1 << 0,	/* a third endpoint (v2) */
	E_SHRINK = 1 << 1,	/* no v2 endpoint */
	E_V3 = 1 << 2,		/* a v3 endpoint */
	E_VIP = 1 << 3,		/* another IPv4 VIP */
	E_PORT = 1 << 4,	/* port 81, not 80 */
	E_RENAME = 1 << 5,	/* name-x */
	E_BROKEN = 1 << 6,	/* not YAML */
	E_COMMENT = 1 << 7,	/* a comment line: other bytes, the same service */
	E_ISTIO = 1 << 8,	/* a VirtualService in its place */
	E_NOTSVC = 1 << 9,	/* kind ConfigMap */
	E_TPORT = 1 << 10,	/* another targetPort (web: 9091; else 8081) */
	E_NS = 1 << 11,		/* the other namespace */
	E_EMPTY = 1 << 12,	/* a document of comments only */
};

/* How the file is written (file_spec.shape). */
enum {
	SH_NOHEAD = 1 << 0,	/* no comment first: the file starts with "---" */
	SH_NOMARK = 1 << 1,	/* ... and the first document has no "---" */
	SH_CRLF = 1 << 2,	/* lines end with "\r\n" */
	SH_HEAD2 = 1 << 3,	/* another first comment */
};

struct file_spec {
	unsigned ed[NSVC];
	int add;		/* a seventh service, "extra", at the end */
	int drop;		/* the last service's document left out */
	int istio;		/* a VirtualService for web at the end */
	int shape;		/* SH_* */
};

static size_t svc_doc(char *b, size_t cap, int i, unsigned e)
{
	size_t off = 0;

#define P(...) (off += (size_t)snprintf(b + off, off < cap ? cap - off : 0, __VA_ARGS__))
	if (e & E_BROKEN) {
		P("---\napiVersion: split.dev/v1\nkind: Service\nmetadata:\n  name: [broken\n");
		return off;
	}
	if (e & E_EMPTY) {
		P("---\n# %s was here\n", names[i]);
		return off;
	}
	if (e & E_ISTIO) {
		P("---\napiVersion: networking.istio.io/v1beta1\nkind: VirtualService\n"
		  "metadata: {name: %s}\nspec:\n  hosts: [%s]\n  http:\n  - route:\n"
		  "    - destination: {host: %s}\n", names[i], names[i], names[i]);
		return off;
	}
	P("---\napiVersion: %s\nkind: %s\nmetadata:\n  name: %s%s\n",
	  "split.dev/v1", e & E_NOTSVC ? "ConfigMap" : "Service",
	  i < NSVC ? names[i] : "extra", e & E_RENAME ? "-x" : "");
	if (!(i % 2) != !(e & E_NS))
		P("  namespace: prod\n");
	if (e & E_COMMENT)
		P("# edited\n");
	P("spec:\n  clusterIPs: [10.%d.%d.10%s]\n  ports:\n", e & E_VIP ? 97 : 96, i,
	  i ? "" : ", fd00::96:10");
	if (!i)
		P("  - name: alt\n    port: 8080\n    targetPort: %d\n", e & E_TPORT ? 9091 : 9090);
	P("  - name: http\n    port: %d\n", e & E_PORT ? 81 : 80);
	if (i && (e & E_TPORT))
		P("    targetPort: 8081\n");
	P("  endpoints:\n");
	P("  - addresses: [10.201.%d.1]\n    labels: {version: v1}\n", i);
	if (!(e & E_SHRINK))
		P("  - addresses: [10.201.%d.2]\n    labels: {version: v2}\n", i);
	if (e & E_GROW)
		P("  - addresses: [10.201.%d.3]\n    labels: {version: v2}\n", i);
	if (e & E_V3)
		P("  - addresses: [10.201.%d.4]\n    labels: {version: v3}\n", i);
#undef P
	return off;
}

static char *file_text(const struct file_spec *f)
{
	size_t cap = 64 * 1024, off = 0, n = 0;
	char *b = malloc(cap), *c;

	if (!b)
		return NULL;
	if (!(f->shape & (SH_NOHEAD | SH_NOMARK)))
		off += (size_t)snprintf(b, cap, "# services for %s\n",
					f->shape & SH_HEAD2 ? "the test of --once" : "test_once");
	for (int i = 0; i < NSVC - (f->drop ? 1 : 0); i++)
		off += svc_doc(b + off, cap - off, i, f->ed[i]);
	if (f->add)
		off += svc_doc(b + off, cap - off, NSVC, 0);
	if (f->istio)
		off += svc_doc(b + off, cap - off, 0, E_ISTIO);
	if ((f->shape & SH_NOMARK) && !strncmp(b, "---\n", 4))
		memmove(b, b + 4, strlen(b + 4) + 1);
	if (!(f->shape & SH_CRLF))
		return b;
	c = malloc(2 * cap);
	for (size_t i = 0; c && b[i]; i++) {
		if (b[i] == '\n')
			c[n++] = '\r';
		c[n++] = b[i];
	}
	if (c)
		c[n] = 0;
	free(b);
	return c;
}

static int write_spec(const char *path, const struct file_spec *f)
{
	char *t = file_text(f);
	int r = t ? write_file(path, t) : -1;

	free(t);
	return r;
}

/* ---- the two paths ---------------------------------------------------------- */

/*
 * What splitd's apply_config() does for a services file without a config
 * dir, on input in (loaded by the caller): the services merged with the
 * weights in force, the objects in force plus the file's, applied. *nobjs:
 * the objects in force after it.
 */
static int apply_input(struct node *n, struct split_input *in, size_t *nobjs,
		       struct split_err *err)
{
	struct split_objs objs = { 0 };
	int ret = -1;

	*nobjs = 0;
	if (split_state_lock(&n->st, err))
		return -1;
	if (split_state_merge(&n->st, &in->svcs, err) || split_objs_read(&n->st, &objs, err))
		goto unlock;
	if (split_objs_merge(&objs, &in->objs)) {
		split_errc(err, ENOMEM, "out of memory");
		goto unlock;
	}
	if (split_apply(&n->st, &in->svcs, &objs, in, err))
		goto unlock;
	if (split_owners_write(n->pin, NULL, NULL, err))
		goto unlock;
	*nobjs = objs.n;
	ret = 0;
unlock:
	split_state_unlock(&n->st);
	split_objs_free(&objs);
	return ret;
}

/* A full apply of the file at path; with record, split_once_record() after
 * it, as splitd --once does. */
static int full_apply(struct node *n, const char *path, int record, struct split_err *err)
{
	struct split_input in = { 0 };
	size_t nobjs;
	int ret;

	if (split_input_load(&path, 1, &in, err))
		return -1;
	ret = apply_input(n, &in, &nobjs, err);
	if (!ret && record)
		ret = split_once_record(n->pin, path, &in, nobjs, &n->st, 0, err);
	split_input_free(&in);
	return ret;
}

/* split_once_plan() + split_once_apply(): -1 plan refused, else what the
 * apply returned; why says why not. */
static int once_apply(struct node *n, const char *path, size_t *nsvcs, size_t *changed,
		      char *why, size_t wlen)
{
	struct split_once *o = split_once_plan(n->pin, path, why, wlen);
	int r;

	*nsvcs = *changed = (size_t)-1;
	if (!o)
		return -1;
	r = split_once_apply(o, &n->st, 0, nsvcs, changed, why, wlen);
	split_once_free(o);
	return r;
}

/* splitctl set REF ARGV... through its library path, on a handle of its own. */
static int set_weights(const struct node *n, const char *ref, int argc, char **argv,
		       struct split_err *err)
{
	struct split_config cfg = { 0 };
	struct split_object_key id = { 0 };
	struct split_state st;
	int idx, ret = -1;

	if (split_state_open_some(&st, n->pin, err))
		return -1;
	if (split_state_lock(&st, err))
		goto out;
	if (!split_state_read_service(&st, ref, &cfg, err) &&
	    (idx = split_config_find(&cfg, ref, err)) >= 0 &&
	    !split_set_weights(&st, &cfg, (size_t)idx, argc, argv, &id, err))
		ret = 0;
	split_state_unlock(&st);
out:
	split_state_close(&st);
	split_config_free(&cfg);
	return ret;
}

/* The weight of version ver of service ref in the maps; -1: none. */
static long weight_of(struct node *n, const char *ref, const char *ver)
{
	struct split_config cfg = { 0 };
	struct split_err err;
	long w = -1;
	int idx;

	if (!split_state_read(&n->st, &cfg, &err) && (idx = split_config_find(&cfg, ref, &err)) >= 0)
		for (size_t v = 0; v < cfg.svcs[idx].nversions; v++)
			if (!strcmp(cfg.svcs[idx].versions[v].name, ver))
				w = cfg.svcs[idx].versions[v].weight;
	split_config_free(&cfg);
	return w;
}

/* ---- what the maps hold ------------------------------------------------------ */

struct dump {
	char **l;
	size_t n, cap;
};

static void dump_free(struct dump *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->l[i]);
	free(d->l);
	memset(d, 0, sizeof(*d));
}

static int dump_add(struct dump *d, const char *map, const void *k, size_t kl, const char *v)
{
	size_t len = strlen(map) + 2 * kl + strlen(v) + 3, off;
	char *s = malloc(len);

	if (!s || split_grow((void **)&d->l, &d->cap, d->n, sizeof(*d->l))) {
		free(s);
		return -1;
	}
	off = (size_t)snprintf(s, len, "%s ", map);
	for (size_t i = 0; i < kl; i++)
		off += (size_t)snprintf(s + off, len - off, "%02x", ((const unsigned char *)k)[i]);
	snprintf(s + off, len - off, " %s", v);
	d->l[d->n++] = s;
	return 0;
}

static int open_map(const struct node *n, const char *name, struct bpf_map_info *info)
{
	char p[PATH_MAX];
	__u32 len = sizeof(*info);
	int fd;

	snprintf(p, sizeof(p), "%s/%s", n->pin, name);
	fd = bpf_obj_get(p);
	memset(info, 0, sizeof(*info));
	if (fd >= 0 && bpf_obj_get_info_by_fd(fd, info, &len)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Every entry of a plain map: key and value, byte for byte. */
static int dump_map(const struct node *n, const char *name, struct dump *d)
{
	struct bpf_map_info info;
	unsigned char *k = NULL, *cur = NULL, *v = NULL, *prev = NULL;
	char *hex = NULL;
	int fd = open_map(n, name, &info), ret = -1;

	if (fd < 0)
		return -1;
	k = calloc(1, info.key_size);
	cur = calloc(1, info.key_size);
	v = calloc(1, info.value_size);
	hex = calloc(1, 2 * info.value_size + 1);
	if (!k || !cur || !v || !hex)
		goto out;
	while (!bpf_map_get_next_key(fd, prev, k)) {
		memcpy(cur, k, info.key_size);
		prev = cur;
		if (bpf_map_lookup_elem(fd, k, v)) {
			if (errno == ENOENT)
				continue;
			goto out;
		}
		for (__u32 i = 0; i < info.value_size; i++)
			snprintf(hex + 2 * i, 3, "%02x", v[i]);
		if (dump_add(d, name, k, info.key_size, hex))
			goto out;
	}
	ret = 0;
out:
	free(k);
	free(cur);
	free(v);
	free(hex);
	close(fd);
	return ret;
}

static __u64 fnv(__u64 h, const void *p, size_t n)
{
	const unsigned char *c = p;

	while (n--)
		h = (h ^ *c++) * 0x100000001b3ULL;
	return h;
}

/* tables_v3 by what each table holds (its kind, length, backends slot by
 * slot), not where (offsets and inner map ids are history). */
static int dump_tables(const struct node *n, struct dump *d)
{
	static struct split_big_table big;
	struct bpf_map_info ti, si, bi;
	int tfd = open_map(n, SPLIT_MAP_TABLES, &ti), sfd = open_map(n, SPLIT_MAP_SLOTS, &si);
	int bfd = open_map(n, SPLIT_MAP_BIG_TABLES, &bi), ret = -1;
	__u32 k, cur, *prev = NULL;

	if (tfd < 0 || sfd < 0 || bfd < 0)
		goto out;
	while (!bpf_map_get_next_key(tfd, prev, &k)) {
		struct split_table_val tv;
		__u64 h = 0xcbf29ce484222325ULL;
		__u32 id, zero = 0;
		int ifd = -1;
		char v[64];

		cur = k;
		prev = &cur;
		if (k & SPLIT_TBL_TOMB)
			continue;
		if (bpf_map_lookup_elem(tfd, &k, &tv)) {
			if (errno == ENOENT)
				continue;
			goto out;
		}
		if (tv.kind == SPLIT_TBL_BIG) {
			if (bpf_map_lookup_elem(bfd, &k, &id) ||
			    (ifd = bpf_map_get_fd_by_id(id)) < 0)
				goto out;
			if (bpf_map_lookup_elem(ifd, &zero, &big) || tv.nslots > SPLIT_TABLE_SLOTS) {
				close(ifd);
				goto out;
			}
		}
		for (__u32 s = 0; tv.kind != SPLIT_TBL_FREED && s < tv.nslots; s++) {
			__u32 b;

			if (ifd >= 0) {
				b = big.k[s] ? SPLIT_BACKEND_ID(SPLIT_TABLE_SVC(k), big.k[s]) : 0;
			} else {
				struct split_slot_pair pr;
				__u32 cell = (tv.offset + s) / 2;

				if (bpf_map_lookup_elem(sfd, &cell, &pr))
					goto out;
				b = pr.backend_id[(tv.offset + s) & 1];
			}
			h = fnv(h, &b, sizeof(b));
		}
		if (ifd >= 0)
			close(ifd);
		snprintf(v, sizeof(v), "%u %u %016llx", tv.kind, tv.nslots, (unsigned long long)h);
		if (dump_add(d, SPLIT_MAP_TABLES, &k, sizeof(k), v))
			goto out;
	}
	ret = 0;
out:
	if (tfd >= 0)
		close(tfd);
	if (sfd >= 0)
		close(sfd);
	if (bfd >= 0)
		close(bfd);
	return ret;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The maps test_once.sh compares (and svc_names), sorted. */
static int dump_node(const struct node *n, struct dump *d)
{
	static const char *const maps[] = {
		SPLIT_MAP_SVC, SPLIT_MAP_BACKENDS, SPLIT_MAP_SERVICES, SPLIT_MAP_SVC_NAMES,
		SPLIT_MAP_WEIGHTS, SPLIT_MAP_OBJECTS, SPLIT_MAP_L7_ROUTES, SPLIT_MAP_L7_CONDS,
	};

	memset(d, 0, sizeof(*d));
	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++)
		if (dump_map(n, maps[i], d)) {
			fprintf(stderr, "  dumping %s/%s: %s\n", n->pin, maps[i], strerror(errno));
			return -1;
		}
	if (dump_tables(n, d)) {
		fprintf(stderr, "  dumping %s/%s: %s\n", n->pin, SPLIT_MAP_TABLES, strerror(errno));
		return -1;
	}
	qsort(d->l, d->n, sizeof(*d->l), str_cmp);
	return 0;
}

/* 1 when a and b hold the same; else 0, with the first difference. */
static int dumps_same(const struct dump *a, const struct dump *b, const char *what)
{
	size_t i = 0;

	for (; i < a->n && i < b->n; i++)
		if (strcmp(a->l[i], b->l[i]))
			break;
	if (i == a->n && i == b->n)
		return 1;
	fprintf(stderr, "  %s: maps differ at entry %zu of %zu/%zu:\n    %.200s\n    %.200s\n",
		what, i, a->n, b->n, i < a->n ? a->l[i] : "(none)",
		i < b->n ? b->l[i] : "(none)");
	return 0;
}

/* 1 when nodes a and b hold the same (at least one service); else 0. */
static int same_maps(const struct node *a, const struct node *b, const char *what)
{
	struct dump da = { 0 }, db = { 0 };
	int same = !dump_node(a, &da) && !dump_node(b, &db) && da.n > 0 &&
		   dumps_same(&da, &db, what);

	dump_free(&da);
	dump_free(&db);
	return same;
}

/* ---- test macros ---------------------------------------------------------- */

#define SETUP(path)                                                       \
	do {                                                              \
		struct split_err e_;                                      \
		if (geteuid())                                            \
			TEST_SKIP("needs root (bpffs, /run/split)");      \
		if (setup(path, sizeof(path), &e_))                       \
			TEST_FAIL_("setup: %s", e_.msg);                  \
	} while (0)

#define NODE_UP(n)                                                        \
	do {                                                              \
		if (node_up(n, NULL)) {                                         \
			int e_ = errno;                                   \
			node_down(n);                                     \
			TEST_FAIL_("node: %s", strerror(e_));             \
		}                                                         \
	} while (0)

/* Each macro below ends the test with both nodes down on failure. */
#define DOWN() (node_down(&a), node_down(&b))

#define CHECK(c, fmt, ...)                                                \
	do {                                                              \
		if (!(c)) {                                               \
			DOWN();                                           \
			TEST_FAIL_("%s: " fmt, #c, ##__VA_ARGS__);        \
		}                                                         \
	} while (0)

#define WRITE(spec) CHECK(!write_spec(path, spec), "writing %s: %s", path, strerror(errno))

#define FULL(n, record)                                                   \
	do {                                                              \
		struct split_err e_;                                      \
		CHECK(!full_apply(n, path, record, &e_), "full apply: %s", e_.msg); \
	} while (0)

#define SAME(what) CHECK(same_maps(&a, &b, what), "%s", what)

/* A and B through the file of spec: A from its record (want 1 and
 * changed as given), B in full; then the same maps. */
#define STEP(spec, want_changed, what)                                    \
	do {                                                              \
		size_t ns_, ch_;                                          \
		char why_[512] = "";                                      \
		int r_;                                                   \
		WRITE(spec);                                              \
		r_ = once_apply(&a, path, &ns_, &ch_, why_, sizeof(why_)); \
		CHECK(r_ == 1, "%s: from the record: %d (%s)", what, r_, why_); \
		CHECK(ch_ == (want_changed), "%s: changed %zu", what, ch_); \
		CHECK(ns_ == NSVC, "%s: nsvcs %zu", what, ns_);           \
		FULL(&b, 0);                                              \
		SAME(what);                                               \
	} while (0)

/* Both nodes up, the base file (of that shape) applied to both, A with
 * its record. */
#define START_SHAPE(sh)                                                   \
	struct node a, b;                                                 \
	char path[PATH_MAX];                                              \
	struct file_spec base = { .shape = (sh) };                        \
	SETUP(path);                                                      \
	memset(&b, 0, sizeof(b));                                         \
	NODE_UP(&a);                                                      \
	if (node_up(&b, NULL)) {                                                \
		int e_ = errno;                                           \
		DOWN();                                                   \
		TEST_FAIL_("node: %s", strerror(e_));                     \
	}                                                                 \
	WRITE(&base);                                                     \
	FULL(&a, 1);                                                      \
	FULL(&b, 0);                                                      \
	CHECK(have_record(&a), "no record after a full apply");           \
	SAME("the first apply")
#define START() START_SHAPE(0)

/* Removes both nodes and A's record; passes only if it went. */
#define END()                                                             \
	do {                                                              \
		struct node a_ = a;                                       \
		DOWN();                                                   \
		ASSERT_FALSE(have_record(&a_));                           \
	} while (0)

/* ---- 1. one document changed ------------------------------------------------ */

TEST(one_document_changed)
{
	START();
	struct file_spec f = base;
	struct dump d0 = { 0 }, d1 = { 0 };
	int moved;

	f.ed[3] = E_GROW;
	CHECK(!dump_node(&a, &d0), "dump");
	STEP(&f, 1, "cart gains an endpoint");
	/* the edit is one the maps show (the comparisons with B are not
	 * of two nodes that stood still) */
	moved = !dump_node(&a, &d1) && d1.n > d0.n;
	dump_free(&d0);
	dump_free(&d1);
	CHECK(moved, "cart's new endpoint is not in A's maps");
	STEP(&f, 0, "the same file again (the record's header was updated)");
	f.ed[3] = 0;
	STEP(&f, 1, "cart loses it again");
	/* two VIPs, two ports (the first the higher), the first service */
	f.ed[0] = E_GROW | E_V3;
	STEP(&f, 1, "web gains a v2 and a v3 endpoint");
	/* the last document, in another namespace */
	f.ed[0] = E_GROW | E_V3;
	f.ed[5] = E_SHRINK;
	/* two changed against the base, one against the record */
	STEP(&f, 1, "mid loses its v2");
	f.ed[2] = E_COMMENT;
	STEP(&f, 1, "a comment in alpha's document");
	/* the first section: no service */
	f.shape = SH_HEAD2;
	STEP(&f, 0, "the first comment edited");
	STEP(&f, 0, "the first comment edited, again");
	END();
}

/* ---- 2. a commit by someone else in between --------------------------------- */

/* The apply from the record refused with a reason, A's maps unchanged. */
#define NOT_FROM_RECORD(what, reason)                                     \
	do {                                                              \
		struct dump d0_, d1_;                                     \
		size_t ns_, ch_;                                          \
		char why_[512] = "";                                      \
		int r_, same_;                                            \
		CHECK(!dump_node(&a, &d0_), "dump");                      \
		r_ = once_apply(&a, path, &ns_, &ch_, why_, sizeof(why_)); \
		same_ = !dump_node(&a, &d1_) && dumps_same(&d0_, &d1_, what); \
		dump_free(&d0_);                                          \
		dump_free(&d1_);                                          \
		CHECK(r_ == 0, "%s: %d (%s)", what, r_, why_);            \
		CHECK(strstr(why_, reason), "%s: why: '%s'", what, why_);  \
		CHECK(ch_ == 0, "%s: changed %zu", what, ch_);            \
		CHECK(same_, "%s: the maps changed", what);               \
	} while (0)

TEST(commit_by_another_refused)
{
	START();
	struct file_spec f = base;
	char *w[] = { "v1=70", "v2=30" }, *w2[] = { "v1=10", "v2=90" };
	struct split_state other;
	struct split_err err;
	__u64 g;

	/* splitctl set on a service whose document did not change */
	CHECK(!set_weights(&a, "prod/zulu", 2, w, &err), "set: %s", err.msg);
	CHECK(!set_weights(&b, "prod/zulu", 2, w, &err), "set: %s", err.msg);
	NOT_FROM_RECORD("no document changed, a set since", "changed since the record");
	SAME("after the set");
	f.ed[2] = E_GROW;
	WRITE(&f);
	NOT_FROM_RECORD("alpha changed, a set since", "changed since the record");
	FULL(&a, 1);
	FULL(&b, 0);
	SAME("the full path after");
	CHECK(weight_of(&a, "prod/zulu", "v1") == 70, "zulu's v1: %ld",
	      weight_of(&a, "prod/zulu", "v1"));

	/* a commit through another handle that changes the same service's
	 * weights, and one that only moves the generation */
	CHECK(!set_weights(&a, "alpha", 2, w2, &err), "set: %s", err.msg);
	CHECK(!set_weights(&b, "alpha", 2, w2, &err), "set: %s", err.msg);
	f.ed[2] = 0;
	WRITE(&f);
	NOT_FROM_RECORD("alpha back, a set of alpha since", "changed since the record");
	FULL(&a, 1);
	FULL(&b, 0);
	SAME("the full path after");
	CHECK(!split_state_open(&other, a.pin, &err), "open: %s", err.msg);
	g = split_state_generation(&other, SPLIT_GEN_COMMITTED);
	CHECK(!split_state_set_generation(&other, SPLIT_GEN_COMMITTED, g + 1), "bump");
	split_state_close(&other);
	f.ed[4] = E_SHRINK;
	WRITE(&f);
	NOT_FROM_RECORD("beta changed, the generation moved", "changed since the record");
	/* the record serves again after a full apply */
	FULL(&a, 1);
	FULL(&b, 0);
	SAME("the full path after");
	f.ed[4] = 0;
	STEP(&f, 1, "beta back, from the record again");
	END();
}

/* ---- 3. what the plan refuses ------------------------------------------------- */

#define REFUSED(what, reason)                                             \
	do {                                                              \
		char why_[512] = "";                                      \
		struct split_once *o_ = split_once_plan(a.pin, path, why_, sizeof(why_)); \
		split_once_free(o_);                                      \
		CHECK(!o_, "%s: planned", what);                          \
		CHECK(strstr(why_, reason), "%s: why: '%s'", what, why_);  \
	} while (0)

#define REFUSED_SPEC(spec, what, reason)                                  \
	do {                                                              \
		WRITE(spec);                                              \
		REFUSED(what, reason);                                    \
	} while (0)

TEST(plan_refuses)
{
	START();
	struct file_spec f;
	char rec[PATH_MAX];
	struct stat sb;
	int fd;

	record_path(rec, sizeof(rec), &a);
#define EDIT(i, e) (f = base, f.ed[i] = (e), &f)
	f = base;
	f.ed[1] = E_GROW;
	f.ed[4] = E_GROW;
	REFUSED_SPEC(&f, "two documents changed", "more than one document changed");
	f = base;
	f.add = 1;
	REFUSED_SPEC(&f, "a document added", "added or removed");
	f = base;
	f.drop = 1;
	REFUSED_SPEC(&f, "a document removed", "added or removed");
	REFUSED_SPEC(EDIT(3, E_VIP), "a VIP changed", "name, VIPs or ports");
	REFUSED_SPEC(EDIT(0, E_VIP), "web's IPv4 VIP changed", "name, VIPs or ports");
	REFUSED_SPEC(EDIT(3, E_PORT), "a port changed", "name, VIPs or ports");
	REFUSED_SPEC(EDIT(0, E_PORT), "web's second port changed", "name, VIPs or ports");
	REFUSED_SPEC(EDIT(3, E_RENAME), "a service renamed", "name, VIPs or ports");
	REFUSED_SPEC(EDIT(3, E_NS), "a service in another namespace", "name, VIPs or ports");
	REFUSED_SPEC(EDIT(3, E_TPORT), "a targetPort changed", "name, VIPs or ports");
	REFUSED_SPEC(EDIT(0, E_TPORT), "web's first targetPort changed", "name, VIPs or ports");
	REFUSED_SPEC(EDIT(3, E_EMPTY), "a service's document emptied", "name, VIPs or ports");
	REFUSED_SPEC(EDIT(3, E_BROKEN), "a broken document", "not a Service document that parses");
	REFUSED_SPEC(EDIT(3, E_NOTSVC), "another kind", "not a Service document that parses");
	REFUSED_SPEC(EDIT(3, E_ISTIO), "an Istio object in its place",
		     "not a Service document that parses");
	/* none of that touched the record: one change still applies from it */
	STEP(EDIT(3, E_GROW), 1, "cart grows after the refusals");

	/* the record itself */
	CHECK(!stat(rec, &sb) && sb.st_size > 1, "record: %s", strerror(errno));
	CHECK(!truncate(rec, sb.st_size - 1), "truncate: %s", strerror(errno));
	REFUSED("a record cut by a byte", "cut short");
	CHECK(!truncate(rec, 40), "truncate: %s", strerror(errno));
	REFUSED("a record cut to 40 bytes", "another format");
	/* a whole record of another format: the magic flipped */
	FULL(&a, 1);
	fd = open(rec, O_RDWR | O_CLOEXEC);
	CHECK(fd >= 0 && pwrite(fd, "X", 1, 0) == 1, "flip: %s", strerror(errno));
	close(fd);
	REFUSED("another magic", "another format");
	/* an empty record */
	CHECK(!truncate(rec, 0), "truncate: %s", strerror(errno));
	REFUSED("an empty record", "another format");
	split_once_forget(a.pin);
	CHECK(stat(rec, &sb) && errno == ENOENT, "forget left %s", rec);
	REFUSED("no record", "no record");
#undef EDIT
	END();
}

/* ---- 4. when no record is written ------------------------------------------- */

TEST(no_record_when_unusable)
{
	START();
	struct file_spec f = base;
	struct split_input in = { 0 };
	const char *pp = path;
	struct split_err err;
	size_t nobjs = 0;
	int r;

	/* an Istio object in the file: the old record goes, none is written */
	f.istio = 1;
	WRITE(&f);
	FULL(&a, 1);
	FULL(&b, 0);
	SAME("with an Istio object");
	CHECK(!have_record(&a), "a record with an Istio object in the file");
	REFUSED("an Istio object was in the file", "no record");

	/* none in the file, but one in force (nobjs) */
	f.istio = 0;
	WRITE(&f);
	CHECK(!split_input_load(&pp, 1, &in, &err),
	      "load: %s", err.msg);
	r = apply_input(&a, &in, &nobjs, &err);
	if (!r)
		r = split_once_record(a.pin, path, &in, nobjs, &a.st, 0, &err);
	split_input_free(&in);
	CHECK(!r, "apply: %s", err.msg);
	CHECK(nobjs == 1, "objects in force: %zu", nobjs);
	CHECK(!have_record(&a), "a record with an Istio object in force");
	END();
}

/* The file at path changed between split_input_load() and the record. */
static int record_after_edit(struct node *n, const char *path, const char *edited,
			     struct split_err *err)
{
	struct split_input in = { 0 };
	size_t nobjs;
	int r;

	if (split_input_load(&path, 1, &in, err))
		return -1;
	r = apply_input(n, &in, &nobjs, err);
	if (!r && write_file(path, edited))
		r = split_errc(err, errno, "writing %s: %s", path, strerror(errno));
	if (!r)
		r = split_once_record(n->pin, path, &in, nobjs, &n->st, 0, err);
	split_input_free(&in);
	return r;
}

TEST(no_record_when_file_changed)
{
	START();
	struct file_spec f = base;
	struct split_err err;
	char *t, *p;

	/* the same length, one byte other (cart's v1 endpoint 10.201.3.1 -> .5) */
	t = file_text(&base);
	CHECK(t && (p = strstr(t, "10.201.3.1]")), "text");
	p[9] = '5';
	CHECK(!record_after_edit(&a, path, t, &err), "apply: %s", err.msg);
	free(t);
	CHECK(!have_record(&a), "a record of bytes the file no longer holds (same length)");

	/* a record again, then a longer file after the load */
	WRITE(&base);
	FULL(&a, 1);
	CHECK(have_record(&a), "no record");
	f = base;
	f.ed[1] = E_GROW;
	t = file_text(&f);
	CHECK(t, "text");
	CHECK(!record_after_edit(&a, path, t, &err), "apply: %s", err.msg);
	free(t);
	CHECK(!have_record(&a), "a record of bytes the file no longer holds (longer)");
	REFUSED("the file changed after it was read", "no record");
	FULL(&a, 0);
	FULL(&b, 0);
	SAME("the edited file in full");
	END();
}

/* ---- 5. weights set by splitctl, then a change from the record --------------- */

TEST(weights_kept)
{
	START();
	struct file_spec f = base;
	char *w[] = { "v1=70", "v2=30" };
	struct split_err err;

	CHECK(!set_weights(&a, "cart.prod", 2, w, &err), "set: %s", err.msg);
	CHECK(!set_weights(&b, "cart.prod", 2, w, &err), "set: %s", err.msg);
	FULL(&a, 1);
	FULL(&b, 0);
	SAME("a full apply after the set");
	CHECK(weight_of(&a, "cart.prod", "v1") == 70, "cart's v1: %ld",
	      weight_of(&a, "cart.prod", "v1"));
	f.ed[3] = E_GROW;
	STEP(&f, 1, "cart gains a v2 endpoint");
	CHECK(weight_of(&a, "cart.prod", "v1") == 70, "cart's v1: %ld",
	      weight_of(&a, "cart.prod", "v1"));
	CHECK(weight_of(&a, "cart.prod", "v2") == 30, "cart's v2: %ld",
	      weight_of(&a, "cart.prod", "v2"));
	f.ed[3] = E_GROW | E_V3;
	STEP(&f, 1, "cart gains a version v3");
	CHECK(weight_of(&a, "cart.prod", "v3") == weight_of(&b, "cart.prod", "v3"),
	      "cart's v3: %ld vs %ld", weight_of(&a, "cart.prod", "v3"),
	      weight_of(&b, "cart.prod", "v3"));
	f.ed[3] = E_SHRINK | E_V3;
	STEP(&f, 1, "cart loses its v2 endpoints");
	CHECK(weight_of(&a, "cart.prod", "v1") == 70, "cart's v1: %ld",
	      weight_of(&a, "cart.prod", "v1"));
	/* web: two VIPs, two ports, weights set; a scoped commit leaves its
	 * VIPs as they are */
	CHECK(!set_weights(&a, "web", 2, w, &err), "set: %s", err.msg);
	CHECK(!set_weights(&b, "web", 2, w, &err), "set: %s", err.msg);
	FULL(&a, 1);
	FULL(&b, 0);
	f.ed[0] = E_GROW;
	STEP(&f, 1, "web gains a v2 endpoint, weights set");
	END();
}

/* ---- the file's shape ------------------------------------------------------- */

/* The first, a middle and the last service changed one at a time, in a
 * file of that shape: each from the record, each as the full path. */
#define SHAPE_TEST(name, sh)                                              \
	TEST(name)                                                        \
	{                                                                 \
		START_SHAPE(sh);                                          \
		struct file_spec f = base;                                \
		f.ed[0] = E_GROW;                                         \
		STEP(&f, 1, "web grows");                                 \
		f.ed[0] = E_SHRINK;                                       \
		STEP(&f, 1, "web loses its v2");                          \
		f.ed[3] = E_V3;                                           \
		STEP(&f, 1, "cart gains a v3");                           \
		f.ed[NSVC - 1] = E_GROW;                                  \
		STEP(&f, 1, "mid grows");                                 \
		STEP(&f, 0, "nothing changed");                           \
		END();                                                    \
	}

SHAPE_TEST(shape_starts_with_marker, SH_NOHEAD)
SHAPE_TEST(shape_first_document_unmarked, SH_NOMARK)
SHAPE_TEST(shape_crlf, SH_CRLF)
SHAPE_TEST(shape_crlf_unmarked, SH_CRLF | SH_NOMARK)

/* ---- limits in sight ---------------------------------------------------------- */

/* NBIG services of EPS_EACH endpoints (v1, v2 alternating; a service
 * holds at most 4096): 64,000. Service `grow` has `extra` more. */
#define NBIG 20
#define EPS_EACH 3200
static char *big_text(int grow, int extra)
{
	size_t cap = (size_t)(NBIG * EPS_EACH + extra) * 64 + NBIG * 256, off = 0;
	char *b = malloc(cap);

	for (int s = 0; b && s < NBIG; s++) {
		off += (size_t)snprintf(b + off, cap - off,
			"---\napiVersion: split.dev/v1\nkind: Service\nmetadata:\n  name: big-%02d\n"
			"spec:\n  clusterIPs: [10.95.0.%d]\n  ports:\n  - port: 80\n  endpoints:\n",
			s, s + 1);
		for (int e = 0; e < EPS_EACH + (s == grow ? extra : 0); e++)
			off += (size_t)snprintf(b + off, cap - off,
				"  - addresses: [10.%d.%d.%d]\n    labels: {version: v%d}\n",
				100 + s, e / 250, 1 + e % 250, 1 + e % 2);
	}
	return b;
}

TEST(close_to_a_limit)
{
	struct node a, b;
	char path[PATH_MAX], *t;
	struct dump d0 = { 0 }, d1 = { 0 };
	size_t ns, ch;
	char why[512] = "";
	int r, same;

	SETUP(path);
	memset(&b, 0, sizeof(b));
	NODE_UP(&a);
	/* 64,000 endpoints: the record is written */
	t = big_text(-1, 0);
	CHECK(t && !write_file(path, t), "writing %s", path);
	free(t);
	FULL(&a, 1);
	CHECK(have_record(&a), "no record");
	/* 600 more: past the file's limit less the margin (64,512) */
	t = big_text(3, 600);
	CHECK(t && !write_file(path, t), "writing %s", path);
	free(t);
	REFUSED("64,600 endpoints", "close to a limit");
	/* 100 more: the file is under it, but the commit counts the
	 * service's old and new endpoints with the others */
	t = big_text(3, 100);
	CHECK(t && !write_file(path, t), "writing %s", path);
	free(t);
	CHECK(!dump_node(&a, &d0), "dump");
	r = once_apply(&a, path, &ns, &ch, why, sizeof(why));
	same = !dump_node(&a, &d1) && dumps_same(&d0, &d1, "refused near the limit");
	dump_free(&d0);
	dump_free(&d1);
	CHECK(r == 0, "64,100 endpoints: %d (%s)", r, why);
	CHECK(strstr(why, "close to a limit"), "why: '%s'", why);
	CHECK(same, "the maps changed");
	/* the full path applies it */
	FULL(&a, 1);
	CHECK(have_record(&a), "no record");
	END();
}
