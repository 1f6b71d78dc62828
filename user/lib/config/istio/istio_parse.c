// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * istio_parse.c - reading one Istio document: names, known fields, match
 * conditions (compiled regexes), labels, hosts, metadata and weights, with
 * errors at FILE:LINE:COL. See istio_int.h.
 */
#include "istio_int.h"

/* ---- names ---------------------------------------------------------------- */

bool ist_is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* A resource name: a DNS-1123 subdomain, here at most 63 characters. */
static bool valid_object_name(const char *s)
{
	size_t len = strlen(s), start = 0;

	if (!len || len > 63)
		return false;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != '.')
			continue;
		if (!split_dns_label_ok(s + start, i - start, false))
			return false;
		start = i + 1;
	}
	return true;
}

/* Kubernetes label key: [prefix/]name, prefix a DNS subdomain (<= 253),
 * name like a label value but not empty. */
static bool valid_label_key(const char *s)
{
	const char *slash = strchr(s, '/');
	const char *name = slash ? slash + 1 : s;

	if (!*name || !split_label_value_ok(name))
		return false;
	if (slash) {
		size_t plen = (size_t)(slash - s), start = 0;

		if (!plen || plen > 253)
			return false;
		for (size_t i = 0; i <= plen; i++) {
			if (i < plen && s[i] != '.')
				continue;
			if (!split_dns_label_ok(s + start, i - start, false))
				return false;
			start = i + 1;
		}
	}
	return true;
}

