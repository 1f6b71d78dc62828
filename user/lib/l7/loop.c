// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * loop.c - a worker: one thread, one epoll loop (edge-triggered), its own
 * listening socket per VIP:port (SO_REUSEPORT: the kernel spreads new
 * connections over the workers), its connections, its upstream pool, its
 * timers and counters (see l7.h). Nothing on a request's path takes a
 * lock or calls malloc: connection structs and buffers come from the
 * worker's free lists, and an idle keep-alive connection holds no buffer.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE		/* splice, pipe2, accept4 */
#endif
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <netinet/tcp.h>
#include <time.h>
#include <unistd.h>

#include "l7.h"

#define container_of(p, T, m) ((T *)((char *)(p) - offsetof(T, m)))

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t l7_mono_ms(void)
{
	return mono_ms();
}

/* ---- timers ------------------------------------------------------------------ */

void l7_timer_cancel(struct tnode *t)
{
	if (t->cls < 0)
		return;
	t->prev->next = t->next;
	t->next->prev = t->prev;
	t->prev = t->next = NULL;
	t->cls = -1;
}

void l7_timer_arm(struct l7_worker *w, struct tnode *t, int cls)
{
	struct tlist *l = &w->tl[cls];

	l7_timer_cancel(t);
	t->deadline = w->now_ms + l->ms;
	t->cls = (int8_t)cls;
	t->next = &l->head;
	t->prev = l->head.prev;
	l->head.prev->next = t;
	l->head.prev = t;
}

int l7_next_timeout(struct l7_worker *w)
{
	uint64_t first = UINT64_MAX;

	for (int i = 0; i < T_NCLASSES; i++) {
		struct tnode *h = w->tl[i].head.next;

		if (h != &w->tl[i].head && h->deadline < first)
			first = h->deadline;
	}
	if (first == UINT64_MAX)
		return 1000;
	if (first <= w->now_ms)
		return 0;
	return first - w->now_ms > 1000 ? 1000 : (int)(first - w->now_ms);
}

static void expire(struct l7_worker *w)
{
	for (int i = 0; i < T_NCLASSES; i++) {
		struct tlist *l = &w->tl[i];

		while (l->head.next != &l->head && l->head.next->deadline <= w->now_ms) {
			struct tnode *t = l->head.next;

			l7_timer_cancel(t);
			if (i == T_POOL)
				l7_pool_timeout(w, container_of(t, struct upconn, t));
			else
				l7_conn_timeout(container_of(t, struct l7_conn, t), i);
		}
	}
}

/* ---- buffers ------------------------------------------------------------------ */

static size_t rq_size(const struct l7_proxy *p)
{
	return p->o.max_head_bytes + L7_BUF_EXTRA +
	       (size_t)p->o.max_headers * sizeof(struct hdr_off);
}

char *l7_buf_get(struct l7_worker *w, bool rq)
{
	struct bufblk **l = rq ? &w->free_rq : &w->free_rs;
	struct bufblk *b = *l;

	if (b) {
		*l = b->next;
		if (rq)
			w->nfree_rq--;
		else
			w->nfree_rs--;
		return (char *)b;
	}
	return malloc(rq ? rq_size(w->p) : L7_RESP_BUF);
}

void l7_buf_put(struct l7_worker *w, bool rq, char *buf)
{
	struct bufblk *b = (struct bufblk *)buf;
	unsigned *n = rq ? &w->nfree_rq : &w->nfree_rs;

	if (!buf)
		return;
	if (*n >= L7_FREE_BUFS) {
		free(buf);
		w->freed_since_trim++;
		return;
	}
	b->next = rq ? w->free_rq : w->free_rs;
	if (rq)
		w->free_rq = b;
	else
		w->free_rs = b;
	(*n)++;
}

/* ---- setup ---------------------------------------------------------------------- */

int l7_ev_add(struct l7_worker *w, int fd, void *tag)
{
	struct epoll_event ev = {
		.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
		.data.ptr = tag,
	};

	return epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev);
}

/* ---- socket I/O, whichever the backend (l7.h) ---------------------------------- */

int l7_sock_add(struct l7_worker *w, struct l7_io *io, int fd, void *tag,
		bool connecting)
{
	if (w->ring)
		return l7_uring_add(w, io, fd, tag, connecting);
	return l7_ev_add(w, fd, tag);
}

