/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * services_yaml.c - the services file: Kubernetes-shaped Service documents
 * (apiVersion split.dev/v1, kind Service) carrying their VIPs, ports and
 * endpoints with labels. See tests/data/services.yaml for an example.
 *
 * Everything is validated before anything is returned: on any error the
 * caller's config is untouched and the message names file:line:column.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "files.h"
#include "names.h"
#include "ops.h"
#include "istio.h"
#include "services_yaml.h"
#include "yaml_tree.h"

#define SVC_API_VERSION		"split.dev/v1"
#define SVC_KIND		"Service"
#define SVC_MAX_PORTS		256
#define SVC_MAX_EPS		4096
/* Service ids run 1..SPLIT_MAX_SERVICES-1, backend ids are never 0. */
#define SVC_MAX_SERVICES	(SPLIT_MAX_SERVICES - 1)
#define SVC_MAX_BACKENDS	(SPLIT_MAX_BACKENDS - 1)

/* Where the parts of one service came from, for cross-service errors. */
struct svc_src {
	const struct yt_node *name;	/* metadata.name value */
	const struct yt_node *vip[2];	/* the node of each svc->vips[i] */
};

struct svc_parser {
	const struct yt_tree *t;
	struct split_err *err;
	struct split_service *svcs;
	struct svc_src *src;
	size_t n, cap;
	size_t nbackends, nversions, nvipports;
};

static const char *proto_str(uint8_t proto)
{
	return proto == IPPROTO_UDP ? "UDP" : "TCP";
}

static int want_map(struct svc_parser *c, const struct yt_node *n,
		    const char *what)
{
	if (n->kind == YT_MAPPING)
		return 0;
	return yt_errf(c->err, c->t, n, "%s must be a mapping, not %s", what,
		       yt_kind_str(n));
}

static int want_seq(struct svc_parser *c, const struct yt_node *n,
		    const char *what)
{
	if (n->kind == YT_SEQUENCE)
		return 0;
	return yt_errf(c->err, c->t, n, "%s must be a list, not %s", what,
		       yt_kind_str(n));
}

/* Every key of mapping m must be in known (NULL-terminated). */
static int check_fields(struct svc_parser *c, const struct yt_node *m,
			const char *prefix, const char *const *known)
{
	const struct yt_pair *p;

	yt_map_for_each(p, m) {
		const char *k = p->key->scalar.value;
		const char *const *kn;

		for (kn = known; *kn && strcmp(*kn, k); kn++)
			;
		if (!*kn)
			return yt_errf(c->err, c->t, p->key,
				       "unknown field '%s%s%.64s'", prefix,
				       *prefix ? "." : "", k);
	}
	return 0;
}

/* A string field holding an IP address. */
static int parse_ip(struct svc_parser *c, const struct yt_node *n,
		    const char *what, struct split_addr *a)
{
	const char *s;

	if (yt_str(c->t, n, what, &s, c->err))
		return -EINVAL;
	if (split_addr_parse(s, a) == 0)
		return 0;
	if (!strcmp(s, "None"))
		return yt_errf(c->err, c->t, n,
			       "%s 'None' is not an IP address (headless services are not supported)",
			       what);
	return yt_errf(c->err, c->t, n, "%s '%.64s' is not an IP address",
		       what, s);
}

static int parse_metadata(struct svc_parser *c, const struct yt_node *root,
			  struct split_service *svc, struct svc_src *src)
{
	static const char *const known[] = {
		"name", "namespace", "labels", "annotations", NULL
	};
	const struct yt_node *md = yt_field(root, "metadata"), *n;
	const char *s;

	if (!md)
		return yt_errf(c->err, c->t, yt_blame(root, "metadata"),
			       "metadata is required");
	if (want_map(c, md, "metadata") ||
	    check_fields(c, md, "metadata", known))
		return -EINVAL;

