/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * table.h - the selection table of a service (table.c): exact shares, minimal
 * disruption, the same bytes on every node.
 */
#ifndef SPLIT_TABLE_H
#define SPLIT_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

/*
 * Build the selection table of one service for one address family.
 *
 * out[0..nslots) receives indexes into svc->eps; only endpoints of that
 * family appear. Eligible versions are those with weight > 0 and at least
 * one endpoint of the family. Returns the number of endpoints that got at
 * least one slot (> 0), or 0 when nothing is eligible, or -EINVAL
 * (nslots 0, family not 4 or 6) or -ENOMEM; out is untouched when
 * nothing is eligible or the arguments are bad, and its content is
 * undefined after -ENOMEM (the build works in it: no memory per slot but
 * out's own when the versions and their endpoints race in pairs).
 *
 * Shares are exact: level 1 gives each eligible version floor(nslots *
 * w / W) slots plus one of the remaining slots by largest remainder (ties by
 * version name); level 2 splits a version's slots among its endpoints the
 * same way with equal weights (ties by address). Placement is deterministic
 * for a given service name, version names, endpoint addresses and weights
 * (bit for bit on every machine: no libm). Moving D% of weight between two
 * versions moves about D% of the slots (exactly D% in most cases); with
 * three or more versions, unchanged versions can swap slots too
 * (50/20/30 -> 40/20/40 moves 12%). See table.c.
 */
int split_table_build(const struct split_service *svc, int family,
		      uint32_t *out, size_t nslots);
/* The same table with 16-bit indexes (a service in the maps has fewer than
 * 65536 endpoints: half the memory); -ERANGE when svc has more than 65536
 * endpoints. */
int split_table_build16(const struct split_service *svc, int family,
			uint16_t *out, size_t nslots);
/*
 * Small tables (split_common.h, "Selection tables"): 1 when every endpoint
 * of the family that can be chosen gets the same share, so the table needs
 * one slot per endpoint: no explicit weights, and weight / endpoints of the
 * family the same for every version with both. 0: the table needs
 * split_table_build()'s SPLIT_TABLE_SLOTS slots.
 */
int split_table_is_small(const struct split_service *svc, int family);
/*
 * The small table: out[0..n) receives the indexes into svc->eps of the
 * endpoints of the family whose version has weight > 0, sorted by address
 * (the same table on every node, whatever the order of the input). Returns
 * n (0: nothing eligible), or -EINVAL (family), -ENOSPC (more than max
 * endpoints) or -ENOMEM.
 */
int split_table_small(const struct split_service *svc, int family,
		      uint32_t *out, size_t max);

#endif /* SPLIT_TABLE_H */
