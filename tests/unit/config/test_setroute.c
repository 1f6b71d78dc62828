// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * test_setroute.c - `splitctl set` on an object's default route
 * (split_objs_set_route), and the input loader's split of work: documents
 * checked alone at load, the set checked whole.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apply.h"
#include "services_yaml.h"
#include "test.h"

static const char services[] =
	"apiVersion: split.dev/v1\n"
	"kind: Service\n"
	"metadata: {name: reviews}\n"
	"spec:\n"
	"  clusterIPs: [10.96.0.10]\n"
	"  ports: [{port: 9080}]\n"
	"  endpoints:\n"
	"  - {addresses: [10.201.1.2, 10.201.1.3], labels: {version: v1}}\n"
	"  - {addresses: [10.201.2.2], labels: {version: v2}}\n"
	"  - {addresses: [10.201.3.2], labels: {version: v3}}\n";

static const char rr_default[] =
	"{\"apiVersion\":\"config.istio.io/v1alpha2\",\"kind\":\"RouteRule\","
	"\"metadata\":{\"name\":\"reviews-default\"},\"spec\":{\"destination\":{\"name\":\"reviews\"},"
	"\"precedence\":1,\"route\":[{\"labels\":{\"version\":\"v1\"}}]}}";
static const char rr_test_user[] =
	"{\"apiVersion\":\"config.istio.io/v1alpha2\",\"kind\":\"RouteRule\","
	"\"metadata\":{\"name\":\"reviews-test-user\"},\"spec\":{\"destination\":{\"name\":\"reviews\"},"
	"\"precedence\":2,\"match\":{\"request\":{\"headers\":{\"cookie\":{\"regex\":\"^(.*?;)?(user=test-user)(;.*)?$\"}}}},"
	"\"route\":[{\"labels\":{\"version\":\"v2\"}}]}}";
static const char dr[] =
	"{\"apiVersion\":\"networking.istio.io/v1beta1\",\"kind\":\"DestinationRule\","
	"\"metadata\":{\"name\":\"reviews\"},\"spec\":{\"host\":\"reviews\",\"subsets\":["
	"{\"name\":\"stable\",\"labels\":{\"version\":\"v1\"}},"
	"{\"name\":\"canary\",\"labels\":{\"version\":\"v3\"}},"
	"{\"name\":\"canary-b\",\"labels\":{\"version\":\"v3\",\"track\":\"b\"}}]}}";
static const char vs[] =
	"{\"apiVersion\":\"networking.istio.io/v1beta1\",\"kind\":\"VirtualService\","
	"\"metadata\":{\"name\":\"reviews\"},\"spec\":{\"hosts\":[\"reviews\"],\"http\":["
	"{\"match\":[{\"headers\":{\"end-user\":{\"exact\":\"jason\"}}}],"
	"\"route\":[{\"destination\":{\"host\":\"reviews\",\"subset\":\"canary\"}}]},"
	"{\"route\":[{\"destination\":{\"host\":\"reviews.default.svc.cluster.local\",\"subset\":\"stable\","
	"\"port\":{\"number\":9080}},\"weight\":90},"
	"{\"destination\":{\"host\":\"reviews.default.svc.cluster.local\",\"subset\":\"canary\","
	"\"port\":{\"number\":9080}},\"weight\":10}]}]}}";

struct fix {
	struct split_config cfg;
	struct split_objs objs;
	struct split_rules rules;
	struct split_err err;
};

static void fix_free(struct fix *f)
{
	split_config_free(&f->cfg);
	split_objs_free(&f->objs);
	split_rules_free(&f->rules);
}

static int add(struct split_objs *o, const char *kind, const char *name, const char *json)
{
	struct split_objs one = { 0 };
	struct split_obj ob = { 0 };
	int r;

	snprintf(ob.kind, sizeof(ob.kind), "%s", kind);
	snprintf(ob.ns, sizeof(ob.ns), "default");
	snprintf(ob.name, sizeof(ob.name), "%s", name);
	ob.json = (char *)json;
	one.v = &ob;
	one.n = 1;
	r = split_objs_merge(o, &one);
	return r;
}

/* Services and objects; rules compiled from the objects. */
static int fix_init(struct fix *f, int with_vs)
{
	memset(f, 0, sizeof(*f));
	if (split_services_parse("svc.yaml", services, strlen(services), &f->cfg, &f->err))
		return -1;
	if (with_vs ? add(&f->objs, "DestinationRule", "reviews", dr) ||
			      add(&f->objs, "VirtualService", "reviews", vs)
		    : add(&f->objs, "RouteRule", "reviews-default", rr_default) ||
			      add(&f->objs, "RouteRule", "reviews-test-user", rr_test_user))
		return -1;
	return split_objs_rules(&f->objs, &f->rules, &f->err);
}

