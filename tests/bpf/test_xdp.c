// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * test_xdp.c - the north-south datapath (split_xdp, split_tc_dnat,
 * split_tc_rev) on crafted packets through BPF_PROG_TEST_RUN (root).
 *
 * Katran-style fixtures: an input frame, the exact expected output frame and
 * the expected verdict. Expected frames are built from scratch (checksums
 * computed over the whole packet, never incrementally), so an exact byte
 * match also proves the programs' incremental checksum updates. The backend
 * a flow must get is predicted with a reference implementation of the flow
 * hash documented in split_common.h.
 *
 * Every test loads split_xdp and split_tc with pinning disabled (pin path
 * NULL on every map before load) and the tc object reusing the XDP object's
 * map fds, so the programs share ct/ct_rev the way the pinned maps do.
 * repeat = 1 everywhere: test_run does not reset the packet between repeats.
 *
 * Not reachable from here: frames shorter than Ethernet + the fixed IP
 * header on the skb programs (test_run refuses them with EINVAL, so those
 * malformed fixtures run on XDP only, which shares the parser), and
 * CHECKSUM_PARTIAL/COMPLETE skbs (test_run skbs are CHECKSUM_NONE, so the
 * BPF_F_PSEUDO_HDR handling of offloaded packets needs the netns tests).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "split_common.h"
#include "split_xdp.skel.h"
#include "split_tc.skel.h"
#include "test.h"
#include "../lib/tutil.h"
#include "../lib/xdp_maps.h"

/* Fixtures start from per-protocol defaults and override some fields. */
#pragma GCC diagnostic ignored "-Woverride-init"

/* ---- configuration the tests install --------------------------------------- */

#define VIP4		"10.96.0.10"
#define VIP4_NOBE	"10.96.0.20"	/* service 2: no IPv4 table */
#define VIP6		"fd00:96::10"
#define VIP6_NOBE	"fd00:96::20"	/* service 2: IPv6 table of empty slots */
#define CLI4		"10.0.0.1"
#define CLI6		"fd00::1"
#define NBE		8		/* backends per family */
/* Backends of service 1 (a big table names its service's backends by k) */
#define BE4_ID(i)	SPLIT_BACKEND_ID(1, 1 + (i))	/* k 1..8: 10.1.0.1 .. 10.1.0.8 */
#define BE6_ID(i)	SPLIT_BACKEND_ID(1, 11 + (i))	/* k 11..18: fd00:1::1 .. fd00:1::8 */
#define VER_OF(i)	((i) < NBE / 2 ? 1 : 2)	/* first half v1, second half v2 */

enum { ACT_NAT, ACT_PASS, ACT_DROP };
enum { P_XDP, P_DNAT, P_REV };

struct env {
	struct split_xdp *x;
	struct split_tc *t;
	int prog[3];
	struct tx_xdp_maps m;
	int ncpu;
};

static void be_addr(int v6, __u32 id, char *buf, size_t n)
{
	__u32 k = id & 0xffff;	/* SPLIT_BACKEND_ID(1, k) */

	if (v6)
		snprintf(buf, n, "fd00:1::%x", k - 10);
	else
		snprintf(buf, n, "10.1.0.%u", k);
}

static void addr_bin(int v6, const char *s, __be32 out[4])
{
	memset(out, 0, 16);
	if (inet_pton(v6 ? AF_INET6 : AF_INET, s, out) != 1) {
		fprintf(stderr, "bad address %s\n", s);
		abort();
	}
}

/* A big table of service 1 (an inner map of one struct split_big_table)
 * whose slot s holds backend first + s % NBE (or `fill` for all when fill
 * is set). Returns the map fd. */
static int make_table(__u32 first, __u32 fill)
{
	int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "slots", 4, sizeof(struct split_big_table),
				1, NULL);
	struct split_big_table *t = calloc(1, sizeof(*t));
	__u32 zero = 0;

	if (fd < 0 || !t) {
		free(t);
		return fd < 0 ? fd : -1;
	}
	for (__u32 s = 0; s < SPLIT_TABLE_SLOTS; s++)
		t->k[s] = (__u16)((fill ? fill : first + s % NBE) & 0xffff);
	if (bpf_map_update_elem(fd, &zero, t, BPF_ANY)) {
		close(fd);
		fd = -1;
	}
	free(t);
	return fd;
}

/* Install a big table (inner map fd, closed here) as table tid. */
static int set_table(struct env *e, __u32 tid, int inner)
{
	struct split_table_val tv = { .kind = SPLIT_TBL_BIG, .nslots = SPLIT_TABLE_SLOTS };
	int err = inner < 0 ? -1 : bpf_map_update_elem(e->m.big, &tid, &inner, BPF_ANY);

	if (!err)
		err = bpf_map_update_elem(e->m.tables, &tid, &tv, BPF_ANY);
	if (inner >= 0)
		close(inner);
	return err;
}

/* A small table: ids[0..n) at slot offset off (even) of slots_v3, then
 * table tid pointed at it in one update. */
static int set_small(struct env *e, __u32 tid, __u32 off, const __u32 *ids, __u32 n)
{
	struct split_table_val tv = { .kind = SPLIT_TBL_SMALL, .nslots = n, .offset = off };

	for (__u32 c = 0; c < (n + 1) / 2; c++) {
		struct split_slot_pair pr = { { ids[2 * c], 2 * c + 1 < n ? ids[2 * c + 1] : 0 } };
		__u32 key = off / 2 + c;

		if (bpf_map_update_elem(e->m.slots, &key, &pr, BPF_ANY))
			return -1;
	}
	return bpf_map_update_elem(e->m.tables, &tid, &tv, BPF_ANY);
}

static int add_vip(struct env *e, int v6, const char *vip, __u16 port, __u8 proto,
		   __u32 svc_id, __u16 target)
{
	struct split_svc_key k = {};
	struct split_svc_val v = {};

	addr_bin(v6, vip, k.addr);
	k.port = htons(port);
	k.proto = proto;
	k.family = v6 ? 6 : 4;
	v.svc_id = svc_id;
	v.table_id = SPLIT_TABLE_ID(svc_id, v6);
	v.target_port = htons(target);
	return bpf_map_update_elem(e->m.svc, &k, &v, BPF_ANY);
}

/* Skeletons still loaded when a test failed half-way: destroyed at exit,
 * so LeakSanitizer reports only real leaks and stdout gets flushed. */
static struct {
	struct split_xdp *x;
	struct split_tc *t;
} live[16];

static void live_set(struct split_xdp *x, struct split_tc *t, int add)
{
	for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++) {
		if (add && !live[i].x && !live[i].t) {
			live[i].x = x;
			live[i].t = t;
			return;
		}
		if (!add && live[i].x == x && live[i].t == t) {
			live[i].x = NULL;
			live[i].t = NULL;
			return;
		}
	}
}

static void live_destroy_all(void)
{
	for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++) {
		split_tc__destroy(live[i].t);
		split_xdp__destroy(live[i].x);
		live[i].x = NULL;
		live[i].t = NULL;
	}
}

