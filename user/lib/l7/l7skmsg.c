// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * l7skmsg.c - the client-to-proxy hop in the kernel: loading
 * bpf/split_skmsg.bpf.c and the probe that decides whether to use it (see
 * l7skmsg.h).
 *
 * The probe runs on loopback TCP pairs in the caller's network namespace,
 * put in the sockhash by hand (4-tuple keys, as sockops would), before the
 * sockops program is attached anywhere: the map holds nothing else. Rounds:
 *
 *   stream     8 MiB each way at once, non-blocking, edge-triggered epoll;
 *              writes of up to 128 KiB a turn, reads of 1 - 8 KiB (256 KiB a
 *              turn), and the receiving end of each direction reads
 *              nothing until 2 MiB were written (a slow reader). Every byte is
 *              checked, and no wait of 1 s may pass without an event
 *              while bytes are outstanding (a lost EPOLLIN).
 *   backpressure  the same with writes of 1 MiB until EAGAIN, but each
 *              reader reads nothing until its writer has written all
 *              8 MiB or is made to wait: past
 *              SPLIT_SKMSG_QUEUE_MAX queued the program must send the
 *              writer to TCP (its counter), and every byte still arrives
 *              in order (the redirected ones first, then TCP's).
 *   tcp        the bytes must not have gone through TCP: tcpi_bytes_received
 *              of both ends stays under 1 KiB, and the program's counter
 *              says it redirected them.
 *   v6         the stream round on ::1 (skipped if there is no ::1).
 *   halfclose  100 KiB then shutdown(SHUT_WR) from the client end, seen
 *              as EPOLLRDHUP and EOF after the last byte; then the same
 *              from the proxy end to the half-closed client.
 *   reset      the client end closes with a reset (SO_LINGER 0): the
 *              proxy end gets an event, recv() an error (or EOF), send()
 *              an error.
 *   tcpfirst   the client writes before the proxy end is in the map (its
 *              bytes take TCP), then the proxy end enters and the client
 *              writes 1 MiB more: every byte in order (the program keeps
 *              such an end on TCP), and the reply redirected.
 *   flow       the client end writes up to 64 MiB to a proxy end that
 *              reads nothing: where the kernel stops the writer (EAGAIN)
 *              is measured, then everything is read and checked. TCP stops
 *              it at about its buffers (a few MiB); a redirect to ingress
 *              charges the receiver's memory only against the global TCP
 *              limit (tcp_mem): without the program's own limit (see
 *              bpf/split_skmsg.bpf.c) 6.18 takes the whole 64 MiB, and a
 *              client could park any amount of kernel memory in the
 *              proxy's socket while the proxy waits on a slow upstream.
 *              Taking it all fails the probe.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "l7skmsg.h"

#define PR_STREAM	(8u << 20)	/* each way */
#define PR_SLOW		(2u << 20)	/* the reader waits for this much (< QUEUE_MAX) */
#define PR_WCHUNK	(1u << 20)
#define PR_HALF		(100u * 1024)
#define PR_FIRST	(64u * 1024)
#define PR_MORE		(1u << 20)
#define PR_FLOW_CAP	(64ull << 20)
#define PR_STALL_MS	3000		/* no event this long: stalled (a busy machine is slow, not this slow) */
#define PR_TCP_MAX	1024		/* bytes TCP may see: none of the data */

struct l7_skmsg {
	struct split_skmsg_stats base;	/* after the probe: l7_skmsg_stats counts from here */
	struct bpf_object *obj;
	struct bpf_program *sockops, *msg;
	struct bpf_link *link;
	int socks_fd, stats_fd, listen_fd, msg_fd;
};

int l7_skmsg_socks_fd(const struct l7_skmsg *m) { return m->socks_fd; }

int l7_skmsg_listen_add(struct l7_skmsg *m, const struct split_l7_sk_key *k)
{
	__u32 one = 1;

	return bpf_map_update_elem(m->listen_fd, k, &one, BPF_ANY) ? -errno : 0;
}

int l7_skmsg_listen_del(struct l7_skmsg *m, const struct split_l7_sk_key *k)
{
	return bpf_map_delete_elem(m->listen_fd, k) && errno != ENOENT ? -errno : 0;
}

int l7_skmsg_listen_add_fd(struct l7_skmsg *m, int listen_fd)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof(ss);
	struct split_l7_sk_key k;

	memset(&k, 0, sizeof(k));
	if (getsockname(listen_fd, (struct sockaddr *)&ss, &l))
		return -errno;
	if (ss.ss_family == AF_INET) {
		k.family = 4;
		k.addr[0] = ((struct sockaddr_in *)&ss)->sin_addr.s_addr;
		k.port = ((struct sockaddr_in *)&ss)->sin_port;
	} else if (ss.ss_family == AF_INET6) {
		k.family = 6;
		memcpy(k.addr, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
		k.port = ((struct sockaddr_in6 *)&ss)->sin6_port;
	} else {
		return -EAFNOSUPPORT;
	}
	return l7_skmsg_listen_add(m, &k);
}

