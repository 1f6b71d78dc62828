/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * split_common.h - every fact shared by the BPF datapath and userspace.
 *
 * Sizes, map names and the key/value layouts of every pinned map live here
 * and nowhere else. Network-order fields are typed __be16/__be32; the layout
 * test (tests/unit/test_layout.c) checks these structs against the BTF that
 * clang emitted into the .bpf.o, so the two sides cannot drift apart.
 *
 * When a map's layout changes, change its name too (e.g. "svc" -> "svc_v2"),
 * so a new loader never reuses an old pinned map of a different shape.
 */
#ifndef SPLIT_COMMON_H
#define SPLIT_COMMON_H

#include <linux/types.h>

/* ---- sizes --------------------------------------------------------------- */

/* Slots in one selection table. Prime (Maglev), and large enough that one
 * slot is under 0.01% of the traffic: 1/10007 = 0.00999%. */
#define SPLIT_TABLE_SLOTS	10007
#define SPLIT_MAX_SERVICES	16384	/* services (ids 1..MAX-1; 0 is unused) */
#define SPLIT_MAX_TABLES	(SPLIT_MAX_SERVICES * 2) /* one per service and family */
#define SPLIT_MAX_VIPS		65536	/* VIP:port:proto entries */
#define SPLIT_MAX_BACKENDS	65536	/* endpoint addresses, all services */
#define SPLIT_MAX_VERSIONS	65536	/* (service, version) pairs */
#define SPLIT_MAX_SOCK_NAT	65536	/* default entries of sock_nat and udp_aff (splitd --sock-nat-max) */
/* Cells (two slots each) of slots_v3, the flat store of the small tables:
 * default (splitd --table-cells). Every endpoint is in at most one small
 * table, so twice SPLIT_MAX_BACKENDS slots hold them all, with room for the
 * new copy of every table during a commit. 512 KiB. */
#define SPLIT_SLOT_CELLS	SPLIT_MAX_BACKENDS
#define SPLIT_NAME_LEN		64	/* k8s names and label values: <= 63 + NUL */

/* Table index of a service's table for one address family. */
#define SPLIT_TABLE_ID(svc_id, is_v6)	((svc_id) * 2 + ((is_v6) ? 1 : 0))
#define SPLIT_TABLE_SVC(table_id)	((table_id) / 2)	/* whose table it is */

/* ---- map names (pinned under the pin dir, default /sys/fs/bpf/split) ----- */

#define SPLIT_PIN_DIR_DEFAULT	"/sys/fs/bpf/split"
#define SPLIT_MAP_SVC		"svc"		/* VIP:port:proto -> service */
#define SPLIT_MAP_TABLES	"tables_v3"	/* table id -> kind, length, offset of its slots */
#define SPLIT_MAP_SLOTS		"slots_v3"	/* cell -> two slots of small tables (flat store) */
#define SPLIT_MAP_BIG_TABLES	"big_v4"	/* table id -> inner 10007-slot table (explicit weights) */
#define SPLIT_MAP_BIG_TABLES_V3	"big_v3"	/* its layout before: splitd copies and removes it */
#define SPLIT_MAP_BACKENDS	"backends"	/* backend id -> endpoint address */
#define SPLIT_MAP_SERVICES	"services"	/* service id -> name, namespace */
#define SPLIT_MAP_SVC_NAMES	"svc_names"	/* (name, namespace) -> service id (control plane) */
#define SPLIT_MAP_WEIGHTS	"weights"	/* (service, version) -> weight: for people */
#define SPLIT_MAP_SOCK_NAT	"sock_nat"	/* (socket, backend) -> VIP, for getpeername/recvmsg */
#define SPLIT_MAP_UDP_AFF	"udp_aff"	/* (socket, VIP) -> backend, UDP stickiness */
#define SPLIT_MAP_GENERATION	"generation"	/* SPLIT_GEN_* -> u64: commits, L7 proxy progress */
#define SPLIT_LINK_DIR		"links"		/* pinned bpf_links, under the pin dir */

/* generation: an array of __u64, one writer per entry. */
enum split_gen_index {
	SPLIT_GEN_COMMITTED = 0,	/* changes committed (splitd, splitctl) */
	SPLIT_GEN_L7_APPLIED = 1,	/* the last of them splitd's L7 proxy follows */
	SPLIT_GEN_L7_HEARTBEAT = 2,	/* CLOCK_MONOTONIC ns: the L7 proxy is alive; 0: stopped */
	SPLIT_GEN_MAX
};

/* ---- flags --------------------------------------------------------------- */

#define SPLIT_SVC_F_ROUTED	(1U << 0) /* weights set explicitly (splitctl set / a rule) */

/* ---- map layouts --------------------------------------------------------- */

/* Addresses are 16 bytes for both families: IPv4 uses addr[0] only, the rest
 * is zero. family is 4 or 6 (not AF_*: the value a person reads). */

