// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * test_tunnel.c - tunnels (tunnel.c, l7sockmap.c): non-HTTP, Upgrade and
 * CONNECT; sockmap, splice and read/write relays, megabytes both ways.
 * On real sockets, loopback only: see fixture.h.
 */
#include "fixture.h"

/* Read exactly n raw bytes (after an upgrade). */
static int cli_read_raw(struct cli *c, char *out, size_t n)
{
	while (n) {
		ssize_t k;

		if (c->off < c->len) {
			size_t m = c->len - c->off < n ? c->len - c->off : n;

			memcpy(out, c->buf + c->off, m);
			c->off += m;
			out += m;
			n -= m;
			continue;
		}
		c->off = c->len = 0;
		k = recv(c->fd, c->buf, sizeof(c->buf), 0);
		if (k <= 0)
			return -1;
		c->len = (size_t)k;
	}
	return 0;
}

/* io_uring: the ring reads the sockets, tunnels read and write through it
 * (no splice, no sockmap): what a tunnel test checks of the kernel's part */
static void tunnels_on_ring(struct l7_proxy *p, int *failed)
{
	struct l7_proxy_stats ps;
	const char *why;

	ASSERT_EQ(l7_proxy_sockmap(p, &why), 0);
	ASSERT_STREQ(why, "off (io_uring)");
	l7_proxy_stats(p, &ps);
	ASSERT_EQ(ps.sockmap_tunnels, 0);
	ASSERT_EQ(ps.spliced_bytes, 0);
}

