// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * l7sockmap.c - tunnels through sockmap (see l7sockmap.h and
 * bpf/split_l7_sockmap.bpf.c).
 *
 * A tunnel is two connected TCP sockets a and b, and two directions,
 * a->b and b->a. Per direction the relay keeps a userspace buffer (the
 * slow path, read/write) and the verdict program of the source socket
 * may redirect skbs to the destination's egress (the fast path). The
 * paths must never reorder or lose a byte, and the destination's FIN
 * must follow its last byte. How:
 *
 * 1. Start. The caller has written what it had buffered. The sockets go
 *    into the map only when the relay's last recv() on each was short of
 *    its buffer (so it emptied the queue): the verdict then only sees
 *    whole skbs (an skb partly read by recv() would be handed to the
 *    verdict whole on some kernels). Until then,
 *    and whenever insertion fails (a socket already past ESTABLISHED, a
 *    full map), the relay reads and writes itself.
 *
 * 2. Ordering. Each socket has a counter `passed` (the verdict's: bytes
 *    it left to the socket itself, which the relay reads with recv()),
 *    started at what the relay had read before insertion, and `drained`
 *    (the relay's: bytes it has written to the peer). The verdict
 *    redirects only if the relay switched the socket to redirect (both
 *    sockets are in the map) and passed == drained: every byte that went
 *    the slow way is already in the peer's send queue, so a redirected
 *    skb, queued behind it, cannot overtake it. Verdicts of one socket
 *    run one at a time (under its lock), so passed has one writer.
 *
 * 3. End of a direction a->b. When recv(a) returns 0, TCP has run the
 *    verdict on every skb before the FIN (data_ready runs under the
 *    socket lock that recv takes), so `redirected` (bytes redirected
 *    from a) is final; and passed == what the relay read (else bytes are
 *    still on their way into a's psock queue: wait). But redirected
 *    bytes sit in b's psock queue until a kworker writes them to b's
 *    send queue, and shutdown(b, SHUT_WR) now would overtake them (and
 *    removing b from the map would purge them). So the relay waits until
 *    b's send queue has taken them all:
 *
 *        write_seq(b) - write_seq(b) at the start >= written by the relay
 *                                                    + redirected from a
 *
 *    write_seq - const is read as tcpi_bytes_acked + SIOCOUTQ, twice the
 *    first, until both reads of bytes_acked agree (snd_una did not move
 *    in between: the sum is exact). Then shutdown(b, SHUT_WR): TCP sends
 *    the FIN after everything in the send queue. b->a is the same.
 *
 * 4. Removal. The sockets leave the map (which purges psock queues) only
 *    when both directions have ended this way: nothing is left in them.
 *    A reset or an error cuts the tunnel (the caller closes both).
 *
 * What the probe finds on 6.18 (the kernel this was written on): under
 * backpressure (the destination's send queue full, EAGAIN in the psock
 * backlog) the kernel drops redirected skbs and reports EPIPE on the
 * destination, stalls, or delivers bytes out of order. Nothing in
 * userspace can repair that, so the probe fails there and splitd keeps
 * sockmap off unless asked (--l7-sockmap), and then only if the probe
 * passes. A relay that finds bytes lost (the destination's socket error
 * while redirected bytes are missing) cuts the tunnel with resets, never
 * with a FIN that would pass for a clean end.
 *
 * The probe (l7_sockmap_open) runs this code on loopback tunnels with
 * 1 MiB each way through small socket buffers (the relay's sends meet
 * full queues), half-closed from one side or the other (8 rounds),
 * after a partial read before the tunnel starts, and checks every byte,
 * where each EOF lands, and that the kernel really moved the bytes.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "split_common.h"
#include "err.h"
#include "l7sockmap.h"

#define SM_BUF			(64 * 1024)
#define SM_MAX_TUNNELS		(SPLIT_L7SM_MAX_SOCKS / 2)
#define SM_WAIT_MAX_MS		16	/* polling for the kernel's queues */

#define PROBE_BYTES		(1u * 1024 * 1024)
#define PROBE_PRE		60000u	/* sent before the tunnel starts */
#define PROBE_PRE_READ		1000u	/* of which the "proxy" reads this */
#define PROBE_MS		10000	/* the relay's idle timeout */
#define PROBE_STALL_MS		1000	/* no byte moved: failed */
#define PROBE_ROUNDS		8

struct l7_sockmap {
	struct bpf_object *obj;
	int socks_fd, ctl_fd, cnt_fd;
	int active;			/* relays running (atomic) */
};

static uint64_t sm_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int sock_cookie(int fd, __u64 *out)
{
	socklen_t len = sizeof(*out);

	return getsockopt(fd, SOL_SOCKET, SO_COOKIE, out, &len);
}

/* write_seq(fd) minus a constant of the connection: bytes_acked +
 * SIOCOUTQ, with bytes_acked read before and after (equal: snd_una did
 * not move, the sum is exact). */
static int send_seq(int fd, uint64_t *out)
{
	for (int i = 0; i < 1000; i++) {
		struct tcp_info t1, t2;
		socklen_t l1 = sizeof(t1), l2 = sizeof(t2);
		int outq;

		if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &t1, &l1))
			return -1;
		if (l1 < offsetof(struct tcp_info, tcpi_bytes_acked) +
			 sizeof(t1.tcpi_bytes_acked)) {
			errno = EOPNOTSUPP;
			return -1;
		}
		if (ioctl(fd, SIOCOUTQ, &outq) || outq < 0)
			return -1;
		if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &t2, &l2))
			return -1;
		if (t1.tcpi_bytes_acked == t2.tcpi_bytes_acked) {
			*out = t1.tcpi_bytes_acked + (uint64_t)outq;
			return 0;
		}
	}
	errno = EAGAIN;
	return -1;
}

