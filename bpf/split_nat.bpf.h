/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * split_nat.bpf.h - header-only helpers of the north-south datapath, shared
 * by split_xdp (XDP DNAT) and split_tc (tc DNAT and reverse NAT): packet
 * parsing, the flow hash, conntrack, checksum fixups and counters.
 *
 * What each packet gets (XDP verdict / tc action; "untouched" = not one byte
 * changed; the nat_stats index counted is in brackets):
 *
 *   packet                                       DNAT (xdp, tc_dnat)    tc_rev
 *   -------------------------------------------  ---------------------  ---------
 *   non-IP (ARP, LLDP, ...)         [NOT_IP]     PASS/OK untouched      OK untouched
 *   VLAN tag 802.1Q/802.1ad         [VLAN]       PASS/OK untouched (1)  OK untouched
 *   Ethernet or IP header truncated [SHORT]      PASS/OK untouched (2)  OK untouched
 *   IPv4 version != 4, ihl < 5, total length
 *     < ihl*4 or > frame; IPv6 version != 6,
 *     payload length 0 (jumbo) or > frame
 *                                   [BAD_IP]     PASS/OK untouched (2)  OK untouched
 *   IPv4 options (ihl > 5)                       handled: L4 at ihl*4, the options are
 *                                                not read (source routes are the
 *                                                kernel's: accept_source_route=0)
 *   IPv6 hop-by-hop / dest options               handled: skipped (at most
 *                                                SPLIT_V6_MAX_EXT ext headers)
 *   IPv6 routing, AH, ESP, unknown ext header,
 *     or more than SPLIT_V6_MAX_EXT  [V6_EXT]    PASS/OK untouched      OK untouched
 *   not TCP/UDP: ICMP, ICMPv6, ... [OTHER_L4]    PASS/OK untouched (3)  OK untouched
 *   TCP < 20 / UDP < 8 bytes left in the frame
 *     or in the IP length, or L4 header ending
 *     beyond SPLIT_HDR_MAX bytes    [SHORT_L4]   PASS/OK untouched (2)  OK untouched
 *   non-first fragment (IPv4 offset > 0, IPv6
 *     fragment header offset > 0) [FRAG_PASS]    PASS/OK untouched (4)  OK untouched
 *   TCP/UDP not for a VIP:port in svc [NOT_VIP]  PASS/OK untouched      OK untouched,
 *                                                                       unless a reply
 *                                                                       in ct_rev
 *   first fragment (IPv4 MF with offset 0, IPv6
 *     fragment header with offset 0) for a
 *     VIP:port                    [FRAG_DROP]    DROP/SHOT (4)          OK untouched
 *   IPv6 UDP for a VIP:port with checksum 0
 *                              [UDP6_NOCSUM]     DROP/SHOT (5)          (n/a)
 *   VIP:port with no table, an empty slot, or a
 *     backend of the other family [NO_BACKEND]   DROP/SHOT (6)          (n/a)
 *   TCP/UDP for a VIP:port [DNAT]                DNAT, PASS/OK          (n/a)
 *   reply matching ct_rev [REV_NAT]              (n/a)                  SNAT to VIP, OK
 *   IPv4 UDP with checksum 0                     rewritten, checksum stays 0 (both)
 *   a checksum helper failed (tc only) [NAT_ERR] SHOT: never half-rewritten
 *
 *   (1) XDP cannot see inside VLAN devices; attach split_tc_dnat (and
 *       split_tc_rev) to the VLAN device itself.
 *   (2) Not provably for a VIP:port, so never rewritten (we never touch
 *       bytes we could not bounds-check). The kernel validates IP headers
 *       itself and drops the bad ones with its own counters (InHdrErrors,
 *       InTruncatedPkts); a packet whose ports cannot be read is like any
 *       other traffic that is not for a VIP:port. (BPF_PROG_TEST_RUN refuses
 *       frames under 14 bytes, and for tc IP frames shorter than the fixed
 *       IP header, so the tests cover those cases through XDP only.)
 *   (3) ICMP errors about a NATed flow (e.g. "fragmentation needed" sent to
 *       the VIP) are not translated: PMTU discovery toward a VIP relies on
 *       the backend's MSS (TCP) or on small datagrams (UDP).
 *   (4) No fragment tracking: a fragmented datagram to a VIP is lost (its
 *       first fragment is dropped, so the rest can never be reassembled).
 *       TCP sets DF; UDP services must keep datagrams under the path MTU.
 *       Replies are never fragment-translated either.
 *   (5) RFC 8200 forbids it; every receiver drops it (UDP_NO_CHECK6_RX aside).
 *   (6) Same as connect() getting EPERM in split_sock: the service exists but
 *       has no endpoint for this family. Sending it on with the VIP as
 *       destination would only loop or leak it.
 *
 * Conntrack: ct (LRU) maps the client's 5-tuple to a backend. Every packet of
 * a flow - SYN or not - looks it up; an entry holds the backend's address
 * and is followed for as long as the LRU keeps it, also after the backend
 * is set to weight 0 or removed from the service (drain: established flows
 * finish where they started); only a VIP:port that now belongs to another
 * service starts over, and an entry is over when its 5-tuple is reused:
 * a TCP SYN after the client's ACKs, or a UDP packet after 30 s idle
 * (split_ct_ended). Without a valid entry the
 * flow goes to slot split_flow_hash() % SPLIT_TABLE_SLOTS of the service's
 * table and the entry is (re)written - the same choice on every node, so a
 * TCP non-SYN that lost its state, or arrives at another node, still lands
 * on the same backend as long as the table is unchanged. A TCP SYN that finds
 * an entry reuses it (retransmitted SYNs stay on one backend).
 *
 * Reverse NAT: at the time an entry is written (and when a packet, at most
 * once a second per flow, finds its reverse entry gone) ct_rev gets the reply's 5-tuple (backend:port ->
 * client:port) -> VIP:port. Limitation: two flows from the same client
 * address and port to two VIPs that share one backend address and target
 * port have the same reply tuple; the later one wins.
 *
 * Checksums: XDP edits the packet bytes and updates the IPv4 header and
 * TCP/UDP checksums incrementally (RFC 1624, eqn. 3); UDP over IPv4 with
 * checksum 0 stays 0, and an updated UDP checksum of 0 is written as 0xffff.
 * tc uses bpf_l3_csum_replace/bpf_l4_csum_replace (BPF_F_PSEUDO_HDR for the
 * addresses, BPF_F_MARK_MANGLED_0 for UDP), which are also right for
 * CHECKSUM_PARTIAL skbs.
 */
