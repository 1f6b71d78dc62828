// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * istio_kinds.c - the object kinds: RouteRule (config.istio.io/v1alpha2),
 * VirtualService and DestinationRule (networking.istio.io v1alpha3, v1beta1,
 * v1), and which kind a document is. See istio_int.h.
 */
#include "istio_int.h"

/* ---- RouteRule (config.istio.io/v1alpha2) --------------------------------- */

static int parse_rr_match(struct rp *c, const struct yt_node *n,
			  struct split_route *r)
{
	static const struct fdesc known[] = {
		{ "request", NULL },
		{ "source", "source-based matching" },
		{ NULL, NULL }
	};
	static const struct fdesc req_known[] = {
		{ "headers", NULL }, { NULL, NULL }
	};
	const struct yt_node *req, *hdrs;
	struct split_match *m;

	if (ist_want_map(c, n, "match") || ist_check_fields(c, n, "match", known))
		return -EINVAL;
	req = yt_field(n, "request");
	if (!req)
		return ist_perr(c, yt_blame(n, "request"),
			    "match.request is required (an empty match would take every request: leave 'match' out)");
	if (ist_want_map(c, req, "match.request") ||
	    ist_check_fields(c, req, "match.request", req_known))
		return -EINVAL;
	hdrs = yt_field(req, "headers");
	if (!hdrs)
		return ist_perr(c, yt_blame(req, "headers"),
			    "match.request.headers is required (an empty match would take every request: leave 'match' out)");
	if (ist_want_map(c, hdrs, "match.request.headers"))
		return -EINVAL;
	if (!hdrs->map.n)
		return ist_perr(c, hdrs,
			    "match.request.headers must not be empty (it would match every request: leave 'match' out)");
	r->matches = calloc(1, sizeof(*r->matches));
	if (!r->matches)
		return ist_oom(c, n);
	r->nmatches = 1;
	m = &r->matches[0];
	if (ist_want_cond_room(c, hdrs, "match.request.headers", hdrs->map.n, m) ||
	    ist_map_conds(c, hdrs, "match.request.headers", SPLIT_COND_HEADER,
		      false, true, m))
		return -EINVAL;
	for (size_t i = 0; i < m->nconds; i++)
		for (size_t j = 0; j < i; j++)
			if (m->conds[i].kind == m->conds[j].kind &&
			    m->conds[i].kind != SPLIT_COND_HEADER)
				return ist_perr(c, hdrs,
					    "match.request.headers: uri or method given twice");
	qsort(m->conds, m->nconds, sizeof(*m->conds), ist_cond_cmp);
	return 0;
}

static int parse_rr_route(struct rp *c, const struct yt_node *list,
			  struct split_route *r)
{
	static const struct fdesc known[] = {
		{ "labels", NULL }, { "weight", NULL },
		{ "destination", "routing to another service" },
		{ NULL, NULL }
	};
	const struct yt_node *wnodes[SPLIT_RULES_MAX_DESTS], *it;
	char path[PATH_LEN], what[PATH_LEN];
	size_t i;

	if (ist_want_seq(c, list, "route"))
		return -EINVAL;
	if (!list->seq.n)
		return ist_perr(c, list, "route must not be empty");
	if (list->seq.n > SPLIT_RULES_MAX_DESTS)
		return ist_perr(c, list->seq.items[SPLIT_RULES_MAX_DESTS],
			    "route: too many destinations (limit %d)",
			    SPLIT_RULES_MAX_DESTS);
	r->dests = calloc(list->seq.n, sizeof(*r->dests));
	if (!r->dests)
		return ist_oom(c, list);
	yt_seq_for_each(it, i, list) {
		struct split_dest *d = &r->dests[i];
		const struct yt_node *labels, *w;
		long long v;

		r->ndests = i + 1;
		snprintf(path, sizeof(path), "route[%zu]", i);
		if (ist_want_map(c, it, path) || ist_check_fields(c, it, path, known))
			return -EINVAL;
		labels = yt_field(it, "labels");
		if (!labels)
			return ist_perr(c, yt_blame(it, "labels"),
				    "%s.labels is required (with a 'version' label)",
				    path);
		ist_join(what, sizeof(what), path, "labels");
		if (ist_parse_labels(c, labels, what, d->version, &d->labels,
				 &d->nlabels))
			return -EINVAL;
		w = yt_field(it, "weight");
		wnodes[i] = w;
		if (w) {
			ist_join(what, sizeof(what), path, "weight");
			if (yt_int(c->t, w, what, 0, 100, &v, c->err))
				return -EINVAL;
			d->weight = (uint32_t)v;
		}
		for (size_t j = 0; j < i; j++)
			if (!strcmp(r->dests[j].version, d->version))
				return ist_perr(c, labels,
					    "%s.labels: version '%s' is already routed by route[%zu]",
					    path, d->version, j);
	}
	return ist_check_weights(c, list, "route", r, wnodes);
}