/* ---- one direction -------------------------------------------------------- */

struct smdir {
	int from, to;
	__u64 key, peer;		/* cookies of from and to */
	bool in_map;			/* from is in l7sm_socks */
	bool redirect;			/* from's verdict may redirect */
	bool eof, shut;
	bool clean;			/* from's last recv was short: no skb
					 * in its queue is partly read */
	char *buf;
	size_t pending, boff;
	uint64_t uread;			/* read from `from` by the relay */
	uint64_t uwritten;		/* written to `to` by the relay */
	uint64_t drained;		/* uwritten as last told to l7sm_ctl */
	uint64_t base_to;		/* send_seq(to) at the start */
	uint64_t kred;			/* redirected from `from`, once final */
	bool out;			/* from was taken out of the map */
	bool flushed;			/* and all of kred reached to */
};

static int ctl_put(struct l7_sockmap *m, struct smdir *d)
{
	struct split_l7sm_ctl v = {
		.peer = d->peer,
		.drained = d->uwritten,
		.redirect = d->redirect,
	};

	if (bpf_map_update_elem(m->ctl_fd, &d->key, &v, BPF_ANY))
		return -1;
	d->drained = d->uwritten;
	return 0;
}

static int cnt_get(struct l7_sockmap *m, const struct smdir *d,
		   struct split_l7sm_cnt *c)
{
	memset(c, 0, sizeof(*c));
	return bpf_map_lookup_elem(m->cnt_fd, &d->key, c);
}

/* Have the bytes redirected from d->from (kred of them) all reached
 * d->to's send queue? 1 yes, 0 not yet, -1 error. */
static int absorbed(const struct smdir *d, uint64_t kred)
{
	uint64_t seq;
	socklen_t sl = sizeof(int);
	int err = 0;

	if (send_seq(d->to, &seq))
		return -1;
	if (seq - d->base_to >= d->uwritten + kred)
		return 1;
	/* The psock backlog reports a failed send as a socket error and
	 * drops the skb (seen on 6.18: EPIPE on a CLOSE_WAIT socket after
	 * EAGAIN retries): those bytes will never come. */
	if (getsockopt(d->to, SOL_SOCKET, SO_ERROR, &err, &sl) || err) {
		errno = err ? err : errno;
		return -2;
	}
	return 0;
}

