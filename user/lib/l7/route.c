// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * route.c - services, their routing snapshots and the choice of an
 * endpoint (see l7.h).
 *
 * A service (entry) holds a pointer to an immutable snapshot: its rules
 * (our own copy), endpoints (with their socket addresses ready), versions,
 * weights. l7_proxy_set_service() builds a new one and swaps the pointer;
 * workers read it without a lock or a reference count, inside one loop
 * iteration. The old snapshot is freed once every worker has passed a
 * quiescent point (proxy.c), so each request sees one version whole.
 *
 * Counters are per worker: entry->ctr[worker][slot], summed on read.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE		/* splice, pipe2, accept4 */
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "l7.h"

static __thread uint64_t rng_state;

uint64_t l7_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t l7_rnd(void)
{
	uint64_t z;

	if (!rng_state) {
		if (getrandom(&rng_state, sizeof(rng_state), GRND_NONBLOCK) !=
		    (ssize_t)sizeof(rng_state))
			rng_state = l7_now_us() ^ (uint64_t)(uintptr_t)&z;
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
	return n ? l7_rnd() % n : 0;
}

socklen_t l7_sa_from(union l7_sa *u, const struct split_addr *a,
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

/* ---- entries ---------------------------------------------------------------- */

/* With p->mu held. */
struct l7_entry *l7_entry_find(struct l7_proxy *p, void *key, bool create)
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
	e->ctr = calloc((size_t)(p->nworkers + 1) * L7_CTR_SLOTS, sizeof(*e->ctr));
	if (!e->ctr) {
		free(e);
		return NULL;
	}
	e->nctr = 1;			/* [0]: version "" */
	e->key = key;
	e->next = p->entries;
	p->entries = e;
	return e;
}

void l7_entry_free(struct l7_entry *e)
{
	l7_snap_free(e->snap);
	free(e->ctr);
	free(e);
}

/* The counter slot of version name in e (created on first use); with
 * p->mu held. Slot 0 if all are taken. */
static unsigned entry_slot(struct l7_entry *e, const char *name)
{
	unsigned n = e->nctr;

	for (unsigned i = 0; i < n; i++)
		if (!strcmp(e->names[i], name))
			return i;
	if (n >= L7_CTR_SLOTS)
		return 0;
	snprintf(e->names[n], SPLIT_NAME_LEN, "%s", name);
	__atomic_store_n(&e->nctr, n + 1, __ATOMIC_RELEASE);
	return n;
}

/* ---- snapshots ---------------------------------------------------------------- */

void l7_snap_free(struct l7_snap *s)
{
	if (!s)
		return;
	split_rules_free(&s->rules);
	free(s->eps);
	free(s->ep_sa);
	free(s->ep_salen);
	free(s->ep_ver);
	free(s->vers);
	free(s->ep_idx);
	free(s->routes);
	free(s->dest_store);
	for (unsigned i = 0; i < s->nhdr_names; i++)
		free(s->hdr_names[i]);
	free(s->setck);
	free(s);
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

/* The header names the rules look at: only those go to the matcher. */
static int snap_hdr_names(struct l7_snap *s)
{
	if (!s->svc)
		return 0;
	for (size_t r = 0; r < s->svc->nroutes; r++) {
		const struct split_route *rt = &s->svc->routes[r];

		for (size_t m = 0; m < rt->nmatches; m++)
			for (size_t k = 0; k < rt->matches[m].nconds; k++) {
				const struct split_cond *c = &rt->matches[m].conds[k];
				size_t len;
				bool dup = false;

				if (c->kind != SPLIT_COND_HEADER || !c->name)
					continue;
				len = strlen(c->name);
				for (unsigned i = 0; i < s->nhdr_names; i++)
					dup = dup || (s->hdr_lens[i] == len &&
						      !strcasecmp(s->hdr_names[i], c->name));
				if (dup)
					continue;
				if (s->nhdr_names >= L7_ROUTE_HDRS) {
					s->all_hdrs = true;
					return 0;
				}
				s->hdr_names[s->nhdr_names] = strdup(c->name);
				if (!s->hdr_names[s->nhdr_names])
					return -1;
				s->hdr_lens[s->nhdr_names++] = len;
			}
	}
	return 0;
}

/* RFC 6265 cookie-octet: what a cookie value may hold unquoted. */
static bool is_cookie_octet(unsigned char c)
{
	return c == 0x21 || (c >= 0x23 && c <= 0x2b) ||
	       (c >= 0x2d && c <= 0x3a) || (c >= 0x3c && c <= 0x5b) ||
	       (c >= 0x5d && c <= 0x7e);
}

/* The sticky cookie's name, and each version's Set-Cookie line (none for
 * a version whose name cannot be a cookie value). 0, or -1 with errno. */
static int snap_sticky(struct l7_snap *s, const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (!n)
		return 0;
	if (n >= SPLIT_NAME_LEN) {
		errno = EINVAL;
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (!l7_is_tchar((unsigned char)name[i])) {
			errno = EINVAL;
			return -1;
		}
	s->setck = calloc(s->nvers ? s->nvers : 1, L7_SETCK_MAX);
	if (!s->setck) {
		errno = ENOMEM;
		return -1;
	}
	memcpy(s->sticky, name, n + 1);
	s->sticky_len = n;
	for (size_t v = 0; v < s->nvers; v++) {
		const char *vn = s->vers[v].name;
		bool ok = vn[0] != '\0';
		int k;

		for (const char *c = vn; *c && ok; c++)
			ok = is_cookie_octet((unsigned char)*c);
		if (!ok)
			continue;
		k = snprintf(s->setck + v * L7_SETCK_MAX, L7_SETCK_MAX,
			     "Set-Cookie: %s=%s; Path=/; HttpOnly\r\n", name, vn);
		if (k > 0 && k < L7_SETCK_MAX)
			s->vers[v].setck_len = (uint16_t)k;
	}
	return 0;
}

/* With p->mu held (counter slots). */
struct l7_snap *l7_snap_build(struct l7_proxy *p, struct l7_entry *e,
			      const struct l7_service *in)
{
	struct l7_snap *s = calloc(1, sizeof(*s));
	size_t vcap, ndest = 0, *fill = NULL, n1;

	(void)p;
	if (!s)
		return NULL;
	if (in->rules) {
		if (rules_copy(in->rules, &s->rules))
			goto fail_errno;
		if (s->rules.nsvcs) {
			s->svc = &s->rules.svcs[0];
			s->vs = s->svc->api == SPLIT_API_VIRTUAL_SERVICE;
		}
	}
	if (snap_hdr_names(s))
		goto fail_nomem;
	vcap = in->nversions + in->neps;
	if (s->svc)
		for (size_t r = 0; r < s->svc->nroutes; r++)
			vcap += s->svc->routes[r].ndests;
	n1 = in->neps ? in->neps : 1;
	s->vers = calloc(vcap ? vcap : 1, sizeof(*s->vers));
	s->eps = calloc(n1, sizeof(*s->eps));
	s->ep_sa = calloc(n1, sizeof(*s->ep_sa));
	s->ep_salen = calloc(n1, sizeof(*s->ep_salen));
	s->ep_ver = calloc(n1, sizeof(*s->ep_ver));
	s->ep_idx = calloc(n1, sizeof(*s->ep_idx));
	if (!s->vers || !s->eps || !s->ep_ver || !s->ep_idx || !s->ep_sa ||
	    !s->ep_salen)
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
		s->ep_salen[i] = l7_sa_from(&s->ep_sa[i], &s->eps[i].addr,
					    s->eps[i].port);
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
		s->vers[v].ctr = entry_slot(e, s->vers[v].name);
		if (s->vers[v].weight && s->vers[v].neps)
			s->default_total += s->vers[v].weight;
	}
	if (snap_sticky(s, in->sticky_cookie))
		goto fail_errno;
	return s;

fail_nomem:
	errno = ENOMEM;
	goto fail_errno;
fail_inval:
	errno = EINVAL;
fail_errno:
	{
		int saved = errno;

		l7_snap_free(s);
		errno = saved;
	}
	return NULL;
}

/* ---- the choice -------------------------------------------------------------- */

static void pick_ep(const struct l7_snap *s, size_t i, struct l7_pick *out)
{
	out->salen = s->ep_salen[i];
	memcpy(&out->sa, &s->ep_sa[i], out->salen);
	out->backend_id = s->eps[i].backend_id;
	out->svc_id = s->eps[i].svc_id;
	out->version_id = s->eps[i].version_id;
	out->ctr = s->vers[s->ep_ver[i]].ctr;
}

/* An endpoint of version v (it has some), the cookie to set naming it. */
static void pick_ver(const struct l7_snap *s, size_t v, struct l7_pick *out)
{
	const struct snap_ver *sv = &s->vers[v];

	pick_ep(s, sv->eps[rnd_below(sv->neps)], out);
	out->sticky_ver = (long)v;
}

static void pick_default(const struct l7_snap *s, struct l7_pick *out)
{
	uint64_t r;

	if (s->uniform) {
		if (!s->neps) {
			out->status = 503;
			return;
		}
		pick_ep(s, rnd_below(s->neps), out);
		return;
	}
	if (!s->default_total) {
		out->status = 503;
		return;
	}
	r = rnd_below(s->default_total);
	for (size_t v = 0; v < s->nvers; v++) {
		const struct snap_ver *sv = &s->vers[v];

		if (!sv->weight || !sv->neps)
			continue;
		if (r < sv->weight) {
			pick_ver(s, v, out);
			return;
		}
		r -= sv->weight;
	}
	out->status = 503;		/* not reached */
}

static void pick_route(const struct l7_snap *s, size_t route,
		       struct l7_pick *out)
{
	const struct snap_route *sr = &s->routes[route];
	const struct snap_dest *d = NULL;
	uint64_t r;

	if (!sr->ndests) {
		out->status = 503;
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
		pick_ver(s, (size_t)d->ver, out);
	}
}

/* The version a sticky cookie's value names, if a request may keep it:
 * it has endpoints and a weight above 0 in route (or, route NULL, the
 * default split). -1: no, route by weight. */
static long sticky_keep(const struct l7_snap *s, const struct snap_route *sr,
			const char *ck, size_t cklen)
{
	long v = -1;

	if (!cklen || cklen >= SPLIT_NAME_LEN)
		return -1;
	for (size_t i = 0; i < s->nvers; i++)
		if (!memcmp(s->vers[i].name, ck, cklen) &&
		    s->vers[i].name[cklen] == '\0') {
			v = (long)i;
			break;
		}
	if (v < 0 || !s->vers[v].neps)
		return -1;
	if (!sr)
		return !s->uniform && s->vers[v].weight ? v : -1;
	if (!sr->total)			/* one destination, weight left out */
		return sr->ndests && sr->dests[0].ver == v ? v : -1;
	for (size_t i = 0; i < sr->ndests; i++)
		if (sr->dests[i].ver == v && sr->dests[i].weight)
			return v;
	return -1;
}

struct l7_snap *l7_snap_cur(struct l7_entry *e)
{
	return __atomic_load_n(&e->snap, __ATOMIC_ACQUIRE);
}

/* Route one request of a service whose snapshot is s (req NULL: a
 * non-HTTP connection, default split). */
void l7_route(const struct l7_snap *s, const struct split_http_request *req,
	      const char *ck, size_t cklen, struct l7_pick *out)
{
	const struct snap_route *sr = NULL;
	bool by_weight = true;
	long keep;

	out->status = 0;
	out->ctr = 0;
	out->route = -1;
	out->sticky_ver = -1;
	if (!s) {
		out->status = 503;
		return;
	}
	if (req && s->svc)
		out->route = split_rules_match(s->svc, req);
	if (out->route >= 0 && (size_t)out->route < s->nroutes) {
		sr = &s->routes[out->route];
		/* a match rule decides on its own: no stickiness */
		by_weight = !s->svc->routes[out->route].nmatches;
	} else if (req && s->vs) {
		out->status = 404;	/* Istio: no route matched */
		return;
	}
	if (by_weight && req && s->sticky_len && ck &&
	    (keep = sticky_keep(s, sr, ck, cklen)) >= 0) {
		pick_ver(s, (size_t)keep, out);
		out->sticky_ver = -1;	/* it has the cookie */
		return;
	}
	if (sr)
		pick_route(s, (size_t)out->route, out);
	else
		pick_default(s, out);
	if (!by_weight || !req || !s->sticky_len || out->status ||
	    (out->sticky_ver >= 0 && !s->vers[out->sticky_ver].setck_len))
		out->sticky_ver = -1;
}
