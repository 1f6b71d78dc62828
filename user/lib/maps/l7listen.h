/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * l7listen.h - the L7 proxy's liveness witness: its listening sockets in
 * the l7_listen_sk SOCKHASH (see split_common.h).
 *
 * The connect hooks send an L7 service's connections to the listener that
 * l7_listen names only while a socket listening at that address is in
 * l7_listen_sk. The kernel takes a socket out of a sockhash when it
 * closes, so a dead proxy (SIGKILL included) stops getting connections at
 * once, with no heartbeat to wait for: they split at L4 instead of being
 * refused.
 *
 * Engine-agnostic: give it any listening TCP socket bound where the
 * l7_listen entry points (with SO_REUSEPORT listeners, any one of them
 * will do: it is the witness that something listens there). Order:
 * listen, l7_listener_publish(), then write the l7_listen entry; to stop:
 * delete the l7_listen entry, l7_listener_unpublish(), then close.
 */
#ifndef SPLIT_L7LISTEN_H
#define SPLIT_L7LISTEN_H

#include <stdint.h>

#include "split_common.h"
#include "model.h"

/* The l7_listen_sk key of a listener bound at addr:port (host order). */
void l7_listener_key(struct split_l7_sk_key *k, const struct split_addr *addr,
		     uint16_t port);

/* Put listen_fd in map_fd (l7_listen_sk) under the address it is bound to
 * (getsockname), replacing any socket there. 0, or -EINVAL if listen_fd
 * is not a listening TCP socket (or is bound to a wildcard port), else
 * what the kernel said as -errno (-EOPNOTSUPP: no listening sockets in
 * sockhash maps on this kernel). */
int l7_listener_publish(int map_fd, int listen_fd);

/* Take the socket at addr:port out of map_fd. 0, or -errno (-ENOENT:
 * none was there). */
int l7_listener_unpublish(int map_fd, const struct split_addr *addr, uint16_t port);

/* 1 if a socket is in map_fd for addr:port, 0 if none, -errno on error. */
int l7_listener_present(int map_fd, const struct split_addr *addr, uint16_t port);

#endif
