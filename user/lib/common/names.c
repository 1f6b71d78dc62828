// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* names.c - see names.h. */
#include <string.h>

#include "names.h"

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

bool split_dns_label_ok(const char *s, size_t len, bool dns1035)
{
	if (!len || len > 63 || !is_lower_alnum(s[0]) ||
	    !is_lower_alnum(s[len - 1]))
		return false;
	if (dns1035 && !(s[0] >= 'a' && s[0] <= 'z'))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_lower_alnum(s[i]) && s[i] != '-')
			return false;
	return true;
}

bool split_label_value_ok(const char *s)
{
	size_t len = strlen(s);

	if (!len)
		return true;
	if (len > 63 || !is_alnum(s[0]) || !is_alnum(s[len - 1]))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return false;
	return true;
}
