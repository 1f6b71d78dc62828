/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * test_state.c - the control plane's commit on real pinned maps (root):
 * small and big selection tables in tables_v3 / slots_v3 / big_v4, writes
 * limited to what changed (a re-apply of the same config writes nothing),
 * tombstoned cells, the same tables on two "nodes", a full slots_v3
 * refused with nothing changed, and the map sizes splitd's options set.
 *
 * Each test loads split_sock (not attached anywhere) with its maps pinned
 * under its own /sys/fs/bpf/split-test-state-<pid>-<n>, removed at the end.
 */
#include <errno.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/stat.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "apply.h"
#include "log.h"
#include "ops.h"
#include "rollout.h"
#include "services_yaml.h"
#include "stats.h"
#include "mapsize.h"
#include "split_sock.skel.h"
#include "state.h"
#include "table.h"
#include "test.h"
#include "util.h"

#define NODE_TAG "state"
#include "state_node.h"

#define NODE_UP(n, sz)                                                    \
	do {                                                              \
		if (node_up(n, sz)) {                                     \
			node_down(n);                                     \
			TEST_FAIL_("setup: %s", strerror(errno));         \
		}                                                         \
	} while (0)

/* Services file text: n services svc-<i> (VIP 10.100.x.y), each with
 * `eps` endpoints in versions v1 and v2 (alternating), plus `extra`
 * endpoints for svc-0 (changes its table only). Reversed order if rev. */
static char *gen(size_t n, size_t eps, size_t extra, int rev)
{
	size_t cap = 4096 + n * (512 + eps * 80) + extra * 80, off = 0;
	char *b = malloc(cap);

	for (size_t k = 0; k < n; k++) {
		size_t i = rev ? n - 1 - k : k;

		off += (size_t)snprintf(b + off, cap - off,
			"---\napiVersion: split.dev/v1\nkind: Service\nmetadata:\n  name: svc-%zu\n"
			"spec:\n  clusterIPs: [10.100.%zu.%zu]\n  ports:\n  - port: 80\n  endpoints:\n",
			i, i / 256, i % 256);
		for (size_t e = 0; e < eps + (i == 0 ? extra : 0); e++) {
			size_t ee = rev ? eps + (i == 0 ? extra : 0) - 1 - e : e;

			off += (size_t)snprintf(b + off, cap - off,
				"  - addresses: [10.%zu.%zu.%zu]\n    labels: {version: v%zu}\n",
				110 + ee, i / 256, i % 256, 1 + ee % 2);
		}
	}
	return b;
}

/* cfg committed as splitctl apply does (weights in force merged), then
 * freed. */
static int commit_cfg(struct node *n, struct split_config *cfg, struct split_err *err)
{
	struct split_config old = { 0 };
	int ret = -1;

	if (split_state_lock(&n->st, err))
		goto out;
	if (!split_state_read(&n->st, &old, err) && !split_config_merge(cfg, &old, err))
		ret = split_state_commit(&n->st, cfg, err);
	split_state_unlock(&n->st);
out:
	split_config_free(cfg);
	split_config_free(&old);
	return ret;
}

static int commit_text(struct node *n, const char *text, struct split_err *err)
{
	struct split_config cfg = { 0 };

	if (split_services_parse("gen.yaml", text, strlen(text), &cfg, err))
		return -1;
	return commit_cfg(n, &cfg, err);
}

#define COMMIT(n, text)                                                   \
	do {                                                              \
		struct split_err e_;                                      \
		if (commit_text(n, text, &e_)) {                          \
			node_down(n);                                     \
			TEST_FAIL_("commit: %s", e_.msg);                 \
		}                                                         \
	} while (0)

struct tbl {
	__u32 id;
	struct split_table_val v;
};

/* tables_v3 in key order; returns the count. */
static size_t tables(struct node *n, struct tbl *out, size_t max)
{
	__u32 k, cur, *prev = NULL;
	size_t cnt = 0;

	while (cnt < max && !bpf_map_get_next_key(n->st.tables_fd, prev, &k)) {
		cur = k;
		prev = &cur;
		if (!bpf_map_lookup_elem(n->st.tables_fd, &k, &out[cnt].v))
			out[cnt++].id = k;
	}
	for (size_t i = 1; i < cnt; i++)	/* insertion sort by id */
		for (size_t j = i; j > 0 && out[j - 1].id > out[j].id; j--) {
			struct tbl t = out[j];

			out[j] = out[j - 1];
			out[j - 1] = t;
		}
	return cnt;
}

static const struct tbl *find_tbl(const struct tbl *t, size_t n, __u32 id)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].id == id)
			return &t[i];
	return NULL;
}

/* Backend ids of a small table, slot order. */
static int small_ids(struct node *n, const struct split_table_val *v, __u32 *ids)
{
	for (__u32 s = 0; s < v->nslots; s++) {
		__u32 cell = (v->offset + s) / 2;
		struct split_slot_pair p;

		if (bpf_map_lookup_elem(n->st.slots_fd, &cell, &p))
			return -1;
		ids[s] = p.backend_id[(v->offset + s) % 2];
	}
	return 0;
}

static __u32 svc_id(struct node *n, const char *name)
{
	__u32 k, cur, *prev = NULL;
	struct split_service_val v;

	while (!bpf_map_get_next_key(n->st.services_fd, prev, &k)) {
		cur = k;
		prev = &cur;
		if (!bpf_map_lookup_elem(n->st.services_fd, &k, &v) && !strcmp(v.name, name))
			return k;
	}
	return 0;
}

/* The endpoint address of a backend id (IPv4, host order). */
static __u32 be_addr(struct node *n, __u32 id)
{
	struct split_backend_val b;

	if (bpf_map_lookup_elem(n->st.backends_fd, &id, &b))
		return 0;
	return ntohl(b.addr[0]);
}

/* A re-apply of the same config writes nothing; one endpoint more writes
 * a handful of elements, all about that service. */
TEST(reapply_writes_only_differences)
{
	struct node n;
	char *a = gen(200, 3, 0, 0), *b = gen(200, 3, 1, 0);
	struct tbl t[1024];
	__u64 w0, w1, w2, w3;
	size_t nt;

	NODE_UP(&n, NULL);
	COMMIT(&n, a);
	w0 = n.st.nwrites;
	COMMIT(&n, a);
	w1 = n.st.nwrites - w0;
	COMMIT(&n, b);
	w2 = n.st.nwrites - w0 - w1;
	COMMIT(&n, b);
	w3 = n.st.nwrites - w0 - w1 - w2;
	nt = tables(&n, t, 1024);
	node_down(&n);
	free(a);
	free(b);
	printf("  cold: %llu writes; same again: %llu; one endpoint added: %llu; same again: %llu\n",
	       (unsigned long long)w0, (unsigned long long)w1, (unsigned long long)w2,
	       (unsigned long long)w3);
	ASSERT_GT(w0, 200 * 5);	/* services, backends, VIPs, weights, tables */
	ASSERT_EQ(w1, 0);
	ASSERT_GT(w2, 0);
	/* backend, weights entry, 2 cells, table entry, tombstone, services x 2 */
	ASSERT_LE(w2, 10);
	ASSERT_EQ(w3, 0);
	/* 200 small tables and the tombstone of svc-0's old one */
	ASSERT_EQ(nt, 201);
}

/* Every service without explicit weights has a small table of one slot
 * per endpoint, sorted by address; regions never overlap; the big table
 * comes with explicit weights and goes with them. */
TEST(small_and_big_tables)
{
	struct node n;
	char *a = gen(300, 5, 0, 0);
	static struct tbl t[2048];
	static __u8 used[2 * SPLIT_SLOT_CELLS];
	struct split_config cfg = { 0 };
	struct split_err err;
	__u32 ids[16], id0, tid, inner;
	size_t nt;
	int idx;

	NODE_UP(&n, NULL);
	COMMIT(&n, a);
	nt = tables(&n, t, 2048);
	if (nt != 300) {
		node_down(&n);
		TEST_FAIL_("%zu tables, want 300", nt);
	}
	memset(used, 0, sizeof(used));
	for (size_t i = 0; i < nt; i++) {
		ASSERT_EQ(t[i].v.kind, SPLIT_TBL_SMALL);
		ASSERT_EQ(t[i].v.nslots, 5);
		ASSERT_EQ(t[i].v.offset % 2, 0);
		for (__u32 s = 0; s < 6; s++) {
			if (used[t[i].v.offset + s]++) {
				node_down(&n);
				TEST_FAIL_("slot %u used twice", t[i].v.offset + s);
			}
		}
		ASSERT_EQ(small_ids(&n, &t[i].v, ids), 0);
		for (__u32 s = 1; s < 5; s++)
			ASSERT_LT(be_addr(&n, ids[s - 1]), be_addr(&n, ids[s]));
	}

	/* explicit weights: a big table, 10007 slots in an inner map */
	id0 = svc_id(&n, "svc-7");
	tid = SPLIT_TABLE_ID(id0, 0);
	ASSERT_EQ(split_state_lock(&n.st, &err), 0);
	ASSERT_EQ(split_state_read(&n.st, &cfg, &err), 0);
	idx = split_config_find(&cfg, "svc-7", &err);
	ASSERT_GE(idx, 0);
	ASSERT_EQ(split_config_set_weights(&cfg, (size_t)idx, 2, (char *[]){ "v1=90", "v2=10" },
					   &err), 0);
	ASSERT_EQ(split_state_commit(&n.st, &cfg, &err), 0);
	nt = tables(&n, t, 2048);
	ASSERT_EQ(find_tbl(t, nt, tid)->v.kind, SPLIT_TBL_BIG);
	ASSERT_EQ(find_tbl(t, nt, tid)->v.nslots, SPLIT_TABLE_SLOTS);
	ASSERT_EQ(bpf_map_lookup_elem(n.st.big_fd, &tid, &inner), 0);
	{	/* its small table's cells: a tombstone, for the grace period */
		int tomb = 0;

		for (size_t i = 0; i < nt; i++)
			tomb += t[i].id >= SPLIT_TBL_TOMB && t[i].v.kind == SPLIT_TBL_FREED &&
				t[i].v.nslots == 5 && t[i].v.freed_ns;
		ASSERT_EQ(tomb, 1);
	}
	/* back to equal shares: small again, the inner map gone */
	split_config_reset_weights(&cfg, (size_t)idx);
	ASSERT_EQ(split_state_commit(&n.st, &cfg, &err), 0);
	split_state_unlock(&n.st);
	nt = tables(&n, t, 2048);
	ASSERT_EQ(find_tbl(t, nt, tid)->v.kind, SPLIT_TBL_SMALL);
	ASSERT_NE(bpf_map_lookup_elem(n.st.big_fd, &tid, &inner), 0);
	split_config_free(&cfg);
	node_down(&n);
	free(a);
}