#ifndef SPLIT_NAT_BPF_H
#define SPLIT_NAT_BPF_H

#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>

#include "split_select.bpf.h"

#define SPLIT_IPPROTO_TCP	6
#define SPLIT_IPPROTO_UDP	17
#define SPLIT_IPPROTO_HOPOPTS	0
#define SPLIT_IPPROTO_FRAGMENT	44
#define SPLIT_IPPROTO_DSTOPTS	60
#define SPLIT_IP_MF		0x2000	/* host order, in iphdr.frag_off */
#define SPLIT_IP_OFFSET		0x1fff
#define SPLIT_IP6_OFFSET	0xfff8	/* host order, in the fragment header */
#define SPLIT_TCP_SYN		0x02
#define SPLIT_TCP_ACK		0x10

_Static_assert(SPLIT_NS_MAX <= SPLIT_NAT_STATS_SLOTS, "nat_stats too small");

/* What split_parse() found: a TCP or UDP packet with its headers in bounds. */
struct split_pkt {
	struct split_ct_key k;	/* the 5-tuple as in the packet */
	__u32 l4_off;		/* TCP/UDP header, from the frame start */
	__u32 csum_off;		/* TCP/UDP checksum field, from the frame start */
	__u32 l3_len;		/* IP header + payload bytes (what counters add) */
	__u16 l4_csum;		/* the checksum field as read (network order) */
	__u8 tcp_flags;
	__u8 frag;		/* first fragment of a fragmented datagram */
};

