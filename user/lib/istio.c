/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * istio.c - Istio routing rules: RouteRule (config.istio.io/v1alpha2, as
 * the seed uses it), VirtualService and DestinationRule
 * (networking.istio.io v1alpha3, v1beta1, v1), parsed from yaml_tree.h
 * documents into the model of istio.h, and matched against requests.
 *
 * Parsing runs in two passes. Pass one reads each document into an
 * entity (one RouteRule, VirtualService or DestinationRule) that keeps
 * the tree nodes it came from. Pass two groups the entities by service,
 * rejects conflicts, resolves subsets and builds the model. Any error:
 * everything built so far is freed and the caller's output is untouched.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* memmem, asprintf, qsort_r */
#endif
#define PCRE2_CODE_UNIT_WIDTH 8

#include <dirent.h>
#include <errno.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "files.h"
#include "names.h"
#include "istio.h"
#include "yaml_tree.h"

#define RR_API		"config.istio.io/v1alpha2"
#define NET_GROUP	"networking.istio.io/"
#define SVC_API		"split.dev/v1"
#define PATH_LEN	256

#define RE_COMPILE_OPTS	SPLIT_RE_COMPILE_OPTS

/* ---- names ---------------------------------------------------------------- */

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* A resource name: a DNS-1123 subdomain, here at most 63 characters. */
static bool valid_object_name(const char *s)
{
	size_t len = strlen(s), start = 0;

	if (!len || len > 63)
		return false;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != '.')
			continue;
		if (!split_dns_label_ok(s + start, i - start, false))
			return false;
		start = i + 1;
	}
	return true;
}


/* Kubernetes label key: [prefix/]name, prefix a DNS subdomain (<= 253),
 * name like a label value but not empty. */
static bool valid_label_key(const char *s)
{
	const char *slash = strchr(s, '/');
	const char *name = slash ? slash + 1 : s;

	if (!*name || !split_label_value_ok(name))
		return false;
	if (slash) {
		size_t plen = (size_t)(slash - s), start = 0;

		if (!plen || plen > 253)
			return false;
		for (size_t i = 0; i <= plen; i++) {
			if (i < plen && s[i] != '.')
				continue;
			if (!split_dns_label_ok(s + start, i - start, false))
				return false;
			start = i + 1;
		}
	}
	return true;
}

/* RFC 9110 token character (header names). */
static bool is_tchar(char c)
{
	return is_alnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* ---- freeing -------------------------------------------------------------- */

static void cond_free(struct split_cond *c)
{
	free(c->name);
	free(c->value);
	pcre2_code_free(c->re);
	re_lit_free(&c->lit);
}

static void match_free(struct split_match *m)
{
	for (size_t i = 0; i < m->nconds; i++)
		cond_free(&m->conds[i]);
	free(m->conds);
	free(m->name);
}

static void labels_free(struct split_label *l, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(l[i].key);
		free(l[i].value);
	}
	free(l);
}

static void route_free(struct split_route *r)
{
	for (size_t i = 0; i < r->nmatches; i++)
		match_free(&r->matches[i]);
	free(r->matches);
	for (size_t i = 0; i < r->ndests; i++)
		labels_free(r->dests[i].labels, r->dests[i].nlabels);
	free(r->dests);
	free(r->name);
	memset(r, 0, sizeof(*r));
}

static void routes_free(struct split_route *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		route_free(&r[i]);
	free(r);
}

static void subsets_free(struct split_subset *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		labels_free(s[i].labels, s[i].nlabels);
	free(s);
}

static void service_free(struct split_rules_service *s)
{
	routes_free(s->routes, s->nroutes);
	subsets_free(s->subsets, s->nsubsets);
	memset(s, 0, sizeof(*s));
}

void split_rules_free(struct split_rules *rules)
{
	if (!rules)
		return;
	for (size_t i = 0; i < rules->nsvcs; i++)
		service_free(&rules->svcs[i]);
	free(rules->svcs);
	memset(rules, 0, sizeof(*rules));
}

/* ---- RE2 syntax check ----------------------------------------------------- */

/*
 * Istio documents RE2 syntax (https://github.com/google/re2/wiki/Syntax)
 * and validates with Go's regexp, which is RE2. PCRE2 accepts much more;
 * what RE2 lacks is refused here, before PCRE2 sees the pattern, so a
 * rule that Istio rejects is rejected here too, with the construct and
 * its offset. Syntax errors common to both are left to PCRE2's message.
 */
struct re_bad {
	size_t off;
	char what[128];
};

