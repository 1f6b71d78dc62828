/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * xdp_maps.h - the map fds of a loaded split_xdp skeleton, for the tests
 * and tools that drive split_xdp with BPF_PROG_TEST_RUN (tests/bpf/test_xdp,
 * tests/tools/xdp_bench). Header-only; include it as "../lib/xdp_maps.h"
 * after "split_xdp.skel.h".
 */
#ifndef SPLIT_XDP_MAPS_H
#define SPLIT_XDP_MAPS_H

#include <bpf/libbpf.h>

struct tx_xdp_maps {
	int svc, tables, big, slots, backends, ct, ct_rev, be_stats, ver_stats, nat_stats;
};

/* Fill M from the loaded skeleton X. */
static inline void tx_xdp_maps_get(struct tx_xdp_maps *m, const struct split_xdp *x)
{
	m->svc = bpf_map__fd(x->maps.svc);
	m->tables = bpf_map__fd(x->maps.tables_v3);
	m->big = bpf_map__fd(x->maps.big_v4);
	m->slots = bpf_map__fd(x->maps.slots_v3);
	m->backends = bpf_map__fd(x->maps.backends);
	m->ct = bpf_map__fd(x->maps.ct);
	m->ct_rev = bpf_map__fd(x->maps.ct_rev);
	m->be_stats = bpf_map__fd(x->maps.be_stats);
	m->ver_stats = bpf_map__fd(x->maps.ver_stats);
	m->nat_stats = bpf_map__fd(x->maps.nat_stats);
}

#endif
