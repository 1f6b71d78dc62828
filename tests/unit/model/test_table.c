/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * test_table.c - split_table_build(): exact shares, determinism, minimal
 * disruption, family filtering. Also checks the lazy race against a plain
 * "sort every (slot, candidate) pair" reference built here from the
 * documented hash, so the two can never drift apart.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <sys/socket.h>

#include "model.h"
#include "table_test.h"
#include "test.h"

#define N SPLIT_TABLE_SLOTS
#define MAX_VER 8
#define MAX_EPS 64
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* table_digest() of the golden test's tables */
#define GOLDEN_V4 0x6a28d03cb002e057ULL
#define GOLDEN_V6 0xea3a2278920e54e4ULL

struct tsvc {
	struct split_service svc;
	struct split_version vers[MAX_VER];
	struct split_endpoint eps[MAX_EPS];
};

static uint32_t tab_a[N], tab_b[N];

/* Versions "v1".."vN" with weights w[]; version i gets nep[i] endpoints of
 * the family: 10.0.i.j or fd00::i:j (j from 1). */
static void tsvc_init(struct tsvc *t, const char *name, size_t nver,
		      const uint32_t *w, const size_t *nep, int family)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->svc.name, sizeof(t->svc.name), "%s", name);
	snprintf(t->svc.ns, sizeof(t->svc.ns), "default");
	t->svc.versions = t->vers;
	t->svc.eps = t->eps;
	for (size_t v = 0; v < nver; v++) {
		snprintf(t->vers[v].name, SPLIT_NAME_LEN, "v%zu", v + 1);
		t->vers[v].weight = w[v];
		for (size_t j = 0; j < nep[v]; j++) {
			struct split_endpoint *ep = &t->eps[t->svc.neps++];

			snprintf(ep->version, SPLIT_NAME_LEN, "v%zu", v + 1);
			ep->addr.family = family;
			if (family == 4) {
				ep->addr.bytes[0] = 10;
				ep->addr.bytes[2] = v + 1;
				ep->addr.bytes[3] = j + 1;
			} else {
				ep->addr.bytes[0] = 0xfd;
				ep->addr.bytes[13] = v + 1;
				ep->addr.bytes[15] = j + 1;
			}
		}
	}
	t->svc.nversions = nver;
}

static void tsvc_add_ep(struct tsvc *t, const char *version, const char *addr)
{
	struct split_endpoint *ep = &t->eps[t->svc.neps++];
	int v6 = strchr(addr, ':') != NULL;

	memset(ep, 0, sizeof(*ep));
	snprintf(ep->version, sizeof(ep->version), "%s", version);
	ep->addr.family = v6 ? 6 : 4;
	inet_pton(v6 ? AF_INET6 : AF_INET, addr, ep->addr.bytes);
}

static size_t ver_index(const struct tsvc *t, const char *name)
{
	for (size_t v = 0; v < t->svc.nversions; v++)
		if (!strcmp(t->vers[v].name, name))
			return v;
	return SIZE_MAX;
}

/* Slots per version of a table. */
static void count_versions(const struct tsvc *t, const uint32_t *tab,
			   size_t n, size_t *cnt)
{
	memset(cnt, 0, MAX_VER * sizeof(*cnt));
	for (size_t s = 0; s < n; s++)
		cnt[ver_index(t, t->eps[tab[s]].version)]++;
}

/* Reference largest remainder: names v1..v8 sort like their index. */
static void ref_quotas(size_t n, const uint32_t *w, size_t cnt, size_t *q)
{
	uint64_t total = 0, left = n, rem[MAX_VER];
	int taken[MAX_VER] = { 0 };

	for (size_t v = 0; v < cnt; v++)
		total += w[v];
	for (size_t v = 0; v < cnt; v++) {
		q[v] = (uint64_t)n * w[v] / total;
		rem[v] = (uint64_t)n * w[v] % total;
		left -= q[v];
	}
	while (left--) {
		size_t best = SIZE_MAX;

		for (size_t v = 0; v < cnt; v++) {
			if (taken[v])
				continue;
			if (best == SIZE_MAX || rem[v] > rem[best])
				best = v;
		}
		taken[best] = 1;
		q[best]++;
	}
}

static double moved(const struct tsvc *a, const uint32_t *ta,
		    const struct tsvc *b, const uint32_t *tb, int by_endpoint)
{
	size_t n = 0;

	for (size_t s = 0; s < N; s++) {
		const struct split_endpoint *x = &a->eps[ta[s]];
		const struct split_endpoint *y = &b->eps[tb[s]];

		if (by_endpoint ? memcmp(&x->addr, &y->addr, sizeof(x->addr))
				: strcmp(x->version, y->version))
			n++;
	}
	return (double)n / N;
}

/* ---- shares -------------------------------------------------------------- */

struct wcase {
	size_t nver;
	uint32_t w[3];
};

static const struct wcase share_cases[] = {
	{ 2, { 50, 50 } }, { 2, { 90, 10 } },	{ 2, { 99, 1 } },
	{ 3, { 1, 1, 98 } }, { 3, { 33, 33, 34 } }, { 2, { 0, 100 } },
	{ 2, { 1, 999 } },	{ 2, { 1, 9999 } },	{ 3, { 7, 0, 3 } },
};