/* Where a DNAT decision left the packet. */
enum split_act {
	SPLIT_ACT_PASS,		/* not ours: let it through untouched */
	SPLIT_ACT_DROP,		/* ours but must not go on */
	SPLIT_ACT_NAT,		/* rewrite to the backend in the ct value */
};

static __always_inline void split_stat(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&nat_stats, &idx);

	if (v)
		*v += 1;
}

/* ---- parsing --------------------------------------------------------------- */

#define SPLIT_PARSE_OK	(-1)	/* split_parse(): a TCP/UDP packet, *p filled */

/* Parse Ethernet, IPv4/IPv6 and the TCP/UDP ports. data..data_end is what
 * can be read; pkt_len is the frame's full length (for tc, skb->len, which
 * may exceed the linear part). Returns SPLIT_PARSE_OK for a parsed TCP/UDP
 * packet, or the split_nat_stat index (>= 0) of the reason to leave the
 * packet alone. */
static __always_inline int split_parse(void *data, void *data_end, __u64 pkt_len,
				       struct split_pkt *p)
{
	struct ethhdr *eth = data;
	__u32 off = sizeof(*eth), l3_end, hlen;
	__u8 nh;

	if ((void *)(eth + 1) > data_end)
		return SPLIT_NS_SHORT;
	if (eth->h_proto == bpf_htons(ETH_P_8021Q) ||
	    eth->h_proto == bpf_htons(ETH_P_8021AD))
		return SPLIT_NS_VLAN;

	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = data + off;
		__u32 ihl, tot;

		if ((void *)(ip + 1) > data_end)
			return SPLIT_NS_SHORT;
		ihl = ip->ihl * 4;
		tot = bpf_ntohs(ip->tot_len);
		if (ip->version != 4 || ihl < sizeof(*ip) || tot < ihl ||
		    off + tot > pkt_len)
			return SPLIT_NS_BAD_IP;
		if (ip->frag_off & bpf_htons(SPLIT_IP_OFFSET))
			return SPLIT_NS_FRAG_PASS;
		p->frag = !!(ip->frag_off & bpf_htons(SPLIT_IP_MF));
		p->k.saddr[0] = ip->saddr;
		p->k.daddr[0] = ip->daddr;
		p->k.family = 4;
		p->l3_len = tot;
		nh = ip->protocol;
		l3_end = off + tot;
		off += ihl;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = data + off;
		__u32 plen;

