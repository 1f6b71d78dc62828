/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * test_istio.c - the Istio front end (user/lib/config/istio/): the seed's RouteRules,
 * VirtualService + DestinationRule, matching, printing, and a corpus of
 * bad configurations (tests/data/istio-bad/NNN-what.yaml, each starting
 * with "# error: FILE:LINE:COL: message").
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "istio.h"
#include "model.h"
#include "../lib/tutil.h"
#include "test.h"
#include "yaml_tree.h"

#define SEED_REGEX "^(.*?;)?(user=test-user)(;.*)?$"

/* ---- helpers -------------------------------------------------------------- */

static struct split_err last_err;

/* Parse yaml as "x.yaml"; 0 or -1 (message in last_err). */
static int parse(const char *yaml, struct split_rules *out)
{
	memset(&last_err, 0, sizeof(last_err));
	return split_rules_parse("x.yaml", yaml, strlen(yaml), out, &last_err);
}

/* Expect an error containing want; out must stay untouched. */
static void expect_err(int *failed, const char *yaml, const char *want)
{
	struct split_rules out = { (struct split_rules_service *)&last_err, 4242 };
	int r = parse(yaml, &out);

	if (getenv("TEST_VERBOSE"))
		fprintf(stderr, "  %s\n", r ? last_err.msg : "(no error)");
	ASSERT_EQ(r, -EINVAL);
	ASSERT_CONTAINS(last_err.msg, want);
	ASSERT_TRUE(out.svcs == (struct split_rules_service *)&last_err);
	ASSERT_EQ(out.nsvcs, 4242);
}

/* A request: method, target, then header name/value pairs, NULL-ended. */
struct req {
	struct split_http_request r;
	struct split_http_header h[16];
	struct split_http_param p[16];
};

static const struct split_http_request *mkreq(struct req *q, const char *method,
					      const char *target, ...)
{
	const char *name;
	va_list ap;

	memset(q, 0, sizeof(*q));
	q->r.method = method;
	q->r.method_len = strlen(method);
	split_http_set_target(&q->r, target, strlen(target), q->p, 16);
	q->r.headers = q->h;
	va_start(ap, target);
	while ((name = va_arg(ap, const char *)) && q->r.nheaders < 16) {
		const char *value = va_arg(ap, const char *);
		struct split_http_header *h = &q->h[q->r.nheaders++];

		h->name = name;
		h->name_len = strlen(name);
		h->value = value;
		h->value_len = strlen(value);
	}
	va_end(ap);
	return &q->r;
}

/* The index of the route matching a GET of target with one header. */
static int route_for(const struct split_rules_service *svc, const char *target,
		     const char *hname, const char *hvalue)
{
	struct req q;

	if (hname)
		return split_rules_match(svc, mkreq(&q, "GET", target, hname,
						    hvalue, NULL));
	return split_rules_match(svc, mkreq(&q, "GET", target, NULL));
}

static int load(const char *const *rel, size_t n, struct split_rules *out)
{
	const char *paths[8];

	for (size_t i = 0; i < n; i++)
		paths[i] = tu_data_path(rel[i]);
	memset(&last_err, 0, sizeof(last_err));
	return split_rules_load(paths, n, out, &last_err);
}

static const struct split_rules_service *reviews(const struct split_rules *r)
{
	return split_rules_find(r, "default", "reviews");
}

static int print_rules(FILE *f, const void *r)
{
	return split_rules_print(f, r);
}

/* Print rules to a string (caller frees). */
static char *print_str(const struct split_rules *r)
{
	return tu_print_str(print_rules, r);
}

/* ---- the seed's RouteRules, verbatim -------------------------------------- */

#define RR_DEFAULT	"seed/route-rule-default-reviews.yaml"
#define RR_TEST_USER	"seed/route-rule-test-reviews-v2.yaml"
#define RR_50		"seed/route-rule-default-reviews-50.yaml"
#define RR_V2		"seed/route-rule-default-reviews-v2.yaml"

TEST(seed_step1_default_v1)
{
	static const char *const files[] = { RR_DEFAULT };
	struct split_rules rules = { 0 };
	const struct split_rules_service *s;
	const struct split_route *r;

	ASSERT_EQ(load(files, 1, &rules), 0);
	ASSERT_EQ(rules.nsvcs, 1);
	s = reviews(&rules);
	ASSERT_TRUE(s != NULL);
	ASSERT_EQ(s->api, SPLIT_API_ROUTE_RULE);
	ASSERT_EQ(s->nroutes, 1);
	r = &s->routes[0];
	ASSERT_STREQ(r->name, "reviews-default");
	ASSERT_STREQ(r->ns, "default");
	ASSERT_EQ(r->precedence, 1);
	ASSERT_EQ(r->nmatches, 0);
	ASSERT_EQ(r->ndests, 1);
	ASSERT_STREQ(r->dests[0].version, "v1");
	ASSERT_EQ(r->dests[0].weight, 100);
	ASSERT_EQ(r->dests[0].nlabels, 1);
	ASSERT_STREQ(r->dests[0].labels[0].key, "version");
	ASSERT_STREQ(r->dests[0].labels[0].value, "v1");
	ASSERT_FALSE(split_rules_service_is_l7(s));
	ASSERT_EQ(route_for(s, "/reviews/1", "cookie", "user=test-user"), 0);
	ASSERT_FALSE(s->has_dr);
	split_rules_free(&rules);
	ASSERT_TRUE(rules.svcs == NULL && rules.nsvcs == 0);
}

TEST(seed_step3_test_user)
{
	static const char *const files[] = { RR_DEFAULT, RR_TEST_USER };
	struct split_rules rules = { 0 };
	const struct split_rules_service *s;
	const struct split_cond *c;
	const struct split_route *r;

	ASSERT_EQ(load(files, 2, &rules), 0);
	s = reviews(&rules);
	ASSERT_TRUE(s != NULL);
	ASSERT_EQ(s->nroutes, 2);
	/* Higher precedence first, whatever the file order. */
	r = &s->routes[0];
	ASSERT_STREQ(r->name, "reviews-test-user");
	ASSERT_EQ(r->precedence, 2);
	ASSERT_EQ(r->nmatches, 1);
	ASSERT_EQ(r->matches[0].nconds, 1);
	c = &r->matches[0].conds[0];
	ASSERT_EQ(c->kind, SPLIT_COND_HEADER);
	ASSERT_EQ(c->op, SPLIT_OP_REGEX);
	ASSERT_FALSE(c->negate);
	ASSERT_STREQ(c->name, "cookie");
	ASSERT_STREQ(c->value, SEED_REGEX);
	ASSERT_TRUE(c->re != NULL);
	ASSERT_EQ(r->ndests, 1);
	ASSERT_STREQ(r->dests[0].version, "v2");
	ASSERT_EQ(r->dests[0].weight, 100);
	r = &s->routes[1];
	ASSERT_STREQ(r->name, "reviews-default");
	ASSERT_EQ(r->nmatches, 0);
	ASSERT_STREQ(r->dests[0].version, "v1");
	ASSERT_TRUE(split_rules_service_is_l7(s));
	split_rules_free(&rules);
}

