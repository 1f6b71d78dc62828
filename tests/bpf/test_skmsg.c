// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * test_skmsg.c - the client-to-proxy hop in the kernel (--l7-skmsg):
 * bpf/split_skmsg.bpf.c loaded into the kernel, on real sockets (root).
 *
 * The test process moves into a private network namespace (unshare, lo
 * up) and into a child cgroup made for this run (it moves back and removes
 * it at exit); split_skmsg's sockops program is attached to that cgroup,
 * its sk_msg program to its sockhash, and every map is private. A listener
 * whose address is in skmsg_listen plays the proxy's; connections
 * to it, made and accepted by this process, are what sockops must put in
 * the map and the sk_msg program must short-cut.
 *
 *   probe                l7_skmsg_open()'s probe: PASS if sound, SKIP
 *                        (with its reason) if this kernel is not
 *   both_ends_in_the_map the client's and the accepted socket's 4-tuples
 *                        are in the sockhash (their cookies), and leave
 *                        it when they close
 *   redirect_both_ways   4 MiB bodies and 200 pipelined requests each way:
 *                        every byte in order, the program's counters say
 *                        redirected, TCP's say it saw none of them
 *   other_ports_untouched a listener not in skmsg_listen: nothing in the
 *                        map, the bytes go through TCP
 *   v6                   the same over ::1
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/tcp.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "l7skmsg.h"
#include "node.h"
#include "split_common.h"
#include "split_skmsg.skel.h"
#include "../lib/tutil.h"
#include "test.h"
#include "util.h"

static char g_cg[PATH_MAX + 64];	/* this run's cgroup while it exists */
static char g_home[PATH_MAX];		/* the cgroup we came from */

static void cg_leave(void)
{
	char p[PATH_MAX + 32];
	FILE *f;

	if (!g_cg[0])
		return;
	snprintf(p, sizeof(p), "%s/cgroup.procs", g_home);
	f = fopen(p, "we");
	if (f) {
		fprintf(f, "%d\n", (int)getpid());
		fclose(f);
	}
	if (rmdir(g_cg) && errno != ENOENT)
		fprintf(stderr, "  cannot remove cgroup %s: %s\n", g_cg, strerror(errno));
	g_cg[0] = 0;
}

struct env {
	struct l7_skmsg *m;
	struct l7_skmsg_probe pr;
	int socks;
	char why[900];
};

static void env_close(struct env *e)
{
	l7_skmsg_close(e->m);
	e->m = NULL;
	cg_leave();
}

/* Set once a probe of this process passed: later env_open()s load with
 * L7_SKMSG_NO_PROBE (the probe moves ~60 MiB, seconds under ASan, and the
 * kernel does not change between tests); TEST(probe) always runs it. */
static int g_probed_sound;

/* 0 ready; 1 the probe says unsound (e->why); -1 setup failed (e->why).
 * probe: run the startup probe even if an earlier one passed. */
static int env_open(struct env *e, int probe)
{
	static unsigned seq;
	char root[PATH_MAX], p[PATH_MAX + 96];
	struct split_err err;
	const void *obj;
	size_t len;
	uint64_t id;
	unsigned flags;
	FILE *f;
	int cg;

	memset(e, 0, sizeof(*e));
	libbpf_set_print(tu_libbpf_print);
	if (tu_private_netns(e->why, sizeof(e->why)))
		return -1;
	if (split_cgroup2_root(root, sizeof(root)) ||
	    split_self_cgroup_id("/proc", &id, g_home, sizeof(g_home))) {
		snprintf(e->why, sizeof(e->why), "no cgroup2 mount, or our cgroup not found");
		return -1;
	}
	if (!g_cg[0])
		test_at_exit(cg_leave);
	snprintf(g_cg, sizeof(g_cg), "%s/split-bpftest-skmsg-%d-%u", root, (int)getpid(), seq++);
	if (mkdir(g_cg, 0755)) {
		snprintf(e->why, sizeof(e->why), "mkdir %.150s: %s", g_cg, strerror(errno));
		g_cg[0] = 0;
		return -1;
	}
	snprintf(p, sizeof(p), "%s/cgroup.procs", g_cg);
	f = fopen(p, "we");
	if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f)) {
		snprintf(e->why, sizeof(e->why), "joining %.150s: %s", g_cg, strerror(errno));
		return -1;
	}
	obj = split_skmsg__elf_bytes(&len);
	flags = probe || !g_probed_sound ? 0 : L7_SKMSG_NO_PROBE;
	e->m = l7_skmsg_open(obj, len, flags, &e->pr, &err);
	if (!e->m) {
		snprintf(e->why, sizeof(e->why), "%s", err.msg);
		if (e->pr.why[0])
			return 1;	/* loaded, but the probe failed */
		return -1;
	}
	if (!flags)
		g_probed_sound = e->pr.sound;
	cg = open(g_cg, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg < 0 || l7_skmsg_attach(e->m, cg, &err)) {
		snprintf(e->why, sizeof(e->why), "%s", cg < 0 ? strerror(errno) : err.msg);
		if (cg >= 0)
			close(cg);
		return -1;
	}
	close(cg);
	e->socks = l7_skmsg_socks_fd(e->m);
	return 0;
}

