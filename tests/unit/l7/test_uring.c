// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * l7/test_uring.c - what only the io_uring backend does (the whole L7 suite
 * runs on it too: it is the default; tests/run_unit.sh runs the suite again
 * with L7_TEST_IO=epoll). Real sockets, real upstream servers on loopback. If
 * this kernel refuses io_uring, the binary says SKIP (never PASS).
 */
#include "fixture.h"

/* Every proxy the fixtures make here runs io_uring, whatever L7_TEST_IO
 * says (the backend test below makes its own). */
__attribute__((constructor)) static void on_uring(void)
{
	fx_force_io(L7_IO_URING);
}

/*
 * The ring takes a response's bytes at once (copied, sent later), so the
 * proxy can be done with an exchange, and close the client's connection
 * ("Connection: close"), while the bytes still wait for a client that does
 * not read yet. The close must wait for them (graceful), then end the
 * connection: 4 MiB echoed through a client that starts reading 300 ms
 * late arrive byte-exact, then the end of the stream.
 */
FX_TEST(l7_uring_close_waits_for_queued_bytes, NULL, seed_v1, 2, w_v1)
{
	size_t big = 4 * 1024 * 1024;
	char *body = malloc(big), head[256];
	struct resp r = { 0 };
	struct sender s;
	pthread_t t;
	struct cli c;
	char b;
	int n;

	ASSERT_TRUE(body != NULL);
	fill_random(body, big, 7);
	ASSERT_EQ(cli_connect(&c, f->port), 0);
	n = snprintf(head, sizeof(head), "PUT /big HTTP/1.1\r\nHost: r\r\n"
		     "Connection: close\r\nContent-Length: %zu\r\n\r\n", big);
	ASSERT_EQ(tu_send_all(c.fd, head, (size_t)n), 0);
	s = (struct sender){ .fd = c.fd, .buf = body, .len = big };
	ASSERT_EQ(pthread_create(&t, NULL, send_thread, &s), 0);
	pthread_join(t, NULL);
	ASSERT_EQ(s.rc, 0);
	usleep(300 * 1000);		/* the echo queues up in the proxy */
	ASSERT_EQ(cli_read(&c, &r, false, false), 0);
	ASSERT_EQ(r.status, 200);
	ASSERT_FALSE(r.keepalive);
	ASSERT_EQ(r.blen, big);
	ASSERT_TRUE(!memcmp(r.body, body, big));
	ASSERT_EQ(recv(c.fd, &b, 1, 0), 0);	/* then the end */
	resp_free(&r);
	cli_close(&c);
	free(body);
}

/* The backend is the one asked for, and says so; none asked for: io_uring. */
TEST(l7_uring_backend_reported)
{
	struct l7_proxy_opts o = { .workers = 1, .io = L7_IO_URING };
	struct l7_proxy *p = l7_proxy_new(&o);
	const char *why;

	ASSERT_TRUE(p != NULL);
	ASSERT_EQ(l7_proxy_io(p, &why), L7_IO_URING);
	ASSERT_TRUE(strstr(why, "io_uring") != NULL);
	l7_proxy_free(p);
	o.io = L7_IO_EPOLL;
	p = l7_proxy_new(&o);
	ASSERT_TRUE(p != NULL);
	ASSERT_EQ(l7_proxy_io(p, &why), L7_IO_EPOLL);
	ASSERT_TRUE(strstr(why, "epoll") != NULL);
	l7_proxy_free(p);
	/* the default: io_uring (usable here: it just ran) */
	o.io = L7_IO_AUTO;
	p = l7_proxy_new(&o);
	ASSERT_TRUE(p != NULL);
	ASSERT_EQ(l7_proxy_io(p, &why), L7_IO_URING);
	l7_proxy_free(p);
}

/*
 * Many sockets on one ring: 400 keep-alive connections on one worker,
 * each with a second request pipelined while the first waits 300 ms
 * upstream (its bytes wait in a buffer of the ring meanwhile). Every
 * request is answered, in order. (The provided-buffer ring has 256
 * buffers; in our runs at most 83 were held at once, so this does not
 * show the re-arm after -ENOBUFS: that path has no test.)
 */
static const struct l7_proxy_opts uring_one = { .workers = 1 };

FX_TEST(l7_uring_many_sockets_pipelined, &uring_one, seed_v1, 2, w_v1)
{
	enum { N = 400 };
	static const char req[] = "GET /slow HTTP/1.1\r\nHost: r\r\n\r\n";
	struct cli *c = calloc(N, sizeof(*c));
	struct resp r = { 0 };
	struct l7_proxy_stats ps;
	int ok = 0;

	ASSERT_TRUE(c != NULL);
	for (int i = 0; i < N; i++)
		ASSERT_EQ(cli_connect(&c[i], f->port), 0);
	for (int i = 0; i < N; i++)
		ASSERT_EQ(tu_send_all(c[i].fd, req, sizeof(req) - 1), 0);
	usleep(50 * 1000);		/* the first ones are upstream */
	for (int i = 0; i < N; i++)
		ASSERT_EQ(tu_send_all(c[i].fd, req, sizeof(req) - 1), 0);
	for (int k = 0; k < 2; k++)
		for (int i = 0; i < N; i++) {
			ASSERT_EQ(cli_read(&c[i], &r, false, false), 0);
			ok += r.status == 200 && !strcmp(r.path, "/slow") &&
			      r.blen == 4 && !memcmp(r.body, "slow", 4);
		}
	resp_free(&r);
	for (int i = 0; i < N; i++)
		cli_close(&c[i]);
	free(c);
	ASSERT_EQ(ok, 2 * N);
	l7_proxy_stats(f->p, &ps);
	ASSERT_EQ(ps.conns_accepted, N);
}
