// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * istio_re2.c - the RE2 syntax gate. Istio documents RE2 syntax
 * (https://github.com/google/re2/wiki/Syntax) and validates with Go's
 * regexp, which is RE2. PCRE2 accepts much more; what RE2 lacks is refused
 * here, before PCRE2 sees the pattern, so a rule that Istio rejects is
 * rejected here too, with the construct and its offset. Syntax errors
 * common to both are left to PCRE2's message.
 */
#include "istio_int.h"

/* ---- RE2 syntax check ----------------------------------------------------- */

size_t ist_re_bad(struct re_bad *bad, size_t off, const char *fmt, ...)
{
	va_list ap;

	bad->off = off;
	va_start(ap, fmt);
	vsnprintf(bad->what, sizeof(bad->what), fmt, ap);
	va_end(ap);
	return 0;
}

static bool re_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Bytes taken by the escape at p[i] == '\\', or 0 (bad is set). */
static size_t re_escape(const char *p, size_t len, size_t i, bool in_class,
			struct re_bad *bad)
{
	const char *end;
	char e;

	if (i + 1 >= len)
		return 1;	/* a trailing '\': PCRE2 reports it */
	e = p[i + 1];
	switch (e) {
	case '1': case '2': case '3': case '4': case '5':
	case '6': case '7': case '8': case '9':
		if (in_class)
			return ist_re_bad(bad, i, "octal escape '\\%c' (write \\x%02x)",
				      e, e - '0');
		return ist_re_bad(bad, i, "backreference '\\%c'", e);
	case 'g':
		return ist_re_bad(bad, i, "backreference or subroutine call '\\g'");
	case 'k':
		return ist_re_bad(bad, i, "named backreference '\\k'");
	case 'C':
		return ist_re_bad(bad, i, "'\\C' (single code unit)");
	case 'K':
		return ist_re_bad(bad, i, "'\\K' (reset match start)");
	case 'G':
		return ist_re_bad(bad, i, "'\\G' (first match position)");
	case 'Z':
		return ist_re_bad(bad, i, "'\\Z' (write \\z)");
	case 'R':
		return ist_re_bad(bad, i, "'\\R' (newline sequence)");
	case 'X':
		return ist_re_bad(bad, i, "'\\X' (grapheme cluster)");
	case 'h':
	case 'H':
	case 'V':
		return ist_re_bad(bad, i, "'\\%c' (PCRE space class)", e);
	case 'v':
		return ist_re_bad(bad, i,
			      "'\\v' (a class in PCRE2, a vertical tab in RE2: write \\x0b)");
	case 'N':
		return ist_re_bad(bad, i, "'\\N'");
	case 'e':
		return ist_re_bad(bad, i, "'\\e' (write \\x1b)");
	case 'c':
		return ist_re_bad(bad, i, "control escape '\\c'");
	case 'o':
		return ist_re_bad(bad, i, "octal escape '\\o{...}'");
	case 'Q':
		/* Literal text up to \E (or the end). */
		end = memmem(p + i + 2, len - i - 2, "\\E", 2);
		return end ? (size_t)(end - p) + 2 - i : len - i;
	case 'p':
	case 'P':
	case 'x':
		if (i + 2 < len && p[i + 2] == '{') {
			end = memchr(p + i + 2, '}', len - i - 2);
			return end ? (size_t)(end - p) + 1 - i : len - i;
		}
		return 2;
	default:
		return 2;
	}
}

/* Bytes taken by the class at p[i] == '[', or 0. */
static size_t re_class(const char *p, size_t len, size_t i, struct re_bad *bad)
{
	size_t j = i + 1, n;

	if (j < len && p[j] == '^')
		j++;
	if (j < len && p[j] == ']')
		j++;		/* a leading ']' is literal */
	while (j < len && p[j] != ']') {
		if (p[j] == '\\') {
			n = re_escape(p, len, j, true, bad);
			if (!n)
				return 0;
			j += n;
			continue;
		}
		if (p[j] == '[' && j + 1 < len &&
		    (p[j + 1] == ':' || p[j + 1] == '.' || p[j + 1] == '=')) {
			char close[2] = { p[j + 1], ']' };
			const char *end;

			end = memmem(p + j + 2, len - j - 2, close, 2);

			if (end) {
				j = (size_t)(end - p) + 2;
				continue;
			}
		}
		j++;
	}
	return (j < len ? j + 1 : len) - i;
}

/* Bytes to step over at p[i] == '(' (the group's opening), or 0. */
static size_t re_group(const char *p, size_t len, size_t i, struct re_bad *bad)
{
	size_t j = i + 2;

	if (i + 1 < len && p[i + 1] == '*')
		return ist_re_bad(bad, i, "backtracking verb or option '(*'");
	if (i + 1 >= len || p[i + 1] != '?')
		return 1;
	if (j >= len)
		return 2;
	switch (p[j]) {
	case '=':
		return ist_re_bad(bad, i, "lookahead '(?='");
	case '!':
		return ist_re_bad(bad, i, "negative lookahead '(?!'");
	case '<':
		if (j + 1 < len && p[j + 1] == '=')
			return ist_re_bad(bad, i, "lookbehind '(?<='");
		if (j + 1 < len && p[j + 1] == '!')
			return ist_re_bad(bad, i, "negative lookbehind '(?<!'");
		return 3;	/* (?<name>...) */
	case 'P':
		if (j + 1 < len && p[j + 1] == '=')
			return ist_re_bad(bad, i, "named backreference '(?P='");
		if (j + 1 < len && p[j + 1] == '>')
			return ist_re_bad(bad, i, "subroutine call '(?P>'");
		return 3;	/* (?P<name>...) */
	case '>':
		return ist_re_bad(bad, i, "atomic group '(?>'");
	case '|':
		return ist_re_bad(bad, i, "branch reset group '(?|'");
	case '(':
		return ist_re_bad(bad, i, "conditional group '(?('");
	case 'C':
		return ist_re_bad(bad, i, "callout '(?C'");
	case '#':
		return ist_re_bad(bad, i, "comment group '(?#'");
	case '\'':
		return ist_re_bad(bad, i, "named group '(?'' (write (?P<name>...))");
	case 'R':
	case '&':
	case '+':
		return ist_re_bad(bad, i, "recursion or subroutine call '(?%c'", p[j]);
	case ':':
		return 3;
	default:
		break;
	}
	if (re_digit(p[j]) || (p[j] == '-' && j + 1 < len && re_digit(p[j + 1])))
		return ist_re_bad(bad, i, "recursion or subroutine call '(?%c'", p[j]);
	/* Inline flags (?imsU-imsU) or (?flags:...). */
	for (; j < len && p[j] != ':' && p[j] != ')'; j++)
		if (!strchr("imsU-", p[j]))
			return ist_re_bad(bad, j,
				      "inline flag '%c' (RE2 has i, m, s and U)",
				      p[j]);
	return j - i;
}

/* Length of a {n}, {n,} or {n,m} quantifier at p[i] == '{', or 0 when the
 * '{' is a literal; *max is its largest count. */
static size_t re_repeat(const char *p, size_t len, size_t i,
			unsigned long *max)
{
	unsigned long a = 0, b = 0;
	size_t j = i + 1;

	if (j >= len || !re_digit(p[j]))
		return 0;
	for (; j < len && re_digit(p[j]); j++)
		if (a < 100000)
			a = a * 10 + (unsigned long)(p[j] - '0');
	if (j < len && p[j] == ',')
		for (j++; j < len && re_digit(p[j]); j++)
			if (b < 100000)
				b = b * 10 + (unsigned long)(p[j] - '0');
	if (j >= len || p[j] != '}')
		return 0;
	*max = a > b ? a : b;
	return j - i + 1;
}

int ist_re2_check(const char *p, size_t len, struct re_bad *bad)
{
	size_t i = 0, n;

	while (i < len) {
		unsigned long max = 0;

		switch (p[i]) {
		case '\\':
			n = re_escape(p, len, i, false, bad);
			break;
		case '[':
			n = re_class(p, len, i, bad);
			break;
		case '(':
			n = re_group(p, len, i, bad);
			break;
		case '*':
		case '+':
		case '?':
		case '{':
			n = p[i] == '{' ? re_repeat(p, len, i, &max) : 1;
			if (!n) {
				n = 1;	/* a literal '{' */
				break;
			}
			if (max > SPLIT_RE_MAX_REPEAT)
				return (int)ist_re_bad(bad, i,
						   "repetition count %lu (RE2's limit is %d)",
						   max, SPLIT_RE_MAX_REPEAT) - 1;
			if (i + n < len && p[i + n] == '+')
				return (int)ist_re_bad(bad, i,
						   "possessive quantifier '%.*s+'",
						   (int)n, p + i) - 1;
			if (i + n < len && p[i + n] == '?')
				n++;	/* lazy */
			break;
		default:
			n = 1;
			break;
		}
		if (!n)
			return -1;
		i += n;
	}
	return 0;
}