static size_t re_bad(struct re_bad *bad, size_t off, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static size_t re_bad(struct re_bad *bad, size_t off, const char *fmt, ...)
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
			return re_bad(bad, i, "octal escape '\\%c' (write \\x%02x)",
				      e, e - '0');
		return re_bad(bad, i, "backreference '\\%c'", e);
	case 'g':
		return re_bad(bad, i, "backreference or subroutine call '\\g'");
	case 'k':
		return re_bad(bad, i, "named backreference '\\k'");
	case 'C':
		return re_bad(bad, i, "'\\C' (single code unit)");
	case 'K':
		return re_bad(bad, i, "'\\K' (reset match start)");
	case 'G':
		return re_bad(bad, i, "'\\G' (first match position)");
	case 'Z':
		return re_bad(bad, i, "'\\Z' (write \\z)");
	case 'R':
		return re_bad(bad, i, "'\\R' (newline sequence)");
	case 'X':
		return re_bad(bad, i, "'\\X' (grapheme cluster)");
	case 'h':
	case 'H':
	case 'V':
		return re_bad(bad, i, "'\\%c' (PCRE space class)", e);
	case 'v':
		return re_bad(bad, i,
			      "'\\v' (a class in PCRE2, a vertical tab in RE2: write \\x0b)");
	case 'N':
		return re_bad(bad, i, "'\\N'");
	case 'e':
		return re_bad(bad, i, "'\\e' (write \\x1b)");
	case 'c':
		return re_bad(bad, i, "control escape '\\c'");
	case 'o':
		return re_bad(bad, i, "octal escape '\\o{...}'");
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
		return re_bad(bad, i, "backtracking verb or option '(*'");
	if (i + 1 >= len || p[i + 1] != '?')
		return 1;
	if (j >= len)
		return 2;
	switch (p[j]) {
	case '=':
		return re_bad(bad, i, "lookahead '(?='");
	case '!':
		return re_bad(bad, i, "negative lookahead '(?!'");
	case '<':
		if (j + 1 < len && p[j + 1] == '=')
			return re_bad(bad, i, "lookbehind '(?<='");
		if (j + 1 < len && p[j + 1] == '!')
			return re_bad(bad, i, "negative lookbehind '(?<!'");
		return 3;	/* (?<name>...) */
	case 'P':
		if (j + 1 < len && p[j + 1] == '=')
			return re_bad(bad, i, "named backreference '(?P='");
		if (j + 1 < len && p[j + 1] == '>')
			return re_bad(bad, i, "subroutine call '(?P>'");
		return 3;	/* (?P<name>...) */
	case '>':
		return re_bad(bad, i, "atomic group '(?>'");
	case '|':
		return re_bad(bad, i, "branch reset group '(?|'");
	case '(':
		return re_bad(bad, i, "conditional group '(?('");
	case 'C':
		return re_bad(bad, i, "callout '(?C'");
	case '#':
		return re_bad(bad, i, "comment group '(?#'");
	case '\'':
		return re_bad(bad, i, "named group '(?'' (write (?P<name>...))");
	case 'R':
	case '&':
	case '+':
		return re_bad(bad, i, "recursion or subroutine call '(?%c'", p[j]);
	case ':':
		return 3;
	default:
		break;
	}
	if (re_digit(p[j]) || (p[j] == '-' && j + 1 < len && re_digit(p[j + 1])))
		return re_bad(bad, i, "recursion or subroutine call '(?%c'", p[j]);
	/* Inline flags (?imsU-imsU) or (?flags:...). */
	for (; j < len && p[j] != ':' && p[j] != ')'; j++)
		if (!strchr("imsU-", p[j]))
			return re_bad(bad, j,
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

static int re2_check(const char *p, size_t len, struct re_bad *bad)
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
				return (int)re_bad(bad, i,
						   "repetition count %lu (RE2's limit is %d)",
						   max, SPLIT_RE_MAX_REPEAT) - 1;
			if (i + n < len && p[i + n] == '+')
				return (int)re_bad(bad, i,
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

/* ---- the parser ----------------------------------------------------------- */

/* Where something came from: a node of a tree. */
struct pos {
	const struct yt_tree *t;
	const struct yt_node *n;
};

static const char *pos_str(const struct pos *p, char *buf, size_t len)
{
	if (!p->n)
		snprintf(buf, len, "%s", p->t ? p->t->name : "?");
	else
		snprintf(buf, len, "%s:%u:%u", p->t->name, p->n->line,
			 p->n->col);
	return buf;
}

/* A reference from a VirtualService destination to a subset. */
struct sref {
	size_t route, dest;
	struct pos pos;		/* the subset value */
};

/* One RouteRule. */
struct rr_ent {
	char ns[SPLIT_NAME_LEN], name[SPLIT_NAME_LEN];
	char svc_ns[SPLIT_NAME_LEN], svc_name[SPLIT_NAME_LEN];
	struct pos name_pos, dest_pos;
	struct split_route route;
};

/* One VirtualService. */
struct vs_ent {
	char ns[SPLIT_NAME_LEN], name[SPLIT_NAME_LEN];
	char svc_ns[SPLIT_NAME_LEN], svc_name[SPLIT_NAME_LEN];
	char api[32];
	struct pos name_pos, host_pos;
	struct split_route *routes;
	size_t nroutes;
	struct sref *refs;
	size_t nrefs, caprefs;
};

/* One DestinationRule. */
struct dr_ent {
	char ns[SPLIT_NAME_LEN], name[SPLIT_NAME_LEN];
	char svc_ns[SPLIT_NAME_LEN], svc_name[SPLIT_NAME_LEN];
	char api[32];
	struct pos name_pos, host_pos, subsets_pos;
	struct split_subset *subsets;
	size_t nsubsets;
};

struct rp {
	struct split_err *err;
	const struct yt_tree *t;	/* of the document being read */
	const char *kind;		/* its kind, for messages */
	struct rr_ent *rr;
	size_t nrr, caprr;
	struct vs_ent *vs;
	size_t nvs, capvs;
	struct dr_ent *dr;
	size_t ndr, capdr;
};

static int perr(struct rp *c, const struct yt_node *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int perr(struct rp *c, const struct yt_node *n, const char *fmt, ...)
{
	char msg[SPLIT_ERR_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return yt_errf(c->err, c->t, n, "%s", msg);
}

/* An error at a node of another tree. */
static int perr_at(struct rp *c, const struct pos *p, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int perr_at(struct rp *c, const struct pos *p, const char *fmt, ...)
{
	char msg[SPLIT_ERR_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return yt_errf(c->err, p->t, p->n, "%s", msg);
}

static int oom(struct rp *c, const struct yt_node *n)
{
	return perr(c, n, "out of memory");
}

static char *memdup0(const char *s, size_t len)
{
	char *p = malloc(len + 1);

	if (p) {
		memcpy(p, s, len);
		p[len] = '\0';
	}
	return p;
}

static int want_map(struct rp *c, const struct yt_node *n, const char *what)
{
	if (n->kind == YT_MAPPING)
		return 0;
	return perr(c, n, "%s must be a mapping, not %s", what, yt_kind_str(n));
}

static int want_seq(struct rp *c, const struct yt_node *n, const char *what)
{
	if (n->kind == YT_SEQUENCE)
		return 0;
	return perr(c, n, "%s must be a list, not %s", what, yt_kind_str(n));
}

/* A scalar that is not null: the text in *out. */
static int want_str(struct rp *c, const struct yt_node *n, const char *what,
		    const char **out)
{
	if (n->kind != YT_SCALAR || yt_is_null(n))
		return perr(c, n, "%s must be a string, not %s", what,
			    yt_kind_str(n));
	*out = n->scalar.value;
	return 0;
}

/* buf = a b c, cut to fit: paths only appear in messages. */
static void cat3(char *buf, size_t len, const char *a, const char *b,
		 const char *c)
{
	const char *parts[3] = { a, b, c };
	size_t n = 0;

	for (int i = 0; i < 3; i++) {
		size_t l = strlen(parts[i]);

		if (l > len - 1 - n)
			l = len - 1 - n;
		memcpy(buf + n, parts[i], l);
		n += l;
	}
	buf[n] = '\0';
}

/* path.key (key cut to 64 bytes) */
static void join(char *buf, size_t len, const char *path, const char *key)
{
	char k[65];

	snprintf(k, sizeof(k), "%s", key);
	cat3(buf, len, path, *path ? "." : "", k);
}

/* path[i] */
static void index_path(char *buf, size_t len, const char *path, size_t i)
{
	char num[32];

	snprintf(num, sizeof(num), "[%zu]", i);
	cat3(buf, len, path, num, "");
}

/* A known field: why is NULL when we implement it, else what it does. */
struct fdesc {
	const char *name;
	const char *why;
};

/* Every key of mapping m must be a known, supported field. */
static int check_fields(struct rp *c, const struct yt_node *m,
			const char *path, const struct fdesc *known)
{
	const struct yt_pair *p;
	char what[PATH_LEN];

	yt_map_for_each(p, m) {
		const char *k = p->key->scalar.value;
		const struct fdesc *d;

		for (d = known; d->name && strcmp(d->name, k); d++)
			;
		join(what, sizeof(what), path, k);
		if (!d->name)
			return perr(c, p->key, "unknown %s field '%s'", c->kind,
				    what);
		if (d->why)
			return perr(c, p->key,
				    "%s field '%s' is not supported (%s)",
				    c->kind, what, d->why);
	}
	return 0;
}

/* ---- conditions ----------------------------------------------------------- */

static int compile_re(struct rp *c, const struct yt_node *n, const char *what,
		      const char *re, size_t len, pcre2_code **out)
{
	PCRE2_UCHAR msg[160];
	PCRE2_SIZE eoff = 0;
	struct re_bad bad;
	size_t size = 0;
	pcre2_code *code;
	int ec = 0;

	if (len > SPLIT_RE_MAX_LEN)
		return perr(c, n, "%s: regex is too long (%zu bytes, limit %d)",
			    what, len, SPLIT_RE_MAX_LEN);
	if (re2_check(re, len, &bad))
		return perr(c, n,
			    "%s: regex '%.64s': %s at offset %zu is not supported (Istio regexes are RE2 syntax)",
			    what, re, bad.what, bad.off);
	code = pcre2_compile((PCRE2_SPTR)re, len, RE_COMPILE_OPTS, &ec, &eoff,
			     NULL);
	if (!code) {
		if (ec == PCRE2_ERROR_NOMEMORY)
			return oom(c, n);
		pcre2_get_error_message(ec, msg, sizeof(msg));
		return perr(c, n, "%s: invalid regex '%.64s' at offset %zu: %s",
			    what, re, (size_t)eoff, (const char *)msg);
	}
	pcre2_pattern_info(code, PCRE2_INFO_SIZE, &size);
	if (size > SPLIT_RE_MAX_CODE) {
		pcre2_code_free(code);
		return perr(c, n,
			    "%s: regex '%.64s' is too complex (%zu bytes compiled, limit %d)",
			    what, re, size, SPLIT_RE_MAX_CODE);
	}
	*out = code;
	return 0;
}

/* '.' is every byte but '\n' only when PCRE2's newline is LF (RE2's
 * reading); re_lit assumes it. */
static bool newline_is_lf(void)
{
	static int lf = -1;
	uint32_t nl = 0;

	if (lf < 0)
		lf = pcre2_config(PCRE2_CONFIG_NEWLINE, &nl) < 0 ? 0 :
		     nl == PCRE2_NEWLINE_LF;
	return lf;
}

/* How cond's compiled regex re will run: as string checks if it is a
 * literal in context (re_lit.h), else JIT-compiled if PCRE2 can, else
 * with the DFA. -1 only when out of memory. */
static int prepare_re(struct split_cond *cond, const char *re, size_t len)
{
	if (newline_is_lf()) {
		if (!re_lit_compile(re, len, &cond->lit))
			return 0;
		if (errno == ENOMEM)
			return -1;
	}
	cond->jit = !pcre2_jit_compile(cond->re, PCRE2_JIT_COMPLETE);
	return 0;
}

/*
 * A StringMatch {exact|prefix|regex: STRING} at n into cond (kind, name
 * and negate are already set).
 *
 * Empty values, as Istio documents and implements them:
 *  - headers/withoutHeaders/queryParams `NAME: {}` (no match type) tests
 *    that the header or parameter is present. istio/api
 *    networking/v1alpha3/virtual_service.proto, HTTPMatchRequest.headers:
 *    "If the value is empty and only the name of header is specified,
 *    presence of the header is checked. To provide an empty value, use {}";
 *    Istio's pilot (route.go, canBeConvertedToPresentMatch) turns a nil
 *    match type into Envoy's present_match. A null value (`NAME:`) is
 *    rejected ("header match NAME cannot be null", Istio's validation).
 *  - `regex: "*"` is also turned into present_match by Istio (istio/istio
 *    pull 20629: '*' is not a valid RE2 regex); we do the same.
 *  - `exact: ""` is an exact match against the empty value ("?key" for
 *    a query parameter, as the queryParams doc says).
 *  - `prefix: ""` and `regex: ""` are rejected, as Istio's validation
 *    does ("prefix/regex string match should not be empty").
 *  - prefix is not supported for queryParams (Istio doc).
 *  - uri and method need one of exact, prefix, regex: `uri: {}` would
 *    match everything, which is what leaving it out says.
 */
static int parse_sm(struct rp *c, const struct yt_node *n, const char *what,
		    struct split_cond *cond)
{
	static const struct fdesc known[] = {
		{ "exact", NULL }, { "prefix", NULL }, { "regex", NULL },
		{ NULL, NULL }
	};
	bool named = cond->kind == SPLIT_COND_HEADER ||
		     cond->kind == SPLIT_COND_QUERY;
	const struct yt_pair *p;
	const char *k, *v;
	char path[PATH_LEN];
	size_t len;

	if (yt_is_null(n)) {
		if (named)
			return perr(c, n,
				    "%s must not be null (use {} to test that it is present)",
				    what);
		return perr(c, n,
			    "%s must be a mapping with one of exact, prefix or regex, not null",
			    what);
	}
	if (n->kind != YT_MAPPING)
		return perr(c, n,
			    "%s must be a mapping with one of exact, prefix or regex, not %s",
			    what, yt_kind_str(n));
	if (check_fields(c, n, what, known))
		return -1;
	if (!n->map.n) {
		if (named) {
			cond->op = SPLIT_OP_PRESENT;
			return 0;
		}
		return perr(c, n, "%s must set one of exact, prefix or regex",
			    what);
	}
	if (n->map.n > 1)
		return perr(c, n->map.pairs[1].key,
			    "%s: set only one of exact, prefix and regex (found '%s' and '%s')",
			    what, n->map.pairs[0].key->scalar.value,
			    n->map.pairs[1].key->scalar.value);
	p = &n->map.pairs[0];
	k = p->key->scalar.value;
	join(path, sizeof(path), what, k);
	if (p->value->kind != YT_SCALAR || yt_is_null(p->value))
		return perr(c, p->value,
			    "%s must be a string, not %s (write \"\" for an empty value)",
			    path, yt_kind_str(p->value));
	v = p->value->scalar.value;
	len = p->value->scalar.len;
	if (!strcmp(k, "exact")) {
		cond->op = SPLIT_OP_EXACT;
	} else if (!strcmp(k, "prefix")) {
		if (cond->kind == SPLIT_COND_QUERY)
			return perr(c, p->key,
				    "%s: prefix matching of query parameters is not supported by Istio (use exact or regex)",
				    path);
		if (!len)
			return perr(c, p->value,
				    "%s must not be empty (%s)", path,
				    named ? "use {} to test that it is present" :
					    "leave the field out to match everything");
		cond->op = SPLIT_OP_PREFIX;
	} else {
		if (!len)
			return perr(c, p->value, "%s must not be empty", path);
		if (named && !strcmp(v, "*")) {
			cond->op = SPLIT_OP_PRESENT;
			return 0;
		}
		cond->op = SPLIT_OP_REGEX;
		if (compile_re(c, p->value, path, v, len, &cond->re))
			return -1;
		if (prepare_re(cond, v, len))
			return oom(c, p->value);
	}
	if (len > SPLIT_RULES_MAX_VALUE)
		return perr(c, p->value, "%s is too long (%zu bytes, limit %d)",
			    path, len, SPLIT_RULES_MAX_VALUE);
	cond->value = memdup0(v, len);
	if (!cond->value)
		return oom(c, p->value);
	cond->value_len = len;
	return 0;
}

/* A header name from a headers/withoutHeaders map key. rr: a RouteRule,
 * where the keys uri and method mean the URI and the method (v1alpha2). */
static int header_cond(struct rp *c, const struct yt_node *key,
		       const char *what, bool rr, struct split_cond *cond)
{
	const char *k = key->scalar.value;
	size_t len = key->scalar.len;

	if (rr && !strcasecmp(k, "uri")) {
		cond->kind = SPLIT_COND_URI;
		return 0;
	}
	if (rr && !strcasecmp(k, "method")) {
		cond->kind = SPLIT_COND_METHOD;
		return 0;
	}
	if (rr && (!strcasecmp(k, "scheme") || !strcasecmp(k, "authority")))
		return perr(c, key, "%s field '%s' is not supported (%s matching)",
			    c->kind, what, k);
	if (!rr && (!strcasecmp(k, "uri") || !strcasecmp(k, "method") ||
		    !strcasecmp(k, "scheme") || !strcasecmp(k, "authority")))
		return perr(c, key,
			    "%s: header key '%s' is not supported (Istio ignores it; %s)",
			    what, k,
			    !strcasecmp(k, "uri") ? "use match.uri" :
			    !strcasecmp(k, "method") ? "use match.method" :
			    "scheme and authority matching are not supported");
	if (!len)
		return perr(c, key, "%s: the header name must not be empty", what);
	if (k[0] == ':')
		return perr(c, key,
			    "%s: pseudo-header '%.64s' is not supported (use uri or method)",
			    what, k);
	if (k[0] == '@')
		return perr(c, key,
			    "%s: JWT claim matching (@request.auth.claims) is not supported",
			    what);
	for (size_t i = 0; i < len; i++)
		if (!is_tchar(k[i]))
			return perr(c, key,
				    "%s: '%.64s' is not a valid HTTP header name",
				    what, k);
	cond->kind = SPLIT_COND_HEADER;
	cond->name = memdup0(k, len);
	if (!cond->name)
		return oom(c, key);
	for (size_t i = 0; i < len; i++)
		cond->name[i] = lower(cond->name[i]);
	return 0;
}

/* Conditions from a map NAME -> StringMatch (headers, withoutHeaders,
 * queryParams), appended to m->conds (room is there). */
static int map_conds(struct rp *c, const struct yt_node *map, const char *what,
		     enum split_cond_kind kind, bool negate, bool rr,
		     struct split_match *m)
{
	const struct yt_pair *p;
	char path[PATH_LEN];
	size_t first = m->nconds;

	yt_map_for_each(p, map) {
		struct split_cond *cond = &m->conds[m->nconds++];
		const char *k = p->key->scalar.value;

		join(path, sizeof(path), what, k);
		cond->negate = negate;
		if (kind == SPLIT_COND_HEADER) {
			if (header_cond(c, p->key, path, rr, cond))
				return -1;
		} else {
			cond->kind = SPLIT_COND_QUERY;
			if (!*k || strpbrk(k, "&=#? \t"))
				return perr(c, p->key,
					    "%s: '%.64s' is not a valid query parameter name",
					    what, k);
			cond->name = strdup(k);
			if (!cond->name)
				return oom(c, p->key);
		}
		if (parse_sm(c, p->value, path, cond))
			return -1;
		/* Keys are unique in YAML, but not once lower-cased. */
		for (size_t i = first; cond->name && i + 1 < m->nconds; i++) {
			if (!m->conds[i].name || m->conds[i].kind != cond->kind ||
			    strcmp(m->conds[i].name, cond->name))
				continue;
			return perr(c, p->key,
				    "%s: header '%s' is given twice (header names ignore case)",
				    what, cond->name);
		}
	}
	return 0;
}

static int cond_cmp(const void *a, const void *b)
{
	const struct split_cond *x = a, *y = b;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	if (x->negate != y->negate)
		return x->negate ? 1 : -1;
	return strcmp(x->name ? x->name : "", y->name ? y->name : "");
}

static int want_cond_room(struct rp *c, const struct yt_node *n,
			  const char *what, size_t count, struct split_match *m)
{
	if (count > SPLIT_RULES_MAX_CONDS)
		return perr(c, n, "%s: too many conditions (%zu, limit %d)",
			    what, count, SPLIT_RULES_MAX_CONDS);
	m->conds = calloc(count ? count : 1, sizeof(*m->conds));
	if (!m->conds)
		return oom(c, n);
	return 0;
}

/* One VirtualService http[].match[] block. */
static int parse_vs_match(struct rp *c, const struct yt_node *n,
			  const char *path, struct split_match *m)
{
	static const struct fdesc known[] = {
		{ "name", NULL }, { "uri", NULL }, { "method", NULL },
		{ "headers", NULL }, { "queryParams", NULL },
		{ "withoutHeaders", NULL },
		{ "scheme", "scheme matching" },
		{ "authority", "authority matching" },
		{ "port", "port matching" },
		{ "sourceLabels", "source label matching" },
		{ "sourceNamespace", "source namespace matching" },
		{ "gateways", "gateway matching" },
		{ "ignoreUriCase", "case-insensitive URI matching" },
		{ "statPrefix", "stat prefixes" },
		{ NULL, NULL }
	};
	const struct yt_node *uri, *method, *hdrs, *qp, *wh, *name;
	char what[PATH_LEN];
	size_t count = 0;
	const char *s = "";

	if (want_map(c, n, path) || check_fields(c, n, path, known))
		return -1;
	uri = yt_field(n, "uri");
	method = yt_field(n, "method");
	hdrs = yt_field(n, "headers");
	qp = yt_field(n, "queryParams");
	wh = yt_field(n, "withoutHeaders");
	name = yt_field(n, "name");
	if (name) {
		join(what, sizeof(what), path, "name");
		if (want_str(c, name, what, &s))
			return -1;
		m->name = strdup(s);
		if (!m->name)
			return oom(c, name);
	}
	count = !!uri + !!method;
	if (hdrs) {
		join(what, sizeof(what), path, "headers");
		if (want_map(c, hdrs, what))
			return -1;
		count += hdrs->map.n;
	}
	if (wh) {
		join(what, sizeof(what), path, "withoutHeaders");
		if (want_map(c, wh, what))
			return -1;
		count += wh->map.n;
	}
	if (qp) {
		join(what, sizeof(what), path, "queryParams");
		if (want_map(c, qp, what))
			return -1;
		count += qp->map.n;
	}
	/* Istio: "HTTPMatchRequest CANNOT be empty". */
	if (!count)
		return perr(c, n,
			    "%s: an empty match block is not allowed (it would match every request; leave 'match' out for that)",
			    path);
	if (want_cond_room(c, n, path, count, m))
		return -1;
	if (uri) {
		struct split_cond *cond = &m->conds[m->nconds++];

		cond->kind = SPLIT_COND_URI;
		join(what, sizeof(what), path, "uri");
		if (parse_sm(c, uri, what, cond))
			return -1;
	}
	if (method) {
		struct split_cond *cond = &m->conds[m->nconds++];

		cond->kind = SPLIT_COND_METHOD;
		join(what, sizeof(what), path, "method");
		if (parse_sm(c, method, what, cond))
			return -1;
	}
	if (hdrs) {
		join(what, sizeof(what), path, "headers");
		if (map_conds(c, hdrs, what, SPLIT_COND_HEADER, false, false, m))
			return -1;
	}
	if (wh) {
		join(what, sizeof(what), path, "withoutHeaders");
		if (map_conds(c, wh, what, SPLIT_COND_HEADER, true, false, m))
			return -1;
	}
	if (qp) {
		join(what, sizeof(what), path, "queryParams");
		if (map_conds(c, qp, what, SPLIT_COND_QUERY, false, false, m))
			return -1;
	}
	qsort(m->conds, m->nconds, sizeof(*m->conds), cond_cmp);
	return 0;
}

/* ---- labels, hosts, metadata ---------------------------------------------- */

static int label_cmp(const void *a, const void *b)
{
	const struct split_label *x = a, *y = b;

	return strcmp(x->key, y->key);
}

/* A labels mapping: every key and value valid, `version` present and not
 * empty; *labels sorted by key. */
static int parse_labels(struct rp *c, const struct yt_node *n,
			const char *path, char *version,
			struct split_label **labels, size_t *nlabels)
{
	const struct yt_pair *p;
	char what[PATH_LEN];
	const char *s = "";
	size_t i = 0;

	if (want_map(c, n, path))
		return -1;
	if (n->map.n > SPLIT_RULES_MAX_LABELS)
		return perr(c, n, "%s: too many labels (limit %d)", path,
			    SPLIT_RULES_MAX_LABELS);
	*labels = calloc(n->map.n ? n->map.n : 1, sizeof(**labels));
	if (!*labels)
		return oom(c, n);
	yt_map_for_each(p, n) {
		struct split_label *l = &(*labels)[i++];

		join(what, sizeof(what), path, p->key->scalar.value);
		*nlabels = i;
		if (!valid_label_key(p->key->scalar.value))
			return perr(c, p->key,
				    "%s: '%.64s' is not a valid label key",
				    path, p->key->scalar.value);
		if (p->value->kind != YT_SCALAR)
			return perr(c, p->value, "%s must be a string, not %s",
				    what, yt_kind_str(p->value));
		s = yt_is_null(p->value) ? "" : p->value->scalar.value;
		if (!split_label_value_ok(s))
			return perr(c, p->value,
				    "%s '%.64s' is not a valid label value (at most 63 characters: letters, digits, '-', '_' and '.', beginning and ending with a letter or digit)",
				    what, s);
		l->key = strdup(p->key->scalar.value);
		l->value = strdup(s);
		if (!l->key || !l->value)
			return oom(c, p->value);
		if (!strcmp(l->key, "version")) {
			if (!*s)
				return perr(c, p->value,
					    "%s must not be empty", what);
			strcpy(version, s);
		}
	}
	if (!*version)
		return perr(c, n,
			    "%s: the 'version' label is required (endpoints are selected by version)",
			    path);
	qsort(*labels, *nlabels, sizeof(**labels), label_cmp);
	return 0;
}

static int labels_dup(const struct split_label *src, size_t n,
		      struct split_label **out)
{
	*out = calloc(n ? n : 1, sizeof(**out));
	if (!*out)
		return -1;
	for (size_t i = 0; i < n; i++) {
		(*out)[i].key = strdup(src[i].key);
		(*out)[i].value = strdup(src[i].value);
		if (!(*out)[i].key || !(*out)[i].value) {
			labels_free(*out, n);
			*out = NULL;
			return -1;
		}
	}
	return 0;
}

/*
 * A host naming a Kubernetes service: NAME (in own_ns), NAME.NS,
 * NAME.NS.svc or NAME.NS.svc.cluster.local.
 */
static int resolve_host(struct rp *c, const struct yt_node *n,
			const char *what, const char *own_ns, char *svc_ns,
			char *svc_name)
{
	const char *s = "", *part[6];
	size_t plen[6], np = 0, start = 0, len;

	if (want_str(c, n, what, &s))
		return -1;
	len = strlen(s);
	if (strchr(s, '*'))
		return perr(c, n,
			    "%s: wildcard host '%.64s' is not supported (name one service)",
			    what, s);
	for (size_t i = 0; i <= len && np < 6; i++) {
		if (i < len && s[i] != '.')
			continue;
		part[np] = s + start;
		plen[np++] = i - start;
		start = i + 1;
	}
	if (start <= len ||
	    !(np == 1 || np == 2 ||
	      (np == 3 && plen[2] == 3 && !memcmp(part[2], "svc", 3)) ||
	      (np == 5 && plen[2] == 3 && !memcmp(part[2], "svc", 3) &&
	       !strcmp(part[3], SPLIT_CLUSTER_DOMAIN))))
		return perr(c, n,
			    "%s: host '%.64s' is not a Kubernetes service name (NAME, NAME.NAMESPACE, NAME.NAMESPACE.svc or NAME.NAMESPACE.svc.%s)",
			    what, s, SPLIT_CLUSTER_DOMAIN);
	if (!split_dns_label_ok(part[0], plen[0], true))
		return perr(c, n,
			    "%s: host '%.64s': service name '%.*s' must be a DNS-1035 label ([a-z]([-a-z0-9]*[a-z0-9])?, at most 63 characters)",
			    what, s, (int)(plen[0] > 64 ? 64 : plen[0]), part[0]);
	if (np > 1 && !split_dns_label_ok(part[1], plen[1], false))
		return perr(c, n,
			    "%s: host '%.64s': namespace '%.*s' must be a DNS-1123 label ([a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 characters)",
			    what, s, (int)(plen[1] > 64 ? 64 : plen[1]), part[1]);
	memcpy(svc_name, part[0], plen[0]);
	svc_name[plen[0]] = '\0';
	if (np > 1) {
		memcpy(svc_ns, part[1], plen[1]);
		svc_ns[plen[1]] = '\0';
	} else {
		strcpy(svc_ns, own_ns);
	}
	return 0;
}

/* metadata: name (required), namespace (default "default"). */
static int parse_meta(struct rp *c, const struct yt_node *root, char *name,
		      char *ns, struct pos *name_pos)
{
	static const struct fdesc known[] = {
		{ "name", NULL }, { "namespace", NULL }, { "labels", NULL },
		{ "annotations", NULL },
		/* written by the API server: no meaning for routing */
		{ "uid", NULL }, { "resourceVersion", NULL },
		{ "generation", NULL }, { "creationTimestamp", NULL },
		{ NULL, NULL }
	};
	const struct yt_node *md = yt_field(root, "metadata"), *n;
	const char *s = "";

	if (!md)
		return perr(c, yt_blame(root, "metadata"), "metadata is required");
	if (want_map(c, md, "metadata") ||
	    check_fields(c, md, "metadata", known))
		return -1;
	n = yt_field(md, "name");
	if (!n)
		return perr(c, yt_blame(md, "name"), "metadata.name is required");
	if (want_str(c, n, "metadata.name", &s))
		return -1;
	if (!valid_object_name(s))
		return perr(c, n,
			    "metadata.name '%.64s' must be a DNS-1123 subdomain of at most 63 characters (lower-case letters, digits, '-' and '.')",
			    s);
	strcpy(name, s);
	*name_pos = (struct pos){ c->t, n };
	n = yt_field(md, "namespace");
	s = "default";
	if (n && want_str(c, n, "metadata.namespace", &s))
		return -1;
	if (!split_dns_label_ok(s, strlen(s), false))
		return perr(c, n,
			    "metadata.namespace '%.64s' must be a DNS-1123 label ([a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 characters)",
			    s);
	strcpy(ns, s);
	n = yt_field(md, "labels");
	if (n && want_map(c, n, "metadata.labels"))
		return -1;
	n = yt_field(md, "annotations");
	if (n && want_map(c, n, "metadata.annotations"))
		return -1;
	return 0;
}

/* Weights of a route's destinations: one destination without a weight
 * gets 100; with several, each needs one and they sum to 100. */
static int check_weights(struct rp *c, const struct yt_node *list,
			 const char *path, struct split_route *r,
			 const struct yt_node *const *wnodes)
{
	char what[PATH_LEN];
	unsigned int sum = 0;

	if (r->ndests == 1) {
		if (wnodes[0] && r->dests[0].weight != 100)
			return perr(c, wnodes[0],
				    "%s[0].weight is %u: a single destination takes all traffic (write 100 or leave the weight out)",
				    path, r->dests[0].weight);
		r->dests[0].weight = 100;
		return 0;
	}
	for (size_t i = 0; i < r->ndests; i++) {
		if (!wnodes[i]) {
			index_path(what, sizeof(what), path, i);
			return perr(c, list->seq.items[i],
				    "%s.weight is required when there are several destinations",
				    what);
		}
		sum += r->dests[i].weight;
	}
	if (sum != 100)
		return perr(c, list, "%s: weights sum to %u, not 100", path, sum);
	return 0;
}

/* ---- RouteRule (config.istio.io/v1alpha2) --------------------------------- */

static int parse_rr_match(struct rp *c, const struct yt_node *n,
			  struct split_route *r)
{
	static const struct fdesc known[] = {
		{ "request", NULL },
		{ "source", "source-based matching" },
		{ NULL, NULL }
	};
	static const struct fdesc req_known[] = {
		{ "headers", NULL }, { NULL, NULL }
	};
	const struct yt_node *req, *hdrs;
	struct split_match *m;

	if (want_map(c, n, "match") || check_fields(c, n, "match", known))
		return -1;
	req = yt_field(n, "request");
	if (!req)
		return perr(c, yt_blame(n, "request"),
			    "match.request is required (an empty match would take every request: leave 'match' out)");
	if (want_map(c, req, "match.request") ||
	    check_fields(c, req, "match.request", req_known))
		return -1;
	hdrs = yt_field(req, "headers");
	if (!hdrs)
		return perr(c, yt_blame(req, "headers"),
			    "match.request.headers is required (an empty match would take every request: leave 'match' out)");
	if (want_map(c, hdrs, "match.request.headers"))
		return -1;
	if (!hdrs->map.n)
		return perr(c, hdrs,
			    "match.request.headers must not be empty (it would match every request: leave 'match' out)");
	r->matches = calloc(1, sizeof(*r->matches));
	if (!r->matches)
		return oom(c, n);
	r->nmatches = 1;
	m = &r->matches[0];
	if (want_cond_room(c, hdrs, "match.request.headers", hdrs->map.n, m) ||
	    map_conds(c, hdrs, "match.request.headers", SPLIT_COND_HEADER,
		      false, true, m))
		return -1;
	for (size_t i = 0; i < m->nconds; i++)
		for (size_t j = 0; j < i; j++)
			if (m->conds[i].kind == m->conds[j].kind &&
			    m->conds[i].kind != SPLIT_COND_HEADER)
				return perr(c, hdrs,
					    "match.request.headers: uri or method given twice");
	qsort(m->conds, m->nconds, sizeof(*m->conds), cond_cmp);
	return 0;
}

static int parse_rr_route(struct rp *c, const struct yt_node *list,
			  struct split_route *r)
{
	static const struct fdesc known[] = {
		{ "labels", NULL }, { "weight", NULL },
		{ "destination", "routing to another service" },
		{ NULL, NULL }
	};
	const struct yt_node *wnodes[SPLIT_RULES_MAX_DESTS], *it;
	char path[PATH_LEN], what[PATH_LEN];
	size_t i;

	if (want_seq(c, list, "route"))
		return -1;
	if (!list->seq.n)
		return perr(c, list, "route must not be empty");
	if (list->seq.n > SPLIT_RULES_MAX_DESTS)
		return perr(c, list->seq.items[SPLIT_RULES_MAX_DESTS],
			    "route: too many destinations (limit %d)",
			    SPLIT_RULES_MAX_DESTS);
	r->dests = calloc(list->seq.n, sizeof(*r->dests));
	if (!r->dests)
		return oom(c, list);
	yt_seq_for_each(it, i, list) {
		struct split_dest *d = &r->dests[i];
		const struct yt_node *labels, *w;
		long long v;

		r->ndests = i + 1;
		snprintf(path, sizeof(path), "route[%zu]", i);
		if (want_map(c, it, path) || check_fields(c, it, path, known))
			return -1;
		labels = yt_field(it, "labels");
		if (!labels)
			return perr(c, yt_blame(it, "labels"),
				    "%s.labels is required (with a 'version' label)",
				    path);
		join(what, sizeof(what), path, "labels");
		if (parse_labels(c, labels, what, d->version, &d->labels,
				 &d->nlabels))
			return -1;
		w = yt_field(it, "weight");
		wnodes[i] = w;
		if (w) {
			join(what, sizeof(what), path, "weight");
			if (yt_int(c->t, w, what, 0, 100, &v, c->err))
				return -1;
			d->weight = (uint32_t)v;
		}
		for (size_t j = 0; j < i; j++)
			if (!strcmp(r->dests[j].version, d->version))
				return perr(c, labels,
					    "%s.labels: version '%s' is already routed by route[%zu]",
					    path, d->version, j);
	}
	return check_weights(c, list, "route", r, wnodes);
}

static int parse_rr(struct rp *c, const struct yt_node *root,
		    const struct yt_node *spec)
{
	static const struct fdesc known[] = {
		{ "destination", NULL }, { "precedence", NULL },
		{ "match", NULL }, { "route", NULL },
		{ "redirect", "HTTP redirects" },
		{ "rewrite", "URI rewrites" },
		{ "websocketUpgrade", "websocket upgrades" },
		{ "httpReqTimeout", "request timeouts" },
		{ "httpReqRetries", "retries" },
		{ "httpFault", "fault injection" },
		{ "l4Fault", "fault injection" },
		{ "mirror", "traffic mirroring" },
		{ "corsPolicy", "CORS policy" },
		{ "appendHeaders", "header manipulation" },
		{ NULL, NULL }
	};
	static const struct fdesc dest_known[] = {
		{ "name", NULL }, { "namespace", NULL },
		{ "domain", "other domains than " SPLIT_CLUSTER_DOMAIN },
		{ "service", "service FQDNs: use name and namespace" },
		{ "labels", "destination labels: select versions with route[].labels" },
		{ NULL, NULL }
	};
	const struct yt_node *dest, *n;
	struct rr_ent *e;
	const char *s = "";
	long long v;

	if (split_grow((void **)&c->rr, &c->caprr, c->nrr, sizeof(*c->rr)))
		return oom(c, root);
	e = &c->rr[c->nrr++];
	memset(e, 0, sizeof(*e));
	if (parse_meta(c, root, e->name, e->ns, &e->name_pos) ||
	    check_fields(c, spec, "", known))
		return -1;
	e->route.name = strdup(e->name);
	if (!e->route.name)
		return oom(c, root);
	strcpy(e->route.ns, e->ns);

	dest = yt_field(spec, "destination");
	if (!dest)
		return perr(c, yt_blame(spec, "destination"),
			    "destination is required");
	if (want_map(c, dest, "destination") ||
	    check_fields(c, dest, "destination", dest_known))
		return -1;
	n = yt_field(dest, "name");
	if (!n)
		return perr(c, yt_blame(dest, "name"),
			    "destination.name is required");
	if (want_str(c, n, "destination.name", &s))
		return -1;
	if (!split_dns_label_ok(s, strlen(s), true))
		return perr(c, n,
			    "destination.name '%.64s' must be a service name (a DNS-1035 label: [a-z]([-a-z0-9]*[a-z0-9])?, at most 63 characters)",
			    s);
	strcpy(e->svc_name, s);
	e->dest_pos = (struct pos){ c->t, n };
	n = yt_field(dest, "namespace");
	s = e->ns;
	if (n && want_str(c, n, "destination.namespace", &s))
		return -1;
	if (!split_dns_label_ok(s, strlen(s), false))
		return perr(c, n,
			    "destination.namespace '%.64s' must be a DNS-1123 label",
			    s);
	strcpy(e->svc_ns, s);

	n = yt_field(spec, "precedence");
	if (n) {
		if (yt_int(c->t, n, "precedence", INT32_MIN, INT32_MAX, &v,
			   c->err))
			return -1;
		e->route.precedence = (int32_t)v;
	}
	n = yt_field(spec, "match");
	if (n && parse_rr_match(c, n, &e->route))
		return -1;
	n = yt_field(spec, "route");
	if (!n)
		return perr(c, yt_blame(spec, "route"), "route is required");
	return parse_rr_route(c, n, &e->route);
}

/* ---- VirtualService ------------------------------------------------------- */

static int parse_vs_dests(struct rp *c, struct vs_ent *e,
			  const struct yt_node *list, const char *hpath,
			  size_t ridx, struct split_route *r)
{
	static const struct fdesc known[] = {
		{ "destination", NULL }, { "weight", NULL },
		{ "headers", "header manipulation" },
		{ NULL, NULL }
	};
	static const struct fdesc dest_known[] = {
		{ "host", NULL }, { "subset", NULL }, { "port", NULL },
		{ NULL, NULL }
	};
	static const struct fdesc port_known[] = {
		{ "number", NULL }, { "name", "port names: use number" },
		{ NULL, NULL }
	};
	const struct yt_node *wnodes[SPLIT_RULES_MAX_DESTS];
	const struct yt_node *snodes[SPLIT_RULES_MAX_DESTS];
	char path[PATH_LEN], rpath[PATH_LEN], what[PATH_LEN];
	const struct yt_node *it;
	size_t i;

	join(rpath, sizeof(rpath), hpath, "route");
	if (want_seq(c, list, rpath))
		return -1;
	if (!list->seq.n)
		return perr(c, list, "%s must not be empty", rpath);
	if (list->seq.n > SPLIT_RULES_MAX_DESTS)
		return perr(c, list->seq.items[SPLIT_RULES_MAX_DESTS],
			    "%s: too many destinations (limit %d)", rpath,
			    SPLIT_RULES_MAX_DESTS);
	r->dests = calloc(list->seq.n, sizeof(*r->dests));
	if (!r->dests)
		return oom(c, list);
	yt_seq_for_each(it, i, list) {
		struct split_dest *d = &r->dests[i];
		const struct yt_node *dest, *n, *w;
		char ns[SPLIT_NAME_LEN], name[SPLIT_NAME_LEN];
		const char *s = "";
		long long v;

		r->ndests = i + 1;
		index_path(path, sizeof(path), rpath, i);
		if (want_map(c, it, path) || check_fields(c, it, path, known))
			return -1;
		dest = yt_field(it, "destination");
		join(what, sizeof(what), path, "destination");
		if (!dest)
			return perr(c, yt_blame(it, "destination"),
				    "%s is required", what);
		if (want_map(c, dest, what) ||
		    check_fields(c, dest, what, dest_known))
			return -1;
		n = yt_field(dest, "host");
		join(what, sizeof(what), path, "destination.host");
		if (!n)
			return perr(c, yt_blame(dest, "host"), "%s is required",
				    what);
		if (resolve_host(c, n, what, e->ns, ns, name))
			return -1;
		if (strcmp(ns, e->svc_ns) || strcmp(name, e->svc_name))
			return perr(c, n,
				    "%s: '%.64s' is service %s/%s, not this VirtualService's host %s/%s: routing to another service is not supported",
				    what, n->scalar.value, ns, name, e->svc_ns,
				    e->svc_name);
		n = yt_field(dest, "subset");
		snodes[i] = n;
		if (n) {
			join(what, sizeof(what), path, "destination.subset");
			if (want_str(c, n, what, &s))
				return -1;
			if (!split_dns_label_ok(s, strlen(s), false))
				return perr(c, n,
					    "%s '%.64s' must be a DNS-1123 label",
					    what, s);
			strcpy(d->subset, s);
			if (split_grow((void **)&e->refs, &e->caprefs, e->nrefs,
				 sizeof(*e->refs)))
				return oom(c, n);
			e->refs[e->nrefs++] = (struct sref){
				ridx, i, { c->t, n }
			};
		}
		n = yt_field(dest, "port");
		if (n) {
			const struct yt_node *num;

			join(what, sizeof(what), path, "destination.port");
			if (want_map(c, n, what) ||
			    check_fields(c, n, what, port_known))
				return -1;
			num = yt_field(n, "number");
			join(what, sizeof(what), path,
			     "destination.port.number");
			if (!num)
				return perr(c, yt_blame(n, "number"),
					    "%s is required", what);
			if (yt_int(c->t, num, what, 1, 65535, &v, c->err))
				return -1;
			d->port = (uint16_t)v;
		}
		w = yt_field(it, "weight");
		wnodes[i] = w;
		if (w) {
			join(what, sizeof(what), path, "weight");
			if (yt_int(c->t, w, what, 0, 100, &v, c->err))
				return -1;
			d->weight = (uint32_t)v;
		}
		for (size_t j = 0; j < i; j++) {
			const struct split_dest *o = &r->dests[j];

			if (strcmp(o->subset, d->subset) || o->port != d->port)
				continue;
			return perr(c, snodes[i] ? snodes[i] : dest,
				    "%s: the same destination as %s[%zu]",
				    path, rpath, j);
		}
	}
	return check_weights(c, list, rpath, r, wnodes);
}

static int parse_vs_http(struct rp *c, struct vs_ent *e,
			 const struct yt_node *it, const char *path,
			 size_t ridx, struct split_route *r)
{
	static const struct fdesc known[] = {
		{ "name", NULL }, { "match", NULL }, { "route", NULL },
		{ "redirect", "HTTP redirects" },
		{ "directResponse", "direct responses" },
		{ "delegate", "delegation to other VirtualServices" },
		{ "rewrite", "URI rewrites" },
		{ "timeout", "request timeouts" },
		{ "retries", "retries" },
		{ "fault", "fault injection" },
		{ "mirror", "traffic mirroring" },
		{ "mirrors", "traffic mirroring" },
		{ "mirrorPercent", "traffic mirroring" },
		{ "mirrorPercentage", "traffic mirroring" },
		{ "mirror_percent", "traffic mirroring" },
		{ "corsPolicy", "CORS policy" },
		{ "headers", "header manipulation" },
		{ NULL, NULL }
	};
	const struct yt_node *n, *m;
	char what[PATH_LEN];
	const char *s = "";
	size_t i;

	if (want_map(c, it, path) || check_fields(c, it, path, known))
		return -1;
	n = yt_field(it, "name");
	if (n) {
		join(what, sizeof(what), path, "name");
		if (want_str(c, n, what, &s))
			return -1;
		r->name = strdup(s);
		if (!r->name)
			return oom(c, n);
	}
	n = yt_field(it, "match");
	if (n) {
		join(what, sizeof(what), path, "match");
		if (want_seq(c, n, what))
			return -1;
		if (n->seq.n > SPLIT_RULES_MAX_MATCHES)
			return perr(c, n->seq.items[SPLIT_RULES_MAX_MATCHES],
				    "%s: too many match blocks (limit %d)",
				    what, SPLIT_RULES_MAX_MATCHES);
		r->matches = calloc(n->seq.n ? n->seq.n : 1,
				    sizeof(*r->matches));
		if (!r->matches)
			return oom(c, n);
		yt_seq_for_each(m, i, n) {
			char mpath[PATH_LEN];

			r->nmatches = i + 1;
			index_path(mpath, sizeof(mpath), what, i);
			if (parse_vs_match(c, m, mpath, &r->matches[i]))
				return -1;
		}
	}
	n = yt_field(it, "route");
	if (!n)
		return perr(c, yt_blame(it, "route"),
			    "%s.route is required (redirects and direct responses are not supported)",
			    path);
	return parse_vs_dests(c, e, n, path, ridx, r);
}

static int parse_vs(struct rp *c, const struct yt_node *root,
		    const struct yt_node *spec, const char *api)
{
	static const struct fdesc known[] = {
		{ "hosts", NULL }, { "http", NULL },
		{ "gateways", NULL },	/* only "mesh", below */
		{ "tcp", "TCP routes" }, { "tls", "TLS routes" },
		{ "exportTo", "exportTo visibility" },
		{ NULL, NULL }
	};
	const struct yt_node *hosts, *http, *gw, *it;
	char path[PATH_LEN];
	struct vs_ent *e;
	size_t i;

	if (split_grow((void **)&c->vs, &c->capvs, c->nvs, sizeof(*c->vs)))
		return oom(c, root);
	e = &c->vs[c->nvs++];
	memset(e, 0, sizeof(*e));
	snprintf(e->api, sizeof(e->api), "%s", api);
	if (parse_meta(c, root, e->name, e->ns, &e->name_pos) ||
	    check_fields(c, spec, "", known))
		return -1;

	/* gateways: [mesh] is what leaving it out means. */
	gw = yt_field(spec, "gateways");
	if (gw) {
		if (want_seq(c, gw, "gateways"))
			return -1;
		yt_seq_for_each(it, i, gw) {
			const char *s = "";

			snprintf(path, sizeof(path), "gateways[%zu]", i);
			if (want_str(c, it, path, &s))
				return -1;
			if (strcmp(s, "mesh"))
				return perr(c, it,
					    "%s field '%s' is not supported (gateway '%.64s': only 'mesh', sidecar traffic, is)",
					    c->kind, path, s);
		}
	}

	hosts = yt_field(spec, "hosts");
	if (!hosts)
		return perr(c, yt_blame(spec, "hosts"), "hosts is required");
	if (want_seq(c, hosts, "hosts"))
		return -1;
	if (!hosts->seq.n)
		return perr(c, hosts, "hosts must not be empty");
	if (hosts->seq.n > 1)
		return perr(c, hosts->seq.items[1],
			    "hosts[1]: only one host per VirtualService is supported (found %zu)",
			    hosts->seq.n);
	if (resolve_host(c, hosts->seq.items[0], "hosts[0]", e->ns, e->svc_ns,
			 e->svc_name))
		return -1;
	e->host_pos = (struct pos){ c->t, hosts->seq.items[0] };

	http = yt_field(spec, "http");
	if (!http)
		return perr(c, yt_blame(spec, "http"),
			    "http is required (HTTP routes are the only kind supported)");
	if (want_seq(c, http, "http"))
		return -1;
	if (!http->seq.n)
		return perr(c, http, "http must not be empty");
	if (http->seq.n > SPLIT_RULES_MAX_ROUTES)
		return perr(c, http->seq.items[SPLIT_RULES_MAX_ROUTES],
			    "http: too many routes (limit %d)",
			    SPLIT_RULES_MAX_ROUTES);
	e->routes = calloc(http->seq.n, sizeof(*e->routes));
	if (!e->routes)
		return oom(c, http);
	yt_seq_for_each(it, i, http) {
		e->nroutes = i + 1;
		snprintf(path, sizeof(path), "http[%zu]", i);
		if (parse_vs_http(c, e, it, path, i, &e->routes[i]))
			return -1;
		if (i && !e->routes[i - 1].nmatches)
			return perr(c, it,
				    "%s is never used: http[%zu] (%u:%u) has no match and takes every request",
				    path, i - 1, http->seq.items[i - 1]->line,
				    http->seq.items[i - 1]->col);
	}
	return 0;
}

/* ---- DestinationRule ------------------------------------------------------ */

static int subset_cmp(const void *a, const void *b)
{
	const struct split_subset *x = a, *y = b;

	return strcmp(x->name, y->name);
}

static int parse_dr(struct rp *c, const struct yt_node *root,
		    const struct yt_node *spec, const char *api)
{
	static const struct fdesc known[] = {
		{ "host", NULL }, { "subsets", NULL },
		{ "trafficPolicy", "traffic policies: load balancing, connection pools, outlier detection, TLS" },
		{ "exportTo", "exportTo visibility" },
		{ "workloadSelector", "workload selectors" },
		{ NULL, NULL }
	};
	static const struct fdesc sub_known[] = {
		{ "name", NULL }, { "labels", NULL },
		{ "trafficPolicy", "traffic policies" },
		{ NULL, NULL }
	};
	const struct yt_node *host, *subs, *it, *names[SPLIT_RULES_MAX_SUBSETS];
	char path[PATH_LEN], what[PATH_LEN];
	struct dr_ent *e;
	size_t i;

	if (split_grow((void **)&c->dr, &c->capdr, c->ndr, sizeof(*c->dr)))
		return oom(c, root);
	e = &c->dr[c->ndr++];
	memset(e, 0, sizeof(*e));
	snprintf(e->api, sizeof(e->api), "%s", api);
	if (parse_meta(c, root, e->name, e->ns, &e->name_pos) ||
	    check_fields(c, spec, "", known))
		return -1;
	host = yt_field(spec, "host");
	if (!host)
		return perr(c, yt_blame(spec, "host"), "host is required");
	if (resolve_host(c, host, "host", e->ns, e->svc_ns, e->svc_name))
		return -1;
	e->host_pos = (struct pos){ c->t, host };
	e->subsets_pos = e->name_pos;

	subs = yt_field(spec, "subsets");
	if (!subs)
		return 0;
	if (want_seq(c, subs, "subsets"))
		return -1;
	e->subsets_pos = (struct pos){ c->t, subs };
	if (subs->seq.n > SPLIT_RULES_MAX_SUBSETS)
		return perr(c, subs->seq.items[SPLIT_RULES_MAX_SUBSETS],
			    "subsets: too many subsets (limit %d)",
			    SPLIT_RULES_MAX_SUBSETS);
	e->subsets = calloc(subs->seq.n ? subs->seq.n : 1, sizeof(*e->subsets));
	if (!e->subsets)
		return oom(c, subs);
	yt_seq_for_each(it, i, subs) {
		struct split_subset *s = &e->subsets[i];
		const struct yt_node *n, *labels;
		const char *name = "";

		e->nsubsets = i + 1;
		snprintf(path, sizeof(path), "subsets[%zu]", i);
		if (want_map(c, it, path) ||
		    check_fields(c, it, path, sub_known))
			return -1;
		n = yt_field(it, "name");
		join(what, sizeof(what), path, "name");
		if (!n)
			return perr(c, yt_blame(it, "name"), "%s is required",
				    what);
		if (want_str(c, n, what, &name))
			return -1;
		if (!split_dns_label_ok(name, strlen(name), false))
			return perr(c, n, "%s '%.64s' must be a DNS-1123 label",
				    what, name);
		strcpy(s->name, name);
		names[i] = n;
		for (size_t j = 0; j < i; j++)
			if (!strcmp(e->subsets[j].name, name))
				return perr(c, n,
					    "%s: duplicate subset '%s' (first at %u:%u)",
					    what, name, names[j]->line,
					    names[j]->col);
		labels = yt_field(it, "labels");
		join(what, sizeof(what), path, "labels");
		if (!labels)
			return perr(c, yt_blame(it, "labels"),
				    "%s is required (with a 'version' label)",
				    what);
		if (parse_labels(c, labels, what, s->version, &s->labels,
				 &s->nlabels))
			return -1;
	}
	return 0;
}

/* ---- documents ------------------------------------------------------------ */

static bool is_net_api(const char *a)
{
	return !strcmp(a, NET_GROUP "v1alpha3") ||
	       !strcmp(a, NET_GROUP "v1beta1") || !strcmp(a, NET_GROUP "v1");
}

enum split_doc_class split_doc_classify(const struct yt_node *root)
{
	const struct yt_node *k, *a;
	const char *ks, *as, *slash;

	if (!root || yt_is_null(root))
		return SPLIT_DOC_EMPTY;
	k = yt_field(root, "kind");
	a = yt_field(root, "apiVersion");
	ks = k && k->kind == YT_SCALAR ? k->scalar.value : "";
	as = a && a->kind == YT_SCALAR ? a->scalar.value : "";
	if (!strcmp(ks, "Service") && !strcmp(as, SVC_API))
		return SPLIT_DOC_SERVICE;
	if (!strcmp(ks, "RouteRule") || !strcmp(ks, "VirtualService") ||
	    !strcmp(ks, "DestinationRule"))
		return SPLIT_DOC_RULES;
	slash = strchr(as, '/');
	if (slash && slash - as >= 9 && !memcmp(slash - 9, ".istio.io", 9))
		return SPLIT_DOC_RULES;
	return SPLIT_DOC_OTHER;
}

static int parse_doc(struct rp *c, const struct yt_doc *d)
{
	static const struct fdesc known[] = {
		{ "apiVersion", NULL }, { "kind", NULL },
		{ "metadata", NULL }, { "spec", NULL },
		{ "status", NULL },	/* written by the API server */
		{ NULL, NULL }
	};
	const struct yt_node *root = d->root, *kind, *api, *spec;
	const char *k = "", *a = "";

	if (!root || yt_is_null(root))
		return 0;
	c->kind = "document";
	if (root->kind != YT_MAPPING)
		return perr(c, root, "a document must be a mapping, not %s",
			    yt_kind_str(root));
	kind = yt_field(root, "kind");
	api = yt_field(root, "apiVersion");
	if (!kind)
		return perr(c, yt_blame(root, "kind"), "kind is required");
	if (!api)
		return perr(c, yt_blame(root, "apiVersion"),
			    "apiVersion is required");
	if (want_str(c, kind, "kind", &k) ||
	    want_str(c, api, "apiVersion", &a))
		return -1;
	if (!strcmp(k, "Service") && !strcmp(a, SVC_API))
		return 0;	/* services_yaml.c's */
	if (!strcmp(k, "RouteRule")) {
		c->kind = "RouteRule";
		if (strcmp(a, RR_API))
			return perr(c, api,
				    "RouteRule: apiVersion must be %s, not '%.64s'",
				    RR_API, a);
	} else if (!strcmp(k, "VirtualService") ||
		   !strcmp(k, "DestinationRule")) {
		c->kind = !strcmp(k, "VirtualService") ? "VirtualService" :
							 "DestinationRule";
		if (!is_net_api(a))
			return perr(c, api,
				    "%s: apiVersion '%.64s' is not supported (%sv1alpha3, v1beta1 or v1)",
				    c->kind, a, NET_GROUP);
	} else {
		return perr(c, kind,
			    "unsupported kind '%.64s' (apiVersion '%.64s'); expected RouteRule (%s), VirtualService or DestinationRule (%sv1alpha3, v1beta1, v1), or Service (%s)",
			    k, a, RR_API, NET_GROUP, SVC_API);
	}
	if (check_fields(c, root, "", known))
		return -1;
	spec = yt_field(root, "spec");
	if (!spec)
		return perr(c, yt_blame(root, "spec"), "spec is required");
	if (want_map(c, spec, "spec"))
		return -1;
	if (!strcmp(k, "RouteRule"))
		return parse_rr(c, root, spec);
	if (!strcmp(k, "VirtualService"))
		return parse_vs(c, root, spec, a);
	return parse_dr(c, root, spec, a);
}

/* ---- pass two: services --------------------------------------------------- */

enum ent_type { ENT_RR, ENT_VS, ENT_DR };

/* An entity, for sorting by service and by resource name. */
struct ent_ref {
	const char *ns, *name;	/* of the service, or of the resource */
	enum ent_type type;
	size_t idx;		/* into c->rr, c->vs or c->dr */
};

static int ent_cmp(const void *a, const void *b)
{
	const struct ent_ref *x = a, *y = b;

	return strcmp(x->ns, y->ns) ?: strcmp(x->name, y->name) ?:
	       (x->type != y->type ? (x->type < y->type ? -1 : 1) :
		(x->idx > y->idx) - (x->idx < y->idx));
}

static const struct pos *ent_pos(struct rp *c, const struct ent_ref *r,
				 bool host)
{
	switch (r->type) {
	case ENT_RR:
		return host ? &c->rr[r->idx].dest_pos : &c->rr[r->idx].name_pos;
	case ENT_VS:
		return host ? &c->vs[r->idx].host_pos : &c->vs[r->idx].name_pos;
	default:
		return host ? &c->dr[r->idx].host_pos : &c->dr[r->idx].name_pos;
	}
}

static const char *const ent_kind[] = {
	"RouteRule", "VirtualService", "DestinationRule"
};

/* The namespace/name of the resource itself. */
static const char *ent_id(struct rp *c, const struct ent_ref *r, char *buf,
			  size_t len)
{
	const char *ns, *name;

	switch (r->type) {
	case ENT_RR:
		ns = c->rr[r->idx].ns;
		name = c->rr[r->idx].name;
		break;
	case ENT_VS:
		ns = c->vs[r->idx].ns;
		name = c->vs[r->idx].name;
		break;
	default:
		ns = c->dr[r->idx].ns;
		name = c->dr[r->idx].name;
		break;
	}
	snprintf(buf, len, "%s/%s", ns, name);
	return buf;
}

/* Two resources of one kind with the same namespace/name. */
static int check_dup_names(struct rp *c, struct ent_ref *refs, size_t n)
{
	char where[PATH_LEN];

	for (size_t i = 0; i < c->nrr; i++)
		refs[n++] = (struct ent_ref){ c->rr[i].ns, c->rr[i].name,
					      ENT_RR, i };
	for (size_t i = 0; i < c->nvs; i++)
		refs[n++] = (struct ent_ref){ c->vs[i].ns, c->vs[i].name,
					      ENT_VS, i };
	for (size_t i = 0; i < c->ndr; i++)
		refs[n++] = (struct ent_ref){ c->dr[i].ns, c->dr[i].name,
					      ENT_DR, i };
	qsort(refs, n, sizeof(*refs), ent_cmp);
	for (size_t i = 1; i < n; i++) {
		const struct ent_ref *a = &refs[i - 1], *b = &refs[i];

		if (a->type != b->type || strcmp(a->ns, b->ns) ||
		    strcmp(a->name, b->name))
			continue;
		return perr_at(c, ent_pos(c, b, false),
			       "duplicate %s %s/%s (first at %s)",
			       ent_kind[b->type], b->ns, b->name,
			       pos_str(ent_pos(c, a, false), where,
				       sizeof(where)));
	}
	return 0;
}

static int rr_order(const void *a, const void *b, void *arg)
{
	const struct rr_ent *rr = arg;
	const struct rr_ent *x = &rr[*(const size_t *)a];
	const struct rr_ent *y = &rr[*(const size_t *)b];

	if (x->route.precedence != y->route.precedence)
		return x->route.precedence > y->route.precedence ? -1 : 1;
	return strcmp(x->ns, y->ns) ?: strcmp(x->name, y->name);
}

/* Build one service from its entities refs[0..n) (sorted by type). */
static int build_service(struct rp *c, const struct ent_ref *refs, size_t n,
			 struct split_rules_service *svc)
{
	const struct ent_ref *vs = NULL, *dr = NULL;
	size_t nrr = 0, *order = NULL;
	char where[PATH_LEN];
	struct dr_ent *d = NULL;
	int ret = -1;

	strcpy(svc->ns, refs[0].ns);
	strcpy(svc->name, refs[0].name);
	for (size_t i = 0; i < n; i++) {
		const struct ent_ref *r = &refs[i];
		const struct ent_ref **slot = r->type == ENT_VS ? &vs :
					      r->type == ENT_DR ? &dr : NULL;

		if (r->type == ENT_RR) {
			nrr++;
			continue;
		}
		if (*slot) {
			char a[2 * SPLIT_NAME_LEN], b[2 * SPLIT_NAME_LEN];

			return perr_at(c, ent_pos(c, r, true),
				       "%s %s: service %s/%s already has %s %s (%s); one per service",
				       ent_kind[r->type],
				       ent_id(c, r, a, sizeof(a)),
				       svc->ns, svc->name, ent_kind[r->type],
				       ent_id(c, *slot, b, sizeof(b)),
				       pos_str(ent_pos(c, *slot, true), where,
					       sizeof(where)));
		}
		*slot = r;
	}
	if (vs && nrr) {
		const struct rr_ent *r = &c->rr[refs[0].idx];

		return perr_at(c, &c->vs[vs->idx].host_pos,
			       "VirtualService %s/%s routes service %s/%s, which RouteRule %s/%s (%s) routes too; use one API per service",
			       c->vs[vs->idx].ns, c->vs[vs->idx].name, svc->ns,
			       svc->name, r->ns, r->name,
			       pos_str(&r->dest_pos, where, sizeof(where)));
	}
	if (nrr > SPLIT_RULES_MAX_ROUTES)
		return perr_at(c, ent_pos(c, &refs[SPLIT_RULES_MAX_ROUTES], false),
			       "service %s/%s: too many RouteRules (limit %d)",
			       svc->ns, svc->name, SPLIT_RULES_MAX_ROUTES);

	if (dr) {
		d = &c->dr[dr->idx];
		svc->has_dr = true;
		strcpy(svc->dr_name, d->name);
		strcpy(svc->dr_ns, d->ns);
		strcpy(svc->dr_api_version, d->api);
	}

	if (nrr) {
		order = calloc(nrr, sizeof(*order));
		svc->routes = calloc(nrr, sizeof(*svc->routes));
		if (!order || !svc->routes) {
			oom(c, NULL);
			goto out;
		}
		for (size_t i = 0; i < nrr; i++)
			order[i] = refs[i].idx;
		qsort_r(order, nrr, sizeof(*order), rr_order, c->rr);
		for (size_t i = 0; i < nrr; i++) {
			struct rr_ent *r = &c->rr[order[i]];

			if (i && !svc->routes[i - 1].nmatches) {
				const struct rr_ent *p = &c->rr[order[i - 1]];

				/* p's route has moved to svc->routes. */
				perr_at(c, &r->name_pos,
					"RouteRule %s/%s (precedence %d) is never used: RouteRule %s/%s (precedence %d, %s) has no match and takes every request",
					r->ns, r->name, r->route.precedence,
					p->ns, p->name,
					svc->routes[i - 1].precedence,
					pos_str(&p->name_pos, where,
						sizeof(where)));
				goto out;
			}
			svc->routes[i] = r->route;
			memset(&r->route, 0, sizeof(r->route));
			svc->nroutes = i + 1;
		}
		svc->api = SPLIT_API_ROUTE_RULE;
	} else if (vs) {
		struct vs_ent *v = &c->vs[vs->idx];

		for (size_t i = 0; i < v->nrefs; i++) {
			const struct sref *s = &v->refs[i];
			struct split_dest *dst;
			const struct split_subset *sub = NULL;

			dst = &v->routes[s->route].dests[s->dest];
			for (size_t j = 0; d && j < d->nsubsets && !sub; j++)
				if (!strcmp(d->subsets[j].name, dst->subset))
					sub = &d->subsets[j];
			if (!sub && !d) {
				perr_at(c, &s->pos,
					"subset '%s' is not defined: no DestinationRule for service %s/%s",
					dst->subset, svc->ns, svc->name);
				goto out;
			}
			if (!sub) {
				perr_at(c, &s->pos,
					"subset '%s' is not defined in DestinationRule %s/%s (%s)",
					dst->subset, d->ns, d->name,
					pos_str(&d->subsets_pos, where,
						sizeof(where)));
				goto out;
			}
			strcpy(dst->version, sub->version);
			if (labels_dup(sub->labels, sub->nlabels, &dst->labels)) {
				oom(c, NULL);
				goto out;
			}
			dst->nlabels = sub->nlabels;
		}
		svc->api = SPLIT_API_VIRTUAL_SERVICE;
		strcpy(svc->vs_name, v->name);
		strcpy(svc->vs_ns, v->ns);
		strcpy(svc->vs_api_version, v->api);
		svc->routes = v->routes;
		svc->nroutes = v->nroutes;
		v->routes = NULL;
		v->nroutes = 0;
	}
	if (d) {
		svc->subsets = d->subsets;
		svc->nsubsets = d->nsubsets;
		d->subsets = NULL;
		d->nsubsets = 0;
		if (svc->nsubsets)
			qsort(svc->subsets, svc->nsubsets,
			      sizeof(*svc->subsets), subset_cmp);
	}
	ret = 0;
out:
	free(order);
	return ret;
}

static int build(struct rp *c, struct split_rules *out)
{
	size_t n = c->nrr + c->nvs + c->ndr, nsvc = 0;
	struct split_rules_service *svcs = NULL;
	struct ent_ref *refs;
	int ret = -1;

	if (!n) {
		memset(out, 0, sizeof(*out));
		return 0;
	}
	refs = calloc(n, sizeof(*refs));
	if (!refs)
		return oom(c, NULL);
	if (check_dup_names(c, refs, 0))
		goto out;
	n = 0;
	for (size_t i = 0; i < c->nrr; i++)
		refs[n++] = (struct ent_ref){ c->rr[i].svc_ns, c->rr[i].svc_name,
					      ENT_RR, i };
	for (size_t i = 0; i < c->nvs; i++)
		refs[n++] = (struct ent_ref){ c->vs[i].svc_ns, c->vs[i].svc_name,
					      ENT_VS, i };
	for (size_t i = 0; i < c->ndr; i++)
		refs[n++] = (struct ent_ref){ c->dr[i].svc_ns, c->dr[i].svc_name,
					      ENT_DR, i };
	qsort(refs, n, sizeof(*refs), ent_cmp);
	svcs = calloc(n, sizeof(*svcs));
	if (!svcs) {
		oom(c, NULL);
		goto out;
	}
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i + 1; j < n && !strcmp(refs[i].ns, refs[j].ns) &&
				!strcmp(refs[i].name, refs[j].name); j++)
			;
		if (nsvc >= SPLIT_MAX_SERVICES - 1) {
			perr_at(c, ent_pos(c, &refs[i], true),
				"too many services (limit %d)",
				SPLIT_MAX_SERVICES - 1);
			goto out;
		}
		nsvc++;
		if (build_service(c, refs + i, j - i, &svcs[nsvc - 1]))
			goto out;
	}
	out->svcs = svcs;
	out->nsvcs = nsvc;
	svcs = NULL;
	ret = 0;
out:
	if (svcs) {
		struct split_rules tmp = { svcs, nsvc };

		split_rules_free(&tmp);
	}
	free(refs);
	return ret;
}

static void rp_free(struct rp *c)
{
	for (size_t i = 0; i < c->nrr; i++)
		route_free(&c->rr[i].route);
	for (size_t i = 0; i < c->nvs; i++) {
		routes_free(c->vs[i].routes, c->vs[i].nroutes);
		free(c->vs[i].refs);
	}
	for (size_t i = 0; i < c->ndr; i++)
		subsets_free(c->dr[i].subsets, c->dr[i].nsubsets);
	free(c->rr);
	free(c->vs);
	free(c->dr);
}

int split_rules_from_trees(const struct yt_tree *const *trees, size_t n,
			   struct split_rules *out, struct split_err *err)
{
	struct rp c = { .err = err };
	struct split_rules tmp;
	int ret = 0;

	for (size_t i = 0; i < n && !ret; i++) {
		c.t = trees[i];
		for (size_t j = 0; j < trees[i]->ndocs && !ret; j++)
			ret = parse_doc(&c, &trees[i]->docs[j]);
	}
	c.t = n ? trees[0] : NULL;
	if (!ret)
		ret = build(&c, &tmp);
	rp_free(&c);
	if (ret)
		return -1;
	*out = tmp;
	return 0;
}

int split_rules_parse(const char *name, const char *buf, size_t len,
		      struct split_rules *out, struct split_err *err)
{
	const struct yt_tree *tp;
	struct yt_tree tree;
	int ret;

	if (yt_parse(name, buf, len, &tree, err))
		return -1;
	tp = &tree;
	ret = split_rules_from_trees(&tp, 1, out, err);
	yt_free(&tree);
	return ret;
}

/* ---- files ---------------------------------------------------------------- */

int split_rules_load(const char **paths, size_t n, struct split_rules *out,
		     struct split_err *err)
{
	struct split_paths fl = { 0 };
	struct yt_tree *trees = NULL;
	const struct yt_tree **tp = NULL;
	size_t ntrees = 0;
	int ret = -1;

	if (split_paths_expand(paths, n, &fl, err))
		return -1;
	trees = calloc(fl.n ? fl.n : 1, sizeof(*trees));
	tp = calloc(fl.n ? fl.n : 1, sizeof(*tp));
	if (!trees || !tp) {
		split_errf(err, "%s: out of memory", n ? paths[0] : "rules");
		goto out;
	}
	for (size_t i = 0; i < fl.n; i++) {
		char *buf = NULL;
		size_t len = 0;
		int r;

		if (split_read_file(fl.paths[i], &buf, &len, err))
			goto out;
		r = yt_parse(fl.paths[i], buf ? buf : "", len, &trees[i], err);
		free(buf);
		if (r)
			goto out;
		tp[i] = &trees[i];
		ntrees = i + 1;
	}
	ret = split_rules_from_trees(tp, ntrees, out, err);
out:
	for (size_t i = 0; i < ntrees; i++)
		yt_free(&trees[i]);
	free(trees);
	free(tp);
	split_paths_free(&fl);
	return ret;
}

/* ---- lookups -------------------------------------------------------------- */

static int svc_key_cmp(const void *key, const void *elem)
{
	const char *const *k = key;
	const struct split_rules_service *s = elem;

	return strcmp(k[0], s->ns) ?: strcmp(k[1], s->name);
}

const struct split_rules_service *
split_rules_find(const struct split_rules *rules, const char *ns,
		 const char *name)
{
	const char *key[2] = { ns, name };

	if (!rules || !rules->nsvcs || !ns || !name)
		return NULL;
	return bsearch(key, rules->svcs, rules->nsvcs, sizeof(*rules->svcs),
		       svc_key_cmp);
}

bool split_rules_service_is_l7(const struct split_rules_service *svc)
{
	for (size_t i = 0; svc && i < svc->nroutes; i++)
		if (svc->routes[i].nmatches)
			return true;
	return false;
}

/* ---- printing ------------------------------------------------------------- */

/* A YAML double-quoted scalar. */
static void print_q(FILE *f, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;

	fputc('"', f);
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = u[i];

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch == '\n')
			fputs("\\n", f);
		else if (ch == '\t')
			fputs("\\t", f);
		else if (ch < 0x20 || ch == 0x7f)
			fprintf(f, "\\x%02x", ch);
		else if (ch == 0xc2 && i + 1 < len && u[i + 1] == 0x85) {
			fputs("\\N", f);	/* NEL would fold */
			i++;
		} else if (ch == 0xe2 && i + 2 < len && u[i + 1] == 0x80 &&
			   (u[i + 2] == 0xa8 || u[i + 2] == 0xa9)) {
			fputs(u[i + 2] == 0xa8 ? "\\L" : "\\P", f);
			i += 2;
		} else if (ch == 0xef && i + 2 < len && u[i + 1] == 0xbb &&
			   u[i + 2] == 0xbf) {
			fputs("\\uFEFF", f);
			i += 2;
		} else {
			fputc(ch, f);
		}
	}
	fputc('"', f);
}

static void print_qs(FILE *f, const char *s)
{
	print_q(f, s, strlen(s));
}

/* Plain when no YAML 1.1 or 1.2 reader can take it for anything but this
 * string: a letter, then letters, digits and -_./, not a boolean or null
 * word. Else double-quoted. */
static void print_s(FILE *f, const char *s)
{
	static const char *const words[] = {
		"y", "n", "yes", "no", "on", "off", "true", "false", "null",
	};
	bool plain = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z');

	for (const char *p = s; plain && *p; p++)
		plain = is_alnum(*p) || strchr("-_./", *p);
	for (size_t i = 0; plain && i < sizeof(words) / sizeof(words[0]); i++)
		plain = strcasecmp(s, words[i]) != 0;
	if (plain)
		fputs(s, f);
	else
		print_qs(f, s);
}

static const char *const op_key[] = { "exact", "prefix", "regex" };

/* "KEY: {}" or "KEY:\n  OP: VALUE", the key at column ind, after prefix
 * (ind spaces when NULL). */
static void print_sm(FILE *f, const char *prefix, int ind, const char *key,
		     bool quote_key, const struct split_cond *c)
{
	if (prefix)
		fputs(prefix, f);
	else
		fprintf(f, "%*s", ind, "");
	if (quote_key)
		print_s(f, key);
	else
		fputs(key, f);
	if (c->op == SPLIT_OP_PRESENT) {
		fputs(": {}\n", f);
		return;
	}
	fprintf(f, ":\n%*s%s: ", ind + 2, "", op_key[c->op]);
	print_q(f, c->value, c->value_len);
	fputc('\n', f);
}

static void print_labels(FILE *f, int ind, const struct split_label *l,
			 size_t n)
{
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "%*s", ind, "");
		print_s(f, l[i].key);
		fputs(": ", f);
		print_s(f, l[i].value);
		fputc('\n', f);
	}
}

static void print_rr(FILE *f, const struct split_rules_service *svc,
		     const struct split_route *r)
{
	fprintf(f, "---\napiVersion: %s\nkind: RouteRule\nmetadata:\n  name: %s\n  namespace: %s\nspec:\n  destination:\n    name: %s\n    namespace: %s\n  precedence: %d\n",
		RR_API, r->name, r->ns, svc->name, svc->ns, r->precedence);
	if (r->nmatches) {
		const struct split_match *m = &r->matches[0];

		fputs("  match:\n    request:\n      headers:\n", f);
		for (size_t i = 0; i < m->nconds; i++) {
			const struct split_cond *c = &m->conds[i];

			print_sm(f, NULL, 8, c->kind == SPLIT_COND_URI ? "uri" :
				 c->kind == SPLIT_COND_METHOD ? "method" :
				 c->name, c->kind == SPLIT_COND_HEADER, c);
		}
	}
	fputs("  route:\n", f);
	for (size_t i = 0; i < r->ndests; i++) {
		fputs("  - labels:\n", f);
		print_labels(f, 6, r->dests[i].labels, r->dests[i].nlabels);
		fprintf(f, "    weight: %u\n", r->dests[i].weight);
	}
}

static void print_vs_match(FILE *f, const struct split_match *m)
{
	static const struct {
		enum split_cond_kind kind;
		bool negate;
		const char *key;
	} maps[] = {
		{ SPLIT_COND_HEADER, false, "headers" },
		{ SPLIT_COND_HEADER, true, "withoutHeaders" },
		{ SPLIT_COND_QUERY, false, "queryParams" },
	};
	bool first = true;

	/* The first line of the block carries the "- ". */
#define ITEM() (first ? (first = false, "    - ") : "      ")
	if (m->name) {
		fprintf(f, "%sname: ", ITEM());
		print_s(f, m->name);
		fputc('\n', f);
	}
	for (size_t i = 0; i < m->nconds; i++) {
		const struct split_cond *c = &m->conds[i];

		if (c->kind != SPLIT_COND_URI && c->kind != SPLIT_COND_METHOD)
			continue;
		print_sm(f, ITEM(), 6,
			 c->kind == SPLIT_COND_URI ? "uri" : "method", false, c);
	}
	for (size_t k = 0; k < sizeof(maps) / sizeof(maps[0]); k++) {
		bool any = false;

		for (size_t i = 0; i < m->nconds; i++) {
			const struct split_cond *c = &m->conds[i];

			if (c->kind != maps[k].kind || c->negate != maps[k].negate)
				continue;
			if (!any)
				fprintf(f, "%s%s:\n", ITEM(), maps[k].key);
			any = true;
			print_sm(f, NULL, 8, c->name, true, c);
		}
	}
#undef ITEM
}

static void print_vs(FILE *f, const struct split_rules_service *svc)
{
	fprintf(f, "---\napiVersion: %s\nkind: VirtualService\nmetadata:\n  name: %s\n  namespace: %s\nspec:\n  hosts:\n  - %s.%s.svc.%s\n  http:\n",
		svc->vs_api_version, svc->vs_name, svc->vs_ns, svc->name,
		svc->ns, SPLIT_CLUSTER_DOMAIN);
	for (size_t i = 0; i < svc->nroutes; i++) {
		const struct split_route *r = &svc->routes[i];
		bool first = true;

		if (r->name) {
			fputs("  - name: ", f);
			print_s(f, r->name);
			fputc('\n', f);
			first = false;
		}
		if (r->nmatches) {
			fprintf(f, "  %smatch:\n", first ? "- " : "  ");
			first = false;
			for (size_t j = 0; j < r->nmatches; j++)
				print_vs_match(f, &r->matches[j]);
		}
		fprintf(f, "  %sroute:\n", first ? "- " : "  ");
		for (size_t j = 0; j < r->ndests; j++) {
			const struct split_dest *d = &r->dests[j];

			fprintf(f, "    - destination:\n        host: %s.%s.svc.%s\n",
				svc->name, svc->ns, SPLIT_CLUSTER_DOMAIN);
			if (*d->subset)
				fprintf(f, "        subset: %s\n", d->subset);
			if (d->port)
				fprintf(f, "        port:\n          number: %u\n",
					d->port);
			fprintf(f, "      weight: %u\n", d->weight);
		}
	}
}

static void print_dr(FILE *f, const struct split_rules_service *svc)
{
	fprintf(f, "---\napiVersion: %s\nkind: DestinationRule\nmetadata:\n  name: %s\n  namespace: %s\nspec:\n  host: %s.%s.svc.%s\n",
		svc->dr_api_version, svc->dr_name, svc->dr_ns, svc->name,
		svc->ns, SPLIT_CLUSTER_DOMAIN);
	if (!svc->nsubsets)
		return;
	fputs("  subsets:\n", f);
	for (size_t i = 0; i < svc->nsubsets; i++) {
		fprintf(f, "  - name: %s\n    labels:\n", svc->subsets[i].name);
		print_labels(f, 6, svc->subsets[i].labels,
			     svc->subsets[i].nlabels);
	}
}

int split_rules_print(FILE *f, const struct split_rules *rules)
{
	for (size_t i = 0; rules && i < rules->nsvcs; i++) {
		const struct split_rules_service *svc = &rules->svcs[i];

		if (svc->api == SPLIT_API_ROUTE_RULE)
			for (size_t j = 0; j < svc->nroutes; j++)
				print_rr(f, svc, &svc->routes[j]);
		else if (svc->api == SPLIT_API_VIRTUAL_SERVICE)
			print_vs(f, svc);
		if (svc->has_dr)
			print_dr(f, svc);
	}
	if (fflush(f) || ferror(f))
		return -1;
	return 0;
}

/* ---- matching ------------------------------------------------------------- */

size_t split_http_set_target(struct split_http_request *req,
			     const char *target, size_t len,
			     struct split_http_param *params, size_t max)
{
	const char *q, *end;
	size_t n = 0;

	end = target ? memchr(target, '#', len) : NULL;
	if (end)
		len = (size_t)(end - target);
	q = target ? memchr(target, '?', len) : NULL;
	req->path = target ? target : "";
	req->path_len = q ? (size_t)(q - target) : len;
	req->params = params;
	req->nparams = 0;
	if (!q)
		return 0;
	end = target + len;
	for (const char *p = q + 1; p < end;) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *stop = amp ? amp : end, *eq;

		if (stop > p) {
			eq = memchr(p, '=', (size_t)(stop - p));
			if (n < max) {
				struct split_http_param *pa = &params[n];

				pa->name = p;
				pa->name_len = (size_t)((eq ? eq : stop) - p);
				pa->value = eq ? eq + 1 : stop;
				pa->value_len = eq ? (size_t)(stop - eq - 1) : 0;
			}
			n++;
		}
		p = stop + 1;
	}
	req->nparams = n < max ? n : max;
	return n;
}

