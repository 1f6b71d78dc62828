// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * conn.c - a client connection's state machine (see l7.h).
 *
 *   C_HEAD    reading a request head (idle: no byte yet, no buffer held;
 *             T_KEEPALIVE or T_FIRST_BYTE; then T_HEAD from the first byte)
 *   C_EXCH    the request streamed up, the response down, full duplex
 *             (T_CONNECT while the upstream connects, then T_IO)
 *   C_TUNNEL  bytes both ways (tunnel.c)
 *   C_REPLY   the proxy's own answer going out (T_REPLY), then
 *   C_LINGER  half-closed, reading what the client still sends (T_LINGER)
 *
 * l7_conn_run() advances the machine until it has to wait for an event.
 * Sockets are edge-triggered: c->rd/c->wr (and the upstream's) say that a
 * read or write may make progress; they are cleared when one would block
 * (EAGAIN, or a short read/write), set again by the next edge.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE		/* splice, pipe2, accept4 */
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "l7.h"

/* ---- bookkeeping --------------------------------------------------------------- */

struct l7_conn *l7_conn_all_first(struct l7_worker *w)
{
	return w->all;
}

static void set_idle(struct l7_conn *c, bool idle)
{
	struct src *s = c->src;

	if (c->idle == idle)
		return;
	c->idle = idle;
	if (!s)
		return;
	if (idle) {
		c->sprev = s->idle_tail;
		c->snext = NULL;
		if (s->idle_tail)
			s->idle_tail->snext = c;
		else
			s->idle_head = c;
		s->idle_tail = c;
	} else {
		if (c->sprev)
			c->sprev->snext = c->snext;
		else
			s->idle_head = c->snext;
		if (c->snext)
			c->snext->sprev = c->sprev;
		else
			s->idle_tail = c->sprev;
		c->sprev = c->snext = NULL;
	}
}

static void release_bufs(struct l7_conn *c)
{
	l7_buf_put(c->w, true, c->rq.buf);
	l7_buf_put(c->w, false, c->rs.buf);
	c->rq.buf = c->rs.buf = NULL;
	c->rq.hdrs = NULL;
}

static int get_rq_buf(struct l7_conn *c)
{
	struct l7_proxy *p = c->w->p;
	char *b = l7_buf_get(c->w, true);
	size_t cap = p->o.max_head_bytes + L7_BUF_EXTRA;

	if (!b)
		return -1;
	l7_side_attach(&c->rq, b, cap, (struct hdr_off *)(b + cap),
		       p->o.max_headers);
	return 0;
}

static int get_rs_buf(struct l7_conn *c)
{
	char *b;

	if (c->rs.buf)
		return 0;
	b = l7_buf_get(c->w, false);
	if (!b)
		return -1;
	l7_side_attach(&c->rs, b, L7_RESP_BUF, NULL, 0);
	return 0;
}

struct l7_conn *l7_conn_new(struct l7_worker *w, int fd, struct l7_entry *e,
			    struct src *src)
{
	struct l7_conn *c = w->free_conns;

	if (c) {
		w->free_conns = c->snext;
		w->nfree_conns--;
	} else if (!(c = malloc(sizeof(*c)))) {
		return NULL;
	}
	memset(c, 0, sizeof(*c));
	c->type = EV_CLIENT;
	c->w = w;
	c->e = e;
	c->cfd = fd;
	c->t.cls = -1;
	c->state = C_HEAD;
	c->d[0].pipe[0] = c->d[0].pipe[1] = -1;
	c->d[1].pipe[0] = c->d[1].pipe[1] = -1;
	http_parser_init(&c->rq.hp, HTTP_REQUEST);
	c->rq.hp.data = &c->rq;
	c->rs.hp.data = &c->rs;
	if (l7_sock_add(w, &c->io, fd, c, false)) {
		c->snext = w->free_conns;
		w->free_conns = c;
		w->nfree_conns++;
		return NULL;
	}
	c->wr = w->ring != NULL;	/* io_uring: writable until a send waits */
	c->anext = w->all;
	if (w->all)
		w->all->aprev = c;
	w->all = c;
	w->nconns++;
	c->src = src;
	/* wait for the first bytes (epoll reports those already there) */
	set_idle(c, true);
	if (w->draining)		/* accepted from the queue while draining */
		l7_timer_arm(w, &c->t, T_LINGER);
	else if (w->p->o.first_byte_timeout_ms)
		l7_timer_arm(w, &c->t, T_FIRST_BYTE);
	else
		l7_timer_arm(w, &c->t, T_KEEPALIVE);
	return c;
}

void l7_conn_close(struct l7_conn *c)
{
	struct l7_worker *w = c->w;

	if (c->state == C_DEAD)
		return;
	l7_timer_cancel(&c->t);
	set_idle(c, false);
	if (c->up) {
		l7_up_close(w, c->up);
		c->up = NULL;
	}
	l7_tunnel_free(c);
	release_bufs(c);
	/* io_uring: what is still to be sent goes first, for a while */
	if (c->cfd >= 0 && l7_sock_close(w, &c->io, c->cfd) > 0)
		l7_timer_arm(w, &c->t, T_IO);
	c->cfd = -1;
	if (c->aprev)
		c->aprev->anext = c->anext;
	else
		w->all = c->anext;
	if (c->anext)
		c->anext->aprev = c->aprev;
	c->aprev = c->anext = NULL;
	l7_src_put(w, c->src);
	c->src = NULL;
	w->nconns--;
	c->state = C_DEAD;
	/* events of this batch may still name it: reused after the batch */
	c->snext = w->dead_conns;
	w->dead_conns = c;
}

void l7_conn_count_status(struct l7_conn *c, unsigned slot, int status)
{
	if (status >= 100 && status <= 599)
		CTR_ADD(l7_ctr_of(c->e, c->w->idx, slot)->responses[status / 100 - 1], 1);
}

/* ---- the proxy's own answers, lingering close ------------------------------------ */

static const char *reason(int status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 408: return "Request Timeout";
	case 431: return "Request Header Fields Too Large";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "Error";
	}
}

