/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * test_reload.c - splitd's reload reads files through a per-document cache
 * (split_input_load_cached): after every change of a sequence of files it
 * must give exactly what split_input_load() gives for them, services,
 * Istio objects and the positions errors name, and parse only the
 * documents whose bytes changed.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apply.h"
#include "test.h"
#include "yaml_tree.h"

struct fx {
	char dir[64];
	char a[96], b[96];
	const char *paths[1];
	struct split_input_cache *c;
};

/* Dirs made: removed at exit too, after an ASSERT that returned before
 * fx_fini. */
static char reload_dirs[8][64];

static void remove_dirs(void)
{
	char path[96];

	for (size_t i = 0; i < sizeof(reload_dirs) / sizeof(reload_dirs[0]); i++) {
		if (!reload_dirs[i][0])
			continue;
		snprintf(path, sizeof(path), "%.63s/a.yaml", reload_dirs[i]);
		unlink(path);
		snprintf(path, sizeof(path), "%.63s/b.yaml", reload_dirs[i]);
		unlink(path);
		rmdir(reload_dirs[i]);
	}
}

/* also when a timeout's SIGTERM or a sanitizer's report ends the binary */
__attribute__((constructor)) static void remove_dirs_at_exit(void)
{
	test_at_exit(remove_dirs);
}

