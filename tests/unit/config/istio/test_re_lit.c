/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * test_re_lit.c - the request-time regex matcher: literal idioms compiled
 * to string checks (re_lit.c), the JIT path and its DFA fallback must
 * answer exactly as the reference, PCRE2's interpreter with the
 * documented options, on the same inputs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "istio.h"
#include "re_lit.h"
#include "test.h"

/* Which engine the compiler should pick. */
enum want { LIT, JIT };

static const struct {
	const char *re;
	enum want want;
} patterns[] = {
	{ "^(.*?;)?(user=test-user)(;.*)?$", LIT },	/* the seed */
	{ "(.*?;)?(user=test-user)(;.*)?", LIT },
	{ "^(?:.*;)?(?:user=test-user)(?:;.*?)?$", LIT },
	{ "^(.*?;)?(a;b)(;.*)?$", LIT },		/* ';' in the literal */
	{ "^(.*?;)?(aa)(;.*)?$", LIT },			/* overlapping hits */
	{ "(.*;)?x", LIT },
	{ "x(;.*)?", LIT },
	{ "v2", LIT },
	{ "/api/.*", LIT },
	{ ".*Mobile.*", LIT },
	{ ".*?end", LIT },
	{ "a\\.b\\-c", LIT },
	{ "a\\\\$", LIT },				/* literal backslash */
	/* Not ours: the JIT (or the DFA) runs them. */
	{ "a\\$", JIT },
	{ "a\\.*", JIT },				/* '*' applies to "\." */
	{ "(?i)user=test-user", JIT },
	{ "^(.*?;)?(user=test-user|u=t)(;.*)?$", JIT },
	{ "^(.*?;)?(user=[a-z-]+)(;.*)?$", JIT },
	{ "(a)(b)", JIT },
	{ "(a)+", JIT },
	{ "a.b", JIT },
	{ "\\d+", JIT },
	{ "(a*)*b", JIT },				/* backtracking-heavy */
	{ "(x+x+)+y", JIT },
};

/* The inputs: pieces around the pattern's own characters. */
static size_t make_input(char *buf, size_t cap, unsigned *seed)
{
	static const char *const pieces[] = {
		"user=test-user", "user=test-user2", "user=test-", ";", "; ",
		"\n", "a", "aa", "b", "a;b", "x", "y", "v2", "/api/", "Mobile",
		"end", "a.b-c", "a\\", "\\", "$", ".", "=", "u=t", "AbC",
		"xxxxxxxxxxxxxxxx", "aaaaaaaaaaaaaaaaaaaa", "7", "a$", "a..",
	};
	size_t n = 0, k = (size_t)(rand_r(seed) % 7);

	while (k--) {
		const char *p = pieces[rand_r(seed) % (sizeof(pieces) / sizeof(pieces[0]))];
		size_t l = strlen(p);

		if (n + l >= cap)
			break;
		memcpy(buf + n, p, l);
		n += l;
	}
	buf[n] = '\0';
	return n;
}

/* The reference: PCRE2's interpreter (backtracking) with the matcher's
 * compile options; where it gives up (its match limit), the DFA, whose
 * longest match must end at len (see re_run() in istio/istio_match.c). 1, 0, or -1:
 * neither could say. */
static int reference(pcre2_code *re, const char *s, size_t len)
{
	pcre2_match_data *md = pcre2_match_data_create(1, NULL);
	static int ws[SPLIT_RE_DFA_WS];
	int rc;

	rc = pcre2_match(re, (PCRE2_SPTR)s, len, 0, 0, md, NULL);
	if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT) {
		rc = pcre2_dfa_match(re, (PCRE2_SPTR)s, len, 0,
				     PCRE2_ANCHORED | PCRE2_ENDANCHORED, md,
				     NULL, ws, SPLIT_RE_DFA_WS);
		if (rc >= 0 && pcre2_get_ovector_pointer(md)[1] != len)
			rc = PCRE2_ERROR_NOMATCH;
	}
	pcre2_match_data_free(md);
	return rc >= 0 ? 1 : rc == PCRE2_ERROR_NOMATCH ? 0 : -1;
}

/* A VirtualService whose first route needs header x-h to match re. */
static int rules_for(const char *re, struct split_rules *out,
		     struct split_err *err)
{
	char yaml[1024];

	snprintf(yaml, sizeof(yaml),
		 "apiVersion: networking.istio.io/v1\n"
		 "kind: VirtualService\n"
		 "metadata: {name: r}\n"
		 "spec:\n"
		 "  hosts: [reviews]\n"
		 "  http:\n"
		 "  - match:\n"
		 "    - headers:\n"
		 "        x-h: {regex: '%s'}\n"
		 "    route: [{destination: {host: reviews, subset: v2}}]\n"
		 "  - route: [{destination: {host: reviews, subset: v1}}]\n"
		 "---\n"
		 "apiVersion: networking.istio.io/v1\n"
		 "kind: DestinationRule\n"
		 "metadata: {name: r}\n"
		 "spec:\n"
		 "  host: reviews\n"
		 "  subsets:\n"
		 "  - {name: v1, labels: {version: v1}}\n"
		 "  - {name: v2, labels: {version: v2}}\n",
		 re);
	memset(out, 0, sizeof(*out));
	return split_rules_parse("x.yaml", yaml, strlen(yaml), out, err);
}