static void drop_upstream(struct l7_conn *c)
{
	if (c->up) {
		l7_up_close(c->w, c->up);
		c->up = NULL;
	}
}

/* Answer status, then a lingering close. */
static void reply(struct l7_conn *c, int status, unsigned slot)
{
	const char *why = reason(status);
	int n;

	drop_upstream(c);
	n = snprintf(c->msg, sizeof(c->msg),
		     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n"
		     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s\n",
		     status, why, strlen(why) + 1, why);
	c->mlen = (uint16_t)n;
	c->moff = 0;
	l7_conn_count_status(c, slot, status);
	set_idle(c, false);
	c->state = C_REPLY;
	l7_timer_arm(c->w, &c->t, T_REPLY);
}

/* Half-close and read what the client still sends, for a while, before
 * the close: unread bytes would turn it into a reset that can destroy
 * the answer in flight. */
static void linger_start(struct l7_conn *c)
{
	drop_upstream(c);
	release_bufs(c);
	l7_shut_wr(c->w, &c->io, c->cfd);
	c->lingered = 0;
	c->state = C_LINGER;
	set_idle(c, false);
	l7_timer_arm(c->w, &c->t, T_LINGER);
}

static int reply_run(struct l7_conn *c)
{
	while (c->moff < c->mlen && c->wr) {
		ssize_t n = l7_send(c->w, &c->io, c->cfd, c->msg + c->moff,
				    c->mlen - c->moff);

		if (n > 0) {
			c->moff += (uint16_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			c->wr = false;
			return 0;
		}
		l7_conn_close(c);
		return 1;
	}
	if (c->moff < c->mlen)
		return 0;
	linger_start(c);
	return 1;
}

static int linger_run(struct l7_conn *c)
{
	while (c->rd && c->lingered < L7_LINGER_BYTES) {
		ssize_t n = l7_recv(c->w, &c->io, c->cfd, c->w->scratch,
				    sizeof(c->w->scratch));

		if (n > 0) {
			c->lingered += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			c->rd = false;
			return 0;
		}
		break;
	}
	if (!c->rd)
		return 0;
	l7_conn_close(c);
	return 1;
}

/* ---- heads ------------------------------------------------------------------------- */

static int start_request(struct l7_conn *c);
static void start_nonhttp(struct l7_conn *c);

/* Wait for the next request: with no byte of it, the connection is idle
 * and holds no buffer. */
static int head_wait(struct l7_conn *c)
{
	struct l7_worker *w = c->w;

	if (c->rq.end || c->have)
		return 0;		/* a head in progress: T_HEAD runs */
	release_bufs(c);
	if (w->draining && c->nreq) {	/* between requests: close */
		l7_conn_close(c);
		return 1;
	}
	if (!c->idle) {
		set_idle(c, true);
		if (w->draining)	/* a new one: a moment for its request */
			l7_timer_arm(w, &c->t, T_LINGER);
		else if (!c->nreq && w->p->o.first_byte_timeout_ms)
			l7_timer_arm(w, &c->t, T_FIRST_BYTE);
		else
			l7_timer_arm(w, &c->t, T_KEEPALIVE);
	}
	return 0;
}

static int head_run(struct l7_conn *c)
{
	struct l7_proxy *p = c->w->p;
	struct side *s = &c->rq;

	if (!s->buf) {
		if (!c->rd)
			return head_wait(c);
		if (get_rq_buf(c)) {
			l7_conn_close(c);
			return 1;
		}
		s->sent = s->parsed = s->end = 0;
		s->msg_start = 0;
	}
	for (;;) {
		ssize_t n;

		if (s->parsed < s->end) {
			if (!c->have) {
				c->have = true;
				set_idle(c, false);
				l7_timer_arm(c->w, &c->t, T_HEAD);
			}
			switch (l7_head_step(s, &p->o, c->nreq == 0)) {
			case HS_DONE:
				return start_request(c);
			case HS_400:
				reply(c, 400, 0);
				return 1;
			case HS_431:
				reply(c, 431, 0);
				return 1;
			case HS_501:
				reply(c, 501, 0);
				return 1;
			case HS_NONHTTP:
				start_nonhttp(c);
				return 1;
			default:
				break;
			}
		}
		if (s->end >= s->cap) {		/* cannot happen: cap > max head */
			reply(c, 431, 0);
			return 1;
		}
		if (!c->rd)
			return head_wait(c);
		n = l7_recv(c->w, &c->io, c->cfd, s->buf + s->end, s->cap - s->end);
		if (n > 0) {
			if ((size_t)n < s->cap - s->end && !c->hup &&
			    l7_short_read_drains(c->w->p))
				c->rd = false;
			s->end += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			c->rd = false;
			return head_wait(c);
		}
		l7_conn_close(c);	/* closed or reset */
		return 1;
	}
}

static void exch_begin(struct l7_conn *c);

_Static_assert(L7_SETCK_MAX + L7_CC_LEN <= sizeof(((struct l7_conn *)0)->msg),
	       "the lines inserted into a response head fit in msg");

/* The lines this request's response head may get, in c->msg: the sticky
 * cookie's Set-Cookie (the snapshot's line, copied: the snapshot may go
 * once this loop iteration ends), then "Connection: close". */
static void plan_lines(struct l7_conn *c, const struct l7_snap *snap)
{
	const struct side *q = &c->rq;
	size_t n = 0;

	if (c->pk.sticky_ver >= 0 && !q->upgrade && q->hp.method != HTTP_CONNECT) {
		n = snap->vers[c->pk.sticky_ver].setck_len;
		memcpy(c->msg, snap->setck + (size_t)c->pk.sticky_ver * L7_SETCK_MAX, n);
	}
	memcpy(c->msg + n, L7_CC_LINE, L7_CC_LEN);
	c->inj_ck = (uint16_t)n;
}

/* After l7_side_begin_response(): what its head gets. */
static void plan_inject(struct l7_conn *c, bool close)
{
	struct side *r = &c->rs;

	r->inject_close = close;
	r->inj = c->msg;
	r->inj_ck = c->inj_ck;
}

static int start_request(struct l7_conn *c)
{
	struct l7_worker *w = c->w;
	struct split_http_request req;
	struct l7_snap *snap = l7_snap_cur(c->e);
	const char *ck = NULL;
	size_t ckl = 0;

	c->t0_us = l7_now_us();
	l7_build_request(&c->rq, snap, &req, w->hv, w->params);
	if (snap && snap->sticky_len &&
	    !l7_find_cookie(&c->rq, snap->sticky, snap->sticky_len, &ck, &ckl))
		ck = NULL;
	l7_route(snap, &req, ck, ckl, &c->pk);
	if (c->pk.status) {
		if (c->pk.status != 404)
			CTR_ADD(l7_ctr_of(c->e, w->idx, c->pk.ctr)->requests, 1);
		reply(c, c->pk.status, c->pk.ctr);
		return 1;
	}
	CTR_ADD(l7_ctr_of(c->e, w->idx, c->pk.ctr)->requests, 1);
	if (get_rs_buf(c)) {
		reply(c, 503, c->pk.ctr);
		return 1;
	}
	plan_lines(c, snap);
	exch_begin(c);
	return 1;
}

/* ---- the exchange ------------------------------------------------------------------- */

static void exch_begin(struct l7_conn *c)
{
	struct l7_worker *w = c->w;
	struct side *q = &c->rq, *r = &c->rs;
	struct upconn *u;

	c->cl_eof = c->up_eof = c->resp_done = c->got = c->relayed = false;
	c->reused = c->eof_framed = c->retried = false;
	c->fail = 0;
	l7_side_begin_response(r, q->hp.method, q->upgrade);
	l7_plan_strip_close(q);
	c->draining_close = w->draining;
	plan_inject(c, q->close_stripped || (w->draining && !q->upgrade &&
					     q->hp.method != HTTP_CONNECT));
	u = l7_pool_take(w, &c->pk.sa, c->pk.salen);
	if (u) {
		c->reused = true;
		CTR_ADD(w->st.upstream_reused, 1);
	} else {
		u = l7_up_connect(w, &c->pk);
		if (!u) {
			reply(c, 503, c->pk.ctr);
			return;
		}
	}
	u->owner = c;
	c->up = u;
	c->state = C_EXCH;
	l7_timer_arm(w, &c->t, u->connecting ? T_CONNECT : T_IO);
}

/* The upstream connect finished? 1 yes, 0 not yet, -1 failed. */
int l7_up_connected(struct l7_conn *c)
{
	struct upconn *u = c->up;
	int err = 0;
	socklen_t len = sizeof(err);

	if (!u->connecting)
		return 1;
	if (!u->wr && !u->err && !u->hup)
		return 0;
	if (getsockopt(u->fd, SOL_SOCKET, SO_ERROR, &err, &len) || err)
		return -1;
	if (u->err)
		return -1;
	u->connecting = false;
	u->wr = true;
	u->rd = true;
	l7_timer_arm(c->w, &c->t, T_IO);
	return 1;
}

/* Send q[sent, parsed) upstream, leaving out [skip_from, skip_to). */
static ssize_t send_request(struct l7_conn *c, struct upconn *u)
{
	struct side *q = &c->rq;
	struct iovec iov[2];
	struct msghdr mh = { .msg_iov = iov };
	size_t a = q->sent, lim = q->parsed, first;
	ssize_t n;

	if (q->skip_to > q->skip_from && a < q->skip_from && lim > q->skip_from) {
		iov[0] = (struct iovec){ q->buf + a, q->skip_from - a };
		mh.msg_iovlen = 1;
		if (lim > q->skip_to) {
			iov[1] = (struct iovec){ q->buf + q->skip_to, lim - q->skip_to };
			mh.msg_iovlen = 2;
		}
	} else {
		iov[0] = (struct iovec){ q->buf + a, lim - a };
		mh.msg_iovlen = 1;
	}
	first = iov[0].iov_len;
	n = l7_sendv(c->w, &u->io, u->fd, iov, (int)mh.msg_iovlen, false);
	if (n < 0)
		return n;
	if (mh.msg_iovlen == 2 && (size_t)n > first)
		q->sent = q->skip_to + ((size_t)n - first);
	else if (mh.msg_iovlen == 2 && (size_t)n == first)
		q->sent = q->skip_to;
	else
		q->sent = a + (size_t)n;
	if ((size_t)n < first + (mh.msg_iovlen == 2 ? iov[1].iov_len : 0))
		u->wr = false;
	return n;
}

/* Does the client's connection end with this exchange (relayed in full)?
 * exch_finish's choice: a FIN follows the response's last byte at once
 * (a close, or a lingering close's shutdown). */
static bool ends_after(const struct l7_conn *c)
{
	const struct side *q = &c->rq, *r = &c->rs;

	if ((r->status == 101 && q->upgrade) ||
	    (q->hp.method == HTTP_CONNECT && r->status / 100 == 2))
		return false;		/* a tunnel */
	return !(q->msg_done && q->keepalive && r->keepalive && !c->eof_framed &&
		 !c->cl_eof && !q->upgrade && !c->draining_close &&
		 !c->w->draining);
}

/* Relay the response's bytes [sent, parsed) to the client, with the lines
 * planned for its head (inj) at inject_at: one sendmsg() for all three
 * parts. 1: bytes went, 0: none (would block), -1: the client is gone. */
static int send_response(struct l7_conn *c)
{
	struct side *r = &c->rs;
	struct iovec iov[3];
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 1 };
	bool inj = r->inject_pending && r->inject_at != SIZE_MAX;
	size_t la, lb = 0, total, k;
	ssize_t n;

	if (inj) {			/* sent <= inject_at <= parsed */
		la = r->inject_at - r->sent;
		lb = r->inj_len - r->inject_sent;
		iov[1] = (struct iovec){ (char *)r->inj + r->inject_sent, lb };
		iov[2] = (struct iovec){ r->buf + r->inject_at, r->parsed - r->inject_at };
		mh.msg_iovlen = 3;
		total = la + lb + iov[2].iov_len;
	} else {
		la = r->parsed - r->sent;
		total = la;
	}
	iov[0] = (struct iovec){ r->buf + r->sent, la };
	n = l7_sendv(c->w, &c->io, c->cfd, iov, (int)mh.msg_iovlen,
		     c->resp_done && ends_after(c));
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			c->wr = false;
			return 0;
		}
		return errno == EINTR ? 0 : -1;
	}
	k = (size_t)n;
	if (k < total)
		c->wr = false;
	if (k <= la) {
		r->sent += k;
	} else {
		r->sent += la;
		k -= la;
		if (k <= lb) {
			r->inject_sent += k;
		} else {
			r->inject_sent += lb;
			r->sent += k - lb;
		}
	}
	if (inj)
		r->inject_pending = r->inject_sent < r->inj_len;
	c->relayed = c->relayed || n > 0;
	return n > 0;
}

