/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * state.h - the pinned maps as the single source of truth.
 *
 * splitd and splitctl both read the model back from the pinned maps, change
 * it, and commit it. A commit validates and computes everything first
 * (ids, tables, capacities), then writes in an order the datapath can
 * follow at any instant: backends before the tables that name them, each
 * table swapped in whole (map-in-map), VIPs after their tables, and
 * removals last. If a write fails half way, the previous state is
 * committed back. Commits hold an exclusive flock on the pin dir.
 */
#ifndef SPLIT_STATE_H
#define SPLIT_STATE_H

#include <limits.h>

#include "model.h"

#define SPLIT_FD_LAZY	(-2)	/* a map fd of split_state not opened yet */

struct split_state {
	char pin_dir[PATH_MAX];
	int dir_fd;		/* flock()ed during a commit */
	int svc_fd;
	int tables_fd;		/* tables_v3 */
	int slots_fd;		/* slots_v3: small tables' slots */
	int big_fd;		/* big_v4: big tables (map-in-map) */
	__u32 slot_cells;	/* max_entries of slots_v3 */
	int backends_fd;
	int services_fd;
	int weights_fd;
	int be_stats_fd;	/* counters: cleared with their backend/version; */
				/* these four: SPLIT_FD_LAZY until first used */
	int ver_stats_fd;
	int sk_be_stats_fd;
	int sk_ver_stats_fd;
	int gen_fd;		/* generation map; -1 if absent */
	int names_fd;		/* svc_names; -1 if absent (older datapath) */
	int changed;		/* a commit happened under the lock */
	/* Map elements written or deleted by commits through this handle
	 * (a batch of n counts n): a commit that changes nothing writes 0. */
	__u64 nwrites;
	/* Services the last commit skipped: equal to what this handle's own
	 * commit of them wrote, with the maps unchanged since (cached
	 * handle, full commits): nothing of them was read, written or removed. */
	size_t nunchanged;
	__u32 scope_id;		/* != 0: split_state_read_service() of this service */
	/* split_state_cache(): what the maps hold, as the last full read
	 * or commit through this handle left them, valid while the
	 * generation is snap_gen. */
	struct split_state_snap *snap;
	__u64 snap_gen;
	int snap_stale;		/* a commit failed: read the maps again */
	int locked;		/* between split_state_lock() and _unlock() */
	/* SPLIT_GEN_COMMITTED as the last split_state_unlock() left it (read
	 * under the lock): what another process finds as long as nobody
	 * commits after this handle. */
	__u64 unlock_gen;
	struct split_state_kept *kept;	/* the last scoped read, for its commit */
	struct split_state_undo *undo;	/* split_state_commit_keep() */
};

/* Addresses between the model (struct split_addr) and the maps' 16-byte
 * __be32[4] form; the svc key of a VIP and port. */
void split_addr_to_be(__be32 out[4], const struct split_addr *a);
void split_addr_from_be(struct split_addr *a, const __be32 *addr, __u8 family);
void split_vip_key(struct split_svc_key *k, const struct split_addr *vip,
		   const struct split_port *port);

/* Open the pinned maps under pin_dir. Fails (-ENOENT) with a message that
 * says to start splitd when they are not there. Like every function here
 * that takes err: 0, or -errno with err. */
int split_state_open(struct split_state *st, const char *pin_dir,
		     struct split_err *err);
/* The same for a change of one service (splitctl set, reset): the VIPs map
 * and the small tables' slots map are opened when first needed (a scoped
 * commit writes no VIP, and a weight change writes big tables), each open
 * being a path walk in bpffs. */
int split_state_open_some(struct split_state *st, const char *pin_dir,
			  struct split_err *err);
void split_state_close(struct split_state *st);
/* bpf_obj_get() of pin_dir/name: an fd, or -1 with errno. */
int split_state_obj_get(const struct split_state *st, const char *name);

