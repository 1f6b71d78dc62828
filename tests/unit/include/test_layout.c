// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * test_layout.c - the structs in include/split_common.h must have the same
 * size and member offsets as the BTF that clang wrote into the .bpf.o, so
 * userspace and the datapath read the same bytes.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stddef.h>

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "split_common.h"
#include "test.h"

#define BPF_OBJ "build/split_sock.bpf.o"

struct member_off {
	const char *name;
	size_t off;
};

/* Every member of a struct, with its offset, as C sees it. */
#define M(type, field) { #field, offsetof(struct type, field) }

static int check_struct(const struct btf *btf, const char *name, size_t size,
			const struct member_off *m, size_t n, char *why, size_t wlen)
{
	const struct btf_type *t;
	const struct btf_member *bm;
	int id = btf__find_by_name_kind(btf, name, BTF_KIND_STRUCT);

	if (id < 0) {
		snprintf(why, wlen, "struct %s not in BTF", name);
		return -1;
	}
	t = btf__type_by_id(btf, id);
	if (t->size != size) {
		snprintf(why, wlen, "struct %s: BTF size %u, C size %zu", name, t->size, size);
		return -1;
	}
	if (btf_vlen(t) != n) {
		snprintf(why, wlen, "struct %s: BTF has %u members, C list has %zu",
			 name, btf_vlen(t), n);
		return -1;
	}
	bm = btf_members(t);
	for (size_t i = 0; i < n; i++) {
		const char *bn = btf__name_by_offset(btf, bm[i].name_off);

		if (strcmp(bn, m[i].name) || bm[i].offset / 8 != m[i].off) {
			snprintf(why, wlen, "struct %s member %zu: BTF %s@%u, C %s@%zu",
				 name, i, bn, bm[i].offset / 8, m[i].name, m[i].off);
			return -1;
		}
	}
	return 0;
}

#define CHECK(btf, type, ...)                                                \
	do {                                                                 \
		const struct member_off ms_[] = { __VA_ARGS__ };             \
		char why_[256] = "";                                         \
		if (check_struct(btf, #type, sizeof(struct type), ms_,       \
				 sizeof(ms_) / sizeof(ms_[0]), why_, sizeof(why_))) \
			TEST_FAIL_("%s", why_);                              \
	} while (0)

