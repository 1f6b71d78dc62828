// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <bpf/libbpf.h>

#include "log.h"

enum split_log_level split_log_level = LOG_LVL_INFO;
const char *split_log_prog = "split";

void split_log(enum split_log_level lvl, const char *fmt, ...)
{
	va_list ap;

	if (lvl > split_log_level)
		return;
	fprintf(stderr, "%s: ", split_log_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt,
			va_list ap)
{
	enum split_log_level lvl = level == LIBBPF_DEBUG ? LOG_LVL_DEBUG :
							   LOG_LVL_INFO;

	/* Netlink's extended ack for an expected failure (a qdisc that is
	 * there already or not yet): callers report real errors themselves. */
	if (strstr(fmt, "Kernel error message"))
		lvl = LOG_LVL_DEBUG;

	if (lvl > split_log_level)
		return 0;
	fprintf(stderr, "%s: libbpf: ", split_log_prog);
	return vfprintf(stderr, fmt, ap);
}

void split_log_libbpf(void)
{
	libbpf_set_print(libbpf_print);
}
