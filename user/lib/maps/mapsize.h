/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * mapsize.h - the maps whose size is fixed when they are created (LRU
 * conntrack, socket NAT, the small tables' slots): chosen by splitd's
 * options, kept by the pinned maps, shown by splitctl show.
 */
#ifndef SPLIT_MAPSIZE_H
#define SPLIT_MAPSIZE_H

#include <stddef.h>

#include <linux/types.h>

struct bpf_object;

struct split_map_sizes {
	__u32 ct;		/* ct and ct_rev: flows (--ct-max) */
	__u32 sock_nat;		/* sock_nat and udp_aff: entries (--sock-nat-max) */
	__u32 table_cells;	/* slots_v3: cells of two slots (--table-cells) */
};

/* SPLIT_MAX_CT, SPLIT_MAX_SOCK_NAT, SPLIT_SLOT_CELLS. */
void split_map_sizes_default(struct split_map_sizes *sz);

/* Parse a size option: a decimal count with an optional k/m (x1024)
 * suffix, between min and max. 0, -EINVAL (not such a count) or -ERANGE. */
int split_map_size_parse(const char *s, __u32 min, __u32 max, __u32 *out);

/* A map pinned under pin_dir keeps its size (changing it needs splitd
 * --unload): sizes of the pinned maps replace those in sz, with a warning
 * where an option (bit in explicit) asked for another one. */
#define SPLIT_SIZE_CT		0x1
#define SPLIT_SIZE_SOCK_NAT	0x2
#define SPLIT_SIZE_TABLE_CELLS	0x4
void split_map_sizes_pinned(const char *pin_dir, struct split_map_sizes *sz,
			    int explicit);

/* Give the maps of obj (not yet loaded) the sizes in sz. 0 or -errno
 * (libbpf's, errno set too). */
int split_map_sizes_set(struct bpf_object *obj, const struct split_map_sizes *sz);

/* One pinned map's type name, max_entries, and kernel memory (memlock
 * from fdinfo). 0 or -errno (-ENOENT: not pinned). */
int split_map_mem(const char *pin_dir, const char *name, __u32 *max_entries,
		  __u64 *bytes);

#endif
