// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * split_sock.bpf.c - east-west split at the socket layer (cgroup sock_addr).
 *
 * connect4/6   TCP and connected UDP: pick a backend once per socket by the
 *              service's weighted slot table and rewrite the destination.
 * sendmsg4/6   unconnected UDP: same, sticky per (socket, VIP) in udp_aff.
 * recvmsg4/6   unconnected UDP replies: show the VIP as the source.
 * getpeername4/6  show the VIP as the peer of a rewritten socket.
 *
 * TCP to a service with request-matching rules goes to splitd's L7 proxy
 * instead (l7_listen), which routes each request, while the proxy's
 * listening socket is there (l7_listen_sk); else it splits at L4.
 *
 * No per-packet cost: the kernel only sees the backend address afterwards.
 * A connected socket keeps its VIP and backend in its own storage
 * (sk_backend, freed with the socket), which getpeername/recvmsg read and
 * the sockops health counters use (split_sockops.bpf.c); unconnected UDP
 * uses the sock_nat LRU. Each choice (connect, or a new UDP affinity) is
 * counted per backend and version (sk_be_stats, sk_ver_stats).
 * A service with no eligible endpoint fails connect()/sendmsg() with EPERM.
 * splitd's own cgroup (self_cgroup; its pod on a Kubernetes node) is left
 * alone: the L7 proxy's upstream connections go where it sends them.
 */
#include <bpf/bpf_endian.h>

#include "split_select.bpf.h"

#ifndef IPPROTO_UDP
#define IPPROTO_UDP 17
#endif
#ifndef IPPROTO_TCP
#define IPPROTO_TCP 6
#endif

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* An IPv6 socket may name an IPv4 VIP as ::ffff:a.b.c.d (dual-stack
 * applications): such an address is read as the IPv4 one (family 4) and
 * written back in the same form. Returns the family read (4 or 6). */
static __always_inline int read_dst(const struct bpf_sock_addr *ctx, int v6,
				    __be32 addr[4], __be16 *port)
{
	*port = (__be16)ctx->user_port;
	if (v6) {
		addr[0] = ctx->user_ip6[0];
		addr[1] = ctx->user_ip6[1];
		addr[2] = ctx->user_ip6[2];
		addr[3] = ctx->user_ip6[3];
		if (addr[0] == 0 && addr[1] == 0 && addr[2] == bpf_htonl(0xffff)) {
			addr[0] = addr[3];
			addr[1] = addr[2] = addr[3] = 0;
			return 4;
		}
		return 6;
	}
	addr[0] = ctx->user_ip4;
	return 4;
}

/* family: of addr (4 or 6); an IPv4 address on an IPv6 socket is
 * written v4-mapped. */
static __always_inline void write_dst(struct bpf_sock_addr *ctx, int v6, int family,
				      const __be32 addr[4], __be16 port)
{
	if (v6 && family == 4) {
		ctx->user_ip6[0] = 0;
		ctx->user_ip6[1] = 0;
		ctx->user_ip6[2] = bpf_htonl(0xffff);
		ctx->user_ip6[3] = addr[0];
	} else if (v6) {
		ctx->user_ip6[0] = addr[0];
		ctx->user_ip6[1] = addr[1];
		ctx->user_ip6[2] = addr[2];
		ctx->user_ip6[3] = addr[3];
	} else {
		ctx->user_ip4 = addr[0];
	}
	ctx->user_port = (__u32)port;
}

static __always_inline struct split_svc_val *
lookup_svc(const struct bpf_sock_addr *ctx, int v6, __u8 proto,
	   struct split_svc_key *key)
{
	key->family = (__u8)read_dst(ctx, v6, key->addr, &key->port);
	key->proto = proto;
	return bpf_map_lookup_elem(&svc, key);
}

/* Remember (socket, backend) -> VIP for getpeername() and recvmsg(). */
static __always_inline void record_nat(struct bpf_sock_addr *ctx,
				       const struct split_svc_key *vip,
				       const struct split_backend_val *be,
				       __be16 port)
{
	struct split_sock_nat_key nk = {};
	struct split_sock_nat_val nv = {};

	nk.cookie = bpf_get_socket_cookie(ctx);
	__builtin_memcpy(nk.addr, be->addr, sizeof(nk.addr));
	nk.port = port;
	nk.family = vip->family;
	__builtin_memcpy(nv.addr, vip->addr, sizeof(nv.addr));
	nv.port = vip->port;
	bpf_map_update_elem(&sock_nat, &nk, &nv, BPF_ANY);
}

/* The per-CPU counters of a backend or version, created on first use. */
static __always_inline struct split_sock_stats *sock_stats_get(void *map, const void *key)
{
	struct split_sock_stats zero = {};

	return split_percpu_get(map, key, &zero);
}

