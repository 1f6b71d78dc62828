// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * test_sock_l7.c - the connect hooks' redirect to splitd's L7 proxy and its
 * liveness check, on real connect()s (root).
 *
 * connect4/6 send a TCP connection for an L7 service to the listener that
 * l7_listen names only while a socket listening there is in l7_listen_sk
 * (and the heartbeat is fresh); otherwise the service splits at L4. The
 * point: a proxy that dies (SIGKILL) leaves l7_listen behind, with a fresh
 * heartbeat, but its sockets leave the sockhash as they close, so the very
 * next connect() goes to a backend instead of being refused.
 *
 * The test process moves into a private network namespace (unshare) with
 * lo up; split_sock is loaded with its maps unpinned and connect4/6
 * attached to a child cgroup made for this run (removed at exit). Each
 * connect() runs in a forked child that joins that cgroup. The getpeername
 * hooks are not attached, so getpeername() in the child shows where
 * connect() really went. The "backend" and the "proxy" listen on 127.0.0.1
 * and ::1, on different ports; the VIPs (10.96.0.10, fd00:96::10) exist
 * only in the hook.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "l7listen.h"
#include "split_common.h"
#include "split_sock.skel.h"
#include "../lib/tutil.h"
#include "test.h"
#include "util.h"

#define VIP4	"10.96.0.10"
#define VIP6	"fd00:96::10"
#define VPORT	80
#define SVC_ID	1
#define BE4_ID	1
#define BE6_ID	2

struct env {
	struct split_sock *s;
	struct bpf_link *link4, *link6;
	int svc, tables, slots, backends, listen, listen_sk;
	int be[2];		/* backend listeners: [0] 127.0.0.1, [1] ::1 */
	uint16_t be_port;	/* both on this port */
};

static char g_cg[PATH_MAX + 64];	/* this run's cgroup while it exists */

static void cg_remove(void)
{
	if (g_cg[0] && rmdir(g_cg) && errno != ENOENT)
		fprintf(stderr, "  cannot remove cgroup %s: %s\n", g_cg, strerror(errno));
	g_cg[0] = 0;
}

static __u64 mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
}

static void addr_of(int v6, const char *s, struct split_addr *a)
{
	memset(a, 0, sizeof(*a));
	a->family = v6 ? 6 : 4;
	if (inet_pton(v6 ? AF_INET6 : AF_INET, s, a->bytes) != 1)
		abort();
}

static socklen_t sa_of(int v6, const char *s, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (v6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		inet_pton(AF_INET6, s, &in6->sin6_addr);
		return sizeof(*in6);
	}
	{
		struct sockaddr_in *in = (struct sockaddr_in *)ss;

		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		inet_pton(AF_INET, s, &in->sin_addr);
		return sizeof(*in);
	}
}

/* A listening socket on the loopback address of the family, port 0: any.
 * Returns the fd; *port gets the bound port. */