/* svc: key. One entry per (VIP, port, protocol). */
struct split_svc_key {
	__be32 addr[4];
	__be16 port;
	__u8 proto;		/* IPPROTO_TCP or IPPROTO_UDP */
	__u8 family;		/* 4 or 6 */
};

/* svc: value. */
struct split_svc_val {
	__u32 svc_id;
	__u32 table_id;		/* SPLIT_TABLE_ID(svc_id, family == 6) */
	__be16 target_port;	/* port on the endpoints */
	__u16 pad;
	__u32 flags;		/* SPLIT_SVC_F_L7 on the TCP ports of an L7 service */
};

/*
 * Selection tables, two kinds (table id = SPLIT_TABLE_ID(service, family)):
 *
 *  - small (SPLIT_TBL_SMALL): a service with no explicit weights gives every
 *    endpoint an equal share, so its table is one slot per endpoint, sorted
 *    by address: slot s = hash % nslots. Its slots live in slots_v3, one
 *    array shared by all small tables, at cells [offset / 2, ...): slot s is
 *    backend_id[(offset + s) % 2] of cell (offset + s) / 2 (offset is even).
 *  - big (SPLIT_TBL_BIG): explicit weights (splitctl set, a route) need the
 *    SPLIT_TABLE_SLOTS-slot table built by user/lib/model/table.c (exact to 0.01%,
 *    minimal disruption): an inner array map in big_v4 of one element, a
 *    struct split_big_table (slot s: backend SPLIT_BACKEND_ID(service,
 *    k[s])). One element, not a cell per two slots as in big_v3: a new
 *    table is written with one update, not 5004; and 2 bytes a slot, not 4
 *    (every backend of a table is its service's): 20 KB, which the kernel
 *    allocates whole (kmalloc, no vmalloc), half of big_v3's 40 KB.
 *
 * tables_v3 (a hash map: an update replaces the whole value, so a reader
 * sees the old entry or the new one) says which. A small table changes by
 * writing its new slots to free cells, then updating its tables_v3 entry
 * in one update; a big one by swapping in a new inner map. Freed cells are
 * kept (a tombstone entry, key SPLIT_TBL_TOMB | offset) for SPLIT_TBL_GRACE_NS
 * before they are reused, so a program that read the old entry never sees
 * them rewritten. No entry: the service has no eligible endpoint for that
 * family (connect() fails with EPERM).
 */
#define SPLIT_TABLE_CELLS	((SPLIT_TABLE_SLOTS + 1) / 2)
#define SPLIT_TBL_TOMB		0x80000000U	/* tables_v3 key of freed cells */
#define SPLIT_TBL_GRACE_NS	(20ULL * 1000000ULL)

enum split_table_kind {
	SPLIT_TBL_SMALL = 1,	/* slots in slots_v3 */
	SPLIT_TBL_BIG = 2,	/* slots in big_v4's inner map */
	SPLIT_TBL_FREED = 3,	/* tombstone: cells freed at freed_ns */
};

/* tables_v3: value (key: __u32 table id, or SPLIT_TBL_TOMB | offset). */
struct split_table_val {
	__u32 kind;		/* enum split_table_kind */
	__u32 nslots;		/* slots (SPLIT_TABLE_SLOTS for a big table) */
	__u32 offset;		/* small: first slot in slots_v3 (even) */
	__u32 pad;
	__u64 freed_ns;		/* tombstone: CLOCK_MONOTONIC ns when freed */
};

/* slots_v3: value. */
struct split_slot_pair {
	__u32 backend_id[2];
};

/* big_v4 inner maps: the value of their one element (key 0). Slot s of
 * table tid is backend SPLIT_BACKEND_ID(SPLIT_TABLE_SVC(tid), k[s]) (k 0: none);
 * the last one is padding (0), for an 8-byte size. */
struct split_big_table {
	__u16 k[2 * SPLIT_TABLE_CELLS];
};

/* backends: key is the __u32 backend id (never 0): SPLIT_BACKEND_ID(). */
struct split_backend_val {
	__be32 addr[4];
	__u8 family;		/* 4 or 6 */
	__u8 pad[3];
	__u32 svc_id;
	__u32 version_id;	/* key.version_id in the weights map */
};

/* services: key is the __u32 service id. A service's backend ids are
 * SPLIT_BACKEND_ID(svc_id, k) with 0 < k < ep_end, its version ids
 * 0 < v < ver_end, so one service is read without a scan of the maps
 * (splitctl set). 0 in both: written by an older splitd. */
struct split_service_val {
	char name[SPLIT_NAME_LEN];
	char ns[SPLIT_NAME_LEN];
	__u32 flags;		/* SPLIT_SVC_F_* */
	__u16 ep_end;		/* backend ids: k < ep_end */
	__u16 ver_end;		/* version ids: v < ver_end */
	__u64 digest;		/* of the tables' inputs: unchanged -> not rebuilt */
};

