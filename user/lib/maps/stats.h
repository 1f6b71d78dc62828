/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * stats.h - the datapath's per-CPU counters, summed, and the L7 proxy's
 * counters (l7_stats), with names attached. Shared by `splitctl stats` and
 * the Prometheus exposition (metrics.h).
 */
#ifndef SPLIT_STATS_H
#define SPLIT_STATS_H

#include "model.h"

struct split_stat_row {
	char service[SPLIT_NAME_LEN];
	char ns[SPLIT_NAME_LEN];
	char version[SPLIT_NAME_LEN];
	uint32_t weight;
	uint32_t svc_flags;		/* the service's SPLIT_SVC_F_* now */
	uint32_t slots[2];		/* version's slots in the IPv4 / IPv6 table */
	struct split_addr addr;		/* backend rows only */
	struct split_flow_stats c;	/* XDP/tc, summed over CPUs */
	/* Socket hooks and sockops, summed over CPUs; s.rtt_last_us and
	 * s.rtt_last_ns are those of the most recent sample on any CPU. Zero
	 * when the pinned datapath predates these counters. */
	struct split_sock_stats s;
	/* L7 proxy (l7_stats), version and proxy rows only. l7_service: the
	 * service has L7 counters (an l7_stats entry for any of its versions
	 * or for the proxy's own answers); then l7 holds this row's, zero
	 * when it has no entry. Both zero for a plain service, and when the
	 * pinned datapath predates the map. */
	int l7_service;
	struct split_l7_stats l7;
};

/* A progressive rollout (rollout.h), for the exposition. */
struct split_stat_rollout {
	char service[SPLIT_NAME_LEN];
	char ns[SPLIT_NAME_LEN];
	char to[SPLIT_NAME_LEN];
	uint32_t state;			/* enum split_rollout_state */
	uint32_t step;			/* 1-based */
	uint32_t weight;		/* percent of `to` in force */
	uint32_t rollbacks;
};

struct split_stats {
	struct split_stat_row *versions;	/* one per (service, version) */
	size_t nversions;
	struct split_stat_row *backends;	/* one per backend address */
	size_t nbackends;
	/* The L7 proxy's own answers (l7_stats version_id 0: 400, 404, 408,
	 * 431 before a version was chosen), one per service with L7
	 * counters (zeros without a version_id 0 entry); version "". */
	struct split_stat_row *proxy;
	size_t nproxy;
	/* Rollouts in the rollouts map, by namespace and service. */
	struct split_stat_rollout *rollouts;
	size_t nrollouts;
};

/* Read and sum the counters under pin_dir; rows sorted by namespace,
 * service, version (and address). 0, or -errno with err. */
int split_stats_read(const char *pin_dir, struct split_stats *st,
		     struct split_err *err);
void split_stats_free(struct split_stats *st);
/*
 * One version of one service, without reading the others (a rollout's
 * judgement at 10,000 services): its service found in svc_names, its
 * versions by id (below the service's ver_end). Fills row's names,
 * svc_flags, weight, slots, s (socket counters) and l7 (zeros without an
 * l7_stats entry); c stays zero. 1: found; 0: the service, but no such
 * version (row has the service's names and svc_flags); 2: cannot tell
 * without split_stats_read() (not in svc_names, or a state written by an
 * older splitd); -errno with err.
 */
int split_stats_read_version(const char *pin_dir, const char *ns, const char *name,
			     const char *version, struct split_stat_row *row,
			     struct split_err *err);


#endif