/* Build and check every version's count against the quota. */
static int check_shares(const struct wcase *c, size_t n, uint32_t *tab)
{
	static struct tsvc t;
	size_t nep[3] = { 1, 2, 3 }, cnt[MAX_VER], q[MAX_VER];
	uint64_t total = 0;

	tsvc_init(&t, "shares", c->nver, c->w, nep, 4);
	if (split_table_build(&t.svc, 4, tab, n) <= 0)
		return 0;
	count_versions(&t, tab, n, cnt);
	ref_quotas(n, c->w, c->nver, q);
	for (size_t v = 0; v < c->nver; v++)
		total += c->w[v];
	for (size_t v = 0; v < c->nver; v++) {
		double ideal = (double)n * c->w[v] / total;
		double d = cnt[v] - ideal;

		if (cnt[v] != q[v] || d <= -1 || d >= 1)
			return 0;
		if (!c->w[v] && cnt[v])
			return 0;
	}
	return 1;
}

TEST(exact_shares)
{
	for (size_t i = 0; i < ARRAY_SIZE(share_cases); i++) {
		if (!check_shares(&share_cases[i], N, tab_a))
			TEST_FAIL_("weights case %zu: wrong shares", i);
	}
}

TEST(exact_shares_small_tables)
{
	static const size_t sizes[] = { 1, 2, 7, 13, 101 };

	for (size_t k = 0; k < ARRAY_SIZE(sizes); k++)
		for (size_t i = 0; i < ARRAY_SIZE(share_cases); i++)
			if (!check_shares(&share_cases[i], sizes[k], tab_a))
				TEST_FAIL_("nslots %zu, case %zu: wrong shares",
					   sizes[k], i);
}

TEST(tiny_weight_gets_its_slot)
{
	static struct tsvc t;
	const uint32_t w[2] = { 1, 9999 };
	size_t nep[2] = { 1, 1 }, cnt[MAX_VER];

	tsvc_init(&t, "tiny", 2, w, nep, 4);
	ASSERT_EQ(split_table_build(&t.svc, 4, tab_a, N), 2);
	count_versions(&t, tab_a, N, cnt);
	ASSERT_EQ(cnt[0], 1);	/* 10007 / 10000 = 1.0007 */
	ASSERT_EQ(cnt[1], N - 1);
}

TEST(endpoint_equal_shares)
{
	static struct tsvc t;
	const uint32_t w[2] = { 70, 30 };
	size_t nep[2] = { 3, 2 }, per_ep[MAX_EPS] = { 0 };

	tsvc_init(&t, "eq", 2, w, nep, 4);
	ASSERT_EQ(split_table_build(&t.svc, 4, tab_a, N), 5);
	for (size_t s = 0; s < N; s++)
		per_ep[tab_a[s]]++;
	/* v1: 7005 slots over 3 endpoints; v2: 3002 over 2 */
	ASSERT_EQ(per_ep[0] + per_ep[1] + per_ep[2], 7005);
	for (size_t i = 0; i < 3; i++) {
		ASSERT_GE(per_ep[i], 7005 / 3);
		ASSERT_LE(per_ep[i], 7005 / 3 + 1);
	}
	ASSERT_EQ(per_ep[3], 1501);
	ASSERT_EQ(per_ep[4], 1501);
}

TEST(returns_endpoints_used)
{
	static struct tsvc t;
	const uint32_t w[2] = { 1, 1 };
	size_t nep[2] = { 5, 5 };

	tsvc_init(&t, "used", 2, w, nep, 4);
	ASSERT_EQ(split_table_build(&t.svc, 4, tab_a, N), 10);
	/* 7 slots, 10 endpoints: only 7 can be used */
	ASSERT_EQ(split_table_build(&t.svc, 4, tab_a, 7), 7);
}

/* ---- determinism --------------------------------------------------------- */

TEST(deterministic)
{
	static struct tsvc t;
	const uint32_t w[3] = { 50, 20, 30 };
	size_t nep[3] = { 3, 2, 4 };

	tsvc_init(&t, "det", 3, w, nep, 6);
	ASSERT_EQ(split_table_build(&t.svc, 6, tab_a, N), 9);
	ASSERT_EQ(split_table_build(&t.svc, 6, tab_b, N), 9);
	ASSERT_EQ(memcmp(tab_a, tab_b, sizeof(tab_a)), 0);
}

TEST(input_order_does_not_matter)
{
	static struct tsvc t, r;
	const uint32_t w[3] = { 50, 20, 30 };
	size_t nep[3] = { 3, 2, 4 }, n;

	tsvc_init(&t, "order", 3, w, nep, 4);
	r = t;
	r.svc.eps = r.eps;
	r.svc.versions = r.vers;
	n = t.svc.neps;
	for (size_t i = 0; i < n; i++)		/* rotate by 4, reversed */
		r.eps[i] = t.eps[(n - 1 - i + 4) % n];
	for (size_t v = 0; v < 3; v++)		/* versions reversed */
		r.vers[v] = t.vers[2 - v];
	ASSERT_EQ(split_table_build(&t.svc, 4, tab_a, N), 9);
	ASSERT_EQ(split_table_build(&r.svc, 4, tab_b, N), 9);
	for (size_t s = 0; s < N; s++)
		ASSERT_EQ(memcmp(&t.eps[tab_a[s]].addr, &r.eps[tab_b[s]].addr,
				 sizeof(struct split_addr)), 0);
}

