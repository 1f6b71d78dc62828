/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * l7skmsg.h - the client-to-proxy hop in the kernel (splitd --l7-skmsg):
 * sockops puts both ends of every client <-> proxy connection in a
 * SOCKHASH, and an sk_msg program sends what one end writes straight into
 * the other's receive queue (bpf/split_skmsg.bpf.c), so those bytes skip
 * TCP and loopback. The proxy itself changes nothing but its tunnels (they
 * read and write: splice(2) reads TCP's queue, not the one the redirects
 * fill).
 *
 * sockmap has a long bug history, so l7_skmsg_open() does not trust the
 * kernel: it pushes real data through loopback pairs in its map (both ways
 * at once, large writes to a slow reader, edge-triggered epoll, half-close
 * from each side, reset, a first write that goes through TCP) and checks
 * every byte, that EPOLLIN and the ends are seen, and that the bytes did
 * skip TCP. If anything is off, it returns NULL with the reason in err.
 */
#ifndef SPLIT_L7SKMSG_H
#define SPLIT_L7SKMSG_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "split_common.h"

struct l7_skmsg;

/* What the probe found, for the log (and the tests). */
struct l7_skmsg_probe {
	int sound;			/* every check passed */
	char why[768];			/* the first failure, or a summary */
	uint64_t bytes;			/* moved through the pairs, checked */
	uint64_t redirected;		/* of which the sk_msg program redirected */
	uint64_t tcp_bytes;		/* what TCP saw (tcpi_bytes_received) in the
					 * rounds that must bypass it */
	uint64_t unread_max;		/* the most the kernel took for a reader that
					 * did not read (no flow control: the cap) */
	int bounded;			/* the writer was made to wait before the cap */
	int short_read_hides_tcp;	/* after a move to TCP, a read stopped short
					 * while TCP's queue had bytes */
};

#define L7_SKMSG_NO_PROBE	0x1	/* benchmarks only: trust the kernel */

/*
 * Load the object (the ELF image of split_skmsg.bpf.o, e.g. from its
 * skeleton; every map private), attach the sk_msg program to its sockhash
 * and run the probe (about 100 ms). NULL if the kernel refuses or the probe
 * fails: the reason is in err. pr (optional) gets the probe's findings
 * either way (pr->why: the summary of a sound probe, or its first failure).
 */
struct l7_skmsg *l7_skmsg_open(const void *obj, size_t len, unsigned flags,
			       struct l7_skmsg_probe *pr, struct split_err *err);

/* Attach the sockops program to a cgroup (a link owned by m: it goes with
 * l7_skmsg_close or the process). 0, or -errno with err. */
int l7_skmsg_attach(struct l7_skmsg *m, int cgroup_fd, struct split_err *err);

/* The proxy's listeners: connections to (and accepted from) a listening
 * address:port in this set are the ones sockops puts in the map. The key
 * is l7_listen_sk's (l7_listener_key). 0, or -errno. */
int l7_skmsg_listen_add(struct l7_skmsg *m, const struct split_l7_sk_key *k);
int l7_skmsg_listen_del(struct l7_skmsg *m, const struct split_l7_sk_key *k);
/* The listening socket's own address (getsockname). */
int l7_skmsg_listen_add_fd(struct l7_skmsg *m, int listen_fd);

/* The sockhash's fd, for tests. */
int l7_skmsg_socks_fd(const struct l7_skmsg *m);

/* The programs' counters, summed over the CPUs, since l7_skmsg_open()
 * returned (the probe's own traffic is not in them). 0, or -errno. */
int l7_skmsg_stats(const struct l7_skmsg *m, struct split_skmsg_stats *out);

/* Run the probe again on an open object (tests). 0 sound, else -errno
 * (-EPROTO: the kernel failed a check) with pr->why. */
int l7_skmsg_probe_run(struct l7_skmsg *m, struct l7_skmsg_probe *pr);

void l7_skmsg_close(struct l7_skmsg *m);

#endif /* SPLIT_L7SKMSG_H */
