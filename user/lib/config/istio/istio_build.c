// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * istio_build.c - pass two: the entities of all documents grouped by
 * service, conflicts rejected, subsets resolved, split_rules built; loading
 * files; lookups; freeing. See istio_int.h.
 */
#include "istio_int.h"

/* ---- freeing -------------------------------------------------------------- */

static void cond_free(struct split_cond *c)
{
	free(c->name);
	free(c->value);
	pcre2_code_free(c->re);
	re_lit_free(&c->lit);
}

static void match_free(struct split_match *m)
{
	for (size_t i = 0; i < m->nconds; i++)
		cond_free(&m->conds[i]);
	free(m->conds);
	free(m->name);
}

void ist_labels_free(struct split_label *l, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(l[i].key);
		free(l[i].value);
	}
	free(l);
}

static void route_free(struct split_route *r)
{
	for (size_t i = 0; i < r->nmatches; i++)
		match_free(&r->matches[i]);
	free(r->matches);
	for (size_t i = 0; i < r->ndests; i++)
		ist_labels_free(r->dests[i].labels, r->dests[i].nlabels);
	free(r->dests);
	free(r->name);
	memset(r, 0, sizeof(*r));
}

static void routes_free(struct split_route *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		route_free(&r[i]);
	free(r);
}

static void subsets_free(struct split_subset *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ist_labels_free(s[i].labels, s[i].nlabels);
	free(s);
}

static void service_free(struct split_rules_service *s)
{
	routes_free(s->routes, s->nroutes);
	subsets_free(s->subsets, s->nsubsets);
	memset(s, 0, sizeof(*s));
}

void split_rules_free(struct split_rules *rules)
{
	if (!rules)
		return;
	for (size_t i = 0; i < rules->nsvcs; i++)
		service_free(&rules->svcs[i]);
	free(rules->svcs);
	memset(rules, 0, sizeof(*rules));
}

/* ---- pass two: services --------------------------------------------------- */

enum ent_type { ENT_RR, ENT_VS, ENT_DR };

/* An entity, for sorting by service and by resource name. */
struct ent_ref {
	const char *ns, *name;	/* of the service, or of the resource */
	enum ent_type type;
	size_t idx;		/* into c->rr, c->vs or c->dr */
};

static int ent_cmp(const void *a, const void *b)
{
	const struct ent_ref *x = a, *y = b;

	return strcmp(x->ns, y->ns) ?: strcmp(x->name, y->name) ?:
	       (x->type != y->type ? (x->type < y->type ? -1 : 1) :
		(x->idx > y->idx) - (x->idx < y->idx));
}

static const struct pos *ent_pos(struct rp *c, const struct ent_ref *r,
				 bool host)
{
	switch (r->type) {
	case ENT_RR:
		return host ? &c->rr[r->idx].dest_pos : &c->rr[r->idx].name_pos;
	case ENT_VS:
		return host ? &c->vs[r->idx].host_pos : &c->vs[r->idx].name_pos;
	default:
		return host ? &c->dr[r->idx].host_pos : &c->dr[r->idx].name_pos;
	}
}

static const char *const ent_kind[] = {
	"RouteRule", "VirtualService", "DestinationRule"
};

/* The namespace/name of the resource itself. */
static const char *ent_id(struct rp *c, const struct ent_ref *r, char *buf,
			  size_t len)
{
	const char *ns, *name;

	switch (r->type) {
	case ENT_RR:
		ns = c->rr[r->idx].ns;
		name = c->rr[r->idx].name;
		break;
	case ENT_VS:
		ns = c->vs[r->idx].ns;
		name = c->vs[r->idx].name;
		break;
	default:
		ns = c->dr[r->idx].ns;
		name = c->dr[r->idx].name;
		break;
	}
	snprintf(buf, len, "%s/%s", ns, name);
	return buf;
}