int l7_skmsg_stats(const struct l7_skmsg *m, struct split_skmsg_stats *out)
{
	int n = libbpf_num_possible_cpus();
	struct split_skmsg_stats *v;
	__u32 k = 0;

	memset(out, 0, sizeof(*out));
	if (n <= 0)
		return n ? n : -EINVAL;
	v = calloc((size_t)n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (bpf_map_lookup_elem(m->stats_fd, &k, v)) {
		int e = errno;

		free(v);
		return -e;
	}
	/* the sums minus what the probe did (base), field by field */
	for (int i = 0; i < n; i++) {
		out->inserted_client += v[i].inserted_client;
		out->inserted_proxy += v[i].inserted_proxy;
		out->insert_failed += v[i].insert_failed;
		out->redirected_msgs += v[i].redirected_msgs;
		out->redirected_bytes += v[i].redirected_bytes;
		out->passed_msgs += v[i].passed_msgs;
		out->passed_bytes += v[i].passed_bytes;
		out->to_tcp_full += v[i].to_tcp_full;
	}
	free(v);
	out->inserted_client -= m->base.inserted_client;
	out->inserted_proxy -= m->base.inserted_proxy;
	out->insert_failed -= m->base.insert_failed;
	out->redirected_msgs -= m->base.redirected_msgs;
	out->redirected_bytes -= m->base.redirected_bytes;
	out->passed_msgs -= m->base.passed_msgs;
	out->passed_bytes -= m->base.passed_bytes;
	out->to_tcp_full -= m->base.to_tcp_full;
	return 0;
}

/* ---- the probe ------------------------------------------------------------- */

struct prb {
	struct l7_skmsg *m;
	struct l7_skmsg_probe *pr;
	int lfd;
	int v6;
	struct sockaddr_storage la;
	socklen_t lalen;
};

#define FAIL(p, ...) do { snprintf((p)->pr->why, sizeof((p)->pr->why), __VA_ARGS__); \
			  return -1; } while (0)

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The byte at offset i of stream s: no period a misplaced chunk could hide in. */
static unsigned char pat(unsigned s, uint64_t i)
{
	uint64_t x = (i >> 8) * 0x9E3779B97F4A7C15ull + s * 0xBF58476D1CE4E5B9ull;

	return (unsigned char)((x >> 40) ^ i ^ (i >> 16));
}

static void fill(unsigned s, uint64_t off, unsigned char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		b[i] = pat(s, off + i);
}

/* -1 with *bad set to the offset of the first wrong byte. */
static int check(unsigned s, uint64_t off, const unsigned char *b, size_t n, uint64_t *bad)
{
	for (size_t i = 0; i < n; i++)
		if (b[i] != pat(s, off + i)) {
			*bad = off + i;
			return -1;
		}
	return 0;
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
		const struct sockaddr_in *a = (void *)&l, *b = (void *)&r;

		k->family = 4;
		k->local[0] = a->sin_addr.s_addr;
		k->remote[0] = b->sin_addr.s_addr;
		k->lport = a->sin_port;
		k->rport = b->sin_port;
	} else {
		const struct sockaddr_in6 *a = (void *)&l, *b = (void *)&r;

		k->family = 6;
		memcpy(k->local, &a->sin6_addr, 16);
		memcpy(k->remote, &b->sin6_addr, 16);
		k->lport = a->sin6_port;
		k->rport = b->sin6_port;
	}
	return 0;
}

static int insert(struct prb *p, int fd)
{
	struct split_skmsg_key k;
	__u64 v = (__u64)fd;

	if (key_of(fd, &k))
		return -1;
	return bpf_map_update_elem(p->m->socks_fd, &k, &v, BPF_NOEXIST);
}

static int nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* A connected pair on the probe's listener: c (the "client"), s (the
 * "proxy's accepted socket"), both non-blocking; in the map unless asked. */