static int exch_finish(struct l7_conn *c);

static int exch_run(struct l7_conn *c)
{
	struct l7_worker *w = c->w;
	struct side *q = &c->rq, *r = &c->rs;
	struct upconn *u = c->up;
	int k = l7_up_connected(c);

	if (k < 0) {
		reply(c, 503, c->pk.ctr);
		return 1;
	}
	if (!k)
		return 0;
	for (;;) {
		bool prog = false, up_err = false;
		ssize_t n;

		/* request bytes: parse, then forward */
		if (!q->msg_done && q->parsed < q->end) {
			size_t before = q->parsed;

			if (l7_side_parse(q, &l7_rq_settings)) {
				c->fail = 400;
				break;
			}
			if (q->parsed != before || q->msg_done)
				prog = true;
		}
		if (q->skip_to > q->skip_from && q->sent >= q->skip_from &&
		    q->sent < q->skip_to)
			q->sent = q->skip_to;
		if (q->sent < q->parsed && u->wr) {
			n = send_request(c, u);
			if (n > 0)
				prog = true;
			else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				u->wr = false;
			else if (n < 0 && errno != EINTR)
				up_err = true;
		}
		if (!q->msg_done && !c->cl_eof && !up_err && c->rd) {
			l7_side_make_room(q);
			if (q->end < q->cap) {
				n = l7_recv(w, &c->io, c->cfd, q->buf + q->end,
					    q->cap - q->end);
				if (n > 0) {
					if ((size_t)n < q->cap - q->end && !c->hup &&
					    l7_short_read_drains(c->w->p))
						c->rd = false;
					q->end += (size_t)n;
					prog = true;
				} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
					c->rd = false;
				} else if (!(n < 0 && errno == EINTR)) {
					c->cl_eof = true;	/* mid-request */
					break;
				}
			}
		}
		/* response bytes: read, parse, relay */
		if (!c->resp_done && !c->up_eof && !up_err && u->rd) {
			l7_side_make_room(r);
			if (r->end < r->cap) {
				n = l7_recv(w, &u->io, u->fd, r->buf + r->end,
					    r->cap - r->end);
				if (n > 0) {
					if ((size_t)n < r->cap - r->end && !u->hup)
						u->rd = false;
					r->end += (size_t)n;
					c->got = true;
					prog = true;
				} else if (n == 0) {
					c->up_eof = true;
					prog = true;
				} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
					u->rd = false;
				} else if (errno != EINTR) {
					up_err = true;
				}
			}
		}
		if (!c->resp_done && !up_err) {
			size_t before = r->parsed;
			int st = l7_resp_step(r, c->up_eof, &c->eof_framed);

			if (r->parsed != before)
				prog = true;
			if (st == RP_DONE)
				c->resp_done = true;
			else if (st == RP_BROKEN)
				up_err = true;
		}
		if (up_err) {
			/* A pooled connection the upstream had closed: send
			 * the request again on a new one, if nothing came
			 * back and the whole request is still here. */
			if (c->reused && !c->retried && !c->got &&
			    q->msg_start != SIZE_MAX && r->parsed == r->end) {
				l7_up_close(w, u);
				c->up = NULL;
				c->retried = true;
				CTR_ADD(w->st.upstream_retries, 1);
				u = l7_up_connect(w, &c->pk);
				if (!u) {
					reply(c, 503, c->pk.ctr);
					return 1;
				}
				u->owner = c;
				c->up = u;
				q->sent = q->msg_start;
				c->up_eof = false;
				l7_side_begin_response(r, q->hp.method, q->upgrade);
				plan_inject(c, q->close_stripped || c->draining_close);
				l7_timer_arm(w, &c->t, u->connecting ? T_CONNECT : T_IO);
				return 1;
			}
			c->fail = 502;
			break;
		}
		if (c->wr && (r->sent < r->parsed ||
			      (r->inject_pending && r->sent == r->inject_at))) {
			int k = send_response(c);

			if (k < 0) {
				c->cl_eof = true;
				break;
			}
			prog = prog || k > 0;
		}
		if (c->resp_done && r->sent == r->parsed)
			return exch_finish(c);
		if (!prog)
			return 0;
		if (c->t.deadline != w->now_ms + w->tl[T_IO].ms)
			l7_timer_arm(w, &c->t, T_IO);
	}
	return exch_finish(c);
}

