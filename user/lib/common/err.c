// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* err.c - see err.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "err.h"

static void verrf(struct split_err *err, const char *fmt, va_list ap)
{
	if (err)
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
}

int split_errf(struct split_err *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verrf(err, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int split_errc(struct split_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verrf(err, fmt, ap);
	va_end(ap);
	if (code > 0)
		return -code;
	return code ? code : -EINVAL;
}