/* A big table as the datapath reads it: the one element of its inner map. */
static int big_table(struct node *n, __u32 tid, struct split_big_table *t)
{
	__u32 inner, zero = 0;
	int fd, r;

	if (bpf_map_lookup_elem(n->st.big_fd, &tid, &inner))
		return -1;
	fd = bpf_map_get_fd_by_id(inner);
	if (fd < 0)
		return -1;
	r = bpf_map_lookup_elem(fd, &zero, t);
	close(fd);
	return r;
}

/* Set svc-3's weights (read, change, commit, under the lock); its service
 * as read back after the commit goes to *out (freed by the caller). */
static int set_svc3(struct node *n, const char *w1, const char *w2, struct split_config *out)
{
	struct split_config cfg = { 0 };
	struct split_err err;
	int idx, r = -1;

	if (split_state_lock(&n->st, &err))
		return -1;
	if (split_state_read_service(&n->st, "svc-3", &cfg, &err))
		goto out;
	idx = split_config_find(&cfg, "svc-3", &err);
	if (idx < 0 || split_config_set_weights(&cfg, (size_t)idx, 2, (char *[]){ (char *)w1, (char *)w2 },
						&err) ||
	    split_state_commit(&n->st, &cfg, &err))
		goto out;
	split_config_free(&cfg);
	r = split_state_read_service(&n->st, "svc-3", out, &err);
out:
	if (r)
		fprintf(stderr, "  set svc-3 %s %s: %s\n", w1, w2, err.msg);
	split_state_unlock(&n->st);
	split_config_free(&cfg);
	return r;
}

/*
 * The big table in the kernel after a set is split_table_build()'s table,
 * slot for slot (the same endpoint addresses), so its shares are the exact
 * quotas and the weights map records them; a later 90/10 -> 80/20 moves
 * 10% of the slots to the other version and few more to another endpoint
 * (the bounds of model/test_table's disruption_endpoints, 3 + 2 endpoints).
 * One update of the inner map's element and one swap per change.
 */
TEST(big_table_is_the_built_table)
{
	static struct split_big_table t0, t1;
	static uint32_t want[SPLIT_TABLE_SLOTS];
	struct node n;
	char *a = gen(10, 5, 0, 0);
	struct split_config c0 = { 0 }, c1 = { 0 };
	__u32 id, tid, moved = 0, vmoved = 0, in_v1 = 0;
	__u64 w;

	NODE_UP(&n, NULL);
	COMMIT(&n, a);
	id = svc_id(&n, "svc-3");
	tid = SPLIT_TABLE_ID(id, 0);
	w = n.st.nwrites;
	ASSERT_EQ(set_svc3(&n, "v1=90", "v2=10", &c0), 0);
	ASSERT_LE(n.st.nwrites - w, 2 + 10);
	ASSERT_EQ(big_table(&n, tid, &t0), 0);
	ASSERT_EQ(split_table_build(&c0.svcs[0], 4, want, SPLIT_TABLE_SLOTS), 5);
	for (__u32 s = 0; s < SPLIT_TABLE_SLOTS; s++) {
		const struct split_endpoint *ep = &c0.svcs[0].eps[want[s]];
		__u32 addr;

		memcpy(&addr, ep->addr.bytes, 4);
		if (be_addr(&n, SPLIT_BACKEND_ID(id, t0.k[s])) != ntohl(addr)) {
			node_down(&n);
			TEST_FAIL_("slot %u: backend %u, the model says %s's endpoint %u", s,
				   SPLIT_BACKEND_ID(id, t0.k[s]), ep->version, ntohl(addr));
		}
		in_v1 += !strcmp(ep->version, "v1");
	}
	ASSERT_EQ(t0.k[SPLIT_TABLE_SLOTS], 0);	/* padding */
	ASSERT_EQ(in_v1, 9006);	/* 10007 * 0.9 = 9006.3 */
	for (size_t k = 0; k < c0.svcs[0].nversions; k++)
		ASSERT_EQ(c0.svcs[0].versions[k].slots[0],
			  !strcmp(c0.svcs[0].versions[k].name, "v1") ? 9006 : 1001);

	ASSERT_EQ(set_svc3(&n, "v1=80", "v2=20", &c1), 0);
	ASSERT_EQ(big_table(&n, tid, &t1), 0);
	for (__u32 s = 0; s < SPLIT_TABLE_SLOTS; s++) {
		struct split_backend_val b0, b1;

		__u32 id0 = SPLIT_BACKEND_ID(id, t0.k[s]), id1 = SPLIT_BACKEND_ID(id, t1.k[s]);

		ASSERT_EQ(bpf_map_lookup_elem(n.st.backends_fd, &id0, &b0), 0);
		ASSERT_EQ(bpf_map_lookup_elem(n.st.backends_fd, &id1, &b1), 0);
		moved += id0 != id1;
		vmoved += b0.version_id != b1.version_id;
	}
	printf("  90/10 -> 80/20: %u of %u slots changed version, %u endpoint (%.2f%%, %.2f%%)\n",
	       vmoved, SPLIT_TABLE_SLOTS, moved, 100.0 * vmoved / SPLIT_TABLE_SLOTS,
	       100.0 * moved / SPLIT_TABLE_SLOTS);
	ASSERT_GE(vmoved, 1000);	/* 10% must move */
	ASSERT_LE(vmoved * 1000, 105 * SPLIT_TABLE_SLOTS);
	ASSERT_LE(moved * 100, 11 * SPLIT_TABLE_SLOTS);
	/* 8/2 gives the same table as 80/20 (same counts: it is read and
	 * compared): the inner map in force stays */
	{
		struct split_config c2 = { 0 };
		__u32 inner0, inner1;

		ASSERT_EQ(bpf_map_lookup_elem(n.st.big_fd, &tid, &inner0), 0);
		ASSERT_EQ(set_svc3(&n, "v1=8", "v2=2", &c2), 0);
		ASSERT_EQ(bpf_map_lookup_elem(n.st.big_fd, &tid, &inner1), 0);
		ASSERT_EQ(inner1, inner0);
		ASSERT_EQ(c2.svcs[0].versions[0].weight + c2.svcs[0].versions[1].weight, 10);
		split_config_free(&c2);
	}
	split_config_free(&c0);
	split_config_free(&c1);
	node_down(&n);
	free(a);
}

/* An upgrade from big_v3 (inner maps of 5004 two-slot cells): splitd copies
 * each table into big_v4 before attaching; a table big_v4 already has is
 * left alone, and a second pass copies nothing. */