/* Non-HTTP: relayed at L4 to the default split, counted. */
FX_TEST(l7_nonhttp_relayed, NULL, seed_v1, 2, w_v1)
{
	static const unsigned char hello[] = {
		0x16, 0x03, 0x01, 0x00, 0x2e, 0x01, 0x00, 0x00, 0x2a, 0x03,
		0x03, 'r', 'a', 'n', 'd', 'o', 'm', 0x00, 0xff, 0x80, 0x00,
	};
	static const char h2[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	static const char junk[] = "hello there\r\n";
	const struct {
		const void *b;
		size_t n;
	} cases[] = {
		{ hello, sizeof(hello) }, { h2, sizeof(h2) - 1 },
		{ junk, sizeof(junk) - 1 },
	};
	struct l7_version_stats st[8];
	struct l7_proxy_stats ps;
	int n;

	for (size_t i = 0; i < 3; i++) {
		char got[128];
		struct cli c;

		ASSERT_EQ(cli_connect(&c, f->port), 0);
		ASSERT_EQ(tu_send_all(c.fd, cases[i].b, cases[i].n), 0);
		ASSERT_EQ(cli_read_raw(&c, got, 9 + cases[i].n), 0);
		ASSERT_TRUE(!memcmp(got, "RAW v1-", 7));	/* default: v1 */
		ASSERT_TRUE(!memcmp(got + 9, cases[i].b, cases[i].n));
		/* and it keeps relaying both ways */
		ASSERT_EQ(tu_send_all(c.fd, "more", 4), 0);
		ASSERT_EQ(cli_read_raw(&c, got, 4), 0);
		ASSERT_TRUE(!memcmp(got, "more", 4));
		shutdown(c.fd, SHUT_WR);
		ASSERT_EQ(recv(c.fd, got, 1, 0), 0);
		cli_close(&c);
	}
	n = l7_proxy_service_stats(f->p, &f->key, st, 8);
	ASSERT_TRUE(find_stats(st, n, "v1") != NULL);
	ASSERT_EQ(find_stats(st, n, "v1")->nonhttp, 3);
	ASSERT_EQ(find_stats(st, n, "v1")->requests, 0);
	l7_proxy_stats(f->p, &ps);
	ASSERT_EQ(ps.tunnels, 3);
	if (fx_uring(f->p))
		tunnels_on_ring(f->p, failed);
	else
		ASSERT_GT(ps.spliced_bytes, 0);
}

static void upgrade_case(struct fx *f, const char *req, int want,
			 const char *version, int *failed)
{
	struct resp r = { 0 };
	char got[64];
	struct cli c;

	ASSERT_EQ(cli_connect(&c, f->port), 0);
	ASSERT_EQ(tu_send_all(c.fd, req, strlen(req)), 0);
	c.connect = !strncmp(req, "CONNECT ", 8);
	ASSERT_EQ(cli_read(&c, &r, false, false), 0);
	ASSERT_EQ(r.status, want);
	ASSERT_STREQ(r.version, version);
	/* the bytes sent with the head ("early") come back first */
	ASSERT_EQ(cli_read_raw(&c, got, 5), 0);
	ASSERT_TRUE(!memcmp(got, "early", 5));
	for (int i = 0; i < 3; i++) {
		ASSERT_EQ(tu_send_all(c.fd, "ping!", 5), 0);
		ASSERT_EQ(cli_read_raw(&c, got, 5), 0);
		ASSERT_TRUE(!memcmp(got, "ping!", 5));
	}
	shutdown(c.fd, SHUT_WR);
	ASSERT_EQ(recv(c.fd, got, 1, 0), 0);
	resp_free(&r);
	cli_close(&c);
}

/* Upgrade and CONNECT: routed once, then bytes both ways. */
FX_TEST(l7_upgrade_and_connect, NULL, seed_v1, 2, w_v1)
{
	upgrade_case(f, "GET /ws HTTP/1.1\r\nHost: r\r\nConnection: Upgrade\r\n"
		     "Upgrade: websocket\r\nCookie: user=test-user\r\n\r\nearly",
		     101, "v2", failed);
	if (*failed)
		return;
	upgrade_case(f, "CONNECT reviews:9080 HTTP/1.1\r\nHost: reviews:9080\r\n"
		     "\r\nearly", 200, "v1", failed);
}

/* The same with splice off (read/write). */
static const struct l7_proxy_opts nosplice_opts = { .no_splice = 1 };
FX_TEST(l7_upgrade_no_splice, &nosplice_opts, seed_v1, 2, w_v1)
{
	struct l7_proxy_stats ps;

	upgrade_case(f, "GET /ws HTTP/1.1\r\nHost: r\r\nConnection: Upgrade\r\n"
		     "Upgrade: websocket\r\n\r\nearly", 101, "v1", failed);
	l7_proxy_stats(f->p, &ps);
	ASSERT_EQ(ps.spliced_bytes, 0);
}

/* ---- tunnels: sockmap, splice, multi-megabyte both ways ---------------------- */

/*
 * A tunnel server: per connection, an upgrade ("GET /t/SEED/N/ORDER
 * HTTP/1.1" ... then 101) or a non-HTTP header (0x16 'T' then "SEED N
 * ORDER\n"); then it sends N bytes of stream SEED+1 and checks N bytes of
 * stream SEED from the client. ORDER 'c': the client half-closes first
 * (the server shuts after its EOF); 's': the server first. The 101 and
 * the first bytes of the server's stream go in one write (bytes the proxy
 * has buffered when the tunnel starts); the client sends its first bytes
 * with the head.
 */
#define TUN_PRE		1000		/* stream bytes sent with the head / 101 */

static unsigned char tpat(unsigned s, uint64_t i)
{
	uint64_t x = (i + 1) * 0x9e3779b97f4a7c15ull ^ ((uint64_t)s << 40);

	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ull;
	return (unsigned char)(x >> 56);
}

/* Send stream so from offset out_off to n, check stream si from offset
 * in_off until EOF, which must come after exactly n bytes. shut_first:
 * half-close once everything is sent; else only after the EOF. */
static int tun_stream(int fd, unsigned so, unsigned si, uint64_t n,
		      uint64_t out_off, uint64_t in_off, bool shut_first,
		      char *why, size_t wl)
{
	uint64_t sent = out_off, got = in_off, t0 = tu_mono_ms();
	bool eof = false, shut = false;
	char *buf = malloc(65536);
	int ret = -1;

	if (!buf)
		return -1;
	while (!eof || !shut) {
		struct pollfd pf = { .fd = fd };
		ssize_t k;

		if (tu_mono_ms() - t0 > 30000) {
			snprintf(why, wl, "timeout: sent %llu got %llu of %llu",
				 (unsigned long long)sent, (unsigned long long)got,
				 (unsigned long long)n);
			goto out;
		}
		if (!eof)
			pf.events |= POLLIN;
		if (sent < n)
			pf.events |= POLLOUT;
		if (poll(&pf, 1, 1000) < 0 && errno != EINTR)
			goto out;
		if ((pf.revents & POLLOUT) && sent < n) {
			size_t m = n - sent > 65536 ? 65536 : (size_t)(n - sent);

			for (size_t i = 0; i < m; i++)
				buf[i] = (char)tpat(so, sent + i);
			k = send(fd, buf, m, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (k < 0 && errno != EAGAIN && errno != EINTR) {
				snprintf(why, wl, "send: %s", strerror(errno));
				goto out;
			}
			if (k > 0)
				sent += (uint64_t)k;
		}
		if (pf.revents & (POLLIN | POLLHUP | POLLERR)) {
			k = recv(fd, buf, 65536, MSG_DONTWAIT);
			if (k < 0 && errno != EAGAIN && errno != EINTR) {
				snprintf(why, wl, "recv: %s", strerror(errno));
				goto out;
			}
			if (k == 0) {
				if (got != n) {
					snprintf(why, wl, "EOF after %llu of %llu bytes",
						 (unsigned long long)got,
						 (unsigned long long)n);
					goto out;
				}
				eof = true;
			}
			for (ssize_t i = 0; i < k; i++)
				if ((unsigned char)buf[i] != tpat(si, got + (uint64_t)i)) {
					snprintf(why, wl, "wrong byte at %llu",
						 (unsigned long long)(got + (uint64_t)i));
					goto out;
				}
			if (k > 0)
				got += (uint64_t)k;
			if (got > n) {
				snprintf(why, wl, "%llu bytes of %llu",
					 (unsigned long long)got,
					 (unsigned long long)n);
				goto out;
			}
		}
		if (sent == n && !shut && (shut_first || eof)) {
			shutdown(fd, SHUT_WR);
			shut = true;
		}
	}
	ret = 0;
out:
	free(buf);
	return ret;
}

struct tsrv {
	int lfd, stopfd;
	uint16_t port;
	pthread_t acc;
	int ok, bad;		/* connections that checked out, or not */
	int nconns;
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

struct tsrv_conn {
	struct tsrv *t;
	int fd;
};

static void *tsrv_conn_thread(void *arg)
{
	struct tsrv_conn *c = arg;
	struct tsrv *t = c->t;
	char head[512], why[128] = "bad header";
	size_t len = 0, hl = 0, pre = 0;
	unsigned seed = 0;
	unsigned long long n = 0;
	char order = 0;
	int ok = 0;

	/* the header: up to the end of the head, or the first '\n' */
	while (len < sizeof(head) - 1) {
		ssize_t k = recv(c->fd, head + len, sizeof(head) - 1 - len, 0);
		char *e;

		if (k <= 0)
			goto out;
		len += (size_t)k;
		head[len] = '\0';
		if (head[0] == 0x16 && (e = memchr(head, '\n', len))) {
			hl = (size_t)(e - head) + 1;
			if (sscanf(head + 2, "%u %llu %c", &seed, &n, &order) != 3)
				goto out;
			break;
		}
		if (head[0] == 'G' && (e = strstr(head, "\r\n\r\n"))) {
			char resp[256 + TUN_PRE];
			int r;

			hl = (size_t)(e - head) + 4;
			if (sscanf(head, "GET /t/%u/%llu/%c ", &seed, &n, &order) != 3)
				goto out;
			r = snprintf(resp, 256, "HTTP/1.1 101 Switching Protocols\r\n"
				     "Connection: Upgrade\r\nUpgrade: t\r\n\r\n");
			for (size_t i = 0; i < TUN_PRE; i++)
				resp[r + (int)i] = (char)tpat(seed + 1, i);
			if (tu_send_all(c->fd, resp, (size_t)r + TUN_PRE))
				goto out;
			pre = TUN_PRE;
			break;
		}
	}
	if (!hl)
		goto out;
	/* the client's first stream bytes came with the header */
	for (size_t i = hl; i < len; i++)
		if ((unsigned char)head[i] != tpat(seed, i - hl)) {
			snprintf(why, sizeof(why), "wrong early byte");
			goto out;
		}
	fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
	ok = !tun_stream(c->fd, seed + 1, seed, n, pre, len - hl, order == 's',
			 why, sizeof(why));
out:
	if (!ok)
		fprintf(stderr, "  tunnel server: %s\n", why);
	close(c->fd);
	pthread_mutex_lock(&t->mu);
	if (ok)
		t->ok++;
	else
		t->bad++;
	t->nconns--;
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->mu);
	free(c);
	return NULL;
}

static void *tsrv_accept_thread(void *arg)
{
	struct tsrv *t = arg;

	for (;;) {
		struct pollfd pf[2] = { { .fd = t->lfd, .events = POLLIN },
					{ .fd = t->stopfd, .events = POLLIN } };
		struct tsrv_conn *c;
		pthread_t th;
		int fd;

		if (poll(pf, 2, -1) < 0 && errno != EINTR)
			break;
		if (pf[1].revents)
			break;
		fd = accept4(t->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->t = t;
		c->fd = fd;
		pthread_mutex_lock(&t->mu);
		t->nconns++;
		pthread_mutex_unlock(&t->mu);
		if (pthread_create(&th, NULL, tsrv_conn_thread, c)) {
			close(fd);
			free(c);
			pthread_mutex_lock(&t->mu);
			t->nconns--;
			pthread_mutex_unlock(&t->mu);
			continue;
		}
		pthread_detach(th);
	}
	return NULL;
}

/* The proxy (opts o) for one service whose only endpoint is a tunnel
 * server. */
struct tfx {
	struct tsrv t;
	struct l7_proxy *p;
	pthread_t run;
	uint16_t port;
	int key;
};

static void *tfx_run_thread(void *arg)
{
	struct tfx *f = arg;

	l7_proxy_run(f->p);
	return NULL;
}

static int tfx_start(struct tfx *f, const struct l7_proxy_opts *o)
{
	static const char *const vers[] = { "v1" };
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	struct l7_upstream ep = { .version = "v1" };
	struct l7_service svc = { .eps = &ep, .neps = 1, .versions = vers,
				  .nversions = 1 };
	struct split_addr lo;
	int port;

	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->t.mu, NULL);
	pthread_cond_init(&f->t.cv, NULL);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	f->t.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	f->t.stopfd = eventfd(0, EFD_CLOEXEC);
	if (f->t.lfd < 0 || f->t.stopfd < 0 ||
	    bind(f->t.lfd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(f->t.lfd, 128) ||
	    getsockname(f->t.lfd, (struct sockaddr *)&sa, &sl) ||
	    pthread_create(&f->t.acc, NULL, tsrv_accept_thread, &f->t))
		return -1;
	f->t.port = ntohs(sa.sin_port);
	split_addr_parse("127.0.0.1", &lo);
	ep.addr = lo;
	ep.port = f->t.port;
	f->p = fx_proxy_new(o);
	if (!f->p)
		return -1;
	port = l7_proxy_listen(f->p, &lo, 0, &f->key);
	if (port <= 0 || l7_proxy_set_service(f->p, &f->key, &svc))
		return -1;
	f->port = (uint16_t)port;
	return pthread_create(&f->run, NULL, tfx_run_thread, f) ? -1 : 0;
}

static void tfx_stop(struct tfx *f)
{
	uint64_t one = 1;
	ssize_t w;

	pthread_mutex_lock(&f->t.mu);
	while (f->t.nconns)
		pthread_cond_wait(&f->t.cv, &f->t.mu);
	pthread_mutex_unlock(&f->t.mu);
	l7_proxy_stop(f->p);
	pthread_join(f->run, NULL);
	l7_proxy_free(f->p);
	w = write(f->t.stopfd, &one, sizeof(one));
	(void)w;
	pthread_join(f->t.acc, NULL);
	close(f->t.lfd);
	close(f->t.stopfd);
}

/* One client tunnel through the proxy: upgrade or non-HTTP, n bytes
 * each way, the half-close order given. */
struct tun_job {
	uint16_t port;
	unsigned seed;
	uint64_t n;
	bool upgrade;
	char order;		/* 'c' client first, 's' server first */
	int ok;
	char why[128];
};

static void *tun_job_thread(void *arg)
{
	struct tun_job *j = arg;
	char head[256 + TUN_PRE], got[TUN_PRE + 256];
	size_t hl = 0, have = 0;
	struct cli *c = malloc(sizeof(*c));
	uint64_t in_off = 0;
	int n;

	if (!c || cli_connect(c, j->port)) {
		snprintf(j->why, sizeof(j->why), "connect");
		free(c);
		return NULL;
	}
	if (j->upgrade)
		n = snprintf(head, 256, "GET /t/%u/%llu/%c HTTP/1.1\r\nHost: t\r\n"
			     "Connection: Upgrade\r\nUpgrade: t\r\n\r\n", j->seed,
			     (unsigned long long)j->n, j->order);
	else
		n = snprintf(head, 256, "\x16T%u %llu %c\n", j->seed,
			     (unsigned long long)j->n, j->order);
	for (size_t i = 0; i < TUN_PRE; i++)
		head[n + (int)i] = (char)tpat(j->seed, i);
	if (tu_send_all(c->fd, head, (size_t)n + TUN_PRE)) {
		snprintf(j->why, sizeof(j->why), "send head");
		goto out;
	}
	if (j->upgrade) {
		/* the 101, and maybe stream bytes right behind it */
		char *e = NULL;

		while (!e && have < sizeof(got) - 1) {
			ssize_t k = recv(c->fd, got + have, sizeof(got) - 1 - have, 0);

			if (k <= 0)
				break;
			have += (size_t)k;
			got[have] = '\0';
			e = strstr(got, "\r\n\r\n");
		}
		if (!e || strncmp(got, "HTTP/1.1 101 ", 13)) {
			snprintf(j->why, sizeof(j->why), "no 101");
			goto out;
		}
		hl = (size_t)(e - got) + 4;
		for (size_t i = hl; i < have; i++)
			if ((unsigned char)got[i] != tpat(j->seed + 1, i - hl)) {
				snprintf(j->why, sizeof(j->why), "wrong early byte");
				goto out;
			}
		in_off = have - hl;
	}
	fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
	j->ok = !tun_stream(c->fd, j->seed, j->seed + 1, j->n, TUN_PRE, in_off,
			    j->order == 'c', j->why, sizeof(j->why));
out:
	cli_close(c);
	free(c);
	return NULL;
}

/* ntun tunnels at once, alternately upgrade and non-HTTP, half-closed
 * client-first and server-first; 0 if every byte arrived both ways. */
static int run_tunnels(struct tfx *f, int ntun, uint64_t n, int *failed)
{
	struct tun_job *j = calloc((size_t)ntun, sizeof(*j));
	pthread_t *th = calloc((size_t)ntun, sizeof(*th));
	int ok = 0;

	if (!j || !th) {
		free(j);
		free(th);
		return -1;
	}
	pthread_mutex_lock(&f->t.mu);
	f->t.ok = f->t.bad = 0;
	pthread_mutex_unlock(&f->t.mu);
	for (int i = 0; i < ntun; i++) {
		j[i] = (struct tun_job){ .port = f->port, .seed = 10 * (unsigned)i + 7,
					 .n = n, .upgrade = !(i & 1),
					 .order = (i & 2) ? 's' : 'c' };
		if (pthread_create(&th[i], NULL, tun_job_thread, &j[i]))
			j[i].port = 0;
	}
	for (int i = 0; i < ntun; i++) {
		if (!j[i].port)
			continue;
		pthread_join(th[i], NULL);
		if (j[i].ok)
			ok++;
		else
			fprintf(stderr, "  tunnel %d (%s, %c first): %s\n", i,
				j[i].upgrade ? "upgrade" : "non-HTTP", j[i].order,
				j[i].why);
	}
	free(j);
	free(th);
	pthread_mutex_lock(&f->t.mu);
	while (f->t.nconns)
		pthread_cond_wait(&f->t.cv, &f->t.mu);
	pthread_mutex_unlock(&f->t.mu);
	(void)failed;
	return ok == ntun && f->t.ok == ntun && !f->t.bad ? 0 : -1;
}

/* The BPF object of the sockmap tunnels, as splitd gets it from its
 * skeleton. */
static struct l7_proxy_opts *sm_opts(int no_sockmap, int no_splice)
{
	static char *obj;
	static size_t len;
	static struct l7_proxy_opts o[4];
	struct l7_proxy_opts *r = &o[(no_sockmap ? 1 : 0) + (no_splice ? 2 : 0)];

	if (!obj) {
		FILE *fp = fopen("build/split_l7_sockmap.bpf.o", "rb");

		if (fp) {
			obj = malloc(1 << 20);
			if (obj)
				len = fread(obj, 1, 1 << 20, fp);
			fclose(fp);
		}
	}
	memset(r, 0, sizeof(*r));
	r->sockmap_obj = obj;
	r->sockmap_obj_len = len;
	r->no_sockmap = no_sockmap;
	r->no_splice = no_splice;
	return r;
}

#define TUN_N		(3u * 1024 * 1024)
#define TUN_COUNT	12

#define TFX_TEST(name, opts)                                               \
	static void tbody_##name(struct tfx *f, int *failed);              \
	TEST(name)                                                         \
	{                                                                  \
		struct tfx *f = calloc(1, sizeof(*f));                     \
		if (!f)                                                    \
			TEST_FAIL_("no memory");                           \
		if (tfx_start(f, opts)) {                                  \
			free(f);                                           \
			TEST_FAIL_("fixture: %s", strerror(errno));        \
		}                                                          \
		tbody_##name(f, failed);                                   \
		tfx_stop(f);                                               \
		free(f);                                                   \
	}                                                                  \
	static void tbody_##name(struct tfx *f, int *failed)

/* sockmap on: upgrade and non-HTTP tunnels, 3 MiB of random bytes each
 * way, both half-close orders, 12 at once; the kernel moved the bytes.
 * If the probe refused sockmap (on 6.18 it does: the psock backlog loses
 * bytes under backpressure), the tunnels still work, with splice, and the
 * sockmap part says SKIP. */
TFX_TEST(l7_sockmap_tunnels, sm_opts(0, 0))
{
	struct l7_proxy_stats ps;
	const char *why;
	uint64_t t0 = tu_mono_ms();

	if (fx_uring(f->p)) {
		ASSERT_EQ(run_tunnels(f, TUN_COUNT, TUN_N, failed), 0);
		tunnels_on_ring(f->p, failed);
		return;
	}
	if (!l7_proxy_sockmap(f->p, &why)) {
		ASSERT_TRUE(strstr(why, "probe") || strstr(why, "load") ||
			    strstr(why, "attach") || strstr(why, "BPF"));
		ASSERT_EQ(run_tunnels(f, TUN_COUNT, TUN_N, failed), 0);
		l7_proxy_stats(f->p, &ps);
		ASSERT_EQ(ps.sockmap_tunnels, 0);
		ASSERT_GT(ps.spliced_bytes, 0);
		printf("  SKIP: l7_sockmap_tunnels (sockmap part): sockmap unusable "
		       "here: %s; the same tunnels passed with splice\n", why);
		return;
	}
	ASSERT_EQ(run_tunnels(f, TUN_COUNT, TUN_N, failed), 0);
	printf("  sockmap: %d tunnels x %u MiB each way in %llu ms\n", TUN_COUNT,
	       TUN_N >> 20, (unsigned long long)(tu_mono_ms() - t0));
	l7_proxy_stats(f->p, &ps);
	ASSERT_EQ(ps.tunnels, TUN_COUNT);
	ASSERT_EQ(ps.sockmap_tunnels, TUN_COUNT);
	/* all but the bytes around the start went through the kernel */
	ASSERT_GT(ps.sockmap_bytes, (uint64_t)TUN_COUNT * 2 * TUN_N * 9 / 10);
	ASSERT_LE(ps.sockmap_bytes, (uint64_t)TUN_COUNT * 2 * TUN_N);
	ASSERT_EQ(ps.spliced_bytes, 0);
	/* and again on the same proxy: map entries were released */
	ASSERT_EQ(run_tunnels(f, 4, 1 << 20, failed), 0);
	l7_proxy_stats(f->p, &ps);
	ASSERT_EQ(ps.sockmap_tunnels, TUN_COUNT + 4);
}

/* The switch: the same with sockmap off (splice), object given. */
TFX_TEST(l7_sockmap_off_splice, sm_opts(1, 0))
{
	struct l7_proxy_stats ps;
	const char *why;

	if (fx_uring(f->p)) {
		ASSERT_EQ(run_tunnels(f, TUN_COUNT, TUN_N, failed), 0);
		tunnels_on_ring(f->p, failed);
		return;
	}
	ASSERT_EQ(l7_proxy_sockmap(f->p, &why), 0);
	ASSERT_STREQ(why, "off");
	ASSERT_EQ(run_tunnels(f, TUN_COUNT, TUN_N, failed), 0);
	l7_proxy_stats(f->p, &ps);
	ASSERT_EQ(ps.tunnels, TUN_COUNT);
	ASSERT_EQ(ps.sockmap_tunnels, 0);
	ASSERT_EQ(ps.sockmap_bytes, 0);
	ASSERT_GT(ps.spliced_bytes, (uint64_t)TUN_COUNT * 2 * TUN_N * 9 / 10);
}

/* And with read/write only. */
TFX_TEST(l7_sockmap_off_rw, sm_opts(1, 1))
{
	struct l7_proxy_stats ps;

	ASSERT_EQ(run_tunnels(f, 4, TUN_N, failed), 0);
	l7_proxy_stats(f->p, &ps);
	ASSERT_EQ(ps.sockmap_tunnels, 0);
	ASSERT_EQ(ps.spliced_bytes, 0);
}