TEST(service_name_changes_table)
{
	static struct tsvc a, b;
	const uint32_t w[2] = { 50, 50 };
	size_t nep[2] = { 2, 2 };
	double d;

	tsvc_init(&a, "reviews", 2, w, nep, 4);
	tsvc_init(&b, "ratings", 2, w, nep, 4);
	ASSERT_EQ(split_table_build(&a.svc, 4, tab_a, N), 4);
	ASSERT_EQ(split_table_build(&b.svc, 4, tab_b, N), 4);
	d = moved(&a, tab_a, &b, tab_b, 1);
	printf("  two service names: %.4f of slots differ "
	       "(independent tables: 0.75)\n", d);
	ASSERT_GT(d * 1000, 700);
}

/*
 * Golden tables: every node, every build and every release must produce
 * the same table for the same input, or nodes disagree about where a flow
 * goes during an upgrade. If this fails, the placement changed: that is a
 * compatibility break, not a test to update casually.
 */
static uint64_t table_digest(const struct tsvc *t, const uint32_t *tab)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t s = 0; s < N; s++) {
		const uint8_t *p = t->eps[tab[s]].addr.bytes;

		for (size_t i = 0; i < 16; i++)
			h = (h ^ p[i]) * 0x100000001b3ULL;
	}
	return h;
}

TEST(golden)
{
	static struct tsvc t;
	const uint32_t w[3] = { 50, 20, 30 };
	size_t nep[3] = { 3, 2, 4 };

	tsvc_init(&t, "reviews", 3, w, nep, 4);
	ASSERT_EQ(split_table_build(&t.svc, 4, tab_a, N), 9);
	printf("  golden v4 digest %016llx\n",
	       (unsigned long long)table_digest(&t, tab_a));
	ASSERT_EQ(table_digest(&t, tab_a), GOLDEN_V4);
	tsvc_init(&t, "reviews", 3, w, nep, 6);
	ASSERT_EQ(split_table_build(&t.svc, 6, tab_a, N), 9);
	printf("  golden v6 digest %016llx\n",
	       (unsigned long long)table_digest(&t, tab_a));
	ASSERT_EQ(table_digest(&t, tab_a), GOLDEN_V6);
}

/* ---- minimal disruption -------------------------------------------------- */

static double version_moves(size_t nver, const uint32_t *w1,
			    const uint32_t *w2, const size_t *nep,
			    int by_endpoint)
{
	static struct tsvc a, b;

	tsvc_init(&a, "reviews", nver, w1, nep, 4);
	tsvc_init(&b, "reviews", nver, w2, nep, 4);
	if (split_table_build(&a.svc, 4, tab_a, N) <= 0 ||
	    split_table_build(&b.svc, 4, tab_b, N) <= 0)
		return 1;
	return moved(&a, tab_a, &b, tab_b, by_endpoint);
}

TEST(disruption_two_versions)
{
	static const struct {
		uint32_t from[2], to[2];
		double lo, hi;
	} c[] = {
		{ { 90, 10 }, { 80, 20 }, 0.099, 0.105 },
		{ { 50, 50 }, { 40, 60 }, 0.099, 0.105 },
		{ { 99, 1 }, { 95, 5 }, 0.0399, 0.042 },
		{ { 1, 0 }, { 1, 1 }, 0.499, 0.501 },
	};
	size_t nep[2] = { 1, 1 };

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		double d = version_moves(2, c[i].from, c[i].to, nep, 0);

		printf("  %u/%u -> %u/%u: %.4f of slots change version\n",
		       c[i].from[0], c[i].from[1], c[i].to[0], c[i].to[1], d);
		ASSERT_GE(d * 1e6, c[i].lo * 1e6);
		ASSERT_LE(d * 1e6, c[i].hi * 1e6);
	}
}

TEST(disruption_endpoints)
{
	const uint32_t w1[2] = { 90, 10 }, w2[2] = { 80, 20 };
	size_t nep[2] = { 3, 2 };
	double dv = version_moves(2, w1, w2, nep, 0);
	double de = version_moves(2, w1, w2, nep, 1);

	printf("  90/10 -> 80/20, 3+2 endpoints: %.4f change version, "
	       "%.4f change endpoint\n", dv, de);
	ASSERT_LE(dv * 1e6, 0.105 * 1e6);
	ASSERT_LE(de * 1e6, 0.11 * 1e6);
}

TEST(disruption_three_versions)
{
	const uint32_t w1[3] = { 50, 20, 30 }, w2[3] = { 40, 20, 40 };
	size_t nep[3] = { 1, 1, 1 };
	double d = version_moves(3, w1, w2, nep, 0);

	printf("  50/20/30 -> 40/20/40: %.4f of slots change version\n", d);
	ASSERT_GE(d * 1e6, 0.099 * 1e6);
	ASSERT_LE(d * 1e6, 0.15 * 1e6);
}