static int pair(struct prb *p, int *c, int *s, bool in_c, bool in_s)
{
	*c = socket(p->v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	*s = -1;
	if (*c < 0)
		FAIL(p, "socket: %s", strerror(errno));
	if (connect(*c, (struct sockaddr *)&p->la, p->lalen)) {
		close(*c);
		FAIL(p, "connect to the probe's loopback listener: %s", strerror(errno));
	}
	*s = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (*s < 0 || nonblock(*c) || nonblock(*s)) {
		close(*c);
		if (*s >= 0)
			close(*s);
		FAIL(p, "accept: %s", strerror(errno));
	}
	if ((in_c && insert(p, *c)) || (in_s && insert(p, *s))) {
		close(*c);
		close(*s);
		FAIL(p, "putting a socket in %s: %s", SPLIT_MAP_SKMSG_SOCKS, strerror(errno));
	}
	return 0;
}

/* Wait for POLLIN on fd (bytes through TCP may still be on their way). */
static int wait_in(int fd)
{
	struct pollfd pf = { .fd = fd, .events = POLLIN };

	return poll(&pf, 1, PR_STALL_MS) == 1 ? 0 : -1;
}

static uint64_t tcp_rx(int fd)
{
	struct tcp_info ti;
	socklen_t l = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l))
		return UINT64_MAX;
	return ti.tcpi_bytes_received;
}

/* One end of the stream round. */
struct end {
	int fd;
	unsigned tx_stream, rx_stream;
	uint64_t tx, rx;		/* written, read and checked */
	bool rd, wr;			/* edge seen, not yet drained */
	struct end *peer;
};

/* slow: the reading end of each direction reads nothing until its peer
 * wrote this much or was made to wait (EAGAIN). bypass: TCP must carry
 * none of the bytes. */
static int stream_round(struct prb *p, const char *name, uint64_t slow, bool bypass)
{
	static unsigned char wb[PR_WCHUNK], rb[8192];
	struct end e[2] = { { 0 } };
	struct epoll_event ev;
	uint64_t last = now_ms(), bad, rx0, rx1;
	unsigned step = 0;
	int ep, c, s, r = -1;

	if (pair(p, &c, &s, true, true))
		return -1;
	ep = epoll_create1(EPOLL_CLOEXEC);
	e[0] = (struct end){ .fd = c, .tx_stream = 1, .rx_stream = 2, .peer = &e[1] };
	e[1] = (struct end){ .fd = s, .tx_stream = 2, .rx_stream = 1, .peer = &e[0] };
	for (int i = 0; i < 2; i++) {
		ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
		ev.data.ptr = &e[i];
		if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, e[i].fd, &ev)) {
			snprintf(p->pr->why, sizeof(p->pr->why), "epoll: %s", strerror(errno));
			goto out;
		}
	}
	while (e[0].rx < PR_STREAM || e[1].rx < PR_STREAM) {
		struct epoll_event evs[2];
		bool busy = false;
		int n;

		for (int i = 0; i < 2; i++) {
			struct end *x = &e[i];

			size_t wbudget = bypass ? 128 * 1024 : PR_STREAM;

			while (x->wr && x->tx < PR_STREAM && wbudget) {
				size_t want = PR_STREAM - x->tx;
				ssize_t k;

				if (want > PR_WCHUNK)
					want = PR_WCHUNK;
				if (want > wbudget)
					want = wbudget;
				fill(x->tx_stream, x->tx, wb, want);
				k = send(x->fd, wb, want, MSG_NOSIGNAL);
				if (k < 0 && errno == EAGAIN) {
					x->wr = false;
					break;
				}
				if (k <= 0) {
					snprintf(p->pr->why, sizeof(p->pr->why),
						 "%s: send: %s", name, k ? strerror(errno) : "0");
					goto out;
				}
				x->tx += (uint64_t)k;
				wbudget -= (size_t)k;
				last = now_ms();
			}
			/* the slow reader: nothing until its peer wrote PR_SLOW,
			 * then 64 KiB per turn in small reads */
			bool go = x->peer->tx >= slow || !x->peer->wr;

			if (x->rd && go) {
				size_t budget = 256 * 1024;

				while (budget && x->rx < PR_STREAM) {
					size_t want = 1024 + (step++ * 1237) % 7168;
					ssize_t k;

					k = recv(x->fd, rb, want, 0);
					if (k < 0 && errno == EAGAIN) {
						x->rd = false;
						break;
					}
					if (k <= 0) {
						snprintf(p->pr->why, sizeof(p->pr->why),
							 "%s: recv after %llu of %u bytes: %s", name,
							 (unsigned long long)x->rx, PR_STREAM,
							 k ? strerror(errno) : "EOF");
						goto out;
					}
					if (check(x->rx_stream, x->rx, rb, (size_t)k, &bad)) {
						snprintf(p->pr->why, sizeof(p->pr->why),
							 "%s: byte %llu is wrong (out of order or lost)",
							 name, (unsigned long long)bad);
						goto out;
					}
					x->rx += (uint64_t)k;
					budget -= budget < (size_t)k ? budget : (size_t)k;
					last = now_ms();
				}
				if (x->rx >= PR_STREAM)
					x->rd = false;
			}
			busy = busy || (x->rd && go) ||
			       (x->wr && x->tx < PR_STREAM);
		}
		if (e[0].rx >= PR_STREAM && e[1].rx >= PR_STREAM)
			break;
		n = epoll_wait(ep, evs, 2, busy ? 0 : PR_STALL_MS);
		if (n < 0 && errno != EINTR) {
			snprintf(p->pr->why, sizeof(p->pr->why), "epoll_wait: %s", strerror(errno));
			goto out;
		}
		for (int i = 0; i < n; i++) {
			struct end *x = evs[i].data.ptr;

			if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
				x->rd = true;
			if (evs[i].events & EPOLLOUT)
				x->wr = true;
		}
		if (n <= 0 && !busy && now_ms() - last >= PR_STALL_MS) {
			snprintf(p->pr->why, sizeof(p->pr->why),
				 "%s: stalled: no event (edge-triggered epoll) for %d ms with %llu + %llu of %u bytes each way read",
				 name, PR_STALL_MS, (unsigned long long)e[1].rx,
				 (unsigned long long)e[0].rx, PR_STREAM);
			goto out;
		}
	}
	rx0 = tcp_rx(c);
	rx1 = tcp_rx(s);
	p->pr->bytes += 2ull * PR_STREAM;
	if (bypass)
		p->pr->tcp_bytes += rx0 + rx1;
	if (bypass && (rx0 > PR_TCP_MAX || rx1 > PR_TCP_MAX)) {
		snprintf(p->pr->why, sizeof(p->pr->why),
			 "%s: the bytes went through TCP (%llu and %llu bytes received by TCP): not redirected",
			 name, (unsigned long long)rx0, (unsigned long long)rx1);
		goto out;
	}
	r = 0;