/*
 * Take o->from out of the map before anything shuts it down: a socket
 * must never pass through FIN_WAIT/TIME_WAIT/CLOSE while in the map (its
 * unhash at CLOSE purges its psock, and its last skbs may be lost on the
 * way). Safe only when nothing is in its psock ingress queue and nothing
 * can be passed there any more: every passed byte was read, and either
 * its verdict is redirecting with nothing pending (passed == drained: it
 * never passes again) or its direction has ended. A parked socket (in the
 * map, peer not) can only leave after its own EOF. Returns 1 done, 0 not
 * yet, -1 error. Afterwards the bytes it redirected (final once a lock on
 * it was taken: verdicts run under the socket lock) must reach o->to's
 * send queue before the relay writes there (dir_move checks).
 */
static int take_out(struct l7_sockmap *m, struct smdir *o)
{
	struct split_l7sm_cnt c;
	struct tcp_info ti;
	socklen_t tl = sizeof(ti);

	if (!o->in_map)
		return 1;
	if (!o->eof && (!o->redirect || o->pending || o->drained != o->uwritten))
		return 0;
	if (cnt_get(m, o, &c))
		return -1;
	if (c.passed != o->uread)
		return 0;		/* passed bytes still to read */
	if (bpf_map_delete_elem(m->socks_fd, &o->key) && errno != ENOENT)
		return -1;
	o->in_map = false;
	/* a verdict running on another CPU holds the socket lock */
	getsockopt(o->from, IPPROTO_TCP, TCP_INFO, &ti, &tl);
	if (cnt_get(m, o, &c))
		return -1;
	o->kred = c.redirected;
	o->out = true;
	return 1;
}

/* Move what can move now for d (o: the other direction). 0, or -1: the
 * tunnel is cut (-2: and the kernel lost bytes). *wait: d waits for the kernel's queues (poll with a
 * short timeout). */
static int dir_move(struct l7_sockmap *m, struct smdir *d, struct smdir *o,
		    bool *prog, bool *wait)
{
	struct split_l7sm_cnt c;
	ssize_t n;
	int r;

	/* taken out of the map: what it redirected goes first */
	if (d->pending && d->out && !d->flushed) {
		r = absorbed(d, d->kred);
		if (r < 0)
			return r;
		if (!r)
			*wait = true;
		else
			d->flushed = true;
	}
	if (d->pending && (!d->out || d->flushed)) {
		n = send(d->to, d->buf + d->boff, d->pending,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			d->pending -= (size_t)n;
			d->boff += (size_t)n;
			d->uwritten += (uint64_t)n;
			*prog = true;
		} else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
			   errno != EINTR) {
			return -1;
		}
		/* all of it in to's send queue: the verdict may go on */
		if (!d->pending && d->in_map && d->drained != d->uwritten &&
		    ctl_put(m, d))
			return -1;
	}
	if (!d->pending && !d->eof) {
		n = recv(d->from, d->buf, SM_BUF, MSG_DONTWAIT);
		d->clean = n < SM_BUF;
		if (n > 0) {
			d->pending = (size_t)n;
			d->boff = 0;
			d->uread += (uint64_t)n;
			*prog = true;
		} else if (n == 0) {
			/* Bytes passed before the FIN may still be on their
			 * way into the psock's queue (a kworker): wait. */
			if (d->in_map) {
				if (cnt_get(m, d, &c))
					return -1;
				if (c.passed > d->uread) {
					*wait = true;
					return 0;
				}
			}
			d->eof = true;
			*prog = true;
		} else if (errno != EAGAIN && errno != EWOULDBLOCK &&
			   errno != EINTR) {
			return -1;
		}
	}
	if (d->eof && !d->pending && !d->shut) {
		if (d->redirect) {
			/* The FIN must not overtake redirected bytes still
			 * in to's psock queue (see the top of the file). */
			if (d->in_map) {
				if (cnt_get(m, d, &c))
					return -1;
				d->kred = c.redirected;	/* final after EOF */
			}
			r = absorbed(d, d->kred);
			if (r < 0)
				return r;
			if (!r) {
				*wait = true;
				return 0;
			}
		}
		/* to leaves the map before its FIN */
		r = take_out(m, o);
		if (r < 0)
			return -1;
		if (!r) {
			*wait = true;
			return 0;
		}
		shutdown(d->to, SHUT_WR);
		d->shut = true;
		*prog = true;
	}
	return 0;
}

