/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* files.h - reading configuration files and directories. */
#ifndef SPLIT_FILES_H
#define SPLIT_FILES_H

#include <stddef.h>

#include "model.h"

#define SPLIT_MAX_FILE	(64 << 20)	/* bytes in one configuration file */

/* The whole file (NUL-terminated), at most SPLIT_MAX_FILE bytes. */
int split_read_file(const char *path, char **out, size_t *outlen,
		    struct split_err *err);

struct split_paths {
	char **paths;
	size_t n, cap;
};

/* Each path as it is, or for a directory its regular *.yaml / *.yml files
 * (symlinks followed, as in a ConfigMap volume; names starting with '.'
 * skipped) in name order. A *.yaml name that cannot be followed (a
 * dangling symlink) is an error. Free with split_paths_free(). */
int split_paths_expand(const char *const *paths, size_t n, struct split_paths *out,
		       struct split_err *err);
void split_paths_free(struct split_paths *p);

#endif
