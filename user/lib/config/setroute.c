// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * setroute.c - `splitctl set` on a service whose weights come from an Istio
 * object's default route: that route's weights change in that object, as
 * `kubectl patch` would, and the resulting set goes through split_apply
 * like any other change. See apply.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apply.h"
#include "ops.h"
#include "yaml_tree.h"

static const struct split_route *default_route(const struct split_rules_service *r)
{
	if (r && r->nroutes && !r->routes[r->nroutes - 1].nmatches)
		return &r->routes[r->nroutes - 1];
	return NULL;
}

int split_weights_owner(const struct split_rules *rules, const char *ns,
			const char *name, struct split_object_key *id)
{
	const struct split_rules_service *r = split_rules_find(rules, ns, name);
	const struct split_route *dr = default_route(r);

	if (!dr)
		return 0;
	memset(id, 0, sizeof(*id));
	if (r->api == SPLIT_API_VIRTUAL_SERVICE) {
		snprintf(id->kind, sizeof(id->kind), "VirtualService");
		snprintf(id->ns, sizeof(id->ns), "%s", r->vs_ns);
		snprintf(id->name, sizeof(id->name), "%s", r->vs_name);
	} else {
		snprintf(id->kind, sizeof(id->kind), "RouteRule");
		snprintf(id->ns, sizeof(id->ns), "%s", dr->ns);
		snprintf(id->name, sizeof(id->name), "%s", dr->name ? dr->name : "");
	}
	return 1;
}

struct want {
	const char *name;	/* as given (points into argv) */
	size_t len;
	unsigned long weight;
	unsigned pct;
	const struct split_subset *sub;	/* VirtualService */
	const char *version;		/* the version label it routes to */
};

static size_t version_endpoints(const struct split_service *s, const char *v)
{
	size_t n = 0;

	for (size_t i = 0; i < s->neps; i++)
		n += !strcmp(s->eps[i].version, v);
	return n;
}

/* "v1=50 v2=50" -> want[], weights scaled exactly to percentages. */
static int parse_args(int argc, char **argv, struct want *w, const char *obj,
		      struct split_err *err)
{
	unsigned long long sum = 0;

	if (argc < 1)
		return split_errf(err, "no weights given: say NAME=WEIGHT ...");
	if (argc > SPLIT_L7_MAX_DESTS)
		return split_errf(err, "%d destinations: a route has at most %d", argc,
				  SPLIT_L7_MAX_DESTS);
	for (int i = 0; i < argc; i++) {
		const char *eq = strchr(argv[i], '='), *p;
		unsigned long v = 0;

		if (!eq || eq == argv[i])
			return split_errf(err, "bad argument '%s': expected NAME=WEIGHT, e.g. v1=90",
					  argv[i]);
		if ((size_t)(eq - argv[i]) >= SPLIT_NAME_LEN)
			return split_errf(err, "bad argument '%s': name too long", argv[i]);
		for (p = eq + 1; *p >= '0' && *p <= '9'; p++)
			if (v <= SPLIT_MAX_WEIGHT)
				v = v * 10 + (unsigned long)(*p - '0');
		if (*p || p == eq + 1)
			return split_errf(err, "weight of %.*s must be a non-negative integer, not '%s'",
					  (int)(eq - argv[i]), argv[i], eq + 1);
		if (v > SPLIT_MAX_WEIGHT)
			return split_errf(err, "weight of %.*s is too large: '%s' (at most %d)",
					  (int)(eq - argv[i]), argv[i], eq + 1, SPLIT_MAX_WEIGHT);
		w[i] = (struct want){ argv[i], (size_t)(eq - argv[i]), v, 0, NULL, NULL };
		for (int j = 0; j < i; j++)
			if (w[j].len == w[i].len && !memcmp(w[j].name, w[i].name, w[i].len))
				return split_errf(err, "'%.*s' given twice", (int)w[i].len,
						  w[i].name);
		sum += v;
	}
	if (!sum)
		return split_errf(err, "all weights are 0: the route would send requests nowhere");
	for (int i = 0; i < argc; i++) {
		if (w[i].weight * 100 % sum) {
			char buf[256];
			size_t off = 0;

			for (int j = 0; j < argc && off < sizeof(buf); j++)
				off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%s",
							j ? " " : "", argv[j]);
			return split_errf(err, "%s weighs its destinations in percent (Istio's weights add up to 100), and %s does not scale to whole percents: say e.g. v1=50 v2=50 or v1=9 v2=1",
					  obj, buf);
		}
		w[i].pct = (unsigned)(w[i].weight * 100 / sum);
	}
	return 0;
}