		if ((void *)(ip6 + 1) > data_end)
			return SPLIT_NS_SHORT;
		plen = bpf_ntohs(ip6->payload_len);
		if (ip6->version != 6 || plen == 0 ||
		    off + sizeof(*ip6) + plen > pkt_len)
			return SPLIT_NS_BAD_IP;
		__builtin_memcpy(p->k.saddr, &ip6->saddr, 16);
		__builtin_memcpy(p->k.daddr, &ip6->daddr, 16);
		p->k.family = 6;
		p->l3_len = sizeof(*ip6) + plen;
		nh = ip6->nexthdr;
		l3_end = off + sizeof(*ip6) + plen;
		off += sizeof(*ip6);
#pragma unroll
		for (int i = 0; i < SPLIT_V6_MAX_EXT; i++) {
			__u8 *h;

			if (nh != SPLIT_IPPROTO_HOPOPTS && nh != SPLIT_IPPROTO_DSTOPTS &&
			    nh != SPLIT_IPPROTO_FRAGMENT)
				break;
			if (off > SPLIT_HDR_MAX)
				return SPLIT_NS_SHORT_L4;
			h = data + off;
			if ((void *)(h + 8) > data_end || off + 8 > l3_end)
				return SPLIT_NS_SHORT_L4;
			if (nh == SPLIT_IPPROTO_FRAGMENT) {
				/* offset in the top 13 bits of bytes 2..3 */
				if (*(__be16 *)(h + 2) & bpf_htons(SPLIT_IP6_OFFSET))
					return SPLIT_NS_FRAG_PASS;
				p->frag = 1;
				off += 8;
			} else {
				off += ((__u32)h[1] + 1) * 8;
			}
			nh = h[0];
		}
		if (nh == SPLIT_IPPROTO_HOPOPTS || nh == SPLIT_IPPROTO_DSTOPTS ||
		    nh == SPLIT_IPPROTO_FRAGMENT || nh == 43 /* routing */ ||
		    nh == 50 /* ESP */ || nh == 51 /* AH */ || nh == 135 /* mobility */ ||
		    nh == 139 /* HIP */ || nh == 140 /* shim6 */)
			return SPLIT_NS_V6_EXT;
	} else {
		return SPLIT_NS_NOT_IP;
	}

	if (nh != SPLIT_IPPROTO_TCP && nh != SPLIT_IPPROTO_UDP)
		return SPLIT_NS_OTHER_L4;
	p->k.proto = nh;
	hlen = nh == SPLIT_IPPROTO_TCP ? sizeof(struct tcphdr) : sizeof(struct udphdr);
	if (off > SPLIT_HDR_MAX || off + hlen > l3_end)
		return SPLIT_NS_SHORT_L4;
	p->l4_off = off;
	if (nh == SPLIT_IPPROTO_TCP) {
		struct tcphdr *th = data + off;

		if ((void *)(th + 1) > data_end)
			return SPLIT_NS_SHORT_L4;
		p->k.sport = th->source;
		p->k.dport = th->dest;
		p->l4_csum = th->check;
		p->tcp_flags = ((__u8 *)th)[13];
		p->csum_off = off + __builtin_offsetof(struct tcphdr, check);
	} else {
		struct udphdr *uh = data + off;

		if ((void *)(uh + 1) > data_end)
			return SPLIT_NS_SHORT_L4;
		p->k.sport = uh->source;
		p->k.dport = uh->dest;
		p->l4_csum = uh->check;
		p->csum_off = off + __builtin_offsetof(struct udphdr, check);
	}
	return SPLIT_PARSE_OK;
}

/* ---- flow hash ------------------------------------------------------------- */

static __always_inline __u32 split_rol32(__u32 w, unsigned int s)
{
	return (w << s) | (w >> (32 - s));
}

#define SPLIT_JHASH_MIX(a, b, c)                                   \
	do {                                                       \
		a -= c; a ^= split_rol32(c, 4);  c += b;           \
		b -= a; b ^= split_rol32(a, 6);  a += c;           \
		c -= b; c ^= split_rol32(b, 8);  b += a;           \
		a -= c; a ^= split_rol32(c, 16); c += b;           \
		b -= a; b ^= split_rol32(a, 19); a += c;           \
		c -= b; c ^= split_rol32(b, 4);  b += a;           \
	} while (0)

#define SPLIT_JHASH_FINAL(a, b, c)                                 \
	do {                                                       \
		c ^= b; c -= split_rol32(b, 14);                   \
		a ^= c; a -= split_rol32(c, 11);                   \
		b ^= a; b -= split_rol32(a, 25);                   \
		c ^= b; c -= split_rol32(b, 16);                   \
		a ^= c; a -= split_rol32(c, 4);                    \
		b ^= a; b -= split_rol32(a, 14);                   \
		c ^= b; c -= split_rol32(b, 24);                   \
	} while (0)

/* jhash2(w, 10, SPLIT_FLOW_HASH_SEED) over the flow's words: see
 * split_common.h ("XDP/tc datapath") for the exact definition. */
