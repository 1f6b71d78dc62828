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
#define SPLIT_MAX_SOCK_NAT	262144	/* sockets whose peer is rewritten */
#define SPLIT_NAME_LEN		64	/* k8s names and label values: <= 63 + NUL */

/* Table index of a service's table for one address family. */
#define SPLIT_TABLE_ID(svc_id, is_v6)	((svc_id) * 2 + ((is_v6) ? 1 : 0))

/* ---- map names (pinned under the pin dir, default /sys/fs/bpf/split) ----- */

#define SPLIT_PIN_DIR_DEFAULT	"/sys/fs/bpf/split"
#define SPLIT_MAP_SVC		"svc"		/* VIP:port:proto -> service */
#define SPLIT_MAP_TABLES	"tables"	/* table id -> inner slot table */
#define SPLIT_MAP_BACKENDS	"backends"	/* backend id -> endpoint address */
#define SPLIT_MAP_SERVICES	"services"	/* service id -> name, namespace */
#define SPLIT_MAP_WEIGHTS	"weights"	/* (service, version) -> weight: for people */
#define SPLIT_MAP_SOCK_NAT	"sock_nat"	/* (socket, backend) -> VIP, for getpeername/recvmsg */
#define SPLIT_MAP_UDP_AFF	"udp_aff"	/* (socket, VIP) -> backend, UDP stickiness */
#define SPLIT_LINK_DIR		"links"		/* pinned bpf_links, under the pin dir */

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
	__u32 flags;		/* reserved */
};

/* tables: key is the __u32 table id; the value is an inner array map of
 * SPLIT_TABLE_SLOTS __u32 backend ids. A missing inner map means the service
 * has no eligible endpoint for that family: connect() fails with EPERM. */

/* backends: key is the __u32 backend id (never 0). */
struct split_backend_val {
	__be32 addr[4];
	__u8 family;		/* 4 or 6 */
	__u8 pad[3];
	__u32 svc_id;
	__u32 version_id;	/* key.version_id in the weights map */
};

/* services: key is the __u32 service id. */
struct split_service_val {
	char name[SPLIT_NAME_LEN];
	char ns[SPLIT_NAME_LEN];
	__u32 flags;		/* SPLIT_SVC_F_* */
	__u32 pad;
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
	__u32 endpoints;	/* endpoints of this version (all families) */
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

#endif /* SPLIT_COMMON_H */