TEST(disruption_endpoint_added)
{
	static struct tsvc a, b;
	const uint32_t w[2] = { 90, 10 };
	size_t nep_a[2] = { 4, 1 }, nep_b[2] = { 5, 1 };
	double d;

	tsvc_init(&a, "reviews", 2, w, nep_a, 4);
	tsvc_init(&b, "reviews", 2, w, nep_b, 4);
	ASSERT_EQ(split_table_build(&a.svc, 4, tab_a, N), 5);
	ASSERT_EQ(split_table_build(&b.svc, 4, tab_b, N), 6);
	d = moved(&a, tab_a, &b, tab_b, 1);
	/* the new endpoint takes 1/5 of v1's 90%: 18% must move */
	printf("  v1 4 -> 5 endpoints at 90/10: %.4f change endpoint "
	       "(ideal 0.18)\n", d);
	ASSERT_LE(d * 1e6, 0.20 * 1e6);
}

/* ---- families and eligibility -------------------------------------------- */

static void dual_stack(struct tsvc *t)
{
	const uint32_t w[3] = { 50, 30, 20 };
	size_t nep[3] = { 0, 0, 0 };

	tsvc_init(t, "dual", 3, w, nep, 4);
	tsvc_add_ep(t, "v1", "10.0.0.1");
	tsvc_add_ep(t, "v1", "fd00::1");
	tsvc_add_ep(t, "v1", "10.0.0.2");
	tsvc_add_ep(t, "v2", "fd00::2");
	tsvc_add_ep(t, "v2", "10.0.0.3");
	tsvc_add_ep(t, "v3", "fd00::3");	/* v3: IPv6 only */
	tsvc_add_ep(t, "v3", "fd00::4");
	tsvc_add_ep(t, "nope", "10.0.0.9");	/* no such version */
}

TEST(family_v6_only_v6)
{
	static struct tsvc t;
	size_t cnt[MAX_VER];
	const uint32_t w[3] = { 50, 30, 20 };
	size_t q[MAX_VER];

	dual_stack(&t);
	ASSERT_EQ(split_table_build(&t.svc, 6, tab_a, N), 4);
	for (size_t s = 0; s < N; s++)
		ASSERT_EQ(t.eps[tab_a[s]].addr.family, 6);
	count_versions(&t, tab_a, N, cnt);
	ref_quotas(N, w, 3, q);
	for (size_t v = 0; v < 3; v++)
		ASSERT_EQ(cnt[v], q[v]);
}

TEST(family_v4_skips_v6_only_version)
{
	static struct tsvc t;
	size_t cnt[MAX_VER], q[MAX_VER];
	const uint32_t w[2] = { 50, 30 };

	dual_stack(&t);
	ASSERT_EQ(split_table_build(&t.svc, 4, tab_a, N), 3);
	for (size_t s = 0; s < N; s++) {
		ASSERT_EQ(t.eps[tab_a[s]].addr.family, 4);
		ASSERT_EQ(ver_index(&t, t.eps[tab_a[s]].version) < 3, 1);
	}
	count_versions(&t, tab_a, N, cnt);
	ref_quotas(N, w, 2, q);	/* v1 and v2 share everything 50:30 */
	ASSERT_EQ(cnt[0], q[0]);
	ASSERT_EQ(cnt[1], q[1]);
	ASSERT_EQ(cnt[2], 0);
	ASSERT_EQ(cnt[0] + cnt[1], N);
}

TEST(no_eligible_endpoint)
{
	static struct tsvc t;
	const uint32_t w[1] = { 100 };
	size_t nep[1] = { 3 };

	tsvc_init(&t, "v6only", 1, w, nep, 6);
	memset(tab_a, 0xab, sizeof(tab_a));
	ASSERT_EQ(split_table_build(&t.svc, 4, tab_a, N), 0);
	for (size_t s = 0; s < N; s++)
		ASSERT_EQ(tab_a[s], 0xababababu);

	tsvc_init(&t, "empty", 0, w, nep, 4);
	ASSERT_EQ(split_table_build(&t.svc, 4, tab_a, N), 0);
	ASSERT_EQ(tab_a[0], 0xababababu);
}

TEST(all_weights_zero)
{
	static struct tsvc t;
	const uint32_t w[2] = { 0, 0 };
	size_t nep[2] = { 2, 2 };

	tsvc_init(&t, "drained", 2, w, nep, 4);
	memset(tab_a, 0xab, sizeof(tab_a));
	ASSERT_EQ(split_table_build(&t.svc, 4, tab_a, N), 0);
	ASSERT_EQ(tab_a[0], 0xababababu);
	ASSERT_EQ(tab_a[N - 1], 0xababababu);
}

TEST(bad_arguments)
{
	static struct tsvc t;
	const uint32_t w[1] = { 1 };
	size_t nep[1] = { 1 };

	tsvc_init(&t, "bad", 1, w, nep, 4);
	ASSERT_EQ(split_table_build(&t.svc, 4, tab_a, 0), -EINVAL);
	ASSERT_EQ(split_table_build(&t.svc, 5, tab_a, N), -EINVAL);
}