/* The seed's cookie regex, through split_rules_match with "Cookie". */
TEST(seed_cookie_regex)
{
	static const char *const files[] = { RR_TEST_USER, RR_DEFAULT };
	static const char *const yes[] = {
		"user=test-user", "a=b;user=test-user", "user=test-user; a=b",
	};
	static const char *const no[] = {
		"a=b; user=test-user", "user=test-user2",
	};
	struct split_rules rules = { 0 };
	const struct split_rules_service *s;
	struct req q;

	ASSERT_EQ(load(files, 2, &rules), 0);
	s = reviews(&rules);
	ASSERT_TRUE(s != NULL);
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (split_rules_match(s, mkreq(&q, "GET", "/reviews/0",
					       "Cookie", yes[i], NULL)) != 0)
			TEST_FAIL_("'%s' should go to v2", yes[i]);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		if (split_rules_match(s, mkreq(&q, "GET", "/reviews/0",
					       "Cookie", no[i], NULL)) != 1)
			TEST_FAIL_("'%s' should go to v1", no[i]);
	}
	ASSERT_EQ(split_rules_match(s, mkreq(&q, "GET", "/", NULL)), 1);
	ASSERT_EQ(split_rules_match(s, mkreq(&q, "GET", "/", "X-Cookie",
					     "user=test-user", NULL)), 1);
	split_rules_free(&rules);
}

TEST(seed_step4_50_50)
{
	static const char *const files[] = { RR_50, RR_TEST_USER };
	struct split_rules rules = { 0 };
	const struct split_rules_service *s;
	const struct split_route *r;

	ASSERT_EQ(load(files, 2, &rules), 0);
	s = reviews(&rules);
	ASSERT_EQ(s->nroutes, 2);
	r = &s->routes[1];
	ASSERT_STREQ(r->name, "reviews-default");
	ASSERT_EQ(r->ndests, 2);
	ASSERT_STREQ(r->dests[0].version, "v1");
	ASSERT_EQ(r->dests[0].weight, 50);
	ASSERT_STREQ(r->dests[1].version, "v2");
	ASSERT_EQ(r->dests[1].weight, 50);
	split_rules_free(&rules);
}

TEST(seed_step5_v2_100)
{
	static const char *const files[] = { RR_V2 };
	struct split_rules rules = { 0 };
	const struct split_rules_service *s;

	ASSERT_EQ(load(files, 1, &rules), 0);
	s = reviews(&rules);
	ASSERT_EQ(s->nroutes, 1);
	ASSERT_EQ(s->routes[0].ndests, 1);
	ASSERT_STREQ(s->routes[0].dests[0].version, "v2");
	ASSERT_EQ(s->routes[0].dests[0].weight, 100);
	ASSERT_FALSE(split_rules_service_is_l7(s));
	split_rules_free(&rules);
}

/* Two versions of reviews-default at once: an error naming both files. */
TEST(seed_two_defaults_conflict)
{
	static const char *const files[] = { RR_DEFAULT, RR_50 };
	struct split_rules rules = { (struct split_rules_service *)&last_err, 7 };

	ASSERT_EQ(load(files, 2, &rules), -EINVAL);
	ASSERT_CONTAINS(last_err.msg, "route-rule-default-reviews-50.yaml:4:9: duplicate RouteRule default/reviews-default (first at ");
	ASSERT_CONTAINS(last_err.msg, "route-rule-default-reviews.yaml:4:9)");
	ASSERT_TRUE(rules.svcs == (struct split_rules_service *)&last_err);
	ASSERT_EQ(rules.nsvcs, 7);
}

/* A directory: *.yaml and *.yml in name order, others skipped. */
TEST(load_directory)
{
	char dir[] = "/tmp/test_istio.XXXXXX", path[600], src[600];
	struct split_rules rules = { 0 };
	const char *paths[1] = { dir };
	static const char *const links[][2] = {
		{ "10-default.yaml", RR_50 },
		{ "20-test.yml", RR_TEST_USER },
		{ ".hidden.yaml", RR_DEFAULT },	/* skipped: would conflict */
		{ "notes.txt", RR_DEFAULT },	/* skipped */
	};
	char cwd[512];
	FILE *f;

	ASSERT_TRUE(mkdtemp(dir) != NULL);
	ASSERT_TRUE(getcwd(cwd, sizeof(cwd)) != NULL);
	for (size_t i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, links[i][0]);
		if (tu_data_dir()[0] == '/')
			snprintf(src, sizeof(src), "%s", tu_data_path(links[i][1]));
		else
			snprintf(src, sizeof(src), "%s/%s", cwd,
				 tu_data_path(links[i][1]));
		ASSERT_EQ(symlink(src, path), 0);
	}
	snprintf(path, sizeof(path), "%s/sub.yaml", dir);
	ASSERT_EQ(mkdir(path, 0700), 0);	/* a directory: skipped */
	/* A Service document in a rules file is skipped. */
	snprintf(path, sizeof(path), "%s/30-svc.yaml", dir);
	f = fopen(path, "w");
	ASSERT_TRUE(f != NULL);
	fputs("apiVersion: split.dev/v1\nkind: Service\nmetadata:\n  name: reviews\nspec:\n  clusterIP: 10.0.0.1\n  ports:\n  - port: 9080\n", f);
	fclose(f);

	memset(&last_err, 0, sizeof(last_err));
	ASSERT_EQ(split_rules_load(paths, 1, &rules, &last_err), 0);
	ASSERT_EQ(rules.nsvcs, 1);
	ASSERT_EQ(reviews(&rules)->nroutes, 2);
	ASSERT_EQ(reviews(&rules)->routes[1].dests[1].weight, 50);
	split_rules_free(&rules);

	for (size_t i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, links[i][0]);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/30-svc.yaml", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/sub.yaml", dir);
	rmdir(path);
	ASSERT_EQ(rmdir(dir), 0);
}

/* A ConfigMap volume whose ..data is gone: its *.yaml links dangle. That is
 * an error (the state in force stays), never an empty configuration. */