/* The exchange ended: relayed in full (resp_done), or failed (fail). */
static int exch_finish(struct l7_conn *c)
{
	struct l7_worker *w = c->w;
	struct side *q = &c->rq, *r = &c->rs;
	struct upconn *u = c->up;
	bool keep;

	if (!c->resp_done) {
		drop_upstream(c);
		if (c->fail && !c->relayed && !c->cl_eof) {
			reply(c, c->fail, c->pk.ctr);
			return 1;
		}
		if (c->fail == 400 || c->fail == 502 || c->fail == 504)
			l7_conn_count_status(c, c->pk.ctr, c->fail);
		if (!q->msg_done && !c->cl_eof)
			linger_start(c);
		else
			l7_conn_close(c);
		return 1;
	}
	l7_conn_count_status(c, c->pk.ctr, r->status);
	CTR_ADD(l7_ctr_of(c->e, w->idx, c->pk.ctr)->latency_us,
		l7_now_us() - c->t0_us);
	if ((r->status == 101 && q->upgrade) ||
	    (q->hp.method == HTTP_CONNECT && r->status / 100 == 2)) {
		l7_tunnel_start(c);
		return 1;
	}
	c->up = NULL;
	if (!c->up_eof && !c->eof_framed && r->keepalive &&
	    (q->keepalive || q->close_stripped) &&
	    q->msg_done && q->sent == q->parsed && r->parsed == r->end &&
	    !q->upgrade)
		l7_pool_put(w, u);
	else
		l7_up_close(w, u);
	keep = !ends_after(c);
	if (!keep) {
		if (!q->msg_done && !c->cl_eof)
			linger_start(c);
		else
			l7_conn_close(c);
		return 1;
	}
	/* the next request of the keep-alive connection */
	c->nreq++;
	c->have = false;
	l7_side_begin_request(q);
	c->state = C_HEAD;
	l7_timer_cancel(&c->t);
	return 1;
}

