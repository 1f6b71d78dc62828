// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * l7listen.c - the L7 proxy's listening sockets in l7_listen_sk, the
 * witness the connect hooks check before they send a connection to the
 * proxy. See l7listen.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include <bpf/bpf.h>

#include "l7listen.h"
#include "state.h"

void l7_listener_key(struct split_l7_sk_key *k, const struct split_addr *addr,
		     uint16_t port)
{
	memset(k, 0, sizeof(*k));
	split_addr_to_be(k->addr, addr);
	k->port = htons(port);
	k->family = addr->family;
}

int l7_listener_publish(int map_fd, int listen_fd)
{
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	} u;
	socklen_t len = sizeof(u), ol;
	struct split_l7_sk_key k;
	struct split_addr a = { 0 };
	int on = 0, proto = 0;
	uint16_t port;
	__u64 v;

	ol = sizeof(on);
	if (getsockopt(listen_fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &ol))
		return -errno;
	ol = sizeof(proto);
	if (getsockopt(listen_fd, SOL_SOCKET, SO_PROTOCOL, &proto, &ol))
		return -errno;
	if (!on || proto != IPPROTO_TCP) {
		return -EINVAL;
	}
	if (getsockname(listen_fd, &u.sa, &len))
		return -errno;
	if (u.sa.sa_family == AF_INET) {
		a.family = 4;
		memcpy(a.bytes, &u.in.sin_addr, 4);
		port = ntohs(u.in.sin_port);
	} else if (u.sa.sa_family == AF_INET6) {
		a.family = 6;
		memcpy(a.bytes, &u.in6.sin6_addr, 16);
		port = ntohs(u.in6.sin6_port);
	} else {
		return -EINVAL;
	}
	if (!port) {
		return -EINVAL;
	}
	l7_listener_key(&k, &a, port);
	v = (__u64)listen_fd;
	return bpf_map_update_elem(map_fd, &k, &v, BPF_ANY) ? -errno : 0;
}

int l7_listener_unpublish(int map_fd, const struct split_addr *addr, uint16_t port)
{
	struct split_l7_sk_key k;

	l7_listener_key(&k, addr, port);
	return bpf_map_delete_elem(map_fd, &k) ? -errno : 0;
}

int l7_listener_present(int map_fd, const struct split_addr *addr, uint16_t port)
{
	struct split_l7_sk_key k;
	__u64 cookie;

	l7_listener_key(&k, addr, port);
	if (!bpf_map_lookup_elem(map_fd, &k, &cookie))
		return 1;
	return errno == ENOENT ? 0 : -errno;
}