TEST(load_directory_dangling_link)
{
	char dir[] = "/tmp/test_istio.XXXXXX", path[600];
	struct split_rules rules = { 0 };
	const char *paths[1] = { dir };

	ASSERT_TRUE(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/rules.yaml", dir);
	ASSERT_EQ(symlink("..data/rules.yaml", path), 0);
	memset(&last_err, 0, sizeof(last_err));
	ASSERT_EQ(split_rules_load(paths, 1, &rules, &last_err), -ENOENT);
	ASSERT_CONTAINS(last_err.msg, "rules.yaml: No such file or directory");
	ASSERT_EQ(unlink(path), 0);
	ASSERT_EQ(rmdir(dir), 0);
}

TEST(load_missing_file)
{
	const char *paths[] = { "/nonexistent/rules.yaml" };
	struct split_rules rules = { (struct split_rules_service *)&last_err, 3 };

	ASSERT_EQ(split_rules_load(paths, 1, &rules, &last_err), -ENOENT);
	ASSERT_CONTAINS(last_err.msg, "/nonexistent/rules.yaml: No such file");
	ASSERT_EQ(rules.nsvcs, 3);
}

TEST(empty_input)
{
	struct split_rules rules = { 0 };

	ASSERT_EQ(parse("", &rules), 0);
	ASSERT_EQ(rules.nsvcs, 0);
	ASSERT_EQ(parse("# only a comment\n---\n", &rules), 0);
	ASSERT_EQ(rules.nsvcs, 0);
	ASSERT_TRUE(split_rules_find(&rules, "default", "reviews") == NULL);
	ASSERT_EQ(split_rules_match(NULL, NULL), -1);
	split_rules_free(&rules);
}

/* ---- VirtualService + DestinationRule ------------------------------------- */

static const char *const net_versions[] = {
	"networking.istio.io/v1alpha3", "networking.istio.io/v1beta1",
	"networking.istio.io/v1",
};

/* The seed's last two steps as a VirtualService and DestinationRule. */
static char *seed_vs(const char *api)
{
	char *s = NULL;

	if (asprintf(&s,
		     "apiVersion: %s\n"
		     "kind: VirtualService\n"
		     "metadata:\n"
		     "  name: reviews\n"
		     "spec:\n"
		     "  hosts:\n"
		     "  - reviews\n"
		     "  http:\n"
		     "  - name: test-user\n"
		     "    match:\n"
		     "    - headers:\n"
		     "        cookie:\n"
		     "          regex: \"" SEED_REGEX "\"\n"
		     "    route:\n"
		     "    - destination:\n"
		     "        host: reviews\n"
		     "        subset: v2\n"
		     "  - name: default\n"
		     "    route:\n"
		     "    - destination:\n"
		     "        host: reviews\n"
		     "        subset: v1\n"
		     "      weight: 50\n"
		     "    - destination:\n"
		     "        host: reviews\n"
		     "        subset: v2\n"
		     "      weight: 50\n"
		     "---\n"
		     "apiVersion: %s\n"
		     "kind: DestinationRule\n"
		     "metadata:\n"
		     "  name: reviews\n"
		     "spec:\n"
		     "  host: reviews\n"
		     "  subsets:\n"
		     "  - name: v2\n"
		     "    labels:\n"
		     "      version: v2\n"
		     "      app: reviews\n"
		     "  - name: v1\n"
		     "    labels:\n"
		     "      version: v1\n", api, api) < 0)
		return NULL;
	return s;
}

TEST(vs_seed_equivalent_all_versions)
{
	for (size_t v = 0; v < 3; v++) {
		struct split_rules rules = { 0 };
		const struct split_rules_service *s;
		const struct split_route *r;
		char *yaml = seed_vs(net_versions[v]);
		struct req q;
		int rc;

		ASSERT_TRUE(yaml != NULL);
		rc = parse(yaml, &rules);
		free(yaml);
		if (rc)
			TEST_FAIL_("%s: %s", net_versions[v], last_err.msg);
		ASSERT_EQ(rules.nsvcs, 1);
		s = reviews(&rules);
		ASSERT_TRUE(s != NULL);
		ASSERT_EQ(s->api, SPLIT_API_VIRTUAL_SERVICE);
		ASSERT_STREQ(s->vs_api_version, net_versions[v]);
		ASSERT_STREQ(s->vs_name, "reviews");
		ASSERT_TRUE(s->has_dr);
		ASSERT_STREQ(s->dr_api_version, net_versions[v]);
		ASSERT_EQ(s->nsubsets, 2);
		ASSERT_STREQ(s->subsets[0].name, "v1");	/* sorted */
		ASSERT_STREQ(s->subsets[1].version, "v2");
		ASSERT_EQ(s->subsets[1].nlabels, 2);
		ASSERT_STREQ(s->subsets[1].labels[0].key, "app");	/* sorted */
		ASSERT_EQ(s->nroutes, 2);
		r = &s->routes[0];
		ASSERT_STREQ(r->name, "test-user");
		ASSERT_EQ(r->nmatches, 1);
		ASSERT_STREQ(r->dests[0].subset, "v2");
		ASSERT_STREQ(r->dests[0].version, "v2");
		ASSERT_EQ(r->dests[0].nlabels, 2);
		ASSERT_EQ(r->dests[0].weight, 100);
		r = &s->routes[1];
		ASSERT_EQ(r->nmatches, 0);
		ASSERT_EQ(r->ndests, 2);
		ASSERT_STREQ(r->dests[0].version, "v1");
		ASSERT_EQ(r->dests[0].weight, 50);
		ASSERT_STREQ(r->dests[1].version, "v2");
		ASSERT_EQ(r->dests[1].weight, 50);
		ASSERT_EQ(split_rules_match(s, mkreq(&q, "GET", "/", "Cookie",
						     "a=b;user=test-user", NULL)), 0);
		ASSERT_EQ(split_rules_match(s, mkreq(&q, "GET", "/", "Cookie",
						     "a=b; user=test-user", NULL)), 1);
		split_rules_free(&rules);
	}
}

/* Routes for one service, http[] given; DestinationRule with v1..v3. */
static int vs_rules(const char *http, struct split_rules *out)
{
	char *yaml = NULL;
	int r;

	if (asprintf(&yaml,
		     "apiVersion: networking.istio.io/v1beta1\n"
		     "kind: VirtualService\n"
		     "metadata:\n  name: reviews\n"
		     "spec:\n  hosts:\n  - reviews\n  http:\n%s"
		     "---\n"
		     "apiVersion: networking.istio.io/v1beta1\n"
		     "kind: DestinationRule\n"
		     "metadata:\n  name: reviews\n"
		     "spec:\n  host: reviews\n  subsets:\n"
		     "  - name: v1\n    labels:\n      version: v1\n"
		     "  - name: v2\n    labels:\n      version: v2\n"
		     "  - name: v3\n    labels:\n      version: v3\n",
		     http) < 0)
		return -1;
	r = parse(yaml, out);
	free(yaml);
	return r;
}

#define ROUTE_TO(v)	"    route:\n    - destination:\n        host: reviews\n        subset: " v "\n"

TEST(vs_first_match_wins)
{
	struct split_rules rules = { 0 };
	const struct split_rules_service *s;

	ASSERT_EQ(vs_rules("  - match:\n    - uri:\n        prefix: /api\n" ROUTE_TO("v2")
			   "  - match:\n    - uri:\n        prefix: /api/v1\n" ROUTE_TO("v3")
			   "  - route:\n    - destination:\n        host: reviews\n        subset: v1\n",
			   &rules), 0);
	s = reviews(&rules);
	ASSERT_EQ(route_for(s, "/api/v1/x", NULL, NULL), 0);
	ASSERT_EQ(route_for(s, "/api", NULL, NULL), 0);
	ASSERT_EQ(route_for(s, "/ap", NULL, NULL), 2);
	ASSERT_EQ(route_for(s, "/", NULL, NULL), 2);
	split_rules_free(&rules);
}

TEST(vs_blocks_or_conditions_and)
{
	struct split_rules rules = { 0 };
	const struct split_rules_service *s;
	struct req q;

	ASSERT_EQ(vs_rules("  - match:\n"
			   "    - headers:\n        x-a:\n          exact: \"1\"\n"
			   "      uri:\n        prefix: /a\n"
			   "    - headers:\n        x-b:\n          exact: \"2\"\n"
			   ROUTE_TO("v2"), &rules), 0);
	s = reviews(&rules);
	ASSERT_EQ(s->routes[0].nmatches, 2);
	ASSERT_EQ(s->routes[0].matches[0].nconds, 2);
	/* sorted: uri before headers */
	ASSERT_EQ(s->routes[0].matches[0].conds[0].kind, SPLIT_COND_URI);
	ASSERT_EQ(split_rules_match(s, mkreq(&q, "GET", "/a/x", "X-A", "1", NULL)), 0);
	ASSERT_EQ(split_rules_match(s, mkreq(&q, "GET", "/b", "X-A", "1", NULL)), -1);
	ASSERT_EQ(split_rules_match(s, mkreq(&q, "GET", "/a", "X-A", "2", NULL)), -1);
	ASSERT_EQ(split_rules_match(s, mkreq(&q, "GET", "/b", "x-b", "2", NULL)), 0);
	ASSERT_EQ(split_rules_match(s, mkreq(&q, "GET", "/b", "x-b", "22", NULL)), -1);
	ASSERT_EQ(split_rules_match(s, mkreq(&q, "GET", "/b", "x-a", "1",
					     "x-b", "2", NULL)), 0);
	split_rules_free(&rules);
}

TEST(vs_uri_exact_prefix_regex)
{
	struct split_rules rules = { 0 };
	const struct split_rules_service *s;

	ASSERT_EQ(vs_rules("  - match:\n    - uri:\n        exact: /login\n" ROUTE_TO("v1")
			   "  - match:\n    - uri:\n        prefix: /static/\n" ROUTE_TO("v2")
			   "  - match:\n    - uri:\n        regex: '/reviews/[0-9]+'\n" ROUTE_TO("v3"),
			   &rules), 0);
	s = reviews(&rules);
	ASSERT_EQ(route_for(s, "/login", NULL, NULL), 0);
	ASSERT_EQ(route_for(s, "/login?next=/x", NULL, NULL), 0);	/* query removed */
	ASSERT_EQ(route_for(s, "/login/", NULL, NULL), -1);
	ASSERT_EQ(route_for(s, "/static/a.css", NULL, NULL), 1);
	ASSERT_EQ(route_for(s, "/static", NULL, NULL), -1);
	ASSERT_EQ(route_for(s, "/reviews/42", NULL, NULL), 2);
	ASSERT_EQ(route_for(s, "/reviews/42?x=1", NULL, NULL), 2);
	ASSERT_EQ(route_for(s, "/reviews/42/x", NULL, NULL), -1);	/* full match */
	ASSERT_EQ(route_for(s, "/reviews/", NULL, NULL), -1);
	split_rules_free(&rules);
}

/* Full match without ^ and $ too: PCRE2 10.42's DFA alone took the
 * unanchored cookie idiom for a match of "user=test-user2". */
TEST(vs_regex_full_match_unanchored)
{
	struct split_rules rules = { 0 };
	const struct split_rules_service *s;

	ASSERT_EQ(vs_rules("  - match:\n    - headers:\n        cookie:\n"
			   "          regex: '(.*?;)?(user=test-user)(;.*)?'\n" ROUTE_TO("v2")
			   "  - match:\n    - headers:\n        x-b:\n"
			   "          regex: '(.*;)?(a|b)(;.*)?'\n" ROUTE_TO("v3"),
			   &rules), 0);
	s = reviews(&rules);
	ASSERT_EQ(route_for(s, "/", "cookie", "user=test-user"), 0);
	ASSERT_EQ(route_for(s, "/", "cookie", "x=1;user=test-user;y"), 0);
	ASSERT_EQ(route_for(s, "/", "cookie", "user=test-user2"), -1);
	ASSERT_EQ(route_for(s, "/", "cookie", "x;user=test-user2;"), -1);
	ASSERT_EQ(route_for(s, "/", "x-b", "c;b"), 1);
	ASSERT_EQ(route_for(s, "/", "x-b", "bc"), -1);
	ASSERT_EQ(route_for(s, "/", "x-b", "c;ab"), -1);
	split_rules_free(&rules);
}

TEST(vs_method)
{
	struct split_rules rules = { 0 };
	const struct split_rules_service *s;
	struct req q;

	ASSERT_EQ(vs_rules("  - match:\n    - method:\n        exact: POST\n" ROUTE_TO("v2")
			   "  - match:\n    - method:\n        regex: GET|HEAD\n" ROUTE_TO("v1"),
			   &rules), 0);
	s = reviews(&rules);
	ASSERT_EQ(split_rules_match(s, mkreq(&q, "POST", "/", NULL)), 0);
	ASSERT_EQ(split_rules_match(s, mkreq(&q, "post", "/", NULL)), -1);
	ASSERT_EQ(split_rules_match(s, mkreq(&q, "GET", "/", NULL)), 1);
	ASSERT_EQ(split_rules_match(s, mkreq(&q, "HEAD", "/", NULL)), 1);
	ASSERT_EQ(split_rules_match(s, mkreq(&q, "GETX", "/", NULL)), -1);
	split_rules_free(&rules);
}

TEST(vs_query_params)
{
	struct split_rules rules = { 0 };
	const struct split_rules_service *s;

	ASSERT_EQ(vs_rules("  - match:\n    - queryParams:\n        canary:\n          exact: \"true\"\n" ROUTE_TO("v2")
			   "  - match:\n    - queryParams:\n        id:\n          regex: '\\d+'\n" ROUTE_TO("v3")
			   "  - match:\n    - queryParams:\n        debug: {}\n" ROUTE_TO("v1")
			   "  - match:\n    - queryParams:\n        flag:\n          exact: \"\"\n" ROUTE_TO("v1"),
			   &rules), 0);
	s = reviews(&rules);
	ASSERT_EQ(route_for(s, "/?canary=true", NULL, NULL), 0);
	ASSERT_EQ(route_for(s, "/?x=1&canary=true&y", NULL, NULL), 0);
	ASSERT_EQ(route_for(s, "/?canary=false", NULL, NULL), -1);
	ASSERT_EQ(route_for(s, "/?canary=false&canary=true", NULL, NULL), -1);	/* first value */
	ASSERT_EQ(route_for(s, "/?Canary=true", NULL, NULL), -1);	/* names are exact */
	ASSERT_EQ(route_for(s, "/canary=true", NULL, NULL), -1);
	ASSERT_EQ(route_for(s, "/?id=123", NULL, NULL), 1);
	ASSERT_EQ(route_for(s, "/?id=12a", NULL, NULL), -1);
	ASSERT_EQ(route_for(s, "/?debug", NULL, NULL), 2);
	ASSERT_EQ(route_for(s, "/?debug=anything", NULL, NULL), 2);
	ASSERT_EQ(route_for(s, "/?flag", NULL, NULL), 3);
	ASSERT_EQ(route_for(s, "/?flag=", NULL, NULL), 3);
	ASSERT_EQ(route_for(s, "/?flag=1", NULL, NULL), -1);
	ASSERT_EQ(route_for(s, "/?flag#x=1", NULL, NULL), 3);	/* fragment dropped */
	split_rules_free(&rules);
}

TEST(vs_without_headers)
{
	struct split_rules rules = { 0 };
	const struct split_rules_service *s;
	const struct split_cond *c;

	ASSERT_EQ(vs_rules("  - match:\n    - withoutHeaders:\n        x-canary:\n          exact: \"false\"\n"
			   "      uri:\n        prefix: /a\n" ROUTE_TO("v2")
			   "  - match:\n    - withoutHeaders:\n        x-internal: {}\n" ROUTE_TO("v3")
			   "  - match:\n    - withoutHeaders:\n        x-any:\n          regex: '.*'\n" ROUTE_TO("v1"),
			   &rules), 0);
	s = reviews(&rules);
	c = &s->routes[0].matches[0].conds[1];
	ASSERT_EQ(c->kind, SPLIT_COND_HEADER);
	ASSERT_TRUE(c->negate);
	/* Absent, or any other value: matches. */
	ASSERT_EQ(route_for(s, "/a", NULL, NULL), 0);
	ASSERT_EQ(route_for(s, "/a", "x-canary", "true"), 0);
	ASSERT_EQ(route_for(s, "/a", "X-Canary", "false"), 1);	/* next rule */
	/* Present test, negated: only when the header is absent. */
	ASSERT_EQ(route_for(s, "/b", NULL, NULL), 1);
	ASSERT_EQ(route_for(s, "/b", "x-any", "zzz"), 1);
	/* A missing header counts as "" (Envoy's treat_missing_header_as_empty):
	 * '.*' matches it, so the third rule's negation never holds. */
	ASSERT_EQ(route_for(s, "/b", "x-internal", ""), -1);
	ASSERT_EQ(route_for(s, "/b", "x-internal", "1"), -1);
	split_rules_free(&rules);
}

TEST(vs_header_present_and_empty)
{
	struct split_rules rules = { 0 };
	const struct split_rules_service *s;

	ASSERT_EQ(vs_rules("  - match:\n    - headers:\n        x-user: {}\n" ROUTE_TO("v2")
			   "  - match:\n    - headers:\n        x-star:\n          regex: \"*\"\n" ROUTE_TO("v3")
			   "  - match:\n    - headers:\n        x-empty:\n          exact: \"\"\n" ROUTE_TO("v1"),
			   &rules), 0);
	s = reviews(&rules);
	ASSERT_EQ(s->routes[0].matches[0].conds[0].op, SPLIT_OP_PRESENT);
	ASSERT_TRUE(s->routes[0].matches[0].conds[0].value == NULL);
	ASSERT_EQ(s->routes[1].matches[0].conds[0].op, SPLIT_OP_PRESENT);
	ASSERT_EQ(route_for(s, "/", "X-User", "anyone"), 0);
	ASSERT_EQ(route_for(s, "/", "X-User", ""), 0);
	ASSERT_EQ(route_for(s, "/", "x-star", "1"), 1);
	ASSERT_EQ(route_for(s, "/", "x-empty", ""), 2);
	ASSERT_EQ(route_for(s, "/", "x-empty", "1"), -1);
	ASSERT_EQ(route_for(s, "/", NULL, NULL), -1);
	split_rules_free(&rules);
}

TEST(vs_header_names_and_repeats)
{
	struct split_rules rules = { 0 };
	const struct split_rules_service *s;
	struct req q;

	ASSERT_EQ(vs_rules("  - match:\n    - headers:\n        X-User:\n          exact: a,b\n" ROUTE_TO("v2")
			   "  - match:\n    - headers:\n        x-p:\n          prefix: ab\n" ROUTE_TO("v3"),
			   &rules), 0);
	s = reviews(&rules);
	ASSERT_STREQ(s->routes[0].matches[0].conds[0].name, "x-user");
	/* Repeated headers are joined with ',' (Envoy). */
	ASSERT_EQ(split_rules_match(s, mkreq(&q, "GET", "/", "x-user", "a",
					     "X-USER", "b", NULL)), 0);
	ASSERT_EQ(split_rules_match(s, mkreq(&q, "GET", "/", "x-user", "a,b", NULL)), 0);
	ASSERT_EQ(split_rules_match(s, mkreq(&q, "GET", "/", "x-user", "a", NULL)), -1);
	ASSERT_EQ(split_rules_match(s, mkreq(&q, "GET", "/", "x-p", "abc", NULL)), 1);
	ASSERT_EQ(split_rules_match(s, mkreq(&q, "GET", "/", "x-p", "a", NULL)), -1);
	ASSERT_EQ(split_rules_match(s, mkreq(&q, "GET", "/", "x-pp", "abc", NULL)), -1);
	split_rules_free(&rules);
}

TEST(vs_weights_zero_and_no_subset)
{
	struct split_rules rules = { 0 };
	const struct split_rules_service *s;
	const struct split_route *r;

	ASSERT_EQ(vs_rules("  - route:\n"
			   "    - destination:\n        host: reviews\n        subset: v1\n      weight: 100\n"
			   "    - destination:\n        host: reviews.default.svc.cluster.local\n        subset: v2\n        port:\n          number: 9080\n      weight: 0\n"
			   "    - destination:\n        host: reviews.default\n      weight: 0\n",
			   &rules), 0);
	s = reviews(&rules);
	r = &s->routes[0];
	ASSERT_EQ(r->ndests, 3);
	ASSERT_EQ(r->dests[0].weight, 100);
	ASSERT_EQ(r->dests[1].weight, 0);
	ASSERT_EQ(r->dests[1].port, 9080);
	ASSERT_STREQ(r->dests[2].subset, "");
	ASSERT_STREQ(r->dests[2].version, "");	/* every endpoint */
	ASSERT_FALSE(split_rules_service_is_l7(s));
	split_rules_free(&rules);
}

/* Host forms, and short names resolved in the document's namespace. */
TEST(host_mapping)
{
	static const struct {
		const char *host, *ns;
	} hosts[] = {
		{ "reviews", "default" },
		{ "reviews.prod", "prod" },
		{ "reviews.prod.svc", "prod" },
		{ "reviews.prod.svc.cluster.local", "prod" },
	};

	for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		struct split_rules rules = { 0 };
		char *yaml = NULL;
		int rc;

		ASSERT_TRUE(asprintf(&yaml,
				     "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
				     "metadata:\n  name: r\n"
				     "spec:\n  hosts:\n  - %s\n  http:\n  - route:\n"
				     "    - destination:\n        host: %s\n",
				     hosts[i].host, hosts[i].host) >= 0);
		rc = parse(yaml, &rules);
		free(yaml);
		if (rc)
			TEST_FAIL_("%s: %s", hosts[i].host, last_err.msg);
		ASSERT_TRUE(split_rules_find(&rules, hosts[i].ns, "reviews") != NULL);
		split_rules_free(&rules);
	}
	/* A short name in namespace prod is prod's service. */
	{
		struct split_rules rules = { 0 };

		ASSERT_EQ(parse("apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
				"metadata:\n  name: r\n  namespace: prod\n"
				"spec:\n  hosts:\n  - reviews\n  http:\n  - route:\n"
				"    - destination:\n        host: reviews.prod.svc.cluster.local\n"
				"---\n"
				"apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
				"metadata:\n  name: r\n"
				"spec:\n  host: reviews\n  subsets:\n  - name: v1\n    labels:\n      version: v1\n",
				&rules), 0);
		ASSERT_EQ(rules.nsvcs, 2);	/* prod/reviews and default/reviews */
		ASSERT_STREQ(rules.svcs[0].ns, "default");
		ASSERT_EQ(rules.svcs[0].api, SPLIT_API_NONE);
		ASSERT_TRUE(rules.svcs[0].has_dr);
		ASSERT_STREQ(rules.svcs[1].ns, "prod");
		ASSERT_STREQ(rules.svcs[1].vs_ns, "prod");
		ASSERT_FALSE(rules.svcs[1].has_dr);
		split_rules_free(&rules);
	}
}

