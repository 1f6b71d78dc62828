/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * test_yaml_tree.c - the YAML tree the config loaders read (yaml_tree.c):
 * positions, quoting, empty streams, errors, limits, integers.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "test.h"
#include "yaml_tree.h"

/* ---- yaml tree ------------------------------------------------------------ */

TEST(tree_positions_and_quoting)
{
	static const char y[] =
		"# c\n"
		"a: 50\n"
		"b: \"50\"\n"
		"c:\n"
		"  - x\n"
		"  - 'y'\n"
		"d: {k: !!str 7, n: ~}\n"
		"---\n"
		"---\n"
		"- 1\n";
	struct yt_tree t;
	struct split_err err;
	const struct yt_node *r, *n;
	const struct yt_pair *p;
	size_t i = 0;

	ASSERT_EQ(yt_parse("t.yaml", y, strlen(y), &t, &err), 0);
	ASSERT_EQ(t.ndocs, 3);
	r = t.docs[0].root;
	ASSERT_EQ(r->kind, YT_MAPPING);
	ASSERT_EQ(r->map.n, 4);
	ASSERT_EQ(r->line, 2);
	ASSERT_EQ(r->col, 1);

	n = yt_map_get(r, "a");
	ASSERT_EQ(n->kind, YT_SCALAR);
	ASSERT_STREQ(n->scalar.value, "50");
	ASSERT_FALSE(n->scalar.quoted);
	ASSERT_EQ(n->line, 2);
	ASSERT_EQ(n->col, 4);

	n = yt_map_get(r, "b");
	ASSERT_STREQ(n->scalar.value, "50");
	ASSERT_TRUE(n->scalar.quoted);
	ASSERT_EQ(n->line, 3);

	n = yt_map_get(r, "c");
	ASSERT_EQ(n->kind, YT_SEQUENCE);
	ASSERT_EQ(n->seq.n, 2);
	ASSERT_EQ(n->line, 5);
	ASSERT_EQ(n->col, 3);
	ASSERT_FALSE(n->seq.items[0]->scalar.quoted);
	ASSERT_TRUE(n->seq.items[1]->scalar.quoted);
	ASSERT_EQ(n->seq.items[1]->line, 6);
	ASSERT_EQ(n->seq.items[1]->col, 5);

	n = yt_map_get(r, "d");
	ASSERT_EQ(n->kind, YT_MAPPING);
	ASSERT_TRUE(yt_map_get(n, "k")->scalar.quoted);	/* !!str */
	ASSERT_TRUE(yt_is_null(yt_map_get(n, "n")));
	ASSERT_TRUE(yt_map_get(n, "zz") == NULL);
	ASSERT_TRUE(yt_map_get(yt_map_get(r, "a"), "x") == NULL);
	ASSERT_TRUE(yt_map_pair(n, "k") == &n->map.pairs[0]);

	yt_map_for_each(p, r)
		i++;
	ASSERT_EQ(i, 4);
	ASSERT_STREQ(r->map.pairs[3].key->scalar.value, "d");

	/* "---" alone: an empty (null) document. */
	ASSERT_TRUE(yt_is_null(t.docs[1].root));
	ASSERT_EQ(t.docs[1].line, 8);
	ASSERT_EQ(t.docs[2].root->kind, YT_SEQUENCE);
	ASSERT_EQ(t.docs[2].line, 9);
	yt_free(&t);
	yt_free(&t);
	ASSERT_TRUE(t.docs == NULL && t.name == NULL);
}

TEST(tree_empty_streams)
{
	static const char *const ys[] = { "", "# only a comment\n", "\n\n" };
	struct yt_tree t;
	struct split_err err;

	for (size_t i = 0; i < 3; i++) {
		ASSERT_EQ(yt_parse("t", ys[i], strlen(ys[i]), &t, &err), 0);
		ASSERT_EQ(t.ndocs, 0);
		yt_free(&t);
	}
}

