// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * istio_match.c - the request-time matcher: a request's headers and
 * target against a service's routes (literal idioms as string checks, the
 * rest on PCRE2's JIT). The only part the L7 proxy runs per request.
 */
#include "istio_int.h"

/* ---- matching ------------------------------------------------------------- */

size_t split_http_set_target(struct split_http_request *req,
			     const char *target, size_t len,
			     struct split_http_param *params, size_t max)
{
	const char *q, *end;
	size_t n = 0;

	end = target ? memchr(target, '#', len) : NULL;
	if (end)
		len = (size_t)(end - target);
	q = target ? memchr(target, '?', len) : NULL;
	req->path = target ? target : "";
	req->path_len = q ? (size_t)(q - target) : len;
	req->params = params;
	req->nparams = 0;
	if (!q)
		return 0;
	end = target + len;
	for (const char *p = q + 1; p < end;) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *stop = amp ? amp : end, *eq;

		if (stop > p) {
			eq = memchr(p, '=', (size_t)(stop - p));
			if (n < max) {
				struct split_http_param *pa = &params[n];

				pa->name = p;
				pa->name_len = (size_t)((eq ? eq : stop) - p);
				pa->value = eq ? eq + 1 : stop;
				pa->value_len = eq ? (size_t)(stop - eq - 1) : 0;
			}
			n++;
		}
		p = stop + 1;
	}
	req->nparams = n < max ? n : max;
	return n;
}

/* Scratch for the regex matcher: the match data lives in `mem`, through
 * a PCRE2 general context that allocates from it; the DFA workspace is
 * separate. Everything is on split_rules_match()'s stack. */
struct re_scratch {
	pcre2_match_context *mc;
	pcre2_match_data *md;
	bool failed;
	size_t used;
	_Alignas(16) unsigned char mem[1024];
	int ws[SPLIT_RE_DFA_WS];
};

static void *scratch_alloc(size_t size, void *data)
{
	struct re_scratch *s = data;
	size_t off = (s->used + 15) & ~(size_t)15;

	if (off > sizeof(s->mem) || size > sizeof(s->mem) - off)
		return NULL;
	s->used = off + size;
	return s->mem + off;
}

static void scratch_free(void *p, void *data)
{
	(void)p;
	(void)data;
}

/* 1 match, 0 no match, -1 could not run. */
static int re_run(const struct split_cond *c, const char *s, size_t len,
		  struct re_scratch *sc)
{
	int rc;

	if (!sc->md && !sc->failed) {
		pcre2_general_context *gc;

		/* The match context makes any memory PCRE2 wants come from
		 * the scratch too (none is expected without lookarounds). */
		gc = pcre2_general_context_create(scratch_alloc, scratch_free,
						  sc);
		sc->mc = gc ? pcre2_match_context_create(gc) : NULL;
		sc->md = sc->mc ? pcre2_match_data_create(1, gc) : NULL;
		sc->failed = !sc->md;
		if (sc->mc) {
			/* For the DFA these bound only what the RE2 check
			 * already refuses (assertions, recursion): a belt. */
			pcre2_set_match_limit(sc->mc, SPLIT_RE_MATCH_LIMIT);
			pcre2_set_depth_limit(sc->mc, SPLIT_RE_DEPTH_LIMIT);
			pcre2_set_heap_limit(sc->mc, 1);
		}
	}
	if (!sc->md)
		return -1;
	if (c->jit) {
		rc = pcre2_jit_match(c->re, (PCRE2_SPTR)(s ? s : ""), len, 0,
				     0, sc->md, sc->mc);
		if (rc >= 0)
			return 1;
		if (rc == PCRE2_ERROR_NOMATCH)
			return 0;
		/* Its match limit or stack: the DFA, linear, decides. */
	}
	/* Not PCRE2_DFA_SHORTEST: it stops at the shortest match before
	 * ENDANCHORED is checked (10.42). rc 0: several matches, fine. */
	rc = pcre2_dfa_match(c->re, (PCRE2_SPTR)(s ? s : ""), len, 0,
			     PCRE2_ANCHORED | PCRE2_ENDANCHORED, sc->md, sc->mc,
			     sc->ws, SPLIT_RE_DFA_WS);
	/* PCRE2 10.42's DFA does not always hold ENDANCHORED: after a
	 * leading "(.*;)?" it reports "user=test-user" as a match of
	 * "user=test-user2". The first match it returns is the longest (rc
	 * 0: more than fit, the first is still there), so a full match
	 * exists iff that one ends at len. */
	if (rc >= 0)
		return pcre2_get_ovector_pointer(sc->md)[1] == len;
	return rc == PCRE2_ERROR_NOMATCH ? 0 : -1;
}