/* set ARGS on reviews; 0 or -1 (err in f). */
static int fix_set(struct fix *f, const char *args)
{
	char buf[256], *argv[16], *save = NULL;
	int argc = 0;

	snprintf(buf, sizeof(buf), "%s", args);
	for (char *t = strtok_r(buf, " ", &save); t && argc < 16; t = strtok_r(NULL, " ", &save))
		argv[argc++] = t;
	return split_objs_set_route(&f->objs, &f->rules, &f->cfg.svcs[0], argc, argv, &f->err);
}

/* "v1=50 v2=50": the destinations of the default route after objs. */
static void default_route(const struct split_objs *objs, char *out, size_t len)
{
	struct split_rules r = { 0 };
	struct split_err err;
	const struct split_rules_service *s;
	size_t off = 0;

	out[0] = 0;
	if (split_objs_rules(objs, &r, &err)) {
		snprintf(out, len, "error: %.200s", err.msg);
		return;
	}
	s = split_rules_find(&r, "default", "reviews");
	if (s && s->nroutes && !s->routes[s->nroutes - 1].nmatches) {
		const struct split_route *rt = &s->routes[s->nroutes - 1];

		for (size_t d = 0; d < rt->ndests; d++)
			off += (size_t)snprintf(out + off, len - off, "%s%s=%u", d ? " " : "",
						*rt->dests[d].subset ? rt->dests[d].subset :
								       rt->dests[d].version,
						rt->dests[d].weight);
	}
	split_rules_free(&r);
}

static const char *json_of(const struct split_objs *o, const char *kind, const char *name)
{
	const struct split_obj *ob = split_objs_find(o, kind, "default", name);

	return ob ? ob->json : NULL;
}

TEST(route_rule_default_route_patched)
{
	struct fix f;
	struct split_object_key id;
	char got[256];
	int r;

	r = fix_init(&f, 0);
	if (r)
		fix_free(&f);
	ASSERT_EQ(r, 0);
	r = split_weights_owner(&f.rules, "default", "reviews", &id);
	ASSERT_EQ(r, 1);
	ASSERT_STREQ(id.kind, "RouteRule");
	ASSERT_STREQ(id.name, "reviews-default");
	r = fix_set(&f, "v1=50 v2=50");
	default_route(&f.objs, got, sizeof(got));
	if (r || strcmp(got, "v1=50 v2=50") ||
	    strcmp(json_of(&f.objs, "RouteRule", "reviews-test-user"), rr_test_user)) {
		fprintf(stderr, "  set: %d %s; route %s\n", r, f.err.msg, got);
		fix_free(&f);
		TEST_FAIL_("v1=50 v2=50 on the RouteRule");
	}
	/* Relative weights that scale exactly; the order given. */
	r = fix_set(&f, "v2=1 v1=9");
	default_route(&f.objs, got, sizeof(got));
	fix_free(&f);
	ASSERT_EQ(r, 0);
	ASSERT_STREQ(got, "v2=10 v1=90");
}

