// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * l7proxy.c - the L7 proxy engine (see l7proxy.h).
 *
 * Structure. A connection's bytes live in a `struct side`: one buffer,
 * one http_parser, and three offsets: [0, sent) forwarded, [sent, parsed)
 * parsed and still to forward, [parsed, end) not parsed yet. The parser
 * pauses at the end of a request head (to route) and at the end of each
 * message (to stop at the message boundary: pipelined bytes stay
 * unparsed); forwarding is by byte range, so what goes upstream is what
 * the client sent, chunk framing included. The same functions drive the
 * fuzz entry points (l7_drive_requests, l7_drive_response) from a buffer.
 *
 * Threads: l7_proxy_run() accepts; each client connection has a thread;
 * every wait is a poll() that also watches the proxy's stop eventfd, so
 * l7_proxy_stop() ends them all. Routing uses a refcounted snapshot of
 * the service, swapped under the service's mutex.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE		/* splice, pipe2, accept4 */
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <http_parser.h>

#include "istio.h"
#include "l7proxy.h"
#include "l7sockmap.h"
#include "log.h"

#define L7_DEF_HEAD		(16 * 1024)
#define L7_DEF_HEADERS		100
#define L7_DEF_IDLE_MS		300000
#define L7_DEF_HEADER_MS	10000
#define L7_DEF_CONNECT_MS	3000
#define L7_DEF_MAX_CONNS	4096
#define L7_DEF_POOL_IDLE_MS	30000
#define L7_DEF_POOL_MAX		1024
#define L7_MAX_HEAD		(64 * 1024)	/* cap on max_head_bytes: below
						 * http_parser's own 80 KiB */
#define L7_BUF_EXTRA		(32 * 1024)	/* request buffer beyond a head */
#define L7_RESP_BUF		(32 * 1024)
#define L7_MAX_PARAMS		64
#define L7_CTR_SLOTS		256		/* versions counted per service */
#define L7_THREAD_STACK		(512 * 1024)	/* split_rules_match: ~42 KiB */
#define L7_WORKER_IDLE_MS	10000	/* an idle worker thread waits this long */
#define L7_WORKER_MAX_IDLE	64	/* idle worker threads kept */
#define L7_PIPE_CAP		(64 * 1024)
#define L7_POOL_BUCKETS		64
#define L7_LINGER_MS		1000
#define L7_LINGER_BYTES		(1024 * 1024)
#define L7_REPLY_MS		2000

/* ---- small helpers -------------------------------------------------------- */

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t now_ms(void)
{
	return now_us() / 1000u;
}

