// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* state.c - read the model from the pinned maps and commit it back. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/membarrier.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "log.h"
#include "ops.h"
#include "state.h"
#include "table.h"

/* Grace period between unlinking a backend from every table and deleting
 * it, where the kernel cannot wait for an RCU grace period (grace_wait). */
#define SPLIT_GRACE_US 20000

/*
 * Wait until every BPF program run that may have read a table from before
 * this commit's writes has ended: the programs run under rcu_read_lock()
 * (softirq, or process context for the cgroup hooks), and
 * MEMBARRIER_CMD_GLOBAL returns after synchronize_rcu() (a grace period:
 * microseconds with expedited RCU, milliseconds without). Where it is
 * refused (nohz_full CPUs, an old kernel): a fixed 20 ms sleep, far
 * longer than a program runs.
 */
static void grace_wait(void)
{
	if (syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0))
		usleep(SPLIT_GRACE_US);
}

/* ---- raw snapshot of the maps ------------------------------------------ */

struct raw_svc { __u32 id; struct split_service_val v; };
struct raw_wt { struct split_weight_key k; struct split_weight_val v; };
struct raw_be { __u32 id; struct split_backend_val v; };
struct raw_vip { struct split_svc_key k; struct split_svc_val v; };
struct raw_tbl { __u32 id; __u32 pad; struct split_table_val v; };

struct be_idx { __u32 id; __u32 i; };

struct raw {
	struct raw_svc *svcs; size_t nsvcs;
	struct raw_wt *wts; size_t nwts;	/* sorted by (svc_id, version_id) */
	struct raw_be *bes; size_t nbes;	/* sorted by (svc_id, family, addr) */
	struct raw_vip *vips; size_t nvips;	/* sorted by key */
	struct raw_tbl *tbls; size_t ntbls;	/* tables_v3, sorted by id */
	struct be_idx *be_by_id;		/* (id, index in bes), sorted by id */
	int *svc_by_id;				/* [nsvc_by_id]: index in svcs or -1 */
	size_t nsvc_by_id;			/* the largest id in svcs + 1 */
	__u32 *svc_by_name;			/* hash of (ns, name): index in svcs + 1 */
	size_t name_cap;			/* its size, a power of 2 (0: none) */
	bool borrowed;				/* the handle's snapshot: not ours to free */
};

static void raw_free(struct raw *r)
{
	if (r->borrowed) {
		memset(r, 0, sizeof(*r));
		return;
	}
	free(r->svcs);
	free(r->wts);
	free(r->bes);
	free(r->vips);
	free(r->tbls);
	free(r->be_by_id);
	free(r->svc_by_id);
	free(r->svc_by_name);
	memset(r, 0, sizeof(*r));
}

static int raw_wt_cmp(const void *a, const void *b)
{
	const struct split_weight_key *x = &((const struct raw_wt *)a)->k;
	const struct split_weight_key *y = &((const struct raw_wt *)b)->k;

	if (x->svc_id != y->svc_id)
		return x->svc_id < y->svc_id ? -1 : 1;
	if (x->version_id != y->version_id)
		return x->version_id < y->version_id ? -1 : 1;
	return 0;
}

/* Order of backends: service, family, address. */
static int be_key_cmp(__u32 svc_a, __u8 fam_a, const __be32 *addr_a,
		      __u32 svc_b, __u8 fam_b, const __be32 *addr_b)
{
	if (svc_a != svc_b)
		return svc_a < svc_b ? -1 : 1;
	if (fam_a != fam_b)
		return fam_a < fam_b ? -1 : 1;
	return memcmp(addr_a, addr_b, 16);
}

static int raw_be_cmp(const void *a, const void *b)
{
	const struct split_backend_val *x = &((const struct raw_be *)a)->v;
	const struct split_backend_val *y = &((const struct raw_be *)b)->v;

	return be_key_cmp(x->svc_id, x->family, x->addr, y->svc_id, y->family, y->addr);
}

static int svc_name_cmp(const char *ns_a, const char *name_a, const char *ns_b,
			const char *name_b)
{
	int c = strncmp(ns_a, ns_b, SPLIT_NAME_LEN);

	return c ? c : strncmp(name_a, name_b, SPLIT_NAME_LEN);
}

static int raw_vip_cmp(const void *a, const void *b)
{
	return memcmp(&((const struct raw_vip *)a)->k, &((const struct raw_vip *)b)->k,
		      sizeof(struct split_svc_key));
}

static int raw_tbl_cmp(const void *a, const void *b)
{
	__u32 x = ((const struct raw_tbl *)a)->id, y = ((const struct raw_tbl *)b)->id;

	return x < y ? -1 : x > y;
}

static int be_idx_cmp(const void *a, const void *b)
{
	__u32 x = ((const struct be_idx *)a)->id, y = ((const struct be_idx *)b)->id;

	return x < y ? -1 : x > y;
}

/* qsort() that accepts an empty (NULL) array, and leaves a sorted one
 * as it is (a snapshot kept in memory stays sorted: see snap_apply). */
static void sort_n(void *base, size_t n, size_t sz, int (*cmp)(const void *, const void *))
{
	size_t i = 1;

	while (i < n && cmp((const char *)base + (i - 1) * sz, (const char *)base + i * sz) <= 0)
		i++;
	if (i < n)
		qsort(base, n, sz, cmp);
}

/* base[0..n - k) is sorted, base[n - k..n) is not: sort the tail and merge
 * (O(n) for a few new elements, where a qsort of it all is O(n log n)). */
static void sort_tail(void *base, size_t n, size_t k, size_t sz,
		      int (*cmp)(const void *, const void *))
{
	char *a = base, *tmp;
	size_t i = 0, j = n - k, o = 0;

	if (!k || n < 2)
		return;
	sort_n(a + (n - k) * sz, k, sz, cmp);
	tmp = malloc(n * sz);
	if (!tmp) {
		sort_n(base, n, sz, cmp);
		return;
	}
	while (i < n - k || j < n) {
		const char *x = a + i * sz, *y = a + j * sz;
		bool take_y = i == n - k || (j < n && cmp(y, x) < 0);

		memcpy(tmp + o++ * sz, take_y ? y : x, sz);
		if (take_y)
			j++;
		else
			i++;
	}
	memcpy(base, tmp, n * sz);
	free(tmp);
}

static int raw_svc_rec_name_cmp(const void *a, const void *b)
{
	const struct split_service_val *x = &((const struct raw_svc *)a)->v;
	const struct split_service_val *y = &((const struct raw_svc *)b)->v;

	return svc_name_cmp(x->ns, x->name, y->ns, y->name);
}

static size_t name_hash(const char *ns, const char *name)
{
	__u64 h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < SPLIT_NAME_LEN && ns[i]; i++)
		h = (h ^ (unsigned char)ns[i]) * 0x100000001b3ULL;
	h = (h ^ 0xff) * 0x100000001b3ULL;	/* no name's byte */
	for (size_t i = 0; i < SPLIT_NAME_LEN && name[i]; i++)
		h = (h ^ (unsigned char)name[i]) * 0x100000001b3ULL;
	return (size_t)(h ^ (h >> 29));
}

/* Sort and index the snapshot so every lookup below is O(log n) or O(1). */
static int raw_index(struct raw *r)
{
	sort_n(r->svcs, r->nsvcs, sizeof(*r->svcs), raw_svc_rec_name_cmp);
	sort_n(r->wts, r->nwts, sizeof(*r->wts), raw_wt_cmp);
	sort_n(r->bes, r->nbes, sizeof(*r->bes), raw_be_cmp);
	sort_n(r->vips, r->nvips, sizeof(*r->vips), raw_vip_cmp);
	sort_n(r->tbls, r->ntbls, sizeof(*r->tbls), raw_tbl_cmp);
	r->name_cap = 64;
	while (r->name_cap < 2 * r->nsvcs)
		r->name_cap *= 2;
	/* As long as the largest id: one service (a scoped read) does not
	 * fill SPLIT_MAX_SERVICES entries (fresh pages, each a fault). */
	r->nsvc_by_id = 1;
	for (size_t i = 0; i < r->nsvcs; i++)
		if (r->svcs[i].id < SPLIT_MAX_SERVICES && r->svcs[i].id >= r->nsvc_by_id)
			r->nsvc_by_id = r->svcs[i].id + 1;
	r->svc_by_id = malloc(r->nsvc_by_id * sizeof(int));
	r->be_by_id = calloc(r->nbes + 1, sizeof(*r->be_by_id));
	r->svc_by_name = calloc(r->name_cap, sizeof(*r->svc_by_name));
	if (!r->svc_by_id || !r->svc_by_name || !r->be_by_id)
		return -1;
	for (size_t i = 0; i < r->nsvc_by_id; i++)
		r->svc_by_id[i] = -1;
	/* bes is in service order, and so are the ids (SPLIT_BACKEND_ID):
	 * sorting each service's few is enough (else sort_n sorts all). */
	for (size_t i = 0; i < r->nbes; i++) {
		size_t j = i;

		r->be_by_id[i] = (struct be_idx){ r->bes[i].id, (__u32)i };
		for (; j > 0 && r->bes[j - 1].v.svc_id == r->bes[i].v.svc_id &&
		       r->be_by_id[j - 1].id > r->be_by_id[j].id; j--) {
			struct be_idx t = r->be_by_id[j];

			r->be_by_id[j] = r->be_by_id[j - 1];
			r->be_by_id[j - 1] = t;
		}
	}
	sort_n(r->be_by_id, r->nbes, sizeof(*r->be_by_id), be_idx_cmp);
	for (size_t i = 0; i < r->nsvcs; i++) {
		const struct split_service_val *v = &r->svcs[i].v;
		size_t h = name_hash(v->ns, v->name) & (r->name_cap - 1);

		if (r->svcs[i].id < SPLIT_MAX_SERVICES)
			r->svc_by_id[r->svcs[i].id] = (int)i;
		while (r->svc_by_name[h])
			h = (h + 1) & (r->name_cap - 1);
		r->svc_by_name[h] = (__u32)i + 1;
	}
	return 0;
}

static const struct raw_svc *raw_svc_find_name(const struct raw *r,
					       const char *ns, const char *name)
{
	size_t h;

	if (!r->name_cap)
		return NULL;
	for (h = name_hash(ns, name) & (r->name_cap - 1); r->svc_by_name[h];
	     h = (h + 1) & (r->name_cap - 1)) {
		const struct raw_svc *rs = &r->svcs[r->svc_by_name[h] - 1];

		if (!svc_name_cmp(rs->v.ns, rs->v.name, ns, name))
			return rs;
	}
	return NULL;
}