TEST(big_v3_tables_are_copied)
{
	LIBBPF_OPTS(bpf_map_create_opts, oo);
	static struct split_big_table got;
	struct split_slot_pair pr;
	struct node n;
	char path[256];
	struct split_err err;
	__u32 tid = SPLIT_TABLE_ID(5, 1), inner_v4, before;
	int tmpl, outer, inner;

	NODE_UP(&n, NULL);
	tmpl = bpf_map_create(BPF_MAP_TYPE_ARRAY, "old_tmpl", 4, sizeof(pr), SPLIT_TABLE_CELLS, NULL);
	ASSERT_GE(tmpl, 0);
	oo.inner_map_fd = tmpl;
	outer = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "big_v3", 4, 4, SPLIT_MAX_TABLES, &oo);
	ASSERT_GE(outer, 0);
	close(tmpl);
	snprintf(path, sizeof(path), "%s/%s", n.pin, SPLIT_MAP_BIG_TABLES_V3);
	ASSERT_EQ(bpf_obj_pin(outer, path), 0);
	for (__u32 k = 0; k < 2; k++) {	/* tables tid and tid + 2 */
		__u32 key = tid + 2 * k;

		inner = bpf_map_create(BPF_MAP_TYPE_ARRAY, "old", 4, sizeof(pr), SPLIT_TABLE_CELLS, NULL);
		ASSERT_GE(inner, 0);
		for (__u32 c = 0; c < SPLIT_TABLE_CELLS; c++) {
			pr.backend_id[0] = SPLIT_BACKEND_ID(5 + k, 1 + (2 * c) % 7);
			pr.backend_id[1] = 2 * c + 1 < SPLIT_TABLE_SLOTS ?
					   SPLIT_BACKEND_ID(5 + k, 1 + (2 * c + 1) % 7) : 0;
			ASSERT_EQ(bpf_map_update_elem(inner, &c, &pr, BPF_ANY), 0);
		}
		ASSERT_EQ(bpf_map_update_elem(outer, &key, &inner, BPF_ANY), 0);
		close(inner);
	}
	/* big_v4 has table tid + 2 already (a commit made it): kept */
	{
		static struct split_big_table mine;
		__u32 key = tid + 2, zero = 0;

		for (__u32 s = 0; s < SPLIT_TABLE_SLOTS; s++)
			mine.k[s] = 9;
		inner = bpf_map_create(BPF_MAP_TYPE_ARRAY, "mine", 4, sizeof(mine), 1, NULL);
		ASSERT_GE(inner, 0);
		ASSERT_EQ(bpf_map_update_elem(inner, &zero, &mine, BPF_ANY), 0);
		ASSERT_EQ(bpf_map_update_elem(n.st.big_fd, &key, &inner, BPF_ANY), 0);
		close(inner);
	}
	close(outer);

	ASSERT_EQ(split_state_migrate_big(n.pin, n.st.big_fd, &err), 1);
	ASSERT_EQ(big_table(&n, tid, &got), 0);
	for (__u32 s = 0; s < SPLIT_TABLE_SLOTS; s++)
		if (got.k[s] != 1 + s % 7) {
			node_down(&n);
			TEST_FAIL_("slot %u: k %u, want %u", s, got.k[s], 1 + s % 7);
		}
	ASSERT_EQ(got.k[SPLIT_TABLE_SLOTS], 0);
	ASSERT_EQ(big_table(&n, tid + 2, &got), 0);
	ASSERT_EQ(got.k[0], 9);
	ASSERT_EQ(got.k[SPLIT_TABLE_SLOTS - 1], 9);
	ASSERT_EQ(bpf_map_lookup_elem(n.st.big_fd, &tid, &before), 0);
	ASSERT_EQ(split_state_migrate_big(n.pin, n.st.big_fd, &err), 0);	/* done already */
	ASSERT_EQ(bpf_map_lookup_elem(n.st.big_fd, &tid, &inner_v4), 0);
	ASSERT_EQ(inner_v4, before);
	/* a table naming a backend of another service is refused (its slots
	 * keep the service's k only), and not copied */
	{
		__u32 key = SPLIT_TABLE_ID(9, 0), c = 17, none;

		outer = bpf_obj_get(path);
		ASSERT_GE(outer, 0);
		inner = bpf_map_create(BPF_MAP_TYPE_ARRAY, "old", 4, sizeof(pr), SPLIT_TABLE_CELLS, NULL);
		ASSERT_GE(inner, 0);
		pr.backend_id[0] = SPLIT_BACKEND_ID(9, 1);
		pr.backend_id[1] = SPLIT_BACKEND_ID(8, 1);
		ASSERT_EQ(bpf_map_update_elem(inner, &c, &pr, BPF_ANY), 0);
		ASSERT_EQ(bpf_map_update_elem(outer, &key, &inner, BPF_ANY), 0);
		close(inner);
		close(outer);
		ASSERT_EQ(split_state_migrate_big(n.pin, n.st.big_fd, &err), -EINVAL);
		printf("  %s\n", err.msg);
		ASSERT_NE(bpf_map_lookup_elem(n.st.big_fd, &key, &none), 0);
	}
	node_down(&n);
	/* no big_v3 at all: nothing to do */
	NODE_UP(&n, NULL);
	ASSERT_EQ(split_state_migrate_big(n.pin, n.st.big_fd, &err), 0);
	node_down(&n);
}

/* Two nodes given the same services (in opposite orders, so with other
 * ids and offsets) build the same tables: the same endpoint addresses in
 * the same slots. */
TEST(same_tables_on_every_node)
{
	struct node n1, n2;
	char *a = gen(50, 6, 0, 0), *b = gen(50, 6, 0, 1);
	static struct tbl t1[256], t2[256];
	size_t c1, c2;

	NODE_UP(&n1, NULL);
	COMMIT(&n1, a);
	if (node_up(&n2, NULL)) {
		node_down(&n1);
		node_down(&n2);
		TEST_FAIL_("setup");
	}
	COMMIT(&n2, b);
	c1 = tables(&n1, t1, 256);
	c2 = tables(&n2, t2, 256);
	ASSERT_EQ(c1, 50);
	ASSERT_EQ(c2, 50);
	for (size_t i = 0; i < 50; i++) {
		char name[32];
		__u32 s1, s2, ids1[8], ids2[8];
		const struct tbl *x, *y;

		snprintf(name, sizeof(name), "svc-%zu", i);
		s1 = svc_id(&n1, name);
		s2 = svc_id(&n2, name);
		x = find_tbl(t1, c1, SPLIT_TABLE_ID(s1, 0));
		y = find_tbl(t2, c2, SPLIT_TABLE_ID(s2, 0));
		ASSERT_TRUE(x && y);
		ASSERT_EQ(x->v.nslots, y->v.nslots);
		ASSERT_EQ(small_ids(&n1, &x->v, ids1), 0);
		ASSERT_EQ(small_ids(&n2, &y->v, ids2), 0);
		for (__u32 s = 0; s < x->v.nslots; s++)
			ASSERT_EQ(be_addr(&n1, ids1[s]), be_addr(&n2, ids2[s]));
	}
	node_down(&n1);
	node_down(&n2);
	free(a);
	free(b);
}

/* slots_v3 sized by the option; when the tables do not fit, the commit
 * says so and nothing changes. The other sizes reach their maps. */
TEST(sizes_and_a_full_slots_map)
{
	struct split_map_sizes sz = { .ct = 4096, .sock_nat = 2048, .table_cells = 1024 };
	struct node n;
	char *small = gen(100, 3, 0, 0), *big = gen(800, 3, 0, 0);
	struct split_err err;
	struct tbl t[1024];
	__u32 max;
	__u64 bytes, w;
	size_t nt;

	NODE_UP(&n, &sz);
	ASSERT_EQ(n.st.slot_cells, 1024);
	ASSERT_EQ(split_map_mem(n.pin, SPLIT_MAP_CT, &max, &bytes), 0);
	ASSERT_EQ(max, 4096);
	ASSERT_GT(bytes, 4096 * sizeof(struct split_ct_val));
	ASSERT_EQ(split_map_mem(n.pin, SPLIT_MAP_CT_REV, &max, &bytes), 0);
	ASSERT_EQ(max, 4096);
	ASSERT_EQ(split_map_mem(n.pin, SPLIT_MAP_UDP_AFF, &max, &bytes), 0);
	ASSERT_EQ(max, 2048);
	ASSERT_EQ(split_map_mem(n.pin, SPLIT_MAP_SLOTS, &max, &bytes), 0);
	ASSERT_EQ(max, 1024);
	/* pinned sizes win over options, defaults too */
	{
		struct split_map_sizes d;

		split_map_sizes_default(&d);
		split_map_sizes_pinned(n.pin, &d, 0);
		ASSERT_EQ(d.ct, 4096);
		ASSERT_EQ(d.sock_nat, 2048);
		ASSERT_EQ(d.table_cells, 1024);
	}
	COMMIT(&n, small);	/* 100 x 2 cells */
	w = n.st.nwrites;
	/* 800 services x 2 cells > 1024 cells */
	ASSERT_NE(commit_text(&n, big, &err), 0);
	printf("  refused: %s\n", err.msg);
	ASSERT_TRUE(strstr(err.msg, "--table-cells") != NULL);
	ASSERT_TRUE(strstr(err.msg, "nothing changed") != NULL);
	nt = tables(&n, t, 1024);
	ASSERT_EQ(nt, 100);	/* as before (tombstones of the rollback aside) */
	(void)w;
	node_down(&n);
	free(small);
	free(big);
}

/* Option parsing of sizes. */
TEST(size_options)
{
	__u32 v;

	ASSERT_EQ(split_map_size_parse("4096", 1024, 1 << 24, &v), 0);
	ASSERT_EQ(v, 4096);
	ASSERT_EQ(split_map_size_parse("64k", 1024, 1 << 24, &v), 0);
	ASSERT_EQ(v, 65536);
	ASSERT_EQ(split_map_size_parse("2m", 1024, 1 << 24, &v), 0);
	ASSERT_EQ(v, 2 * 1024 * 1024);
	ASSERT_NE(split_map_size_parse("1000", 1024, 1 << 24, &v), 0);
	ASSERT_NE(split_map_size_parse("17m", 1024, 1 << 24, &v), 0);
	ASSERT_NE(split_map_size_parse("12x", 1024, 1 << 24, &v), 0);
	ASSERT_NE(split_map_size_parse("", 1024, 1 << 24, &v), 0);
	ASSERT_NE(split_map_size_parse("-5", 1024, 1 << 24, &v), 0);
	ASSERT_NE(split_map_size_parse("99999999999", 1024, 1 << 24, &v), 0);
}

/* Keys of a map (up to 64 bytes each). */
static __u32 count_keys(int fd)
{
	char k[64], cur[64];
	void *prev = NULL;
	__u32 n = 0;

	while (!bpf_map_get_next_key(fd, prev, k)) {
		memcpy(cur, k, sizeof(cur));
		prev = cur;
		n++;
	}
	return n;
}

/* splitctl set's path: one service read by name (svc_names), changed and
 * committed alone; the others' entries are not touched, its VIPs stay;
 * ambiguous and unknown names get split_config_find()'s answers. */