ssize_t l7_recv(struct l7_worker *w, struct l7_io *io, int fd, void *buf,
		size_t len)
{
	if (w->ring)
		return l7_uring_recv(w, io, buf, len);
	return recv(fd, buf, len, MSG_DONTWAIT);
}

ssize_t l7_sendv(struct l7_worker *w, struct l7_io *io, int fd,
		 const struct iovec *iov, int iovcnt, bool last)
{
	struct msghdr mh = { .msg_iov = (struct iovec *)iov,
			     .msg_iovlen = (size_t)iovcnt };

	if (w->ring)
		return l7_uring_sendv(w, io, iov, iovcnt);
	return sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT | (last ? MSG_MORE : 0));
}

ssize_t l7_send(struct l7_worker *w, struct l7_io *io, int fd,
		const void *buf, size_t len)
{
	struct iovec v = { (void *)buf, len };

	if (w->ring)
		return l7_uring_sendv(w, io, &v, 1);
	return send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
}

void l7_shut_wr(struct l7_worker *w, struct l7_io *io, int fd)
{
	if (w->ring)
		l7_uring_shut_wr(w, io);
	else
		shutdown(fd, SHUT_WR);
}

int l7_sock_close(struct l7_worker *w, struct l7_io *io, int fd)
{
	if (w->ring)
		return l7_uring_close(w, io);
	close(fd);	/* leaves epoll with it */
	return 0;
}

void l7_sock_abort(struct l7_worker *w, struct l7_io *io)
{
	if (w->ring)
		l7_uring_abort(w, io);
}

int l7_worker_init(struct l7_worker *w, struct l7_proxy *p, unsigned idx)
{
	const struct l7_proxy_opts *o = &p->o;
	struct epoll_event ev = { .events = EPOLLIN };
	unsigned ms[T_NCLASSES] = {
		[T_KEEPALIVE] = o->keepalive_timeout_ms,
		[T_FIRST_BYTE] = o->first_byte_timeout_ms,
		[T_HEAD] = o->header_timeout_ms,
		[T_IO] = o->idle_timeout_ms,
		[T_CONNECT] = o->connect_timeout_ms,
		[T_REPLY] = L7_REPLY_MS,
		[T_LINGER] = L7_LINGER_MS,
		[T_POOL] = o->pool_idle_ms,
	};

	memset(w, 0, sizeof(*w));
	w->p = p;
	w->idx = idx;
	w->wake_type = EV_WAKE;
	w->stop_type = EV_STOP;
	w->blocked = 1;
	for (int i = 0; i < T_NCLASSES; i++) {
		w->tl[i].head.next = w->tl[i].head.prev = &w->tl[i].head;
		w->tl[i].ms = ms[i];
	}
	w->max_conns = o->max_connections / p->nworkers;
	if (w->max_conns < 1)
		w->max_conns = 1;
	w->max_per_src = (o->max_per_source + p->nworkers - 1) / p->nworkers;
	w->hv = calloc(o->max_headers, sizeof(*w->hv));
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!w->hv || w->epfd < 0 || w->wakefd < 0)
		goto fail;
	ev.data.ptr = &w->wake_type;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wakefd, &ev))
		goto fail;
	ev.data.ptr = &w->stop_type;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, p->stopfd, &ev))
		goto fail;
	w->now_ms = mono_ms();
	return 0;
fail:
	l7_worker_fini(w);
	return -1;
}

void l7_worker_fini(struct l7_worker *w)
{
	free(w->hv);
	w->hv = NULL;
	if (w->epfd > 0)
		close(w->epfd);
	if (w->wakefd > 0)
		close(w->wakefd);
	w->epfd = w->wakefd = -1;
	for (int k = 0; k < 2; k++) {
		struct bufblk **l = k ? &w->free_rs : &w->free_rq;

		while (*l) {
			struct bufblk *b = *l;

			*l = b->next;
			free(b);
		}
	}
	w->nfree_rq = w->nfree_rs = 0;
	while (w->free_srcs) {
		struct src *s = w->free_srcs;

		w->free_srcs = s->next;
		free(s);
	}
	while (w->free_conns) {
		struct l7_conn *c = w->free_conns;

		w->free_conns = c->snext;
		free(c);
	}
}