/* First weight entry of a service (wts is sorted by svc_id). */
static size_t raw_wt_lower(const struct raw *r, __u32 svc_id)
{
	size_t lo = 0, hi = r->nwts;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (r->wts[mid].k.svc_id < svc_id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static const struct raw_be *raw_be_find(const struct raw *r, __u32 svc_id,
					__u8 family, const __be32 *addr)
{
	size_t lo = 0, hi = r->nbes;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const struct split_backend_val *v = &r->bes[mid].v;
		int c = be_key_cmp(v->svc_id, v->family, v->addr, svc_id, family, addr);

		if (!c)
			return &r->bes[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Batched: a few syscalls for the whole map (Linux 5.6+). 1: the kernel
 * cannot (the caller walks the map instead), 0 done, -1 error. */
static int dump_map_batch(int fd, size_t ksz, size_t vsz, size_t rsz, size_t voff,
			  void **out, size_t *n)
{
	enum { CHUNK = 1024 };
	LIBBPF_OPTS(bpf_map_batch_opts, bo);
	char *keys = malloc(CHUNK * ksz), *vals = malloc(CHUNK * vsz), *recs = NULL;
	__u64 tok_in = 0, tok_out = 0;	/* a hash map's token is a u32 bucket */
	size_t cap = 0, cnt = 0;
	bool first = true;
	int ret = -1;

	if (!keys || !vals)
		goto out;
	for (;;) {
		__u32 got = CHUNK;
		int err = bpf_map_lookup_batch(fd, first ? NULL : &tok_in, &tok_out,
					       keys, vals, &got, &bo);
		bool done = err && errno == ENOENT;

		if (err && !done) {
			if (first && (errno == EINVAL || errno == ENOTSUP || errno == 524))
				ret = 1;	/* 524: ENOTSUPP, no batch ops */
			goto out;
		}
		first = false;
		if (cnt + got > cap) {
			char *p;

			cap = (cnt + got) * 2;
			p = realloc(recs, cap * rsz);
			if (!p)
				goto out;
			recs = p;
		}
		for (__u32 i = 0; i < got; i++, cnt++) {
			memset(recs + cnt * rsz, 0, rsz);
			memcpy(recs + cnt * rsz, keys + i * ksz, ksz);
			memcpy(recs + cnt * rsz + voff, vals + i * vsz, vsz);
		}
		if (done)
			break;
		tok_in = tok_out;
	}
	*out = recs;
	*n = cnt;
	recs = NULL;
	ret = 0;
out:
	free(recs);
	free(keys);
	free(vals);
	return ret;
}

/* Dump a hash map into records of `rsz` bytes: key at 0, value at voff. */
static int dump_map(int fd, size_t ksz, size_t vsz, size_t rsz, size_t voff,
		    void **out, size_t *n)
{
	char key[64], next[64], *recs = NULL;
	size_t cap = 0, cnt = 0;
	void *prev = NULL;
	int b = dump_map_batch(fd, ksz, vsz, rsz, voff, out, n);

	if (b <= 0)
		return b;

	while (!bpf_map_get_next_key(fd, prev, next)) {
		if (cnt == cap) {
			char *p;

			cap = cap ? cap * 2 : 64;
			p = realloc(recs, cap * rsz);
			if (!p)
				goto fail;
			recs = p;
		}
		memset(recs + cnt * rsz, 0, rsz);
		memcpy(recs + cnt * rsz, next, ksz);
		if (bpf_map_lookup_elem(fd, next, recs + cnt * rsz + voff)) {
			if (errno == ENOENT)
				goto skip; /* deleted under us */
			goto fail;
		}
		cnt++;
skip:
		memcpy(key, next, ksz);
		prev = key;
	}
	if (errno != ENOENT)
		goto fail;
	(void)vsz;
	*out = recs;
	*n = cnt;
	return 0;
fail:
	free(recs);
	return -1;
}

#define DUMP(fd, type, field, keyf, valf, out, n)                              \
	dump_map(fd, sizeof(((type *)0)->keyf), sizeof(((type *)0)->valf),     \
		 sizeof(type), offsetof(type, valf), (void **)(out), n)

/* Append one element of fd to an array of records (key at 0, value at
 * voff); 0 when there is none. */
static int raw_probe(int fd, const void *key, size_t ksz, size_t vsz, size_t rsz,
		     size_t voff, void **arr, size_t *n)
{
	char *rec = malloc(rsz), *p;

	if (!rec)
		return -1;
	memset(rec, 0, rsz);
	memcpy(rec, key, ksz);
	if (bpf_map_lookup_elem(fd, key, rec + voff)) {
		free(rec);
		return errno == ENOENT ? 0 : -1;
	}
	(void)vsz;
	p = realloc(*arr, (*n + 1) * rsz);
	if (!p) {
		free(rec);
		return -1;
	}
	memcpy(p + *n * rsz, rec, rsz);
	free(rec);
	*arr = p;
	(*n)++;
	return 0;
}

#define PROBE(fd, type, key, keyf, valf, out, n)                               \
	raw_probe(fd, key, sizeof(((type *)0)->keyf), sizeof(((type *)0)->valf), \
		  sizeof(type), offsetof(type, valf), (void **)(out), n)

/* The snapshot of one service (st->scope_id): its services entry, weights,
 * backends and tables, by key (ep_end, ver_end), no scan. Its VIPs are
 * left out: a scoped commit neither writes nor removes VIPs. */
static int raw_read_scoped(struct split_state *st, struct raw *r)
{
	__u32 id = st->scope_id;
	const struct split_service_val *sv;
	size_t had = r->nsvcs;	/* appends: split_state_read_ids() reads several */

	if (PROBE(st->services_fd, struct raw_svc, &id, id, v, &r->svcs, &r->nsvcs))
		return -1;
	if (r->nsvcs == had) {
		errno = ENOENT;
		return -1;
	}
	sv = &r->svcs[had].v;
	for (__u32 v = 1; v < sv->ver_end; v++) {
		struct split_weight_key k = { id, v };

		if (PROBE(st->weights_fd, struct raw_wt, &k, k, v, &r->wts, &r->nwts))
			return -1;
	}
	for (__u32 k = 1; k < sv->ep_end; k++) {
		__u32 bid = SPLIT_BACKEND_ID(id, k);

		if (PROBE(st->backends_fd, struct raw_be, &bid, id, v, &r->bes, &r->nbes))
			return -1;
	}
	for (int v6 = 0; v6 < 2; v6++) {
		__u32 tid = SPLIT_TABLE_ID(id, v6);

		if (PROBE(st->tables_fd, struct raw_tbl, &tid, id, v, &r->tbls, &r->ntbls))
			return -1;
	}
	return 0;
}

static __u64 fnv(__u64 h, const void *p, size_t n);

/* ---- the cached snapshot (split_state_cache) ----------------------------- */

/* One write or delete of a commit, on one of the snapshot's maps. */
struct snap_op {
	int map;		/* SNAP_* */
	bool del;
	char key[32];
	char val[160];
};

enum { SNAP_SVCS, SNAP_WTS, SNAP_BES, SNAP_VIPS, SNAP_TBLS, SNAP_NMAPS };

struct split_state_snap {
	struct raw r;
	bool on;		/* split_state_cache(): keep r */
	bool have;		/* r holds the maps as of st->snap_gen */
	struct snap_op *ops;	/* this lock's commits, not applied yet */
	size_t nops, capops;
	/* By service id: the service as this handle's last commit of it
	 * wrote it (while r is the maps as of snap_gen, the maps hold
	 * exactly what a commit of it writes); NULL: unknown. A full
	 * commit skips a service equal to it (svc_same). Kept with r. */
	struct split_service **done;
	__u64 seq;		/* moves whenever r changes */
};

/* Record layout of each map in struct raw: key at 0, value at voff. */
static const struct {
	size_t rsz, ksz, voff, vsz;
} snap_layout[SNAP_NMAPS] = {
	[SNAP_SVCS] = { sizeof(struct raw_svc), sizeof(__u32), offsetof(struct raw_svc, v),
			sizeof(struct split_service_val) },
	[SNAP_WTS] = { sizeof(struct raw_wt), sizeof(struct split_weight_key),
		       offsetof(struct raw_wt, v), sizeof(struct split_weight_val) },
	[SNAP_BES] = { sizeof(struct raw_be), sizeof(__u32), offsetof(struct raw_be, v),
		       sizeof(struct split_backend_val) },
	[SNAP_VIPS] = { sizeof(struct raw_vip), sizeof(struct split_svc_key),
			offsetof(struct raw_vip, v), sizeof(struct split_svc_val) },
	[SNAP_TBLS] = { sizeof(struct raw_tbl), sizeof(__u32), offsetof(struct raw_tbl, v),
			sizeof(struct split_table_val) },
};

_Static_assert(sizeof(struct split_svc_key) <= sizeof(((struct snap_op *)0)->key), "snap key");
_Static_assert(sizeof(struct split_weight_val) <= sizeof(((struct snap_op *)0)->val) &&
	       sizeof(struct split_service_val) <= sizeof(((struct snap_op *)0)->val),
	       "snap val");

static int snap_map_of(const struct split_state *st, int fd)
{
	if (fd == st->services_fd)
		return SNAP_SVCS;
	if (fd == st->weights_fd)
		return SNAP_WTS;
	if (fd == st->backends_fd)
		return SNAP_BES;
	if (fd == st->svc_fd)
		return SNAP_VIPS;
	if (fd == st->tables_fd)
		return SNAP_TBLS;
	return -1;
}

static void done_drop(struct split_state_snap *sn, __u32 id)
{
	if (!sn->done || id >= SPLIT_MAX_SERVICES || !sn->done[id])
		return;
	split_service_free(sn->done[id]);
	free(sn->done[id]);
	sn->done[id] = NULL;
}

static void snap_forget(struct split_state *st)
{
	if (!st->snap)
		return;
	raw_free(&st->snap->r);
	st->snap->have = false;
	st->snap->nops = 0;
	st->snap->seq++;
	for (__u32 id = 0; st->snap->done && id < SPLIT_MAX_SERVICES; id++)
		done_drop(st->snap, id);
}

void split_state_cache(struct split_state *st)
{
	if (!st->snap)
		st->snap = calloc(1, sizeof(*st->snap));
	if (st->snap)
		st->snap->on = true;
}

void split_state_cache_drop(struct split_state *st)
{
	snap_forget(st);
}

static void snap_free(struct split_state *st)
{
	snap_forget(st);
	if (st->snap) {
		free(st->snap->ops);
		free(st->snap->done);
	}
	free(st->snap);
	st->snap = NULL;
}

/* A commit wrote (val) or deleted (val NULL) key in map fd: note it for
 * the snapshot, applied when the commit succeeded. The commit may be
 * reading the snapshot (borrowed): it is not changed here. */
static void snap_note(struct split_state *st, int fd, const void *key, const void *val)
{
	struct split_state_snap *sn = st->snap;
	int m = sn && sn->have && !st->snap_stale ? snap_map_of(st, fd) : -1;
	struct snap_op *op;

	if (m < 0)
		return;
	if (sn->nops == sn->capops) {
		size_t cap = sn->capops ? 2 * sn->capops : 256;
		struct snap_op *v = realloc(sn->ops, cap * sizeof(*v));

		if (!v) {
			st->snap_stale = 1;	/* cannot follow: read again */
			return;
		}
		sn->ops = v;
		sn->capops = cap;
	}
	op = &sn->ops[sn->nops++];
	memset(op, 0, sizeof(*op));
	op->map = m;
	op->del = !val;
	memcpy(op->key, key, snap_layout[m].ksz);
	if (val)
		memcpy(op->val, val, snap_layout[m].vsz);
}

static int (*const snap_cmp[SNAP_NMAPS])(const void *, const void *) = {
	[SNAP_SVCS] = raw_svc_rec_name_cmp, [SNAP_WTS] = raw_wt_cmp, [SNAP_BES] = raw_be_cmp,
	[SNAP_VIPS] = raw_vip_cmp, [SNAP_TBLS] = raw_tbl_cmp,
};

static void **snap_arr(struct raw *r, int m, size_t **n)
{
	switch (m) {
	case SNAP_SVCS: *n = &r->nsvcs; return (void **)&r->svcs;
	case SNAP_WTS: *n = &r->nwts; return (void **)&r->wts;
	case SNAP_BES: *n = &r->nbes; return (void **)&r->bes;
	case SNAP_VIPS: *n = &r->nvips; return (void **)&r->vips;
	default: *n = &r->ntbls; return (void **)&r->tbls;
	}
}

/* Append op to *v (n, cap). 0 or -1. */
static int ops_push(struct snap_op **v, size_t *n, size_t *cap, const struct snap_op *op)
{
	if (*n == *cap) {
		size_t nc = *cap ? 2 * *cap : 256;
		struct snap_op *nv = realloc(*v, nc * sizeof(*nv));

		if (!nv)
			return -1;
		*v = nv;
		*cap = nc;
	}
	(*v)[(*n)++] = *op;
	return 0;
}

/*
 * Apply ops (in order) to r, whose arrays stay sorted; its indexes are
 * rebuilt. Elements are found by key through a hash built here: O(n + ops)
 * (new elements merged in: sort_tail). With inv, each op's inverse (the
 * element as it was, or its deletion) is appended to *inv: those applied
 * in reverse order put r back. 0, or -1 (out of memory: r is unusable).
 */
static int raw_apply_ops(struct raw *r, const struct snap_op *ops, size_t nops,
			 struct snap_op **inv, size_t *ninv, size_t *capinv)
{
	for (int m = 0; m < SNAP_NMAPS; m++) {
		size_t rsz = snap_layout[m].rsz, ksz = snap_layout[m].ksz, *n, cnt = 0, keep;
		size_t hcap, *hash, n0, added = 0;
		void **arrp = snap_arr(r, m, &n);
		char *arr, *dead;

		for (size_t i = 0; i < nops; i++)
			cnt += ops[i].map == m;
		if (!cnt)
			continue;
		/* Room for every op as a new element. */
		arr = realloc(*arrp, (*n + cnt + 1) * rsz);
		dead = calloc(*n + cnt + 1, 1);
		if (!arr || !dead) {
			if (arr)
				*arrp = arr;
			free(dead);
			return -1;
		}
		*arrp = arr;
		n0 = *n;
		/* Elements by key: an open-addressing hash of indexes + 1. */
		hcap = 64;
		while (hcap < 2 * (*n + cnt))
			hcap *= 2;
		hash = calloc(hcap, sizeof(*hash));
		if (!hash) {
			free(dead);
			return -1;
		}
		for (size_t j = 0; j < *n; j++) {
			size_t h = (size_t)fnv(0xcbf29ce484222325ULL, arr + j * rsz, ksz) & (hcap - 1);

			while (hash[h])
				h = (h + 1) & (hcap - 1);
			hash[h] = j + 1;
		}
		for (size_t i = 0; i < nops; i++) {
			const struct snap_op *op = &ops[i];
			size_t h, j = SIZE_MAX;

			if (op->map != m)
				continue;
			h = (size_t)fnv(0xcbf29ce484222325ULL, op->key, ksz) & (hcap - 1);
			for (; hash[h]; h = (h + 1) & (hcap - 1))
				if (!memcmp(arr + (hash[h] - 1) * rsz, op->key, ksz)) {
					j = hash[h] - 1;
					break;
				}
			if (inv) {
				struct snap_op u;

				memset(&u, 0, sizeof(u));
				u.map = m;
				memcpy(u.key, op->key, ksz);
				u.del = j == SIZE_MAX || dead[j];
				if (!u.del)
					memcpy(u.val, arr + j * rsz + snap_layout[m].voff,
					       snap_layout[m].vsz);
				if (ops_push(inv, ninv, capinv, &u)) {
					free(hash);
					free(dead);
					return -1;
				}
			}
			if (op->del) {
				if (j != SIZE_MAX)
					dead[j] = 1;
				continue;
			}
			if (j == SIZE_MAX) {
				j = (*n)++;
				added++;
				memset(arr + j * rsz, 0, rsz);
				memcpy(arr + j * rsz, op->key, ksz);
				hash[h] = j + 1;	/* h: the empty slot the probe ended on */
			} else if (dead[j]) {
				dead[j] = 0;	/* deleted, then written again */
			}
			memcpy(arr + j * rsz + snap_layout[m].voff, op->val, snap_layout[m].vsz);
		}
		free(hash);
		keep = 0;
		for (size_t j = 0; j < *n; j++)
			if (!dead[j]) {
				if (keep != j)
					memcpy(arr + keep * rsz, arr + j * rsz, rsz);
				keep++;
			} else if (j >= n0) {
				added--;
			}
		*n = keep;
		free(dead);
		/* New elements went to the end: put them in order (the
		 * others may have moved too, rarely: raw_index sorts then). */
		sort_tail(arr, *n, added, rsz, snap_cmp[m]);
	}
	free(r->be_by_id);
	free(r->svc_by_id);
	free(r->svc_by_name);
	r->be_by_id = NULL;
	r->svc_by_id = NULL;
	r->svc_by_name = NULL;
	r->name_cap = 0;
	return raw_index(r);
}

/* The commit succeeded: the snapshot takes what it wrote; with inv, the
 * inverse of what it wrote goes there (raw_apply_ops). -1: the snapshot
 * is forgotten (out of memory), and inv is incomplete. */
static int snap_apply(struct split_state *st, struct snap_op **inv, size_t *ninv,
		      size_t *capinv)
{
	struct split_state_snap *sn = st->snap;
	int ret;

	if (!sn || !sn->have || !sn->nops || st->snap_stale) {
		if (sn)
			sn->nops = 0;
		return sn && sn->have && !st->snap_stale ? 0 : -1;
	}
	ret = raw_apply_ops(&sn->r, sn->ops, sn->nops, inv, ninv, capinv);
	sn->nops = 0;
	sn->seq++;
	if (ret)
		snap_forget(st);
	return ret;
}

static int lazy_open_errno(struct split_state *st, int *fd);

static int raw_read_maps(struct split_state *st, struct raw *r, struct split_err *err)
{
	memset(r, 0, sizeof(*r));
	if (st->scope_id) {
		if (raw_read_scoped(st, r)) {
			int e = errno;

			split_errc(err, e, "reading service %u under %s: %s", st->scope_id,
				   st->pin_dir, strerror(e));
			raw_free(r);
			return -e;
		}
	} else if (lazy_open_errno(st, &st->svc_fd) ||
		   DUMP(st->services_fd, struct raw_svc, svcs, id, v, &r->svcs, &r->nsvcs) ||
	    DUMP(st->weights_fd, struct raw_wt, wts, k, v, &r->wts, &r->nwts) ||
	    DUMP(st->backends_fd, struct raw_be, bes, id, v, &r->bes, &r->nbes) ||
	    DUMP(st->svc_fd, struct raw_vip, vips, k, v, &r->vips, &r->nvips) ||
	    DUMP(st->tables_fd, struct raw_tbl, tbls, id, v, &r->tbls, &r->ntbls)) {
		int e = errno;

		split_errc(err, e, "reading maps under %s: %s", st->pin_dir,
			   strerror(e));
		raw_free(r);
		return -e;
	}
	if (raw_index(r)) {
		split_errc(err, ENOMEM, "out of memory");
		raw_free(r);
		return -ENOMEM;
	}
	return 0;
}

/*
 * The snapshot: a full read under the lock, from the maps or, when this
 * handle keeps one (split_state_cache) and nobody else committed since it
 * was taken, from memory. A snapshot from memory is borrowed (r->borrowed):
 * raw_free() leaves it alone, and nothing may change it.
 */
/*
 * split_state_read_service()'s read of one service, kept for the commit of
 * that service that follows under the same lock (splitctl set): the maps
 * cannot have changed, every commit taking the lock, so it is not read
 * twice. Taken by the next raw_read() (a commit's), dropped by any other
 * read and at unlock.
 */
struct split_state_kept {
	struct raw r;
	__u32 id;
};

static void kept_drop(struct split_state *st)
{
	if (!st->kept)
		return;
	raw_free(&st->kept->r);
	free(st->kept);
	st->kept = NULL;
}

/* r (a scoped read under the lock) kept for the commit; else freed. */
static void kept_put(struct split_state *st, struct raw *r)
{
	kept_drop(st);
	if (st->locked && st->scope_id && !r->borrowed &&
	    (st->kept = malloc(sizeof(*st->kept)))) {
		st->kept->r = *r;
		st->kept->id = st->scope_id;
		memset(r, 0, sizeof(*r));
		return;
	}
	raw_free(r);
}

static int raw_read(struct split_state *st, struct raw *r, struct split_err *err)
{
	struct split_state_snap *sn = st->snap;
	__u64 gen;

	if (st->kept && st->locked && st->scope_id == st->kept->id) {
		*r = st->kept->r;
		free(st->kept);
		st->kept = NULL;
		return 0;
	}
	kept_drop(st);
	if (!sn || !sn->on || st->scope_id || !st->locked || st->gen_fd < 0)
		return raw_read_maps(st, r, err);
	gen = split_state_generation(st, SPLIT_GEN_COMMITTED);
	if (!sn->have || st->snap_gen != gen || st->snap_stale) {
		snap_forget(st);
		/* The generation first: a commit by another process that
		 * ends after it moves it again. */
		if (raw_read_maps(st, &sn->r, err))
			return -1;
		sn->have = true;
		st->snap_gen = gen;
		st->snap_stale = 0;
	}
	*r = sn->r;
	r->borrowed = true;
	return 0;
}

/* ---- open / close / lock ------------------------------------------------ */

int split_state_obj_get(const struct split_state *st, const char *name)
{
	size_t len = strlen(st->pin_dir), n = strlen(name);
	char buf[256], *path = buf;	/* not PATH_MAX: a fresh stack page */
	int fd, e;

	if (len + 1 + n >= sizeof(st->pin_dir)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (len + 2 + n > sizeof(buf) && !(path = malloc(len + 2 + n)))
		return -1;
	memcpy(path, st->pin_dir, len);	/* no printf per map either */
	path[len] = '/';
	memcpy(path + len + 1, name, n + 1);
	fd = bpf_obj_get(path);
	e = errno;
	if (path != buf)
		free(path);
	errno = e;
	return fd;
}

/* A counters map of st (fd one of its *_stats_fd), opened on first use:
 * its fd, or -1 when it is not pinned (an older datapath). */
static int stats_fd(struct split_state *st, int *fd, const char *name)
{
	if (*fd != SPLIT_FD_LAZY)
		return *fd;
	*fd = split_state_obj_get(st, name);
	return *fd;
}

static int open_pinned(struct split_state *st, const char *name,
		       struct split_err *err)
{
	int fd = split_state_obj_get(st, name);

	if (fd < 0) {
		if (errno == ENOENT)
			fd = split_errc(err, ENOENT, "no datapath state at %s (map '%s' is not pinned): start splitd first, or pass --pin-dir",
					st->pin_dir, name);
		else
			fd = split_errc(err, errno, "opening %s/%s: %s", st->pin_dir, name,
					strerror(errno));
	}
	return fd;
}

/* The slots map (small tables' cells) and its size. 0, or <0 with err. */
static int slots_open(struct split_state *st, struct split_err *err)
{
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info);
	int fd = open_pinned(st, SPLIT_MAP_SLOTS, err);

	if (fd < 0) {
		st->slots_fd = -1;
		return fd;
	}
	st->slots_fd = fd;
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return split_errc(err, errno, "reading map %s: %s", SPLIT_MAP_SLOTS, strerror(errno));
	st->slot_cells = info.max_entries;
	return 0;
}

/* A map that split_state_open_some() left for later (SPLIT_FD_LAZY):
 * opened now. 0, or <0 with err. */
static int lazy_open(struct split_state *st, int *fd, struct split_err *err)
{
	int ret;

	if (*fd != SPLIT_FD_LAZY)
		return 0;
	if (fd == &st->slots_fd)
		return slots_open(st, err);
	ret = open_pinned(st, SPLIT_MAP_SVC, err);	/* the only other one */
	*fd = ret < 0 ? -1 : ret;
	return ret < 0 ? ret : 0;
}

/* lazy_open() where the caller reports errno only. */
static int lazy_open_errno(struct split_state *st, int *fd)
{
	struct split_err e;
	int ret = lazy_open(st, fd, &e);

	if (ret < 0)
		errno = -ret;
	return ret < 0 ? -1 : 0;
}

static int state_open(struct split_state *st, const char *pin_dir, bool some,
		      struct split_err *err)
{
	int ret;

	memset(st, 0, sizeof(*st));
	st->dir_fd = st->svc_fd = st->tables_fd = st->backends_fd = -1;
	st->slots_fd = st->big_fd = -1;
	st->services_fd = st->weights_fd = -1;
	st->be_stats_fd = st->ver_stats_fd = -1;
	st->sk_be_stats_fd = st->sk_ver_stats_fd = st->gen_fd = -1;
	st->names_fd = -1;
	if (strlen(pin_dir) >= sizeof(st->pin_dir))
		return split_errc(err, ENAMETOOLONG, "pin dir path too long");
	strcpy(st->pin_dir, pin_dir);
	if (some)	/* see split_state_open_some() */
		st->svc_fd = st->slots_fd = SPLIT_FD_LAZY;
	if ((!some && (ret = st->svc_fd = open_pinned(st, SPLIT_MAP_SVC, err)) < 0) ||
	    (ret = st->tables_fd = open_pinned(st, SPLIT_MAP_TABLES, err)) < 0 ||
	    (!some && (ret = slots_open(st, err)) < 0) ||
	    (ret = st->big_fd = open_pinned(st, SPLIT_MAP_BIG_TABLES, err)) < 0 ||
	    (ret = st->backends_fd = open_pinned(st, SPLIT_MAP_BACKENDS, err)) < 0 ||
	    (ret = st->services_fd = open_pinned(st, SPLIT_MAP_SERVICES, err)) < 0 ||
	    (ret = st->weights_fd = open_pinned(st, SPLIT_MAP_WEIGHTS, err)) < 0)
		goto fail;
	/* The counters maps are opened when a commit first removes a backend
	 * or a version (stats_fd()): a weight change never does, and each
	 * open is a path walk in bpffs. Counters are optional (an older
	 * datapath may not have them). */
	st->be_stats_fd = st->ver_stats_fd = SPLIT_FD_LAZY;
	st->sk_be_stats_fd = st->sk_ver_stats_fd = SPLIT_FD_LAZY;
	st->gen_fd = split_state_obj_get(st, SPLIT_MAP_GENERATION);
	st->names_fd = split_state_obj_get(st, SPLIT_MAP_SVC_NAMES);
	st->dir_fd = open(pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st->dir_fd < 0) {
		ret = split_errc(err, errno, "opening %s: %s", pin_dir, strerror(errno));
		goto fail;
	}
	return 0;
fail:
	split_state_close(st);
	return ret;
}

int split_state_open(struct split_state *st, const char *pin_dir,
		     struct split_err *err)
{
	return state_open(st, pin_dir, false, err);
}

int split_state_open_some(struct split_state *st, const char *pin_dir,
			  struct split_err *err)
{
	return state_open(st, pin_dir, true, err);
}

void split_state_close(struct split_state *st)
{
	int *fds[] = { &st->dir_fd, &st->svc_fd, &st->tables_fd, &st->slots_fd, &st->big_fd,
		       &st->backends_fd, &st->services_fd, &st->weights_fd,
		       &st->be_stats_fd, &st->ver_stats_fd,
		       &st->sk_be_stats_fd, &st->sk_ver_stats_fd, &st->gen_fd, &st->names_fd };

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
	snap_free(st);
	kept_drop(st);
	split_state_undo_drop(st);
}

int split_state_lock(struct split_state *st, struct split_err *err)
{
	if (flock(st->dir_fd, LOCK_EX))
		return split_errc(err, errno, "locking %s: %s", st->pin_dir, strerror(errno));
	st->locked = 1;
	return 0;
}

void split_state_unlock(struct split_state *st)
{
	if (st->changed) {
		__u64 g = split_state_generation(st, SPLIT_GEN_COMMITTED);

		/* The snapshot follows this handle's commits (snap_apply);
		 * it stays good if it was good as of the generation in
		 * force until now, under the lock. */
		if (st->snap && st->snap->have && st->snap_gen == g && !st->snap_stale &&
		    !split_state_set_generation(st, SPLIT_GEN_COMMITTED, g + 1))
			st->snap_gen = g + 1;
		else {
			split_state_set_generation(st, SPLIT_GEN_COMMITTED, g + 1);
			snap_forget(st);
		}
		st->unlock_gen = g + 1;
	} else if (st->locked) {
		st->unlock_gen = split_state_generation(st, SPLIT_GEN_COMMITTED);
	}
	st->changed = 0;
	st->locked = 0;
	kept_drop(st);
	flock(st->dir_fd, LOCK_UN);
}

__u64 split_state_generation(struct split_state *st, int idx)
{
	__u32 k = (__u32)idx;
	__u64 g = 0;

	if (st->gen_fd >= 0)
		bpf_map_lookup_elem(st->gen_fd, &k, &g);
	return g;
}

int split_state_set_generation(struct split_state *st, int idx, __u64 v)
{
	__u32 k = (__u32)idx;

	return st->gen_fd < 0 ? -ENOENT : bpf_map_update_elem(st->gen_fd, &k, &v, BPF_ANY);
}

int split_state_wait_l7(struct split_state *st, unsigned timeout_ms)
{
	__u64 want = split_state_generation(st, SPLIT_GEN_COMMITTED);
	__u64 hb, now, deadline = 0;
	struct timespec ts;

	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		now = (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
		if (!deadline)
			deadline = now + (__u64)timeout_ms * 1000000ULL;
		hb = split_state_generation(st, SPLIT_GEN_L7_HEARTBEAT);
		if (!hb || now - hb > SPLIT_L7_STALE_NS)
			return 0;	/* no proxy running */
		if (split_state_generation(st, SPLIT_GEN_L7_APPLIED) >= want)
			return 0;
		if (now >= deadline)
			return 1;
		usleep(1000);	/* splitd looks every 10 ms */
	}
}

/* ---- maps -> model ------------------------------------------------------ */

void split_addr_from_be(struct split_addr *a, const __be32 *addr, __u8 family)
{
	memset(a, 0, sizeof(*a));
	a->family = family;
	memcpy(a->bytes, addr, family == 4 ? 4 : 16);
}

static int svc_cmp(const void *a, const void *b)
{
	const struct split_service *x = a, *y = b;
	int c = strcmp(x->ns, y->ns);

	return c ? c : strcmp(x->name, y->name);
}

static int ver_cmp(const void *a, const void *b)
{
	return strcmp(((const struct split_version *)a)->name,
		      ((const struct split_version *)b)->name);
}

static int ep_cmp(const void *a, const void *b)
{
	const struct split_endpoint *x = a, *y = b;
	int c = strcmp(x->version, y->version);

	if (c)
		return c;
	if (x->addr.family != y->addr.family)
		return x->addr.family - y->addr.family;
	return memcmp(x->addr.bytes, y->addr.bytes, sizeof(x->addr.bytes));
}

static int port_cmp(const void *a, const void *b)
{
	const struct split_port *x = a, *y = b;

	if (x->port != y->port)
		return x->port - y->port;
	return x->proto - y->proto;
}

static ssize_t raw_svc_index(const struct raw *r, __u32 id)
{
	return id < r->nsvc_by_id ? r->svc_by_id[id] : -1;
}

static const struct raw_wt *raw_wt_find(const struct raw *r, __u32 svc_id,
					__u32 version_id)
{
	struct raw_wt key = { .k = { svc_id, version_id } };

	if (!r->nwts)
		return NULL;
	return bsearch(&key, r->wts, r->nwts, sizeof(*r->wts), raw_wt_cmp);
}

static int raw_to_config(const struct raw *r, struct split_config *cfg)
{
	struct split_config c = { 0 };

	c.svcs = calloc(r->nsvcs + 1, sizeof(*c.svcs));
	if (!c.svcs)
		return -1;
	c.nsvcs = r->nsvcs;
	for (size_t i = 0; i < r->nsvcs; i++) {
		struct split_service *s = &c.svcs[i];

		snprintf(s->name, sizeof(s->name), "%s", r->svcs[i].v.name);
		snprintf(s->ns, sizeof(s->ns), "%s", r->svcs[i].v.ns);
		s->routed = r->svcs[i].v.flags & SPLIT_SVC_F_ROUTED;
		s->l7 = r->svcs[i].v.flags & SPLIT_SVC_F_L7;
	}
	for (size_t i = 0; i < r->nvips; i++) {
		const struct raw_vip *rv = &r->vips[i];
		ssize_t si = raw_svc_index(r, rv->v.svc_id);
		struct split_service *s;
		struct split_addr a;
		struct split_port p = { 0 };
		int have = 0;

		if (si < 0)
			continue;
		s = &c.svcs[si];
		split_addr_from_be(&a, rv->k.addr, rv->k.family);
		for (size_t j = 0; j < s->nvips; j++)
			have |= !memcmp(&s->vips[j], &a, sizeof(a));
		if (!have && s->nvips < 2)
			s->vips[s->nvips++] = a;
		p.port = ntohs(rv->k.port);
		p.target_port = ntohs(rv->v.target_port);
		p.proto = rv->k.proto;
		have = 0;
		for (size_t j = 0; j < s->nports; j++)
			have |= s->ports[j].port == p.port && s->ports[j].proto == p.proto;
		if (!have) {
			struct split_port *np = realloc(s->ports, (s->nports + 1) * sizeof(p));

			if (!np)
				goto fail;
			s->ports = np;
			s->ports[s->nports++] = p;
		}
	}
	for (size_t i = 0; i < r->nwts; i++) {
		ssize_t si = raw_svc_index(r, r->wts[i].k.svc_id);
		struct split_service *s;
		struct split_version *nv;

		if (si < 0)
			continue;
		s = &c.svcs[si];
		nv = realloc(s->versions, (s->nversions + 1) * sizeof(*nv));
		if (!nv)
			goto fail;
		s->versions = nv;
		memset(&nv[s->nversions], 0, sizeof(*nv));
		snprintf(nv[s->nversions].name, sizeof(nv->name), "%s",
			 r->wts[i].v.version);
		nv[s->nversions].slots[0] = r->wts[i].v.slots4;
		nv[s->nversions].slots[1] = r->wts[i].v.slots6;
		nv[s->nversions++].weight = r->wts[i].v.weight;
	}
	for (size_t i = 0; i < r->nbes; i++) {
		const struct raw_be *b = &r->bes[i];
		ssize_t si = raw_svc_index(r, b->v.svc_id);
		const struct raw_wt *w = raw_wt_find(r, b->v.svc_id, b->v.version_id);
		struct split_service *s;
		struct split_endpoint *ne;

		if (si < 0 || !w)
			continue;
		s = &c.svcs[si];
		ne = realloc(s->eps, (s->neps + 1) * sizeof(*ne));
		if (!ne)
			goto fail;
		s->eps = ne;
		memset(&ne[s->neps], 0, sizeof(*ne));
		split_addr_from_be(&ne[s->neps].addr, b->v.addr, b->v.family);
		snprintf(ne[s->neps].version, sizeof(ne->version), "%s", w->v.version);
		s->neps++;
	}
	for (size_t i = 0; i < c.nsvcs; i++) {
		struct split_service *s = &c.svcs[i];

		sort_n(s->versions, s->nversions, sizeof(*s->versions), ver_cmp);
		sort_n(s->eps, s->neps, sizeof(*s->eps), ep_cmp);
		sort_n(s->ports, s->nports, sizeof(*s->ports), port_cmp);
		if (s->nvips == 2 && s->vips[0].family == 6) {
			struct split_addr t = s->vips[0];

			s->vips[0] = s->vips[1];
			s->vips[1] = t;
		}
	}
	qsort(c.svcs, c.nsvcs, sizeof(*c.svcs), svc_cmp);
	*cfg = c;
	return 0;
fail:
	split_config_free(&c);
	return -1;
}

/* The service ref names, from svc_names (no scan): sets st->scope_id and
 * returns 1, or 0 (no index, unknown, a name in several namespaces, or an
 * older splitd's entry: the caller scans). */
static int name_lookup(struct split_state *st, const char *ref)
{
	struct split_name_key k;
	struct split_name_val v;
	struct split_service_val sv;
	const char *dot = strchr(ref, '.'), *slash = strchr(ref, '/');
	size_t len = strlen(ref);

	if (st->names_fd < 0 || len >= 2 * SPLIT_NAME_LEN)
		return 0;
	memset(&k, 0, sizeof(k));
	if (slash && (size_t)(slash - ref) < SPLIT_NAME_LEN && strlen(slash + 1) < SPLIT_NAME_LEN) {
		memcpy(k.ns, ref, (size_t)(slash - ref));
		strcpy(k.name, slash + 1);
	} else if (!slash && dot && (size_t)(dot - ref) < SPLIT_NAME_LEN &&
		   strlen(dot + 1) < SPLIT_NAME_LEN) {
		memcpy(k.name, ref, (size_t)(dot - ref));
		strcpy(k.ns, dot + 1);
	} else if (!slash && !dot && len < SPLIT_NAME_LEN) {
		strcpy(k.name, ref);
	} else {
		return 0;
	}
	if (bpf_map_lookup_elem(st->names_fd, &k, &v) || v.count != 1 || !v.svc_id ||
	    bpf_map_lookup_elem(st->services_fd, &v.svc_id, &sv) ||
	    strncmp(sv.name, k.name, SPLIT_NAME_LEN) ||
	    (k.ns[0] && strncmp(sv.ns, k.ns, SPLIT_NAME_LEN)) || !sv.ep_end || !sv.ver_end)
		return 0;
	st->scope_id = v.svc_id;
	return 1;
}

/* 2: ref is "name.ns" or "ns/name" of this service, 1: ref is its name,
 * 0: neither (split_config_find()'s rules). */
static int ref_match(const char *ref, const char *name, const char *ns)
{
	size_t nl = strnlen(name, SPLIT_NAME_LEN), sl = strnlen(ns, SPLIT_NAME_LEN);

	if (!strncmp(ref, name, SPLIT_NAME_LEN) && strlen(ref) == nl)
		return 1;
	if (!strncmp(ref, name, nl) && ref[nl] == '.' && strlen(ref + nl + 1) == sl &&
	    !strncmp(ref + nl + 1, ns, sl))
		return 2;
	if (!strncmp(ref, ns, sl) && ref[sl] == '/' && strlen(ref + sl + 1) == nl &&
	    !strncmp(ref + sl + 1, name, nl))
		return 2;
	return 0;
}

int split_state_read_service(struct split_state *st, const char *ref,
			     struct split_config *cfg, struct split_err *err)
{
	struct split_config names = { 0 };
	struct raw_svc *svcs = NULL;
	size_t n = 0;
	struct raw r;
	int idx, ret;

	st->scope_id = 0;
	if (name_lookup(st, ref))
		goto read;
	if (DUMP(st->services_fd, struct raw_svc, svcs, id, v, &svcs, &n))
		return split_errc(err, errno, "reading maps under %s: %s", st->pin_dir, strerror(errno));
	/* The common case without building a config: one match. */
	{
		size_t hit = 0, nshort = 0, exact = 0;

		for (size_t i = 0; i < n; i++) {
			int m = ref_match(ref, svcs[i].v.name, svcs[i].v.ns);

			if (m == 2) {
				hit = i;
				exact = 1;
				break;
			}
			if (m == 1 && !nshort++)
				hit = i;
		}
		if ((exact || nshort == 1) && svcs[hit].v.ep_end && svcs[hit].v.ver_end) {
			st->scope_id = svcs[hit].id;
			free(svcs);
			goto read;
		}
	}
	/* None, several, or an older splitd's state: as split_config_find()
	 * says (and its messages). */
	names.svcs = calloc(n + 1, sizeof(*names.svcs));
	if (!names.svcs) {
		free(svcs);
		return split_errc(err, ENOMEM, "out of memory");
	}
	names.nsvcs = n;
	for (size_t i = 0; i < n; i++) {
		snprintf(names.svcs[i].name, sizeof(names.svcs[i].name), "%s", svcs[i].v.name);
		snprintf(names.svcs[i].ns, sizeof(names.svcs[i].ns), "%s", svcs[i].v.ns);
	}
	sort_n(names.svcs, n, sizeof(*names.svcs), svc_cmp);	/* messages list them in order */
	idx = split_config_find(&names, ref, err);
	for (size_t i = 0; idx >= 0 && i < n; i++)
		if (!strcmp(svcs[i].v.name, names.svcs[idx].name) &&
		    !strcmp(svcs[i].v.ns, names.svcs[idx].ns) && svcs[i].v.ep_end &&
		    svcs[i].v.ver_end)
			st->scope_id = svcs[i].id;
	free(svcs);
	free(names.svcs);
	if (idx < 0)
		return idx;
	if (!st->scope_id)	/* written by an older splitd: no ranges */
		return split_state_read(st, cfg, err);
read:
	if ((ret = raw_read(st, &r, err)))
		return ret;
	ret = raw_to_config(&r, cfg);
	if (ret) {
		raw_free(&r);
		return split_errc(err, ENOMEM, "out of memory");
	}
	kept_put(st, &r);	/* for the commit of this service */
	return 0;
}

int split_state_read_ids(struct split_state *st, const __u32 *ids, size_t n,
			 struct split_config *cfg, struct split_err *err)
{
	uint8_t *want = calloc(SPLIT_MAX_SERVICES, 1);	/* 1: asked, 2: read */
	struct raw_vip *vips = NULL;
	size_t nvips = 0, keep = 0;
	struct raw r;
	int rc;

	memset(&r, 0, sizeof(r));
	if (!want)
		return split_errc(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		if (ids[i] >= SPLIT_MAX_SERVICES || want[ids[i]])
			continue;	/* no such service, or listed twice */
		want[ids[i]] = 1;
		st->scope_id = ids[i];
		if (raw_read_scoped(st, &r) && errno != ENOENT) {
			rc = split_errc(err, errno, "reading service %u under %s: %s", ids[i],
					st->pin_dir, strerror(errno));
			goto fail;
		}
	}
	st->scope_id = 0;
	/* Their VIPs: the one map read whole (no index by service). */
	if (lazy_open_errno(st, &st->svc_fd) ||
	    DUMP(st->svc_fd, struct raw_vip, vips, k, v, &vips, &nvips)) {
		rc = split_errc(err, errno, "reading maps under %s: %s", st->pin_dir,
				strerror(errno));
		goto fail;
	}
	for (size_t i = 0; i < nvips; i++)
		if (vips[i].v.svc_id < SPLIT_MAX_SERVICES && want[vips[i].v.svc_id])
			vips[keep++] = vips[i];
	free(want);
	want = NULL;
	r.vips = vips;
	r.nvips = keep;
	vips = NULL;
	if (raw_index(&r)) {
		rc = split_errc(err, ENOMEM, "out of memory");
		goto fail;
	}
	rc = raw_to_config(&r, cfg);
	raw_free(&r);
	return rc ? split_errc(err, ENOMEM, "out of memory") : 0;
fail:
	st->scope_id = 0;
	free(want);
	free(vips);
	raw_free(&r);
	return rc;
}

int split_state_read(struct split_state *st, struct split_config *cfg,
		     struct split_err *err)
{
	st->scope_id = 0;
	struct raw r;
	int ret;

	if ((ret = raw_read(st, &r, err)))
		return ret;
	ret = raw_to_config(&r, cfg);
	raw_free(&r);
	if (ret)
		return split_errc(err, ENOMEM, "out of memory");
	return 0;
}

int split_state_merge(struct split_state *st, struct split_config *file,
		      struct split_err *err)
{
	struct split_version *vs = NULL;
	size_t cap = 0;
	struct raw r;
	int ret;

	st->scope_id = 0;
	if ((ret = raw_read(st, &r, err)))
		return ret;
	for (size_t i = 0; i < file->nsvcs && !ret; i++) {
		struct split_service *s = &file->svcs[i];
		const struct raw_svc *rs = raw_svc_find_name(&r, s->ns, s->name);
		struct split_service o = { .routed = true };
		size_t lo, hi;

		if (!rs || !(rs->v.flags & SPLIT_SVC_F_ROUTED))
			continue;
		/* its versions, as split_state_read() gives them */
		lo = raw_wt_lower(&r, rs->id);
		for (hi = lo; hi < r.nwts && r.wts[hi].k.svc_id == rs->id; hi++)
			;
		if (hi - lo > cap) {
			struct split_version *nv = realloc(vs, (hi - lo) * sizeof(*nv));

			if (!nv) {
				ret = -ENOMEM;
				break;
			}
			vs = nv;
			cap = hi - lo;
		}
		for (size_t j = lo; j < hi; j++) {
			struct split_version *v = &vs[j - lo];

			memset(v, 0, sizeof(*v));
			snprintf(v->name, sizeof(v->name), "%s", r.wts[j].v.version);
			v->weight = r.wts[j].v.weight;
			v->slots[0] = r.wts[j].v.slots4;
			v->slots[1] = r.wts[j].v.slots6;
		}
		o.versions = vs;
		o.nversions = hi - lo;
		ret = split_service_merge(s, &o);
	}
	free(vs);
	raw_free(&r);
	if (ret)
		return split_errc(err, ENOMEM, "out of memory");
	return 0;
}

/* ---- model -> maps ------------------------------------------------------ */

struct plan_svc {
	const struct split_service *s;
	__u32 id;
	__u32 *ver_ids;		/* per s->versions */
	__u32 *ep_ids;		/* backend id per s->eps */
	__u32 *ep_ver;		/* version id per s->eps */
	__u32 *slots[2];	/* slots per version, v4 and v6 tables */
	__u64 digest;		/* of everything the tables depend on */
	__u16 ep_end, ver_end;	/* split_service_val */
	bool tables_current;	/* same digest as in force: skip the tables */
	/* Equal to what this handle's last commit of it wrote, with the
	 * maps unchanged since (struct split_state_snap's done): every
	 * element of it in the maps is what this commit would write, so
	 * nothing of it is planned, written or removed (only id is set). */
	bool clean;
};

struct plan {
	struct plan_svc *svcs;
	size_t n;
	int *by_id;		/* [nby_id]: index in svcs or -1 */
	size_t nby_id;		/* the largest id, in the maps or the plan, + 1 */
	__u32 *be_new;		/* every backend id of the new state, sorted */
	size_t nbe_new;
};

static void plan_free(struct plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->svcs[i].ver_ids);
		free(p->svcs[i].ep_ids);
		free(p->svcs[i].ep_ver);
		free(p->svcs[i].slots[0]);
		free(p->svcs[i].slots[1]);
	}
	free(p->svcs);
	free(p->by_id);
	free(p->be_new);
	memset(p, 0, sizeof(*p));
}

void split_addr_to_be(__be32 out[4], const struct split_addr *a)
{
	memset(out, 0, 16);
	memcpy(out, a->bytes, a->family == 4 ? 4 : 16);
}

static int id_in_use(const __u32 *ids, size_t n, __u32 id)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i] == id)
			return 1;
	return 0;
}