static __thread uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t z;

	if (!rng_state) {
		if (getrandom(&rng_state, sizeof(rng_state), GRND_NONBLOCK) !=
		    (ssize_t)sizeof(rng_state))
			rng_state = now_us() ^ (uint64_t)(uintptr_t)&z;
		rng_state |= 1;
	}
	/* splitmix64 */
	z = (rng_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rnd_below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static void ctr_add(uint64_t *c, uint64_t v)
{
	__atomic_fetch_add(c, v, __ATOMIC_RELAXED);
}

static uint64_t ctr_get(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

union l7_sa {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
	struct sockaddr_storage ss;
};

static socklen_t sa_from(union l7_sa *u, const struct split_addr *a,
			 uint16_t port)
{
	memset(u, 0, sizeof(*u));
	if (a->family == 6) {
		u->in6.sin6_family = AF_INET6;
		u->in6.sin6_port = htons(port);
		memcpy(&u->in6.sin6_addr, a->bytes, 16);
		return sizeof(u->in6);
	}
	u->in.sin_family = AF_INET;
	u->in.sin_port = htons(port);
	memcpy(&u->in.sin_addr, a->bytes, 4);
	return sizeof(u->in);
}

/* ---- counters, services, snapshots ---------------------------------------- */

struct l7_ctr {
	char version[SPLIT_NAME_LEN];
	uint64_t requests;
	uint64_t responses[5];
	uint64_t nonhttp;
	uint64_t latency_us;
};

struct snap_ver {
	char name[SPLIT_NAME_LEN];
	uint32_t weight;
	size_t *eps;			/* indexes into snap->eps */
	size_t neps;
	struct l7_ctr *ctr;
};

struct snap_dest {
	long ver;			/* index into vers; -1: every endpoint */
	uint32_t weight;
};

struct snap_route {
	struct snap_dest *dests;
	size_t ndests;
	uint64_t total;
};

struct l7_snap {
	unsigned refs;			/* under the entry's mutex */
	struct split_rules rules;	/* our own copy */
	const struct split_rules_service *svc;	/* in rules, or NULL */
	bool vs;			/* VirtualService: no match is 404 */
	struct l7_upstream *eps;
	size_t neps;
	size_t *ep_ver;			/* endpoint -> index into vers */
	struct snap_ver *vers;
	size_t nvers;
	size_t *ep_idx;			/* storage of vers[].eps */
	struct snap_route *routes;	/* parallel to svc->routes */
	size_t nroutes;
	struct snap_dest *dest_store;
	bool uniform;			/* no default weights */
	uint64_t default_total;
	struct l7_ctr *ctr0;		/* the proxy's own answers */
};

struct l7_entry {
	struct l7_entry *next;
	void *key;
	pthread_mutex_t mu;		/* snap and its refs */
	struct l7_snap *snap;
	struct l7_ctr *ctr;		/* L7_CTR_SLOTS; [0] is "" */
	size_t nctr;			/* grows under the proxy's mutex */
};

struct l7_listener {
	struct l7_listener *next;
	int fd;
	struct l7_entry *e;
	bool closing;
};

struct pool_conn {
	struct pool_conn *next;
	union l7_sa sa;
	socklen_t salen;
	int fd;
	uint64_t since_ms;
};

struct l7_proxy {
	struct l7_proxy_opts o;
	pthread_mutex_t mu;		/* entries, listeners, nconns, flags */
	pthread_cond_t cv;
	struct l7_entry *entries;
	struct l7_listener *listeners;
	int stopfd;			/* written once by l7_proxy_stop */
	int wakefd;			/* listeners changed */
	bool running;
	bool stopping;
	unsigned nconns;
	/* Worker threads outlive their connection and wait, up to
	 * L7_WORKER_IDLE_MS, for the next one: no thread per connection. */
	unsigned nworkers;		/* threads alive */
	unsigned idle;			/* of them, waiting and not yet given a
					 * queued connection */
	pthread_cond_t work_cv;
	struct conn *work;		/* accepted, waiting for a worker */
	pthread_mutex_t pool_mu;
	struct pool_conn *pool[L7_POOL_BUCKETS];
	size_t pool_n;
	struct l7_proxy_stats st;	/* atomics */
	struct l7_sockmap *sm;		/* NULL: tunnels use splice */
	char sm_why[160];		/* why not */
};

static void snap_free(struct l7_snap *s)
{
	if (!s)
		return;
	split_rules_free(&s->rules);
	free(s->eps);
	free(s->ep_ver);
	free(s->vers);
	free(s->ep_idx);
	free(s->routes);
	free(s->dest_store);
	free(s);
}

static struct l7_snap *snap_get(struct l7_entry *e)
{
	struct l7_snap *s;

	pthread_mutex_lock(&e->mu);
	s = e->snap;
	if (s)
		s->refs++;
	pthread_mutex_unlock(&e->mu);
	return s;
}

static void snap_put(struct l7_entry *e, struct l7_snap *s)
{
	bool last;

	if (!s)
		return;
	pthread_mutex_lock(&e->mu);
	last = --s->refs == 0;
	pthread_mutex_unlock(&e->mu);
	if (last)
		snap_free(s);
}

/* The counters of version name in e (created on first use). */
static struct l7_ctr *entry_ctr(struct l7_proxy *p, struct l7_entry *e,
				const char *name)
{
	struct l7_ctr *c = &e->ctr[0];
	size_t n;

	pthread_mutex_lock(&p->mu);
	n = __atomic_load_n(&e->nctr, __ATOMIC_RELAXED);
	for (size_t i = 0; i < n; i++)
		if (!strcmp(e->ctr[i].version, name)) {
			c = &e->ctr[i];
			goto out;
		}
	if (n < L7_CTR_SLOTS) {
		c = &e->ctr[n];
		snprintf(c->version, sizeof(c->version), "%s", name);
		__atomic_store_n(&e->nctr, n + 1, __ATOMIC_RELEASE);
	}
out:
	pthread_mutex_unlock(&p->mu);
	return c;
}

/* With p->mu held. */
static struct l7_entry *entry_find(struct l7_proxy *p, void *key, bool create)
{
	struct l7_entry *e;

	for (e = p->entries; e; e = e->next)
		if (e->key == key)
			return e;
	if (!create)
		return NULL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->ctr = calloc(L7_CTR_SLOTS, sizeof(*e->ctr));
	if (!e->ctr) {
		free(e);
		return NULL;
	}
	e->nctr = 1;			/* [0]: version "" */
	e->key = key;
	pthread_mutex_init(&e->mu, NULL);
	e->next = p->entries;
	p->entries = e;
	return e;
}

static long snap_ver_find(const struct l7_snap *s, const char *name)
{
	for (size_t i = 0; i < s->nvers; i++)
		if (!strcmp(s->vers[i].name, name))
			return (long)i;
	return -1;
}

static long snap_ver_add(struct l7_snap *s, size_t cap, const char *name,
			 uint32_t weight)
{
	long i = snap_ver_find(s, name);

	if (i >= 0)
		return i;
	if (s->nvers >= cap)
		return -1;
	snprintf(s->vers[s->nvers].name, SPLIT_NAME_LEN, "%s", name);
	s->vers[s->nvers].weight = weight;
	return (long)s->nvers++;
}

/* Our own copy of one service's rules: printed and parsed back, which
 * the rules fuzzer checks to be the identity. */
static int rules_copy(const struct split_rules_service *svc,
		      struct split_rules *out)
{
	struct split_rules view = {
		.svcs = (struct split_rules_service *)svc,
		.nsvcs = 1,
	};
	struct split_err err;
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	int r;

	f = open_memstream(&text, &len);
	if (!f)
		return -1;
	r = split_rules_print(f, &view);
	if (fclose(f) || r) {
		free(text);
		errno = ENOMEM;
		return -1;
	}
	r = split_rules_parse("l7-rules", text, len, out, &err);
	free(text);
	if (r) {
		errno = EINVAL;
		return -1;
	}
	if (out->nsvcs > 1) {
		split_rules_free(out);
		memset(out, 0, sizeof(*out));
		errno = EINVAL;
		return -1;
	}
	return 0;
}

static struct l7_snap *snap_build(struct l7_proxy *p, struct l7_entry *e,
				  const struct l7_service *in)
{
	struct l7_snap *s = calloc(1, sizeof(*s));
	size_t vcap, ndest = 0, *fill = NULL;

	if (!s)
		return NULL;
	s->refs = 1;
	if (in->rules) {
		if (rules_copy(in->rules, &s->rules))
			goto fail_errno;
		if (s->rules.nsvcs) {
			s->svc = &s->rules.svcs[0];
			s->vs = s->svc->api == SPLIT_API_VIRTUAL_SERVICE;
		}
	}
	vcap = in->nversions + in->neps;
	if (s->svc)
		for (size_t r = 0; r < s->svc->nroutes; r++)
			vcap += s->svc->routes[r].ndests;
	s->vers = calloc(vcap ? vcap : 1, sizeof(*s->vers));
	s->eps = calloc(in->neps ? in->neps : 1, sizeof(*s->eps));
	s->ep_ver = calloc(in->neps ? in->neps : 1, sizeof(*s->ep_ver));
	s->ep_idx = calloc(in->neps ? in->neps : 1, sizeof(*s->ep_idx));
	if (!s->vers || !s->eps || !s->ep_ver || !s->ep_idx)
		goto fail_nomem;
	s->uniform = !in->default_weights;
	for (size_t i = 0; i < in->nversions; i++) {
		if (!in->versions || !in->versions[i] || !in->versions[i][0] ||
		    strlen(in->versions[i]) >= SPLIT_NAME_LEN)
			goto fail_inval;
		if (snap_ver_add(s, vcap, in->versions[i],
				 in->default_weights ? in->default_weights[i] : 0) < 0)
			goto fail_inval;
	}
	s->neps = in->neps;
	if (in->neps)
		memcpy(s->eps, in->eps, in->neps * sizeof(*s->eps));
	for (size_t i = 0; i < s->neps; i++) {
		long v;

		s->eps[i].version[SPLIT_NAME_LEN - 1] = '\0';
		if (s->eps[i].addr.family != 4 && s->eps[i].addr.family != 6)
			goto fail_inval;
		v = snap_ver_add(s, vcap, s->eps[i].version, 0);
		if (v < 0)
			goto fail_inval;
		s->ep_ver[i] = (size_t)v;
		s->vers[v].neps++;
	}
	if (s->svc) {
		for (size_t r = 0; r < s->svc->nroutes; r++) {
			const struct split_route *rt = &s->svc->routes[r];

			for (size_t d = 0; d < rt->ndests; d++)
				if (rt->dests[d].version[0] &&
				    snap_ver_add(s, vcap, rt->dests[d].version, 0) < 0)
					goto fail_inval;
			ndest += rt->ndests;
		}
		s->nroutes = s->svc->nroutes;
		s->routes = calloc(s->nroutes ? s->nroutes : 1, sizeof(*s->routes));
		s->dest_store = calloc(ndest ? ndest : 1, sizeof(*s->dest_store));
		if (!s->routes || !s->dest_store)
			goto fail_nomem;
		ndest = 0;
		for (size_t r = 0; r < s->nroutes; r++) {
			const struct split_route *rt = &s->svc->routes[r];
			struct snap_route *sr = &s->routes[r];

			sr->dests = s->dest_store + ndest;
			sr->ndests = rt->ndests;
			ndest += rt->ndests;
			for (size_t d = 0; d < rt->ndests; d++) {
				const struct split_dest *sd = &rt->dests[d];

				sr->dests[d].ver = sd->version[0] ?
					snap_ver_find(s, sd->version) : -1;
				sr->dests[d].weight = sd->weight;
				sr->total += sd->weight;
			}
		}
	}
	/* Endpoint lists per version. */
	fill = calloc(s->nvers ? s->nvers : 1, sizeof(*fill));
	if (!fill)
		goto fail_nomem;
	{
		size_t off = 0;

		for (size_t v = 0; v < s->nvers; v++) {
			s->vers[v].eps = s->ep_idx + off;
			off += s->vers[v].neps;
		}
	}
	for (size_t i = 0; i < s->neps; i++) {
		size_t v = s->ep_ver[i];

		s->vers[v].eps[fill[v]++] = i;
	}
	free(fill);
	for (size_t v = 0; v < s->nvers; v++) {
		s->vers[v].ctr = entry_ctr(p, e, s->vers[v].name);
		if (s->vers[v].weight && s->vers[v].neps)
			s->default_total += s->vers[v].weight;
	}
	s->ctr0 = &e->ctr[0];
	return s;

fail_nomem:
	errno = ENOMEM;
	goto fail_errno;
fail_inval:
	errno = EINVAL;
fail_errno:
	{
		int saved = errno;

		snap_free(s);
		errno = saved;
	}
	return NULL;
}

/* A routing decision. */
struct l7_pick {
	int status;			/* 0, or the proxy's answer (404, 503) */
	int route;			/* matched route, -1 none */
	union l7_sa sa;
	socklen_t salen;
	struct l7_ctr *ctr;
};

static void pick_ep(const struct l7_snap *s, size_t i, struct l7_pick *out)
{
	const struct l7_upstream *u = &s->eps[i];

	out->salen = sa_from(&out->sa, &u->addr, u->port);
	out->ctr = s->vers[s->ep_ver[i]].ctr;
}

static void pick_default(const struct l7_snap *s, struct l7_pick *out)
{
	uint64_t r;

	if (s->uniform) {
		if (!s->neps) {
			out->status = 503;
			out->ctr = s->ctr0;
			return;
		}
		pick_ep(s, rnd_below(s->neps), out);
		return;
	}
	if (!s->default_total) {
		out->status = 503;
		out->ctr = s->ctr0;
		return;
	}
	r = rnd_below(s->default_total);
	for (size_t v = 0; v < s->nvers; v++) {
		const struct snap_ver *sv = &s->vers[v];

		if (!sv->weight || !sv->neps)
			continue;
		if (r < sv->weight) {
			pick_ep(s, sv->eps[rnd_below(sv->neps)], out);
			return;
		}
		r -= sv->weight;
	}
	out->status = 503;		/* not reached */
	out->ctr = s->ctr0;
}

static void pick_route(const struct l7_snap *s, size_t route,
		       struct l7_pick *out)
{
	const struct snap_route *sr = &s->routes[route];
	const struct snap_dest *d = NULL;
	uint64_t r;

	if (!sr->ndests) {
		out->status = 503;
		out->ctr = s->ctr0;
		return;
	}
	if (!sr->total) {
		d = &sr->dests[0];
	} else {
		r = rnd_below(sr->total);
		for (size_t i = 0; i < sr->ndests; i++) {
			if (r < sr->dests[i].weight) {
				d = &sr->dests[i];
				break;
			}
			r -= sr->dests[i].weight;
		}
		if (!d)
			d = &sr->dests[sr->ndests - 1];
	}
	if (d->ver < 0) {		/* no subset: any endpoint */
		if (!s->neps) {
			out->status = 503;
			out->ctr = s->ctr0;
			return;
		}
		pick_ep(s, rnd_below(s->neps), out);
		return;
	}
	{
		const struct snap_ver *sv = &s->vers[d->ver];

		if (!sv->neps) {	/* Istio: no healthy upstream */
			out->status = 503;
			out->ctr = sv->ctr;
			return;
		}
		pick_ep(s, sv->eps[rnd_below(sv->neps)], out);
	}
}

/* Route one request (req NULL: a non-HTTP connection, default split). */
static void route(struct l7_entry *e, const struct split_http_request *req,
		  struct l7_pick *out)
{
	struct l7_snap *s = snap_get(e);

	memset(out, 0, sizeof(*out));
	out->route = -1;
	if (!s) {
		out->status = 503;
		out->ctr = &e->ctr[0];
		return;
	}
	if (req && s->svc)
		out->route = split_rules_match(s->svc, req);
	if (out->route >= 0 && (size_t)out->route < s->nroutes)
		pick_route(s, (size_t)out->route, out);
	else if (req && s->vs) {
		out->status = 404;	/* Istio: no route matched */
		out->ctr = s->ctr0;
	} else
		pick_default(s, out);
	snap_put(e, s);
}

/* ---- one direction of a connection ------------------------------------------ */

struct hdr_off {
	size_t name_off, name_len;
	size_t value_off, value_len;
};

struct side {
	http_parser hp;
	char *buf;
	size_t cap;
	size_t sent, parsed, end;
	size_t msg_start;		/* SIZE_MAX: no longer in buf */
	bool head_done, msg_done, keepalive;
	/* request heads */
	struct hdr_off *hdrs;
	unsigned nhdrs, max_hdrs;
	/* buf[skip_from, skip_to) is not forwarded: the request's
	 * "Connection: close" line (close_stripped), a hop-by-hop option the
	 * proxy honours itself so the upstream connection stays reusable. */
	size_t skip_from, skip_to;
	bool close_stripped;
	/* responses: the client asked to close (close_stripped on its
	 * request), the upstream's final response is keep-alive: relay it
	 * with "Connection: close" added before its blank line, at
	 * inject_at (SIZE_MAX: head not complete yet). */
	bool inject_close, inject_pending;
	size_t inject_at, inject_sent;
	size_t url_off, url_len;
	bool url_seen, last_was_value, bad_head, too_many, upgrade;
	/* responses */
	int status;
	int req_method;
	bool req_upgrade;
};

static struct side *side_of(http_parser *hp)
{
	return hp->data;
}

static int rq_on_begin(http_parser *hp)
{
	struct side *s = side_of(hp);

	s->nhdrs = 0;
	s->url_seen = false;
	s->url_len = 0;
	s->last_was_value = false;
	s->head_done = false;
	s->msg_done = false;
	return 0;
}

static int rq_on_url(http_parser *hp, const char *at, size_t len)
{
	struct side *s = side_of(hp);
	size_t off = (size_t)(at - s->buf);

	if (!s->url_seen) {
		s->url_seen = true;
		s->url_off = off;
	} else if (s->url_off + s->url_len != off) {
		s->bad_head = true;
		return -1;
	}
	s->url_len += len;
	return 0;
}

static int rq_on_field(http_parser *hp, const char *at, size_t len)
{
	struct side *s = side_of(hp);
	size_t off = (size_t)(at - s->buf);
	struct hdr_off *h;

	/* chunked trailers are not routed on; past max_headers, the head
	 * is parsed to its end (431) but not kept */
	if (s->head_done || s->too_many)
		return 0;
	if (!s->nhdrs || s->last_was_value) {
		if (s->nhdrs >= s->max_hdrs) {
			s->too_many = true;
			return 0;
		}
		h = &s->hdrs[s->nhdrs++];
		h->name_off = off;
		h->name_len = 0;
		h->value_off = off;
		h->value_len = 0;
	} else {
		h = &s->hdrs[s->nhdrs - 1];
		if (h->name_off + h->name_len != off) {
			s->bad_head = true;
			return -1;
		}
	}
	h->name_len += len;
	s->last_was_value = false;
	return 0;
}

static int rq_on_value(http_parser *hp, const char *at, size_t len)
{
	struct side *s = side_of(hp);
	size_t off = (size_t)(at - s->buf);
	struct hdr_off *h;

	if (s->head_done || s->too_many)
		return 0;
	if (!s->nhdrs) {
		s->bad_head = true;
		return -1;
	}
	h = &s->hdrs[s->nhdrs - 1];
	if (!s->last_was_value) {
		h->value_off = off;
		h->value_len = len;
		s->last_was_value = true;
	} else if (h->value_off + h->value_len == off) {
		h->value_len += len;
	} else {
		/* obs-fold: RFC 7230 3.2.4 lets a server answer 400 */
		s->bad_head = true;
		return -1;
	}
	return 0;
}

static int rq_on_headers(http_parser *hp)
{
	struct side *s = side_of(hp);

	s->head_done = true;
	s->upgrade = hp->upgrade;
	http_parser_pause(hp, 1);
	return 0;
}

static int on_message(http_parser *hp)
{
	struct side *s = side_of(hp);

	s->msg_done = true;
	s->keepalive = http_should_keep_alive(hp);
	http_parser_pause(hp, 1);
	return 0;
}

static int rs_on_headers(http_parser *hp)
{
	struct side *s = side_of(hp);
	int st = hp->status_code;

	s->status = st;
	if (st < 100 || st > 599)
		return -1;
	if (st >= 200 && s->inject_close && http_should_keep_alive(hp)) {
		s->inject_pending = true;	/* resp_step() notes where */
		http_parser_pause(hp, 1);
	}
	if (st == 101)
		return s->req_upgrade ? 2 : 1;
	if (s->req_method == HTTP_CONNECT && st / 100 == 2)
		return 2;
	if (st / 100 == 1 || st == 204 || st == 304 ||
	    s->req_method == HTTP_HEAD)
		return 1;		/* no body, whatever the headers say */
	return 0;
}

static const http_parser_settings rq_settings = {
	.on_message_begin = rq_on_begin,
	.on_url = rq_on_url,
	.on_header_field = rq_on_field,
	.on_header_value = rq_on_value,
	.on_headers_complete = rq_on_headers,
	.on_message_complete = on_message,
};

static const http_parser_settings rs_settings = {
	.on_headers_complete = rs_on_headers,
	.on_message_complete = on_message,
};

static int side_init(struct side *s, size_t cap, unsigned max_hdrs)
{
	memset(s, 0, sizeof(*s));
	s->buf = malloc(cap);
	if (!s->buf)
		return -1;
	s->cap = cap;
	if (max_hdrs) {
		s->hdrs = calloc(max_hdrs, sizeof(*s->hdrs));
		if (!s->hdrs) {
			free(s->buf);
			s->buf = NULL;
			return -1;
		}
		s->max_hdrs = max_hdrs;
	}
	s->msg_start = SIZE_MAX;
	return 0;
}

static void side_free(struct side *s)
{
	free(s->buf);
	free(s->hdrs);
	s->buf = NULL;
	s->hdrs = NULL;
}

/* Parse [parsed, min(end, limit)) up to a pause. 0, or -1 on a parse
 * error. */
static int side_parse_to(struct side *s, const http_parser_settings *st,
			 size_t limit)
{
	size_t n, stop = s->end < limit ? s->end : limit;
	enum http_errno e;

	if (s->parsed >= stop)
		return 0;
	n = http_parser_execute(&s->hp, st, s->buf + s->parsed,
				stop - s->parsed);
	if (n > stop - s->parsed)
		n = stop - s->parsed;
	s->parsed += n;
	e = HTTP_PARSER_ERRNO(&s->hp);
	if (e == HPE_PAUSED) {
		http_parser_pause(&s->hp, 0);
		return 0;
	}
	return e == HPE_OK ? 0 : -1;
}

static int side_parse(struct side *s, const http_parser_settings *st)
{
	return side_parse_to(s, st, SIZE_MAX);
}

/* Make room to read: drop what was forwarded (keeping the current
 * message from msg_start for a retry while it fits). */
static void side_make_room(struct side *s)
{
	size_t keep = s->sent;

	if (s->end < s->cap && s->sent < s->end)
		return;
	if (s->msg_start != SIZE_MAX && s->msg_start < keep) {
		if (s->msg_start > 0 || s->end < s->cap)
			keep = s->msg_start;
		else
			s->msg_start = SIZE_MAX;	/* too big to resend */
	}
	if (!keep)
		return;
	memmove(s->buf, s->buf + keep, s->end - keep);
	s->sent -= keep;
	s->parsed -= keep;
	s->end -= keep;
	if (s->msg_start != SIZE_MAX)
		s->msg_start -= keep;
	if (s->inject_pending && s->inject_at != SIZE_MAX)
		s->inject_at -= keep;	/* keep <= sent <= inject_at */
	if (s->skip_to > s->skip_from) {
		if (s->skip_from >= keep) {
			s->skip_from -= keep;
			s->skip_to -= keep;
		} else {
			s->skip_from = s->skip_to = 0;	/* sent past it */
		}
	}
}

/* A new request: its head starts at buf[0]. */
static void side_begin_request(struct side *s)
{
	size_t keep = s->parsed;

	memmove(s->buf, s->buf + keep, s->end - keep);
	s->end -= keep;
	s->sent = s->parsed = s->msg_start = 0;
	s->nhdrs = 0;
	s->url_seen = false;
	s->url_len = 0;
	s->last_was_value = false;
	s->head_done = s->msg_done = false;
	s->bad_head = s->too_many = s->upgrade = false;
	s->skip_from = s->skip_to = 0;
	s->close_stripped = false;
}

/*
 * Connection is hop-by-hop (RFC 9110 7.6.1): a client's "close" asks the
 * proxy to close the client connection after the response, not the
 * upstream one. For an HTTP/1.1 request (not an upgrade or CONNECT) with
 * one Connection header whose only option is "close", that line is not
 * forwarded: the upstream sees a keep-alive request and its connection
 * goes back to the pool; the client's connection closes after the
 * response as asked. Other Connection headers are forwarded as they are.
 */
static void plan_strip_close(struct side *q)
{
	const struct hdr_off *h = NULL;
	const char *v;
	size_t vl, end;

	q->skip_from = q->skip_to = 0;
	q->close_stripped = false;
	if (q->upgrade || q->hp.method == HTTP_CONNECT ||
	    q->hp.http_major != 1 || q->hp.http_minor != 1)
		return;
	for (unsigned i = 0; i < q->nhdrs; i++) {
		if (q->hdrs[i].name_len != 10 ||
		    strncasecmp(q->buf + q->hdrs[i].name_off, "connection", 10))
			continue;
		if (h)
			return;		/* two of them: leave it all alone */
		h = &q->hdrs[i];
	}
	if (!h || h->name_off < q->msg_start || h->name_off == 0 ||
	    q->buf[h->name_off - 1] != '\n')
		return;
	v = q->buf + h->value_off;
	vl = h->value_len;
	while (vl && (*v == ' ' || *v == '\t'))
		v++, vl--;
	while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
		vl--;
	if (vl != 5 || strncasecmp(v, "close", 5))
		return;
	for (end = h->value_off + h->value_len; end < q->parsed && q->buf[end] != '\n'; end++)
		;
	if (end >= q->parsed)
		return;
	q->skip_from = h->name_off;
	q->skip_to = end + 1;
	q->close_stripped = true;
}

static void side_begin_response(struct side *s, int method, bool upgrade)
{
	http_parser_init(&s->hp, HTTP_RESPONSE);
	s->hp.data = s;
	s->sent = s->parsed = s->end = 0;
	s->msg_start = SIZE_MAX;
	s->head_done = s->msg_done = s->keepalive = false;
	s->status = 0;
	s->req_method = method;
	s->req_upgrade = upgrade;
	s->inject_close = s->inject_pending = false;
	s->inject_at = SIZE_MAX;
	s->inject_sent = 0;
}

enum { HS_MORE, HS_DONE, HS_400, HS_431, HS_NONHTTP };

static bool is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Parse the request head in [parsed, end). first: the connection's first
 * request, which may turn out not to be HTTP. The parser never sees a
 * byte past max_head_bytes of head, so the outcome does not depend on
 * how the bytes were cut into reads. */
static int head_step(struct side *s, const struct l7_proxy_opts *o,
		     bool first)
{
	if (side_parse_to(s, &rq_settings, s->msg_start + o->max_head_bytes)) {
		enum http_errno e = HTTP_PARSER_ERRNO(&s->hp);
		size_t i = s->msg_start;

		if (e == HPE_HEADER_OVERFLOW)
			return HS_431;
		if (s->bad_head || !first)
			return HS_400;
		/* An error inside the first line: not an HTTP/1.x request. */
		while (i < s->parsed && (s->buf[i] == '\r' || s->buf[i] == '\n'))
			i++;
		if (!memchr(s->buf + i, '\n', s->parsed - i))
			return HS_NONHTTP;
		return HS_400;
	}
	if (!s->head_done) {
		if (s->parsed - s->msg_start >= o->max_head_bytes)
			return HS_431;
		return HS_MORE;
	}
	if (s->too_many || s->parsed + 1 - s->msg_start > o->max_head_bytes)
		return HS_431;
	if (s->hp.http_major != 1)
		return first ? HS_NONHTTP : HS_400;
	/* Transfer-Encoding whose final coding is not chunked (RFC 7230
	 * 3.3.3): the body length cannot be known. */
	if (s->hp.uses_transfer_encoding && !(s->hp.flags & F_CHUNKED))
		return HS_400;
	for (unsigned i = 0; i < s->nhdrs; i++) {
		const struct hdr_off *h = &s->hdrs[i];

		if (!h->name_len)
			return HS_400;
		for (size_t k = 0; k < h->name_len; k++)
			if (!is_tchar((unsigned char)s->buf[h->name_off + k]))
				return HS_400;
	}
	return HS_DONE;
}

/* The split_http_request of the head in s (pointers into s->buf). */
static void build_request(struct side *s, struct split_http_request *req,
			  struct split_http_header *hv,
			  struct split_http_param *params)
{
	const char *url = s->url_seen ? s->buf + s->url_off : "/";
	size_t ulen = s->url_seen ? s->url_len : 1;

	memset(req, 0, sizeof(*req));
	req->method = http_method_str((enum http_method)s->hp.method);
	req->method_len = strlen(req->method);
	if (ulen && url[0] != '/' && url[0] != '*' &&
	    s->hp.method != HTTP_CONNECT) {
		/* absolute-form: route on its path; never connect to its host */
		struct http_parser_url u;

		http_parser_url_init(&u);
		if (ulen <= UINT16_MAX &&
		    !http_parser_parse_url(url, ulen, 0, &u) &&
		    (u.field_set & (1 << UF_PATH))) {
			size_t off = u.field_data[UF_PATH].off;

			url += off;
			ulen -= off;
		} else {
			url = "/";
			ulen = 1;
		}
	}
	split_http_set_target(req, url, ulen, params, L7_MAX_PARAMS);
	for (unsigned i = 0; i < s->nhdrs; i++) {
		const struct hdr_off *h = &s->hdrs[i];
		size_t vl = h->value_len;

		while (vl && (s->buf[h->value_off + vl - 1] == ' ' ||
			      s->buf[h->value_off + vl - 1] == '\t'))
			vl--;
		hv[i].name = s->buf + h->name_off;
		hv[i].name_len = h->name_len;
		hv[i].value = s->buf + h->value_off;
		hv[i].value_len = vl;
	}
	req->headers = hv;
	req->nheaders = s->nhdrs;
}

enum { RP_MORE, RP_DONE, RP_BROKEN };

/* Parse response bytes, passing interim 1xx responses over (they are
 * relayed as bytes). eof: the upstream closed. */
static int resp_step(struct side *s, bool eof, bool *eof_framed)
{
	while (s->parsed < s->end) {
		size_t before = s->parsed;

		if (side_parse(s, &rs_settings))
			return RP_BROKEN;
		if (s->inject_pending && s->inject_at == SIZE_MAX) {
			/* paused on the head's last LF: insert before its CR */
			if (s->parsed >= 2 && s->buf[s->parsed - 1] == '\r')
				s->inject_at = s->parsed - 1;
			else
				s->inject_pending = false;	/* bare LF: leave it */
		}
		if (s->msg_done) {
			if (s->status / 100 == 1 && s->status != 101) {
				s->msg_done = false;
				continue;
			}
			if (s->status == 101 && !s->req_upgrade)
				return RP_BROKEN;
			return RP_DONE;
		}
		if (s->parsed == before)
			return RP_BROKEN;
	}
	if (eof) {
		enum http_errno e;

		http_parser_execute(&s->hp, &rs_settings, NULL, 0);
		e = HTTP_PARSER_ERRNO(&s->hp);
		if (e == HPE_PAUSED)
			http_parser_pause(&s->hp, 0);
		else if (e != HPE_OK)
			return RP_BROKEN;
		if (s->msg_done && s->status / 100 != 1) {
			*eof_framed = true;
			return RP_DONE;
		}
		return RP_BROKEN;
	}
	return RP_MORE;
}

/* ---- upstream connections --------------------------------------------------- */

static unsigned sa_hash(const union l7_sa *u, socklen_t len)
{
	const unsigned char *b = (const unsigned char *)u;
	unsigned h = 2166136261u;

	for (socklen_t i = 0; i < len; i++)
		h = (h ^ b[i]) * 16777619u;
	return h % L7_POOL_BUCKETS;
}

static int pool_take(struct l7_proxy *p, const union l7_sa *sa, socklen_t len)
{
	unsigned b = sa_hash(sa, len);
	uint64_t now = now_ms();

	for (;;) {
		struct pool_conn **pp, *pc = NULL;
		char c;
		ssize_t n;
		int fd;

		pthread_mutex_lock(&p->pool_mu);
		for (pp = &p->pool[b]; *pp; pp = &(*pp)->next)
			if ((*pp)->salen == len && !memcmp(&(*pp)->sa, sa, len)) {
				pc = *pp;
				*pp = pc->next;
				p->pool_n--;
				break;
			}
		pthread_mutex_unlock(&p->pool_mu);
		if (!pc)
			return -1;
		fd = pc->fd;
		if (now - pc->since_ms > p->o.pool_idle_ms) {
			free(pc);
			close(fd);
			continue;
		}
		free(pc);
		/* Still open, and silent? */
		n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return fd;
		close(fd);
	}
}

static void pool_put(struct l7_proxy *p, int fd, const union l7_sa *sa,
		     socklen_t len)
{
	struct pool_conn *pc;
	unsigned b = sa_hash(sa, len);

	pc = malloc(sizeof(*pc));
	if (!pc) {
		close(fd);
		return;
	}
	pc->sa = *sa;
	pc->salen = len;
	pc->fd = fd;
	pc->since_ms = now_ms();
	pthread_mutex_lock(&p->pool_mu);
	if (p->pool_n >= p->o.pool_max_idle) {
		pthread_mutex_unlock(&p->pool_mu);
		free(pc);
		close(fd);
		return;
	}
	pc->next = p->pool[b];
	p->pool[b] = pc;
	p->pool_n++;
	pthread_mutex_unlock(&p->pool_mu);
}

/* poll one fd and the stop eventfd. 1 ready, 0 timeout, -1 stop/error. */
static int wait_fd(struct l7_proxy *p, int fd, short events, uint64_t deadline)
{
	for (;;) {
		struct pollfd pf[2] = {
			{ .fd = fd, .events = events },
			{ .fd = p->stopfd, .events = POLLIN },
		};
		uint64_t now = now_ms();
		int r;

		if (now >= deadline)
			return 0;
		r = poll(pf, 2, (int)(deadline - now > 60000 ? 60000 : deadline - now));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (pf[1].revents)
			return -1;
		if (pf[0].revents)
			return 1;
	}
}

static int connect_ep(struct l7_proxy *p, const union l7_sa *sa,
		      socklen_t len)
{
	int fd, one = 1, err = 0;
	socklen_t elen = sizeof(err);

	fd = socket(sa->sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	ctr_add(&p->st.upstream_connects, 1);
	if (!connect(fd, &sa->sa, len))
		return fd;
	if (errno != EINPROGRESS)
		goto fail;
	if (wait_fd(p, fd, POLLOUT, now_ms() + p->o.connect_timeout_ms) != 1)
		goto fail;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) || err)
		goto fail;
	return fd;
fail:
	close(fd);
	return -1;
}

/* One non-blocking send: bytes sent, 0 if it would block, -1 on an error. */
static ssize_t send_nb(int fd, const void *b, size_t n)
{
	ssize_t w = send(fd, b, n, MSG_NOSIGNAL | MSG_DONTWAIT);

	if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return 0;
	return w;
}

static int write_all(struct l7_proxy *p, int fd, const char *b, size_t n,
		     unsigned timeout_ms)
{
	uint64_t deadline = now_ms() + timeout_ms;

	while (n) {
		ssize_t w = send(fd, b, n, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w > 0) {
			b += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
		    wait_fd(p, fd, POLLOUT, deadline) == 1)
			continue;
		return -1;
	}
	return 0;
}

/* ---- client connections ------------------------------------------------------ */

struct conn {
	struct conn *next;		/* p->work */
	struct l7_proxy *p;
	struct l7_entry *e;
	int cfd;
	struct side rq, rs;
	struct split_http_header *hv;
	unsigned nreq;
};

static const char *reason(int status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 408: return "Request Timeout";
	case 431: return "Request Header Fields Too Large";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "Error";
	}
}