/* Resolve names: a version (RouteRule), a subset or a subset's version
 * (VirtualService). */
static int resolve(struct want *w, int n, const struct split_rules_service *r,
		   const struct split_service *svc, const char *obj,
		   struct split_err *err)
{
	char list[384];
	size_t off = 0;

	list[0] = 0;
	if (r->api != SPLIT_API_VIRTUAL_SERVICE) {
		for (size_t k = 0; k < svc->nversions && off < sizeof(list); k++)
			if (version_endpoints(svc, svc->versions[k].name))
				off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s",
							off ? ", " : "", svc->versions[k].name);
		for (int i = 0; i < n; i++) {
			for (size_t k = 0; k < svc->nversions && !w[i].version; k++)
				if (strlen(svc->versions[k].name) == w[i].len &&
				    !memcmp(svc->versions[k].name, w[i].name, w[i].len) &&
				    version_endpoints(svc, svc->versions[k].name))
					w[i].version = svc->versions[k].name;
			if (!w[i].version)
				return split_errf(err, "service %s.%s has no version '%.*s' with endpoints (versions: %s); %s routes by the version label",
						  svc->name, svc->ns, (int)w[i].len, w[i].name,
						  list, obj);
		}
		return 0;
	}
	if (!r->has_dr)
		return split_errf(err, "%s routes %s.%s by subset, and no DestinationRule defines subsets for it",
				  obj, svc->name, svc->ns);
	for (size_t k = 0; k < r->nsubsets && off < sizeof(list); k++)
		off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s (version %s)",
					k ? ", " : "", r->subsets[k].name, r->subsets[k].version);
	for (int i = 0; i < n; i++) {
		const struct split_subset *by_ver = NULL;
		int nver = 0;

		for (size_t k = 0; k < r->nsubsets; k++) {
			const struct split_subset *s = &r->subsets[k];

			if (strlen(s->name) == w[i].len && !memcmp(s->name, w[i].name, w[i].len))
				w[i].sub = s;
			if (strlen(s->version) == w[i].len && !memcmp(s->version, w[i].name, w[i].len)) {
				by_ver = s;
				nver++;
			}
		}
		if (!w[i].sub && nver > 1)
			return split_errf(err, "'%.*s' is the version of several subsets of DestinationRule %s/%s: name the subset (subsets: %s)",
					  (int)w[i].len, w[i].name, r->dr_ns, r->dr_name, list);
		if (!w[i].sub)
			w[i].sub = by_ver;
		if (!w[i].sub)
			return split_errf(err, "DestinationRule %s/%s defines no subset '%.*s' and no subset of version '%.*s' (subsets: %s)",
					  r->dr_ns, r->dr_name, (int)w[i].len, w[i].name,
					  (int)w[i].len, w[i].name, list);
		w[i].version = w[i].sub->version;
		for (int j = 0; j < i; j++)
			if (w[j].sub == w[i].sub)
				return split_errf(err, "'%.*s' and '%.*s' are the same subset, %s",
						  (int)w[j].len, w[j].name, (int)w[i].len,
						  w[i].name, w[i].sub->name);
	}
	return 0;
}

static const char *scalar(const struct yt_node *n)
{
	return n && n->kind == YT_SCALAR ? n->scalar.value : "";
}

