// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * match_bench - time the request-time matcher on the seed's cookie rule
 * and a few other regexes: split_rules_match() as the proxy runs it (the
 * literal idioms as string checks, the rest on PCRE2's JIT), next to the
 * engines it can fall back to, PCRE2's JIT and DFA called directly on the
 * same pattern and values (the DFA is what every regex ran on before).
 *
 *   match_bench [-n ITERATIONS]     prints one line per pattern, ns/match
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "istio.h"

static const char *const patterns[] = {
	"^(.*?;)?(user=test-user)(;.*)?$",	/* the seed's rule */
	".*Mobile.*",
	"^(.*?;)?(user=(test|qa)-user)(;.*)?$",
	"/api/v[0-9]+/.*",
};

/* Typical values: a browser's cookie jar with and without the user. */
static const char *const values[] = {
	"_ga=GA1.2.1234567890.1234567890; session=abcdef0123456789; theme=dark",
	"_ga=GA1.2.1234567890.1234567890; session=abcdef0123456789;user=test-user; theme=dark",
	"user=test-user",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148",
	"/api/v2/reviews/0",
};

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int rules_for(const char *re, struct split_rules *out)
{
	char yaml[1024];
	struct split_err err;

	snprintf(yaml, sizeof(yaml),
		 "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
		 "metadata: {name: r}\nspec:\n  hosts: [reviews]\n  http:\n"
		 "  - match:\n    - headers:\n        x-h: {regex: '%s'}\n"
		 "    route: [{destination: {host: reviews, subset: v2}}]\n"
		 "  - route: [{destination: {host: reviews, subset: v1}}]\n"
		 "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
		 "metadata: {name: r}\nspec:\n  host: reviews\n  subsets:\n"
		 "  - {name: v1, labels: {version: v1}}\n"
		 "  - {name: v2, labels: {version: v2}}\n", re);
	if (split_rules_parse("bench.yaml", yaml, strlen(yaml), out, &err)) {
		fprintf(stderr, "match_bench: %s\n", err.msg);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static int ws[SPLIT_RE_DFA_WS];
	long iters = 200000;
	int opt;

	while ((opt = getopt(argc, argv, "n:h")) != -1) {
		if (opt == 'n' && atol(optarg) > 0) {
			iters = atol(optarg);
		} else {
			fprintf(stderr, "usage: %s [-n ITERATIONS]\n", argv[0]);
			return opt == 'h' ? 0 : 2;
		}
	}
	printf("%-40s %-8s %10s %10s %10s\n", "pattern", "engine", "ours_ns",
	       "jit_ns", "dfa_ns");
	for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
		const char *re = patterns[i];
		pcre2_match_data *md = pcre2_match_data_create(1, NULL);
		const struct split_rules_service *svc;
		const struct split_cond *c;
		struct split_rules rules;
		double t[3] = { 0, 0, 0 };
		pcre2_code *code;
		PCRE2_SIZE eoff;
		long sink = 0;
		int ec;

		code = pcre2_compile((PCRE2_SPTR)re, strlen(re),
				     SPLIT_RE_COMPILE_OPTS, &ec, &eoff, NULL);
		if (!code || !md || rules_for(re, &rules))
			return 1;
		pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
		svc = split_rules_find(&rules, "default", "reviews");
		c = &svc->routes[0].matches[0].conds[0];
		for (size_t v = 0; v < sizeof(values) / sizeof(values[0]); v++) {
			const char *val = values[v];
			size_t len = strlen(val);
			struct split_http_header h = { "x-h", 3, val, len };
			struct split_http_request rq = {
				.method = "GET", .method_len = 3, .path = "/",
				.path_len = 1, .headers = &h, .nheaders = 1,
			};
			double t0 = now_ns();

			for (long k = 0; k < iters; k++)
				sink += split_rules_match(svc, &rq);
			t[0] += now_ns() - t0;
			t0 = now_ns();
			for (long k = 0; k < iters; k++)
				sink += pcre2_jit_match(code, (PCRE2_SPTR)val,
							len, 0, 0, md, NULL);
			t[1] += now_ns() - t0;
			t0 = now_ns();
			for (long k = 0; k < iters; k++)
				sink += pcre2_dfa_match(code, (PCRE2_SPTR)val,
							len, 0, 0, md, NULL, ws,
							SPLIT_RE_DFA_WS);
			t[2] += now_ns() - t0;
		}
		for (int k = 0; k < 3; k++)
			t[k] /= (double)iters * (sizeof(values) / sizeof(values[0]));
		printf("%-40s %-8s %10.1f %10.1f %10.1f%s\n", re,
		       c->lit.lit ? "strings" : c->jit ? "jit" : "dfa", t[0],
		       t[1], t[2], sink == 42 ? " " : "");
		split_rules_free(&rules);
		pcre2_code_free(code);
		pcre2_match_data_free(md);
	}
	return 0;
}
