// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* apply.c - desired state in, validated and compiled, into the maps. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "apply.h"
#include "files.h"
#include "log.h"
#include "yaml_tree.h"


void split_objs_free(struct split_objs *o)
{
	for (size_t i = 0; i < o->n; i++)
		free(o->v[i].json);
	free(o->v);
	memset(o, 0, sizeof(*o));
}

static int objs_add(struct split_objs *o, const struct split_obj *obj)
{
	struct split_obj *v = realloc(o->v, (o->n + 1) * sizeof(*v));

	if (!v)
		return -1;
	o->v = v;
	o->v[o->n] = *obj;
	o->v[o->n].json = strdup(obj->json);
	if (!o->v[o->n].json)
		return -1;
	o->n++;
	return 0;
}

static int same_obj(const struct split_obj *a, const struct split_obj *b)
{
	return !strcmp(a->kind, b->kind) && !strcmp(a->ns, b->ns) &&
	       !strcmp(a->name, b->name);
}

int split_objs_merge(struct split_objs *dst, const struct split_objs *src)
{
	for (size_t i = 0; i < src->n; i++) {
		size_t j;

		for (j = 0; j < dst->n && !same_obj(&dst->v[j], &src->v[i]); j++)
			;
		if (j < dst->n) {
			char *json = strdup(src->v[i].json);

			if (!json)
				return -1;
			free(dst->v[j].json);
			dst->v[j].json = json;
		} else if (objs_add(dst, &src->v[i])) {
			return -1;
		}
	}
	return 0;
}

size_t split_objs_remove(struct split_objs *dst, const struct split_objs *src)
{
	size_t n = 0, removed = 0;

	for (size_t j = 0; j < dst->n; j++) {
		int gone = 0;

		for (size_t i = 0; i < src->n && !gone; i++)
			gone = same_obj(&dst->v[j], &src->v[i]);
		if (gone) {
			free(dst->v[j].json);
			removed++;
		} else {
			dst->v[n++] = dst->v[j];
		}
	}
	dst->n = n;
	return removed;
}

/* ---- loading files ----------------------------------------------------- */

static const char *scalar_or(const struct yt_node *map, const char *key,
			     const char *dflt)
{
	const struct yt_node *n = map && map->kind == YT_MAPPING ? yt_map_get(map, key) : NULL;

	return n && n->kind == YT_SCALAR && *n->scalar.value ? n->scalar.value : dflt;
}

/* The identity and JSON text of one Istio document (already validated). */
static int doc_to_obj(const struct yt_tree *t, const struct yt_node *root,
		      struct split_obj *o, struct split_err *err)
{
	const struct yt_node *md = yt_map_get(root, "metadata");
	size_t len = 0;
	FILE *f;

	memset(o, 0, sizeof(*o));
	snprintf(o->kind, sizeof(o->kind), "%s", scalar_or(root, "kind", ""));
	snprintf(o->ns, sizeof(o->ns), "%s", scalar_or(md, "namespace", "default"));
	snprintf(o->name, sizeof(o->name), "%s", scalar_or(md, "name", ""));
	f = open_memstream(&o->json, &len);
	if (!f || yt_write_json(f, root) || fclose(f)) {
		free(o->json);
		o->json = NULL;
		return split_errf(err, "out of memory");
	}
	if (len >= SPLIT_OBJ_TEXT_MAX) {
		free(o->json);
		o->json = NULL;
		return yt_errf(err, t, root, "%s %s/%s is too large (%zu bytes as JSON, at most %d)",
			       o->kind, o->ns, o->name, len, SPLIT_OBJ_TEXT_MAX - 1);
	}
	return 0;
}

static int append_services(struct split_config *dst, struct split_config *src)
{
	struct split_service *v;

	if (!src->nsvcs)
		return 0;
	v = realloc(dst->svcs, (dst->nsvcs + src->nsvcs) * sizeof(*v));
	if (!v)
		return -1;
	dst->svcs = v;
	memcpy(dst->svcs + dst->nsvcs, src->svcs, src->nsvcs * sizeof(*v));
	dst->nsvcs += src->nsvcs;
	free(src->svcs);
	memset(src, 0, sizeof(*src));
	return 0;
}