TEST(layouts_match_btf)
{
	struct btf *btf = btf__parse_elf(BPF_OBJ, NULL);

	ASSERT_TRUE(btf != NULL);
	CHECK(btf, split_svc_key, M(split_svc_key, addr), M(split_svc_key, port),
	      M(split_svc_key, proto), M(split_svc_key, family));
	CHECK(btf, split_svc_val, M(split_svc_val, svc_id), M(split_svc_val, table_id),
	      M(split_svc_val, target_port), M(split_svc_val, pad),
	      M(split_svc_val, flags));
	CHECK(btf, split_backend_val, M(split_backend_val, addr),
	      M(split_backend_val, family), M(split_backend_val, pad),
	      M(split_backend_val, svc_id), M(split_backend_val, version_id));
	CHECK(btf, split_service_val, M(split_service_val, name),
	      M(split_service_val, ns), M(split_service_val, flags),
	      M(split_service_val, ep_end), M(split_service_val, ver_end),
	      M(split_service_val, digest));
	CHECK(btf, split_weight_key, M(split_weight_key, svc_id),
	      M(split_weight_key, version_id));
	CHECK(btf, split_table_val, M(split_table_val, kind), M(split_table_val, nslots),
	      M(split_table_val, offset), M(split_table_val, pad),
	      M(split_table_val, freed_ns));
	CHECK(btf, split_slot_pair, M(split_slot_pair, backend_id));
	CHECK(btf, split_name_key, M(split_name_key, name), M(split_name_key, ns));
	CHECK(btf, split_name_val, M(split_name_val, svc_id), M(split_name_val, count));
	CHECK(btf, split_weight_val, M(split_weight_val, service),
	      M(split_weight_val, version), M(split_weight_val, weight),
	      M(split_weight_val, endpoints4), M(split_weight_val, endpoints6),
	      M(split_weight_val, slots4),
	      M(split_weight_val, slots6));
	CHECK(btf, split_sock_nat_key, M(split_sock_nat_key, cookie),
	      M(split_sock_nat_key, addr), M(split_sock_nat_key, port),
	      M(split_sock_nat_key, family), M(split_sock_nat_key, pad));
	CHECK(btf, split_sock_nat_val, M(split_sock_nat_val, addr),
	      M(split_sock_nat_val, port), M(split_sock_nat_val, pad));
	CHECK(btf, split_udp_aff_key, M(split_udp_aff_key, cookie),
	      M(split_udp_aff_key, addr), M(split_udp_aff_key, port),
	      M(split_udp_aff_key, family), M(split_udp_aff_key, pad));
	CHECK(btf, split_udp_aff_val, M(split_udp_aff_val, backend_id),
	      M(split_udp_aff_val, pad));
	CHECK(btf, split_l7_listen_val, M(split_l7_listen_val, addr),
	      M(split_l7_listen_val, port), M(split_l7_listen_val, family),
	      M(split_l7_listen_val, pad), M(split_l7_listen_val, svc_id),
	      M(split_l7_listen_val, heartbeat_ns));
	CHECK(btf, split_l7_sk_key, M(split_l7_sk_key, addr), M(split_l7_sk_key, port),
	      M(split_l7_sk_key, family), M(split_l7_sk_key, pad));
	CHECK(btf, split_l7_stats, M(split_l7_stats, requests),
	      M(split_l7_stats, responses), M(split_l7_stats, nonhttp),
	      M(split_l7_stats, latency_us_sum));
	CHECK(btf, split_rollout_key, M(split_rollout_key, ns),
	      M(split_rollout_key, name));
	CHECK(btf, split_rollout_counts, M(split_rollout_counts, connections),
	      M(split_rollout_counts, connect_failed), M(split_rollout_counts, resets),
	      M(split_rollout_counts, requests), M(split_rollout_counts, responses_5xx),
	      M(split_rollout_counts, latency_us_sum));
	CHECK(btf, split_rollout_event, M(split_rollout_event, time_s),
	      M(split_rollout_event, what), M(split_rollout_event, weight),
	      M(split_rollout_event, why));
	CHECK(btf, split_rollout_val, M(split_rollout_val, from), M(split_rollout_val, to),
	      M(split_rollout_val, sticky_cookie), M(split_rollout_val, state), M(split_rollout_val, step),
	      M(split_rollout_val, nsteps), M(split_rollout_val, steps),
	      M(split_rollout_val, interval_ms), M(split_rollout_val, max_error_ppm),
	      M(split_rollout_val, max_connect_failure_ppm),
	      M(split_rollout_val, max_latency_ms), M(split_rollout_val, min_requests),
	      M(split_rollout_val, window_start_ns), M(split_rollout_val, base),
	      M(split_rollout_val, last), M(split_rollout_val, rollbacks),
	      M(split_rollout_val, nevents), M(split_rollout_val, started_s),
	      M(split_rollout_val, events));
	CHECK(btf, split_object_key, M(split_object_key, kind), M(split_object_key, ns),
	      M(split_object_key, name));
	CHECK(btf, split_object_val, M(split_object_val, len), M(split_object_val, text));
	CHECK(btf, split_l7_route_key, M(split_l7_route_key, svc_id),
	      M(split_l7_route_key, route));
	CHECK(btf, split_l7_dest, M(split_l7_dest, version), M(split_l7_dest, version_id),
	      M(split_l7_dest, weight));
	CHECK(btf, split_l7_route_val, M(split_l7_route_val, name),
	      M(split_l7_route_val, nmatches), M(split_l7_route_val, ndests),
	      M(split_l7_route_val, dests));
	CHECK(btf, split_l7_cond_key, M(split_l7_cond_key, svc_id), M(split_l7_cond_key, route),
	      M(split_l7_cond_key, match), M(split_l7_cond_key, cond));
	CHECK(btf, split_l7_cond_val, M(split_l7_cond_val, kind), M(split_l7_cond_val, op),
	      M(split_l7_cond_val, negate), M(split_l7_cond_val, pad),
	      M(split_l7_cond_val, value_len), M(split_l7_cond_val, name),
	      M(split_l7_cond_val, value));
	CHECK(btf, split_iface_key, M(split_iface_key, ifindex), M(split_iface_key, mode));
	CHECK(btf, split_iface_val, M(split_iface_val, name), M(split_iface_val, prog_id),
	      M(split_iface_val, fallback));
	btf__free(btf);
}

