/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * rollout.h - progressive rollouts with automatic rollback.
 *
 * `splitctl rollout start reviews --to v2` puts the first step in force
 * (v2 at steps[0] percent, the old version at the rest, other versions 0)
 * and writes the rollout into the pinned map `rollouts_v2`
 * (struct split_rollout_val). From then on splitd runs it: at the end of
 * each interval it compares the new version's counters over that window
 * with the thresholds, and then
 *
 *   - holds the step (a new window) if the window saw fewer than
 *     min_requests requests (L7 services: requests the proxy routed to the
 *     new version; others: connections the socket hooks sent to it): no
 *     promotion on no traffic, and no rollback either;
 *   - rolls back if a rate passed its threshold: the old version at 100%,
 *     in one commit (one table swap), and the reason recorded;
 *   - else moves to the next step, and after the last one the rollout is
 *     done.
 *
 * What is judged: every service, (failed connects + resets) / connections
 * from the socket hooks and sockops (sk_ver_stats); L7 services also
 * 5xx / requests and the mean latency from the proxy's counters
 * (l7_stats). A threshold of 0 is off.
 *
 * Everything lives in the map, so splitctl may exit, and a splitd that
 * restarts carries on at the step in force with a new window (it never
 * skips ahead). Changes take the state lock like every commit.
 *
 * Weights: every step is what `splitctl set SERVICE to=P from=100-P` does
 * (split_set_weights): the service's weights, or, where a RouteRule's or
 * VirtualService's default route sets them, that route in that object
 * (under splitd --config-dir that is refused, naming the file to edit).
 * `splitctl set` and `reset` refuse a service while its rollout runs or
 * is paused.
 *
 * Sticky sessions (sticky_cookie, L7 services only): while the rollout
 * runs or is paused, splitd's L7 proxy answers a request it routed by
 * weight (no match rule took it) with "Set-Cookie: NAME=VERSION; Path=/;
 * HttpOnly", and routes a request carrying NAME=VERSION to VERSION if that
 * version has endpoints and a weight above 0 there; else the cookie is
 * ignored (and replaced). Match rules still come first. Once the rollout
 * is done, rolled back or aborted, the proxy neither sets nor reads the
 * cookie: after a rollback everyone is on the old version at once.
 */
#ifndef SPLIT_ROLLOUT_H
#define SPLIT_ROLLOUT_H

#include <stddef.h>
#include <stdint.h>

#include "split_common.h"
#include "state.h"

/* Every function here that takes err: 0 (or a count), or -errno with err. */

struct split_rollout_opts {
	const char *to;			/* required */
	const char *from;		/* NULL: the version with the largest
					 * weight other than to */
	uint32_t steps[SPLIT_ROLLOUT_MAX_STEPS];
	size_t nsteps;			/* 0: 1,5,10,25,50,100 */
	uint32_t interval_ms;		/* 0: 30 s */
	uint32_t max_error_ppm;		/* UINT32_MAX: default 1% */
	uint32_t max_connect_failure_ppm; /* UINT32_MAX: default 1% */
	uint32_t max_latency_ms;	/* 0: off */
	uint64_t min_requests;		/* UINT64_MAX: default 20 */
	const char *sticky_cookie;	/* NULL: no sticky sessions */
};

struct split_rollout_ent {
	struct split_rollout_key key;
	struct split_rollout_val val;
};

enum split_rollout_cmd {
	SPLIT_RO_CMD_PAUSE,
	SPLIT_RO_CMD_RESUME,
	SPLIT_RO_CMD_ABORT,
	SPLIT_RO_CMD_PROMOTE,
};

/* Defaults into o (to and from NULL). */
void split_rollout_opts_init(struct split_rollout_opts *o);

/* "1,5,10,25,50,100": increasing, each 1..100. */
int split_rollout_parse_steps(const char *s, struct split_rollout_opts *o,
			      struct split_err *err);
/* "30s", "500ms", "2m", "1.5s": 100 ms .. 24 h. */
int split_rollout_parse_duration(const char *s, uint32_t *ms,
				 struct split_err *err);
/* A cookie name for sticky_cookie: an HTTP token (RFC 6265 cookie-name,
 * RFC 9110 tchar), 1 to SPLIT_NAME_LEN - 1 characters. */
int split_rollout_check_cookie(const char *name, struct split_err *err);
/* "1%", "0.5%", "0" (a bare number is a percentage): into ppm. */
int split_rollout_parse_rate(const char *s, uint32_t *ppm,
			     struct split_err *err);

/* Validate against the state in force, put steps[0] in force and write the
 * rollout, all under the lock and all or nothing. out (optional) gets the
 * entry written. */
int split_rollout_start(struct split_state *st, const char *svc_ref,
			const struct split_rollout_opts *o,
			struct split_rollout_ent *out, struct split_err *err);

/* pause / resume / abort / promote the rollout of svc_ref. */
int split_rollout_control(struct split_state *st, const char *svc_ref,
			  enum split_rollout_cmd cmd,
			  struct split_rollout_ent *out, struct split_err *err);

/* Every rollout, sorted by namespace and name (*out malloc'ed). A pin dir
 * without the map has none. */
int split_rollout_list(const char *pin_dir, struct split_rollout_ent **out,
		       size_t *n, struct split_err *err);

/* The counters of svc/version now (sk_ver_stats and l7_stats), and
 * whether the service has L7 counters. */
int split_rollout_counts_now(const char *pin_dir, const char *ns,
			     const char *name, const char *version,
			     struct split_rollout_counts *c, int *l7,
			     struct split_err *err);

/* The new version's figures for e's window: the running window so far,
 * or the last judged one once the rollout is not running. */
int split_rollout_window(const char *pin_dir, const struct split_rollout_ent *e,
			 struct split_rollout_counts *d, int *l7,
			 struct split_err *err);

/* splitd, every few hundred ms: judge the windows that ended (now_ns is
 * CLOCK_MONOTONIC). starting: splitd just started, begin every running
 * window anew. Returns the number of decisions taken, or -errno with err
 * (a rollout whose state could not be written: the others were judged).
 * The decisions themselves (step, hold, done, rolled back, paused) are
 * logged here: they are the loop's progress, not errors of this call. */
int split_rollout_tick(struct split_state *st, uint64_t now_ns, int starting,
		       struct split_err *err);

/* The service's rollout is running or paused: -EBUSY (and why in err),
 * else 0. */
int split_rollout_busy(struct split_state *st, const char *ns,
		       const char *name, struct split_err *err);

const char *split_rollout_state_str(uint32_t state);
const char *split_rollout_what_str(uint32_t what);
/* The percent of `to` in force. */
uint32_t split_rollout_weight(const struct split_rollout_val *v);

#endif