TEST(set_reads_and_writes_one_service)
{
	struct node n;
	char *a = gen(300, 3, 0, 0), *b;
	static struct tbl t0[1024], t1[1024];
	struct split_config cfg = { 0 };
	struct split_err err;
	size_t c0, c1, changed = 0;
	__u32 id, vips0, vips1;
	__u64 w;
	const char *dup = "---\napiVersion: split.dev/v1\nkind: Service\nmetadata:\n  name: dup\n"
			  "  namespace: a\nspec:\n  clusterIPs: [10.99.0.1]\n  ports:\n  - port: 80\n"
			  "  endpoints:\n  - addresses: [10.98.0.1]\n    labels: {version: v1}\n"
			  "---\napiVersion: split.dev/v1\nkind: Service\nmetadata:\n  name: dup\n"
			  "  namespace: b\nspec:\n  clusterIPs: [10.99.0.2]\n  ports:\n  - port: 80\n"
			  "  endpoints:\n  - addresses: [10.98.0.2]\n    labels: {version: v1}\n";

	b = malloc(strlen(a) + strlen(dup) + 1);
	strcpy(b, a);
	strcat(b, dup);
	NODE_UP(&n, NULL);
	COMMIT(&n, b);
	c0 = tables(&n, t0, 1024);
	vips0 = count_keys(n.st.svc_fd);
	id = svc_id(&n, "svc-5");

	ASSERT_EQ(split_state_lock(&n.st, &err), 0);
	ASSERT_EQ(split_state_read_service(&n.st, "svc-5", &cfg, &err), 0);
	ASSERT_EQ(cfg.nsvcs, 1);
	ASSERT_EQ(n.st.scope_id, id);
	ASSERT_STREQ(cfg.svcs[0].name, "svc-5");
	ASSERT_EQ(cfg.svcs[0].neps, 3);
	ASSERT_EQ(cfg.svcs[0].nversions, 2);
	ASSERT_EQ(split_config_set_weights(&cfg, 0, 2, (char *[]){ "v1=1", "v2=3" }, &err), 0);
	w = n.st.nwrites;
	ASSERT_EQ(split_state_commit(&n.st, &cfg, &err), 0);
	w = n.st.nwrites - w;
	split_state_unlock(&n.st);
	split_config_free(&cfg);
	printf("  set svc-5 v1=1 v2=3: %llu elements written (2 of them the big table: its one element, and the swap)\n",
	       (unsigned long long)w);
	ASSERT_LE(w, 2 + 10);
	c1 = tables(&n, t1, 1024);
	for (size_t i = 0; i < c0; i++) {
		const struct tbl *x = find_tbl(t1, c1, t0[i].id);

		if (!x || memcmp(&x->v, &t0[i].v, sizeof(x->v)))
			changed++;
	}
	ASSERT_EQ(changed, 1);	/* svc-5's IPv4 table, now big (and a tombstone more) */
	ASSERT_EQ(c1, c0 + 1);
	ASSERT_EQ(find_tbl(t1, c1, SPLIT_TABLE_ID(id, 0))->v.kind, SPLIT_TBL_BIG);
	vips1 = count_keys(n.st.svc_fd);
	ASSERT_EQ(vips1, vips0);

	/* reset, scoped too: a small table again, placed clear of every
	 * other table (the allocator reads them all) */
	ASSERT_EQ(split_state_lock(&n.st, &err), 0);
	ASSERT_EQ(split_state_read_service(&n.st, "default/svc-5", &cfg, &err), 0);
	split_config_reset_weights(&cfg, 0);
	ASSERT_EQ(split_state_commit(&n.st, &cfg, &err), 0);
	split_state_unlock(&n.st);
	split_config_free(&cfg);
	c1 = tables(&n, t1, 1024);
	{
		const struct tbl *me = find_tbl(t1, c1, SPLIT_TABLE_ID(id, 0));

		ASSERT_EQ(me->v.kind, SPLIT_TBL_SMALL);
		for (size_t i = 0; i < c1; i++) {
			const struct split_table_val *o = &t1[i].v;

			/* tombstones: test_tombstones_reserve_cells (their
			 * grace may have passed here) */
			if (&t1[i] == me || o->kind != SPLIT_TBL_SMALL)
				continue;
			ASSERT_TRUE(o->offset + o->nslots + (o->nslots & 1) <= me->v.offset ||
				    me->v.offset + 4 <= o->offset);
		}
	}

	/* by namespace, and the ambiguous short name */
	ASSERT_EQ(split_state_lock(&n.st, &err), 0);
	ASSERT_EQ(split_state_read_service(&n.st, "dup.b", &cfg, &err), 0);
	ASSERT_EQ(cfg.nsvcs, 1);
	ASSERT_STREQ(cfg.svcs[0].ns, "b");
	split_config_free(&cfg);
	ASSERT_EQ(split_state_read_service(&n.st, "a/dup", &cfg, &err), 0);
	ASSERT_STREQ(cfg.svcs[0].ns, "a");
	split_config_free(&cfg);
	ASSERT_NE(split_state_read_service(&n.st, "dup", &cfg, &err), 0);
	ASSERT_TRUE(strstr(err.msg, "2 namespaces") != NULL);
	ASSERT_NE(split_state_read_service(&n.st, "nosuch", &cfg, &err), 0);
	ASSERT_TRUE(strstr(err.msg, "unknown service") != NULL);
	split_state_unlock(&n.st);
	node_down(&n);
	free(a);
	free(b);
}

static __u32 weight_of(const struct split_service *s, const char *version)
{
	for (size_t i = 0; i < s->nversions; i++)
		if (!strcmp(s->versions[i].name, version))
			return s->versions[i].weight;
	return 0xffffffffU;
}

/* splitctl set after a read of the one service: on a plain service the
 * commit stays scoped to it; on a service whose weights come from an
 * object's default route the object changes and the resulting set (every
 * service) is applied, so no other service is lost. */
/* Two reads of one service agree, field by field (ports, endpoints and
 * versions in the order the state gives them). */
static int same_service(const struct split_service *a, const struct split_service *b)
{
	if (strcmp(a->name, b->name) || strcmp(a->ns, b->ns) || a->nvips != b->nvips ||
	    a->nports != b->nports || a->neps != b->neps || a->nversions != b->nversions ||
	    a->routed != b->routed || a->l7 != b->l7)
		return 0;
	for (size_t i = 0; i < a->nvips; i++)
		if (a->vips[i].family != b->vips[i].family ||
		    memcmp(a->vips[i].bytes, b->vips[i].bytes, sizeof(a->vips[i].bytes)))
			return 0;
	for (size_t i = 0; i < a->nports; i++)
		if (a->ports[i].port != b->ports[i].port || a->ports[i].proto != b->ports[i].proto ||
		    a->ports[i].target_port != b->ports[i].target_port)
			return 0;
	for (size_t i = 0; i < a->neps; i++)
		if (strcmp(a->eps[i].version, b->eps[i].version) ||
		    memcmp(a->eps[i].addr.bytes, b->eps[i].addr.bytes, sizeof(a->eps[i].addr.bytes)))
			return 0;
	for (size_t i = 0; i < a->nversions; i++)
		if (strcmp(a->versions[i].name, b->versions[i].name) ||
		    a->versions[i].weight != b->versions[i].weight ||
		    a->versions[i].slots[0] != b->versions[i].slots[0] ||
		    a->versions[i].slots[1] != b->versions[i].slots[1])
			return 0;
	return 1;
}

/* What splitd's L7 proxy reads of the services it serves: those services,
 * VIPs included, as the full read has them; nothing else. */
TEST(read_some_services_by_id)
{
	struct node n;
	char *a = gen(300, 3, 0, 0);
	struct split_config all = { 0 }, some = { 0 };
	struct split_err err;
	__u32 ids[5];
	const char *want[] = { "svc-5", "svc-7", "svc-250" };

	NODE_UP(&n, NULL);
	COMMIT(&n, a);
	ids[0] = svc_id(&n, "svc-5");
	ids[1] = svc_id(&n, "svc-7");
	ids[2] = svc_id(&n, "svc-250");
	ids[3] = ids[1];		/* listed twice: read once */
	ids[4] = SPLIT_MAX_SERVICES - 2;	/* no such service: skipped */
	ASSERT_EQ(split_state_read(&n.st, &all, &err), 0);
	ASSERT_EQ(all.nsvcs, 300);
	ASSERT_EQ(split_state_read_ids(&n.st, ids, 5, &some, &err), 0);
	ASSERT_EQ(some.nsvcs, 3);
	ASSERT_EQ(n.st.scope_id, 0);	/* a later commit is not scoped */
	for (size_t w = 0; w < 3; w++) {
		const struct split_service *x = NULL, *y = NULL;

		for (size_t i = 0; i < all.nsvcs; i++)
			if (!strcmp(all.svcs[i].name, want[w]))
				x = &all.svcs[i];
		for (size_t i = 0; i < some.nsvcs; i++)
			if (!strcmp(some.svcs[i].name, want[w]))
				y = &some.svcs[i];
		ASSERT_TRUE(x && y);
		ASSERT_TRUE(y->nvips > 0);
		if (!same_service(x, y))
			TEST_FAIL_("%s: the read by id differs from the full read", want[w]);
	}
	split_config_free(&some);
	ASSERT_EQ(split_state_read_ids(&n.st, NULL, 0, &some, &err), 0);
	ASSERT_EQ(some.nsvcs, 0);
	split_config_free(&some);
	split_config_free(&all);
	node_down(&n);
	free(a);
}