/* Both sockets into the map, if no skb in their queues is partly read
 * (the verdict is handed whole skbs, on some kernels without the offset
 * that recv() had reached). tcp_recvmsg() stops short of the buffer only
 * when the queue is empty, so a short last recv() means every skb still
 * queued arrived after it, untouched. Whatever
 * fails, the relay goes on by itself (a socket in the map whose peer is
 * not keeps passing everything to itself). */
static void try_insert(struct l7_sockmap *m, struct smdir d[2], bool *tried)
{
	struct split_l7sm_cnt c0 = { .passed = d[0].uread };
	struct split_l7sm_cnt c1 = { .passed = d[1].uread };

	if (d[0].eof || d[1].eof) {
		*tried = true;		/* a half-closed socket cannot go in */
		return;
	}
	if (!d[0].clean || !d[1].clean)
		return;			/* not now */
	*tried = true;
	for (int i = 0; i < 2; i++) {
		struct tcp_info ti;
		socklen_t tl = sizeof(ti);

		/* only ESTABLISHED sockets go in: check both first, so a
		 * refusal of the second (a FIN in between) is rare */
		if (getsockopt(d[i].from, IPPROTO_TCP, TCP_INFO, &ti, &tl) ||
		    ti.tcpi_state != BPF_TCP_ESTABLISHED)
			return;
	}
	if (bpf_map_update_elem(m->cnt_fd, &d[0].key, &c0, BPF_NOEXIST) ||
	    bpf_map_update_elem(m->cnt_fd, &d[1].key, &c1, BPF_NOEXIST) ||
	    ctl_put(m, &d[0]) || ctl_put(m, &d[1]))
		return;
	for (int i = 0; i < 2; i++) {
		__u64 fd = (__u64)d[i].from;

		/* refused (e.g. a FIN arrived: CLOSE_WAIT): the relay
		 * goes on by itself */
		if (bpf_map_update_elem(m->socks_fd, &d[i].key, &fd, BPF_NOEXIST))
			return;
		d[i].in_map = true;
	}
	for (int i = 0; i < 2; i++) {
		d[i].redirect = true;
		if (ctl_put(m, &d[i])) {
			d[i].redirect = false;
			return;
		}
	}
}