static __always_inline __u32 split_flow_hash(const struct split_ct_key *k)
{
	__u32 a, b, c;

	a = b = c = 0xdeadbeef + (10 << 2) + SPLIT_FLOW_HASH_SEED;
	a += bpf_ntohl(k->saddr[0]);
	b += bpf_ntohl(k->saddr[1]);
	c += bpf_ntohl(k->saddr[2]);
	SPLIT_JHASH_MIX(a, b, c);
	a += bpf_ntohl(k->saddr[3]);
	b += bpf_ntohl(k->daddr[0]);
	c += bpf_ntohl(k->daddr[1]);
	SPLIT_JHASH_MIX(a, b, c);
	a += bpf_ntohl(k->daddr[2]);
	b += bpf_ntohl(k->daddr[3]);
	c += ((__u32)bpf_ntohs(k->sport) << 16) | bpf_ntohs(k->dport);
	SPLIT_JHASH_MIX(a, b, c);
	a += k->proto;
	SPLIT_JHASH_FINAL(a, b, c);
	return c;
}

/* ---- conntrack ------------------------------------------------------------- */

static __always_inline int split_addr_eq(const __be32 *a, const __be32 *b)
{
	return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3];
}

static __always_inline void split_rev_key(const struct split_pkt *p,
					  const struct split_ct_val *ct,
					  struct split_ct_key *rk)
{
	__builtin_memcpy(rk->saddr, ct->addr, sizeof(rk->saddr));
	__builtin_memcpy(rk->daddr, p->k.saddr, sizeof(rk->daddr));
	rk->sport = ct->port;
	rk->dport = p->k.sport;
	rk->proto = p->k.proto;
	rk->family = p->k.family;
	rk->pad[0] = rk->pad[1] = 0;
}

static __always_inline void split_rev_write(const struct split_pkt *p,
					    const struct split_ct_val *ct,
					    const struct split_ct_key *rk)
{
	struct split_ct_rev_val rv = {};

	__builtin_memcpy(rv.addr, p->k.daddr, sizeof(rv.addr));
	rv.port = p->k.dport;
	rv.backend_id = ct->backend_id;
	rv.svc_id = ct->svc_id;
	rv.version_id = ct->version_id;
	bpf_map_update_elem(&ct_rev, rk, &rv, BPF_ANY);
}

/* Is entry e over, so that packet p starts a new flow on the same 5-tuple?
 * TCP: a SYN without ACK after the client has sent a non-SYN is a new
 * connection reusing the ports (a retransmitted SYN comes before any ACK).
 * UDP: idle for SPLIT_CT_UDP_IDLE_NS (kube-proxy's conntrack forgets UDP
 * flows after 30 s too). Without this a reused port would follow an old
 * choice whatever the weights say now. */
static __always_inline int split_ct_ended(const struct split_pkt *p,
					  const struct split_ct_val *e, __u64 now)
{
	if (p->k.proto == SPLIT_IPPROTO_TCP)
		return (p->tcp_flags & (SPLIT_TCP_SYN | SPLIT_TCP_ACK)) == SPLIT_TCP_SYN &&
		       (e->flags & SPLIT_CT_F_ACKED);
	return now - e->last_ns > SPLIT_CT_UDP_IDLE_NS;
}

/* Note what ends an entry: the client's first non-SYN (once), and the
 * time of the last packet (at most one write a second; it ends idle UDP
 * flows). Returns 1 when last_ns moved, i.e. at most once a second. */
static __always_inline int split_ct_touch(const struct split_pkt *p,
					  struct split_ct_val *e, __u64 now)
{
	if (p->k.proto == SPLIT_IPPROTO_TCP &&
	    !(p->tcp_flags & SPLIT_TCP_SYN) && !(e->flags & SPLIT_CT_F_ACKED))
		e->flags |= SPLIT_CT_F_ACKED;
	if (now - e->last_ns <= SPLIT_CT_TOUCH_NS)
		return 0;
	e->last_ns = now;
	return 1;
}

/* The backend of the flow in *p to VIP:port sv: the conntrack entry if it is
 * still valid, else the hashed slot (then written to ct and ct_rev).
 * Returns 0 with *out filled (*is_new set for a new entry), or -1 when the
 * service has no eligible backend. */
