// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * test_conn.c - a client connection's life (conn.c): Connection: close
 * is hop-by-hop, each request of one connection routed on its own, the
 * first-byte timeout.
 * On real sockets, loopback only: see fixture.h.
 */
#include "fixture.h"

/* "Connection: close" is hop-by-hop: the client's connection closes after
 * the response (which says so), the upstream's goes back to the pool (our test upstream
 * closes after a request that says close, so it must not see one). And
 * worker threads are reused from one client connection to the next. */
FX_TEST(l7_connection_close_is_hop_by_hop, NULL, seed_v1, 2, w_v1)
{
	static const char req[] = "GET /c HTTP/1.1\r\nHost: reviews\r\n"
				  "Cookie: user=test-user\r\nConnection: close\r\n\r\n";
	struct l7_proxy_stats ps;
	struct resp r = { 0 };
	struct cli *c = malloc(sizeof(*c));
	unsigned long acc;
	char b;

	ASSERT_TRUE(c != NULL);
	for (int i = 0; i < 50; i++) {
		ASSERT_EQ(cli_connect(c, f->port), 0);
		ASSERT_EQ(tu_send_all(c->fd, req, sizeof(req) - 1), 0);
		ASSERT_EQ(cli_read(c, &r, false, false), 0);
		ASSERT_EQ(r.status, 200);
		ASSERT_STREQ(r.version, "v2");
		ASSERT_STREQ(r.path, "/c");
		/* it says it will close (Connection: close added) ... */
		ASSERT_TRUE(!r.keepalive);
		/* ... and then closes the client connection */
		ASSERT_EQ(recv(c->fd, &b, 1, 0), 0);
		cli_close(c);
		usleep(2000);
	}
	resp_free(&r);
	free(c);
	pthread_mutex_lock(&f->ups[2].mu);
	acc = f->ups[2].accepted;
	pthread_mutex_unlock(&f->ups[2].mu);
	l7_proxy_stats(f->p, &ps);
	printf("  50 close requests: %lu upstream connections, %llu reused, %llu threads\n",
	       acc, (unsigned long long)ps.upstream_reused,
	       (unsigned long long)ps.threads_started);
	ASSERT_LE(acc, 2);
	ASSERT_GE(ps.upstream_reused, 48);
	ASSERT_EQ(ps.conns_accepted, 50);
	ASSERT_LE(ps.threads_started, 25);
}

/* Per request, not per connection: one keep-alive connection. */
FX_TEST(l7_per_request_on_one_connection, NULL, seed_v1, 2, w_v1)
{
	struct l7_proxy_stats ps;
	struct resp r = { 0 };
	struct cli c;

	ASSERT_EQ(cli_connect(&c, f->port), 0);
	for (int round = 0; round < 3; round++) {
		const char *cookie = round == 1 ? "user=test-user" : NULL;
		const char *want = round == 1 ? "v2" : "v1";

		for (int i = 0; i < 10; i++) {
			ASSERT_EQ(cli_get(&c, "/", cookie, &r), 0);
			ASSERT_EQ(r.status, 200);
			ASSERT_STREQ(r.version, want);
			ASSERT_TRUE(r.keepalive);
		}
	}
	resp_free(&r);
	cli_close(&c);
	l7_proxy_stats(f->p, &ps);
	ASSERT_EQ(ps.conns_accepted, 1);
}

/* A client that says nothing first (server-first protocol), with
 * first_byte_timeout_ms: relayed at L4. */
static const struct l7_proxy_opts fbt_opts = { .first_byte_timeout_ms = 150 };
FX_TEST(l7_first_byte_timeout, &fbt_opts, seed_v1, 2, w_v1)
{
	static const char req[] = "GET /late HTTP/1.1\r\nCookie: user=test-user\r\n\r\n";
	struct l7_version_stats st[8];
	struct resp r = { 0 };
	struct cli c;
	int n;

	ASSERT_EQ(cli_connect(&c, f->port), 0);
	usleep(400 * 1000);
	ASSERT_EQ(tu_send_all(c.fd, req, sizeof(req) - 1), 0);
	ASSERT_EQ(cli_read(&c, &r, false, false), 0);
	/* not routed on the cookie: it went by the default split at L4 */
	ASSERT_EQ(r.status, 200);
	ASSERT_STREQ(r.version, "v1");
	resp_free(&r);
	cli_close(&c);
	n = l7_proxy_service_stats(f->p, &f->key, st, 8);
	ASSERT_TRUE(find_stats(st, n, "v1") != NULL);
	ASSERT_EQ(find_stats(st, n, "v1")->nonhttp, 1);
	ASSERT_EQ(find_stats(st, n, "v1")->requests, 0);
}
