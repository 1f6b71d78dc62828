// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * tunnel.c - Upgrade (101), CONNECT (2xx) and non-HTTP connections: bytes
 * both ways until both directions have ended, each half-close passed on
 * after its last byte (see l7.h).
 *
 * In the worker's loop: splice(2) through a pipe per direction, or
 * read/write through the connection's own buffers (no_splice, or splice
 * refused for the pair). What was read before the tunnel started (bytes
 * after the head, bytes after the 101) goes first.
 *
 * sockmap (l7sockmap.h, off by default): once those first bytes are out,
 * both sockets leave the loop for a thread of their own that runs the
 * blocking l7_sockmap_relay(); it is the only place the engine starts a
 * thread per connection, and only when sockmap passed its probe.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE		/* splice, pipe2, accept4 */
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "l7.h"
#include "l7sockmap.h"

void l7_tunnel_free(struct l7_conn *c)
{
	for (int i = 0; i < 2; i++) {
		struct tdir *d = &c->d[i];

		if (d->pipe[0] >= 0)
			close(d->pipe[0]);
		if (d->pipe[1] >= 0)
			close(d->pipe[1]);
		d->pipe[0] = d->pipe[1] = -1;
	}
}

void l7_tunnel_start(struct l7_conn *c)
{
	struct l7_worker *w = c->w;
	struct side *q = &c->rq, *r = &c->rs;

	CTR_ADD(w->st.tunnels, 1);
	if (!r->buf) {
		char *b = l7_buf_get(w, false);

		if (!b) {
			l7_conn_close(c);
			return;
		}
		l7_side_attach(r, b, L7_RESP_BUF, NULL, 0);
		r->sent = r->end = 0;
	}
	c->d[0] = (struct tdir){ .buf = q->buf, .bcap = q->cap, .boff = q->sent,
				 .blen = q->end, .pipe = { -1, -1 } };
	c->d[1] = (struct tdir){ .buf = r->buf, .bcap = r->cap, .boff = r->sent,
				 .blen = r->end, .pipe = { -1, -1 } };
	for (int i = 0; i < 2; i++) {
		if (!w->p->o.no_splice &&
		    !pipe2(c->d[i].pipe, O_NONBLOCK | O_CLOEXEC))
			continue;
		c->d[i].rw = true;
	}
	c->state = C_TUNNEL;
	l7_timer_arm(w, &c->t, c->up->connecting ? T_CONNECT : T_IO);
}

/* One direction: 1 progress, 0 none, -1 error (errno), -2 splice refused
 * (EINVAL, nothing in the pipe). */
static int tdir_move(struct l7_worker *w, struct tdir *d, int from,
		     struct l7_io *from_io, bool *from_rd, bool from_hup, int to,
		     struct l7_io *to_io, bool *to_wr)
{
	int prog = 0;
	ssize_t n;

	/* bytes in the buffer first */
	while (d->boff < d->blen && *to_wr) {
		n = l7_send(w, to_io, to, d->buf + d->boff, d->blen - d->boff);
		if (n > 0) {
			if ((size_t)n < d->blen - d->boff)
				*to_wr = false;
			d->boff += (size_t)n;
			prog = 1;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			*to_wr = false;
			break;
		}
		return -1;
	}
	if (d->boff == d->blen)
		d->boff = d->blen = 0;
	/* then the pipe */
	if (!d->blen && d->pending && *to_wr) {
		n = splice(d->pipe[0], NULL, to, NULL, d->pending,
			   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n > 0) {
			if ((size_t)n < d->pending)
				*to_wr = false;
			d->pending -= (size_t)n;
			d->full = false;
			prog = 1;
			CTR_ADD(w->st.spliced_bytes, (uint64_t)n);
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			*to_wr = false;
		} else if (n < 0 && errno != EINTR) {
			return -1;
		}
	}
	/* fill */
	if (!d->eof && *from_rd && !d->blen) {
		if (d->rw) {
			if (!d->pending) {
				n = l7_recv(w, from_io, from, d->buf, d->bcap);
				if (n > 0) {
					if ((size_t)n < d->bcap && !from_hup &&
					    l7_short_read_drains(w->p))
						*from_rd = false;
					d->blen = (size_t)n;
					prog = 1;
				} else if (n == 0) {
					d->eof = true;
					prog = 1;
				} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
					*from_rd = false;
				} else if (errno != EINTR) {
					return -1;
				}
			}
		} else if (!d->full && d->pending < L7_PIPE_CAP) {
			n = splice(from, NULL, d->pipe[1], NULL,
				   L7_PIPE_CAP - d->pending,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n > 0) {
				d->pending += (size_t)n;
				prog = 1;
			} else if (n == 0) {
				d->eof = true;
				prog = 1;
			} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
				if (d->pending)
					d->full = true;	/* the pipe may be full */
				else
					*from_rd = false;
			} else if (errno == EINVAL && !d->pending) {
				return -2;
			} else if (errno != EINTR) {
				return -1;
			}
		}
	}
	if (d->eof && !d->blen && !d->pending && !d->shut) {
		l7_shut_wr(w, to_io, to);
		d->shut = true;
		prog = 1;
	}
	return prog;
}

/* ---- sockmap: a thread per tunnel ---------------------------------------------- */

struct sm_job {
	struct l7_proxy *p;
	int a, b;
};