static __u64 fnv(__u64 h, const void *p, size_t n)
{
	const unsigned char *c = p;

	while (n--)
		h = (h ^ *c++) * 0x100000001b3ULL;
	return h;
}

static int u64_cmp(const void *a, const void *b)
{
	__u64 x = *(const __u64 *)a, y = *(const __u64 *)b;

	return x < y ? -1 : x > y;
}

/*
 * Digest of a service's table inputs: layout, name, routed, versions with weights, and each
 * endpoint's address, version and backend id (order-independent). Equal
 * digests mean equal tables, so unchanged services are not rebuilt.
 */
static int plan_digest(struct plan_svc *ps)
{
	const struct split_service *s = ps->s;
	__u64 *eh = calloc(s->neps + 1, sizeof(*eh)), h = 0xcbf29ce484222325ULL;

	if (!eh)
		return -1;
	h = fnv(h, "tables_v3", 10);	/* the table layout: a new one rebuilds all */
	h = fnv(h, s->name, strlen(s->name) + 1);
	h = fnv(h, &s->routed, sizeof(s->routed));	/* small or big tables */
	for (size_t k = 0; k < s->nversions; k++) {
		h = fnv(h, s->versions[k].name, strlen(s->versions[k].name) + 1);
		h = fnv(h, &s->versions[k].weight, sizeof(s->versions[k].weight));
	}
	for (size_t e = 0; e < s->neps; e++) {
		__u64 x = 0xcbf29ce484222325ULL;

		x = fnv(x, &s->eps[e].addr, sizeof(s->eps[e].addr));
		x = fnv(x, s->eps[e].version, strlen(s->eps[e].version) + 1);
		x = fnv(x, &ps->ep_ids[e], sizeof(ps->ep_ids[e]));
		eh[e] = x;
	}
	qsort(eh, s->neps, sizeof(*eh), u64_cmp);
	h = fnv(h, eh, s->neps * sizeof(*eh));
	free(eh);
	ps->digest = h | 1; /* never 0: 0 means "unknown" in the map */
	return 0;
}