/* ---- the lazy race equals the plain sort of all pairs -------------------- */

/* The documented hash, written out again. */
static uint64_t ref_prefix(const char *svc, const char *name)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	const char *parts[2] = { svc, name };

	for (int k = 0; k < 2; k++) {
		const unsigned char *p = (const unsigned char *)parts[k];

		do {
			h = (h ^ *p) * 0x100000001b3ULL;
		} while (*p++);
	}
	return h;
}

static uint64_t ref_hash(uint64_t prefix, uint32_t slot)
{
	uint64_t x = prefix + ((uint64_t)slot + 1) * 0x9e3779b97f4a7c15ULL;

	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* -log2(U), U = ((h >> 11) + 0.5) * 2^-53, fixed point with 32 fraction
 * bits, computed bit by bit from f = x / 2^e truncated to Q1.31. */
static uint64_t ref_neg_log2(uint64_t h)
{
	uint64_t x = ((h >> 11) << 1) | 1, f, frac = 0;
	int e = 63 - __builtin_clzll(x);

	f = e >= 31 ? x >> (e - 31) : x << (31 - e);
	for (int i = 0; i < 32; i++) {
		f = (f * f) >> 31;
		frac = frac << 1 | (f >> 32);
		f >>= f >> 32;
	}
	return ((uint64_t)(54 - e) << 32) - frac;
}

struct ref_pair {
	double key;
	uint32_t slot, c;
};

static int ref_pair_cmp(const void *a, const void *b)
{
	const struct ref_pair *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	if (x->slot != y->slot)
		return x->slot < y->slot ? -1 : 1;
	return x->c < y->c ? -1 : x->c > y->c;
}

/* Full sort and greedy walk. w == NULL: all weights 1 (key = 2^53-1-U53). */
static void ref_race(const char *svc, const char **names, const uint32_t *w,
		     size_t *quota, size_t ncand, const uint32_t *slots,
		     size_t nslots, uint32_t *won, int *taken)
{
	size_t np = nslots * ncand, k = 0;
	struct ref_pair *p = calloc(np ? np : 1, sizeof(*p));

	for (size_t i = 0; i < nslots; i++) {
		for (size_t c = 0; c < ncand; c++) {
			uint64_t pre = ref_prefix(svc, names[c]);
			uint64_t h = ref_hash(pre, slots[i]);

			p[k].key = w ? (double)ref_neg_log2(h) / w[c]
				     : (double)((1ULL << 53) - 1 - (h >> 11));
			p[k].slot = slots[i];
			p[k++].c = c;
		}
	}
	qsort(p, np, sizeof(*p), ref_pair_cmp);
	for (size_t i = 0; i < np; i++) {
		if (taken[p[i].slot] || !quota[p[i].c])
			continue;
		taken[p[i].slot] = 1;
		quota[p[i].c]--;
		won[p[i].slot] = p[i].c;
	}
	free(p);
}

/* Reference table for tsvc_init() services (one family, all versions
 * eligible, weights > 0, endpoints of version v in address order). */
static void ref_table(const struct tsvc *t, size_t n, uint32_t *out)
{
	static uint32_t vwon[N], ewon[N], slots[N];
	static int taken[N];
	const char *names[MAX_EPS];
	uint32_t w[MAX_VER] = { 0 };
	size_t q[MAX_EPS], nv = t->svc.nversions, first = 0;

	for (size_t v = 0; v < nv; v++) {
		names[v] = t->vers[v].name;
		w[v] = t->vers[v].weight;
	}
	ref_quotas(n, w, nv, q);
	for (size_t s = 0; s < n; s++)
		slots[s] = s;
	memset(taken, 0, sizeof(taken));
	ref_race(t->svc.name, names, w, q, nv, slots, n, vwon, taken);

	for (size_t v = 0; v < nv; v++) {
		static char text[MAX_EPS][INET6_ADDRSTRLEN];
		size_t m = 0, k = 0;
		int af = t->eps[first].addr.family == 6 ? AF_INET6 : AF_INET;

		while (first + m < t->svc.neps &&
		       !strcmp(t->eps[first + m].version, t->vers[v].name)) {
			inet_ntop(af, t->eps[first + m].addr.bytes, text[m],
				  INET6_ADDRSTRLEN);
			names[m] = text[m];
			m++;
		}
		for (size_t s = 0; s < n; s++)
			if (vwon[s] == v)
				slots[k++] = s;
		for (size_t c = 0; c < m; c++)	/* equal weights */
			q[c] = k / m + (c < k % m);
		memset(taken, 0, sizeof(taken));
		ref_race(t->svc.name, names, NULL, q, m, slots, k, ewon, taken);
		for (size_t i = 0; i < k; i++)
			out[slots[i]] = first + ewon[slots[i]];
		first += m;
	}
}

TEST(matches_full_sort_reference)
{
	static struct tsvc t;
	static const struct {
		size_t nver, n, nep[3];
		uint32_t w[3];
		int family;
	} c[] = {
		{ 3, N, { 3, 2, 4 }, { 50, 20, 30 }, 4 },
		{ 2, N, { 1, 5 }, { 1, 9999 }, 6 },
		{ 3, 13, { 9, 9, 9 }, { 1, 1, 1 }, 4 },	/* eps > slots */
		{ 3, 101, { 20, 1, 7 }, { 5, 3, 1 }, 6 },
		{ 2, 1000, { 30, 30 }, { 999, 1 }, 4 },
	};

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		int fam = c[i].family;

		tsvc_init(&t, "reviews", c[i].nver, c[i].w, c[i].nep, fam);
		ASSERT_GT(split_table_build(&t.svc, fam, tab_a, c[i].n), 0);
		ref_table(&t, c[i].n, tab_b);
		for (size_t s = 0; s < c[i].n; s++)
			if (tab_a[s] != tab_b[s])
				TEST_FAIL_("case %zu slot %zu: %u, ref %u", i,
					   s, tab_a[s], tab_b[s]);
	}
}