/* All sockmap tunnels were in use: relay with read/write here. */
static void plain_relay(struct l7_proxy *p, int a, int b)
{
	char *buf = malloc(L7_PIPE_CAP);
	bool eof[2] = { false, false };

	while (buf && (!eof[0] || !eof[1])) {
		struct pollfd pf[3] = {
			{ .fd = eof[0] ? -1 : a, .events = POLLIN },
			{ .fd = eof[1] ? -1 : b, .events = POLLIN },
			{ .fd = p->stopfd, .events = POLLIN },
		};
		int k = poll(pf, 3, (int)(p->o.idle_timeout_ms > 60000 ? 60000 :
					  p->o.idle_timeout_ms));

		if (k <= 0 || pf[2].revents)
			break;
		for (int i = 0; i < 2; i++) {
			int from = i ? b : a, to = i ? a : b;
			ssize_t n;

			if (!pf[i].revents)
				continue;
			n = recv(from, buf, L7_PIPE_CAP, MSG_DONTWAIT);
			if (n == 0) {
				eof[i] = true;
				shutdown(to, SHUT_WR);
				continue;
			}
			if (n < 0) {
				if (errno == EAGAIN || errno == EINTR)
					continue;
				eof[0] = eof[1] = true;
				break;
			}
			for (ssize_t off = 0; off < n;) {
				ssize_t m = send(to, buf + off, (size_t)(n - off),
						 MSG_NOSIGNAL);

				if (m <= 0) {
					eof[0] = eof[1] = true;
					break;
				}
				off += m;
			}
		}
	}
	free(buf);
}

static void *sm_main(void *arg)
{
	struct sm_job *j = arg;
	struct l7_proxy *p = j->p;
	struct l7_sockmap_io io = { 0 };
	int r = l7_sockmap_relay(p->sm, j->a, j->b, p->stopfd,
				 p->o.idle_timeout_ms, &io);

	if (r <= 0) {
		if (io.redirected)
			__atomic_fetch_add(&p->sm_tunnels, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&p->sm_bytes, io.kernel_bytes, __ATOMIC_RELAXED);
	} else {
		plain_relay(p, j->a, j->b);
	}
	close(j->a);
	close(j->b);
	free(j);
	__atomic_fetch_sub(&p->sm_active, 1, __ATOMIC_RELAXED);
	pthread_mutex_lock(&p->sm_mu);
	p->sm_threads--;
	pthread_cond_broadcast(&p->sm_cv);
	pthread_mutex_unlock(&p->sm_mu);
	return NULL;
}

/* Hand the tunnel's two sockets to a sockmap thread. 0, or -1 (not
 * handed: carry on in the loop). */
static int sm_handoff(struct l7_conn *c)
{
	struct l7_worker *w = c->w;
	struct l7_proxy *p = w->p;
	struct sm_job *j = malloc(sizeof(*j));
	pthread_attr_t attr;
	pthread_t tid;
	sigset_t all, old;
	int ok;

	if (!j)
		return -1;
	j->p = p;
	j->a = c->cfd;
	j->b = c->up->fd;
	epoll_ctl(w->epfd, EPOLL_CTL_DEL, j->a, NULL);
	epoll_ctl(w->epfd, EPOLL_CTL_DEL, j->b, NULL);
	pthread_mutex_lock(&p->sm_mu);
	p->sm_threads++;
	pthread_mutex_unlock(&p->sm_mu);
	__atomic_fetch_add(&p->sm_active, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&p->extra_threads, 1, __ATOMIC_RELAXED);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	ok = !pthread_create(&tid, &attr, sm_main, j);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (!ok) {
		__atomic_fetch_sub(&p->sm_active, 1, __ATOMIC_RELAXED);
		pthread_mutex_lock(&p->sm_mu);
		p->sm_threads--;
		pthread_mutex_unlock(&p->sm_mu);
		l7_ev_add(w, j->a, c);
		l7_ev_add(w, j->b, c->up);
		c->rd = c->wr = c->up->rd = c->up->wr = true;
		free(j);
		return -1;
	}
	/* the sockets are the thread's now */
	c->cfd = -1;
	c->up->fd = -1;		/* l7_conn_close() closes neither */
	l7_conn_close(c);
	return 0;
}

void l7_tunnel_run(struct l7_conn *c)
{
	struct l7_worker *w = c->w;
	struct upconn *u = c->up;
	int k = l7_up_connected(c);

	if (k < 0) {
		l7_conn_close(c);
		return;
	}
	if (!k)
		return;
	for (;;) {
		bool prog = false;

		for (int i = 0; i < 2; i++) {
			int r = i ? tdir_move(w, &c->d[1], u->fd, &u->io, &u->rd,
					      u->hup, c->cfd, &c->io, &c->wr)
				  : tdir_move(w, &c->d[0], c->cfd, &c->io, &c->rd,
					      c->hup, u->fd, &u->io, &u->wr);

			if (r == -2) {		/* splice refused: read/write */
				close(c->d[i].pipe[0]);
				close(c->d[i].pipe[1]);
				c->d[i].pipe[0] = c->d[i].pipe[1] = -1;
				c->d[i].rw = true;
				r = 1;
			}
			if (r < 0) {
				l7_conn_close(c);
				return;
			}
			prog = prog || r;
		}
		if (c->d[0].shut && c->d[1].shut) {
			l7_conn_close(c);
			return;
		}
		if (w->p->sm && !c->d[0].blen && !c->d[1].blen &&
		    !c->d[0].pending && !c->d[1].pending &&
		    !c->d[0].eof && !c->d[1].eof && !sm_handoff(c))
			return;
		if (!prog)
			return;
		if (c->t.deadline != w->now_ms + w->tl[T_IO].ms)
			l7_timer_arm(w, &c->t, T_IO);
	}
}