/* The XDP/tc structs, against the XDP object's BTF. */
TEST(nat_layouts_match_btf)
{
	struct btf *btf = btf__parse_elf("build/split_xdp.bpf.o", NULL);

	ASSERT_TRUE(btf != NULL);
	CHECK(btf, split_ct_key, M(split_ct_key, saddr), M(split_ct_key, daddr),
	      M(split_ct_key, sport), M(split_ct_key, dport), M(split_ct_key, proto),
	      M(split_ct_key, family), M(split_ct_key, pad));
	CHECK(btf, split_ct_val, M(split_ct_val, addr), M(split_ct_val, port),
	      M(split_ct_val, family), M(split_ct_val, flags),
	      M(split_ct_val, backend_id), M(split_ct_val, svc_id),
	      M(split_ct_val, version_id), M(split_ct_val, created_ns),
	      M(split_ct_val, last_ns));
	CHECK(btf, split_ct_rev_val, M(split_ct_rev_val, addr),
	      M(split_ct_rev_val, port), M(split_ct_rev_val, pad),
	      M(split_ct_rev_val, backend_id), M(split_ct_rev_val, svc_id),
	      M(split_ct_rev_val, version_id));
	CHECK(btf, split_flow_stats, M(split_flow_stats, flows),
	      M(split_flow_stats, packets), M(split_flow_stats, bytes),
	      M(split_flow_stats, rev_packets), M(split_flow_stats, rev_bytes));
	btf__free(btf);
}

