// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * test_http.c - HTTP/1.x framing through the proxy (http.c): bodies,
 * response framings, pipelining, 100-continue, limits, bad requests.
 * On real sockets, loopback only: see fixture.h.
 */
#include "fixture.h"

/* Bodies: chunked, and 10 MB with Content-Length, echoed byte-exact. */
FX_TEST(l7_bodies_byte_exact, NULL, seed_v1, 2, w_v1)
{
	static const char chunked[] =
		"POST /echo HTTP/1.1\r\nHost: r\r\nTransfer-Encoding: chunked\r\n"
		"Cookie: user=test-user\r\n\r\n"
		"5\r\nhello\r\n1;ext=1\r\n \r\n6\r\nworld!\r\n0\r\nX-Trailer: t\r\n\r\n";
	size_t big = 10 * 1024 * 1024;
	char *body = malloc(big), head[256];
	struct resp r = { 0 };
	struct sender s;
	pthread_t t;
	struct cli c;
	int n;

	ASSERT_TRUE(body != NULL);
	ASSERT_EQ(cli_connect(&c, f->port), 0);
	ASSERT_EQ(tu_send_all(c.fd, chunked, sizeof(chunked) - 1), 0);
	ASSERT_EQ(cli_read(&c, &r, false, false), 0);
	ASSERT_EQ(r.status, 200);
	ASSERT_STREQ(r.version, "v2");
	ASSERT_EQ(r.blen, 12);
	ASSERT_TRUE(!memcmp(r.body, "hello world!", 12));

	/* 10 MB up and back, while the client writes (full duplex) */
	fill_random(body, big, 42);
	n = snprintf(head, sizeof(head), "PUT /big HTTP/1.1\r\nHost: r\r\n"
		     "Content-Length: %zu\r\n\r\n", big);
	ASSERT_EQ(tu_send_all(c.fd, head, (size_t)n), 0);
	s = (struct sender){ .fd = c.fd, .buf = body, .len = big };
	ASSERT_EQ(pthread_create(&t, NULL, send_thread, &s), 0);
	ASSERT_EQ(cli_read(&c, &r, false, false), 0);
	pthread_join(t, NULL);
	ASSERT_EQ(s.rc, 0);
	ASSERT_EQ(r.status, 200);
	ASSERT_STREQ(r.version, "v1");
	ASSERT_EQ(r.blen, big);
	ASSERT_TRUE(!memcmp(r.body, body, big));

	/* and the connection is still good */
	ASSERT_EQ(cli_get(&c, "/after", "user=test-user", &r), 0);
	ASSERT_STREQ(r.version, "v2");
	ASSERT_STREQ(r.path, "/after");
	resp_free(&r);
	cli_close(&c);
	free(body);
}

/* Responses: chunked, close-delimited, HEAD, 204, an interim 103. */
FX_TEST(l7_response_framings, NULL, seed_v1, 2, w_v1)
{
	static const char headreq[] = "HEAD / HTTP/1.1\r\nHost: r\r\n\r\n";
	struct resp r = { 0 };
	struct cli c;

	ASSERT_EQ(cli_connect(&c, f->port), 0);
	ASSERT_EQ(cli_get(&c, "/chunked", NULL, &r), 0);
	ASSERT_EQ(r.status, 200);
	ASSERT_TRUE(r.blen == 4 && !memcmp(r.body, "v1-", 3));
	ASSERT_EQ(tu_send_all(c.fd, headreq, sizeof(headreq) - 1), 0);
	ASSERT_EQ(cli_read(&c, &r, true, false), 0);
	ASSERT_EQ(r.status, 200);
	ASSERT_EQ(r.blen, 0);
	ASSERT_EQ(cli_get(&c, "/204", NULL, &r), 0);
	ASSERT_EQ(r.status, 204);
	ASSERT_EQ(cli_get(&c, "/103", NULL, &r), 0);
	ASSERT_EQ(r.interim, 103);
	ASSERT_EQ(r.status, 200);
	ASSERT_STREQ(r.path, "/103");
	/* close-delimited: relayed, then the connection closes */
	ASSERT_EQ(cli_get(&c, "/eof", "user=test-user", &r), 0);
	ASSERT_EQ(r.status, 200);
	ASSERT_STREQ(r.version, "v2");
	ASSERT_TRUE(r.blen == 4 && !memcmp(r.body, "v2-a", 4));
	ASSERT_FALSE(r.keepalive);
	resp_free(&r);
	cli_close(&c);
}