/* No service twice (in different files): sorted, O(n log n). */
static int svcs_unique(const struct split_config *cfg, struct split_err *err)
{
	const struct split_service **idx;

	if (split_service_index(cfg, &idx))
		return split_errf(err, "out of memory");
	for (size_t i = 1; i < cfg->nsvcs; i++)
		if (!strcmp(idx[i - 1]->ns, idx[i]->ns) && !strcmp(idx[i - 1]->name, idx[i]->name)) {
			split_errf(err, "service %s.%s is defined twice (in different files)",
				   idx[i]->name, idx[i]->ns);
			free(idx);
			return -1;
		}
	free(idx);
	return 0;
}

int split_load_paths(const char *const *paths, size_t n, struct split_config *svcs,
		     struct split_objs *objs, struct split_err *err)
{
	struct split_config cfg = { 0 };
	struct split_objs ob = { 0 };
	struct split_rules rules = { 0 };
	struct yt_tree *trees = NULL;
	const struct yt_tree **tp = NULL;
	struct split_paths fl = { 0 };
	size_t nfiles, ntrees = 0;
	char **files;
	int ret = -1;

	if (split_paths_expand(paths, n, &fl, err))
		return -1;
	files = fl.paths;
	nfiles = fl.n;
	trees = calloc(nfiles + 1, sizeof(*trees));
	tp = calloc(nfiles + 1, sizeof(*tp));
	if (!trees || !tp) {
		split_errf(err, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < nfiles; i++) {
		struct split_config one = { 0 };
		char *buf;
		size_t len;

		if (split_read_file(files[i], &buf, &len, err))
			goto out;
		if (yt_parse(files[i], buf, len, &trees[ntrees], err)) {
			free(buf);
			goto out;
		}
		free(buf);
		tp[ntrees] = &trees[ntrees];
		ntrees++;
		if (split_services_from_tree(&trees[ntrees - 1], &one, err))
			goto out;
		if (append_services(&cfg, &one)) {
			split_config_free(&one);
			split_errf(err, "out of memory");
			goto out;
		}
	}
	/* All Istio documents of all files, as one configuration. */
	if (split_rules_from_trees(tp, ntrees, &rules, err))
		goto out;
	for (size_t i = 0; i < ntrees; i++)
		for (size_t d = 0; d < trees[i].ndocs; d++) {
			const struct yt_node *root = trees[i].docs[d].root;
			struct split_obj o;

			if (split_doc_classify(root) != SPLIT_DOC_RULES)
				continue;
			if (doc_to_obj(&trees[i], root, &o, err))
				goto out;
			for (size_t k = 0; k < ob.n; k++)
				if (same_obj(&ob.v[k], &o)) {
					free(o.json);
					yt_errf(err, &trees[i], root, "%s %s/%s is defined twice",
						o.kind, o.ns, o.name);
					goto out;
				}
			if (objs_add(&ob, &o)) {
				free(o.json);
				split_errf(err, "out of memory");
				goto out;
			}
			free(o.json);
		}
	if (svcs_unique(&cfg, err))
		goto out;
	*svcs = cfg;
	*objs = ob;
	memset(&cfg, 0, sizeof(cfg));
	memset(&ob, 0, sizeof(ob));
	ret = 0;
out:
	split_rules_free(&rules);
	split_config_free(&cfg);
	split_objs_free(&ob);
	for (size_t i = 0; i < ntrees; i++)
		yt_free(&trees[i]);
	free(trees);
	free(tp);
	split_paths_free(&fl);
	return ret;
}

/* ---- objects in force ------------------------------------------------------ */

static int open_map(struct split_state *st, const char *name, struct split_err *err)
{
	char path[PATH_MAX + 64];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", st->pin_dir, name);
	fd = bpf_obj_get(path);
	if (fd < 0)
		split_errf(err, "opening %s: %s", path, strerror(errno));
	return fd;
}

int split_objs_read(struct split_state *st, struct split_objs *objs,
		    struct split_err *err)
{
	struct split_object_key k, cur, *prev = NULL;
	struct split_object_val *v = malloc(sizeof(*v));
	struct split_objs o = { 0 };
	int fd = open_map(st, SPLIT_MAP_OBJECTS, err), ret = -1;