/* The map definitions in the object use these exact names and sizes. */
TEST(map_names_and_sizes)
{
	struct bpf_object *obj = bpf_object__open_file(BPF_OBJ, NULL);
	struct {
		const char *name;
		__u32 key, value, max;
	} want[] = {
		{ SPLIT_MAP_SVC, sizeof(struct split_svc_key), sizeof(struct split_svc_val), SPLIT_MAX_VIPS },
		{ SPLIT_MAP_TABLES, 4, sizeof(struct split_table_val), 2 * SPLIT_MAX_TABLES },
		{ SPLIT_MAP_SLOTS, 4, sizeof(struct split_slot_pair), SPLIT_SLOT_CELLS },
		{ SPLIT_MAP_BIG_TABLES, 4, 4, SPLIT_MAX_TABLES },
		{ SPLIT_MAP_BACKENDS, 4, sizeof(struct split_backend_val), SPLIT_MAX_BACKENDS },
		{ SPLIT_MAP_SERVICES, 4, sizeof(struct split_service_val), SPLIT_MAX_SERVICES },
		{ SPLIT_MAP_SVC_NAMES, sizeof(struct split_name_key), sizeof(struct split_name_val), 2 * SPLIT_MAX_SERVICES },
		{ SPLIT_MAP_WEIGHTS, sizeof(struct split_weight_key), sizeof(struct split_weight_val), SPLIT_MAX_VERSIONS },
		{ SPLIT_MAP_SOCK_NAT, sizeof(struct split_sock_nat_key), sizeof(struct split_sock_nat_val), SPLIT_MAX_SOCK_NAT },
		{ SPLIT_MAP_UDP_AFF, sizeof(struct split_udp_aff_key), sizeof(struct split_udp_aff_val), SPLIT_MAX_SOCK_NAT },
		{ SPLIT_MAP_L7_LISTEN, sizeof(struct split_svc_key), sizeof(struct split_l7_listen_val), SPLIT_MAX_VIPS },
		{ SPLIT_MAP_L7_LISTEN_SK, sizeof(struct split_l7_sk_key), sizeof(__u64), SPLIT_MAX_L7_LISTENERS },
		{ SPLIT_MAP_L7_STATS, sizeof(struct split_weight_key), sizeof(struct split_l7_stats), SPLIT_MAX_VERSIONS },
		{ SPLIT_MAP_ROLLOUTS, sizeof(struct split_rollout_key), sizeof(struct split_rollout_val), SPLIT_MAX_ROLLOUTS },
		{ SPLIT_MAP_CT, sizeof(struct split_ct_key), sizeof(struct split_ct_val), SPLIT_MAX_CT },
		{ SPLIT_MAP_CT_REV, sizeof(struct split_ct_key), sizeof(struct split_ct_rev_val), SPLIT_MAX_CT },
		{ SPLIT_MAP_BE_STATS, 4, sizeof(struct split_flow_stats), SPLIT_MAX_BACKENDS },
		{ SPLIT_MAP_VER_STATS, sizeof(struct split_weight_key), sizeof(struct split_flow_stats), SPLIT_MAX_VERSIONS },
		{ SPLIT_MAP_NAT_STATS, 4, 8, SPLIT_NAT_STATS_SLOTS },
		{ SPLIT_MAP_OBJECTS, sizeof(struct split_object_key), sizeof(struct split_object_val), SPLIT_MAX_OBJECTS },
		{ SPLIT_MAP_L7_ROUTES, sizeof(struct split_l7_route_key), sizeof(struct split_l7_route_val), SPLIT_MAX_L7_ROUTES },
		{ SPLIT_MAP_L7_CONDS, sizeof(struct split_l7_cond_key), sizeof(struct split_l7_cond_val), SPLIT_MAX_L7_CONDS },
		{ SPLIT_MAP_GENERATION, 4, 8, SPLIT_GEN_MAX },
		{ SPLIT_MAP_SELF_CGROUP, 4, 8, 1 },
		{ SPLIT_MAP_IFACES, sizeof(struct split_iface_key), sizeof(struct split_iface_val), SPLIT_MAX_IFACES },
	};

	ASSERT_TRUE(obj != NULL);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		struct bpf_map *m = bpf_object__find_map_by_name(obj, want[i].name);

		if (!m)
			TEST_FAIL_("map %s not in %s", want[i].name, BPF_OBJ);
		ASSERT_EQ(bpf_map__key_size(m), want[i].key);
		ASSERT_EQ(bpf_map__value_size(m), want[i].value);
		ASSERT_EQ(bpf_map__max_entries(m), want[i].max);
	}
	bpf_object__close(obj);
}

/* The big tables' inner maps: one element, the whole table (slot s: the
 * service's backend k[s], one padding slot). Tombstone keys never meet
 * table ids. */
TEST(table_cells)
{
	struct bpf_object *obj = bpf_object__open_file(BPF_OBJ, NULL);
	struct bpf_map *m, *in;

	ASSERT_TRUE(obj != NULL);
	ASSERT_TRUE(SPLIT_TABLE_ID(SPLIT_MAX_SERVICES - 1, 1) < SPLIT_TBL_TOMB);
	ASSERT_TRUE(2ULL * SPLIT_SLOT_CELLS <= SPLIT_TBL_TOMB);
	m = bpf_object__find_map_by_name(obj, SPLIT_MAP_BIG_TABLES);
	ASSERT_TRUE(m != NULL);
	in = bpf_map__inner_map(m);
	ASSERT_TRUE(in != NULL);
	ASSERT_EQ(bpf_map__value_size(in), sizeof(struct split_big_table));
	ASSERT_EQ(bpf_map__max_entries(in), 1);
	ASSERT_EQ(sizeof(struct split_big_table), 2 * (SPLIT_TABLE_SLOTS + 1));
	ASSERT_TRUE(SPLIT_BACKEND_ID(1, 0xffff) == 0x1ffff);	/* k: 16 bits */
	ASSERT_EQ(SPLIT_TABLE_SVC(SPLIT_TABLE_ID(7, 1)), 7);
	ASSERT_EQ(SPLIT_TABLE_SVC(SPLIT_TABLE_ID(SPLIT_MAX_SERVICES - 1, 0)), SPLIT_MAX_SERVICES - 1);
	ASSERT_EQ(sizeof(struct split_big_table) % 8, 0);
	ASSERT_EQ(sizeof(struct split_slot_pair), 8);
	ASSERT_EQ(2 * SPLIT_TABLE_CELLS, SPLIT_TABLE_SLOTS + 1);
	ASSERT_TRUE(strcmp(SPLIT_MAP_BIG_TABLES, SPLIT_MAP_BIG_TABLES_V3) != 0);
	bpf_object__close(obj);
}