int l7_sockmap_relay(struct l7_sockmap *m, int a, int b, int stopfd,
		     unsigned idle_ms, struct l7_sockmap_io *io)
{
	struct smdir d[2] = {
		{ .from = a, .to = b },
		{ .from = b, .to = a },
	};
	struct split_l7sm_cnt c;
	uint64_t last, kseen = 0;
	unsigned wait_ms = 1;
	bool tried = false;
	int ret = -1;

	if (io)
		memset(io, 0, sizeof(*io));
	if (__atomic_add_fetch(&m->active, 1, __ATOMIC_ACQ_REL) > SM_MAX_TUNNELS) {
		__atomic_sub_fetch(&m->active, 1, __ATOMIC_ACQ_REL);
		return 1;
	}
	for (int i = 0; i < 2; i++) {
		d[i].buf = malloc(SM_BUF);
		if (!d[i].buf || sock_cookie(d[i].from, &d[i].key) ||
		    send_seq(d[i].to, &d[i].base_to)) {
			ret = 1;	/* nothing moved yet */
			goto out;
		}
	}
	d[0].peer = d[1].key;
	d[1].peer = d[0].key;
	last = sm_now_ms();
	for (;;) {
		bool prog = false, wait = false;
		struct pollfd pf[3];
		uint64_t now, left, k = 0;
		int r, tmo;

		for (int i = 0; i < 2; i++) {
			r = dir_move(m, &d[i], &d[1 - i], &prog, &wait);
			if (r == -2) {
				/* Bytes are lost: never end this tunnel with
				 * a FIN that would pass for a clean end. */
				struct linger lg = { .l_onoff = 1 };

				setsockopt(a, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
				setsockopt(b, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
				if (io)
					io->lost = 1;
			}
			if (r)
				goto out;
		}
		if (d[0].shut && d[1].shut) {
			ret = 0;
			break;
		}
		if (!tried)
			try_insert(m, d, &tried);
		now = sm_now_ms();
		if (prog) {
			last = now;
			wait_ms = 1;
			continue;
		}
		for (int i = 0; i < 2; i++)
			if (d[i].redirect && !cnt_get(m, &d[i], &c))
				k += c.redirected;
		if (k != kseen) {	/* the kernel moved bytes */
			kseen = k;
			last = now;
		}
		if (now - last >= idle_ms)
			break;
		left = idle_ms - (now - last);
		pf[0] = (struct pollfd){ .fd = a };
		pf[1] = (struct pollfd){ .fd = b };
		pf[2] = (struct pollfd){ .fd = stopfd, .events = POLLIN };
		for (int i = 0; i < 2; i++) {
			/* d[i] reads pf[i] and writes pf[1 - i] */
			if (!d[i].eof && !d[i].pending)
				pf[i].events |= POLLIN | POLLRDHUP;
			if (d[i].pending)
				pf[1 - i].events |= POLLOUT;
		}
		for (int i = 0; i < 2; i++)
			if (!pf[i].events)
				pf[i].fd = -1;
		tmo = left > 60000 ? 60000 : (int)left;
		if (wait || !tried) {
			/* the kernel's queues, or a chance to insert */
			if (tmo > (int)wait_ms)
				tmo = (int)wait_ms;
			if (wait_ms < SM_WAIT_MAX_MS)
				wait_ms *= 2;
		}
		r = poll(pf, 3, tmo);
		if (r < 0 && errno != EINTR)
			break;
		if (r > 0 && pf[2].revents)
			break;
		if ((pf[0].revents | pf[1].revents) & POLLNVAL)
			break;
	}
out:
	for (int i = 0; i < 2; i++) {
		if (d[i].redirect && io && !cnt_get(m, &d[i], &c))
			io->kernel_bytes += c.redirected;
		if (io)
			io->user_bytes += d[i].uwritten;
	}
	if (io)
		io->redirected = d[0].redirect && d[1].redirect;
	for (int i = 0; i < 2; i++)
		if (d[i].in_map)
			bpf_map_delete_elem(m->socks_fd, &d[i].key);
	if (tried)
		for (int i = 0; i < 2; i++) {
			bpf_map_delete_elem(m->ctl_fd, &d[i].key);
			bpf_map_delete_elem(m->cnt_fd, &d[i].key);
		}
	for (int i = 0; i < 2; i++)
		free(d[i].buf);
	__atomic_sub_fetch(&m->active, 1, __ATOMIC_ACQ_REL);
	return ret;
}

/* ---- the probe ------------------------------------------------------------- */

/* The byte at offset i of stream s: position-dependent, so a lost,
 * repeated or reordered byte shows. */
static unsigned char pat(unsigned s, uint64_t i)
{
	uint64_t x = (i + 1) * 0x9e3779b97f4a7c15ull ^ ((uint64_t)s << 56);

	x ^= x >> 29;
	return (unsigned char)(x * 0xbf58476d1ce4e5b9ull >> 56);
}

struct probe_relay {
	struct l7_sockmap *m;
	int a, b, stopfd, ret;
	int done;			/* atomic */
	struct l7_sockmap_io io;
};

static void *probe_relay_main(void *arg)
{
	struct probe_relay *r = arg;

	r->ret = l7_sockmap_relay(r->m, r->a, r->b, r->stopfd, PROBE_MS, &r->io);
	__atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* One end driven by the probe: sends stream s_out, checks stream s_in. */
struct pend {
	int fd;
	unsigned s_out, s_in;
	uint64_t sent, got, total_out, total_in;
	bool shut, eof, hold_shut;
};

static int pend_step(struct pend *e, short rev, char *buf, char *why, size_t wl)
{
	ssize_t n;

	if ((rev & POLLOUT) && e->sent < e->total_out) {
		size_t k = e->total_out - e->sent > SM_BUF ? SM_BUF :
			   (size_t)(e->total_out - e->sent);

		for (size_t i = 0; i < k; i++)
			buf[i] = (char)pat(e->s_out, e->sent + i);
		n = send(e->fd, buf, k, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			snprintf(why, wl, "probe: send: %s", strerror(errno));
			return -1;
		}
		if (n > 0)
			e->sent += (uint64_t)n;
	}
	if (rev & (POLLIN | POLLHUP | POLLERR)) {
		n = recv(e->fd, buf, SM_BUF, MSG_DONTWAIT);
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			snprintf(why, wl, "probe: recv: %s", strerror(errno));
			return -1;
		}
		if (n == 0) {
			if (e->got != e->total_in) {
				snprintf(why, wl, "probe: EOF after %llu of %llu bytes",
					 (unsigned long long)e->got,
					 (unsigned long long)e->total_in);
				return -1;
			}
			e->eof = true;
		}
		for (ssize_t i = 0; i < n; i++)
			if ((unsigned char)buf[i] != pat(e->s_in, e->got + (uint64_t)i)) {
				snprintf(why, wl, "probe: wrong byte at offset %llu",
					 (unsigned long long)(e->got + (uint64_t)i));
				return -1;
			}
		if (n > 0)
			e->got += (uint64_t)n;
		if (e->got > e->total_in) {
			snprintf(why, wl, "probe: %llu bytes, %llu sent",
				 (unsigned long long)e->got,
				 (unsigned long long)e->total_in);
			return -1;
		}
	}
	if (e->sent == e->total_out && !e->shut && !e->hold_shut) {
		shutdown(e->fd, SHUT_WR);
		e->shut = true;
	}
	return 0;
}

static int tcp_pair(int lfd, const struct sockaddr_in *sa, int *c, int *s)
{
	int one = 1;

	*c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*c < 0)
		return -1;
	if (connect(*c, (const struct sockaddr *)sa, sizeof(*sa))) {
		close(*c);
		return -1;
	}
	*s = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (*s < 0) {
		close(*c);
		return -1;
	}
	setsockopt(*c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(*s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return 0;
}

static int read_exact(int fd, char *b, size_t n)
{
	while (n) {
		ssize_t k = recv(fd, b, n, 0);

		if (k <= 0)
			return -1;
		b += k;
		n -= (size_t)k;
	}
	return 0;
}

/*
 * One round: client c1 -- s1 [relay] c2 -- s2 server. Before the relay,
 * both ends send PROBE_PRE bytes and the "proxy" reads PROBE_PRE_READ of
 * them from each side and writes them on (as start_tunnel does). Then
 * PROBE_BYTES each way; the end named first half-closes as soon as it has
 * sent everything, the other only after it has seen that EOF.
 */
static int probe_round(struct l7_sockmap *m, int lfd,
		       const struct sockaddr_in *sa, bool client_first,
		       char *why, size_t wl)
{
	int c1 = -1, s1 = -1, c2 = -1, s2 = -1, stopfd = -1, ret = -1;
	struct probe_relay pr = { .m = m };
	struct pend e[2];
	bool started = false;
	uint64_t t0 = sm_now_ms(), last_moved = 0;
	char *buf = malloc(SM_BUF);	/* > PROBE_PRE */
	pthread_t th;

	if (!buf || tcp_pair(lfd, sa, &c1, &s1) || tcp_pair(lfd, sa, &c2, &s2)) {
		snprintf(why, wl, "probe: loopback TCP: %s", strerror(errno));
		goto out;
	}
	e[0] = (struct pend){ .fd = c1, .s_out = 1, .s_in = 2,
			      .total_out = PROBE_BYTES, .total_in = PROBE_BYTES,
			      .hold_shut = !client_first };
	e[1] = (struct pend){ .fd = s2, .s_out = 2, .s_in = 1,
			      .total_out = PROBE_BYTES, .total_in = PROBE_BYTES,
			      .hold_shut = client_first };
	/* bytes before the tunnel, partly read by the "proxy" */
	for (int i = 0; i < 2; i++) {
		for (size_t k = 0; k < PROBE_PRE; k++)
			buf[k] = (char)pat(e[i].s_out, k);
		if (send(e[i].fd, buf, PROBE_PRE, MSG_NOSIGNAL) != (ssize_t)PROBE_PRE)
			goto fail_io;
		e[i].sent = PROBE_PRE;
	}
	usleep(20000);		/* let them arrive: the read below is partial */
	if (read_exact(s1, buf, PROBE_PRE_READ) ||
	    send(c2, buf, PROBE_PRE_READ, MSG_NOSIGNAL) != (ssize_t)PROBE_PRE_READ ||
	    read_exact(c2, buf, PROBE_PRE_READ) ||
	    send(s1, buf, PROBE_PRE_READ, MSG_NOSIGNAL) != (ssize_t)PROBE_PRE_READ)
		goto fail_io;
	for (int fd, i = 0; i < 4; i++) {
		/* Small buffers: the relay's sends meet a full queue (EAGAIN
		 * in the psock backlog) again and again, where kernels have
		 * lost and reordered bytes. */
		int small = 32768;

		fd = i == 0 ? c1 : i == 1 ? s1 : i == 2 ? c2 : s2;
		setsockopt(fd, SOL_SOCKET, (i == 0 || i == 3) ? SO_RCVBUF : SO_SNDBUF,
			   &small, sizeof(small));
		if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK))
			goto fail_io;
	}
	stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (stopfd < 0)
		goto fail_io;
	pr.a = s1;
	pr.b = c2;
	pr.stopfd = stopfd;
	if (pthread_create(&th, NULL, probe_relay_main, &pr))
		goto fail_io;
	started = true;
	while (!(e[0].eof && e[1].eof && e[0].shut && e[1].shut)) {
		struct pollfd pf[2];

		uint64_t moved = e[0].got + e[1].got + e[0].sent + e[1].sent;

		if (moved != last_moved) {
			last_moved = moved;
			t0 = sm_now_ms();
		}
		if (__atomic_load_n(&pr.done, __ATOMIC_ACQUIRE) && pr.ret) {
			snprintf(why, wl, "probe: the relay ended with %d", pr.ret);
			goto out;
		}
		if (sm_now_ms() - t0 > PROBE_STALL_MS) {
			snprintf(why, wl, "probe: stalled for %u ms (%llu/%llu, %llu/%llu bytes)",
				 PROBE_STALL_MS, (unsigned long long)e[1].got,
				 (unsigned long long)e[0].sent,
				 (unsigned long long)e[0].got,
				 (unsigned long long)e[1].sent);
			goto out;
		}
		for (int i = 0; i < 2; i++) {
			pf[i] = (struct pollfd){ .fd = e[i].fd };
			if (!e[i].eof)
				pf[i].events |= POLLIN;
			if (e[i].sent < e[i].total_out)
				pf[i].events |= POLLOUT;
		}
		if (poll(pf, 2, 100) < 0 && errno != EINTR)
			goto fail_io;
		for (int i = 0; i < 2; i++) {
			if (pend_step(&e[i], pf[i].revents, buf, why, wl))
				goto out;
			/* the end that waits half-closes once it saw EOF */
			if (e[i].eof)
				e[i].hold_shut = false;
		}
		/* an EOF before the other side shut down is a stray FIN */
		for (int i = 0; i < 2; i++)
			if (e[i].eof && !e[1 - i].shut) {
				snprintf(why, wl, "probe: EOF before the peer's half-close");
				goto out;
			}
	}
	ret = 0;
	goto out;
fail_io:
	snprintf(why, wl, "probe: %s", strerror(errno));
out:
	if (started) {
		uint64_t one = 1;

		if (ret) {
			ssize_t w = write(stopfd, &one, sizeof(one));

			(void)w;
		}
		pthread_join(th, NULL);
		if (pr.io.lost) {
			snprintf(why, wl, "probe: the kernel dropped redirected bytes "
				 "(a psock send failed)");
			ret = -1;
		}
		if (!ret && pr.ret != 0) {
			snprintf(why, wl, "probe: the relay ended with %d", pr.ret);
			ret = -1;
		}
		if (!ret && (!pr.io.redirected ||
			     pr.io.kernel_bytes < PROBE_BYTES)) {
			snprintf(why, wl, "probe: the kernel moved %llu of %u bytes",
				 (unsigned long long)pr.io.kernel_bytes,
				 2 * PROBE_BYTES);
			ret = -1;
		}
	}
	for (int i = 0; i < 4; i++) {
		int fd = i == 0 ? c1 : i == 1 ? s1 : i == 2 ? c2 : s2;

		if (fd >= 0)
			close(fd);
	}
	if (stopfd >= 0)
		close(stopfd);
	free(buf);
	return ret;
}

static int probe(struct l7_sockmap *m, char *why, size_t wl)
{
	struct sockaddr_in sa = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	socklen_t len = sizeof(sa);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ret = -1;

	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(lfd, 8) || getsockname(lfd, (struct sockaddr *)&sa, &len)) {
		snprintf(why, wl, "probe: loopback listener: %s", strerror(errno));
		goto out;
	}
	/* The kernel bugs seen are racy: several rounds, both orders. */
	for (int i = 0; i < PROBE_ROUNDS; i++)
		if (probe_round(m, lfd, &sa, !(i & 1), why, wl))
			goto out;
	ret = 0;
out:
	if (lfd >= 0)
		close(lfd);
	return ret;
}

