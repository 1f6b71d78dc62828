/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * split_select.bpf.h - header-only helpers shared by every attach point:
 * service lookup and weighted backend selection from a slot table.
 */
#ifndef SPLIT_SELECT_BPF_H
#define SPLIT_SELECT_BPF_H

#include "split_maps.bpf.h"

/* Set by the loader before load (skeleton rodata): 1 turns the counters
 * off, so a benchmark can say what counting costs. splitd --no-counters. */
const volatile __u32 split_no_count = 0;

/* The backend in slot `hash % nslots` of the service's table, or NULL when
 * the service has no eligible endpoint. Socket hooks pass a random number,
 * the XDP path a flow hash. *id_out receives the backend id. One lookup of
 * tables_v3 gives the table whole (kind, length, offset): a concurrent swap
 * shows the old table or the new one, never a mix. */
static __always_inline struct split_backend_val *
split_pick(const struct split_svc_val *sv, __u32 hash, __u32 *id_out)
{
	__u32 table_id = sv->table_id, slot, cell, zero = 0;
	struct split_table_val *tv;
	struct split_slot_pair *pair;
	struct split_big_table *big;
	void *tbl;
	__u32 id;

	tv = bpf_map_lookup_elem(&tables_v3, &table_id);
	if (!tv)
		return NULL;
	if (tv->kind == SPLIT_TBL_SMALL) {
		if (!tv->nslots)
			return NULL;
		slot = tv->offset + hash % tv->nslots;
		cell = slot / 2;
		pair = bpf_map_lookup_elem(&slots_v3, &cell);
		if (!pair)
			return NULL;
		id = pair->backend_id[slot & 1];
	} else if (tv->kind == SPLIT_TBL_BIG) {
		tbl = bpf_map_lookup_elem(&big_v4, &table_id);
		if (!tbl)
			return NULL;
		big = bpf_map_lookup_elem(tbl, &zero);	/* the whole table */
		if (!big)
			return NULL;
		slot = hash % SPLIT_TABLE_SLOTS;
		barrier_var(slot);	/* the verifier sees the bound below, */
		if (slot >= SPLIT_TABLE_SLOTS)	/* not the one of the modulo */
			return NULL;
		id = big->k[slot];	/* a backend of the table's service: its k */
		if (id)
			id = SPLIT_BACKEND_ID(SPLIT_TABLE_SVC(table_id), id);
	} else {
		return NULL;
	}
	if (!id)
		return NULL;
	*id_out = id;
	return bpf_map_lookup_elem(&backends, &id);
}

/* The value of key in a per-CPU counters map, created zeroed on first use
 * (zero points at a zeroed value of the map's value size). */
static __always_inline void *split_percpu_get(void *map, const void *key,
					      const void *zero)
{
	void *v = bpf_map_lookup_elem(map, key);

	if (v)
		return v;
	bpf_map_update_elem(map, key, zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(map, key);
}

#endif /* SPLIT_SELECT_BPF_H */
