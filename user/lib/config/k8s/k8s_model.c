// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* k8s_model.c - Kubernetes API objects to the files' model; see k8s_model.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "istio.h"
#include "k8s_model.h"
#include "log.h"
#include "services_yaml.h"

#define SVC_NAME_LABEL	"kubernetes.io/service-name"
#define JSON_FLAGS	(JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

static const char *const kind_names[K8S_NKINDS] = {
	[K8S_SERVICE] = "Service",
	[K8S_ENDPOINTSLICE] = "EndpointSlice",
	[K8S_POD] = "Pod",
	[K8S_VIRTUALSERVICE] = "VirtualService",
	[K8S_DESTINATIONRULE] = "DestinationRule",
};

const char *k8s_kind_name(enum k8s_kind k)
{
	return k < K8S_NKINDS ? kind_names[k] : "?";
}

/* ---- small JSON accessors ---------------------------------------------- */

static struct json_object *jget(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	if (!o || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

/* A string member, or NULL when absent or not a string. */
static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v = jget(o, key);

	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static struct json_object *jpath(struct json_object *o, const char *a, const char *b)
{
	return jget(jget(o, a), b);
}

static size_t jlen(struct json_object *arr)
{
	return arr && json_object_is_type(arr, json_type_array) ? json_object_array_length(arr) : 0;
}

/* ---- the store ---------------------------------------------------------- */

int k8s_obj_key(struct json_object *obj, char *buf, size_t len)
{
	struct json_object *md = jget(obj, "metadata");
	const char *name = jstr(md, "name"), *ns = jstr(md, "namespace");
	int n;

	if (!name || !*name)
		return -EINVAL;
	n = snprintf(buf, len, "%s/%s", ns ? ns : "", name);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Index of key in it, or -(insertion point) - 1. */
static long items_find(const struct k8s_items *it, const char *key)
{
	size_t lo = 0, hi = it->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(it->v[mid].key, key);

		if (!c)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -(long)lo - 1;
}

int k8s_items_put(struct k8s_items *it, struct json_object *obj)
{
	char key[512];
	long i;
	size_t at;

	int r;

	if ((r = k8s_obj_key(obj, key, sizeof(key))))
		return r;
	i = items_find(it, key);
	if (i >= 0) {
		json_object_put(it->v[i].obj);
		it->v[i].obj = json_object_get(obj);
		return 0;
	}
	if (split_grow((void **)&it->v, &it->cap, it->n, sizeof(*it->v)))
		return -ENOMEM;
	at = (size_t)(-i - 1);
	memmove(it->v + at + 1, it->v + at, (it->n - at) * sizeof(*it->v));
	it->v[at].key = strdup(key);
	if (!it->v[at].key) {
		memmove(it->v + at, it->v + at + 1, (it->n - at) * sizeof(*it->v));
		return -ENOMEM;
	}
	it->v[at].obj = json_object_get(obj);
	it->n++;
	return 0;
}

void k8s_items_free(struct k8s_items *it)
{
	for (size_t i = 0; i < it->n; i++) {
		free(it->v[i].key);
		json_object_put(it->v[i].obj);
	}
	free(it->v);
	memset(it, 0, sizeof(*it));
}

int k8s_store_put(struct k8s_store *s, enum k8s_kind k, struct json_object *obj)
{
	return k < K8S_NKINDS ? k8s_items_put(&s->kinds[k], obj) : -EINVAL;
}

int k8s_store_del(struct k8s_store *s, enum k8s_kind k, struct json_object *obj)
{
	struct k8s_items *it;
	char key[512];
	long i;

	if (k >= K8S_NKINDS || k8s_obj_key(obj, key, sizeof(key)))
		return 0;
	it = &s->kinds[k];
	i = items_find(it, key);
	if (i < 0)
		return 0;
	free(it->v[i].key);
	json_object_put(it->v[i].obj);
	memmove(it->v + i, it->v + i + 1, (it->n - (size_t)i - 1) * sizeof(*it->v));
	it->n--;
	return 1;
}

void k8s_store_replace(struct k8s_store *s, enum k8s_kind k, struct k8s_items *items)
{
	if (k >= K8S_NKINDS)
		return;
	k8s_items_free(&s->kinds[k]);
	s->kinds[k] = *items;
	memset(items, 0, sizeof(*items));
}

void k8s_store_free(struct k8s_store *s)
{
	for (int k = 0; k < K8S_NKINDS; k++)
		k8s_items_free(&s->kinds[k]);
}

/* ---- Service + EndpointSlices + Pods -> a split.dev/v1 Service ----------- */

static struct json_object *find_obj(const struct k8s_store *s, enum k8s_kind k,
				    const char *ns, const char *name)
{
	char key[512];
	long i;

	snprintf(key, sizeof(key), "%s/%s", ns, name);
	i = items_find(&s->kinds[k], key);
	return i >= 0 ? s->kinds[k].v[i].obj : NULL;
}

/* The slices of service ns/name, in key order. */
static size_t svc_slices(const struct k8s_store *s, const char *ns, const char *name,
			 struct json_object **out, size_t max)
{
	const struct k8s_items *it = &s->kinds[K8S_ENDPOINTSLICE];
	size_t n = 0;

	for (size_t i = 0; i < it->n; i++) {
		struct json_object *md = jget(it->v[i].obj, "metadata");
		const char *sns = jstr(md, "namespace"), *sn = jstr(jget(md, "labels"), SVC_NAME_LABEL);

		if (sn && !strcmp(sn, name) && !strcmp(sns ? sns : "", ns)) {
			if (n < max)
				out[n] = it->v[i].obj;
			n++;
		}
	}
	return n;
}

/* The port of slice sl named like the service port (name, protocol):
 * its number, or 0 when the slice has no such port. */
static int slice_port(struct json_object *sl, const char *name, const char *proto)
{
	struct json_object *ports = jget(sl, "ports");

	for (size_t i = 0; i < jlen(ports); i++) {
		struct json_object *p = json_object_array_get_idx(ports, i);
		const char *pn = jstr(p, "name"), *pp = jstr(p, "protocol");
		struct json_object *num = jget(p, "port");

		if (strcmp(pn ? pn : "", name) || strcmp(pp ? pp : "TCP", proto))
			continue;
		if (num && json_object_is_type(num, json_type_int))
			return json_object_get_int(num);
	}
	return 0;
}

#define MAX_SLICES	1024
#define MAX_SVC_PORTS	256

struct svc_port {
	const char *name;
	const char *proto;
	struct json_object *port;	/* as given: the parser checks it */
	struct json_object *target;	/* int, string (a name) or NULL */
	int resolved;			/* from the slices, 0 if none */
};

static void add_ep(struct json_object *eps, const char *addr, const char *version)
{
	struct json_object *e = json_object_new_object(), *a = json_object_new_array(),
			   *l = json_object_new_object();

	json_object_array_add(a, json_object_new_string(addr));
	json_object_object_add(l, "version", json_object_new_string(version));
	json_object_object_add(e, "addresses", a);
	json_object_object_add(e, "labels", l);
	json_object_array_add(eps, e);
}

static int seen_addr(struct json_object *eps, const char *addr)
{
	for (size_t i = 0; i < jlen(eps); i++) {
		struct json_object *a = jget(json_object_array_get_idx(eps, i), "addresses");

		if (!strcmp(json_object_get_string(json_object_array_get_idx(a, 0)), addr))
			return 1;
	}
	return 0;
}

/*
 * Does a pod with these labels belong to its version? When the service's
 * DestinationRule has subsets for that version, the pod must carry every
 * label of one of them (Istio selects a subset's endpoints by all its
 * labels); with no such subset, the version label is enough.
 */
static int in_subset(const struct split_rules_service *r, const char *version,
		     struct json_object *labels)
{
	int any = 0;

	for (size_t i = 0; r && i < r->nsubsets; i++) {
		const struct split_subset *sub = &r->subsets[i];
		size_t k;

		if (strcmp(sub->version, version))
			continue;
		any = 1;
		for (k = 0; k < sub->nlabels; k++) {
			const char *v = jstr(labels, sub->labels[k].key);

			if (!v || strcmp(v, sub->labels[k].value))
				break;
		}
		if (k == sub->nlabels)
			return 1;
	}
	return !any;
}

/* The endpoints of one slice into eps (none when its ports disagree). */
static void slice_endpoints(const struct k8s_store *s, struct json_object *sl,
			    const char *ns, struct svc_port *sp, size_t nsp,
			    const struct split_rules_service *rs,
			    struct json_object *eps, struct k8s_build_stats *st)
{
	struct json_object *list = jget(sl, "endpoints");
	const char *at = jstr(sl, "addressType");
	size_t n = jlen(list);

	if (!at || (strcmp(at, "IPv4") && strcmp(at, "IPv6")))
		return;	/* FQDN slices carry no address of ours */
	for (size_t p = 0; p < nsp; p++) {
		int num = slice_port(sl, sp[p].name, sp[p].proto);

		if (!num)
			continue;
		if (!sp[p].resolved) {
			sp[p].resolved = num;
		} else if (sp[p].resolved != num) {
			/* The model has one target port per service port. */
			pr_warn("k8s: EndpointSlice %s/%s: port '%s' is %d here but %d in another slice of the service: its %zu endpoints left out\n",
				ns, jstr(jget(sl, "metadata"), "name"), sp[p].name, num,
				sp[p].resolved, n);
			if (st)
				st->eps_port_conflict += n;
			return;
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct json_object *ep = json_object_array_get_idx(list, i);
		struct json_object *ready = jpath(ep, "conditions", "ready");
		struct json_object *ref = jget(ep, "targetRef"), *pod = NULL, *addrs;
		const char *version = NULL, *rk = jstr(ref, "kind"), *rn = jstr(ref, "name");
		const char *rns = jstr(ref, "namespace");

		if (ready && json_object_is_type(ready, json_type_boolean) &&
		    !json_object_get_boolean(ready)) {
			if (st)
				st->eps_not_ready++;
			continue;
		}
		if (rk && !strcmp(rk, "Pod") && rn)
			pod = find_obj(s, K8S_POD, rns ? rns : ns, rn);
		if (pod)
			version = jstr(jpath(pod, "metadata", "labels"), "version");
		addrs = jget(ep, "addresses");
		if (!version || !*version) {
			pr_debug("k8s: EndpointSlice %s/%s: endpoint %s: %s: left out\n", ns,
				 jstr(jget(sl, "metadata"), "name"),
				 jlen(addrs) ? json_object_get_string(json_object_array_get_idx(addrs, 0)) : "?",
				 pod ? "its pod has no 'version' label" : "its pod is not known (yet)");
			if (st)
				st->eps_unversioned++;
			continue;
		}
		if (!in_subset(rs, version, jpath(pod, "metadata", "labels"))) {
			pr_debug("k8s: EndpointSlice %s/%s: endpoint of pod %s: not in any subset of version %s: left out\n",
				 ns, jstr(jget(sl, "metadata"), "name"), rn, version);
			if (st)
				st->eps_unselected++;
			continue;
		}
		for (size_t a = 0; a < jlen(addrs); a++) {
			struct json_object *av = json_object_array_get_idx(addrs, a);

			if (!json_object_is_type(av, json_type_string) ||
			    seen_addr(eps, json_object_get_string(av)))
				continue;
			add_ep(eps, json_object_get_string(av), version);
		}
	}
}

/* Endpoints by version, then address (IPv4 first, then bytes): the same
 * cluster state gives the same document, whatever the slices' names. */
static int ep_cmp(const void *a, const void *b)
{
	struct json_object *x = *(struct json_object *const *)a;
	struct json_object *y = *(struct json_object *const *)b;
	struct split_addr ax = { 0 }, ay = { 0 };
	int c = strcmp(json_object_get_string(jget(jget(x, "labels"), "version")),
		       json_object_get_string(jget(jget(y, "labels"), "version")));

	if (c)
		return c;
	split_addr_parse(json_object_get_string(json_object_array_get_idx(jget(x, "addresses"), 0)), &ax);
	split_addr_parse(json_object_get_string(json_object_array_get_idx(jget(y, "addresses"), 0)), &ay);
	if (ax.family != ay.family)
		return ax.family < ay.family ? -1 : 1;
	return memcmp(ax.bytes, ay.bytes, sizeof(ax.bytes));
}

int k8s_service_doc(const struct k8s_store *s, struct json_object *svc,
		    const struct split_rules *rules, struct k8s_build_stats *st,
		    char **out, struct split_err *err)
{
	struct json_object *md = jget(svc, "metadata"), *spec = jget(svc, "spec");
	struct json_object *ips = jget(spec, "clusterIPs"), *ports = jget(spec, "ports");
	struct json_object *doc = NULL, *dmd, *dspec, *dips, *dports, *eps;
	struct json_object **slices = NULL;
	struct svc_port *sp = NULL;
	const char *name = jstr(md, "name"), *ns = jstr(md, "namespace");
	const char *type = jstr(spec, "type"), *cip = jstr(spec, "clusterIP");
	size_t nsl, nsp = 0;
	char *text = NULL;
	int ret = 0;

	*out = NULL;
	if (!ns)
		ns = "default";
	if (!name) {
		return split_errc(err, ENODATA, "no metadata.name");
	}
	if (type && !strcmp(type, "ExternalName")) {
		return split_errc(err, ENODATA, "ExternalName");
	}
	if (cip && !strcmp(cip, "None")) {
		return split_errc(err, ENODATA, "headless (clusterIP None)");
	}
	if (!jlen(ips) && !cip) {
		return split_errc(err, ENODATA, "no clusterIP");
	}
	sp = calloc(MAX_SVC_PORTS, sizeof(*sp));
	slices = calloc(MAX_SLICES, sizeof(*slices));
	doc = json_object_new_object();
	dmd = json_object_new_object();
	dspec = json_object_new_object();
	dips = json_object_new_array();
	dports = json_object_new_array();
	eps = json_object_new_array();
	if (!sp || !slices || !doc || !dmd || !dspec || !dips || !dports || !eps) {
		json_object_put(dmd);
		json_object_put(dspec);
		json_object_put(dips);
		json_object_put(dports);
		json_object_put(eps);
		ret = split_errc(err, ENOMEM, "out of memory");
		goto out;
	}
	json_object_object_add(doc, "apiVersion", json_object_new_string("split.dev/v1"));
	json_object_object_add(doc, "kind", json_object_new_string("Service"));
	json_object_object_add(dmd, "name", json_object_new_string(name));
	json_object_object_add(dmd, "namespace", json_object_new_string(ns));
	json_object_object_add(doc, "metadata", dmd);
	json_object_object_add(doc, "spec", dspec);
	if (jlen(ips)) {
		for (size_t i = 0; i < jlen(ips); i++)
			json_object_array_add(dips, json_object_get(json_object_array_get_idx(ips, i)));
	} else {
		json_object_array_add(dips, json_object_new_string(cip));
	}
	json_object_object_add(dspec, "clusterIPs", dips);
	for (size_t i = 0; i < jlen(ports) && nsp < MAX_SVC_PORTS; i++) {
		struct json_object *p = json_object_array_get_idx(ports, i);
		const char *proto = jstr(p, "protocol");

		proto = proto ? proto : "TCP";
		if (strcmp(proto, "TCP") && strcmp(proto, "UDP"))
			continue;	/* SCTP: not split here */
		sp[nsp].name = jstr(p, "name") ? jstr(p, "name") : "";
		sp[nsp].proto = proto;
		sp[nsp].port = jget(p, "port");
		sp[nsp].target = jget(p, "targetPort");
		nsp++;
	}
	if (!nsp) {
		json_object_put(dports);
		json_object_put(eps);
		ret = split_errc(err, ENODATA, "no TCP or UDP port");
		goto out;
	}
	nsl = svc_slices(s, ns, name, slices, MAX_SLICES);
	if (nsl > MAX_SLICES) {
		pr_warn("k8s: Service %s/%s has %zu EndpointSlices; the first %d taken\n", ns,
			name, nsl, MAX_SLICES);
		nsl = MAX_SLICES;
	}
	for (size_t i = 0; i < nsl; i++)
		slice_endpoints(s, slices[i], ns, sp, nsp,
				rules ? split_rules_find(rules, ns, name) : NULL, eps, st);
	json_object_array_sort(eps, ep_cmp);
	for (size_t i = 0; i < nsp; i++) {
		struct json_object *dp = json_object_new_object(), *tp;

		if (*sp[i].name)
			json_object_object_add(dp, "name", json_object_new_string(sp[i].name));
		json_object_object_add(dp, "port", json_object_get(sp[i].port));
		/* A named targetPort that no slice resolves yet (no endpoint):
		 * the service port, which no endpoint serves anyway. */
		if (sp[i].resolved)
			tp = json_object_new_int(sp[i].resolved);
		else if (sp[i].target && !json_object_is_type(sp[i].target, json_type_string))
			tp = json_object_get(sp[i].target);
		else
			tp = json_object_get(sp[i].port);
		if (tp)
			json_object_object_add(dp, "targetPort", tp);
		json_object_object_add(dp, "protocol", json_object_new_string(sp[i].proto));
		json_object_array_add(dports, dp);
	}
	json_object_object_add(dspec, "ports", dports);
	json_object_object_add(dspec, "endpoints", eps);
	text = strdup(json_object_to_json_string_ext(doc, JSON_FLAGS));
	if (!text)
		ret = split_errc(err, ENOMEM, "out of memory");
out:
	json_object_put(doc);
	free(sp);
	free(slices);
	*out = text;
	return ret;
}

/* ---- Istio objects -------------------------------------------------------- */

/* apiVersion, kind, metadata.name/namespace and spec: what the files
 * would say. The server's metadata and status are dropped. */
static int istio_obj(struct json_object *o, enum k8s_kind k, struct split_obj *out,
		     struct split_err *err)
{
	struct json_object *md = jget(o, "metadata"), *doc, *dmd, *v;
	const char *name = jstr(md, "name"), *ns = jstr(md, "namespace");
	const char *text;
	size_t len;

	memset(out, 0, sizeof(*out));
	if (!name)
		return split_errf(err, "no metadata.name");
	snprintf(out->kind, sizeof(out->kind), "%s", k8s_kind_name(k));
	snprintf(out->ns, sizeof(out->ns), "%s", ns ? ns : "default");
	snprintf(out->name, sizeof(out->name), "%s", name);
	doc = json_object_new_object();
	dmd = json_object_new_object();
	if (!doc || !dmd) {
		json_object_put(doc);
		json_object_put(dmd);
		return split_errc(err, ENOMEM, "out of memory");
	}
	if ((v = jget(o, "apiVersion")))
		json_object_object_add(doc, "apiVersion", json_object_get(v));
	if ((v = jget(o, "kind")))
		json_object_object_add(doc, "kind", json_object_get(v));
	json_object_object_add(dmd, "name", json_object_new_string(name));
	json_object_object_add(dmd, "namespace", json_object_new_string(out->ns));
	json_object_object_add(doc, "metadata", dmd);
	if ((v = jget(o, "spec")))
		json_object_object_add(doc, "spec", json_object_get(v));
	text = json_object_to_json_string_length(doc, JSON_FLAGS, &len);
	if (len >= SPLIT_OBJ_TEXT_MAX) {
		json_object_put(doc);
		return split_errf(err, "too large (%zu bytes as JSON, at most %d)", len,
				  SPLIT_OBJ_TEXT_MAX - 1);
	}
	out->json = strdup(text);
	json_object_put(doc);
	return out->json ? 0 : split_errc(err, ENOMEM, "out of memory");
}

static int objs_push(struct split_objs *o, struct split_obj *obj)
{
	struct split_obj *v = realloc(o->v, (o->n + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	o->v = v;
	o->v[o->n++] = *obj;
	return 0;
}

static int rules_ok(const struct split_objs *o, struct split_err *err)
{
	struct split_rules r = { 0 };
	int ret = split_objs_rules(o, &r, err);

	split_rules_free(&r);
	return ret;
}

/* DestinationRules, then VirtualServices, each kept if the set so far
 * with it still validates. */
static int build_istio(const struct k8s_store *s, struct split_objs *objs,
		       struct k8s_build_stats *st, struct split_err *oom)
{
	static const enum k8s_kind order[] = { K8S_DESTINATIONRULE, K8S_VIRTUALSERVICE };
	struct split_objs all = { 0 }, acc = { 0 };
	struct split_err err;
	int ret = -ENOMEM;

	for (size_t oi = 0; oi < 2; oi++) {
		const struct k8s_items *it = &s->kinds[order[oi]];

		for (size_t i = 0; i < it->n; i++) {
			struct split_obj o;

			if (istio_obj(it->v[i].obj, order[oi], &o, &err)) {
				pr_warn("k8s: %s %s: %s: left out\n", k8s_kind_name(order[oi]),
					it->v[i].key, err.msg);
				if (st)
					st->bad[order[oi]]++;
				continue;
			}
			if (objs_push(&all, &o)) {
				free(o.json);
				split_errc(oom, ENOMEM, "out of memory");
				goto out;
			}
		}
	}
	if (!rules_ok(&all, &err)) {
		*objs = all;
		memset(&all, 0, sizeof(all));
		return 0;
	}
	/* Some object is bad: find which, one at a time. */
	for (size_t i = 0; i < all.n; i++) {
		acc.v = realloc(acc.v, (acc.n + 1) * sizeof(*acc.v));
		if (!acc.v) {
			split_errc(oom, ENOMEM, "out of memory");
			goto out;
		}
		acc.v[acc.n++] = all.v[i];
		all.v[i].json = NULL;
		if (rules_ok(&acc, &err)) {
			enum k8s_kind k = strcmp(acc.v[acc.n - 1].kind, "VirtualService") ?
				K8S_DESTINATIONRULE : K8S_VIRTUALSERVICE;

			pr_warn("k8s: %s %s/%s: %s: left out\n", acc.v[acc.n - 1].kind,
				acc.v[acc.n - 1].ns, acc.v[acc.n - 1].name, err.msg);
			if (st)
				st->bad[k]++;
			free(acc.v[--acc.n].json);
		}
	}
	*objs = acc;
	memset(&acc, 0, sizeof(acc));
	ret = 0;
out:
	split_objs_free(&all);
	split_objs_free(&acc);
	return ret;
}

/* ---- the whole model ---------------------------------------------------- */

static int parse_docs(char **docs, size_t n, struct split_config *cfg,
		      struct split_err *err)
{
	size_t len = 0;
	char *buf;
	FILE *f = open_memstream(&buf, &len);
	int ret;

	if (!f)
		return split_errc(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		fprintf(f, "---\n%s\n", docs[i]);
	if (fclose(f))
		return split_errc(err, ENOMEM, "out of memory");
	ret = split_services_parse("services from the Kubernetes API", buf, len, cfg, err);
	free(buf);
	return ret;
}

int k8s_build(const struct k8s_store *s, struct split_config *cfg,
	      struct split_objs *objs, struct k8s_build_stats *st,
	      struct split_err *err)
{
	const struct k8s_items *it = &s->kinds[K8S_SERVICE];
	struct split_config c = { 0 };
	struct split_objs o = { 0 };
	struct split_rules rules = { 0 };
	char **docs = calloc(it->n + 1, sizeof(*docs));
	size_t nd = 0;
	int ret;

	if (!docs)
		return split_errc(err, ENOMEM, "out of memory");
	/* Istio's objects first: their DestinationRules' subsets say which
	 * pods belong to a version. */
	if ((ret = build_istio(s, &o, st, err)))
		goto out;
	if ((ret = split_objs_rules(&o, &rules, err)))
		goto out;	/* validated above: cannot happen */
	for (size_t i = 0; i < it->n; i++) {
		struct split_config one = { 0 };
		struct split_err e;
		char *doc;
		int r = k8s_service_doc(s, it->v[i].obj, &rules, st, &doc, &e);

		if (r) {
			if (r != -ENODATA) {
				ret = split_errc(err, r, "%s", e.msg);
				goto out;
			}
			pr_debug("k8s: Service %s: %s: not split here\n", it->v[i].key, e.msg);
			if (st)
				st->services_skipped++;
			continue;
		}
		if (split_services_parse(it->v[i].key, doc, strlen(doc), &one, &e)) {
			pr_warn("k8s: Service %s: %s: left out\n", it->v[i].key, e.msg);
			if (st)
				st->bad[K8S_SERVICE]++;
			free(doc);
			continue;
		}
		/* Nothing to split to: every endpoint not ready, or no pod
		 * behind it with a version label (kube-dns, the kubernetes
		 * Service, any workload that is not a canary). In the maps with
		 * no endpoint, every pod's connect() to it would be refused;
		 * left out, its connections go on to the VIP as kube-proxy (or
		 * the CNI) serves it. */
		if (one.nsvcs == 1 && !one.svcs[0].neps) {
			pr_debug("k8s: Service %s: no ready endpoint whose pod has a version label: not split here\n",
				 it->v[i].key);
			if (st)
				st->services_skipped++;
			split_config_free(&one);
			free(doc);
			continue;
		}
		split_config_free(&one);
		docs[nd++] = doc;
	}
	/* Across services (a VIP twice, limits): all together, else one by
	 * one to find the culprit. */
	if (parse_docs(docs, nd, &c, err)) {
		size_t keep = 0;

		for (size_t i = 0; i < nd; i++) {
			struct split_config tmp = { 0 };
			struct split_err e;

			docs[keep] = docs[i];
			if (parse_docs(docs, keep + 1, &tmp, &e)) {
				pr_warn("k8s: %s: left out\n", e.msg);
				if (st)
					st->bad[K8S_SERVICE]++;
				free(docs[i]);
				continue;
			}
			split_config_free(&tmp);
			keep++;
		}
		nd = keep;
		if ((ret = parse_docs(docs, nd, &c, err)))
			goto out;
	}
	if (st)
		st->services = c.nsvcs;
	*cfg = c;
	*objs = o;
	memset(&c, 0, sizeof(c));
	memset(&o, 0, sizeof(o));
	ret = 0;
out:
	for (size_t i = 0; i < nd; i++)
		free(docs[i]);
	free(docs);
	split_rules_free(&rules);
	split_config_free(&c);
	split_objs_free(&o);
	return ret;
}

/* ---- canonical text ------------------------------------------------------ */

static int cmp_svc(const void *a, const void *b)
{
	const struct split_service *x = a, *y = b;
	int c = strcmp(x->ns, y->ns);

	return c ? c : strcmp(x->name, y->name);
}

int k8s_model_print(FILE *f, const struct split_config *cfg,
		    const struct split_objs *objs)
{
	const struct split_service **v = calloc(cfg->nsvcs + 1, sizeof(*v));
	struct split_rules rules = { 0 };
	struct split_err err;
	char a[64];

	if (!v)
		return -EIO;
	for (size_t i = 0; i < cfg->nsvcs; i++)
		v[i] = &cfg->svcs[i];
	/* sort pointers by ns/name */
	for (size_t i = 1; i < cfg->nsvcs; i++)
		for (size_t j = i; j > 0 && cmp_svc(v[j - 1], v[j]) > 0; j--) {
			const struct split_service *t = v[j];

			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	for (size_t i = 0; i < cfg->nsvcs; i++) {
		const struct split_service *s = v[i];

		fprintf(f, "service %s/%s\n", s->ns, s->name);
		for (size_t k = 0; k < s->nvips; k++)
			fprintf(f, "  vip %s\n", split_addr_str(&s->vips[k], a, sizeof(a)));
		for (size_t k = 0; k < s->nports; k++)
			fprintf(f, "  port %u -> %u proto %u\n", s->ports[k].port,
				s->ports[k].target_port, s->ports[k].proto);
		for (size_t k = 0; k < s->nversions; k++)
			fprintf(f, "  version %s weight %u\n", s->versions[k].name,
				s->versions[k].weight);
		/* endpoints sorted by version then address (as the parser
		 * leaves them? sort here to be sure) */
		for (size_t k = 0; k < s->nversions; k++) {
			char (*lines)[128] = calloc(s->neps + 1, sizeof(*lines));
			size_t nl = 0;

			if (!lines)
				break;
			for (size_t e = 0; e < s->neps; e++)
				if (!strcmp(s->eps[e].version, s->versions[k].name))
					snprintf(lines[nl++], sizeof(lines[0]), "  endpoint %s %s",
						 s->versions[k].name,
						 split_addr_str(&s->eps[e].addr, a, sizeof(a)));
			qsort(lines, nl, sizeof(lines[0]), (int (*)(const void *, const void *))strcmp);
			for (size_t e = 0; e < nl; e++)
				fprintf(f, "%s\n", lines[e]);
			free(lines);
		}
	}
	free(v);
	{
		char (*lines)[200] = calloc(objs->n + 1, sizeof(*lines));

		if (!lines)
			return -EIO;
		for (size_t i = 0; i < objs->n; i++)
			snprintf(lines[i], sizeof(lines[0]), "object %s %s/%s", objs->v[i].kind,
				 objs->v[i].ns, objs->v[i].name);
		qsort(lines, objs->n, sizeof(lines[0]),
		      (int (*)(const void *, const void *))strcmp);
		for (size_t i = 0; i < objs->n; i++)
			fprintf(f, "%s\n", lines[i]);
		free(lines);
	}
	if (split_objs_rules(objs, &rules, &err)) {
		fprintf(f, "rules: %s\n", err.msg);
		return 0;
	}
	split_rules_print(f, &rules);
	split_rules_free(&rules);
	return 0;
}