out:
	if (ep >= 0)
		close(ep);
	close(c);
	close(s);
	return r;
}

/* Wait (edge-triggered, one registration) for an event on fd. */
static int wait_ev(int fd, uint32_t *events)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | EPOLLET }, out;
	int ep = epoll_create1(EPOLL_CLOEXEC), n;

	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev)) {
		if (ep >= 0)
			close(ep);
		return -1;
	}
	n = epoll_wait(ep, &out, 1, PR_STALL_MS);
	close(ep);
	if (n == 1)
		*events = out.events;
	return n == 1 ? 0 : -1;
}

/* Send n bytes of stream st from 'from' and read them (ET epoll) on 'to'.
 * With eof: shutdown(SHUT_WR) after them, and EOF must follow them. */
static int one_way(struct prb *p, const char *name, int from, int to, unsigned st,
		   size_t n, bool eof)
{
	static unsigned char b[PR_HALF];
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | EPOLLET }, out;
	uint64_t got = 0, bad;
	bool rdhup = false, end = false;
	size_t sent = 0;
	int ep;

	while (sent < n) {
		size_t want = n - sent < sizeof(b) ? n - sent : sizeof(b);
		ssize_t k;

		fill(st, sent, b, want);
		k = send(from, b, want, MSG_NOSIGNAL);
		if (k <= 0)
			FAIL(p, "%s: send: %s", name, k ? strerror(errno) : "0");
		sent += (size_t)k;
	}
	if (eof && shutdown(from, SHUT_WR))
		FAIL(p, "%s: shutdown: %s", name, strerror(errno));
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, to, &ev)) {
		if (ep >= 0)
			close(ep);
		FAIL(p, "epoll: %s", strerror(errno));
	}
	while (got < n || (eof && !end)) {
		int e = epoll_wait(ep, &out, 1, PR_STALL_MS);

		if (e <= 0) {
			close(ep);
			FAIL(p, "%s: no event (edge-triggered epoll) for %d ms after %llu of %zu bytes%s",
			     name, PR_STALL_MS, (unsigned long long)got, n,
			     eof ? " and a half-close" : "");
		}
		rdhup = rdhup || (out.events & EPOLLRDHUP);
		for (;;) {
			ssize_t k = recv(to, b, sizeof(b), 0);

			if (k < 0 && errno == EAGAIN)
				break;
			if (k < 0) {
				close(ep);
				FAIL(p, "%s: recv: %s", name, strerror(errno));
			}
			if (!k) {
				if (got < n) {
					close(ep);
					FAIL(p, "%s: EOF after %llu of %zu bytes: the FIN overtook data",
					     name, (unsigned long long)got, n);
				}
				end = true;
				break;
			}
			if (check(st, got, b, (size_t)k, &bad)) {
				close(ep);
				FAIL(p, "%s: byte %llu is wrong (out of order or lost)", name,
				     (unsigned long long)bad);
			}
			got += (uint64_t)k;
		}
		if (!eof && got > n) {
			close(ep);
			FAIL(p, "%s: more bytes than were sent", name);
		}
	}
	close(ep);
	if (eof && !rdhup)
		FAIL(p, "%s: the half-close came without EPOLLRDHUP", name);
	p->pr->bytes += n;
	return 0;
}

