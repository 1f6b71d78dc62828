// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * test_conn.c - a client connection's life (conn.c): Connection: close
 * is hop-by-hop, each request of one connection routed on its own, the
 * first-byte timeout, the deferred accept.
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

/* TIME_WAIT sockets in /proc/net/tcp from a local port in ports[0..n) to
 * the remote port rport, on loopback. */
static int time_waits(const uint16_t *ports, int n, uint16_t rport)
{
	FILE *f = fopen("/proc/net/tcp", "r");
	char line[256];
	int tw = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned lp, rp, st;

		if (sscanf(line, " %*u: %*x:%x %*x:%x %x", &lp, &rp, &st) != 3)
			continue;
		if (st != 0x06 || rp != rport)	/* TCP_TIME_WAIT */
			continue;
		for (int i = 0; i < n; i++)
			if (ports[i] == lp) {
				tw++;
				break;
			}
	}
	fclose(f);
	return tw;
}

/*
 * With "Connection: close" the proxy closes first, its FIN on the segment
 * that carries the response's last bytes (MSG_MORE, then the shutdown): a
 * client that closes as soon as it has read the response (wrk, most HTTP
 * clients) finds the end already there, and does not keep the TIME_WAIT.
 * Were the FIN late, the client would close first and hold a TIME_WAIT per
 * connection: at some thousands of connections per second its ports run
 * short and every connect() searches for a free one (seen with io_uring:
 * wrk fell from 12,000 to 60 requests/s, connect() taking 5 ms). Before
 * the fix 50-70% of the connections here ended in a TIME_WAIT on both
 * backends; now none in our runs (at most 1 in 20 allowed).
 */
FX_TEST(l7_close_fin_follows_response, NULL, seed_v1, 2, w_v1)
{
	enum { N = 300 };
	static const char req[] = "GET /f HTTP/1.1\r\nHost: reviews\r\n"
				  "Connection: close\r\n\r\n";
	uint16_t ports[N];
	struct resp r = { 0 };
	struct cli c;
	int tw;

	for (int i = 0; i < N; i++) {
		struct sockaddr_in me;
		socklen_t len = sizeof(me);

		ASSERT_EQ(cli_connect(&c, f->port), 0);
		ASSERT_EQ(getsockname(c.fd, (struct sockaddr *)&me, &len), 0);
		ports[i] = ntohs(me.sin_port);
		ASSERT_EQ(tu_send_all(c.fd, req, sizeof(req) - 1), 0);
		ASSERT_EQ(cli_read(&c, &r, false, false), 0);
		ASSERT_EQ(r.status, 200);
		ASSERT_TRUE(!r.keepalive);
		cli_close(&c);		/* at once, as wrk does */
	}
	resp_free(&r);
	tw = time_waits(ports, N, f->port);
	printf("  %d connections, closed by the client on reading the response: "
	       "%d TIME_WAIT on the client's side\n", N, tw);
	ASSERT_GE(tw, 0);
	ASSERT_LE(tw, N / 20);
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

/* defer_accept_s (TCP_DEFER_ACCEPT): the proxy gets a connection with its
 * first bytes, not at the handshake (one wakeup for both). One that says
 * nothing is still handed over (after the SYN-ACK retransmit, about 1 s)
 * and closed when its wait for a first request ends, not left hanging. */
static const struct l7_proxy_opts defer_opts = { .defer_accept_s = 1,
						 .keepalive_timeout_ms = 300 };
FX_TEST(l7_defer_accept_takes_a_connection_with_its_request, &defer_opts, seed_v1, 2, w_v1)
{
	static const char req[] = "GET /d HTTP/1.1\r\nCookie: user=test-user\r\n\r\n";
	struct l7_proxy_stats ps;
	struct resp r = { 0 };
	struct cli c;
	uint64_t t0;
	unsigned ms;
	char x;

	ASSERT_EQ(cli_connect(&c, f->port), 0);
	usleep(300 * 1000);
	l7_proxy_stats(f->p, &ps);
	ASSERT_EQ(ps.conns_accepted, 0);	/* connected, not yet the proxy's */
	ASSERT_EQ(tu_send_all(c.fd, req, sizeof(req) - 1), 0);
	ASSERT_EQ(cli_read(&c, &r, false, false), 0);
	ASSERT_EQ(r.status, 200);
	ASSERT_STREQ(r.version, "v2");	/* routed on the cookie */
	resp_free(&r);
	cli_close(&c);
	l7_proxy_stats(f->p, &ps);
	ASSERT_EQ(ps.conns_accepted, 1);

	/* silent: handed over by the kernel all the same, then 408 */
	t0 = tu_mono_ms();
	ASSERT_EQ(cli_connect(&c, f->port), 0);
	ASSERT_EQ(recv(c.fd, &x, 1, 0), 0);	/* closed: SO_RCVTIMEO is 10 s */
	ms = (unsigned)(tu_mono_ms() - t0);
	cli_close(&c);
	printf("  a silent connection: closed by the proxy after %u ms\n", ms);
	ASSERT_GE(ms, 300);
	l7_proxy_stats(f->p, &ps);
	ASSERT_EQ(ps.conns_accepted, 2);
}

/* With first_byte_timeout_ms (server-first protocols) the listener does
 * not defer: a client that waits for the server is the proxy's at once,
 * and relayed at L4 after the first-byte timeout (deferred, it would be
 * taken with its late request and routed on the cookie: v2). */
static const struct l7_proxy_opts fbt_defer_opts = { .first_byte_timeout_ms = 150,
						     .defer_accept_s = 1 };
FX_TEST(l7_defer_accept_off_for_server_first, &fbt_defer_opts, seed_v1, 2, w_v1)
{
	static const char req[] = "GET /late HTTP/1.1\r\nCookie: user=test-user\r\n\r\n";
	struct l7_proxy_stats ps;
	struct resp r = { 0 };
	struct cli c;

	ASSERT_EQ(cli_connect(&c, f->port), 0);
	usleep(400 * 1000);
	l7_proxy_stats(f->p, &ps);
	ASSERT_EQ(ps.conns_accepted, 1);
	ASSERT_EQ(tu_send_all(c.fd, req, sizeof(req) - 1), 0);
	ASSERT_EQ(cli_read(&c, &r, false, false), 0);
	ASSERT_EQ(r.status, 200);
	ASSERT_STREQ(r.version, "v1");	/* the default split, at L4 */
	resp_free(&r);
	cli_close(&c);
}