TEST(tree_errors)
{
	static const struct {
		const char *y, *want;
	} cases[] = {
		{ "a: 1\nb: 2\na: 3\n", "t:3:1: duplicate key 'a' (first at 1:1)" },
		{ "x: {a: 1, 'a': 2}\n", "t:1:11: duplicate key 'a' (first at 1:5)" },
		{ "a: &x 1\n", "t:1:4: YAML anchors (&x) are not supported" },
		{ "a: *x\n", "t:1:4: YAML aliases (*x) are not supported" },
		{ "? [a]\n: 1\n", "t:1:3: mapping keys must be scalars, not a list" },
		{ "a:\n\tb: 1\n", "t:2:1: found a tab character where YAML allows only spaces" },
		{ "\xc3\xa9: \xc3\xa9\r\n\tb: 1\n", "t:2:1: found a tab character where YAML allows only spaces" },
		{ "a: `x`\n", "t:1:4: found character that cannot start any token (while scanning for the next token)" },
		{ "a: [1, 2\n", "t:2:1: did not find expected ',' or ']' (while parsing a flow sequence at 1:4)" },
		{ "a: \"x\\0y\"\n", "t:1:4: scalar contains a NUL character" },
		{ "a: \xff\n", "t:1:4: invalid leading UTF-8 octet (#FF)" },
		{ "a: b\n\x01", "t:2:1: control characters are not allowed (#1)" },
	};
	struct yt_tree t;
	struct split_err err;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&t, 0xaa, sizeof(t));
		ASSERT_EQ(yt_parse("t", cases[i].y, strlen(cases[i].y), &t, &err), -EINVAL);
		ASSERT_CONTAINS(err.msg, cases[i].want);
		ASSERT_TRUE(t.docs == NULL && t.ndocs == 0 && t.name == NULL);
	}
}

TEST(tree_limits)
{
	struct split_err err;
	struct yt_tree t;
	char *y;
	size_t n = 0;

	/* The root mapping plus 63 lists is the deepest allowed. */
	y = malloc(1024);
	ASSERT_TRUE(y != NULL);
	n = (size_t)sprintf(y, "a: ");
	for (int i = 0; i < 63; i++)
		y[n++] = '[';
	for (int i = 0; i < 63; i++)
		y[n++] = ']';
	ASSERT_EQ(yt_parse("t", y, n, &t, &err), 0);
	yt_free(&t);

	n = (size_t)sprintf(y, "a: ");
	for (int i = 0; i < 200; i++)
		y[n++] = '[';
	for (int i = 0; i < 200; i++)
		y[n++] = ']';
	y[n] = 0;
	ASSERT_EQ(yt_parse("t", y, n, &t, &err), -EINVAL);
	free(y);
	ASSERT_CONTAINS(err.msg, "t:1:67: YAML nested too deeply (limit 64)");

	/* 1,000,001 scalars in one flow list (plus the list itself). */
	n = 0;
	y = malloc(2 * (YT_MAX_NODES + 1) + 2);
	ASSERT_TRUE(y != NULL);
	y[n++] = '[';
	for (int i = 0; i < YT_MAX_NODES + 1; i++) {
		y[n++] = '1';
		y[n++] = ',';
	}
	y[n - 1] = ']';
	ASSERT_EQ(yt_parse("t", y, n, &t, &err), -EINVAL);
	free(y);
	ASSERT_CONTAINS(err.msg, "t:1:2000000: too many YAML nodes (limit 1000000)");
}