/* One socket chose backend `id`: count it on the backend and its version.
 * Atomic adds: per-CPU, but a preempted program may share the CPU. */
static __always_inline void count_choice(__u32 id, const struct split_backend_val *be)
{
	struct split_weight_key vk = { .svc_id = be->svc_id, .version_id = be->version_id };
	struct split_sock_stats *s;

	if (split_no_count)
		return;
	s = sock_stats_get(&sk_be_stats, &id);
	if (s)
		__sync_fetch_and_add(&s->connections, 1);
	s = sock_stats_get(&sk_ver_stats, &vk);
	if (s)
		__sync_fetch_and_add(&s->connections, 1);
}

/* A connected socket remembers its VIP and backend in its own storage
 * (freed with the socket: no map to fill up), for getpeername()/recvmsg()
 * and, when counting, for the sockops health counters. */
static __always_inline void remember_socket(struct bpf_sock_addr *ctx, __u32 id,
					    const struct split_backend_val *be,
					    const struct split_svc_key *vip, __be16 port)
{
	struct split_sk_backend *t;
	struct bpf_sock *sk = ctx->sk;

	if (!sk)
		return;
	t = bpf_sk_storage_get(&sk_backend, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!t)
		return;
	t->backend_id = id;
	t->svc_id = be->svc_id;
	t->version_id = be->version_id;
	t->flags = split_no_count || ctx->protocol != IPPROTO_TCP ? 0 : SPLIT_SK_F_COUNT;
	__builtin_memcpy(t->vip, vip->addr, sizeof(t->vip));
	__builtin_memcpy(t->addr, be->addr, sizeof(t->addr));
	t->vport = vip->port;
	t->port = port;
	t->family = vip->family;
}

/* Is a socket of splitd's listening at the address l names? Its sockets
 * leave l7_listen_sk when they close, also when splitd is killed. */
static __always_inline int l7_listening(const struct split_l7_listen_val *l)
{
	struct split_l7_sk_key k = {};
	struct bpf_sock *sk;
	int ok;

	__builtin_memcpy(k.addr, l->addr, sizeof(k.addr));
	k.port = l->port;
	k.family = l->family;
	sk = bpf_map_lookup_elem(&l7_listen_sk, &k);
	if (!sk)
		return 0;
	ok = sk->state == BPF_TCP_LISTEN;
	bpf_sk_release(sk);
	return ok;
}

/* A TCP connect() to an L7 service goes to splitd's proxy listener for
 * that VIP:port, if that listener exists (l7_listen_sk) and splitd is not
 * frozen (heartbeat); the socket remembers the VIP for getpeername(). Not
 * counted here: the proxy counts requests. */