TEST(set_on_an_objects_route_reads_every_service)
{
	struct node n;
	char *a = gen(20, 3, 0, 0);
	struct split_config cfg = { 0 }, all = { 0 };
	struct split_objs objs = { 0 }, now = { 0 };
	struct split_obj o = { .kind = "RouteRule", .ns = "default", .name = "svc-3-default" };
	struct split_object_key owner;
	struct split_err err;
	int i3;

	o.json = strdup("{\"apiVersion\":\"config.istio.io/v1alpha2\",\"kind\":\"RouteRule\","
			"\"metadata\":{\"name\":\"svc-3-default\",\"namespace\":\"default\"},"
			"\"spec\":{\"destination\":{\"name\":\"svc-3\"},\"precedence\":1,"
			"\"route\":[{\"labels\":{\"version\":\"v1\"},\"weight\":100}]}}");
	objs.v = &o;
	objs.n = 1;
	NODE_UP(&n, NULL);
	COMMIT(&n, a);
	/* the RouteRule in force: svc-3's weights come from it */
	ASSERT_EQ(split_state_lock(&n.st, &err), 0);
	ASSERT_EQ(split_state_read(&n.st, &all, &err), 0);
	ASSERT_EQ(split_apply(&n.st, &all, &objs, NULL, &err), 0);
	split_state_unlock(&n.st);
	split_config_free(&all);
	free(o.json);

	/* set on svc-3, read alone: the object is patched, all 20 stay */
	ASSERT_EQ(split_state_lock(&n.st, &err), 0);
	ASSERT_EQ(split_state_read_service(&n.st, "svc-3", &cfg, &err), 0);
	ASSERT_EQ(cfg.nsvcs, 1);
	ASSERT_NE(n.st.scope_id, 0);
	ASSERT_EQ(split_set_weights(&n.st, &cfg, 0, 2, (char *[]){ "v1=20", "v2=80" }, &owner,
				    &err), 0);
	ASSERT_STREQ(owner.kind, "RouteRule");
	ASSERT_STREQ(owner.name, "svc-3-default");
	ASSERT_STREQ(cfg.svcs[0].name, "svc-3");	/* the service as applied */
	ASSERT_EQ(weight_of(&cfg.svcs[0], "v2"), 80);
	split_config_free(&cfg);
	ASSERT_EQ(split_state_read(&n.st, &all, &err), 0);
	ASSERT_EQ(all.nsvcs, 20);
	i3 = split_config_find(&all, "svc-3", &err);
	ASSERT_GE(i3, 0);
	ASSERT_EQ(weight_of(&all.svcs[i3], "v1"), 20);
	ASSERT_EQ(weight_of(&all.svcs[i3], "v2"), 80);
	split_config_free(&all);
	ASSERT_EQ(split_objs_read(&n.st, &now, &err), 0);
	ASSERT_EQ(now.n, 1);
	ASSERT_TRUE(strstr(now.v[0].json, "\"weight\":80") != NULL);
	split_objs_free(&now);

	/* set on svc-4 (no object): its own weights, a scoped commit */
	ASSERT_EQ(split_state_read_service(&n.st, "svc-4", &cfg, &err), 0);
	ASSERT_EQ(split_set_weights(&n.st, &cfg, 0, 2, (char *[]){ "v1=1", "v2=3" }, &owner,
				    &err), 0);
	ASSERT_STREQ(owner.kind, "");
	ASSERT_NE(n.st.scope_id, 0);	/* not widened */
	split_config_free(&cfg);
	ASSERT_EQ(split_state_read(&n.st, &all, &err), 0);
	ASSERT_EQ(all.nsvcs, 20);
	ASSERT_EQ(weight_of(&all.svcs[split_config_find(&all, "svc-4", &err)], "v2"), 3);
	ASSERT_EQ(weight_of(&all.svcs[i3], "v2"), 80);
	split_config_free(&all);
	split_state_unlock(&n.st);
	node_down(&n);
	free(a);
}

/* split_apply writes the tables first, then the objects and the L7 rules:
 * when a late write fails (l7_routes full here), what was in force comes
 * back: services, tables, objects. */
TEST(apply_puts_back_the_state_when_a_late_write_fails)
{
	struct node n;
	char *a = gen(10, 3, 0, 0);
	struct split_config before = { 0 }, cfg = { 0 }, after = { 0 };
	struct split_objs objs = { 0 }, now = { 0 };
	struct split_obj o = { .kind = "RouteRule", .ns = "default", .name = "svc-3-test" };
	static struct tbl t0[64], t1[64];
	struct split_err err;
	char path[256];
	size_t c0, c1;
	int rfd, i3;
	__u32 filled = 0;

	o.json = strdup("{\"apiVersion\":\"config.istio.io/v1alpha2\",\"kind\":\"RouteRule\","
			"\"metadata\":{\"name\":\"svc-3-test\",\"namespace\":\"default\"},"
			"\"spec\":{\"destination\":{\"name\":\"svc-3\"},\"precedence\":2,"
			"\"match\":{\"request\":{\"headers\":{\"cookie\":{\"regex\":"
			"\"^(.*?;)?(user=test-user)(;.*)?$\"}}}},"
			"\"route\":[{\"labels\":{\"version\":\"v2\"}}]}}");
	objs.v = &o;
	objs.n = 1;
	NODE_UP(&n, NULL);
	COMMIT(&n, a);
	c0 = tables(&n, t0, 64);
	/* l7_routes full of other entries: the rule's route cannot go in */
	snprintf(path, sizeof(path), "%s/%s", n.pin, SPLIT_MAP_L7_ROUTES);
	rfd = bpf_obj_get(path);
	ASSERT_GE(rfd, 0);
	for (__u32 i = 0; i < SPLIT_MAX_L7_ROUTES; i++) {
		struct split_l7_route_key k = { 0xfff0, i };
		struct split_l7_route_val v = { .ndests = 1 };

		filled += !bpf_map_update_elem(rfd, &k, &v, BPF_ANY);
	}
	ASSERT_EQ(filled, SPLIT_MAX_L7_ROUTES);

	ASSERT_EQ(split_state_lock(&n.st, &err), 0);
	ASSERT_EQ(split_state_read(&n.st, &before, &err), 0);
	ASSERT_EQ(split_state_read(&n.st, &cfg, &err), 0);
	ASSERT_NE(split_apply(&n.st, &cfg, &objs, NULL, &err), 0);
	printf("  refused: %s\n", err.msg);
	ASSERT_TRUE(strstr(err.msg, "L7 rules") != NULL);
	ASSERT_TRUE(strstr(err.msg, "the previous state was restored") != NULL);
	/* services as they were: svc-3 is no L7 service, equal shares */
	ASSERT_EQ(split_state_read(&n.st, &after, &err), 0);
	split_state_unlock(&n.st);
	ASSERT_EQ(after.nsvcs, before.nsvcs);
	i3 = split_config_find(&after, "svc-3", &err);
	ASSERT_GE(i3, 0);
	ASSERT_FALSE(after.svcs[i3].l7);
	ASSERT_FALSE(after.svcs[i3].routed);
	for (size_t i = 0; i < after.svcs[i3].nversions; i++)
		ASSERT_EQ(after.svcs[i3].versions[i].weight,
			  before.svcs[split_config_find(&before, "svc-3", &err)].versions[i].weight);
	/* the same tables (kinds and lengths; tombstones aside) */
	c1 = tables(&n, t1, 64);
	for (size_t i = 0; i < c0; i++) {
		const struct tbl *x = find_tbl(t1, c1, t0[i].id);

		if (t0[i].id & SPLIT_TBL_TOMB)
			continue;
		ASSERT_TRUE(x != NULL);
		ASSERT_EQ(x->v.kind, t0[i].v.kind);
		ASSERT_EQ(x->v.nslots, t0[i].v.nslots);
	}
	/* no object in force */
	ASSERT_EQ(split_objs_read(&n.st, &now, &err), 0);
	ASSERT_EQ(now.n, 0);
	split_objs_free(&now);
	split_config_free(&before);
	split_config_free(&cfg);
	split_config_free(&after);
	free(o.json);
	close(rfd);
	node_down(&n);
	free(a);
}

/* Every element of a map: keys and values, packed (ksz + vsz a record). */
struct mapcopy {
	unsigned char *rec;
	__u32 ksz, vsz, n;
};

static int map_copy(int fd, struct mapcopy *m)
{
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info), cap = 0;
	unsigned char k[256], cur[256];
	void *prev = NULL;

	memset(m, 0, sizeof(*m));
	if (bpf_obj_get_info_by_fd(fd, &info, &len) || info.key_size > sizeof(k))
		return -1;
	m->ksz = info.key_size;
	m->vsz = info.value_size;
	while (!bpf_map_get_next_key(fd, prev, k)) {
		memcpy(cur, k, m->ksz);
		prev = cur;
		if (m->n == cap) {
			cap = cap ? 2 * cap : 256;
			m->rec = realloc(m->rec, (size_t)cap * (m->ksz + m->vsz));
			if (!m->rec)
				return -1;
		}
		if (bpf_map_lookup_elem(fd, k, m->rec + (size_t)m->n * (m->ksz + m->vsz) + m->ksz)) {
			if (errno == ENOENT)
				continue;	/* an empty slot of big_v3 (array of maps) */
			return -1;
		}
		memcpy(m->rec + (size_t)m->n * (m->ksz + m->vsz), k, m->ksz);
		m->n++;
	}
	return 0;
}

/* The value of key in m, or NULL. */
static const unsigned char *map_val(const struct mapcopy *m, const void *key)
{
	for (__u32 i = 0; i < m->n; i++)
		if (!memcmp(m->rec + (size_t)i * (m->ksz + m->vsz), key, m->ksz))
			return m->rec + (size_t)i * (m->ksz + m->vsz) + m->ksz;
	return NULL;
}

/* Elements of a (before) that b (after) lacks or holds with other bytes,
 * among those skip() does not exclude; and elements b has that a lacks. */
