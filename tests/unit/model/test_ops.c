// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* test_ops.c - splitctl set semantics, service lookup, merge on restart. */
#include <stdarg.h>

#include "ops.h"
#include "state.h"
#include "test.h"

static void mk_service(struct split_service *s, const char *name, const char *ns,
		       const char **vers, const int *neps, size_t nv)
{
	size_t total = 0, e = 0;

	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(s->ns, sizeof(s->ns), "%s", ns);
	for (size_t i = 0; i < nv; i++)
		total += (size_t)neps[i];
	s->versions = calloc(nv, sizeof(*s->versions));
	s->eps = calloc(total + 1, sizeof(*s->eps));
	s->nversions = nv;
	for (size_t i = 0; i < nv; i++) {
		snprintf(s->versions[i].name, SPLIT_NAME_LEN, "%s", vers[i]);
		s->versions[i].weight = (uint32_t)neps[i];
		for (int k = 0; k < neps[i]; k++, e++) {
			s->eps[e].addr.family = 4;
			s->eps[e].addr.bytes[0] = 10;
			s->eps[e].addr.bytes[2] = (uint8_t)i;
			s->eps[e].addr.bytes[3] = (uint8_t)(k + 2);
			snprintf(s->eps[e].version, SPLIT_NAME_LEN, "%s", vers[i]);
		}
	}
	s->neps = total;
}

/* reviews.default v1(2 eps) v2 v3; reviews.prod v1; ratings.default v1 */
static void mk_config(struct split_config *cfg)
{
	const char *v3[] = { "v1", "v2", "v3" }, *v1[] = { "v1" };
	const int n3[] = { 2, 1, 1 }, n1[] = { 1 };

	cfg->nsvcs = 3;
	cfg->svcs = calloc(3, sizeof(*cfg->svcs));
	mk_service(&cfg->svcs[0], "reviews", "default", v3, n3, 3);
	mk_service(&cfg->svcs[1], "reviews", "prod", v1, n1, 1);
	mk_service(&cfg->svcs[2], "ratings", "default", v1, n1, 1);
}

static int set(struct split_config *cfg, size_t idx, struct split_err *err, int n, ...)
{
	char *argv[8];
	va_list ap;

	va_start(ap, n);
	for (int i = 0; i < n; i++)
		argv[i] = va_arg(ap, char *);
	va_end(ap);
	return split_config_set_weights(cfg, idx, n, argv, err);
}