/* Observability: the sockops object and the connect hooks agree with C. */
TEST(health_layouts_and_maps)
{
	static const char *const objs[] = { "build/split_sockops.bpf.o", BPF_OBJ };

	for (size_t o = 0; o < sizeof(objs) / sizeof(objs[0]); o++) {
		struct btf *btf = btf__parse_elf(objs[o], NULL);
		struct bpf_object *obj;
		struct bpf_map *m;

		if (!btf)
			TEST_FAIL_("no BTF in %s", objs[o]);
		CHECK(btf, split_sk_backend, M(split_sk_backend, backend_id),
		      M(split_sk_backend, svc_id), M(split_sk_backend, version_id),
		      M(split_sk_backend, flags), M(split_sk_backend, vip),
		      M(split_sk_backend, addr), M(split_sk_backend, vport),
		      M(split_sk_backend, port), M(split_sk_backend, family),
		      M(split_sk_backend, pad));
		CHECK(btf, split_sock_stats, M(split_sock_stats, connections),
		      M(split_sock_stats, established), M(split_sock_stats, connect_failed),
		      M(split_sock_stats, resets), M(split_sock_stats, retransmits),
		      M(split_sock_stats, rto), M(split_sock_stats, rtt_samples),
		      M(split_sock_stats, rtt_sum_us), M(split_sock_stats, rtt_last_us),
		      M(split_sock_stats, rtt_last_ns));
		btf__free(btf);

		obj = bpf_object__open_file(objs[o], NULL);
		ASSERT_TRUE(obj != NULL);
		m = bpf_object__find_map_by_name(obj, SPLIT_MAP_SK_BACKEND);
		ASSERT_TRUE(m != NULL);
		ASSERT_EQ(bpf_map__type(m), BPF_MAP_TYPE_SK_STORAGE);
		ASSERT_EQ(bpf_map__value_size(m), sizeof(struct split_sk_backend));
		m = bpf_object__find_map_by_name(obj, SPLIT_MAP_SK_BE_STATS);
		ASSERT_TRUE(m != NULL);
		ASSERT_EQ(bpf_map__type(m), BPF_MAP_TYPE_PERCPU_HASH);
		ASSERT_EQ(bpf_map__key_size(m), 4);
		ASSERT_EQ(bpf_map__value_size(m), sizeof(struct split_sock_stats));
		ASSERT_EQ(bpf_map__max_entries(m), SPLIT_MAX_BACKENDS);
		m = bpf_object__find_map_by_name(obj, SPLIT_MAP_SK_VER_STATS);
		ASSERT_TRUE(m != NULL);
		ASSERT_EQ(bpf_map__key_size(m), sizeof(struct split_weight_key));
		ASSERT_EQ(bpf_map__value_size(m), sizeof(struct split_sock_stats));
		ASSERT_EQ(bpf_map__max_entries(m), SPLIT_MAX_VERSIONS);
		bpf_object__close(obj);
	}
}