#define SPLIT_BACKEND_ID(svc_id, k)	(((__u32)(svc_id) << 16) | (__u32)(k))
#define SPLIT_BACKEND_SVC(id)		((id) >> 16)
#define SPLIT_MAX_SVC_BACKENDS		65534	/* k: 1 .. 65534 */

/* svc_names: key. (name, namespace) of every service, and (name, "") of
 * every service name, so that `splitctl set NAME` finds its service
 * without reading the others. */
struct split_name_key {
	char name[SPLIT_NAME_LEN];
	char ns[SPLIT_NAME_LEN];	/* "": the entry of the name alone */
};

/* svc_names: value. */
struct split_name_val {
	__u32 svc_id;		/* 0 for a name that several namespaces use */
	__u32 count;		/* services with that name (1 for a (name, ns) entry) */
};

/* weights: key. */
struct split_weight_key {
	__u32 svc_id;
	__u32 version_id;
};

/* weights: value. What a person reads with bpftool map dump. */
struct split_weight_val {
	char service[SPLIT_NAME_LEN];
	char version[SPLIT_NAME_LEN];
	__u32 weight;		/* configured weight (relative) */
	__u32 endpoints4;	/* IPv4 endpoint addresses of this version */
	__u32 endpoints6;	/* IPv6 endpoint addresses of this version */
	__u32 slots4;		/* slots this version holds in the IPv4 table */
	__u32 slots6;		/* ... and in the IPv6 table */
};

/* sock_nat: key. Written at connect()/sendmsg(); read by getpeername() and
 * recvmsg() to show the VIP instead of the backend. */
struct split_sock_nat_key {
	__u64 cookie;		/* bpf_get_socket_cookie() */
	__be32 addr[4];		/* backend address */
	__be16 port;		/* backend port */
	__u8 family;
	__u8 pad[5];
};

/* sock_nat: value. */
struct split_sock_nat_val {
	__be32 addr[4];		/* VIP */
	__be16 port;		/* VIP port */
	__u16 pad;
};

/* udp_aff: key. An unconnected UDP socket keeps sending one VIP's
 * datagrams to the backend it first picked (kube-proxy conntrack does the
 * same), until that backend leaves the service. */
struct split_udp_aff_key {
	__u64 cookie;
	__be32 addr[4];		/* VIP */
	__be16 port;		/* VIP port */
	__u8 family;
	__u8 pad[5];
};

/* udp_aff: value. */
struct split_udp_aff_val {
	__u32 backend_id;
	__u32 pad;
};

/* ==== XDP/tc datapath ===================================================== */
/*
 * North-south DNAT (bpf/split_xdp.bpf.c, bpf/split_tc.bpf.c, helpers in
 * bpf/split_nat.bpf.h). A flow is the 5-tuple as the client sent it; its
 * conntrack entry (ct) holds the backend, and a second entry (ct_rev), keyed
 * by the reply's 5-tuple, lets tc turn replies back into VIP:port.
 *
 * Flow hash (same on every node, so a node without the entry agrees): Linux
 * jhash2() (Bob Jenkins' lookup3) over 10 u32 words, initval
 * SPLIT_FLOW_HASH_SEED:
 *   w[0..3] = source address, w[4..7] = destination address (each 32-bit
 *             word as a host-order number, i.e. ntohl(); IPv4 uses w[0] and
 *             w[4], the other address words are 0)
 *   w[8]    = ntohs(sport) << 16 | ntohs(dport)
 *   w[9]    = IP protocol (6 or 17)
 * slot = hash % the table's nslots (split_pick()).
 */

#define SPLIT_MAX_CT		262144	/* default flows in ct, and in ct_rev (LRU; splitd --ct-max) */
#define SPLIT_HDR_MAX		256	/* L4 header must end within this many bytes of the frame */
#define SPLIT_V6_MAX_EXT	4	/* IPv6 hop-by-hop/dest-options/fragment headers walked */
#define SPLIT_FLOW_HASH_SEED	0x53504c54U	/* "SPLT": jhash2 initval */
#define SPLIT_NAT_STATS_SLOTS	32	/* entries of nat_stats (>= SPLIT_NS_MAX) */

#define SPLIT_MAP_CT		"ct"		/* client 5-tuple -> backend (conntrack) */
#define SPLIT_MAP_CT_REV	"ct_rev"	/* reply 5-tuple -> VIP:port (reverse NAT) */
#define SPLIT_MAP_BE_STATS	"be_stats"	/* backend id -> flows/packets/bytes, per CPU */
#define SPLIT_MAP_VER_STATS	"ver_stats"	/* (service, version) -> flows/packets/bytes, per CPU */
#define SPLIT_MAP_NAT_STATS	"nat_stats"	/* enum split_nat_stat -> packets, per CPU */

/* ct and ct_rev: key. A 5-tuple exactly as it appears in the packet (ct:
 * client -> VIP; ct_rev: backend -> client). */