static int parse_rr(struct rp *c, const struct yt_node *root,
		    const struct yt_node *spec)
{
	static const struct fdesc known[] = {
		{ "destination", NULL }, { "precedence", NULL },
		{ "match", NULL }, { "route", NULL },
		{ "redirect", "HTTP redirects" },
		{ "rewrite", "URI rewrites" },
		{ "websocketUpgrade", "websocket upgrades" },
		{ "httpReqTimeout", "request timeouts" },
		{ "httpReqRetries", "retries" },
		{ "httpFault", "fault injection" },
		{ "l4Fault", "fault injection" },
		{ "mirror", "traffic mirroring" },
		{ "corsPolicy", "CORS policy" },
		{ "appendHeaders", "header manipulation" },
		{ NULL, NULL }
	};
	static const struct fdesc dest_known[] = {
		{ "name", NULL }, { "namespace", NULL },
		{ "domain", "other domains than " SPLIT_CLUSTER_DOMAIN },
		{ "service", "service FQDNs: use name and namespace" },
		{ "labels", "destination labels: select versions with route[].labels" },
		{ NULL, NULL }
	};
	const struct yt_node *dest, *n;
	struct rr_ent *e;
	const char *s = "";
	long long v;

	if (split_grow((void **)&c->rr, &c->caprr, c->nrr, sizeof(*c->rr)))
		return ist_oom(c, root);
	e = &c->rr[c->nrr++];
	memset(e, 0, sizeof(*e));
	if (ist_parse_meta(c, root, e->name, e->ns, &e->name_pos) ||
	    ist_check_fields(c, spec, "", known))
		return -EINVAL;
	e->route.name = strdup(e->name);
	if (!e->route.name)
		return ist_oom(c, root);
	strcpy(e->route.ns, e->ns);

	dest = yt_field(spec, "destination");
	if (!dest)
		return ist_perr(c, yt_blame(spec, "destination"),
			    "destination is required");
	if (ist_want_map(c, dest, "destination") ||
	    ist_check_fields(c, dest, "destination", dest_known))
		return -EINVAL;
	n = yt_field(dest, "name");
	if (!n)
		return ist_perr(c, yt_blame(dest, "name"),
			    "destination.name is required");
	if (ist_want_str(c, n, "destination.name", &s))
		return -EINVAL;
	if (!split_dns_label_ok(s, strlen(s), true))
		return ist_perr(c, n,
			    "destination.name '%.64s' must be a service name (a DNS-1035 label: [a-z]([-a-z0-9]*[a-z0-9])?, at most 63 characters)",
			    s);
	strcpy(e->svc_name, s);
	e->dest_pos = (struct pos){ c->t, n };
	n = yt_field(dest, "namespace");
	s = e->ns;
	if (n && ist_want_str(c, n, "destination.namespace", &s))
		return -EINVAL;
	if (!split_dns_label_ok(s, strlen(s), false))
		return ist_perr(c, n,
			    "destination.namespace '%.64s' must be a DNS-1123 label",
			    s);
	strcpy(e->svc_ns, s);

	n = yt_field(spec, "precedence");
	if (n) {
		if (yt_int(c->t, n, "precedence", INT32_MIN, INT32_MAX, &v,
			   c->err))
			return -EINVAL;
		e->route.precedence = (int32_t)v;
	}
	n = yt_field(spec, "match");
	if (n && parse_rr_match(c, n, &e->route))
		return -EINVAL;
	n = yt_field(spec, "route");
	if (!n)
		return ist_perr(c, yt_blame(spec, "route"), "route is required");
	return parse_rr_route(c, n, &e->route);
}

