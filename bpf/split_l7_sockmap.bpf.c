// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * split_l7_sockmap.bpf.c - in-kernel byte forwarding for the L7 proxy's
 * tunnels (sk_skb stream_verdict on a SOCKHASH).
 *
 * Both sockets of a tunnel are in l7sm_socks, keyed by socket cookie. Every
 * skb that arrives on one of them runs this verdict (in the socket's
 * data_ready, under its lock), which either
 *
 *   redirects it to the egress of the peer (l7sm_ctl: peer cookie), where
 *   the peer's psock queues it and a kworker writes it to the peer's TCP
 *   send queue, or
 *   passes it to the socket itself (psock ingress), where the proxy reads
 *   it with recv() and writes it to the peer by hand.
 *
 * It passes while userspace has not switched the socket to redirect, and
 * while any byte passed earlier has not yet been written to the peer by
 * userspace (cnt->passed != ctl->drained): a redirected skb can never
 * overtake bytes that went the slow way. Bytes are counted per socket so
 * that userspace knows, at the end of a direction, how many bytes the
 * peer's send queue must have taken before its FIN may go (see
 * user/lib/l7/l7sockmap.c).
 *
 * The maps are private to the loading process (not pinned).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "split_common.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, SPLIT_L7SM_MAX_SOCKS);
	__type(key, __u64);
	__type(value, __u64);
} l7sm_socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SPLIT_L7SM_MAX_SOCKS);
	__type(key, __u64);
	__type(value, struct split_l7sm_ctl);
} l7sm_ctl SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SPLIT_L7SM_MAX_SOCKS);
	__type(key, __u64);
	__type(value, struct split_l7sm_cnt);
} l7sm_cnt SEC(".maps");

SEC("sk_skb/stream_verdict")
int l7sm_verdict(struct __sk_buff *skb)
{
	__u64 key = bpf_get_socket_cookie(skb);
	struct split_l7sm_ctl *ctl;
	struct split_l7sm_cnt *cnt;
	__u64 peer, len = skb->len;

	cnt = bpf_map_lookup_elem(&l7sm_cnt, &key);
	if (!cnt)
		return SK_PASS;		/* not set up: the socket reads it */
	__sync_fetch_and_add(&cnt->skbs, 1);
	ctl = bpf_map_lookup_elem(&l7sm_ctl, &key);
	if (!ctl || !ctl->redirect || cnt->passed != ctl->drained) {
		/* Verdicts of one socket run one at a time (socket lock):
		 * passed has no other writer. */
		__sync_fetch_and_add(&cnt->passed, len);
		return SK_PASS;
	}
	/* A FIN without data (len 0) stays with its socket: redirected, an
	 * empty skb makes the peer's psock backlog report EPIPE. TCP has
	 * already taken the FIN; userspace sees it as EOF. */
	if (!len)
		return SK_PASS;
	peer = ctl->peer;
	if (bpf_sk_redirect_hash(skb, &l7sm_socks, &peer, 0) != SK_PASS) {
		/* The peer left the map: it was closed or reset, the
		 * tunnel is being torn down. */
		__sync_fetch_and_add(&cnt->dropped, len);
		return SK_DROP;
	}
	__sync_fetch_and_add(&cnt->redirected, len);
	return SK_PASS;
}
