/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * yaml_tree.h - a small YAML DOM built from libyaml's parser events.
 *
 * Every node keeps the 1-based line and column where it starts, so config
 * errors can say "services.yaml:14:5: ...". Scalars keep their text and
 * whether they were quoted (weight: "50" is a string, weight: 50 is not).
 *
 * What is rejected while building the tree, with NAME:LINE:COL: errors:
 *   - anything libyaml rejects (tabs for indentation, bad syntax, bad UTF-8)
 *   - anchors and aliases (&a, *a, and so merge keys <<: *a)
 *   - duplicate keys in one mapping, and keys that are not scalars
 *   - scalars containing a NUL character
 *   - nesting deeper than YT_MAX_DEPTH, more than YT_MAX_NODES nodes
 */
#ifndef SPLIT_YAML_TREE_H
#define SPLIT_YAML_TREE_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "model.h"

#define YT_MAX_DEPTH	64		/* nested collections */
#define YT_MAX_NODES	1000000		/* nodes in a stream, keys included */

enum yt_kind {
	YT_SCALAR,
	YT_SEQUENCE,
	YT_MAPPING,
};

struct yt_node;

struct yt_pair {
	struct yt_node *key;	/* always a scalar */
	struct yt_node *value;
};

struct yt_node {
	enum yt_kind kind;
	unsigned int line;	/* 1-based, from the event's start_mark */
	unsigned int col;	/* 1-based, in characters */
	char *tag;		/* explicit tag ("tag:yaml.org,2002:str"), or NULL */
	union {
		struct {
			char *value;	/* NUL-terminated, never NULL */
			size_t len;
			/* Quoted ('x', "x", | or >), or tagged !!str or "!":
			 * the author meant a string. */
			bool quoted;
		} scalar;
		struct {
			struct yt_node **items;
			size_t n;
		} seq;
		struct {
			struct yt_pair *pairs;	/* in document order */
			size_t n;
		} map;
	};
};

struct yt_doc {
	/* Never NULL once parsed: an empty document ("---" alone) is a
	 * plain empty scalar; see yt_is_null(). */
	struct yt_node *root;
	unsigned int line, col;	/* where the document starts */
};

struct yt_chunk;

struct yt_tree {
	char *name;		/* for messages: "NAME:LINE:COL: ..." */
	struct yt_doc *docs;	/* a stream with only comments has none */
	size_t ndocs;
	size_t nnodes;
	/* Nodes, scalars and tags live in chunks freed with the tree (one
	 * malloc per chunk, not three per node: most of a large file's
	 * parse time was malloc). */
	struct yt_chunk *arena;
};

/*
 * Parse a YAML stream (one or more documents) from buf[0..len). `name` is
 * used in messages. On error returns -EINVAL (-ENOMEM) with err set and *tree zeroed; on
 * success returns 0 and the caller frees the tree with yt_free().
 */
int yt_parse(const char *name, const char *buf, size_t len,
	     struct yt_tree *tree, struct split_err *err);
/* Move every position of tree by delta lines (a part of a file parsed on
 * its own, then found at another line of it). */
void yt_shift_lines(struct yt_tree *tree, int delta);
/* Free everything and zero the struct; safe on a zeroed struct. */
void yt_free(struct yt_tree *tree);

/* printf into err as "NAME:LINE:COL: message" for node n (NAME:
 * when n is NULL); returns -code. yt_errf: the same with EINVAL. */
int yt_errc(struct split_err *err, int code, const struct yt_tree *tree,
	    const struct yt_node *n, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
#define yt_errf(err, tree, n, ...) yt_errc(err, EINVAL, tree, n, __VA_ARGS__)

/* A plain scalar "", "~", "null", "Null" or "NULL" (YAML's null). */
bool yt_is_null(const struct yt_node *n);

/* "a string", "a list", "a mapping": for messages such as
 * "ports must be a list, not a string". */
const char *yt_kind_str(const struct yt_node *n);

/* The value (or the whole pair) of key in mapping map, or NULL when map is
 * NULL, not a mapping, or has no such key. */
struct yt_node *yt_map_get(const struct yt_node *map, const char *key);
/* The value of key in m, or NULL when it is absent or null. */
const struct yt_node *yt_field(const struct yt_node *m, const char *key);
/* Where to point a "key is required" error: its null value if it has
 * one, else m. */
const struct yt_node *yt_blame(const struct yt_node *m, const char *key);
const struct yt_pair *yt_map_pair(const struct yt_node *map, const char *key);

/* for (each pair p of mapping m): p is a const struct yt_pair *. */
#define yt_map_for_each(p, m)						\
	for ((p) = (m)->map.pairs; (p) < (m)->map.pairs + (m)->map.n; (p)++)
/* for (each item i of sequence s): i is a struct yt_node *; idx a size_t. */
#define yt_seq_for_each(i, idx, s)					\
	for ((idx) = 0; (idx) < (s)->seq.n && ((i) = (s)->seq.items[idx]); (idx)++)

/*
 * Strict decimal integer: optional '-', digits, no leading zeros, no '+',
 * no spaces, no "1e3", "0x10", "1_000", "12abc", "". Returns 0, -EINVAL
 * when s is not such an integer, or -ERANGE when it is one but outside
 * [min, max].
 */
int yt_parse_int(const char *s, long long min, long long max, long long *out);

/*
 * n must be an unquoted scalar holding a strict decimal integer in
 * [min, max] (an explicit !!int tag is allowed, any other tag is not).
 * On error: "NAME:L:C: WHAT must be an integer, not a list",
 * "... WHAT must be an integer, not a quoted string ("50")",
 * "... WHAT must be a decimal integer, got '12abc'",
 * "... WHAT 70000 is out of range (1..65535)". Returns 0, -EINVAL or
 * -ERANGE.
 */
int yt_int(const struct yt_tree *tree, const struct yt_node *n,
	   const char *what, long long min, long long max, long long *out,
	   struct split_err *err);

/*
 * n must be a scalar (quoted or not; a null scalar gives ""). Sets *out to
 * its text, owned by the tree. Error: "WHAT must be a string, not a list".
 */
int yt_str(const struct yt_tree *tree, const struct yt_node *n,
	   const char *what, const char **out, struct split_err *err);

/*
 * Write n as one line of JSON (which is YAML too): mappings and sequences
 * in flow style, plain integers, true/false/null bare, every other scalar
 * a double-quoted string. Parsing it back gives the same tree (but for
 * positions and tags). Returns 0, or -EIO on a write error.
 */
int yt_write_json(FILE *f, const struct yt_node *n);
/* s as a JSON string, quoted and escaped. */
int yt_write_json_str(FILE *f, const char *s);
/* The same, with node `old` (somewhere inside n) written as the JSON text
 * `json` instead: an edit, e.g. of one list in an object. */
int yt_write_json_replace(FILE *f, const struct yt_node *n, const struct yt_node *old,
			  const char *json);

#endif /* SPLIT_YAML_TREE_H */