	n = yt_field(md, "name");
	if (!n)
		return yt_errf(c->err, c->t, yt_blame(md, "name"),
			       "metadata.name is required");
	if (yt_str(c->t, n, "metadata.name", &s, c->err))
		return -EINVAL;
	if (!split_dns_label_ok(s, strlen(s), true))
		return yt_errf(c->err, c->t, n,
			       "metadata.name '%.64s' must be a DNS-1035 label ([a-z]([-a-z0-9]*[a-z0-9])?, at most 63 characters)",
			       s);
	strcpy(svc->name, s);
	src->name = n;

	n = yt_field(md, "namespace");
	s = "default";
	if (n && yt_str(c->t, n, "metadata.namespace", &s, c->err))
		return -EINVAL;
	if (!split_dns_label_ok(s, strlen(s), false))
		return yt_errf(c->err, c->t, n,
			       "metadata.namespace '%.64s' must be a DNS-1123 label ([a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 characters)",
			       s);
	strcpy(svc->ns, s);

	/* Contents ignored, shape checked. */
	n = yt_field(md, "labels");
	if (n && want_map(c, n, "metadata.labels"))
		return -EINVAL;
	n = yt_field(md, "annotations");
	if (n && want_map(c, n, "metadata.annotations"))
		return -EINVAL;
	return 0;
}

static int add_vip(struct svc_parser *c, struct split_service *svc,
		   struct svc_src *src, const struct yt_node *n,
		   const char *what, const struct split_addr *a)
{
	char ip[64], prev[64];

	for (size_t i = 0; i < svc->nvips; i++) {
		if (svc->vips[i].family != a->family)
			continue;
		split_addr_str(a, ip, sizeof(ip));
		split_addr_str(&svc->vips[i], prev, sizeof(prev));
		return yt_errf(c->err, c->t, n,
			       "%s: a second IPv%u address (%s, after %s at %u:%u); at most one per family",
			       what, a->family, ip, prev, src->vip[i]->line,
			       src->vip[i]->col);
	}
	src->vip[svc->nvips] = n;
	svc->vips[svc->nvips++] = *a;
	return 0;
}

static int parse_vips(struct svc_parser *c, const struct yt_node *spec,
		      struct split_service *svc, struct svc_src *src)
{
	const struct yt_node *ip = yt_field(spec, "clusterIP");
	const struct yt_node *ips = yt_field(spec, "clusterIPs"), *it;
	struct split_addr a;
	char what[64];
	size_t i;

	if (ips) {
		if (want_seq(c, ips, "spec.clusterIPs"))
			return -EINVAL;
		yt_seq_for_each(it, i, ips) {
			snprintf(what, sizeof(what), "spec.clusterIPs[%zu]", i);
			if (parse_ip(c, it, what, &a) ||
			    add_vip(c, svc, src, it, what, &a))
				return -EINVAL;
		}
	}
	if (ip) {
		if (parse_ip(c, ip, "spec.clusterIP", &a))
			return -EINVAL;
		if (svc->nvips && memcmp(&a, &svc->vips[0], sizeof(a))) {
			char s1[64], s2[64];

			return yt_errf(c->err, c->t, ip,
				       "spec.clusterIP %s does not match spec.clusterIPs[0] %s (%u:%u)",
				       split_addr_str(&a, s1, sizeof(s1)),
				       split_addr_str(&svc->vips[0], s2, sizeof(s2)),
				       src->vip[0]->line, src->vip[0]->col);
		}
		if (!svc->nvips && add_vip(c, svc, src, ip, "spec.clusterIP", &a))
			return -EINVAL;
	}
	if (!svc->nvips)
		return yt_errf(c->err, c->t, ips ? ips : spec,
			       "a service needs an address: spec.clusterIP or spec.clusterIPs");
	return 0;
}