/* Scratch for the regex matcher: the match data lives in `mem`, through
 * a PCRE2 general context that allocates from it; the DFA workspace is
 * separate. Everything is on split_rules_match()'s stack. */
struct re_scratch {
	pcre2_match_context *mc;
	pcre2_match_data *md;
	bool failed;
	size_t used;
	_Alignas(16) unsigned char mem[1024];
	int ws[SPLIT_RE_DFA_WS];
};

static void *scratch_alloc(size_t size, void *data)
{
	struct re_scratch *s = data;
	size_t off = (s->used + 15) & ~(size_t)15;

	if (off > sizeof(s->mem) || size > sizeof(s->mem) - off)
		return NULL;
	s->used = off + size;
	return s->mem + off;
}

static void scratch_free(void *p, void *data)
{
	(void)p;
	(void)data;
}

/* 1 match, 0 no match, -1 could not run. */
static int re_run(const struct split_cond *c, const char *s, size_t len,
		  struct re_scratch *sc)
{
	int rc;

	if (!sc->md && !sc->failed) {
		pcre2_general_context *gc;

		/* The match context makes any memory PCRE2 wants come from
		 * the scratch too (none is expected without lookarounds). */
		gc = pcre2_general_context_create(scratch_alloc, scratch_free,
						  sc);
		sc->mc = gc ? pcre2_match_context_create(gc) : NULL;
		sc->md = sc->mc ? pcre2_match_data_create(1, gc) : NULL;
		sc->failed = !sc->md;
		if (sc->mc) {
			/* For the DFA these bound only what the RE2 check
			 * already refuses (assertions, recursion): a belt. */
			pcre2_set_match_limit(sc->mc, SPLIT_RE_MATCH_LIMIT);
			pcre2_set_depth_limit(sc->mc, SPLIT_RE_DEPTH_LIMIT);
			pcre2_set_heap_limit(sc->mc, 1);
		}
	}
	if (!sc->md)
		return -1;
	if (c->jit) {
		rc = pcre2_jit_match(c->re, (PCRE2_SPTR)(s ? s : ""), len, 0,
				     0, sc->md, sc->mc);
		if (rc >= 0)
			return 1;
		if (rc == PCRE2_ERROR_NOMATCH)
			return 0;
		/* Its match limit or stack: the DFA, linear, decides. */
	}
	/* Not PCRE2_DFA_SHORTEST: it stops at the shortest match before
	 * ENDANCHORED is checked (10.42). rc 0: several matches, fine. */
	rc = pcre2_dfa_match(c->re, (PCRE2_SPTR)(s ? s : ""), len, 0,
			     PCRE2_ANCHORED | PCRE2_ENDANCHORED, sc->md, sc->mc,
			     sc->ws, SPLIT_RE_DFA_WS);
	/* PCRE2 10.42's DFA does not always hold ENDANCHORED: after a
	 * leading "(.*;)?" it reports "user=test-user" as a match of
	 * "user=test-user2". The first match it returns is the longest (rc
	 * 0: more than fit, the first is still there), so a full match
	 * exists iff that one ends at len. */
	if (rc >= 0)
		return pcre2_get_ovector_pointer(sc->md)[1] == len;
	return rc == PCRE2_ERROR_NOMATCH ? 0 : -1;
}