static int listen_on(int v6, uint16_t want, uint16_t *port)
{
	struct sockaddr_storage ss;
	socklen_t len = sa_of(v6, v6 ? "::1" : "127.0.0.1", want, &ss);
	int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 64) ||
	    getsockname(fd, (struct sockaddr *)&ss, &len)) {
		close(fd);
		return -1;
	}
	*port = ntohs(v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port :
			   ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

/* Close whatever connections wait in a listener's queue. */
static void drain(int lfd)
{
	int c;

	while ((c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
		close(c);
}

static void svc_key(int v6, struct split_svc_key *k)
{
	struct split_addr a;

	addr_of(v6, v6 ? VIP6 : VIP4, &a);
	memset(k, 0, sizeof(*k));
	memcpy(k->addr, a.bytes, 16);
	k->port = htons(VPORT);
	k->proto = IPPROTO_TCP;
	k->family = a.family;
}

/* l7_listen: VIP of the family -> the proxy at loopback:port, heartbeat hb. */
static int set_l7(struct env *e, int v6, uint16_t port, __u64 hb)
{
	struct split_l7_listen_val v = { 0 };
	struct split_svc_key k;
	struct split_addr a;

	svc_key(v6, &k);
	addr_of(v6, v6 ? "::1" : "127.0.0.1", &a);
	memcpy(v.addr, a.bytes, 16);
	v.port = htons(port);
	v.family = a.family;
	v.svc_id = SVC_ID;
	v.heartbeat_ns = hb;
	return bpf_map_update_elem(e->listen, &k, &v, BPF_ANY);
}

static void env_close(struct env *e)
{
	bpf_link__destroy(e->link4);
	bpf_link__destroy(e->link6);
	e->link4 = e->link6 = NULL;
	for (int i = 0; i < 2; i++)
		if (e->be[i] >= 0)
			close(e->be[i]);
	e->be[0] = e->be[1] = -1;
	split_sock__destroy(e->s);
	e->s = NULL;
	cg_remove();
}

static int env_open(struct env *e, char *why, size_t n)
{
	static unsigned seq;
	char root[PATH_MAX];
	struct bpf_map *m;
	int cg = -1;

	memset(e, 0, sizeof(*e));
	e->be[0] = e->be[1] = -1;
	libbpf_set_print(tu_libbpf_print);
	if (tu_private_netns(why, n))
		return -1;
	if (split_cgroup2_root(root, sizeof(root))) {
		snprintf(why, n, "no cgroup2 mount");
		return -1;
	}
	if (!g_cg[0])
		test_at_exit(cg_remove);
	snprintf(g_cg, sizeof(g_cg), "%s/split-bpftest-l7-%d-%u", root, (int)getpid(), seq++);
	if (mkdir(g_cg, 0755)) {
		snprintf(why, n, "mkdir %.150s: %s", g_cg, strerror(errno));
		g_cg[0] = 0;
		return -1;
	}
	e->s = split_sock__open();
	if (!e->s) {
		snprintf(why, n, "open split_sock: %s", strerror(errno));
		return -1;
	}
	bpf_object__for_each_map(m, e->s->obj)
		bpf_map__set_pin_path(m, NULL);
	if (split_sock__load(e->s)) {
		snprintf(why, n, "load split_sock: %s", strerror(errno));
		return -1;
	}
	cg = open(g_cg, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	e->link4 = cg < 0 ? NULL : bpf_program__attach_cgroup(e->s->progs.split_connect4, cg);
	e->link6 = cg < 0 ? NULL : bpf_program__attach_cgroup(e->s->progs.split_connect6, cg);
	if (cg >= 0)
		close(cg);
	if (!e->link4 || !e->link6) {
		snprintf(why, n, "attach connect4/6 to %.150s: %s", g_cg, strerror(errno));
		return -1;
	}
	e->svc = bpf_map__fd(e->s->maps.svc);
	e->tables = bpf_map__fd(e->s->maps.tables_v3);
	e->slots = bpf_map__fd(e->s->maps.slots_v3);
	e->backends = bpf_map__fd(e->s->maps.backends);
	e->listen = bpf_map__fd(e->s->maps.l7_listen);
	e->listen_sk = bpf_map__fd(e->s->maps.l7_listen_sk);
	/* Backends: 127.0.0.1 and ::1, one port. */
	e->be[0] = listen_on(0, 0, &e->be_port);
	if (e->be[0] >= 0) {
		uint16_t p6;

		e->be[1] = listen_on(1, e->be_port, &p6);
	}
	if (e->be[0] < 0 || e->be[1] < 0) {
		snprintf(why, n, "backend listeners: %s", strerror(errno));
		return -1;
	}
	for (int v6 = 0; v6 < 2; v6++) {
		struct split_backend_val b = { 0 };
		struct split_svc_val sv = { 0 };
		struct split_svc_key k;
		struct split_addr a;
		__u32 id = v6 ? BE6_ID : BE4_ID, tid = SPLIT_TABLE_ID(SVC_ID, v6), cell = (__u32)v6;
		/* A small table of one slot (one endpoint): cell v6 of slots_v3. */
		struct split_table_val t = { .kind = SPLIT_TBL_SMALL, .nslots = 1, .offset = 2 * cell };
		struct split_slot_pair pr = { { id, 0 } };

		addr_of(v6, v6 ? "::1" : "127.0.0.1", &a);
		memcpy(b.addr, a.bytes, 16);
		b.family = a.family;
		b.svc_id = SVC_ID;
		b.version_id = 1;
		svc_key(v6, &k);
		sv.svc_id = SVC_ID;
		sv.table_id = tid;
		sv.target_port = htons(e->be_port);
		sv.flags = SPLIT_SVC_F_L7;
		if (bpf_map_update_elem(e->backends, &id, &b, BPF_ANY) ||
		    bpf_map_update_elem(e->slots, &cell, &pr, BPF_ANY) ||
		    bpf_map_update_elem(e->tables, &tid, &t, BPF_ANY) ||
		    bpf_map_update_elem(e->svc, &k, &sv, BPF_ANY)) {
			snprintf(why, n, "fill maps: %s", strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* In a child in the cgroup: connect() a TCP socket of the family to the
 * VIP (mapped: an IPv6 socket to ::ffff:VIP4). Returns the port it reached
 * (getpeername: no hook rewrites it back), or -errno. */
static int child_connect(int v6, int mapped)
{
	struct sockaddr_storage ss, peer;
	socklen_t len, plen = sizeof(peer);
	struct timeval tv = { .tv_sec = 3 };
	struct linger lg = { 1, 0 };
	char path[PATH_MAX + 128];
	int fd, cg, r;

	snprintf(path, sizeof(path), "%s/cgroup.procs", g_cg);
	cg = open(path, O_WRONLY | O_CLOEXEC);
	if (cg < 0 || write(cg, "0", 1) != 1)
		return -EPERM;
	close(cg);
	if (mapped)
		len = sa_of(1, "::ffff:" VIP4, VPORT, &ss);
	else
		len = sa_of(v6, v6 ? VIP6 : VIP4, VPORT, &ss);
	fd = socket(v6 || mapped ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&ss, len))
		r = -errno;
	else if (getpeername(fd, (struct sockaddr *)&peer, &plen))
		r = -errno;
	else
		r = ntohs(peer.ss_family == AF_INET6 ?
			  ((struct sockaddr_in6 *)&peer)->sin6_port :
			  ((struct sockaddr_in *)&peer)->sin_port);
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	return r;
}

/* Where a connect() to the VIP goes: the port reached, or -errno. */
static int where_mapped(struct env *e, int v6, int mapped)
{
	int p[2], r = -EIO, st;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC))
		return -errno;
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -errno;
	}
	if (!pid) {
		int v = child_connect(v6, mapped);

		close(p[0]);
		if (write(p[1], &v, sizeof(v)) != sizeof(v))
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	if (read(p[0], &r, sizeof(r)) != sizeof(r))
		r = -EIO;
	close(p[0]);
	waitpid(pid, &st, 0);
	drain(e->be[0]);
	drain(e->be[1]);
	return r;
}

static int where(struct env *e, int v6)
{
	return where_mapped(e, v6, 0);
}

#define ENV_OPEN(e)                                                       \
	do {                                                              \
		char why_[256] = "";                                      \
		if (geteuid())                                            \
			TEST_SKIP("needs root (BPF, netns, cgroup)");     \
		if (env_open(e, why_, sizeof(why_))) {                    \
			env_close(e);                                     \
			TEST_FAIL_("setup: %s", why_);                    \
		}                                                         \
	} while (0)

/* A listener named by l7_listen gets connections only once it is in
 * l7_listen_sk; when it closes, it leaves the map and connect() goes to
 * a backend at once, for both families and for a v4-mapped VIP. */
TEST(redirect_only_to_a_listener_in_the_sockhash)
{
	struct env e;
	struct split_addr lo;
	const char *what = "";
	uint16_t pp = 0;
	int lfd = -1, got = 0, v6;

	ENV_OPEN(&e);
	for (v6 = 0; v6 < 2; v6++) {
		addr_of(v6, v6 ? "::1" : "127.0.0.1", &lo);
		what = "setup";
		got = 0;
		lfd = listen_on(v6, 0, &pp);
		if (lfd < 0 || set_l7(&e, v6, pp, mono_ns()))
			goto fail;
		/* Listening, named, fresh heartbeat, but not in the map. */
		what = "listener not in l7_listen_sk: want the backend";
		got = where(&e, v6);
		if (got != e.be_port || l7_listener_present(e.listen_sk, &lo, pp) != 0)
			goto fail;
		what = "l7_listener_publish";
		if (l7_listener_publish(e.listen_sk, lfd) ||
		    l7_listener_present(e.listen_sk, &lo, pp) != 1)
			goto fail;
		what = "listener in l7_listen_sk: want the proxy";
		got = where(&e, v6);
		drain(lfd);
		if (got != pp)
			goto fail;
		if (!v6) {
			what = "IPv6 socket to ::ffff:VIP4: want the proxy";
			got = where_mapped(&e, 1, 1);
			drain(lfd);
			if (got != pp)
				goto fail;
		}
		/* The proxy closes its listener: it leaves the map by itself. */
		close(lfd);
		lfd = -1;
		what = "closed listener still in l7_listen_sk";
		if (l7_listener_present(e.listen_sk, &lo, pp) != 0)
			goto fail;
		what = "listener closed: want the backend";
		got = where(&e, v6);
		if (got != e.be_port)
			goto fail;
	}
	env_close(&e);
	return;
fail:
	{
		int be = e.be_port;

		if (lfd >= 0)
			close(lfd);
		env_close(&e);
		TEST_FAIL_("IPv%d, %s: connect() reached %d%s%s (backend %d, proxy %u)",
			   v6 ? 6 : 4, what, got, got < 0 ? " " : "",
			   got < 0 ? strerror(-got) : "", be, pp);
	}
}

/* A proxy process SIGKILLed with its l7_listen entry fresh: the next
 * connect() reaches a backend (not refused), with no heartbeat to wait
 * for. A new listener on the same port, published again, takes over. */
TEST(killed_proxy_falls_back_at_once_and_restart_takes_over)
{
	struct env e;
	struct split_addr lo;
	uint16_t pp = 0;
	int p[2], got = 0, lfd = -1, st;
	const char *what = "";
	pid_t pid;

	ENV_OPEN(&e);
	addr_of(0, "127.0.0.1", &lo);
	if (pipe2(p, O_CLOEXEC)) {
		env_close(&e);
		TEST_FAIL_("pipe: %s", strerror(errno));
	}
	pid = fork();
	if (!pid) {	/* the "proxy": listen, publish, wait to be killed */
		uint16_t port = 0;
		int fd = listen_on(0, 0, &port);

		close(p[0]);
		if (fd < 0 || l7_listener_publish(e.listen_sk, fd))
			port = 0;
		if (write(p[1], &port, sizeof(port)) != sizeof(port))
			_exit(1);
		for (;;)
			pause();
	}
	close(p[1]);
	if (pid < 0 || read(p[0], &pp, sizeof(pp)) != sizeof(pp) || !pp) {
		close(p[0]);
		if (pid > 0) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
		}
		env_close(&e);
		TEST_FAIL_("the proxy child did not start");
	}
	close(p[0]);
	what = "set l7_listen";
	if (set_l7(&e, 0, pp, mono_ns()))
		goto fail;
	what = "while the proxy lives";
	got = where(&e, 0);	/* the handshake completes in its backlog */
	if (got != pp)
		goto fail;
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	pid = 0;
	what = "socket still in l7_listen_sk after SIGKILL";
	if (l7_listener_present(e.listen_sk, &lo, pp) != 0)
		goto fail;
	/* The heartbeat is still fresh: only the sockhash can tell. */
	what = "right after SIGKILL";
	if (set_l7(&e, 0, pp, mono_ns()))
		goto fail;
	got = where(&e, 0);
	if (got != e.be_port)
		goto fail;
	/* Restart: the same port again, published. */
	what = "after the restart";
	lfd = listen_on(0, pp, &pp);
	if (lfd < 0 || l7_listener_publish(e.listen_sk, lfd))
		goto fail;
	got = where(&e, 0);
	drain(lfd);
	if (got != pp)
		goto fail;
	close(lfd);
	env_close(&e);
	return;
fail:
	{
		int be = e.be_port;

		if (pid > 0) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
		}
		if (lfd >= 0)
			close(lfd);
		env_close(&e);
		TEST_FAIL_("%s: connect() reached %d%s%s (backend %d, proxy %u)", what, got,
			   got < 0 ? " " : "", got < 0 ? strerror(-got) : "", be, pp);
	}
}

/* The witness must be at the address l7_listen names: a socket of the
 * proxy's at another port does not count. */
TEST(witness_must_be_at_the_named_address)
{
	struct env e;
	uint16_t p1 = 0, p2 = 0;
	int l1, l2, got1 = 0, got2 = 0;

	ENV_OPEN(&e);
	l1 = listen_on(0, 0, &p1);
	l2 = listen_on(0, 0, &p2);
	if (l1 < 0 || l2 < 0 || set_l7(&e, 0, p1, mono_ns()) ||
	    l7_listener_publish(e.listen_sk, l2)) {
		env_close(&e);
		TEST_FAIL_("setup: %s", strerror(errno));
	}
	got1 = where(&e, 0);
	if (!l7_listener_publish(e.listen_sk, l1))
		got2 = where(&e, 0);
	drain(l1);
	close(l1);
	close(l2);
	env_close(&e);
	ASSERT_EQ(got1, e.be_port);
	ASSERT_EQ(got2, p1);
}

/* Second guard: a listener in the map but a heartbeat older than
 * SPLIT_L7_STALE_NS (splitd frozen with its sockets open) splits at L4. */
TEST(stale_heartbeat_falls_back)
{
	struct env e;
	uint16_t pp = 0;
	int lfd, stale = 0, fresh = 0;

	ENV_OPEN(&e);
	lfd = listen_on(0, 0, &pp);
	if (lfd < 0 || l7_listener_publish(e.listen_sk, lfd) ||
	    set_l7(&e, 0, pp, mono_ns() - SPLIT_L7_STALE_NS - 1000000000ULL)) {
		env_close(&e);
		TEST_FAIL_("setup: %s", strerror(errno));
	}
	stale = where(&e, 0);
	if (!set_l7(&e, 0, pp, mono_ns()))
		fresh = where(&e, 0);
	drain(lfd);
	close(lfd);
	env_close(&e);
	ASSERT_EQ(stale, e.be_port);
	ASSERT_EQ(fresh, pp);
}

/* l7_listener_publish() takes listening TCP sockets only, with a clear
 * -errno; unpublish of nothing says -ENOENT. */
TEST(publish_takes_listening_tcp_sockets_only)
{
	struct env e;
	struct sockaddr_storage ss;
	struct split_addr lo;
	uint16_t pp = 0;
	int tcp, udp, bound, lfd;
	int r_tcp, r_udp, r_bound, r_bad, r_del, r_ok, r_unpub, present;

	ENV_OPEN(&e);
	addr_of(0, "127.0.0.1", &lo);
	tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	bound = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (bound >= 0)
		bind(bound, (struct sockaddr *)&ss, sa_of(0, "127.0.0.1", 0, &ss));
	lfd = listen_on(0, 0, &pp);
	r_tcp = l7_listener_publish(e.listen_sk, tcp);
	r_udp = l7_listener_publish(e.listen_sk, udp);
	r_bound = l7_listener_publish(e.listen_sk, bound);
	r_bad = l7_listener_publish(e.listen_sk, 1000000);
	r_del = l7_listener_unpublish(e.listen_sk, &lo, 1);
	r_ok = l7_listener_publish(e.listen_sk, lfd);
	r_unpub = l7_listener_unpublish(e.listen_sk, &lo, pp);
	present = l7_listener_present(e.listen_sk, &lo, pp);
	close(tcp);
	close(udp);
	close(bound);
	close(lfd);
	env_close(&e);
	ASSERT_EQ(r_tcp, -EINVAL);
	ASSERT_EQ(r_udp, -EINVAL);
	ASSERT_EQ(r_bound, -EINVAL);
	ASSERT_EQ(r_bad, -EBADF);
	ASSERT_EQ(r_del, -ENOENT);
	ASSERT_EQ(r_ok, 0);
	ASSERT_EQ(r_unpub, 0);
	ASSERT_EQ(present, 0);
}