static int parse_port(struct svc_parser *c, const struct yt_node *it,
		      const char *path, struct split_port *p,
		      const struct yt_node **port_node)
{
	static const char *const known[] = {
		"name", "port", "targetPort", "protocol", NULL
	};
	const struct yt_node *n;
	char what[96];
	const char *s;
	long long v;

	if (want_map(c, it, path) || check_fields(c, it, path, known))
		return -EINVAL;

	n = yt_field(it, "name");
	if (n) {
		snprintf(what, sizeof(what), "%s.name", path);
		if (yt_str(c->t, n, what, &s, c->err))
			return -EINVAL;
		if (!split_dns_label_ok(s, strlen(s), false))
			return yt_errf(c->err, c->t, n,
				       "%s '%.64s' must be a DNS-1123 label ([a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 characters)",
				       what, s);
	}

	n = yt_field(it, "port");
	snprintf(what, sizeof(what), "%s.port", path);
	if (!n)
		return yt_errf(c->err, c->t, yt_blame(it, "port"), "%s is required",
			       what);
	if (yt_int(c->t, n, what, 1, 65535, &v, c->err))
		return -EINVAL;
	p->port = (uint16_t)v;
	p->target_port = p->port;
	*port_node = n;

	n = yt_field(it, "targetPort");
	if (n) {
		snprintf(what, sizeof(what), "%s.targetPort", path);
		/* Kubernetes allows a port name here (IntOrString); we have
		 * no pod specs to resolve it against. */
		if (n->kind == YT_SCALAR &&
		    (n->scalar.quoted ||
		     !((n->scalar.value[0] >= '0' && n->scalar.value[0] <= '9') ||
		       n->scalar.value[0] == '-')))
			return yt_errf(c->err, c->t, n,
				       "%s '%.64s': numeric targetPort required (named ports are not supported)",
				       what, n->scalar.value);
		if (yt_int(c->t, n, what, 1, 65535, &v, c->err))
			return -EINVAL;
		p->target_port = (uint16_t)v;
	}

	n = yt_field(it, "protocol");
	p->proto = IPPROTO_TCP;
	if (n) {
		snprintf(what, sizeof(what), "%s.protocol", path);
		if (yt_str(c->t, n, what, &s, c->err))
			return -EINVAL;
		if (!strcmp(s, "UDP"))
			p->proto = IPPROTO_UDP;
		else if (strcmp(s, "TCP"))
			return yt_errf(c->err, c->t, n,
				       "%s '%.64s' is not supported (TCP or UDP)",
				       what, s);
	}
	return 0;
}

static int parse_ports(struct svc_parser *c, const struct yt_node *spec,
		       struct split_service *svc)
{
	const struct yt_node *ports = yt_field(spec, "ports"), *it;
	const struct yt_node *nodes[SVC_MAX_PORTS];
	char path[64];
	size_t i;

	if (!ports)
		return yt_errf(c->err, c->t, yt_blame(spec, "ports"),
			       "spec.ports is required");
	if (want_seq(c, ports, "spec.ports"))
		return -EINVAL;
	if (!ports->seq.n)
		return yt_errf(c->err, c->t, ports,
			       "spec.ports must not be empty");
	if (ports->seq.n > SVC_MAX_PORTS)
		return yt_errf(c->err, c->t, ports->seq.items[SVC_MAX_PORTS],
			       "too many ports in one service (limit %d)",
			       SVC_MAX_PORTS);
	svc->ports = calloc(ports->seq.n, sizeof(*svc->ports));
	if (!svc->ports)
		return yt_errc(c->err, ENOMEM, c->t, ports, "out of memory");
	yt_seq_for_each(it, i, ports) {
		struct split_port *p = &svc->ports[i];

		snprintf(path, sizeof(path), "spec.ports[%zu]", i);
		if (parse_port(c, it, path, p, &nodes[i]))
			return -EINVAL;
		svc->nports++;
		for (size_t j = 0; j < i; j++) {
			if (svc->ports[j].port != p->port ||
			    svc->ports[j].proto != p->proto)
				continue;
			return yt_errf(c->err, c->t, nodes[i],
				       "%s: duplicate port %u/%s (first at %u:%u)",
				       path, p->port, proto_str(p->proto),
				       nodes[j]->line, nodes[j]->col);
		}
	}
	return 0;
}