/* L7 sockmap tunnels: the private object's maps and structs agree with C. */
TEST(l7_sockmap_layouts_and_maps)
{
	static const char *obj_path = "build/split_l7_sockmap.bpf.o";
	struct btf *btf = btf__parse_elf(obj_path, NULL);
	struct bpf_object *obj;
	struct bpf_map *m;

	if (!btf)
		TEST_FAIL_("no BTF in %s", obj_path);
	CHECK(btf, split_l7sm_ctl, M(split_l7sm_ctl, peer),
	      M(split_l7sm_ctl, drained), M(split_l7sm_ctl, redirect),
	      M(split_l7sm_ctl, pad));
	CHECK(btf, split_l7sm_cnt, M(split_l7sm_cnt, redirected),
	      M(split_l7sm_cnt, passed), M(split_l7sm_cnt, dropped),
	      M(split_l7sm_cnt, skbs));
	btf__free(btf);

	obj = bpf_object__open_file(obj_path, NULL);
	ASSERT_TRUE(obj != NULL);
	m = bpf_object__find_map_by_name(obj, SPLIT_MAP_L7SM_SOCKS);
	ASSERT_TRUE(m != NULL);
	ASSERT_EQ(bpf_map__type(m), BPF_MAP_TYPE_SOCKHASH);
	ASSERT_EQ(bpf_map__key_size(m), 8);
	ASSERT_EQ(bpf_map__max_entries(m), SPLIT_L7SM_MAX_SOCKS);
	m = bpf_object__find_map_by_name(obj, SPLIT_MAP_L7SM_CTL);
	ASSERT_TRUE(m != NULL);
	ASSERT_EQ(bpf_map__type(m), BPF_MAP_TYPE_HASH);
	ASSERT_EQ(bpf_map__key_size(m), 8);
	ASSERT_EQ(bpf_map__value_size(m), sizeof(struct split_l7sm_ctl));
	ASSERT_EQ(bpf_map__max_entries(m), SPLIT_L7SM_MAX_SOCKS);
	m = bpf_object__find_map_by_name(obj, SPLIT_MAP_L7SM_CNT);
	ASSERT_TRUE(m != NULL);
	ASSERT_EQ(bpf_map__type(m), BPF_MAP_TYPE_HASH);
	ASSERT_EQ(bpf_map__key_size(m), 8);
	ASSERT_EQ(bpf_map__value_size(m), sizeof(struct split_l7sm_cnt));
	ASSERT_EQ(bpf_map__max_entries(m), SPLIT_L7SM_MAX_SOCKS);
	bpf_object__close(obj);
}

TEST(skmsg_layouts_and_maps)
{
	static const char *obj_path = "build/split_skmsg.bpf.o";
	struct btf *btf = btf__parse_elf(obj_path, NULL);
	struct bpf_object *obj;
	struct bpf_map *m;

	if (!btf)
		TEST_FAIL_("no BTF in %s", obj_path);
	CHECK(btf, split_skmsg_key, M(split_skmsg_key, local), M(split_skmsg_key, remote),
	      M(split_skmsg_key, lport), M(split_skmsg_key, rport),
	      M(split_skmsg_key, family), M(split_skmsg_key, pad));
	CHECK(btf, split_skmsg_stats, M(split_skmsg_stats, inserted_client),
	      M(split_skmsg_stats, inserted_proxy), M(split_skmsg_stats, insert_failed),
	      M(split_skmsg_stats, redirected_msgs), M(split_skmsg_stats, redirected_bytes),
	      M(split_skmsg_stats, passed_msgs), M(split_skmsg_stats, passed_bytes),
	      M(split_skmsg_stats, to_tcp_full));
	btf__free(btf);

	obj = bpf_object__open_file(obj_path, NULL);
	ASSERT_TRUE(obj != NULL);
	m = bpf_object__find_map_by_name(obj, SPLIT_MAP_SKMSG_SOCKS);
	ASSERT_TRUE(m != NULL);
	ASSERT_EQ(bpf_map__type(m), BPF_MAP_TYPE_SOCKHASH);
	ASSERT_EQ(bpf_map__key_size(m), sizeof(struct split_skmsg_key));
	ASSERT_EQ(bpf_map__max_entries(m), SPLIT_SKMSG_MAX_SOCKS);
	m = bpf_object__find_map_by_name(obj, SPLIT_MAP_SKMSG_LISTEN);
	ASSERT_TRUE(m != NULL);
	ASSERT_EQ(bpf_map__type(m), BPF_MAP_TYPE_HASH);
	ASSERT_EQ(bpf_map__key_size(m), sizeof(struct split_l7_sk_key));
	ASSERT_EQ(bpf_map__max_entries(m), SPLIT_MAX_L7_LISTENERS);
	m = bpf_object__find_map_by_name(obj, SPLIT_MAP_SKMSG_STATS);
	ASSERT_TRUE(m != NULL);
	ASSERT_EQ(bpf_map__type(m), BPF_MAP_TYPE_PERCPU_ARRAY);
	ASSERT_EQ(bpf_map__value_size(m), sizeof(struct split_skmsg_stats));
	bpf_object__close(obj);
}