static void count_status(struct l7_ctr *c, int status)
{
	if (c && status >= 100 && status <= 599)
		ctr_add(&c->responses[status / 100 - 1], 1);
}

/* Half-close and read what the client still sends, for a while, before
 * the close: unread bytes would turn it into a reset that can destroy
 * the answer in flight. */
static void linger(struct conn *c)
{
	char drain[4096];
	uint64_t deadline = now_ms() + L7_LINGER_MS;
	size_t total = 0;

	shutdown(c->cfd, SHUT_WR);
	while (total < L7_LINGER_BYTES) {
		ssize_t r = recv(c->cfd, drain, sizeof(drain), MSG_DONTWAIT);

		if (r > 0) {
			total += (size_t)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
		    wait_fd(c->p, c->cfd, POLLIN, deadline) == 1)
			continue;
		break;
	}
}

/* The proxy's own answer, then a lingering close. */
static void local_reply(struct conn *c, int status, struct l7_ctr *ctr)
{
	const char *why = reason(status);
	char msg[256];
	int n;

	n = snprintf(msg, sizeof(msg),
		     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n"
		     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s\n",
		     status, why, strlen(why) + 1, why);
	count_status(ctr, status);
	if (write_all(c->p, c->cfd, msg, (size_t)n, L7_REPLY_MS))
		return;
	linger(c);
}