/* ---- duplicate detection by sorting --------------------------------------- */

/* Every entry array below starts with the entry's position in document
 * order, and is sorted by (key, seq). dup_scan() finds the first entry in
 * document order whose key repeats an earlier one, and that earlier one. */
struct dup_ent {
	size_t seq;
};

static bool dup_scan(const void *base, size_t n, size_t sz,
		     int (*keycmp)(const void *, const void *),
		     size_t *first, size_t *dup)
{
	const char *b = base;
	size_t start = 0;
	bool found = false;

	for (size_t i = 1; i < n; i++) {
		const struct dup_ent *e = (const void *)(b + i * sz);

		if (keycmp(b + start * sz, b + i * sz)) {
			start = i;
			continue;
		}
		if (i != start + 1)
			continue;
		if (!found ||
		    e->seq < ((const struct dup_ent *)(const void *)(b + *dup * sz))->seq) {
			*first = start;
			*dup = i;
			found = true;
		}
	}
	return found;
}

static int seq_cmp(size_t a, size_t b)
{
	return a < b ? -1 : a > b;
}

struct ep_ent {
	size_t seq;
	const struct split_addr *addr;
	const struct yt_node *node;
};

static int ep_keycmp(const void *a, const void *b)
{
	const struct ep_ent *x = a, *y = b;

	return memcmp(x->addr, y->addr, sizeof(*x->addr));
}

static int ep_cmp(const void *a, const void *b)
{
	const struct ep_ent *x = a, *y = b;

	return ep_keycmp(a, b) ?: seq_cmp(x->seq, y->seq);
}

struct svc_ent {
	size_t seq;
	const struct split_service *svc;
};

static int svc_keycmp(const void *a, const void *b)
{
	const struct svc_ent *x = a, *y = b;

	return strcmp(x->svc->ns, y->svc->ns) ?:
	       strcmp(x->svc->name, y->svc->name);
}

static int svc_cmp(const void *a, const void *b)
{
	const struct svc_ent *x = a, *y = b;

	return svc_keycmp(a, b) ?: seq_cmp(x->seq, y->seq);
}

struct vip_ent {
	size_t seq;
	const struct split_addr *addr;
	uint16_t port;
	uint8_t proto;
	size_t svc, vip;
};

static int vip_keycmp(const void *a, const void *b)
{
	const struct vip_ent *x = a, *y = b;

	return memcmp(x->addr, y->addr, sizeof(*x->addr)) ?:
	       seq_cmp(x->port, y->port) ?: seq_cmp(x->proto, y->proto);
}

static int vip_cmp(const void *a, const void *b)
{
	const struct vip_ent *x = a, *y = b;

	return vip_keycmp(a, b) ?: seq_cmp(x->seq, y->seq);
}

/* ---- endpoints and versions ----------------------------------------------- */

static int parse_labels(struct svc_parser *c, const struct yt_node *it,
			const char *path, const char **version)
{
	const struct yt_node *labels = yt_field(it, "labels"), *v;
	const struct yt_pair *p;
	char what[160];
	const char *s;

	if (!labels)
		return yt_errf(c->err, c->t, yt_blame(it, "labels"),
			       "%s.labels is required (with a 'version' label)",
			       path);
	snprintf(what, sizeof(what), "%s.labels", path);
	if (want_map(c, labels, what))
		return -EINVAL;
	yt_map_for_each(p, labels) {
		snprintf(what, sizeof(what), "%s.labels.%.64s", path,
			 p->key->scalar.value);
		if (yt_str(c->t, p->value, what, &s, c->err))
			return -EINVAL;
		if (!split_label_value_ok(s))
			return yt_errf(c->err, c->t, p->value,
				       "%s '%.64s%s' is not a valid label value (at most 63 characters: letters, digits, '-', '_' and '.', beginning and ending with a letter or digit)",
				       what, s, strlen(s) > 64 ? "..." : "");
	}
	v = yt_map_get(labels, "version");
	if (!v)
		return yt_errf(c->err, c->t, labels,
			       "%s.labels: the 'version' label is required",
			       path);
	yt_str(c->t, v, "", &s, c->err);
	if (!*s)
		return yt_errf(c->err, c->t, v,
			       "%s.labels.version must not be empty", path);
	*version = s;
	return 0;
}