struct split_ct_key {
	__be32 saddr[4];
	__be32 daddr[4];
	__be16 sport;
	__be16 dport;
	__u8 proto;		/* IPPROTO_TCP or IPPROTO_UDP */
	__u8 family;		/* 4 or 6 */
	__u8 pad[2];
};

/* ct: value. Written when a flow is first seen; the flow keeps this backend
 * while the backend stays in `backends` for the same service and address
 * (weight 0 = drain: it does). */
struct split_ct_val {
	__be32 addr[4];		/* backend address */
	__be16 port;		/* backend (target) port */
	__u8 family;		/* 4 or 6 */
	__u8 flags;		/* SPLIT_CT_F_* */
	__u32 backend_id;
	__u32 svc_id;
	__u32 version_id;
	__u64 created_ns;	/* bpf_ktime_get_ns() (CLOCK_MONOTONIC) at creation */
	__u64 last_ns;		/* last packet, updated at most once a second */
};

#define SPLIT_CT_F_ACKED	0x01	/* ct flags: the client has sent a non-SYN */
#define SPLIT_CT_UDP_IDLE_NS	(30ULL * 1000000000ULL) /* UDP flow forgotten after 30 s idle */
#define SPLIT_CT_TOUCH_NS	(1000000000ULL)		/* last_ns granularity */

/* ct_rev: value. */
struct split_ct_rev_val {
	__be32 addr[4];		/* VIP */
	__be16 port;		/* VIP port */
	__u16 pad;
	__u32 backend_id;
	__u32 svc_id;
	__u32 version_id;
};

/* be_stats (key: __u32 backend id) and ver_stats (key: struct
 * split_weight_key) value, one per CPU: sum them. Bytes are L3 bytes (IP
 * header and payload, no Ethernet header or padding). Userspace deletes the
 * entry when it deletes the backend or version. */
struct split_flow_stats {
	__u64 flows;		/* conntrack entries created */
	__u64 packets;		/* client -> backend, DNATed */
	__u64 bytes;
	__u64 rev_packets;	/* backend -> client, reverse NATed */
	__u64 rev_bytes;
};

/* nat_stats: index, value __u64 packets per CPU. */
enum split_nat_stat {
	SPLIT_NS_NOT_IP = 0,	/* pass: not IPv4/IPv6 (ARP, ...) */
	SPLIT_NS_VLAN,		/* pass: VLAN tag (attach to the VLAN device) */
	SPLIT_NS_SHORT,		/* pass: truncated Ethernet or IP header */
	SPLIT_NS_BAD_IP,	/* pass: bad version, ihl or total/payload length */
	SPLIT_NS_V6_EXT,	/* pass: IPv6 routing/AH/ESP/other or too many ext headers */
	SPLIT_NS_OTHER_L4,	/* pass: neither TCP nor UDP (ICMP, ...) */
	SPLIT_NS_SHORT_L4,	/* pass: L4 header truncated or beyond SPLIT_HDR_MAX */
	SPLIT_NS_FRAG_PASS,	/* pass: non-first fragment (no ports to match) */
	SPLIT_NS_NOT_VIP,	/* pass: TCP/UDP not for a VIP:port */
	SPLIT_NS_FRAG_DROP,	/* drop: first fragment for a VIP:port */
	SPLIT_NS_UDP6_NOCSUM,	/* drop: IPv6 UDP for a VIP:port with checksum 0 */
	SPLIT_NS_NO_BACKEND,	/* drop: VIP:port without an eligible backend */
	SPLIT_NS_NAT_ERR,	/* drop: rewrite failed (never half-rewritten) */
	SPLIT_NS_DNAT,		/* packets DNATed to a backend */
	SPLIT_NS_NEW_FLOW,	/* conntrack entries created (includes the next two) */
	SPLIT_NS_CT_ADOPT,	/* ... for a TCP non-SYN (lost state or another node's flow) */
	SPLIT_NS_CT_STALE,	/* ... because the VIP:port now serves another service */
	SPLIT_NS_CT_FAIL,	/* conntrack insert failed (packet still sent by hash) */
	SPLIT_NS_REV_NAT,	/* replies rewritten back to VIP:port */
	SPLIT_NS_MAX
};

/* ---- rules: Istio objects in force and their compiled L7 part ---------- */

#define SPLIT_MAP_OBJECTS	"objects"	/* (kind, namespace, name) -> the object, as JSON */
#define SPLIT_MAP_L7_ROUTES	"l7_routes"	/* (service, route) -> match count, destinations */
#define SPLIT_MAP_L7_CONDS	"l7_conds"	/* (service, route, match, cond) -> condition */
#define SPLIT_MAX_OBJECTS	1024
#define SPLIT_OBJ_TEXT_MAX	16380	/* an object's JSON text, bytes */
#define SPLIT_MAX_L7_ROUTES	4096
#define SPLIT_MAX_L7_CONDS	16384
#define SPLIT_L7_MAX_DESTS	8
#define SPLIT_L7_VALUE_LEN	1024	/* header value / regex source (Istio's regex limit) */
#define SPLIT_KIND_LEN		32

