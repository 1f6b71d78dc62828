/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * re_lit.h - regexes that are a literal with simple context, matched as
 * plain string checks.
 *
 * Most regexes in Istio rules are one of a few idioms around a literal:
 *
 *   ^(.*?;)?(user=test-user)(;.*)?$	the cookie idiom (the seed's rule)
 *   v2					a literal (full match: equality)
 *   /api/.*				a prefix
 *   .*Mobile.*				a substring
 *
 * re_lit_compile() recognises the form PRE LIT POST, where
 *
 *   PRE   is nothing, ".*" / ".*?", or "(.*?;)?" / "(.*;)?" (a group,
 *         capturing or "(?:"), and an optional leading '^';
 *   LIT   is a run of ordinary characters and backslash-escaped
 *         punctuation, optionally inside one group;
 *   POST  is nothing, ".*" / ".*?", or "(;.*)?" / "(;.*?)?", and an
 *         optional trailing '$';
 *
 * and re_lit_match() then answers the full-match question exactly as the
 * regex engine does: '.' matches any byte but '\n' (PCRE2 and RE2
 * without the s flag, PCRE2 built with NEWLINE=LF, checked at compile).
 * Anything else (classes, alternation, flags, other escapes) is not
 * compiled (re_lit_compile() returns -EINVAL) and stays with PCRE2. The
 * equivalence is tested by running both over the same inputs
 * (tests/unit/config/istio/test_istio.c).
 */
#ifndef SPLIT_RE_LIT_H
#define SPLIT_RE_LIT_H

#include <stdbool.h>
#include <stddef.h>

enum re_lit_ctx {
	RE_LIT_NONE,	/* nothing: LIT starts (ends) the value */
	RE_LIT_ANY,	/* .*  : anything without '\n' */
	RE_LIT_SEMI,	/* (.*?;)? before, (;.*)? after: a ';'-separated item */
};

struct re_lit {
	unsigned char pre, post;	/* enum re_lit_ctx */
	size_t len;			/* of lit */
	char *lit;			/* owned, NUL-terminated */
};

/* 0 and *out filled (free with re_lit_free), or -EINVAL: not one of the
 * forms, or -ENOMEM. */
int re_lit_compile(const char *re, size_t len, struct re_lit *out);
/* true if the whole of s matches. */
bool re_lit_match(const struct re_lit *l, const char *s, size_t len);
void re_lit_free(struct re_lit *l);

#endif /* SPLIT_RE_LIT_H */