static int halfclose_round(struct prb *p)
{
	int c, s, r;

	if (pair(p, &c, &s, true, true))
		return -1;
	r = one_way(p, "halfclose client->proxy", c, s, 3, PR_HALF, true);
	if (!r)
		r = one_way(p, "halfclose proxy->client (client half-closed)", s, c, 4,
			    PR_HALF, true);
	close(c);
	close(s);
	return r;
}

static int reset_round(struct prb *p)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	unsigned char b[256];
	uint32_t evs = 0;
	ssize_t k;
	int c, s, r = -1, i;

	if (pair(p, &c, &s, true, true))
		return -1;
	if (one_way(p, "reset (data first)", c, s, 5, 10000, false))
		goto out;
	if (setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg))) {
		snprintf(p->pr->why, sizeof(p->pr->why), "SO_LINGER: %s", strerror(errno));
		goto out;
	}
	close(c);
	c = -1;
	if (wait_ev(s, &evs) && !(evs = 0)) {
		/* the reset may have come before the registration: level check */
		k = recv(s, b, sizeof(b), MSG_PEEK);
		if (k < 0 && errno == EAGAIN) {
			snprintf(p->pr->why, sizeof(p->pr->why),
				 "reset: no event on the proxy end for %d ms", PR_STALL_MS);
			goto out;
		}
	}
	k = recv(s, b, sizeof(b), 0);
	if (k > 0) {
		snprintf(p->pr->why, sizeof(p->pr->why), "reset: %zd bytes after the last", k);
		goto out;
	}
	if (k < 0 && errno == EAGAIN) {
		snprintf(p->pr->why, sizeof(p->pr->why), "reset: not seen by recv (EAGAIN)");
		goto out;
	}
	/* the next sends fail: the peer is gone (the first may still be taken) */
	for (i = 0; i < 3; i++)
		if (send(s, b, sizeof(b), MSG_NOSIGNAL) < 0)
			break;
	if (i == 3) {
		snprintf(p->pr->why, sizeof(p->pr->why), "reset: sends to the reset peer succeed");
		goto out;
	}
	r = 0;
out:
	if (c >= 0)
		close(c);
	close(s);
	return r;
}

static int tcpfirst_round(struct prb *p)
{
	static unsigned char b[64 * 1024];
	struct split_skmsg_stats a, z;
	uint64_t got = 0, bad;
	size_t sent = 0;
	int c, s, r = -1;

	if (pair(p, &c, &s, true, false))
		return -1;
	/* first bytes: no peer in the map, TCP */
	while (sent < PR_FIRST) {
		ssize_t k;

		fill(6, sent, b, sizeof(b));
		k = send(c, b, PR_FIRST - sent < sizeof(b) ? PR_FIRST - sent : sizeof(b),
			 MSG_NOSIGNAL);
		if (k <= 0)
			goto io;
		sent += (size_t)k;
	}
	if (insert(p, s)) {
		snprintf(p->pr->why, sizeof(p->pr->why), "tcpfirst: insert: %s", strerror(errno));
		goto out;
	}
	/* then more, interleaved with reads so that neither side blocks */
	l7_skmsg_stats(p->m, &a);
	while (got < PR_FIRST + PR_MORE) {
		ssize_t k;

		if (sent < PR_FIRST + PR_MORE) {
			size_t want = PR_FIRST + PR_MORE - sent;

			if (want > sizeof(b))
				want = sizeof(b);
			fill(6, sent, b, want);
			k = send(c, b, want, MSG_NOSIGNAL);
			if (k < 0 && errno != EAGAIN)
				goto io;
			if (k > 0)
				sent += (size_t)k;
		}
		k = recv(s, b, sizeof(b), 0);
		if (k < 0 && errno == EAGAIN) {
			struct pollfd pf[2] = { { .fd = s, .events = POLLIN },
						{ .fd = c, .events = POLLOUT } };

			if (poll(pf, sent < PR_FIRST + PR_MORE ? 2 : 1, PR_STALL_MS) <= 0) {
				snprintf(p->pr->why, sizeof(p->pr->why),
					 "tcpfirst: stalled after %llu of %u bytes",
					 (unsigned long long)got, PR_FIRST + PR_MORE);
				goto out;
			}
			continue;
		}
		if (k <= 0)
			goto io;
		if (check(6, got, b, (size_t)k, &bad)) {
			snprintf(p->pr->why, sizeof(p->pr->why),
				 "tcpfirst: byte %llu is wrong: a redirected write overtook one that took TCP",
				 (unsigned long long)bad);
			goto out;
		}
		got += (uint64_t)k;
	}
	l7_skmsg_stats(p->m, &z);
	if (z.redirected_bytes != a.redirected_bytes) {
		snprintf(p->pr->why, sizeof(p->pr->why),
			 "tcpfirst: the client end was redirected after it had used TCP");
		goto out;
	}
	p->pr->bytes += got;
	/* the other way, the client end being in the map: redirected */
	if (one_way(p, "tcpfirst reply", s, c, 7, PR_HALF, false))
		goto out;
	l7_skmsg_stats(p->m, &a);
	if (a.redirected_bytes - z.redirected_bytes < PR_HALF) {
		snprintf(p->pr->why, sizeof(p->pr->why), "tcpfirst: the reply was not redirected");
		goto out;
	}
	r = 0;
	goto out;
io:
	snprintf(p->pr->why, sizeof(p->pr->why), "tcpfirst: %s", strerror(errno));
out:
	close(c);
	close(s);
	return r;
}