/* RFC 9110 token character (header names). */
static bool is_tchar(char c)
{
	return ist_is_alnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

char ist_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* ---- the parser ----------------------------------------------------------- */

const char *ist_pos_str(const struct pos *p, char *buf, size_t len)
{
	if (!p->n)
		snprintf(buf, len, "%s", p->t ? p->t->name : "?");
	else
		snprintf(buf, len, "%s:%u:%u", p->t->name, p->n->line,
			 p->n->col);
	return buf;
}

int ist_perr(struct rp *c, const struct yt_node *n, const char *fmt, ...)
{
	char msg[SPLIT_ERR_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return yt_errf(c->err, c->t, n, "%s", msg);
}

/* An error at a node of another tree. */
int ist_perr_at(struct rp *c, const struct pos *p, const char *fmt, ...)
{
	char msg[SPLIT_ERR_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return yt_errf(c->err, p->t, p->n, "%s", msg);
}

int ist_oom(struct rp *c, const struct yt_node *n)
{
	return ist_perr(c, n, "out of memory");
}

static char *memdup0(const char *s, size_t len)
{
	char *p = malloc(len + 1);

	if (p) {
		memcpy(p, s, len);
		p[len] = '\0';
	}
	return p;
}

int ist_want_map(struct rp *c, const struct yt_node *n, const char *what)
{
	if (n->kind == YT_MAPPING)
		return 0;
	return ist_perr(c, n, "%s must be a mapping, not %s", what, yt_kind_str(n));
}

int ist_want_seq(struct rp *c, const struct yt_node *n, const char *what)
{
	if (n->kind == YT_SEQUENCE)
		return 0;
	return ist_perr(c, n, "%s must be a list, not %s", what, yt_kind_str(n));
}

/* A scalar that is not null: the text in *out. */
int ist_want_str(struct rp *c, const struct yt_node *n, const char *what,
		 const char **out)
{
	if (n->kind != YT_SCALAR || yt_is_null(n))
		return ist_perr(c, n, "%s must be a string, not %s", what,
			    yt_kind_str(n));
	*out = n->scalar.value;
	return 0;
}

/* buf = a b c, cut to fit: paths only appear in messages. */
static void cat3(char *buf, size_t len, const char *a, const char *b,
		 const char *c)
{
	const char *parts[3] = { a, b, c };
	size_t n = 0;

	for (int i = 0; i < 3; i++) {
		size_t l = strlen(parts[i]);

		if (l > len - 1 - n)
			l = len - 1 - n;
		memcpy(buf + n, parts[i], l);
		n += l;
	}
	buf[n] = '\0';
}

/* path.key (key cut to 64 bytes) */
void ist_join(char *buf, size_t len, const char *path, const char *key)
{
	char k[65];

	snprintf(k, sizeof(k), "%s", key);
	cat3(buf, len, path, *path ? "." : "", k);
}

/* path[i] */
void ist_index_path(char *buf, size_t len, const char *path, size_t i)
{
	char num[32];

	snprintf(num, sizeof(num), "[%zu]", i);
	cat3(buf, len, path, num, "");
}

/* Every key of mapping m must be a known, supported field. */
int ist_check_fields(struct rp *c, const struct yt_node *m,
		     const char *path, const struct fdesc *known)
{
	const struct yt_pair *p;
	char what[PATH_LEN];

	yt_map_for_each(p, m) {
		const char *k = p->key->scalar.value;
		const struct fdesc *d;

		for (d = known; d->name && strcmp(d->name, k); d++)
			;
		ist_join(what, sizeof(what), path, k);
		if (!d->name)
			return ist_perr(c, p->key, "unknown %s field '%s'", c->kind,
				    what);
		if (d->why)
			return ist_perr(c, p->key,
				    "%s field '%s' is not supported (%s)",
				    c->kind, what, d->why);
	}
	return 0;
}

/* ---- conditions ----------------------------------------------------------- */

static int compile_re(struct rp *c, const struct yt_node *n, const char *what,
		      const char *re, size_t len, pcre2_code **out)
{
	PCRE2_UCHAR msg[160];
	PCRE2_SIZE eoff = 0;
	struct re_bad bad;
	size_t size = 0;
	pcre2_code *code;
	int ec = 0;

	if (len > SPLIT_RE_MAX_LEN)
		return ist_perr(c, n, "%s: regex is too long (%zu bytes, limit %d)",
			    what, len, SPLIT_RE_MAX_LEN);
	if (ist_re2_check(re, len, &bad))
		return ist_perr(c, n,
			    "%s: regex '%.64s': %s at offset %zu is not supported (Istio regexes are RE2 syntax)",
			    what, re, bad.what, bad.off);
	code = pcre2_compile((PCRE2_SPTR)re, len, RE_COMPILE_OPTS, &ec, &eoff,
			     NULL);
	if (!code) {
		if (ec == PCRE2_ERROR_NOMEMORY)
			return ist_oom(c, n);
		pcre2_get_error_message(ec, msg, sizeof(msg));
		return ist_perr(c, n, "%s: invalid regex '%.64s' at offset %zu: %s",
			    what, re, (size_t)eoff, (const char *)msg);
	}
	pcre2_pattern_info(code, PCRE2_INFO_SIZE, &size);
	if (size > SPLIT_RE_MAX_CODE) {
		pcre2_code_free(code);
		return ist_perr(c, n,
			    "%s: regex '%.64s' is too complex (%zu bytes compiled, limit %d)",
			    what, re, size, SPLIT_RE_MAX_CODE);
	}
	*out = code;
	return 0;
}

/* '.' is every byte but '\n' only when PCRE2's newline is LF (RE2's
 * reading); re_lit assumes it. */
static bool newline_is_lf(void)
{
	static int lf = -1;
	uint32_t nl = 0;

	if (lf < 0)
		lf = pcre2_config(PCRE2_CONFIG_NEWLINE, &nl) < 0 ? 0 :
		     nl == PCRE2_NEWLINE_LF;
	return lf;
}

/* How cond's compiled regex re will run: as string checks if it is a
 * literal in context (re_lit.h), else JIT-compiled if PCRE2 can, else
 * with the DFA. -ENOMEM only when out of memory. */
static int prepare_re(struct split_cond *cond, const char *re, size_t len)
{
	if (newline_is_lf()) {
		int r = re_lit_compile(re, len, &cond->lit);

		if (!r)
			return 0;
		if (r == -ENOMEM)
			return r;
	}
	cond->jit = !pcre2_jit_compile(cond->re, PCRE2_JIT_COMPLETE);
	return 0;
}

/*
 * A StringMatch {exact|prefix|regex: STRING} at n into cond (kind, name
 * and negate are already set).
 *
 * Empty values, as Istio documents and implements them:
 *  - headers/withoutHeaders/queryParams `NAME: {}` (no match type) tests
 *    that the header or parameter is present. istio/api
 *    networking/v1alpha3/virtual_service.proto, HTTPMatchRequest.headers:
 *    "If the value is empty and only the name of header is specified,
 *    presence of the header is checked. To provide an empty value, use {}";
 *    Istio's pilot (route.go, canBeConvertedToPresentMatch) turns a nil
 *    match type into Envoy's present_match. A null value (`NAME:`) is
 *    rejected ("header match NAME cannot be null", Istio's validation).
 *  - `regex: "*"` is also turned into present_match by Istio (istio/istio
 *    pull 20629: '*' is not a valid RE2 regex); we do the same.
 *  - `exact: ""` is an exact match against the empty value ("?key" for
 *    a query parameter, as the queryParams doc says).
 *  - `prefix: ""` and `regex: ""` are rejected, as Istio's validation
 *    does ("prefix/regex string match should not be empty").
 *  - prefix is not supported for queryParams (Istio doc).
 *  - uri and method need one of exact, prefix, regex: `uri: {}` would
 *    match everything, which is what leaving it out says.
 */
static int parse_sm(struct rp *c, const struct yt_node *n, const char *what,
		    struct split_cond *cond)
{
	static const struct fdesc known[] = {
		{ "exact", NULL }, { "prefix", NULL }, { "regex", NULL },
		{ NULL, NULL }
	};
	bool named = cond->kind == SPLIT_COND_HEADER ||
		     cond->kind == SPLIT_COND_QUERY;
	const struct yt_pair *p;
	const char *k, *v;
	char path[PATH_LEN];
	size_t len;

	if (yt_is_null(n)) {
		if (named)
			return ist_perr(c, n,
				    "%s must not be null (use {} to test that it is present)",
				    what);
		return ist_perr(c, n,
			    "%s must be a mapping with one of exact, prefix or regex, not null",
			    what);
	}
	if (n->kind != YT_MAPPING)
		return ist_perr(c, n,
			    "%s must be a mapping with one of exact, prefix or regex, not %s",
			    what, yt_kind_str(n));
	if (ist_check_fields(c, n, what, known))
		return -EINVAL;
	if (!n->map.n) {
		if (named) {
			cond->op = SPLIT_OP_PRESENT;
			return 0;
		}
		return ist_perr(c, n, "%s must set one of exact, prefix or regex",
			    what);
	}
	if (n->map.n > 1)
		return ist_perr(c, n->map.pairs[1].key,
			    "%s: set only one of exact, prefix and regex (found '%s' and '%s')",
			    what, n->map.pairs[0].key->scalar.value,
			    n->map.pairs[1].key->scalar.value);
	p = &n->map.pairs[0];
	k = p->key->scalar.value;
	ist_join(path, sizeof(path), what, k);
	if (p->value->kind != YT_SCALAR || yt_is_null(p->value))
		return ist_perr(c, p->value,
			    "%s must be a string, not %s (write \"\" for an empty value)",
			    path, yt_kind_str(p->value));
	v = p->value->scalar.value;
	len = p->value->scalar.len;
	if (!strcmp(k, "exact")) {
		cond->op = SPLIT_OP_EXACT;
	} else if (!strcmp(k, "prefix")) {
		if (cond->kind == SPLIT_COND_QUERY)
			return ist_perr(c, p->key,
				    "%s: prefix matching of query parameters is not supported by Istio (use exact or regex)",
				    path);
		if (!len)
			return ist_perr(c, p->value,
				    "%s must not be empty (%s)", path,
				    named ? "use {} to test that it is present" :
					    "leave the field out to match everything");
		cond->op = SPLIT_OP_PREFIX;
	} else {
		if (!len)
			return ist_perr(c, p->value, "%s must not be empty", path);
		if (named && !strcmp(v, "*")) {
			cond->op = SPLIT_OP_PRESENT;
			return 0;
		}
		cond->op = SPLIT_OP_REGEX;
		if (compile_re(c, p->value, path, v, len, &cond->re))
			return -EINVAL;
		if (prepare_re(cond, v, len))
			return ist_oom(c, p->value);
	}
	if (len > SPLIT_RULES_MAX_VALUE)
		return ist_perr(c, p->value, "%s is too long (%zu bytes, limit %d)",
			    path, len, SPLIT_RULES_MAX_VALUE);
	cond->value = memdup0(v, len);
	if (!cond->value)
		return ist_oom(c, p->value);
	cond->value_len = len;
	return 0;
}

/* A header name from a headers/withoutHeaders map key. rr: a RouteRule,
 * where the keys uri and method mean the URI and the method (v1alpha2). */
static int header_cond(struct rp *c, const struct yt_node *key,
		       const char *what, bool rr, struct split_cond *cond)
{
	const char *k = key->scalar.value;
	size_t len = key->scalar.len;

	if (rr && !strcasecmp(k, "uri")) {
		cond->kind = SPLIT_COND_URI;
		return 0;
	}
	if (rr && !strcasecmp(k, "method")) {
		cond->kind = SPLIT_COND_METHOD;
		return 0;
	}
	if (rr && (!strcasecmp(k, "scheme") || !strcasecmp(k, "authority")))
		return ist_perr(c, key, "%s field '%s' is not supported (%s matching)",
			    c->kind, what, k);
	if (!rr && (!strcasecmp(k, "uri") || !strcasecmp(k, "method") ||
		    !strcasecmp(k, "scheme") || !strcasecmp(k, "authority")))
		return ist_perr(c, key,
			    "%s: header key '%s' is not supported (Istio ignores it; %s)",
			    what, k,
			    !strcasecmp(k, "uri") ? "use match.uri" :
			    !strcasecmp(k, "method") ? "use match.method" :
			    "scheme and authority matching are not supported");
	if (!len)
		return ist_perr(c, key, "%s: the header name must not be empty", what);
	if (k[0] == ':')
		return ist_perr(c, key,
			    "%s: pseudo-header '%.64s' is not supported (use uri or method)",
			    what, k);
	if (k[0] == '@')
		return ist_perr(c, key,
			    "%s: JWT claim matching (@request.auth.claims) is not supported",
			    what);
	for (size_t i = 0; i < len; i++)
		if (!is_tchar(k[i]))
			return ist_perr(c, key,
				    "%s: '%.64s' is not a valid HTTP header name",
				    what, k);
	cond->kind = SPLIT_COND_HEADER;
	cond->name = memdup0(k, len);
	if (!cond->name)
		return ist_oom(c, key);
	for (size_t i = 0; i < len; i++)
		cond->name[i] = ist_lower(cond->name[i]);
	return 0;
}

/* Conditions from a map NAME -> StringMatch (headers, withoutHeaders,
 * queryParams), appended to m->conds (room is there). */
int ist_map_conds(struct rp *c, const struct yt_node *map, const char *what,
		  enum split_cond_kind kind, bool negate, bool rr,
		  struct split_match *m)
{
	const struct yt_pair *p;
	char path[PATH_LEN];
	size_t first = m->nconds;

	yt_map_for_each(p, map) {
		struct split_cond *cond = &m->conds[m->nconds++];
		const char *k = p->key->scalar.value;

		ist_join(path, sizeof(path), what, k);
		cond->negate = negate;
		if (kind == SPLIT_COND_HEADER) {
			if (header_cond(c, p->key, path, rr, cond))
				return -EINVAL;
		} else {
			cond->kind = SPLIT_COND_QUERY;
			if (!*k || strpbrk(k, "&=#? \t"))
				return ist_perr(c, p->key,
					    "%s: '%.64s' is not a valid query parameter name",
					    what, k);
			cond->name = strdup(k);
			if (!cond->name)
				return ist_oom(c, p->key);
		}
		if (parse_sm(c, p->value, path, cond))
			return -EINVAL;
		/* Keys are unique in YAML, but not once lower-cased. */
		for (size_t i = first; cond->name && i + 1 < m->nconds; i++) {
			if (!m->conds[i].name || m->conds[i].kind != cond->kind ||
			    strcmp(m->conds[i].name, cond->name))
				continue;
			return ist_perr(c, p->key,
				    "%s: header '%s' is given twice (header names ignore case)",
				    what, cond->name);
		}
	}
	return 0;
}

int ist_cond_cmp(const void *a, const void *b)
{
	const struct split_cond *x = a, *y = b;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	if (x->negate != y->negate)
		return x->negate ? 1 : -1;
	return strcmp(x->name ? x->name : "", y->name ? y->name : "");
}

int ist_want_cond_room(struct rp *c, const struct yt_node *n,
		       const char *what, size_t count, struct split_match *m)
{
	if (count > SPLIT_RULES_MAX_CONDS)
		return ist_perr(c, n, "%s: too many conditions (%zu, limit %d)",
			    what, count, SPLIT_RULES_MAX_CONDS);
	m->conds = calloc(count ? count : 1, sizeof(*m->conds));
	if (!m->conds)
		return ist_oom(c, n);
	return 0;
}

/* One VirtualService http[].match[] block. */
int ist_parse_vs_match(struct rp *c, const struct yt_node *n,
		       const char *path, struct split_match *m)
{
	static const struct fdesc known[] = {
		{ "name", NULL }, { "uri", NULL }, { "method", NULL },
		{ "headers", NULL }, { "queryParams", NULL },
		{ "withoutHeaders", NULL },
		{ "scheme", "scheme matching" },
		{ "authority", "authority matching" },
		{ "port", "port matching" },
		{ "sourceLabels", "source label matching" },
		{ "sourceNamespace", "source namespace matching" },
		{ "gateways", "gateway matching" },
		{ "ignoreUriCase", "case-insensitive URI matching" },
		{ "statPrefix", "stat prefixes" },
		{ NULL, NULL }
	};
	const struct yt_node *uri, *method, *hdrs, *qp, *wh, *name;
	char what[PATH_LEN];
	size_t count = 0;
	const char *s = "";

	if (ist_want_map(c, n, path) || ist_check_fields(c, n, path, known))
		return -EINVAL;
	uri = yt_field(n, "uri");
	method = yt_field(n, "method");
	hdrs = yt_field(n, "headers");
	qp = yt_field(n, "queryParams");
	wh = yt_field(n, "withoutHeaders");
	name = yt_field(n, "name");
	if (name) {
		ist_join(what, sizeof(what), path, "name");
		if (ist_want_str(c, name, what, &s))
			return -EINVAL;
		m->name = strdup(s);
		if (!m->name)
			return ist_oom(c, name);
	}
	count = !!uri + !!method;
	if (hdrs) {
		ist_join(what, sizeof(what), path, "headers");
		if (ist_want_map(c, hdrs, what))
			return -EINVAL;
		count += hdrs->map.n;
	}
	if (wh) {
		ist_join(what, sizeof(what), path, "withoutHeaders");
		if (ist_want_map(c, wh, what))
			return -EINVAL;
		count += wh->map.n;
	}
	if (qp) {
		ist_join(what, sizeof(what), path, "queryParams");
		if (ist_want_map(c, qp, what))
			return -EINVAL;
		count += qp->map.n;
	}
	/* Istio: "HTTPMatchRequest CANNOT be empty". */
	if (!count)
		return ist_perr(c, n,
			    "%s: an empty match block is not allowed (it would match every request; leave 'match' out for that)",
			    path);
	if (ist_want_cond_room(c, n, path, count, m))
		return -EINVAL;
	if (uri) {
		struct split_cond *cond = &m->conds[m->nconds++];

		cond->kind = SPLIT_COND_URI;
		ist_join(what, sizeof(what), path, "uri");
		if (parse_sm(c, uri, what, cond))
			return -EINVAL;
	}
	if (method) {
		struct split_cond *cond = &m->conds[m->nconds++];

		cond->kind = SPLIT_COND_METHOD;
		ist_join(what, sizeof(what), path, "method");
		if (parse_sm(c, method, what, cond))
			return -EINVAL;
	}
	if (hdrs) {
		ist_join(what, sizeof(what), path, "headers");
		if (ist_map_conds(c, hdrs, what, SPLIT_COND_HEADER, false, false, m))
			return -EINVAL;
	}
	if (wh) {
		ist_join(what, sizeof(what), path, "withoutHeaders");
		if (ist_map_conds(c, wh, what, SPLIT_COND_HEADER, true, false, m))
			return -EINVAL;
	}
	if (qp) {
		ist_join(what, sizeof(what), path, "queryParams");
		if (ist_map_conds(c, qp, what, SPLIT_COND_QUERY, false, false, m))
			return -EINVAL;
	}
	qsort(m->conds, m->nconds, sizeof(*m->conds), ist_cond_cmp);
	return 0;
}

/* ---- labels, hosts, metadata ---------------------------------------------- */

static int label_cmp(const void *a, const void *b)
{
	const struct split_label *x = a, *y = b;

	return strcmp(x->key, y->key);
}

/* A labels mapping: every key and value valid, `version` present and not
 * empty; *labels sorted by key. */
int ist_parse_labels(struct rp *c, const struct yt_node *n,
		     const char *path, char *version,
		     struct split_label **labels, size_t *nlabels)
{
	const struct yt_pair *p;
	char what[PATH_LEN];
	const char *s = "";
	size_t i = 0;

	if (ist_want_map(c, n, path))
		return -EINVAL;
	if (n->map.n > SPLIT_RULES_MAX_LABELS)
		return ist_perr(c, n, "%s: too many labels (limit %d)", path,
			    SPLIT_RULES_MAX_LABELS);
	*labels = calloc(n->map.n ? n->map.n : 1, sizeof(**labels));
	if (!*labels)
		return ist_oom(c, n);
	yt_map_for_each(p, n) {
		struct split_label *l = &(*labels)[i++];

		ist_join(what, sizeof(what), path, p->key->scalar.value);
		*nlabels = i;
		if (!valid_label_key(p->key->scalar.value))
			return ist_perr(c, p->key,
				    "%s: '%.64s' is not a valid label key",
				    path, p->key->scalar.value);
		if (p->value->kind != YT_SCALAR)
			return ist_perr(c, p->value, "%s must be a string, not %s",
				    what, yt_kind_str(p->value));
		s = yt_is_null(p->value) ? "" : p->value->scalar.value;
		if (!split_label_value_ok(s))
			return ist_perr(c, p->value,
				    "%s '%.64s' is not a valid label value (at most 63 characters: letters, digits, '-', '_' and '.', beginning and ending with a letter or digit)",
				    what, s);
		l->key = strdup(p->key->scalar.value);
		l->value = strdup(s);
		if (!l->key || !l->value)
			return ist_oom(c, p->value);
		if (!strcmp(l->key, "version")) {
			if (!*s)
				return ist_perr(c, p->value,
					    "%s must not be empty", what);
			strcpy(version, s);
		}
	}
	if (!*version)
		return ist_perr(c, n,
			    "%s: the 'version' label is required (endpoints are selected by version)",
			    path);
	qsort(*labels, *nlabels, sizeof(**labels), label_cmp);
	return 0;
}

int ist_labels_dup(const struct split_label *src, size_t n,
		   struct split_label **out)
{
	*out = calloc(n ? n : 1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		(*out)[i].key = strdup(src[i].key);
		(*out)[i].value = strdup(src[i].value);
		if (!(*out)[i].key || !(*out)[i].value) {
			ist_labels_free(*out, n);
			*out = NULL;
			return -ENOMEM;
		}
	}
	return 0;
}

/*
 * A host naming a Kubernetes service: NAME (in own_ns), NAME.NS,
 * NAME.NS.svc or NAME.NS.svc.cluster.local.
 */
int ist_resolve_host(struct rp *c, const struct yt_node *n,
		     const char *what, const char *own_ns, char *svc_ns,
		     char *svc_name)
{
	const char *s = "", *part[6];
	size_t plen[6], np = 0, start = 0, len;

	if (ist_want_str(c, n, what, &s))
		return -EINVAL;
	len = strlen(s);
	if (strchr(s, '*'))
		return ist_perr(c, n,
			    "%s: wildcard host '%.64s' is not supported (name one service)",
			    what, s);
	for (size_t i = 0; i <= len && np < 6; i++) {
		if (i < len && s[i] != '.')
			continue;
		part[np] = s + start;
		plen[np++] = i - start;
		start = i + 1;
	}
	if (start <= len ||
	    !(np == 1 || np == 2 ||
	      (np == 3 && plen[2] == 3 && !memcmp(part[2], "svc", 3)) ||
	      (np == 5 && plen[2] == 3 && !memcmp(part[2], "svc", 3) &&
	       !strcmp(part[3], SPLIT_CLUSTER_DOMAIN))))
		return ist_perr(c, n,
			    "%s: host '%.64s' is not a Kubernetes service name (NAME, NAME.NAMESPACE, NAME.NAMESPACE.svc or NAME.NAMESPACE.svc.%s)",
			    what, s, SPLIT_CLUSTER_DOMAIN);
	if (!split_dns_label_ok(part[0], plen[0], true))
		return ist_perr(c, n,
			    "%s: host '%.64s': service name '%.*s' must be a DNS-1035 label ([a-z]([-a-z0-9]*[a-z0-9])?, at most 63 characters)",
			    what, s, (int)(plen[0] > 64 ? 64 : plen[0]), part[0]);
	if (np > 1 && !split_dns_label_ok(part[1], plen[1], false))
		return ist_perr(c, n,
			    "%s: host '%.64s': namespace '%.*s' must be a DNS-1123 label ([a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 characters)",
			    what, s, (int)(plen[1] > 64 ? 64 : plen[1]), part[1]);
	memcpy(svc_name, part[0], plen[0]);
	svc_name[plen[0]] = '\0';
	if (np > 1) {
		memcpy(svc_ns, part[1], plen[1]);
		svc_ns[plen[1]] = '\0';
	} else {
		strcpy(svc_ns, own_ns);
	}
	return 0;
}

/* metadata: name (required), namespace (default "default"). */
int ist_parse_meta(struct rp *c, const struct yt_node *root, char *name,
		   char *ns, struct pos *name_pos)
{
	static const struct fdesc known[] = {
		{ "name", NULL }, { "namespace", NULL }, { "labels", NULL },
		{ "annotations", NULL },
		/* written by the API server: no meaning for routing */
		{ "uid", NULL }, { "resourceVersion", NULL },
		{ "generation", NULL }, { "creationTimestamp", NULL },
		{ NULL, NULL }
	};
	const struct yt_node *md = yt_field(root, "metadata"), *n;
	const char *s = "";

	if (!md)
		return ist_perr(c, yt_blame(root, "metadata"), "metadata is required");
	if (ist_want_map(c, md, "metadata") ||
	    ist_check_fields(c, md, "metadata", known))
		return -EINVAL;
	n = yt_field(md, "name");
	if (!n)
		return ist_perr(c, yt_blame(md, "name"), "metadata.name is required");
	if (ist_want_str(c, n, "metadata.name", &s))
		return -EINVAL;
	if (!valid_object_name(s))
		return ist_perr(c, n,
			    "metadata.name '%.64s' must be a DNS-1123 subdomain of at most 63 characters (lower-case letters, digits, '-' and '.')",
			    s);
	strcpy(name, s);
	*name_pos = (struct pos){ c->t, n };
	n = yt_field(md, "namespace");
	s = "default";
	if (n && ist_want_str(c, n, "metadata.namespace", &s))
		return -EINVAL;
	if (!split_dns_label_ok(s, strlen(s), false))
		return ist_perr(c, n,
			    "metadata.namespace '%.64s' must be a DNS-1123 label ([a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 characters)",
			    s);
	strcpy(ns, s);
	n = yt_field(md, "labels");
	if (n && ist_want_map(c, n, "metadata.labels"))
		return -EINVAL;
	n = yt_field(md, "annotations");
	if (n && ist_want_map(c, n, "metadata.annotations"))
		return -EINVAL;
	return 0;
}

/* Weights of a route's destinations: one destination without a weight
 * gets 100; with several, each needs one and they sum to 100. */
int ist_check_weights(struct rp *c, const struct yt_node *list,
		      const char *path, struct split_route *r,
		      const struct yt_node *const *wnodes)
{
	char what[PATH_LEN];
	unsigned int sum = 0;

	if (r->ndests == 1) {
		if (wnodes[0] && r->dests[0].weight != 100)
			return ist_perr(c, wnodes[0],
				    "%s[0].weight is %u: a single destination takes all traffic (write 100 or leave the weight out)",
				    path, r->dests[0].weight);
		r->dests[0].weight = 100;
		return 0;
	}
	for (size_t i = 0; i < r->ndests; i++) {
		if (!wnodes[i]) {
			ist_index_path(what, sizeof(what), path, i);
			return ist_perr(c, list->seq.items[i],
				    "%s.weight is required when there are several destinations",
				    what);
		}
		sum += r->dests[i].weight;
	}
	if (sum != 100)
		return ist_perr(c, list, "%s: weights sum to %u, not 100", path, sum);
	return 0;
}