/* The condition's test on value s (not the presence test). */
static int value_match(const struct split_cond *c, const char *s, size_t len,
		       struct re_scratch *sc)
{
	if (!s) {
		s = "";
		len = 0;
	}
	switch (c->op) {
	case SPLIT_OP_EXACT:
		return len == c->value_len && !memcmp(s, c->value, len);
	case SPLIT_OP_PREFIX:
		return len >= c->value_len && !memcmp(s, c->value, c->value_len);
	case SPLIT_OP_REGEX:
		if (c->lit.lit)
			return re_lit_match(&c->lit, s, len);
		return re_run(c, s, len, sc);
	default:
		return 1;
	}
}

static bool name_eq(const char *a, size_t alen, const char *lc)
{
	size_t i;

	for (i = 0; i < alen; i++)
		if (!lc[i] || lower(a[i]) != lc[i])
			return false;
	return !lc[i];
}

/* A header condition: 1 holds, 0 does not, -1 could not be evaluated. */
static int header_match(const struct split_cond *c,
			const struct split_http_request *req,
			struct re_scratch *sc)
{
	const struct split_http_header *h = NULL;
	char joined[SPLIT_HDR_JOIN_MAX];
	size_t count = 0, jlen = 0;
	const char *val;
	size_t vlen;
	int r;