static int flow_round(struct prb *p)
{
	static unsigned char b[PR_WCHUNK];
	uint64_t sent = 0, got = 0, bad;
	int c, s, r = -1;

	if (pair(p, &c, &s, true, true))
		return -1;
	while (sent < PR_FLOW_CAP) {
		ssize_t k;

		fill(8, sent, b, sizeof(b));
		k = send(c, b, sizeof(b), MSG_NOSIGNAL);
		if (k < 0 && (errno == EAGAIN || errno == ENOMEM || errno == ENOBUFS))
			break;
		if (k <= 0) {
			snprintf(p->pr->why, sizeof(p->pr->why), "flow: send after %llu bytes: %s",
				 (unsigned long long)sent, k ? strerror(errno) : "0");
			goto out;
		}
		sent += (uint64_t)k;
	}
	p->pr->unread_max = sent;
	p->pr->bounded = sent < PR_FLOW_CAP;
	while (got < sent) {
		ssize_t k = recv(s, b, sizeof(b), 0);

		if (k < 0 && errno == EAGAIN && !wait_in(s))
			continue;
		if (k <= 0) {
			snprintf(p->pr->why, sizeof(p->pr->why),
				 "flow: recv after %llu of %llu bytes: %s", (unsigned long long)got,
				 (unsigned long long)sent, k ? strerror(errno) : "EOF");
			goto out;
		}
		if (check(8, got, b, (size_t)k, &bad)) {
			snprintf(p->pr->why, sizeof(p->pr->why), "flow: byte %llu is wrong",
				 (unsigned long long)bad);
			goto out;
		}
		got += (uint64_t)k;
	}
	p->pr->bytes += got;
	if (!p->pr->bounded) {
		snprintf(p->pr->why, sizeof(p->pr->why),
			 "no flow control: the kernel took %llu MiB for a reader that read nothing (TCP stops a writer at its buffers); a client could park that much kernel memory in the proxy's socket",
			 (unsigned long long)(sent >> 20));
		goto out;
	}
	r = 0;
out:
	close(c);
	close(s);
	return r;
}

/* mixed: after a move to TCP under backpressure the reading end holds
 * redirected bytes in its psock's queue and later ones in TCP's. Does a
 * read stop short at the end of the first while the second has bytes
 * (so a reader that takes a short read for "empty" would wait for an
 * EPOLLIN that does not come)? Measured, not a failure: the proxy reads
 * until EAGAIN with --l7-skmsg (l7_short_read_drains). */