static int fx_init(struct fx *f)
{
	snprintf(f->dir, sizeof(f->dir), "/tmp/split-reload-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	for (size_t i = 0; i < sizeof(reload_dirs) / sizeof(reload_dirs[0]); i++)
		if (!reload_dirs[i][0]) {
			snprintf(reload_dirs[i], sizeof(reload_dirs[i]), "%s", f->dir);
			break;
		}
	snprintf(f->a, sizeof(f->a), "%s/a.yaml", f->dir);
	snprintf(f->b, sizeof(f->b), "%s/b.yaml", f->dir);
	f->paths[0] = f->dir;
	f->c = split_input_cache_new();
	return f->c ? 0 : -1;
}

static void fx_fini(struct fx *f)
{
	unlink(f->a);
	unlink(f->b);
	rmdir(f->dir);
	split_input_cache_free(f->c);
}

static int put(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	if (!fp)
		return -1;
	fputs(text, fp);
	return fclose(fp);
}

/* A growing text. */
struct buf {
	char *p;
	size_t len;
};

static void bput(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	char tmp[2048];
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	b->p = realloc(b->p, b->len + (size_t)n + 1);
	memcpy(b->p + b->len, tmp, (size_t)n + 1);
	b->len += (size_t)n;
}

/* Service i as one document; extra endpoint lines when grow. */
static void svc_doc(struct buf *b, int i, int grow, const char *nl)
{
	bput(b, "---%s# service %d%s", nl, i, nl);
	bput(b, "apiVersion: split.dev/v1%skind: Service%smetadata:%s  name: svc-%d%s", nl, nl, nl,
	     i, nl);
	bput(b, "spec:%s  clusterIPs: [10.96.%d.%d]%s  ports:%s  - port: 80%s", nl, i / 256,
	     i % 256, nl, nl, nl);
	bput(b, "  endpoints:%s  - addresses: [10.1.%d.%d]%s    labels: {version: v1}%s", nl,
	     i / 256, i % 256, nl, nl);
	bput(b, "  - addresses: [10.2.%d.%d]%s    labels: {version: v2}%s", i / 256, i % 256, nl,
	     nl);
	if (grow)
		bput(b, "  - addresses: [10.3.%d.%d]%s    labels: {version: v2}%s", i / 256,
		     i % 256, nl, nl);
}

/* A DestinationRule and a VirtualService for svc-i (route to subset). */
static void rules_doc(struct buf *b, int i, const char *subset)
{
	bput(b, "---\napiVersion: networking.istio.io/v1beta1\nkind: DestinationRule\n"
		"metadata: {name: svc-%d}\nspec:\n  host: svc-%d\n  subsets:\n"
		"  - {name: v1, labels: {version: v1}}\n  - {name: v2, labels: {version: v2}}\n",
	     i, i);
	bput(b, "---\napiVersion: networking.istio.io/v1beta1\nkind: VirtualService\n"
		"metadata: {name: svc-%d}\nspec:\n  hosts: [svc-%d]\n  http:\n  - route:\n"
		"    - destination: {host: svc-%d, subset: v1}\n      weight: 90\n"
		"    - destination: {host: svc-%d, subset: %s}\n      weight: 10\n",
	     i, i, i, i, subset);
}

static int svc_eq(const struct split_service *x, const struct split_service *y)
{
	if (strcmp(x->name, y->name) || strcmp(x->ns, y->ns) || x->nvips != y->nvips ||
	    x->nports != y->nports || x->neps != y->neps || x->nversions != y->nversions ||
	    x->routed != y->routed || x->l7 != y->l7)
		return 0;
	for (size_t i = 0; i < x->nvips; i++)
		if (memcmp(&x->vips[i], &y->vips[i], sizeof(x->vips[i])))
			return 0;
	for (size_t i = 0; i < x->nports; i++)
		if (x->ports[i].port != y->ports[i].port ||
		    x->ports[i].target_port != y->ports[i].target_port ||
		    x->ports[i].proto != y->ports[i].proto)
			return 0;
	for (size_t i = 0; i < x->neps; i++)
		if (memcmp(&x->eps[i].addr, &y->eps[i].addr, sizeof(x->eps[i].addr)) ||
		    strcmp(x->eps[i].version, y->eps[i].version))
			return 0;
	for (size_t i = 0; i < x->nversions; i++)
		if (strcmp(x->versions[i].name, y->versions[i].name) ||
		    x->versions[i].weight != y->versions[i].weight)
			return 0;
	return 1;
}

/*
 * Load the files both ways and compare: the result, the error message,
 * services, objects (identity, JSON, file, line and column) and what
 * split_input_check() says of the set. Returns "" when they agree, else
 * what differs.
 */
static const char *compare(struct fx *f, int *ok_out)
{
	static char why[2 * SPLIT_ERR_LEN + 64];
	struct split_input w = { 0 }, c = { 0 };
	struct split_err ew = { 0 }, ec = { 0 };
	int rw = split_input_load(f->paths, 1, &w, &ew);
	int rc = split_input_load_cached(f->paths, 1, f->c, &c, &ec);

	why[0] = 0;
	*ok_out = !rw;
	if (rw != rc)
		snprintf(why, sizeof(why), "whole %d, cached %d (%s | %s)", rw, rc, ew.msg, ec.msg);
	else if (rw && strcmp(ew.msg, ec.msg))
		snprintf(why, sizeof(why), "errors differ: '%s' vs '%s'", ew.msg, ec.msg);
	else if (!rw && w.svcs.nsvcs != c.svcs.nsvcs)
		snprintf(why, sizeof(why), "%zu vs %zu services", w.svcs.nsvcs, c.svcs.nsvcs);
	else if (!rw && w.objs.n != c.objs.n)
		snprintf(why, sizeof(why), "%zu vs %zu objects", w.objs.n, c.objs.n);
	for (size_t i = 0; !rw && !why[0] && i < w.svcs.nsvcs; i++)
		if (!svc_eq(&w.svcs.svcs[i], &c.svcs.svcs[i]))
			snprintf(why, sizeof(why), "service %zu (%s) differs", i,
				 w.svcs.svcs[i].name);
	for (size_t i = 0; !rw && !why[0] && i < w.objs.n; i++) {
		const struct split_obj *x = &w.objs.v[i], *y = &c.objs.v[i];

		if (strcmp(x->kind, y->kind) || strcmp(x->ns, y->ns) || strcmp(x->name, y->name) ||
		    strcmp(x->json, y->json) || strcmp(x->tree->name, y->tree->name) ||
		    x->root->line != y->root->line || x->root->col != y->root->col)
			snprintf(why, sizeof(why), "object %zu (%s %s) differs: %s:%u:%u vs %s:%u:%u",
				 i, x->kind, x->name, x->tree->name, x->root->line, x->root->col,
				 y->tree->name, y->root->line, y->root->col);
	}
	if (!rw && !why[0]) {
		int kw = split_input_check(&w, &ew), kc = split_input_check(&c, &ec);

		if (kw != kc || (kw && strcmp(ew.msg, ec.msg)))
			snprintf(why, sizeof(why), "checks differ: %d '%s' vs %d '%s'", kw,
				 kw ? ew.msg : "", kc, kc ? ec.msg : "");
		*ok_out = !kw;
	}
	split_input_free(&w);
	split_input_free(&c);
	return why;
}

#define SAME(f, want_ok)                                                  \
	do {                                                              \
		int ok_;                                                  \
		const char *why_ = compare(f, &ok_);                      \
		if (*why_)                                                \
			TEST_FAIL_("%s", why_);                           \
		if (ok_ != (want_ok))                                     \
			TEST_FAIL_("load ok %d, want %d", ok_, want_ok);  \
	} while (0)

static void parsed(struct fx *f, size_t *p, size_t *r)
{
	split_input_cache_stats(f->c, p, r);
}

/* Services 0..n-1 in a.yaml (service grow_i with one endpoint more), the
 * rules of service 3 after them (subset s). */
static void write_a(struct fx *f, int n, int grow_i, const char *subset, const char *nl)
{
	struct buf b = { 0 };

	bput(&b, "# a.yaml%s", nl);
	for (int i = 0; i < n; i++)
		svc_doc(&b, i, i == grow_i, nl);
	if (subset)
		rules_doc(&b, 3, subset);
	put(f->a, b.p);
	free(b.p);
}

TEST(reload_one_document_changed)
{
	struct fx f;
	size_t p, r;

	ASSERT_EQ(fx_init(&f), 0);
	write_a(&f, 40, -1, "v2", "\n");
	SAME(&f, 1);
	parsed(&f, &p, &r);
	ASSERT_EQ(r, 0);
	/* Same bytes again: nothing parsed. */
	SAME(&f, 1);
	parsed(&f, &p, &r);
	ASSERT_EQ(p, 0);
	/* One service grows by two lines: it alone is parsed, the documents
	 * after it (the rules included) move down two lines. */
	write_a(&f, 40, 10, "v2", "\n");
	SAME(&f, 1);
	parsed(&f, &p, &r);
	ASSERT_EQ(p, 1);
	ASSERT_EQ(r, 40 + 2);	/* 39 services, 2 rules, the comment before the first --- */
	/* and back */
	write_a(&f, 40, -1, "v2", "\n");
	SAME(&f, 1);
	parsed(&f, &p, &r);
	ASSERT_EQ(p, 1);
	fx_fini(&f);
}

TEST(reload_errors_as_whole)
{
	struct fx f;
	struct buf b = { 0 };

	ASSERT_EQ(fx_init(&f), 0);
	write_a(&f, 30, -1, "v2", "\n");
	SAME(&f, 1);
	/* A rule naming a subset that does not exist, after a service that
	 * grew: the error names the rule's line, as the whole file says. */
	write_a(&f, 30, 5, "v9", "\n");
	SAME(&f, 0);
	write_a(&f, 30, 5, "v2", "\n");
	SAME(&f, 1);
	/* YAML broken in one document */
	bput(&b, "# a.yaml\n");
	for (int i = 0; i < 30; i++)
		svc_doc(&b, i, 0, "\n");
	bput(&b, "---\napiVersion: split.dev/v1\nkind: Service\nmetadata:\n  name: [x\n");
	put(f.a, b.p);
	SAME(&f, 0);
	/* a field the parser refuses */
	b.len = 0;
	bput(&b, "# a.yaml\n");
	for (int i = 0; i < 30; i++)
		svc_doc(&b, i, 0, "\n");
	bput(&b, "---\napiVersion: split.dev/v1\nkind: Service\nmetadata: {name: odd}\n"
		 "spec: {clusterIPs: [10.99.0.1], ports: [{port: 80}], bogus: 1}\n");
	put(f.a, b.p);
	SAME(&f, 0);
	/* the same service twice in one file (documents apart) */
	b.len = 0;
	bput(&b, "# a.yaml\n");
	for (int i = 0; i < 30; i++)
		svc_doc(&b, i, 0, "\n");
	svc_doc(&b, 7, 0, "\n");
	put(f.a, b.p);
	SAME(&f, 0);
	/* two services on one VIP:port */
	b.len = 0;
	bput(&b, "# a.yaml\n");
	for (int i = 0; i < 30; i++)
		svc_doc(&b, i, 0, "\n");
	bput(&b, "---\napiVersion: split.dev/v1\nkind: Service\nmetadata: {name: other}\n"
		 "spec: {clusterIPs: [10.96.0.7], ports: [{port: 80}]}\n");
	put(f.a, b.p);
	SAME(&f, 0);
	/* a service in both files; then an object in both */
	write_a(&f, 30, -1, "v2", "\n");
	b.len = 0;
	svc_doc(&b, 12, 0, "\n");
	put(f.b, b.p);
	SAME(&f, 0);
	b.len = 0;
	svc_doc(&b, 100, 0, "\n");
	rules_doc(&b, 3, "v2");
	put(f.b, b.p);
	SAME(&f, 0);
	/* fixed */
	unlink(f.b);
	SAME(&f, 1);
	free(b.p);
	fx_fini(&f);
}

TEST(reload_documents_added_removed_moved)
{
	struct fx f;
	struct buf b = { 0 };
	size_t p, r;

	ASSERT_EQ(fx_init(&f), 0);
	write_a(&f, 30, -1, "v2", "\n");
	SAME(&f, 1);
	/* fewer services, the rules still there */
	write_a(&f, 20, -1, "v2", "\n");
	SAME(&f, 1);
	parsed(&f, &p, &r);
	ASSERT_EQ(p, 0);
	/* more */
	write_a(&f, 35, -1, "v2", "\n");
	SAME(&f, 1);
	parsed(&f, &p, &r);
	ASSERT_EQ(p, 15);
	/* rules move to b.yaml: found by their bytes, named by their file */
	write_a(&f, 35, -1, NULL, "\n");
	rules_doc(&b, 3, "v2");
	put(f.b, b.p);
	SAME(&f, 1);
	parsed(&f, &p, &r);
	ASSERT_EQ(p, 0);
	/* twice the same document bytes (two empty documents) */
	b.len = 0;
	bput(&b, "---\n---\n");
	rules_doc(&b, 3, "v2");
	bput(&b, "---\n");
	put(f.b, b.p);
	SAME(&f, 1);
	free(b.p);
	fx_fini(&f);
}

TEST(reload_files_not_cut)
{
	struct fx f;
	struct buf b = { 0 };

	ASSERT_EQ(fx_init(&f), 0);
	/* CRLF line ends: cut as well */
	write_a(&f, 20, -1, "v2", "\r\n");
	SAME(&f, 1);
	write_a(&f, 20, 4, "v9", "\r\n");
	SAME(&f, 0);
	/* \r alone ends a line for libyaml: the file is read whole */
	write_a(&f, 20, -1, "v2", "\r");
	SAME(&f, 0 + 1);
	/* a directive */
	bput(&b, "%%YAML 1.1\n");
	for (int i = 0; i < 5; i++)
		svc_doc(&b, i, 0, "\n");
	put(f.a, b.p);
	SAME(&f, 1);
	/* "---" inside a block scalar is indented: not a cut; one at
	 * column 0 in a quoted scalar is an error either way */
	b.len = 0;
	for (int i = 0; i < 5; i++)
		svc_doc(&b, i, 0, "\n");
	bput(&b, "---\n# comment with --- in it\n---\n");
	put(f.a, b.p);
	SAME(&f, 1);
	b.len = 0;
	for (int i = 0; i < 5; i++)
		svc_doc(&b, i, 0, "\n");
	bput(&b, "---\napiVersion: split.dev/v1\nkind: Service\nmetadata: {name: \"a\n---\nb\"}\n");
	put(f.a, b.p);
	SAME(&f, 0);
	/* an empty file, and an empty directory */
	put(f.a, "");
	SAME(&f, 1);
	unlink(f.a);
	SAME(&f, 1);
	free(b.p);
	fx_fini(&f);
}