TEST(find_service_by_name_forms)
{
	struct split_config cfg = { 0 };
	struct split_err err;

	mk_config(&cfg);
	ASSERT_EQ(split_config_find(&cfg, "ratings", &err), 2);
	ASSERT_EQ(split_config_find(&cfg, "reviews.prod", &err), 1);
	ASSERT_EQ(split_config_find(&cfg, "default/reviews", &err), 0);
	ASSERT_EQ(split_config_find(&cfg, "reviews", &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "exists in 2 namespaces");
	ASSERT_EQ(split_config_find(&cfg, "details", &err), -ENOENT);
	ASSERT_CONTAINS(err.msg, "unknown service 'details'");
	ASSERT_CONTAINS(err.msg, "ratings.default");
	split_config_free(&cfg);
}

TEST(set_names_versions_rest_get_zero)
{
	struct split_config cfg = { 0 };
	struct split_err err;

	mk_config(&cfg);
	ASSERT_FALSE(cfg.svcs[0].routed);
	ASSERT_EQ(set(&cfg, 0, &err, 2, "v1=50", "v2=50"), 0);
	ASSERT_TRUE(cfg.svcs[0].routed);
	ASSERT_EQ(cfg.svcs[0].versions[0].weight, 50);
	ASSERT_EQ(cfg.svcs[0].versions[1].weight, 50);
	ASSERT_EQ(cfg.svcs[0].versions[2].weight, 0);
	ASSERT_EQ(set(&cfg, 0, &err, 2, "v3=1", "v1=0"), 0);
	ASSERT_EQ(cfg.svcs[0].versions[0].weight, 0);
	ASSERT_EQ(cfg.svcs[0].versions[1].weight, 0);
	ASSERT_EQ(cfg.svcs[0].versions[2].weight, 1);
	split_config_free(&cfg);
}

TEST(set_errors_change_nothing)
{
	struct {
		const char *a, *b, *msg;
	} bad[] = {
		{ "v1=50", "v9=50", "has no version 'v9' (versions: v1, v2, v3)" },
		{ "v1=-5", NULL, "must be a non-negative integer, not '-5'" },
		{ "v1=abc", NULL, "must be a non-negative integer, not 'abc'" },
		{ "v1=", NULL, "must be a non-negative integer, not ''" },
		{ "v1=1.5", NULL, "must be a non-negative integer, not '1.5'" },
		{ "v1= 5", NULL, "must be a non-negative integer" },
		{ "v1=+5", NULL, "must be a non-negative integer" },
		{ "v1=1000001", NULL, "too large" },
		{ "v1=99999999999999999999", NULL, "too large" },
		{ "v1", NULL, "expected VERSION=WEIGHT" },
		{ "=5", NULL, "expected VERSION=WEIGHT" },
		{ "v1:50", NULL, "expected VERSION=WEIGHT" },
		{ "v1=0", "v2=0", "all weights are 0" },
		{ "v1=10", "v1=20", "'v1' given twice" },
		{ "v1=0", "v1=0", "'v1' given twice" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct split_config cfg = { 0 };
		struct split_err err = { "" };
		int r;

		mk_config(&cfg);
		ASSERT_EQ(set(&cfg, 0, &err, 2, "v1=7", "v2=3"), 0);
		r = bad[i].b ? set(&cfg, 0, &err, 2, bad[i].a, bad[i].b) :
			       set(&cfg, 0, &err, 1, bad[i].a);
		if (r != -EINVAL || !strstr(err.msg, bad[i].msg)) {
			split_config_free(&cfg);
			TEST_FAIL_("'%s %s': rc %d, error \"%s\", wanted \"%s\"", bad[i].a,
				   bad[i].b ? bad[i].b : "", r, err.msg, bad[i].msg);
		}
		ASSERT_EQ(cfg.svcs[0].versions[0].weight, 7);
		ASSERT_EQ(cfg.svcs[0].versions[1].weight, 3);
		ASSERT_EQ(cfg.svcs[0].versions[2].weight, 0);
		split_config_free(&cfg);
	}
}

TEST(reset_weighs_endpoints)
{
	struct split_config cfg = { 0 };
	struct split_err err;

	mk_config(&cfg);
	ASSERT_EQ(set(&cfg, 0, &err, 1, "v2=1"), 0);
	split_config_reset_weights(&cfg, 0);
	ASSERT_FALSE(cfg.svcs[0].routed);
	ASSERT_EQ(cfg.svcs[0].versions[0].weight, 2);
	ASSERT_EQ(cfg.svcs[0].versions[1].weight, 1);
	ASSERT_EQ(cfg.svcs[0].versions[2].weight, 1);
	split_config_free(&cfg);
}

TEST(merge_keeps_routed_weights)
{
	struct split_config old = { 0 }, file = { 0 };
	const char *v12[] = { "v1", "v2" }, *v14[] = { "v1", "v4" };
	const int n12[] = { 1, 1 }, n14[] = { 1, 3 };
	struct split_err err;

	mk_config(&old);
	ASSERT_EQ(set(&old, 0, &err, 2, "v1=80", "v3=20"), 0);
	/* The new file: reviews.default lost v3's endpoints and gained v4;
	 * ratings is unrouted and stays equal-share; reviews.prod is gone. */
	file.nsvcs = 2;
	file.svcs = calloc(2, sizeof(*file.svcs));
	mk_service(&file.svcs[0], "reviews", "default", v14, n14, 2);
	mk_service(&file.svcs[1], "ratings", "default", v12, n12, 2);
	ASSERT_EQ(split_config_merge(&file, &old, &err), 0);
	ASSERT_TRUE(file.svcs[0].routed);
	ASSERT_EQ(file.svcs[0].nversions, 3);
	ASSERT_STREQ(file.svcs[0].versions[0].name, "v1");
	ASSERT_EQ(file.svcs[0].versions[0].weight, 80);
	ASSERT_STREQ(file.svcs[0].versions[1].name, "v3");
	ASSERT_EQ(file.svcs[0].versions[1].weight, 20); /* kept, no endpoint */
	ASSERT_STREQ(file.svcs[0].versions[2].name, "v4");
	ASSERT_EQ(file.svcs[0].versions[2].weight, 0); /* new: starts at 0 */
	ASSERT_FALSE(file.svcs[1].routed);
	ASSERT_EQ(file.svcs[1].versions[0].weight, 1);
	ASSERT_EQ(file.svcs[1].versions[1].weight, 1);
	split_config_free(&old);
	split_config_free(&file);
}

TEST(dup_is_deep)
{
	struct split_config a = { 0 }, b = { 0 };

	mk_config(&a);
	ASSERT_EQ(split_config_dup(&a, &b), 0);
	b.svcs[0].versions[0].weight = 99;
	ASSERT_EQ(a.svcs[0].versions[0].weight, 2);
	ASSERT_EQ(b.svcs[0].neps, a.svcs[0].neps);
	split_config_free(&a);
	split_config_free(&b);
}

/* Duplicate keys by hash: the first key that repeats an earlier one, and
 * that earlier one; none among distinct keys, also when they share a
 * hash bucket's neighbourhood (many keys, small differences). */
TEST(dup_find_first_repeat_in_order)
{
	struct split_name_dkey k[2000];
	struct split_service s;
	size_t first = 99, dup = 99;

	memset(&s, 0, sizeof(s));
	for (size_t i = 0; i < 2000; i++) {
		snprintf(s.name, sizeof(s.name), "svc-%zu", i);
		snprintf(s.ns, sizeof(s.ns), "%s", i % 2 ? "default" : "prod");
		split_name_dkey(&k[i], &s);
	}
	ASSERT_EQ(split_dup_find(k, 2000, sizeof(k[0]), &first, &dup), 0);
	ASSERT_EQ(split_dup_find(k, 0, sizeof(k[0]), &first, &dup), 0);
	/* svc-1700 again at 1800 and svc-5 again at 1900: 1800 is first */
	k[1800] = k[1700];
	k[1900] = k[5];
	ASSERT_EQ(split_dup_find(k, 2000, sizeof(k[0]), &first, &dup), 1);
	ASSERT_EQ(first, 1700);
	ASSERT_EQ(dup, 1800);
	/* what follows a name's end does not count */
	memset(&s, 0x7a, sizeof(s));
	snprintf(s.name, sizeof(s.name), "svc-3");
	snprintf(s.ns, sizeof(s.ns), "default");
	split_name_dkey(&k[1999], &s);
	ASSERT_EQ(split_dup_find(k, 1800, sizeof(k[0]), &first, &dup), 0);
	ASSERT_EQ(split_dup_find(k, 2000, sizeof(k[0]), &first, &dup), 1);
	ASSERT_EQ(first, 1700);
	ASSERT_EQ(split_dup_find(&k[1], 1999, sizeof(k[0]), &first, &dup), 1);
	ASSERT_EQ(first, 1699);
	ASSERT_EQ(dup, 1799);
	{	/* VIP keys: port and protocol count */
		struct split_vip_dkey v[3];
		struct split_addr a = { .family = 4, .bytes = { 10, 96, 0, 1 } };

		split_vip_dkey(&v[0], &a, 80, 6);
		split_vip_dkey(&v[1], &a, 80, 17);
		split_vip_dkey(&v[2], &a, 81, 6);
		ASSERT_EQ(split_dup_find(v, 3, sizeof(v[0]), &first, &dup), 0);
		split_vip_dkey(&v[2], &a, 80, 17);
		ASSERT_EQ(split_dup_find(v, 3, sizeof(v[0]), &first, &dup), 1);
		ASSERT_EQ(first, 1);
		ASSERT_EQ(dup, 2);
	}
}