static __always_inline int split_ct_resolve(const struct split_pkt *p,
					    const struct split_svc_val *sv,
					    struct split_ct_val *out, int *is_new)
{
	struct split_backend_val *be;
	struct split_ct_val *e;
	struct split_ct_key rk = {};
	__u64 now = bpf_ktime_get_ns();	/* the one clock read per packet */
	__u32 id;
	int had = 0;	/* an entry of another service was there */

	*is_new = 0;
	e = bpf_map_lookup_elem(&ct, &p->k);
	if (e) {
		had = e->svc_id != sv->svc_id;
		/* The entry carries the backend's address: the flow stays there
		 * even when the backend has since been removed or set to weight
		 * 0 (drain). Only a VIP:port now serving another service
		 * starts over. */
		if (e->svc_id == sv->svc_id && e->family == p->k.family &&
		    !split_ct_ended(p, e, now)) {
			/* Is the reverse entry still there (the LRU may have
			 * evicted it)? Looked at once a second per flow, not
			 * per packet: replies keep a live flow's entry hot. */
			int look = split_ct_touch(p, e, now);

			__builtin_memcpy(out, e, sizeof(*out));
			if (look) {
				split_rev_key(p, out, &rk);
				if (!bpf_map_lookup_elem(&ct_rev, &rk))
					split_rev_write(p, out, &rk);
			}
			return 0;
		}
	}

	be = split_pick(sv, split_flow_hash(&p->k), &id);
	if (!be || be->family != p->k.family)
		return -1;
	__builtin_memset(out, 0, sizeof(*out));
	__builtin_memcpy(out->addr, be->addr, sizeof(out->addr));
	out->port = sv->target_port;
	out->family = p->k.family;
	out->backend_id = id;
	out->svc_id = sv->svc_id;
	out->version_id = be->version_id;
	out->created_ns = now;
	out->last_ns = out->created_ns;
	if (p->k.proto == SPLIT_IPPROTO_TCP && !(p->tcp_flags & SPLIT_TCP_SYN))
		out->flags = SPLIT_CT_F_ACKED;
	*is_new = 1;
	split_stat(SPLIT_NS_NEW_FLOW);
	if (had)
		split_stat(SPLIT_NS_CT_STALE);
	else if (p->k.proto == SPLIT_IPPROTO_TCP && !(p->tcp_flags & SPLIT_TCP_SYN))
		split_stat(SPLIT_NS_CT_ADOPT);
	if (bpf_map_update_elem(&ct, &p->k, out, BPF_ANY))
		split_stat(SPLIT_NS_CT_FAIL);
	split_rev_key(p, out, &rk);
	split_rev_write(p, out, &rk);
	return 0;
}

/* ---- counters -------------------------------------------------------------- */

static __always_inline struct split_flow_stats *split_stats_get(void *map, const void *key)
{
	struct split_flow_stats zero = {};

	return split_percpu_get(map, key, &zero);
}

/* One packet of l3_len bytes on the counters s (if any): forward or reverse. */
static __always_inline void count_flow(struct split_flow_stats *s, __u32 l3_len,
				       int new_flow, int rev)
{
	if (!s)
		return;
	if (rev) {
		s->rev_packets++;
		s->rev_bytes += l3_len;
	} else {
		s->flows += new_flow;
		s->packets++;
		s->bytes += l3_len;
	}
}

/* Count one packet of l3_len bytes on the backend and its version:
 * forward (client -> backend, new_flow when a ct entry was created) or
 * reverse. */
static __always_inline void split_count(__u32 backend_id, __u32 svc_id,
					__u32 version_id, __u32 l3_len,
					int new_flow, int rev)
{
	struct split_weight_key vk = { .svc_id = svc_id, .version_id = version_id };

	if (split_no_count)
		return;
	count_flow(split_stats_get(&be_stats, &backend_id), l3_len, new_flow, rev);
	count_flow(split_stats_get(&ver_stats, &vk), l3_len, new_flow, rev);
}

/* ---- the DNAT decision, shared by XDP and tc ------------------------------- */

