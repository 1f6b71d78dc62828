// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* files.c - see files.h. */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "files.h"

int split_read_file(const char *path, char **out, size_t *outlen,
		    struct split_err *err)
{
	size_t len = 0, cap = 0;
	char *buf = NULL;
	FILE *f;

	f = fopen(path, "re");
	if (!f)
		return split_errc(err, errno, "%s: %s", path, strerror(errno));
	for (;;) {
		size_t got;

		if (len == cap) {
			size_t ncap = cap ? cap * 2 : 65536;
			char *p;

			if (cap >= SPLIT_MAX_FILE) {
				fclose(f);
				free(buf);
				return split_errc(err, EFBIG, "%s: file too large (limit %d MiB)",
						  path, SPLIT_MAX_FILE >> 20);
			}
			p = realloc(buf, ncap);
			if (!p) {
				fclose(f);
				free(buf);
				return split_errc(err, ENOMEM, "%s: out of memory", path);
			}
			buf = p;
			cap = ncap;
		}
		got = fread(buf + len, 1, cap - len, f);
		len += got;
		if (got)
			continue;
		if (ferror(f)) {
			int e = errno ? errno : EIO;

			fclose(f);
			free(buf);
			return split_errc(err, e, "%s: %s", path, strerror(e));
		}
		break;
	}
	fclose(f);
	*out = buf;
	*outlen = len;
	return 0;
}


static int add_path(struct split_paths *fl, const char *dir, const char *name)
{
	char *p;

	if (split_grow((void **)&fl->paths, &fl->cap, fl->n, sizeof(*fl->paths)))
		return -1;
	if (dir) {
		size_t dl = strlen(dir);

		if (asprintf(&p, "%s%s%s", dir,
			     dl && dir[dl - 1] == '/' ? "" : "/", name) < 0)
			return -1;
	} else {
		p = strdup(name);
		if (!p)
			return -1;
	}
	fl->paths[fl->n++] = p;
	return 0;
}

static bool yaml_name(const char *s)
{
	size_t len = strlen(s);

	if (s[0] == '.')
		return false;
	return (len > 5 && !strcmp(s + len - 5, ".yaml")) ||
	       (len > 4 && !strcmp(s + len - 4, ".yml"));
}

static int strp_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* path, or the YAML files of directory path in name order. */
static int expand_path(struct split_paths *fl, const char *path,
		       struct split_err *err)
{
	struct dirent *de;
	struct stat st;
	size_t first = fl->n;
	DIR *d;

	if (stat(path, &st))
		return split_errc(err, errno, "%s: %s", path, strerror(errno));
	if (!S_ISDIR(st.st_mode)) {
		if (add_path(fl, NULL, path))
			return split_errc(err, ENOMEM, "%s: out of memory", path);
		return 0;
	}
	d = opendir(path);
	if (!d)
		return split_errc(err, errno, "%s: %s", path, strerror(errno));
	while ((errno = 0, de = readdir(d))) {
		char *full;
		bool reg;

		if (!yaml_name(de->d_name))
			continue;
		if (asprintf(&full, "%s/%s", path, de->d_name) < 0) {
			closedir(d);
			return split_errc(err, ENOMEM, "%s: out of memory", path);
		}
		/* Follows symlinks (Kubernetes ConfigMap volumes). A YAML
		 * name that leads nowhere is an error, not a file to skip: a
		 * ConfigMap volume whose ..data went away would otherwise
		 * read as an empty configuration and remove every service. */
		if (stat(full, &st)) {
			int e = errno;

			closedir(d);
			split_errc(err, e, "%s: %s", full, strerror(e));
			free(full);
			return -e;
		}
		reg = S_ISREG(st.st_mode);
		free(full);
		if (reg && add_path(fl, path, de->d_name)) {
			closedir(d);
			return split_errc(err, ENOMEM, "%s: out of memory", path);
		}
	}
	if (errno) {
		int e = errno;

		closedir(d);
		return split_errc(err, e, "%s: %s", path, strerror(e));
	}
	closedir(d);
	if (fl->n > first)	/* an empty directory: paths may be NULL */
		qsort(fl->paths + first, fl->n - first, sizeof(*fl->paths), strp_cmp);
	return 0;
}

int split_paths_expand(const char *const *paths, size_t n, struct split_paths *out,
		       struct split_err *err)
{
	struct split_paths fl = { 0 };
	int r;

	for (size_t i = 0; i < n; i++)
		if ((r = expand_path(&fl, paths[i], err))) {
			split_paths_free(&fl);
			return r;
		}
	*out = fl;
	return 0;
}

void split_paths_free(struct split_paths *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->paths[i]);
	free(p->paths);
	memset(p, 0, sizeof(*p));
}