static int check_dup_eps(struct svc_parser *c, const struct split_service *svc,
			 const struct yt_node **nodes)
{
	struct ep_ent *ents;
	size_t first = 0, dup = 0;
	char ip[64];

	if (svc->neps < 2)
		return 0;
	ents = calloc(svc->neps, sizeof(*ents));
	if (!ents)
		return split_errc(c->err, ENOMEM, "%s: out of memory", c->t->name);
	for (size_t i = 0; i < svc->neps; i++)
		ents[i] = (struct ep_ent){ i, &svc->eps[i].addr, nodes[i] };
	qsort(ents, svc->neps, sizeof(*ents), ep_cmp);
	if (dup_scan(ents, svc->neps, sizeof(*ents), ep_keycmp, &first, &dup)) {
		yt_errf(c->err, c->t, ents[dup].node,
			"duplicate endpoint address %s in service %s/%s (first at %u:%u)",
			split_addr_str(ents[dup].addr, ip, sizeof(ip)),
			svc->ns, svc->name, ents[first].node->line,
			ents[first].node->col);
		free(ents);
		return -EINVAL;
	}
	free(ents);
	return 0;
}

static int parse_endpoints(struct svc_parser *c, const struct yt_node *spec,
			   struct split_service *svc)
{
	static const char *const known[] = { "addresses", "labels", NULL };
	const struct yt_node *eps = yt_field(spec, "endpoints"), *it, *a;
	const struct yt_node **nodes = NULL;
	size_t i, j, cap = 0;
	char path[64], what[96];
	int ret = -EINVAL;

	if (!eps)
		return 0;
	if (want_seq(c, eps, "spec.endpoints"))
		return -EINVAL;
	yt_seq_for_each(it, i, eps) {
		const struct yt_node *addrs;
		const char *version = NULL;

		snprintf(path, sizeof(path), "spec.endpoints[%zu]", i);
		if (want_map(c, it, path) || check_fields(c, it, path, known))
			goto out;
		addrs = yt_field(it, "addresses");
		if (!addrs) {
			yt_errf(c->err, c->t, yt_blame(it, "addresses"),
				"%s.addresses is required", path);
			goto out;
		}
		snprintf(what, sizeof(what), "%s.addresses", path);
		if (want_seq(c, addrs, what))
			goto out;
		if (!addrs->seq.n) {
			yt_errf(c->err, c->t, addrs, "%s must not be empty",
				what);
			goto out;
		}
		if (parse_labels(c, it, path, &version))
			goto out;
		yt_seq_for_each(a, j, addrs) {
			struct split_endpoint *ep;

			if (svc->neps >= SVC_MAX_EPS) {
				yt_errf(c->err, c->t, a,
					"too many endpoint addresses in one service (limit %d)",
					SVC_MAX_EPS);
				goto out;
			}
			if (svc->neps >= cap) {
				size_t ncap = cap ? cap * 2 : 16;
				void *p = realloc(svc->eps, ncap * sizeof(*svc->eps));

				if (!p)
					goto oom;
				svc->eps = p;
				p = realloc(nodes, ncap * sizeof(*nodes));
				if (!p)
					goto oom;
				nodes = p;
				cap = ncap;
			}
			ep = &svc->eps[svc->neps];
			memset(ep, 0, sizeof(*ep));
			snprintf(what, sizeof(what), "%s.addresses[%zu]", path, j);
			if (parse_ip(c, a, what, &ep->addr))
				goto out;
			strcpy(ep->version, version);
			nodes[svc->neps++] = a;
		}
	}
	ret = check_dup_eps(c, svc, nodes);
out:
	free(nodes);
	return ret;
oom:
	free(nodes);
	return yt_errc(c->err, ENOMEM, c->t, eps, "out of memory");
}

