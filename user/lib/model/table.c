/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * table.c - the selection table of one service for one address family.
 *
 * The datapath picks slot = random (or flow hash) % nslots and sends the
 * connection to table[slot]. Two properties matter:
 *
 *  - Shares are exact. A version of weight w gets floor(n * w / W) slots,
 *    plus one of the leftover slots by largest remainder (ties by version
 *    name), so 99/1 is 99/1 and 1/9999 still gets its one slot in 10007.
 *    Katran's default Maglev builder ignores the weights after the first
 *    round, so 90/10 comes out close to 50/50: that is why we do not use
 *    it.
 *
 *  - Changes are small. Moving D% of the weight from one version to another
 *    should move about D% of the slots, not reshuffle the table, so that
 *    nodes rolling a canary forward keep most flows where they were.
 *
 * Both come from an exponential race with exact quotas. Every (slot s,
 * candidate v) pair gets a key -ln(U(s, v)) / w_v, where U in (0, 1) is a
 * hash of (service name, candidate name, s): the first arrival of a Poisson
 * clock of rate w_v, so without quotas v would win a w_v / W share of the
 * slots (weighted rendezvous hashing). Walking all pairs in increasing key
 * order, slot s goes to v when s is still free and v still has quota left.
 * Changing w_v only rescales v's keys: the order of v's own pairs never
 * changes, so most slots keep their winner. With two versions, 90/10 ->
 * 80/20 moves exactly the 1000 slots (10.0%) that must move; in random
 * trials the two-version figure is the minimum in most cases and at worst
 * ~15% above it. With three or more, the versions that did not change can
 * trade slots among themselves (as in plain weighted rendezvous):
 * 50/20/30 -> 40/20/40 moves 12.2% instead of 10%. The unit tests print
 * these figures.
 *
 * Level 1 races the eligible versions (weight > 0 and at least one endpoint
 * of the family) for all slots. Level 2 races the endpoints of each version,
 * all of weight 1, for that version's slots, keyed by the address as text.
 * With equal weights the key order is just the order of U, so level 2 skips
 * the logarithm.
 *
 * The walk is lazy rather than a sort of all pairs: each slot sits in a
 * heap with its best pair among candidates that still have quota; when the
 * candidate of the smallest pair is full, the slot recomputes its best pair
 * and goes back in. Same result as the full sort (same total order: key,
 * slot, candidate index), but memory is O(slots + candidates) and a
 * version with thousands of endpoints does not need slots x endpoints pairs.
 *
 * Everything is integer or exactly rounded IEEE arithmetic (the logarithm
 * is fixed point, see neg_log2_u()), so every node builds the same table,
 * and no libm is needed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "model.h"
#include "table.h"
#include "table_test.h"

#define FNV_OFFSET	0xcbf29ce484222325ULL
#define FNV_PRIME	0x100000001b3ULL
#define GOLDEN_GAMMA	0x9e3779b97f4a7c15ULL
#define LOG_FRAC_BITS	32

/* FNV-1a 64 over s including its NUL, which separates the fields. */
static uint64_t fnv1a(uint64_t h, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	do {
		h ^= *p;
		h *= FNV_PRIME;
	} while (*p++);
	return h;
}

/* Hash of (service name, candidate name): the part of the hash that does not
 * depend on the slot. */
static uint64_t name_prefix(const char *svc, const char *name)
{
	return fnv1a(fnv1a(FNV_OFFSET, svc), name);
}

