// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * uring.c - a worker's loop on io_uring (opts.io = L7_IO_URING), beside
 * loop.c's epoll loop; the connection state machines are the same (conn.c,
 * pool.c, tunnel.c), they reach their sockets through l7_recv/l7_sendv/
 * l7_shut_wr/l7_sock_close (loop.c), which land here when w->ring is set.
 *
 *   reads   each socket has at most one recv in the ring, into a buffer of
 *           the worker's provided-buffer ring; its completion is the
 *           socket's "readable" (EPOLLIN, EPOLLRDHUP at the end), the
 *           engine's l7_recv() copies out of that buffer, and the recv is
 *           armed again once the buffer is used up: a socket holds one
 *           buffer at most, an idle one none. Reading is never a syscall.
 *   writes  l7_sendv() copies the bytes into the socket's send chunk and
 *           says they went; the chunks of every socket go into the ring
 *           in the loop turn's one io_uring_enter (submit and wait), one
 *           send in the ring per socket at a time (MSG_WAITALL: in order,
 *           whole). At 64 KiB waiting the socket says EAGAIN, and its
 *           send's completion says EPOLLOUT. Batching matters on a CPU the
 *           proxy shares with its backends: each send wakes a backend,
 *           and a woken backend preempts the proxy at the syscall's end,
 *           once per turn here instead of once per sendmsg().
 *   close   (and shutdown) the last bytes, if none of the socket's sends is
 *           in the ring, go by a plain send() with the FIN on their
 *           segment (send_last_and_fin); else the socket keeps its fd until
 *           its send is back (bounded by the owner's timer: l7_sock_abort)
 *           and does the same then. Its requests are cancelled (by
 *           user_data) and the ring closes the fd, after any request of
 *           the same turn that names it (fd numbers are reused by the next
 *           accept).
 *   others  the listeners, the wake and stop eventfds: multishot polls;
 *           an upstream connect: a one-shot POLLOUT poll; accept(2), the
 *           connect's SO_ERROR and shutdown(2) stay plain syscalls.
 *
 * A struct that owns a socket (l7_conn, upconn) is reused only when the
 * ring holds no request of its socket (l7_io_busy, reap_dead in loop.c).
 * The ring is SINGLE_ISSUER and DEFER_TASKRUN: created by its worker
 * thread, completions run only when that thread waits for them.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdio.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>

#include "l7.h"
#include "log.h"

#define UR_ENTRIES	1024		/* SQ size (CQ: twice) */
#define UR_NBUFS	256		/* provided recv buffers per worker */
#define UR_BUFSZ	(16 * 1024)
#define UR_BGID		0
#define UR_TX_SMALL	4096		/* send chunk sizes (with the header) */
#define UR_TX_LARGE	(64 * 1024)
#define UR_FREE_SMALL	512		/* idle chunks kept per worker */
#define UR_FREE_LARGE	16

enum { OP_RECV = 1, OP_SEND, OP_POLLOUT, OP_LISTEN, OP_WAKE, OP_STOP, OP_NONE };
#define OP_MASK		7ull

struct l7_txc {
	struct l7_txc *next;
	uint32_t len, cap;
	char data[];
};

struct l7_uring {
	struct io_uring ring;
	struct io_uring_buf_ring *br;
	size_t br_size;
	char *bufs;
	unsigned mask;
	unsigned returned;		/* buffers given back since the last
					 * retry of the starved */
	struct l7_io *sendq;		/* sockets with a chunk to send */
	struct l7_io *starved;		/* recvs to arm again (no buffer) */
	struct l7_txc *free_small, *free_large;
	unsigned nfree_small, nfree_large;
};

#define UR_FLAGS (IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | \
		  IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN)

/* ---- setup -------------------------------------------------------------------- */

static int ring_init(struct io_uring *ring)
{
	struct io_uring_params pa = { .flags = UR_FLAGS | IORING_SETUP_CQSIZE,
				      .cq_entries = 2 * UR_ENTRIES };

	return io_uring_queue_init_params(UR_ENTRIES, ring, &pa);
}

