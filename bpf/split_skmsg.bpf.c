// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * split_skmsg.bpf.c - the client-to-proxy hop in the kernel (splitd
 * --l7-skmsg): sk_msg redirects between a client's socket and the proxy's
 * socket accepted from it, so the bytes of that hop skip TCP and loopback.
 *
 *   split_skmsg_sockops  (cgroup sockops, on the cgroup splitd attaches
 *       to; splitd must run inside it, so that its accepted sockets are
 *       seen too) puts a socket in skmsg_socks when it is established:
 *       ACTIVE_ESTABLISHED: a client whose peer is one of the proxy's
 *           listeners (skmsg_listen: splitd writes each listener's
 *           address there when it puts the socket in l7_listen_sk; a
 *           sockhash lookup is no use here, sockops cannot release the
 *           socket it returns)
 *       PASSIVE_ESTABLISHED: the proxy's accepted socket, whose local
 *           address is such a listener's
 *       keyed by the socket's own 4-tuple (struct split_skmsg_key).
 *   split_skmsg_redirect  (sk_msg, attached to skmsg_socks) runs on every
 *       sendmsg() of a socket in the map: it looks up the peer (the same
 *       4-tuple, swapped) and redirects the message to the peer's ingress
 *       queue (BPF_F_INGRESS), where the peer's recv() finds it.
 *
 * Ordering. A client can write before the proxy's end is in the map (the
 * handshake's last ACK is still on its way). Such a message goes through
 * TCP (SK_PASS) and lands in the proxy socket's receive queue; a later
 * message redirected to the psock's queue would be read FIRST (tcp_bpf
 * reads its own queue before TCP's). So once an end has sent anything
 * through TCP, every later message of that end goes through TCP too
 * (skmsg_sent, socket storage): per direction the bytes take one path
 * only and cannot overtake each other. FIN and RST always take TCP; they
 * follow the data: a redirected message is in the peer's queue before its
 * sendmsg() returns, and tcp_bpf's recv() reads that queue before it
 * reports the end.
 *
 * Flow control. A redirect to ingress charges the receiver's memory only
 * against the global TCP limit (tcp_mem): nothing stops a writer whose
 * reader does not read (on 6.18, before this guard, the probe's flow
 * round saw 64 MiB taken for a reader that read nothing). So before each
 * redirect the program looks
 * at the peer's queue (its psock's msg_tot_len, read through BTF) and,
 * once it holds SPLIT_SKMSG_QUEUE_MAX bytes (or the peer's receive buffer,
 * if larger), sends this message and every later one of this end through
 * TCP, whose windows stop the writer. The order holds: tcp_bpf's recv()
 * empties the psock's queue before it reads TCP's. But a read stops short
 * at the end of the psock's queue while TCP's has bytes, and those bytes
 * have had their wake-up: a reader must read until EAGAIN (the proxy does,
 * see l7_short_read_drains).
 *
 * The maps are private to the loading process (not pinned).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>

#include "split_common.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#ifndef AF_INET
#define AF_INET		2
#endif
#ifndef AF_INET6
#define AF_INET6	10
#endif

/* Not pinned, yet it outlives splitd while a socket in it lives: each
 * socket's psock holds the sk_msg program, which holds this map. So a
 * client keeps the response bytes queued in its psock after splitd exits
 * (tests/e2e/test_l7.sh reads one then). */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, SPLIT_SKMSG_MAX_SOCKS);
	__type(key, struct split_skmsg_key);
	__type(value, __u64);
} skmsg_socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SPLIT_MAX_L7_LISTENERS);
	__type(key, struct split_l7_sk_key);
	__type(value, __u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} skmsg_listen SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct split_skmsg_stats);
} skmsg_stats SEC(".maps");

