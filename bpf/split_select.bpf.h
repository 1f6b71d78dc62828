/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * split_select.bpf.h - header-only helpers shared by every attach point:
 * service lookup and weighted backend selection from a slot table.
 */
#ifndef SPLIT_SELECT_BPF_H
#define SPLIT_SELECT_BPF_H

#include "split_maps.bpf.h"

/* The backend in slot `hash % SPLIT_TABLE_SLOTS` of the service's table, or
 * NULL when the service has no eligible endpoint. Socket hooks pass a random
 * number, the XDP path a flow hash. *id_out receives the backend id. */
static __always_inline struct split_backend_val *
split_pick(const struct split_svc_val *sv, __u32 hash, __u32 *id_out)
{
	__u32 slot = hash % SPLIT_TABLE_SLOTS;
	__u32 table_id = sv->table_id;
	__u32 *id;
	void *tbl;

	tbl = bpf_map_lookup_elem(&tables, &table_id);
	if (!tbl)
		return NULL;
	id = bpf_map_lookup_elem(tbl, &slot);
	if (!id || !*id)
		return NULL;
	*id_out = *id;
	return bpf_map_lookup_elem(&backends, id);
}

#endif /* SPLIT_SELECT_BPF_H */