/* The condition's test on value s (not the presence test). */
static int value_match(const struct split_cond *c, const char *s, size_t len,
		       struct re_scratch *sc)
{
	if (!s) {
		s = "";
		len = 0;
	}
	switch (c->op) {
	case SPLIT_OP_EXACT:
		return len == c->value_len && !memcmp(s, c->value, len);
	case SPLIT_OP_PREFIX:
		return len >= c->value_len && !memcmp(s, c->value, c->value_len);
	case SPLIT_OP_REGEX:
		if (c->lit.lit)
			return re_lit_match(&c->lit, s, len);
		return re_run(c, s, len, sc);
	default:
		return 1;
	}
}

static bool name_eq(const char *a, size_t alen, const char *lc)
{
	size_t i;

	for (i = 0; i < alen; i++)
		if (!lc[i] || ist_lower(a[i]) != lc[i])
			return false;
	return !lc[i];
}

/* A header condition: 1 holds, 0 does not, -1 could not be evaluated. */
static int header_match(const struct split_cond *c,
			const struct split_http_request *req,
			struct re_scratch *sc)
{
	const struct split_http_header *h = NULL;
	char joined[SPLIT_HDR_JOIN_MAX];
	size_t count = 0, jlen = 0;
	const char *val;
	size_t vlen;
	int r;

	for (size_t i = 0; i < req->nheaders; i++) {
		const struct split_http_header *x = &req->headers[i];

		if (!name_eq(x->name, x->name_len, c->name))
			continue;
		if (!count++)
			h = x;
		if (count < 2 || c->op == SPLIT_OP_PRESENT || jlen == SIZE_MAX)
			continue;
		if (count == 2) {
			if (h->value_len > sizeof(joined)) {
				jlen = SIZE_MAX;	/* too long */
				continue;
			}
			memcpy(joined, h->value, h->value_len);
			jlen = h->value_len;
		}
		if (x->value_len + 1 > sizeof(joined) - jlen) {
			jlen = SIZE_MAX;
			continue;
		}
		joined[jlen++] = ',';
		memcpy(joined + jlen, x->value, x->value_len);
		jlen += x->value_len;
	}
	if (c->op == SPLIT_OP_PRESENT)
		return (count > 0) != c->negate;
	if (!count) {
		if (!c->negate)
			return 0;
		val = "";	/* treat_missing_header_as_empty */
		vlen = 0;
	} else if (count == 1) {
		val = h->value;
		vlen = h->value_len;
	} else {
		if (jlen == SIZE_MAX)
			return -1;
		val = joined;
		vlen = jlen;
	}
	r = value_match(c, val, vlen, sc);
	if (r < 0)
		return -1;
	return (r > 0) != c->negate;
}

static int cond_match(const struct split_cond *c,
		      const struct split_http_request *req,
		      struct re_scratch *sc)
{
	switch (c->kind) {
	case SPLIT_COND_URI:
		return value_match(c, req->path, req->path_len, sc);
	case SPLIT_COND_METHOD:
		return value_match(c, req->method, req->method_len, sc);
	case SPLIT_COND_HEADER:
		return header_match(c, req, sc);
	case SPLIT_COND_QUERY:
		for (size_t i = 0; i < req->nparams; i++) {
			const struct split_http_param *p = &req->params[i];

			if (p->name_len != strlen(c->name) ||
			    memcmp(p->name, c->name, p->name_len))
				continue;
			return value_match(c, p->value, p->value_len, sc);
		}
		return 0;
	}
	return 0;
}

int split_rules_match(const struct split_rules_service *svc,
		      const struct split_http_request *req)
{
	struct re_scratch sc;

	if (!svc || !req)
		return -1;
	sc.mc = NULL;
	sc.md = NULL;
	sc.failed = false;
	sc.used = 0;
	for (size_t i = 0; i < svc->nroutes; i++) {
		const struct split_route *r = &svc->routes[i];

		if (!r->nmatches)
			return (int)i;
		for (size_t j = 0; j < r->nmatches; j++) {
			const struct split_match *m = &r->matches[j];
			size_t k;

			for (k = 0; k < m->nconds; k++)
				if (cond_match(&m->conds[k], req, &sc) != 1)
					break;
			if (k == m->nconds)
				return (int)i;
		}
	}
	return -1;
}