void l7_worker_wake(struct l7_worker *w)
{
	uint64_t one = 1;
	ssize_t r = write(w->wakefd, &one, sizeof(one));

	(void)r;
}

/* ---- sources ---------------------------------------------------------------------- */

static unsigned src_hash(uint8_t fam, const uint8_t *a)
{
	unsigned h = 2166136261u ^ fam;

	for (int i = 0; i < 16; i++)
		h = (h ^ a[i]) * 16777619u;
	return h % L7_SRC_BUCKETS;
}

static struct src *src_get(struct l7_worker *w, const union l7_sa *sa)
{
	uint8_t a[16] = { 0 }, fam = 4;
	unsigned b;
	struct src *s;

	if (sa->sa.sa_family == AF_INET6) {
		memcpy(a, &sa->in6.sin6_addr, 16);
		fam = 6;
	} else {
		memcpy(a, &sa->in.sin_addr, 4);
	}
	b = src_hash(fam, a);
	for (s = w->srcs[b]; s; s = s->next)
		if (s->family == fam && !memcmp(s->addr, a, 16))
			return s;
	s = w->free_srcs;
	if (s)
		w->free_srcs = s->next;
	else if (!(s = malloc(sizeof(*s))))
		return NULL;
	memset(s, 0, sizeof(*s));
	s->family = fam;
	memcpy(s->addr, a, 16);
	s->next = w->srcs[b];
	w->srcs[b] = s;
	return s;
}

/* A connection of s ended. */
void l7_src_put(struct l7_worker *w, struct src *s)
{
	struct src **pp;

	if (!s || --s->count)
		return;
	for (pp = &w->srcs[src_hash(s->family, s->addr)]; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	s->next = w->free_srcs;
	w->free_srcs = s;
}

/* ---- accept ------------------------------------------------------------------------ */

static void handle_accept(struct l7_worker *w, int fd, const union l7_sa *peer,
			  struct l7_entry *e)
{
	struct src *s = src_get(w, peer);

	if (!s) {
		CTR_ADD(w->st.rejected, 1);
		close(fd);
		return;
	}
	s->count++;			/* this one, reserved */
	/* One source at its limit: its oldest idle connection makes room;
	 * none idle: this one is refused. */
	if (w->max_per_src && s->count > w->max_per_src) {
		if (!s->idle_head)
			goto reject;
		CTR_ADD(w->st.evicted, 1);
		l7_conn_close(s->idle_head);	/* count before its close */
	}
	/* The worker at its limit: its oldest idle connection goes. */
	if (w->nconns >= w->max_conns) {
		struct tlist *l = &w->tl[T_KEEPALIVE];

		if (l->head.next == &l->head)
			goto reject;
		CTR_ADD(w->st.evicted, 1);
		l7_conn_close(container_of(l->head.next, struct l7_conn, t));
	}
	/* TCP_NODELAY: inherited from the listener (listen_one) */
	if (!l7_conn_new(w, fd, e, s))
		goto reject;
	CTR_ADD(w->st.accepted, 1);
	return;
reject:
	CTR_ADD(w->st.rejected, 1);	/* counted before the client can see it */
	l7_src_put(w, s);
	close(fd);
}

static __thread bool t_accept_retry;	/* EMFILE and friends */

void l7_accept_all(struct l7_worker *w, struct wl *l)
{
	for (;;) {
		union l7_sa peer;
		socklen_t len = sizeof(peer);
		int fd = accept4(l->fd, &peer.sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM)
				t_accept_retry = true;	/* try again soon */
			return;
		}
		handle_accept(w, fd, &peer, l->g->e);
	}
}

/* Bring this worker's listeners in line with the proxy's groups; when
 * draining, close them all (after accepting what is queued). */
