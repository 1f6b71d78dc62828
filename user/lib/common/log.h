/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* log.h - pr_warn/pr_info/pr_debug, to stderr, with a process-wide level. */
#ifndef SPLIT_LOG_H
#define SPLIT_LOG_H

enum split_log_level { LOG_LVL_WARN = 0, LOG_LVL_INFO = 1, LOG_LVL_DEBUG = 2 };

extern enum split_log_level split_log_level;
extern const char *split_log_prog;

void split_log(enum split_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Route libbpf's messages through split_log (warnings as info, debug as debug). */
void split_log_libbpf(void);

#define pr_warn(...)  split_log(LOG_LVL_WARN, __VA_ARGS__)
#define pr_info(...)  split_log(LOG_LVL_INFO, __VA_ARGS__)
#define pr_debug(...) split_log(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