#define SPLIT_SVC_F_L7		(1U << 1) /* some route matches requests: needs the L7 proxy */

/* objects: key. */
struct split_object_key {
	char kind[SPLIT_KIND_LEN];	/* RouteRule, VirtualService, DestinationRule */
	char ns[SPLIT_NAME_LEN];
	char name[SPLIT_NAME_LEN];
};

/* objects: value. The object as applied, re-encoded as one line of JSON. */
struct split_object_val {
	__u32 len;
	char text[SPLIT_OBJ_TEXT_MAX];
};

/* owners: which file holds an object, when files own the objects (splitd
 * --config-dir). Made and written by splitd, not by a BPF program; the
 * key of all zeros holds the config dir. Absent or empty: splitctl owns
 * the objects. */
#define SPLIT_MAP_OWNERS	"owners"
#define SPLIT_OWNER_PATH_LEN	512
struct split_owner_val {
	char path[SPLIT_OWNER_PATH_LEN];
};

/* l7_routes: key. Routes of a service in match order (0 first). */
struct split_l7_route_key {
	__u32 svc_id;
	__u32 route;
};

struct split_l7_dest {
	char version[SPLIT_NAME_LEN];	/* "" = every endpoint of the service */
	__u32 version_id;		/* weights key; 0 when version is "" */
	__u32 weight;			/* 0..100 */
};

/* l7_routes: value. */
struct split_l7_route_val {
	char name[SPLIT_NAME_LEN];	/* RouteRule or http[] name, may be "" */
	__u32 nmatches;			/* 0: takes every request (default) */
	__u32 ndests;
	struct split_l7_dest dests[SPLIT_L7_MAX_DESTS];
};

/* l7_conds: key. */
struct split_l7_cond_key {
	__u32 svc_id;
	__u32 route;
	__u32 match;		/* match blocks are ORed */
	__u32 cond;		/* conditions in a block are ANDed */
};

enum split_l7_kind { SPLIT_L7_URI = 0, SPLIT_L7_METHOD, SPLIT_L7_HEADER, SPLIT_L7_QUERY };
enum split_l7_op { SPLIT_L7_EXACT = 0, SPLIT_L7_PREFIX, SPLIT_L7_REGEX, SPLIT_L7_PRESENT };

/* l7_conds: value. */
struct split_l7_cond_val {
	__u8 kind;		/* enum split_l7_kind */
	__u8 op;		/* enum split_l7_op */
	__u8 negate;		/* withoutHeaders */
	__u8 pad;
	__u32 value_len;
	char name[SPLIT_NAME_LEN];	/* header (lower-case) or query parameter */
	char value[SPLIT_L7_VALUE_LEN];	/* exact/prefix text or regex source */
};

/* ---- the L7 proxy (splitd): where L7 services' connections go ----------- */
/*
 * A TCP connect() to the VIP:port of a service with request-matching rules
 * (SPLIT_SVC_F_L7) is sent to splitd's proxy listener for that VIP:port, as
 * l7_listen says. One listener per VIP:port, so the listener a connection
 * arrives on is its original destination. getpeername() still shows the
 * VIP.
 *
 * Only if that listener is alive: splitd puts a listening socket bound to
 * the listener's address in l7_listen_sk (a SOCKHASH keyed by that
 * address) before it publishes the l7_listen entry. A closed socket leaves
 * a sockhash by itself, so when splitd dies (SIGKILL included) the entry
 * goes with its sockets, and the next connect() splits at L4 by the
 * service's weights instead of being refused. The lookup works whatever
 * netns the client is in. Second guard: splitd refreshes heartbeat_ns
 * every second, and a connect() that finds it older than
 * SPLIT_L7_STALE_NS (splitd frozen: stopped, or stuck with its sockets
 * open) splits at L4 too. splitd deletes both entries when it stops,
 * before it closes its listeners, and when a service's last
 * request-matching rule goes.
 */
#define SPLIT_MAP_L7_LISTEN	"l7_listen"	/* VIP:port:proto -> splitd's proxy listener */
#define SPLIT_MAP_L7_LISTEN_SK	"l7_listen_sk"	/* listener address -> its socket (SOCKHASH) */
#define SPLIT_MAP_L7_STATS	"l7_stats"	/* (service, version) -> requests, status classes */
#define SPLIT_L7_STALE_NS	(3ULL * 1000000000ULL)
#define SPLIT_MAX_L7_LISTENERS	SPLIT_MAX_VIPS	/* l7_listen_sk: one per l7_listen entry */

/* l7_listen: value (the key is a struct split_svc_key). */
struct split_l7_listen_val {
	__be32 addr[4];		/* where the proxy listens, same family as the VIP */
	__be16 port;
	__u8 family;		/* 4 or 6 */
	__u8 pad;
	__u32 svc_id;
	__u64 heartbeat_ns;	/* CLOCK_MONOTONIC (bpf_ktime_get_ns) of splitd's last refresh */
};