static int plan_alloc_svc(struct plan_svc *ps, size_t nwts_svc)
{
	const struct split_service *s = ps->s;

	(void)nwts_svc;
	ps->ver_ids = calloc(s->nversions + 1, sizeof(__u32));
	ps->ep_ids = calloc(s->neps + 1, sizeof(__u32));
	ps->ep_ver = calloc(s->neps + 1, sizeof(__u32));
	ps->slots[0] = calloc(s->nversions + 1, sizeof(__u32));
	ps->slots[1] = calloc(s->nversions + 1, sizeof(__u32));
	return ps->ver_ids && ps->ep_ids && ps->ep_ver && ps->slots[0] &&
	       ps->slots[1] ? 0 : -1;
}

/* Version ids: keep existing ones, then fill the lowest free. */
static int plan_versions(const struct raw *r, struct plan_svc *ps)
{
	const struct split_service *s = ps->s;
	size_t lo = raw_wt_lower(r, ps->id), hi = lo, nv = 0;
	__u32 *vused;

	while (hi < r->nwts && r->wts[hi].k.svc_id == ps->id)
		hi++;
	vused = calloc(hi - lo + s->nversions + 1, sizeof(*vused));
	if (!vused)
		return -1;
	for (size_t j = lo; j < hi; j++) {
		vused[nv++] = r->wts[j].k.version_id;
		for (size_t k = 0; k < s->nversions; k++)
			if (!strncmp(r->wts[j].v.version, s->versions[k].name, SPLIT_NAME_LEN))
				ps->ver_ids[k] = r->wts[j].k.version_id;
	}
	for (size_t k = 0; k < s->nversions; k++) {
		__u32 id = 1;

		if (ps->ver_ids[k])
			continue;
		while (id_in_use(vused, nv, id))
			id++;
		ps->ver_ids[k] = id;
		vused[nv++] = id;
	}
	free(vused);
	return 0;
}