TEST(rr_uri_and_method_keys)
{
	struct split_rules rules = { 0 };
	const struct split_rules_service *s;
	struct req q;

	/* In v1alpha2 the header keys uri and method mean those. */
	ASSERT_EQ(parse("apiVersion: config.istio.io/v1alpha2\nkind: RouteRule\n"
			"metadata:\n  name: api\n  namespace: shop\n"
			"spec:\n  destination:\n    name: reviews\n    namespace: default\n"
			"  precedence: 3\n  match:\n    request:\n      headers:\n"
			"        uri:\n          prefix: /api\n"
			"        method:\n          exact: GET\n"
			"        x-user:\n          exact: jason\n"
			"  route:\n  - labels:\n      version: v3\n      track: canary\n",
			&rules), 0);
	s = reviews(&rules);
	ASSERT_TRUE(s != NULL);
	ASSERT_STREQ(s->routes[0].ns, "shop");
	ASSERT_EQ(s->routes[0].matches[0].nconds, 3);
	ASSERT_EQ(s->routes[0].matches[0].conds[0].kind, SPLIT_COND_URI);
	ASSERT_EQ(s->routes[0].matches[0].conds[1].kind, SPLIT_COND_METHOD);
	ASSERT_EQ(s->routes[0].dests[0].nlabels, 2);
	ASSERT_EQ(split_rules_match(s, mkreq(&q, "GET", "/api/x", "x-user", "jason", NULL)), 0);
	ASSERT_EQ(split_rules_match(s, mkreq(&q, "PUT", "/api/x", "x-user", "jason", NULL)), -1);
	ASSERT_EQ(split_rules_match(s, mkreq(&q, "GET", "/x", "x-user", "jason", NULL)), -1);
	split_rules_free(&rules);
}

