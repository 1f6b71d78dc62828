/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * yaml_tree.c - a small YAML DOM on top of libyaml's event parser.
 *
 * The tree is built with an explicit stack of open collections (bounded by
 * YT_MAX_DEPTH), so hostile input cannot overflow the C stack; freeing
 * recurses at most YT_MAX_DEPTH + 1 levels.
 */
#include <limits.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "yaml_tree.h"

#define YT_TAG_STR	"tag:yaml.org,2002:str"
#define YT_TAG_INT	"tag:yaml.org,2002:int"

struct yt_frame {
	struct yt_node *node;
	size_t cap;		/* allocated items or pairs */
	bool have_key;		/* mapping: the last pair awaits its value */
};

struct yt_builder {
	struct yt_tree *tree;
	struct split_err *err;
	struct yt_doc *doc;	/* current document */
	size_t docs_cap;
	struct yt_frame stack[YT_MAX_DEPTH];
	int depth;
};

static unsigned int yt_mark_num(size_t v)
{
	return v >= UINT_MAX ? UINT_MAX : (unsigned int)v + 1;
}

int yt_errc(struct split_err *err, int code, const struct yt_tree *tree,
	    const struct yt_node *n, const char *fmt, ...)
{
	char msg[SPLIT_ERR_LEN];
	const char *name = tree && tree->name ? tree->name : "<input>";
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n)
		return split_errc(err, code, "%s:%u:%u: %s", name, n->line,
				  n->col, msg);
	return split_errc(err, code, "%s: %s", name, msg);
}

