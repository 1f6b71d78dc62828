// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * nat_attach.c - where the north-south programs run.
 *
 *   --xdp IF      split_xdp on IF (a pinned XDP link; native mode where the
 *                 driver has it). If XDP cannot attach, split_tc_dnat at
 *                 IF's tc ingress instead (unless --no-tc-fallback).
 *   --tc-dnat IF  split_tc_dnat at IF's tc ingress.
 *   --tc-rev IF   split_tc_rev at IF's tc ingress: replies from backends.
 *
 * tc filters are netlink objects, not links: they use a fixed handle and a
 * priority per program, and are replaced in place on restart (no gap).
 * Every attachment is recorded in the pinned `ifaces` map.
 */
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "log.h"
#include "mapsize.h"
#include "nat_attach.h"
#include "split_common.h"
#include "split_tc.skel.h"
#include "split_xdp.skel.h"

#define TC_HANDLE	0x5350			/* "SP" */
#define TC_PRIO_DNAT	0x5350
#define TC_PRIO_REV	0x5351

const char *nat_mode_name(unsigned int mode, unsigned int fallback)
{
	switch (mode) {
	case SPLIT_IF_XDP: return "xdp";
	case SPLIT_IF_TC_DNAT: return fallback ? "tc-dnat (xdp failed)" : "tc-dnat";
	case SPLIT_IF_TC_REV: return "tc-rev";
	default: return "?";
	}
}

static int open_ifaces(const char *pin_dir)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", pin_dir, SPLIT_MAP_IFACES);
	return bpf_obj_get(path);
}

static void xdp_link_path(char *buf, size_t len, const char *pin_dir,
			  const char *ifname)
{
	snprintf(buf, len, "%s/%s/xdp-%s", pin_dir, SPLIT_LINK_DIR, ifname);
}

static int record(int ifaces_fd, __u32 ifindex, __u32 mode, const char *name,
		  int prog_fd, __u32 fallback)
{
	struct split_iface_key k = { ifindex, mode };
	struct split_iface_val v = { 0 };
	struct bpf_prog_info info = { 0 };
	__u32 len = sizeof(info);

	snprintf(v.name, sizeof(v.name), "%s", name);
	if (!bpf_obj_get_info_by_fd(prog_fd, &info, &len))
		v.prog_id = info.id;
	v.fallback = fallback;
	return bpf_map_update_elem(ifaces_fd, &k, &v, BPF_ANY);
}

static int attach_xdp(struct bpf_program *prog, const char *pin_dir,
		      const char *ifname, int ifindex)
{
	char path[PATH_MAX];
	struct bpf_link *link;
	int err = 0;

	xdp_link_path(path, sizeof(path), pin_dir, ifname);
	link = access(path, F_OK) ? NULL : bpf_link__open(path);
	if (link) {
		/* Take over: swap the program in place. */
		if (bpf_link__update_program(link, prog))
			err = -errno;
	} else {
		link = bpf_program__attach_xdp(prog, ifindex);
		if (!link)
			return -errno;
		if (bpf_link__pin(link, path))
			err = -errno;
	}
	bpf_link__destroy(link);
	return err;
}

static int attach_tc(int prog_fd, int ifindex, __u32 prio)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
		    .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, o, .handle = TC_HANDLE, .priority = prio,
		    .prog_fd = prog_fd, .flags = BPF_TC_F_REPLACE);
	int err;

	/* Attach first: on a restart the clsact qdisc is there already, and
	 * creating it again only makes the kernel complain. */
	if (!bpf_tc_attach(&hook, &o))
		return 0;
	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST)
		return err;
	o.prog_id = 0;
	return bpf_tc_attach(&hook, &o);
}

static int detach_tc(int ifindex, __u32 prio)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
		    .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, o, .handle = TC_HANDLE, .priority = prio);

	return bpf_tc_detach(&hook, &o);
}