/* The new route list, as JSON. */
static int write_route(FILE *f, const struct yt_node *route, const struct want *w,
		       int n, int vs)
{
	const struct yt_node *first = route->seq.n ? yt_field(route->seq.items[0], "destination") : NULL;
	int k = 0;

	fputc('[', f);
	for (int i = 0; i < n; i++) {
		const struct yt_node *keep = NULL, *it;
		size_t idx;

		if (!w[i].pct)
			continue;	/* weight 0: not in the route */
		yt_seq_for_each(it, idx, route) {
			const struct yt_node *d = yt_field(it, vs ? "destination" : "labels");

			if (!keep && !strcmp(scalar(yt_field(d, vs ? "subset" : "version")),
					     vs ? w[i].sub->name : w[i].version))
				keep = d;
		}
		fprintf(f, "%s{\"%s\":", k++ ? "," : "", vs ? "destination" : "labels");
		if (keep) {
			if (yt_write_json(f, keep))
				return -EIO;
		} else if (vs) {
			const struct yt_node *port = yt_field(first, "port");

			fputs("{\"host\":", f);
			yt_write_json_str(f, scalar(yt_field(first, "host")));
			fputs(",\"subset\":", f);
			yt_write_json_str(f, w[i].sub->name);
			if (port) {
				fputs(",\"port\":", f);
				yt_write_json(f, port);
			}
			fputc('}', f);
		} else {
			fputs("{\"version\":", f);
			yt_write_json_str(f, w[i].version);
			fputc('}', f);
		}
		fprintf(f, ",\"weight\":%u}", w[i].pct);
	}
	return fputc(']', f) == EOF ? -1 : 0;
}

int split_objs_set_route(struct split_objs *objs, const struct split_rules *rules,
			 const struct split_service *svc, int argc, char **argv,
			 struct split_err *err)
{
	const struct split_rules_service *r = split_rules_find(rules, svc->ns, svc->name);
	struct want w[SPLIT_L7_MAX_DESTS];
	struct split_object_key id;
	struct split_obj *obj;
	const struct yt_node *spec, *route = NULL;
	struct yt_tree t = { 0 };
	char what[SPLIT_KIND_LEN + 2 * SPLIT_NAME_LEN + 8], *list = NULL, *json = NULL;
	size_t llen = 0, jlen = 0;
	FILE *f;
	int vs, ret = -EINVAL;

	if (!split_weights_owner(rules, svc->ns, svc->name, &id))
		return split_errf(err, "no object's default route sets the weights of %s.%s",
				  svc->name, svc->ns);
	snprintf(what, sizeof(what), "%s %s/%s", id.kind, id.ns, id.name);
	obj = split_objs_find(objs, id.kind, id.ns, id.name);
	vs = r->api == SPLIT_API_VIRTUAL_SERVICE;
	if (!obj)
		return split_errf(err, "%s is not among the objects in force", what);
	if (parse_args(argc, argv, w, what, err) || resolve(w, argc, r, svc, what, err))
		return -EINVAL;
	if ((ret = yt_parse(what, obj->json, strlen(obj->json), &t, err)))
		return ret;
	ret = -EINVAL;
	spec = t.ndocs ? yt_field(t.docs[0].root, "spec") : NULL;
	if (vs) {
		const struct yt_node *http = yt_field(spec, "http");

		if (http && http->kind == YT_SEQUENCE && http->seq.n &&
		    !yt_field(http->seq.items[http->seq.n - 1], "match"))
			route = yt_field(http->seq.items[http->seq.n - 1], "route");
	} else if (!yt_field(spec, "match")) {
		route = yt_field(spec, "route");
	}
	if (!route || route->kind != YT_SEQUENCE) {
		split_errf(err, "%s: its default route is not where it should be", what);
		goto out;
	}
	f = open_memstream(&list, &llen);
	if (!f || write_route(f, route, w, argc, vs) || fclose(f)) {
		ret = split_errc(err, ENOMEM, "out of memory");
		goto out;
	}
	f = open_memstream(&json, &jlen);
	if (!f || yt_write_json_replace(f, t.docs[0].root, route, list) || fclose(f)) {
		ret = split_errc(err, ENOMEM, "out of memory");
		goto out;
	}
	if (jlen >= SPLIT_OBJ_TEXT_MAX) {
		split_errf(err, "%s would be too large (%zu bytes as JSON, at most %d)", what,
			   jlen, SPLIT_OBJ_TEXT_MAX - 1);
		goto out;
	}
	if (split_obj_set_json(obj, json)) {
		ret = split_errc(err, ENOMEM, "out of memory");
		goto out;
	}
	obj->tree = NULL;
	obj->root = NULL;
	ret = 0;
out:
	free(list);
	free(json);
	yt_free(&t);
	return ret;
}