/* ---- non-HTTP --------------------------------------------------------------------- */

/* A connection whose first bytes are not HTTP/1.x: default split, L4. */
static void start_nonhttp(struct l7_conn *c)
{
	struct l7_worker *w = c->w;
	struct upconn *u;

	l7_route(l7_snap_cur(c->e), NULL, NULL, 0, &c->pk);
	if (c->pk.status) {		/* no endpoint: nothing to say at L4 */
		l7_conn_close(c);
		return;
	}
	CTR_ADD(l7_ctr_of(c->e, w->idx, c->pk.ctr)->nonhttp, 1);
	u = l7_up_connect(w, &c->pk);
	if (!u) {
		l7_conn_close(c);
		return;
	}
	u->owner = c;
	c->up = u;
	c->nonhttp = true;
	c->rq.sent = 0;			/* everything read goes as is */
	set_idle(c, false);
	l7_tunnel_start(c);
}

/* ---- driving ------------------------------------------------------------------------ */

void l7_conn_run(struct l7_conn *c)
{
	for (;;) {
		int r;

		switch (c->state) {
		case C_HEAD: r = head_run(c); break;
		case C_EXCH: r = exch_run(c); break;
		case C_TUNNEL: l7_tunnel_run(c); return;
		case C_REPLY: r = reply_run(c); break;
		case C_LINGER: r = linger_run(c); break;
		default: return;
		}
		if (!r)
			return;
	}
}