/* The provided-buffer ring: n buffers of size sz at bufs, group UR_BGID. */
static struct io_uring_buf_ring *bufring_new(struct io_uring *ring, char *bufs,
					     unsigned n, size_t *size, int *err)
{
	struct io_uring_buf_reg reg = { .ring_entries = n, .bgid = UR_BGID };
	struct io_uring_buf_ring *br;
	int r;

	*size = n * sizeof(struct io_uring_buf);
	br = mmap(NULL, *size, PROT_READ | PROT_WRITE,
		  MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (br == MAP_FAILED) {
		*err = errno;
		return NULL;
	}
	reg.ring_addr = (unsigned long)br;
	r = io_uring_register_buf_ring(ring, &reg, 0);
	if (r) {
		*err = -r;
		munmap(br, *size);
		return NULL;
	}
	io_uring_buf_ring_init(br);
	for (unsigned i = 0; i < n; i++)
		io_uring_buf_ring_add(br, bufs + (size_t)i * UR_BUFSZ, UR_BUFSZ,
				      (unsigned short)i, io_uring_buf_ring_mask(n),
				      (int)i);
	io_uring_buf_ring_advance(br, (int)n);
	return br;
}

static int probe_here(char *why, size_t len)
{
	struct io_uring ring;
	struct io_uring_buf_ring *br = NULL;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	char *bufs = NULL;
	size_t brsz = 0;
	int sv[2] = { -1, -1 }, r, err = 0, ok = -1;
	struct __kernel_timespec ts = { .tv_sec = 1 };

	r = ring_init(&ring);
	if (r) {
		snprintf(why, len, "io_uring_setup: %s", strerror(-r));
		return -1;
	}
	bufs = malloc((size_t)4 * UR_BUFSZ);
	if (!bufs || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
		snprintf(why, len, "setup: %s", strerror(errno));
		goto out;
	}
	br = bufring_new(&ring, bufs, 4, &brsz, &err);
	if (!br) {
		snprintf(why, len, "provided buffer ring: %s", strerror(err));
		goto out;
	}
	/* a recv into a provided buffer, armed before the bytes come, and a
	 * send: both complete in the ring */
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_recv(sqe, sv[0], NULL, UR_BUFSZ, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = UR_BGID;
	io_uring_sqe_set_data64(sqe, 1);
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_send(sqe, sv[1], "probe", 5, MSG_NOSIGNAL | MSG_WAITALL);
	io_uring_sqe_set_data64(sqe, 2);
	io_uring_submit(&ring);
	for (int got = 0, bits = 0; got < 2; got++) {
		r = io_uring_wait_cqe_timeout(&ring, &cqe, &ts);
		if (r) {
			snprintf(why, len, "no completion: %s", strerror(-r));
			goto out;
		}
		if (cqe->user_data == 1 &&
		    (cqe->res != 5 || !(cqe->flags & IORING_CQE_F_BUFFER) ||
		     memcmp(bufs + (size_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT) * UR_BUFSZ,
			    "probe", 5))) {
			snprintf(why, len, "recv into a provided buffer: res %d flags %#x",
				 cqe->res, cqe->flags);
			goto out;
		}
		if (cqe->user_data == 2 && cqe->res != 5) {
			snprintf(why, len, "send: res %d", cqe->res);
			goto out;
		}
		bits |= (int)cqe->user_data;
		io_uring_cqe_seen(&ring, cqe);
		if (got == 1 && bits == 3)
			ok = 0;
	}
	if (ok)
		snprintf(why, len, "unexpected completions");
out:
	io_uring_queue_exit(&ring);
	if (br)
		munmap(br, brsz);
	free(bufs);
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	return ok;
}

struct probe_job {
	char *why;
	size_t len;
	int ret;
};

static void *probe_main(void *arg)
{
	struct probe_job *j = arg;

	j->ret = probe_here(j->why, j->len);
	return NULL;
}

/*
 * In a thread of its own: a ring's teardown queues task work (TWA_SIGNAL)
 * to every thread that used it, which makes a blocking call with a
 * timeout in that thread (a recv under SO_RCVTIMEO) fail with EINTR. The
 * probe's thread has exited by then: nobody else's call is interrupted.
 */
int l7_uring_probe(char *why, size_t len)
{
	struct probe_job j = { why, len, -1 };
	pthread_t t;
	int e = pthread_create(&t, NULL, probe_main, &j);

	if (e) {
		snprintf(why, len, "probe thread: %s", strerror(e));
		return -1;
	}
	pthread_join(t, NULL);
	return j.ret;
}

/* ---- requests --------------------------------------------------------------------- */

static struct io_uring_sqe *sqe_get(struct l7_uring *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);

	if (!sqe) {			/* full: send what is there */
		io_uring_submit(&r->ring);
		sqe = io_uring_get_sqe(&r->ring);
	}
	return sqe;
}

static void buf_put(struct l7_uring *r, unsigned bid)
{
	io_uring_buf_ring_add(r->br, r->bufs + (size_t)bid * UR_BUFSZ, UR_BUFSZ,
			      (unsigned short)bid, (int)r->mask, 0);
	io_uring_buf_ring_advance(r->br, 1);
	r->returned++;
}

static void starve(struct l7_uring *r, struct l7_io *io)
{
	if (io->starved)
		return;
	io->starved = true;
	io->snext = r->starved;
	r->starved = io;
}

static void arm_recv(struct l7_worker *w, struct l7_io *io)
{
	struct l7_uring *r = w->ring;
	struct io_uring_sqe *sqe;

	if (!io->open || io->closing || io->rx_armed || io->rx_have ||
	    io->rx_eof || io->rx_err || io->starved)
		return;
	sqe = sqe_get(r);
	if (!sqe) {
		starve(r, io);
		return;
	}
	io_uring_prep_recv(sqe, io->fd, NULL, UR_BUFSZ, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = UR_BGID;
	io_uring_sqe_set_data64(sqe, (uintptr_t)io | OP_RECV);
	io->rx_armed = true;
	io->inflight++;
}

static struct l7_txc *txc_get(struct l7_uring *r, size_t want)
{
	bool small = want + sizeof(struct l7_txc) <= UR_TX_SMALL;
	struct l7_txc **l = small ? &r->free_small : &r->free_large;
	struct l7_txc *c = *l;
	size_t sz = small ? UR_TX_SMALL : UR_TX_LARGE;

	if (c) {
		*l = c->next;
		if (small)
			r->nfree_small--;
		else
			r->nfree_large--;
	} else if ((c = malloc(sz))) {
		c->cap = (uint32_t)(sz - sizeof(*c));
	} else {
		return NULL;
	}
	c->len = 0;
	c->next = NULL;
	return c;
}

static void txc_put(struct l7_uring *r, struct l7_txc *c)
{
	bool small = c->cap + sizeof(*c) == UR_TX_SMALL;

	if (small ? r->nfree_small >= UR_FREE_SMALL : r->nfree_large >= UR_FREE_LARGE) {
		free(c);
		return;
	}
	if (small) {
		c->next = r->free_small;
		r->free_small = c;
		r->nfree_small++;
	} else {
		c->next = r->free_large;
		r->free_large = c;
		r->nfree_large++;
	}
}

/* The socket's chunk into the ring, if none of its sends is there. */
static int send_stage(struct l7_worker *w, struct l7_io *io)
{
	struct io_uring_sqe *sqe;

	if (io->fly || !io->stage || !io->stage->len)
		return 0;
	sqe = sqe_get(w->ring);
	if (!sqe)
		return -1;
	io_uring_prep_send(sqe, io->fd, io->stage->data, io->stage->len,
			   MSG_NOSIGNAL | MSG_WAITALL);
	io_uring_sqe_set_data64(sqe, (uintptr_t)io | OP_SEND);
	io->fly = io->stage;
	io->stage = NULL;
	io->inflight++;
	return 0;
}

static void mark_dirty(struct l7_uring *r, struct l7_io *io)
{
	if (io->dirty)
		return;
	io->dirty = true;
	io->dnext = r->sendq;
	r->sendq = io;
}

/* Cancel what the ring still does with the socket, then close its fd:
 * both in the ring, after any request of this turn that names the fd. */
static void final_close(struct l7_worker *w, struct l7_io *io)
{
	struct l7_uring *r = w->ring;
	struct io_uring_sqe *sqe;
	int fd = io->fd;

	io->open = io->closing = false;
	io->fd = -1;
	if (io->rx_have) {
		buf_put(r, io->rx_bid);
		io->rx_have = false;
	}
	if (io->stage) {
		txc_put(r, io->stage);
		io->stage = NULL;
	}
	if (!io->inflight) {		/* no request names the fd */
		close(fd);
		return;
	}
	/* Its requests cancelled by their user_data (one hash bucket each;
	 * a cancel by fd walks every request in the ring): the recv, the
	 * send, a connect's POLLOUT (what inflight counts besides those). */
	unsigned npoll = io->inflight - io->rx_armed - (io->fly ? 1u : 0u);
	unsigned need = 1 + io->rx_armed + (io->fly ? 1u : 0u) + (npoll ? 1u : 0u);
	static const uint64_t ops[3] = { OP_RECV, OP_SEND, OP_POLLOUT };
	bool want[3] = { io->rx_armed, io->fly != NULL, npoll > 0 };

	if (io_uring_sq_space_left(&r->ring) < need)
		io_uring_submit(&r->ring);
	if (io_uring_sq_space_left(&r->ring) < need) {
		/* no room in the SQ: a plain close (the shutdown ends a
		 * recv still armed, so the ring lets go) */
		shutdown(fd, SHUT_RDWR);
		close(fd);
		return;
	}
	for (int k = 0; k < 3; k++) {
		if (!want[k])
			continue;
		sqe = io_uring_get_sqe(&r->ring);
		io_uring_prep_cancel64(sqe, (uintptr_t)io | ops[k], 0);
		io_uring_sqe_set_data64(sqe, OP_NONE);
	}
	sqe = io_uring_get_sqe(&r->ring);
	io_uring_prep_close(sqe, fd);
	io_uring_sqe_set_data64(sqe, OP_NONE);
}

/* ---- the engine's calls (l7.h) ------------------------------------------------------ */

int l7_uring_add(struct l7_worker *w, struct l7_io *io, int fd, void *tag,
		 bool connecting)
{
	struct io_uring_sqe *sqe;

	memset(io, 0, sizeof(*io));
	io->tag = tag;
	io->fd = fd;
	if (connecting) {
		sqe = sqe_get(w->ring);
		if (!sqe)
			return -1;
		io_uring_prep_poll_add(sqe, fd, POLLOUT);
		io_uring_sqe_set_data64(sqe, (uintptr_t)io | OP_POLLOUT);
		io->inflight++;
		io->open = true;
		return 0;
	}
	io->open = true;
	arm_recv(w, io);
	if (!io->rx_armed && !io->starved) {
		io->open = false;
		return -1;
	}
	return 0;
}

ssize_t l7_uring_recv(struct l7_worker *w, struct l7_io *io, void *buf,
		      size_t len)
{
	struct l7_uring *r = w->ring;

	if (io->rx_have) {
		size_t n = io->rx_len - io->rx_off;

		if (n > len)
			n = len;
		memcpy(buf, r->bufs + (size_t)io->rx_bid * UR_BUFSZ + io->rx_off, n);
		io->rx_off += (uint32_t)n;
		if (io->rx_off == io->rx_len) {
			buf_put(r, io->rx_bid);
			io->rx_have = false;
			arm_recv(w, io);
		}
		return (ssize_t)n;
	}
	if (io->rx_err) {
		errno = io->rx_err;
		return -1;
	}
	if (io->rx_eof)
		return 0;
	if (!io->open) {
		errno = EBADF;
		return -1;
	}
	arm_recv(w, io);
	errno = EAGAIN;
	return -1;
}

ssize_t l7_uring_sendv(struct l7_worker *w, struct l7_io *io,
		       const struct iovec *iov, int iovcnt)
{
	struct l7_uring *r = w->ring;
	size_t total = 0, done = 0, room;

	if (!io->open || io->closing || io->tx_err) {
		errno = EPIPE;
		return -1;
	}
	if (io->rx_err) {
		errno = io->rx_err;
		return -1;
	}
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	if (!total)
		return 0;
	if (!io->stage && !(io->stage = txc_get(r, total))) {
		errno = ENOMEM;
		return -1;
	}
	room = io->stage->cap - io->stage->len;
	for (int i = 0; i < iovcnt && done < room; i++) {
		size_t k = iov[i].iov_len;

		if (k > room - done)
			k = room - done;
		memcpy(io->stage->data + io->stage->len + done, iov[i].iov_base, k);
		done += k;
	}
	io->stage->len += (uint32_t)done;
	if (done)
		mark_dirty(r, io);
	if (done < total)
		io->want_wr = true;	/* its send's completion says EPOLLOUT */
	if (!done) {
		errno = EAGAIN;
		return -1;
	}
	return (ssize_t)done;
}

/* A socket's last bytes and its FIN, when none of its sends is in the
 * ring: a plain send() now with MSG_MORE, then shutdown(SHUT_WR), which
 * puts the FIN on the same segment (the kernel tacks a FIN onto a segment
 * not yet sent), so the peer reads the end with the response. True if the
 * FIN went; else what did not go stays staged for the ring. */
static bool send_last_and_fin(struct l7_uring *r, struct l7_io *io)
{
	struct l7_txc *c = io->stage;
	ssize_t n;

	if (io->fly)
		return false;
	if (!c) {
		shutdown(io->fd, SHUT_WR);
		return true;
	}
	n = send(io->fd, c->data, c->len, MSG_DONTWAIT | MSG_NOSIGNAL | MSG_MORE);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			io->tx_err = true;
		return false;
	}
	if ((uint32_t)n < c->len) {
		memmove(c->data, c->data + n, c->len - (uint32_t)n);
		c->len -= (uint32_t)n;
		return false;
	}
	txc_put(r, c);
	io->stage = NULL;	/* (still on the sendq: its flush finds none) */
	shutdown(io->fd, SHUT_WR);
	return true;
}

void l7_uring_shut_wr(struct l7_worker *w, struct l7_io *io)
{
	if (!io->open)
		return;
	if (io->stage && send_last_and_fin(w->ring, io))
		return;
	if (io->fly || io->stage) {
		io->shut_pending = true;	/* after the last byte */
		return;
	}
	shutdown(io->fd, SHUT_WR);
}

int l7_uring_close(struct l7_worker *w, struct l7_io *io)
{
	if (!io->open)
		return 0;
	if (!io->tx_err && !io->rx_err && io->stage && send_last_and_fin(w->ring, io)) {
		final_close(w, io);	/* the fd goes with the ring's next enter */
		return 0;
	}
	if (!io->tx_err && !io->rx_err && (io->stage || io->fly)) {
		send_stage(w, io);
		io->closing = true;	/* closed when the last send is back */
		return 1;
	}
	final_close(w, io);
	return 0;
}

void l7_uring_abort(struct l7_worker *w, struct l7_io *io)
{
	if (io->open)
		final_close(w, io);
}

void l7_uring_listen(struct l7_worker *w, struct wl *l, bool on)
{
	struct l7_uring *r = w->ring;
	struct io_uring_sqe *sqe = sqe_get(r);

	if (!sqe)
		return;
	if (on) {
		io_uring_prep_poll_multishot(sqe, l->fd, POLLIN);
		io_uring_sqe_set_data64(sqe, (uintptr_t)l | OP_LISTEN);
		return;
	}
	/* let go of the socket now: it leaves the SO_REUSEPORT group when
	 * its last reference (this poll's) goes */
	io_uring_prep_cancel64(sqe, (uintptr_t)l | OP_LISTEN, 0);
	io_uring_sqe_set_data64(sqe, OP_NONE);
	io_uring_submit(&r->ring);
}

/* ---- completions -------------------------------------------------------------------- */

static void poll_arm(struct l7_worker *w, int fd, uint64_t data)
{
	struct io_uring_sqe *sqe = sqe_get(w->ring);

	if (!sqe)
		return;
	io_uring_prep_poll_multishot(sqe, fd, POLLIN);
	io_uring_sqe_set_data64(sqe, data);
}

static void on_recv(struct l7_worker *w, struct l7_io *io, int res,
		    unsigned flags)
{
	struct l7_uring *r = w->ring;
	uint32_t ev;

	io->inflight--;
	io->rx_armed = false;
	if (res > 0 && (flags & IORING_CQE_F_BUFFER)) {
		unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;

		if (!io->open || io->closing) {
			buf_put(r, bid);
			return;
		}
		io->rx_have = true;
		io->rx_bid = (uint16_t)bid;
		io->rx_off = 0;
		io->rx_len = (uint32_t)res;
		ev = EPOLLIN;
	} else if (!io->open || io->closing || res == -ECANCELED) {
		return;
	} else if (res == 0) {
		io->rx_eof = true;
		ev = EPOLLIN | EPOLLRDHUP;
	} else if (res == -ENOBUFS) {
		starve(r, io);		/* armed again when buffers come back */
		return;
	} else if (res == -EINTR || res == -EAGAIN) {
		arm_recv(w, io);
		return;
	} else {
		io->rx_err = res < 0 ? -res : EIO;
		ev = EPOLLIN | EPOLLERR | EPOLLHUP;
	}
	l7_dispatch(w, io->tag, ev);
}

static void on_send(struct l7_worker *w, struct l7_io *io, int res)
{
	struct l7_uring *r = w->ring;
	struct l7_txc *c = io->fly;

	io->inflight--;
	io->fly = NULL;
	if (c) {
		if (res < 0 || (uint32_t)res < c->len)
			io->tx_err = true;
		txc_put(r, c);
	}
	if (!io->open)
		return;
	if (io->tx_err) {
		if (io->stage) {
			txc_put(r, io->stage);
			io->stage = NULL;
		}
		if (io->closing) {
			final_close(w, io);
			return;
		}
		io->want_wr = false;
		l7_dispatch(w, io->tag, EPOLLERR | EPOLLHUP);
		return;
	}
	/* Closing, or to be shut: the rest and the FIN now (the FIN on the
	 * rest's last segment), not with the next turn's enter. (Not by a
	 * shutdown linked behind a send in the ring: a linked request finds
	 * its file by number when it runs, a cancel by fd does not see it,
	 * and once the fd is closed its number can be the next accept's.) */
	if ((io->closing || io->shut_pending) && send_last_and_fin(r, io)) {
		io->shut_pending = false;
		if (io->closing) {
			final_close(w, io);
			return;
		}
	} else if (io->stage) {
		if (send_stage(w, io))
			mark_dirty(r, io);
	}
	if (io->want_wr && !io->closing) {
		io->want_wr = false;
		l7_dispatch(w, io->tag, EPOLLOUT);
	}
}

static void on_pollout(struct l7_worker *w, struct l7_io *io, int res)
{
	uint32_t ev = 0;

	io->inflight--;
	if (!io->open || io->closing || res == -ECANCELED)
		return;
	if (res < 0)
		ev = EPOLLERR | EPOLLHUP;
	else {
		if (res & POLLOUT)
			ev |= EPOLLOUT;
		if (res & POLLERR)
			ev |= EPOLLERR;
		if (res & POLLHUP)
			ev |= EPOLLHUP;
		if (!(ev & EPOLLERR))
			arm_recv(w, io);	/* connected: its reads */
	}
	l7_dispatch(w, io->tag, ev);
}

static void on_cqe(struct l7_worker *w, uint64_t data, int res, unsigned flags)
{
	void *ptr = (void *)(uintptr_t)(data & ~OP_MASK);
	bool more = flags & IORING_CQE_F_MORE;

	switch (data & OP_MASK) {
	case OP_RECV:
		on_recv(w, ptr, res, flags);
		break;
	case OP_SEND:
		on_send(w, ptr, res);
		break;
	case OP_POLLOUT:
		on_pollout(w, ptr, res);
		break;
	case OP_LISTEN: {
		struct wl *l = ptr;

		if (l->fd < 0 || !l->registered)
			break;
		if (!more && res != -ECANCELED)
			poll_arm(w, l->fd, data);
		if (res > 0)
			l7_accept_all(w, l);
		break;
	}
	case OP_WAKE:
		if (!more && !w->stopping)
			poll_arm(w, w->wakefd, data);
		l7_dispatch(w, &w->wake_type, EPOLLIN);
		break;
	case OP_STOP:
		l7_dispatch(w, &w->stop_type, EPOLLIN);
		break;
	default:
		break;
	}
}

/* ---- the loop ---------------------------------------------------------------------------- */

/* Before the turn's submit: the chunks written this turn, the recvs that
 * found no buffer (if buffers came back). */
static void turn_flush(struct l7_worker *w)
{
	struct l7_uring *r = w->ring;
	struct l7_io *io, *retry = NULL;

	while ((io = r->sendq)) {
		r->sendq = io->dnext;
		io->dirty = false;
		if (io->open && send_stage(w, io)) {
			io->dirty = true;	/* no room in the SQ: next turn */
			io->dnext = retry;
			retry = io;
		}
	}
	r->sendq = retry;
	if (r->starved && r->returned) {
		struct l7_io *l = r->starved;

		r->starved = NULL;
		r->returned = 0;
		while ((io = l)) {
			l = io->snext;
			io->starved = false;
			arm_recv(w, io);
		}
	}
}

static struct l7_uring *ur_new(struct l7_worker *w, char *why, size_t len)
{
	struct l7_uring *r = calloc(1, sizeof(*r));
	int err = 0, e;

	if (!r) {
		snprintf(why, len, "%s", strerror(errno));
		return NULL;
	}
	e = ring_init(&r->ring);
	if (e) {
		snprintf(why, len, "io_uring_setup: %s", strerror(-e));
		free(r);
		return NULL;
	}
	r->bufs = malloc((size_t)UR_NBUFS * UR_BUFSZ);
	if (r->bufs)
		r->br = bufring_new(&r->ring, r->bufs, UR_NBUFS, &r->br_size, &err);
	if (!r->br) {
		snprintf(why, len, "provided buffers: %s", strerror(r->bufs ? err : ENOMEM));
		io_uring_queue_exit(&r->ring);
		free(r->bufs);
		free(r);
		return NULL;
	}
	r->mask = (unsigned)io_uring_buf_ring_mask(UR_NBUFS);
	(void)w;
	return r;
}

static void free_io_chunks(struct l7_uring *r, struct l7_io *io)
{
	if (io->fly)
		free(io->fly);
	if (io->stage)
		free(io->stage);
	io->fly = io->stage = NULL;
	io->dirty = io->starved = false;
	io->inflight = 0;
	io->open = false;
	(void)r;
}

static void ur_free(struct l7_worker *w)
{
	struct l7_uring *r = w->ring;

	/* every request is cancelled and waited for: no completion names
	 * a struct after this */
	io_uring_queue_exit(&r->ring);
	for (struct l7_conn *c = w->dead_conns; c; c = c->snext)
		free_io_chunks(r, &c->io);
	for (struct upconn *u = w->dead_ups; u; u = u->pnext)
		free_io_chunks(r, &u->io);
	for (int k = 0; k < 2; k++) {
		struct l7_txc **l = k ? &r->free_large : &r->free_small;

		while (*l) {
			struct l7_txc *c = *l;

			*l = c->next;
			free(c);
		}
	}
	munmap(r->br, r->br_size);
	free(r->bufs);
	free(r);
	w->ring = NULL;
}

int l7_uring_main(struct l7_worker *w)
{
	struct l7_proxy *p = w->p;
	struct l7_uring *r;
	char why[128];

	r = ur_new(w, why, sizeof(why));
	if (!r) {
		pr_warn("L7 proxy: worker %u: io_uring refused (%s): it runs epoll\n",
			w->idx, why);
		return -1;
	}
	w->ring = r;
	poll_arm(w, w->wakefd, (uintptr_t)w | OP_WAKE);
	poll_arm(w, p->stopfd, (uintptr_t)w | OP_STOP);
	l7_reconcile(w);
	while (!w->stopping) {
		struct __kernel_timespec ts;
		struct io_uring_cqe *cqe;
		int tmo, n = 0, e;

		w->now_ms = l7_mono_ms();
		tmo = l7_next_timeout(w);
		if (l7_accept_retry() && tmo > 10)
			tmo = 10;
		turn_flush(w);
		ts.tv_sec = tmo / 1000;
		ts.tv_nsec = (long long)(tmo % 1000) * 1000000;
		__atomic_store_n(&w->blocked, 1, __ATOMIC_SEQ_CST);
		e = io_uring_submit_and_wait_timeout(&r->ring, &cqe, 1, &ts, NULL);
		__atomic_store_n(&w->blocked, 0, __ATOMIC_SEQ_CST);
		__atomic_store_n(&w->qepoch, __atomic_load_n(&p->epoch, __ATOMIC_SEQ_CST),
				 __ATOMIC_SEQ_CST);
		w->now_ms = l7_mono_ms();
		if (e < 0 && e != -ETIME && e != -EINTR && e != -EBUSY) {
			pr_warn("L7 proxy: worker %u: io_uring_enter: %s\n", w->idx,
				strerror(-e));
			break;
		}
		while (!io_uring_peek_cqe(&r->ring, &cqe)) {
			uint64_t data = cqe->user_data;
			int res = cqe->res;
			unsigned flags = cqe->flags;

			io_uring_cqe_seen(&r->ring, cqe);
			on_cqe(w, data, res, flags);
			n++;
		}
		l7_loop_tail(w, n);
	}
	l7_loop_stop(w);
	turn_flush(w);
	io_uring_submit(&r->ring);
	ur_free(w);
	return 0;
}