/* Pipelined requests, routed each on its own, answered in order. */
FX_TEST(l7_pipelined, NULL, seed_v1, 2, w_v1)
{
	static const char reqs[] =
		"GET /1 HTTP/1.1\r\nHost: r\r\n\r\n"
		"GET /2 HTTP/1.1\r\nHost: r\r\nCookie: user=test-user\r\n\r\n"
		"POST /3 HTTP/1.1\r\nHost: r\r\nContent-Length: 3\r\n\r\nabc"
		"GET /4 HTTP/1.1\r\nHost: r\r\nCookie: a=b;user=test-user\r\n\r\n"
		"GET /5 HTTP/1.1\r\nHost: r\r\nConnection: close\r\n\r\n";
	static const char *const want[5][2] = {
		{ "/1", "v1" }, { "/2", "v2" }, { "/3", "v1" }, { "/4", "v2" },
		{ "/5", "v1" },
	};
	struct resp r = { 0 };
	struct cli c;

	ASSERT_EQ(cli_connect(&c, f->port), 0);
	ASSERT_EQ(tu_send_all(c.fd, reqs, sizeof(reqs) - 1), 0);
	for (int i = 0; i < 5; i++) {
		ASSERT_EQ(cli_read(&c, &r, false, false), 0);
		ASSERT_EQ(r.status, 200);
		ASSERT_STREQ(r.path, want[i][0]);
		ASSERT_STREQ(r.version, want[i][1]);
		if (i == 2)
			ASSERT_TRUE(r.blen == 3 && !memcmp(r.body, "abc", 3));
	}
	/* Connection: close was honoured */
	{
		char x;

		ASSERT_EQ(recv(c.fd, &x, 1, 0), 0);
	}
	resp_free(&r);
	cli_close(&c);
}

/* Expect: 100-continue: the interim 100 is relayed before the body. */
FX_TEST(l7_expect_100_continue, NULL, seed_v1, 2, w_v1)
{
	static const char head[] =
		"POST /up HTTP/1.1\r\nHost: r\r\nContent-Length: 7\r\n"
		"Expect: 100-continue\r\nCookie: user=test-user\r\n\r\n";
	struct resp r = { 0 };
	struct cli c;

	ASSERT_EQ(cli_connect(&c, f->port), 0);
	ASSERT_EQ(tu_send_all(c.fd, head, sizeof(head) - 1), 0);
	ASSERT_EQ(cli_read(&c, &r, false, true), 0);
	ASSERT_EQ(r.interim, 100);
	ASSERT_EQ(tu_send_all(c.fd, "payload", 7), 0);
	ASSERT_EQ(cli_read(&c, &r, false, false), 0);
	ASSERT_EQ(r.status, 200);
	ASSERT_STREQ(r.version, "v2");
	ASSERT_TRUE(r.blen == 7 && !memcmp(r.body, "payload", 7));
	resp_free(&r);
	cli_close(&c);
}

static char *big_header(size_t n)
{
	static const char pre[] = "GET / HTTP/1.1\r\nHost: r\r\nX-Big: ";
	char *b = malloc(sizeof(pre) + n + 8);

	if (!b)
		return NULL;
	memcpy(b, pre, sizeof(pre) - 1);
	memset(b + sizeof(pre) - 1, 'a', n);
	memcpy(b + sizeof(pre) - 1 + n, "\r\n\r\n", 5);
	return b;
}

static const struct l7_proxy_opts fast_opts = {
	.header_timeout_ms = 300,
};

