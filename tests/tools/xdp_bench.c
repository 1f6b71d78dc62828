// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * xdp_bench.c - ns per packet of split_xdp through BPF_PROG_TEST_RUN (root).
 * Run by bench/bench_xdp.sh; a benchmark, not a test.
 *
 *   xdp_bench [-n FLOWS] [-r ROUNDS] [-R REPEAT]
 *
 * Loads build/split_xdp.bpf.o's skeleton with pinning disabled (nothing
 * under /sys/fs/bpf, nothing attached anywhere), installs one service the
 * way tests/bpf/test_xdp.c does (VIP 10.96.0.10:80/TCP -> 8080, four IPv4
 * backends 10.1.0.1-4 in two versions at 50/50: slot s holds backend
 * 1 + s % 4, v1 = backends 1-2, v2 = 3-4) and times 60-byte TCP frames:
 *
 *   pass     a TCP ACK to 10.1.0.1:80, not a VIP: parse, svc miss, XDP_PASS
 *   new      a TCP SYN to the VIP whose ct entry does not exist, FLOWS
 *            distinct flows (source 10.0.x.y, port 10000..26383)
 *   est1     a TCP ACK on each of those flows, entry present; this first
 *            non-SYN also sets the entry's ACKED flag (one write)
 *   est      a TCP ACK on each of those flows again: an established flow
 *            among FLOWS live ones (ct and ct_rev lookups miss the caches)
 *   est_1k   the same over the first 1024 flows only, cycled (the entries
 *            stay in the caches)
 *   est_hot  a TCP ACK on one flow, over and over (everything cached)
 *   counters a synthetic program doing only the per-CPU counter updates
 *            split_xdp does for an established DNAT (nat_stats[DNAT],
 *            be_stats[backend], ver_stats[(svc, version)]: three lookups,
 *            seven adds) on split_xdp's own maps
 *   empty    an XDP program of two instructions (r0 = XDP_PASS; exit)
 *   *_nocount new, est1, est, est_1k, est_hot (warm only) through a second
 *            split_xdp loaded with its rodata split_no_count = 1 (what
 *            splitd --no-counters loads): no be_stats / ver_stats updates,
 *            so the difference is what the counters cost; nat_stats (the
 *            pass/drop/DNAT reasons) count in both
 *
 * The problem: test_run does not reset the packet between repeats. After
 * one run of a VIP packet its destination is the backend, so repeats 2..N
 * time a non-VIP pass; and after the first SYN the ct entry exists. Two
 * ways around it, both reported:
 *
 *   warm  repeat = FLOWS in one call, through a wrapper: a small XDP
 *         program that first writes the case's 60-byte frame back into the
 *         packet (from a map), with flow i's source address and port
 *         (i counts the repeats), then tail-calls split_xdp. The same
 *         wrapper tail-calling the empty program is the baseline, so
 *         warm = mean(wrapper -> split_xdp) - mean(wrapper -> empty): the
 *         program's own cost in a tight loop, as in a NAPI poll (the
 *         wrapper leaves the IP and TCP checksums stale; split_xdp does not
 *         check them). Only a mean per call: the median of the rounds is
 *         printed, with the range of the rounds.
 *   cold  repeat = 1, one call per packet, a fresh copy of the frame each
 *         time; the figure is the kernel's own timing of that run
 *         (opts.duration: two ktime reads around the program, no syscall,
 *         no copy). Per-packet samples give a median and percentiles. Each
 *         run follows a syscall, which on this kind of machine (page-table
 *         isolation, a VM) leaves TLBs and caches cold: an upper bound,
 *         not the datapath's cost. net = median(case) - median(empty), the
 *         empty program timed the same way (the cost of the timing).
 *
 * pass, counters and empty do not change the packet, so their warm figure
 * is a plain repeat = REPEAT (no wrapper), minus the empty program's.
 * The wall time of a whole test_run syscall (CLOCK_MONOTONIC around it) is
 * printed too: the syscall overhead, not part of any figure above.
 *
 * The counters cannot be compiled out of split_xdp (there is no such build),
 * so their cost is an estimate by difference: the synthetic program minus
 * the empty one. kernel.bpf_stats_enabled is only read, never changed: when
 * it is already on, split_xdp's run_time_ns / run_cnt (what `bpftool prog
 * show` prints) are reported per case.
 *
 * Output, for the script: "key=value" lines,
 *   info flows=.. rounds=.. repeat=.. ncpu=.. bpf_stats=0|1
 *   case=NAME method=cold calls=C median=.. p10=.. p90=.. p99=.. mean=..
 *        rmin=.. rmax=.. wall=..        (rmin/rmax: range of the rounds' medians)
 *   case=NAME method=warm repeat=R ns=.. rmin=.. rmax=..   (ns: median of rounds)
 *   stats case=NAME run_cnt=.. run_time_ns=.. ns_per_run=..  (bpf_stats on only)
 * Every case checks the verdict and split_xdp's nat_stats reasons (a new
 * flow per SYN, none per ACK, a DNAT per packet, NOT_VIP for pass): exit 1
 * if split_xdp did not do what the case says.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "split_common.h"
#include "split_xdp.skel.h"
#include "../lib/tutil.h"
#include "../lib/xdp_maps.h"

#define VIP		0x0a60000aU	/* 10.96.0.10 */
#define NONVIP		0x0a010001U	/* 10.1.0.1 */
#define VPORT		80
#define TPORT		8080
#define NBE		4
#define SVC_ID		1
#define FRAME_LEN	60
#define HIST_MAX	100000		/* ns; slower single runs land in the last bucket */
#define MAX_ROUNDS	64
#define TCP_SYN		0x02
#define TCP_ACK		0x10

static int ncpu;

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
}

/* ---- packets ------------------------------------------------------------- */

struct frame {
	__u8 b[64];
	__u32 len;
};

static __u32 sum16(const __u8 *p, size_t n, __u32 s)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (__u32)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		s += (__u32)p[n - 1] << 8;
	return s;
}

static __u16 fold(__u32 s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (__u16)s;
}

static void put16(__u8 *p, __u16 v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

/* Ethernet + IPv4 + TCP (20 bytes, no options) + 6 bytes of payload: a
 * 60-byte frame, the Ethernet minimum. Checksums computed in full. The
 * source address is at bytes 26..29, the source port at 34..35. */
static void build_tcp(struct frame *f, __u32 saddr, __u32 daddr, __u16 sport,
		      __u16 dport, __u8 flags)
{
	__u8 *b = f->b, *ip = b + 14, *th = b + 34;
	__u32 s;

	memset(f, 0, sizeof(*f));
	memcpy(b, "\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00", 14);
	ip[0] = 0x45;
	put16(ip + 2, 20 + 20 + 6);
	put16(ip + 4, 0x1234);
	put16(ip + 6, 0x4000);	/* DF */
	ip[8] = 64;
	ip[9] = 6;
	put16(ip + 12, saddr >> 16);
	put16(ip + 14, saddr & 0xffff);
	put16(ip + 16, daddr >> 16);
	put16(ip + 18, daddr & 0xffff);
	put16(ip + 10, (__u16)~fold(sum16(ip, 20, 0)));
	put16(th, sport);
	put16(th + 2, dport);
	put16(th + 4, 0x0102);
	put16(th + 6, 0x0304);
	th[12] = 5 << 4;
	th[13] = flags;
	put16(th + 14, 0xffff);
	memcpy(th + 20, "bench!", 6);
	s = sum16(ip + 12, 8, 0) + 6 + 26;
	put16(th + 16, (__u16)~fold(sum16(th, 26, s)));
	f->len = FRAME_LEN;
}

/* Flow i: source 10.0.0.1 + (i >> 14), port 10000 + (i & 0x3fff). The
 * wrapper program computes the same (the low 16 bits of the address). */
static void flow_frame(struct frame *f, __u32 i, __u8 flags)
{
	build_tcp(f, 0x0a000001U + (i >> 14), VIP, (__u16)(10000 + (i & 0x3fff)), VPORT, flags);
}

/* ---- programs built from instructions ------------------------------------ */

#define INSN(c, d, s, o, i) \
	((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })
#define MOV_IMM(d, i)		INSN(BPF_ALU64 | BPF_MOV | BPF_K, d, 0, 0, i)
#define MOV_REG(d, s)		INSN(BPF_ALU64 | BPF_MOV | BPF_X, d, s, 0, 0)
#define ALU_IMM(op, d, i)	INSN(BPF_ALU64 | (op) | BPF_K, d, 0, 0, i)
#define ALU_REG(op, d, s)	INSN(BPF_ALU64 | (op) | BPF_X, d, s, 0, 0)
#define LDX(sz, d, s, o)	INSN(BPF_LDX | BPF_MEM | (sz), d, s, o, 0)
#define STX(sz, d, s, o)	INSN(BPF_STX | BPF_MEM | (sz), d, s, o, 0)
#define ST(sz, d, o, i)		INSN(BPF_ST | BPF_MEM | (sz), d, 0, o, i)
#define CALL(f)			INSN(BPF_JMP | BPF_CALL, 0, 0, 0, f)
#define EXIT()			INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
#define TO_BE16(d)		INSN(BPF_ALU | BPF_END | BPF_TO_BE, d, 0, 0, 16)

struct prog_buf {
	struct bpf_insn in[160];
	int n;
};

static int emit(struct prog_buf *p, struct bpf_insn i)
{
	if (p->n >= (int)(sizeof(p->in) / sizeof(p->in[0])))
		tu_die("program too long");
	p->in[p->n] = i;
	return p->n++;
}

static void emit_map_fd(struct prog_buf *p, int reg, int fd)
{
	emit(p, INSN(BPF_LD | BPF_DW | BPF_IMM, reg, BPF_PSEUDO_MAP_FD, 0, fd));
	emit(p, INSN(0, 0, 0, 0, 0));
}

/* A jump at insn `at` to the current end. */
static void patch_to_here(struct prog_buf *p, int at)
{
	p->in[at].off = (__s16)(p->n - at - 1);
}

/* Look up the key at fp+key_off in map_fd and add adds[k] to the u64 at
 * offset offs[k] of the value, for k < nadd. */
static void emit_lookup_add(struct prog_buf *p, int map_fd, int key_off,
			    const int *offs, const int *adds, int nadd)
{
	int jmp;

	emit_map_fd(p, BPF_REG_1, map_fd);
	emit(p, MOV_REG(BPF_REG_2, BPF_REG_10));
	emit(p, ALU_IMM(BPF_ADD, BPF_REG_2, key_off));
	emit(p, CALL(BPF_FUNC_map_lookup_elem));
	jmp = emit(p, INSN(BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_0, 0, 0, 0));
	for (int k = 0; k < nadd; k++) {
		emit(p, LDX(BPF_DW, BPF_REG_1, BPF_REG_0, (__s16)offs[k]));
		emit(p, ALU_IMM(BPF_ADD, BPF_REG_1, adds[k]));
		emit(p, STX(BPF_DW, BPF_REG_0, BPF_REG_1, (__s16)offs[k]));
	}
	patch_to_here(p, jmp);
}

static int load_insns(const char *name, const struct prog_buf *p)
{
	static char log[1 << 16];
	LIBBPF_OPTS(bpf_prog_load_opts, o, .log_buf = log, .log_size = sizeof(log),
		    .expected_attach_type = BPF_XDP);
	int fd;

	fd = bpf_prog_load(BPF_PROG_TYPE_XDP, name, "Dual BSD/GPL", p->in, (size_t)p->n, &o);
	if (fd < 0) {
		int err = errno;

		o.log_level = 1;
		bpf_prog_load(BPF_PROG_TYPE_XDP, name, "Dual BSD/GPL", p->in, (size_t)p->n, &o);
		tu_die("loading %s: %s\n%s", name, strerror(err), log);
	}
	return fd;
}

static int load_empty(void)
{
	struct prog_buf p = { .n = 0 };

	emit(&p, MOV_IMM(BPF_REG_0, XDP_PASS));
	emit(&p, EXIT());
	return load_insns("bench_empty", &p);
}

/* split_xdp's counter updates for an established DNAT of a 46-byte IP
 * packet to backend `be` of version `ver`: split_stat(SPLIT_NS_DNAT), then
 * split_count(): flows += 0, packets += 1, bytes += 46 in be_stats and in
 * ver_stats. */
static int load_counters(int nat_stats, int be_stats, int ver_stats, __u32 be, __u32 ver)
{
	struct prog_buf p = { .n = 0 };
	const int ns_off[] = { 0 }, ns_add[] = { 1 };
	const int fs_off[] = { offsetof(struct split_flow_stats, flows),
			       offsetof(struct split_flow_stats, packets),
			       offsetof(struct split_flow_stats, bytes) };
	const int fs_add[] = { 0, 1, 46 };

	emit(&p, ST(BPF_W, BPF_REG_10, -4, SPLIT_NS_DNAT));
	emit_lookup_add(&p, nat_stats, -4, ns_off, ns_add, 1);
	emit(&p, ST(BPF_W, BPF_REG_10, -8, (__s32)be));
	emit_lookup_add(&p, be_stats, -8, fs_off, fs_add, 3);
	emit(&p, ST(BPF_W, BPF_REG_10, -16, SVC_ID));
	emit(&p, ST(BPF_W, BPF_REG_10, -12, (__s32)ver));
	emit_lookup_add(&p, ver_stats, -16, fs_off, fs_add, 3);
	emit(&p, MOV_IMM(BPF_REG_0, XDP_PASS));
	emit(&p, EXIT());
	return load_insns("bench_counters", &p);
}

/* The wrapper's control map value: which flow comes next, and the frame. */
struct wctl {
	__u32 idx;		/* flow index of the next run, base + idx */
	__u32 wrap;		/* idx goes 0 .. wrap - 1, then 0 again */
	__u32 base;
	__u32 pad;
	__u8 frame[64];		/* FRAME_LEN bytes used */
};

/* The wrapper: i = base + idx, idx = (idx + 1) % wrap; write ctl.frame into
 * the packet with flow i's source address (low 16 bits) and port; tail-call
 * slot `slot` of progs. Returns XDP_DROP if the tail call did not happen. */
static int load_wrapper(int ctl, int progs, int slot)
{
	struct prog_buf p = { .n = 0 };
	int out[3], j;

	emit(&p, MOV_REG(BPF_REG_6, BPF_REG_1));
	emit(&p, ST(BPF_W, BPF_REG_10, -4, 0));
	emit_map_fd(&p, BPF_REG_1, ctl);
	emit(&p, MOV_REG(BPF_REG_2, BPF_REG_10));
	emit(&p, ALU_IMM(BPF_ADD, BPF_REG_2, -4));
	emit(&p, CALL(BPF_FUNC_map_lookup_elem));
	out[0] = emit(&p, INSN(BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_0, 0, 0, 0));
	emit(&p, MOV_REG(BPF_REG_8, BPF_REG_0));
	emit(&p, LDX(BPF_W, BPF_REG_7, BPF_REG_8, offsetof(struct wctl, idx)));
	emit(&p, MOV_REG(BPF_REG_1, BPF_REG_7));
	emit(&p, ALU_IMM(BPF_ADD, BPF_REG_1, 1));
	emit(&p, LDX(BPF_W, BPF_REG_2, BPF_REG_8, offsetof(struct wctl, wrap)));
	j = emit(&p, INSN(BPF_JMP | BPF_JLT | BPF_X, BPF_REG_1, BPF_REG_2, 0, 0));
	emit(&p, MOV_IMM(BPF_REG_1, 0));
	patch_to_here(&p, j);
	emit(&p, STX(BPF_W, BPF_REG_8, BPF_REG_1, offsetof(struct wctl, idx)));
	emit(&p, LDX(BPF_W, BPF_REG_1, BPF_REG_8, offsetof(struct wctl, base)));
	emit(&p, ALU_REG(BPF_ADD, BPF_REG_7, BPF_REG_1));
	/* the packet: 60 bytes must be there */
	emit(&p, LDX(BPF_W, BPF_REG_2, BPF_REG_6, offsetof(struct xdp_md, data)));
	emit(&p, LDX(BPF_W, BPF_REG_3, BPF_REG_6, offsetof(struct xdp_md, data_end)));
	emit(&p, MOV_REG(BPF_REG_4, BPF_REG_2));
	emit(&p, ALU_IMM(BPF_ADD, BPF_REG_4, FRAME_LEN));
	out[1] = emit(&p, INSN(BPF_JMP | BPF_JGT | BPF_X, BPF_REG_4, BPF_REG_3, 0, 0));
	for (int k = 0; k < 56; k += 8) {
		emit(&p, LDX(BPF_DW, BPF_REG_1, BPF_REG_8, (__s16)(offsetof(struct wctl, frame) + k)));
		emit(&p, STX(BPF_DW, BPF_REG_2, BPF_REG_1, (__s16)k));
	}
	emit(&p, LDX(BPF_W, BPF_REG_1, BPF_REG_8, (__s16)(offsetof(struct wctl, frame) + 56)));
	emit(&p, STX(BPF_W, BPF_REG_2, BPF_REG_1, 56));
	/* source port 10000 + (i & 0x3fff), address low half 1 + (i >> 14) */
	emit(&p, MOV_REG(BPF_REG_1, BPF_REG_7));
	emit(&p, ALU_IMM(BPF_AND, BPF_REG_1, 0x3fff));
	emit(&p, ALU_IMM(BPF_ADD, BPF_REG_1, 10000));
	emit(&p, TO_BE16(BPF_REG_1));
	emit(&p, STX(BPF_H, BPF_REG_2, BPF_REG_1, 34));
	emit(&p, MOV_REG(BPF_REG_1, BPF_REG_7));
	emit(&p, ALU_IMM(BPF_RSH, BPF_REG_1, 14));
	emit(&p, ALU_IMM(BPF_ADD, BPF_REG_1, 1));
	emit(&p, TO_BE16(BPF_REG_1));
	emit(&p, STX(BPF_H, BPF_REG_2, BPF_REG_1, 28));
	/* tail call */
	emit(&p, MOV_REG(BPF_REG_1, BPF_REG_6));
	emit_map_fd(&p, BPF_REG_2, progs);
	emit(&p, MOV_IMM(BPF_REG_3, slot));
	emit(&p, CALL(BPF_FUNC_tail_call));
	patch_to_here(&p, out[0]);
	patch_to_here(&p, out[1]);
	out[2] = emit(&p, MOV_IMM(BPF_REG_0, XDP_DROP));
	(void)out[2];
	emit(&p, EXIT());
	return load_insns(slot == 1 ? "bench_wrap_empty" : slot ? "bench_wrap_nocnt" : "bench_wrap_xdp", &p);
}

/* ---- timing --------------------------------------------------------------- */

struct hist {
	__u64 n, sum, wall;
	__u32 *h;	/* HIST_MAX + 1 buckets */
};

static void hist_init(struct hist *h)
{
	memset(h, 0, sizeof(*h));
	h->h = calloc(HIST_MAX + 1, sizeof(*h->h));
	if (!h->h)
		tu_die("out of memory");
}

static void hist_reset(struct hist *h)
{
	h->n = h->sum = h->wall = 0;
	memset(h->h, 0, (HIST_MAX + 1) * sizeof(*h->h));
}

static void hist_add(struct hist *h, __u32 v, __u64 wall)
{
	h->h[v > HIST_MAX ? HIST_MAX : v]++;
	h->n++;
	h->sum += v;
	h->wall += wall;
}

static void hist_merge(struct hist *to, const struct hist *from)
{
	for (int i = 0; i <= HIST_MAX; i++)
		to->h[i] += from->h[i];
	to->n += from->n;
	to->sum += from->sum;
	to->wall += from->wall;
}

static double hist_q(const struct hist *h, double q)
{
	__u64 want, seen = 0;

	if (!h->n)
		return 0;
	want = (__u64)(q * (double)(h->n - 1));
	for (int i = 0; i <= HIST_MAX; i++) {
		seen += h->h[i];
		if (seen > want)
			return i;
	}
	return HIST_MAX;
}

/* One call, repeat = 1: the kernel's duration of that one run. */
static __u32 run1(int prog, const struct frame *f, __u32 *ret, __u64 *wall)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f->b, .data_size_in = f->len, .repeat = 1);
	__u64 t0 = now_ns();

	if (bpf_prog_test_run_opts(prog, &o))
		tu_die("test_run: %s", strerror(errno));
	*wall = now_ns() - t0;
	*ret = o.retval;
	return o.duration;
}

/* One call, repeat = N: the mean duration of a run. */
static __u32 runN(int prog, const struct frame *f, __u32 repeat, __u32 *ret)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f->b, .data_size_in = f->len, .repeat = repeat);

	if (bpf_prog_test_run_opts(prog, &o))
		tu_die("test_run: %s", strerror(errno));
	*ret = o.retval;
	return o.duration;
}

/* ---- split_xdp and its maps ----------------------------------------------- */

struct env {
	struct split_xdp *x;
	int prog, empty, counters, wrap_xdp, wrap_empty, wctl, progs;
	struct tx_xdp_maps m;
};

static __u64 nat_stat(struct env *e, __u32 idx)
{
	__u64 v[ncpu], sum = 0;

	if (bpf_map_lookup_elem(e->m.nat_stats, &idx, v))
		tu_die("nat_stats lookup: %s", strerror(errno));
	for (int i = 0; i < ncpu; i++)
		sum += v[i];
	return sum;
}

/* Load split_xdp (its own, unpinned maps) and install the service; with
 * nocount, the build with the per-version and per-backend counters
 * compiled out (rodata split_no_count, as splitd --no-counters; the
 * nat_stats reasons stay). */
static void env_open(struct env *e, int nocount)
{
	struct split_svc_key k = {};
	struct split_svc_val v = {};
	struct bpf_map *m;
	__u32 tid = SPLIT_TABLE_ID(SVC_ID, 0);
	int inner;

	memset(e, 0, sizeof(*e));
	e->x = split_xdp__open();
	if (!e->x)
		tu_die("open split_xdp: %s", strerror(errno));
	bpf_object__for_each_map(m, e->x->obj)
		bpf_map__set_pin_path(m, NULL);
	e->x->rodata->split_no_count = nocount ? 1 : 0;
	if (split_xdp__load(e->x))
		tu_die("load split_xdp: %s", strerror(errno));
	e->prog = bpf_program__fd(e->x->progs.split_xdp);
	tx_xdp_maps_get(&e->m, e->x);

	k.addr[0] = htonl(VIP);
	k.port = htons(VPORT);
	k.proto = IPPROTO_TCP;
	k.family = 4;
	v.svc_id = SVC_ID;
	v.table_id = tid;
	v.target_port = htons(TPORT);
	if (bpf_map_update_elem(e->m.svc, &k, &v, BPF_ANY))
		tu_die("fill svc: %s", strerror(errno));
	for (__u32 id = 1; id <= NBE; id++) {
		struct split_backend_val b = {};
		__u32 bid = SPLIT_BACKEND_ID(SVC_ID, id);	/* what a big table names */

		b.addr[0] = htonl(0x0a010000U + id);	/* 10.1.0.id */
		b.family = 4;
		b.svc_id = SVC_ID;
		b.version_id = id <= NBE / 2 ? 1 : 2;
		if (bpf_map_update_elem(e->m.backends, &bid, &b, BPF_ANY))
			tu_die("fill backends: %s", strerror(errno));
	}
	inner = bpf_map_create(BPF_MAP_TYPE_ARRAY, "slots", 4, sizeof(struct split_big_table),
			       1, NULL);
	if (inner < 0)
		tu_die("create table: %s", strerror(errno));
	{
		static struct split_big_table t;	/* slot s: backend k 1 + s % NBE */
		__u32 zero = 0;

		for (__u32 s = 0; s < SPLIT_TABLE_SLOTS; s++)
			t.k[s] = 1 + s % NBE;
		if (bpf_map_update_elem(inner, &zero, &t, BPF_ANY))
			tu_die("fill table: %s", strerror(errno));
	}
	if (bpf_map_update_elem(e->m.big, &tid, &inner, BPF_ANY))
		tu_die("install table: %s", strerror(errno));
	close(inner);
	{
		struct split_table_val tv = { .kind = SPLIT_TBL_BIG, .nslots = SPLIT_TABLE_SLOTS };

		if (bpf_map_update_elem(e->m.tables, &tid, &tv, BPF_ANY))
			tu_die("install table: %s", strerror(errno));
	}
}

/* The helper programs, in the main env: empty, counters and the wrappers
 * (prog array slots: 0 split_xdp, 1 empty, 2 split_xdp without counters). */
static void helpers_open(struct env *e, struct env *nc)
{
	__u32 slot;

	e->empty = load_empty();
	e->counters = load_counters(e->m.nat_stats, e->m.be_stats, e->m.ver_stats, 1, 1);
	e->wctl = bpf_map_create(BPF_MAP_TYPE_ARRAY, "bench_wctl", 4, sizeof(struct wctl), 1, NULL);
	e->progs = bpf_map_create(BPF_MAP_TYPE_PROG_ARRAY, "bench_progs", 4, 4, 3, NULL);
	if (e->wctl < 0 || e->progs < 0)
		tu_die("create wrapper maps: %s", strerror(errno));
	e->wrap_xdp = load_wrapper(e->wctl, e->progs, 0);
	e->wrap_empty = load_wrapper(e->wctl, e->progs, 1);
	slot = 0;
	if (bpf_map_update_elem(e->progs, &slot, &e->prog, BPF_ANY))
		tu_die("prog array <- split_xdp: %s", strerror(errno));
	slot = 1;
	if (bpf_map_update_elem(e->progs, &slot, &e->empty, BPF_ANY))
		tu_die("prog array <- empty: %s", strerror(errno));
	slot = 2;
	if (bpf_map_update_elem(e->progs, &slot, &nc->prog, BPF_ANY))
		tu_die("prog array <- split_xdp without counters: %s", strerror(errno));
	nc->wrap_xdp = load_wrapper(e->wctl, e->progs, 2);
}

static void wctl_set(struct env *e, __u32 wrap, __u32 base, __u8 flags)
{
	struct wctl w = { .idx = 0, .wrap = wrap, .base = base };
	struct frame f;
	__u32 key = 0;

	flow_frame(&f, 0, flags);
	memcpy(w.frame, f.b, sizeof(w.frame));
	if (bpf_map_update_elem(e->wctl, &key, &w, BPF_ANY))
		tu_die("wrapper control: %s", strerror(errno));
}

/* Delete every entry of a hash map: keys collected first, then deleted
 * (restarting get_next_key from NULL after each delete is quadratic). */
static size_t clear_map(int fd, size_t key_size)
{
	size_t cap = 4096, n = 0;
	char *keys = malloc(cap * key_size);

	if (!keys)
		tu_die("out of memory");
	for (;;) {
		char *prev = n ? keys + (n - 1) * key_size : NULL;

		if (n == cap) {
			cap *= 2;
			keys = realloc(keys, cap * key_size);
			if (!keys)
				tu_die("out of memory");
			prev = keys + (n - 1) * key_size;
		}
		if (bpf_map_get_next_key(fd, prev, keys + n * key_size))
			break;
		n++;
	}
	for (size_t i = 0; i < n; i++)
		bpf_map_delete_elem(fd, keys + i * key_size);
	free(keys);
	return n;
}

/* ---- bpf_stats (read only) ------------------------------------------------- */

static int stats_on;

static void prog_stats(int fd, __u64 *cnt, __u64 *ns)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	*cnt = *ns = 0;
	if (!stats_on || bpf_obj_get_info_by_fd(fd, &info, &len))
		return;
	*cnt = info.run_cnt;
	*ns = info.run_time_ns;
}

/* ---- the cases -------------------------------------------------------------- */

enum {
	C_PASS, C_NEW, C_EST1, C_EST, C_EST_1K, C_EST_HOT, C_COUNTERS, C_EMPTY, C_WRAP,
	C_NC_NEW, C_NC_EST1, C_NC_EST, C_NC_EST_1K, C_NC_EST_HOT, C_MAX
};
static const char *cname[C_MAX] = {
	"pass", "new", "est1", "est", "est_1k", "est_hot", "counters", "empty", "wrapper",
	"new_nocount", "est1_nocount", "est_nocount", "est_1k_nocount", "est_hot_nocount",
};

struct result {
	struct hist all;		/* cold samples, all rounds */
	double rmed[MAX_ROUNDS];	/* cold: each round's median */
	double warm[MAX_ROUNDS];	/* warm: each round's mean per run */
	int has_cold, has_warm;
	__u64 st_cnt[2], st_ns[2];	/* bpf_stats of split_xdp: [cold, warm] */
};

static struct result res[C_MAX];
static struct hist h;
static struct env e, nc;
static __u32 flows = 100000, rounds = 5, repeat = 1000000;

static void expect(int ok, const char *what, int cs)
{
	if (!ok)
		tu_die("case %s: %s", cname[cs], what);
}

/* Expected nat_stats deltas of a case: DNATs, new flows, NOT_VIP passes. */
struct want {
	__u64 dnat, new_flow, not_vip;
};

static void snap(struct env *en, __u64 *s)
{
	s[0] = nat_stat(en, SPLIT_NS_DNAT);
	s[1] = nat_stat(en, SPLIT_NS_NEW_FLOW);
	s[2] = nat_stat(en, SPLIT_NS_NOT_VIP);
}

static void check(struct env *en, int cs, const __u64 *s0, struct want w)
{
	__u64 s1[3];

	snap(en, s1);
	expect(s1[0] - s0[0] == w.dnat, "DNAT count differs from the packets sent", cs);
	expect(s1[1] - s0[1] == w.new_flow, "new-flow count differs from the SYNs of new flows", cs);
	expect(s1[2] - s0[2] == w.not_vip, "NOT_VIP count differs", cs);
}

/* Cold: `flows` calls, repeat = 1, of flow i % nflow's frame (nflow > 0)
 * or of *fixed. */
static void cold(int cs, __u32 r, int prog, __u32 nflow, __u8 flags,
		 const struct frame *fixed, struct want w)
{
	__u64 s0[3], c0, n0, c1, n1, wall;
	struct frame f;
	__u32 ret, d;

	hist_reset(&h);
	snap(&e, s0);
	prog_stats(e.prog, &c0, &n0);
	for (__u32 i = 0; i < flows; i++) {
		if (nflow)
			flow_frame(&f, i % nflow, flags);
		d = run1(prog, nflow ? &f : fixed, &ret, &wall);
		expect(ret == XDP_PASS, "verdict is not XDP_PASS", cs);
		hist_add(&h, d, wall);
	}
	prog_stats(e.prog, &c1, &n1);
	check(&e, cs, s0, w);
	res[cs].st_cnt[0] += c1 - c0;
	res[cs].st_ns[0] += n1 - n0;
	res[cs].rmed[r] = hist_q(&h, 0.5);
	res[cs].has_cold = 1;
	hist_merge(&res[cs].all, &h);
}

/* Warm: one call of `n` repeats; en: the split_xdp instance it reaches. */
static void warm(struct env *en, int cs, __u32 r, int prog, const struct frame *f, __u32 n,
		 struct want w)
{
	__u64 s0[3], c0, n0, c1, n1;
	__u32 ret, d;

	snap(en, s0);
	prog_stats(en->prog, &c0, &n0);
	d = runN(prog, f, n, &ret);
	prog_stats(en->prog, &c1, &n1);
	expect(ret == XDP_PASS, "verdict is not XDP_PASS", cs);
	check(en, cs, s0, w);
	res[cs].st_cnt[1] += c1 - c0;
	res[cs].st_ns[1] += n1 - n0;
	res[cs].warm[r] = d;
	res[cs].has_warm = 1;
}

static int dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: xdp_bench [-n FLOWS] [-r ROUNDS] [-R REPEAT]\n"
		"  -n FLOWS   flows per round (default 100000, at most %d: ct must not evict)\n"
		"  -r ROUNDS  rounds (default 5, at most %d)\n"
		"  -R REPEAT  repeats of the warm runs of pass/counters/empty (default 1000000)\n",
		SPLIT_MAX_CT / 2, MAX_ROUNDS);
}

int main(int argc, char **argv)
{
	struct frame pass, syn0;
	FILE *sf;
	int c;

	while ((c = getopt(argc, argv, "n:r:R:h")) != -1) {
		switch (c) {
		case 'n': flows = (__u32)strtoul(optarg, NULL, 10); break;
		case 'r': rounds = (__u32)strtoul(optarg, NULL, 10); break;
		case 'R': repeat = (__u32)strtoul(optarg, NULL, 10); break;
		default: usage(); return c == 'h' ? 0 : 2;
		}
	}
	if (optind != argc || flows < 2 || flows > SPLIT_MAX_CT / 2 || !rounds ||
	    rounds > MAX_ROUNDS || !repeat) {
		usage();
		return 2;
	}
	libbpf_set_print(tu_libbpf_print);
	ncpu = libbpf_num_possible_cpus();
	if (ncpu <= 0)
		tu_die("cannot count CPUs");
	sf = fopen("/proc/sys/kernel/bpf_stats_enabled", "r");
	if (sf) {
		if (fscanf(sf, "%d", &stats_on) != 1)
			stats_on = 0;
		fclose(sf);
	}
	env_open(&e, 0);
	env_open(&nc, 1);
	helpers_open(&e, &nc);
	for (int i = 0; i < C_MAX; i++)
		hist_init(&res[i].all);
	hist_init(&h);
	build_tcp(&pass, 0x0a000001U, NONVIP, 40000, VPORT, TCP_ACK);
	flow_frame(&syn0, 0, TCP_SYN);

	printf("info flows=%u rounds=%u repeat=%u ncpu=%d bpf_stats=%d frame=%d\n",
	       flows, rounds, repeat, ncpu, stats_on, FRAME_LEN);
	fflush(stdout);

	/* Warm-up, not recorded: code paths, the counters' entries. */
	{
		__u32 ret, n = flows < 4096 ? flows : 4096;
		__u64 w;
		struct frame f;

		for (__u32 i = 0; i < n; i++) {
			flow_frame(&f, i, TCP_SYN);
			run1(e.prog, &f, &ret, &w);
			run1(e.empty, &pass, &ret, &w);
			run1(e.prog, &pass, &ret, &w);
		}
		wctl_set(&e, n, 0, TCP_ACK);
		runN(e.wrap_xdp, &syn0, n, &ret);
		runN(e.wrap_empty, &syn0, n, &ret);
		runN(nc.wrap_xdp, &syn0, n, &ret);
		for (int k = 0; k < 2; k++) {
			clear_map(k ? nc.m.ct : e.m.ct, sizeof(struct split_ct_key));
			clear_map(k ? nc.m.ct_rev : e.m.ct_rev, sizeof(struct split_ct_key));
		}
	}

	for (__u32 r = 0; r < rounds; r++) {
		__u64 F = flows;
		__u32 small = flows < 1024 ? flows : 1024;

		/* cold: one call per packet */
		cold(C_EMPTY, r, e.empty, 0, 0, &pass, (struct want){ 0, 0, 0 });
		cold(C_PASS, r, e.prog, 0, 0, &pass, (struct want){ 0, 0, F });
		cold(C_NEW, r, e.prog, flows, TCP_SYN, NULL, (struct want){ F, F, 0 });
		cold(C_EST1, r, e.prog, flows, TCP_ACK, NULL, (struct want){ F, 0, 0 });
		cold(C_EST, r, e.prog, flows, TCP_ACK, NULL, (struct want){ F, 0, 0 });
		cold(C_EST_1K, r, e.prog, small, TCP_ACK, NULL, (struct want){ F, 0, 0 });
		cold(C_EST_HOT, r, e.prog, 1, TCP_ACK, NULL, (struct want){ F, 0, 0 });
		cold(C_COUNTERS, r, e.counters, 0, 0, &pass, (struct want){ F, 0, 0 });
		if (clear_map(e.m.ct, sizeof(struct split_ct_key)) != flows)
			tu_die("round %u: ct did not hold %u flows after the cold runs", r, flows);
		clear_map(e.m.ct_rev, sizeof(struct split_ct_key));

		/* warm: repeat in one call; the wrapper rewrites the frame */
		wctl_set(&e, flows, 0, TCP_SYN);
		warm(&e, C_WRAP, r, e.wrap_empty, &syn0, flows, (struct want){ 0, 0, 0 });
		/* split_xdp, then the same without counters, case by case */
		for (int k = 0; k < 2; k++) {
			struct env *en = k ? &nc : &e;
			int o = k ? C_NC_NEW - C_NEW : 0;

			wctl_set(&e, flows, 0, TCP_SYN);
			warm(en, C_NEW + o, r, en->wrap_xdp, &syn0, flows, (struct want){ F, F, 0 });
			wctl_set(&e, flows, 0, TCP_ACK);
			warm(en, C_EST1 + o, r, en->wrap_xdp, &syn0, flows, (struct want){ F, 0, 0 });
			wctl_set(&e, flows, 0, TCP_ACK);
			warm(en, C_EST + o, r, en->wrap_xdp, &syn0, flows, (struct want){ F, 0, 0 });
			wctl_set(&e, small, 0, TCP_ACK);
			warm(en, C_EST_1K + o, r, en->wrap_xdp, &syn0, flows, (struct want){ F, 0, 0 });
			wctl_set(&e, 1, 0, TCP_ACK);
			warm(en, C_EST_HOT + o, r, en->wrap_xdp, &syn0, flows, (struct want){ F, 0, 0 });
			if (clear_map(en->m.ct, sizeof(struct split_ct_key)) != flows)
				tu_die("round %u: ct did not hold %u flows after the warm runs", r, flows);
			clear_map(en->m.ct_rev, sizeof(struct split_ct_key));
		}
		warm(&e, C_EMPTY, r, e.empty, &pass, repeat, (struct want){ 0, 0, 0 });
		warm(&e, C_PASS, r, e.prog, &pass, repeat, (struct want){ 0, 0, repeat });
		warm(&e, C_COUNTERS, r, e.counters, &pass, repeat, (struct want){ repeat, 0, 0 });
	}

	for (int cs = 0; cs < C_MAX; cs++) {
		struct result *rs = &res[cs];
		double v[MAX_ROUNDS];

		if (rs->has_cold) {
			memcpy(v, rs->rmed, sizeof(v));
			qsort(v, rounds, sizeof(v[0]), dcmp);
			printf("case=%s method=cold calls=%llu median=%.0f p10=%.0f p90=%.0f p99=%.0f mean=%.1f rmin=%.0f rmax=%.0f wall=%.0f\n",
			       cname[cs], (unsigned long long)rs->all.n, hist_q(&rs->all, 0.5),
			       hist_q(&rs->all, 0.1), hist_q(&rs->all, 0.9), hist_q(&rs->all, 0.99),
			       (double)rs->all.sum / (double)rs->all.n, v[0], v[rounds - 1],
			       (double)rs->all.wall / (double)rs->all.n);
		}
		if (rs->has_warm) {
			memcpy(v, rs->warm, sizeof(v));
			qsort(v, rounds, sizeof(v[0]), dcmp);
			printf("case=%s method=warm repeat=%u ns=%.1f rmin=%.0f rmax=%.0f\n", cname[cs],
			       cs == C_EMPTY || cs == C_PASS || cs == C_COUNTERS ? repeat : flows,
			       rounds % 2 ? v[rounds / 2] : (v[rounds / 2 - 1] + v[rounds / 2]) / 2,
			       v[0], v[rounds - 1]);
		}
		for (int m = 0; m < 2; m++)
			if (stats_on && rs->st_cnt[m])
				printf("stats case=%s method=%s run_cnt=%llu run_time_ns=%llu ns_per_run=%.1f\n",
				       cname[cs], m ? "warm" : "cold",
				       (unsigned long long)rs->st_cnt[m], (unsigned long long)rs->st_ns[m],
				       (double)rs->st_ns[m] / (double)rs->st_cnt[m]);
	}
	for (int i = 0; i < C_MAX; i++)
		free(res[i].all.h);
	free(h.h);
	close(e.wrap_xdp);
	close(nc.wrap_xdp);
	split_xdp__destroy(nc.x);
	close(e.wrap_empty);
	close(e.progs);
	close(e.wctl);
	close(e.empty);
	close(e.counters);
	split_xdp__destroy(e.x);
	return 0;
}
