/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * istio.h - the Istio configuration front end: routing rules parsed from
 * YAML, validated in full, and matched against HTTP requests.
 *
 * Accepted documents (one or more per file, "---" separated):
 *
 *   config.istio.io/v1alpha2          RouteRule        (the seed, verbatim)
 *   networking.istio.io/v1alpha3,
 *   networking.istio.io/v1beta1,
 *   networking.istio.io/v1            VirtualService, DestinationRule
 *   split.dev/v1                      Service          (skipped here: it is
 *                                                      services_yaml.c's)
 *
 * Everything else is an error with NAME:LINE:COL, and so is every field we
 * do not implement (fault, mirror, retries, timeout, rewrite, ...): a rule
 * is never silently weakened.
 *
 * Hosts. A VirtualService host, a destination host and a DestinationRule
 * host name one Kubernetes service and are read as
 *
 *   NAME                                 service NAME in the namespace of
 *                                        the document that names it
 *   NAME.NS, NAME.NS.svc,
 *   NAME.NS.svc.cluster.local            service NAME in namespace NS
 *
 * (Istio itself resolves only the first and the last form; the other two
 * are what a client's DNS search path accepts.) Wildcards, other domains
 * and ServiceEntry hosts are rejected. A RouteRule names its service with
 * spec.destination.name (+ optional spec.destination.namespace, default:
 * the rule's own namespace). metadata.namespace defaults to "default".
 *
 * Regular expressions follow Istio: RE2 syntax, matched against the whole
 * value (full match). They are compiled with PCRE2 after every construct
 * RE2 lacks has been rejected (backreferences, lookaround, atomic groups,
 * possessive quantifiers, recursion, conditionals, callouts, \C, verbs,
 * ...). A regex that is a literal in a simple context (the cookie idiom
 * ^(.*?;)?(k=v)(;.*)?$, "lit", "lit.*", ".*lit.*") is matched as string
 * checks (re_lit.h); the others with PCRE2's JIT, and where it hits its
 * match limit, with pcre2_dfa_match(): no backtracking, time linear in
 * the value for a given pattern, memory on the caller's stack. All three
 * give, for a yes/no full match, the same answer as RE2. Differences that remain:
 * matching is byte-wise (PCRE2_UTF off, so any value can be matched): '.'
 * or [^x] is one byte, so a counted match over non-ASCII text (a.b on
 * "a\u00e9b") and (?i) on non-ASCII letters differ from RE2's UTF-8
 * reading (.* and [^;]* do not); \x{100} and above are refused. A pattern
 * whose simultaneous states overflow the DFA workspace does not match.
 */
#ifndef SPLIT_ISTIO_H
#define SPLIT_ISTIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "model.h"
#include "re_lit.h"

struct yt_node;
struct yt_tree;
struct pcre2_real_code_8;	/* pcre2_code (8-bit), opaque here */

#define SPLIT_CLUSTER_DOMAIN	"cluster.local"
#define SPLIT_RE_MAX_LEN	1024	/* Istio's own limit on a regex */
#define SPLIT_RE_MAX_REPEAT	1000	/* RE2's limit on {n,m} */
#define SPLIT_RULES_MAX_ROUTES	256	/* routes per service */
#define SPLIT_RULES_MAX_MATCHES	64	/* match blocks per route */
#define SPLIT_RULES_MAX_CONDS	64	/* conditions per match block */
#define SPLIT_RULES_MAX_DESTS	64	/* destinations per route */
#define SPLIT_RULES_MAX_SUBSETS	256	/* subsets per DestinationRule */
#define SPLIT_RULES_MAX_LABELS	64	/* labels per subset or route */
#define SPLIT_RULES_MAX_VALUE	8192	/* an exact/prefix value */
#define SPLIT_RE_MAX_CODE	8192	/* compiled size (bytes) of one regex */
/* Workspace of pcre2_dfa_match(), in ints, on split_rules_match()'s stack
 * (with an 8 KiB buffer for joined headers: about 42 KiB of stack). */
#define SPLIT_RE_DFA_WS		8192
#define SPLIT_RE_MATCH_LIMIT	10000	/* pcre2_set_match_limit */
#define SPLIT_RE_DEPTH_LIMIT	100	/* pcre2_set_depth_limit */
/* pcre2_compile() options (pcre2.h): full match, RE2-like: '$' only at
 * the very end; \d \w \s \b ASCII. Byte mode (no UTF): any value can be
 * matched, valid UTF-8 or not. */
#define SPLIT_RE_COMPILE_OPTS	(PCRE2_ANCHORED | PCRE2_ENDANCHORED |	\
				 PCRE2_DOLLAR_ENDONLY | PCRE2_NEVER_UTF |	\
				 PCRE2_NEVER_UCP | PCRE2_NEVER_BACKSLASH_C)
/* A header sent several times is matched as its values joined with ','
 * (what Envoy does); a joined value longer than this does not match. */
#define SPLIT_HDR_JOIN_MAX	8192

/* ---- the rules model ------------------------------------------------------ */

/* Which API a service's routes came from. */
enum split_rules_api {
	SPLIT_API_NONE,			/* only a DestinationRule: no routes */
	SPLIT_API_ROUTE_RULE,		/* config.istio.io/v1alpha2 RouteRule */
	SPLIT_API_VIRTUAL_SERVICE,	/* networking.istio.io VirtualService */
};

/* What a condition looks at. The order is the order inside a block. */
enum split_cond_kind {
	SPLIT_COND_URI,		/* the path, query string removed */
	SPLIT_COND_METHOD,
	SPLIT_COND_HEADER,	/* name is lower-case; compared ignoring case */
	SPLIT_COND_QUERY,	/* a query parameter; name compared exactly */
};

enum split_cond_op {
	SPLIT_OP_EXACT,
	SPLIT_OP_PREFIX,
	SPLIT_OP_REGEX,		/* full match, RE2 syntax; re is compiled */
	SPLIT_OP_PRESENT,	/* the header / parameter exists (`name: {}`) */
};

struct split_cond {
	enum split_cond_kind kind;
	enum split_cond_op op;
	/* withoutHeaders: the block matches only if this does not. As in
	 * Istio (Envoy's treat_missing_header_as_empty), a missing header
	 * is then compared as "" unless op is PRESENT. */
	bool negate;
	char *name;		/* header / query parameter; NULL for uri, method */
	char *value;		/* exact / prefix text or regex source; NULL for PRESENT */
	size_t value_len;
	struct pcre2_real_code_8 *re;	/* op == SPLIT_OP_REGEX */
	/* op == SPLIT_OP_REGEX, set by the compiler: lit.lit != NULL, the
	 * regex is a literal in context, matched as string checks
	 * (re_lit.h); else jit: re was JIT-compiled (pcre2_jit_match, with
	 * the DFA as the fallback when it hits its match limit). */
	struct re_lit lit;
	bool jit;
};

/* One match block: every condition must hold (AND). */
struct split_match {
	char *name;		/* VirtualService http[].match[].name, or NULL */
	struct split_cond *conds;	/* sorted by kind, negate, name */
	size_t nconds;
};

struct split_label {
	char *key;
	char *value;
};

struct split_dest {
	char subset[SPLIT_NAME_LEN];	/* VirtualService subset, "" if none */
	/* Value of the `version` label: from the DestinationRule subset
	 * (VirtualService) or route[].labels (RouteRule). "" means the
	 * destination named no subset: every endpoint of the service. */
	char version[SPLIT_NAME_LEN];
	struct split_label *labels;	/* all labels of the subset / route */
	size_t nlabels;
	uint32_t weight;		/* 0..100; a route's weights sum to 100 */
	uint16_t port;			/* destination.port.number, 0 if none */
};

struct split_route {
	/* RouteRule: metadata.name and .namespace, and precedence.
	 * VirtualService: http[].name (or NULL), ns "" and precedence 0. */
	char *name;
	char ns[SPLIT_NAME_LEN];
	int32_t precedence;
	/* Match blocks, ORed. None: the route takes every request (the
	 * default route); it is then the service's last route. */
	struct split_match *matches;
	size_t nmatches;
	struct split_dest *dests;	/* at least one */
	size_t ndests;
};

struct split_subset {
	char name[SPLIT_NAME_LEN];
	char version[SPLIT_NAME_LEN];	/* its `version` label (required) */
	struct split_label *labels;	/* sorted by key */
	size_t nlabels;
};

struct split_rules_service {
	char ns[SPLIT_NAME_LEN];
	char name[SPLIT_NAME_LEN];
	enum split_rules_api api;
	/* Ordered: the first route that matches wins. RouteRules sorted by
	 * precedence (highest first), then namespace and name; a
	 * VirtualService's http[] in document order. */
	struct split_route *routes;
	size_t nroutes;
	/* The VirtualService (api == SPLIT_API_VIRTUAL_SERVICE). */
	char vs_name[SPLIT_NAME_LEN];
	char vs_ns[SPLIT_NAME_LEN];
	char vs_api_version[32];
	/* The DestinationRule, if any (has_dr). */
	bool has_dr;
	char dr_name[SPLIT_NAME_LEN];
	char dr_ns[SPLIT_NAME_LEN];
	char dr_api_version[32];
	struct split_subset *subsets;	/* sorted by name */
	size_t nsubsets;
};

struct split_rules {
	struct split_rules_service *svcs;	/* sorted by namespace, name */
	size_t nsvcs;
};

/* ---- loading -------------------------------------------------------------- */

/*
 * Load rules from files and directories (a directory: its *.yaml and *.yml
 * files, not starting with '.', in name order, not recursive). All
 * documents of all files form one configuration: conflicts across files
 * are errors. Documents of kind Service (split.dev/v1) are skipped.
 *
 * Returns 0 with *out filled (free with split_rules_free), or -errno with err
 * set ("FILE:LINE:COL: message") and *out untouched; nothing is leaked.
 */
int split_rules_load(const char **paths, size_t n, struct split_rules *out,
		     struct split_err *err);
/* Same, from one buffer; name is used in messages. */
int split_rules_parse(const char *name, const char *buf, size_t len,
		      struct split_rules *out, struct split_err *err);
/* Same, from YAML trees already parsed with yt_parse() (e.g. a mixed
 * file whose Service documents go to the services parser). The trees are
 * only read; *out does not point into them. */
int split_rules_from_trees(const struct yt_tree *const *trees, size_t n,
			   struct split_rules *out, struct split_err *err);

void split_rules_free(struct split_rules *rules);

/* What a YAML document is, to split a mixed file between the parsers. */
enum split_doc_class {
	SPLIT_DOC_EMPTY,	/* an empty document: skip */
	SPLIT_DOC_SERVICE,	/* apiVersion split.dev/v1, kind Service */
	SPLIT_DOC_RULES,	/* RouteRule, VirtualService, DestinationRule,
				 * or any other *.istio.io kind (rejected by
				 * the rules parser with a message) */
	SPLIT_DOC_OTHER,	/* anything else */
};
enum split_doc_class split_doc_classify(const struct yt_node *root);

/* The rules of service ns/name, or NULL. */
const struct split_rules_service *
split_rules_find(const struct split_rules *rules, const char *ns,
		 const char *name);

/* true when some route of svc has a match block, i.e. requests must be
 * looked at (the L7 proxy); false when the service's routing is a plain
 * weighted split (or nothing) that the socket hooks can do alone. */
bool split_rules_service_is_l7(const struct split_rules_service *svc);

/*
 * Print the rules as YAML documents that split_rules_parse() reads back
 * to the same rules: per service (in namespace/name order) its RouteRules
 * (in match order) or its VirtualService (hosts as FQDNs), then its
 * DestinationRule (subsets and labels sorted). Returns 0, or -EIO on a
 * write error.
 */
int split_rules_print(FILE *f, const struct split_rules *rules);

/* ---- matching ------------------------------------------------------------- */

struct split_http_header {
	const char *name;	/* any case */
	size_t name_len;
	const char *value;
	size_t value_len;
};

struct split_http_param {
	const char *name;
	size_t name_len;
	const char *value;	/* "" for "?flag" */
	size_t value_len;
};

struct split_http_request {
	const char *method;
	size_t method_len;
	const char *path;	/* request target without "?query" */
	size_t path_len;
	const struct split_http_header *headers;
	size_t nheaders;
	/* Query parameters in request order; a name given twice is matched
	 * by its first value (Envoy). Not percent-decoded: config values
	 * are compared with the raw text. */
	const struct split_http_param *params;
	size_t nparams;
};

/*
 * Set req->path and req->params from an origin-form request target
 * ("/p/a?x=1&y&z=2"): the path is the text before '?', the query is split
 * on '&' and each piece on its first '=' (no '=': value ""); empty pieces
 * are skipped, a '#fragment' is dropped. Pointers go into target: nothing
 * is copied or decoded. At most max parameters are stored in params[];
 * returns how many the target has (more than max: the rest is ignored).
 */
size_t split_http_set_target(struct split_http_request *req,
			     const char *target, size_t len,
			     struct split_http_param *params, size_t max);

/*
 * Index of the first route of svc that matches req, or -1 if none does
 * (a VirtualService then answers 404 in Istio; a RouteRule service falls
 * back to plain service routing). A route matches if it has no match
 * block or one of its blocks matches; a block matches if all its
 * conditions hold. A regex that fails to run (DFA workspace) fails its
 * block, negated or not. Pure: no allocation, no global state; safe from any thread.
 */
int split_rules_match(const struct split_rules_service *svc,
		      const struct split_http_request *req);

#endif /* SPLIT_ISTIO_H */