/* splitmix64 finalizer, with the slot mixed in. */
static uint64_t slot_hash(uint64_t prefix, uint32_t slot)
{
	uint64_t x = prefix + ((uint64_t)slot + 1) * GOLDEN_GAMMA;

	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/*
 * -log2(U) for U = ((h >> 11) + 0.5) * 2^-53, in fixed point with
 * LOG_FRAC_BITS fraction bits (result < 54 * 2^32). log2 rather than ln:
 * the constant factor changes no comparison. Bit by bit: for f in [1, 2),
 * f^2 >= 2 tells the next bit of log2(f); f keeps 31 fraction bits, so the
 * result is good to about 2^-31, plenty to order keys. Integer only, so the
 * bits are the same on every machine, whatever its libm or FMA contraction.
 */
static uint64_t neg_log2_u(uint64_t h)
{
	uint64_t x = ((h >> 11) << 1) | 1;	/* U = x * 2^-54 */
	int e = 63 - __builtin_clzll(x);	/* x = 2^e * f */
	uint64_t f = e >= 31 ? x >> (e - 31) : x << (31 - e); /* Q1.31 */
	uint64_t frac = 0;

	for (int i = 0; i < LOG_FRAC_BITS; i++) {
		uint64_t bit;

		f = (f * f) >> 31;	/* [1, 4) */
		bit = f >> 32;		/* no branch: it would mispredict */
		frac = frac << 1 | bit;
		f >>= bit;
	}
	return ((uint64_t)(54 - e) << LOG_FRAC_BITS) - frac;
}

/* neg_log2_u() of two hashes at once: the same steps, bit for bit, but the
 * two dependency chains interleave, so a CPU runs them side by side. */
static void neg_log2_u2(uint64_t h0, uint64_t h1, uint64_t *o0, uint64_t *o1)
{
	uint64_t x0 = ((h0 >> 11) << 1) | 1, x1 = ((h1 >> 11) << 1) | 1;
	int e0 = 63 - __builtin_clzll(x0), e1 = 63 - __builtin_clzll(x1);
	uint64_t f0 = e0 >= 31 ? x0 >> (e0 - 31) : x0 << (31 - e0);
	uint64_t f1 = e1 >= 31 ? x1 >> (e1 - 31) : x1 << (31 - e1);
	uint64_t fr0 = 0, fr1 = 0;

	for (int i = 0; i < LOG_FRAC_BITS; i++) {
		uint64_t b0, b1;

		f0 = (f0 * f0) >> 31;
		f1 = (f1 * f1) >> 31;
		b0 = f0 >> 32;
		b1 = f1 >> 32;
		fr0 = fr0 << 1 | b0;
		fr1 = fr1 << 1 | b1;
		f0 >>= b0;
		f1 >>= b1;
	}
	*o0 = ((uint64_t)(54 - e0) << LOG_FRAC_BITS) - fr0;
	*o1 = ((uint64_t)(54 - e1) << LOG_FRAC_BITS) - fr1;
}

/*
 * neg_log2_u(h) approximately, in double arithmetic: 2^32 (54 - log2 x) for
 * its x = 2^e m, with m in [1/sqrt 2, sqrt 2) and log2 m from the series
 * (2 / ln 2) atanh t, t = (m - 1) / (m + 1), to t^9 (|t| < 0.1716: the
 * rest is under 1.1e-9, 5 units of 2^-32). neg_log2_u() itself is within
 * ~10 units of the true value (its mantissa keeps 31 bits, each squaring
 * truncates), so the two differ by less than LOG_APPROX_ERR (test_table
 * checks 4 times less over a million hashes). Used only where a key that
 * far from another needs no exact logarithm to be ordered (race_two()):
 * the order of the keys, and so the tables, stay bit for bit those of the
 * exact logarithm on every machine, whatever its rounding of this one.
 */
#define LOG_APPROX_ERR	64.0

static inline double neg_log2_approx(uint64_t h)
{
	uint64_t x = ((h >> 11) << 1) | 1;
	int e = 63 - __builtin_clzll(x);
	double m = (double)x / (double)(1ULL << e), t, t2, s;

	if (m > 1.4142135623730951) {
		m *= 0.5;
		e++;
	}
	t = (m - 1.0) / (m + 1.0);
	t2 = t * t;
	s = t * (1.0 + t2 * (1.0 / 3 + t2 * (1.0 / 5 + t2 * (1.0 / 7 + t2 * (1.0 / 9)))));
	return ((double)(54 - e) - s * 2.8853900817779268) * 4294967296.0;
}

double split_table_log_err(uint64_t h)
{
	double d = neg_log2_approx(h) - (double)neg_log2_u(h);

	return d < 0 ? -d : d;
}

/* ---- the race ------------------------------------------------------------ */

struct pick {
	double key;
	uint32_t si;		/* index into race.slot (or, in race_two(), the slot) */
	uint32_t c;		/* candidate */
};

struct race {
	size_t n;		/* slots in the race */
	const uint32_t *slot;	/* their numbers, ascending; NULL: 0..n-1 */
	size_t ncand;
	uint32_t *quota;	/* per candidate, consumed */
	const uint64_t *prefix;	/* per candidate: name_prefix() */
	const uint32_t *weight;	/* per candidate, or NULL: all 1 */
	uint32_t *won;		/* out: candidate per slot index */
	struct pick *heap;	/* scratch: n */
	uint32_t *open;		/* scratch: candidates with quota left */
	uint32_t *pos;		/* scratch: index of a candidate in open */
	size_t nopen;
	bool walk_only;		/* no shortcuts (test_table compares both) */
};

/* The number of the race's slot index si. */
static inline uint32_t race_slot(const struct race *r, size_t si)
{
	return r->slot ? r->slot[si] : (uint32_t)si;
}

/*
 * The rank of a pair of hash h: 2^53 - 1 - (h >> 11), smaller for a larger
 * U. With equal weights it is the key; with weights, the key of a
 * candidate never decreases with its rank (neg_log2_u() never increases
 * with U, see pick_rank_window()), so a candidate's pairs in rank order
 * are in key order but for equal keys.
 */
static inline uint64_t hash_rank(uint64_t h)
{
	return (1ULL << 53) - 1 - (h >> 11);
}

/* The key of candidate c's pair whose hash is h. */
static inline double hash_key(const struct race *r, uint32_t c, uint64_t h)
{
	/* Equal weights: smaller key <=> larger U, exactly. */
	if (!r->weight)
		return (double)hash_rank(h);
	return (double)neg_log2_u(h) / (double)r->weight[c];
}

static double race_key(const struct race *r, uint32_t slot, uint32_t c)
{
	return hash_key(r, c, slot_hash(r->prefix[c], slot));
}

/* hash_key() of candidates a and b (hashes ha, hb) together. */
static void hash_key2(const struct race *r, uint32_t a, uint32_t b, uint64_t ha, uint64_t hb,
		      double *ka, double *kb)
{
	uint64_t la, lb;

	if (!r->weight) {
		*ka = (double)hash_rank(ha);
		*kb = (double)hash_rank(hb);
		return;
	}
	neg_log2_u2(ha, hb, &la, &lb);
	*ka = (double)la / (double)r->weight[a];
	*kb = (double)lb / (double)r->weight[b];
}

static bool pick_less(const struct pick *a, const struct pick *b)
{
	if (a->key != b->key)
		return a->key < b->key;
	if (a->si != b->si)
		return a->si < b->si;
	return a->c < b->c;
}

/* The best pair of slot index si among candidates with quota left. */
static struct pick best_pick(const struct race *r, uint32_t si)
{
	struct pick best = { 0, si, 0 }, p = { 0, si, 0 };

	for (size_t i = 0; i < r->nopen; i++) {
		p.c = r->open[i];
		p.key = race_key(r, race_slot(r, si), p.c);
		if (i == 0 || pick_less(&p, &best))
			best = p;
	}
	return best;
}

static void sift_down(struct pick *h, size_t n, size_t i)
{
	struct pick x = h[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && pick_less(&h[c + 1], &h[c]))
			c++;
		if (!pick_less(&h[c], &x))
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = x;
}

static void race_close(struct race *r, uint32_t c)
{
	uint32_t last = r->open[--r->nopen];

	r->open[r->pos[c]] = last;
	r->pos[last] = r->pos[c];
}

static void pick_swap(struct pick *a, struct pick *b)
{
	struct pick t = *a;

	*a = *b;
	*b = t;
}

/* Reorder p[0..n) so that its k smallest pairs (a strict total order, so
 * the set is unique) come first, in any order (k < n). Quickselect with a
 * median-of-three pivot: O(n) on average. */
static void pick_select(struct pick *p, size_t n, size_t k)
{
	size_t lo = 0, hi = n;	/* p[k] belongs in [lo, hi) */

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2, last = hi - 1, store = lo;

		if (hi - lo >= 3) {	/* the median of three goes to last */
			if (pick_less(&p[mid], &p[lo]))
				pick_swap(&p[mid], &p[lo]);
			if (pick_less(&p[last], &p[lo]))
				pick_swap(&p[last], &p[lo]);
			if (pick_less(&p[mid], &p[last]))
				pick_swap(&p[mid], &p[last]);
		}
		for (size_t i = lo; i < last; i++)
			if (pick_less(&p[i], &p[last]))
				pick_swap(&p[i], &p[store++]);
		pick_swap(&p[store], &p[last]);	/* [lo, store) < p[store] < (store, hi) */
		if (store == k)
			return;
		if (store < k)
			lo = store + 1;
		else
			hi = store;
	}
}

