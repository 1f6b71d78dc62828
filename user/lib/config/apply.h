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
	/* Where it was read from (split_input_load), for FILE:LINE:COL in
	 * messages; NULL for objects read from the maps. Borrowed. */
	const struct yt_tree *tree;
	const struct yt_node *root;
};

struct split_objs {
	struct split_obj *v;
	size_t n;
};

void split_objs_free(struct split_objs *o);

/*
 * What files hold: services, and Istio objects with the parsed files they
 * came from. Loading checks each document on its own (YAML, the services
 * parser, an object's identity and size, no object twice); whether the
 * objects make a valid configuration is decided only on the whole set
 * they join (split_apply), since they may need objects in force.
 */
struct split_input {
	struct split_config svcs;	/* Service documents */
	struct split_objs objs;		/* Istio documents, in file order */
	struct yt_tree *trees;		/* the files, parsed */
	size_t ntrees;
	/* split_input_load_cached(): trees are the parts of the files kept
	 * by the cache (not freed with the input), and istio[i] says whether
	 * trees[i] holds an Istio document (the others hold Service documents
	 * only, already checked: the rules skip them). NULL: unknown. */
	bool borrowed;
	bool *istio;
	/* split_input_load(): each file's bytes as read and parsed, in the
	 * order read (split_bytes_hash and length). */
	struct split_file_sum {
		__u64 hash;
		size_t len;
	} *sums;
	size_t nsums;
};

/*
 * Read files and directories (a directory: its *.yaml / *.yml files not
 * starting with '.', in name order; symlinks followed, as in a Kubernetes
 * ConfigMap volume). Errors name FILE:LINE:COL. 0, or -errno with in zeroed.
 */
int split_input_load(const char *const *paths, size_t n, struct split_input *in,
		     struct split_err *err);
void split_input_free(struct split_input *in);

/*
 * A long-lived reader of the same files (splitd) keeps, per document (the
 * bytes between two "---" lines), its bytes and what they parsed to: a
 * reload parses only the documents whose bytes changed, were added or
 * moved in from elsewhere, and redoes every check that spans documents
 * (a file's totals, duplicate services and VIPs, Istio objects' identity,
 * services defined twice) on the whole set. The result is what
 * split_input_load() gives for the same files, positions included: on any
 * error, or a file the split into documents cannot be sure of (YAML
 * directives, line breaks other than \n and \r\n), it is what
 * split_input_load() does. The input borrows the cache's trees: free it
 * before the next load with the same cache.
 */
struct split_input_cache;
struct split_input_cache *split_input_cache_new(void);
void split_input_cache_free(struct split_input_cache *c);
int split_input_load_cached(const char *const *paths, size_t n,
			    struct split_input_cache *c, struct split_input *in,
			    struct split_err *err);
/* How the cache cuts a file into documents: whether it can (see there),
 * and where the document that starts at off ends (the start of the next
 * line that starts with "---", or len). */
bool split_docs_cuttable(const char *b, size_t len);
size_t split_doc_end(const char *b, size_t len, size_t off);

/* Documents the last load parsed, and those it took from the cache. */
void split_input_cache_stats(const struct split_input_cache *c, size_t *parsed,
			     size_t *reused);

/* Every Istio object of in names itself: kind RouteRule, VirtualService
 * or DestinationRule, and metadata.name (what `delete` needs). */
int split_input_check_ids(const struct split_input *in, struct split_err *err);

/* The input's objects validated as a configuration of their own (splitd's
 * check of a config dir before it touches the kernel). */
int split_input_check(const struct split_input *in, struct split_err *err);

/* Objects in force (from the `objects` map). */
int split_objs_read(struct split_state *st, struct split_objs *objs,
		    struct split_err *err);

/* The rules that objs make (validated as a whole). */
int split_objs_rules(const struct split_objs *objs, struct split_rules *rules,
		     struct split_err *err);

/* dst gets every object of src, replacing those with the same identity.
 * 0 or -ENOMEM. */