/* First index of r->be_by_id with an id >= id. */
static size_t raw_be_id_lower(const struct raw *r, __u32 id)
{
	size_t lo = 0, hi = r->nbes;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (r->be_by_id[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int u32_cmp(const void *a, const void *b)
{
	__u32 x = *(const __u32 *)a, y = *(const __u32 *)b;

	return x < y ? -1 : x > y;
}

/*
 * Backend ids of one service: SPLIT_BACKEND_ID(service, k). The same
 * address keeps its id (tables that do not change stay byte-identical);
 * a new one takes the lowest k that neither an old nor a new backend of
 * the service holds (old ones live until the end of the commit).
 */
static int plan_backends(const struct raw *r, struct plan_svc *ps, size_t *nfresh,
			 struct split_err *err)
{
	const struct split_service *s = ps->s;
	size_t lo = raw_be_id_lower(r, SPLIT_BACKEND_ID(ps->id, 0)), hi = lo, nk;
	__u32 maxk = 0, next = 1, end = 1;
	uint8_t *used;

	/* Every id of the service's range in use (whatever the backend's
	 * svc_id says: state written by an older splitd numbered backends
	 * from 1 across services). */
	while (hi < r->nbes && SPLIT_BACKEND_SVC(r->be_by_id[hi].id) == ps->id)
		hi++;
	if (hi > lo)
		maxk = r->be_by_id[hi - 1].id & 0xffff;
	nk = (size_t)maxk + s->neps + 2;
	used = calloc(nk, 1);
	if (!used)
		return split_errc(err, ENOMEM, "out of memory");
	for (size_t j = lo; j < hi; j++)
		used[r->be_by_id[j].id & 0xffff] |= 1;	/* old */
	for (size_t e = 0; e < s->neps; e++) {
		const struct raw_be *rb;
		__be32 a[4];
		__u32 k;

		split_addr_to_be(a, &s->eps[e].addr);
		rb = raw_be_find(r, ps->id, s->eps[e].addr.family, a);
		if (rb && SPLIT_BACKEND_SVC(rb->id) == ps->id && !(used[rb->id & 0xffff] & 2)) {
			k = rb->id & 0xffff;
		} else {
			while (next < nk && used[next])
				next++;
			if (next >= nk || next > SPLIT_MAX_SVC_BACKENDS) {
				free(used);
				return split_errf(err, "service %s: too many endpoints (at most %d)",
						  s->name, SPLIT_MAX_SVC_BACKENDS);
			}
			k = next;
			(*nfresh)++;
		}
		used[k] |= 2;	/* new */
		ps->ep_ids[e] = SPLIT_BACKEND_ID(ps->id, k);
		if (k + 1 > end)
			end = k + 1;
	}
	free(used);
	ps->ep_end = (__u16)end;
	return 0;
}

/* Does a commit of a write exactly what one of b wrote? Every field the
 * commit reads, compared field by field (not padding, not the slots that
 * only split_state_read() fills in). */
static bool svc_same(const struct split_service *a, const struct split_service *b)
{
	if (strcmp(a->name, b->name) || strcmp(a->ns, b->ns) || a->routed != b->routed ||
	    a->l7 != b->l7 || a->nvips != b->nvips || a->nports != b->nports ||
	    a->neps != b->neps || a->nversions != b->nversions)
		return false;
	for (size_t i = 0; i < a->nvips; i++)
		if (memcmp(&a->vips[i], &b->vips[i], sizeof(a->vips[i])))
			return false;
	for (size_t i = 0; i < a->nports; i++)
		if (a->ports[i].port != b->ports[i].port ||
		    a->ports[i].target_port != b->ports[i].target_port ||
		    a->ports[i].proto != b->ports[i].proto)
			return false;
	for (size_t i = 0; i < a->nversions; i++)
		if (a->versions[i].weight != b->versions[i].weight ||
		    strcmp(a->versions[i].name, b->versions[i].name))
			return false;
	for (size_t i = 0; i < a->neps; i++)
		if (memcmp(&a->eps[i].addr, &b->eps[i].addr, sizeof(a->eps[i].addr)) ||
		    strcmp(a->eps[i].version, b->eps[i].version))
			return false;
	return true;
}

/* A deep copy of s, or NULL. */
static struct split_service *svc_dup(const struct split_service *s)
{
	struct split_service *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	if (split_service_copy(d, s)) {
		split_service_free(d);
		free(d);
		return NULL;
	}
	return d;
}

/* A commit succeeded: the services it wrote are what the maps hold for
 * them (done), those it removed are gone, and a scoped commit's service
 * is unknown (it keeps VIPs the commit did not see). Only while the
 * snapshot follows the commits (snap_note). */
static void done_note(struct split_state *st, const struct raw *r, const struct plan *p)
{
	struct split_state_snap *sn = st->snap;

	if (!sn || !sn->on || !sn->have || st->snap_stale)
		return;
	if (!sn->done && !(sn->done = calloc(SPLIT_MAX_SERVICES, sizeof(*sn->done))))
		return;
	for (size_t i = 0; i < p->n; i++) {
		const struct plan_svc *ps = &p->svcs[i];

		if (ps->clean)
			continue;
		done_drop(sn, ps->id);
		if (!st->scope_id && ps->id < SPLIT_MAX_SERVICES)
			sn->done[ps->id] = svc_dup(ps->s);	/* NULL: unknown */
	}
	for (size_t i = 0; !st->scope_id && i < r->nsvcs; i++)
		if (r->svcs[i].id < SPLIT_MAX_SERVICES &&
		    (r->svcs[i].id >= p->nby_id || p->by_id[r->svcs[i].id] < 0))
			done_drop(sn, r->svcs[i].id);
}

/* The services of the snapshot r, as last committed through st, that a
 * full commit may skip; NULL: none (r is not the handle's snapshot, or a
 * scoped commit). */
static struct split_service *const *commit_done(const struct split_state *st,
						 const struct raw *r)
{
	const struct split_state_snap *sn = st->snap;

	if (!sn || !sn->have || !sn->done || st->scope_id || st->snap_stale ||
	    !r->borrowed || r->svcs != sn->r.svcs)
		return NULL;
	return sn->done;
}

static int plan_ids(const struct raw *r, const struct split_config *cfg,
		    struct split_service *const *done, struct plan *p, struct split_err *err)
{
	uint8_t *svc_used = NULL;	/* ids in use, made when a new service needs one */
	size_t nnew = 0, nfresh = 0;
	__u32 next_svc = 1;
	int ret = -1;

	p->svcs = calloc(cfg->nsvcs + 1, sizeof(*p->svcs));
	if (!p->svcs)
		goto oom;
	p->n = cfg->nsvcs;
	p->nby_id = 1;
	for (size_t i = 0; i < r->nsvcs; i++)
		if (r->svcs[i].id < SPLIT_MAX_SERVICES && r->svcs[i].id >= p->nby_id)
			p->nby_id = r->svcs[i].id + 1;

	/* Service ids: keep the id of a service that exists already. */
	for (size_t i = 0; i < cfg->nsvcs; i++) {
		struct plan_svc *ps = &p->svcs[i];
		const struct raw_svc *rs;

		ps->s = &cfg->svcs[i];
		rs = raw_svc_find_name(r, ps->s->ns, ps->s->name);
		if (rs) {
			ps->id = rs->id;
			ps->clean = done && rs->id < SPLIT_MAX_SERVICES && done[rs->id] &&
				    svc_same(ps->s, done[rs->id]);
			if (ps->clean) {
				ps->digest = rs->v.digest;
				ps->tables_current = true;
			}
		}
	}
	for (size_t i = 0; i < cfg->nsvcs; i++) {
		struct plan_svc *ps = &p->svcs[i];

		if (!ps->id) {
			if (!svc_used) {
				if (!(svc_used = calloc(SPLIT_MAX_SERVICES, 1)))
					goto oom;
				for (size_t j = 0; j < r->nsvcs; j++)
					if (r->svcs[j].id < SPLIT_MAX_SERVICES)
						svc_used[r->svcs[j].id] = 1;
				for (size_t j = 0; j < cfg->nsvcs; j++)
					if (p->svcs[j].id)
						svc_used[p->svcs[j].id] = 1;
			}
			while (next_svc < SPLIT_MAX_SERVICES && svc_used[next_svc])
				next_svc++;
			if (next_svc >= SPLIT_MAX_SERVICES) {
				split_errf(err, "too many services (at most %d)",
					   SPLIT_MAX_SERVICES - 1);
				goto out;
			}
			ps->id = next_svc;
			svc_used[next_svc] = 1;
		}
		if (ps->id >= p->nby_id)
			p->nby_id = ps->id + 1;
		nnew += ps->s->neps;
	}
	/* As long as the largest id in use: a scoped commit (one service)
	 * does not fill SPLIT_MAX_SERVICES entries. */
	p->by_id = malloc(p->nby_id * sizeof(int));
	if (!p->by_id)
		goto oom;
	for (size_t i = 0; i < p->nby_id; i++)
		p->by_id[i] = -1;
	for (size_t i = 0; i < cfg->nsvcs; i++)
		p->by_id[p->svcs[i].id] = (int)i;
	p->be_new = calloc(nnew + 1, sizeof(*p->be_new));
	if (!p->be_new)
		goto oom;

	for (size_t i = 0; i < cfg->nsvcs; i++) {
		struct plan_svc *ps = &p->svcs[i];
		const struct split_service *s = ps->s;
		__u32 vend = 1;

		if (ps->clean)
			continue;	/* its backends stay: not in be_new */
		if (plan_alloc_svc(ps, 0) || plan_versions(r, ps))
			goto oom;
		for (size_t k = 0; k < s->nversions; k++)
			if (ps->ver_ids[k] + 1 > vend)
				vend = ps->ver_ids[k] + 1;
		if (vend > 0xffff) {
			split_errf(err, "service %s: too many versions", s->name);
			goto out;
		}
		ps->ver_end = (__u16)vend;
		for (size_t e = 0; e < s->neps; e++) {
			for (size_t k = 0; k < s->nversions; k++)
				if (!strcmp(s->eps[e].version, s->versions[k].name))
					ps->ep_ver[e] = ps->ver_ids[k];
			if (!ps->ep_ver[e]) {
				split_errf(err, "service %s: endpoint version '%s' has no weight entry",
					   s->name, s->eps[e].version);
				goto out;
			}
		}
		if (plan_backends(r, ps, &nfresh, err))
			goto out;
		memcpy(p->be_new + p->nbe_new, ps->ep_ids, s->neps * sizeof(__u32));
		p->nbe_new += s->neps;
		if (plan_digest(ps))
			goto oom;
	}
	sort_n(p->be_new, p->nbe_new, sizeof(*p->be_new), u32_cmp);
	if (nnew > SPLIT_MAX_BACKENDS || r->nbes + nfresh > SPLIT_MAX_BACKENDS) {
		split_errf(err, "too many endpoints: %zu (the backends map holds %d, counting the ones being replaced)",
			   nnew, SPLIT_MAX_BACKENDS);
		goto out;
	}
	ret = 0;
	goto out;
oom:
	split_errc(err, ENOMEM, "out of memory");
out:
	free(svc_used);
	return ret;
}

static int be_in_plan(const struct plan *p, __u32 id)
{
	return p->nbe_new && bsearch(&id, p->be_new, p->nbe_new, sizeof(id), u32_cmp);
}

/* Service id is in the plan, unchanged (plan_svc.clean). */
static bool svc_clean(const struct plan *p, __u32 id)
{
	return id < p->nby_id && p->by_id[id] >= 0 && p->svcs[p->by_id[id]].clean;
}

void split_vip_key(struct split_svc_key *k, const struct split_addr *vip,
		   const struct split_port *port)
{
	memset(k, 0, sizeof(*k));
	split_addr_to_be(k->addr, vip);
	k->port = htons(port->port);
	k->proto = port->proto;
	k->family = vip->family;
}

static const struct raw_vip *raw_vip_find(const struct raw *r, const struct split_svc_key *k);

/* Versions of cfg that the weights map has no entry for yet (by service
 * and version name; a new service's are all new). */
static size_t fresh_versions(const struct split_config *cfg, const struct raw *r)
{
	size_t fresh = 0;

	for (size_t i = 0; i < cfg->nsvcs; i++) {
		const struct split_service *s = &cfg->svcs[i];
		const struct raw_svc *rs = raw_svc_find_name(r, s->ns, s->name);
		size_t lo = rs ? raw_wt_lower(r, rs->id) : r->nwts, hi = lo;

		while (hi < r->nwts && r->wts[hi].k.svc_id == rs->id)
			hi++;
		for (size_t k = 0; k < s->nversions; k++) {
			size_t j = lo;

			while (j < hi && strncmp(r->wts[j].v.version, s->versions[k].name,
						 SPLIT_NAME_LEN))
				j++;
			fresh += j == hi;
		}
	}
	return fresh;
}

/*
 * Checks that need the whole config: one service per VIP:port:proto,
 * capacities. O(n) (split_dup_find) for 10,000 services. The VIPs and
 * weights maps hold, during the commit, what they hold now plus the keys
 * it adds (a key kept is updated in place, removals come last): that is
 * what must fit.
 */
static int plan_check(const struct split_config *cfg, const struct raw *r,
		      struct split_err *err)
{
	size_t nvips = 0, nvers = 0, n = 0, first, dup, fresh = 0;
	struct split_name_dkey *names;
	struct split_svc_key *keys;
	const struct split_service **of;
	int ret = 0, d;

	for (size_t i = 0; i < cfg->nsvcs; i++) {
		nvips += cfg->svcs[i].nvips * cfg->svcs[i].nports;
		nvers += cfg->svcs[i].nversions;
	}
	if (nvips > SPLIT_MAX_VIPS)
		return split_errf(err, "too many VIP:port entries (%zu, at most %d)",
				  nvips, SPLIT_MAX_VIPS);
	if (nvers > SPLIT_MAX_VERSIONS)
		return split_errf(err, "too many versions (%zu, at most %d)", nvers,
				  SPLIT_MAX_VERSIONS);
	fresh = fresh_versions(cfg, r);
	if (r->nwts + fresh > SPLIT_MAX_VERSIONS)
		return split_errf(err, "too many versions while the %zu in force are replaced: %zu new ones (at most %d at once)",
				  r->nwts, fresh, SPLIT_MAX_VERSIONS);
	names = calloc(cfg->nsvcs + 1, sizeof(*names));
	keys = calloc(nvips + 1, sizeof(*keys));
	of = calloc(nvips + 1, sizeof(*of));
	if (!names || !keys || !of) {
		ret = split_errc(err, ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < cfg->nsvcs; i++) {
		const struct split_service *s = &cfg->svcs[i];

		split_name_dkey(&names[i], s);
		for (size_t a = 0; a < s->nvips; a++)
			for (size_t k = 0; k < s->nports; k++) {
				split_vip_key(&keys[n], &s->vips[a], &s->ports[k]);
				of[n++] = s;
			}
	}
	fresh = 0;
	for (size_t i = 0; i < n; i++)
		fresh += !raw_vip_find(r, &keys[i]);
	if (r->nvips + fresh > SPLIT_MAX_VIPS) {
		ret = split_errf(err, "too many VIP:port entries while the %zu in force are replaced: %zu new ones (at most %d at once)",
				 r->nvips, fresh, SPLIT_MAX_VIPS);
		goto out;
	}
	d = split_dup_find(names, cfg->nsvcs, sizeof(*names), &first, &dup);
	if (d > 0)
		ret = split_errf(err, "service %s.%s is defined twice", cfg->svcs[dup].name,
				 cfg->svcs[dup].ns);
	else if (!d && (d = split_dup_find(keys, n, sizeof(*keys), &first, &dup)) > 0)
		ret = split_errf(err, "services %s.%s and %s.%s share a VIP, port and protocol",
				 of[first]->name, of[first]->ns, of[dup]->name, of[dup]->ns);
	if (d < 0)
		ret = split_errc(err, ENOMEM, "out of memory");
out:
	free(names);
	free(keys);
	free(of);
	return ret;
}

/* ---- writes: only what differs, in batches ------------------------------- */

/* Elements for one map, written with one BPF_MAP_UPDATE_BATCH (or one by
 * one where the kernel has no batch ops for the map). */
struct wbatch {
	int fd;
	size_t ksz, vsz, n, cap;
	char *k, *v;
};

static void wb_init(struct wbatch *b, int fd, size_t ksz, size_t vsz)
{
	memset(b, 0, sizeof(*b));
	b->fd = fd;
	b->ksz = ksz;
	b->vsz = vsz;
}

static void wb_free(struct wbatch *b)
{
	free(b->k);
	free(b->v);
	b->k = b->v = NULL;
	b->n = b->cap = 0;
}

static int wb_add(struct wbatch *b, const void *key, const void *val)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 8;	/* a set writes 1 or 2 */
		char *k = realloc(b->k, cap * b->ksz), *v;

		if (!k)
			return -1;
		b->k = k;
		v = realloc(b->v, cap * b->vsz);
		if (!v)
			return -1;
		b->v = v;
		b->cap = cap;
	}
	memcpy(b->k + b->n * b->ksz, key, b->ksz);
	memcpy(b->v + b->n * b->vsz, val, b->vsz);
	b->n++;
	return 0;
}

static int wb_flush(struct split_state *st, struct wbatch *b)
{
	LIBBPF_OPTS(bpf_map_batch_opts, bo, .elem_flags = BPF_ANY);
	size_t done = 0;

	for (size_t i = 0; i < b->n; i++)
		snap_note(st, b->fd, b->k + i * b->ksz, b->v + i * b->vsz);

	while (done < b->n) {
		__u32 cnt = (__u32)(b->n - done > 65536 ? 65536 : b->n - done);

		if (bpf_map_update_batch(b->fd, b->k + done * b->ksz, b->v + done * b->vsz,
					 &cnt, &bo)) {
			if (errno != EINVAL && errno != ENOTSUP && errno != 524)
				return -1;
			/* No batch ops here: one by one. */
			for (; done < b->n; done++, st->nwrites++)
				if (bpf_map_update_elem(b->fd, b->k + done * b->ksz,
							b->v + done * b->vsz, BPF_ANY))
					return -1;
			break;
		}
		done += cnt;
		st->nwrites += cnt;
	}
	b->n = 0;
	return 0;
}

static int delete_quiet(struct split_state *st, int fd, const void *key)
{
	snap_note(st, fd, key, NULL);
	st->nwrites++;
	if (bpf_map_delete_elem(fd, key) && errno != ENOENT)
		return -1;
	return 0;
}

static const struct raw_vip *raw_vip_find(const struct raw *r, const struct split_svc_key *k)
{
	struct raw_vip key = { .k = *k };

	if (!r->nvips)
		return NULL;
	return bsearch(&key, r->vips, r->nvips, sizeof(*r->vips), raw_vip_cmp);
}

static const struct raw_tbl *raw_tbl_find(const struct raw *r, __u32 id)
{
	struct raw_tbl key = { .id = id };

	if (!r->ntbls)
		return NULL;
	return bsearch(&key, r->tbls, r->ntbls, sizeof(*r->tbls), raw_tbl_cmp);
}

/* ---- tables ------------------------------------------------------------- */

/* Big table buffers: 2 * SPLIT_TABLE_CELLS __u32 backend ids with slot s
 * at index s (the last one is padding, 0), then, in place, the struct
 * split_big_table of an inner map (big_k()). */
#define TABLE_BUF_LEN	(2 * SPLIT_TABLE_CELLS)
_Static_assert(TABLE_BUF_LEN * sizeof(__u16) == sizeof(struct split_big_table),
	       "a table's k per slot is one inner map value");

/* The backend ids of a big table of service svc_id (TABLE_BUF_LEN at buf)
 * into its struct split_big_table, in place (k[s] lies at or before ids[s]:
 * read before written). 0, or -1 (EINVAL) for an id of another service. */
static int big_k(void *buf, __u32 svc_id)
{
	const __u32 *ids = buf;
	__u16 *k = buf;

	for (size_t s = 0; s < TABLE_BUF_LEN; s++) {
		__u32 id = ids[s];

		if (id && SPLIT_BACKEND_SVC(id) != svc_id) {
			errno = EINVAL;
			return -1;
		}
		k[s] = (__u16)(id & 0xffff);
	}
	return 0;
}

/* Current content of a big table (a struct split_big_table); 1 if there is
 * one, 0 if not, -1 on error. */
static int big_read(int big_fd, __u32 tid, void *vals)
{
	__u32 inner_id, zero = 0;
	int fd, ret = 1;

	if (bpf_map_lookup_elem(big_fd, &tid, &inner_id))
		return errno == ENOENT ? 0 : -1;
	fd = bpf_map_get_fd_by_id(inner_id);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (bpf_map_lookup_elem(fd, &zero, vals))
		ret = -1;
	close(fd);
	return ret;
}

/*
 * A new inner map for a big table. The bpf(2) call itself: libbpf's
 * bpf_map_create() first probes the kernel (whether maps take names, whether
 * memory is charged to the memcg) by loading two programs, which cost more
 * than the table (a JIT and an RCU grace period each), once per process.
 * Kernels too old to charge the memcg need RLIMIT_MEMLOCK raised, which
 * libbpf does: EPERM goes to it.
 */
static int table_map_create(const char *name)
{
	union bpf_attr attr;
	int fd;

	memset(&attr, 0, sizeof(attr));
	attr.map_type = BPF_MAP_TYPE_ARRAY;
	attr.key_size = sizeof(__u32);
	attr.value_size = sizeof(struct split_big_table);
	attr.max_entries = 1;
	snprintf(attr.map_name, sizeof(attr.map_name), "%s", name);
	fd = (int)syscall(__NR_bpf, BPF_MAP_CREATE, &attr, sizeof(attr));
	if (fd >= 0 || errno != EPERM)
		return fd;
	return bpf_map_create(BPF_MAP_TYPE_ARRAY, name, sizeof(__u32),
			      sizeof(struct split_big_table), 1, NULL);
}

/* A new inner map holding the table vals (a struct split_big_table): its
 * fd, or -1. Nothing points at it yet: it is swapped in whole afterwards. */
static int big_make(__u32 tid, const void *vals)
{
	__u32 zero = 0;
	char name[16];
	int fd;

	snprintf(name, sizeof(name), "tbl_%u", tid);
	fd = table_map_create(name);
	if (fd >= 0 && bpf_map_update_elem(fd, &zero, vals, BPF_ANY)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* Create a filled big table and swap it into big_fd: one update, never
 * half-written. */
static int big_put(int big_fd, __u32 tid, const void *vals)
{
	int fd = big_make(tid, vals), ret;

	if (fd < 0)
		return -1;
	ret = bpf_map_update_elem(big_fd, &tid, &fd, BPF_ANY);
	close(fd);
	return ret;
}

int split_state_migrate_big(const char *pin_dir, int big_fd, struct split_err *err)
{
	static __u32 keys[SPLIT_TABLE_CELLS];
	struct split_slot_pair *t = malloc(SPLIT_TABLE_CELLS * sizeof(*t));
	char path[PATH_MAX + 32];
	__u32 tid, prev, inner_id, out, count;
	int old, fd, n = 0, first = 1;

	if (!t)
		return split_errc(err, ENOMEM, "out of memory");
	snprintf(path, sizeof(path), "%s/%s", pin_dir, SPLIT_MAP_BIG_TABLES_V3);
	old = bpf_obj_get(path);
	if (old < 0) {
		free(t);
		return errno == ENOENT ? 0 : split_errc(err, errno, "opening %s: %s", path, strerror(errno));
	}
	while (!bpf_map_get_next_key(old, first ? NULL : &prev, &tid)) {
		first = 0;
		prev = tid;
		if (bpf_map_lookup_elem(old, &tid, &inner_id) ||
		    !bpf_map_lookup_elem(big_fd, &tid, &out))	/* gone, or done */
			continue;
		fd = bpf_map_get_fd_by_id(inner_id);
		if (fd < 0)
			continue;
		/* Cell c held slots 2c and 2c + 1: the ids of slot s at s. */
		count = SPLIT_TABLE_CELLS;
		memset(t, 0, SPLIT_TABLE_CELLS * sizeof(*t));
		if ((bpf_map_lookup_batch(fd, NULL, &out, keys, t, &count, NULL) && errno != ENOENT) ||
		    count != SPLIT_TABLE_CELLS) {
			close(fd);
			n = split_errc(err, errno ? errno : EIO, "reading table %u of %s: %s", tid, path,
				       strerror(errno ? errno : EIO));
			break;
		}
		close(fd);
		if (big_k(t, SPLIT_TABLE_SVC(tid))) {
			n = split_errc(err, EINVAL, "table %u of %s names a backend of another service than %u: not copied",
				       tid, path, SPLIT_TABLE_SVC(tid));
			break;
		}
		if (big_put(big_fd, tid, t)) {
			n = split_errc(err, errno, "copying table %u of %s: %s", tid, path, strerror(errno));
			break;
		}
		n++;
	}
	close(old);
	free(t);
	return n;
}

/* Cells of slots_v3 that are not in use: the gaps between small tables and
 * tombstones still in their grace period, first fit. */
struct cell_alloc {
	struct { __u32 off, len; } *gap;	/* in slots, even */
	size_t n;
};

struct used_rg { __u32 off, len; };

static int used_cmp(const void *a, const void *b)
{
	const struct used_rg *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

static __u64 mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
}

static __u32 even_len(__u32 nslots)
{
	return nslots + (nslots & 1);
}

static int tomb_expired(const struct split_table_val *v, __u64 now)
{
	return v->freed_ns + SPLIT_TBL_GRACE_NS <= now;
}

static int alloc_init(struct cell_alloc *a, const struct raw *r, __u32 cells, __u64 now)
{
	struct used_rg *u = calloc(r->ntbls + 1, sizeof(*u));
	__u64 total = 2ULL * cells, at = 0;
	size_t nu = 0;

	memset(a, 0, sizeof(*a));
	a->gap = calloc(r->ntbls + 2, sizeof(*a->gap));
	if (!u || !a->gap) {
		free(u);
		return -1;
	}
	for (size_t i = 0; i < r->ntbls; i++) {
		const struct split_table_val *v = &r->tbls[i].v;

		if (v->kind == SPLIT_TBL_SMALL ||
		    (v->kind == SPLIT_TBL_FREED && !tomb_expired(v, now)))
			u[nu++] = (struct used_rg){ v->offset, even_len(v->nslots) };
	}
	qsort(u, nu, sizeof(*u), used_cmp);
	for (size_t i = 0; i <= nu; i++) {
		__u64 end = i < nu ? u[i].off : total;

		if (end > total)
			end = total;
		if (end > at)
			a->gap[a->n++] = (typeof(*a->gap)){ (__u32)at, (__u32)(end - at) };
		if (i < nu && (__u64)u[i].off + u[i].len > at)
			at = (__u64)u[i].off + u[i].len;
	}
	free(u);
	return 0;
}

/* First fit; 0 or -1 (ENOSPC). */
static int alloc_take(struct cell_alloc *a, __u32 len, __u32 *off)
{
	for (size_t i = 0; i < a->n; i++) {
		if (a->gap[i].len < len)
			continue;
		*off = a->gap[i].off;
		a->gap[i].off += len;
		a->gap[i].len -= len;
		return 0;
	}
	errno = ENOSPC;
	return -1;
}

/* The allocator, made on first use; a scoped commit reads all of
 * tables_v3 for it (the other services' cells are in use too). */
static int alloc_ready(struct split_state *st, const struct raw *r, struct cell_alloc *a,
		       __u64 now)
{
	struct raw all = { 0 };
	int ret;

	if (a->gap)
		return 0;
	if (!st->scope_id)
		return alloc_init(a, r, st->slot_cells, now);
	if (DUMP(st->tables_fd, struct raw_tbl, tbls, id, v, &all.tbls, &all.ntbls))
		return -1;
	ret = alloc_init(a, &all, st->slot_cells, now);
	free(all.tbls);
	return ret;
}

/* What a commit does to the tables, collected before any write. */
struct tbl_work {
	struct wbatch cells;	/* slots_v3: new small tables */
	struct wbatch bigs;	/* big_v4: new big tables (values: inner map fds) */
	int *big_fds;		/* those fds, closed after the commit */
	size_t nbig_fds;
	struct wbatch ents;	/* tables_v3: new entries and tombstones */
	__u32 *del;		/* tables_v3 entries to delete (no table now) */
	size_t ndel;
	__u32 *big_del;		/* big_v4 entries to delete, after the grace period */
	size_t nbig_del;
	__u64 now;
};

/* The commit's clock (tombstones), read when first needed: a flip of big
 * tables needs none (and the vDSO's pages are two faults). */
static __u64 tw_now(struct tbl_work *w)
{
	if (!w->now)
		w->now = mono_ns();
	return w->now;
}

static int push_u32(__u32 **arr, size_t *n, __u32 v)
{
	__u32 *p = realloc(*arr, (*n + 1) * sizeof(*p));

	if (!p)
		return -1;
	*arr = p;
	p[(*n)++] = v;
	return 0;
}

/* The table that was there (cur) goes: its cells get a tombstone, a big
 * table's inner map is dropped after the grace period. */
static int tbl_retire(struct tbl_work *w, __u32 tid, const struct split_table_val *cur)
{
	if (cur->kind == SPLIT_TBL_SMALL) {
		struct split_table_val t = { .kind = SPLIT_TBL_FREED, .nslots = cur->nslots,
					     .offset = cur->offset, .freed_ns = tw_now(w) };
		__u32 key = SPLIT_TBL_TOMB | cur->offset;

		return wb_add(&w->ents, &key, &t);
	}
	if (cur->kind == SPLIT_TBL_BIG)
		return push_u32(&w->big_del, &w->nbig_del, tid);
	return 0;
}

/* Does the small table at cur hold exactly ids[0..n)? */
static int small_same(struct split_state *st, const struct split_table_val *cur,
		      const __u32 *ids, __u32 n)
{
	__u32 ncells = (n + 1) / 2, count = ncells, first = cur->offset / 2, prev, out;
	struct split_slot_pair *got;
	__u32 *keys;
	int same = 0;

	if (cur->kind != SPLIT_TBL_SMALL || cur->nslots != n || !n)
		return 0;
	got = calloc(ncells, sizeof(*got));
	keys = calloc(ncells, sizeof(*keys));
	if (!got || !keys)
		goto out;
	prev = first - 1;
	if (bpf_map_lookup_batch(st->slots_fd, first ? &prev : NULL, &out, keys, got,
				 &count, NULL) && errno != ENOENT)
		goto out;
	if (count < ncells || keys[0] != first)
		goto out;
	same = 1;
	for (__u32 i = 0; i < n && same; i++)
		same = got[i / 2].backend_id[i % 2] == ids[i];
	if (same && (n & 1))
		same = got[ncells - 1].backend_id[1] == 0;
out:
	free(got);
	free(keys);
	return same;
}

/* Slot counts of an unchanged service, as recorded when it was built. */
static void slots_from_raw(const struct raw *r, struct plan_svc *ps)
{
	for (size_t k = 0; k < ps->s->nversions; k++) {
		const struct raw_wt *w = raw_wt_find(r, ps->id, ps->ver_ids[k]);

		ps->slots[0][k] = w ? w->v.slots4 : 0;
		ps->slots[1][k] = w ? w->v.slots6 : 0;
	}
}

static void count_slots(struct plan_svc *ps, int v6, __u32 ep)
{
	for (size_t k = 0; k < ps->s->nversions; k++)
		if (ps->ver_ids[k] == ps->ep_ver[ep])
			ps->slots[v6][k]++;
}

/* Do the versions hold as many slots of the table as the weights map
 * says the table in force gives them? If not, the new table differs from
 * it and need not be read to be compared (a weight change: splitctl set).
 * The counts are written with the table they describe; were they ever
 * out of step, a table would be swapped for an equal one, no harm. */
static int slots_as_recorded(const struct raw *r, const struct plan_svc *ps, int v6)
{
	for (size_t k = 0; k < ps->s->nversions; k++) {
		const struct raw_wt *w = raw_wt_find(r, ps->id, ps->ver_ids[k]);
		__u32 had = !w ? 0 : v6 ? w->v.slots6 : w->v.slots4;

		if (had != ps->slots[v6][k])
			return 0;
	}
	return 1;
}

/*
 * The buffers of write_tables(), allocated when first needed: a big table
 * is built in place in the inner map's value (16-bit endpoint indexes, then
 * their k), so a commit touches 20 KB for it, fresh pages being the dearest
 * part of a small commit (splitctl set) on a VM.
 */
struct tbl_bufs {
	size_t nbuf;			/* endpoints of the largest service */
	__u32 *idx;			/* nbuf: a small table, in place */
	__u32 *cnt;			/* nbuf: slots per endpoint of a big table */
	struct split_big_table *big;	/* the new big table */
	struct split_big_table *cur;	/* the one in force, when compared */
};

static int tb_get(void **p, size_t sz, bool zero)
{
	if (!*p)
		*p = zero ? calloc(1, sz) : malloc(sz);
	return *p ? 0 : -1;
}

/* The big table of ps for family fam into tb->big (k per slot); counts its
 * slots per version into ps->slots[v6]. n (> 0: endpoints used), 0 (no
 * table), or -1 with errno. */
static int big_build(struct plan_svc *ps, int fam, int v6, struct tbl_bufs *tb)
{
	const struct split_service *svc = ps->s;
	__u16 *k;
	int n;

	if (tb_get((void **)&tb->big, sizeof(*tb->big), false) ||
	    tb_get((void **)&tb->cnt, tb->nbuf * sizeof(*tb->cnt), true))
		return -1;
	k = tb->big->k;
	n = split_table_build16(svc, fam, k, SPLIT_TABLE_SLOTS);
	if (n <= 0) {
		errno = -n;
		return n ? -1 : 0;
	}
	for (size_t s = 0; s < SPLIT_TABLE_SLOTS; s++)
		tb->cnt[k[s]]++;
	for (size_t e = 0; e < svc->neps; e++) {
		__u32 id = ps->ep_ids[e], c = tb->cnt[e];

		if (!c)
			continue;
		tb->cnt[e] = 0;		/* zero again for the next table */
		if (id && SPLIT_BACKEND_SVC(id) != ps->id) {
			errno = EINVAL;	/* another service's backend */
			return -1;
		}
		for (size_t v = 0; v < svc->nversions; v++)
			if (ps->ver_ids[v] == ps->ep_ver[e])
				ps->slots[v6][v] += c;
	}
	for (size_t s = 0; s < SPLIT_TABLE_SLOTS; s++)
		k[s] = (__u16)(ps->ep_ids[k[s]] & 0xffff);
	for (size_t s = SPLIT_TABLE_SLOTS; s < TABLE_BUF_LEN; s++)
		k[s] = 0;	/* padding */
	return n;
}

/* One table of a service whose inputs changed. */
static int plan_table(struct split_state *st, const struct raw *r, struct plan_svc *ps,
		      int v6, struct tbl_work *w, struct cell_alloc *al, struct tbl_bufs *tb,
		      const char **what)
{
	__u32 tid = SPLIT_TABLE_ID(ps->id, v6);
	const struct raw_tbl *rt = raw_tbl_find(r, tid);
	struct split_table_val none = { 0 };
	const struct split_table_val *cv = rt ? &rt->v : &none;
	int fam = v6 ? 6 : 4, n, have;

	*what = "building a table";
	if (split_table_is_small(ps->s, fam)) {
		struct split_table_val nv = { .kind = SPLIT_TBL_SMALL };
		__u32 *idx, *vals;

		if (tb_get((void **)&tb->idx, tb->nbuf * sizeof(*tb->idx), false))
			return -1;
		idx = vals = tb->idx;
		n = split_table_small(ps->s, fam, idx, tb->nbuf);
		if (n < 0) {
			errno = -n;
			return -1;
		}
		if (n == 0)
			goto gone;
		for (int s = 0; s < n; s++) {	/* in place: vals is idx */
			uint32_t e = idx[s];

			count_slots(ps, v6, e);
			vals[s] = ps->ep_ids[e];
		}
		*what = "opening " SPLIT_MAP_SLOTS;
		if (lazy_open_errno(st, &st->slots_fd))
			return -1;
		w->cells.fd = st->slots_fd;
		*what = "reading a table";
		if (small_same(st, cv, vals, (__u32)n))
			return 0;
		*what = "placing a table in " SPLIT_MAP_SLOTS " (full: splitd --table-cells)";
		if (alloc_ready(st, r, al, tw_now(w)) || alloc_take(al, even_len((__u32)n), &nv.offset))
			return -1;
		nv.nslots = (__u32)n;
		for (int c = 0; c < (n + 1) / 2; c++) {
			struct split_slot_pair pr = { { vals[2 * c], 2 * c + 1 < n ? vals[2 * c + 1] : 0 } };
			__u32 key = nv.offset / 2 + (__u32)c;

			if (wb_add(&w->cells, &key, &pr))
				return -1;
		}
		if (wb_add(&w->ents, &tid, &nv) || tbl_retire(w, tid, cv))
			return -1;
		pr_debug("table %u of %s: %d slots at %u\n", tid, ps->s->name, n, nv.offset);
		return 0;
	}

	n = big_build(ps, fam, v6, tb);
	if (n < 0)
		return -1;
	if (n == 0)
		goto gone;
	*what = "reading a table";
	have = 0;
	if (cv->kind == SPLIT_TBL_BIG && slots_as_recorded(r, ps, v6)) {
		if (tb_get((void **)&tb->cur, sizeof(*tb->cur), false))
			return -1;
		have = big_read(st->big_fd, tid, tb->cur);
	}
	if (have < 0)
		return -1;
	if (!have || memcmp(tb->cur, tb->big, sizeof(*tb->big))) {
		int fd, *fds;

		*what = "installing a table";
		fds = realloc(w->big_fds, (w->nbig_fds + 1) * sizeof(*fds));
		if (!fds)
			return -1;
		w->big_fds = fds;
		fd = big_make(tid, tb->big);
		if (fd < 0)
			return -1;
		fds[w->nbig_fds++] = fd;
		st->nwrites++;
		if (wb_add(&w->bigs, &tid, &fd))
			return -1;
		pr_debug("table %u of %s: built, to be swapped in\n", tid, ps->s->name);
	}
	if (cv->kind != SPLIT_TBL_BIG) {
		struct split_table_val nv = { .kind = SPLIT_TBL_BIG, .nslots = SPLIT_TABLE_SLOTS };

		if (wb_add(&w->ents, &tid, &nv) || tbl_retire(w, tid, cv))
			return -1;
	}
	return 0;
gone:
	if (!rt)
		return 0;
	return push_u32(&w->del, &w->ndel, tid) || tbl_retire(w, tid, cv) ? -1 : 0;
}

static int in_plan_svc(const struct plan *p, __u32 id)
{
	return id < p->nby_id && p->by_id[id] >= 0;
}

/*
 * All table changes: new small tables' cells, new big tables (swapped into
 * big_v4 in one batch), then the tables_v3 entries in one batch (each entry
 * flips one table), then entries of tables that are gone. Expired
 * tombstones are dropped when anything changes. Tables of removed services
 * go later (remove_tables()).
 */
static int write_tables(struct split_state *st, const struct raw *r,
			struct plan *p, struct tbl_work *w, const char **what)
{
	struct tbl_bufs tb = { .nbuf = 1 };
	struct cell_alloc al = { 0 };
	int ret = -1;

	for (size_t i = 0; i < p->n; i++)
		if (p->svcs[i].s->neps > tb.nbuf)
			tb.nbuf = p->svcs[i].s->neps;
	*what = "planning tables";
	for (size_t i = 0; i < p->n; i++) {
		struct plan_svc *ps = &p->svcs[i];

		if (ps->clean)
			continue;
		if (ps->tables_current) {
			slots_from_raw(r, ps);
			continue;
		}
		for (int v6 = 0; v6 < 2; v6++)
			if (plan_table(st, r, ps, v6, w, &al, &tb, what))
				goto out;
	}
	if (w->cells.n || w->ents.n || w->ndel) {
		*what = "removing old tombstones";
		for (size_t i = 0; i < r->ntbls; i++)
			if (r->tbls[i].v.kind == SPLIT_TBL_FREED && tomb_expired(&r->tbls[i].v, tw_now(w)) &&
			    delete_quiet(st, st->tables_fd, &r->tbls[i].id))
				goto out;
	}
	/* Every new big table in one batch: one wait for the programs that
	 * may still run on the old inner maps (the kernel waits after each
	 * update of a map-of-maps), not one per table. */
	*what = "installing tables";
	if (wb_flush(st, &w->bigs))
		goto out;
	*what = "writing " SPLIT_MAP_SLOTS;
	if (wb_flush(st, &w->cells))
		goto out;
	*what = "switching tables";
	if (wb_flush(st, &w->ents))
		goto out;
	*what = "removing empty tables";
	for (size_t i = 0; i < w->ndel; i++)
		if (delete_quiet(st, st->tables_fd, &w->del[i]))
			goto out;
	ret = 0;
out:
	free(al.gap);
	free(tb.idx);
	free(tb.cnt);
	free(tb.big);
	free(tb.cur);
	return ret;
}

/* Tables of services that are gone (after their VIPs). */
static int remove_tables(struct split_state *st, const struct raw *r,
			 const struct plan *p, struct tbl_work *w)
{
	w->ndel = 0;
	for (size_t i = 0; i < r->nsvcs; i++) {
		if (in_plan_svc(p, r->svcs[i].id))
			continue;
		for (int v6 = 0; v6 < 2; v6++) {
			__u32 tid = SPLIT_TABLE_ID(r->svcs[i].id, v6);
			const struct raw_tbl *rt = raw_tbl_find(r, tid);

			if (rt && (push_u32(&w->del, &w->ndel, tid) || tbl_retire(w, tid, &rt->v)))
				return -1;
		}
	}
	for (size_t i = 0; i < w->ndel; i++)
		if (delete_quiet(st, st->tables_fd, &w->del[i]))
			return -1;
	return wb_flush(st, &w->ents);	/* tombstones */
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Plan services by name (the name is the first field the pointer sees). */
static int ps_name_cmp(const void *a, const void *b)
{
	const struct plan_svc *x = *(const struct plan_svc *const *)a;
	const struct plan_svc *y = *(const struct plan_svc *const *)b;

	return strcmp(x->s->name, y->s->name);
}

/*
 * svc_names: (name, ns) of services that are new (or written by an older
 * splitd), gone ones removed, and (name, "") of every name among them
 * recounted over the plan. A commit that adds or removes no service writes
 * nothing here. Scoped commits never do.
 */
static int write_names(struct split_state *st, const struct raw *r, const struct plan *p)
{
	const char **aff = NULL;
	const struct plan_svc **all = NULL;
	struct wbatch wb;
	size_t naff = 0;
	int ret = -1;

	if (st->names_fd < 0 || st->scope_id)
		return 0;
	wb_init(&wb, st->names_fd, sizeof(struct split_name_key), sizeof(struct split_name_val));
	aff = calloc(p->n + r->nsvcs + 1, sizeof(*aff));
	if (!aff)
		return -1;
	for (size_t i = 0; i < p->n; i++) {
		const struct plan_svc *ps = &p->svcs[i];
		ssize_t ri = raw_svc_index(r, ps->id);
		struct split_name_key k = { 0 };
		struct split_name_val v = { ps->id, 1 };

		if (ri >= 0 && r->svcs[ri].v.ep_end)
			continue;
		snprintf(k.name, sizeof(k.name), "%s", ps->s->name);
		snprintf(k.ns, sizeof(k.ns), "%s", ps->s->ns);
		if (wb_add(&wb, &k, &v))
			goto out;
		aff[naff++] = ps->s->name;
	}
	for (size_t i = 0; i < r->nsvcs; i++) {
		struct split_name_key k = { 0 };

		if (in_plan_svc(p, r->svcs[i].id))
			continue;
		snprintf(k.name, sizeof(k.name), "%s", r->svcs[i].v.name);
		snprintf(k.ns, sizeof(k.ns), "%s", r->svcs[i].v.ns);
		if (delete_quiet(st, st->names_fd, &k))
			goto out;
		aff[naff++] = r->svcs[i].v.name;
	}
	if (!naff) {
		ret = 0;
		goto out;
	}
	all = calloc(p->n + 1, sizeof(*all));
	if (!all)
		goto out;
	for (size_t i = 0; i < p->n; i++)
		all[i] = &p->svcs[i];
	sort_n(all, p->n, sizeof(*all), ps_name_cmp);
	sort_n(aff, naff, sizeof(*aff), name_cmp);
	for (size_t i = 0, a = 0; i < naff; i++) {
		struct split_name_key k = { 0 };
		struct split_name_val v = { 0, 0 };

		if (i && !strcmp(aff[i], aff[i - 1]))
			continue;
		snprintf(k.name, sizeof(k.name), "%s", aff[i]);
		/* both sorted by name: walk them together */
		while (a < p->n && strcmp(all[a]->s->name, aff[i]) < 0)
			a++;
		for (size_t b = a; b < p->n && !strcmp(all[b]->s->name, aff[i]); b++) {
			v.count++;
			v.svc_id = v.count == 1 ? all[b]->id : 0;
		}
		if (!v.count) {
			if (delete_quiet(st, st->names_fd, &k))
				goto out;
			continue;
		}
		if (wb_add(&wb, &k, &v))
			goto out;
	}
	ret = wb_flush(st, &wb);
out:
	wb_free(&wb);
	free(aff);
	free(all);
	return ret;
}

static void service_val(struct split_service_val *v, const struct plan_svc *ps, __u64 digest)
{
	memset(v, 0, sizeof(*v));
	snprintf(v->name, sizeof(v->name), "%s", ps->s->name);
	snprintf(v->ns, sizeof(v->ns), "%s", ps->s->ns);
	v->flags = (ps->s->routed ? SPLIT_SVC_F_ROUTED : 0) | (ps->s->l7 ? SPLIT_SVC_F_L7 : 0);
	v->digest = digest;
	v->ep_end = ps->ep_end;
	v->ver_end = ps->ver_end;
}

/* Queue a services entry unless the snapshot holds it already. */
static int put_service(const struct raw *r, struct wbatch *b, const struct plan_svc *ps,
		       __u64 digest)
{
	struct split_service_val v;
	ssize_t ri = raw_svc_index(r, ps->id);

	service_val(&v, ps, digest);
	if (ri >= 0 && !memcmp(&r->svcs[ri].v, &v, sizeof(v)))
		return 0;
	return wb_add(b, &ps->id, &v);
}

static int commit_once(struct split_state *st, const struct split_config *cfg,
		       const struct raw *r, struct split_err *err)
{
	struct plan p = { 0 };
	struct tbl_work tw = { 0 };
	struct wbatch svb, beb, vipb, wtb;
	const char *what = "";
	int ret = -1, need_grace = 0;
	bool vips = r->nvips > 0;

	wb_init(&svb, st->services_fd, sizeof(__u32), sizeof(struct split_service_val));
	wb_init(&beb, st->backends_fd, sizeof(__u32), sizeof(struct split_backend_val));
	/* A scoped commit (splitctl set) has no VIPs to write or remove: the
	 * map need not be open (split_state_open_some()). */
	for (size_t i = 0; i < cfg->nsvcs; i++)
		vips |= cfg->svcs[i].nvips > 0;
	if (vips && lazy_open(st, &st->svc_fd, err))
		return -2;	/* nothing written */
	wb_init(&vipb, st->svc_fd, sizeof(struct split_svc_key), sizeof(struct split_svc_val));
	wb_init(&wtb, st->weights_fd, sizeof(struct split_weight_key),
		sizeof(struct split_weight_val));
	wb_init(&tw.bigs, st->big_fd, sizeof(__u32), sizeof(__u32));
	wb_init(&tw.cells, st->slots_fd, sizeof(__u32), sizeof(struct split_slot_pair));
	wb_init(&tw.ents, st->tables_fd, sizeof(__u32), sizeof(struct split_table_val));

	/* Nothing is written until the whole plan stands. */
	if (plan_check(cfg, r, err) || plan_ids(r, cfg, commit_done(st, r), &p, err)) {
		ret = -2;
		goto out_plan;
	}
	st->nunchanged = 0;
	for (size_t i = 0; i < p.n; i++)
		st->nunchanged += p.svcs[i].clean;

	for (size_t i = 0; i < p.n; i++) {
		ssize_t ri = raw_svc_index(r, p.svcs[i].id);

		if (!p.svcs[i].clean)
			p.svcs[i].tables_current = ri >= 0 &&
						   r->svcs[ri].v.digest == p.svcs[i].digest;
	}

	/* 1. services and backends: nothing refers to new ones yet. A
	 * service whose tables will change gets digest 0 ("unknown") until
	 * they are all in (step 3), so a rollback rebuilds them. */
	what = "writing services";
	for (size_t i = 0; i < p.n; i++)
		if (!p.svcs[i].clean &&
		    put_service(r, &svb, &p.svcs[i],
				p.svcs[i].tables_current ? p.svcs[i].digest : 0))
			goto fail;
	if (wb_flush(st, &svb))
		goto fail;
	what = "writing backends";
	for (size_t i = 0; i < p.n; i++) {
		const struct split_service *s = p.svcs[i].s;

		for (size_t e = 0; !p.svcs[i].clean && e < s->neps; e++) {
			struct split_backend_val b = { 0 };
			__u32 id = p.svcs[i].ep_ids[e];
			struct be_idx key = { id, 0 }, *bi = r->nbes ?
				bsearch(&key, r->be_by_id, r->nbes, sizeof(key), be_idx_cmp) : NULL;
			int ri = bi ? (int)bi->i : -1;

			split_addr_to_be(b.addr, &s->eps[e].addr);
			b.family = s->eps[e].addr.family;
			b.svc_id = p.svcs[i].id;
			b.version_id = p.svcs[i].ep_ver[e];
			if (ri >= 0 && !memcmp(&r->bes[ri].v, &b, sizeof(b)))
				continue;
			if (wb_add(&beb, &id, &b))
				goto fail;
		}
	}
	if (wb_flush(st, &beb))
		goto fail;
	/* 2. tables, each swapped in whole. */
	if (write_tables(st, r, &p, &tw, &what))
		goto fail;
	/* 3. digests, VIPs and weights. */
	what = "writing services";
	for (size_t i = 0; i < p.n; i++)
		if (!p.svcs[i].tables_current &&
		    put_service(r, &svb, &p.svcs[i], p.svcs[i].digest))
			goto fail;
	if (wb_flush(st, &svb))
		goto fail;
	what = "writing VIPs";
	for (size_t i = 0; i < p.n; i++) {
		const struct split_service *s = p.svcs[i].s;

		for (size_t a = 0; !p.svcs[i].clean && a < s->nvips; a++)
			for (size_t k = 0; k < s->nports; k++) {
				struct split_svc_key key;
				struct split_svc_val val = { 0 };
				const struct raw_vip *rv;

				split_vip_key(&key, &s->vips[a], &s->ports[k]);
				val.svc_id = p.svcs[i].id;
				val.table_id = SPLIT_TABLE_ID(p.svcs[i].id, key.family == 6);
				val.target_port = htons(s->ports[k].target_port);
				if (s->l7 && s->ports[k].proto == IPPROTO_TCP)
					val.flags = SPLIT_SVC_F_L7; /* connect(): see l7_listen */
				rv = raw_vip_find(r, &key);
				if (rv && !memcmp(&rv->v, &val, sizeof(val)))
					continue;
				if (wb_add(&vipb, &key, &val))
					goto fail;
			}
	}
	if (wb_flush(st, &vipb))
		goto fail;
	what = "writing weights";
	for (size_t i = 0; i < p.n; i++) {
		const struct split_service *s = p.svcs[i].s;

		for (size_t k = 0; !p.svcs[i].clean && k < s->nversions; k++) {
			struct split_weight_key key = { p.svcs[i].id, p.svcs[i].ver_ids[k] };
			struct split_weight_val val = { 0 };
			const struct raw_wt *rw;

			snprintf(val.service, sizeof(val.service), "%s", s->name);
			snprintf(val.version, sizeof(val.version), "%s", s->versions[k].name);
			val.weight = s->versions[k].weight;
			for (size_t e = 0; e < s->neps; e++) {
				if (strcmp(s->eps[e].version, s->versions[k].name))
					continue;
				if (s->eps[e].addr.family == 4)
					val.endpoints4++;
				else
					val.endpoints6++;
			}
			val.slots4 = p.svcs[i].slots[0][k];
			val.slots6 = p.svcs[i].slots[1][k];
			rw = raw_wt_find(r, key.svc_id, key.version_id);
			if (rw && !memcmp(&rw->v, &val, sizeof(val)))
				continue;
			if (wb_add(&wtb, &key, &val))
				goto fail;
		}
	}
	if (wb_flush(st, &wtb))
		goto fail;
	/* 4. removals: VIPs first, then what only they pointed to. */
	what = "removing VIPs";
	for (size_t i = 0; i < r->nvips; i++) {
		const struct raw_vip *rv = &r->vips[i];
		int j = rv->v.svc_id < p.nby_id ? p.by_id[rv->v.svc_id] : -1;
		int keep = j >= 0 && p.svcs[j].clean;

		for (size_t a = 0; !keep && j >= 0 && a < p.svcs[j].s->nvips; a++)
			for (size_t k = 0; k < p.svcs[j].s->nports; k++) {
				struct split_svc_key key;

				split_vip_key(&key, &p.svcs[j].s->vips[a], &p.svcs[j].s->ports[k]);
				keep |= !memcmp(&key, &rv->k, sizeof(key));
			}
		if (!keep && delete_quiet(st, st->svc_fd, &rv->k))
			goto fail;
	}
	what = "removing tables";
	if (remove_tables(st, r, &p, &tw))
		goto fail;
	what = "removing weights";
	for (size_t i = 0; i < r->nwts; i++) {
		__u32 sid = r->wts[i].k.svc_id;
		int j = sid < p.nby_id ? p.by_id[sid] : -1;

		if (j >= 0 && (p.svcs[j].clean ||
			       id_in_use(p.svcs[j].ver_ids, p.svcs[j].s->nversions,
					 r->wts[i].k.version_id)))
			continue;
		if (delete_quiet(st, st->weights_fd, &r->wts[i].k))
			goto fail;
		if (stats_fd(st, &st->ver_stats_fd, SPLIT_MAP_VER_STATS) >= 0)
			bpf_map_delete_elem(st->ver_stats_fd, &r->wts[i].k);
		if (stats_fd(st, &st->sk_ver_stats_fd, SPLIT_MAP_SK_VER_STATS) >= 0)
			bpf_map_delete_elem(st->sk_ver_stats_fd, &r->wts[i].k);
	}
	what = "removing backends";
	for (size_t i = 0; i < r->nbes; i++) {
		if (svc_clean(&p, r->bes[i].v.svc_id) || be_in_plan(&p, r->bes[i].id))
			continue;
		if (!need_grace++)
			grace_wait();
		if (delete_quiet(st, st->backends_fd, &r->bes[i].id))
			goto fail;
		/* A draining flow may count into it again; stats readers
		 * only report ids that are in `backends`. */
		if (stats_fd(st, &st->be_stats_fd, SPLIT_MAP_BE_STATS) >= 0)
			bpf_map_delete_elem(st->be_stats_fd, &r->bes[i].id);
		if (stats_fd(st, &st->sk_be_stats_fd, SPLIT_MAP_SK_BE_STATS) >= 0)
			bpf_map_delete_elem(st->sk_be_stats_fd, &r->bes[i].id);
	}
	what = "removing big tables";
	for (size_t i = 0; i < tw.nbig_del; i++) {
		if (!need_grace++)
			grace_wait();
		if (delete_quiet(st, st->big_fd, &tw.big_del[i]))
			goto fail;
	}
	what = "removing services";
	for (size_t i = 0; i < r->nsvcs; i++)
		if (!in_plan_svc(&p, r->svcs[i].id) &&
		    delete_quiet(st, st->services_fd, &r->svcs[i].id))
			goto fail;
	what = "writing " SPLIT_MAP_SVC_NAMES;
	if (write_names(st, r, &p))
		goto fail;
	done_note(st, r, &p);
	ret = 0;
	goto out_plan;
fail:
	split_errf(err, "%s under %s: %s", what, st->pin_dir, strerror(errno));
out_plan:
	wb_free(&svb);
	wb_free(&beb);
	wb_free(&vipb);
	wb_free(&wtb);
	for (size_t i = 0; i < tw.nbig_fds; i++)
		close(tw.big_fds[i]);
	free(tw.big_fds);
	wb_free(&tw.bigs);
	wb_free(&tw.cells);
	wb_free(&tw.ents);
	free(tw.del);
	free(tw.big_del);
	plan_free(&p);
	return ret;
}

/* What split_state_commit_keep() keeps to put the state it replaced back:
 * the commit's own read of the maps (a handle without the snapshot), or
 * the inverse of its writes, to apply to the snapshot as it left it. */
struct split_state_undo {
	struct raw r;
	bool have_r;
	struct snap_op *inv;
	size_t ninv, capinv;
	bool have_inv;
	__u64 seq;		/* the snapshot's, right after the commit */
};

void split_state_undo_drop(struct split_state *st)
{
	struct split_state_undo *u = st->undo;

	if (!u)
		return;
	raw_free(&u->r);
	free(u->inv);
	free(u);
	st->undo = NULL;
}

static int commit_main(struct split_state *st, const struct split_config *cfg, bool keep,
		       struct split_err *err)
{
	struct split_config old = { 0 };
	struct split_err rb_err;
	struct split_state_undo *u = NULL;
	struct raw r, r2;
	int ret;

	split_state_undo_drop(st);
	if (keep && !(u = calloc(1, sizeof(*u))))
		return split_errc(err, ENOMEM, "out of memory");
	if ((ret = raw_read(st, &r, err))) {
		free(u);
		return ret;
	}
	if (!st->changed) {
		/* The first commit under this lock: the generation moves
		 * before any write, and again at unlock, so that another
		 * handle's snapshot (split_state_cache) is stale even if this
		 * process dies half way through. Ours follows. */
		__u64 g = split_state_generation(st, SPLIT_GEN_COMMITTED);

		if (st->gen_fd >= 0 && !split_state_set_generation(st, SPLIT_GEN_COMMITTED, g + 1) &&
		    st->snap && st->snap->have && st->snap_gen == g)
			st->snap_gen = g + 1;
	}
	st->changed = 1;	/* readers of the generation look again */
	ret = commit_once(st, cfg, &r, err);
	if (!ret && r.borrowed) {
		/* The snapshot takes the writes; the inverse of them is what
		 * a put back needs (r is not used below). */
		if (!snap_apply(st, u ? &u->inv : NULL, u ? &u->ninv : NULL,
				u ? &u->capinv : NULL) && u) {
			u->have_inv = true;
			u->seq = st->snap->seq;
		}
	} else if (!ret) {
		if (u) {	/* what was in force: the commit's own read */
			u->r = r;
			u->have_r = true;
			memset(&r, 0, sizeof(r));
		}
	} else if (ret != -2) {
		st->snap_stale = 1;	/* written half way, then put back: read again */
	} else if (st->snap) {
		st->snap->nops = 0;	/* refused before any write */
	}
	if (ret == -2)
		ret = -EINVAL; /* refused before any write */
	else if (ret && (ret = errno > 0 ? -errno : -EIO) &&
		 !raw_to_config(&r, &old) && !raw_read(st, &r2, &rb_err)) {
		/* Put back what was in force before this commit. */
		const char *more = " (nothing changed: the previous state was restored)";
		char tail[SPLIT_ERR_LEN + 32];

		if (commit_once(st, &old, &r2, &rb_err)) {
			snprintf(tail, sizeof(tail), "; rollback failed too: %s", rb_err.msg);
			more = tail;
		}
		/* r2 is the maps before the rollback wrote: read them again. */
		st->snap_stale = 1;
		if (err) {
			size_t len = strlen(err->msg);

			snprintf(err->msg + len, sizeof(err->msg) - len, "%s", more);
		}
		raw_free(&r2);
	}
	split_config_free(&old);
	raw_free(&r);
	if (st->snap_stale) {
		snap_forget(st);
		st->snap_stale = 0;
	}
	if (!ret && u)
		st->undo = u;
	else if (u) {
		raw_free(&u->r);
		free(u->inv);
		free(u);
	}
	return ret;
}

int split_state_commit(struct split_state *st, const struct split_config *cfg,
		       struct split_err *err)
{
	return commit_main(st, cfg, false, err);
}

int split_state_commit_keep(struct split_state *st, const struct split_config *cfg,
			    struct split_err *err)
{
	return commit_main(st, cfg, true, err);
}

int split_state_put_back(struct split_state *st, struct split_err *err)
{
	struct split_state_undo *u = st->undo;
	struct split_config prev = { 0 };
	struct raw r = { 0 };
	int ret;

	if (!u || (!u->have_r && !u->have_inv))
		return split_errf(err, "the state before the last commit was not kept");
	if (u->have_r) {
		r = u->r;
		memset(&u->r, 0, sizeof(u->r));
	} else {
		/* The snapshot as the commit left it, its writes undone. */
		struct split_state_snap *sn = st->snap;
		const struct raw *c = sn ? &sn->r : NULL;
		struct snap_op *rev = NULL;

		if (!sn || !sn->have || sn->seq != u->seq)
			return split_errf(err, "the state before the last commit is no longer known");
		r.svcs = malloc((c->nsvcs + 1) * sizeof(*c->svcs));
		r.wts = malloc((c->nwts + 1) * sizeof(*c->wts));
		r.bes = malloc((c->nbes + 1) * sizeof(*c->bes));
		r.vips = malloc((c->nvips + 1) * sizeof(*c->vips));
		r.tbls = malloc((c->ntbls + 1) * sizeof(*c->tbls));
		rev = malloc((u->ninv + 1) * sizeof(*rev));
		ret = !r.svcs || !r.wts || !r.bes || !r.vips || !r.tbls || !rev;
		if (!ret) {
			memcpy(r.svcs, c->svcs, c->nsvcs * sizeof(*c->svcs));
			memcpy(r.wts, c->wts, c->nwts * sizeof(*c->wts));
			memcpy(r.bes, c->bes, c->nbes * sizeof(*c->bes));
			memcpy(r.vips, c->vips, c->nvips * sizeof(*c->vips));
			memcpy(r.tbls, c->tbls, c->ntbls * sizeof(*c->tbls));
			r.nsvcs = c->nsvcs;
			r.nwts = c->nwts;
			r.nbes = c->nbes;
			r.nvips = c->nvips;
			r.ntbls = c->ntbls;
			for (size_t i = 0; i < u->ninv; i++)
				rev[i] = u->inv[u->ninv - 1 - i];
			ret = raw_apply_ops(&r, rev, u->ninv, NULL, NULL, NULL);
		}
		free(rev);
		if (ret) {
			raw_free(&r);
			return split_errc(err, ENOMEM, "out of memory");
		}
	}
	ret = raw_to_config(&r, &prev);
	raw_free(&r);
	split_state_undo_drop(st);
	if (ret)
		return split_errc(err, ENOMEM, "out of memory");
	ret = split_state_commit(st, &prev, err);
	split_config_free(&prev);
	return ret;
}