void l7_reconcile(struct l7_worker *w)
{
	struct l7_proxy *p = w->p;
	struct l7_group **pp, *g;

	pthread_mutex_lock(&p->mu);
	for (pp = &p->groups; (g = *pp);) {
		struct wl *l = &g->wl[w->idx];
		bool gone = true;

		if ((g->closing || w->draining) && l->fd >= 0) {
			if (l->registered) {
				l7_accept_all(w, l);
				if (w->ring)	/* its poll lets go of it */
					l7_uring_listen(w, l, false);
				else
					epoll_ctl(w->epfd, EPOLL_CTL_DEL, l->fd, NULL);
			}
			close(l->fd);
			l->fd = -1;
			l->registered = false;
		} else if (!l->registered && l->fd >= 0) {
			struct epoll_event ev = { .events = EPOLLIN | EPOLLET,
						  .data.ptr = l };

			if (w->ring) {
				l7_uring_listen(w, l, true);
				l->registered = true;
				l7_accept_all(w, l);
			} else if (!epoll_ctl(w->epfd, EPOLL_CTL_ADD, l->fd, &ev)) {
				l->registered = true;
				l7_accept_all(w, l);	/* queued before we looked */
			}
		}
		for (unsigned i = 0; i < p->nworkers; i++)
			gone = gone && g->wl[i].fd < 0;
		if (g->closing && gone) {
			/* events of a worker's batch may still name it:
			 * freed with the proxy */
			*pp = g->next;
			g->next = p->dead_groups;
			p->dead_groups = g;
			continue;
		}
		pp = &g->next;
	}
	pthread_mutex_unlock(&p->mu);
}

/* ---- the loop ------------------------------------------------------------------------ */

/* Dead connections and upstream sockets go back to the free lists, once
 * the ring (io_uring backend) has no request of theirs left; all:
 * whatever (the ring is gone). */
static void reap_dead_all(struct l7_worker *w, bool all)
{
	struct l7_conn *busy_c = NULL;
	struct upconn *busy_u = NULL;

	while (w->dead_conns) {
		struct l7_conn *c = w->dead_conns;

		w->dead_conns = c->snext;
		if (!all && l7_io_busy(&c->io)) {
			c->snext = busy_c;
			busy_c = c;
			continue;
		}
		l7_timer_cancel(&c->t);	/* a graceful close's bound */
		if (w->nfree_conns < L7_FREE_CONNS) {
			c->snext = w->free_conns;
			w->free_conns = c;
			w->nfree_conns++;
		} else {
			free(c);
		}
	}
	while (w->dead_ups) {
		struct upconn *u = w->dead_ups;

		w->dead_ups = u->pnext;
		if (!all && l7_io_busy(&u->io)) {
			u->pnext = busy_u;
			busy_u = u;
			continue;
		}
		l7_timer_cancel(&u->t);
		if (w->nfree_ups < L7_FREE_CONNS) {
			u->pnext = w->free_ups;
			w->free_ups = u;
			w->nfree_ups++;
		} else {
			free(u);
		}
	}
	w->dead_conns = busy_c;
	w->dead_ups = busy_u;
}

static void reap_dead(struct l7_worker *w)
{
	reap_dead_all(w, false);
}

/* Start draining: listeners closed, connections idle between requests
 * closed; the others close after their response. A connection that has
 * not sent its first request yet gets a moment (T_LINGER) to send it. */
static void drain_start(struct l7_worker *w)
{
	struct tlist *l = &w->tl[T_KEEPALIVE];
	struct tnode *t, *next;

	w->draining = true;
	l7_reconcile(w);
	/* exchanges under way: close after the response, and say so in it
	 * if its head has not come yet */
	for (struct l7_conn *c = w->all; c; c = c->anext)
		if (c->state == C_EXCH) {
			c->draining_close = true;
			if (!c->rs.status && !c->rq.upgrade &&
			    c->rq.hp.method != HTTP_CONNECT)
				c->rs.inject_close = true;
		}
	for (t = l->head.next; t != &l->head; t = next) {
		struct l7_conn *c = container_of(t, struct l7_conn, t);

		next = t->next;
		if (c->nreq)
			l7_conn_close(c);
		else
			l7_timer_arm(w, &c->t, T_LINGER);
	}
	l = &w->tl[T_FIRST_BYTE];
	while (l->head.next != &l->head)
		l7_timer_arm(w, l->head.next, T_LINGER);
	l7_pool_flush(w);
}

bool l7_accept_retry(void)
{
	return t_accept_retry;
}

/* One event on the thing tag names (a connection, an upstream socket, a
 * listener, the wake and stop fds), as epoll flags. */