int split_objs_merge(struct split_objs *dst, const struct split_objs *src);
/* Remove from dst the objects named in src; returns how many. */
size_t split_objs_remove(struct split_objs *dst, const struct split_objs *src);
/* The object of that identity in o, or NULL. */
struct split_obj *split_objs_find(const struct split_objs *o, const char *kind,
				  const char *ns, const char *name);
/* Replace obj's JSON text with a copy of json. 0 or -ENOMEM. */
int split_obj_set_json(struct split_obj *obj, const char *json);

/*
 * Make the maps hold exactly svcs and objs: the resulting set of a
 * command (objects in force plus or minus the command's), validated and
 * compiled as a whole, as if it were applied at once to empty maps. The
 * rules compiled from objs must name known services, and versions that
 * have endpoints; a service's default route (the route without a match)
 * sets its weights, routes with matches go to the L7 maps and mark the
 * service L7. A service whose default route went away gets an equal share
 * per endpoint again. All checks come before any write; then only what
 * differs is written, and if a write fails the previous state (services,
 * objects, L7 rules) is put back. Objects of objs that come from `in`
 * (may be NULL) are checked in their files, so errors name FILE:LINE:COL;
 * the others are named "KIND NS/NAME (in force)". Caller holds the state
 * lock. svcs is modified (weights, flags). 0, or -errno with err (when a
 * rollback failed too, err says so).
 */
int split_apply(struct split_state *st, struct split_config *svcs,
		const struct split_objs *objs, const struct split_input *in,
		struct split_err *err);

/* ---- who owns the objects (the owners map) ------------------------------ */

/* Record that the files under config dir `dir` own objs (each object's
 * file is its tree's name), or, with dir NULL, that nobody but splitctl
 * does (the map is emptied). Creates and pins the map if needed. */
int split_owners_write(const char *pin_dir, const struct split_objs *objs,
		       const char *dir, struct split_err *err);
/* 1 when a file owns the object (its path in file, the config dir in
 * dir), 0 when not. */
int split_owner_of(const char *pin_dir, const char *kind, const char *ns,
		   const char *name, char *file, size_t flen, char *dir, size_t dlen);

/* ---- splitctl set on an object's default route (setroute.c) -------------- */

/* 1 when the weights of service ns/name come from an object's default
 * route (a RouteRule without a match, or a VirtualService's last http
 * route, without a match), with that object's identity in *id; else 0. */
int split_weights_owner(const struct split_rules *rules, const char *ns,
			const char *name, struct split_object_key *id);

/*
 * `splitctl set SERVICE NAME=WEIGHT...` on such a service: the weights of
 * that default route change in that object's JSON in objs, as `kubectl
 * patch` would; its matches and every other route stay. NAME is a version
 * of the service (RouteRule), or a subset of the service's DestinationRule
 * or the version label of exactly one of them (VirtualService). Weights
 * are relative but must scale exactly to percentages (Istio's weights add
 * up to 100): v1=1 v2=1 is 50/50, v1=1 v2=2 is refused. Names with weight
 * 0 leave the route. An existing destination of a named version keeps its
 * other fields (host, port, labels); a new one copies the route's host and
 * port. 0, or -errno with err set and objs unchanged. The caller validates the
 * resulting set (split_apply).
 */
int split_objs_set_route(struct split_objs *objs, const struct split_rules *rules,
			 const struct split_service *svc, int argc, char **argv,
			 struct split_err *err);

/*
 * `splitctl set`'s whole change, under the state lock, all or nothing:
 * service idx of cfg (read from the state in force: split_state_read(), or
 * that service alone with split_state_read_service()) gets the weights argv
 * names. Where an object's default route sets them, that route changes in
 * that object (split_objs_set_route) and the resulting set is applied (all
 * services read, if cfg held one), with the object's identity in *owner;
 * under splitd --config-dir that is refused, naming the file to edit. Else
 * the service's own weights change (owner->kind ""), and a cfg read with
 * split_state_read_service() is committed for that service alone. On
 * success cfg->svcs[idx] is the service as applied. 0, or -errno with err.
 */
int split_set_weights(struct split_state *st, struct split_config *cfg, size_t idx,
		      int argc, char **argv, struct split_object_key *owner,
		      struct split_err *err);

#endif