/* The one- and two-candidate shortcuts give the heap walk's tables. */
TEST(shortcuts_match_the_walk)
{
	static struct tsvc t;
	static const size_t sizes[] = { N, 1009, 101, 13 };
	uint64_t x = 0x2545f4914f6cdd1dULL;

	for (int i = 0; i < 300; i++) {
		uint32_t w[3];
		size_t nep[3], nver, n = sizes[i % 4];
		char name[32];
		int fam = i % 3 ? 4 : 6, r1, r2;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		nver = 1 + x % 3;
		for (size_t v = 0; v < 3; v++) {
			w[v] = (uint32_t)((x >> (8 + 8 * v)) % 5 == 0 ? 0 : (x >> (16 + 8 * v)) % 100 + 1);
			nep[v] = 1 + (x >> (40 + 4 * v)) % 3;
		}
		if (!w[0] && !w[1] && !w[2])
			w[0] = 1;
		snprintf(name, sizeof(name), "svc-%d", i);
		tsvc_init(&t, name, nver, w, nep, fam);
		r1 = split_table_build(&t.svc, fam, tab_a, n);
		r2 = split_table_build_walk(&t.svc, fam, tab_b, n);
		ASSERT_EQ(r1, r2);
		for (size_t s = 0; s < n; s++)
			if (tab_a[s] != tab_b[s])
				TEST_FAIL_("case %d (%zu versions, n %zu) slot %zu: %u, walk %u",
					   i, nver, n, s, tab_a[s], tab_b[s]);
	}
}

/*
 * The pair races (race_two(): two versions, a version's two endpoints)
 * work in the table itself, in two passes, and resolve the quota's edge
 * by rank buckets: every kind of quota edge (weights from 1 to 65535, the
 * preferred candidate over or under its quota, tiny tables, one slot) and
 * both output widths give the walk's table, slot for slot.
 */
TEST(pair_races_match_the_walk)
{
	static struct tsvc t;
	static uint16_t tab16[N];
	static const size_t sizes[] = { N, N, 5003, 1009, 64, 13, 2, 1 };
	static const uint32_t heavy[] = { 1, 2, 65535, 9999, 1000 };
	uint64_t x = 0x9e3779b97f4a7c15ULL;

	for (int i = 0; i < 600; i++) {
		uint32_t w[3];
		size_t nep[3], nver, n = sizes[i % 8];
		char name[32];
		int fam = i % 2 ? 4 : 6, r1, r2, r3;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		nver = 1 + x % 3;
		for (size_t v = 0; v < 3; v++) {
			uint64_t y = x >> (6 + 12 * v);

			w[v] = y % 7 == 0 ? 0 : y % 7 == 1 ? heavy[(y >> 3) % 5] : (uint32_t)((y >> 3) % 100 + 1);
			nep[v] = 1 + (y >> 10) % 3;	/* 1 to 3: pairs, and the walk for 3 */
		}
		if (!w[0] && !w[1] && !w[2])
			w[1] = 1;
		snprintf(name, sizeof(name), "pair-%d", i);
		tsvc_init(&t, name, nver, w, nep, fam);
		r1 = split_table_build(&t.svc, fam, tab_a, n);
		r2 = split_table_build_walk(&t.svc, fam, tab_b, n);
		r3 = split_table_build16(&t.svc, fam, tab16, n);
		ASSERT_EQ(r1, r2);
		ASSERT_EQ(r3, r2);
		for (size_t s = 0; s < n; s++)
			if (tab_a[s] != tab_b[s] || tab16[s] != tab_b[s])
				TEST_FAIL_("case %d (%zu versions %u/%u/%u, n %zu) slot %zu: %u, 16-bit %u, walk %u",
					   i, nver, w[0], w[1], w[2], n, s, tab_a[s], tab16[s], tab_b[s]);
	}
}

/* race_two() orders weighted keys by an approximate logarithm when they
 * are more than 64 units (2^-32) apart: the approximation must stay well
 * within that of the exact one, everywhere (powers of two, the sqrt 2
 * edge of its range, the ends, a million random hashes). */
