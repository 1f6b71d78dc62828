// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* re_lit.c - literal-with-context regexes as string checks (re_lit.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "re_lit.h"

struct form {
	const char *text;
	unsigned char ctx;
};

/* Longest first where one is a prefix of another (".*?" before ".*"). */
static const struct form pres[] = {
	{ "(.*?;)?", RE_LIT_SEMI }, { "(?:.*?;)?", RE_LIT_SEMI },
	{ "(.*;)?", RE_LIT_SEMI },  { "(?:.*;)?", RE_LIT_SEMI },
	{ ".*?", RE_LIT_ANY },      { ".*", RE_LIT_ANY },
};
static const struct form posts[] = {
	{ "(;.*)?", RE_LIT_SEMI },  { "(?:;.*)?", RE_LIT_SEMI },
	{ "(;.*?)?", RE_LIT_SEMI }, { "(?:;.*?)?", RE_LIT_SEMI },
	{ ".*?", RE_LIT_ANY },      { ".*", RE_LIT_ANY },
};

static bool is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

/* Characters that mean something outside a class, or might ('{', '}',
 * ']' are literal in some positions only: not worth the doubt). */
static bool is_meta(unsigned char c)
{
	return strchr("\\^$.[]|()?*+{}", c) != NULL && c;
}

static bool has_prefix(const char *p, const char *end, const char *s)
{
	size_t n = strlen(s);

	return (size_t)(end - p) >= n && !memcmp(p, s, n);
}

static bool has_suffix(const char *p, const char *end, const char *s)
{
	size_t n = strlen(s);

	return (size_t)(end - p) >= n && !memcmp(end - n, s, n);
}

/* The literal p..end into out (escapes removed); -1 if it is not one. */
static int literal(const char *p, const char *end, char *out, size_t *len)
{
	size_t n = 0;

	while (p < end) {
		unsigned char c = (unsigned char)*p++;

		if (c == '\\') {
			if (p == end)
				return -1;	/* escapes what we stripped */
			c = (unsigned char)*p++;
			/* \. \- \/ ...: the character; \d \n \Q ...: not ours */
			if (is_alnum(c) || c < 0x21 || c > 0x7e)
				return -1;
		} else if (is_meta(c)) {
			return -1;
		}
		out[n++] = (char)c;
	}
	*len = n;
	return n ? 0 : -1;
}

int re_lit_compile(const char *re, size_t len, struct re_lit *out)
{
	const char *p = re, *end = re + len;
	unsigned char pre = RE_LIT_NONE, post = RE_LIT_NONE;
	size_t i, n;
	char *buf;

	memset(out, 0, sizeof(*out));
	if (p < end && *p == '^')
		p++;
	/* A trailing "\$" leaves a lone '\' in the literal: refused there. */
	if (end > p && end[-1] == '$')
		end--;
	for (i = 0; i < sizeof(pres) / sizeof(pres[0]); i++)
		if (has_prefix(p, end, pres[i].text)) {
			p += strlen(pres[i].text);
			pre = pres[i].ctx;
			break;
		}
	for (i = 0; i < sizeof(posts) / sizeof(posts[0]); i++)
		if (has_suffix(p, end, posts[i].text)) {
			end -= strlen(posts[i].text);
			post = posts[i].ctx;
			break;
		}
	/* The literal may sit in one group of its own. */
	if (has_prefix(p, end, "(?:") && has_suffix(p, end, ")"))
		p += 3, end--;
	else if (has_prefix(p, end, "(") && has_suffix(p, end, ")"))
		p++, end--;
	buf = malloc((size_t)(end - p) + 1);
	if (!buf)
		return -ENOMEM;
	if (literal(p, end, buf, &n)) {
		free(buf);
		return -EINVAL;
	}
	buf[n] = '\0';
	out->pre = pre;
	out->post = post;
	out->lit = buf;
	out->len = n;
	return 0;
}

/* Does the literal at s[pos] satisfy the context? first_nl/last_nl: the
 * first and last '\n' of s (len when there is none). */
static bool fits(const struct re_lit *l, const char *s, size_t len,
		 size_t pos, size_t first_nl, size_t last_nl)
{
	size_t after = pos + l->len;

	switch (l->pre) {
	case RE_LIT_NONE:
		if (pos)
			return false;
		break;
	case RE_LIT_ANY:
		if (first_nl < pos)
			return false;
		break;
	default:	/* SEMI: "" or ".*;" */
		if (pos && (s[pos - 1] != ';' || first_nl < pos - 1))
			return false;
	}
	switch (l->post) {
	case RE_LIT_NONE:
		return after == len;
	case RE_LIT_ANY:
		return last_nl == len || last_nl < after;
	default:	/* SEMI: "" or ";.*" */
		return after == len ||
		       (s[after] == ';' && (last_nl == len || last_nl < after));
	}
}

bool re_lit_match(const struct re_lit *l, const char *s, size_t len)
{
	size_t first_nl = len, last_nl = len, pos = 0;
	const char *nl, *hit;

	if (len < l->len)
		return false;
	if (l->pre == RE_LIT_NONE && l->post == RE_LIT_NONE)
		return len == l->len && !memcmp(s, l->lit, len);
	nl = memchr(s, '\n', len);
	if (nl) {
		first_nl = (size_t)(nl - s);
		last_nl = (size_t)((const char *)memrchr(s, '\n', len) - s);
	}
	if (l->pre == RE_LIT_NONE)
		return !memcmp(s, l->lit, l->len) &&
		       fits(l, s, len, 0, first_nl, last_nl);
	if (l->post == RE_LIT_NONE)
		return !memcmp(s + len - l->len, l->lit, l->len) &&
		       fits(l, s, len, len - l->len, first_nl, last_nl);
	while (pos + l->len <= len &&
	       (hit = memmem(s + pos, len - pos, l->lit, l->len))) {
		pos = (size_t)(hit - s);
		if (fits(l, s, len, pos, first_nl, last_nl))
			return true;
		pos++;
	}
	return false;
}

void re_lit_free(struct re_lit *l)
{
	free(l->lit);
	memset(l, 0, sizeof(*l));
}
