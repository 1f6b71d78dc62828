/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * model.h - the control plane's in-memory picture of services, endpoints,
 * versions and weights. Parsed from the services file, read back from the
 * pinned maps, compiled into the maps. Pure data: no BPF, no I/O here.
 */
#ifndef SPLIT_MODEL_H
#define SPLIT_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "split_common.h"

#define SPLIT_ERR_LEN 512

/* An error message, already formatted for a person, e.g.
 * "services.yaml:12:7: endpoint address '10.0.0.300' is not an IP address". */
struct split_err {
	char msg[SPLIT_ERR_LEN];
};

/* printf into err->msg; returns -1 so callers can `return split_errf(...)`. */
int split_errf(struct split_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

struct split_addr {
	uint8_t family;		/* 4 or 6 */
	uint8_t bytes[16];	/* network order; IPv4 in bytes[0..3] */
};

struct split_port {
	uint16_t port;		/* host order */
	uint16_t target_port;	/* host order */
	uint8_t proto;		/* IPPROTO_TCP / IPPROTO_UDP */
};

struct split_endpoint {
	struct split_addr addr;
	char version[SPLIT_NAME_LEN];	/* value of the version label */
};

struct split_version {
	char name[SPLIT_NAME_LEN];
	uint32_t weight;
	/* Read back from the maps only (split_state_read): slots this version
	 * holds in the IPv4 and IPv6 tables, i.e. what the kernel does. */
	uint32_t slots[2];
};

struct split_service {
	char name[SPLIT_NAME_LEN];
	char ns[SPLIT_NAME_LEN];	/* "default" when not given */
	struct split_addr vips[2];	/* at most one per family */
	size_t nvips;
	struct split_port *ports;
	size_t nports;
	struct split_endpoint *eps;	/* one address each */
	size_t neps;
	/* Every version that has at least one endpoint, sorted by name
	 * (strcmp), plus versions kept from state with no endpoint left. */
	struct split_version *versions;
	size_t nversions;
	/* true: weights were set explicitly (splitctl set); versions that
	 * appear later start at weight 0. false: each version's weight is
	 * its endpoint count, so every endpoint gets an equal share (what
	 * Kubernetes does with no route). */
	bool routed;
	/* Some rule matches requests: the L7 proxy decides per request
	 * (SPLIT_SVC_F_L7). Set by the rules compiler. */
	bool l7;
};

struct split_config {
	struct split_service *svcs;
	size_t nsvcs;
};

void split_config_free(struct split_config *cfg);
void split_service_free(struct split_service *svc);

/* Format an address ("10.0.0.1" or "fd00::1") into buf (>= 46 bytes). */
const char *split_addr_str(const struct split_addr *a, char *buf, size_t len);
/* "10.0.0.1:80" or "[fd00::1]:80" (port in host order). */
const char *split_addr_port_str(const struct split_addr *a, uint16_t port,
				char *buf, size_t len);

/* Make room in *arr (cap elements of size sz) for element n: doubles the
 * capacity when full. 0, or -1 (out of memory, or too large). */
int split_grow(void **arr, size_t *cap, size_t n, size_t sz);
/* Parse "10.0.0.1" or "fd00::1". Returns 0 or -1. */
int split_addr_parse(const char *s, struct split_addr *a);

/* ---- selection table (table.c) ------------------------------------------ */

/*
 * Build the selection table of one service for one address family.
 *
 * out[0..nslots) receives indexes into svc->eps; only endpoints of that
 * family appear. Eligible versions are those with weight > 0 and at least
 * one endpoint of the family. Returns the number of endpoints that got at
 * least one slot (> 0), or 0 when nothing is eligible, or -1 with errno
 * EINVAL (nslots 0, family not 4 or 6) or ENOMEM; out is untouched unless
 * the return is > 0.
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
 * n (0: nothing eligible), or -1 with errno EINVAL (family), ENOSPC (more
 * than max endpoints) or ENOMEM.
 */
int split_table_small(const struct split_service *svc, int family,
		      uint32_t *out, size_t max);
/* Testing: non-zero makes split_table_build() take the general walk even
 * for one or two candidates (the result must be the same). */
extern int split_table_no_shortcut;

/* ---- services file (services_yaml.c) ------------------------------------ */

/*
 * Parse a services file (one or more YAML documents). On error returns -1
 * with err naming path:line:column and the problem, and cfg untouched.
 */
int split_services_load(const char *path, struct split_config *cfg,
			struct split_err *err);
/* Same, from a buffer; `name` is used in error messages. */
int split_services_parse(const char *name, const char *buf, size_t len,
			 struct split_config *cfg, struct split_err *err);
/* The Service documents of a parsed stream that may also hold Istio
 * documents (those are skipped: see istio.h). */
struct yt_tree;
int split_services_from_tree(const struct yt_tree *tree, struct split_config *cfg,
			     struct split_err *err);

#endif /* SPLIT_MODEL_H */