	for (size_t i = 0; i < req->nheaders; i++) {
		const struct split_http_header *x = &req->headers[i];

		if (!name_eq(x->name, x->name_len, c->name))
			continue;
		if (!count++)
			h = x;
		if (count < 2 || c->op == SPLIT_OP_PRESENT || jlen == SIZE_MAX)
			continue;
		if (count == 2) {
			if (h->value_len > sizeof(joined)) {
				jlen = SIZE_MAX;	/* too long */
				continue;
			}
			memcpy(joined, h->value, h->value_len);
			jlen = h->value_len;
		}
		if (x->value_len + 1 > sizeof(joined) - jlen) {
			jlen = SIZE_MAX;
			continue;
		}
		joined[jlen++] = ',';
		memcpy(joined + jlen, x->value, x->value_len);
		jlen += x->value_len;
	}
	if (c->op == SPLIT_OP_PRESENT)
		return (count > 0) != c->negate;
	if (!count) {
		if (!c->negate)
			return 0;
		val = "";	/* treat_missing_header_as_empty */
		vlen = 0;
	} else if (count == 1) {
		val = h->value;
		vlen = h->value_len;
	} else {
		if (jlen == SIZE_MAX)
			return -1;
		val = joined;
		vlen = jlen;
	}
	r = value_match(c, val, vlen, sc);
	if (r < 0)
		return -1;
	return (r > 0) != c->negate;
}