TEST(tree_int)
{
	static const struct {
		const char *s;
		int ret;
		long long v;
	} cases[] = {
		{ "0", 0, 0 }, { "1", 0, 1 }, { "65535", 0, 65535 },
		{ "-5", 0, -5 }, { "-0", 0, 0 },
		{ "65536", -ERANGE, 0 }, { "-11", -ERANGE, 0 },
		{ "99999999999999999999999", -ERANGE, 0 },
		{ "12abc", -EINVAL, 0 }, { "1e3", -EINVAL, 0 }, { "0x10", -EINVAL, 0 },
		{ "010", -EINVAL, 0 }, { "+1", -EINVAL, 0 }, { "", -EINVAL, 0 }, { "-", -EINVAL, 0 },
		{ " 1", -EINVAL, 0 }, { "1 ", -EINVAL, 0 }, { "1_000", -EINVAL, 0 },
		{ "1.0", -EINVAL, 0 }, { "9999999999999999999999x", -EINVAL, 0 },
	};
	long long v;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		v = 777;
		if (yt_parse_int(cases[i].s, -10, 65535, &v) != cases[i].ret) {
			fprintf(stderr, "  '%s'\n", cases[i].s);
			ASSERT_TRUE(0);
		}
		ASSERT_EQ(v, cases[i].ret ? 777 : cases[i].v);
	}
	ASSERT_EQ(yt_parse_int("-9223372036854775808", LLONG_MIN, 0, &v), 0);
	ASSERT_EQ(v, LLONG_MIN);
	ASSERT_EQ(yt_parse_int("9223372036854775807", 0, LLONG_MAX, &v), 0);
	ASSERT_EQ(v, LLONG_MAX);
	ASSERT_EQ(yt_parse_int("9223372036854775808", 0, LLONG_MAX, &v), -ERANGE);
}

TEST(tree_int_node)
{
	static const char y[] =
		"a: 50\nb: \"50\"\nc: [1]\nd: 12abc\ne: 70000\nf:\ng: !!int 7\n"
		"h: !!float 7\n";
	/* Refused: the status and the message, whole or a part (!whole). */
	static const struct {
		const char *key, *name;
		long long lo, hi;
		int ret, whole;
		const char *msg;
	} bad[] = {
		{ "b", "weight", 0, 100, -EINVAL, 1,
		  "t.yaml:2:4: weight must be an integer, not a quoted string (\"50\")" },
		{ "c", "c", 0, 100, -EINVAL, 1, "t.yaml:3:4: c must be an integer, not a list" },
		{ "d", "d", 0, 100, -EINVAL, 1, "t.yaml:4:4: d must be a decimal integer, got '12abc'" },
		{ "e", "e", 1, 65535, -ERANGE, 1, "t.yaml:5:4: e 70000 is out of range (1..65535)" },
		{ "f", "f", 1, 65535, -EINVAL, 0, ":6:3: f must be an integer, not null" },
		{ "h", "h", 1, 65535, -EINVAL, 0,
		  "h must be an integer, not tagged tag:yaml.org,2002:float" },
	};
	struct yt_tree t;
	struct split_err err;
	const struct yt_node *r;
	long long v;

	ASSERT_EQ(yt_parse("t.yaml", y, strlen(y), &t, &err), 0);
	r = t.docs[0].root;
	ASSERT_EQ(yt_int(&t, yt_map_get(r, "a"), "a", 0, 100, &v, &err), 0);
	ASSERT_EQ(v, 50);
	ASSERT_EQ(yt_int(&t, yt_map_get(r, "g"), "g", 0, 100, &v, &err), 0);
	ASSERT_EQ(v, 7);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ASSERT_EQ(yt_int(&t, yt_map_get(r, bad[i].key), bad[i].name, bad[i].lo, bad[i].hi,
				 &v, &err), bad[i].ret);
		if (bad[i].whole)
			ASSERT_STREQ(err.msg, bad[i].msg);
		else
			ASSERT_CONTAINS(err.msg, bad[i].msg);
	}
	ASSERT_EQ(yt_int(&t, NULL, "z", 1, 65535, &v, &err), -EINVAL);
	ASSERT_STREQ(err.msg, "t.yaml: z is required");
	yt_free(&t);
}