enum { RH_DONE, RH_CLOSE, RH_400, RH_408, RH_431, RH_NONHTTP };

static int read_head(struct conn *c)
{
	struct l7_proxy *p = c->p;
	struct side *s = &c->rq;
	bool first = c->nreq == 0, have = false;
	uint64_t start = now_ms(), t_first = 0;

	side_begin_request(s);
	for (;;) {
		uint64_t deadline;
		ssize_t n;
		int r;

		if (s->parsed < s->end) {
			if (!have) {
				have = true;
				t_first = now_ms();
			}
			switch (head_step(s, &p->o, first)) {
			case HS_DONE: return RH_DONE;
			case HS_400: return RH_400;
			case HS_431: return RH_431;
			case HS_NONHTTP: return RH_NONHTTP;
			default: break;
			}
		}
		if (s->end >= s->cap)		/* cannot happen: cap > max head */
			return RH_431;
		n = recv(c->cfd, s->buf + s->end, s->cap - s->end, MSG_DONTWAIT);
		if (n > 0) {
			s->end += (size_t)n;
			continue;
		}
		if (n == 0)
			return RH_CLOSE;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return RH_CLOSE;
		if (have)
			deadline = t_first + p->o.header_timeout_ms;
		else if (first && p->o.first_byte_timeout_ms)
			deadline = start + p->o.first_byte_timeout_ms;
		else
			deadline = start + p->o.idle_timeout_ms;
		r = wait_fd(p, c->cfd, POLLIN, deadline);
		if (r < 0)
			return RH_CLOSE;
		if (!r) {
			if (have)
				return RH_408;
			if (first && p->o.first_byte_timeout_ms)
				return RH_NONHTTP;	/* server speaks first */
			return RH_CLOSE;
		}
	}
}