static int cond_match(const struct split_cond *c,
		      const struct split_http_request *req,
		      struct re_scratch *sc)
{
	switch (c->kind) {
	case SPLIT_COND_URI:
		return value_match(c, req->path, req->path_len, sc);
	case SPLIT_COND_METHOD:
		return value_match(c, req->method, req->method_len, sc);
	case SPLIT_COND_HEADER:
		return header_match(c, req, sc);
	case SPLIT_COND_QUERY:
		for (size_t i = 0; i < req->nparams; i++) {
			const struct split_http_param *p = &req->params[i];

			if (p->name_len != strlen(c->name) ||
			    memcmp(p->name, c->name, p->name_len))
				continue;
			return value_match(c, p->value, p->value_len, sc);
		}
		return 0;
	}
	return 0;
}

int split_rules_match(const struct split_rules_service *svc,
		      const struct split_http_request *req)
{
	struct re_scratch sc;

	if (!svc || !req)
		return -1;
	sc.mc = NULL;
	sc.md = NULL;
	sc.failed = false;
	sc.used = 0;
	for (size_t i = 0; i < svc->nroutes; i++) {
		const struct split_route *r = &svc->routes[i];

		if (!r->nmatches)
			return (int)i;
		for (size_t j = 0; j < r->nmatches; j++) {
			const struct split_match *m = &r->matches[j];
			size_t k;

			for (k = 0; k < m->nconds; k++)
				if (cond_match(&m->conds[k], req, &sc) != 1)
					break;
			if (k == m->nconds)
				return (int)i;
		}
	}
	return -1;
}