static int strp_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* versions[]: the distinct version labels, sorted, each weighted by its
 * number of endpoints (every endpoint gets an equal share). */
static int derive_versions(struct svc_parser *c, struct split_service *svc)
{
	const char **names;
	size_t i, n = 0;

	if (!svc->neps)
		return 0;
	names = calloc(svc->neps, sizeof(*names));
	if (!names)
		return split_errc(c->err, ENOMEM, "%s: out of memory", c->t->name);
	for (i = 0; i < svc->neps; i++)
		names[i] = svc->eps[i].version;
	qsort(names, svc->neps, sizeof(*names), strp_cmp);
	svc->versions = calloc(svc->neps, sizeof(*svc->versions));
	if (!svc->versions) {
		free(names);
		return split_errc(c->err, ENOMEM, "%s: out of memory", c->t->name);
	}
	for (i = 0; i < svc->neps; i++) {
		if (!n || strcmp(svc->versions[n - 1].name, names[i]))
			strcpy(svc->versions[n++].name, names[i]);
		svc->versions[n - 1].weight++;
	}
	svc->nversions = n;
	free(names);
	return 0;
}

/* ---- documents ------------------------------------------------------------ */

static int parse_spec(struct svc_parser *c, const struct yt_node *root,
		      struct split_service *svc, struct svc_src *src)
{
	static const char *const known[] = {
		"clusterIP", "clusterIPs", "ports", "endpoints", NULL
	};
	const struct yt_node *spec = yt_field(root, "spec");

	if (!spec)
		return yt_errf(c->err, c->t, yt_blame(root, "spec"),
			       "spec is required");
	if (want_map(c, spec, "spec") || check_fields(c, spec, "spec", known) ||
	    parse_vips(c, spec, svc, src) || parse_ports(c, spec, svc) ||
	    parse_endpoints(c, spec, svc) || derive_versions(c, svc))
		return -EINVAL;
	return 0;
}

static int parse_doc(struct svc_parser *c, const struct yt_doc *d)
{
	static const char *const known[] = {
		"apiVersion", "kind", "metadata", "spec", NULL
	};
	const struct yt_node *root = d->root, *kind, *api;
	struct split_service *svc;
	struct svc_src *src;
	const char *k, *a;

	if (!root || yt_is_null(root))
		return 0;	/* an empty document */
	if (root->kind != YT_MAPPING)
		return yt_errf(c->err, c->t, root,
			       "a document must be a mapping, not %s",
			       yt_kind_str(root));
	kind = yt_field(root, "kind");
	api = yt_field(root, "apiVersion");
	if (!kind)
		return yt_errf(c->err, c->t, yt_blame(root, "kind"),
			       "kind is required");
	if (!api)
		return yt_errf(c->err, c->t, yt_blame(root, "apiVersion"),
			       "apiVersion is required");
	if (yt_str(c->t, kind, "kind", &k, c->err) ||
	    yt_str(c->t, api, "apiVersion", &a, c->err))
		return -EINVAL;
	if (strcmp(k, SVC_KIND) || strcmp(a, SVC_API_VERSION))
		return yt_errf(c->err, c->t, kind,
			       "unsupported kind '%.64s' (apiVersion '%.64s'); expected kind '%s' with apiVersion '%s'",
			       k, a, SVC_KIND, SVC_API_VERSION);
	if (check_fields(c, root, "", known))
		return -EINVAL;

	if (c->n >= SVC_MAX_SERVICES)
		return yt_errf(c->err, c->t, root,
			       "too many services (limit %d)", SVC_MAX_SERVICES);
	if (c->n == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 8;
		void *p;

		p = realloc(c->svcs, ncap * sizeof(*c->svcs));
		if (!p)
			return yt_errc(c->err, ENOMEM, c->t, root, "out of memory");
		c->svcs = p;
		p = realloc(c->src, ncap * sizeof(*c->src));
		if (!p)
			return yt_errc(c->err, ENOMEM, c->t, root, "out of memory");
		c->src = p;
		c->cap = ncap;
	}
	svc = &c->svcs[c->n];
	src = &c->src[c->n];
	memset(svc, 0, sizeof(*svc));
	memset(src, 0, sizeof(*src));
	c->n++;		/* owned by c from here: freed on error */

	if (parse_metadata(c, root, svc, src) || parse_spec(c, root, svc, src))
		return -EINVAL;

	c->nbackends += svc->neps;
	c->nversions += svc->nversions;
	c->nvipports += svc->nvips * svc->nports;
	if (c->nbackends > SVC_MAX_BACKENDS)
		return yt_errf(c->err, c->t, src->name,
			       "service %s/%s: too many endpoint addresses in all services (limit %d)",
			       svc->ns, svc->name, SVC_MAX_BACKENDS);
	if (c->nversions > SPLIT_MAX_VERSIONS)
		return yt_errf(c->err, c->t, src->name,
			       "service %s/%s: too many versions in all services (limit %d)",
			       svc->ns, svc->name, SPLIT_MAX_VERSIONS);
	if (c->nvipports > SPLIT_MAX_VIPS)
		return yt_errf(c->err, c->t, src->name,
			       "service %s/%s: too many VIP:port entries in all services (limit %d)",
			       svc->ns, svc->name, SPLIT_MAX_VIPS);
	return 0;
}