/* Candidates with quota, ascending, into r->open. */
static void race_open(struct race *r)
{
	r->nopen = 0;
	for (uint32_t c = 0; c < r->ncand; c++) {
		if (!r->quota[c])
			continue;
		r->pos[c] = r->nopen;
		r->open[r->nopen++] = c;
	}
}

/* The walk (see the top of this file). Quotas must add up to r->n; every
 * candidate with quota is in r->open (race_open()). */
static void race_run(struct race *r)
{
	size_t hn = r->n;

	for (size_t si = 0; si < hn; si++)
		r->heap[si] = best_pick(r, si);
	for (size_t i = hn / 2; i-- > 0;)
		sift_down(r->heap, hn, i);

	while (hn) {
		struct pick top = r->heap[0];

		if (r->quota[top.c]) {
			r->won[top.si] = top.c;
			if (!--r->quota[top.c])
				race_close(r, top.c);
			r->heap[0] = r->heap[--hn];
		} else {
			r->heap[0] = best_pick(r, top.si);
		}
		sift_down(r->heap, hn, 0);
	}
}

/* ---- the race on the table itself ----------------------------------------- */

/*
 * Where a build writes: out[s], 32 or 16 bits a slot. The build keeps its
 * work there too (below), so that a table costs no memory per slot but its
 * own: on a VM a fresh page costs more than hashing every slot again.
 */
struct tab_out {
	uint32_t *w;
	uint16_t *h;		/* used if not NULL */
};

static inline uint32_t out_get(const struct tab_out *o, size_t s)
{
	return o->h ? o->h[s] : o->w[s];
}