static int env_open(struct env *e, char *why, size_t n)
{
	struct bpf_map *m;
	int err;

	static int registered;

	memset(e, 0, sizeof(*e));
	if (!registered++)
		test_at_exit(live_destroy_all);
	libbpf_set_print(tu_libbpf_print);
	e->ncpu = libbpf_num_possible_cpus();
	e->x = split_xdp__open();
	e->t = split_tc__open();
	live_set(e->x, e->t, 1);
	if (!e->x || !e->t) {
		snprintf(why, n, "open: %s", strerror(errno));
		return -1;
	}
	bpf_object__for_each_map(m, e->x->obj)
		bpf_map__set_pin_path(m, NULL);
	err = split_xdp__load(e->x);
	if (err) {
		snprintf(why, n, "load split_xdp: %d", err);
		return -1;
	}
	/* The tc object shares every map with the XDP object, as the pinned
	 * maps make them shared in production. */
	bpf_object__for_each_map(m, e->t->obj) {
		struct bpf_map *xm = bpf_object__find_map_by_name(e->x->obj, bpf_map__name(m));

		bpf_map__set_pin_path(m, NULL);
		if (bpf_map__is_internal(m))
			continue; /* .rodata etc.: each object has its own */
		if (!xm || bpf_map__reuse_fd(m, bpf_map__fd(xm))) {
			snprintf(why, n, "reuse map %s", bpf_map__name(m));
			return -1;
		}
	}
	err = split_tc__load(e->t);
	if (err) {
		snprintf(why, n, "load split_tc: %d", err);
		return -1;
	}
	e->prog[P_XDP] = bpf_program__fd(e->x->progs.split_xdp);
	e->prog[P_DNAT] = bpf_program__fd(e->t->progs.split_tc_dnat);
	e->prog[P_REV] = bpf_program__fd(e->t->progs.split_tc_rev);
	tx_xdp_maps_get(&e->m, e->x);

	/* service 1: VIP4/VIP6 tcp 80 -> 8080, udp 53 -> 5353 */
	if (add_vip(e, 0, VIP4, 80, IPPROTO_TCP, 1, 8080) ||
	    add_vip(e, 0, VIP4, 53, IPPROTO_UDP, 1, 5353) ||
	    add_vip(e, 1, VIP6, 80, IPPROTO_TCP, 1, 8080) ||
	    add_vip(e, 1, VIP6, 53, IPPROTO_UDP, 1, 5353) ||
	    add_vip(e, 0, VIP4_NOBE, 80, IPPROTO_TCP, 2, 8080) ||
	    add_vip(e, 1, VIP6_NOBE, 80, IPPROTO_TCP, 2, 8080)) {
		snprintf(why, n, "fill svc: %s", strerror(errno));
		return -1;
	}
	for (int v6 = 0; v6 < 2; v6++) {
		for (__u32 i = 0; i < NBE; i++) {
			struct split_backend_val b = {};
			__u32 id = v6 ? BE6_ID(i) : BE4_ID(i);
			char a[64];

			be_addr(v6, id, a, sizeof(a));
			addr_bin(v6, a, b.addr);
			b.family = v6 ? 6 : 4;
			b.svc_id = 1;
			b.version_id = VER_OF(i);
			if (bpf_map_update_elem(e->m.backends, &id, &b, BPF_ANY)) {
				snprintf(why, n, "fill backends: %s", strerror(errno));
				return -1;
			}
		}
	}
	if (set_table(e, SPLIT_TABLE_ID(1, 0), make_table(BE4_ID(0), 0)) ||
	    set_table(e, SPLIT_TABLE_ID(1, 1), make_table(BE6_ID(0), 0))) {
		snprintf(why, n, "fill tables: %s", strerror(errno));
		return -1;
	}
	/* service 2's IPv6 table: every slot empty (0). */
	{
		int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "slots", 4,
					sizeof(struct split_big_table), 1, NULL);

		if (fd < 0 || set_table(e, SPLIT_TABLE_ID(2, 1), fd)) {
			snprintf(why, n, "empty table: %s", strerror(errno));
			return -1;
		}
	}
	return 0;
}

static void env_close(struct env *e)
{
	live_set(e->x, e->t, 0);
	split_tc__destroy(e->t);
	split_xdp__destroy(e->x);
	memset(e, 0, sizeof(*e));
}

#define ENV_OPEN(e)                                                       \
	do {                                                              \
		char why_[256] = "";                                      \
		if (env_open(e, why_, sizeof(why_))) {                    \
			env_close(e);                                     \
			TEST_FAIL_("setup: %s", why_);                    \
		}                                                         \
	} while (0)

/* ---- packets ------------------------------------------------------------------ */

struct pkt {
	__u8 b[1600];
	__u32 len;
};

struct spec {
	int v6;
	int proto;		/* 6, 17, 1 (ICMP), 58 (ICMPv6) */
	const char *src, *dst;
	__u16 sport, dport;
	__u8 flags;		/* TCP flags */
	int plen;		/* payload bytes (pattern) */
	int ipopt;		/* IPv4 option bytes (NOPs), multiple of 4 */
	__u16 frag;		/* IPv4 frag_off field, host order */
	int hbh;		/* IPv6: a hop-by-hop header */
	int rthdr;		/* IPv6: a routing header */
	int v6frag;		/* IPv6: a fragment header ... */
	__u16 v6frag_off;	/* ... with this offset/M field, host order */
	int nocsum;		/* UDP checksum 0 */
	int pad_to;		/* pad the frame with zeros to this length */
	int vlan;		/* 802.1Q tag */
	__u8 pseed;		/* payload pattern seed */
	int extra_word;		/* put this 16-bit word first in the payload (>= 0) */
};

#define TCP_SYN 0x02
#define TCP_ACK 0x10
#define TCP_PSH 0x08