static int yt_errf_at(struct yt_builder *b, const yaml_mark_t *m,
		      const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int yt_errf_at(struct yt_builder *b, const yaml_mark_t *m,
		      const char *fmt, ...)
{
	char msg[SPLIT_ERR_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return split_errf(b->err, "%s:%u:%u: %s", b->tree->name,
			  yt_mark_num(m->line), yt_mark_num(m->column), msg);
}

/* ---- the arena: nodes, scalars and tags, freed with the tree ------------ */

#define YT_CHUNK_MIN	(64 * 1024)

struct yt_chunk {
	struct yt_chunk *next;
	size_t used, cap;
	alignas(max_align_t) unsigned char data[];
};

/* n bytes (not zeroed), aligned for any type; NULL when out of memory. */
static void *yt_alloc(struct yt_tree *t, size_t n)
{
	struct yt_chunk *c = t->arena;
	size_t a = alignof(max_align_t), need = (n + a - 1) / a * a;
	void *p;

	if (need < n)
		return NULL;
	if (!c || c->cap - c->used < need) {
		size_t cap = need > YT_CHUNK_MIN ? need : YT_CHUNK_MIN;

		c = malloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->used = 0;
		c->cap = cap;
		c->next = t->arena;
		t->arena = c;
	}
	p = c->data + c->used;
	c->used += need;
	return p;
}

static char *yt_strndup(struct yt_tree *t, const char *s, size_t len)
{
	char *p = yt_alloc(t, len + 1);

	if (p) {
		memcpy(p, s, len);
		p[len] = '\0';
	}
	return p;
}

/* What a node holds outside the arena: its items or pairs arrays. */
static void yt_node_free(struct yt_node *n)
{
	size_t i;

	if (!n)
		return;
	switch (n->kind) {
	case YT_SCALAR:
		break;
	case YT_SEQUENCE:
		for (i = 0; i < n->seq.n; i++)
			yt_node_free(n->seq.items[i]);
		free(n->seq.items);
		break;
	case YT_MAPPING:
		for (i = 0; i < n->map.n; i++) {
			yt_node_free(n->map.pairs[i].key);
			yt_node_free(n->map.pairs[i].value);
		}
		free(n->map.pairs);
		break;
	}
}

void yt_free(struct yt_tree *tree)
{
	if (!tree)
		return;
	for (size_t i = 0; i < tree->ndocs; i++)
		yt_node_free(tree->docs[i].root);
	free(tree->docs);
	free(tree->name);
	while (tree->arena) {
		struct yt_chunk *c = tree->arena;

		tree->arena = c->next;
		free(c);
	}
	memset(tree, 0, sizeof(*tree));
}

static struct yt_node *yt_node_new(struct yt_builder *b, enum yt_kind kind,
				   const yaml_event_t *ev, const char *tag)
{
	struct yt_node *n;

	if (b->tree->nnodes >= YT_MAX_NODES) {
		yt_errf_at(b, &ev->start_mark,
			   "too many YAML nodes (limit %d)", YT_MAX_NODES);
		return NULL;
	}
	n = yt_alloc(b->tree, sizeof(*n));
	if (n)
		memset(n, 0, sizeof(*n));
	if (!n || (tag && !(n->tag = yt_strndup(b->tree, tag, strlen(tag))))) {
		yt_errf_at(b, &ev->start_mark, "out of memory");
		return NULL;
	}
	n->kind = kind;
	n->line = yt_mark_num(ev->start_mark.line);
	n->col = yt_mark_num(ev->start_mark.column);
	b->tree->nnodes++;
	return n;
}

/* Hang n under the innermost open collection, or make it the document's
 * root. On error n is not owned by the tree: the caller frees it. */
static int yt_attach(struct yt_builder *b, struct yt_node *n)
{
	struct yt_frame *f;
	struct yt_node *p;

	if (!b->depth) {
		if (!b->doc || b->doc->root)
			return yt_errf(b->err, b->tree, n,
				       "unexpected node outside a document");
		b->doc->root = n;
		return 0;
	}
	f = &b->stack[b->depth - 1];
	p = f->node;
	if (p->kind == YT_SEQUENCE) {
		if (split_grow((void **)&p->seq.items, &f->cap, p->seq.n,
			    sizeof(*p->seq.items)))
			return yt_errc(b->err, ENOMEM, b->tree, n, "out of memory");
		p->seq.items[p->seq.n++] = n;
		return 0;
	}
	if (f->have_key) {
		p->map.pairs[p->map.n - 1].value = n;
		f->have_key = false;
		return 0;
	}
	if (n->kind != YT_SCALAR)
		return yt_errf(b->err, b->tree, n,
			       "mapping keys must be scalars, not %s",
			       yt_kind_str(n));
	if (split_grow((void **)&p->map.pairs, &f->cap, p->map.n,
		    sizeof(*p->map.pairs)))
		return yt_errc(b->err, ENOMEM, b->tree, n, "out of memory");
	p->map.pairs[p->map.n].key = n;
	p->map.pairs[p->map.n].value = NULL;
	p->map.n++;
	f->have_key = true;
	return 0;
}

struct yt_keyref {
	size_t seq;		/* index of the pair in the mapping */
	const struct yt_node *key;
};

static int yt_keyref_cmp(const void *a, const void *b)
{
	const struct yt_keyref *x = a, *y = b;
	int c = strcmp(x->key->scalar.value, y->key->scalar.value);

	if (c)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Reject the first key (in document order) that repeats an earlier one. */
static int yt_check_dup_keys(struct yt_builder *b, const struct yt_node *m)
{
	const struct yt_keyref *first = NULL, *dup = NULL;
	struct yt_keyref *refs;
	size_t i, start = 0;

	if (m->map.n < 2)
		return 0;
	refs = calloc(m->map.n, sizeof(*refs));
	if (!refs)
		return yt_errc(b->err, ENOMEM, b->tree, m, "out of memory");
	for (i = 0; i < m->map.n; i++) {
		refs[i].seq = i;
		refs[i].key = m->map.pairs[i].key;
	}
	qsort(refs, m->map.n, sizeof(*refs), yt_keyref_cmp);
	for (i = 1; i < m->map.n; i++) {
		if (strcmp(refs[start].key->scalar.value,
			   refs[i].key->scalar.value)) {
			start = i;
			continue;
		}
		if (i == start + 1 && (!dup || refs[i].seq < dup->seq)) {
			first = &refs[start];
			dup = &refs[i];
		}
	}
	if (dup) {
		yt_errf(b->err, b->tree, dup->key,
			"duplicate key '%.64s' (first at %u:%u)",
			dup->key->scalar.value, first->key->line,
			first->key->col);
		free(refs);
		return -EINVAL;
	}
	free(refs);
	return 0;
}

static const char *yt_event_anchor(const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		return (const char *)ev->data.scalar.anchor;
	case YAML_SEQUENCE_START_EVENT:
		return (const char *)ev->data.sequence_start.anchor;
	case YAML_MAPPING_START_EVENT:
		return (const char *)ev->data.mapping_start.anchor;
	default:
		return NULL;
	}
}

static int yt_on_scalar(struct yt_builder *b, const yaml_event_t *ev)
{
	const char *tag = (const char *)ev->data.scalar.tag;
	size_t len = ev->data.scalar.length;
	struct yt_node *n;

	if (memchr(ev->data.scalar.value, '\0', len))
		return yt_errf_at(b, &ev->start_mark,
				  "scalar contains a NUL character");
	n = yt_node_new(b, YT_SCALAR, ev, tag);
	if (!n)
		return -EINVAL;
	n->scalar.value = yt_strndup(b->tree, (const char *)ev->data.scalar.value, len);
	if (!n->scalar.value)
		return yt_errf_at(b, &ev->start_mark, "out of memory");
	n->scalar.len = len;
	n->scalar.quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
			   (tag && (!strcmp(tag, YT_TAG_STR) || !strcmp(tag, "!")));
	if (yt_attach(b, n)) {
		yt_node_free(n);
		return -EINVAL;
	}
	return 0;
}

static int yt_on_start(struct yt_builder *b, const yaml_event_t *ev)
{
	bool is_map = ev->type == YAML_MAPPING_START_EVENT;
	const char *tag = (const char *)(is_map ?
		ev->data.mapping_start.tag : ev->data.sequence_start.tag);
	struct yt_frame *f;
	struct yt_node *n;

	if (b->depth >= YT_MAX_DEPTH)
		return yt_errf_at(b, &ev->start_mark,
				  "YAML nested too deeply (limit %d)",
				  YT_MAX_DEPTH);
	n = yt_node_new(b, is_map ? YT_MAPPING : YT_SEQUENCE, ev, tag);
	if (!n)
		return -EINVAL;
	if (yt_attach(b, n)) {
		yt_node_free(n);
		return -EINVAL;
	}
	f = &b->stack[b->depth++];
	f->node = n;
	f->cap = 0;
	f->have_key = false;
	return 0;
}

static int yt_on_end(struct yt_builder *b, const yaml_event_t *ev)
{
	struct yt_node *n;

	if (!b->depth)
		return yt_errf_at(b, &ev->start_mark, "unbalanced YAML events");
	n = b->stack[--b->depth].node;
	if (n->kind == YT_MAPPING)
		return yt_check_dup_keys(b, n);
	return 0;
}

static int yt_on_doc_start(struct yt_builder *b, const yaml_event_t *ev)
{
	struct yt_tree *t = b->tree;

	if (split_grow((void **)&t->docs, &b->docs_cap, t->ndocs,
		    sizeof(*t->docs)))
		return yt_errf_at(b, &ev->start_mark, "out of memory");
	b->doc = &t->docs[t->ndocs++];
	memset(b->doc, 0, sizeof(*b->doc));
	b->doc->line = yt_mark_num(ev->start_mark.line);
	b->doc->col = yt_mark_num(ev->start_mark.column);
	return 0;
}

/* libyaml reports reader errors (bad UTF-8, control characters) as a byte
 * offset: turn it into a line and column like the other errors. */
static void yt_offset_pos(const char *buf, size_t len, size_t off,
			  unsigned int *line, unsigned int *col)
{
	size_t l = 1, c = 1;

	for (size_t i = 0; i < off && i < len; i++) {
		if (buf[i] == '\n') {
			l++;
			c = 1;
		} else if (((unsigned char)buf[i] & 0xc0) != 0x80) {
			c++;
		}
	}
	*line = l > UINT_MAX ? UINT_MAX : (unsigned int)l;
	*col = c > UINT_MAX ? UINT_MAX : (unsigned int)c;
}

/* The byte starting the character at 0-based (line, column), or -1. Line
 * breaks: "\n", "\r\n" or "\r", as libyaml counts them. */
static int yt_char_at(const char *buf, size_t len, size_t line, size_t col)
{
	size_t i = 0;

	while (line && i < len) {
		if (buf[i] == '\r' && i + 1 < len && buf[i + 1] == '\n')
			i++;
		if (buf[i] == '\n' || buf[i] == '\r')
			line--;
		i++;
	}
	while (i < len) {
		if (((unsigned char)buf[i] & 0xc0) != 0x80) {
			if (!col)
				return (unsigned char)buf[i];
			col--;
		}
		i++;
	}
	return -1;
}

static int yt_parser_error(struct yt_builder *b, const yaml_parser_t *p,
			   const char *buf, size_t len)
{
	const char *name = b->tree->name;
	const char *problem = p->problem ? p->problem : "invalid YAML";
	unsigned int line, col;

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		return split_errc(b->err, ENOMEM, "%s: out of memory", name);
	case YAML_READER_ERROR:
		yt_offset_pos(buf, len, p->problem_offset, &line, &col);
		if (p->problem_value != -1)
			return split_errf(b->err, "%s:%u:%u: %s (#%X)", name,
					  line, col, problem,
					  (unsigned int)p->problem_value);
		return split_errf(b->err, "%s:%u:%u: %s", name, line, col,
				  problem);
	default:
		line = yt_mark_num(p->problem_mark.line);
		col = yt_mark_num(p->problem_mark.column);
		if (p->error == YAML_SCANNER_ERROR &&
		    yt_char_at(buf, len, p->problem_mark.line,
			       p->problem_mark.column) == '\t')
			return split_errf(b->err,
					  "%s:%u:%u: found a tab character where YAML allows only spaces (indent with spaces)",
					  name, line, col);
		if (p->context && p->context_mark.index == p->problem_mark.index)
			return split_errf(b->err, "%s:%u:%u: %s (%s)", name, line,
					  col, problem, p->context);
		if (p->context)
			return split_errf(b->err, "%s:%u:%u: %s (%s at %u:%u)",
					  name, line, col, problem, p->context,
					  yt_mark_num(p->context_mark.line),
					  yt_mark_num(p->context_mark.column));
		return split_errf(b->err, "%s:%u:%u: %s", name, line, col,
				  problem);
	}
}

static int yt_on_event(struct yt_builder *b, const yaml_event_t *ev)
{
	if (ev->type == YAML_ALIAS_EVENT)
		return yt_errf_at(b, &ev->start_mark,
				  "YAML aliases (*%.64s) are not supported",
				  (const char *)ev->data.alias.anchor);
	if (yt_event_anchor(ev))
		return yt_errf_at(b, &ev->start_mark,
				  "YAML anchors (&%.64s) are not supported",
				  yt_event_anchor(ev));
	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		return yt_on_doc_start(b, ev);
	case YAML_DOCUMENT_END_EVENT:
		b->doc = NULL;
		return 0;
	case YAML_SCALAR_EVENT:
		return yt_on_scalar(b, ev);
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		return yt_on_start(b, ev);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		return yt_on_end(b, ev);
	default:
		return 0;
	}
}