/* ---- VirtualService ------------------------------------------------------- */

static int parse_vs_dests(struct rp *c, struct vs_ent *e,
			  const struct yt_node *list, const char *hpath,
			  size_t ridx, struct split_route *r)
{
	static const struct fdesc known[] = {
		{ "destination", NULL }, { "weight", NULL },
		{ "headers", "header manipulation" },
		{ NULL, NULL }
	};
	static const struct fdesc dest_known[] = {
		{ "host", NULL }, { "subset", NULL }, { "port", NULL },
		{ NULL, NULL }
	};
	static const struct fdesc port_known[] = {
		{ "number", NULL }, { "name", "port names: use number" },
		{ NULL, NULL }
	};
	const struct yt_node *wnodes[SPLIT_RULES_MAX_DESTS];
	const struct yt_node *snodes[SPLIT_RULES_MAX_DESTS];
	char path[PATH_LEN], rpath[PATH_LEN], what[PATH_LEN];
	const struct yt_node *it;
	size_t i;

	ist_join(rpath, sizeof(rpath), hpath, "route");
	if (ist_want_seq(c, list, rpath))
		return -EINVAL;
	if (!list->seq.n)
		return ist_perr(c, list, "%s must not be empty", rpath);
	if (list->seq.n > SPLIT_RULES_MAX_DESTS)
		return ist_perr(c, list->seq.items[SPLIT_RULES_MAX_DESTS],
			    "%s: too many destinations (limit %d)", rpath,
			    SPLIT_RULES_MAX_DESTS);
	r->dests = calloc(list->seq.n, sizeof(*r->dests));
	if (!r->dests)
		return ist_oom(c, list);
	yt_seq_for_each(it, i, list) {
		struct split_dest *d = &r->dests[i];
		const struct yt_node *dest, *n, *w;
		char ns[SPLIT_NAME_LEN], name[SPLIT_NAME_LEN];
		const char *s = "";
		long long v;

		r->ndests = i + 1;
		ist_index_path(path, sizeof(path), rpath, i);
		if (ist_want_map(c, it, path) || ist_check_fields(c, it, path, known))
			return -EINVAL;
		dest = yt_field(it, "destination");
		ist_join(what, sizeof(what), path, "destination");
		if (!dest)
			return ist_perr(c, yt_blame(it, "destination"),
				    "%s is required", what);
		if (ist_want_map(c, dest, what) ||
		    ist_check_fields(c, dest, what, dest_known))
			return -EINVAL;
		n = yt_field(dest, "host");
		ist_join(what, sizeof(what), path, "destination.host");
		if (!n)
			return ist_perr(c, yt_blame(dest, "host"), "%s is required",
				    what);
		if (ist_resolve_host(c, n, what, e->ns, ns, name))
			return -EINVAL;
		if (strcmp(ns, e->svc_ns) || strcmp(name, e->svc_name))
			return ist_perr(c, n,
				    "%s: '%.64s' is service %s/%s, not this VirtualService's host %s/%s: routing to another service is not supported",
				    what, n->scalar.value, ns, name, e->svc_ns,
				    e->svc_name);
		n = yt_field(dest, "subset");
		snodes[i] = n;
		if (n) {
			ist_join(what, sizeof(what), path, "destination.subset");
			if (ist_want_str(c, n, what, &s))
				return -EINVAL;
			if (!split_dns_label_ok(s, strlen(s), false))
				return ist_perr(c, n,
					    "%s '%.64s' must be a DNS-1123 label",
					    what, s);
			strcpy(d->subset, s);
			if (split_grow((void **)&e->refs, &e->caprefs, e->nrefs,
				 sizeof(*e->refs)))
				return ist_oom(c, n);
			e->refs[e->nrefs++] = (struct sref){
				ridx, i, { c->t, n }
			};
		}
		n = yt_field(dest, "port");
		if (n) {
			const struct yt_node *num;

			ist_join(what, sizeof(what), path, "destination.port");
			if (ist_want_map(c, n, what) ||
			    ist_check_fields(c, n, what, port_known))
				return -EINVAL;
			num = yt_field(n, "number");
			ist_join(what, sizeof(what), path,
			     "destination.port.number");
			if (!num)
				return ist_perr(c, yt_blame(n, "number"),
					    "%s is required", what);
			if (yt_int(c->t, num, what, 1, 65535, &v, c->err))
				return -EINVAL;
			d->port = (uint16_t)v;
		}
		w = yt_field(it, "weight");
		wnodes[i] = w;
		if (w) {
			ist_join(what, sizeof(what), path, "weight");
			if (yt_int(c->t, w, what, 0, 100, &v, c->err))
				return -EINVAL;
			d->weight = (uint32_t)v;
		}
		for (size_t j = 0; j < i; j++) {
			const struct split_dest *o = &r->dests[j];

			if (strcmp(o->subset, d->subset) || o->port != d->port)
				continue;
			return ist_perr(c, snodes[i] ? snodes[i] : dest,
				    "%s: the same destination as %s[%zu]",
				    path, rpath, j);
		}
	}
	return ist_check_weights(c, list, rpath, r, wnodes);
}