	if (fd < 0 || !v)
		goto out;
	while (!bpf_map_get_next_key(fd, prev, &k)) {
		struct split_obj ob = { 0 };

		cur = k;
		prev = &cur;
		if (bpf_map_lookup_elem(fd, &k, v))
			continue;
		snprintf(ob.kind, sizeof(ob.kind), "%s", k.kind);
		snprintf(ob.ns, sizeof(ob.ns), "%s", k.ns);
		snprintf(ob.name, sizeof(ob.name), "%s", k.name);
		ob.json = strndup(v->text, v->len < SPLIT_OBJ_TEXT_MAX ? v->len : SPLIT_OBJ_TEXT_MAX);
		if (!ob.json || objs_add(&o, &ob)) {
			free(ob.json);
			split_errf(err, "out of memory");
			goto out;
		}
		free(ob.json);
	}
	*objs = o;
	memset(&o, 0, sizeof(o));
	ret = 0;
out:
	split_objs_free(&o);
	free(v);
	if (fd >= 0)
		close(fd);
	return ret;
}

int split_objs_rules(const struct split_objs *objs, struct split_rules *rules,
		     struct split_err *err)
{
	struct yt_tree *trees = calloc(objs->n + 1, sizeof(*trees));
	const struct yt_tree **tp = calloc(objs->n + 1, sizeof(*tp));
	size_t nt = 0;
	int ret = -1;