static size_t map_diffs(const struct mapcopy *a, const struct mapcopy *b,
			int (*skip)(const unsigned char *key, const unsigned char *val, __u32 arg),
			__u32 arg)
{
	size_t d = 0;

	for (__u32 i = 0; i < a->n; i++) {
		const unsigned char *k = a->rec + (size_t)i * (a->ksz + a->vsz), *v = k + a->ksz;
		const unsigned char *w = map_val(b, k);

		if (skip && skip(k, v, arg))
			continue;
		d += !w || memcmp(v, w, a->vsz);
	}
	for (__u32 i = 0; i < b->n; i++) {
		const unsigned char *k = b->rec + (size_t)i * (b->ksz + b->vsz), *v = k + b->ksz;

		if (skip && skip(k, v, arg))
			continue;
		d += !map_val(a, k);
	}
	return d;
}

/* Elements of service id arg (and, for tables_v3, tombstones). The
 * records are packed: fields are copied out, never read in place. */
static __u32 u32_at(const unsigned char *p)
{
	__u32 v;

	memcpy(&v, p, sizeof(v));
	return v;
}
static int of_svc_key(const unsigned char *k, const unsigned char *v, __u32 arg)
{
	(void)v;
	return u32_at(k) == arg;
}
static int of_svc_be(const unsigned char *k, const unsigned char *v, __u32 arg)
{
	(void)v;
	return SPLIT_BACKEND_SVC(u32_at(k)) == arg;
}
static int of_svc_wt(const unsigned char *k, const unsigned char *v, __u32 arg)
{
	(void)v;
	return u32_at(k + offsetof(struct split_weight_key, svc_id)) == arg;
}
static int of_svc_vip(const unsigned char *k, const unsigned char *v, __u32 arg)
{
	(void)k;
	return u32_at(v + offsetof(struct split_svc_val, svc_id)) == arg;
}
static int of_svc_tbl(const unsigned char *k, const unsigned char *v, __u32 arg)
{
	__u32 id = u32_at(k);

	(void)v;
	return (id & SPLIT_TBL_TOMB) || id / 2 == arg;
}

enum { MC_SVCS, MC_BES, MC_WTS, MC_VIPS, MC_TBLS, MC_SLOTS, MC_BIG, MC_N };

static int maps_copy(struct node *n, struct mapcopy *m)
{
	int fds[MC_N] = { n->st.services_fd, n->st.backends_fd, n->st.weights_fd,
			  n->st.svc_fd, n->st.tables_fd, n->st.slots_fd, n->st.big_fd };

	for (int i = 0; i < MC_N; i++)
		if (map_copy(fds[i], &m[i])) {
			fprintf(stderr, "  copying map %d: %s\n", i, strerror(errno));
			return -1;
		}
	return 0;
}

static void maps_free(struct mapcopy *m)
{
	for (int i = 0; i < MC_N; i++)
		free(m[i].rec);
}

/* Cells of slots_v3 that the small tables in tbls (other than service
 * skip's) use, compared between two copies. */
static size_t cells_diffs(const struct mapcopy *tbls, const struct mapcopy *a,
			  const struct mapcopy *b, __u32 skip)
{
	size_t d = 0;

	for (__u32 i = 0; i < tbls->n; i++) {
		const unsigned char *k = tbls->rec + (size_t)i * (tbls->ksz + tbls->vsz);
		struct split_table_val v;

		memcpy(&v, k + tbls->ksz, sizeof(v));
		if (of_svc_tbl(k, NULL, skip) || v.kind != SPLIT_TBL_SMALL)
			continue;
		for (__u32 c = v.offset / 2; c < (v.offset + v.nslots + 1) / 2; c++) {
			const unsigned char *x = map_val(a, &c), *y = map_val(b, &c);

			d += !x || !y || memcmp(x, y, a->vsz);
		}
	}
	return d;
}

/* Services file text as gen() makes it, committed with svc-7's weights
 * set (v1 90, v2 10: a big table) unless they are set already. */
static int commit_routed(struct node *n, const char *text, struct split_err *err)
{
	struct split_config cfg = { 0 };
	int i7;

	if (split_services_parse("gen.yaml", text, strlen(text), &cfg, err))
		return -1;
	i7 = split_config_find(&cfg, "svc-7", err);
	if (i7 >= 0) {
		struct split_service *s = &cfg.svcs[i7];

		s->routed = true;
		for (size_t k = 0; k < s->nversions; k++)
			s->versions[k].weight = strcmp(s->versions[k].name, "v1") ? 10 : 90;
	}
	return commit_cfg(n, &cfg, err);
}

/* The same services, read back from two states. */
static int same_state(struct node *x, struct node *y, struct split_err *err)
{
	struct split_config a = { 0 }, b = { 0 };
	int same = 0;

	if (split_state_read(&x->st, &a, err) || split_state_read(&y->st, &b, err))
		goto out;
	same = a.nsvcs == b.nsvcs;
	for (size_t i = 0; same && i < a.nsvcs; i++)
		same = same_service(&a.svcs[i], &b.svcs[i]);
out:
	split_config_free(&a);
	split_config_free(&b);
	return same;
}

/* text committed (commit_routed) on both x and y; true if both commits
 * succeeded and the two states then hold the same services. */
static bool commit_both_same(struct node *x, struct node *y, const char *text,
			     struct split_err *err)
{
	if (commit_routed(x, text, err) || commit_routed(y, text, err)) {
		fprintf(stderr, "  commit failed: %s\n", err->msg);
		return false;
	}
	return same_state(x, y, err);
}

/*
 * splitd's handle (split_state_cache): a re-apply that changes one service
 * writes that service's elements only; every other service's elements in
 * services, backends, weights, VIPs and tables_v3, its small table's cells
 * and its big table (the inner map in big_v3: not swapped) stay byte for
 * byte as they were. The result is the state a handle without the cache
 * makes from the same history.
 */
TEST(cached_reapply_leaves_unchanged_services_alone)
{
	struct node n, m;
	char *a = gen(300, 3, 0, 0), *b = gen(300, 3, 1, 0);
	struct mapcopy m0[MC_N], m1[MC_N];
	struct split_err err;
	__u64 w0, w1;
	__u32 id0, id7;

	NODE_UP(&n, NULL);
	split_state_cache(&n.st);
	ASSERT_EQ(commit_routed(&n, a, &err), 0);
	w0 = n.st.nwrites;
	ASSERT_EQ(commit_routed(&n, a, &err), 0);
	ASSERT_EQ(n.st.nwrites, w0);	/* the same again: nothing written */
	id0 = svc_id(&n, "svc-0");
	id7 = svc_id(&n, "svc-7");
	ASSERT_GT(id0, 0);
	ASSERT_GT(id7, 0);
	ASSERT_EQ(maps_copy(&n, m0), 0);
	ASSERT_TRUE(map_val(&m0[MC_BIG], &(__u32){ SPLIT_TABLE_ID(id7, 0) }) != NULL);

	ASSERT_EQ(commit_routed(&n, b, &err), 0);	/* svc-0: one endpoint more */
	w1 = n.st.nwrites - w0;
	printf("  one endpoint added to one of 300 services: %llu writes\n",
	       (unsigned long long)w1);
	ASSERT_GT(w1, 0);
	ASSERT_LE(w1, 10);
	ASSERT_EQ(n.st.nunchanged, 299);	/* not even compared with the maps */
	ASSERT_EQ(maps_copy(&n, m1), 0);
	ASSERT_EQ(map_diffs(&m0[MC_SVCS], &m1[MC_SVCS], of_svc_key, id0), 0);
	ASSERT_EQ(map_diffs(&m0[MC_BES], &m1[MC_BES], of_svc_be, id0), 0);
	ASSERT_EQ(map_diffs(&m0[MC_WTS], &m1[MC_WTS], of_svc_wt, id0), 0);
	ASSERT_EQ(map_diffs(&m0[MC_VIPS], &m1[MC_VIPS], of_svc_vip, id0), 0);
	ASSERT_EQ(map_diffs(&m0[MC_TBLS], &m1[MC_TBLS], of_svc_tbl, id0), 0);
	ASSERT_EQ(map_diffs(&m0[MC_BIG], &m1[MC_BIG], NULL, 0), 0);	/* svc-7's inner map */
	ASSERT_EQ(cells_diffs(&m0[MC_TBLS], &m0[MC_SLOTS], &m1[MC_SLOTS], id0), 0);
	/* and svc-0 did change */
	ASSERT_GT(map_diffs(&m0[MC_BES], &m1[MC_BES], NULL, 0), 0);
	maps_free(m0);
	maps_free(m1);

	/* The same history on a handle without the cache: the same state. */
	NODE_UP(&m, NULL);
	ASSERT_EQ(commit_routed(&m, a, &err), 0);
	ASSERT_EQ(commit_routed(&m, b, &err), 0);
	ASSERT_EQ(m.st.nunchanged, 0);	/* no cache: every service compared */
	ASSERT_TRUE(same_state(&n, &m, &err));
	/* svc-0 back as it was, on both */
	ASSERT_TRUE(commit_both_same(&n, &m, a, &err));
	node_down(&m);
	node_down(&n);
	free(a);
	free(b);
}

/*
 * The cached handle and a commit that fails half way (slots_v3 full, after
 * services and backends were written, svc-0's new endpoint among them):
 * everything goes back, the handle's
 * next commit starts from what the maps really hold (not from the failed
 * commit's writes nor from before the rollback), and a change then made
 * gives the state a fresh handle makes.
 */