static int parse_vs_http(struct rp *c, struct vs_ent *e,
			 const struct yt_node *it, const char *path,
			 size_t ridx, struct split_route *r)
{
	static const struct fdesc known[] = {
		{ "name", NULL }, { "match", NULL }, { "route", NULL },
		{ "redirect", "HTTP redirects" },
		{ "directResponse", "direct responses" },
		{ "delegate", "delegation to other VirtualServices" },
		{ "rewrite", "URI rewrites" },
		{ "timeout", "request timeouts" },
		{ "retries", "retries" },
		{ "fault", "fault injection" },
		{ "mirror", "traffic mirroring" },
		{ "mirrors", "traffic mirroring" },
		{ "mirrorPercent", "traffic mirroring" },
		{ "mirrorPercentage", "traffic mirroring" },
		{ "mirror_percent", "traffic mirroring" },
		{ "corsPolicy", "CORS policy" },
		{ "headers", "header manipulation" },
		{ NULL, NULL }
	};
	const struct yt_node *n, *m;
	char what[PATH_LEN];
	const char *s = "";
	size_t i;

	if (ist_want_map(c, it, path) || ist_check_fields(c, it, path, known))
		return -EINVAL;
	n = yt_field(it, "name");
	if (n) {
		ist_join(what, sizeof(what), path, "name");
		if (ist_want_str(c, n, what, &s))
			return -EINVAL;
		r->name = strdup(s);
		if (!r->name)
			return ist_oom(c, n);
	}
	n = yt_field(it, "match");
	if (n) {
		ist_join(what, sizeof(what), path, "match");
		if (ist_want_seq(c, n, what))
			return -EINVAL;
		if (n->seq.n > SPLIT_RULES_MAX_MATCHES)
			return ist_perr(c, n->seq.items[SPLIT_RULES_MAX_MATCHES],
				    "%s: too many match blocks (limit %d)",
				    what, SPLIT_RULES_MAX_MATCHES);
		r->matches = calloc(n->seq.n ? n->seq.n : 1,
				    sizeof(*r->matches));
		if (!r->matches)
			return ist_oom(c, n);
		yt_seq_for_each(m, i, n) {
			char mpath[PATH_LEN];

			r->nmatches = i + 1;
			ist_index_path(mpath, sizeof(mpath), what, i);
			if (ist_parse_vs_match(c, m, mpath, &r->matches[i]))
				return -EINVAL;
		}
	}
	n = yt_field(it, "route");
	if (!n)
		return ist_perr(c, yt_blame(it, "route"),
			    "%s.route is required (redirects and direct responses are not supported)",
			    path);
	return parse_vs_dests(c, e, n, path, ridx, r);
}