int yt_parse(const char *name, const char *buf, size_t len,
	     struct yt_tree *tree, struct split_err *err)
{
	struct yt_builder b = { .tree = tree, .err = err };
	yaml_parser_t parser;
	yaml_event_t ev;
	bool done = false;
	int ret = 0;

	if (!name)
		name = "<input>";
	memset(tree, 0, sizeof(*tree));
	tree->name = strdup(name);
	if (!tree->name)
		return split_errc(err, ENOMEM, "%s: out of memory", name);
	if (!yaml_parser_initialize(&parser)) {
		yt_free(tree);
		return split_errc(err, ENOMEM, "%s: out of memory", name);
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf,
				     len);
	yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
	while (!done) {
		if (!yaml_parser_parse(&parser, &ev)) {
			ret = yt_parser_error(&b, &parser, buf, len);
			break;
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		ret = yt_on_event(&b, &ev);
		yaml_event_delete(&ev);
		if (ret)
			break;
	}
	yaml_parser_delete(&parser);
	if (ret)
		yt_free(tree);
	return ret;
}

static void yt_shift_node(struct yt_node *n, int delta)
{
	if (!n)
		return;
	n->line = (unsigned int)((int)n->line + delta);
	if (n->kind == YT_SEQUENCE)
		for (size_t i = 0; i < n->seq.n; i++)
			yt_shift_node(n->seq.items[i], delta);
	else if (n->kind == YT_MAPPING)
		for (size_t i = 0; i < n->map.n; i++) {
			yt_shift_node(n->map.pairs[i].key, delta);
			yt_shift_node(n->map.pairs[i].value, delta);
		}
}

void yt_shift_lines(struct yt_tree *tree, int delta)
{
	for (size_t i = 0; delta && i < tree->ndocs; i++) {
		tree->docs[i].line = (unsigned int)((int)tree->docs[i].line + delta);
		yt_shift_node(tree->docs[i].root, delta);
	}
}

bool yt_is_null(const struct yt_node *n)
{
	const char *v;

	if (!n || n->kind != YT_SCALAR || n->scalar.quoted)
		return false;
	v = n->scalar.value;
	return !*v || !strcmp(v, "~") || !strcmp(v, "null") ||
	       !strcmp(v, "Null") || !strcmp(v, "NULL");
}

const char *yt_kind_str(const struct yt_node *n)
{
	if (!n || yt_is_null(n))
		return "null";
	switch (n->kind) {
	case YT_SCALAR:
		return "a string";
	case YT_SEQUENCE:
		return "a list";
	case YT_MAPPING:
		return "a mapping";
	}
	return "?";
}

const struct yt_pair *yt_map_pair(const struct yt_node *map, const char *key)
{
	if (!map || map->kind != YT_MAPPING || !key)
		return NULL;
	for (size_t i = 0; i < map->map.n; i++)
		if (!strcmp(map->map.pairs[i].key->scalar.value, key))
			return &map->map.pairs[i];
	return NULL;
}

struct yt_node *yt_map_get(const struct yt_node *map, const char *key)
{
	const struct yt_pair *p = yt_map_pair(map, key);

