/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* util.h - small system helpers shared by splitd and splitctl. */
#ifndef SPLIT_UTIL_H
#define SPLIT_UTIL_H

#include <stddef.h>

/* Path of the cgroup v2 mount's root from /proc/mounts. 0 or -1. */
int split_cgroup2_root(char *buf, size_t len);

/* One splitd per pin dir: an flock on /run/split/<pin dir>.lock holding
 * the pid. Returns the fd to keep open, or -1 (and says why). */
int split_daemon_lock(const char *pin_dir);

/* Remove the lock file of pin_dir if no splitd holds it. */
void split_lock_remove(const char *pin_dir);

/* Detach everything pinned under pin_dir and remove it (and its lock
 * file). 0 or -1. */
int split_unload(const char *pin_dir);

#endif