/* Equal precedence: ordered by namespace, then name. */
TEST(rr_order_ties)
{
	struct split_rules rules = { 0 };
	const struct split_rules_service *s;
	static const char *const rr_fmt =
		"apiVersion: config.istio.io/v1alpha2\nkind: RouteRule\n"
		"metadata:\n  name: %s\nspec:\n  destination:\n    name: reviews\n"
		"  precedence: %d\n  match:\n    request:\n      headers:\n"
		"        x-%s: {}\n  route:\n  - labels:\n      version: v1\n";
	char *a = NULL, *b = NULL, *c = NULL, *all = NULL;

	ASSERT_TRUE(asprintf(&a, rr_fmt, "zeta", 5, "z") >= 0);
	ASSERT_TRUE(asprintf(&b, rr_fmt, "alpha", 5, "a") >= 0);
	ASSERT_TRUE(asprintf(&c, rr_fmt, "mid", 7, "m") >= 0);
	ASSERT_TRUE(asprintf(&all, "%s---\n%s---\n%s", a, b, c) >= 0);
	free(a);
	free(b);
	free(c);
	ASSERT_EQ(parse(all, &rules), 0);
	free(all);
	s = reviews(&rules);
	ASSERT_EQ(s->nroutes, 3);
	ASSERT_STREQ(s->routes[0].name, "mid");
	ASSERT_STREQ(s->routes[1].name, "alpha");
	ASSERT_STREQ(s->routes[2].name, "zeta");
	split_rules_free(&rules);
}