/* The resulting set needs every service: when cfg holds only service idx
 * (split_state_read_service()), read them all into *full and give the
 * index of that service there (the commit that follows is a full one).
 * Else *full stays empty and *fidx is idx. 0 or -errno. */
static int whole_state(struct split_state *st, const struct split_config *cfg, size_t idx,
		       struct split_config *full, size_t *fidx, struct split_err *err)
{
	const struct split_service *s = &cfg->svcs[idx];
	int r;

	*fidx = idx;
	if (!st->scope_id)
		return 0;
	if ((r = split_state_read(st, full, err)))
		return r;
	for (size_t i = 0; i < full->nsvcs; i++)
		if (!strcmp(full->svcs[i].ns, s->ns) && !strcmp(full->svcs[i].name, s->name)) {
			*fidx = i;
			return 0;
		}
	return split_errf(err, "service %s.%s is gone", s->name, s->ns);
}

int split_set_weights(struct split_state *st, struct split_config *cfg, size_t idx,
		      int argc, char **argv, struct split_object_key *owner,
		      struct split_err *err)
{
	char file[SPLIT_OWNER_PATH_LEN], dir[SPLIT_OWNER_PATH_LEN];
	const struct split_service *s = &cfg->svcs[idx];
	struct split_config full = { 0 }, *set = cfg;
	struct split_objs objs = { 0 };
	struct split_rules rules = { 0 };
	struct split_object_key id;
	size_t fidx;
	int ret;

	memset(owner, 0, sizeof(*owner));
	if ((ret = split_objs_read(st, &objs, err)) ||
	    (ret = split_objs_rules(&objs, &rules, err)))
		goto out;
	if (!split_weights_owner(&rules, s->ns, s->name, &id)) {
		/* A plain service: its own weights, and a commit of that
		 * service alone when cfg was read so (splitctl set). */
		if (!(ret = split_config_set_weights(cfg, idx, argc, argv, err)))
			ret = split_state_commit(st, cfg, err);
		goto out;
	}
	if (split_owner_of(st->pin_dir, id.kind, id.ns, id.name, file, sizeof(file), dir,
			   sizeof(dir))) {
		ret = split_errc(err, EPERM, "the weights of %s.%s come from %s %s/%s, which splitd --config-dir %s reads from %s: edit that file (the files are the source of truth there)",
			   s->name, s->ns, id.kind, id.ns, id.name, dir, file);
		goto out;
	}
	/* An object's route: the object changes and the resulting set, every
	 * service and object, is validated and applied as a whole. */
	if ((ret = whole_state(st, cfg, idx, &full, &fidx, err)))
		goto out;
	if (full.svcs)
		set = &full;
	if ((ret = split_objs_set_route(&objs, &rules, &set->svcs[fidx], argc, argv, err)) ||
	    (ret = split_apply(st, set, &objs, NULL, err)))
		goto out;
	if (set == &full) {	/* the caller sees the service as applied */
		struct split_service t = cfg->svcs[idx];

		cfg->svcs[idx] = full.svcs[fidx];
		full.svcs[fidx] = t;
	}
	*owner = id;
	ret = 0;
out:
	split_config_free(&full);
	split_rules_free(&rules);
	split_objs_free(&objs);
	return ret;
}
