// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * test_pool.c - the upstream pool (pool.c): a connection the upstream
 * closed is not used, idle ones are reaped.
 * On real sockets, loopback only: see fixture.h.
 */
#include "fixture.h"

/* A pooled upstream connection that the upstream closed is not used. */
FX_TEST(l7_pool_skips_closed, NULL, seed_v1, 2, w_v1)
{
	struct resp r = { 0 };
	struct cli c;

	ASSERT_EQ(cli_connect(&c, f->port), 0);
	for (int i = 0; i < 20; i++) {
		/* /eof closes upstream and client connection each time */
		cli_close(&c);
		ASSERT_EQ(cli_connect(&c, f->port), 0);
		ASSERT_EQ(cli_get(&c, i % 2 ? "/eof" : "/", NULL, &r), 0);
		ASSERT_EQ(r.status, 200);
	}
	resp_free(&r);
	cli_close(&c);
}

/* Idle keep-alive connections close after keepalive_timeout_ms; idle
 * upstream connections are reaped on a timer, with no traffic at all,
 * and the upstream closing pooled ones is noticed at once. */
static const struct l7_proxy_opts idle_opts = {
	.keepalive_timeout_ms = 200, .pool_idle_ms = 300,
};
FX_TEST(l7_idle_timeouts_and_pool_reaping, &idle_opts, seed_v1, 2, w_v1)
{
	struct l7_proxy_stats ps;
	struct resp r = { 0 };
	struct cli c;
	uint64_t t0;
	char x;
	int v1, v2;

	ASSERT_EQ(cli_connect(&c, f->port), 0);
	ASSERT_EQ(cli_get(&c, "/", NULL, &r), 0);
	t0 = tu_mono_ms();
	ASSERT_EQ(recv(c.fd, &x, 1, 0), 0);	/* closed by the proxy */
	ASSERT_GE(tu_mono_ms() - t0, 150);
	cli_close(&c);
	ASSERT_EQ(count_versions(f->port, 20, "user=test-user", &v1, &v2), 0);
	ASSERT_EQ(count_versions(f->port, 20, NULL, &v1, &v2), 0);
	l7_proxy_stats(f->p, &ps);
	ASSERT_GE(ps.upstream_connects, 2);
	/* nothing happens now: the pool empties on its own */
	for (int i = 0; i < 100; i++) {
		l7_proxy_stats(f->p, &ps);
		if (ps.pool_reaped >= ps.upstream_connects)
			break;
		usleep(20 * 1000);
	}
	printf("  pool: %llu upstream connections, %llu reaped idle\n",
	       (unsigned long long)ps.upstream_connects,
	       (unsigned long long)ps.pool_reaped);
	ASSERT_EQ(ps.pool_reaped, ps.upstream_connects);
	for (int i = 0; i < 3; i++) {	/* and the upstreams saw them close */
		for (int k = 0; k < 100; k++) {
			int n;

			pthread_mutex_lock(&f->ups[i].mu);
			n = f->ups[i].nconns;
			pthread_mutex_unlock(&f->ups[i].mu);
			if (!n)
				break;
			usleep(20 * 1000);
		}
		pthread_mutex_lock(&f->ups[i].mu);
		ASSERT_EQ(f->ups[i].nconns, 0);
		pthread_mutex_unlock(&f->ups[i].mu);
	}
	/* an upstream that closes its idle connection: out of the pool
	 * at once (EPOLLRDHUP), long before pool_idle_ms */
	ASSERT_EQ(count_versions(f->port, 1, "user=test-user", &v1, &v2), 0);
	ASSERT_EQ(v2, 1);
	ups_stop(&f->ups[2]);		/* closes its connections */
	t0 = tu_mono_ms();
	for (int i = 0; i < 100; i++) {
		l7_proxy_stats(f->p, &ps);
		if (ps.pool_peer_closed >= 1)
			break;
		usleep(5 * 1000);
	}
	ASSERT_EQ(ps.pool_peer_closed, 1);
	ASSERT_LT(tu_mono_ms() - t0, 250);
	ASSERT_EQ(ups_start(&f->ups[2], "v2-a", "v2"), 0);	/* for fx_stop */
	resp_free(&r);
}