	return p ? p->value : NULL;
}

const struct yt_node *yt_field(const struct yt_node *m, const char *key)
{
	const struct yt_node *v = yt_map_get(m, key);

	return yt_is_null(v) ? NULL : v;
}

const struct yt_node *yt_blame(const struct yt_node *m, const char *key)
{
	const struct yt_node *v = yt_map_get(m, key);

	return v ? v : m;
}

int yt_parse_int(const char *s, long long min, long long max, long long *out)
{
	unsigned long long v = 0, lim;
	bool neg = false, over = false;
	const char *p = s;
	long long val;

	if (!p)
		return -EINVAL;
	if (*p == '-') {
		neg = true;
		p++;
	}
	if (*p < '0' || *p > '9')
		return -EINVAL;
	if (*p == '0' && p[1])
		return -EINVAL;	/* "010" is octal in YAML 1.1: refuse */
	for (; *p; p++) {
		unsigned int d;

		if (*p < '0' || *p > '9')
			return -EINVAL;
		d = (unsigned int)(*p - '0');
		if (v > (ULLONG_MAX - d) / 10)
			over = true;
		else
			v = v * 10 + d;
	}
	lim = neg ? (unsigned long long)LLONG_MAX + 1 : (unsigned long long)LLONG_MAX;
	if (over || v > lim)
		return -ERANGE;
	if (neg)
		val = v == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)v;
	else
		val = (long long)v;
	if (val < min || val > max)
		return -ERANGE;
	*out = val;
	return 0;
}