TEST(route_rule_refusals_change_nothing)
{
	static const char *const bad[][2] = {
		{ "v1=1 v2=2", "whole percents" },
		{ "v4=100", "no version 'v4'" },
		{ "v1=0", "all weights are 0" },
		{ "v1=50 v1=50", "given twice" },
		{ "v1=x", "non-negative integer" },
		{ "v1=1000001", "too large" },
		{ "=5", "expected NAME=WEIGHT" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct fix f;
		int r = fix_init(&f, 0);

		if (!r)
			r = fix_set(&f, bad[i][0]) == 0 ||
			    !strstr(f.err.msg, bad[i][1]) ||
			    strcmp(json_of(&f.objs, "RouteRule", "reviews-default"), rr_default);
		if (r)
			fprintf(stderr, "  %s: %s\n", bad[i][0], f.err.msg);
		fix_free(&f);
		ASSERT_EQ(r, 0);
	}
}

TEST(virtual_service_last_route_patched)
{
	struct fix f;
	char got[256];
	const char *j;
	int r = fix_init(&f, 1);

	if (r)
		fix_free(&f);
	ASSERT_EQ(r, 0);
	/* By subset name; a new destination copies host and port. */
	r = fix_set(&f, "stable=50 canary-b=50");
	default_route(&f.objs, got, sizeof(got));
	j = json_of(&f.objs, "VirtualService", "reviews");
	if (r || strcmp(got, "stable=50 canary-b=50") ||
	    !strstr(j, "{\"destination\":{\"host\":\"reviews.default.svc.cluster.local\",\"subset\":\"canary-b\",\"port\":{\"number\":9080}},\"weight\":50}") ||
	    !strstr(j, "{\"match\":[{\"headers\":{\"end-user\":{\"exact\":\"jason\"}}}],\"route\":[{\"destination\":{\"host\":\"reviews\",\"subset\":\"canary\"}}]}")) {
		fprintf(stderr, "  %d %s: %s\n  %s\n", r, f.err.msg, got, j);
		fix_free(&f);
		TEST_FAIL_("stable=50 canary-b=50");
	}
	/* By version label: v1 is stable's only; v3 is two subsets'. */
	r = fix_set(&f, "v1=100");
	default_route(&f.objs, got, sizeof(got));
	if (r || strcmp(got, "stable=100")) {
		fprintf(stderr, "  %d %s: %s\n", r, f.err.msg, got);
		fix_free(&f);
		TEST_FAIL_("v1=100");
	}
	r = fix_set(&f, "v3=100");
	if (!r || !strstr(f.err.msg, "several subsets")) {
		fprintf(stderr, "  %d %s\n", r, f.err.msg);
		fix_free(&f);
		TEST_FAIL_("v3=100 is ambiguous");
	}
	r = fix_set(&f, "v2=100");
	if (!r || !strstr(f.err.msg, "DestinationRule default/reviews defines no subset 'v2'") ||
	    !strstr(f.err.msg, "stable (version v1)")) {
		fprintf(stderr, "  %d %s\n", r, f.err.msg);
		fix_free(&f);
		TEST_FAIL_("v2=100: no such subset");
	}
	default_route(&f.objs, got, sizeof(got));
	fix_free(&f);
	ASSERT_STREQ(got, "stable=100");
}

TEST(no_default_route_no_owner)
{
	struct fix f;
	struct split_object_key id;
	int r = fix_init(&f, 0), owner = -1;

	if (!r) {
		/* Only the test-user rule: no route without a match. */
		struct split_objs one = { 0 };

		split_rules_free(&f.rules);
		add(&one, "RouteRule", "reviews-default", "");
		split_objs_remove(&f.objs, &one);
		split_objs_free(&one);
		r = split_objs_rules(&f.objs, &f.rules, &f.err);
		owner = split_weights_owner(&f.rules, "default", "reviews", &id);
		if (!r)
			r = fix_set(&f, "v1=100") == 0;
	}
	fix_free(&f);
	ASSERT_EQ(r, 0);
	ASSERT_EQ(owner, 0);
}

/* Loading checks each document alone: a VirtualService whose subsets a
 * DestinationRule in force defines loads; as a set of its own it fails. */
TEST(input_defers_set_checks)
{
	char path[] = "/tmp/split-test-input.XXXXXX";
	const char *paths[1] = { path };
	struct split_input in = { 0 };
	struct split_err err;
	int fd = mkstemp(path), r1, r2 = 0;
	static const char y[] =
		"apiVersion: networking.istio.io/v1beta1\n"
		"kind: VirtualService\n"
		"metadata: {name: reviews}\n"
		"spec:\n"
		"  hosts: [reviews]\n"
		"  http:\n"
		"  - route:\n"
		"    - destination: {host: reviews, subset: v2}\n";

	ASSERT_TRUE(fd >= 0);
	r1 = write(fd, y, strlen(y)) != (ssize_t)strlen(y);
	close(fd);
	if (!r1)
		r1 = split_input_load(paths, 1, &in, &err);
	if (!r1) {
		r2 = split_input_check(&in, &err);
		ASSERT_EQ(in.objs.n, 1);
	}
	split_input_free(&in);
	unlink(path);
	ASSERT_EQ(r1, 0);
	ASSERT_EQ(r2, -EINVAL);
	ASSERT_CONTAINS(err.msg, "subset 'v2' is not defined");
	ASSERT_CONTAINS(err.msg, ":8:");
}

/* Objects by identity over thousands of them (an index, not a scan per
 * object): merge replaces the same identity and appends the others in
 * order, remove drops exactly those named, and a file that defines an
 * object twice names the first one's position. */
TEST(objects_by_identity_at_scale)
{
	enum { N = 3000 };
	struct split_objs a = { 0 }, b = { 0 };
	static struct split_obj first[N];
	static char jsons[N][24];
	struct split_obj o = { 0 };
	char json[64];

	o.json = json;
	/* a: N objects, the first 100 merged one at a time, the rest at once */
	for (int i = 0; i < N; i++) {
		snprintf(first[i].kind, sizeof(first[i].kind), "%s", i % 2 ? "VirtualService" : "DestinationRule");
		snprintf(first[i].ns, sizeof(first[i].ns), "ns-%d", i % 7);
		snprintf(first[i].name, sizeof(first[i].name), "obj-%d", i);
		snprintf(jsons[i], sizeof(jsons[i]), "{\"a\":%d}", i);
		first[i].json = jsons[i];
	}
	for (int i = 0; i < 100; i++)
		ASSERT_EQ(split_objs_merge(&a, &(struct split_objs){ &first[i], 1 }), 0);
	ASSERT_EQ(split_objs_merge(&a, &(struct split_objs){ &first[100], N - 100 }), 0);
	ASSERT_EQ(a.n, N);
	/* b: every third object of a with new JSON, and N/2 new ones */
	for (int i = 0; i < N + N / 2; i += 3) {
		struct split_objs one = { &o, 1 };

		snprintf(o.kind, sizeof(o.kind), "%s", i % 2 ? "VirtualService" : "DestinationRule");
		snprintf(o.ns, sizeof(o.ns), "ns-%d", i % 7);
		snprintf(o.name, sizeof(o.name), "obj-%d", i);
		snprintf(json, sizeof(json), "{\"b\":%d}", i);
		ASSERT_EQ(split_objs_merge(&b, &one), 0);
	}
	ASSERT_EQ(split_objs_merge(&a, &b), 0);
	ASSERT_EQ(a.n, N + N / 6);
	for (int i = 0; i < N + N / 2; i++) {
		char name[32], want[32];
		const struct split_obj *f;

		snprintf(name, sizeof(name), "obj-%d", i);
		f = split_objs_find(&a, i % 2 ? "VirtualService" : "DestinationRule",
				    (char[8]){ 'n', 's', '-', (char)('0' + i % 7), 0 }, name);
		if (i >= N && i % 3) {
			ASSERT_TRUE(f == NULL);
			continue;
		}
		ASSERT_TRUE(f != NULL);
		snprintf(want, sizeof(want), "{\"%c\":%d}", i % 3 ? 'a' : 'b', i);
		ASSERT_STREQ(f->json, want);
	}
	/* the kind is part of the identity */
	ASSERT_TRUE(split_objs_find(&a, "VirtualService", "ns-0", "obj-0") == NULL);
	/* order: a's own, then b's new ones in b's order */
	ASSERT_STREQ(a.v[N].name, "obj-3000");
	ASSERT_STREQ(a.v[a.n - 1].name, "obj-4497");
	ASSERT_EQ(split_objs_remove(&a, &b), N / 3 + N / 6);
	ASSERT_EQ(a.n, N - N / 3);
	ASSERT_STREQ(a.v[0].name, "obj-1");
	ASSERT_STREQ(a.v[1].name, "obj-2");
	ASSERT_STREQ(a.v[2].name, "obj-4");
	split_objs_free(&a);
	split_objs_free(&b);
}

TEST(object_twice_in_the_files_at_scale)
{
	char dir[] = "/tmp/split-objs-XXXXXX", path[64];
	const char *paths[1] = { path };
	struct split_input in;
	struct split_err err;
	FILE *f;

	ASSERT_TRUE(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/rules.yaml", dir);
	f = fopen(path, "w");
	ASSERT_TRUE(f != NULL);
	for (int i = 0; i < 2000; i++)
		fprintf(f, "---\napiVersion: networking.istio.io/v1beta1\nkind: DestinationRule\n"
			"metadata:\n  name: dr-%d\n  namespace: default\nspec:\n  host: web\n",
			i == 1500 ? 700 : i);
	fclose(f);
	ASSERT_NE(split_input_load(paths, 1, &in, &err), 0);
	unlink(path);
	rmdir(dir);
	printf("  %s\n", err.msg);
	/* dr-700's document starts at line 8 * 700 + 1; its root at the next */
	ASSERT_TRUE(strstr(err.msg, "DestinationRule default/dr-700 is defined twice (first at") != NULL);
	ASSERT_TRUE(strstr(err.msg, ":5602:") != NULL);
}