void l7_dispatch(struct l7_worker *w, uint8_t *tag, uint32_t ev)
{
	struct l7_proxy *p = w->p;

	switch (*tag) {
	case EV_CLIENT: {
		struct l7_conn *c = (struct l7_conn *)tag;

		if (c->state == C_DEAD)
			break;
		if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			c->rd = true;
		if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			c->hup = true;	/* the end is queued: read to it */
		if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR))
			c->wr = true;
		l7_conn_run(c);
		break;
	}
	case EV_UP: {
		struct upconn *u = (struct upconn *)tag;

		if (u->fd >= 0)
			l7_up_event(w, u, ev);
		break;
	}
	case EV_LISTEN: {
		struct wl *l = (struct wl *)tag;

		if (l->fd >= 0 && l->registered)
			l7_accept_all(w, l);
		break;
	}
	case EV_WAKE: {
		uint64_t v;
		ssize_t r = read(w->wakefd, &v, sizeof(v));

		(void)r;
		if (__atomic_load_n(&p->draining, __ATOMIC_ACQUIRE) &&
		    !w->draining)
			drain_start(w);
		else
			l7_reconcile(w);
		break;
	}
	case EV_STOP:
		w->stopping = true;
		break;
	}
}

/* The end of a loop turn: accepts to retry, timers, dead structs. */
void l7_loop_tail(struct l7_worker *w, int n)
{
	struct l7_proxy *p = w->p;

	if (t_accept_retry) {
		t_accept_retry = false;
		pthread_mutex_lock(&p->mu);
		for (struct l7_group *g = p->groups; g; g = g->next)
			if (g->wl[w->idx].fd >= 0 && g->wl[w->idx].registered)
				l7_accept_all(w, &g->wl[w->idx]);
		pthread_mutex_unlock(&p->mu);
	}
	expire(w);
	reap_dead(w);
	__atomic_store_n(&w->st.active, w->nconns, __ATOMIC_RELAXED);
	/* After a burst, give freed memory back to the system. */
	if (!n && w->freed_since_trim >= 16) {
		w->freed_since_trim = 0;
		malloc_trim(0);
	}
}

/* Stopping: every connection is cut (the ring, if any, still runs). */
void l7_loop_stop(struct l7_worker *w)
{
	struct l7_proxy *p = w->p;

	for (struct l7_conn *c; (c = l7_conn_all_first(w));)
		l7_conn_close(c);
	l7_pool_flush(w);
	pthread_mutex_lock(&p->mu);
	for (struct l7_group *g = p->groups; g; g = g->next) {
		struct wl *l = &g->wl[w->idx];

		if (l->registered) {
			if (w->ring)
				l7_uring_listen(w, l, false);
			else
				epoll_ctl(w->epfd, EPOLL_CTL_DEL, l->fd, NULL);
		}
		l->registered = false;
	}
	pthread_mutex_unlock(&p->mu);
}

/* The ring is gone (or there was none): every dead struct is free. */
static void loop_end(struct l7_worker *w)
{
	reap_dead_all(w, true);
	l7_pool_flush(w);
	__atomic_store_n(&w->st.active, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&w->blocked, 1, __ATOMIC_SEQ_CST);
}

void *l7_worker_main(void *arg)
{
	struct l7_worker *w = arg;
	struct l7_proxy *p = w->p;
	struct epoll_event evs[L7_MAX_EVENTS];

	if (p->uring && !l7_uring_main(w)) {
		loop_end(w);
		return NULL;
	}
	l7_reconcile(w);
	while (!w->stopping) {
		int n, tmo;

		w->now_ms = mono_ms();
		tmo = l7_next_timeout(w);
		if (t_accept_retry && tmo > 10)
			tmo = 10;
		__atomic_store_n(&w->blocked, 1, __ATOMIC_SEQ_CST);
		n = epoll_wait(w->epfd, evs, L7_MAX_EVENTS, tmo);
		__atomic_store_n(&w->blocked, 0, __ATOMIC_SEQ_CST);
		__atomic_store_n(&w->qepoch, __atomic_load_n(&p->epoch, __ATOMIC_SEQ_CST),
				 __ATOMIC_SEQ_CST);
		w->now_ms = mono_ms();
		if (n < 0 && errno != EINTR)
			break;
		for (int i = 0; i < n; i++)
			l7_dispatch(w, evs[i].data.ptr, evs[i].events);
		l7_loop_tail(w, n);
	}
	l7_loop_stop(w);
	loop_end(w);
	return NULL;
}