/* What the proxy answers itself. */
FX_TEST(l7_limits_and_errors, &fast_opts, seed_v1, 2, w_v1)
{
	static const char garbage[] =
		"GET / HTTP/1.1\r\nHost: r\r\n\x01\x02garbage\r\n\r\n";
	static const char fold[] =
		"GET / HTTP/1.1\r\nHost: r\r\nCookie: a=b;\r\n user=test-user\r\n\r\n";
	static const char sp[] = "GET / HTTP/1.1\r\nHost: r\r\nCoo kie: a\r\n\r\n";
	static const char te[] =
		"POST / HTTP/1.1\r\nHost: r\r\nTransfer-Encoding: gzip\r\n\r\n";
	static const char clte[] =
		"POST / HTTP/1.1\r\nHost: r\r\nContent-Length: 3\r\n"
		"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
	static const char badchunk[] =
		"POST / HTTP/1.1\r\nHost: r\r\nTransfer-Encoding: chunked\r\n\r\n"
		"zz\r\n";
	static const char slow[] = "GET / HTTP/1.1\r\nHost: r\r\nX-A: b";
	static const char second_bad[] =
		"GET / HTTP/1.1\r\nHost: r\r\n\r\n\x16\x03\x01garbage\r\n\r\n";
	struct l7_version_stats st[8];
	char *h = big_header(20 * 1024);
	char many[8192];
	size_t len = 0;
	uint64_t t0;
	int n;

	ASSERT_TRUE(h != NULL);
	ASSERT_EQ(raw_status(f->port, h, strlen(h), 0), 431);
	free(h);
	/* just under 16 KiB passes */
	h = big_header(16 * 1024 - 64);
	ASSERT_TRUE(h != NULL);
	{
		struct resp r = { 0 };
		struct cli c;

		ASSERT_EQ(cli_connect(&c, f->port), 0);
		ASSERT_EQ(tu_send_all(c.fd, h, strlen(h)), 0);
		ASSERT_EQ(cli_read(&c, &r, false, false), 0);
		ASSERT_EQ(r.status, 200);
		resp_free(&r);
		cli_close(&c);
	}
	free(h);
	len = (size_t)snprintf(many, sizeof(many), "GET / HTTP/1.1\r\n");
	for (int i = 0; i < 101; i++)
		len += (size_t)snprintf(many + len, sizeof(many) - len,
					"X-H%d: %d\r\n", i, i);
	len += (size_t)snprintf(many + len, sizeof(many) - len, "\r\n");
	ASSERT_EQ(raw_status(f->port, many, len, 0), 431);
	ASSERT_EQ(raw_status(f->port, garbage, sizeof(garbage) - 1, 0), 400);
	ASSERT_EQ(raw_status(f->port, fold, sizeof(fold) - 1, 0), 400);
	ASSERT_EQ(raw_status(f->port, sp, sizeof(sp) - 1, 0), 400);
	ASSERT_EQ(raw_status(f->port, te, sizeof(te) - 1, 0), 400);
	ASSERT_EQ(raw_status(f->port, clte, sizeof(clte) - 1, 0), 400);
	ASSERT_EQ(raw_status(f->port, badchunk, sizeof(badchunk) - 1, 0), 400);
	/* the second request of a connection is never relayed at L4 */
	{
		struct resp r = { 0 };
		struct cli c;
		char x;

		ASSERT_EQ(cli_connect(&c, f->port), 0);
		ASSERT_EQ(tu_send_all(c.fd, second_bad, sizeof(second_bad) - 1), 0);
		ASSERT_EQ(cli_read(&c, &r, false, false), 0);
		ASSERT_EQ(r.status, 200);
		ASSERT_EQ(cli_read(&c, &r, false, false), 0);
		ASSERT_EQ(r.status, 400);
		ASSERT_EQ(recv(c.fd, &x, 1, 0), 0);
		resp_free(&r);
		cli_close(&c);
	}
	/* slow headers: 408 after header_timeout_ms (300 ms) */
	t0 = tu_mono_ms();
	ASSERT_EQ(raw_status(f->port, slow, sizeof(slow) - 1, 0), 408);
	ASSERT_GE(tu_mono_ms() - t0, 250);
	ASSERT_LT(tu_mono_ms() - t0, 3000);
	n = l7_proxy_service_stats(f->p, &f->key, st, 8);
	ASSERT_GE(n, 1);
	/* before routing: 431 x2, 400 x6, 408; the bad chunk after */
	ASSERT_EQ(st[0].responses[3], 9);
	ASSERT_TRUE(find_stats(st, n, "v1") != NULL);
	ASSERT_EQ(find_stats(st, n, "v1")->responses[3], 1);
}

/* ---- abuse and restarts (issue 17) ------------------------------------------ */

/* An HTTP request line the parser refuses is answered and the connection
 * closed: the test-user requests pipelined behind it never reach anyone
 * (they used to ride an L4 relay to the default route, v1). */
FX_TEST(l7_extension_method_no_bypass, NULL, seed_v1, 2, w_v1)
{
	static const char *const bad[] = {
		"FOO / HTTP/1.1\r\nHost: r\r\n\r\n",
		"get / HTTP/1.1\r\nHost: r\r\n\r\n",
		"GET /a b HTTP/1.1\r\nHost: r\r\n\r\n",
		"POST /x?a=b c HTTP/1.1\r\nHost: r\r\nContent-Length: 0\r\n\r\n",
	};
	static const int want[] = { 501, 501, 400, 400 };
	static const char tail[] =
		"GET /p1 HTTP/1.1\r\nHost: r\r\nCookie: user=test-user\r\n\r\n"
		"GET /p2 HTTP/1.1\r\nHost: r\r\nCookie: user=test-user\r\n\r\n";
	struct l7_version_stats st[8];
	unsigned long before[3], after[3];
	char buf[1024];
	int n;

	for (int i = 0; i < 3; i++) {
		pthread_mutex_lock(&f->ups[i].mu);
		before[i] = f->ups[i].accepted;
		pthread_mutex_unlock(&f->ups[i].mu);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = strlen(bad[i]);

		memcpy(buf, bad[i], len);
		memcpy(buf + len, tail, sizeof(tail) - 1);
		ASSERT_EQ(raw_status(f->port, buf, len + sizeof(tail) - 1, 0), want[i]);
	}
	/* nothing reached an upstream */
	for (int i = 0; i < 3; i++) {
		pthread_mutex_lock(&f->ups[i].mu);
		after[i] = f->ups[i].accepted;
		pthread_mutex_unlock(&f->ups[i].mu);
		ASSERT_EQ(after[i], before[i]);
	}
	n = l7_proxy_service_stats(f->p, &f->key, st, 8);
	ASSERT_GE(n, 1);
	ASSERT_EQ(st[0].responses[4], 2);	/* the 501s */
	ASSERT_EQ(st[0].responses[3], 2);	/* the 400s */
	/* and a well-formed connection right after is routed by the rules */
	{
		int v1, v2;

		ASSERT_EQ(count_versions(f->port, 10, "user=test-user", &v1, &v2), 0);
		ASSERT_EQ(v2, 10);
	}
}