/* Per socket: which path its sendmsg()s take, and its peer. */
#define SKMSG_SENT_REDIRECT	1
#define SKMSG_SENT_TCP		2
struct skmsg_end {
	__u64 peer;		/* the peer's struct sock, from the last redirect */
	__u32 sent;		/* SKMSG_SENT_*; 0: nothing sent yet */
	__u32 pad;
};
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct skmsg_end);
} skmsg_sent SEC(".maps");

/* Just what is read of the kernel's structs (CO-RE: offsets from its BTF). */
struct sock___skmsg {
	int sk_rcvbuf;
	void *sk_user_data;
} __attribute__((preserve_access_index));

struct sk_psock___skmsg {
	__u32 msg_tot_len;
} __attribute__((preserve_access_index));

extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

/* sk_user_data's low bits are flags (SK_USER_DATA_NOCOPY, _BPF, _PSOCK). */
#define SK_USER_DATA_FLAGS	7UL

/* The redirect target the verdict has chosen (the kernel's struct sk_msg
 * behind the program's context). */
struct sk_msg___skmsg {
	struct sock___skmsg *sk_redir;
} __attribute__((preserve_access_index));

/* Does the peer's psock queue (redirected, not yet read) hold its limit?
 * peer: the peer's struct sock, as a number, remembered from this end's
 * last redirect (sockmap programs may not hold a reference to it: the
 * reads go through untrusted pointers, where a stale or bad pointer reads
 * as 0 and never faults; the redirect itself is by key, and a wrong answer
 * here costs at most one message's worth of queue or a move to TCP). */
static __always_inline int peer_full(__u64 peer)
{
	struct sk_psock___skmsg *ps;
	struct sock___skmsg *s;
	unsigned long ud;
	__u32 queued;
	int limit;

	if (!peer)
		return 0;
	s = bpf_rdonly_cast((void *)peer, bpf_core_type_id_kernel(struct sock___skmsg));
	ud = (unsigned long)s->sk_user_data & ~SK_USER_DATA_FLAGS;
	if (!ud)
		return 0;
	ps = bpf_rdonly_cast((void *)ud, bpf_core_type_id_kernel(struct sk_psock___skmsg));
	queued = ps->msg_tot_len;
	limit = s->sk_rcvbuf;
	if (limit < SPLIT_SKMSG_QUEUE_MAX)
		limit = SPLIT_SKMSG_QUEUE_MAX;
	return queued >= (__u32)limit;
}

static __always_inline struct split_skmsg_stats *skmsg_stats_get(void)
{
	__u32 k = 0;

	return bpf_map_lookup_elem(&skmsg_stats, &k);
}

/* Is addr:port (network order) where one of the proxy's listeners is bound? */
static __always_inline int is_listener(__u8 family, const __be32 *addr, __be16 port)
{
	struct split_l7_sk_key k = {};

	k.addr[0] = addr[0];
	k.addr[1] = addr[1];
	k.addr[2] = addr[2];
	k.addr[3] = addr[3];
	k.port = port;
	k.family = family;
	return bpf_map_lookup_elem(&skmsg_listen, &k) != NULL;
}

/* The socket's own key. 0, or -1 if not IPv4/IPv6. remote_port holds the
 * port in network order in its upper 16 bits (uapi: "network byte order",
 * read as a shifted 16-bit load); local_port is in host order. */
static __always_inline int sockops_key(const struct bpf_sock_ops *s, struct split_skmsg_key *k)
{
	if (s->family == AF_INET) {
		k->family = 4;
		k->local[0] = s->local_ip4;
		k->remote[0] = s->remote_ip4;
	} else if (s->family == AF_INET6) {
		k->family = 6;
		k->local[0] = s->local_ip6[0];
		k->local[1] = s->local_ip6[1];
		k->local[2] = s->local_ip6[2];
		k->local[3] = s->local_ip6[3];
		k->remote[0] = s->remote_ip6[0];
		k->remote[1] = s->remote_ip6[1];
		k->remote[2] = s->remote_ip6[2];
		k->remote[3] = s->remote_ip6[3];
	} else {
		return -1;
	}
	k->lport = bpf_htons((__u16)s->local_port);
	k->rport = (__be16)(s->remote_port >> 16);
	return 0;
}

