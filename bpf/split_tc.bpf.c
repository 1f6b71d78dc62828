// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * split_tc.bpf.c - north-south split at tc (clsact), see split_xdp.bpf.c for
 * where to attach and split_nat.bpf.h for the per-packet rules.
 *
 * split_tc_rev    replies backend:target_port -> client whose 5-tuple is in
 *                 ct_rev get their source rewritten back to VIP:port.
 *                 Always TC_ACT_OK (TC_ACT_SHOT only if a helper failed
 *                 half-way, so no half-rewritten packet leaves).
 * split_tc_dnat   the DNAT of split_xdp, for interfaces where XDP cannot be
 *                 used: TC_ACT_OK for PASS and after a rewrite, TC_ACT_SHOT
 *                 for DROP.
 *
 * Both pull up to SPLIT_HDR_MAX bytes into the linear area first; checksums
 * go through bpf_l3_csum_replace/bpf_l4_csum_replace, which are right for
 * CHECKSUM_PARTIAL (veth TX offload) and CHECKSUM_COMPLETE skbs alike.
 */
#include <linux/pkt_cls.h>

#include "split_nat.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tc")
int split_tc_rev(struct __sk_buff *skb)
{
	struct split_ct_rev_val *rv, v;
	struct split_pkt p = {};
	void *data, *data_end;

	split_tc_pull(skb);
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	if (split_parse(data, data_end, skb->len, &p) != SPLIT_PARSE_OK || p.frag)
		return TC_ACT_OK;
	rv = bpf_map_lookup_elem(&ct_rev, &p.k);
	if (!rv)
		return TC_ACT_OK;
	__builtin_memcpy(&v, rv, sizeof(v));
	if (split_tc_rewrite(skb, &p, v.addr, v.port, 0)) {
		split_stat(SPLIT_NS_NAT_ERR);
		return TC_ACT_SHOT;
	}
	split_stat(SPLIT_NS_REV_NAT);
	split_count(v.backend_id, v.svc_id, v.version_id, p.l3_len, 0, 1);
	return TC_ACT_OK;
}

SEC("tc")
int split_tc_dnat(struct __sk_buff *skb)
{
	struct split_pkt p = {};
	struct split_ct_val ct;
	void *data, *data_end;
	int is_new = 0;

	split_tc_pull(skb);
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	switch (split_dnat_decide(data, data_end, skb->len, &p, &ct, &is_new)) {
	case SPLIT_ACT_PASS:
		return TC_ACT_OK;
	case SPLIT_ACT_DROP:
		return TC_ACT_SHOT;
	case SPLIT_ACT_NAT:
		break;
	}
	if (split_tc_rewrite(skb, &p, ct.addr, ct.port, 1)) {
		split_stat(SPLIT_NS_NAT_ERR);
		return TC_ACT_SHOT;
	}
	split_stat(SPLIT_NS_DNAT);
	split_count(ct.backend_id, ct.svc_id, ct.version_id, p.l3_len, is_new, 0);
	return TC_ACT_OK;
}