	if (!trees || !tp) {
		split_errf(err, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < objs->n; i++) {
		char name[SPLIT_KIND_LEN + 2 * SPLIT_NAME_LEN + 8];

		snprintf(name, sizeof(name), "%s %s/%s", objs->v[i].kind, objs->v[i].ns,
			 objs->v[i].name);
		if (yt_parse(name, objs->v[i].json, strlen(objs->v[i].json), &trees[nt], err))
			goto out;
		tp[nt] = &trees[nt];
		nt++;
	}
	ret = split_rules_from_trees(tp, nt, rules, err);
out:
	for (size_t i = 0; i < nt; i++)
		yt_free(&trees[i]);
	free(trees);
	free(tp);
	return ret;
}

/* ---- compile and commit -------------------------------------------------- */

static struct split_service *find_svc(struct split_config *c, const char *ns,
				      const char *name)
{
	for (size_t i = 0; i < c->nsvcs; i++)
		if (!strcmp(c->svcs[i].ns, ns) && !strcmp(c->svcs[i].name, name))
			return &c->svcs[i];
	return NULL;
}

static const char *rules_origin(const struct split_rules_service *r)
{
	static char buf[160];

	if (r->api == SPLIT_API_VIRTUAL_SERVICE)
		snprintf(buf, sizeof(buf), "VirtualService %s/%s", r->vs_ns, r->vs_name);
	else if (r->api == SPLIT_API_ROUTE_RULE && r->nroutes)
		snprintf(buf, sizeof(buf), "RouteRule %s/%s", r->routes[0].ns,
			 r->routes[0].name ? r->routes[0].name : "");
	else
		snprintf(buf, sizeof(buf), "DestinationRule %s/%s", r->dr_ns, r->dr_name);
	return buf;
}

static const struct split_route *default_route(const struct split_rules_service *r)
{
	if (r && r->nroutes && !r->routes[r->nroutes - 1].nmatches)
		return &r->routes[r->nroutes - 1];
	return NULL;
}

static struct split_version *svc_version(struct split_service *s, const char *v)
{
	for (size_t i = 0; i < s->nversions; i++)
		if (!strcmp(s->versions[i].name, v))
			return &s->versions[i];
	return NULL;
}

static void list_versions(const struct split_service *s, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = 0;
	for (size_t i = 0; i < s->nversions && off + 1 < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? ", " : "",
					s->versions[i].name);
}

/* Check rules against the services and set weights and L7 flags. */
static int compile(struct split_config *svcs, const struct split_rules *rules,
		   const struct split_rules *old, struct split_err *err)
{
	size_t nroutes = 0, nconds = 0;

	for (size_t i = 0; i < svcs->nsvcs; i++)
		svcs->svcs[i].l7 = false;
	for (size_t i = 0; i < rules->nsvcs; i++) {
		const struct split_rules_service *r = &rules->svcs[i];
		struct split_service *s = find_svc(svcs, r->ns, r->name);
		const struct split_route *dr = default_route(r);
		char names[256];

		if (!s)
			return split_errf(err, "%s: there is no service %s.%s",
					  rules_origin(r), r->name, r->ns);
		list_versions(s, names, sizeof(names));
		for (size_t k = 0; k < r->nroutes; k++) {
			const struct split_route *rt = &r->routes[k];

			if (rt->ndests > SPLIT_L7_MAX_DESTS)
				return split_errf(err, "%s: a route has %zu destinations (at most %d)",
						  rules_origin(r), rt->ndests, SPLIT_L7_MAX_DESTS);
			for (size_t d = 0; d < rt->ndests; d++) {
				const char *v = rt->dests[d].version;

				if (*v && !svc_version(s, v))
					return split_errf(err, "%s: destination version '%s' is not a version of %s (versions: %s)",
							  rules_origin(r), v, s->name, names);
				if (!*v && rt->ndests > 1)
					return split_errf(err, "%s: a route that splits by weight must name a subset in every destination",
							  rules_origin(r));
			}
			nroutes++;
			for (size_t m = 0; m < rt->nmatches; m++) {
				nconds += rt->matches[m].nconds;
				for (size_t c = 0; c < rt->matches[m].nconds; c++) {
					const struct split_cond *cd = &rt->matches[m].conds[c];

					if (cd->value_len >= SPLIT_L7_VALUE_LEN ||
					    (cd->name && strlen(cd->name) >= SPLIT_NAME_LEN))
						return split_errf(err, "%s: a match value or name is too long (at most %d and %d bytes)",
								  rules_origin(r), SPLIT_L7_VALUE_LEN - 1,
								  SPLIT_NAME_LEN - 1);
				}
			}
		}
		s->l7 = split_rules_service_is_l7(r);
		if (!dr)
			continue;
		if (dr->ndests == 1 && !*dr->dests[0].version) {
			/* To the whole service: an equal share per endpoint. */
			split_config_reset_weights(svcs, (size_t)(s - svcs->svcs));
			continue;
		}
		for (size_t k = 0; k < s->nversions; k++)
			s->versions[k].weight = 0;
		for (size_t d = 0; d < dr->ndests; d++)
			svc_version(s, dr->dests[d].version)->weight += dr->dests[d].weight;
		s->routed = true;
	}
	if (nroutes > SPLIT_MAX_L7_ROUTES || nconds > SPLIT_MAX_L7_CONDS)
		return split_errf(err, "too many routes or match conditions (%zu, %zu; at most %d, %d)",
				  nroutes, nconds, SPLIT_MAX_L7_ROUTES, SPLIT_MAX_L7_CONDS);
	/* A service whose default route went away: no explicit route now. */
	for (size_t i = 0; old && i < old->nsvcs; i++) {
		const struct split_rules_service *o = &old->svcs[i];
		struct split_service *s = find_svc(svcs, o->ns, o->name);

		if (s && default_route(o) &&
		    !default_route(split_rules_find(rules, o->ns, o->name)))
			split_config_reset_weights(svcs, (size_t)(s - svcs->svcs));
	}
	return 0;
}

/* Ids the commit gave: service ns/name -> id; (id, version) -> version id. */
static __u32 svc_id_of(int services_fd, const char *ns, const char *name)
{
	__u32 k, cur, *prev = NULL;
	struct split_service_val v;

	while (!bpf_map_get_next_key(services_fd, prev, &k)) {
		cur = k;
		prev = &cur;
		if (!bpf_map_lookup_elem(services_fd, &k, &v) && !strcmp(v.ns, ns) &&
		    !strcmp(v.name, name))
			return k;
	}
	return 0;
}

static __u32 version_id_of(int weights_fd, __u32 svc_id, const char *version)
{
	struct split_weight_key k, cur, *prev = NULL;
	struct split_weight_val v;

	while (!bpf_map_get_next_key(weights_fd, prev, &k)) {
		cur = k;
		prev = &cur;
		if (k.svc_id == svc_id && !bpf_map_lookup_elem(weights_fd, &k, &v) &&
		    !strcmp(v.version, version))
			return k.version_id;
	}
	return 0;
}

/* Delete every key of fd that is not among keep[0..n) (ksz bytes each). */
static int prune(int fd, const void *keep, size_t n, size_t ksz)
{
	char k[256], cur[256], *prev = NULL;
	char (*gone)[256] = NULL;
	size_t ngone = 0;
	int ret = 0;

	while (!bpf_map_get_next_key(fd, prev, k)) {
		int found = 0;

		memcpy(cur, k, ksz);
		prev = cur;
		for (size_t i = 0; i < n && !found; i++)
			found = !memcmp((const char *)keep + i * ksz, k, ksz);
		if (!found) {
			char (*g)[256] = realloc(gone, (ngone + 1) * sizeof(*g));

			if (!g) {
				ret = -1;
				break;
			}
			gone = g;
			memcpy(gone[ngone++], k, ksz);
		}
	}
	for (size_t i = 0; i < ngone; i++)
		if (bpf_map_delete_elem(fd, gone[i]) && errno != ENOENT)
			ret = -1;
	free(gone);
	return ret;
}

static int write_objects(struct split_state *st, const struct split_objs *objs,
			 struct split_err *err)
{
	struct split_object_key *keys = calloc(objs->n + 1, sizeof(*keys));
	struct split_object_val *v = calloc(1, sizeof(*v));
	int fd = open_map(st, SPLIT_MAP_OBJECTS, err), ret = -1;