int yt_int(const struct yt_tree *tree, const struct yt_node *n,
	   const char *what, long long min, long long max, long long *out,
	   struct split_err *err)
{
	int r;

	if (!n)
		return yt_errf(err, tree, NULL, "%s is required", what);
	if (n->kind != YT_SCALAR || yt_is_null(n))
		return yt_errf(err, tree, n, "%s must be an integer, not %s",
			       what, yt_kind_str(n));
	if (n->scalar.quoted)
		return yt_errf(err, tree, n,
			       "%s must be an integer, not a quoted string (\"%.64s\")",
			       what, n->scalar.value);
	if (n->tag && strcmp(n->tag, YT_TAG_INT))
		return yt_errf(err, tree, n,
			       "%s must be an integer, not tagged %.64s", what,
			       n->tag);
	r = yt_parse_int(n->scalar.value, min, max, out);
	if (r == -EINVAL)
		return yt_errf(err, tree, n,
			       "%s must be a decimal integer, got '%.64s'", what,
			       n->scalar.value);
	if (r)
		return yt_errc(err, ERANGE, tree, n,
			       "%s %.64s is out of range (%lld..%lld)", what,
			       n->scalar.value, min, max);
	return 0;
}

int yt_str(const struct yt_tree *tree, const struct yt_node *n,
	   const char *what, const char **out, struct split_err *err)
{
	if (!n)
		return yt_errf(err, tree, NULL, "%s is required", what);
	if (n->kind != YT_SCALAR)
		return yt_errf(err, tree, n, "%s must be a string, not %s",
			       what, yt_kind_str(n));
	*out = yt_is_null(n) ? "" : n->scalar.value;
	return 0;
}

