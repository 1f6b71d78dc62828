/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * node.h - where splitd sits on a Kubernetes node: the cgroup to attach to
 * (--cgroup auto) and splitd's own cgroup (whose sockets the hooks leave
 * alone).
 */
#ifndef SPLIT_NODE_H
#define SPLIT_NODE_H

#include <stddef.h>
#include <stdint.h>

/* The cgroup directories --cgroup auto looks for under a cgroup2 root, in
 * this order: the kubelet's systemd driver, then its cgroupfs driver. */
#define SPLIT_KUBEPODS_SYSTEMD	"kubepods.slice"
#define SPLIT_KUBEPODS_CGROUPFS	"kubepods"

/*
 * --cgroup auto. With root (--cgroup-root): ROOT/kubepods.slice, else
 * ROOT/kubepods, else ROOT. Without: the same under every cgroup2 mount
 * listed in the mounts file (fstab format, e.g. /proc/mounts), in order;
 * if none has a kubepods directory, the first mount's root. Writes the
 * path to buf and returns 1 if a kubepods directory was found, 0 for a
 * root, -ENOENT if there is no cgroup2 mount, -ENOTDIR if root is not a
 * directory, -ENAMETOOLONG if the path does not fit in buf.
 */
int split_cgroup_auto(const char *mounts, const char *root, char *buf, size_t len);

/*
 * The id of the cgroup v2 the calling process is in (what
 * bpf_get_current_cgroup_id() returns for it: the inode number of its
 * directory). Works in a container with its own cgroup namespace: the
 * path in /proc/self/cgroup is relative to that namespace's root, which
 * is the root of a cgroup2 mount made in it (mountinfo's root field "/").
 * proc is the procfs to read ("/proc"). 0 with *id, or -errno (-ENOENT:
 * not found).
 */
int split_self_cgroup_id(const char *proc, uint64_t *id, char *path, size_t len);

#endif