static int parse_vs(struct rp *c, const struct yt_node *root,
		    const struct yt_node *spec, const char *api)
{
	static const struct fdesc known[] = {
		{ "hosts", NULL }, { "http", NULL },
		{ "gateways", NULL },	/* only "mesh", below */
		{ "tcp", "TCP routes" }, { "tls", "TLS routes" },
		{ "exportTo", "exportTo visibility" },
		{ NULL, NULL }
	};
	const struct yt_node *hosts, *http, *gw, *it;
	char path[PATH_LEN];
	struct vs_ent *e;
	size_t i;

	if (split_grow((void **)&c->vs, &c->capvs, c->nvs, sizeof(*c->vs)))
		return ist_oom(c, root);
	e = &c->vs[c->nvs++];
	memset(e, 0, sizeof(*e));
	snprintf(e->api, sizeof(e->api), "%s", api);
	if (ist_parse_meta(c, root, e->name, e->ns, &e->name_pos) ||
	    ist_check_fields(c, spec, "", known))
		return -EINVAL;

	/* gateways: [mesh] is what leaving it out means. */
	gw = yt_field(spec, "gateways");
	if (gw) {
		if (ist_want_seq(c, gw, "gateways"))
			return -EINVAL;
		yt_seq_for_each(it, i, gw) {
			const char *s = "";

			snprintf(path, sizeof(path), "gateways[%zu]", i);
			if (ist_want_str(c, it, path, &s))
				return -EINVAL;
			if (strcmp(s, "mesh"))
				return ist_perr(c, it,
					    "%s field '%s' is not supported (gateway '%.64s': only 'mesh', sidecar traffic, is)",
					    c->kind, path, s);
		}
	}

	hosts = yt_field(spec, "hosts");
	if (!hosts)
		return ist_perr(c, yt_blame(spec, "hosts"), "hosts is required");
	if (ist_want_seq(c, hosts, "hosts"))
		return -EINVAL;
	if (!hosts->seq.n)
		return ist_perr(c, hosts, "hosts must not be empty");
	if (hosts->seq.n > 1)
		return ist_perr(c, hosts->seq.items[1],
			    "hosts[1]: only one host per VirtualService is supported (found %zu)",
			    hosts->seq.n);
	if (ist_resolve_host(c, hosts->seq.items[0], "hosts[0]", e->ns, e->svc_ns,
			 e->svc_name))
		return -EINVAL;
	e->host_pos = (struct pos){ c->t, hosts->seq.items[0] };

	http = yt_field(spec, "http");
	if (!http)
		return ist_perr(c, yt_blame(spec, "http"),
			    "http is required (HTTP routes are the only kind supported)");
	if (ist_want_seq(c, http, "http"))
		return -EINVAL;
	if (!http->seq.n)
		return ist_perr(c, http, "http must not be empty");
	if (http->seq.n > SPLIT_RULES_MAX_ROUTES)
		return ist_perr(c, http->seq.items[SPLIT_RULES_MAX_ROUTES],
			    "http: too many routes (limit %d)",
			    SPLIT_RULES_MAX_ROUTES);
	e->routes = calloc(http->seq.n, sizeof(*e->routes));
	if (!e->routes)
		return ist_oom(c, http);
	yt_seq_for_each(it, i, http) {
		e->nroutes = i + 1;
		snprintf(path, sizeof(path), "http[%zu]", i);
		if (parse_vs_http(c, e, it, path, i, &e->routes[i]))
			return -EINVAL;
		if (i && !e->routes[i - 1].nmatches)
			return ist_perr(c, it,
				    "%s is never used: http[%zu] (%u:%u) has no match and takes every request",
				    path, i - 1, http->seq.items[i - 1]->line,
				    http->seq.items[i - 1]->col);
	}
	return 0;
}

/* ---- DestinationRule ------------------------------------------------------ */