static bool yt_bare_scalar(const struct yt_node *n)
{
	const char *v = n->scalar.value;

	if (n->scalar.quoted)
		return false;
	if (!strcmp(v, "true") || !strcmp(v, "false") || !strcmp(v, "null"))
		return true;
	if (*v == '-')
		v++;
	if (!*v || (*v == '0' && v[1]))
		return false;
	for (; *v; v++)
		if (*v < '0' || *v > '9')
			return false;
	return true;
}

static int yt_write_str(FILE *f, const char *s, size_t len)
{
	fputc('"', f);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	return fputc('"', f) == EOF ? -EIO : 0;
}

static int write_json(FILE *f, const struct yt_node *n, const struct yt_node *old,
		      const char *json)
{
	if (n == old)
		return fputs(json, f) == EOF ? -EIO : 0;
	switch (n->kind) {
	case YT_SCALAR:
		if (yt_bare_scalar(n))
			return fputs(n->scalar.value, f) == EOF ? -EIO : 0;
		return yt_write_str(f, n->scalar.value, n->scalar.len);
	case YT_SEQUENCE:
		fputc('[', f);
		for (size_t i = 0; i < n->seq.n; i++) {
			if (i)
				fputc(',', f);
			if (write_json(f, n->seq.items[i], old, json))
				return -EIO;
		}
		return fputc(']', f) == EOF ? -EIO : 0;
	case YT_MAPPING:
		fputc('{', f);
		for (size_t i = 0; i < n->map.n; i++) {
			const struct yt_node *k = n->map.pairs[i].key;

			if (i)
				fputc(',', f);
			if (yt_write_str(f, k->scalar.value, k->scalar.len) ||
			    fputc(':', f) == EOF ||
			    write_json(f, n->map.pairs[i].value, old, json))
				return -EIO;
		}
		return fputc('}', f) == EOF ? -EIO : 0;
	}
	return -EINVAL;
}

int yt_write_json_str(FILE *f, const char *s)
{
	return yt_write_str(f, s, strlen(s));
}

int yt_write_json(FILE *f, const struct yt_node *n)
{
	return write_json(f, n, NULL, NULL);
}

int yt_write_json_replace(FILE *f, const struct yt_node *n, const struct yt_node *old,
			  const char *json)
{
	return write_json(f, n, old, json);
}