static int mixed_round(struct prb *p)
{
	static unsigned char b[256 * 1024];
	struct split_skmsg_stats a, z;
	uint64_t sent = 0, got = 0, bad, want_tcp;
	const uint64_t total = SPLIT_SKMSG_QUEUE_MAX + (256u << 10);
	int c, s, r = -1, i;

	if (pair(p, &c, &s, true, true))
		return -1;
	l7_skmsg_stats(p->m, &a);
	while (sent < total) {
		size_t want = total - sent < 65536 ? total - sent : 65536;
		ssize_t k;

		fill(9, sent, b, want);
		k = send(c, b, want, MSG_NOSIGNAL);
		if (k < 0 && errno == EAGAIN) {
			struct pollfd pf = { .fd = c, .events = POLLOUT };

			if (poll(&pf, 1, PR_STALL_MS) != 1)
				break;	/* TCP's buffers are full: enough */
			continue;
		}
		if (k <= 0) {
			snprintf(p->pr->why, sizeof(p->pr->why), "mixed: send: %s",
				 k ? strerror(errno) : "0");
			goto out;
		}
		sent += (uint64_t)k;
	}
	l7_skmsg_stats(p->m, &z);
	want_tcp = z.passed_bytes - a.passed_bytes;
	/* until TCP has delivered what went its way */
	for (i = 0; i < PR_STALL_MS / 10 && tcp_rx(s) < want_tcp; i++)
		usleep(10000);
	while (got < sent) {
		ssize_t k = recv(s, b, sizeof(b), 0);

		if (k < 0 && errno == EAGAIN && !wait_in(s))
			continue;
		if (k <= 0) {
			snprintf(p->pr->why, sizeof(p->pr->why), "mixed: recv after %llu of %llu: %s",
				 (unsigned long long)got, (unsigned long long)sent,
				 k ? strerror(errno) : "EOF");
			goto out;
		}
		if (check(9, got, b, (size_t)k, &bad)) {
			snprintf(p->pr->why, sizeof(p->pr->why),
				 "mixed: byte %llu is wrong (TCP's bytes overtook the redirected ones?)",
				 (unsigned long long)bad);
			goto out;
		}
		got += (uint64_t)k;
		if ((size_t)k < sizeof(b) && got < sent && tcp_rx(s) >= want_tcp && want_tcp)
			p->pr->short_read_hides_tcp = 1;
	}
	p->pr->bytes += got;
	r = 0;
out:
	close(c);
	close(s);
	return r;
}

static int listener(struct prb *p, int v6)
{
	int one = 1;

	memset(&p->la, 0, sizeof(p->la));
	p->v6 = v6;
	if (v6) {
		struct sockaddr_in6 *a = (void *)&p->la;

		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		p->lalen = sizeof(*a);
	} else {
		struct sockaddr_in *a = (void *)&p->la;

		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		p->lalen = sizeof(*a);
	}
	p->lfd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (p->lfd < 0)
		return -1;
	setsockopt(p->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(p->lfd, (struct sockaddr *)&p->la, p->lalen) || listen(p->lfd, 16) ||
	    getsockname(p->lfd, (struct sockaddr *)&p->la, &p->lalen)) {
		close(p->lfd);
		p->lfd = -1;
		return -1;
	}
	return 0;
}

int l7_skmsg_probe_run(struct l7_skmsg *m, struct l7_skmsg_probe *pr)
{
	struct prb p = { .m = m, .pr = pr, .lfd = -1 };
	struct split_skmsg_stats a, z, bp0, bp1;
	int r = -1;

	memset(pr, 0, sizeof(*pr));
	if ((r = l7_skmsg_stats(m, &a))) {
		snprintf(pr->why, sizeof(pr->why), "reading %s: %s", SPLIT_MAP_SKMSG_STATS,
			 strerror(-r));
		return r;
	}
	r = -1;
	if (listener(&p, 0)) {
		snprintf(pr->why, sizeof(pr->why), "a listener on 127.0.0.1: %s (is lo up?)",
			 strerror(errno));
		return -errno;
	}
	if (stream_round(&p, "stream", PR_SLOW, true) || halfclose_round(&p) ||
	    reset_round(&p) || tcpfirst_round(&p))
		goto out;
	bp0 = a;
	l7_skmsg_stats(m, &bp0);
	if (stream_round(&p, "backpressure", PR_STREAM, false))
		goto out;
	l7_skmsg_stats(m, &bp1);
	if (bp1.to_tcp_full == bp0.to_tcp_full) {
		snprintf(pr->why, sizeof(pr->why),
			 "backpressure: a reader that did not read for %u MiB did not send its writer to TCP",
			 PR_STREAM >> 20);
		goto out;
	}
	close(p.lfd);
	p.lfd = -1;
	if (!listener(&p, 1) && stream_round(&p, "stream v6", PR_SLOW, true))
		goto out;
	if (p.lfd < 0 && listener(&p, 0)) {
		snprintf(pr->why, sizeof(pr->why), "a listener on 127.0.0.1: %s", strerror(errno));
		goto out;
	}
	p.v6 = 0;
	if (p.lfd >= 0) {
		close(p.lfd);
		p.lfd = -1;
	}
	if (listener(&p, 0) || flow_round(&p) || mixed_round(&p))
		goto out;
	r = 0;
out:
	if (p.lfd >= 0)
		close(p.lfd);
	if (!l7_skmsg_stats(m, &z))
		pr->redirected = z.redirected_bytes - a.redirected_bytes;
	if (!r && pr->redirected < 2ull * PR_STREAM) {
		snprintf(pr->why, sizeof(pr->why),
			 "the program redirected %llu bytes of %llu: not doing its job",
			 (unsigned long long)pr->redirected, (unsigned long long)pr->bytes);
		r = -1;
	}
	if (!r)
		snprintf(pr->why, sizeof(pr->why),
			 "sound: %llu MiB checked (%llu MiB redirected, %llu bytes of the redirected rounds seen by TCP), edge-triggered EPOLLIN, half-close, reset, a first write through TCP and a move to TCP under backpressure all in order; a reader that reads nothing stops the writer at %llu MiB",
			 (unsigned long long)(pr->bytes >> 20),
			 (unsigned long long)(pr->redirected >> 20),
			 (unsigned long long)pr->tcp_bytes,
			 (unsigned long long)(pr->unread_max >> 20));
	if (!r && pr->short_read_hides_tcp)
		snprintf(pr->why + strlen(pr->why), sizeof(pr->why) - strlen(pr->why),
			 "; after such a move a read stops short at the end of the redirected bytes while TCP's wait (read until EAGAIN)");
	pr->sound = !r;
	return r ? -EPROTO : 0;
}