#define ENV_OPEN_(e, probe)                                               \
	do {                                                              \
		int r_;                                                   \
		if (geteuid())                                            \
			TEST_SKIP("needs root (BPF, netns, cgroup)");     \
		r_ = env_open(e, probe);                                  \
		if (r_ == 1) {                                            \
			env_close(e);                                     \
			TEST_SKIP("the probe finds sk_msg unsound here: %s", (e)->why); \
		}                                                         \
		if (r_) {                                                 \
			env_close(e);                                     \
			TEST_FAIL_("setup: %s", (e)->why);                \
		}                                                         \
	} while (0)
#define ENV_OPEN(e) ENV_OPEN_(e, 0)

static socklen_t lo_addr(int v6, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (v6) {
		struct sockaddr_in6 *a = (void *)ss;

		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		a->sin6_port = htons(port);
		return sizeof(*a);
	} else {
		struct sockaddr_in *a = (void *)ss;

		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		a->sin_port = htons(port);
		return sizeof(*a);
	}
}

/* A listener on loopback; published in l7_listen_sk if asked. */
static int listener(struct env *e, int v6, int publish, uint16_t *port)
{
	struct sockaddr_storage ss;
	socklen_t len = lo_addr(v6, 0, &ss);
	int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 64) ||
	    getsockname(fd, (struct sockaddr *)&ss, &len) ||
	    (publish && l7_skmsg_listen_add_fd(e->m, fd))) {
		close(fd);
		return -1;
	}
	*port = ntohs(v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port :
			   ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

static int connect_pair(int v6, int lfd, uint16_t port, int *c, int *s)
{
	struct sockaddr_storage ss;
	socklen_t len = lo_addr(v6, port, &ss);

	*s = -1;
	*c = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*c < 0 || connect(*c, (struct sockaddr *)&ss, len))
		return -1;
	*s = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	return *s < 0 ? -1 : 0;
}

static int key_of(int fd, struct split_skmsg_key *k)
{
	struct sockaddr_storage l, r;
	socklen_t ll = sizeof(l), rl = sizeof(r);

	memset(k, 0, sizeof(*k));
	if (getsockname(fd, (struct sockaddr *)&l, &ll) ||
	    getpeername(fd, (struct sockaddr *)&r, &rl))
		return -1;
	if (l.ss_family == AF_INET) {
		k->family = 4;
		k->local[0] = ((struct sockaddr_in *)&l)->sin_addr.s_addr;
		k->remote[0] = ((struct sockaddr_in *)&r)->sin_addr.s_addr;
		k->lport = ((struct sockaddr_in *)&l)->sin_port;
		k->rport = ((struct sockaddr_in *)&r)->sin_port;
	} else {
		k->family = 6;
		memcpy(k->local, &((struct sockaddr_in6 *)&l)->sin6_addr, 16);
		memcpy(k->remote, &((struct sockaddr_in6 *)&r)->sin6_addr, 16);
		k->lport = ((struct sockaddr_in6 *)&l)->sin6_port;
		k->rport = ((struct sockaddr_in6 *)&r)->sin6_port;
	}
	return 0;
}

/* The cookie of fd's entry in the sockhash (by its 4-tuple), or 0. */
static uint64_t in_map(struct env *e, const struct split_skmsg_key *k)
{
	__u64 v = 0;

	if (bpf_map_lookup_elem(e->socks, k, &v))
		return 0;
	return v;
}

static uint64_t cookie(int fd)
{
	uint64_t c = 0;
	socklen_t l = sizeof(c);

	getsockopt(fd, SOL_SOCKET, SO_COOKIE, &c, &l);
	return c;
}

static uint64_t tcp_rx(int fd)
{
	struct tcp_info ti;
	socklen_t l = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l);
	return ti.tcpi_bytes_received;
}

static unsigned char pat(unsigned s, uint64_t i)
{
	return (unsigned char)((i * 2654435761u) >> 13 ^ s * 97 ^ i >> 9);
}

