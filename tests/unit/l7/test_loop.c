// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * test_loop.c - the workers' loops (loop.c): many connections at once, the
 * per-source limit, connections spread over workers.
 * On real sockets, loopback only: see fixture.h.
 */
#include "fixture.h"

/* cli_connect from source address src (e.g. "127.0.0.2"). */
static int cli_connect_from(struct cli *c, uint16_t port, const char *src)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(port) };
	struct sockaddr_in me = { .sin_family = AF_INET };
	struct timeval tv = { .tv_sec = 10 };

	memset(c, 0, sizeof(*c));
	http_parser_init(&c->hp, HTTP_RESPONSE);
	c->hp.data = c;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	inet_pton(AF_INET, src, &me.sin_addr);
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (bind(c->fd, (struct sockaddr *)&me, sizeof(me)) ||
	    connect(c->fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	return 0;
}

struct load {
	uint16_t port;
	int id;
	int fails;
};

static void *load_thread(void *arg)
{
	struct load *l = arg;
	struct resp r = { 0 };
	struct cli *c = malloc(sizeof(*c));

	if (!c || cli_connect(c, l->port)) {
		l->fails = 100;
		free(c);
		return NULL;
	}
	for (int i = 0; i < 5; i++) {
		bool test = (l->id + i) % 2;

		if (cli_get(c, "/", test ? "user=test-user" : NULL, &r) ||
		    r.status != 200 || strcmp(r.version, test ? "v2" : "v1"))
			l->fails++;
	}
	resp_free(&r);
	cli_close(c);
	free(c);
	return NULL;
}

/* 200 concurrent keep-alive connections, a few requests each. */
FX_TEST(l7_200_concurrent_connections, NULL, seed_v1, 2, w_v1)
{
	enum { N = 200 };
	struct load *l = calloc(N, sizeof(*l));
	pthread_t *t = calloc(N, sizeof(*t));
	pthread_attr_t attr;
	int fails = 0, started = 0;
	uint64_t t0 = tu_mono_ms(), ms;
	struct l7_proxy_stats ps;

	ASSERT_TRUE(l && t);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	for (int i = 0; i < N; i++) {
		l[i] = (struct load){ .port = f->port, .id = i };
		if (!pthread_create(&t[i], &attr, load_thread, &l[i]))
			started++;
		else
			break;
	}
	pthread_attr_destroy(&attr);
	for (int i = 0; i < started; i++) {
		pthread_join(t[i], NULL);
		fails += l[i].fails;
	}
	ms = tu_mono_ms() - t0;
	printf("  l7: %d connections x 5 requests in %llu ms\n", N,
	       (unsigned long long)ms);
	free(l);
	free(t);
	ASSERT_EQ(started, N);
	ASSERT_EQ(fails, 0);
	l7_proxy_stats(f->p, &ps);
	ASSERT_EQ(ps.conns_accepted, N);
	ASSERT_EQ(ps.conns_rejected, 0);
}

/* Per-source limit: one address at its limit loses its oldest idle
 * connection to a new one (or, none idle, the new one is refused), and
 * another address is served all along. One worker: the limit is exact. */
static const struct l7_proxy_opts src_opts = { .workers = 1, .max_per_source = 20 };
FX_TEST(l7_per_source_limit, &src_opts, seed_v1, 2, w_v1)
{
	enum { N = 20 };
	struct cli *c = calloc(N + 2, sizeof(*c));
	struct cli *keep = c;
	struct l7_proxy_stats ps;
	struct resp r = { 0 };
	char x;
	int v1, v2;

	ASSERT_TRUE(c != NULL);
	/* N idle keep-alive connections from 127.0.0.1, each after a request */
	for (int i = 0; i < N; i++) {
		ASSERT_EQ(cli_connect(&c[i], f->port), 0);
		ASSERT_EQ(cli_get(&c[i], "/", NULL, &r), 0);
		ASSERT_EQ(r.status, 200);
	}
	/* another address is served */
	{
		struct cli *o = &c[N + 1];

		ASSERT_EQ(cli_connect_from(o, f->port, "127.0.0.2"), 0);
		ASSERT_EQ(cli_get(o, "/", "user=test-user", &r), 0);
		ASSERT_EQ(r.status, 200);
		ASSERT_STREQ(r.version, "v2");
		cli_close(o);
	}
	/* one more from 127.0.0.1: the oldest idle one (c[0]) is closed */
	ASSERT_EQ(cli_connect(&c[N], f->port), 0);
	ASSERT_EQ(cli_get(&c[N], "/", NULL, &r), 0);
	ASSERT_EQ(r.status, 200);
	ASSERT_EQ(recv(c[0].fd, &x, 1, 0), 0);
	for (int i = 1; i <= N; i++) {	/* the others still work */
		ASSERT_EQ(cli_get(&c[i], "/", NULL, &r), 0);
		ASSERT_EQ(r.status, 200);
	}
	l7_proxy_stats(f->p, &ps);
	ASSERT_EQ(ps.conns_evicted, 1);
	/* all N busy (a head half sent): a new one is refused, not an old one */
	for (int i = 1; i <= N; i++)
		ASSERT_EQ(tu_send_all(c[i].fd, "GET / HTTP/1.1\r\n", 16), 0);
	usleep(50 * 1000);
	cli_close(&c[0]);
	ASSERT_EQ(cli_connect(&c[0], f->port), 0);
	ASSERT_EQ(tu_send_all(c[0].fd, "GET / HTTP/1.1\r\n\r\n", 18), 0);
	ASSERT_TRUE(recv(c[0].fd, &x, 1, 0) <= 0);
	l7_proxy_stats(f->p, &ps);
	fprintf(stderr, "  at the limit, all busy: %llu rejected, %llu evicted, %llu accepted\n",
	       (unsigned long long)ps.conns_rejected,
	       (unsigned long long)ps.conns_evicted,
	       (unsigned long long)ps.conns_accepted);
	ASSERT_EQ(ps.conns_rejected, 1);
	ASSERT_EQ(ps.conns_evicted, 1);
	/* the busy ones finish their request */
	for (int i = 1; i <= N; i++) {
		ASSERT_EQ(tu_send_all(c[i].fd, "Host: r\r\n\r\n", 11), 0);
		ASSERT_EQ(cli_read(&c[i], &r, false, false), 0);
		ASSERT_EQ(r.status, 200);
	}
	/* and the other address is still served */
	ASSERT_EQ(count_versions(f->port, 5, "user=test-user", &v1, &v2), 0);
	ASSERT_EQ(v2, 5);
	for (int i = 0; i <= N; i++)
		cli_close(&c[i]);
	resp_free(&r);
	free(keep);
}

/* Connections are spread over the workers (SO_REUSEPORT). */
static const struct l7_proxy_opts two_workers = { .workers = 2 };
FX_TEST(l7_connections_spread_over_workers, &two_workers, seed_v1, 2, w_v1)
{
	enum { N = 200 };
	struct l7_proxy_stats ps;
	int v1, v2;

	for (int i = 0; i < N; i++) {
		ASSERT_EQ(count_versions(f->port, 1, i % 2 ? "user=test-user" : NULL,
					 &v1, &v2), 0);
		ASSERT_EQ(i % 2 ? v2 : v1, 1);
	}
	l7_proxy_stats(f->p, &ps);
	printf("  %d connections: worker 0 took %llu, worker 1 %llu\n", N,
	       (unsigned long long)ps.worker_accepted[0],
	       (unsigned long long)ps.worker_accepted[1]);
	ASSERT_EQ(ps.workers, 2);
	ASSERT_EQ(ps.conns_accepted, N);
	ASSERT_EQ(ps.worker_accepted[0] + ps.worker_accepted[1], N);
	/* binomial n=200 p=0.5: 5 sigma is 35 */
	ASSERT_GE(ps.worker_accepted[0], N / 2 - 35);
	ASSERT_GE(ps.worker_accepted[1], N / 2 - 35);
	ASSERT_EQ(ps.threads_started, 2);
}