static inline void out_set(const struct tab_out *o, size_t s, uint32_t v)
{
	if (o->h)
		o->h[s] = (uint16_t)v;
	else
		o->w[s] = v;
}

/*
 * The slots of a race, in a table: every slot (all), or those that hold
 * mark. A slot that candidate c wins gets base + c. Level 1 marks each slot
 * with its version; level 2 runs the versions from the last one down, its
 * endpoints numbered from base = the version's first endpoint (ep_ref
 * index, which is at least the version's index): what it writes never
 * equals the mark of a version still to come, which is smaller.
 */
struct group {
	struct tab_out out;
	size_t nslots;		/* of the table */
	bool all;
	uint32_t mark;
	uint32_t base;
};

static inline bool in_group(const struct group *g, size_t s)
{
	return g->all || out_get(&g->out, s) == g->mark;
}

#define RANK_BITS	8
#define RANK_SHIFT	(53 - RANK_BITS)

/*
 * The buckets (of a rank's top RANK_BITS bits) in which to compare the
 * exact keys: b, the bucket of the pair whose position decides. With equal
 * weights the key is the rank: b alone. With weights, pairs of equal keys
 * can have different ranks (a key is the same for ranks that share the
 * 32 bits of neg_log2_u()'s mantissa, and little more: one 2^-32 step of
 * its result is at least ~0.7 step of the mantissa), so they can straddle
 * the edge of a bucket (2^45 ranks wide) but never a whole bucket: the
 * bucket on either side of b as well. Pairs below the window have smaller
 * keys than any in it, pairs above it larger ones.
 */
static void pick_rank_window(const struct race *r, size_t b, size_t *lo, size_t *hi)
{
	*lo = *hi = b;
	if (!r->weight)
		return;
	if (*lo)
		(*lo)--;
	if (*hi + 1 < (1u << RANK_BITS))
		(*hi)++;
}

/*
 * Two candidates a < b, the common case (two versions; a version with two
 * endpoints), without the heap and without memory per slot. Every slot
 * prefers the candidate of its smaller pair. At most one candidate, X, is
 * preferred by more slots than its quota. In the walk, the other one, Y,
 * gets every slot that prefers it (its pair comes first and it cannot run
 * out: it ends with exactly its quota); X gets the slots that prefer it in
 * the order of X's pairs until its quota is gone, and Y the rest. So: X
 * keeps its quota's worth of its smallest pairs among the slots that
 * prefer it. The same result as race_run()'s walk, pair for pair
 * (test_table checks it).
 *
 * Pass 1 writes each slot's preference into the table and counts, per
 * candidate, the ranks of the pairs preferred in RANK_BITS buckets; the
 * count tells the bucket of X's quota-th pair. Pass 2 hashes X's pairs
 * again: those of lower buckets stay X, higher ones go to Y, and those of
 * the window around that bucket (a few dozen) get their exact keys, the
 * smallest kept. 0 or -ENOMEM.
 */
/* race_two()'s pass 1: each slot of g prefers a or b (written into the
 * table), the rank buckets of the pairs preferred counted in hist; returns
 * how many prefer a. Inlined with constant flags: the inner loop of a flip. */
static inline __attribute__((always_inline)) size_t
two_prefer(const struct race *r, const struct group *g, uint32_t a, uint32_t b,
	   uint32_t (*hist)[1u << RANK_BITS], const bool weighted, const bool narrow,
	   const bool all)
{
	const uint64_t pa = r->prefix[a], pb = r->prefix[b];
	const uint32_t va = g->base + a, vb = g->base + b, mark = g->mark;
	uint16_t *const o16 = g->out.h;
	uint32_t *const o32 = g->out.w;
	const size_t n = g->nslots;
	size_t na = 0;

	for (size_t s = 0; s < n; s++) {
		uint64_t ha, hb;
		bool to_a;

		if (!all && (narrow ? o16[s] : o32[s]) != mark)
			continue;
		ha = slot_hash(pa, (uint32_t)s);
		hb = slot_hash(pb, (uint32_t)s);
		if (weighted) {
			/* Keys La / wa and Lb / wb (the logarithms). Apart
			 * by more than the approximations' error (and a
			 * margin for their rounding): a's is smaller, or b's
			 * is larger by more than a rounding of the quotients
			 * could hide. Else (about never) the exact keys; equal
			 * keys, same slot: the lower candidate. */
			const double wa = r->weight[a], wb = r->weight[b];
			const double xa = neg_log2_approx(ha), xb = neg_log2_approx(hb);
			const double slack = 1.0 + 0x1p-40;

			if ((xa + LOG_APPROX_ERR) * wb * slack < (xb - LOG_APPROX_ERR) * wa) {
				to_a = true;
			} else if ((xb + LOG_APPROX_ERR) * wa * slack < (xa - LOG_APPROX_ERR) * wb) {
				to_a = false;
			} else {
				double ka, kb;

				hash_key2(r, a, b, ha, hb, &ka, &kb);
				to_a = ka <= kb;
			}
		} else {
			to_a = (ha >> 11) >= (hb >> 11);	/* the keys are the ranks */
		}
		if (narrow)
			o16[s] = (uint16_t)(to_a ? va : vb);
		else
			o32[s] = to_a ? va : vb;
		hist[!to_a][hash_rank(to_a ? ha : hb) >> RANK_SHIFT]++;
		na += to_a;
	}
	return na;
}