/* Write a[0..n) from fd x and b[0..m) from fd y at once, both read back
 * (poll, non-blocking) and compared. -1 with *what set on a mismatch. */
static int exchange(int x, int y, const unsigned char *a, size_t n,
		    const unsigned char *b, size_t m, const char **what)
{
	unsigned char *ra = malloc(n ? n : 1), *rb = malloc(m ? m : 1);
	size_t wa = 0, wb = 0, ga = 0, gb = 0;
	int r = -1;

	*what = "io";
	if (!ra || !rb)
		goto out;
	fcntl(x, F_SETFL, O_NONBLOCK);
	fcntl(y, F_SETFL, O_NONBLOCK);
	while (ga < n || gb < m) {
		struct pollfd pf[2] = { { .fd = x, .events = POLLIN }, { .fd = y, .events = POLLIN } };
		ssize_t k;

		if (wa < n)
			pf[0].events |= POLLOUT;
		if (wb < m)
			pf[1].events |= POLLOUT;
		if (poll(pf, 2, 2000) <= 0) {
			*what = "stalled (no poll event for 2 s)";
			goto out;
		}
		if (wa < n && (pf[0].revents & POLLOUT)) {
			k = send(x, a + wa, n - wa > 300000 ? 300000 : n - wa, MSG_NOSIGNAL);
			if (k > 0)
				wa += (size_t)k;
		}
		if (wb < m && (pf[1].revents & POLLOUT)) {
			k = send(y, b + wb, m - wb > 300000 ? 300000 : m - wb, MSG_NOSIGNAL);
			if (k > 0)
				wb += (size_t)k;
		}
		if (pf[1].revents & POLLIN) {	/* y reads what x wrote */
			k = recv(y, ra + ga, n - ga > 5000 ? 5000 : n - ga, 0);
			if (k == 0 && ga < n) {
				*what = "EOF before the end";
				goto out;
			}
			if (k > 0)
				ga += (size_t)k;
		}
		if (pf[0].revents & POLLIN) {
			k = recv(x, rb + gb, m - gb > 5000 ? 5000 : m - gb, 0);
			if (k == 0 && gb < m) {
				*what = "EOF before the end";
				goto out;
			}
			if (k > 0)
				gb += (size_t)k;
		}
	}
	*what = "bytes differ";
	if (memcmp(ra, a, n) || memcmp(rb, b, m))
		goto out;
	r = 0;
out:
	free(ra);
	free(rb);
	return r;
}

TEST(probe)
{
	struct env e;

	ENV_OPEN_(&e, 1);
	fprintf(stderr, "  probe: %s\n", e.why);
	ASSERT_TRUE(e.pr.sound);
	ASSERT_GE(e.pr.redirected, 2ull << 20);
	ASSERT_LT(e.pr.tcp_bytes, 4096);
	env_close(&e);
}

static void both_ends(int v6, int *failed)
{
	struct split_skmsg_key kc, ks;
	struct split_skmsg_stats a, z;
	struct env e;
	uint16_t port;
	int lfd, c = -1, s = -1;

	ENV_OPEN(&e);
	lfd = listener(&e, v6, 1, &port);
	ASSERT_GE(lfd, 0);
	ASSERT_EQ(l7_skmsg_stats(e.m, &a), 0);
	ASSERT_EQ(connect_pair(v6, lfd, port, &c, &s), 0);
	ASSERT_EQ(key_of(c, &kc), 0);
	ASSERT_EQ(key_of(s, &ks), 0);
	/* the passive end's callback may run a moment after accept() returns
	 * (the last ACK): not here, it runs before the socket is queued */
	ASSERT_EQ(in_map(&e, &kc), cookie(c));
	ASSERT_EQ(in_map(&e, &ks), cookie(s));
	ASSERT_EQ(l7_skmsg_stats(e.m, &z), 0);
	ASSERT_EQ(z.inserted_client - a.inserted_client, 1);
	ASSERT_EQ(z.inserted_proxy - a.inserted_proxy, 1);
	close(c);
	close(s);
	ASSERT_EQ(in_map(&e, &kc), 0);
	ASSERT_EQ(in_map(&e, &ks), 0);
	close(lfd);
	env_close(&e);
}

TEST(both_ends_in_the_map)
{
	both_ends(0, failed);
}