/* Undo one recorded attachment. */
static int detach_one(const char *pin_dir, const struct split_iface_key *k,
		      const struct split_iface_val *v)
{
	char path[PATH_MAX];
	int err = 0;

	switch (k->mode) {
	case SPLIT_IF_XDP:
		xdp_link_path(path, sizeof(path), pin_dir, v->name);
		if (unlink(path) && errno != ENOENT)
			err = -errno;
		break;
	case SPLIT_IF_TC_DNAT:
		err = detach_tc((int)k->ifindex, TC_PRIO_DNAT);
		break;
	case SPLIT_IF_TC_REV:
		err = detach_tc((int)k->ifindex, TC_PRIO_REV);
		break;
	}
	if (err == -ENOENT || err == -ENODEV || err == -EINVAL)
		err = 0; /* already gone with its interface */
	if (err)
		pr_warn("detaching %s from %s: %s\n", nat_mode_name(k->mode, 0),
			v->name, strerror(-err));
	else
		pr_info("detached %s from %s\n", nat_mode_name(k->mode, 0), v->name);
	return err;
}

static int wanted(const struct nat_opts *o, const struct split_iface_key *k,
		  const char *name)
{
	const char *const *list;
	int n;

	switch (k->mode) {
	case SPLIT_IF_XDP:
	case SPLIT_IF_TC_DNAT:
		/* Either mode may serve a --xdp interface (fallback). */
		for (int i = 0; i < o->nxdp; i++)
			if (!strcmp(o->xdp[i], name))
				return 1;
		list = o->tc_dnat;
		n = k->mode == SPLIT_IF_TC_DNAT ? o->ntc_dnat : 0;
		break;
	case SPLIT_IF_TC_REV:
		list = o->tc_rev;
		n = o->ntc_rev;
		break;
	default:
		return 0;
	}
	for (int i = 0; i < n; i++)
		if (!strcmp(list[i], name))
			return 1;
	return 0;
}

/* Detach what an earlier run recorded and these options do not name. */
static void reconcile(const char *pin_dir, int ifaces_fd, const struct nat_opts *o)
{
	struct split_iface_key k, next, *prev = NULL;
	struct split_iface_key stale[SPLIT_MAX_IFACES];
	int nstale = 0;

	while (!bpf_map_get_next_key(ifaces_fd, prev, &next)) {
		struct split_iface_val v;

		k = next;
		prev = &k;
		if (bpf_map_lookup_elem(ifaces_fd, &k, &v))
			continue;
		if (!wanted(o, &k, v.name) && nstale < SPLIT_MAX_IFACES &&
		    !detach_one(pin_dir, &k, &v))
			stale[nstale++] = k;
	}
	for (int i = 0; i < nstale; i++)
		bpf_map_delete_elem(ifaces_fd, &stale[i]);
}

static int ifindex_of(const char *name)
{
	int ifindex = (int)if_nametoindex(name);

	if (!ifindex)
		pr_warn("interface %s: %s (in splitd's network namespace)\n", name,
			strerror(errno));
	return ifindex;
}

/* The tc program prog_fd on each interface of names[0..n), recorded in
 * ifaces as mode; label and what name it in the log. 0, or -1 (logged). */
static int attach_tc_all(int ifaces_fd, const char *const *names, int n, int prog_fd,
			 __u32 prio, __u32 mode, const char *label, const char *what)
{
	for (int i = 0; i < n; i++) {
		int ifindex = ifindex_of(names[i]), err;

		if (!ifindex)
			return -1;
		err = attach_tc(prog_fd, ifindex, prio);
		if (err) {
			pr_warn("%s on %s: %s\n", what, names[i], strerror(-err));
			return -1;
		}
		record(ifaces_fd, (__u32)ifindex, mode, names[i], prog_fd, 0);
		pr_info("%s on %s\n", label, names[i]);
	}
	return 0;
}