/* race_two()'s pass 2, on the slots that prefer x (base + x in the table):
 * those of a rank bucket above the window go to y (all of them when x
 * keeps none: !need), those in it into win[]. Returns how many are in win. */
static inline __attribute__((always_inline)) size_t
two_trim(const struct race *r, const struct group *g, uint32_t x, uint32_t y, size_t need,
	 size_t lo, size_t hi, struct pick *win, const bool narrow)
{
	const uint64_t px = r->prefix[x];
	const uint32_t vx = g->base + x, vy = g->base + y;
	uint16_t *const o16 = g->out.h;
	uint32_t *const o32 = g->out.w;
	const size_t n = g->nslots;
	size_t nwin = 0;

	for (size_t s = 0; s < n; s++) {
		uint64_t h;
		size_t k;

		if ((narrow ? o16[s] : o32[s]) != vx)
			continue;
		h = slot_hash(px, (uint32_t)s);
		k = hash_rank(h) >> RANK_SHIFT;
		if (!need || k > hi) {
			if (narrow)
				o16[s] = (uint16_t)vy;
			else
				o32[s] = vy;
		} else if (k >= lo) {
			win[nwin++] = (struct pick){ hash_key(r, x, h), (uint32_t)s, x };
		}
	}
	return nwin;
}

static int race_two(struct race *r, const struct group *g, uint32_t a, uint32_t b)
{
	uint32_t hist[2][1u << RANK_BITS];
	struct pick stack[64], *win = stack;
	size_t na, nx, need, below = 0, nwin = 0, keep, lo, hi, k;
	uint32_t x, y, xi;

	memset(hist, 0, sizeof(hist));
	if (r->weight)
		na = two_prefer(r, g, a, b, hist, true, g->out.h, g->all);
	else if (g->out.h)
		na = g->all ? two_prefer(r, g, a, b, hist, false, true, true) :
			      two_prefer(r, g, a, b, hist, false, true, false);
	else
		na = g->all ? two_prefer(r, g, a, b, hist, false, false, true) :
			      two_prefer(r, g, a, b, hist, false, false, false);
	x = na > r->quota[a] ? a : b;
	y = x == a ? b : a;
	xi = x == b;
	nx = x == a ? na : r->n - na;
	need = r->quota[x];
	r->quota[a] = r->quota[b] = 0;
	r->nopen = 0;
	if (nx <= need)
		return 0;	/* every slot has its preference */
	lo = hi = 0;
	if (need) {
		for (k = 0; below + hist[xi][k] < need; k++)
			below += hist[xi][k];
		pick_rank_window(r, k, &lo, &hi);
		for (size_t i = lo; i < k; i++)
			below -= hist[xi][i];
		for (size_t i = lo; i <= hi; i++)
			nwin += hist[xi][i];
		if (nwin > sizeof(stack) / sizeof(stack[0]) &&
		    !(win = malloc(nwin * sizeof(*win))))
			return -ENOMEM;
	}
	nwin = g->out.h ? two_trim(r, g, x, y, need, lo, hi, win, true) :
			  two_trim(r, g, x, y, need, lo, hi, win, false);
	keep = need - below;	/* 0 < keep <= nwin, or 0 and 0 */
	if (keep < nwin) {
		pick_select(win, nwin, keep);
		for (size_t i = keep; i < nwin; i++)
			out_set(&g->out, win[i].si, g->base + y);
	}
	if (win != stack)
		free(win);
	return 0;
}

/* ---- quotas -------------------------------------------------------------- */

struct rem {
	uint64_t rem;
	uint32_t c;
};

static int rem_cmp(const void *a, const void *b)
{
	const struct rem *x = a, *y = b;

	if (x->rem != y->rem)
		return x->rem > y->rem ? -1 : 1;
	return x->c < y->c ? -1 : x->c > y->c;
}

/*
 * Largest remainder: quota[c] = floor(n * w[c] / W), and the leftover slots
 * one each by descending remainder n * w[c] mod W, ties to the lower index
 * (candidates are sorted by name or address). w == NULL: all weights 1.
 * n * w fits in 64 bits: n < 2^32, w < 2^32.
 */