/* ---- regex semantics ------------------------------------------------------ */

static int re_matches(const char *re, const char *value)
{
	struct split_rules rules = { 0 };
	char *yaml = NULL;
	int r;

	if (asprintf(&yaml,
		     "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
		     "metadata:\n  name: r\nspec:\n  hosts:\n  - reviews\n  http:\n"
		     "  - match:\n    - headers:\n        x:\n          regex: '%s'\n"
		     "    route:\n    - destination:\n        host: reviews\n", re) < 0)
		return -2;
	r = parse(yaml, &rules);
	free(yaml);
	if (r)
		return -3;
	r = route_for(reviews(&rules), "/", "x", value);
	split_rules_free(&rules);
	return r == 0;
}

TEST(regex_full_match)
{
	ASSERT_EQ(re_matches("a|ab", "ab"), 1);
	ASSERT_EQ(re_matches("b", "abc"), 0);
	ASSERT_EQ(re_matches("abc", "abc"), 1);
	ASSERT_EQ(re_matches("ab", "abc"), 0);
	ASSERT_EQ(re_matches("a$", "a\n"), 0);	/* '$' is the very end */
	ASSERT_EQ(re_matches("(?i)jason", "JaSoN"), 1);
	ASSERT_EQ(re_matches("(?P<u>[a-z]+)=1", "user=1"), 1);
	ASSERT_EQ(re_matches("(?<u>x)y", "xy"), 1);
	ASSERT_EQ(re_matches("[[:digit:]]{2,3}", "123"), 1);
	ASSERT_EQ(re_matches("[[:digit:]]{2,3}", "1234"), 0);
	ASSERT_EQ(re_matches("\\pL+", "abc"), 1);
	ASSERT_EQ(re_matches("\\Q(a)\\E.*", "(a)x"), 1);
	ASSERT_EQ(re_matches("a.*?b", "axxb"), 1);
	ASSERT_EQ(re_matches("[^;]+", "a;b"), 0);
	ASSERT_EQ(re_matches("[\\]a]+", "]a"), 1);
	ASSERT_EQ(re_matches("\\d{3}-\\x41\\z", "123-A"), 1);
	ASSERT_EQ(re_matches("a{1000}", "a"), 0);
	ASSERT_EQ(re_matches("(?s:.)", "\n"), 1);
	/* Byte-wise (PCRE2_UTF off): any value matches .*, and '.' is a
	 * byte, so "é" (2 bytes) is two dots where RE2 sees one. */
	ASSERT_EQ(re_matches("a.*b", "a\xff\xfe" "b"), 1);
	ASSERT_EQ(re_matches("a..b", "a\xc3\xa9" "b"), 1);
	ASSERT_EQ(re_matches("a.b", "a\xc3\xa9" "b"), 0);
	ASSERT_EQ(re_matches("\\x{100}", "x"), -3);	/* refused */
	/* Catastrophic for a backtracker; linear for the DFA. */
	ASSERT_EQ(re_matches("(a|aa)*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaac"), 0);
	ASSERT_EQ(re_matches("(a*)*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaac"), 0);
}