/*
 * The promise of split_common.h ("cannot drift apart") holds only if every
 * struct it defines and every map it names is checked above: each
 * `struct split_X {` of include/split_common.h must be CHECKed in this
 * file and each SPLIT_MAP_ name used by a check here, but for what no BPF
 * object holds (listed).
 */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *b = NULL;
	long n;

	if (!f)
		return NULL;
	if (!fseek(f, 0, SEEK_END) && (n = ftell(f)) > 0 && !fseek(f, 0, SEEK_SET) &&
	    (b = calloc(1, (size_t)n + 1)) && fread(b, 1, (size_t)n, f) != (size_t)n) {
		free(b);
		b = NULL;
	}
	fclose(f);
	return b;
}

TEST(every_struct_and_map_checked)
{
	/* Userspace only: the owners map is made by splitd, not in a .bpf.o.
	 * split_big_table: the value of big tables' inner maps, which
	 * userspace makes without BTF (clang leaves a type only pointed to
	 * from an inner map's definition as a forward declaration): its size
	 * is checked against the inner template's value_size (table_cells). */
	static const char *const exempt[] = { "split_owner_val", "SPLIT_MAP_OWNERS",
					      "split_big_table" };
	char *hdr = slurp("include/split_common.h"), *me = slurp(__FILE__);
	char want[128], missing[1024] = "";
	size_t nstructs = 0, nmaps = 0;

	ASSERT_TRUE(hdr != NULL);
	ASSERT_TRUE(me != NULL);
	for (const char *p = hdr; (p = strstr(p, "\nstruct split_")); p++) {
		char name[64];
		size_t n = strspn(p + 8, "abcdefghijklmnopqrstuvwxyz0123456789_");
		bool ex = false;

		if (n >= sizeof(name) || p[8 + n] != ' ' || p[9 + n] != '{')
			continue;	/* a declaration, not a definition */
		memcpy(name, p + 8, n);
		name[n] = 0;
		nstructs++;
		for (size_t i = 0; i < sizeof(exempt) / sizeof(exempt[0]); i++)
			ex |= !strcmp(exempt[i], name);
		snprintf(want, sizeof(want), "CHECK(btf, %s,", name);
		if (!ex && !strstr(me, want))
			snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing),
				 " struct %s", name);
	}
	for (const char *p = hdr; (p = strstr(p, "\n#define SPLIT_MAP_")); p++) {
		char name[64];
		size_t n = strspn(p + 9, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
		bool ex = false;
		const char *q;
		int uses = 0;

		if (n >= sizeof(name))
			continue;
		memcpy(name, p + 9, n);
		name[n] = 0;
		nmaps++;
		for (size_t i = 0; i < sizeof(exempt) / sizeof(exempt[0]); i++)
			ex |= !strcmp(exempt[i], name);
		/* named by a check of this file (a want[] table or a lookup) */
		for (q = me; (q = strstr(q, name)); q++)
			uses += !isalnum((unsigned char)q[n]) && q[n] != '_' &&
				(q == me || (!isalnum((unsigned char)q[-1]) && q[-1] != '_'));
		if (!ex && !uses)
			snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing),
				 " %s", name);
	}
	printf("  %zu structs and %zu map names in include/split_common.h\n", nstructs, nmaps);
	free(hdr);
	free(me);
	ASSERT_GT(nstructs, 30);
	ASSERT_GT(nmaps, 30);
	if (missing[0])
		TEST_FAIL_("not checked against the BPF objects:%s", missing);
}