/* Two resources of one kind with the same namespace/name. */
static int check_dup_names(struct rp *c, struct ent_ref *refs, size_t n)
{
	char where[PATH_LEN];

	for (size_t i = 0; i < c->nrr; i++)
		refs[n++] = (struct ent_ref){ c->rr[i].ns, c->rr[i].name,
					      ENT_RR, i };
	for (size_t i = 0; i < c->nvs; i++)
		refs[n++] = (struct ent_ref){ c->vs[i].ns, c->vs[i].name,
					      ENT_VS, i };
	for (size_t i = 0; i < c->ndr; i++)
		refs[n++] = (struct ent_ref){ c->dr[i].ns, c->dr[i].name,
					      ENT_DR, i };
	qsort(refs, n, sizeof(*refs), ent_cmp);
	for (size_t i = 1; i < n; i++) {
		const struct ent_ref *a = &refs[i - 1], *b = &refs[i];

		if (a->type != b->type || strcmp(a->ns, b->ns) ||
		    strcmp(a->name, b->name))
			continue;
		return ist_perr_at(c, ent_pos(c, b, false),
			       "duplicate %s %s/%s (first at %s)",
			       ent_kind[b->type], b->ns, b->name,
			       ist_pos_str(ent_pos(c, a, false), where,
				       sizeof(where)));
	}
	return 0;
}

static int rr_order(const void *a, const void *b, void *arg)
{
	const struct rr_ent *rr = arg;
	const struct rr_ent *x = &rr[*(const size_t *)a];
	const struct rr_ent *y = &rr[*(const size_t *)b];

	if (x->route.precedence != y->route.precedence)
		return x->route.precedence > y->route.precedence ? -1 : 1;
	return strcmp(x->ns, y->ns) ?: strcmp(x->name, y->name);
}

/* Build one service from its entities refs[0..n) (sorted by type). */
static int build_service(struct rp *c, const struct ent_ref *refs, size_t n,
			 struct split_rules_service *svc)
{
	const struct ent_ref *vs = NULL, *dr = NULL;
	size_t nrr = 0, *order = NULL;
	char where[PATH_LEN];
	struct dr_ent *d = NULL;
	int ret = -EINVAL;

	strcpy(svc->ns, refs[0].ns);
	strcpy(svc->name, refs[0].name);
	for (size_t i = 0; i < n; i++) {
		const struct ent_ref *r = &refs[i];
		const struct ent_ref **slot = r->type == ENT_VS ? &vs :
					      r->type == ENT_DR ? &dr : NULL;

		if (r->type == ENT_RR) {
			nrr++;
			continue;
		}
		if (*slot) {
			char a[2 * SPLIT_NAME_LEN], b[2 * SPLIT_NAME_LEN];

			return ist_perr_at(c, ent_pos(c, r, true),
				       "%s %s: service %s/%s already has %s %s (%s); one per service",
				       ent_kind[r->type],
				       ent_id(c, r, a, sizeof(a)),
				       svc->ns, svc->name, ent_kind[r->type],
				       ent_id(c, *slot, b, sizeof(b)),
				       ist_pos_str(ent_pos(c, *slot, true), where,
					       sizeof(where)));
		}
		*slot = r;
	}
	if (vs && nrr) {
		const struct rr_ent *r = &c->rr[refs[0].idx];

		return ist_perr_at(c, &c->vs[vs->idx].host_pos,
			       "VirtualService %s/%s routes service %s/%s, which RouteRule %s/%s (%s) routes too; use one API per service",
			       c->vs[vs->idx].ns, c->vs[vs->idx].name, svc->ns,
			       svc->name, r->ns, r->name,
			       ist_pos_str(&r->dest_pos, where, sizeof(where)));
	}
	if (nrr > SPLIT_RULES_MAX_ROUTES)
		return ist_perr_at(c, ent_pos(c, &refs[SPLIT_RULES_MAX_ROUTES], false),
			       "service %s/%s: too many RouteRules (limit %d)",
			       svc->ns, svc->name, SPLIT_RULES_MAX_ROUTES);

	if (dr) {
		d = &c->dr[dr->idx];
		svc->has_dr = true;
		strcpy(svc->dr_name, d->name);
		strcpy(svc->dr_ns, d->ns);
		strcpy(svc->dr_api_version, d->api);
	}

