// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * test_proxy.c - the public API (proxy.c): listeners added and removed
 * while the proxy runs, a drain that finishes requests in flight.
 * On real sockets, loopback only: see fixture.h.
 */
#include "fixture.h"

/* Listeners come and go while the proxy runs. */
FX_TEST(l7_listen_while_running, NULL, seed_v1, 2, w_v1)
{
	struct split_addr lo;
	int port, other, v1, v2, fd = -1;
	struct sockaddr_in sa = { .sin_family = AF_INET };

	split_addr_parse("127.0.0.1", &lo);
	port = l7_proxy_listen(f->p, &lo, 0, &f->key);
	ASSERT_GT(port, 0);
	ASSERT_EQ(count_versions((uint16_t)port, 10, "user=test-user", &v1, &v2), 0);
	ASSERT_EQ(v2, 10);
	/* another service on another port */
	other = l7_proxy_listen(f->p, &lo, 0, &v1);
	ASSERT_GT(other, 0);
	ASSERT_EQ(raw_status((uint16_t)other, "GET / HTTP/1.1\r\n\r\n", 18, 0), 503);
	l7_proxy_unlisten(f->p, &f->key);
	/* both listeners of the key close (the accept loop does it) */
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	for (int i = 0; i < 100; i++) {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		ASSERT_GE(fd, 0);
		/* ECONNRESET: the listener closed while this connection
		 * waited in its queue (the close is the loop's, so it can
		 * come between the SYN and the accept): look again */
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) && errno != ECONNRESET)
			break;
		close(fd);
		fd = -1;
		usleep(10000);
	}
	ASSERT_EQ(errno, ECONNREFUSED);
	close(fd);
	ASSERT_EQ(raw_status((uint16_t)other, "GET / HTTP/1.1\r\n\r\n", 18, 0), 503);

	/* IPv6, where ::1 exists */
	{
		static const char req[] = "GET / HTTP/1.1\r\nCookie: user=test-user\r\n\r\n";
		struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };
		struct split_addr lo6;
		struct resp r = { 0 };
		struct cli c;
		int p6;

		split_addr_parse("::1", &lo6);
		p6 = l7_proxy_listen(f->p, &lo6, 0, &f->key);
		if (p6 < 0) {
			TEST_SKIP("no ::1 here: IPv6 listener not tested");
		}
		ASSERT_EQ(cli_connect(&c, f->port), -1);	/* port closed */
		memset(&c, 0, sizeof(c));
		http_parser_init(&c.hp, HTTP_RESPONSE);
		c.hp.data = &c;
		c.fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
		ASSERT_GE(c.fd, 0);
		s6.sin6_port = htons((uint16_t)p6);
		s6.sin6_addr = in6addr_loopback;
		ASSERT_EQ(connect(c.fd, (struct sockaddr *)&s6, sizeof(s6)), 0);
		ASSERT_EQ(tu_send_all(c.fd, req, sizeof(req) - 1), 0);
		ASSERT_EQ(cli_read(&c, &r, false, false), 0);
		ASSERT_STREQ(r.version, "v2");
		resp_free(&r);
		cli_close(&c);
	}
}

/* Graceful stop: listeners close, idle keep-alive connections close, a
 * request in flight gets its whole response (saying Connection: close). */
struct drain_req {
	uint16_t port;
	int status;
	bool keepalive;
	char body[8];
};

static void *drain_req_thread(void *arg)
{
	struct drain_req *d = arg;
	struct resp r = { 0 };
	struct cli *c = malloc(sizeof(*c));

	d->status = -1;
	if (c && !cli_connect(c, d->port) && !cli_get(c, "/slow", NULL, &r)) {
		d->status = r.status;
		d->keepalive = r.keepalive;
		if (r.blen < sizeof(d->body))
			memcpy(d->body, r.body, r.blen);
	}
	if (c)
		cli_close(c);
	resp_free(&r);
	free(c);
	return NULL;
}

FX_TEST(l7_drain_finishes_requests_in_flight, NULL, seed_v1, 2, w_v1)
{
	struct drain_req d = { .port = f->port };
	struct resp r = { 0 };
	struct cli idle, fresh;
	pthread_t t;
	uint64_t t0;
	char x;
	int left;

	ASSERT_EQ(cli_connect(&idle, f->port), 0);
	ASSERT_EQ(cli_get(&idle, "/", NULL, &r), 0);
	ASSERT_EQ(pthread_create(&t, NULL, drain_req_thread, &d), 0);
	usleep(100 * 1000);		/* /slow is upstream now */
	t0 = tu_mono_ms();
	left = l7_proxy_drain(f->p, 5000);
	printf("  drain: %d left, %llu ms\n", left,
	       (unsigned long long)(tu_mono_ms() - t0));
	ASSERT_EQ(left, 0);
	pthread_join(t, NULL);
	ASSERT_EQ(d.status, 200);
	ASSERT_STREQ(d.body, "slow");
	ASSERT_FALSE(d.keepalive);	/* Connection: close added */
	ASSERT_EQ(recv(idle.fd, &x, 1, 0), 0);	/* the idle one was closed */
	cli_close(&idle);
	ASSERT_EQ(cli_connect(&fresh, f->port), -1);	/* not listening */
	resp_free(&r);
}