/*
 * A long-lived handle (splitd) may keep what the maps hold in memory: a
 * full read (split_state_read(), a commit) under the lock then costs no
 * dump of the maps as long as nobody else committed since (the generation
 * counter SPLIT_GEN_COMMITTED did not move but for this handle's own
 * commits); commits update the copy with what they write. A commit by
 * another process (splitctl set, apply, a rollout step) moves the
 * generation: the next read dumps the maps again. Changes made to the maps
 * without a commit (bpftool map update) are not seen until
 * split_state_cache_drop(). Without the generation map: no cache.
 */
void split_state_cache(struct split_state *st);
void split_state_cache_drop(struct split_state *st);

/* Exclusive lock around read-modify-commit. Unlocking after a commit
 * bumps the generation counter. */
int split_state_lock(struct split_state *st, struct split_err *err);
void split_state_unlock(struct split_state *st);

/* Entry SPLIT_GEN_* of the generation map (0 if the map is absent).
 * SPLIT_GEN_COMMITTED moves after every change to the state. Setting it:
 * 0, or -errno (-ENOENT: no map). */
__u64 split_state_generation(struct split_state *st, int idx);
int split_state_set_generation(struct split_state *st, int idx, __u64 v);

/* After a change: if splitd's L7 proxy is alive, wait until it follows
 * the state in force (up to timeout_ms). 0: done or no proxy; 1: the
 * proxy did not confirm in time. */
int split_state_wait_l7(struct split_state *st, unsigned timeout_ms);

/* Read the model back from the maps (services sorted by namespace/name,
 * versions by name, endpoints by version then address). */
int split_state_read(struct split_state *st, struct split_config *cfg,
		     struct split_err *err);

/* split_state_read() then split_config_merge(file, what it read), without
 * building the model of every service: the weights of each routed service
 * of file come from its entries in the maps (a cached handle: from memory). */
int split_state_merge(struct split_state *st, struct split_config *file,
		      struct split_err *err);

/* Read one service (ref as split_config_find() takes it) without reading
 * the others: cfg then holds that service only, with its versions and
 * endpoints but not its VIPs and ports, and the commits that follow on st
 * (until split_state_read()) change that service only and leave its VIPs
 * as they are. For a change of weights (splitctl set, reset): O(1) in the
 * number of services, but for one scan of the services map. State written
 * by an older splitd: cfg holds every service, as split_state_read(). */
int split_state_read_service(struct split_state *st, const char *ref,
			     struct split_config *cfg, struct split_err *err);
/* The services whose ids are listed (an id without a service is skipped),
 * VIPs included: what the L7 proxy reads of the services it serves, without
 * reading every service. cfg holds them in no particular order. 0, or a
 * negative errno with err set. */
int split_state_read_ids(struct split_state *st, const __u32 *ids, size_t n,
			 struct split_config *cfg, struct split_err *err);

/* Make the maps say exactly what cfg says. All or nothing. Compares with
 * the maps in force and writes only what differs (in batches): tables of
 * services whose inputs did not change are not rebuilt. */
int split_state_commit(struct split_state *st, const struct split_config *cfg,
		       struct split_err *err);
/* split_state_commit(), keeping what it takes to put the state it replaced
 * back, for a caller that must when a later step fails (split_apply()):
 * the commit's own read of the maps, or on a cached handle only the
 * inverse of its writes (no copy of the state is made unless it is put
 * back). Kept until the next commit, split_state_put_back() or
 * split_state_undo_drop(). */
int split_state_commit_keep(struct split_state *st, const struct split_config *cfg,
			    struct split_err *err);
/* Commit the state the last split_state_commit_keep() replaced (what
 * split_state_read() gave just before it), under the same lock. */
int split_state_put_back(struct split_state *st, struct split_err *err);
void split_state_undo_drop(struct split_state *st);

/*
 * Upgrade from big_v3 (inner maps of two-slot cells): copy every big table
 * pinned there into big_fd (the loaded datapath's big_v4) that big_fd has
 * no table for yet. splitd calls it after loading a datapath, before
 * attaching it, so services with explicit weights keep their tables across
 * the upgrade; it unlinks big_v3 once attached. Returns the number of
 * tables copied (0: no big_v3), or a negative errno with err set.
 */
int split_state_migrate_big(const char *pin_dir, int big_fd, struct split_err *err);

#endif