TEST(approximate_log_is_within_its_bound)
{
	uint64_t x = 0x853c49e6748fea9bULL, worst_h = 0;
	double worst = 0;

	for (int i = 0; i < 1000000 + 64 * 4 + 2; i++) {
		uint64_t h;
		double d;

		if (i < 64 * 4) {	/* x = 2^e - 1, 2^e, 2^e + 1, and ~sqrt 2 * 2^e */
			int e = i / 4 % 54;
			uint64_t p = 1ULL << e, v = i % 4 == 0 ? p - 1 : i % 4 == 1 ? p :
						 i % 4 == 2 ? p + 1 : p + p / 2 - p / 12 + (p >> 10);

			h = (v >> 1) << 11;
		} else if (i < 64 * 4 + 2) {
			h = i % 2 ? ~0ULL : 0;
		} else {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			h = x;
		}
		d = split_table_log_err(h);
		if (d > worst) {
			worst = d;
			worst_h = h;
		}
	}
	printf("  largest error of the approximate logarithm: %.2f units of 2^-32 (hash %#llx); bound 64\n",
	       worst, (unsigned long long)worst_h);
	ASSERT_TRUE(worst <= 16.0);
}

/* n endpoints of version v1 at 10.x.y.z, distinct, in address order. */
static void v1_endpoints(struct split_endpoint *eps, size_t n)
{
	for (size_t i = 0; eps && i < n; i++) {
		eps[i].addr.family = 4;
		eps[i].addr.bytes[0] = 10;
		eps[i].addr.bytes[1] = i >> 16;
		eps[i].addr.bytes[2] = i >> 8;
		eps[i].addr.bytes[3] = i & 0xff;
		snprintf(eps[i].version, sizeof(eps[i].version), "v1");
	}
}

/* More than 65536 endpoints do not fit 16-bit indexes: refused, and out
 * untouched. */
TEST(build16_refuses_too_many_endpoints)
{
	struct split_service svc = { .name = "huge", .nversions = 1 };
	struct split_version ver = { .name = "v1", .weight = 1 };
	size_t neps = 65537;
	struct split_endpoint *eps = calloc(neps, sizeof(*eps));
	uint16_t out[4] = { 7, 7, 7, 7 };

	ASSERT_TRUE(eps != NULL);
	v1_endpoints(eps, neps);
	svc.versions = &ver;
	svc.eps = eps;
	svc.neps = neps;
	ASSERT_EQ(split_table_build16(&svc, 4, out, 4), -ERANGE);
	svc.neps = 65536;	/* the most that fit */
	ASSERT_EQ(split_table_build16(&svc, 4, out, 4), 4);
	free(eps);
	ASSERT_TRUE(out[0] != 7 && out[3] != 7);
}

/* ---- many endpoints ------------------------------------------------------ */
/* (Build speed is measured by bench/, never asserted in a test.) */

TEST(many_endpoints_each_get_their_quota)
{
	struct split_service svc = { .name = "big", .nversions = 1 };
	struct split_version ver = { .name = "v1", .weight = 1 };
	size_t neps = 5000;
	struct split_endpoint *eps = calloc(neps, sizeof(*eps));
	uint32_t *cnt = calloc(neps, sizeof(*cnt));
	int ret;

	ASSERT_TRUE(eps != NULL && cnt != NULL);
	v1_endpoints(eps, neps);
	svc.versions = &ver;
	svc.eps = eps;
	svc.neps = neps;
	ret = split_table_build(&svc, 4, tab_a, N);
	for (size_t s = 0; s < N; s++)
		cnt[tab_a[s]]++;
	free(eps);
	ASSERT_EQ(ret, (int)neps);
	/* 10007 slots over 5000 endpoints: 2 each, 7 get a third. */
	for (size_t i = 0; i < neps; i++)
		if (cnt[i] < 2 || cnt[i] > 3) {
			uint32_t c = cnt[i];

			free(cnt);
			TEST_FAIL_("endpoint %zu has %u slots", i, c);
		}
	free(cnt);
}

/* ---- small tables (no explicit weights): one slot per endpoint ----------- */

/* Weights as a service without a route has them: its endpoint count. */
static void unrouted(struct tsvc *t, const char *name, size_t nver, const size_t *nep,
		     int family)
{
	uint32_t w[MAX_VER];

	for (size_t v = 0; v < nver; v++)
		w[v] = (uint32_t)nep[v];
	tsvc_init(t, name, nver, w, nep, family);
	t->svc.routed = false;
}

TEST(small_one_slot_per_endpoint)
{
	static struct tsvc t;
	size_t nep[3] = { 2, 1, 4 }, cnt[MAX_VER];
	uint32_t tab[16];
	int seen[MAX_EPS] = { 0 };

	for (int fam = 4; fam <= 6; fam += 2) {
		unrouted(&t, "reviews", 3, nep, fam);
		ASSERT_EQ(split_table_is_small(&t.svc, fam), 1);
		ASSERT_EQ(split_table_small(&t.svc, fam, tab, 16), 7);
		memset(seen, 0, sizeof(seen));
		for (size_t s = 0; s < 7; s++) {
			ASSERT_TRUE(tab[s] < t.svc.neps);
			seen[tab[s]]++;
		}
		/* every endpoint exactly once: shares 1/7 each, versions 2/7,
		 * 1/7, 4/7: exactly their weights' shares (no rounding) */
		for (size_t e = 0; e < t.svc.neps; e++)
			ASSERT_EQ(seen[e], 1);
		count_versions(&t, tab, 7, cnt);
		ASSERT_EQ(cnt[0], 2);
		ASSERT_EQ(cnt[1], 1);
		ASSERT_EQ(cnt[2], 4);
		/* sorted by address */
		for (size_t s = 1; s < 7; s++)
			ASSERT_TRUE(memcmp(t.eps[tab[s - 1]].addr.bytes, t.eps[tab[s]].addr.bytes,
					   16) < 0);
		/* the other family: nothing */
		ASSERT_EQ(split_table_small(&t.svc, fam == 4 ? 6 : 4, tab, 16), 0);
	}
}