TEST(re_lit_forms)
{
	static const struct {
		const char *re;
		unsigned char pre, post;
		const char *lit;
	} ok[] = {
		{ "^(.*?;)?(user=test-user)(;.*)?$", RE_LIT_SEMI, RE_LIT_SEMI, "user=test-user" },
		{ "v2", RE_LIT_NONE, RE_LIT_NONE, "v2" },
		{ "^/api/.*$", RE_LIT_NONE, RE_LIT_ANY, "/api/" },
		{ ".*?x.*", RE_LIT_ANY, RE_LIT_ANY, "x" },
		{ "(?:a\\.b)", RE_LIT_NONE, RE_LIT_NONE, "a.b" },
	};
	static const char *const no[] = {
		"", "^$", ".*", "(.*?;)?(;.*)?", "a\\$", "a\\.*", "a|b", "[ab]",
		"a+", "(?i)a", "\\d", "a\\n", "(a)(b)", "a{2}", "a]",
	};
	struct re_lit l;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (re_lit_compile(ok[i].re, strlen(ok[i].re), &l)) {
			TEST_FAIL_("'%s' not compiled", ok[i].re);
			continue;
		}
		ASSERT_EQ(l.pre, ok[i].pre);
		ASSERT_EQ(l.post, ok[i].post);
		ASSERT_STREQ(l.lit, ok[i].lit);
		re_lit_free(&l);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		if (!re_lit_compile(no[i], strlen(no[i]), &l)) {
			TEST_FAIL_("'%s' compiled as '%s'", no[i], l.lit);
			re_lit_free(&l);
		}
	}
}

/* Every pattern, through split_rules_match() (the proxy's path), against
 * the reference on 4,000 inputs each; and re_lit_match() itself. */
TEST(matchers_agree_with_pcre2)
{
	unsigned seed = 20261204;

	for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
		const char *re = patterns[i].re;
		const struct split_rules_service *svc;
		const struct split_cond *c;
		struct split_rules rules;
		struct split_err err;
		size_t hits = 0, misses = 0;
		PCRE2_SIZE eoff;
		pcre2_code *ref;
		int ec;

		ref = pcre2_compile((PCRE2_SPTR)re, strlen(re),
				    SPLIT_RE_COMPILE_OPTS, &ec, &eoff, NULL);
		ASSERT_TRUE(ref != NULL);
		if (rules_for(re, &rules, &err)) {
			TEST_FAIL_("'%s' refused: %s", re, err.msg);
			pcre2_code_free(ref);
			continue;
		}
		svc = split_rules_find(&rules, "default", "reviews");
		ASSERT_TRUE(svc != NULL);
		c = &svc->routes[0].matches[0].conds[0];
		if (patterns[i].want == LIT && !c->lit.lit)
			TEST_FAIL_("'%s' should be string checks", re);
		if (patterns[i].want == JIT && (c->lit.lit || !c->jit))
			TEST_FAIL_("'%s' should run on the JIT", re);
		for (int k = 0; k < 4000; k++) {
			char buf[256];
			size_t len = make_input(buf, sizeof(buf), &seed);
			struct split_http_header h = { "X-H", 3, buf, len };
			struct split_http_request rq = {
				.method = "GET", .method_len = 3,
				.path = "/", .path_len = 1,
				.headers = &h, .nheaders = 1,
			};
			int want = reference(ref, buf, len);
			int got = split_rules_match(svc, &rq) == 0;

			if (want < 0)
				continue;	/* the DFA itself could not say */
			if (got != want) {
				TEST_FAIL_("'%s' on '%s': %d, PCRE2 says %d", re,
					   buf, got, want);
				break;
			}
			if (c->lit.lit && re_lit_match(&c->lit, buf, len) != want) {
				TEST_FAIL_("re_lit '%s' on '%s' differs", re, buf);
				break;
			}
			hits += want;
			misses += !want;
		}
		/* The inputs must give both answers, or agreeing says little. */
		if (!hits || !misses)
			TEST_FAIL_("'%s': %zu matches, %zu not: the inputs miss a case",
				   re, hits, misses);
		split_rules_free(&rules);
		pcre2_code_free(ref);
	}
}

/* A value that makes the backtracking JIT give up gets the DFA's answer
 * (the fallback), not "no match"; and the DFA's answer is a full match:
 * after a leading "(.*;)?", PCRE2 10.42's DFA alone takes "xx..xy" for a
 * match of "xx..xy2". */
TEST(jit_limit_falls_back_to_dfa)
{
	static const struct {
		const char *re, *tail;
		int route;
	} cases[] = {
		{ "(x+x+)+y", "y", 0 },
		{ "(x+x+)+y", "", 1 },
		{ "(.*;)?(x+x+)+y(;.*)?", "y", 0 },
		{ "(.*;)?(x+x+)+y(;.*)?", "y;a", 0 },
		{ "(.*;)?(x+x+)+y(;.*)?", "y2", 1 },
	};
	char val[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct split_rules_service *svc;
		struct split_rules rules;
		struct split_err err;
		size_t len;

		ASSERT_EQ(rules_for(cases[i].re, &rules, &err), 0);
		svc = split_rules_find(&rules, "default", "reviews");
		ASSERT_TRUE(svc != NULL);
		ASSERT_TRUE(svc->routes[0].matches[0].conds[0].jit);
		memset(val, 'x', 40);
		len = 40 + (size_t)snprintf(val + 40, sizeof(val) - 40, "%s",
					    cases[i].tail);
		{
			struct split_http_header h = { "x-h", 3, val, len };
			struct split_http_request rq = {
				.method = "GET", .method_len = 3, .path = "/",
				.path_len = 1, .headers = &h, .nheaders = 1,
			};

			if (split_rules_match(svc, &rq) != cases[i].route)
				TEST_FAIL_("'%s' on x*40 '%s': route %d, want %d",
					   cases[i].re, cases[i].tail,
					   split_rules_match(svc, &rq),
					   cases[i].route);
		}
		split_rules_free(&rules);
	}
}