/* ---- open / attach / close -------------------------------------------------- */

struct l7_skmsg *l7_skmsg_open(const void *obj, size_t len, unsigned flags,
			       struct l7_skmsg_probe *pr_out, struct split_err *err)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .object_name = "split_skmsg");
	struct l7_skmsg_probe pr_local, *pr = pr_out ? pr_out : &pr_local;
	struct l7_skmsg *m = calloc(1, sizeof(*m));
	struct bpf_map *map;

	memset(pr, 0, sizeof(*pr));
	if (!m) {
		split_errc(err, ENOMEM, "out of memory");
		return NULL;
	}
	m->socks_fd = m->stats_fd = m->listen_fd = -1;
	m->obj = bpf_object__open_mem(obj, len, &oo);
	if (!m->obj) {
		m->obj = NULL;
		split_errc(err, errno, "opening the BPF object: %s", strerror(errno));
		goto fail;
	}
	if (bpf_object__load(m->obj)) {
		split_errc(err, errno, "loading the BPF object: %s", strerror(errno));
		goto fail;
	}
	m->sockops = bpf_object__find_program_by_name(m->obj, "split_skmsg_sockops");
	m->msg = bpf_object__find_program_by_name(m->obj, "split_skmsg_redirect");
	map = bpf_object__find_map_by_name(m->obj, SPLIT_MAP_SKMSG_SOCKS);
	m->socks_fd = map ? bpf_map__fd(map) : -1;
	map = bpf_object__find_map_by_name(m->obj, SPLIT_MAP_SKMSG_STATS);
	m->stats_fd = map ? bpf_map__fd(map) : -1;
	map = bpf_object__find_map_by_name(m->obj, SPLIT_MAP_SKMSG_LISTEN);
	m->listen_fd = map ? bpf_map__fd(map) : -1;
	if (!m->sockops || !m->msg || m->socks_fd < 0 || m->stats_fd < 0 || m->listen_fd < 0) {
		split_errc(err, ENOENT, "the BPF object lacks a program or map");
		goto fail;
	}
	m->msg_fd = bpf_program__fd(m->msg);
	if (bpf_prog_attach(m->msg_fd, m->socks_fd, BPF_SK_MSG_VERDICT, 0)) {
		split_errc(err, errno, "attaching sk_msg to %s: %s", SPLIT_MAP_SKMSG_SOCKS,
			   strerror(errno));
		goto fail;
	}
	if (!(flags & L7_SKMSG_NO_PROBE) && l7_skmsg_probe_run(m, pr)) {
		split_errc(err, EPROTO, "probe: %.500s", pr->why);
		goto fail;
	}
	/* from now on the counters say what the hooks did, not the probe */
	{
		struct split_skmsg_stats b;

		if (!l7_skmsg_stats(m, &b))
			m->base = b;
	}
	if (flags & L7_SKMSG_NO_PROBE)
		snprintf(pr->why, sizeof(pr->why), "probe skipped (trusted)");
	return m;
fail:
	l7_skmsg_close(m);
	return NULL;
}

int l7_skmsg_attach(struct l7_skmsg *m, int cgroup_fd, struct split_err *err)
{
	if (m->link)
		return split_errc(err, EBUSY, "already attached");
	m->link = bpf_program__attach_cgroup(m->sockops, cgroup_fd);
	if (!m->link)
		return split_errc(err, errno, "attaching sockops: %s", strerror(errno));
	return 0;
}

void l7_skmsg_close(struct l7_skmsg *m)
{
	if (!m)
		return;
	bpf_link__destroy(m->link);
	if (m->socks_fd >= 0 && m->msg)
		bpf_prog_detach2(bpf_program__fd(m->msg), m->socks_fd, BPF_SK_MSG_VERDICT);
	bpf_object__close(m->obj);
	free(m);
}