	if (nrr) {
		order = calloc(nrr, sizeof(*order));
		svc->routes = calloc(nrr, sizeof(*svc->routes));
		if (!order || !svc->routes) {
			ist_oom(c, NULL);
			goto out;
		}
		for (size_t i = 0; i < nrr; i++)
			order[i] = refs[i].idx;
		qsort_r(order, nrr, sizeof(*order), rr_order, c->rr);
		for (size_t i = 0; i < nrr; i++) {
			struct rr_ent *r = &c->rr[order[i]];

			if (i && !svc->routes[i - 1].nmatches) {
				const struct rr_ent *p = &c->rr[order[i - 1]];

				/* p's route has moved to svc->routes. */
				ist_perr_at(c, &r->name_pos,
					"RouteRule %s/%s (precedence %d) is never used: RouteRule %s/%s (precedence %d, %s) has no match and takes every request",
					r->ns, r->name, r->route.precedence,
					p->ns, p->name,
					svc->routes[i - 1].precedence,
					ist_pos_str(&p->name_pos, where,
						sizeof(where)));
				goto out;
			}
			svc->routes[i] = r->route;
			memset(&r->route, 0, sizeof(r->route));
			svc->nroutes = i + 1;
		}
		svc->api = SPLIT_API_ROUTE_RULE;
	} else if (vs) {
		struct vs_ent *v = &c->vs[vs->idx];

		for (size_t i = 0; i < v->nrefs; i++) {
			const struct sref *s = &v->refs[i];
			struct split_dest *dst;
			const struct split_subset *sub = NULL;

			dst = &v->routes[s->route].dests[s->dest];
			for (size_t j = 0; d && j < d->nsubsets && !sub; j++)
				if (!strcmp(d->subsets[j].name, dst->subset))
					sub = &d->subsets[j];
			if (!sub && !d) {
				ist_perr_at(c, &s->pos,
					"subset '%s' is not defined: no DestinationRule for service %s/%s",
					dst->subset, svc->ns, svc->name);
				goto out;
			}
			if (!sub) {
				ist_perr_at(c, &s->pos,
					"subset '%s' is not defined in DestinationRule %s/%s (%s)",
					dst->subset, d->ns, d->name,
					ist_pos_str(&d->subsets_pos, where,
						sizeof(where)));
				goto out;
			}
			strcpy(dst->version, sub->version);
			if (ist_labels_dup(sub->labels, sub->nlabels, &dst->labels)) {
				ist_oom(c, NULL);
				goto out;
			}
			dst->nlabels = sub->nlabels;
		}
		svc->api = SPLIT_API_VIRTUAL_SERVICE;
		strcpy(svc->vs_name, v->name);
		strcpy(svc->vs_ns, v->ns);
		strcpy(svc->vs_api_version, v->api);
		svc->routes = v->routes;
		svc->nroutes = v->nroutes;
		v->routes = NULL;
		v->nroutes = 0;
	}
	if (d) {
		svc->subsets = d->subsets;
		svc->nsubsets = d->nsubsets;
		d->subsets = NULL;
		d->nsubsets = 0;
		if (svc->nsubsets)
			qsort(svc->subsets, svc->nsubsets,
			      sizeof(*svc->subsets), ist_subset_cmp);
	}
	ret = 0;
out:
	free(order);
	return ret;
}

static int build(struct rp *c, struct split_rules *out)
{
	size_t n = c->nrr + c->nvs + c->ndr, nsvc = 0;
	struct split_rules_service *svcs = NULL;
	struct ent_ref *refs;
	int ret = -EINVAL;

	if (!n) {
		memset(out, 0, sizeof(*out));
		return 0;
	}
	refs = calloc(n, sizeof(*refs));
	if (!refs)
		return ist_oom(c, NULL);
	if (check_dup_names(c, refs, 0))
		goto out;
	n = 0;
	for (size_t i = 0; i < c->nrr; i++)
		refs[n++] = (struct ent_ref){ c->rr[i].svc_ns, c->rr[i].svc_name,
					      ENT_RR, i };
	for (size_t i = 0; i < c->nvs; i++)
		refs[n++] = (struct ent_ref){ c->vs[i].svc_ns, c->vs[i].svc_name,
					      ENT_VS, i };
	for (size_t i = 0; i < c->ndr; i++)
		refs[n++] = (struct ent_ref){ c->dr[i].svc_ns, c->dr[i].svc_name,
					      ENT_DR, i };
	qsort(refs, n, sizeof(*refs), ent_cmp);
	svcs = calloc(n, sizeof(*svcs));
	if (!svcs) {
		ist_oom(c, NULL);
		goto out;
	}
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i + 1; j < n && !strcmp(refs[i].ns, refs[j].ns) &&
				!strcmp(refs[i].name, refs[j].name); j++)
			;
		if (nsvc >= SPLIT_MAX_SERVICES - 1) {
			ist_perr_at(c, ent_pos(c, &refs[i], true),
				"too many services (limit %d)",
				SPLIT_MAX_SERVICES - 1);
			goto out;
		}
		nsvc++;
		if (build_service(c, refs + i, j - i, &svcs[nsvc - 1]))
			goto out;
	}
	out->svcs = svcs;
	out->nsvcs = nsvc;
	svcs = NULL;
	ret = 0;
