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
#include <bpf/btf.h>

#include "apply.h"
#include "files.h"
#include "ops.h"
#include "services_yaml.h"
#include "yaml_tree.h"


void split_objs_free(struct split_objs *o)
{
	for (size_t i = 0; i < o->n; i++)
		free(o->v[i].json);
	free(o->v);
	memset(o, 0, sizeof(*o));
}

/* A copy of obj (its own JSON) at o->v[o->n], which must have room. */
static int objs_put(struct split_objs *o, const struct split_obj *obj)
{
	o->v[o->n] = *obj;
	o->v[o->n].json = strdup(obj->json);
	if (!o->v[o->n].json)
		return -ENOMEM;
	o->n++;
	return 0;
}

static int objs_add(struct split_objs *o, const struct split_obj *obj)
{
	struct split_obj *v = realloc(o->v, (o->n + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	o->v = v;
	return objs_put(o, obj);
}

static int same_obj(const struct split_obj *a, const struct split_obj *b)
{
	return !strcmp(a->kind, b->kind) && !strcmp(a->ns, b->ns) &&
	       !strcmp(a->name, b->name);
}

/* Objects of an array found by identity in O(1): a hash of their indexes
 * (+ 1), for the loops over thousands of Istio objects. */
struct obj_ix {
	size_t *slot;
	size_t cap;
};

static size_t obj_hash(const char *kind, const char *ns, const char *name)
{
	const char *part[3] = { kind, ns, name };
	__u64 h = 0xcbf29ce484222325ULL;

	for (int i = 0; i < 3; i++) {
		for (const char *c = part[i]; *c; c++)
			h = (h ^ (unsigned char)*c) * 0x100000001b3ULL;
		h = (h ^ 0xff) * 0x100000001b3ULL;
	}
	return (size_t)(h ^ (h >> 31));
}

/* Room for n objects. 0 or -ENOMEM. */
static int obj_ix_init(struct obj_ix *x, size_t n)
{
	x->cap = 16;
	while (x->cap < 2 * n)
		x->cap *= 2;
	x->slot = calloc(x->cap, sizeof(*x->slot));
	return x->slot ? 0 : -ENOMEM;
}

static ssize_t obj_ix_find(const struct obj_ix *x, const struct split_objs *o,
			   const char *kind, const char *ns, const char *name)
{
	for (size_t h = obj_hash(kind, ns, name) & (x->cap - 1); x->slot[h];
	     h = (h + 1) & (x->cap - 1)) {
		const struct split_obj *b = &o->v[x->slot[h] - 1];

		if (!strcmp(b->kind, kind) && !strcmp(b->ns, ns) && !strcmp(b->name, name))
			return (ssize_t)(x->slot[h] - 1);
	}
	return -1;
}

/* o->v[i] goes in (within the room obj_ix_init made). */
static void obj_ix_add(struct obj_ix *x, const struct split_objs *o, size_t i)
{
	const struct split_obj *a = &o->v[i];
	size_t h = obj_hash(a->kind, a->ns, a->name) & (x->cap - 1);

	while (x->slot[h])
		h = (h + 1) & (x->cap - 1);
	x->slot[h] = i + 1;
}

struct split_obj *split_objs_find(const struct split_objs *o, const char *kind,
				  const char *ns, const char *name)
{
	for (size_t i = 0; i < o->n; i++)
		if (!strcmp(o->v[i].kind, kind) && !strcmp(o->v[i].ns, ns) &&
		    !strcmp(o->v[i].name, name))
			return &o->v[i];
	return NULL;
}

int split_obj_set_json(struct split_obj *obj, const char *json)
{
	char *j = strdup(json);

	if (!j)
		return -ENOMEM;
	free(obj->json);
	obj->json = j;
	return 0;
}

int split_objs_merge(struct split_objs *dst, const struct split_objs *src)
{
	struct obj_ix ix;

	struct split_obj *v;

	if (!src->n)
		return 0;
	/* Room for all of src at once: one realloc per merge, not one per
	 * object. */
	v = realloc(dst->v, (dst->n + src->n) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	dst->v = v;
	if (obj_ix_init(&ix, dst->n + src->n))
		return -ENOMEM;
	for (size_t j = 0; j < dst->n; j++)
		obj_ix_add(&ix, dst, j);
	for (size_t i = 0; i < src->n; i++) {
		const struct split_obj *s = &src->v[i];
		ssize_t j = obj_ix_find(&ix, dst, s->kind, s->ns, s->name);

		if (j >= 0) {
			char *json = strdup(s->json);

			if (!json)
				goto oom;
			free(dst->v[j].json);
			dst->v[j].json = json;
			dst->v[j].tree = s->tree;
			dst->v[j].root = s->root;
		} else if (objs_put(dst, s)) {
			goto oom;
		} else {
			obj_ix_add(&ix, dst, dst->n - 1);
		}
	}
	free(ix.slot);
	return 0;
oom:
	free(ix.slot);
	return -ENOMEM;
}

size_t split_objs_remove(struct split_objs *dst, const struct split_objs *src)
{
	size_t n = 0, removed = 0;
	struct obj_ix ix = { 0 };
	bool hashed = src->n > 8 && !obj_ix_init(&ix, src->n);

	for (size_t i = 0; hashed && i < src->n; i++)
		obj_ix_add(&ix, src, i);
	for (size_t j = 0; j < dst->n; j++) {
		const struct split_obj *d = &dst->v[j];
		int gone = hashed && obj_ix_find(&ix, src, d->kind, d->ns, d->name) >= 0;

		for (size_t i = 0; !hashed && i < src->n && !gone; i++)
			gone = same_obj(d, &src->v[i]);
		if (gone) {
			free(dst->v[j].json);
			removed++;
		} else {
			dst->v[n++] = dst->v[j];
		}
	}
	dst->n = n;
	free(ix.slot);
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
		return split_errc(err, ENOMEM, "out of memory");
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
		return -ENOMEM;
	dst->svcs = v;
	memcpy(dst->svcs + dst->nsvcs, src->svcs, src->nsvcs * sizeof(*v));
	dst->nsvcs += src->nsvcs;
	free(src->svcs);
	memset(src, 0, sizeof(*src));
	return 0;
}

/* No service twice (in different files): a hash, O(n). */
static int svcs_unique(const struct split_config *cfg, struct split_err *err)
{
	struct split_name_dkey *k = calloc(cfg->nsvcs + 1, sizeof(*k));
	size_t first, dup;
	int r;

	if (!k)
		return split_errc(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < cfg->nsvcs; i++)
		split_name_dkey(&k[i], &cfg->svcs[i]);
	r = split_dup_find(k, cfg->nsvcs, sizeof(*k), &first, &dup);
	free(k);
	if (r < 0)
		return split_errc(err, ENOMEM, "out of memory");
	if (r)
		return split_errf(err, "service %s.%s is defined twice (in different files)",
				  cfg->svcs[dup].name, cfg->svcs[dup].ns);
	return 0;
}

void split_input_free(struct split_input *in)
{
	split_config_free(&in->svcs);
	split_objs_free(&in->objs);
	for (size_t i = 0; i < in->ntrees && !in->borrowed; i++)
		yt_free(&in->trees[i]);
	free(in->istio);
	free(in->trees);
	free(in->sums);
	memset(in, 0, sizeof(*in));
}

static int input_finish(struct split_input *in, struct split_err *err);

int split_input_load(const char *const *paths, size_t n, struct split_input *in,
		     struct split_err *err)
{
	struct split_input r = { 0 };
	struct split_paths fl = { 0 };
	int ret = -EINVAL;

	memset(in, 0, sizeof(*in));
	if ((ret = split_paths_expand(paths, n, &fl, err)))
		return ret;
	ret = -EINVAL;
	r.trees = calloc(fl.n + 1, sizeof(*r.trees));
	r.sums = calloc(fl.n + 1, sizeof(*r.sums));
	if (!r.trees || !r.sums) {
		ret = split_errc(err, ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < fl.n; i++) {
		struct split_config one = { 0 };
		char *buf;
		size_t len;

		if (split_read_file(fl.paths[i], &buf, &len, err))
			goto out;
		r.sums[i].hash = split_bytes_hash(buf ? buf : "", len);
		r.sums[i].len = len;
		r.nsums = i + 1;
		if (yt_parse(fl.paths[i], buf, len, &r.trees[r.ntrees], err)) {
			free(buf);
			goto out;
		}
		free(buf);
		r.ntrees++;
		if (split_services_from_tree(&r.trees[r.ntrees - 1], &one, err))
			goto out;
		if (append_services(&r.svcs, &one)) {
			split_config_free(&one);
			ret = split_errc(err, ENOMEM, "out of memory");
			goto out;
		}
	}
	if (input_finish(&r, err))
		goto out;
	*in = r;
	memset(&r, 0, sizeof(r));
	ret = 0;
out:
	split_input_free(&r);
	split_paths_free(&fl);
	return ret;
}

/* What spans the files: Istio objects (each once), services (each once). */
static int input_finish(struct split_input *in, struct split_err *err)
{
	struct split_input r = *in;	/* the loop below is the one it was */
	struct obj_ix ix = { 0 };
	size_t ndocs = 0;
	int ret = -1;

	for (size_t i = 0; i < r.ntrees; i++)
		ndocs += !r.istio || r.istio[i] ? r.trees[i].ndocs : 0;
	if (obj_ix_init(&ix, r.objs.n + ndocs)) {
		ret = split_errc(err, ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < r.objs.n; i++)
		obj_ix_add(&ix, &r.objs, i);
	for (size_t i = 0; i < r.ntrees; i++)
		for (size_t d = 0; d < r.trees[i].ndocs && (!r.istio || r.istio[i]); d++) {
			const struct yt_node *root = r.trees[i].docs[d].root;
			struct split_obj o, *dup;

			if (split_doc_classify(root) != SPLIT_DOC_RULES)
				continue;
			if (doc_to_obj(&r.trees[i], root, &o, err))
				goto out;
			if (*o.name) {
				ssize_t k = obj_ix_find(&ix, &r.objs, o.kind, o.ns, o.name);

				dup = k >= 0 ? &r.objs.v[k] : NULL;
			} else {
				dup = NULL;
			}
			if (dup) {
				free(o.json);
				yt_errf(err, &r.trees[i], root, "%s %s/%s is defined twice (first at %s:%u:%u)",
					o.kind, o.ns, o.name, dup->tree->name, dup->root->line,
					dup->root->col);
				goto out;
			}
			o.tree = &r.trees[i];
			o.root = root;
			if (objs_add(&r.objs, &o)) {
				free(o.json);
				ret = split_errc(err, ENOMEM, "out of memory");
				goto out;
			}
			obj_ix_add(&ix, &r.objs, r.objs.n - 1);
			free(o.json);
		}
	if (svcs_unique(&r.svcs, err))
		goto out;
	ret = 0;
out:
	free(ix.slot);
	*in = r;
	return ret;
}

/* ---- the per-document cache (split_input_load_cached) ---------------------- */

/* One document of a file: the bytes from a "---" line (or the file's
 * start) to the next, parsed on their own. */
struct ic_doc {
	/* What a lookup reads of each document in its bucket, together
	 * (one cache line at 10,000 documents a load). */
	__u64 hash;
	size_t len;
	struct ic_doc *next;	/* hash chain */
	unsigned int gen;	/* the last load that used it */
	unsigned int line0;	/* 0-based line of the file the tree's positions are for */
	char *bytes;		/* len bytes, right after the struct (one allocation) */
	bool bad;		/* does not parse on its own: the file is read whole */
	bool rules;		/* holds an Istio document */
	struct yt_tree tree;	/* named after the file it was last found in */
	struct split_config svcs;	/* its Service documents */
};

struct split_input_cache {
	struct ic_doc **buckets;
	size_t nbuckets, ndocs;
	unsigned int gen;
	size_t parsed, reused;	/* by the last load */
};

struct split_input_cache *split_input_cache_new(void)
{
	struct split_input_cache *c = calloc(1, sizeof(*c));

	if (c) {
		c->nbuckets = 1024;
		c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
		if (!c->buckets) {
			free(c);
			return NULL;
		}
	}
	return c;
}

static void ic_doc_free(struct ic_doc *d)
{
	yt_free(&d->tree);
	split_config_free(&d->svcs);
	free(d);
}

/* Drop the documents the current load did not use. */
static void ic_evict(struct split_input_cache *c)
{
	for (size_t b = 0; b < c->nbuckets; b++)
		for (struct ic_doc **pp = &c->buckets[b]; *pp;) {
			struct ic_doc *d = *pp;

			if (d->gen == c->gen) {
				pp = &d->next;
				continue;
			}
			*pp = d->next;
			ic_doc_free(d);
			c->ndocs--;
		}
}

void split_input_cache_free(struct split_input_cache *c)
{
	if (!c)
		return;
	c->gen++;
	for (size_t b = 0; b < c->nbuckets; b++)
		for (struct ic_doc *d = c->buckets[b], *n; d; d = n) {
			n = d->next;
			ic_doc_free(d);
		}
	free(c->buckets);
	free(c);
}

void split_input_cache_stats(const struct split_input_cache *c, size_t *parsed,
			     size_t *reused)
{
	*parsed = c ? c->parsed : 0;
	*reused = c ? c->reused : 0;
}

static void ic_grow(struct split_input_cache *c)
{
	size_t nb = c->nbuckets * 2;
	struct ic_doc **b = calloc(nb, sizeof(*b));

	if (!b)
		return;	/* longer chains, still right */
	for (size_t i = 0; i < c->nbuckets; i++)
		for (struct ic_doc *d = c->buckets[i], *n; d; d = n) {
			n = d->next;
			d->next = b[d->hash & (nb - 1)];
			b[d->hash & (nb - 1)] = d;
		}
	free(c->buckets);
	c->buckets = b;
	c->nbuckets = nb;
}

/*
 * Can the file be cut into documents at its lines that start with "---"
 * (then a space, a tab or the line's end) and each part parsed on its own,
 * with the same result as the file parsed whole? libyaml starts a document
 * at such a line (a scalar cannot span it: a block scalar's lines are
 * indented, a plain one ends there, a quoted one is an error either way).
 * Not sure with directives (%YAML, %TAG: they belong to the next document)
 * or line breaks whose lines we would count differently (\r alone, NEL,
 * LS, PS), or a NUL: such a file is parsed whole.
 */
bool split_docs_cuttable(const char *b, size_t len)
{
	const char *e = b + len, *p;

	if (memchr(b, 0, len))
		return false;
	for (p = b; (p = memchr(p, '\r', (size_t)(e - p))); p++)
		if (p + 1 == e || p[1] != '\n')
			return false;
	for (p = b; (p = memchr(p, '%', (size_t)(e - p))); p++)
		if (p == b || p[-1] == '\n')
			return false;
	for (p = b; (p = memchr(p, 0xc2, (size_t)(e - p))); p++)
		if (p + 1 < e && (unsigned char)p[1] == 0x85)
			return false;
	for (p = b; (p = memchr(p, 0xe2, (size_t)(e - p))); p++)
		if (p + 2 < e && (unsigned char)p[1] == 0x80 &&
		    ((unsigned char)p[2] == 0xa8 || (unsigned char)p[2] == 0xa9))
			return false;
	return true;
}

/* '\n' in b[0..n), 8 bytes a step: a byte of x = w ^ "\n\n..." is zero
 * exactly where w has '\n', and ((x & 0x7f..) + 0x7f..) | x has its high
 * bit clear exactly there (no carry crosses a byte). */
static size_t ic_lines(const char *b, size_t n)
{
	const __u64 ones = 0x0101010101010101ULL, nl = ones * '\n', low7 = ones * 0x7f;
	size_t c = 0, i = 0;

	for (; i + 8 <= n; i += 8) {
		__u64 w, x;

		memcpy(&w, b + i, 8);
		x = w ^ nl;
		x = ~(((x & low7) + low7) | x) & ~low7;	/* 0x80 where '\n' */
		c += (size_t)(((x >> 7) * ones) >> 56);	/* their count (no popcnt call) */
	}
	for (; i < n; i++)
		c += b[i] == '\n';
	return c;
}

static bool ic_doc_start(const char *b, size_t len, size_t i)
{
	return i + 3 <= len && !memcmp(b + i, "---", 3) &&
	       (i + 3 == len || b[i + 3] == ' ' || b[i + 3] == '\t' || b[i + 3] == '\n' ||
		b[i + 3] == '\r');
}

size_t split_doc_end(const char *b, size_t len, size_t off)
{
	size_t end = off;

	for (;;) {
		const char *m = memmem(b + end, len - end, "\n---", 4);

		end = m ? (size_t)(m - b) + 1 : len;
		if (!m || ic_doc_start(b, len, end))
			return end;
	}
}

/* The cached document with these bytes that this load has not used yet,
 * or a new one, parsed. NULL: out of memory. */
static struct ic_doc *ic_get(struct split_input_cache *c, const char *path, const char *b,
			     size_t len)
{
	__u64 h = split_bytes_hash(b, len);	/* then compared whole */
	struct ic_doc *d;
	struct split_err err;

	for (d = c->buckets[h & (c->nbuckets - 1)]; d; d = d->next)
		if (d->gen != c->gen && d->hash == h && d->len == len &&
		    !memcmp(d->bytes, b, len)) {
			c->reused++;
			break;
		}
	if (!d) {
		d = calloc(1, sizeof(*d) + len + 1);
		if (!d)
			return NULL;
		d->bytes = (char *)(d + 1);
		memcpy(d->bytes, b, len);
		d->len = len;
		d->hash = h;
		d->bad = yt_parse(path, b, len, &d->tree, &err) ||
			 split_services_from_tree(&d->tree, &d->svcs, &err);
		for (size_t i = 0; !d->bad && i < d->tree.ndocs; i++)
			d->rules |= split_doc_classify(d->tree.docs[i].root) == SPLIT_DOC_RULES;
		d->next = c->buckets[h & (c->nbuckets - 1)];
		c->buckets[h & (c->nbuckets - 1)] = d;
		if (++c->ndocs > c->nbuckets)	/* chains of one, mostly */
			ic_grow(c);
		c->parsed++;
	}
	d->gen = c->gen;
	if (!d->bad && strcmp(d->tree.name, path)) {
		char *name = strdup(path);

		if (!name)
			return NULL;
		free(d->tree.name);
		d->tree.name = name;
	}
	return d;
}

/* 1: the files are read, in *in. 0: they must be read whole. -1: error. */
static int ic_load(const struct split_paths *fl, struct split_input_cache *c,
		   struct split_input *in, struct split_err *err)
{
	struct split_input r = { .borrowed = true };
	struct ic_doc **docs = NULL;
	size_t ndocs = 0, cap = 0, nsvcs = 0;
	bool whole = false;	/* some file must be read whole (its error) */
	int ret = 0;

	/* Every document of every file goes through the cache, also after
	 * one that must be read whole: the next load finds them. */
	for (size_t f = 0; f < fl->n; f++) {
		size_t first = ndocs, nnodes = 0, fsvcs = 0, off = 0;
		unsigned int line = 0;
		char *buf;
		size_t len;

		if (split_read_file(fl->paths[f], &buf, &len, err)) {
			whole = true;	/* its error, where the files read whole say */
			continue;
		}
		if (!split_docs_cuttable(buf, len)) {
			free(buf);
			whole = true;
			continue;
		}
		while (off < len || (!len && !off && ndocs == first)) {
			size_t end = split_doc_end(buf, len, off), lines = 0;
			struct ic_doc *d;

			lines = ic_lines(buf + off, end - off);	/* the next one starts after them */
			if (ndocs == cap) {
				size_t ncap = cap ? 2 * cap : 256;
				struct ic_doc **v = realloc(docs, ncap * sizeof(*v));

				if (!v) {
					free(buf);
					goto oom;
				}
				docs = v;
				cap = ncap;
			}
			d = ic_get(c, fl->paths[f], buf + off, end - off);
			if (!d) {
				free(buf);
				goto oom;
			}
			docs[ndocs++] = d;
			whole |= d->bad;	/* read whole: its error */
			/* Positions matter in Istio documents (the rules name
			 * them in errors made on the whole set); a Service
			 * document's are read only while it is parsed (its
			 * errors), so its tree is not walked to move them. */
			if (!d->bad && d->rules && d->line0 != line) {
				yt_shift_lines(&d->tree, (int)line - (int)d->line0);
				d->line0 = line;
			}
			nnodes += d->tree.nnodes;
			fsvcs += d->svcs.nsvcs;
			line += (unsigned int)lines;
			off = end;
			if (!len)
				break;
		}
		free(buf);
		if (nnodes > YT_MAX_NODES)
			whole = true;
		/* the checks a file's documents make together */
		if (!whole && fsvcs > 1) {
			struct split_service *tmp = malloc(fsvcs * sizeof(*tmp));
			size_t k = 0;
			bool bad;

			if (!tmp)
				goto oom;
			for (size_t i = first; i < ndocs; i++)
				for (size_t j = 0; j < docs[i]->svcs.nsvcs; j++)
					tmp[k++] = docs[i]->svcs.svcs[j];	/* shallow: read only */
			bad = split_services_file_conflict(tmp, fsvcs);
			free(tmp);
			whole |= bad;
		}
		nsvcs += fsvcs;
	}
	if (whole)
		goto out;	/* ret 0 */
	r.trees = calloc(ndocs + 1, sizeof(*r.trees));
	r.istio = calloc(ndocs + 1, sizeof(*r.istio));
	r.svcs.svcs = calloc(nsvcs + 1, sizeof(*r.svcs.svcs));
	if (!r.trees || !r.istio || !r.svcs.svcs)
		goto oom;
	for (size_t i = 0; i < ndocs; i++) {
		r.istio[r.ntrees] = docs[i]->rules;
		r.trees[r.ntrees++] = docs[i]->tree;	/* borrowed */
		for (size_t j = 0; j < docs[i]->svcs.nsvcs; j++)
			if (split_service_copy(&r.svcs.svcs[r.svcs.nsvcs++], &docs[i]->svcs.svcs[j]))
				goto oom;
	}
	if (input_finish(&r, err)) {
		ret = 0;	/* read whole, for its error as split_input_load gives it */
		goto out;
	}
	*in = r;
	memset(&r, 0, sizeof(r));
	ret = 1;
	goto out;
oom:
	ret = split_errc(err, ENOMEM, "out of memory");
out:
	split_input_free(&r);
	free(docs);
	return ret;
}

int split_input_load_cached(const char *const *paths, size_t n,
			    struct split_input_cache *c, struct split_input *in,
			    struct split_err *err)
{
	struct split_paths fl = { 0 };
	int r;

	if (!c)
		return split_input_load(paths, n, in, err);
	memset(in, 0, sizeof(*in));
	r = split_paths_expand(paths, n, &fl, err);
	if (r < 0)
		return r;
	c->gen++;
	c->parsed = c->reused = 0;
	r = ic_load(&fl, c, in, err);	/* 1: loaded; 0: read whole instead */
	split_paths_free(&fl);
	if (r == 0)
		r = split_input_load(paths, n, in, err);
	ic_evict(c);
	return r < 0 ? r : 0;
}

int split_input_check_ids(const struct split_input *in, struct split_err *err)
{
	for (size_t i = 0; i < in->objs.n; i++) {
		const struct split_obj *o = &in->objs.v[i];
		const struct yt_node *md = yt_field(o->root, "metadata");

		if (strcmp(o->kind, "RouteRule") && strcmp(o->kind, "VirtualService") &&
		    strcmp(o->kind, "DestinationRule"))
			return yt_errf(err, o->tree, yt_field(o->root, "kind") ?: o->root,
				       "kind '%s' is not RouteRule, VirtualService or DestinationRule",
				       o->kind);
		if (!*o->name)
			return yt_errf(err, o->tree, md ?: o->root,
				       "%s: metadata.name is required", o->kind);
	}
	return 0;
}

static int trees_rules(const struct split_input *in, struct split_rules *rules,
		       struct split_err *err)
{
	const struct yt_tree **tp = calloc(in->ntrees + 1, sizeof(*tp));
	int ret;

	if (!tp)
		return split_errc(err, ENOMEM, "out of memory");
	size_t nt = 0;

	for (size_t i = 0; i < in->ntrees; i++)
		if (!in->istio || in->istio[i])
			tp[nt++] = &in->trees[i];
	ret = split_rules_from_trees(tp, nt, rules, err);
	free(tp);
	return ret;
}

int split_input_check(const struct split_input *in, struct split_err *err)
{
	struct split_rules rules = { 0 };
	int ret = trees_rules(in, &rules, err);

	split_rules_free(&rules);
	return ret;
}

/* ---- objects in force ------------------------------------------------------ */

static int open_map(struct split_state *st, const char *name, struct split_err *err)
{
	int fd = split_state_obj_get(st, name);

	if (fd < 0)
		fd = split_errc(err, errno, "opening %s/%s: %s", st->pin_dir, name, strerror(errno));
	return fd;
}

int split_objs_read(struct split_state *st, struct split_objs *objs,
		    struct split_err *err)
{
	struct split_object_key k, cur, *prev = NULL;
	struct split_object_val *v = NULL;	/* 16 KB: only when there is an object */
	struct split_objs o = { 0 };
	int fd = open_map(st, SPLIT_MAP_OBJECTS, err), ret = fd < 0 ? fd : -ENOMEM;

	if (fd < 0)
		goto out;
	while (!bpf_map_get_next_key(fd, prev, &k)) {
		struct split_obj ob = { 0 };

		if (!v && !(v = malloc(sizeof(*v))))
			goto out;
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
			ret = split_errc(err, ENOMEM, "out of memory");
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
	int ret = -EINVAL;

	if (!trees || !tp) {
		ret = split_errc(err, ENOMEM, "out of memory");
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

static size_t version_endpoints(const struct split_service *s, const char *v)
{
	size_t n = 0;

	for (size_t i = 0; i < s->neps; i++)
		n += !strcmp(s->eps[i].version, v);
	return n;
}

/* The versions that have endpoints, "v1, v2". */
static void list_versions(const struct split_service *s, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = 0;
	for (size_t i = 0; i < s->nversions && off + 1 < len; i++)
		if (version_endpoints(s, s->versions[i].name))
			off += (size_t)snprintf(buf + off, len - off, "%s%s", off ? ", " : "",
						s->versions[i].name);
}

/* A version kept with no endpoint (a weight carried over from before its
 * endpoints went) is dropped once a rule sets the weights: a single apply
 * of the same objects would not have it. */
static void drop_empty_versions(struct split_service *s)
{
	size_t n = 0;

	for (size_t i = 0; i < s->nversions; i++)
		if (version_endpoints(s, s->versions[i].name))
			s->versions[n++] = s->versions[i];
	s->nversions = n;
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
				if (*v && !version_endpoints(s, v))
					return split_errf(err, "%s: destination version '%s' of %s.%s has no endpoints (versions with endpoints: %s)",
							  rules_origin(r), v, s->name, s->ns, names);
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
		drop_empty_versions(s);
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

/* Ids the commit gave: service ns/name -> id; (id, version) -> version id.
 * By key where the maps say (svc_names, the service's version ids below
 * ver_end); by a walk of the map for a state an older splitd wrote. */
static __u32 svc_id_of(struct split_state *st, const char *ns, const char *name)
{
	struct split_name_key nk = { 0 };
	struct split_name_val nv;
	__u32 k, cur, *prev = NULL;
	struct split_service_val v;

	snprintf(nk.name, sizeof(nk.name), "%s", name);
	snprintf(nk.ns, sizeof(nk.ns), "%s", ns);
	if (st->names_fd >= 0 && !bpf_map_lookup_elem(st->names_fd, &nk, &nv) && nv.svc_id &&
	    !bpf_map_lookup_elem(st->services_fd, &nv.svc_id, &v) && !strcmp(v.ns, ns) &&
	    !strcmp(v.name, name))
		return nv.svc_id;
	while (!bpf_map_get_next_key(st->services_fd, prev, &k)) {
		cur = k;
		prev = &cur;
		if (!bpf_map_lookup_elem(st->services_fd, &k, &v) && !strcmp(v.ns, ns) &&
		    !strcmp(v.name, name))
			return k;
	}
	return 0;
}

static __u32 version_id_of(struct split_state *st, __u32 svc_id, const char *version)
{
	struct split_weight_key k, cur, *prev = NULL;
	struct split_service_val sv;
	struct split_weight_val v;

	if (!bpf_map_lookup_elem(st->services_fd, &svc_id, &sv) && sv.ver_end) {
		for (__u32 i = 1; i < sv.ver_end; i++) {
			k = (struct split_weight_key){ svc_id, i };
			if (!bpf_map_lookup_elem(st->weights_fd, &k, &v) && !strcmp(v.version, version))
				return i;
		}
		return 0;
	}
	while (!bpf_map_get_next_key(st->weights_fd, prev, &k)) {
		cur = k;
		prev = &cur;
		if (k.svc_id == svc_id && !bpf_map_lookup_elem(st->weights_fd, &k, &v) &&
		    !strcmp(v.version, version))
			return k.version_id;
	}
	return 0;
}

/* Write key -> val unless fd holds that already (vsz bytes; cur: scratch of
 * vsz bytes): a re-apply that changes nothing writes nothing. */
static int put_if_changed(int fd, const void *key, const void *val, void *cur, size_t vsz)
{
	if (!bpf_map_lookup_elem(fd, key, cur) && !memcmp(cur, val, vsz))
		return 0;
	return bpf_map_update_elem(fd, key, val, BPF_ANY);
}

static int key_cmp(const void *a, const void *b, void *ksz)
{
	return memcmp(a, b, *(const size_t *)ksz);
}

/* Is key among sorted[0..n) (ksz bytes each, sorted by key_cmp)? */
static int key_in(const char *sorted, size_t n, size_t ksz, const void *key)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(sorted + mid * ksz, key, ksz);

		if (!c)
			return 1;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* Delete every key of fd that is not among keep[0..n) (ksz bytes each,
 * at most 256). O((n + entries) log n): the keys kept are sorted once and
 * each entry of the map is looked up among them; the ones to delete are
 * gathered first (deleting while walking would skip keys). */
static int prune(int fd, const void *keep, size_t n, size_t ksz)
{
	char k[256], cur[256], *prev = NULL, *sorted = NULL, *gone = NULL;
	size_t ngone = 0, cap = 0;
	int ret = 0;

	if (n) {
		sorted = malloc(n * ksz);
		if (!sorted)
			return -ENOMEM;
		memcpy(sorted, keep, n * ksz);
		qsort_r(sorted, n, ksz, key_cmp, &ksz);
	}
	while (!bpf_map_get_next_key(fd, prev, k)) {
		memcpy(cur, k, ksz);
		prev = cur;
		if (key_in(sorted, n, ksz, k))
			continue;
		if (ngone == cap) {
			size_t c = cap ? 2 * cap : 64;
			char *g = realloc(gone, c * ksz);

			if (!g) {
				ret = -ENOMEM;
				break;
			}
			gone = g;
			cap = c;
		}
		memcpy(gone + ngone++ * ksz, k, ksz);
	}
	for (size_t i = 0; i < ngone; i++)
		if (bpf_map_delete_elem(fd, gone + i * ksz) && errno != ENOENT)
			ret = -errno;
	free(gone);
	free(sorted);
	return ret;
}

static int write_objects(struct split_state *st, const struct split_objs *objs,
			 struct split_err *err)
{
	struct split_object_key *keys = calloc(objs->n + 1, sizeof(*keys));
	struct split_object_val *v = calloc(1, sizeof(*v)), *cur = calloc(1, sizeof(*cur));
	int fd = open_map(st, SPLIT_MAP_OBJECTS, err), ret = fd < 0 ? fd : -ENOMEM;

	if (fd < 0 || !keys || !v || !cur)
		goto out;
	for (size_t i = 0; i < objs->n; i++) {
		snprintf(keys[i].kind, sizeof(keys[i].kind), "%s", objs->v[i].kind);
		snprintf(keys[i].ns, sizeof(keys[i].ns), "%s", objs->v[i].ns);
		snprintf(keys[i].name, sizeof(keys[i].name), "%s", objs->v[i].name);
		memset(v, 0, sizeof(*v));
		v->len = (__u32)snprintf(v->text, sizeof(v->text), "%s", objs->v[i].json);
		/* Only what differs is written. */
		if (!bpf_map_lookup_elem(fd, &keys[i], cur) && !memcmp(cur, v, sizeof(*v)))
			continue;
		if (bpf_map_update_elem(fd, &keys[i], v, BPF_ANY)) {
			ret = split_errc(err, errno, "writing objects: %s", strerror(errno));
			goto out;
		}
	}
	if ((ret = prune(fd, keys, objs->n, sizeof(*keys)))) {
		split_errc(err, ret, "removing objects: %s", strerror(-ret));
		goto out;
	}
	ret = 0;
out:
	free(keys);
	free(v);
	free(cur);
	if (fd >= 0)
		close(fd);
	return ret;
}

static int write_l7(struct split_state *st, const struct split_rules *rules,
		    struct split_err *err)
{
	struct split_l7_route_key *rkeys = NULL;
	struct split_l7_cond_key *ckeys = NULL;
	struct split_l7_route_val rcur;
	struct split_l7_cond_val *ccur = NULL;
	size_t nr = 0, nc = 0;
	int rfd = open_map(st, SPLIT_MAP_L7_ROUTES, err);
	int cfd = rfd < 0 ? -1 : open_map(st, SPLIT_MAP_L7_CONDS, err);
	int ret = rfd < 0 ? rfd : cfd;

	if (rfd < 0 || cfd < 0)
		goto out;
	rkeys = calloc(SPLIT_MAX_L7_ROUTES + 1, sizeof(*rkeys));
	ckeys = calloc(SPLIT_MAX_L7_CONDS + 1, sizeof(*ckeys));
	ccur = malloc(sizeof(*ccur));
	if (!rkeys || !ckeys || !ccur) {
		ret = split_errc(err, ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < rules->nsvcs; i++) {
		const struct split_rules_service *r = &rules->svcs[i];
		__u32 sid;

		if (!split_rules_service_is_l7(r))
			continue; /* a plain split: the tables say it all */
		sid = svc_id_of(st, r->ns, r->name);
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
						version_id_of(st, sid, rt->dests[d].version);
			}
			if (put_if_changed(rfd, &rkeys[nr++], &rv, &rcur, sizeof(rv)))
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
					if (put_if_changed(cfd, &ckeys[nc++], &cv, ccur,
							   sizeof(cv)))
						goto fail;
				}
		}
	}
	if (prune(cfd, ckeys, nc, sizeof(*ckeys)) || prune(rfd, rkeys, nr, sizeof(*rkeys)))
		goto fail;
	ret = 0;
	goto out;
fail:
	ret = split_errc(err, errno, "writing the L7 rules: %s", strerror(errno));
out:
	free(rkeys);
	free(ckeys);
	free(ccur);
	if (rfd >= 0)
		close(rfd);
	if (cfd >= 0)
		close(cfd);
	return ret;
}

/* "KIND NS/NAME (in force):1:80: msg" -> "KIND NS/NAME (in force): msg":
 * a position in the stored JSON means nothing to a person. */
static void strip_json_positions(struct split_err *err, const struct yt_tree *t,
				 size_t n)
{
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(t[i].name);
		char *p = err->msg;

		while ((p = strstr(p, t[i].name))) {
			char *q = p + len, *e;

			p = q;
			if (*q != ':')
				continue;
			strtoul(q + 1, &e, 10);
			if (e == q + 1 || *e != ':')
				continue;
			q = e;
			strtoul(q + 1, &e, 10);
			if (e == q + 1)
				continue;
			memmove(p, e, strlen(e) + 1);
		}
	}
	/* "RouteRule a/b (RouteRule a/b (in force))" -> "RouteRule a/b (in force)" */
	for (size_t i = 0; i < n; i++) {
		char dup[2 * SPLIT_ERR_LEN], *p;
		size_t len = strlen(t[i].name), id = len - strlen(" (in force)");

		snprintf(dup, sizeof(dup), "%.*s (%s)", (int)id, t[i].name, t[i].name);
		while ((p = strstr(err->msg, dup))) {
			char *rest = p + strlen(dup);

			memmove(p + len, rest, strlen(rest) + 1);
			memcpy(p, t[i].name, len);
		}
	}
}


/* The rules of the set objs, validated as one configuration: documents
 * from in's files where they come from there, else their JSON. */
static int set_rules(const struct split_objs *objs, const struct split_input *in,
		     struct split_rules *rules, struct split_err *err)
{
	struct yt_tree *js = calloc(objs->n + 1, sizeof(*js));
	const struct yt_tree **tp = calloc(objs->n + (in ? in->ntrees : 0) + 1, sizeof(*tp));
	struct obj_ix ix = { 0 };	/* in's objects */
	size_t njs = 0, nt = 0;
	int ret = -EINVAL;

	if (!js || !tp || (in && obj_ix_init(&ix, in->objs.n))) {
		ret = split_errc(err, ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; in && i < in->ntrees; i++)
		if (!in->istio || in->istio[i])
			tp[nt++] = &in->trees[i];
	for (size_t i = 0; in && i < in->objs.n; i++)
		obj_ix_add(&ix, &in->objs, i);
	for (size_t i = 0; i < objs->n; i++) {
		const struct split_obj *o = &objs->v[i];
		char name[SPLIT_KIND_LEN + 2 * SPLIT_NAME_LEN + 16];

		if (in && obj_ix_find(&ix, &in->objs, o->kind, o->ns, o->name) >= 0)
			continue;	/* from in's files */
		snprintf(name, sizeof(name), "%s %s/%s (in force)", o->kind, o->ns, o->name);
		if (yt_parse(name, o->json, strlen(o->json), &js[njs], err))
			goto out;
		tp[nt++] = &js[njs++];
	}
	ret = split_rules_from_trees(tp, nt, rules, err);
	if (ret && err)
		strip_json_positions(err, js, njs);
out:
	for (size_t i = 0; i < njs; i++)
		yt_free(&js[i]);
	free(js);
	free(tp);
	free(ix.slot);
	return ret;
}

int split_apply(struct split_state *st, struct split_config *svcs,
		const struct split_objs *objs, const struct split_input *in,
		struct split_err *err)
{
	struct split_rules rules = { 0 }, old = { 0 };
	struct split_objs cur = { 0 };
	int have_old, ret;

	if (objs->n > SPLIT_MAX_OBJECTS)
		return split_errf(err, "too many Istio objects (%zu, at most %d)", objs->n,
				  SPLIT_MAX_OBJECTS);
	if ((ret = set_rules(objs, in, &rules, err)))
		return ret;
	have_old = !split_objs_read(st, &cur, err) && !split_objs_rules(&cur, &old, err);
	if ((ret = compile(svcs, &rules, have_old ? &old : NULL, err)))
		goto out;
	/* Everything is checked: now write, tables first (keeping what it
	 * takes to put back what was in force, for the rollback below). svcs
	 * is every service: a full commit, whatever the last read on st was. */
	st->scope_id = 0;
	if ((ret = split_state_commit_keep(st, svcs, err)))
		goto out;
	if ((ret = write_objects(st, objs, err)) || (ret = write_l7(st, &rules, err))) {
		struct split_err rb;
		const char *more = " (nothing changed: the previous state was restored)";
		char tail[SPLIT_ERR_LEN + 32];

		/* Put back what was in force: services, objects, L7 rules. */
		if (split_state_put_back(st, &rb) ||
		    (have_old && (write_objects(st, &cur, &rb) || write_l7(st, &old, &rb)))) {
			snprintf(tail, sizeof(tail), "; rollback failed too: %s", rb.msg);
			more = tail;
		}
		if (err) {
			size_t len = strlen(err->msg);

			snprintf(err->msg + len, sizeof(err->msg) - len, "%s", more);
		}
		goto out;
	}
	ret = 0;
out:
	split_rules_free(&rules);
	split_rules_free(&old);
	split_objs_free(&cur);
	split_state_undo_drop(st);
	return ret;
}

/* ---- the owners map ---------------------------------------------------------- */

/* BTF of the owners map, so bpftool shows field names and strings. */
static struct btf *owners_btf(__u32 *key_id, __u32 *val_id)
{
	struct btf *b = btf__new_empty();
	int ch, u32, kind, name, path, k, v;

	if (!b)
		return NULL;
	ch = btf__add_int(b, "char", 1, BTF_INT_CHAR);
	u32 = btf__add_int(b, "unsigned int", 4, 0);
	kind = btf__add_array(b, u32, ch, SPLIT_KIND_LEN);
	name = btf__add_array(b, u32, ch, SPLIT_NAME_LEN);
	path = btf__add_array(b, u32, ch, SPLIT_OWNER_PATH_LEN);
	k = btf__add_struct(b, "split_object_key", sizeof(struct split_object_key));
	if (ch < 0 || u32 < 0 || kind < 0 || name < 0 || path < 0 || k < 0 ||
	    btf__add_field(b, "kind", kind, 0, 0) ||
	    btf__add_field(b, "ns", name, SPLIT_KIND_LEN * 8, 0) ||
	    btf__add_field(b, "name", name, (SPLIT_KIND_LEN + SPLIT_NAME_LEN) * 8, 0))
		goto fail;
	v = btf__add_struct(b, "split_owner_val", sizeof(struct split_owner_val));
	if (v < 0 || btf__add_field(b, "path", path, 0, 0) || btf__load_into_kernel(b))
		goto fail;
	*key_id = (__u32)k;
	*val_id = (__u32)v;
	return b;
fail:
	btf__free(b);
	return NULL;
}

static int owners_open(const char *pin_dir, int create)
{
	char path[PATH_MAX + 64];
	__u32 kid = 0, vid = 0;
	struct btf *b;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", pin_dir, SPLIT_MAP_OWNERS);
	fd = bpf_obj_get(path);
	if (fd >= 0 || !create || errno != ENOENT)
		return fd;
	b = owners_btf(&kid, &vid);
	{
		LIBBPF_OPTS(bpf_map_create_opts, o, .btf_fd = b ? (__u32)btf__fd(b) : 0,
			    .btf_key_type_id = kid, .btf_value_type_id = vid);

		fd = bpf_map_create(BPF_MAP_TYPE_HASH, SPLIT_MAP_OWNERS,
				    sizeof(struct split_object_key), sizeof(struct split_owner_val),
				    SPLIT_MAX_OBJECTS + 1, &o);
	}
	btf__free(b);
	if (fd >= 0 && bpf_obj_pin(fd, path)) {
		int e = errno;

		close(fd);
		fd = bpf_obj_get(path); /* pinned by another splitd meanwhile? */
		if (fd < 0)
			errno = e;
	}
	return fd;
}

int split_owners_write(const char *pin_dir, const struct split_objs *objs,
		       const char *dir, struct split_err *err)
{
	struct split_object_key *keys = calloc((objs ? objs->n : 0) + 2, sizeof(*keys));
	struct split_owner_val v;
	size_t n = 0;
	int fd = owners_open(pin_dir, dir != NULL), ret;

	if (fd < 0 && !dir && errno == ENOENT) {
		free(keys);
		return 0;	/* no map: nobody owns anything */
	}
	if (fd < 0 || !keys) {
		ret = split_errc(err, fd < 0 ? errno : ENOMEM, "the %s map under %s: %s",
				 SPLIT_MAP_OWNERS, pin_dir, strerror(fd < 0 ? errno : ENOMEM));
		goto out;
	}
	if (dir) {
		memset(&v, 0, sizeof(v));
		snprintf(v.path, sizeof(v.path), "%s", dir);
		if (bpf_map_update_elem(fd, &keys[n++], &v, BPF_ANY))
			goto fail;
		for (size_t i = 0; objs && i < objs->n; i++) {
			const struct split_obj *o = &objs->v[i];

			snprintf(keys[n].kind, sizeof(keys[n].kind), "%s", o->kind);
			snprintf(keys[n].ns, sizeof(keys[n].ns), "%s", o->ns);
			snprintf(keys[n].name, sizeof(keys[n].name), "%s", o->name);
			memset(&v, 0, sizeof(v));
			snprintf(v.path, sizeof(v.path), "%s", o->tree ? o->tree->name : dir);
			if (bpf_map_update_elem(fd, &keys[n++], &v, BPF_ANY))
				goto fail;
		}
	}
	if ((ret = prune(fd, keys, n, sizeof(*keys)))) {
		errno = -ret;
		goto fail;
	}
	ret = 0;
	goto out;
fail:
	ret = split_errc(err, errno, "writing the %s map: %s", SPLIT_MAP_OWNERS, strerror(errno));
out:
	free(keys);
	if (fd >= 0)
		close(fd);
	return ret;
}

int split_owner_of(const char *pin_dir, const char *kind, const char *ns,
		   const char *name, char *file, size_t flen, char *dir, size_t dlen)
{
	struct split_object_key k;
	struct split_owner_val v;
	int fd = owners_open(pin_dir, 0), ret = 0;

	if (fd < 0)
		return 0;
	memset(&k, 0, sizeof(k));
	snprintf(k.kind, sizeof(k.kind), "%s", kind);
	snprintf(k.ns, sizeof(k.ns), "%s", ns);
	snprintf(k.name, sizeof(k.name), "%s", name);
	if (!bpf_map_lookup_elem(fd, &k, &v)) {
		snprintf(file, flen, "%.*s", (int)sizeof(v.path), v.path);
		memset(&k, 0, sizeof(k));
		if (bpf_map_lookup_elem(fd, &k, &v))
			v.path[0] = 0;
		snprintf(dir, dlen, "%.*s", (int)sizeof(v.path), v.path);
		ret = 1;
	}
	close(fd);
	return ret;
}