/* Parse the frame and decide. SPLIT_ACT_NAT leaves the backend in *ct and
 * whether the flow is new in *is_new; the caller rewrites, then calls
 * split_count(). Every PASS and DROP is counted here. */
static __always_inline enum split_act
split_dnat_decide(void *data, void *data_end, __u64 pkt_len, struct split_pkt *p,
		  struct split_ct_val *ct, int *is_new)
{
	struct split_svc_key sk = {};
	struct split_svc_val *sv;
	int rc;

	rc = split_parse(data, data_end, pkt_len, p);
	if (rc != SPLIT_PARSE_OK) {
		split_stat(rc);
		return SPLIT_ACT_PASS;
	}
	__builtin_memcpy(sk.addr, p->k.daddr, sizeof(sk.addr));
	sk.port = p->k.dport;
	sk.proto = p->k.proto;
	sk.family = p->k.family;
	sv = bpf_map_lookup_elem(&svc, &sk);
	if (!sv) {
		split_stat(SPLIT_NS_NOT_VIP);
		return SPLIT_ACT_PASS;
	}
	if (p->frag) {
		split_stat(SPLIT_NS_FRAG_DROP);
		return SPLIT_ACT_DROP;
	}
	if (p->k.family == 6 && p->k.proto == SPLIT_IPPROTO_UDP && !p->l4_csum) {
		split_stat(SPLIT_NS_UDP6_NOCSUM);
		return SPLIT_ACT_DROP;
	}
	if (split_ct_resolve(p, sv, ct, is_new)) {
		split_stat(SPLIT_NS_NO_BACKEND);
		return SPLIT_ACT_DROP;
	}
	return SPLIT_ACT_NAT;
}

/* ---- XDP rewrite: incremental checksums (RFC 1624) ------------------------ */

static __always_inline __u32 split_csum_add32(__u32 sum, __u32 w)
{
	return sum + (w & 0xffff) + (w >> 16);
}

static __always_inline __u16 split_csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)sum;
}

/* HC' = ~(~HC + ~m + m') over n (1 or 4) 32-bit words, and the 16-bit port when
 * with_port (all as stored in the packet: one's complement sums do not care
 * about byte order). */
static __always_inline __u16 split_csum_update(__u16 check, const __be32 *from,
					       const __be32 *to, int n, int with_port,
					       __be16 pfrom, __be16 pto)
{
	__u32 sum = (__u16)~check;

	sum = split_csum_add32(sum, ~from[0]);
	sum = split_csum_add32(sum, to[0]);
	if (n == 4) {
		sum = split_csum_add32(sum, ~from[1]);
		sum = split_csum_add32(sum, to[1]);
		sum = split_csum_add32(sum, ~from[2]);
		sum = split_csum_add32(sum, to[2]);
		sum = split_csum_add32(sum, ~from[3]);
		sum = split_csum_add32(sum, to[3]);
	}
	if (with_port) {
		sum += (__u16)~pfrom;
		sum += pto;
	}
	return (__u16)~split_csum_fold(sum);
}

/* Rewrite the destination (dst = 1) or source (dst = 0) address and port of
 * the parsed packet in place. Returns 0, or -1 if the headers are not where
 * split_parse() found them (cannot happen; nothing is written then). */