/* l7_listen_sk: key. The address a proxy listener is bound to, as in the
 * l7_listen value (addr, port, family). Value: the socket; written as a
 * socket fd (__u64), read back from userspace as its socket cookie. */
struct split_l7_sk_key {
	__be32 addr[4];
	__be16 port;
	__u8 family;		/* 4 or 6 */
	__u8 pad;
};

/* l7_stats: value (key: struct split_weight_key; version_id 0 holds the
 * proxy's own answers, given before a version was chosen: 400, 404, 408,
 * 431). Written by splitd about once a second; totals since the entry was
 * created (a splitd restart carries on from the values in the map). */
struct split_l7_stats {
	__u64 requests;		/* requests routed to this version */
	__u64 responses[5];	/* final status class: [0] 1xx (101) .. [4] 5xx */
	__u64 nonhttp;		/* connections that were not HTTP/1.x, relayed at L4 */
	__u64 latency_us_sum;	/* request head in -> response relayed, summed */
};

/* ---- progressive rollouts (control plane; splitd runs them) ------------- */
/*
 * `splitctl rollout start` writes an entry; splitd moves its weights step by
 * step, judging each interval by the new version's counters (sk_ver_stats:
 * connect failures and resets over connections; l7_stats for L7 services:
 * 5xx over requests, mean latency), and rolls back in one commit on a
 * breach. All of its state is here, so splitctl may exit and a restarted
 * splitd carries on at the step in force (with a new window). Not read by
 * the datapath.
 */

#define SPLIT_MAP_ROLLOUTS	"rollouts_v2"	/* (namespace, service) -> its progressive rollout
						 * (v2: sticky_cookie added) */
#define SPLIT_MAX_ROLLOUTS	1024
#define SPLIT_ROLLOUT_MAX_STEPS	16
#define SPLIT_ROLLOUT_EVENTS	8		/* the last decisions kept */
#define SPLIT_ROLLOUT_WHY_LEN	120

enum split_rollout_state {
	SPLIT_RO_RUNNING = 1,	/* splitd judges each interval */
	SPLIT_RO_PAUSED = 2,	/* weights held; no judging */
	SPLIT_RO_DONE = 3,	/* the last step (or promote) is in force */
	SPLIT_RO_ROLLED_BACK = 4, /* a breach: back to the old version at 100% */
	SPLIT_RO_ABORTED = 5,	/* splitctl rollout abort: the same, by hand */
};

enum split_rollout_what {
	SPLIT_RO_EV_START = 1,
	SPLIT_RO_EV_PROMOTE = 2,	/* window healthy: next step */
	SPLIT_RO_EV_HOLD = 3,		/* too little traffic: same step, new window */
	SPLIT_RO_EV_ROLLBACK = 4,
	SPLIT_RO_EV_PAUSE = 5,
	SPLIT_RO_EV_RESUME = 6,
	SPLIT_RO_EV_ABORT = 7,
	SPLIT_RO_EV_DONE = 8,		/* promoted to 100% (last step, or by hand) */
	SPLIT_RO_EV_RESTART = 9,	/* splitd (re)started: window begun anew */
	SPLIT_RO_EV_STOPPED = 10,	/* the service or a version is gone */
};

/* The counters a window is judged by, at its start (then the deltas). */
struct split_rollout_counts {
	__u64 connections;	/* sk_ver_stats of the new version */
	__u64 connect_failed;
	__u64 resets;
	__u64 requests;		/* l7_stats of the new version */
	__u64 responses_5xx;
	__u64 latency_us_sum;
};

struct split_rollout_event {
	__u64 time_s;		/* CLOCK_REALTIME seconds */
	__u32 what;		/* enum split_rollout_what */
	__u32 weight;		/* the new version's percent after it */
	char why[SPLIT_ROLLOUT_WHY_LEN];
};

/* rollouts: key. */
struct split_rollout_key {
	char ns[SPLIT_NAME_LEN];
	char name[SPLIT_NAME_LEN];
};

/* rollouts: value. Rates are in parts per million; 0 thresholds are off. */
struct split_rollout_val {
	char from[SPLIT_NAME_LEN];	/* the version in force before */
	char to[SPLIT_NAME_LEN];	/* the version rolled out */
	/* L7 services: the cookie naming the version a session was given
	 * ("" none). While the rollout runs or is paused, splitd's proxy sets
	 * it on responses routed by weight and honours it on requests. */
	char sticky_cookie[SPLIT_NAME_LEN];
	__u32 state;			/* enum split_rollout_state */
	__u32 step;			/* index into steps[] in force */
	__u32 nsteps;
	__u32 steps[SPLIT_ROLLOUT_MAX_STEPS]; /* percent of `to`, increasing, last <= 100 */
	__u32 interval_ms;
	__u32 max_error_ppm;		/* 5xx / requests (L7 services) */
	__u32 max_connect_failure_ppm;	/* (failed connects + resets) / connections */
	__u32 max_latency_ms;		/* mean request latency (L7 services) */
	__u64 min_requests;		/* a window with fewer holds the step */
	__u64 window_start_ns;		/* CLOCK_MONOTONIC */
	struct split_rollout_counts base; /* counters at window_start_ns */
	struct split_rollout_counts last; /* the last judged window's deltas */
	__u32 rollbacks;		/* breaches (0 or 1 per rollout) */
	__u32 nevents;			/* events ever recorded; ring index % EVENTS */
	__u64 started_s;		/* CLOCK_REALTIME seconds */
	struct split_rollout_event events[SPLIT_ROLLOUT_EVENTS];
};

