// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * test_drive.c - the engine's parser paths fed from a buffer (drive.c),
 * as the HTTP fuzzer runs them.
 * On real sockets, loopback only: see fixture.h.
 */
#include "fixture.h"

/* ---- the buffer-driven paths (what the fuzzer runs) ------------------------ */

TEST(l7_drive_requests_paths)
{
	static const char pipe3[] =
		"GET /a?x=1 HTTP/1.1\r\nHost: r\r\n\r\n"
		"POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
		"Cookie: user=test-user\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
		"GET http://evil.example:1/c HTTP/1.1\r\nCookie: user=test-user\r\n\r\n";
	const char *files[] = { RR_TEST, RR_V1 };
	struct split_rules rules = { 0 };
	struct split_err err;
	struct l7_drive_result res;
	struct l7_service svc = { 0 };
	struct l7_upstream ep = { .port = 1, .version = "v1" };
	struct l7_upstream eps[2];
	struct l7_proxy *p = l7_proxy_new(NULL);
	int key;
	char *big;

	ASSERT_TRUE(p != NULL);
	ASSERT_EQ(split_rules_load(files, 2, &rules, &err), 0);
	split_addr_parse("127.0.0.1", &ep.addr);
	eps[0] = ep;
	eps[1] = ep;
	snprintf(eps[1].version, sizeof(eps[1].version), "v2");
	svc.rules = split_rules_find(&rules, "default", "reviews");
	svc.eps = eps;
	svc.neps = 2;
	ASSERT_EQ(l7_proxy_set_service(p, &key, &svc), 0);
	split_rules_free(&rules);
	for (size_t chunk = 0; chunk < 4; chunk++) {
		ASSERT_EQ(l7_drive_requests(p, &key, pipe3, sizeof(pipe3) - 1,
					    chunk, &res), 0);
		ASSERT_EQ(res.requests, 3);
		ASSERT_EQ(res.messages, 3);
		ASSERT_EQ(res.routed[0], 2);	/* test-user */
		ASSERT_EQ(res.routed[1], 1);	/* default */
		ASSERT_EQ(res.status, 0);
		ASSERT_EQ(res.need_more, 0);
	}
	ASSERT_EQ(l7_drive_requests(p, &key, "\x16\x03\x01", 3, 0, &res), 0);
	ASSERT_EQ(res.nonhttp, 1);
	ASSERT_EQ(l7_drive_requests(p, &key, "GET / HTTP/1.1\r\n\x7f", 17, 0, &res), 0);
	ASSERT_EQ(res.status, 400);
	ASSERT_EQ(l7_drive_requests(p, &key, "GET / HTTP/1.1\r\nA: b\r\n", 22, 1, &res), 0);
	ASSERT_EQ(res.need_more, 1);
	ASSERT_EQ(l7_drive_requests(p, &key, "GET / HTTP/1.1\r\nUpgrade: x\r\n"
				    "Connection: upgrade\r\n\r\nraw", 54, 0, &res), 0);
	ASSERT_EQ(res.upgrade, 1);
	big = calloc(1, 40000);
	ASSERT_TRUE(big != NULL);
	memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
	memset(big + 19, 'a', 40000 - 19);
	ASSERT_EQ(l7_drive_requests(p, &key, big, 40000, 0, &res), 0);
	ASSERT_EQ(res.status, 431);
	free(big);
	/* without rules: every request routed by the default split */
	svc.rules = NULL;
	ASSERT_EQ(l7_proxy_set_service(p, &key, &svc), 0);
	ASSERT_EQ(l7_drive_requests(p, &key, pipe3, sizeof(pipe3) - 1, 7, &res), 0);
	ASSERT_EQ(res.requests, 3);
	ASSERT_EQ(res.routed[0], 0);
	l7_proxy_free(p);
}

TEST(l7_drive_response_paths)
{
	static const struct {
		const char *s;
		int method, upgrade, want;
	} cases[] = {
		{ "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", HTTP_GET, 0, 200 },
		{ "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\n"
		  "Content-Length: 0\r\n\r\n", HTTP_POST, 0, 201 },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", HTTP_HEAD, 0, 200 },
		{ "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", HTTP_GET, 0, 204 },
		{ "HTTP/1.1 304 Not Modified\r\n\r\n", HTTP_GET, 0, 304 },
		{ "HTTP/1.1 200 OK\r\n\r\nclose-delimited", HTTP_GET, 0, 200 },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		  "2\r\nhi\r\n0\r\n\r\n", HTTP_GET, 0, 200 },
		{ "HTTP/1.1 101 Switching\r\n\r\nraw", HTTP_GET, 1, 101 },
		{ "HTTP/1.1 101 Switching\r\n\r\nraw", HTTP_GET, 0, -1 },
		{ "HTTP/1.1 200 OK\r\n\r\n", HTTP_CONNECT, 1, 200 },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhi", HTTP_GET, 0, -1 },
		{ "HTTP/1.1 999 What\r\n\r\n", HTTP_GET, 0, -1 },
		{ "garbage\r\n\r\n", HTTP_GET, 0, -1 },
		{ "HTTP/1.1 100 Continue\r\n\r\n", HTTP_GET, 0, -1 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		for (size_t chunk = 0; chunk < 3; chunk++)
			ASSERT_EQ(l7_drive_response(cases[i].s, strlen(cases[i].s),
						    chunk, cases[i].method,
						    cases[i].upgrade),
				  cases[i].want);
}