static int check_dup_services(struct svc_parser *c)
{
	struct svc_ent *ents;
	size_t first = 0, dup = 0;
	int ret = 0;

	if (c->n < 2)
		return 0;
	ents = calloc(c->n, sizeof(*ents));
	if (!ents)
		return split_errc(c->err, ENOMEM, "%s: out of memory", c->t->name);
	for (size_t i = 0; i < c->n; i++)
		ents[i] = (struct svc_ent){ i, &c->svcs[i] };
	qsort(ents, c->n, sizeof(*ents), svc_cmp);
	if (dup_scan(ents, c->n, sizeof(*ents), svc_keycmp, &first, &dup)) {
		const struct yt_node *a = c->src[ents[first].seq].name;

		ret = yt_errf(c->err, c->t, c->src[ents[dup].seq].name,
			      "duplicate service %s/%s (first at %u:%u)",
			      ents[dup].svc->ns, ents[dup].svc->name, a->line,
			      a->col);
	}
	free(ents);
	return ret;
}

/* Two services may not share a VIP:port:protocol. */
static int check_vip_conflicts(struct svc_parser *c)
{
	struct vip_ent *ents;
	size_t n = 0, first = 0, dup = 0;
	int ret = 0;

	if (!c->nvipports)
		return 0;
	ents = calloc(c->nvipports, sizeof(*ents));
	if (!ents)
		return split_errc(c->err, ENOMEM, "%s: out of memory", c->t->name);
	for (size_t s = 0; s < c->n; s++) {
		const struct split_service *svc = &c->svcs[s];

		for (size_t v = 0; v < svc->nvips; v++)
			for (size_t p = 0; p < svc->nports; p++, n++)
				ents[n] = (struct vip_ent){
					n, &svc->vips[v], svc->ports[p].port,
					svc->ports[p].proto, s, v
				};
	}
	qsort(ents, n, sizeof(*ents), vip_cmp);
	if (dup_scan(ents, n, sizeof(*ents), vip_keycmp, &first, &dup)) {
		const struct vip_ent *f = &ents[first], *d = &ents[dup];
		const struct split_service *fs = &c->svcs[f->svc];
		const struct split_service *ds = &c->svcs[d->svc];
		const struct yt_node *fn = c->src[f->svc].vip[f->vip];
		char vip[80];

		ret = yt_errf(c->err, c->t, c->src[d->svc].vip[d->vip],
			      "service %s/%s: %s/%s is already used by service %s/%s (%u:%u)",
			      ds->ns, ds->name,
			      split_addr_port_str(d->addr, d->port, vip, sizeof(vip)),
			      proto_str(d->proto), fs->ns, fs->name, fn->line,
			      fn->col);
	}
	free(ents);
	return ret;
}

