// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * split_xdp.bpf.c - north-south split: XDP DNAT of traffic entering the node
 * for a VIP:port (the reverse direction is split_tc_rev in split_tc.bpf.c).
 *
 * For IPv4/IPv6 TCP and UDP to a VIP:port in `svc`: look the flow up in the
 * conntrack map `ct`; a new flow (or one whose backend left the service, or
 * a TCP non-SYN this node has no state for) takes slot
 * split_flow_hash() % SPLIT_TABLE_SLOTS of the service's table and is
 * recorded in `ct` and `ct_rev`. The destination address and port are then
 * rewritten to backend:target_port with incremental checksum updates and the
 * frame goes on with XDP_PASS, so the node's routing forwards it.
 *
 * In short: whatever cannot be parsed safely, or is not TCP/UDP for a
 * VIP:port, is XDP_PASS with not one byte changed (non-IP, VLAN, truncated or
 * bogus headers, ICMP, non-first fragments, other addresses/ports); what is
 * for a VIP:port but cannot be translated correctly is XDP_DROP (a first
 * fragment, IPv6 UDP with checksum 0, a service without an eligible backend);
 * IPv4 options and IPv6 hop-by-hop/destination options are handled. The full
 * table, the flow hash, the conntrack and checksum rules: the comment at the
 * top of split_nat.bpf.h (the hash is also defined in split_common.h).
 *
 * How to attach (for splitd):
 *
 *   split_xdp       XDP on each interface where client traffic for VIPs
 *                   enters the node (the uplink NIC; in the testbed the
 *                   node's interface toward the client netns). Native mode
 *                   where the driver has it, else generic (skb) mode:
 *                   bpf_program__attach_xdp(prog, ifindex) gives a bpf_link
 *                   to pin under <pin dir>/links/.
 *   split_tc_dnat   The same DNAT as a tc program: clsact INGRESS of an
 *                   interface where XDP cannot be used - a VLAN device (XDP
 *                   on the parent sees tagged frames and passes them), or a
 *                   veth whose peer can send CHECKSUM_PARTIAL skbs (TX
 *                   checksum offload on, the veth default): XDP cannot see
 *                   ip_summed and updates a partial checksum as if it were
 *                   a full one, the tc helpers handle both (or turn offload
 *                   off on the peer: ethtool -K PEER tx off). NICs deliver
 *                   full checksums. Use split_xdp or split_tc_dnat on
 *                   an interface, not both (both would be harmless: after
 *                   XDP the destination is no longer a VIP).
 *   split_tc_rev    clsact INGRESS of every interface that backends' replies
 *                   arrive on: the host side of local backend pods' veths,
 *                   and the uplink if backends on other nodes reply through
 *                   this node. (It only needs Ethernet framing, so clsact
 *                   EGRESS of the client-facing interface works as well.)
 *                   With libbpf 1.1.2: bpf_tc_hook_create() with
 *                   BPF_TC_INGRESS, then bpf_tc_attach(); these are netlink
 *                   filters, not links - they survive splitd's exit until
 *                   the qdisc or filter is deleted.
 *
 * What the node must provide: forwarding on (net.ipv4.ip_forward=1,
 * net.ipv6.conf.all.forwarding=1); routes to the backends; replies from a
 * backend to a client must come back through this node (the client address
 * is kept, as with kube-proxy's externalTrafficPolicy=Local: the backend's
 * route to clients goes via this node); rp_filter 0 or 2 (loose) on the interfaces
 * where split_tc_rev runs, since a reply's source is already the VIP when the
 * routing lookup validates it, and with loose mode the VIP must be routable.
 * Each flow received on one CPU, as a NIC's RSS does. A veth with XDP
 * attached receives in NAPI mode and does not: two packets of one flow (a
 * handshake's last ACK and the first request segment) can be forwarded from
 * two CPUs and reach the backend's TCP at once; the backend then completes
 * the handshake twice, and now and then (1 connection in 30,000-100,000 on
 * Linux 6.18) its lockless established-hash lookup misses the request socket
 * while the other CPU replaces it with the child, so the listener answers
 * with a reset. Give such a veth RPS over all CPUs (rps_cpus on each rx
 * queue), as tests/e2e/test_xdp.sh does. Not a conntrack matter: it happens
 * with XDP_PASS-only traffic, and with GRO on the veth instead of XDP.
 *
 * Maps are the same pinned maps as split_sock's (LIBBPF_PIN_BY_NAME under
 * the pin root): load with the same pin_root_path, fill svc/tables/backends
 * as today. New here: ct, ct_rev (LRU), be_stats, ver_stats (per CPU, sum
 * over CPUs; delete an entry together with its backend or version) and
 * nat_stats (per CPU, indexed by enum split_nat_stat).
 */
#include "split_nat.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("xdp")
int split_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct split_pkt p = {};
	struct split_ct_val ct;
	int is_new = 0;

	switch (split_dnat_decide(data, data_end, data_end - data, &p, &ct, &is_new)) {
	case SPLIT_ACT_PASS:
		return XDP_PASS;
	case SPLIT_ACT_DROP:
		return XDP_DROP;
	case SPLIT_ACT_NAT:
		break;
	}
	if (split_xdp_rewrite(data, data_end, &p, ct.addr, ct.port, 1)) {
		split_stat(SPLIT_NS_NAT_ERR);
		return XDP_DROP;
	}
	split_stat(SPLIT_NS_DNAT);
	split_count(ct.backend_id, ct.svc_id, ct.version_id, p.l3_len, is_new, 0);
	return XDP_PASS;
}