static void put16(__u8 *p, __u16 v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static __u16 get16(const __u8 *p)
{
	return (__u16)(p[0] << 8 | p[1]);
}

static __u32 sum16(const __u8 *p, size_t n, __u32 s)
{
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		s += get16(p + i);
	if (n & 1)
		s += p[n - 1] << 8;
	return s;
}

static __u16 fold(__u32 s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (__u16)s;
}

/* Checksum of an L4 segment with its pseudo-header, from scratch. */
static __u16 l4_csum(int v6, const __u8 *src, const __u8 *dst, __u8 proto,
		     const __u8 *l4, size_t len)
{
	size_t alen = v6 ? 16 : 4;
	__u32 s = 0;

	s = sum16(src, alen, s);
	s = sum16(dst, alen, s);
	s += proto;
	s += (__u32)len;
	s = sum16(l4, len, s);
	return (__u16)~fold(s);
}

static void build(const struct spec *sp, struct pkt *p)
{
	__u8 *b = p->b, src[16] = {}, dst[16] = {};
	size_t o = 0, l3, l4, l4len, hl = 0, nhp = 0;

	memset(p, 0, sizeof(*p));
	memcpy(b, "\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02", 12);
	o = 12;
	if (sp->vlan) {
		put16(b + o, 0x8100);
		put16(b + o + 2, 100);
		o += 4;
	}
	put16(b + o, sp->v6 ? 0x86dd : 0x0800);
	o += 2;
	addr_bin(sp->v6, sp->src, (__be32 *)src);
	addr_bin(sp->v6, sp->dst, (__be32 *)dst);
	l3 = o;
	if (!sp->v6) {
		hl = 20 + sp->ipopt;
		b[o] = 0x40 | (__u8)(hl / 4);
		put16(b + o + 4, 0x1234);
		put16(b + o + 6, sp->frag);
		b[o + 8] = 64;
		b[o + 9] = (__u8)sp->proto;
		memcpy(b + o + 12, src, 4);
		memcpy(b + o + 16, dst, 4);
		memset(b + o + 20, 1, sp->ipopt);	/* NOP options */
		o += hl;
	} else {
		b[o] = 0x60;
		b[o + 7] = 64;
		memcpy(b + o + 8, src, 16);
		memcpy(b + o + 24, dst, 16);
		nhp = o + 6;
		o += 40;
		if (sp->hbh) {	/* hop-by-hop, PadN to 8 bytes */
			b[nhp] = 0;
			nhp = o;
			b[o + 2] = 1;
			b[o + 3] = 4;
			o += 8;
		}
		if (sp->rthdr) {	/* routing type 0, segments left 0 */
			b[nhp] = 43;
			nhp = o;
			o += 8;
		}
		if (sp->v6frag) {
			b[nhp] = 44;
			nhp = o;
			put16(b + o + 2, sp->v6frag_off);
			put16(b + o + 6, 0x4321);
			o += 8;
		}
		b[nhp] = (__u8)sp->proto;
	}
	l4 = o;
	switch (sp->proto) {
	case 6:
		put16(b + o, sp->sport);
		put16(b + o + 2, sp->dport);
		put16(b + o + 4, 0x0102);	/* seq */
		put16(b + o + 6, 0x0304);
		b[o + 12] = 5 << 4;
		b[o + 13] = sp->flags;
		put16(b + o + 14, 0xffff);
		o += 20;
		break;
	case 17:
		put16(b + o, sp->sport);
		put16(b + o + 2, sp->dport);
		o += 8;
		break;
	default:	/* ICMP / ICMPv6 echo request */
		b[o] = sp->proto == 58 ? 128 : 8;
		put16(b + o + 4, 0x77);
		put16(b + o + 6, 1);
		o += 8;
		break;
	}
	for (int i = 0; i < sp->plen; i++)
		b[o + i] = (__u8)(sp->pseed + i * 7);
	if (sp->extra_word >= 0 && sp->plen >= 2)
		put16(b + o, (__u16)sp->extra_word);
	o += sp->plen;
	l4len = o - l4;
	if (!sp->v6) {
		put16(b + l3 + 2, (__u16)(o - l3));
		put16(b + l3 + 10, (__u16)~fold(sum16(b + l3, hl, 0)));
	} else {
		put16(b + l3 + 4, (__u16)(o - l3 - 40));
	}
	switch (sp->proto) {
	case 6:
		put16(b + l4 + 16, l4_csum(sp->v6, src, dst, 6, b + l4, l4len));
		break;
	case 17: {
		__u16 c;

		put16(b + l4 + 4, (__u16)l4len);
		c = l4_csum(sp->v6, src, dst, 17, b + l4, l4len);
		put16(b + l4 + 6, sp->nocsum ? 0 : (c ? c : 0xffff));
		break;
	}
	case 58:
		put16(b + l4 + 2, l4_csum(1, src, dst, 58, b + l4, l4len));
		break;
	default:
		put16(b + l4 + 2, (__u16)~fold(sum16(b + l4, l4len, 0)));
		break;
	}
	p->len = (__u32)o;
	if (sp->pad_to > (int)p->len)
		p->len = (__u32)sp->pad_to;
}

/* Independent check of an output frame's checksums: IPv4 header, and the
 * TCP/UDP checksum over the pseudo-header and the segment (UDP over IPv4 may
 * be 0). Plain frames only (no VLAN; IPv6 with hop-by-hop at most). */
static int csums_ok(const struct pkt *p)
{
	const __u8 *b = p->b;
	size_t l3 = 14, l4, len;
	int v6 = get16(b + 12) == 0x86dd;
	__u8 proto;

	if (!v6) {
		size_t hl = (b[l3] & 0xf) * 4;

		if (fold(sum16(b + l3, hl, 0)) != 0xffff)
			return 0;
		proto = b[l3 + 9];
		l4 = l3 + hl;
		len = get16(b + l3 + 2) - hl;
	} else {
		proto = b[l3 + 6];
		l4 = l3 + 40;
		len = get16(b + l3 + 4);
		if (proto == 0) {
			proto = b[l4];
			l4 += 8;
			len -= 8;
		}
	}
	if (proto == 17 && !v6 && get16(b + l4 + 6) == 0)
		return 1;
	{
		__u32 s = 0;
		size_t alen = v6 ? 16 : 4;
		const __u8 *src = b + l3 + (v6 ? 8 : 12), *dst = b + l3 + (v6 ? 24 : 16);

		s = sum16(src, alen, s);
		s = sum16(dst, alen, s);
		s += proto;
		s += (__u32)len;
		s = sum16(b + l4, len, s);
		return fold(s) == 0xffff;
	}
}

/* ---- the flow hash, reference implementation (Linux jhash2) -------------------- */

static __u32 rol32(__u32 w, unsigned int s)
{
	return (w << s) | (w >> (32 - s));
}

static __u32 ref_jhash2(const __u32 *k, __u32 length, __u32 initval)
{
	__u32 a, b, c;

	a = b = c = 0xdeadbeef + (length << 2) + initval;
	while (length > 3) {
		a += k[0];
		b += k[1];
		c += k[2];
		a -= c; a ^= rol32(c, 4);  c += b;
		b -= a; b ^= rol32(a, 6);  a += c;
		c -= b; c ^= rol32(b, 8);  b += a;
		a -= c; a ^= rol32(c, 16); c += b;
		b -= a; b ^= rol32(a, 19); a += c;
		c -= b; c ^= rol32(b, 4);  b += a;
		length -= 3;
		k += 3;
	}
	switch (length) {
	case 3: c += k[2]; /* fallthrough */
	case 2: b += k[1]; /* fallthrough */
	case 1: a += k[0];
		c ^= b; c -= rol32(b, 14);
		a ^= c; a -= rol32(c, 11);
		b ^= a; b -= rol32(a, 25);
		c ^= b; c -= rol32(b, 16);
		a ^= c; a -= rol32(c, 4);
		b ^= a; b -= rol32(a, 14);
		c ^= b; c -= rol32(b, 24);
		break;
	default:
		break;
	}
	return c;
}

/* The hash of a flow as documented in split_common.h. */
static __u32 ref_flow_hash(const struct spec *sp)
{
	__be32 s[4], d[4];
	__u32 w[10];

	addr_bin(sp->v6, sp->src, s);
	addr_bin(sp->v6, sp->dst, d);
	for (int i = 0; i < 4; i++) {
		w[i] = ntohl(s[i]);
		w[4 + i] = ntohl(d[i]);
	}
	w[8] = (__u32)sp->sport << 16 | sp->dport;
	w[9] = (__u32)sp->proto;
	return ref_jhash2(w, 10, SPLIT_FLOW_HASH_SEED);
}

/* Backend id the hash gives a flow, with the default tables of env_open(). */
static __u32 hashed_backend(const struct spec *sp)
{
	__u32 slot = ref_flow_hash(sp) % SPLIT_TABLE_SLOTS;

	return (sp->v6 ? BE6_ID(0) : BE4_ID(0)) + slot % NBE;
}

/* The frame DNAT must produce from *sp for backend `id`. */
static void build_natted(const struct spec *sp, __u32 id, struct pkt *p)
{
	struct spec o = *sp;
	char a[64];

	be_addr(sp->v6, id, a, sizeof(a));
	o.dst = a;
	o.dport = sp->dport == 80 ? 8080 : 5353;
	build(&o, p);
}

/* The reply a backend sends for *sp, and what tc_rev must make of it. */
static void build_reply(const struct spec *sp, __u32 id, int natted, struct pkt *p)
{
	struct spec r = *sp;
	char a[64];

	be_addr(sp->v6, id, a, sizeof(a));
	r.src = natted ? sp->dst : a;
	r.sport = natted ? sp->dport : (sp->dport == 80 ? 8080 : 5353);
	r.dst = sp->src;
	r.dport = sp->sport;
	r.flags = sp->proto == 6 ? (TCP_SYN | TCP_ACK) : 0;
	r.pseed = (__u8)(sp->pseed + 1);
	build(&r, p);
}

/* ---- running programs ----------------------------------------------------------- */

static int run(struct env *e, int which, const struct pkt *in, struct pkt *out, __u32 *ret)
{
	LIBBPF_OPTS(bpf_test_run_opts, o,
		    .data_in = in->b,
		    .data_size_in = in->len,
		    .data_out = out->b,
		    .data_size_out = sizeof(out->b),
		    .repeat = 1);
	int err;

	memset(out, 0, sizeof(*out));
	err = bpf_prog_test_run_opts(e->prog[which], &o);
	out->len = o.data_size_out;
	*ret = o.retval;
	return err;
}

static __u32 want_ret(int which, int act)
{
	if (which == P_XDP)
		return act == ACT_DROP ? XDP_DROP : XDP_PASS;
	return act == ACT_DROP ? TC_ACT_SHOT : TC_ACT_OK;
}

static __u64 nat_stat(struct env *e, __u32 idx)
{
	__u64 v[e->ncpu], sum = 0;

	if (bpf_map_lookup_elem(e->m.nat_stats, &idx, v))
		return ~0ULL;
	for (int i = 0; i < e->ncpu; i++)
		sum += v[i];
	return sum;
}

static void nat_stats_all(struct env *e, __u64 *out)
{
	for (__u32 i = 0; i < SPLIT_NS_MAX; i++)
		out[i] = nat_stat(e, i);
}

static int flow_stats(struct env *e, int fd, const void *key, struct split_flow_stats *sum)
{
	struct split_flow_stats v[e->ncpu];

	memset(sum, 0, sizeof(*sum));
	if (bpf_map_lookup_elem(fd, key, v))
		return -1;
	for (int i = 0; i < e->ncpu; i++) {
		sum->flows += v[i].flows;
		sum->packets += v[i].packets;
		sum->bytes += v[i].bytes;
		sum->rev_packets += v[i].rev_packets;
		sum->rev_bytes += v[i].rev_bytes;
	}
	return 0;
}

static void hexdiff(const char *what, const struct pkt *got, const struct pkt *want)
{
	fprintf(stderr, "  %s: got %u bytes, want %u\n", what, got->len, want->len);
	for (__u32 i = 0; i < got->len || i < want->len; i++) {
		int g = i < got->len ? got->b[i] : -1, w = i < want->len ? want->b[i] : -1;

		if (g != w)
			fprintf(stderr, "    [%u] got %02x want %02x\n", i, g & 0xff, w & 0xff);
	}
}

static int same(const struct pkt *a, const struct pkt *b)
{
	return a->len == b->len && !memcmp(a->b, b->b, a->len);
}

/* Run one frame through a program; check verdict, bytes and that exactly
 * one verdict reason (nat_stats 0..SPLIT_NS_DNAT) was counted: `stat`
 * (for tc_rev only REV_NAT is checked, and only when stat says so). */
static int check_run(struct env *e, int which, const char *name, const struct pkt *in,
		     const struct pkt *want, int act, int stat)
{
	__u64 before[SPLIT_NS_MAX], after[SPLIT_NS_MAX], reasons = 0;
	struct pkt out;
	__u32 ret;

	nat_stats_all(e, before);
	if (run(e, which, in, &out, &ret)) {
		fprintf(stderr, "  %s: test_run: %s\n", name, strerror(errno));
		return -1;
	}
	nat_stats_all(e, after);
	if (ret != want_ret(which, act)) {
		fprintf(stderr, "  %s (prog %d): verdict %u, want %u\n", name, which, ret,
			want_ret(which, act));
		return -1;
	}
	if (!same(&out, want)) {
		hexdiff(name, &out, want);
		return -1;
	}
	if (act == ACT_NAT && !csums_ok(&out)) {
		fprintf(stderr, "  %s: output checksums wrong\n", name);
		return -1;
	}
	if (which == P_REV) {
		if (stat >= 0 && after[stat] != before[stat] + 1) {
			fprintf(stderr, "  %s: stat %d not counted\n", name, stat);
			return -1;
		}
		return 0;
	}
	for (int i = 0; i <= SPLIT_NS_DNAT; i++)
		reasons += after[i] - before[i];
	if (reasons != 1 || after[stat] != before[stat] + 1) {
		fprintf(stderr, "  %s (prog %d): stat %d +%llu, %llu reasons counted\n", name,
			which, stat, (unsigned long long)(after[stat] - before[stat]),
			(unsigned long long)reasons);
		for (int i = 0; i < SPLIT_NS_MAX; i++)
			if (after[i] != before[i])
				fprintf(stderr, "    stat %d: %llu -> %llu\n", i,
					(unsigned long long)before[i], (unsigned long long)after[i]);
		return -1;
	}
	return 0;
}

/* ---- fixtures ------------------------------------------------------------------- */

enum mut {
	MUT_NONE,
	MUT_TRUNC,	/* frame cut to mval bytes */
	MUT_TOTLEN,	/* IPv4 total length / IPv6 payload length := mval */
	MUT_TOTLEN_L4,	/* IPv4 total length := ihl*4 + mval, frame cut to match */
	MUT_IHL,	/* IPv4 ihl := mval */
	MUT_VERSION,	/* IP version nibble := mval */
	MUT_ARP,	/* EtherType ARP */
};

struct fixture {
	const char *name;
	struct spec s;
	enum mut mut;
	int mval;
	int act;
	int stat;
};

#define T4(...) { .v6 = 0, .proto = 6, .src = CLI4, .dst = VIP4, .sport = 40000, \
		  .dport = 80, .flags = TCP_SYN, .extra_word = -1, __VA_ARGS__ }
