/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * istio_int.h - what the istio_*.c files share and nothing else includes:
 * the parser's entities and context, and the helpers one part uses from
 * another. The module's interface is istio.h.
 *
 *   istio_re2.c    the RE2 syntax gate (what PCRE2 accepts and RE2 does not)
 *   istio_parse.c  reading a document: names, fields, conditions, labels,
 *                  hosts, metadata, weights
 *   istio_kinds.c  the object kinds: RouteRule, VirtualService,
 *                  DestinationRule, and a document's kind
 *   istio_build.c  pass two: entities grouped by service, checked and built
 *                  into split_rules; loading files; lookups; freeing
 *   istio_print.c  split_rules_print
 *   istio_match.c  the request-time matcher (the only part the proxy runs
 *                  per request)
 */
#ifndef SPLIT_ISTIO_INT_H
#define SPLIT_ISTIO_INT_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* memmem, asprintf, qsort_r */
#endif
#define PCRE2_CODE_UNIT_WIDTH 8

#include <dirent.h>
#include <errno.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "files.h"
#include "names.h"
#include "istio.h"
#include "yaml_tree.h"

#define RR_API		"config.istio.io/v1alpha2"
#define NET_GROUP	"networking.istio.io/"
#define SVC_API		"split.dev/v1"
#define PATH_LEN	256

#define RE_COMPILE_OPTS	SPLIT_RE_COMPILE_OPTS

/* What the RE2 gate refused, and where (istio_re2.c). */
struct re_bad {
	size_t off;
	char what[128];
};

/* Where something came from: a node of a tree. */
struct pos {
	const struct yt_tree *t;
	const struct yt_node *n;
};

/* A reference from a VirtualService destination to a subset. */
struct sref {
	size_t route, dest;
	struct pos pos;		/* the subset value */
};

/* One RouteRule. */
struct rr_ent {
	char ns[SPLIT_NAME_LEN], name[SPLIT_NAME_LEN];
	char svc_ns[SPLIT_NAME_LEN], svc_name[SPLIT_NAME_LEN];
	struct pos name_pos, dest_pos;
	struct split_route route;
};

/* One VirtualService. */
struct vs_ent {
	char ns[SPLIT_NAME_LEN], name[SPLIT_NAME_LEN];
	char svc_ns[SPLIT_NAME_LEN], svc_name[SPLIT_NAME_LEN];
	char api[32];
	struct pos name_pos, host_pos;
	struct split_route *routes;
	size_t nroutes;
	struct sref *refs;
	size_t nrefs, caprefs;
};

/* One DestinationRule. */
struct dr_ent {
	char ns[SPLIT_NAME_LEN], name[SPLIT_NAME_LEN];
	char svc_ns[SPLIT_NAME_LEN], svc_name[SPLIT_NAME_LEN];
	char api[32];
	struct pos name_pos, host_pos, subsets_pos;
	struct split_subset *subsets;
	size_t nsubsets;
};

struct rp {
	struct split_err *err;
	const struct yt_tree *t;	/* of the document being read */
	const char *kind;		/* its kind, for messages */
	struct rr_ent *rr;
	size_t nrr, caprr;
	struct vs_ent *vs;
	size_t nvs, capvs;
	struct dr_ent *dr;
	size_t ndr, capdr;
};

/* A known field: why is NULL when we implement it, else what it does. */
struct fdesc {
	const char *name;
	const char *why;
};

/* istio_re2.c */
size_t ist_re_bad(struct re_bad *bad, size_t off, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int ist_re2_check(const char *p, size_t len, struct re_bad *bad);

/* istio_parse.c */
bool ist_is_alnum(char c);
char ist_lower(char c);
const char *ist_pos_str(const struct pos *p, char *buf, size_t len);
int ist_perr(struct rp *c, const struct yt_node *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int ist_perr_at(struct rp *c, const struct pos *p, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int ist_oom(struct rp *c, const struct yt_node *n);
int ist_want_map(struct rp *c, const struct yt_node *n, const char *what);
int ist_want_seq(struct rp *c, const struct yt_node *n, const char *what);
int ist_want_str(struct rp *c, const struct yt_node *n, const char *what,
		 const char **out);
void ist_join(char *buf, size_t len, const char *path, const char *key);
void ist_index_path(char *buf, size_t len, const char *path, size_t i);
int ist_check_fields(struct rp *c, const struct yt_node *m,
		     const char *path, const struct fdesc *known);
int ist_map_conds(struct rp *c, const struct yt_node *map, const char *what,
		  enum split_cond_kind kind, bool negate, bool rr,
		  struct split_match *m);
int ist_cond_cmp(const void *a, const void *b);
int ist_want_cond_room(struct rp *c, const struct yt_node *n,
		       const char *what, size_t count, struct split_match *m);
int ist_parse_vs_match(struct rp *c, const struct yt_node *n,
		       const char *path, struct split_match *m);
int ist_parse_labels(struct rp *c, const struct yt_node *n,
		     const char *path, char *version,
		     struct split_label **labels, size_t *nlabels);
int ist_labels_dup(const struct split_label *src, size_t n,
		   struct split_label **out);
int ist_resolve_host(struct rp *c, const struct yt_node *n,
		     const char *what, const char *own_ns, char *svc_ns,
		     char *svc_name);
int ist_parse_meta(struct rp *c, const struct yt_node *root, char *name,
		   char *ns, struct pos *name_pos);
int ist_check_weights(struct rp *c, const struct yt_node *list,
		      const char *path, struct split_route *r,
		      const struct yt_node *const *wnodes);

/* istio_kinds.c */
int ist_subset_cmp(const void *a, const void *b);
int ist_parse_doc(struct rp *c, const struct yt_doc *d);

/* istio_build.c */
void ist_labels_free(struct split_label *l, size_t n);

#endif /* SPLIT_ISTIO_INT_H */