/* The same table on every node: whatever order the endpoints come in. */
TEST(small_deterministic)
{
	static struct tsvc a, b;
	size_t nep[2] = { 5, 3 };
	uint32_t ta[8], tb[8];

	unrouted(&a, "ratings", 2, nep, 4);
	b = a;
	b.svc.eps = b.eps;
	b.svc.versions = b.vers;
	for (size_t i = 0; i < b.svc.neps; i++)	/* reversed */
		b.eps[i] = a.eps[a.svc.neps - 1 - i];
	ASSERT_EQ(split_table_small(&a.svc, 4, ta, 8), 8);
	ASSERT_EQ(split_table_small(&b.svc, 4, tb, 8), 8);
	for (size_t s = 0; s < 8; s++)
		ASSERT_EQ(memcmp(&a.eps[ta[s]].addr, &b.eps[tb[s]].addr, sizeof(a.eps[0].addr)), 0);
}

/* Explicit weights keep the big table (exact to 1/10007, minimal
 * disruption on weight changes); so does a dual-stack service whose
 * versions mix families unequally; a version of weight 0 is left out. */
TEST(small_only_for_equal_shares)
{
	static struct tsvc t;
	size_t nep[2] = { 2, 1 };
	uint32_t tab[8];

	unrouted(&t, "x", 2, nep, 4);
	t.svc.routed = true;
	ASSERT_EQ(split_table_is_small(&t.svc, 4), 0);

	/* v1: 2 IPv4 + 2 IPv6 (weight 4), v2: 2 IPv4 (weight 2): in the
	 * IPv4 table v1's endpoints would get 2/6 / 2 each, v2's 1/6 / ... */
	unrouted(&t, "x", 2, (size_t[]){ 2, 2 }, 4);
	tsvc_add_ep(&t, "v1", "fd00::1");
	tsvc_add_ep(&t, "v1", "fd00::2");
	t.vers[0].weight = 4;
	t.vers[1].weight = 2;
	ASSERT_EQ(split_table_is_small(&t.svc, 4), 0);
	ASSERT_EQ(split_table_is_small(&t.svc, 6), 1);	/* v1 alone */
	ASSERT_EQ(split_table_small(&t.svc, 6, tab, 8), 2);

	unrouted(&t, "x", 2, nep, 4);
	t.vers[1].weight = 0;		/* drained */
	ASSERT_EQ(split_table_is_small(&t.svc, 4), 1);
	ASSERT_EQ(split_table_small(&t.svc, 4, tab, 8), 2);
	for (size_t s = 0; s < 2; s++)
		ASSERT_STREQ(t.eps[tab[s]].version, "v1");
	ASSERT_EQ(split_table_small(&t.svc, 4, tab, 1), -ENOSPC);	/* no room */
	ASSERT_EQ(split_table_small(&t.svc, 5, tab, 8), -EINVAL);
}

/*
 * What a small table gives up: slot = hash % n, so an endpoint added to n
 * moves n / (n + 1) of the hash space, not 1 / (n + 1). That matters only
 * to north-south flows without conntrack state (established flows keep
 * their backend; sockets are bound at connect()). Weight changes never
 * hit this: explicit weights use the big table. Printed, and checked
 * against the exact count.
 */
TEST(small_disruption_endpoint_added)
{
	static struct tsvc a, b;
	uint32_t ta[8], tb[8];
	size_t moved_n = 0, H = 3 * 4 * 5 * 7 * 8;	/* a multiple of every n here */

	for (size_t n = 3; n < 8; n++) {
		moved_n = 0;
		unrouted(&a, "reviews", 1, (size_t[]){ n }, 4);
		unrouted(&b, "reviews", 1, (size_t[]){ n + 1 }, 4);
		ASSERT_EQ(split_table_small(&a.svc, 4, ta, 8), (int)n);
		ASSERT_EQ(split_table_small(&b.svc, 4, tb, 8), (int)n + 1);
		for (size_t h = 0; h < H * (n + 1); h++)
			moved_n += memcmp(&a.eps[ta[h % n]].addr, &b.eps[tb[h % (n + 1)]].addr,
					  sizeof(a.eps[0].addr)) != 0;
		printf("  %zu -> %zu endpoints: %.4f of new flows change endpoint (ideal %.4f)\n",
		       n, n + 1, (double)moved_n / (double)(H * (n + 1)), 1.0 / (double)(n + 1));
		ASSERT_TRUE(moved_n > 0);
	}
}