TEST(cached_commit_failing_half_way_rolls_back)
{
	struct split_map_sizes sz = { .ct = 4096, .sock_nat = 2048, .table_cells = 1024 };
	struct node n, m;
	char *small = gen(100, 3, 0, 0), *small1 = gen(100, 3, 1, 0), *big = gen(800, 3, 1, 0);
	struct mapcopy m0[MC_N], m1[MC_N];
	struct split_err err;

	NODE_UP(&n, &sz);
	split_state_cache(&n.st);
	ASSERT_EQ(commit_routed(&n, small, &err), 0);
	ASSERT_EQ(maps_copy(&n, m0), 0);
	ASSERT_NE(commit_routed(&n, big, &err), 0);
	printf("  refused: %s\n", err.msg);
	ASSERT_TRUE(strstr(err.msg, "--table-cells") != NULL);
	ASSERT_TRUE(strstr(err.msg, "the previous state was restored") != NULL);
	ASSERT_EQ(maps_copy(&n, m1), 0);
	/* tables_v3 aside (tombstones of the rollback; the table entries
	 * themselves are checked through the services read below) */
	for (int i = 0; i < MC_N; i++)
		if (i != MC_TBLS && i != MC_SLOTS && i != MC_BIG)
			ASSERT_EQ(map_diffs(&m0[i], &m1[i], NULL, 0), 0);
	ASSERT_EQ(m1[MC_SVCS].n, 100);
	maps_free(m0);
	maps_free(m1);

	NODE_UP(&m, &sz);
	ASSERT_EQ(commit_routed(&m, small, &err), 0);
	ASSERT_TRUE(same_state(&n, &m, &err));
	ASSERT_TRUE(commit_both_same(&n, &m, small1, &err));
	ASSERT_TRUE(commit_both_same(&n, &m, small, &err));
	node_down(&m);
	node_down(&n);
	free(small);
	free(small1);
	free(big);
}

/*
 * split_state_merge (splitd's reload: the weights in force carried into the
 * files' services, straight from the maps or the cached snapshot) gives
 * what split_state_read + split_config_merge give: a routed service keeps
 * its weights, and a version that lost its endpoints (svc-7's v2 here)
 * stays with its weight; services not routed, or not in force, as parsed.
 */
TEST(merge_from_the_maps_as_from_a_read)
{
	struct node n;
	char *a = gen(50, 3, 0, 0), *one = gen(60, 1, 0, 0);
	struct split_err err;

	NODE_UP(&n, NULL);
	ASSERT_EQ(commit_routed(&n, a, &err), 0);
	for (int cached = 0; cached < 2; cached++) {
		struct split_config x = { 0 }, y = { 0 }, old = { 0 };
		int i7;

		if (cached)
			split_state_cache(&n.st);
		ASSERT_EQ(split_services_parse("one.yaml", one, strlen(one), &x, &err), 0);
		ASSERT_EQ(split_services_parse("one.yaml", one, strlen(one), &y, &err), 0);
		ASSERT_EQ(split_state_lock(&n.st, &err), 0);
		ASSERT_EQ(split_state_merge(&n.st, &x, &err), 0);
		ASSERT_EQ(split_state_read(&n.st, &old, &err), 0);
		split_state_unlock(&n.st);
		ASSERT_EQ(split_config_merge(&y, &old, &err), 0);
		ASSERT_EQ(x.nsvcs, 60);
		ASSERT_EQ(x.nsvcs, y.nsvcs);
		for (size_t i = 0; i < x.nsvcs; i++)
			if (!same_service(&x.svcs[i], &y.svcs[i]))
				TEST_FAIL_("%s: merged from the maps differs from the read's merge",
					   x.svcs[i].name);
		i7 = split_config_find(&x, "svc-7", &err);
		ASSERT_GE(i7, 0);
		ASSERT_TRUE(x.svcs[i7].routed);
		ASSERT_EQ(x.svcs[i7].nversions, 2);
		ASSERT_EQ(weight_of(&x.svcs[i7], "v1"), 90);
		ASSERT_EQ(weight_of(&x.svcs[i7], "v2"), 10);
		ASSERT_FALSE(x.svcs[split_config_find(&x, "svc-8", &err)].routed);
		split_config_free(&x);
		split_config_free(&y);
		split_config_free(&old);
	}
	node_down(&n);
	free(a);
	free(one);
}

/*
 * The same late failure on splitd's cached handle, with a commit that did
 * change services (svc-0 gains an endpoint, svc-3 becomes an L7 service):
 * what was in force is rebuilt from the snapshot and the inverse of the
 * commit's writes (no copy of the state was made before), and put back:
 * every element of services, backends, weights and VIPs as it was; the
 * handle's next commits give what a handle without the cache gives.
 */
TEST(cached_apply_puts_back_the_state_when_a_late_write_fails)
{
	struct node n, m;
	char *a = gen(40, 3, 0, 0), *b = gen(40, 3, 1, 0);
	struct split_config cfg = { 0 };
	struct split_objs objs = { 0 };
	struct split_obj o = { .kind = "RouteRule", .ns = "default", .name = "svc-3-test" };
	struct mapcopy m0[MC_N], m1[MC_N];
	struct split_err err;
	char path[256];
	int rfd;

	o.json = strdup("{\"apiVersion\":\"config.istio.io/v1alpha2\",\"kind\":\"RouteRule\","
			"\"metadata\":{\"name\":\"svc-3-test\",\"namespace\":\"default\"},"
			"\"spec\":{\"destination\":{\"name\":\"svc-3\"},\"precedence\":2,"
			"\"match\":{\"request\":{\"headers\":{\"cookie\":{\"regex\":"
			"\"^(.*?;)?(user=test-user)(;.*)?$\"}}}},"
			"\"route\":[{\"labels\":{\"version\":\"v2\"}}]}}");
	objs.v = &o;
	objs.n = 1;
	NODE_UP(&n, NULL);
	split_state_cache(&n.st);
	ASSERT_EQ(commit_routed(&n, a, &err), 0);
	ASSERT_EQ(commit_routed(&n, a, &err), 0);	/* the snapshot is the handle's */
	ASSERT_EQ(maps_copy(&n, m0), 0);
	snprintf(path, sizeof(path), "%s/%s", n.pin, SPLIT_MAP_L7_ROUTES);
	rfd = bpf_obj_get(path);
	ASSERT_GE(rfd, 0);
	for (__u32 i = 0; i < SPLIT_MAX_L7_ROUTES; i++) {
		struct split_l7_route_key k = { 0xfff0, i };
		struct split_l7_route_val v = { .ndests = 1 };

		ASSERT_EQ(bpf_map_update_elem(rfd, &k, &v, BPF_ANY), 0);
	}
	ASSERT_EQ(split_services_parse("b.yaml", b, strlen(b), &cfg, &err), 0);
	ASSERT_EQ(split_state_lock(&n.st, &err), 0);
	ASSERT_EQ(split_state_merge(&n.st, &cfg, &err), 0);
	ASSERT_NE(split_apply(&n.st, &cfg, &objs, NULL, &err), 0);
	split_state_unlock(&n.st);
	printf("  refused: %s\n", err.msg);
	ASSERT_TRUE(strstr(err.msg, "L7 rules") != NULL);
	ASSERT_TRUE(strstr(err.msg, "the previous state was restored") != NULL);
	ASSERT_EQ(maps_copy(&n, m1), 0);
	ASSERT_EQ(map_diffs(&m0[MC_SVCS], &m1[MC_SVCS], NULL, 0), 0);
	ASSERT_EQ(map_diffs(&m0[MC_BES], &m1[MC_BES], NULL, 0), 0);
	ASSERT_EQ(map_diffs(&m0[MC_WTS], &m1[MC_WTS], NULL, 0), 0);
	ASSERT_EQ(map_diffs(&m0[MC_VIPS], &m1[MC_VIPS], NULL, 0), 0);
	ASSERT_EQ(map_diffs(&m0[MC_BIG], &m1[MC_BIG], NULL, 0), 0);
	maps_free(m0);
	maps_free(m1);
	for (__u32 i = 0; i < SPLIT_MAX_L7_ROUTES; i++) {
		struct split_l7_route_key k = { 0xfff0, i };

		bpf_map_delete_elem(rfd, &k);
	}
	close(rfd);

	NODE_UP(&m, NULL);
	ASSERT_EQ(commit_routed(&m, a, &err), 0);
	ASSERT_TRUE(same_state(&n, &m, &err));
	ASSERT_TRUE(commit_both_same(&n, &m, b, &err));
	split_config_free(&cfg);
	free(o.json);
	node_down(&m);
	node_down(&n);
	free(a);
	free(b);
}

/* A rollout's counters of one version come from that service's entries
 * alone (svc_names, its version ids); the same figures as the full read,
 * which is also what a state without svc_names gets. */
