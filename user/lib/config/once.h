/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * once.h - what `splitd --once` applied, kept for the next `splitd --once`.
 *
 * A --once run is a new process: without a memory of the last one it
 * parses every document of the services file and reads every map, to
 * change one service of 10,000. After a full apply it records, in
 * /run/split/<pin dir>.once, each document's hashes and what its service
 * added to the file's totals, with the generation (SPLIT_GEN_COMMITTED)
 * its commit left. The next --once on the same pin dir compares the
 * services file's documents with the record (whatever the file's name). When exactly one document changed
 * and it still defines the same service with the same VIPs and ports (its
 * endpoints or versions changed), and nobody committed since
 * (the generation is the recorded one, read under the state lock), only
 * that service is read from the maps, merged as a full apply merges it
 * (weights set by `splitctl set` stay), and committed on its own. The maps
 * end as a full apply would leave them (the other services' documents are
 * the bytes that were applied, parsed by the same binary). Anything else
 * (Istio objects in the file or in force, a new, removed, moved or renamed
 * service, a changed VIP, a doc that does not parse, limits in sight, an
 * older record, another splitd binary, a reboot, another pin dir of the
 * same name) takes the full path, which also gives every error message.
 */
#ifndef SPLIT_ONCE_H
#define SPLIT_ONCE_H

#include <stdbool.h>
#include <stddef.h>

#include "apply.h"
#include "state.h"

struct split_once;

/*
 * Compare the services file at path with the record for pin_dir, before
 * the kernel is touched. NULL when the record cannot serve (why says why,
 * for a debug message); else the plan: no document changed, or the one
 * that did, parsed and checked. No error here is the user's: the full
 * path reports them.
 */
struct split_once *split_once_plan(const char *pin_dir, const char *path, char *why,
				   size_t wlen);

/*
 * Whether the datapath is as the recorded --once left it, so this run need
 * not load and attach it again: the same options (attach_key: a hash of
 * what the load and attach take, the caller's) and the links pinned under
 * pin_dir/links, each on cgroup `cgroup`, running the programs (by id)
 * that run was left with. Ids are not reused until reboot, and the record
 * is of this binary: the same programs.
 */
bool split_once_same_datapath(const struct split_once *o, const char *pin_dir,
			      __u64 attach_key, const char *cgroup, char *why, size_t wlen);

/*
 * Apply the plan under the state lock (taken and released here). 1:
 * applied (*nsvcs: the services the file holds; *changed: 0 or 1 service
 * committed). 0: not applied, the maps unchanged (why says why): take the
 * full path. The record follows the commit, and the datapath as this run
 * leaves it (attach_key, the programs the links run).
 */
int split_once_apply(struct split_once *o, struct split_state *st, __u64 attach_key,
		     size_t *nsvcs, size_t *changed, char *why, size_t wlen);

void split_once_free(struct split_once *o);

/*
 * After a full apply by --once of the services file at path (read with
 * split_input_load() into in, whose services are now as committed; st
 * unlocked after the commit; nobjs: Istio objects in force after it;
 * attach_key: as for split_once_same_datapath()):
 * record it, or remove the record where the next --once could not use it
 * (objects, several files, a file changed since it was read). Not fatal:
 * without a record the next --once applies the whole file. 0, or -errno
 * with err.
 */
int split_once_record(const char *pin_dir, const char *path, const struct split_input *in,
		      size_t nobjs, struct split_state *st, __u64 attach_key,
		      struct split_err *err);

/* Remove the record of pin_dir (--unload does, and a full apply that
 * cannot be recorded). */
void split_once_forget(const char *pin_dir);

#endif