/* The seed regex on a big cookie, the wanted one last. */
TEST(regex_long_cookie)
{
	static const char *const files[] = { RR_TEST_USER, RR_DEFAULT };
	struct split_rules rules = { 0 };
	size_t n = 0;
	char *big = malloc(8192);

	ASSERT_TRUE(big != NULL);
	while (n < 8000)
		n += (size_t)snprintf(big + n, 8192 - n, "k%zu=v%zu; ", n, n);
	snprintf(big + n, 8192 - n, "user=test-user");
	ASSERT_EQ(load(files, 2, &rules), 0);
	ASSERT_EQ(route_for(reviews(&rules), "/", "cookie", big), 1);	/* "; user" */
	memmove(big + n - 1, big + n, strlen(big + n) + 1);	/* ";user" */
	ASSERT_EQ(route_for(reviews(&rules), "/", "cookie", big), 0);
	free(big);
	split_rules_free(&rules);
}

/* ---- classify, mixed files, printing ------------------------------------- */

TEST(doc_classify)
{
	static const struct {
		const char *yaml;
		enum split_doc_class want;
	} docs[] = {
		{ "", SPLIT_DOC_EMPTY },
		{ "apiVersion: split.dev/v1\nkind: Service\n", SPLIT_DOC_SERVICE },
		{ "apiVersion: config.istio.io/v1alpha2\nkind: RouteRule\n", SPLIT_DOC_RULES },
		{ "apiVersion: networking.istio.io/v1\nkind: VirtualService\n", SPLIT_DOC_RULES },
		{ "apiVersion: networking.istio.io/v1\nkind: Gateway\n", SPLIT_DOC_RULES },
		{ "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n", SPLIT_DOC_RULES },
		{ "apiVersion: v1\nkind: Service\n", SPLIT_DOC_OTHER },
		{ "- a\n", SPLIT_DOC_OTHER },
	};

	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		struct split_err err;
		struct yt_tree t;

		ASSERT_EQ(yt_parse("c.yaml", docs[i].yaml, strlen(docs[i].yaml), &t, &err), 0);
		ASSERT_EQ(split_doc_classify(t.ndocs ? t.docs[0].root : NULL),
			  docs[i].want);
		yt_free(&t);
	}
}

TEST(mixed_file_with_services)
{
	static const char *const yaml =
		"apiVersion: split.dev/v1\nkind: Service\nmetadata:\n  name: reviews\n"
		"spec:\n  clusterIP: 10.0.0.10\n  ports:\n  - port: 9080\n"
		"---\n"
		"apiVersion: config.istio.io/v1alpha2\nkind: RouteRule\n"
		"metadata:\n  name: reviews-default\nspec:\n  destination:\n    name: reviews\n"
		"  route:\n  - labels:\n      version: v1\n";
	struct split_rules rules = { 0 };

	ASSERT_EQ(parse(yaml, &rules), 0);
	ASSERT_EQ(rules.nsvcs, 1);
	ASSERT_EQ(reviews(&rules)->routes[0].precedence, 0);
	split_rules_free(&rules);
}

TEST(from_trees_across_files)
{
	static const char *const a =
		"apiVersion: networking.istio.io/v1alpha3\nkind: VirtualService\n"
		"metadata:\n  name: reviews\nspec:\n  hosts:\n  - reviews\n  http:\n"
		"  - route:\n    - destination:\n        host: reviews\n        subset: v9\n";
	static const char *const b =
		"apiVersion: networking.istio.io/v1alpha3\nkind: DestinationRule\n"
		"metadata:\n  name: reviews\nspec:\n  host: reviews\n  subsets:\n"
		"  - name: v1\n    labels:\n      version: v1\n";
	struct split_rules rules = { (struct split_rules_service *)&last_err, 9 };
	struct yt_tree ta, tb;
	const struct yt_tree *trees[2] = { &ta, &tb };

	ASSERT_EQ(yt_parse("vs.yaml", a, strlen(a), &ta, &last_err), 0);
	ASSERT_EQ(yt_parse("dr.yaml", b, strlen(b), &tb, &last_err), 0);
	ASSERT_EQ(split_rules_from_trees(trees, 2, &rules, &last_err), -EINVAL);
	ASSERT_CONTAINS(last_err.msg,
			"vs.yaml:12:17: subset 'v9' is not defined in DestinationRule default/reviews (dr.yaml:8:3)");
	ASSERT_EQ(rules.nsvcs, 9);
	yt_free(&ta);
	yt_free(&tb);
}

/* print -> parse -> print gives the same text, and the same matching. */
static void roundtrip(int *failed, struct split_rules *rules, const char *want)
{
	struct split_rules again = { 0 };
	char *p1 = print_str(rules), *p2;

	ASSERT_TRUE(p1 != NULL);
	if (getenv("TEST_VERBOSE"))
		fprintf(stderr, "%s", p1);
	if (want && !strstr(p1, want)) {
		free(p1);
		TEST_FAIL_("printed rules lack \"%s\"", want);
	}
	if (parse(p1, &again)) {
		free(p1);
		TEST_FAIL_("printed rules do not parse: %s", last_err.msg);
	}
	p2 = print_str(&again);
	if (!p2 || strcmp(p1, p2)) {
		fprintf(stderr, "--- first\n%s--- second\n%s", p1, p2 ? p2 : "");
		free(p1);
		free(p2);
		split_rules_free(&again);
		TEST_FAIL_("print is not stable");
	}
	free(p1);
	free(p2);
	split_rules_free(&again);
}

TEST(print_roundtrip_seed)
{
	static const char *const files[] = { RR_50, RR_TEST_USER };
	struct split_rules rules = { 0 };

	ASSERT_EQ(load(files, 2, &rules), 0);
	roundtrip(failed, &rules,
		  "kind: RouteRule\nmetadata:\n  name: reviews-test-user\n  namespace: default\n"
		  "spec:\n  destination:\n    name: reviews\n    namespace: default\n  precedence: 2\n"
		  "  match:\n    request:\n      headers:\n        cookie:\n"
		  "          regex: \"^(.*?;)?(user=test-user)(;.*)?$\"\n"
		  "  route:\n  - labels:\n      version: v2\n    weight: 100\n");
	split_rules_free(&rules);
}

