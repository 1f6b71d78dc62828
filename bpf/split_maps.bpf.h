/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * split_maps.bpf.h - every BPF map of the datapath, in one place.
 *
 * All maps are pinned by name under the loader's pin root (default
 * /sys/fs/bpf/split), so every program object and every restart of splitd
 * shares the same state. Layouts and names come from split_common.h.
 */
#ifndef SPLIT_MAPS_BPF_H
#define SPLIT_MAPS_BPF_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "split_common.h"

/* VIP:port:proto -> service id, table id and target port. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SPLIT_MAX_VIPS);
	__type(key, struct split_svc_key);
	__type(value, struct split_svc_val);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} svc SEC(".maps");

/* Table id -> kind, length and place of the service's selection table
 * (split_common.h: "Selection tables"). A hash map: one update replaces an
 * entry whole, which is how a table is swapped. Tombstones of freed cells
 * live here too (keys >= SPLIT_TBL_TOMB). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SPLIT_MAX_TABLES * 2);
	__type(key, __u32);
	__type(value, struct split_table_val);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tables_v3 SEC(".maps");

/* Cell -> two slots of small tables, all services in one array (sized by
 * splitd --table-cells). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SPLIT_SLOT_CELLS);
	__type(key, __u32);
	__type(value, struct split_slot_pair);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} slots_v3 SEC(".maps");

/* Inner map shape of a big table: one element (key 0), the whole table, a
 * struct split_big_table. Userspace makes a new one per change, writes it
 * with one update and swaps it into big_v4 in one update: never
 * half-written. */
struct split_slot_table {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(struct split_big_table));	/* no BTF: userspace makes them */
};

/* Table id (SPLIT_TABLE_ID) -> the big table of a service with explicit weights. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, SPLIT_MAX_TABLES);
	__type(key, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct split_slot_table);	/* must stay last */
} big_v4 SEC(".maps");

/* Backend id -> endpoint address, service and version. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SPLIT_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct split_backend_val);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} backends SEC(".maps");

/* Service id -> name and namespace (control plane state, not read here). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SPLIT_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct split_service_val);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} services SEC(".maps");

/* (name, namespace) and (name, "") -> service id (control plane, not read here). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SPLIT_MAX_SERVICES * 2);
	__type(key, struct split_name_key);
	__type(value, struct split_name_val);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} svc_names SEC(".maps");

/* (service, version) -> weight and slots: the map a person reads. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SPLIT_MAX_VERSIONS);
	__type(key, struct split_weight_key);
	__type(value, struct split_weight_val);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} weights SEC(".maps");

/* (socket cookie, backend) -> VIP, so getpeername()/recvmsg() show the VIP. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SPLIT_MAX_SOCK_NAT);
	__type(key, struct split_sock_nat_key);
	__type(value, struct split_sock_nat_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sock_nat SEC(".maps");

/* (socket cookie, VIP) -> backend id: unconnected UDP stays on one backend. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SPLIT_MAX_SOCK_NAT);
	__type(key, struct split_udp_aff_key);
	__type(value, struct split_udp_aff_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} udp_aff SEC(".maps");

/* ---- XDP/tc datapath ----------------------------------------------------- */

/* Client 5-tuple -> backend: conntrack of north-south flows (split_nat.bpf.h). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SPLIT_MAX_CT);
	__type(key, struct split_ct_key);
	__type(value, struct split_ct_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ct SEC(".maps");

/* Reply 5-tuple (backend -> client) -> VIP:port, for reverse NAT in tc. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SPLIT_MAX_CT);
	__type(key, struct split_ct_key);
	__type(value, struct split_ct_rev_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ct_rev SEC(".maps");

/* Backend id -> new flows, packets and bytes, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, SPLIT_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct split_flow_stats);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} be_stats SEC(".maps");

/* (service, version) -> new flows, packets and bytes, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, SPLIT_MAX_VERSIONS);
	__type(key, struct split_weight_key);
	__type(value, struct split_flow_stats);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ver_stats SEC(".maps");

/* enum split_nat_stat -> packets, per CPU: why XDP/tc passed or dropped. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SPLIT_NAT_STATS_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nat_stats SEC(".maps");

/* (kind, namespace, name) -> Istio object in force, as JSON (control plane). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SPLIT_MAX_OBJECTS);
	__type(key, struct split_object_key);
	__type(value, struct split_object_val);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} objects SEC(".maps");

/* (service, route) -> match count and weighted destinations, for the L7 proxy. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SPLIT_MAX_L7_ROUTES);
	__type(key, struct split_l7_route_key);
	__type(value, struct split_l7_route_val);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l7_routes SEC(".maps");

/* (service, route, match, cond) -> one request condition, for the L7 proxy. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SPLIT_MAX_L7_CONDS);
	__type(key, struct split_l7_cond_key);
	__type(value, struct split_l7_cond_val);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l7_conds SEC(".maps");

/* SPLIT_GEN_* -> changes committed, and how far splitd's L7 proxy has
 * followed them (control plane, not read here). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SPLIT_GEN_MAX);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} generation SEC(".maps");

/* VIP:port:proto -> splitd's L7 proxy listener for it (connect4/6 redirect). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SPLIT_MAX_VIPS);
	__type(key, struct split_svc_key);
	__type(value, struct split_l7_listen_val);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l7_listen SEC(".maps");

/* Listener address -> splitd's listening socket there: the proxy is alive (connect4/6). */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, SPLIT_MAX_L7_LISTENERS);
	__type(key, struct split_l7_sk_key);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l7_listen_sk SEC(".maps");

/* (service, version) -> L7 proxy requests and status classes (written by splitd). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SPLIT_MAX_VERSIONS);
	__type(key, struct split_weight_key);
	__type(value, struct split_l7_stats);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l7_stats SEC(".maps");

/* (namespace, service) -> its progressive rollout, run by splitd (control plane). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SPLIT_MAX_ROLLOUTS);
	__type(key, struct split_rollout_key);
	__type(value, struct split_rollout_val);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} rollouts_v2 SEC(".maps");

/* [0] -> the cgroup id of splitd's own cgroup (its pod on a Kubernetes node),
 * written by splitd at start: connect/sendmsg from that cgroup are left as
 * they are, so the L7 proxy's upstream connections are never redirected. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} self_cgroup SEC(".maps");

/* (ifindex, mode) -> interface name and program: where splitd attached the
 * north-south programs (control plane state, not read by the datapath). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SPLIT_MAX_IFACES);
	__type(key, struct split_iface_key);
	__type(value, struct split_iface_val);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ifaces SEC(".maps");

/* ---- observability (east-west) ------------------------------------------ */

/* Socket -> backend it was sent to: set by connect4/6 for TCP, read by sockops. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__type(key, int);
	__type(value, struct split_sk_backend);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sk_backend SEC(".maps");

/* Backend id -> socket choices and TCP health (sockops), per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, SPLIT_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct split_sock_stats);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sk_be_stats SEC(".maps");

/* (service, version) -> socket choices and TCP health (sockops), per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, SPLIT_MAX_VERSIONS);
	__type(key, struct split_weight_key);
	__type(value, struct split_sock_stats);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sk_ver_stats SEC(".maps");

#endif /* SPLIT_MAPS_BPF_H */
