/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * l7.h - splitd's L7 proxy: listeners for services with request-matching
 * rules, kept in step with the pinned state.
 *
 * For every VIP:port (TCP) of a service marked SPLIT_SVC_F_L7 whose VIP
 * family has a listen address, splitd listens on that address (a port of
 * its own per VIP:port, so the listener names the original destination),
 * routes requests with the rules in force (the `objects` map, compiled as
 * `splitctl apply` compiled them), and publishes the listener in
 * `l7_listen`, where the connect hooks find it. Every second it refreshes
 * the listeners' heartbeat and copies the proxy's counters to `l7_stats`.
 * The state is re-read whenever its generation moves (any commit by
 * splitd or splitctl).
 */
#ifndef SPLITD_L7_H
#define SPLITD_L7_H

#include "l7proxy.h"
#include "state.h"

struct l7_rt_opts {
	struct split_addr addrs[2];	/* listen addresses, at most one per family */
	int naddrs;
	struct l7_proxy_opts proxy;
	unsigned drain_ms;		/* graceful stop; 0: 5000 */
	/* --l7-skmsg (NULL: off): every listener's address goes into its
	 * skmsg_listen set while the listener is in l7_listen_sk. */
	struct l7_skmsg *skmsg;
};

struct l7_rt;

/* Start the proxy thread. Signals are blocked in it. NULL on failure. */
struct l7_rt *l7_rt_start(const struct l7_rt_opts *o);

/* Bring listeners, routing and l7_listen in line with the state, if its
 * generation moved since the last call (always, with force). Takes the
 * state lock to read. 0, or -1 (logged; what could be done is done). */
int l7_rt_sync(struct l7_rt *rt, struct split_state *st, int force);

/* Once a second: counters, and listeners missing from l7_listen_sk put
 * back (heartbeats have their own thread). */
void l7_rt_tick(struct l7_rt *rt, struct split_state *st);

/* How often splitd's loop should call l7_rt_sync, in ms: 10 while the
 * proxy serves a service (splitctl set on it waits for the proxy), 50
 * while it serves none (the first request rule is followed within that). */
int l7_rt_poll_ms(const struct l7_rt *rt);

/* Withdraw from l7_listen (new connections split at L4 again), drain the
 * proxy (listeners closed, idle connections closed, requests in flight
 * finish, up to drain_ms), flush the counters, stop the proxy (what is
 * left is cut) and free. NULL is fine. */
void l7_rt_stop(struct l7_rt *rt, struct split_state *st);

#endif
