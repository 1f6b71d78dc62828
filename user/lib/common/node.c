// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* node.c - see node.h. */
#include <errno.h>
#include <limits.h>
#include <mntent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "node.h"

static int is_dir(const char *path)
{
	struct stat s;

	return !stat(path, &s) && S_ISDIR(s.st_mode);
}

/* ROOT/kubepods.slice, ROOT/kubepods: 1 and the path if one exists. */
static int find_kubepods(const char *root, char *buf, size_t len)
{
	static const char *const names[] = { SPLIT_KUBEPODS_SYSTEMD, SPLIT_KUBEPODS_CGROUPFS };
	char path[PATH_MAX];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		int n = snprintf(path, sizeof(path), "%s%s%s", root,
				 root[strlen(root) - 1] == '/' ? "" : "/", names[i]);

		if (n < 0 || (size_t)n >= sizeof(path) || !is_dir(path))
			continue;
		if ((size_t)n >= len) {
			return -ENAMETOOLONG;
		}
		memcpy(buf, path, (size_t)n + 1);
		return 1;
	}
	return 0;
}

static int copy_path(char *buf, size_t len, const char *s)
{
	if (strlen(s) >= len) {
		return -ENAMETOOLONG;
	}
	strcpy(buf, s);
	return 0;
}

int split_cgroup_auto(const char *mounts, const char *root, char *buf, size_t len)
{
	char first[PATH_MAX] = "";
	struct mntent *m;
	FILE *f;
	int r = 0;

	if (!len) {
		return -EINVAL;
	}
	if (root) {
		if (!*root || !is_dir(root)) {
			return -ENOTDIR;
		}
		r = find_kubepods(root, buf, len);
		return r ? r : copy_path(buf, len, root);
	}
	f = setmntent(mounts, "r");
	if (!f)
		return -errno;
	while ((m = getmntent(f))) {
		if (strcmp(m->mnt_type, "cgroup2") || !is_dir(m->mnt_dir))
			continue;
		if (!first[0])
			snprintf(first, sizeof(first), "%s", m->mnt_dir);
		r = find_kubepods(m->mnt_dir, buf, len);
		if (r)
			break;
	}
	endmntent(f);
	if (r)
		return r;
	if (!first[0]) {
		return -ENOENT;
	}
	return copy_path(buf, len, first);
}

/* Undo mountinfo's octal escapes (\040 for a space) in place. */
static void unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = 0;
}

int split_self_cgroup_id(const char *proc, uint64_t *id, char *out, size_t outlen)
{
	char path[PATH_MAX], rel[PATH_MAX] = "", line[4 * PATH_MAX];
	int found = -1;
	struct stat s;
	FILE *f;

	/* Our cgroup v2, relative to our cgroup namespace's root: "0::/x/y". */
	snprintf(path, sizeof(path), "%s/self/cgroup", proc);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "0::", 3)) {
			size_t n = strcspn(line + 3, "\n");

			if (n < sizeof(rel)) {
				memcpy(rel, line + 3, n);
				rel[n] = 0;
			}
			break;
		}
	}
	fclose(f);
	if (rel[0] != '/') {
		return -ENOENT;	/* no cgroup v2 membership (or not yet visible) */
	}
	/* A cgroup2 mount whose root is our namespace's root. */
	snprintf(path, sizeof(path), "%s/self/mountinfo", proc);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (found && fgets(line, sizeof(line), f)) {
		char *fields[5], *sep, *save = NULL, *p = line;
		char dir[PATH_MAX];
		int i;

		sep = strstr(line, " - ");
		if (!sep || strncmp(sep + 3, "cgroup2 ", 8))
			continue;
		*sep = 0;
		for (i = 0; i < 5 && (fields[i] = strtok_r(p, " ", &save)); i++)
			p = NULL;
		if (i < 5)
			continue;
		unescape(fields[3]);
		unescape(fields[4]);
		if (strcmp(fields[3], "/"))
			continue;	/* a bind of a subtree, or outside our namespace */
		if (strlen(fields[4]) + strlen(rel) >= sizeof(dir))
			continue;
		strcpy(dir, fields[4]);
		if (strcmp(rel, "/"))
			strcat(dir, rel);
		if (stat(dir, &s) || !S_ISDIR(s.st_mode))
			continue;
		*id = (uint64_t)s.st_ino;
		if (out && outlen) {
			size_t n = strlen(dir) < outlen ? strlen(dir) : outlen - 1;

			memcpy(out, dir, n);
			out[n] = 0;
		}
		found = 0;
	}
	fclose(f);
	return found ? -ENOENT : 0;
}
