/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * fuzz_rules.c - libFuzzer target for the config parsers: the Istio rules
 * (user/lib/config/istio/) and the services file (services_yaml.c), both on the same
 * bytes. Beyond "no crash, no leak, no UB", it checks two properties of
 * every input the rules parser accepts:
 *   - what split_rules_print() writes parses back and prints the same;
 *   - matching a few requests gives the same routes before and after.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Iuser/lib \
 *	user/lib/ *.c tests/fuzz/fuzz_rules.c \
 *	-lyaml -lpcre2-8 -lbpf -lelf -lz -o fuzz_rules
 *   ./fuzz_rules -max_total_time=30 corpus/ tests/data/seed tests/data/istio-bad
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "istio.h"
#include "model.h"
#include "services_yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *print_rules(const struct split_rules *r, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);

	if (!f)
		abort();
	if (split_rules_print(f, r))
		abort();
	fclose(f);
	return buf;
}

/* The route each service picks for a few requests, one of them carrying
 * the input itself as cookie and path. */
static void match_all(const struct split_rules *r, const uint8_t *data,
		      size_t size, int *out, size_t max)
{
	size_t vlen = size > 2048 ? 2048 : size;
	struct split_http_header h[3] = {
		{ "Cookie", 6, (const char *)data, vlen },
		{ "x-user", 6, "jason", 5 },
		{ "cookie", 6, "user=test-user", 14 },
	};
	struct split_http_param params[8];
	struct split_http_request req[3];

	memset(req, 0, sizeof(req));
	req[0].method = "GET";
	req[0].method_len = 3;
	split_http_set_target(&req[0], "/api/v1?debug&x=1", 17, params, 8);
	req[0].headers = h;
	req[0].nheaders = 2;
	req[1] = req[0];
	req[1].headers = h + 2;
	req[1].nheaders = 1;
	req[2].method = (const char *)data;
	req[2].method_len = vlen;
	split_http_set_target(&req[2], (const char *)data, vlen, params, 8);
	for (size_t i = 0; i < r->nsvcs && i * 3 + 2 < max; i++)
		for (size_t j = 0; j < 3; j++)
			out[i * 3 + j] = split_rules_match(&r->svcs[i], &req[j]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct split_rules rules, again;
	struct split_config cfg;
	struct split_err err;
	int m1[96], m2[96];
	char *p1, *p2;
	size_t l1, l2;

	if (!split_services_parse("fuzz.yaml", (const char *)data, size, &cfg,
				  &err))
		split_config_free(&cfg);

	if (split_rules_parse("fuzz.yaml", (const char *)data, size, &rules,
			      &err))
		return 0;
	memset(m1, 0, sizeof(m1));
	memset(m2, 0, sizeof(m2));
	match_all(&rules, data, size, m1, 96);
	p1 = print_rules(&rules, &l1);
	if (split_rules_parse("printed.yaml", p1, l1, &again, &err)) {
		fprintf(stderr, "printed rules do not parse: %s\n%s\n",
			err.msg, p1);
		abort();
	}
	match_all(&again, data, size, m2, 96);
	if (again.nsvcs != rules.nsvcs || memcmp(m1, m2, sizeof(m1))) {
		fprintf(stderr, "matching changed after print/parse\n%s\n", p1);
		abort();
	}
	p2 = print_rules(&again, &l2);
	if (l1 != l2 || memcmp(p1, p2, l1)) {
		fprintf(stderr, "print is not stable:\n%s\n---\n%s\n", p1, p2);
		abort();
	}
	free(p1);
	free(p2);
	split_rules_free(&again);
	split_rules_free(&rules);
	return 0;
}