/* ---- where the north-south programs are attached ---------------------- */

#define SPLIT_MAP_SELF_CGROUP	"self_cgroup"	/* [0] -> splitd's own cgroup id: not redirected */
#define SPLIT_MAP_IFACES	"ifaces"	/* (ifindex, mode) -> interface name, program */
#define SPLIT_MAX_IFACES	256
#define SPLIT_IFNAME_LEN	16		/* IFNAMSIZ */

enum split_iface_mode {
	SPLIT_IF_XDP = 1,	/* split_xdp, XDP link pinned under links/ */
	SPLIT_IF_TC_DNAT = 2,	/* split_tc_dnat at clsact ingress */
	SPLIT_IF_TC_REV = 3,	/* split_tc_rev at clsact ingress */
};

/* ifaces: key. */
struct split_iface_key {
	__u32 ifindex;
	__u32 mode;		/* enum split_iface_mode */
};

/* ifaces: value. Written by splitd, shown by splitctl show. */
struct split_iface_val {
	char name[SPLIT_IFNAME_LEN];
	__u32 prog_id;
	__u32 fallback;		/* 1: tc DNAT because XDP could not attach */
};

/* ==== Observability ======================================================= */
/*
 * East-west counters and TCP health per backend and per (service, version).
 *
 * The connect hooks (bpf/split_sock.bpf.c) count every socket choice: a TCP
 * or connected-UDP connect(), or an unconnected UDP socket's new affinity
 * (never per datagram). For TCP they also tag the socket with its backend in
 * sk_backend (socket-local storage). The sockops program
 * (bpf/split_sockops.bpf.c), attached to the same cgroup, finds the tag at
 * BPF_SOCK_OPS_TCP_CONNECT_CB, turns on the STATE, RTT, RETRANS and RTO
 * callbacks for that socket only, and counts its health. Sockets the split
 * did not choose (no tag) get no callbacks and cost nothing more.
 */

#define SPLIT_MAP_SK_BACKEND	"sk_backend"	/* socket -> backend it was sent to (sk storage) */
#define SPLIT_MAP_SK_BE_STATS	"sk_be_stats"	/* backend id -> connections, TCP health, per CPU */
#define SPLIT_MAP_SK_VER_STATS	"sk_ver_stats"	/* (service, version) -> the same, per CPU */

/* sk_backend: value (the key is the socket). Written by connect4/6 for TCP. */
struct split_sk_backend {
	__u32 backend_id;
	__u32 svc_id;
	__u32 version_id;
	__u32 flags;		/* SPLIT_SK_F_* */
	__be32 vip[4];		/* what getpeername()/recvmsg() show */
	__be32 addr[4];		/* the backend the socket was sent to */
	__be16 vport;
	__be16 port;
	__u8 family;		/* 4 or 6 */
	__u8 pad[3];
};

#define SPLIT_SK_F_COUNT	0x1	/* sockops counts this socket's health */

/* sk_be_stats (key: __u32 backend id) and sk_ver_stats (key: struct
 * split_weight_key) value, one per CPU: sum them, except rtt_last_us, which
 * is the one with the largest rtt_last_ns. Userspace deletes the entry when
 * it deletes the backend or version (as for be_stats/ver_stats). */
struct split_sock_stats {
	__u64 connections;	/* socket choices: connect(), new UDP affinity */
	__u64 established;	/* TCP: handshake completed (ACTIVE_ESTABLISHED_CB) */
	__u64 connect_failed;	/* TCP: SYN_SENT -> CLOSE (refused, unreachable, timed out) */
	__u64 resets;		/* TCP: ESTABLISHED -> CLOSE, no FIN state (reset, abort) */
	__u64 retransmits;	/* TCP: RETRANS_CB (segments retransmitted, incl. SYN, TLP) */
	__u64 rto;		/* TCP: RTO_CB (retransmission timer fired) */
	__u64 rtt_samples;	/* TCP: RTT_CB calls */
	__u64 rtt_sum_us;	/* sum of the smoothed RTT after each sample (srtt_us >> 3) */
	__u64 rtt_last_us;	/* smoothed RTT after the last sample on this CPU */
	__u64 rtt_last_ns;	/* bpf_ktime_get_ns() of that sample */
};

