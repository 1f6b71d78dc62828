/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * err.h - the library's one error convention.
 *
 *   int f(..., struct split_err *err);
 *
 * returns 0 (or a non-negative result) on success and a negative errno on
 * failure: -EINVAL for bad input (config, arguments), -ENOMEM, or what the
 * kernel said (-ENOENT, -EPERM, ...). err is optional (NULL is fine); when
 * given, a failure fills err->msg with the reason, formatted for a person.
 * Functions that cannot fail in an interesting way return just -errno and
 * take no err. The library never prints an error: the program does
 * (pr_warn, or its own message around err->msg). Progress goes to
 * pr_info/pr_debug.
 */
#ifndef SPLIT_ERR_H
#define SPLIT_ERR_H

#include <errno.h>

#define SPLIT_ERR_LEN 512

/* An error message, already formatted for a person, e.g.
 * "services.yaml:12:7: endpoint address '10.0.0.300' is not an IP address". */
struct split_err {
	char msg[SPLIT_ERR_LEN];
};

/* printf into err->msg (when err is not NULL); returns -EINVAL, so that a
 * check of bad input is `return split_errf(err, ...)`. */
int split_errf(struct split_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The same with another error: returns code as a negative errno (code may
 * be given either way, -ENOENT or ENOENT; 0 gives -EINVAL). For failures
 * of the system: `return split_errc(err, errno, "%s: %s", path,
 * strerror(errno))`. */
int split_errc(struct split_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif /* SPLIT_ERR_H */