	if (fd < 0 || !keys || !v)
		goto out;
	for (size_t i = 0; i < objs->n; i++) {
		snprintf(keys[i].kind, sizeof(keys[i].kind), "%s", objs->v[i].kind);
		snprintf(keys[i].ns, sizeof(keys[i].ns), "%s", objs->v[i].ns);
		snprintf(keys[i].name, sizeof(keys[i].name), "%s", objs->v[i].name);
		memset(v, 0, sizeof(*v));
		v->len = (__u32)snprintf(v->text, sizeof(v->text), "%s", objs->v[i].json);
		if (bpf_map_update_elem(fd, &keys[i], v, BPF_ANY)) {
			split_errf(err, "writing objects: %s", strerror(errno));
			goto out;
		}
	}
	if (prune(fd, keys, objs->n, sizeof(*keys))) {
		split_errf(err, "removing objects: %s", strerror(errno));
		goto out;
	}
	ret = 0;
out:
	free(keys);
	free(v);
	if (fd >= 0)
		close(fd);
	return ret;
}

static int write_l7(struct split_state *st, const struct split_rules *rules,
		    struct split_err *err)
{
	struct split_l7_route_key *rkeys = NULL;
	struct split_l7_cond_key *ckeys = NULL;
	size_t nr = 0, nc = 0;
	int rfd = open_map(st, SPLIT_MAP_L7_ROUTES, err);
	int cfd = rfd < 0 ? -1 : open_map(st, SPLIT_MAP_L7_CONDS, err), ret = -1;