void l7_conn_timeout(struct l7_conn *c, int cls)
{
	if (c->state == C_DEAD) {	/* closed: its last bytes did not go */
		l7_sock_abort(c->w, &c->io);
		return;
	}
	switch (cls) {
	case T_KEEPALIVE:
		l7_conn_close(c);
		return;
	case T_FIRST_BYTE:		/* server speaks first: relay at L4 */
		if (c->state == C_HEAD && !c->have && !c->nreq) {
			if (!c->rq.buf && get_rq_buf(c)) {
				l7_conn_close(c);
				return;
			}
			c->rq.sent = c->rq.parsed = c->rq.end = 0;
			start_nonhttp(c);
			if (c->state != C_DEAD)
				l7_conn_run(c);
			return;
		}
		l7_conn_close(c);
		return;
	case T_HEAD:
		if (c->state == C_HEAD) {
			reply(c, 408, 0);
			l7_conn_run(c);
			return;
		}
		l7_conn_close(c);
		return;
	case T_CONNECT:
		if (c->state == C_EXCH) {
			reply(c, 503, c->pk.ctr);
			l7_conn_run(c);
			return;
		}
		l7_conn_close(c);
		return;
	case T_IO:
		if (c->state == C_EXCH) {
			c->fail = 504;
			exch_finish(c);
			if (c->state != C_DEAD)
				l7_conn_run(c);
			return;
		}
		l7_conn_close(c);
		return;
	default:			/* T_REPLY, T_LINGER */
		l7_conn_close(c);
		return;
	}
}