/* ==== L7 proxy: sockmap tunnels =========================================== */
/*
 * The L7 proxy's tunnels (after a 101 Upgrade or a CONNECT 2xx, and
 * non-HTTP connections relayed at L4) may move their bytes in the kernel:
 * both sockets of a tunnel go into l7sm_socks (a SOCKHASH keyed by socket
 * cookie) whose sk_skb stream_verdict program (bpf/split_l7_sockmap.bpf.c)
 * sends every skb that arrives on one socket to the egress of its peer.
 * These maps are private to the proxy (splitd loads the object itself, no
 * pinning): they die with the process. See user/lib/l7/l7sockmap.c.
 */

#define SPLIT_L7SM_MAX_SOCKS	16384		/* sockets in sockmap tunnels (2 each) */
#define SPLIT_MAP_L7SM_SOCKS	"l7sm_socks"	/* cookie -> socket (SOCKHASH) */
#define SPLIT_MAP_L7SM_CTL	"l7sm_ctl"	/* cookie -> its peer, what the proxy forwarded */
#define SPLIT_MAP_L7SM_CNT	"l7sm_cnt"	/* cookie -> what the verdict did with its bytes */

/* l7sm_ctl: value (key: __u64 socket cookie). Written by userspace only
 * (each update replaces the whole value). */
struct split_l7sm_ctl {
	__u64 peer;		/* cookie of the socket its bytes go out of */
	__u64 drained;		/* bytes passed to this socket that the proxy has
				 * read and written to the peer itself */
	__u32 redirect;		/* 0: pass every skb to the socket itself */
	__u32 pad;
};

/* l7sm_cnt: value (key: __u64 socket cookie). Created zeroed by userspace
 * before the socket enters l7sm_socks; written by the verdict program only,
 * which runs under the socket's lock (one run at a time per socket). */
struct split_l7sm_cnt {
	__u64 redirected;	/* bytes queued to the peer's egress */
	__u64 passed;		/* bytes left to the socket itself (userspace reads them) */
	__u64 dropped;		/* bytes dropped: the peer had left the map (aborted) */
	__u64 skbs;		/* verdicts run */
};

/* ---- the client-to-proxy hop in the kernel (sk_msg, --l7-skmsg) ---------- */
/*
 * A client in the attached cgroup connected to one of the proxy's listeners
 * (l7_listen_sk) and the proxy's socket accepted from it form a pair of
 * loopback (or same-node) TCP sockets. sockops (bpf/split_skmsg.bpf.c, its
 * established callbacks) puts both in skmsg_socks, keyed by their own
 * 4-tuple as seen from the socket (local, then remote); the sk_msg program
 * on that sockhash sends what one end writes straight into the ingress
 * queue of the other (bpf_msg_redirect_hash, BPF_F_INGRESS): the bytes skip
 * both TCP stacks and the loopback device. A socket leaves the map when it
 * closes. These maps are private to splitd (not pinned). See
 * user/lib/l7/l7skmsg.c for the probe and what it found on this kernel.
 */
#define SPLIT_SKMSG_MAX_SOCKS	65536		/* client and proxy ends (2 per connection) */
/* Bytes a socket's redirect queue may hold before its writer goes through
 * TCP (flow control; TCP's own per-socket maximum is tcp_rmem[2], 6 MiB by
 * default). The peer's receive buffer, if larger. */
#define SPLIT_SKMSG_QUEUE_MAX	(4 * 1024 * 1024)
#define SPLIT_MAP_SKMSG_SOCKS	"skmsg_socks"	/* 4-tuple -> socket (SOCKHASH) */
#define SPLIT_MAP_SKMSG_STATS	"skmsg_stats"	/* what the programs did (per CPU, one entry) */
#define SPLIT_MAP_SKMSG_LISTEN	"skmsg_listen"	/* the proxy's listener addresses (split_l7_sk_key) */

/* skmsg_socks: key. A socket's own view: local address and port, then the
 * peer's; its peer's key is the same with the two swapped. */
struct split_skmsg_key {
	__be32 local[4];	/* IPv4: local[0] */
	__be32 remote[4];
	__be16 lport;
	__be16 rport;
	__u8 family;		/* 4 or 6 */
	__u8 pad[3];
};

/* skmsg_stats: value (one entry, per CPU). */
struct split_skmsg_stats {
	__u64 inserted_client;	/* client ends put in skmsg_socks (sockops) */
	__u64 inserted_proxy;	/* proxy ends (accepted sockets) */
	__u64 insert_failed;	/* the map refused (full, or the key taken) */
	__u64 redirected_msgs;	/* sendmsg()s sent to the peer's ingress */
	__u64 redirected_bytes;
	__u64 passed_msgs;	/* left to TCP: no peer in the map (yet), or */
	__u64 passed_bytes;	/* this end already sent through TCP once */
	__u64 to_tcp_full;	/* ends sent to TCP because the peer's queue was full */
};

#endif /* SPLIT_COMMON_H */
