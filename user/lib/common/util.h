/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* util.h - small system helpers shared by splitd and splitctl. */
#ifndef SPLIT_UTIL_H
#define SPLIT_UTIL_H

#include <stddef.h>

#include "err.h"

/* Path of the cgroup v2 mount's root from /proc/mounts. 0, or -ENOENT
 * (none), or -errno. */
int split_cgroup2_root(char *buf, size_t len);

/* One splitd per pin dir: an flock on /run/split/<pin dir>.lock holding
 * the pid. Returns the fd to keep open, or -errno with err (-EBUSY:
 * another splitd holds it). */
int split_daemon_lock(const char *pin_dir, struct split_err *err);

/* /run/split/<pin dir, '/' as '_'><suffix>: splitd's files for pin_dir. */
void split_run_path(char *path, size_t len, const char *pin_dir, const char *suffix);

/* Remove the lock file of pin_dir if no splitd holds it. */
void split_lock_remove(const char *pin_dir);

/* Detach everything pinned under pin_dir and remove it (and its lock
 * file). 0, or -errno with err (the first file that could not be
 * removed; it goes on with the others). */
int split_unload(const char *pin_dir, struct split_err *err);

#endif
