/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * caps.h - splitd gives up the capabilities it no longer needs once the
 * datapath is loaded and attached.
 *
 * What the running daemon still needs, and why:
 *   CAP_BPF               create the selection tables it swaps in, use the maps
 *   CAP_SYS_ADMIN         open a table in force by its map id to compare it
 *                         with the new one (BPF_MAP_GET_FD_BY_ID)
 *   CAP_NET_ADMIN         the L7 proxy's sockmap (probe, attach), SO_* options
 *   CAP_PERFMON           loading the L7 sockmap programs (--l7-sockmap)
 *   CAP_NET_BIND_SERVICE  proxy listeners on ports below 1024
 * Everything else goes (CAP_SYS_RESOURCE, CAP_SYS_MODULE, CAP_SYS_PTRACE,
 * CAP_DAC_OVERRIDE, CAP_SETUID, ...), from the effective, permitted,
 * inheritable, ambient and bounding sets of the calling thread; threads
 * started afterwards inherit the reduced sets, so call it before any.
 */
#ifndef SPLITD_CAPS_H
#define SPLITD_CAPS_H

/* 0, or -1 (logged). Capabilities not held are left alone. */
int splitd_drop_caps(void);

#endif