#define U4(...) { .v6 = 0, .proto = 17, .src = CLI4, .dst = VIP4, .sport = 40001, \
		  .dport = 53, .plen = 12, .extra_word = -1, __VA_ARGS__ }
#define T6(...) { .v6 = 1, .proto = 6, .src = CLI6, .dst = VIP6, .sport = 40002, \
		  .dport = 80, .flags = TCP_SYN, .extra_word = -1, __VA_ARGS__ }
#define U6(...) { .v6 = 1, .proto = 17, .src = CLI6, .dst = VIP6, .sport = 40003, \
		  .dport = 53, .plen = 12, .extra_word = -1, __VA_ARGS__ }

static const struct fixture fixtures[] = {
	/* DNAT */
	{ "tcp4_syn", T4(), MUT_NONE, 0, ACT_NAT, SPLIT_NS_DNAT },
	{ "tcp4_data", T4(.sport = 40100, .flags = TCP_ACK | TCP_PSH, .plen = 301), MUT_NONE, 0, ACT_NAT, SPLIT_NS_DNAT },
	{ "tcp4_df", T4(.sport = 40101, .frag = 0x4000), MUT_NONE, 0, ACT_NAT, SPLIT_NS_DNAT },
	{ "tcp4_ip_options", T4(.sport = 40102, .ipopt = 12, .plen = 5), MUT_NONE, 0, ACT_NAT, SPLIT_NS_DNAT },
	{ "tcp4_ip_options_max", T4(.sport = 40103, .ipopt = 40), MUT_NONE, 0, ACT_NAT, SPLIT_NS_DNAT },
	{ "tcp4_eth_padding", T4(.sport = 40104, .pad_to = 60), MUT_NONE, 0, ACT_NAT, SPLIT_NS_DNAT },
	{ "udp4", U4(), MUT_NONE, 0, ACT_NAT, SPLIT_NS_DNAT },
	{ "udp4_odd_payload", U4(.sport = 40110, .plen = 33), MUT_NONE, 0, ACT_NAT, SPLIT_NS_DNAT },
	{ "udp4_no_checksum", U4(.sport = 40111, .nocsum = 1), MUT_NONE, 0, ACT_NAT, SPLIT_NS_DNAT },
	{ "udp4_eth_padding", U4(.sport = 40112, .plen = 2, .pad_to = 60), MUT_NONE, 0, ACT_NAT, SPLIT_NS_DNAT },
	{ "tcp6_syn", T6(), MUT_NONE, 0, ACT_NAT, SPLIT_NS_DNAT },
	{ "tcp6_data", T6(.sport = 40120, .flags = TCP_ACK, .plen = 999), MUT_NONE, 0, ACT_NAT, SPLIT_NS_DNAT },
	{ "tcp6_hop_by_hop", T6(.sport = 40121, .hbh = 1, .plen = 3), MUT_NONE, 0, ACT_NAT, SPLIT_NS_DNAT },
	{ "udp6", U6(), MUT_NONE, 0, ACT_NAT, SPLIT_NS_DNAT },
	{ "udp6_hop_by_hop", U6(.sport = 40130, .hbh = 1), MUT_NONE, 0, ACT_NAT, SPLIT_NS_DNAT },
	{ "udp6_eth_padding", U6(.sport = 40131, .plen = 1, .pad_to = 80), MUT_NONE, 0, ACT_NAT, SPLIT_NS_DNAT },

	/* not for a VIP: pass, untouched */
	{ "tcp4_not_vip", T4(.dst = "10.96.0.99"), MUT_NONE, 0, ACT_PASS, SPLIT_NS_NOT_VIP },
	{ "tcp4_vip_other_port", T4(.dport = 81), MUT_NONE, 0, ACT_PASS, SPLIT_NS_NOT_VIP },
	{ "udp4_to_tcp_only_port", U4(.dport = 80), MUT_NONE, 0, ACT_PASS, SPLIT_NS_NOT_VIP },
	{ "tcp6_not_vip", T6(.dst = "fd00:96::99"), MUT_NONE, 0, ACT_PASS, SPLIT_NS_NOT_VIP },
	{ "tcp4_vip_neighbour_address", T4(.dst = "10.96.0.11"), MUT_NONE, 0, ACT_PASS, SPLIT_NS_NOT_VIP },
	{ "icmp4_to_vip", { .proto = 1, .src = CLI4, .dst = VIP4, .plen = 16, .extra_word = -1 }, MUT_NONE, 0, ACT_PASS, SPLIT_NS_OTHER_L4 },
	{ "icmp6_to_vip", { .v6 = 1, .proto = 58, .src = CLI6, .dst = VIP6, .plen = 16, .extra_word = -1 }, MUT_NONE, 0, ACT_PASS, SPLIT_NS_OTHER_L4 },
	{ "arp", T4(), MUT_ARP, 0, ACT_PASS, SPLIT_NS_NOT_IP },
	{ "vlan_tcp4_to_vip", T4(.vlan = 1), MUT_NONE, 0, ACT_PASS, SPLIT_NS_VLAN },

	/* malformed: pass, untouched */
	{ "ipv4_header_truncated", T4(), MUT_TRUNC, 14 + 10, ACT_PASS, SPLIT_NS_SHORT },
	{ "ipv4_header_19_bytes", T4(), MUT_TRUNC, 14 + 19, ACT_PASS, SPLIT_NS_SHORT },
	{ "ipv6_header_truncated", T6(), MUT_TRUNC, 14 + 39, ACT_PASS, SPLIT_NS_SHORT },
	{ "ethernet_only", T4(), MUT_TRUNC, 14, ACT_PASS, SPLIT_NS_SHORT },
	{ "ipv4_bad_version", T4(), MUT_VERSION, 6, ACT_PASS, SPLIT_NS_BAD_IP },
	{ "ipv6_bad_version", T6(), MUT_VERSION, 4, ACT_PASS, SPLIT_NS_BAD_IP },
	{ "ipv4_ihl_4", T4(), MUT_IHL, 4, ACT_PASS, SPLIT_NS_BAD_IP },
	{ "ipv4_ihl_beyond_frame", T4(), MUT_IHL, 15, ACT_PASS, SPLIT_NS_BAD_IP },
	{ "ipv4_total_length_over_frame", T4(), MUT_TOTLEN, 41, ACT_PASS, SPLIT_NS_BAD_IP },
	{ "ipv4_total_length_under_ihl", T4(), MUT_TOTLEN, 16, ACT_PASS, SPLIT_NS_BAD_IP },
	{ "ipv4_total_length_cuts_tcp", T4(.plen = 20), MUT_TOTLEN, 20 + 19, ACT_PASS, SPLIT_NS_SHORT_L4 },
	{ "ipv4_total_length_cuts_udp", U4(), MUT_TOTLEN, 20 + 7, ACT_PASS, SPLIT_NS_SHORT_L4 },
	{ "ipv6_payload_length_over_frame", T6(), MUT_TOTLEN, 21, ACT_PASS, SPLIT_NS_BAD_IP },
	{ "ipv6_payload_length_zero", T6(), MUT_TOTLEN, 0, ACT_PASS, SPLIT_NS_BAD_IP },
	{ "ipv6_payload_length_cuts_udp", U6(), MUT_TOTLEN, 7, ACT_PASS, SPLIT_NS_SHORT_L4 },
	{ "tcp4_header_truncated", T4(), MUT_TOTLEN_L4, 10, ACT_PASS, SPLIT_NS_SHORT_L4 },
	{ "udp4_header_truncated", U4(.plen = 0), MUT_TOTLEN_L4, 7, ACT_PASS, SPLIT_NS_SHORT_L4 },
	{ "tcp6_header_truncated", T6(), MUT_TRUNC, 14 + 40 + 19, ACT_PASS, SPLIT_NS_BAD_IP },
	{ "ipv6_routing_header_to_vip", T6(.rthdr = 1), MUT_NONE, 0, ACT_PASS, SPLIT_NS_V6_EXT },

	/* fragments */
	{ "ipv4_first_fragment_to_vip", U4(.frag = 0x2000), MUT_NONE, 0, ACT_DROP, SPLIT_NS_FRAG_DROP },
	{ "ipv4_tcp_first_fragment_to_vip", T4(.frag = 0x2000), MUT_NONE, 0, ACT_DROP, SPLIT_NS_FRAG_DROP },
	{ "ipv4_later_fragment_to_vip", U4(.frag = 0x2000 | 185), MUT_NONE, 0, ACT_PASS, SPLIT_NS_FRAG_PASS },
	{ "ipv4_last_fragment_to_vip", U4(.frag = 185), MUT_NONE, 0, ACT_PASS, SPLIT_NS_FRAG_PASS },
	{ "ipv4_first_fragment_not_vip", U4(.dst = "10.96.0.99", .frag = 0x2000), MUT_NONE, 0, ACT_PASS, SPLIT_NS_NOT_VIP },
	{ "ipv6_first_fragment_to_vip", U6(.v6frag = 1, .v6frag_off = 1), MUT_NONE, 0, ACT_DROP, SPLIT_NS_FRAG_DROP },
	{ "ipv6_atomic_fragment_to_vip", T6(.v6frag = 1, .v6frag_off = 0), MUT_NONE, 0, ACT_DROP, SPLIT_NS_FRAG_DROP },
	{ "ipv6_later_fragment_to_vip", U6(.v6frag = 1, .v6frag_off = (100 << 3) | 1), MUT_NONE, 0, ACT_PASS, SPLIT_NS_FRAG_PASS },
	{ "ipv6_hbh_then_first_fragment", U6(.hbh = 1, .v6frag = 1, .v6frag_off = 1), MUT_NONE, 0, ACT_DROP, SPLIT_NS_FRAG_DROP },

	/* for a VIP but cannot go on */
	{ "udp6_zero_checksum_to_vip", U6(.nocsum = 1), MUT_NONE, 0, ACT_DROP, SPLIT_NS_UDP6_NOCSUM },
	{ "tcp4_vip_without_table", T4(.dst = VIP4_NOBE), MUT_NONE, 0, ACT_DROP, SPLIT_NS_NO_BACKEND },
	{ "tcp6_vip_with_empty_slots", T6(.dst = VIP6_NOBE), MUT_NONE, 0, ACT_DROP, SPLIT_NS_NO_BACKEND },
};