int ist_subset_cmp(const void *a, const void *b)
{
	const struct split_subset *x = a, *y = b;

	return strcmp(x->name, y->name);
}

static int parse_dr(struct rp *c, const struct yt_node *root,
		    const struct yt_node *spec, const char *api)
{
	static const struct fdesc known[] = {
		{ "host", NULL }, { "subsets", NULL },
		{ "trafficPolicy", "traffic policies: load balancing, connection pools, outlier detection, TLS" },
		{ "exportTo", "exportTo visibility" },
		{ "workloadSelector", "workload selectors" },
		{ NULL, NULL }
	};
	static const struct fdesc sub_known[] = {
		{ "name", NULL }, { "labels", NULL },
		{ "trafficPolicy", "traffic policies" },
		{ NULL, NULL }
	};
	const struct yt_node *host, *subs, *it, *names[SPLIT_RULES_MAX_SUBSETS];
	char path[PATH_LEN], what[PATH_LEN];
	struct dr_ent *e;
	size_t i;

	if (split_grow((void **)&c->dr, &c->capdr, c->ndr, sizeof(*c->dr)))
		return ist_oom(c, root);
	e = &c->dr[c->ndr++];
	memset(e, 0, sizeof(*e));
	snprintf(e->api, sizeof(e->api), "%s", api);
	if (ist_parse_meta(c, root, e->name, e->ns, &e->name_pos) ||
	    ist_check_fields(c, spec, "", known))
		return -EINVAL;
	host = yt_field(spec, "host");
	if (!host)
		return ist_perr(c, yt_blame(spec, "host"), "host is required");
	if (ist_resolve_host(c, host, "host", e->ns, e->svc_ns, e->svc_name))
		return -EINVAL;
	e->host_pos = (struct pos){ c->t, host };
	e->subsets_pos = e->name_pos;

	subs = yt_field(spec, "subsets");
	if (!subs)
		return 0;
	if (ist_want_seq(c, subs, "subsets"))
		return -EINVAL;
	e->subsets_pos = (struct pos){ c->t, subs };
	if (subs->seq.n > SPLIT_RULES_MAX_SUBSETS)
		return ist_perr(c, subs->seq.items[SPLIT_RULES_MAX_SUBSETS],
			    "subsets: too many subsets (limit %d)",
			    SPLIT_RULES_MAX_SUBSETS);
	e->subsets = calloc(subs->seq.n ? subs->seq.n : 1, sizeof(*e->subsets));
	if (!e->subsets)
		return ist_oom(c, subs);
	yt_seq_for_each(it, i, subs) {
		struct split_subset *s = &e->subsets[i];
		const struct yt_node *n, *labels;
		const char *name = "";

		e->nsubsets = i + 1;
		snprintf(path, sizeof(path), "subsets[%zu]", i);
		if (ist_want_map(c, it, path) ||
		    ist_check_fields(c, it, path, sub_known))
			return -EINVAL;
		n = yt_field(it, "name");
		ist_join(what, sizeof(what), path, "name");
		if (!n)
			return ist_perr(c, yt_blame(it, "name"), "%s is required",
				    what);
		if (ist_want_str(c, n, what, &name))
			return -EINVAL;
		if (!split_dns_label_ok(name, strlen(name), false))
			return ist_perr(c, n, "%s '%.64s' must be a DNS-1123 label",
				    what, name);
		strcpy(s->name, name);
		names[i] = n;
		for (size_t j = 0; j < i; j++)
			if (!strcmp(e->subsets[j].name, name))
				return ist_perr(c, n,
					    "%s: duplicate subset '%s' (first at %u:%u)",
					    what, name, names[j]->line,
					    names[j]->col);
		labels = yt_field(it, "labels");
		ist_join(what, sizeof(what), path, "labels");
		if (!labels)
			return ist_perr(c, yt_blame(it, "labels"),
				    "%s is required (with a 'version' label)",
				    what);
		if (ist_parse_labels(c, labels, what, s->version, &s->labels,
				 &s->nlabels))
			return -EINVAL;
	}
	return 0;
}

/* ---- documents ------------------------------------------------------------ */

