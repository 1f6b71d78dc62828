/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * apply.h - the desired state (services + Istio objects) and the one path
 * by which it goes into the maps: validate all, compile, commit.
 */
#ifndef SPLIT_APPLY_H
#define SPLIT_APPLY_H

#include "istio.h"
#include "state.h"

/* An Istio object (RouteRule, VirtualService, DestinationRule) as applied,
 * identified like kubectl does: kind, namespace, name. */
struct split_obj {
	char kind[SPLIT_KIND_LEN];
	char ns[SPLIT_NAME_LEN];
	char name[SPLIT_NAME_LEN];
	char *json;		/* the object, one line of JSON */
};

struct split_objs {
	struct split_obj *v;
	size_t n;
};

void split_objs_free(struct split_objs *o);

/*
 * Read files and directories (a directory: its *.yaml / *.yml files not
 * starting with '.', in name order; symlinks followed, as in a Kubernetes
 * ConfigMap volume). Service documents go to svcs, Istio documents to
 * objs. Everything is validated as one configuration first; errors name
 * FILE:LINE:COL. 0, or -1 with nothing returned.
 */
int split_load_paths(const char *const *paths, size_t n, struct split_config *svcs,
		     struct split_objs *objs, struct split_err *err);

/* Objects in force (from the `objects` map). */
int split_objs_read(struct split_state *st, struct split_objs *objs,
		    struct split_err *err);

/* The rules that objs make (validated as a whole). */
int split_objs_rules(const struct split_objs *objs, struct split_rules *rules,
		     struct split_err *err);

/* dst gets every object of src, replacing those with the same identity. */
int split_objs_merge(struct split_objs *dst, const struct split_objs *src);
/* Remove from dst the objects named in src; returns how many. */
size_t split_objs_remove(struct split_objs *dst, const struct split_objs *src);

/*
 * Make the maps hold exactly svcs and objs. The rules compiled from objs
 * must name known services and versions; a service's default route (the
 * route without a match) sets its weights, routes with matches go to the
 * L7 maps and mark the service L7. A service whose rules went away gets
 * an equal share per endpoint again. All checks come before any write.
 * Caller holds the state lock. svcs is modified (weights, flags).
 */
int split_apply(struct split_state *st, struct split_config *svcs,
		const struct split_objs *objs, struct split_err *err);

#endif
