/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * ops.h - operations on the model (ops.c): pure, unit-tested; find a service,
 * carry weights over, set and reset weights, index and copy.
 */
#ifndef SPLIT_OPS_H
#define SPLIT_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

/* Find a service by "name", "name.namespace" or "namespace/name". Returns
 * its index, or -ENOENT (unknown) or -EINVAL (ambiguous) with err. */
int split_config_find(const struct split_config *cfg, const char *ref,
		      struct split_err *err);

/* Carry weights from the state in force into a freshly parsed services
 * file: a routed service keeps its weights; versions new to it get 0;
 * routed versions that lost all endpoints are kept (weight, no endpoint)
 * so the split comes back when endpoints do. */
int split_config_merge(struct split_config *file, const struct split_config *old,
		       struct split_err *err);
/* The same for one service s of the file, whose state in force is old
 * (routed; only its versions are read). 0 or -ENOMEM (s unchanged). */
int split_service_merge(struct split_service *s, const struct split_service *old);

/* Apply `splitctl set` arguments ("v1=50" ...) to service `idx`. Every
 * version of the service must exist; versions not named get weight 0;
 * weights are non-negative integers <= SPLIT_MAX_WEIGHT, at least one > 0.
 * On error nothing in cfg changes. */
#define SPLIT_MAX_WEIGHT 1000000
int split_config_set_weights(struct split_config *cfg, size_t idx, int argc,
			     char **argv, struct split_err *err);

/* Back to no explicit route: each version weighs its endpoint count. */
void split_config_reset_weights(struct split_config *cfg, size_t idx);

/* An index of cfg's services sorted by (namespace, name), for
 * split_service_lookup() (O(log n)); free() it. 0 or -ENOMEM. */
int split_service_index(const struct split_config *cfg,
			const struct split_service ***idx);
const struct split_service *split_service_lookup(const struct split_service **idx,
						 size_t n, const char *ns,
						 const char *name);

/* Duplicates among n keys of ksz bytes each (compared as bytes: zero what
 * follows a string's end): 1 with *dup the first key, in order, equal to
 * an earlier one and *first that earlier one; 0 when all differ; -ENOMEM.
 * O(n) (a hash), where a sort is O(n log n) with costly comparisons. */
int split_dup_find(const void *keys, size_t n, size_t ksz, size_t *first, size_t *dup);

/* A hash of n bytes, 8 at a time (for tables that then compare whole). */
uint64_t split_bytes_hash(const void *buf, size_t n);

/* d = a deep copy of s (its ports, endpoints and versions). 0, or -ENOMEM
 * with d holding what was allocated: split_service_free(d) frees it. */
int split_service_copy(struct split_service *d, const struct split_service *s);

/* Keys for split_dup_find(): a service's namespace and name (*key), one
 * VIP, port and protocol (*vkey). */
struct split_name_dkey {
	char ns[SPLIT_NAME_LEN];
	char name[SPLIT_NAME_LEN];
};
struct split_vip_dkey {
	struct split_addr addr;
	uint8_t proto;
	uint16_t port;
};
void split_name_dkey(struct split_name_dkey *k, const struct split_service *s);
void split_vip_dkey(struct split_vip_dkey *k, const struct split_addr *a, uint16_t port,
		    uint8_t proto);

/* Deep copy. Returns 0 or -ENOMEM. */
int split_config_dup(const struct split_config *src, struct split_config *dst);

#endif /* SPLIT_OPS_H */