TEST(rollout_counts_of_one_service)
{
	struct node n;
	char *a = gen(50, 3, 0, 0);
	int ncpu = libbpf_num_possible_cpus(), l7 = -1;
	struct split_sock_stats *pc = NULL;
	struct split_l7_stats l7v = { .requests = 40, .latency_us_sum = 1234 };
	struct split_rollout_counts c;
	struct split_stats full = { 0 };
	struct split_stat_row row;
	struct split_name_key nk = { .name = "svc-7", .ns = "default" };
	struct split_weight_key wk = { 0 };
	struct split_weight_val wv;
	struct split_err err;
	char path[256];
	int l7fd, skfd;
	__u32 id;

	NODE_UP(&n, NULL);
	COMMIT(&n, a);
	id = svc_id(&n, "svc-7");
	ASSERT_NE(id, 0);
	/* v2's version id: the weights entry that names it */
	for (wk.svc_id = id, wk.version_id = 1; wk.version_id < 16; wk.version_id++)
		if (!bpf_map_lookup_elem(n.st.weights_fd, &wk, &wv) && !strcmp(wv.version, "v2"))
			break;
	ASSERT_LT(wk.version_id, 16);
	/* counters as the hooks and the proxy leave them: per CPU, and one
	 * l7_stats entry */
	pc = calloc((size_t)ncpu, sizeof(*pc));
	ASSERT_TRUE(pc != NULL);
	for (int i = 0; i < ncpu; i++) {
		pc[i].connections = 10 + (__u64)i;
		pc[i].connect_failed = 1;
		pc[i].resets = 2;
	}
	l7v.responses[4] = 3;
	snprintf(path, sizeof(path), "%s/%s", n.pin, SPLIT_MAP_SK_VER_STATS);
	skfd = bpf_obj_get(path);
	snprintf(path, sizeof(path), "%s/%s", n.pin, SPLIT_MAP_L7_STATS);
	l7fd = bpf_obj_get(path);
	ASSERT_GE(skfd, 0);
	ASSERT_GE(l7fd, 0);
	ASSERT_EQ(bpf_map_update_elem(skfd, &wk, pc, BPF_ANY), 0);
	ASSERT_EQ(bpf_map_update_elem(l7fd, &wk, &l7v, BPF_ANY), 0);

	ASSERT_EQ(split_stats_read_version(n.pin, "default", "svc-7", "v2", &row, &err), 1);
	ASSERT_EQ(row.s.connections, 10ULL * (__u64)ncpu + (__u64)ncpu * (__u64)(ncpu - 1) / 2);
	ASSERT_EQ(row.s.connect_failed, (__u64)ncpu);
	ASSERT_EQ(row.l7.requests, 40);
	ASSERT_EQ(split_rollout_counts_now(n.pin, "default", "svc-7", "v2", &c, &l7, &err), 0);
	ASSERT_EQ(c.connections, row.s.connections);
	ASSERT_EQ(c.connect_failed, (__u64)ncpu);
	ASSERT_EQ(c.resets, 2ULL * (__u64)ncpu);
	ASSERT_EQ(c.requests, 40);
	ASSERT_EQ(c.responses_5xx, 3);
	ASSERT_EQ(c.latency_us_sum, 1234);
	ASSERT_EQ(l7, 0);
	/* the full read says the same */
	ASSERT_EQ(split_stats_read(n.pin, &full, &err), 0);
	for (size_t i = 0; i < full.nversions; i++)
		if (!strcmp(full.versions[i].service, "svc-7") &&
		    !strcmp(full.versions[i].version, "v2")) {
			ASSERT_EQ(full.versions[i].s.connections, row.s.connections);
			ASSERT_EQ(full.versions[i].weight, row.weight);
		}
	split_stats_free(&full);
	/* a version it does not have, a service that does not exist */
	ASSERT_EQ(split_stats_read_version(n.pin, "default", "svc-7", "v9", &row, &err), 0);
	ASSERT_EQ(split_rollout_counts_now(n.pin, "default", "svc-7", "v9", &c, &l7, &err), 0);
	ASSERT_EQ(c.connections, 0);
	ASSERT_EQ(split_stats_read_version(n.pin, "default", "nosuch", "v1", &row, &err), 2);
	ASSERT_EQ(split_rollout_counts_now(n.pin, "default", "nosuch", "v1", &c, &l7, &err), 0);
	ASSERT_EQ(c.connections, 0);
	/* without its svc_names entry (an older splitd's state): the full read */
	ASSERT_EQ(bpf_map_delete_elem(n.st.names_fd, &nk), 0);
	ASSERT_EQ(split_stats_read_version(n.pin, "default", "svc-7", "v2", &row, &err), 2);
	memset(&c, 0, sizeof(c));
	ASSERT_EQ(split_rollout_counts_now(n.pin, "default", "svc-7", "v2", &c, &l7, &err), 0);
	ASSERT_EQ(c.connections, 10ULL * (__u64)ncpu + (__u64)ncpu * (__u64)(ncpu - 1) / 2);
	ASSERT_EQ(c.responses_5xx, 3);
	close(skfd);
	close(l7fd);
	free(pc);
	node_down(&n);
	free(a);
}

/* Freed cells stay reserved while their tombstone is in its grace period;
 * an expired tombstone's cells are reused, and the tombstone goes with the
 * next change. */
TEST(tombstones_reserve_cells)
{
	struct node n;
	char *a = gen(1, 3, 0, 0), *b = gen(2, 3, 0, 0), *c = gen(3, 3, 0, 0);
	struct split_table_val live = { .kind = SPLIT_TBL_FREED, .nslots = 64, .offset = 0 };
	struct split_table_val old = { .kind = SPLIT_TBL_FREED, .nslots = 8, .offset = 64 };
	__u32 klive = SPLIT_TBL_TOMB | 0, kold = SPLIT_TBL_TOMB | 64;
	struct timespec ts;
	struct tbl t[16];
	size_t nt;

	NODE_UP(&n, NULL);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	/* cells 0..63: freed just now (an hour of grace left); 64..71: long ago */
	live.freed_ns = (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec + 3600ULL * 1000000000ULL;
	old.freed_ns = 1;
	ASSERT_EQ(bpf_map_update_elem(n.st.tables_fd, &klive, &live, BPF_ANY), 0);
	ASSERT_EQ(bpf_map_update_elem(n.st.tables_fd, &kold, &old, BPF_ANY), 0);
	COMMIT(&n, a);
	nt = tables(&n, t, 16);
	/* svc-0's table: in the expired tombstone's cells (first fit), which
	 * is gone; the live one stays */
	ASSERT_EQ(nt, 2);
	ASSERT_TRUE(find_tbl(t, nt, klive) != NULL);
	ASSERT_TRUE(find_tbl(t, nt, kold) == NULL);
	ASSERT_EQ(t[0].v.kind, SPLIT_TBL_SMALL);
	ASSERT_EQ(t[0].v.offset, 64);
	COMMIT(&n, b);
	COMMIT(&n, c);
	nt = tables(&n, t, 16);
	ASSERT_EQ(nt, 4);
	for (size_t i = 0; i < nt; i++)
		if (t[i].v.kind == SPLIT_TBL_SMALL)
			ASSERT_GE(t[i].v.offset, 64);	/* never in 0..63 */
	node_down(&n);
	free(a);
	free(b);
	free(c);
}

/* Services file text: n services big-<i> at VIP 10.<net>.x.y with four
 * ports and four versions of one endpoint each (4n VIP:port entries, 4n
 * versions, 4n backends). */
static char *gen_wide(size_t n, unsigned net, unsigned extra_ep)
{
	size_t cap = 256 + n * 640, off = 0;
	char *b = malloc(cap);

	for (size_t i = 0; b && i < n; i++) {
		off += (size_t)snprintf(b + off, cap - off,
			"---\napiVersion: split.dev/v1\nkind: Service\nmetadata:\n  name: big-%zu\n"
			"spec:\n  clusterIPs: [10.%u.%zu.%zu]\n  ports: [{port: 80}, {port: 81}, {port: 82}, {port: 83}]\n"
			"  endpoints:\n", i, net, i / 256, i % 256);
		for (unsigned v = 1; v <= 4 + (i == 0 ? extra_ep : 0); v++)
			off += (size_t)snprintf(b + off, cap - off,
				"  - addresses: [10.%u.%zu.%zu]\n    labels: {version: v%u}\n",
				110 + v, i / 256, i % 256, v);
	}
	return b;
}

static size_t map_count(int fd, size_t ksz)
{
	char k[64], nk[64];
	size_t n = 0;
	void *prev = NULL;

	while (ksz <= sizeof(k) && !bpf_map_get_next_key(fd, prev, nk)) {
		memcpy(k, nk, ksz);
		prev = k;
		n++;
	}
	return n;
}

/* A commit's peak in the VIPs and weights maps is what they hold plus the
 * keys it adds: 33,200 VIP:port entries and versions (more than half of
 * each map) re-apply, and change; 33,200 others on top do not fit, and
 * leave the maps as they were. */
TEST(reapply_beyond_half_the_maps)
{
	struct node n;
	char *a = gen_wide(8300, 100, 0), *b = gen_wide(8300, 100, 1), *c = gen_wide(8300, 101, 0);
	struct split_err err;
	int svc_fd;

	ASSERT_TRUE(a && b && c);
	NODE_UP(&n, NULL);
	svc_fd = split_state_obj_get(&n.st, SPLIT_MAP_SVC);
	ASSERT_GE(svc_fd, 0);
	COMMIT(&n, a);
	ASSERT_EQ(map_count(svc_fd, sizeof(struct split_svc_key)), 33200);
	ASSERT_EQ(map_count(n.st.weights_fd, sizeof(struct split_weight_key)), 33200);
	COMMIT(&n, a);	/* the same again */
	COMMIT(&n, b);	/* big-0 gets a fifth version */
	ASSERT_EQ(map_count(n.st.weights_fd, sizeof(struct split_weight_key)), 33201);
	/* every VIP new: 33,200 + 33,200 at once */
	ASSERT_NE(commit_text(&n, c, &err), 0);
	ASSERT_TRUE(strstr(err.msg, "VIP:port entries while the 33200 in force are replaced") != NULL);
	ASSERT_EQ(map_count(svc_fd, sizeof(struct split_svc_key)), 33200);
	ASSERT_EQ(map_count(n.st.weights_fd, sizeof(struct split_weight_key)), 33201);
	close(svc_fd);
	node_down(&n);
	free(a);
	free(b);
	free(c);
}