/* ---- load ----------------------------------------------------------------- */

static struct l7_sockmap *open_fail(struct split_err *err, const char *why)
{
	split_errf(err, "%s", why);
	return NULL;
}

struct l7_sockmap *l7_sockmap_open_flags(const void *obj, size_t len,
					 unsigned flags, struct split_err *err)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .object_name = "split_l7_sockmap");
	char why[SPLIT_ERR_LEN];
	const size_t whylen = sizeof(why);
	struct l7_sockmap *m;
	struct bpf_program *prog;
	struct bpf_map *mp;
	int r;

	if (!obj || !len) {
		snprintf(why, whylen, "no BPF object");
		return open_fail(err, why);
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		snprintf(why, whylen, "%s", strerror(errno));
		return open_fail(err, why);
	}
	m->obj = bpf_object__open_mem(obj, len, &oo);
	if (!m->obj) {
		snprintf(why, whylen, "open BPF object: %s", strerror(errno));
		free(m);
		return open_fail(err, why);
	}
	r = bpf_object__load(m->obj);
	if (r) {
		snprintf(why, whylen, "load BPF object: %s", strerror(-r));
		goto fail;
	}
	mp = bpf_object__find_map_by_name(m->obj, SPLIT_MAP_L7SM_SOCKS);
	m->socks_fd = mp ? bpf_map__fd(mp) : -1;
	mp = bpf_object__find_map_by_name(m->obj, SPLIT_MAP_L7SM_CTL);
	m->ctl_fd = mp ? bpf_map__fd(mp) : -1;
	mp = bpf_object__find_map_by_name(m->obj, SPLIT_MAP_L7SM_CNT);
	m->cnt_fd = mp ? bpf_map__fd(mp) : -1;
	prog = bpf_object__find_program_by_name(m->obj, "l7sm_verdict");
	if (m->socks_fd < 0 || m->ctl_fd < 0 || m->cnt_fd < 0 || !prog) {
		snprintf(why, whylen, "BPF object without its maps or program");
		goto fail;
	}
	if (bpf_prog_attach(bpf_program__fd(prog), m->socks_fd,
			    BPF_SK_SKB_STREAM_VERDICT, 0)) {
		snprintf(why, whylen, "attach stream_verdict: %s", strerror(errno));
		goto fail;
	}
	if (!(flags & L7_SOCKMAP_NO_PROBE) && probe(m, why, whylen))
		goto fail;
	return m;
fail:
	bpf_object__close(m->obj);
	free(m);
	return open_fail(err, why);
}

void l7_sockmap_close(struct l7_sockmap *m)
{
	if (!m)
		return;
	bpf_object__close(m->obj);	/* the maps and the attachment go */
	free(m);
}
