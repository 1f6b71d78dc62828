/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * l7sockmap.h - in-kernel byte forwarding for the L7 proxy's tunnels:
 * sk_skb stream_verdict redirects between the two sockets of a tunnel
 * (bpf/split_l7_sockmap.bpf.c), behind a runtime probe.
 *
 * sockmap has a long bug history (lost or reordered bytes, premature
 * FINs, stuck queues) on kernels other than the one this was verified on,
 * so l7_sockmap_open_flags() does not trust the kernel: it pushes real data
 * through a loopback tunnel, both ways, with half-closes from each side,
 * and checks every byte and where the EOF lands. If anything is off, it
 * returns NULL with the reason and the proxy uses splice(2).
 *
 * The object's maps are private to the process (not pinned).
 */
#ifndef SPLIT_L7SOCKMAP_H
#define SPLIT_L7SOCKMAP_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct l7_sockmap;

/* Load the BPF object (the ELF image of split_l7_sockmap.bpf.o, e.g. from
 * its skeleton), attach the verdict to its SOCKHASH and run the probe.
 * NULL if the kernel refuses or the probe fails: the reason is in err.
 * flags L7_SOCKMAP_NO_PROBE (benchmarks only): the kernel is trusted. */
#define L7_SOCKMAP_NO_PROBE	0x1
struct l7_sockmap *l7_sockmap_open_flags(const void *obj, size_t len,
					 unsigned flags, struct split_err *err);
/* After every relay has returned. NULL is fine. */
void l7_sockmap_close(struct l7_sockmap *m);

struct l7_sockmap_io {
	uint64_t kernel_bytes;		/* redirected by the verdict, both ways */
	uint64_t user_bytes;		/* read and written by the relay itself */
	int redirected;			/* both sockets went into the map */
	int lost;			/* the kernel dropped redirected bytes:
					 * cut, both sockets set to reset on
					 * close */
};

/*
 * Relay bytes between the connected TCP sockets a and b (non-blocking)
 * until both directions have ended, each with its half-close passed on
 * after its last byte. Whatever the caller had read from one socket must
 * already be written to the other. Returns
 *    0  both directions ended in order
 *   -1  cut: an error or reset, idle_ms without progress, or stopfd
 *       readable (the caller closes both sockets)
 *    1  not taken (all sockmap tunnels in use): nothing was read or
 *       written, relay them another way
 * io (optional) says what moved.
 */
int l7_sockmap_relay(struct l7_sockmap *m, int a, int b, int stopfd,
		     unsigned idle_ms, struct l7_sockmap_io *io);

#endif /* SPLIT_L7SOCKMAP_H */