#define NFIX (sizeof(fixtures) / sizeof(fixtures[0]))

static void fixture_frames(const struct fixture *f, struct pkt *in, struct pkt *want)
{
	size_t l3 = 14;

	build(&f->s, in);
	switch (f->mut) {
	case MUT_NONE:
		break;
	case MUT_TRUNC:
		in->len = (__u32)f->mval;
		break;
	case MUT_TOTLEN:
		put16(in->b + l3 + (f->s.v6 ? 4 : 2), (__u16)f->mval);
		break;
	case MUT_TOTLEN_L4: {
		size_t hl = (in->b[l3] & 0xf) * 4;

		put16(in->b + l3 + 2, (__u16)(hl + f->mval));
		put16(in->b + l3 + 10, 0);
		put16(in->b + l3 + 10, (__u16)~fold(sum16(in->b + l3, hl, 0)));
		in->len = (__u32)(l3 + hl + f->mval);
		break;
	}
	case MUT_IHL:
		in->b[l3] = (__u8)((in->b[l3] & 0xf0) | f->mval);
		break;
	case MUT_VERSION:
		in->b[l3] = (__u8)((in->b[l3] & 0x0f) | (f->mval << 4));
		break;
	case MUT_ARP:
		put16(in->b + 12, 0x0806);
		break;
	}
	if (f->act == ACT_NAT)
		build_natted(&f->s, hashed_backend(&f->s), want);
	else
		*want = *in;
}

/* BPF_PROG_TEST_RUN for skb programs refuses (EINVAL) an IPv4/IPv6
 * EtherType frame shorter than Ethernet + the fixed IP header: those
 * fixtures run on XDP only. */
static int tc_can_run(const struct pkt *in)
{
	__u16 type = get16(in->b + 12);

	if (type == 0x0800)
		return in->len >= 14 + 20;
	if (type == 0x86dd)
		return in->len >= 14 + 40;
	return in->len >= 14;
}

static int run_fixtures(struct env *e, int which, int *ran)
{
	int bad = 0;

	*ran = 0;
	for (size_t i = 0; i < NFIX; i++) {
		struct pkt in, want;

		fixture_frames(&fixtures[i], &in, &want);
		if (which != P_XDP && !tc_can_run(&in))
			continue;
		++*ran;
		if (check_run(e, which, fixtures[i].name, &in, &want, fixtures[i].act,
			      fixtures[i].stat))
			bad++;
	}
	return bad;
}

/* ---- tests ---------------------------------------------------------------------- */

/* bpf_map__set_pin_path(map, NULL) before load disables pinning in libbpf
 * 1.1.2: nothing appears under the default pin root. */
TEST(load_without_pinning)
{
	const char *names[] = { SPLIT_MAP_SVC, SPLIT_MAP_CT, SPLIT_MAP_CT_REV,
				SPLIT_MAP_BE_STATS, SPLIT_MAP_VER_STATS, SPLIT_MAP_NAT_STATS };
	int existed[6];
	struct bpf_map *m;
	struct env e;

	for (int i = 0; i < 6; i++) {
		char path[128];
		struct stat st;

		snprintf(path, sizeof(path), "/sys/fs/bpf/%s", names[i]);
		existed[i] = !stat(path, &st);
	}
	ENV_OPEN(&e);
	bpf_object__for_each_map(m, e.x->obj)
		ASSERT_TRUE(bpf_map__pin_path(m) == NULL);
	for (int i = 0; i < 6; i++) {
		char path[128];
		struct stat st;

		snprintf(path, sizeof(path), "/sys/fs/bpf/%s", names[i]);
		if (!existed[i] && !stat(path, &st)) {
			env_close(&e);
			TEST_FAIL_("%s was pinned", path);
		}
	}
	/* The new maps have the names and sizes split_common.h says. */
	ASSERT_EQ(bpf_map__key_size(e.x->maps.ct), sizeof(struct split_ct_key));
	ASSERT_EQ(bpf_map__value_size(e.x->maps.ct), sizeof(struct split_ct_val));
	ASSERT_EQ(bpf_map__max_entries(e.x->maps.ct), SPLIT_MAX_CT);
	ASSERT_EQ(bpf_map__value_size(e.x->maps.ct_rev), sizeof(struct split_ct_rev_val));
	ASSERT_EQ(bpf_map__value_size(e.x->maps.be_stats), sizeof(struct split_flow_stats));
	ASSERT_EQ(bpf_map__key_size(e.x->maps.ver_stats), sizeof(struct split_weight_key));
	ASSERT_EQ(bpf_map__max_entries(e.x->maps.nat_stats), SPLIT_NAT_STATS_SLOTS);
	ASSERT_STREQ(bpf_map__name(e.x->maps.ct), SPLIT_MAP_CT);
	ASSERT_STREQ(bpf_map__name(e.x->maps.ct_rev), SPLIT_MAP_CT_REV);
	ASSERT_STREQ(bpf_map__name(e.x->maps.be_stats), SPLIT_MAP_BE_STATS);
	ASSERT_STREQ(bpf_map__name(e.x->maps.ver_stats), SPLIT_MAP_VER_STATS);
	ASSERT_STREQ(bpf_map__name(e.x->maps.nat_stats), SPLIT_MAP_NAT_STATS);
	env_close(&e);
}

/* The test's own frame builder and checksum checker agree. */
TEST(fixture_builder_sane)
{
	for (size_t i = 0; i < NFIX; i++) {
		struct pkt in, want;

		if (fixtures[i].mut != MUT_NONE || fixtures[i].s.vlan || fixtures[i].s.rthdr ||
		    fixtures[i].s.v6frag || fixtures[i].s.proto == 1 || fixtures[i].s.proto == 58 ||
		    (fixtures[i].s.v6 && fixtures[i].s.nocsum))
			continue;
		fixture_frames(&fixtures[i], &in, &want);
		if (!csums_ok(&in) || !csums_ok(&want))
			TEST_FAIL_("fixture %s: builder checksums wrong", fixtures[i].name);
	}
}