static void redirect_both(int v6, int *failed)
{
	const size_t big = 4u << 20;
	struct split_skmsg_stats a, z;
	unsigned char *q = malloc(big), *r = malloc(big);
	char *pq = malloc(64 * 1024), *pr = malloc(64 * 1024);
	size_t nq = 0, nr = 0;
	const char *what = "";
	struct env e;
	uint16_t port;
	int lfd, c = -1, s = -1;

	ENV_OPEN(&e);
	ASSERT_TRUE(q && r && pq && pr);
	for (size_t i = 0; i < big; i++) {
		q[i] = pat(1, i);
		r[i] = pat(2, i);
	}
	/* 200 pipelined requests, 200 responses, written in one go */
	for (int i = 0; i < 200; i++) {
		nq += (size_t)snprintf(pq + nq, 64 * 1024 - nq,
				       "GET /r/%d HTTP/1.1\r\nHost: x\r\nCookie: user=test-user\r\n\r\n", i);
		nr += (size_t)snprintf(pr + nr, 64 * 1024 - nr,
				       "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nr%04d\n", i);
	}
	lfd = listener(&e, v6, 1, &port);
	ASSERT_GE(lfd, 0);
	ASSERT_EQ(connect_pair(v6, lfd, port, &c, &s), 0);
	ASSERT_EQ(l7_skmsg_stats(e.m, &a), 0);
	if (exchange(c, s, (unsigned char *)pq, nq, (unsigned char *)pr, nr, &what) ||
	    exchange(c, s, q, big, r, big, &what)) {
		close(c);
		close(s);
		close(lfd);
		env_close(&e);
		TEST_FAIL_("IPv%d exchange: %s", v6 ? 6 : 4, what);
	}
	ASSERT_EQ(l7_skmsg_stats(e.m, &z), 0);
	ASSERT_EQ(z.redirected_bytes - a.redirected_bytes, 2 * (big) + nq + nr);
	ASSERT_EQ(z.passed_bytes - a.passed_bytes, 0);
	ASSERT_LT(tcp_rx(c), 1024);	/* TCP carried none of it */
	ASSERT_LT(tcp_rx(s), 1024);
	/* half-close: EOF after the last byte, both ways */
	ASSERT_EQ(shutdown(c, SHUT_WR), 0);
	{
		char b[16];
		struct pollfd pf = { .fd = s, .events = POLLIN };

		ASSERT_EQ(poll(&pf, 1, 2000), 1);
		ASSERT_EQ(recv(s, b, sizeof(b), 0), 0);
		ASSERT_EQ(send(s, "bye", 3, MSG_NOSIGNAL), 3);
		ASSERT_EQ(shutdown(s, SHUT_WR), 0);
		pf.fd = c;
		ASSERT_EQ(poll(&pf, 1, 2000), 1);
		ASSERT_EQ(recv(c, b, sizeof(b), MSG_WAITALL), 3);
		ASSERT_EQ(memcmp(b, "bye", 3), 0);
		ASSERT_EQ(recv(c, b, sizeof(b), 0), 0);
	}
	close(c);
	close(s);
	close(lfd);
	free(q);
	free(r);
	free(pq);
	free(pr);
	env_close(&e);
}

TEST(redirect_both_ways)
{
	redirect_both(0, failed);
}

TEST(other_ports_untouched)
{
	struct split_skmsg_stats a, z;
	struct split_skmsg_key kc, ks;
	unsigned char q[100000], r[100];
	const char *what = "";
	struct env e;
	uint16_t port;
	int lfd, c = -1, s = -1;

	ENV_OPEN(&e);
	memset(q, 'q', sizeof(q));
	memset(r, 'r', sizeof(r));
	lfd = listener(&e, 0, 0, &port);	/* not published */
	ASSERT_GE(lfd, 0);
	ASSERT_EQ(l7_skmsg_stats(e.m, &a), 0);
	ASSERT_EQ(connect_pair(0, lfd, port, &c, &s), 0);
	ASSERT_EQ(key_of(c, &kc), 0);
	ASSERT_EQ(key_of(s, &ks), 0);
	ASSERT_EQ(in_map(&e, &kc), 0);
	ASSERT_EQ(in_map(&e, &ks), 0);
	ASSERT_EQ(exchange(c, s, q, sizeof(q), r, sizeof(r), &what), 0);
	ASSERT_EQ(l7_skmsg_stats(e.m, &z), 0);
	ASSERT_EQ(z.inserted_client + z.inserted_proxy,
		  a.inserted_client + a.inserted_proxy);
	ASSERT_EQ(z.redirected_bytes, a.redirected_bytes);
	ASSERT_EQ(tcp_rx(s), sizeof(q));	/* TCP carried it */
	close(c);
	close(s);
	close(lfd);
	env_close(&e);
}

TEST(v6)
{
	both_ends(1, failed);
	if (*failed)
		return;
	redirect_both(1, failed);
}