static void lr_quotas(uint64_t n, const uint32_t *w, size_t cnt,
		      uint32_t *quota, struct rem *rem)
{
	uint64_t total = 0, left = n;

	for (size_t c = 0; c < cnt; c++)
		total += w ? w[c] : 1;
	for (size_t c = 0; c < cnt; c++) {
		uint64_t x = n * (w ? w[c] : 1);

		quota[c] = x / total;
		left -= quota[c];
		rem[c] = (struct rem){ x % total, c };
	}
	qsort(rem, cnt, sizeof(*rem), rem_cmp);
	for (size_t i = 0; i < left; i++)
		quota[rem[i].c]++;
}

/* ---- the build ----------------------------------------------------------- */

struct ep_ref {
	const struct split_endpoint *ep;
	uint32_t idx;		/* in svc->eps */
	uint32_t v;		/* eligible version */
};

struct build {
	const struct split_service *svc;
	int family;
	size_t nslots;
	struct tab_out out;
	const struct split_version **ver; /* weight > 0, by name */
	size_t nver;
	struct ep_ref *eps;	/* of the family and a version in ver */
	size_t neps;
	bool walk_only;		/* see struct race */
	uint32_t *vfirst;	/* per version: its first endpoint in eps[] */
	uint32_t *vcount;	/* per version: its number of slots */
	uint32_t *weight;
	uint64_t *prefix;
	uint32_t *quota;
	struct rem *rem;
	bool all_slots;		/* one version has them all: level 1 marked nothing */
	/* The walk's (race_walk()), nslots each, allocated when first needed. */
	uint32_t *slots;
	uint32_t *won;
	struct pick *heap;
	uint32_t *open;
	uint32_t *pos;
};

static void build_free(struct build *b)
{
	free(b->ver);
	free(b->eps);
	free(b->vfirst);
	free(b->vcount);
	free(b->weight);
	free(b->prefix);
	free(b->quota);
	free(b->rem);
	free(b->slots);
	free(b->won);
	free(b->heap);
	free(b->open);
	free(b->pos);
}

static int build_alloc(struct build *b)
{
	const struct split_service *svc = b->svc;
	size_t ncand = svc->nversions > svc->neps ? svc->nversions : svc->neps;

	ncand++;	/* never calloc(0) */

	b->ver = calloc(svc->nversions + 1, sizeof(*b->ver));
	b->eps = calloc(svc->neps + 1, sizeof(*b->eps));
	b->vfirst = calloc(svc->nversions + 1, sizeof(*b->vfirst));
	b->vcount = calloc(svc->nversions + 1, sizeof(*b->vcount));
	b->weight = calloc(svc->nversions + 1, sizeof(*b->weight));
	b->prefix = calloc(ncand, sizeof(*b->prefix));
	b->quota = calloc(ncand, sizeof(*b->quota));
	b->rem = calloc(ncand, sizeof(*b->rem));
	b->open = calloc(ncand, sizeof(*b->open));
	b->pos = calloc(ncand, sizeof(*b->pos));
	if (!b->ver || !b->eps || !b->vfirst || !b->vcount || !b->weight ||
	    !b->prefix || !b->quota || !b->rem || !b->open || !b->pos)
		return -ENOMEM;
	return 0;
}

/*
 * Three candidates or more (or walk_only): race_run() over the group's
 * slots, listed (all: 0..n-1), with the walk's memory per slot, then the
 * winners into the table. 0 or -ENOMEM.
 */
static int race_walk(struct build *b, struct race *r, const struct group *g)
{
	size_t si = 0;

	if (!r->n)
		return 0;
	/* Written before they are read (slot numbers, winners, the heap):
	 * malloc, so that pages not needed are never touched. */
	if (!b->won) {
		b->slots = malloc(b->nslots * sizeof(*b->slots));
		b->won = malloc(b->nslots * sizeof(*b->won));
		b->heap = malloc(b->nslots * sizeof(*b->heap));
		if (!b->slots || !b->won || !b->heap)
			return -ENOMEM;
	}
	r->slot = NULL;
	if (!g->all) {
		for (size_t s = 0; s < g->nslots; s++)
			if (out_get(&g->out, s) == g->mark)
				b->slots[si++] = (uint32_t)s;
		r->slot = b->slots;
	}
	r->won = b->won;
	r->heap = b->heap;
	race_run(r);
	for (si = 0; si < r->n; si++)
		out_set(&g->out, race_slot(r, si), g->base + r->won[si]);
	return 0;
}

/* The race of r's candidates for group g's slots (r->n of them): quotas
 * must add up to r->n. 0 or -ENOMEM. */
static int race_group(struct build *b, struct race *r, const struct group *g)
{
	race_open(r);
	if (!r->walk_only && r->nopen == 1) {	/* one candidate takes all */
		for (size_t s = 0; s < g->nslots; s++)
			if (in_group(g, s))
				out_set(&g->out, s, g->base + r->open[0]);
		r->quota[r->open[0]] = 0;
		r->nopen = 0;
		return 0;
	}
	if (!r->walk_only && r->nopen == 2)
		return race_two(r, g, r->open[0], r->open[1]);
	return race_walk(b, r, g);
}