/* Relay bytes both ways until both sides are done: splice(2) through a
 * pipe per direction, or read/write. */
struct tdir {
	int from, to;
	int pipe[2];
	size_t pending;
	bool eof, shut, full, rw;
	char *buf;
	size_t boff;
};

static int tdir_move(struct l7_proxy *p, struct tdir *d, bool *prog)
{
	ssize_t n;

	/* drain */
	if (d->pending) {
		if (d->rw)
			n = send(d->to, d->buf + d->boff, d->pending,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		else
			n = splice(d->pipe[0], NULL, d->to, NULL, d->pending,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n > 0) {
			d->pending -= (size_t)n;
			d->boff += (size_t)n;
			d->full = false;
			*prog = true;
			if (!d->rw)
				ctr_add(&p->st.spliced_bytes, (uint64_t)n);
		} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
			return -1;
		}
	}
	/* fill */
	if (!d->eof && !d->full && d->pending < L7_PIPE_CAP) {
		if (d->rw) {
			if (d->pending)
				goto out;
			d->boff = 0;
			n = recv(d->from, d->buf, L7_PIPE_CAP, MSG_DONTWAIT);
		} else {
			n = splice(d->from, NULL, d->pipe[1], NULL,
				   L7_PIPE_CAP - d->pending,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		}
		if (n > 0) {
			d->pending += (size_t)n;
			*prog = true;
		} else if (n == 0) {
			d->eof = true;
			*prog = true;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			if (d->pending && !d->rw)
				d->full = true;	/* the pipe may be full */
		} else if (errno != EINTR) {
			return -1;
		}
	}
out:
	if (d->eof && !d->pending && !d->shut) {
		shutdown(d->to, SHUT_WR);
		d->shut = true;
		*prog = true;
	}
	return 0;
}

static void tunnel(struct conn *c, int ufd)
{
	struct l7_proxy *p = c->p;
	struct tdir d[2] = {
		{ .from = c->cfd, .to = ufd, .pipe = { -1, -1 } },
		{ .from = ufd, .to = c->cfd, .pipe = { -1, -1 } },
	};
	uint64_t last = now_ms();

	ctr_add(&p->st.tunnels, 1);
	if (p->sm) {
		struct l7_sockmap_io io;
		int r = l7_sockmap_relay(p->sm, c->cfd, ufd, p->stopfd,
					 p->o.idle_timeout_ms, &io);

		if (r <= 0) {
			if (io.redirected)
				ctr_add(&p->st.sockmap_tunnels, 1);
			ctr_add(&p->st.sockmap_bytes, io.kernel_bytes);
			return;
		}
		/* 1: not taken (all sockmap tunnels in use), nothing moved */
	}
	for (int i = 0; i < 2; i++) {
		if (!p->o.no_splice &&
		    !pipe2(d[i].pipe, O_NONBLOCK | O_CLOEXEC))
			continue;
		d[i].rw = true;
		d[i].buf = malloc(L7_PIPE_CAP);
		if (!d[i].buf)
			goto out;
	}
	for (;;) {
		bool prog = false;
		struct pollfd pf[3];
		uint64_t now, left;
		int r;

		for (int i = 0; i < 2; i++) {
			if (!tdir_move(p, &d[i], &prog))
				continue;
			if (d[i].rw || errno != EINVAL || d[i].pending)
				goto out;	/* reset, broken pipe, ... */
			/* splice refused for this pair: read/write */
			d[i].buf = malloc(L7_PIPE_CAP);
			if (!d[i].buf)
				goto out;
			d[i].rw = true;
			prog = true;
		}
		if (d[0].shut && d[1].shut)
			break;
		now = now_ms();
		if (prog) {
			last = now;
			continue;
		}
		if (now - last >= p->o.idle_timeout_ms)
			break;
		left = p->o.idle_timeout_ms - (now - last);
		pf[0] = (struct pollfd){ .fd = c->cfd };
		pf[1] = (struct pollfd){ .fd = ufd };
		pf[2] = (struct pollfd){ .fd = p->stopfd, .events = POLLIN };
		for (int i = 0; i < 2; i++) {
			/* d[i] reads pf[i] and writes pf[1 - i] */
			if (!d[i].eof && !d[i].full && d[i].pending < L7_PIPE_CAP &&
			    !(d[i].rw && d[i].pending))
				pf[i].events |= POLLIN;
			if (d[i].pending)
				pf[1 - i].events |= POLLOUT;
		}
		/* An fd we want nothing from is left out: its POLLHUP would
		 * otherwise wake us forever. */
		for (int i = 0; i < 2; i++)
			if (!pf[i].events)
				pf[i].fd = -1;
		r = poll(pf, 3, (int)(left > 60000 ? 60000 : left));
		if (r < 0 && errno != EINTR)
			break;
		if (r > 0 && pf[2].revents)
			break;
		if ((pf[0].revents | pf[1].revents) & POLLNVAL)
			break;
	}
out:
	for (int i = 0; i < 2; i++) {
		if (d[i].pipe[0] >= 0)
			close(d[i].pipe[0]);
		if (d[i].pipe[1] >= 0)
			close(d[i].pipe[1]);
		free(d[i].buf);
	}
}

/* Flush what is already read and not sent, then tunnel. */
static void start_tunnel(struct conn *c, int ufd)
{
	struct side *q = &c->rq, *r = &c->rs;

	if (q->end > q->sent &&
	    write_all(c->p, ufd, q->buf + q->sent, q->end - q->sent,
		      c->p->o.idle_timeout_ms))
		return;
	if (r->end > r->sent &&
	    write_all(c->p, c->cfd, r->buf + r->sent, r->end - r->sent,
		      c->p->o.idle_timeout_ms))
		return;
	q->parsed = q->sent = q->end;
	r->parsed = r->sent = r->end;
	tunnel(c, ufd);
}

/* A connection whose first bytes are not HTTP/1.x: default split, L4. */
static void relay_nonhttp(struct conn *c)
{
	struct l7_pick pk;
	int ufd;

	route(c->e, NULL, &pk);
	if (pk.status)			/* no endpoint: nothing to say at L4 */
		return;
	ctr_add(&pk.ctr->nonhttp, 1);
	ufd = connect_ep(c->p, &pk.sa, pk.salen);
	if (ufd < 0)
		return;
	c->rq.sent = 0;			/* everything read goes as is */
	start_tunnel(c, ufd);
	close(ufd);
}

enum { EX_KEEP, EX_CLOSE, EX_TUNNEL };

/*
 * One request/response exchange with the head in c->rq routed to pk:
 * stream the request, relay the response, full duplex. On EX_TUNNEL
 * *tfd is the upstream to tunnel to.
 */
static int exchange(struct conn *c, struct l7_pick *pk, uint64_t t0,
		    int *tfd)
{
	struct l7_proxy *p = c->p;
	struct side *q = &c->rq, *r = &c->rs;
	bool cl_eof = false, up_eof = false, resp_done = false, got = false;
	bool relayed = false, reused = false, eof_framed = false;
	bool retried = false;
	int ufd, fail = 0, res;
	uint64_t last;

	ufd = pool_take(p, &pk->sa, pk->salen);
	if (ufd >= 0) {
		reused = true;
		ctr_add(&p->st.upstream_reused, 1);
	} else {
		ufd = connect_ep(p, &pk->sa, pk->salen);
		if (ufd < 0) {
			local_reply(c, 503, pk->ctr);
			return EX_CLOSE;
		}
	}
	side_begin_response(r, q->hp.method, q->upgrade);
	plan_strip_close(q);
	r->inject_close = q->close_stripped;
	last = now_ms();
	for (;;) {
		bool prog = false, up_err = false;
		ssize_t n;

		/* request bytes: parse, then forward */
		if (!q->msg_done && q->parsed < q->end) {
			size_t before = q->parsed;

			if (side_parse(q, &rq_settings)) {
				fail = 400;
				break;
			}
			if (q->parsed != before || q->msg_done)
				prog = true;
		}
		if (q->skip_to > q->skip_from && q->sent >= q->skip_from &&
		    q->sent < q->skip_to)
			q->sent = q->skip_to;	/* the head is parsed: skip_to <= parsed */
		if (q->sent < q->parsed) {
			size_t lim = q->parsed;

			if (q->skip_to > q->skip_from && q->sent < q->skip_from &&
			    lim > q->skip_from)
				lim = q->skip_from;
			n = send_nb(ufd, q->buf + q->sent, lim - q->sent);
			if (n > 0) {
				q->sent += (size_t)n;
				prog = true;
			} else if (n < 0) {
				up_err = true;
			}
		}
		if (!q->msg_done && !cl_eof && !up_err) {
			side_make_room(q);
			if (q->end < q->cap) {
				n = recv(c->cfd, q->buf + q->end, q->cap - q->end,
					 MSG_DONTWAIT);
				if (n > 0) {
					q->end += (size_t)n;
					prog = true;
				} else if (n == 0 || (errno != EAGAIN &&
						      errno != EWOULDBLOCK &&
						      errno != EINTR)) {
					cl_eof = true;	/* mid-request */
					break;
				}
			}
		}
		/* response bytes: read, parse, relay */
		if (!resp_done && !up_eof && !up_err) {
			side_make_room(r);
			if (r->end < r->cap) {
				n = recv(ufd, r->buf + r->end, r->cap - r->end,
					 MSG_DONTWAIT);
				if (n > 0) {
					r->end += (size_t)n;
					got = true;
					prog = true;
				} else if (n == 0) {
					up_eof = true;
					prog = true;
				} else if (errno != EAGAIN &&
					   errno != EWOULDBLOCK && errno != EINTR) {
					up_err = true;
				}
			}
		}
		if (!resp_done && !up_err) {
			size_t before = r->parsed;
			int st = resp_step(r, up_eof, &eof_framed);

			if (r->parsed != before)
				prog = true;
			if (st == RP_DONE)
				resp_done = true;
			else if (st == RP_BROKEN)
				up_err = true;
		}
		if (up_err) {
			/* A pooled connection the upstream had closed: send
			 * the request again on a new one, if nothing came
			 * back and the whole request is still here. */
			if (reused && !retried && !got &&
			    q->msg_start != SIZE_MAX && r->parsed == r->end) {
				close(ufd);
				retried = true;
				ctr_add(&p->st.upstream_retries, 1);
				ufd = connect_ep(p, &pk->sa, pk->salen);
				if (ufd < 0) {
					if (!relayed) {
						local_reply(c, 503, pk->ctr);
						return EX_CLOSE;
					}
					return EX_CLOSE;
				}
				q->sent = q->msg_start;
				up_eof = false;
				side_begin_response(r, q->hp.method, q->upgrade);
				r->inject_close = q->close_stripped;
				last = now_ms();
				continue;
			}
			fail = 502;
			break;
		}
		if (r->inject_pending && r->sent == r->inject_at) {
			static const char cc[] = "Connection: close\r\n";

			n = send_nb(c->cfd, cc + r->inject_sent, sizeof(cc) - 1 - r->inject_sent);
			if (n < 0) {
				cl_eof = true;
				break;
			}
			r->inject_sent += (size_t)n;
			r->inject_pending = r->inject_sent < sizeof(cc) - 1;
			relayed = relayed || n > 0;
			prog = prog || n > 0;
		}
		if (r->sent < r->parsed &&
		    !(r->inject_pending && r->sent == r->inject_at)) {
			size_t lim = r->parsed;

			if (r->inject_pending && r->inject_at != SIZE_MAX &&
			    r->sent < r->inject_at)
				lim = r->inject_at;
			n = send_nb(c->cfd, r->buf + r->sent, lim - r->sent);
			if (n < 0) {
				cl_eof = true;
				break;
			}
			r->sent += (size_t)n;
			relayed = relayed || n > 0;
			prog = prog || n > 0;
		}
		if (resp_done && r->sent == r->parsed)
			break;
		if (prog) {
			last = now_ms();
			continue;
		}
		{
			struct pollfd pf[3] = {
				{ .fd = c->cfd },
				{ .fd = ufd },
				{ .fd = p->stopfd, .events = POLLIN },
			};
			uint64_t now = now_ms();
			int k;

			if (!q->msg_done && !cl_eof && q->end < q->cap)
				pf[0].events |= POLLIN;
			if (r->sent < r->parsed)
				pf[0].events |= POLLOUT;
			if (!resp_done && !up_eof && r->end < r->cap)
				pf[1].events |= POLLIN;
			if (q->sent < q->parsed)
				pf[1].events |= POLLOUT;
			/* nothing wanted from it: leave it out, or its
			 * POLLHUP would wake us in a loop */
			for (int i = 0; i < 2; i++)
				if (!pf[i].events)
					pf[i].fd = -1;
			if (now - last >= p->o.idle_timeout_ms) {
				fail = 504;
				break;
			}
			k = poll(pf, 3, (int)(p->o.idle_timeout_ms - (now - last) > 60000 ?
					      60000 : p->o.idle_timeout_ms - (now - last)));
			if (k < 0 && errno != EINTR) {
				cl_eof = true;
				break;
			}
			if (k > 0 && pf[2].revents) {
				cl_eof = true;	/* stopping */
				break;
			}
		}
	}
	if (!resp_done) {
		close(ufd);
		if (fail && !relayed && !cl_eof) {
			local_reply(c, fail, pk->ctr);
		} else if (fail == 400 || fail == 502 || fail == 504) {
			count_status(pk->ctr, fail);
		}
		return EX_CLOSE;
	}
	/* The response is relayed. */
	count_status(pk->ctr, r->status);
	ctr_add(&pk->ctr->latency_us, now_us() - t0);
	if ((r->status == 101 && q->upgrade) ||
	    (q->hp.method == HTTP_CONNECT && r->status / 100 == 2)) {
		*tfd = ufd;
		return EX_TUNNEL;
	}
	if (!up_eof && !eof_framed && r->keepalive &&
	    (q->keepalive || q->close_stripped) &&
	    q->msg_done && q->sent == q->parsed && r->parsed == r->end &&
	    !q->upgrade)
		pool_put(p, ufd, &pk->sa, pk->salen);
	else
		close(ufd);
	res = EX_KEEP;
	if (!q->msg_done || !q->keepalive || !r->keepalive || eof_framed ||
	    cl_eof || q->upgrade)
		res = EX_CLOSE;
	return res;
}

static void conn_serve(struct conn *c)
{
	struct split_http_param params[L7_MAX_PARAMS];
	struct split_http_request req;
	struct l7_pick pk;
	int tfd = -1;

	for (;; c->nreq++) {
		uint64_t t0;
		int r = read_head(c);

		switch (r) {
		case RH_DONE:
			break;
		case RH_400:
			local_reply(c, 400, &c->e->ctr[0]);
			return;
		case RH_408:
			local_reply(c, 408, &c->e->ctr[0]);
			return;
		case RH_431:
			local_reply(c, 431, &c->e->ctr[0]);
			return;
		case RH_NONHTTP:
			relay_nonhttp(c);
			return;
		default:
			return;
		}
		t0 = now_us();
		build_request(&c->rq, &req, c->hv, params);
		route(c->e, &req, &pk);
		if (pk.status) {
			if (pk.status != 404)
				ctr_add(&pk.ctr->requests, 1);
			local_reply(c, pk.status, pk.ctr);
			return;
		}
		ctr_add(&pk.ctr->requests, 1);
		r = exchange(c, &pk, t0, &tfd);
		if (r == EX_TUNNEL) {
			start_tunnel(c, tfd);
			close(tfd);
			return;
		}
		if (r != EX_KEEP) {
			if (!c->rq.msg_done)	/* answered before the body ended */
				linger(c);
			return;
		}
	}
}

static void conn_run(struct conn *c)
{
	struct l7_proxy *p = c->p;

	if (!side_init(&c->rq, p->o.max_head_bytes + L7_BUF_EXTRA,
		       p->o.max_headers) &&
	    !side_init(&c->rs, L7_RESP_BUF, 0) &&
	    (c->hv = calloc(p->o.max_headers, sizeof(*c->hv)))) {
		http_parser_init(&c->rq.hp, HTTP_REQUEST);
		c->rq.hp.data = &c->rq;
		conn_serve(c);
	}
	close(c->cfd);
	side_free(&c->rq);
	side_free(&c->rs);
	free(c->hv);
	free(c);
	pthread_mutex_lock(&p->mu);
	p->nconns--;
	__atomic_store_n(&p->st.conns_active, p->nconns, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

/* Serve connections: the first one given, then those handle_accept()
 * queues, until none comes for L7_WORKER_IDLE_MS, there are enough idle
 * workers, or the proxy stops. */
static void *conn_thread(void *arg)
{
	struct conn *c = arg;
	struct l7_proxy *p = c->p;
	sigset_t set;

	/* splice(2) to a closed socket raises SIGPIPE (no MSG_NOSIGNAL) */
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	while (c) {
		struct timespec until;

		conn_run(c);
		c = NULL;
		pthread_mutex_lock(&p->mu);
		if (!p->stopping && p->idle < L7_WORKER_MAX_IDLE) {
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += L7_WORKER_IDLE_MS / 1000;
			p->idle++;
			while (!p->work && !p->stopping &&
			       !pthread_cond_timedwait(&p->work_cv, &p->mu, &until))
				;
			if (p->work && !p->stopping) {
				/* handle_accept() took us off idle already */
				c = p->work;
				p->work = c->next;
			} else {
				p->idle--;
			}
		}
		if (!c) {
			p->nworkers--;
			pthread_cond_broadcast(&p->cv);
		}
		pthread_mutex_unlock(&p->mu);
	}
	return NULL;
}

static void handle_accept(struct l7_proxy *p, int fd, struct l7_entry *e)
{
	pthread_attr_t attr;
	pthread_t tid;
	struct conn *c;
	int one = 1;

	pthread_mutex_lock(&p->mu);
	if (p->stopping || p->nconns >= p->o.max_connections) {
		pthread_mutex_unlock(&p->mu);
		ctr_add(&p->st.conns_rejected, 1);
		close(fd);
		return;
	}
	p->nconns++;
	__atomic_store_n(&p->st.conns_active, p->nconns, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&p->mu);
	ctr_add(&p->st.conns_accepted, 1);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c = calloc(1, sizeof(*c));
	if (c) {
		c->p = p;
		c->e = e;
		c->cfd = fd;
		pthread_mutex_lock(&p->mu);
		if (p->idle > 0) {	/* a waiting worker takes it */
			struct conn **t = &p->work;

			p->idle--;
			while (*t)
				t = &(*t)->next;
			*t = c;
			pthread_cond_signal(&p->work_cv);
			pthread_mutex_unlock(&p->mu);
			return;
		}
		p->nworkers++;
		pthread_mutex_unlock(&p->mu);
		ctr_add(&p->st.threads_started, 1);
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		pthread_attr_setstacksize(&attr, L7_THREAD_STACK);
		if (!pthread_create(&tid, &attr, conn_thread, c)) {
			pthread_attr_destroy(&attr);
			return;
		}
		pthread_attr_destroy(&attr);
		free(c);
		pthread_mutex_lock(&p->mu);
		p->nworkers--;
		pthread_mutex_unlock(&p->mu);
	}
	close(fd);
	pthread_mutex_lock(&p->mu);
	p->nconns--;
	__atomic_store_n(&p->st.conns_active, p->nconns, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

/* ---- the proxy ------------------------------------------------------------------- */

struct l7_proxy *l7_proxy_new(const struct l7_proxy_opts *o)
{
	struct l7_proxy *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	if (o)
		p->o = *o;
	if (!p->o.max_head_bytes)
		p->o.max_head_bytes = L7_DEF_HEAD;
	if (p->o.max_head_bytes > L7_MAX_HEAD)
		p->o.max_head_bytes = L7_MAX_HEAD;
	if (!p->o.max_headers)
		p->o.max_headers = L7_DEF_HEADERS;
	if (!p->o.idle_timeout_ms)
		p->o.idle_timeout_ms = L7_DEF_IDLE_MS;
	if (!p->o.header_timeout_ms)
		p->o.header_timeout_ms = L7_DEF_HEADER_MS;
	if (!p->o.connect_timeout_ms)
		p->o.connect_timeout_ms = L7_DEF_CONNECT_MS;
	if (!p->o.max_connections)
		p->o.max_connections = L7_DEF_MAX_CONNS;
	if (!p->o.pool_idle_ms)
		p->o.pool_idle_ms = L7_DEF_POOL_IDLE_MS;
	if (!p->o.pool_max_idle)
		p->o.pool_max_idle = L7_DEF_POOL_MAX;
	p->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	p->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->stopfd < 0 || p->wakefd < 0) {
		int saved = errno;

		if (p->stopfd >= 0)
			close(p->stopfd);
		if (p->wakefd >= 0)
			close(p->wakefd);
		free(p);
		errno = saved;
		return NULL;
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	pthread_cond_init(&p->work_cv, NULL);
	pthread_mutex_init(&p->pool_mu, NULL);
	snprintf(p->sm_why, sizeof(p->sm_why), "off");
	if (!p->o.no_sockmap && p->o.sockmap_obj) {
		p->sm = l7_sockmap_open_flags(p->o.sockmap_obj,
					      p->o.sockmap_obj_len,
					      p->o.sockmap_trust ?
					      L7_SOCKMAP_NO_PROBE : 0,
					      p->sm_why, sizeof(p->sm_why));
		if (p->sm)
			pr_info("L7 proxy: tunnels move bytes in the kernel (sockmap)\n");
		else
			pr_warn("L7 proxy: sockmap unusable (%s): tunnels use splice\n",
				p->sm_why);
	}
	return p;
}

static void wake(struct l7_proxy *p)
{
	uint64_t one = 1;
	ssize_t r = write(p->wakefd, &one, sizeof(one));

	(void)r;
}

int l7_proxy_listen(struct l7_proxy *p, const struct split_addr *addr,
		    uint16_t port, void *svc_key)
{
	struct l7_listener *l;
	union l7_sa sa;
	socklen_t len = sa_from(&sa, addr, port);
	int fd, one = 1;

	if (addr->family != 4 && addr->family != 6) {
		errno = EINVAL;
		return -1;
	}
	fd = socket(sa.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (addr->family == 6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, &sa.sa, len) || listen(fd, 1024) ||
	    getsockname(fd, &sa.sa, &len))
		goto fail;
	l = calloc(1, sizeof(*l));
	if (!l) {
		errno = ENOMEM;
		goto fail;
	}
	l->fd = fd;
	pthread_mutex_lock(&p->mu);
	l->e = entry_find(p, svc_key, true);
	if (!l->e) {
		pthread_mutex_unlock(&p->mu);
		free(l);
		errno = ENOMEM;
		goto fail;
	}
	l->next = p->listeners;
	p->listeners = l;
	pthread_mutex_unlock(&p->mu);
	wake(p);
	return ntohs(sa.sa.sa_family == AF_INET6 ? sa.in6.sin6_port :
						   sa.in.sin_port);
fail:
	{
		int saved = errno;

		close(fd);
		errno = saved;
	}
	return -1;
}

void l7_proxy_unlisten(struct l7_proxy *p, void *svc_key)
{
	struct l7_listener **pp, *l;

	pthread_mutex_lock(&p->mu);
	for (pp = &p->listeners; (l = *pp);) {
		if (l->e->key != svc_key) {
			pp = &l->next;
			continue;
		}
		if (p->running) {	/* the accept loop closes it */
			l->closing = true;
			pp = &l->next;
			continue;
		}
		*pp = l->next;
		close(l->fd);
		free(l);
	}
	pthread_mutex_unlock(&p->mu);
	wake(p);
}

int l7_proxy_listen_fd(struct l7_proxy *p, void *svc_key)
{
	int fd = -1;

	pthread_mutex_lock(&p->mu);
	for (struct l7_listener *l = p->listeners; l && fd < 0; l = l->next)
		if (l->e->key == svc_key && !l->closing)
			fd = l->fd;
	pthread_mutex_unlock(&p->mu);
	if (fd < 0)
		errno = ENOENT;
	return fd;
}

int l7_proxy_set_service(struct l7_proxy *p, void *svc_key,
			 const struct l7_service *svc)
{
	struct l7_snap *s = NULL, *old;
	struct l7_entry *e;

	pthread_mutex_lock(&p->mu);
	e = entry_find(p, svc_key, true);
	pthread_mutex_unlock(&p->mu);
	if (!e) {
		errno = ENOMEM;
		return -1;
	}
	if (svc) {
		s = snap_build(p, e, svc);
		if (!s)
			return -1;
	}
	pthread_mutex_lock(&e->mu);
	old = e->snap;
	e->snap = s;
	pthread_mutex_unlock(&e->mu);
	snap_put(e, old);
	return 0;
}

int l7_proxy_run(struct l7_proxy *p)
{
	struct pollfd *pf = NULL;
	struct l7_listener **ls = NULL;
	size_t cap = 0;
	int ret = 0;

	pthread_mutex_lock(&p->mu);
	if (p->running) {
		pthread_mutex_unlock(&p->mu);
		errno = EBUSY;
		return -1;
	}
	p->running = true;
	p->stopping = false;
	pthread_mutex_unlock(&p->mu);
	for (;;) {
		struct l7_listener **pp, *l;
		size_t n = 2;
		int r;

		pthread_mutex_lock(&p->mu);
		for (pp = &p->listeners; (l = *pp);) {
			if (l->closing) {
				*pp = l->next;
				close(l->fd);
				free(l);
				continue;
			}
			n++;
			pp = &l->next;
		}
		if (n > cap) {
			struct pollfd *npf = realloc(pf, n * sizeof(*pf));
			struct l7_listener **nls;

			if (npf)
				pf = npf;
			nls = npf ? realloc(ls, n * sizeof(*ls)) : NULL;
			if (!npf || !nls) {
				pthread_mutex_unlock(&p->mu);
				ret = -1;
				break;
			}
			ls = nls;
			cap = n;
		}
		pf[0] = (struct pollfd){ .fd = p->stopfd, .events = POLLIN };
		pf[1] = (struct pollfd){ .fd = p->wakefd, .events = POLLIN };
		n = 2;
		for (l = p->listeners; l; l = l->next) {
			ls[n] = l;
			pf[n++] = (struct pollfd){ .fd = l->fd, .events = POLLIN };
		}
		pthread_mutex_unlock(&p->mu);
		r = poll(pf, n, -1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			ret = -1;
			break;
		}
		if (pf[0].revents)
			break;
		if (pf[1].revents) {
			uint64_t v;
			ssize_t k = read(p->wakefd, &v, sizeof(v));

			(void)k;
			continue;
		}
		for (size_t i = 2; i < n; i++) {
			if (!pf[i].revents)
				continue;
			for (int k = 0; k < 64; k++) {
				int fd = accept4(pf[i].fd, NULL, NULL,
						 SOCK_NONBLOCK | SOCK_CLOEXEC);

				if (fd < 0) {
					if (errno == EMFILE || errno == ENFILE ||
					    errno == ENOBUFS || errno == ENOMEM)
						usleep(10000);
					break;
				}
				handle_accept(p, fd, ls[i]->e);
			}
		}
	}
	free(pf);
	free(ls);
	/* Cut every connection (they poll the stop eventfd) and wait. */
	l7_proxy_stop(p);
	pthread_mutex_lock(&p->mu);
	p->stopping = true;
	pthread_cond_broadcast(&p->work_cv);
	/* Queued connections no worker took: close them. */
	while (p->work) {
		struct conn *c = p->work;

		p->work = c->next;
		close(c->cfd);
		free(c);
		p->nconns--;
	}
	while (p->nconns || p->nworkers)
		pthread_cond_wait(&p->cv, &p->mu);
	p->running = false;
	pthread_mutex_unlock(&p->mu);
	return ret;
}

void l7_proxy_stop(struct l7_proxy *p)
{
	uint64_t one = 1;
	ssize_t r = write(p->stopfd, &one, sizeof(one));

	(void)r;
}

void l7_proxy_free(struct l7_proxy *p)
{
	if (!p)
		return;
	while (p->listeners) {
		struct l7_listener *l = p->listeners;

		p->listeners = l->next;
		close(l->fd);
		free(l);
	}
	while (p->entries) {
		struct l7_entry *e = p->entries;

		p->entries = e->next;
		snap_put(e, e->snap);
		pthread_mutex_destroy(&e->mu);
		free(e->ctr);
		free(e);
	}
	for (int b = 0; b < L7_POOL_BUCKETS; b++)
		while (p->pool[b]) {
			struct pool_conn *pc = p->pool[b];

			p->pool[b] = pc->next;
			close(pc->fd);
			free(pc);
		}
	l7_sockmap_close(p->sm);
	close(p->stopfd);
	close(p->wakefd);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	pthread_cond_destroy(&p->work_cv);
	pthread_mutex_destroy(&p->pool_mu);
	free(p);
}

int l7_proxy_service_stats(struct l7_proxy *p, void *svc_key,
			   struct l7_version_stats *out, size_t max)
{
	struct l7_entry *e;
	size_t n;

	pthread_mutex_lock(&p->mu);
	e = entry_find(p, svc_key, false);
	pthread_mutex_unlock(&p->mu);
	if (!e)
		return -1;
	n = __atomic_load_n(&e->nctr, __ATOMIC_ACQUIRE);
	for (size_t i = 0; i < n && i < max; i++) {
		const struct l7_ctr *c = &e->ctr[i];

		memset(&out[i], 0, sizeof(out[i]));
		memcpy(out[i].version, c->version, sizeof(out[i].version));
		out[i].requests = ctr_get(&c->requests);
		for (int k = 0; k < 5; k++)
			out[i].responses[k] = ctr_get(&c->responses[k]);
		out[i].nonhttp = ctr_get(&c->nonhttp);
		out[i].latency_us_sum = ctr_get(&c->latency_us);
	}
	return (int)n;
}

void l7_proxy_stats(struct l7_proxy *p, struct l7_proxy_stats *out)
{
	out->conns_accepted = ctr_get(&p->st.conns_accepted);
	out->conns_rejected = ctr_get(&p->st.conns_rejected);
	out->conns_active = ctr_get(&p->st.conns_active);
	out->upstream_connects = ctr_get(&p->st.upstream_connects);
	out->upstream_reused = ctr_get(&p->st.upstream_reused);
	out->upstream_retries = ctr_get(&p->st.upstream_retries);
	out->tunnels = ctr_get(&p->st.tunnels);
	out->spliced_bytes = ctr_get(&p->st.spliced_bytes);
	out->sockmap_tunnels = ctr_get(&p->st.sockmap_tunnels);
	out->sockmap_bytes = ctr_get(&p->st.sockmap_bytes);
	out->threads_started = ctr_get(&p->st.threads_started);
}

int l7_proxy_sockmap(struct l7_proxy *p, const char **why)
{
	if (why)
		*why = p->sm ? "" : p->sm_why;
	return p->sm != NULL;
}

/* ---- the parser paths from a buffer (fuzzing, tests) --------------------------- */

/* Append up to chunk bytes of data[*pos..len) to s. 0 if none fit. */
static size_t feed(struct side *s, const void *data, size_t len, size_t *pos,
		   size_t chunk)
{
	size_t n = len - *pos;

	if (n > s->cap - s->end)
		n = s->cap - s->end;
	if (chunk && n > chunk)
		n = chunk;
	memcpy(s->buf + s->end, (const char *)data + *pos, n);
	s->end += n;
	*pos += n;
	return n;
}

int l7_drive_requests(struct l7_proxy *p, void *svc_key, const void *data,
		      size_t len, size_t chunk, struct l7_drive_result *res)
{
	struct split_http_param params[L7_MAX_PARAMS];
	struct split_http_header *hv;
	struct split_http_request req;
	struct l7_entry *e;
	struct side s;
	size_t pos = 0;
	bool first = true;

	memset(res, 0, sizeof(*res));
	pthread_mutex_lock(&p->mu);
	e = entry_find(p, svc_key, true);
	pthread_mutex_unlock(&p->mu);
	hv = calloc(p->o.max_headers, sizeof(*hv));
	if (!e || !hv || side_init(&s, p->o.max_head_bytes + L7_BUF_EXTRA,
				   p->o.max_headers)) {
		free(hv);
		errno = ENOMEM;
		return -1;
	}
	http_parser_init(&s.hp, HTTP_REQUEST);
	s.hp.data = &s;
	for (;;) {
		struct l7_pick pk;
		int r = HS_MORE;

		side_begin_request(&s);
		for (;;) {
			if (s.parsed < s.end)
				r = head_step(&s, &p->o, first);
			if (r != HS_MORE)
				break;
			if (s.end >= s.cap) {
				r = HS_431;
				break;
			}
			if (!feed(&s, data, len, &pos, chunk)) {
				res->need_more = s.end > 0;
				goto out;
			}
		}
		if (r == HS_400 || r == HS_431) {
			res->status = r == HS_400 ? 400 : 431;
			goto out;
		}
		if (r == HS_NONHTTP) {
			res->nonhttp = 1;
			goto out;
		}
		build_request(&s, &req, hv, params);
		route(e, &req, &pk);
		res->requests++;
		if (pk.route >= 0 && pk.route < 4)
			res->routed[pk.route]++;
		if (pk.status) {
			res->status = pk.status;
			goto out;
		}
		/* the body, as exchange() frames it; "sent" at once */
		s.sent = s.parsed;
		while (!s.msg_done) {
			if (s.parsed < s.end) {
				if (side_parse(&s, &rq_settings)) {
					res->status = 400;
					goto out;
				}
				s.sent = s.parsed;
				continue;
			}
			side_make_room(&s);
			if (!feed(&s, data, len, &pos, chunk)) {
				res->need_more = 1;
				goto out;
			}
		}
		res->messages++;
		if (s.upgrade) {
			res->upgrade = 1;
			goto out;
		}
		if (!s.keepalive)
			goto out;
		first = false;
	}
out:
	side_free(&s);
	free(hv);
	return 0;
}

int l7_drive_response(const void *data, size_t len, size_t chunk,
		      int method, int upgrade)
{
	struct side s;
	size_t pos = 0;
	bool eof_framed = false;
	int ret = 0;

	if (side_init(&s, L7_RESP_BUF, 0))
		return -1;
	side_begin_response(&s, method, upgrade);
	for (;;) {
		bool eof;
		int st;

		side_make_room(&s);
		eof = !feed(&s, data, len, &pos, chunk) && s.parsed == s.end;
		st = resp_step(&s, eof, &eof_framed);
		s.sent = s.parsed;
		if (st == RP_DONE) {
			ret = s.status;
			break;
		}
		if (st == RP_BROKEN) {
			ret = -1;
			break;
		}
		if (eof)
			break;
	}
	side_free(&s);
	return ret;
}