SEC("sockops")
int split_skmsg_sockops(struct bpf_sock_ops *skops)
{
	struct split_skmsg_key k = {};
	struct split_skmsg_stats *st;
	__u32 op = skops->op;
	int client;

	if (op == BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB)
		client = 1;
	else if (op == BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB)
		client = 0;
	else
		return 1;
	if (sockops_key(skops, &k))
		return 1;
	if (client ? !is_listener(k.family, k.remote, k.rport)
		   : !is_listener(k.family, k.local, k.lport))
		return 1;
	st = skmsg_stats_get();
	/* BPF_NOEXIST: never replace another socket's entry (the same
	 * 4-tuple seen from another netns). */
	if (bpf_sock_hash_update(skops, &skmsg_socks, &k, BPF_NOEXIST)) {
		if (st)
			__sync_fetch_and_add(&st->insert_failed, 1);
		return 1;
	}
	if (st) {
		if (client)
			__sync_fetch_and_add(&st->inserted_client, 1);
		else
			__sync_fetch_and_add(&st->inserted_proxy, 1);
	}
	return 1;
}

SEC("sk_msg")
int split_skmsg_redirect(struct sk_msg_md *msg)
{
	struct split_skmsg_key peer = {};
	struct split_skmsg_stats *st;
	__u64 len = msg->size;
	struct sk_msg___skmsg *km;
	struct skmsg_end *sent;
	struct bpf_sock *sk;

	sk = msg->sk;
	if (!sk)
		return SK_PASS;
	sent = bpf_sk_storage_get(&skmsg_sent, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	st = skmsg_stats_get();
	if (!sent || sent->sent == SKMSG_SENT_TCP)
		goto pass;
	if (peer_full(sent->peer)) {
		sent->sent = SKMSG_SENT_TCP;
		if (st)
			__sync_fetch_and_add(&st->to_tcp_full, 1);
		goto pass;
	}
	if (msg->family == AF_INET) {
		peer.family = 4;
		peer.local[0] = msg->remote_ip4;
		peer.remote[0] = msg->local_ip4;
	} else if (msg->family == AF_INET6) {
		peer.family = 6;
		peer.local[0] = msg->remote_ip6[0];
		peer.local[1] = msg->remote_ip6[1];
		peer.local[2] = msg->remote_ip6[2];
		peer.local[3] = msg->remote_ip6[3];
		peer.remote[0] = msg->local_ip6[0];
		peer.remote[1] = msg->local_ip6[1];
		peer.remote[2] = msg->local_ip6[2];
		peer.remote[3] = msg->local_ip6[3];
	} else {
		goto pass;
	}
	peer.lport = (__be16)(msg->remote_port >> 16);
	peer.rport = bpf_htons((__u16)msg->local_port);
	if (bpf_msg_redirect_hash(msg, &skmsg_socks, &peer, BPF_F_INGRESS) != SK_PASS) {
		/* No peer (yet, or any more): TCP, from now on. */
		sent->sent = SKMSG_SENT_TCP;
		goto pass;
	}
	sent->sent = SKMSG_SENT_REDIRECT;
	km = bpf_rdonly_cast(msg, bpf_core_type_id_kernel(struct sk_msg___skmsg));
	sent->peer = (__u64)(unsigned long)km->sk_redir;
	if (st) {
		__sync_fetch_and_add(&st->redirected_msgs, 1);
		__sync_fetch_and_add(&st->redirected_bytes, len);
	}
	return SK_PASS;
pass:
	if (st) {
		__sync_fetch_and_add(&st->passed_msgs, 1);
		__sync_fetch_and_add(&st->passed_bytes, len);
	}
	return SK_PASS;
}