static __always_inline int split_xdp_rewrite(void *data, void *data_end,
					     const struct split_pkt *p,
					     const __be32 *addr, __be16 port, int dst)
{
	__u32 off = p->l4_off;
	__be16 *pp, *cp;
	__be16 oldport;
	__u16 c;
	int udp = p->k.proto == SPLIT_IPPROTO_UDP;
	int n = p->k.family == 6 ? 4 : 1;
	__be32 old[4];

	if (off > SPLIT_HDR_MAX)
		return -1;
	if (data + off + (udp ? sizeof(struct udphdr) : sizeof(struct tcphdr)) > data_end)
		return -1;
	pp = data + off + (dst ? 2 : 0);
	cp = data + off + (udp ? __builtin_offsetof(struct udphdr, check) :
				 __builtin_offsetof(struct tcphdr, check));
	oldport = *pp;

	if (p->k.family == 4) {
		struct iphdr *ip = data + sizeof(struct ethhdr);
		__be32 *a;

		if ((void *)(ip + 1) > data_end)
			return -1;
		a = dst ? &ip->daddr : &ip->saddr;
		old[0] = *a;
		ip->check = split_csum_update(ip->check, old, addr, 1, 0, 0, 0);
		*a = addr[0];
	} else {
		struct ipv6hdr *ip6 = data + sizeof(struct ethhdr);
		__be32 *a;

		if ((void *)(ip6 + 1) > data_end)
			return -1;
		a = dst ? ip6->daddr.in6_u.u6_addr32 : ip6->saddr.in6_u.u6_addr32;
		old[0] = a[0];
		old[1] = a[1];
		old[2] = a[2];
		old[3] = a[3];
		a[0] = addr[0];
		a[1] = addr[1];
		a[2] = addr[2];
		a[3] = addr[3];
	}
	if (!(udp && p->k.family == 4 && *cp == 0)) {
		c = split_csum_update(*cp, old, addr, n, 1, oldport, port);
		if (udp && c == 0)
			c = 0xffff;
		*cp = c;
	}
	*pp = port;
	return 0;
}

/* ---- tc rewrite: checksum helpers ------------------------------------------ */

static __always_inline void split_tc_pull(struct __sk_buff *skb)
{
	__u32 len = skb->len < SPLIT_HDR_MAX ? skb->len : SPLIT_HDR_MAX;

	if ((long)skb->data_end - (long)skb->data < (long)len)
		bpf_skb_pull_data(skb, len);
}

/* Same as split_xdp_rewrite() through the skb helpers. Returns 0, or -1
 * when a helper failed (the caller drops: the packet may be half-written). */
static __always_inline int split_tc_rewrite(struct __sk_buff *skb,
					    const struct split_pkt *p,
					    const __be32 *addr, __be16 port, int dst)
{
	__u64 l4f = p->k.proto == SPLIT_IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;
	__u32 eth = sizeof(struct ethhdr);
	__u32 poff = p->l4_off + (dst ? 2 : 0);
	__be16 oldport = dst ? p->k.dport : p->k.sport;
	__be32 old[4], new[4];

	if (p->k.family == 4) {
		__u32 aoff = eth + (dst ? __builtin_offsetof(struct iphdr, daddr) :
					  __builtin_offsetof(struct iphdr, saddr));

		old[0] = dst ? p->k.daddr[0] : p->k.saddr[0];
		new[0] = addr[0];
		if (bpf_l3_csum_replace(skb, eth + __builtin_offsetof(struct iphdr, check),
					old[0], new[0], 4) ||
		    bpf_l4_csum_replace(skb, p->csum_off, old[0], new[0],
					l4f | BPF_F_PSEUDO_HDR | 4) ||
		    bpf_skb_store_bytes(skb, aoff, new, 4, 0))
			return -1;
	} else {
		__u32 aoff = eth + (dst ? __builtin_offsetof(struct ipv6hdr, daddr) :
					  __builtin_offsetof(struct ipv6hdr, saddr));
		__s64 diff;

		__builtin_memcpy(old, dst ? p->k.daddr : p->k.saddr, sizeof(old));
		__builtin_memcpy(new, addr, sizeof(new));
		diff = bpf_csum_diff(old, sizeof(old), new, sizeof(new), 0);
		if (diff < 0)
			return -1;
		if (bpf_l4_csum_replace(skb, p->csum_off, 0, diff, l4f | BPF_F_PSEUDO_HDR) ||
		    bpf_skb_store_bytes(skb, aoff, new, sizeof(new), 0))
			return -1;
	}
	if (bpf_l4_csum_replace(skb, p->csum_off, oldport, port, l4f | 2) ||
	    bpf_skb_store_bytes(skb, poff, &port, sizeof(port), 0))
		return -1;
	return 0;
}

#endif /* SPLIT_NAT_BPF_H */
