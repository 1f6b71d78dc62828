// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * pool.c - a worker's upstream connections (see l7.h).
 *
 * Connects are non-blocking: the exchange waits for EPOLLOUT (connect
 * timeout: T_CONNECT). After a clean response the connection goes back
 * to the worker's pool (a hash of endpoint addresses), stays registered
 * in epoll, and leaves it at once when the upstream closes it or sends
 * anything (EPOLLRDHUP/EPOLLIN/EPOLLHUP), or when it has been idle for
 * pool_idle_ms (T_POOL). No other thread touches the pool: no lock.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE		/* splice, pipe2, accept4 */
#endif
#include <errno.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "l7.h"
#include "split_common.h"

static unsigned sa_hash(const union l7_sa *u, socklen_t len)
{
	const unsigned char *b = (const unsigned char *)u;
	unsigned h = 2166136261u;

	for (socklen_t i = 0; i < len; i++)
		h = (h ^ b[i]) * 16777619u;
	return h % L7_POOL_BUCKETS;
}

static void pool_unlink(struct l7_worker *w, struct upconn *u)
{
	if (u->pprev)
		u->pprev->pnext = u->pnext;
	else
		w->pool[u->bucket] = u->pnext;
	if (u->pnext)
		u->pnext->pprev = u->pprev;
	u->pprev = u->pnext = NULL;
	w->pool_n--;
	l7_timer_cancel(&u->t);
}

struct upconn *l7_pool_take(struct l7_worker *w, const union l7_sa *sa,
			    socklen_t len)
{
	unsigned b = sa_hash(sa, len);

	for (struct upconn *u = w->pool[b]; u; u = u->pnext) {
		if (u->salen != len || memcmp(&u->sa, sa, len))
			continue;
		pool_unlink(w, u);
		return u;
	}
	return NULL;
}

void l7_up_close(struct l7_worker *w, struct upconn *u)
{
	l7_timer_cancel(&u->t);
	/* io_uring: what is still to be sent goes first, for a while */
	if (u->fd >= 0 && l7_sock_close(w, &u->io, u->fd) > 0)
		l7_timer_arm(w, &u->t, T_POOL);
	u->fd = -1;
	u->owner = NULL;
	/* events of this batch may still name it: reused after the batch */
	u->pnext = w->dead_ups;
	w->dead_ups = u;
}

void l7_pool_put(struct l7_worker *w, struct upconn *u)
{
	u->owner = NULL;
	if (u->hup || u->err || w->pool_n >= w->p->o.pool_max_idle ||
	    w->stopping || w->draining) {
		l7_up_close(w, u);
		return;
	}
	u->bucket = sa_hash(&u->sa, u->salen);
	u->pprev = NULL;
	u->pnext = w->pool[u->bucket];
	if (u->pnext)
		u->pnext->pprev = u;
	w->pool[u->bucket] = u;
	w->pool_n++;
	l7_timer_arm(w, &u->t, T_POOL);
}

/* The connect hooks' tag on a socket, for an upstream connection of
 * the proxy: sockops then counts its health for the endpoint. */
static void tag_socket(struct l7_worker *w, int fd, const struct l7_pick *pk)
{
	int map = __atomic_load_n(&w->p->tag_fd, __ATOMIC_RELAXED);
	struct split_sk_backend t = {
		.backend_id = pk->backend_id,
		.svc_id = pk->svc_id,
		.version_id = pk->version_id,
		.flags = SPLIT_SK_F_COUNT,
	};

	if (map < 0 || !pk->backend_id)
		return;
	if (pk->sa.sa.sa_family == AF_INET6) {
		memcpy(t.addr, &pk->sa.in6.sin6_addr, 16);
		t.port = pk->sa.in6.sin6_port;
		t.family = 6;
	} else {
		memcpy(t.addr, &pk->sa.in.sin_addr, 4);
		t.port = pk->sa.in.sin_port;
		t.family = 4;
	}
	/* getpeername() on it shows the endpoint itself */
	memcpy(t.vip, t.addr, sizeof(t.vip));
	t.vport = t.port;
	bpf_map_update_elem(map, &fd, &t, BPF_ANY);	/* best effort */
}

struct upconn *l7_up_connect(struct l7_worker *w, const struct l7_pick *pk)
{
	const union l7_sa *sa = &pk->sa;
	socklen_t len = pk->salen;
	struct upconn *u = w->free_ups;
	int fd, one = 1;

	fd = socket(sa->sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0)
		return NULL;
	if (u) {
		w->free_ups = u->pnext;
		w->nfree_ups--;
	} else {
		u = malloc(sizeof(*u));
		if (!u) {
			close(fd);
			return NULL;
		}
	}
	memset(u, 0, sizeof(*u));
	u->type = EV_UP;
	u->fd = fd;
	u->t.cls = -1;
	memcpy(&u->sa, sa, len);
	u->salen = len;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	tag_socket(w, fd, pk);
	CTR_ADD(w->st.upstream_connects, 1);
	if (connect(fd, &sa->sa, len)) {
		if (errno != EINPROGRESS)
			goto fail;
		u->connecting = true;
	}
	u->wr = !u->connecting;
	if (l7_sock_add(w, &u->io, fd, u, u->connecting))
		goto fail;
	return u;
fail:
	l7_up_close(w, u);
	return NULL;
}

/* Events on an upstream socket. */
void l7_up_event(struct l7_worker *w, struct upconn *u, uint32_t ev)
{
	if (ev & EPOLLIN)
		u->rd = true;
	if (ev & EPOLLOUT)
		u->wr = true;
	if (ev & (EPOLLHUP | EPOLLRDHUP | EPOLLERR))
		u->hup = u->rd = true;	/* a read sees the end: do one */
	if (ev & (EPOLLHUP | EPOLLERR))
		u->wr = true;
	if (ev & EPOLLERR)
		u->err = true;
	if (u->owner) {
		l7_conn_run(u->owner);
		return;
	}
	if (u->fd < 0)
		return;
	/* pooled: the upstream closed it, or speaks out of turn */
	if (ev & (EPOLLIN | EPOLLHUP | EPOLLRDHUP | EPOLLERR)) {
		pool_unlink(w, u);
		CTR_ADD(w->st.pool_peer_closed, 1);
		l7_up_close(w, u);
	}
}

void l7_pool_timeout(struct l7_worker *w, struct upconn *u)
{
	if (u->fd < 0) {		/* closed: its last bytes did not go */
		l7_sock_abort(w, &u->io);
		return;
	}
	pool_unlink(w, u);
	CTR_ADD(w->st.pool_reaped, 1);
	l7_up_close(w, u);
}

void l7_pool_flush(struct l7_worker *w)
{
	for (unsigned b = 0; b < L7_POOL_BUCKETS; b++)
		while (w->pool[b]) {
			struct upconn *u = w->pool[b];

			pool_unlink(w, u);
			l7_up_close(w, u);
		}
	/* the free ones go; dead ones are reaped after their batch (and
	 * their requests in the ring) */
	while (w->free_ups) {
		struct upconn *u = w->free_ups;

		w->free_ups = u->pnext;
		free(u);
	}
	w->nfree_ups = 0;
}
