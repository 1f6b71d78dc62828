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

#include "err.h"
#include "split_common.h"

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
 * capacity when full. 0, -ENOMEM or -EOVERFLOW. */
int split_grow(void **arr, size_t *cap, size_t n, size_t sz);
/* Parse "10.0.0.1" or "fd00::1". Returns 0 or -EINVAL. */
int split_addr_parse(const char *s, struct split_addr *a);
/* Parse what split_addr_port_str prints: "10.0.0.1:80" or "[fd00::1]:80"
 * (an IPv6 address only in brackets, a decimal port 0-65535, host order).
 * Returns 0 or -EINVAL; *a and *port are unchanged on failure. */
int split_addr_port_parse(const char *s, struct split_addr *a, uint16_t *port);

#endif /* SPLIT_MODEL_H */