static bool is_net_api(const char *a)
{
	return !strcmp(a, NET_GROUP "v1alpha3") ||
	       !strcmp(a, NET_GROUP "v1beta1") || !strcmp(a, NET_GROUP "v1");
}

enum split_doc_class split_doc_classify(const struct yt_node *root)
{
	const struct yt_node *k, *a;
	const char *ks, *as, *slash;

	if (!root || yt_is_null(root))
		return SPLIT_DOC_EMPTY;
	k = yt_field(root, "kind");
	a = yt_field(root, "apiVersion");
	ks = k && k->kind == YT_SCALAR ? k->scalar.value : "";
	as = a && a->kind == YT_SCALAR ? a->scalar.value : "";
	if (!strcmp(ks, "Service") && !strcmp(as, SVC_API))
		return SPLIT_DOC_SERVICE;
	if (!strcmp(ks, "RouteRule") || !strcmp(ks, "VirtualService") ||
	    !strcmp(ks, "DestinationRule"))
		return SPLIT_DOC_RULES;
	slash = strchr(as, '/');
	if (slash && slash - as >= 9 && !memcmp(slash - 9, ".istio.io", 9))
		return SPLIT_DOC_RULES;
	return SPLIT_DOC_OTHER;
}

int ist_parse_doc(struct rp *c, const struct yt_doc *d)
{
	static const struct fdesc known[] = {
		{ "apiVersion", NULL }, { "kind", NULL },
		{ "metadata", NULL }, { "spec", NULL },
		{ "status", NULL },	/* written by the API server */
		{ NULL, NULL }
	};
	const struct yt_node *root = d->root, *kind, *api, *spec;
	const char *k = "", *a = "";

	if (!root || yt_is_null(root))
		return 0;
	c->kind = "document";
	if (root->kind != YT_MAPPING)
		return ist_perr(c, root, "a document must be a mapping, not %s",
			    yt_kind_str(root));
	kind = yt_field(root, "kind");
	api = yt_field(root, "apiVersion");
	if (!kind)
		return ist_perr(c, yt_blame(root, "kind"), "kind is required");
	if (!api)
		return ist_perr(c, yt_blame(root, "apiVersion"),
			    "apiVersion is required");
	if (ist_want_str(c, kind, "kind", &k) ||
	    ist_want_str(c, api, "apiVersion", &a))
		return -EINVAL;
	if (!strcmp(k, "Service") && !strcmp(a, SVC_API))
		return 0;	/* services_yaml.c's */
	if (!strcmp(k, "RouteRule")) {
		c->kind = "RouteRule";
		if (strcmp(a, RR_API))
			return ist_perr(c, api,
				    "RouteRule: apiVersion must be %s, not '%.64s'",
				    RR_API, a);
	} else if (!strcmp(k, "VirtualService") ||
		   !strcmp(k, "DestinationRule")) {
		c->kind = !strcmp(k, "VirtualService") ? "VirtualService" :
							 "DestinationRule";
		if (!is_net_api(a))
			return ist_perr(c, api,
				    "%s: apiVersion '%.64s' is not supported (%sv1alpha3, v1beta1 or v1)",
				    c->kind, a, NET_GROUP);
	} else {
		return ist_perr(c, kind,
			    "unsupported kind '%.64s' (apiVersion '%.64s'); expected RouteRule (%s), VirtualService or DestinationRule (%sv1alpha3, v1beta1, v1), or Service (%s)",
			    k, a, RR_API, NET_GROUP, SVC_API);
	}
	if (ist_check_fields(c, root, "", known))
		return -EINVAL;
	spec = yt_field(root, "spec");
	if (!spec)
		return ist_perr(c, yt_blame(root, "spec"), "spec is required");
	if (ist_want_map(c, spec, "spec"))
		return -EINVAL;
	if (!strcmp(k, "RouteRule"))
		return parse_rr(c, root, spec);
	if (!strcmp(k, "VirtualService"))
		return parse_vs(c, root, spec, a);
	return parse_dr(c, root, spec, a);
}