static __always_inline int to_l7_proxy(struct bpf_sock_addr *ctx, int v6,
				       const struct split_svc_key *key, __u32 svc_id)
{
	struct split_l7_listen_val *l;
	struct split_sk_backend *t;
	__s64 age;

	if (ctx->protocol != IPPROTO_TCP)
		return 0;
	l = bpf_map_lookup_elem(&l7_listen, key);
	if (!l || l->family != key->family)
		return 0;
	age = (__s64)(bpf_ktime_get_ns() - l->heartbeat_ns);
	if (age > (__s64)SPLIT_L7_STALE_NS)
		return 0;	/* splitd is frozen or gone: split at L4 */
	if (!l7_listening(l))
		return 0;	/* no listener (splitd died, or stops): split at L4 */
	write_dst(ctx, v6, key->family, l->addr, l->port);
	if (ctx->sk) {
		t = bpf_sk_storage_get(&sk_backend, ctx->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (t) {
			t->backend_id = 0;
			t->svc_id = svc_id;
			t->version_id = 0;
			t->flags = 0;
			__builtin_memcpy(t->vip, key->addr, sizeof(t->vip));
			__builtin_memcpy(t->addr, l->addr, sizeof(t->addr));
			t->vport = key->port;
			t->port = l->port;
			t->family = key->family;
		}
	}
	return 1;
}

/* splitd's own sockets (its cgroup: its pod on a Kubernetes node) go where
 * they are sent: the L7 proxy's upstream connections must reach the
 * endpoint it chose, even when that address is itself a VIP. */
static __always_inline int from_splitd(void)
{
	__u32 k = 0;
	__u64 *id = bpf_map_lookup_elem(&self_cgroup, &k);

	return id && *id && *id == bpf_get_current_cgroup_id();
}

static __always_inline int do_connect(struct bpf_sock_addr *ctx, int v6)
{
	struct split_svc_key key = {};
	struct split_backend_val *be;
	struct split_svc_val *sv;
	__u32 id;

	sv = lookup_svc(ctx, v6, ctx->protocol, &key);
	if (!sv || from_splitd())
		return 1;
	if ((sv->flags & SPLIT_SVC_F_L7) && to_l7_proxy(ctx, v6, &key, sv->svc_id))
		return 1;
	be = split_pick(sv, bpf_get_prandom_u32(), &id);
	if (!be || be->family != key.family)
		return 0;
	write_dst(ctx, v6, key.family, be->addr, sv->target_port);
	remember_socket(ctx, id, be, &key, sv->target_port);
	count_choice(id, be);
	return 1;
}

static __always_inline int do_sendmsg(struct bpf_sock_addr *ctx, int v6)
{
	struct split_svc_key key = {};
	struct split_udp_aff_key ak = {};
	struct split_udp_aff_val av = {};
	struct split_udp_aff_val *a;
	struct split_backend_val *be = NULL;
	struct split_svc_val *sv;
	__u32 id;

	sv = lookup_svc(ctx, v6, IPPROTO_UDP, &key);
	if (!sv || from_splitd())
		return 1;
	ak.cookie = bpf_get_socket_cookie(ctx);
	__builtin_memcpy(ak.addr, key.addr, sizeof(ak.addr));
	ak.port = key.port;
	ak.family = key.family;
	a = bpf_map_lookup_elem(&udp_aff, &ak);
	if (a) {
		id = a->backend_id;
		be = bpf_map_lookup_elem(&backends, &id);
		/* The backend left the service: pick again. */
		if (be && (be->svc_id != sv->svc_id || be->family != key.family))
			be = NULL;
	}
	if (!be) {
		be = split_pick(sv, bpf_get_prandom_u32(), &id);
		if (!be || be->family != key.family)
			return 0;
		av.backend_id = id;
		bpf_map_update_elem(&udp_aff, &ak, &av, BPF_ANY);
		count_choice(id, be);	/* a new affinity, not every datagram */
	}
	write_dst(ctx, v6, key.family, be->addr, sv->target_port);
	record_nat(ctx, &key, be, sv->target_port);
	return 1;
}

/* Peer of a rewritten socket -> VIP (getpeername, recvmsg): from the
 * socket's storage (connected sockets), else from sock_nat (unconnected
 * UDP, which may talk to several VIPs). */
static __always_inline int do_revnat(struct bpf_sock_addr *ctx, int v6)
{
	struct split_sock_nat_key nk = {};
	struct split_sock_nat_val *nv;
	struct split_sk_backend *t;

	nk.family = (__u8)read_dst(ctx, v6, nk.addr, &nk.port);
	if (ctx->sk) {
		t = bpf_sk_storage_get(&sk_backend, ctx->sk, 0, 0);
		if (t && t->family == nk.family && t->port == nk.port &&
		    t->addr[0] == nk.addr[0] && t->addr[1] == nk.addr[1] &&
		    t->addr[2] == nk.addr[2] && t->addr[3] == nk.addr[3]) {
			write_dst(ctx, v6, nk.family, t->vip, t->vport);
			return 1;
		}
	}
	/* sock_nat holds UDP sends only (record_nat): a TCP socket's VIP is in
	 * its storage or nowhere. Spares every accept(2) of a listener in the
	 * cgroup (the kernel runs this hook for the peer's address) a cookie
	 * and an LRU lookup. */
	if (ctx->protocol == IPPROTO_TCP)
		return 1;
	nk.cookie = bpf_get_socket_cookie(ctx);
	nv = bpf_map_lookup_elem(&sock_nat, &nk);
	if (nv)
		write_dst(ctx, v6, nk.family, nv->addr, nv->port);
	return 1;
}

/* The entry points, one per hook and family: split_connect4, split_connect6,
 * split_sendmsg4, ..., split_getpeername6 (the names the skeleton gives
 * splitd). */
#define SOCK_ADDR_PROG(hook, fn, v6)					\
	SEC("cgroup/" #hook)						\
	int split_##hook(struct bpf_sock_addr *ctx)			\
	{								\
		return fn(ctx, v6);					\
	}

SOCK_ADDR_PROG(connect4, do_connect, 0)
SOCK_ADDR_PROG(connect6, do_connect, 1)
SOCK_ADDR_PROG(sendmsg4, do_sendmsg, 0)
SOCK_ADDR_PROG(sendmsg6, do_sendmsg, 1)
SOCK_ADDR_PROG(recvmsg4, do_revnat, 0)
SOCK_ADDR_PROG(recvmsg6, do_revnat, 1)
SOCK_ADDR_PROG(getpeername4, do_revnat, 0)
SOCK_ADDR_PROG(getpeername6, do_revnat, 1)