out:
	if (svcs) {
		struct split_rules tmp = { svcs, nsvc };

		split_rules_free(&tmp);
	}
	free(refs);
	return ret;
}

static void rp_free(struct rp *c)
{
	for (size_t i = 0; i < c->nrr; i++)
		route_free(&c->rr[i].route);
	for (size_t i = 0; i < c->nvs; i++) {
		routes_free(c->vs[i].routes, c->vs[i].nroutes);
		free(c->vs[i].refs);
	}
	for (size_t i = 0; i < c->ndr; i++)
		subsets_free(c->dr[i].subsets, c->dr[i].nsubsets);
	free(c->rr);
	free(c->vs);
	free(c->dr);
}

int split_rules_from_trees(const struct yt_tree *const *trees, size_t n,
			   struct split_rules *out, struct split_err *err)
{
	struct rp c = { .err = err };
	struct split_rules tmp;
	int ret = 0;

	for (size_t i = 0; i < n && !ret; i++) {
		c.t = trees[i];
		for (size_t j = 0; j < trees[i]->ndocs && !ret; j++)
			ret = ist_parse_doc(&c, &trees[i]->docs[j]);
	}
	c.t = n ? trees[0] : NULL;
	if (!ret)
		ret = build(&c, &tmp);
	rp_free(&c);
	if (ret)
		return -EINVAL;
	*out = tmp;
	return 0;
}

int split_rules_parse(const char *name, const char *buf, size_t len,
		      struct split_rules *out, struct split_err *err)
{
	const struct yt_tree *tp;
	struct yt_tree tree;
	int ret;

	if ((ret = yt_parse(name, buf, len, &tree, err)))
		return ret;
	tp = &tree;
	ret = split_rules_from_trees(&tp, 1, out, err);
	yt_free(&tree);
	return ret;
}

/* ---- files ---------------------------------------------------------------- */

int split_rules_load(const char **paths, size_t n, struct split_rules *out,
		     struct split_err *err)
{
	struct split_paths fl = { 0 };
	struct yt_tree *trees = NULL;
	const struct yt_tree **tp = NULL;
	size_t ntrees = 0;
	int ret = -EINVAL;

	if ((ret = split_paths_expand(paths, n, &fl, err)))
		return ret;
	trees = calloc(fl.n ? fl.n : 1, sizeof(*trees));
	tp = calloc(fl.n ? fl.n : 1, sizeof(*tp));
	if (!trees || !tp) {
		ret = split_errc(err, ENOMEM, "%s: out of memory", n ? paths[0] : "rules");
		goto out;
	}
	for (size_t i = 0; i < fl.n; i++) {
		char *buf = NULL;
		size_t len = 0;
		int r;

		if ((ret = split_read_file(fl.paths[i], &buf, &len, err)))
			goto out;
		r = yt_parse(fl.paths[i], buf ? buf : "", len, &trees[i], err);
		free(buf);
		if (r) {
			ret = r;
			goto out;
		}
		tp[i] = &trees[i];
		ntrees = i + 1;
	}
	ret = split_rules_from_trees(tp, ntrees, out, err);
out:
	for (size_t i = 0; i < ntrees; i++)
		yt_free(&trees[i]);
	free(trees);
	free(tp);
	split_paths_free(&fl);
	return ret;
}

/* ---- lookups -------------------------------------------------------------- */

static int svc_key_cmp(const void *key, const void *elem)
{
	const char *const *k = key;
	const struct split_rules_service *s = elem;

	return strcmp(k[0], s->ns) ?: strcmp(k[1], s->name);
}

const struct split_rules_service *
split_rules_find(const struct split_rules *rules, const char *ns,
		 const char *name)
{
	const char *key[2] = { ns, name };

	if (!rules || !rules->nsvcs || !ns || !name)
		return NULL;
	return bsearch(key, rules->svcs, rules->nsvcs, sizeof(*rules->svcs),
		       svc_key_cmp);
}

bool split_rules_service_is_l7(const struct split_rules_service *svc)
{
	for (size_t i = 0; svc && i < svc->nroutes; i++)
		if (svc->routes[i].nmatches)
			return true;
	return false;
}