/* Services of an already parsed stream; rules documents are skipped when
 * skip_rules (a mixed file), refused otherwise. */
static int services_tree(const struct yt_tree *tree, bool skip_rules,
			 struct split_config *cfg, struct split_err *err)
{
	struct svc_parser c = { .err = err, .t = tree };
	int ret = 0;

	for (size_t i = 0; i < tree->ndocs && !ret; i++) {
		if (skip_rules && split_doc_classify(tree->docs[i].root) == SPLIT_DOC_RULES)
			continue;
		ret = parse_doc(&c, &tree->docs[i]);
	}
	if (!ret)
		ret = check_dup_services(&c);
	if (!ret)
		ret = check_vip_conflicts(&c);
	free(c.src);
	if (ret) {
		struct split_config tmp = { c.svcs, c.n };

		split_config_free(&tmp);
		return -EINVAL;
	}
	cfg->svcs = c.svcs;
	cfg->nsvcs = c.n;
	if (!c.n) {
		free(c.svcs);
		cfg->svcs = NULL;
	}
	return 0;
}

int split_services_from_tree(const struct yt_tree *tree, struct split_config *cfg,
			     struct split_err *err)
{
	return services_tree(tree, true, cfg, err);
}

int split_services_parse(const char *name, const char *buf, size_t len,
			 struct split_config *cfg, struct split_err *err)
{
	struct yt_tree tree;
	int ret;

	if ((ret = yt_parse(name, buf, len, &tree, err)))
		return ret;
	ret = services_tree(&tree, false, cfg, err);
	yt_free(&tree);
	return ret;
}

int split_services_load(const char *path, struct split_config *cfg,
			struct split_err *err)
{
	size_t len = 0;
	char *buf = NULL;
	int ret;

	if ((ret = split_read_file(path, &buf, &len, err)))
		return ret;
	ret = split_services_parse(path, buf ? buf : "", len, cfg, err);
	free(buf);
	return ret;
}

bool split_services_file_conflict(const struct split_service *svcs, size_t n)
{
	size_t nb = 0, nv = 0, nvp = 0, k = 0, first, dup;
	struct split_name_dkey *se;
	struct split_vip_dkey *ve;
	bool bad;

	for (size_t i = 0; i < n; i++) {
		nb += svcs[i].neps;
		nv += svcs[i].nversions;
		nvp += svcs[i].nvips * svcs[i].nports;
	}
	if (n > SVC_MAX_SERVICES || nb > SVC_MAX_BACKENDS || nv > SPLIT_MAX_VERSIONS ||
	    nvp > SPLIT_MAX_VIPS)
		return true;
	se = calloc(n + 1, sizeof(*se));
	ve = calloc(nvp + 1, sizeof(*ve));
	if (!se || !ve) {
		free(se);
		free(ve);
		return true;	/* the caller parses the whole file, which says */
	}
	/* The keys svc_keycmp and vip_keycmp compare, found by a hash. */
	for (size_t i = 0; i < n; i++) {
		split_name_dkey(&se[i], &svcs[i]);
		for (size_t v = 0; v < svcs[i].nvips; v++)
			for (size_t p = 0; p < svcs[i].nports; p++, k++)
				split_vip_dkey(&ve[k], &svcs[i].vips[v], svcs[i].ports[p].port,
					       svcs[i].ports[p].proto);
	}
	bad = split_dup_find(se, n, sizeof(*se), &first, &dup) != 0 ||
	      split_dup_find(ve, nvp, sizeof(*ve), &first, &dup) != 0;
	free(se);
	free(ve);
	return bad;
}