	if (rfd < 0 || cfd < 0)
		goto out;
	rkeys = calloc(SPLIT_MAX_L7_ROUTES + 1, sizeof(*rkeys));
	ckeys = calloc(SPLIT_MAX_L7_CONDS + 1, sizeof(*ckeys));
	if (!rkeys || !ckeys) {
		split_errf(err, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < rules->nsvcs; i++) {
		const struct split_rules_service *r = &rules->svcs[i];
		__u32 sid;

		if (!split_rules_service_is_l7(r))
			continue; /* a plain split: the tables say it all */
		sid = svc_id_of(st->services_fd, r->ns, r->name);
		for (size_t k = 0; sid && k < r->nroutes; k++) {
			const struct split_route *rt = &r->routes[k];
			struct split_l7_route_val rv = { 0 };

			rkeys[nr] = (struct split_l7_route_key){ sid, (__u32)k };
			snprintf(rv.name, sizeof(rv.name), "%s", rt->name ? rt->name : "");
			rv.nmatches = (__u32)rt->nmatches;
			rv.ndests = (__u32)rt->ndests;
			for (size_t d = 0; d < rt->ndests; d++) {
				snprintf(rv.dests[d].version, sizeof(rv.dests[d].version), "%s",
					 rt->dests[d].version);
				rv.dests[d].weight = rt->dests[d].weight;
				if (*rt->dests[d].version)
					rv.dests[d].version_id =
						version_id_of(st->weights_fd, sid, rt->dests[d].version);
			}
			if (bpf_map_update_elem(rfd, &rkeys[nr++], &rv, BPF_ANY))
				goto fail;
			for (size_t m = 0; m < rt->nmatches; m++)
				for (size_t c = 0; c < rt->matches[m].nconds; c++) {
					const struct split_cond *cd = &rt->matches[m].conds[c];
					struct split_l7_cond_val cv = { 0 };

					ckeys[nc] = (struct split_l7_cond_key){ sid, (__u32)k, (__u32)m,
										(__u32)c };
					cv.kind = (__u8)cd->kind;
					cv.op = (__u8)cd->op;
					cv.negate = cd->negate;
					cv.value_len = (__u32)cd->value_len;
					snprintf(cv.name, sizeof(cv.name), "%s", cd->name ? cd->name : "");
					if (cd->value)
						memcpy(cv.value, cd->value, cd->value_len);
					if (bpf_map_update_elem(cfd, &ckeys[nc++], &cv, BPF_ANY))
						goto fail;
				}
		}
	}
	if (prune(cfd, ckeys, nc, sizeof(*ckeys)) || prune(rfd, rkeys, nr, sizeof(*rkeys)))
		goto fail;
	ret = 0;
	goto out;
fail:
	split_errf(err, "writing the L7 rules: %s", strerror(errno));
out:
	free(rkeys);
	free(ckeys);
	if (rfd >= 0)
		close(rfd);
	if (cfd >= 0)
		close(cfd);
	return ret;
}

int split_apply(struct split_state *st, struct split_config *svcs,
		const struct split_objs *objs, struct split_err *err)
{
	struct split_rules rules = { 0 }, old = { 0 };
	struct split_objs cur = { 0 };
	int have_old, ret = -1;

	if (objs->n > SPLIT_MAX_OBJECTS)
		return split_errf(err, "too many Istio objects (%zu, at most %d)", objs->n,
				  SPLIT_MAX_OBJECTS);
	if (split_objs_rules(objs, &rules, err))
		return -1;
	have_old = !split_objs_read(st, &cur, err) && !split_objs_rules(&cur, &old, err);
	if (compile(svcs, &rules, have_old ? &old : NULL, err))
		goto out;
	/* Everything is checked: now write, tables first. */
	if (split_state_commit(st, svcs, err) || write_objects(st, objs, err) ||
	    write_l7(st, &rules, err))
		goto out;
	ret = 0;
out:
	split_rules_free(&rules);
	split_rules_free(&old);
	split_objs_free(&cur);
	return ret;
}
