// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * fuzz_http.c - libFuzzer target for the L7 proxy's parsing paths
 * (l7proxy.c): the input is a client connection's bytes, run through
 * the code a connection runs (head reading and its limits, request
 * building, rules matching and routing, body framing, pipelining) by
 * l7_drive_requests(), and an upstream's answer run through the response
 * path by l7_drive_response(). No sockets.
 *
 * Beyond "no crash, no leak, no UB", the outcome must not depend on how
 * the bytes are cut into reads: every input is driven whole and in small
 * reads, and the two results must agree.
 *
 * Byte 0 chooses: the read size (bits 0-2), the service (bit 3: seed
 * RouteRules with default limits, or a VirtualService with small limits),
 * the request method for the response path (bits 4-7).
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Iuser/lib \
 *	user/lib/ *.c tests/fuzz/fuzz_http.c \
 *	-lyaml -lpcre2-8 -lbpf -lelf -lz -lhttp_parser -lpthread -o fuzz_http
 *   ./fuzz_http -max_total_time=60 -max_len=65536 corpus/
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "istio.h"
#include "l7/drive.h"
#include "l7proxy.h"
#include "model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The seed's test-user rule and its 50/50 default route. */
static const char seed_rules[] =
	"apiVersion: config.istio.io/v1alpha2\n"
	"kind: RouteRule\n"
	"metadata:\n  name: reviews-test-user\n"
	"spec:\n  destination:\n    name: reviews\n  precedence: 2\n"
	"  match:\n    request:\n      headers:\n        cookie:\n"
	"          regex: \"^(.*?;)?(user=test-user)(;.*)?$\"\n"
	"  route:\n  - labels:\n      version: v2\n"
	"---\n"
	"apiVersion: config.istio.io/v1alpha2\n"
	"kind: RouteRule\n"
	"metadata:\n  name: reviews-default\n"
	"spec:\n  destination:\n    name: reviews\n  precedence: 1\n"
	"  route:\n  - labels:\n      version: v1\n    weight: 50\n"
	"  - labels:\n      version: v2\n    weight: 50\n";

/* Every kind of condition, and no default route (no match: 404). */
static const char vs_rules[] =
	"apiVersion: networking.istio.io/v1\n"
	"kind: VirtualService\n"
	"metadata:\n  name: reviews\n"
	"spec:\n  hosts: [reviews]\n  http:\n"
	"  - match:\n    - uri:\n        prefix: /api/\n      method:\n        exact: POST\n"
	"      queryParams:\n        debug:\n          exact: \"1\"\n"
	"    route:\n    - destination:\n        host: reviews\n        subset: v2\n"
	"  - match:\n    - headers:\n        x-user:\n          regex: \"j[a-z]+n\"\n"
	"    - uri:\n        regex: \"/r/[0-9]+\"\n"
	"    route:\n    - destination:\n        host: reviews\n        subset: v1\n"
	"      weight: 30\n"
	"    - destination:\n        host: reviews\n        subset: v3\n"
	"      weight: 70\n"
	"  - match:\n    - headers:\n        cookie:\n          prefix: user=\n"
	"      withoutHeaders:\n        x-skip: {}\n"
	"    route:\n    - destination:\n        host: reviews\n"
	"---\n"
	"apiVersion: networking.istio.io/v1\n"
	"kind: DestinationRule\n"
	"metadata:\n  name: reviews\n"
	"spec:\n  host: reviews\n  subsets:\n"
	"  - name: v1\n    labels:\n      version: v1\n"
	"  - name: v2\n    labels:\n      version: v2\n"
	"  - name: v3\n    labels:\n      version: v3\n";

static struct l7_proxy *proxies[2];
static int keys[2];

static struct l7_proxy *setup(const char *yaml, const struct l7_proxy_opts *o,
			      void *key)
{
	static const char *const versions[] = { "v1", "v2" };
	static const uint32_t weights[] = { 90, 10 };
	/* every version has an endpoint: no outcome depends on chance */
	struct l7_upstream eps[4] = {
		{ .port = 9080, .version = "v1" },
		{ .port = 9080, .version = "v1" },
		{ .port = 9080, .version = "v2" },
		{ .port = 9080, .version = "v3" },
	};
	struct split_rules rules = { 0 };
	struct split_err err;
	struct l7_service svc = {
		.eps = eps,
		.neps = 4,
		.versions = versions,
		.default_weights = weights,
		.nversions = 2,
		/* the cookie parser runs on every head (a rollout's
		 * --sticky-cookie); a cookie only picks among versions that
		 * all have endpoints: outcomes stay independent of chance */
		.sticky_cookie = "split-version",
	};
	struct l7_proxy *p = l7_proxy_new(o);

	if (!p || split_rules_parse("fuzz.yaml", yaml, strlen(yaml), &rules,
				    &err)) {
		fprintf(stderr, "fuzz_http: setup: %s\n", p ? err.msg : "no memory");
		abort();
	}
	for (int i = 0; i < 4; i++) {
		char a[16];

		snprintf(a, sizeof(a), "10.0.0.%d", i + 1);
		split_addr_parse(a, &eps[i].addr);
	}
	svc.rules = split_rules_find(&rules, "default", "reviews");
	if (!svc.rules || l7_proxy_set_service(p, key, &svc))
		abort();
	split_rules_free(&rules);
	return p;
}

static void same(const struct l7_drive_result *a,
		 const struct l7_drive_result *b)
{
	if (a->requests != b->requests || a->messages != b->messages ||
	    memcmp(a->routed, b->routed, sizeof(a->routed)) ||
	    a->status != b->status || a->nonhttp != b->nonhttp ||
	    a->upgrade != b->upgrade || a->need_more != b->need_more) {
		fprintf(stderr,
			"fuzz_http: whole vs read by read: requests %u/%u "
			"messages %u/%u status %d/%d nonhttp %d/%d upgrade %d/%d "
			"need_more %d/%d\n", a->requests, b->requests,
			a->messages, b->messages, a->status, b->status,
			a->nonhttp, b->nonhttp, a->upgrade, b->upgrade,
			a->need_more, b->need_more);
		abort();
	}
	if (a->messages > a->requests ||
	    a->routed[0] + a->routed[1] + a->routed[2] + a->routed[3] > a->requests)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct l7_drive_result whole, bits;
	size_t chunk;
	int svc, method, r1, r2;

	if (!proxies[0]) {
		static const struct l7_proxy_opts small = {
			.max_head_bytes = 600,
			.max_headers = 8,
		};

		proxies[0] = setup(seed_rules, NULL, &keys[0]);
		proxies[1] = setup(vs_rules, &small, &keys[1]);
	}
	if (!size)
		return 0;
	chunk = 1 + (data[0] & 7);
	svc = (data[0] >> 3) & 1;
	method = (data[0] >> 4) & 15;	/* DELETE GET HEAD POST PUT CONNECT ... */
	data++;
	size--;

	if (l7_drive_requests(proxies[svc], &keys[svc], data, size, 0, &whole) ||
	    l7_drive_requests(proxies[svc], &keys[svc], data, size, chunk, &bits))
		abort();
	same(&whole, &bits);

	r1 = l7_drive_response(data, size, 0, method, method == 5);
	r2 = l7_drive_response(data, size, chunk, method, method == 5);
	if (r1 != r2) {
		fprintf(stderr, "fuzz_http: response %d whole, %d read by read\n",
			r1, r2);
		abort();
	}
	if (r1 > 0 && (r1 < 100 || r1 > 599))
		abort();
	return 0;
}