TEST(print_roundtrip_vs)
{
	struct split_rules rules = { 0 };
	char *yaml = seed_vs("networking.istio.io/v1beta1");

	ASSERT_TRUE(yaml != NULL);
	ASSERT_EQ(parse(yaml, &rules), 0);
	free(yaml);
	roundtrip(failed, &rules,
		  "  http:\n  - name: test-user\n    match:\n    - headers:\n        cookie:\n");
	split_rules_free(&rules);

	ASSERT_EQ(vs_rules("  - name: a\n    match:\n"
			   "    - name: m1\n      uri:\n        prefix: \"/a\\\"b\\\\\"\n"
			   "      method:\n        exact: GET\n"
			   "      headers:\n        x-a: {}\n        \"On\": {}\n        x-b:\n          regex: \"[0-9]+\\t\"\n"
			   "      withoutHeaders:\n        x-c:\n          exact: \"\"\n"
			   "      queryParams:\n        q:\n          exact: \"1\"\n"
			   "    - uri:\n        exact: /x\n"
			   "    route:\n    - destination:\n        host: reviews\n        subset: v1\n        port:\n          number: 80\n      weight: 30\n"
			   "    - destination:\n        host: reviews\n        subset: v3\n      weight: 70\n"
			   "  - route:\n    - destination:\n        host: reviews\n",
			   &rules), 0);
	roundtrip(failed, &rules,
		  "    - name: m1\n      uri:\n        prefix: \"/a\\\"b\\\\\"\n      method:\n        exact: \"GET\"\n");
	split_rules_free(&rules);
}

/* ---- request targets ------------------------------------------------------ */

TEST(http_set_target)
{
	struct split_http_request r = { 0 };
	struct split_http_param p[2];
	size_t n;

	n = split_http_set_target(&r, "/a/b?x=1&&y&z=2=3#frag", 22, p, 2);
	ASSERT_EQ(n, 3);
	ASSERT_EQ(r.nparams, 2);
	ASSERT_EQ(r.path_len, 4);
	ASSERT_EQ(strncmp(r.path, "/a/b", 4), 0);
	ASSERT_EQ(p[0].name_len, 1);
	ASSERT_EQ(p[0].value_len, 1);
	ASSERT_EQ(p[0].value[0], '1');
	ASSERT_EQ(p[1].name_len, 1);
	ASSERT_EQ(p[1].name[0], 'y');
	ASSERT_EQ(p[1].value_len, 0);
	n = split_http_set_target(&r, "/only", 5, p, 2);
	ASSERT_EQ(n, 0);
	ASSERT_EQ(r.path_len, 5);
	ASSERT_EQ(r.nparams, 0);
	n = split_http_set_target(&r, "/?", 2, p, 2);
	ASSERT_EQ(n, 0);
	ASSERT_EQ(r.path_len, 1);
}

/* ---- errors --------------------------------------------------------------- */

TEST(errors_inline)
{
	/* The brief's example shape: file:line:col, field path, reason. */
	expect_err(failed,
		   "apiVersion: networking.istio.io/v1alpha3\nkind: VirtualService\n"
		   "metadata:\n  name: reviews\nspec:\n  hosts:\n  - reviews\n  http:\n"
		   "  - route:\n    - destination:\n        host: reviews\n"
		   "    fault:\n      delay:\n        fixedDelay: 7s\n",
		   "x.yaml:12:5: VirtualService field 'http[0].fault' is not supported (fault injection)");
	if (*failed)
		return;
	/* Positions in a second document. */
	expect_err(failed,
		   "apiVersion: split.dev/v1\nkind: Service\nmetadata:\n  name: a\n---\n"
		   "apiVersion: config.istio.io/v1alpha2\nkind: RouteRule\n"
		   "metadata:\n  name: r\nspec:\n  destination:\n    name: reviews\n"
		   "  route:\n  - labels:\n      version: v1\n    weight: 50\n",
		   "x.yaml:16:13: route[0].weight is 50: a single destination takes all traffic");
}

/* Every file of tests/data/istio-bad fails with the error its first line
 * names, and leaves the output untouched. */
TEST(bad_corpus)
{
	const char *dir = tu_data_path("istio-bad");
	struct dirent **names = NULL;
	int n, count = 0, bad = 0;

	n = scandir(dir, &names, NULL, alphasort);
	ASSERT_GT(n, 0);
	for (int i = 0; i < n; i++) {
		struct split_rules out = { (struct split_rules_service *)&last_err, 77 };
		const char *name = names[i]->d_name;
		char path[1024], *buf = NULL, *want, *nl;
		size_t len = 0, cap = 0;
		FILE *f;

		if (strlen(name) < 6 || strcmp(name + strlen(name) - 5, ".yaml")) {
			free(names[i]);
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		f = fopen(path, "r");
		if (f) {
			len = getdelim(&buf, &cap, '\0', f);
			fclose(f);
		}
		if (!f || !buf || strncmp(buf, "# error: ", 9) ||
		    !(nl = strchr(buf, '\n'))) {
			fprintf(stderr, "  %s: no '# error: ' first line\n", name);
			bad++;
			free(buf);
			free(names[i]);
			continue;
		}
		*nl = '\0';
		want = buf + 9;
		*nl = '\n';
		want = strndup(want, (size_t)(nl - want));
		count++;
		memset(&last_err, 0, sizeof(last_err));
		if (split_rules_parse(name, buf, len, &out, &last_err) >= 0) {
			fprintf(stderr, "  %s: parsed without error\n", name);
			split_rules_free(&out);
			bad++;
		} else if (!strstr(last_err.msg, want)) {
			fprintf(stderr, "  %s:\n    want: %s\n    got:  %s\n",
				name, want, last_err.msg);
			bad++;
		} else if (out.svcs != (struct split_rules_service *)&last_err ||
			   out.nsvcs != 77) {
			fprintf(stderr, "  %s: output changed on error\n", name);
			bad++;
		} else if (getenv("TEST_VERBOSE")) {
			fprintf(stderr, "  %s\n", last_err.msg);
		}
		free(want);
		free(buf);
		free(names[i]);
	}
	free(names);
	ASSERT_EQ(bad, 0);
	ASSERT_GE(count, 50);
}

/* Every prefix of a valid file parses or fails cleanly (no crash, no
 * leak, output untouched on error). */
TEST(truncated_inputs)
{
	char *yaml = seed_vs("networking.istio.io/v1");
	size_t len;

	ASSERT_TRUE(yaml != NULL);
	len = strlen(yaml);
	for (size_t i = 0; i <= len; i++) {
		struct split_rules out = { (struct split_rules_service *)&last_err, 5 };
		int r;

		memset(&last_err, 0, sizeof(last_err));
		r = split_rules_parse("t.yaml", yaml, i, &out, &last_err);
		if (r == 0) {
			split_rules_free(&out);
			continue;
		}
		if (out.nsvcs != 5 || strncmp(last_err.msg, "t.yaml", 6)) {
			free(yaml);
			TEST_FAIL_("prefix %zu: %s", i, last_err.msg);
		}
	}
	free(yaml);
}