int nat_attach(const char *pin_dir, const struct nat_opts *o)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .pin_root_path = pin_dir);
	struct split_xdp *xskel = NULL;
	struct split_tc *tskel = NULL;
	int ret = -1, ifaces_fd = open_ifaces(pin_dir);

	if (ifaces_fd < 0) {
		pr_warn("opening the ifaces map under %s: %s\n", pin_dir, strerror(errno));
		return -1;
	}
	reconcile(pin_dir, ifaces_fd, o);
	if (!o->nxdp && !o->ntc_dnat && !o->ntc_rev) {
		ret = 0;
		goto out;
	}
	xskel = split_xdp__open_opts(&oo);
	tskel = split_tc__open_opts(&oo);
	if (xskel && tskel) {
		xskel->rodata->split_no_count = (__u32)o->no_count;
		tskel->rodata->split_no_count = (__u32)o->no_count;
	}
	if (!xskel || !tskel ||
	    (o->sizes && (split_map_sizes_set(xskel->obj, o->sizes) ||
			  split_map_sizes_set(tskel->obj, o->sizes))) ||
	    split_xdp__load(xskel) || split_tc__load(tskel)) {
		pr_warn("loading the XDP/tc objects: %s\n", strerror(errno));
		goto out;
	}
	for (int i = 0; i < o->nxdp; i++) {
		int ifindex = ifindex_of(o->xdp[i]), err;
		struct split_iface_key dk = { (__u32)ifindex, SPLIT_IF_TC_DNAT };

		if (!ifindex)
			goto out;
		err = attach_xdp(xskel->progs.split_xdp, pin_dir, o->xdp[i], ifindex);
		if (!err) {
			/* A tc fallback from an earlier run is no longer needed. */
			struct split_iface_val v;

			if (!bpf_map_lookup_elem(ifaces_fd, &dk, &v) &&
			    !detach_one(pin_dir, &dk, &v))
				bpf_map_delete_elem(ifaces_fd, &dk);
			record(ifaces_fd, (__u32)ifindex, SPLIT_IF_XDP, o->xdp[i],
			       bpf_program__fd(xskel->progs.split_xdp), 0);
			pr_info("xdp on %s\n", o->xdp[i]);
			continue;
		}
		if (o->no_fallback) {
			pr_warn("XDP on %s: %s\n", o->xdp[i], strerror(-err));
			goto out;
		}
		pr_warn("XDP on %s: %s; using tc ingress DNAT there instead\n",
			o->xdp[i], strerror(-err));
		err = attach_tc(bpf_program__fd(tskel->progs.split_tc_dnat), ifindex,
				TC_PRIO_DNAT);
		if (err) {
			pr_warn("tc DNAT on %s: %s\n", o->xdp[i], strerror(-err));
			goto out;
		}
		record(ifaces_fd, (__u32)ifindex, SPLIT_IF_TC_DNAT, o->xdp[i],
		       bpf_program__fd(tskel->progs.split_tc_dnat), 1);
	}
	if (attach_tc_all(ifaces_fd, o->tc_dnat, o->ntc_dnat,
			  bpf_program__fd(tskel->progs.split_tc_dnat), TC_PRIO_DNAT,
			  SPLIT_IF_TC_DNAT, "tc-dnat", "tc DNAT") ||
	    attach_tc_all(ifaces_fd, o->tc_rev, o->ntc_rev,
			  bpf_program__fd(tskel->progs.split_tc_rev), TC_PRIO_REV,
			  SPLIT_IF_TC_REV, "tc-rev", "tc reverse NAT"))
		goto out;
	ret = 0;
out:
	split_xdp__destroy(xskel);
	split_tc__destroy(tskel);
	close(ifaces_fd);
	return ret;
}

int nat_detach_all(const char *pin_dir)
{
	struct nat_opts none = { 0 };
	int fd = open_ifaces(pin_dir);

	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	reconcile(pin_dir, fd, &none);
	close(fd);
	return 0;
}