TEST(xdp_fixtures)
{
	struct env e;
	int bad, ran;

	ENV_OPEN(&e);
	bad = run_fixtures(&e, P_XDP, &ran);
	env_close(&e);
	ASSERT_EQ(bad, 0);
	ASSERT_EQ(ran, (int)NFIX);
}

TEST(tc_dnat_fixtures)
{
	struct env e;
	int bad, ran;

	ENV_OPEN(&e);
	bad = run_fixtures(&e, P_DNAT, &ran);
	env_close(&e);
	ASSERT_EQ(bad, 0);
	ASSERT_GE(ran, (int)NFIX - 4);
}

/* The UDP checksum that comes out as 0 after the rewrite is sent as 0xffff;
 * a TCP one stays 0. The payload word is chosen so the new checksum is 0. */
TEST(checksum_zero_after_rewrite)
{
	struct env e;
	int bad = 0;

	ENV_OPEN(&e);
	for (int which = P_XDP; which <= P_DNAT; which++) {
		for (int tcp = 0; tcp < 2; tcp++) {
			for (int v6 = 0; v6 < 2; v6++) {
				struct spec s = v6 ? (struct spec)U6(.plen = 2, .extra_word = 0) :
						     (struct spec)U4(.plen = 2, .extra_word = 0);
				struct pkt in, want, probe;
				__u32 id;
				size_t l4 = 14 + (v6 ? 40 : 20);
				__u16 c;

				if (tcp) {
					s.proto = 6;
					s.dport = 80;
					s.flags = TCP_ACK;
				}
				s.sport = (__u16)(41000 + which * 4 + tcp * 2 + v6);
				id = hashed_backend(&s);
				/* checksum of the output with payload word 0 */
				build_natted(&s, id, &probe);
				c = get16(probe.b + l4 + (tcp ? 16 : 6));
				/* adding x to the payload subtracts x from the checksum */
				s.extra_word = c;
				build(&s, &in);
				build_natted(&s, id, &want);
				c = get16(want.b + l4 + (tcp ? 16 : 6));
				if (c != (tcp ? 0 : 0xffff)) {
					fprintf(stderr, "  setup: checksum %04x\n", c);
					bad++;
					continue;
				}
				if (check_run(&e, which, tcp ? "tcp_csum_0" : "udp_csum_ffff",
					      &in, &want, ACT_NAT, SPLIT_NS_DNAT))
					bad++;
			}
		}
	}
	env_close(&e);
	ASSERT_EQ(bad, 0);
}

/* 64 flows per family: the backend is table[jhash2 % SLOTS] exactly as
 * documented (8 backends: a wrong hash matches by chance with p = 8^-64). */
TEST(hash_matches_documented_jhash)
{
	struct env e;
	int bad = 0;

	ENV_OPEN(&e);
	for (int v6 = 0; v6 < 2; v6++) {
		for (int i = 0; i < 64; i++) {
			struct spec s = v6 ? (struct spec)T6() : (struct spec)T4();
			struct pkt in, want, out;
			__u32 ret;

			s.sport = (__u16)(1024 + i * 977);
			if (i & 1) {
				s.proto = 17;
				s.dport = 53;
				s.plen = 4;
			}
			build(&s, &in);
			build_natted(&s, hashed_backend(&s), &want);
			if (run(&e, P_XDP, &in, &out, &ret) || ret != XDP_PASS || !same(&out, &want))
				bad++;
		}
	}
	env_close(&e);
	ASSERT_EQ(bad, 0);
}

static void ct_key_of(const struct spec *s, struct split_ct_key *k)
{
	memset(k, 0, sizeof(*k));
	addr_bin(s->v6, s->src, k->saddr);
	addr_bin(s->v6, s->dst, k->daddr);
	k->sport = htons(s->sport);
	k->dport = htons(s->dport);
	k->proto = (__u8)s->proto;
	k->family = s->v6 ? 6 : 4;
}

static int ct_get(struct env *e, const struct spec *s, struct split_ct_val *v)
{
	struct split_ct_key k;

	ct_key_of(s, &k);
	return bpf_map_lookup_elem(e->m.ct, &k, v);
}