static int ver_cmp(const void *a, const void *b)
{
	const struct split_version *const *x = a, *const *y = b;

	return strcmp((*x)->name, (*y)->name);
}

static int ver_find_cmp(const void *key, const void *elem)
{
	const struct split_version *const *v = elem;

	return strcmp(key, (*v)->name);
}

static int ep_cmp(const void *a, const void *b)
{
	const struct ep_ref *x = a, *y = b;
	int d;

	if (x->v != y->v)
		return x->v < y->v ? -1 : 1;
	d = memcmp(x->ep->addr.bytes, y->ep->addr.bytes,
		   sizeof(x->ep->addr.bytes));
	if (d)
		return d;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Endpoints of the family whose version has weight > 0, grouped by version
 * and sorted by address. */
static void collect_eps(struct build *b)
{
	const struct split_service *svc = b->svc;

	b->nver = 0;
	for (size_t i = 0; i < svc->nversions; i++)
		if (svc->versions[i].weight)
			b->ver[b->nver++] = &svc->versions[i];
	qsort(b->ver, b->nver, sizeof(*b->ver), ver_cmp);

	b->neps = 0;
	for (size_t i = 0; i < svc->neps; i++) {
		const struct split_endpoint *ep = &svc->eps[i];
		const struct split_version **v;

		if (ep->addr.family != b->family)
			continue;
		v = bsearch(ep->version, b->ver, b->nver, sizeof(*b->ver),
			    ver_find_cmp);
		if (v)
			b->eps[b->neps++] =
				(struct ep_ref){ ep, i, v - b->ver };
	}
}

/* Drop versions with no endpoint of the family; renumber the rest. Leaves
 * b->vfirst: each version's first endpoint in b->eps. */
static void keep_eligible(struct build *b)
{
	uint32_t *map = b->vfirst;	/* old index -> new index, scratch */
	size_t nver = 0;

	memset(b->vcount, 0, b->nver * sizeof(*b->vcount));
	for (size_t i = 0; i < b->neps; i++)
		b->vcount[b->eps[i].v]++;
	for (size_t v = 0; v < b->nver; v++) {
		map[v] = nver;
		if (b->vcount[v])
			b->ver[nver++] = b->ver[v];
	}
	for (size_t i = 0; i < b->neps; i++)
		b->eps[i].v = map[b->eps[i].v];
	b->nver = nver;
	qsort(b->eps, b->neps, sizeof(*b->eps), ep_cmp);
	for (size_t i = b->neps; i-- > 0;)
		b->vfirst[b->eps[i].v] = (uint32_t)i;
}

/* Level 1: slot -> eligible version, marked in the table (struct group);
 * b->vcount[v] gets version v's number of slots. 0 or -ENOMEM. */
static int level1(struct build *b)
{
	struct race r = {
		.n = b->nslots, .ncand = b->nver, .quota = b->quota,
		.prefix = b->prefix, .weight = b->weight, .open = b->open,
		.pos = b->pos, .walk_only = b->walk_only,
	};
	struct group g = { .out = b->out, .nslots = b->nslots, .all = true };

	/* One version (everything to v2): it wins every slot; level 2 takes
	 * them all without a mark. */
	if (b->nver == 1 && !b->walk_only) {
		b->all_slots = true;
		b->vcount[0] = (uint32_t)b->nslots;
		return 0;
	}
	for (size_t v = 0; v < b->nver; v++) {
		b->weight[v] = b->ver[v]->weight;
		b->prefix[v] = name_prefix(b->svc->name, b->ver[v]->name);
	}
	lr_quotas(b->nslots, b->weight, b->nver, b->quota, b->rem);
	/* The race gives every version exactly its quota. */
	memcpy(b->vcount, b->quota, b->nver * sizeof(*b->vcount));
	return race_group(b, &r, &g);
}

/* Level 2 for version v: its slots -> its endpoints, eps[first..+m), as
 * their index in b->eps. *used: how many of these endpoints got at least
 * one slot. 0 or -ENOMEM. */
static int level2(struct build *b, size_t v, const struct ep_ref *eps,
		  size_t m, size_t *used)
{
	struct race r = {
		.n = b->vcount[v], .ncand = m, .quota = b->quota,
		.prefix = b->prefix, .weight = NULL, .open = b->open,
		.pos = b->pos, .walk_only = b->walk_only,
	};
	struct group g = {
		.out = b->out, .nslots = b->nslots, .all = b->all_slots,
		.mark = (uint32_t)v, .base = b->vfirst[v],
	};
	char text[INET6_ADDRSTRLEN];
	int af = b->family == 6 ? AF_INET6 : AF_INET;

	lr_quotas(r.n, NULL, m, b->quota, b->rem);
	*used = 0;
	for (size_t c = 0; c < m; c++)
		*used += b->quota[c] > 0;
	if (m == 1 && !b->walk_only)	/* one endpoint: no race, no hash */
		return race_group(b, &r, &g);
	for (size_t c = 0; c < m; c++) {
		if (!inet_ntop(af, eps[c].ep->addr.bytes, text, sizeof(text)))
			text[0] = '\0';	/* cannot happen with a valid af */
		b->prefix[c] = name_prefix(b->svc->name, text);
	}
	return race_group(b, &r, &g);
}

static int table_build(const struct split_service *svc, int family,
		       struct tab_out out, size_t nslots, bool walk_only)
{
	struct build b = { .svc = svc, .family = family, .nslots = nslots,
			   .out = out, .walk_only = walk_only };
	size_t used = 0;
	int ret = 0;

	if (!nslots || nslots > UINT32_MAX || (family != 4 && family != 6))
		return -EINVAL;
	if (out.h && svc->neps > UINT16_MAX + 1)
		return -ERANGE;
	if (build_alloc(&b)) {
		build_free(&b);
		return -ENOMEM;
	}
	collect_eps(&b);
	keep_eligible(&b);
	if (b.nver)
		ret = level1(&b);
	/* From the last version down: see struct group. */
	for (size_t v = b.nver; !ret && v-- > 0;) {
		size_t m = (v + 1 < b.nver ? b.vfirst[v + 1] : b.neps) - b.vfirst[v], u;

		ret = level2(&b, v, b.eps + b.vfirst[v], m, &u);
		used += u;
	}
	if (!ret && b.nver)	/* endpoints of the build -> of the service */
		for (size_t s = 0; s < nslots; s++)
			out_set(&out, s, b.eps[out_get(&out, s)].idx);
	build_free(&b);
	return ret ? ret : (int)used;
}

int split_table_build(const struct split_service *svc, int family,
		      uint32_t *out, size_t nslots)
{
	return table_build(svc, family, (struct tab_out){ .w = out }, nslots, false);
}

int split_table_build16(const struct split_service *svc, int family,
			uint16_t *out, size_t nslots)
{
	return table_build(svc, family, (struct tab_out){ .h = out }, nslots, false);
}

int split_table_build_walk(const struct split_service *svc, int family,
			   uint32_t *out, size_t nslots)
{
	return table_build(svc, family, (struct tab_out){ .w = out }, nslots, true);
}

/* ---- small tables: one slot per endpoint ---------------------------------- */

struct small_ep {
	const uint8_t *addr;
	uint32_t idx;
};

static int small_ep_cmp(const void *a, const void *b)
{
	const struct small_ep *x = a, *y = b;
	int d = memcmp(x->addr, y->addr, 16);

	if (d)
		return d;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static const struct split_version *find_ver(const struct split_service *svc,
					    const char *name)
{
	for (size_t i = 0; i < svc->nversions; i++)
		if (!strcmp(svc->versions[i].name, name))
			return &svc->versions[i];
	return NULL;
}

/*
 * A service's table for a family can be small when every eligible endpoint
 * gets the same share: no explicit weights (routed is false: each version
 * weighs its endpoint count), and w_v / n_v the same for every eligible
 * version v (n_v: its endpoints of the family; this fails only for a
 * dual-stack service whose versions have different IPv4/IPv6 mixes).
 * Explicit weights always take the big table, whose minimal-disruption
 * property matters when weights move; small tables change only with the
 * endpoints.
 */
int split_table_is_small(const struct split_service *svc, int family)
{
	uint64_t w0 = 0, n0 = 0;

	if (svc->routed)
		return 0;
	for (size_t v = 0; v < svc->nversions; v++) {
		uint64_t n = 0, w = svc->versions[v].weight;

		if (!w)
			continue;
		for (size_t e = 0; e < svc->neps; e++)
			n += svc->eps[e].addr.family == family &&
			     !strcmp(svc->eps[e].version, svc->versions[v].name);
		if (!n)
			continue;
		if (!n0) {
			w0 = w;
			n0 = n;
		} else if (w * n0 != w0 * n) {
			return 0;
		}
	}
	return 1;
}

int split_table_small(const struct split_service *svc, int family,
		      uint32_t *out, size_t max)
{
	struct small_ep *eps;
	size_t n = 0;

	if (family != 4 && family != 6)
		return -EINVAL;
	eps = calloc(svc->neps + 1, sizeof(*eps));
	if (!eps)
		return -ENOMEM;
	for (size_t e = 0; e < svc->neps; e++) {
		const struct split_version *v;

		if (svc->eps[e].addr.family != family)
			continue;
		v = find_ver(svc, svc->eps[e].version);
		if (v && v->weight)
			eps[n++] = (struct small_ep){ svc->eps[e].addr.bytes, (uint32_t)e };
	}
	if (n > max || n > INT32_MAX) {
		free(eps);
		return -ENOSPC;
	}
	qsort(eps, n, sizeof(*eps), small_ep_cmp);
	for (size_t i = 0; i < n; i++)
		out[i] = eps[i].idx;
	free(eps);
	return (int)n;
}
