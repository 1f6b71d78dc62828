// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * split_sockops.bpf.c - TCP health per backend and per version (sockops),
 * attached to the same cgroup as the connect hooks (split_sock.bpf.c).
 *
 * The connect hook tags each TCP socket it sends to a backend with the
 * backend's identity (sk_backend, socket-local storage). At
 * BPF_SOCK_OPS_TCP_CONNECT_CB this program finds the tag and turns on the
 * STATE, RTT, RETRANS and RTO callbacks for that socket alone; sockets
 * without a tag (not to a service) keep no callbacks and pay nothing more.
 *
 * Counted in sk_be_stats and sk_ver_stats (struct split_sock_stats, per CPU):
 *   established      ACTIVE_ESTABLISHED_CB
 *   connect_failed   STATE_CB SYN_SENT -> CLOSE (refused: RST; unreachable;
 *                    timed out; closed by the application before the SYN-ACK)
 *   resets           STATE_CB ESTABLISHED -> CLOSE. There is no RST
 *                    callback: a connection closed in order passes through
 *                    FIN_WAIT1 or CLOSE_WAIT, so a direct ESTABLISHED ->
 *                    CLOSE is a reset (sent or received) or an abort
 *                    (retransmissions or keepalives given up)
 *   retransmits      RETRANS_CB (every retransmitted segment: RTO, fast
 *                    retransmit, tail loss probe, SYN)
 *   rto              RTO_CB (the retransmission timer fired)
 *   rtt_*            RTT_CB: the smoothed RTT after each sample, in us
 *                    (srtt_us >> 3): sum, count, last value and its time
 */
#include "split_select.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* include/uapi/linux/bpf.h BPF_TCP_* (linux-libc-dev 6.1 has them, but
 * keep the program readable without hunting for the enum). */
#define TCP_ST_ESTABLISHED	BPF_TCP_ESTABLISHED
#define TCP_ST_SYN_SENT		BPF_TCP_SYN_SENT
#define TCP_ST_CLOSE		BPF_TCP_CLOSE

#define HEALTH_CB_FLAGS	(BPF_SOCK_OPS_STATE_CB_FLAG | BPF_SOCK_OPS_RTT_CB_FLAG | \
			 BPF_SOCK_OPS_RETRANS_CB_FLAG | BPF_SOCK_OPS_RTO_CB_FLAG)

enum health_ev {
	EV_ESTABLISHED,
	EV_CONNECT_FAILED,
	EV_RESET,
	EV_RETRANS,
	EV_RTO,
	EV_RTT,
};

static __always_inline struct split_sock_stats *stats_get(void *map, const void *key)
{
	struct split_sock_stats zero = {};

	return split_percpu_get(map, key, &zero);
}

/* Per-CPU values, but atomic adds: a program preempted in process context
 * may share its CPU with another one (or with softirq). */
static __always_inline void count_one(struct split_sock_stats *s, enum health_ev ev,
				      __u64 srtt_us, __u64 now)
{
	switch (ev) {
	case EV_ESTABLISHED:
		__sync_fetch_and_add(&s->established, 1);
		break;
	case EV_CONNECT_FAILED:
		__sync_fetch_and_add(&s->connect_failed, 1);
		break;
	case EV_RESET:
		__sync_fetch_and_add(&s->resets, 1);
		break;
	case EV_RETRANS:
		__sync_fetch_and_add(&s->retransmits, 1);
		break;
	case EV_RTO:
		__sync_fetch_and_add(&s->rto, 1);
		break;
	case EV_RTT:
		__sync_fetch_and_add(&s->rtt_samples, 1);
		__sync_fetch_and_add(&s->rtt_sum_us, srtt_us);
		s->rtt_last_us = srtt_us;
		s->rtt_last_ns = now;
		break;
	}
}

static __always_inline void count(const struct split_sk_backend *t, enum health_ev ev,
				  __u64 srtt_us)
{
	struct split_weight_key vk = { .svc_id = t->svc_id, .version_id = t->version_id };
	__u32 id = t->backend_id;
	__u64 now = ev == EV_RTT ? bpf_ktime_get_ns() : 0;
	struct split_sock_stats *s;

	s = stats_get(&sk_be_stats, &id);
	if (s)
		count_one(s, ev, srtt_us, now);
	s = stats_get(&sk_ver_stats, &vk);
	if (s)
		count_one(s, ev, srtt_us, now);
}

SEC("sockops")
int split_sockops(struct bpf_sock_ops *skops)
{
	struct split_sk_backend *t;
	struct bpf_sock *sk;
	__u32 op = skops->op;

	switch (op) {
	case BPF_SOCK_OPS_TCP_CONNECT_CB:
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
	case BPF_SOCK_OPS_STATE_CB:
	case BPF_SOCK_OPS_RETRANS_CB:
	case BPF_SOCK_OPS_RTO_CB:
	case BPF_SOCK_OPS_RTT_CB:
		break;
	default:
		return 1;
	}
	sk = skops->sk;
	if (!sk)
		return 1;
	t = bpf_sk_storage_get(&sk_backend, sk, 0, 0);
	if (!t || !(t->flags & SPLIT_SK_F_COUNT))
		return 1;	/* not a socket the split chose, or not counted */

	switch (op) {
	case BPF_SOCK_OPS_TCP_CONNECT_CB:
		/* Before the SYN leaves: every later callback is ours. */
		bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags | HEALTH_CB_FLAGS);
		break;
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
		count(t, EV_ESTABLISHED, 0);
		break;
	case BPF_SOCK_OPS_STATE_CB:
		if (skops->args[1] != TCP_ST_CLOSE)
			break;
		if (skops->args[0] == TCP_ST_SYN_SENT)
			count(t, EV_CONNECT_FAILED, 0);
		else if (skops->args[0] == TCP_ST_ESTABLISHED)
			count(t, EV_RESET, 0);
		break;
	case BPF_SOCK_OPS_RETRANS_CB:
		count(t, EV_RETRANS, 0);
		break;
	case BPF_SOCK_OPS_RTO_CB:
		count(t, EV_RTO, 0);
		break;
	case BPF_SOCK_OPS_RTT_CB:
		count(t, EV_RTT, skops->srtt_us >> 3);
		break;
	}
	return 1;
}