/* The conntrack entry a SYN creates, and its ct_rev twin. */
TEST(conntrack_entry_contents)
{
	struct spec s = T4(.sport = 42000);
	struct split_ct_rev_val rv;
	struct split_ct_val v;
	struct split_ct_key rk = {};
	struct pkt in, out;
	struct timespec t0, t1;
	__u32 ret, id = hashed_backend(&s);
	__u64 a, b;
	char ba[64];
	__be32 want_addr[4];
	struct env e;

	ENV_OPEN(&e);
	build(&s, &in);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ASSERT_EQ(run(&e, P_XDP, &in, &out, &ret), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ASSERT_EQ(ret, XDP_PASS);
	ASSERT_EQ(ct_get(&e, &s, &v), 0);
	be_addr(0, id, ba, sizeof(ba));
	addr_bin(0, ba, want_addr);
	ASSERT_EQ(v.backend_id, id);
	ASSERT_EQ(v.svc_id, 1);
	ASSERT_EQ(v.version_id, VER_OF(id - BE4_ID(0)));
	ASSERT_EQ(v.family, 4);
	ASSERT_EQ(v.port, htons(8080));
	ASSERT_TRUE(!memcmp(v.addr, want_addr, 16));
	a = (__u64)t0.tv_sec * 1000000000ULL + t0.tv_nsec;
	b = (__u64)t1.tv_sec * 1000000000ULL + t1.tv_nsec;
	ASSERT_TRUE(v.created_ns >= a && v.created_ns <= b);

	memcpy(rk.saddr, want_addr, 16);
	addr_bin(0, CLI4, rk.daddr);
	rk.sport = htons(8080);
	rk.dport = htons(42000);
	rk.proto = 6;
	rk.family = 4;
	ASSERT_EQ(bpf_map_lookup_elem(e.m.ct_rev, &rk, &rv), 0);
	ASSERT_EQ(rv.backend_id, id);
	ASSERT_EQ(rv.port, htons(80));
	ASSERT_EQ(rv.addr[0], inet_addr(VIP4));
	env_close(&e);
}

/* A TCP non-SYN with no conntrack entry goes where the hash says and
 * creates the entry; a second node (separate maps, same config) sends the
 * same packet to the same backend. */
TEST(non_syn_without_conntrack_follows_hash)
{
	for (int v6 = 0; v6 < 2; v6++) {
		struct spec s = v6 ? (struct spec)T6(.sport = 43000, .flags = TCP_ACK, .plen = 10) :
				     (struct spec)T4(.sport = 43000, .flags = TCP_ACK, .plen = 10);
		struct pkt in, want, out1, out2;
		struct split_ct_val v;
		struct env n1, n2;
		__u64 adopt;
		__u32 r1, r2;

		build(&s, &in);
		build_natted(&s, hashed_backend(&s), &want);
		ENV_OPEN(&n1);
		ASSERT_NE(ct_get(&n1, &s, &v), 0);
		ASSERT_EQ(run(&n1, P_XDP, &in, &out1, &r1), 0);
		adopt = nat_stat(&n1, SPLIT_NS_CT_ADOPT);
		ASSERT_EQ(ct_get(&n1, &s, &v), 0);
		ASSERT_EQ(v.backend_id, hashed_backend(&s));
		env_close(&n1);
		ASSERT_EQ(adopt, 1);
		ASSERT_EQ(r1, XDP_PASS);
		ASSERT_TRUE(same(&out1, &want));

		ENV_OPEN(&n2);	/* the other node: tc DNAT this time */
		ASSERT_EQ(run(&n2, P_DNAT, &in, &out2, &r2), 0);
		env_close(&n2);
		ASSERT_EQ(r2, TC_ACT_OK);
		ASSERT_TRUE(same(&out2, &want));
	}
}

/* A small table (one slot per endpoint, in slots_v3 at an offset): a new
 * flow goes to ids[hash % n], for XDP and tc DNAT alike, so two nodes with
 * the same table agree; an established flow keeps its backend when the
 * table is replaced by another one elsewhere in slots_v3 (one update of
 * tables_v3), and the old cells can then be reused without effect. */
TEST(small_table_follows_hash)
{
	for (int which = P_XDP; which <= P_DNAT; which++) {
		for (int v6 = 0; v6 < 2; v6++) {
			__u32 f = v6 ? BE6_ID(0) : BE4_ID(0);
			__u32 a[3] = { f + 5, f + 2, f + 7 }, b[2] = { f + 1, f + 3 };
			__u32 junk[3] = { f + 6, f + 6, f + 6 };
			__u32 tid = SPLIT_TABLE_ID(1, v6);
			struct pkt in, want, ack, ackwant;
			struct spec s0;
			struct env e;
			char name[64];

			snprintf(name, sizeof(name), "small prog%d v%d", which, v6 ? 6 : 4);
			ENV_OPEN(&e);
			ASSERT_EQ(set_small(&e, tid, 6, a, 3), 0);
			for (__u16 port = 45000; port < 45024; port++) {
				struct spec s = v6 ? (struct spec)T6(.sport = port) :
						     (struct spec)T4(.sport = port);

				build(&s, &in);
				build_natted(&s, a[ref_flow_hash(&s) % 3], &want);
				if (check_run(&e, which, name, &in, &want, ACT_NAT, SPLIT_NS_DNAT))
					TEST_FAIL_("%s: port %u not at slot hash %% 3", name, port);
			}
			/* swap: a 2-slot table at offset 0; old flows stay */
			s0 = v6 ? (struct spec)T6(.sport = 45000) : (struct spec)T4(.sport = 45000);
			ASSERT_EQ(set_small(&e, tid, 0, b, 2), 0);
			ASSERT_EQ(set_small(&e, SPLIT_TABLE_ID(7, v6), 6, junk, 3), 0); /* old cells reused */
			s0.flags = TCP_ACK;
			s0.plen = 10;
			build(&s0, &ack);
			build_natted(&s0, a[ref_flow_hash(&s0) % 3], &ackwant);
			if (check_run(&e, which, name, &ack, &ackwant, ACT_NAT, SPLIT_NS_DNAT))
				TEST_FAIL_("%s: established flow moved with the table", name);
			for (__u16 port = 46000; port < 46016; port++) {
				struct spec s = v6 ? (struct spec)T6(.sport = port) :
						     (struct spec)T4(.sport = port);

				build(&s, &in);
				build_natted(&s, b[ref_flow_hash(&s) % 2], &want);
				if (check_run(&e, which, name, &in, &want, ACT_NAT, SPLIT_NS_DNAT))
					TEST_FAIL_("%s: port %u not on the new small table", name, port);
			}
			/* an entry of another kind, or of length 0: no backend */
			{
				struct split_table_val tv = { .kind = SPLIT_TBL_FREED, .nslots = 2 };
				struct spec s = v6 ? (struct spec)T6(.sport = 47000) :
						     (struct spec)T4(.sport = 47000);

				ASSERT_EQ(bpf_map_update_elem(e.m.tables, &tid, &tv, BPF_ANY), 0);
				build(&s, &in);
				if (check_run(&e, which, name, &in, &in, ACT_DROP, SPLIT_NS_NO_BACKEND))
					TEST_FAIL_("%s: a tombstone entry chose a backend", name);
				tv.kind = SPLIT_TBL_SMALL;
				tv.nslots = 0;
				ASSERT_EQ(bpf_map_update_elem(e.m.tables, &tid, &tv, BPF_ANY), 0);
				s.sport = 47001;
				build(&s, &in);
				if (check_run(&e, which, name, &in, &in, ACT_DROP, SPLIT_NS_NO_BACKEND))
					TEST_FAIL_("%s: an empty small table chose a backend", name);
			}
			env_close(&e);
		}
	}
}

/* Established flows keep their backend when the table changes (even when
 * the backend's weight went to 0: it is in no slot any more), new flows
 * follow the new table, and a flow whose backend left the service is
 * re-hashed. */
TEST(established_flow_keeps_backend)
{
	for (int which = P_XDP; which <= P_DNAT; which++) {
		for (int v6 = 0; v6 < 2; v6++) {
			struct spec s = v6 ? (struct spec)T6(.sport = 44000) :
					     (struct spec)T4(.sport = 44000);
			struct spec s2 = s;
			__u32 first = v6 ? BE6_ID(0) : BE4_ID(0);
			__u32 old = hashed_backend(&s), other = old == first ? first + 1 : first;
			struct pkt in, want, ack, ackwant;
			struct split_ct_val v0, v1;
			struct env e;
			char name[64];

			snprintf(name, sizeof(name), "prog%d_v%d", which, v6 ? 6 : 4);
			ENV_OPEN(&e);
			build(&s, &in);
			build_natted(&s, old, &want);
			if (check_run(&e, which, name, &in, &want, ACT_NAT, SPLIT_NS_DNAT))
				TEST_FAIL_("%s: first SYN", name);
			ASSERT_EQ(ct_get(&e, &s, &v0), 0);

			/* new table: every slot is `other`; `old` drains */
			ASSERT_EQ(set_table(&e, SPLIT_TABLE_ID(1, v6), make_table(0, other)), 0);
			/* a retransmitted SYN (no ACK sent yet) stays */
			if (check_run(&e, which, name, &in, &want, ACT_NAT, SPLIT_NS_DNAT))
				TEST_FAIL_("%s: SYN retransmit moved", name);
			s.flags = TCP_ACK;
			s.plen = 50;
			build(&s, &ack);
			build_natted(&s, old, &ackwant);
			if (check_run(&e, which, name, &ack, &ackwant, ACT_NAT, SPLIT_NS_DNAT))
				TEST_FAIL_("%s: established flow moved", name);
			ASSERT_EQ(ct_get(&e, &s, &v1), 0);
			ASSERT_EQ(v1.created_ns, v0.created_ns);
			ASSERT_EQ(v1.flags, SPLIT_CT_F_ACKED);

			/* a new flow goes to the new table */
			s2.sport = 44001;
			build(&s2, &in);
			build_natted(&s2, other, &want);
			if (check_run(&e, which, name, &in, &want, ACT_NAT, SPLIT_NS_DNAT))
				TEST_FAIL_("%s: new flow not on the new table", name);

			/* the old backend leaves the service: its flow drains there */
			ASSERT_EQ(bpf_map_delete_elem(e.m.backends, &old), 0);
			build_natted(&s, old, &ackwant);
			if (check_run(&e, which, name, &ack, &ackwant, ACT_NAT, SPLIT_NS_DNAT))
				TEST_FAIL_("%s: flow of a removed backend moved", name);
			ASSERT_EQ(nat_stat(&e, SPLIT_NS_CT_STALE), 0);
			ASSERT_EQ(ct_get(&e, &s, &v1), 0);
			ASSERT_EQ(v1.backend_id, old);
			ASSERT_EQ(v1.created_ns, v0.created_ns);

			/* the connection is over and the client reuses its port:
			 * a SYN after the ACKs is a new connection, by the table */
			{
				struct spec syn = s;

				syn.flags = TCP_SYN;
				syn.plen = 0;
				build(&syn, &in);
				build_natted(&syn, other, &want);
				if (check_run(&e, which, name, &in, &want, ACT_NAT, SPLIT_NS_DNAT))
					TEST_FAIL_("%s: reused port followed the old flow", name);
			}
			ASSERT_EQ(ct_get(&e, &s, &v1), 0);
			ASSERT_EQ(v1.backend_id, other);
			ASSERT_EQ(v1.flags, 0);
			env_close(&e);
		}
	}
}

/* A reply from the backend through split_tc_rev gets VIP:port back as its
 * source, with correct checksums; other traffic from backends is untouched. */
TEST(reverse_nat)
{
	struct spec flows[] = {
		T4(.sport = 45000), U4(.sport = 45001), U4(.sport = 45002, .nocsum = 1),
		T6(.sport = 45003), U6(.sport = 45004), T4(.sport = 45005, .ipopt = 4),
		T6(.sport = 45006, .hbh = 1), U4(.sport = 45007, .pad_to = 60),
	};
	int bad = 0;

	for (int which = P_XDP; which <= P_DNAT; which++) {
		struct env e;

		ENV_OPEN(&e);
		for (size_t i = 0; i < sizeof(flows) / sizeof(flows[0]); i++) {
			const struct spec *s = &flows[i];
			__u32 id = hashed_backend(s);
			struct pkt in, want, rep, repwant;
			struct spec other;

			build(s, &in);
			build_natted(s, id, &want);
			if (check_run(&e, which, "dnat", &in, &want, ACT_NAT, SPLIT_NS_DNAT)) {
				bad++;
				continue;
			}
			build_reply(s, id, 0, &rep);
			build_reply(s, id, 1, &repwant);
			if (check_run(&e, P_REV, "reply", &rep, &repwant, ACT_NAT, SPLIT_NS_REV_NAT))
				bad++;
			/* the same backend to another client port: not ours */
			other = *s;
			other.sport = (__u16)(s->sport + 1000);
			build_reply(&other, id, 0, &rep);
			if (check_run(&e, P_REV, "unrelated reply", &rep, &rep, ACT_PASS, -1))
				bad++;
			/* the client's own packet is not a reply */
			if (check_run(&e, P_REV, "forward packet", &in, &in, ACT_PASS, -1))
				bad++;
		}
		env_close(&e);
	}
	ASSERT_EQ(bad, 0);
}

/* tc_rev leaves malformed frames alone (it is never the one to drop). */
TEST(reverse_nat_malformed_untouched)
{
	struct env e;
	int bad = 0;

	ENV_OPEN(&e);
	for (size_t i = 0; i < NFIX; i++) {
		struct pkt in, want;

		if (fixtures[i].act == ACT_NAT)
			continue;
		fixture_frames(&fixtures[i], &in, &want);
		if (!tc_can_run(&in))
			continue;
		if (check_run(&e, P_REV, fixtures[i].name, &in, &in, ACT_PASS, -1))
			bad++;
	}
	env_close(&e);
	ASSERT_EQ(bad, 0);
}

/* Per-backend and per-version counters: new flows, packets, L3 bytes, both
 * directions; nat_stats counts DNAT, new flows and reverse NAT. */
TEST(counters)
{
	struct spec s = T4(.sport = 46000);
	struct split_flow_stats st;
	struct split_weight_key vk = { .svc_id = 1 };
	struct pkt in, out, rep;
	__u32 ret, id = hashed_backend(&s), other;
	__u64 bytes = 0;
	struct env e;

	ENV_OPEN(&e);
	vk.version_id = VER_OF(id - BE4_ID(0));
	build(&s, &in);
	ASSERT_EQ(run(&e, P_XDP, &in, &out, &ret), 0);
	bytes += in.len - 14;
	s.flags = TCP_ACK;
	s.plen = 100;
	build(&s, &in);
	ASSERT_EQ(run(&e, P_XDP, &in, &out, &ret), 0);
	bytes += in.len - 14;
	s.pad_to = 0;
	s.plen = 7;
	build(&s, &in);
	ASSERT_EQ(run(&e, P_DNAT, &in, &out, &ret), 0);
	bytes += in.len - 14;
	s.plen = 0;
	s.pad_to = 60;	/* padding is not counted */
	build(&s, &in);
	ASSERT_EQ(run(&e, P_XDP, &in, &out, &ret), 0);
	bytes += 40;
	build_reply(&s, id, 0, &rep);
	ASSERT_EQ(run(&e, P_REV, &rep, &out, &ret), 0);

	ASSERT_EQ(flow_stats(&e, e.m.be_stats, &id, &st), 0);
	ASSERT_EQ(st.flows, 1);
	ASSERT_EQ(st.packets, 4);
	ASSERT_EQ(st.bytes, bytes);
	ASSERT_EQ(st.rev_packets, 1);
	ASSERT_EQ(st.rev_bytes, 40 + 0);
	ASSERT_EQ(flow_stats(&e, e.m.ver_stats, &vk, &st), 0);
	ASSERT_EQ(st.flows, 1);
	ASSERT_EQ(st.packets, 4);
	ASSERT_EQ(st.bytes, bytes);
	ASSERT_EQ(st.rev_packets, 1);
	ASSERT_EQ(nat_stat(&e, SPLIT_NS_DNAT), 4);
	ASSERT_EQ(nat_stat(&e, SPLIT_NS_NEW_FLOW), 1);
	ASSERT_EQ(nat_stat(&e, SPLIT_NS_CT_ADOPT), 0);
	ASSERT_EQ(nat_stat(&e, SPLIT_NS_REV_NAT), 1);
	/* a backend that saw nothing has no entry */
	other = id == BE4_ID(0) ? BE4_ID(1) : BE4_ID(0);
	ASSERT_EQ(flow_stats(&e, e.m.be_stats, &other, &st), -1);
	/* the other version's counters stay apart */
	{
		struct spec s2 = T4();
		int n = 0;

		/* find a flow that hashes to the other version */
		for (__u16 p = 46100; p < 46200 && !n; p++) {
			s2.sport = p;
			if (VER_OF(hashed_backend(&s2) - BE4_ID(0)) != vk.version_id)
				n = 1;
		}
		ASSERT_EQ(n, 1);
		build(&s2, &in);
		ASSERT_EQ(run(&e, P_XDP, &in, &out, &ret), 0);
		ASSERT_EQ(flow_stats(&e, e.m.ver_stats, &vk, &st), 0);
		ASSERT_EQ(st.flows, 1);
		vk.version_id = 3 - vk.version_id;
		ASSERT_EQ(flow_stats(&e, e.m.ver_stats, &vk, &st), 0);
		ASSERT_EQ(st.flows, 1);
		ASSERT_EQ(st.packets, 1);
		ASSERT_EQ(st.bytes, 40);
	}
	env_close(&e);
}

/* A conntrack entry keeps the address it was created with: when its
 * backend id is reused for another address, the flow stays where it was;
 * when the VIP:port moves to another service, the flow starts over. */
TEST(conntrack_keeps_its_address)
{
	struct spec s = T4(.sport = 47000);
	__u32 id = hashed_backend(&s), to = id == BE4_ID(7) ? BE4_ID(6) : BE4_ID(7);
	struct split_backend_val b;
	struct split_svc_key sk;
	struct split_svc_val sv;
	struct pkt in, want, moved;
	struct env e;
	int bad = 0;

	ENV_OPEN(&e);
	build(&s, &in);
	build_natted(&s, id, &want);
	bad += !!check_run(&e, P_XDP, "first", &in, &want, ACT_NAT, SPLIT_NS_DNAT);
	/* id now means 10.1.0.99, and the table sends everything to `to` */
	ASSERT_EQ(bpf_map_lookup_elem(e.m.backends, &id, &b), 0);
	b.addr[0] = inet_addr("10.1.0.99");
	ASSERT_EQ(bpf_map_update_elem(e.m.backends, &id, &b, BPF_ANY), 0);
	ASSERT_EQ(set_table(&e, SPLIT_TABLE_ID(1, 0), make_table(0, to)), 0);
	bad += !!check_run(&e, P_XDP, "kept", &in, &want, ACT_NAT, SPLIT_NS_DNAT);
	ASSERT_EQ(nat_stat(&e, SPLIT_NS_CT_STALE), 0);
	/* the VIP:port now belongs to service 2 (same table): start over */
	memset(&sk, 0, sizeof(sk));
	addr_bin(0, VIP4, sk.addr);
	sk.port = htons(80);
	sk.proto = IPPROTO_TCP;
	sk.family = 4;
	ASSERT_EQ(bpf_map_lookup_elem(e.m.svc, &sk, &sv), 0);
	sv.svc_id = 2;
	ASSERT_EQ(bpf_map_update_elem(e.m.svc, &sk, &sv, BPF_ANY), 0);
	build_natted(&s, to, &moved);
	bad += !!check_run(&e, P_XDP, "re-hashed", &in, &moved, ACT_NAT, SPLIT_NS_DNAT);
	ASSERT_EQ(nat_stat(&e, SPLIT_NS_CT_STALE), 1);
	env_close(&e);
	ASSERT_EQ(bad, 0);
}

/* A ct_rev entry that the LRU evicted while the flow lives on is written
 * again by the flow's next packet a second later (the forward path looks
 * at ct_rev once a second per flow), and replies are reverse-NATed again. */
TEST(reverse_entry_restored)
{
	struct spec s = U6(.sport = 48000);
	__u32 id = hashed_backend(&s);
	struct split_ct_key rk = {};
	struct split_ct_rev_val rv;
	struct pkt in, want, rep, repwant;
	char ba[64];
	struct env e;
	int bad = 0;

	ENV_OPEN(&e);
	build(&s, &in);
	build_natted(&s, id, &want);
	be_addr(1, id, ba, sizeof(ba));
	addr_bin(1, ba, rk.saddr);
	addr_bin(1, CLI6, rk.daddr);
	rk.sport = htons(5353);
	rk.dport = htons(48000);
	rk.proto = 17;
	rk.family = 6;
	bad += !!check_run(&e, P_XDP, "first", &in, &want, ACT_NAT, SPLIT_NS_DNAT);
	ASSERT_EQ(bpf_map_delete_elem(e.m.ct_rev, &rk), 0);
	build_reply(&s, id, 0, &rep);
	bad += !!check_run(&e, P_REV, "reply without entry", &rep, &rep, ACT_PASS, -1);
	bad += !!check_run(&e, P_DNAT, "second, same second", &in, &want, ACT_NAT, SPLIT_NS_DNAT);
	ASSERT_NE(bpf_map_lookup_elem(e.m.ct_rev, &rk, &rv), 0);	/* not yet */
	{
		struct split_ct_val cv;
		struct split_ct_key fk;

		ct_key_of(&s, &fk);
		ASSERT_EQ(bpf_map_lookup_elem(e.m.ct, &fk, &cv), 0);
		cv.last_ns -= SPLIT_CT_TOUCH_NS + 1;	/* a second later */
		ASSERT_EQ(bpf_map_update_elem(e.m.ct, &fk, &cv, BPF_EXIST), 0);
	}
	bad += !!check_run(&e, P_DNAT, "a second later", &in, &want, ACT_NAT, SPLIT_NS_DNAT);
	ASSERT_EQ(bpf_map_lookup_elem(e.m.ct_rev, &rk, &rv), 0);
	build_reply(&s, id, 1, &repwant);
	bad += !!check_run(&e, P_REV, "reply", &rep, &repwant, ACT_NAT, SPLIT_NS_REV_NAT);
	env_close(&e);
	ASSERT_EQ(bad, 0);
}
