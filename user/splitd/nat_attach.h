/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* nat_attach.h - attach the north-south (XDP/tc) programs for splitd. */
#ifndef SPLIT_NAT_ATTACH_H
#define SPLIT_NAT_ATTACH_H

#define NAT_MAX_IFACES 32

struct split_map_sizes;

struct nat_opts {
	const char *xdp[NAT_MAX_IFACES];	/* --xdp */
	int nxdp;
	const char *tc_dnat[NAT_MAX_IFACES];	/* --tc-dnat */
	int ntc_dnat;
	const char *tc_rev[NAT_MAX_IFACES];	/* --tc-rev */
	int ntc_rev;
	int no_fallback;			/* --no-tc-fallback */
	int no_count;				/* --no-counters */
	const struct split_map_sizes *sizes;	/* --ct-max ...; NULL: defaults */
};

/* Attach what the options ask for (XDP links pinned and taken over on
 * restart, tc filters replaced in place), detach what an earlier run
 * attached and the options no longer name, and record it all in the
 * `ifaces` map. 0 or -1. */
int nat_attach(const char *pin_dir, const struct nat_opts *o);

/* Detach every tc filter recorded in `ifaces` (XDP links go with their
 * pins). For --unload. 0 or -1. */
int nat_detach_all(const char *pin_dir);

const char *nat_mode_name(unsigned int mode, unsigned int fallback);

#endif
