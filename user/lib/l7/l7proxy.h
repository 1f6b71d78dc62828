/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * l7proxy.h - the L7 proxy engine: an HTTP/1.1 routing proxy that applies
 * a service's Istio rules (istio.h) to every request.
 *
 * One listener per L7 service port: the listener a connection arrives on
 * names its service. The engine (user/lib/l7/, one module per layer) runs
 * one worker per CPU by default: each is a thread with its own epoll loop
 * (edge-triggered), its own SO_REUSEPORT socket on every listening port
 * (the kernel spreads connections over them), its own upstream pool,
 * timers and counters; a request takes no lock and allocates nothing. An
 * idle keep-alive connection holds no buffer. Per request:
 *
 *   read the head (http_parser, in place), build a struct
 *   split_http_request with the headers the rules look at, run
 *   split_rules_match(); the matching route's destinations are chosen by
 *   weight, then an endpoint of that version at random. No route matched
 *   (RouteRule), or no rules: the service's default weights. A
 *   VirtualService that matches nothing answers 404, as Istio does.
 *
 * Then the head and the body (Content-Length or chunked) are streamed to
 * the endpoint, full duplex with the response (Expect: 100-continue and
 * early answers work), the response is relayed (Content-Length, chunked,
 * close-delimited, HEAD, 1xx, 204/304), and the next request of the
 * keep-alive connection is routed on its own. Pipelined requests are
 * served in order. Upstream connections are pooled per endpoint and
 * worker across client connections; idle ones are closed after
 * pool_idle_ms, and at once when the upstream closes them.
 *
 * Upgrade (101) and CONNECT (2xx): routed once, then bytes are relayed
 * both ways in the kernel by sockmap (an sk_skb verdict redirects each
 * skb to the other socket, l7sockmap.h) if it was given, passed its
 * probe and is not switched off; else with splice(2) (read/write if
 * splice is refused). A connection whose first bytes are not an HTTP/1.x
 * request line (TLS, the HTTP/2 preface, garbage) is relayed the same way
 * to an endpoint chosen by the default weights, and counted as non-HTTP.
 * A line that is an HTTP/1.x request line the parser refuses (an
 * extension method, a space in the target) is answered (501, 400), never
 * relayed: nothing pipelined behind it escapes the rules.
 *
 * Answers of the proxy itself, after which the connection closes:
 *   400  malformed request (a request line followed by garbage, obs-fold,
 *        a header name that is not a token, Transfer-Encoding without a
 *        final chunked, both Content-Length and chunked, bad chunks)
 *   404  VirtualService: no route matches
 *   501  an extension method (FOO / HTTP/1.1)
 *   408  the head did not arrive within header_timeout_ms of its first byte
 *   431  head larger than max_head_bytes, or more than max_headers fields
 *   502  the upstream's response is broken (before any of it was relayed)
 *   503  no endpoint for the chosen destination, or connect failed
 *   504  the upstream did not answer within idle_timeout_ms
 *
 * The proxy connects only to endpoints given with l7_proxy_set_service(),
 * never to an address taken from a request. Requests are forwarded as the
 * client sent them (no header is added), except that an HTTP/1.1
 * request's "Connection: close" line is the proxy's own business
 * (hop-by-hop): it closes the client connection after the response and
 * keeps the upstream one for reuse. Responses are relayed as they come,
 * with at most two lines added at the end of a final (non-1xx) head:
 * "Connection: close" when the client connection closes after it, and
 * the sticky cookie's Set-Cookie (below). A destination is
 * chosen by its version label only: its other labels and its port are
 * the caller's business (give the endpoints of that port).
 */
#ifndef SPLIT_L7PROXY_H
#define SPLIT_L7PROXY_H

#include <stddef.h>
#include <stdint.h>

#include "istio.h"
#include "model.h"

struct l7_proxy;

enum { L7_IO_AUTO, L7_IO_EPOLL, L7_IO_URING };

struct l7_proxy_opts {
	size_t max_head_bytes;		/* request line + headers; 0: 16 KiB,
					 * at most 64 KiB (431) */
	unsigned max_headers;		/* header fields; 0: 100 (431) */
	unsigned idle_timeout_ms;	/* no progress in an exchange (504) or
					 * a tunnel; 0: 300 s */
	unsigned header_timeout_ms;	/* first byte to end of head; 0: 10 s (408) */
	unsigned connect_timeout_ms;	/* upstream connect; 0: 3 s (503) */
	unsigned max_connections;	/* client connections at once; 0: 3/4
					 * of RLIMIT_NOFILE (raised to its hard
					 * limit), at most 65536. At the limit the
					 * oldest idle one is closed to make room;
					 * none idle: the new one is closed */
	unsigned pool_idle_ms;		/* idle upstream connection kept; 0: 30 s
					 * (closed on a timer) */
	unsigned pool_max_idle;		/* idle upstream connections per worker,
					 * all endpoints; 0: 1024 */
	/* A new connection that sends nothing for this long is relayed at L4
	 * (server-first protocols); 0: never (wait idle_timeout_ms, close). */
	unsigned first_byte_timeout_ms;
	/* TCP_DEFER_ACCEPT on the listeners: the kernel hands over a new
	 * connection when its first bytes arrive (one wakeup for the
	 * handshake and the request, not two), or, if it sends nothing,
	 * after about this many seconds (a SYN-ACK retransmit); 0: off.
	 * Off whenever first_byte_timeout_ms is set (a server-first client
	 * must be accepted at once) or skmsg is (the client's first write is
	 * redirected only if the proxy's end already exists). */
	unsigned defer_accept_s;
	int no_splice;			/* tunnels with read/write only */
	/* Tunnels in the kernel: the ELF image of split_l7_sockmap.bpf.o
	 * (its skeleton's elf_bytes). Given and no_sockmap unset,
	 * l7_proxy_new() loads it and probes the kernel (a loopback tunnel,
	 * about 50 ms); if that fails, the reason is logged once and
	 * tunnels use splice. NULL: no sockmap. */
	const void *sockmap_obj;
	size_t sockmap_obj_len;
	int no_sockmap;			/* never sockmap (the switch) */
	int sockmap_trust;		/* benchmarks only: skip the probe */
	/* The client sockets take part in sk_msg redirects (l7skmsg.h): the
	 * bytes they receive wait in their psock's queue, which splice(2) and
	 * the sk_skb verdict do not read. Tunnels then read and write. */
	int skmsg;
	unsigned workers;		/* event loops (threads); 0: one per
					 * CPU; at most L7_MAX_WORKERS */
	unsigned keepalive_timeout_ms;	/* idle between requests; 0: 60 s */
	/* The workers' event loops: L7_IO_EPOLL (edge-triggered epoll) or
	 * L7_IO_URING (io_uring: recvs into provided buffers, sends batched
	 * into one submit per loop turn). L7_IO_AUTO (0): the default,
	 * io_uring, or epoll if the sockmap relay is asked for (sockmap_obj
	 * given, no_sockmap unset) or skmsg is on. io_uring is probed at
	 * l7_proxy_new(); if the kernel refuses it the workers run epoll and
	 * l7_proxy_io() says why. */
	int io;
	unsigned max_per_source;	/* connections from one client address;
					 * 0: max_connections / 2. At the limit
					 * its oldest idle one is closed to make
					 * room, or (none idle) the new one */
	/* Both limits are kept by each worker for its share (limit /
	 * workers, rounded up for max_per_source): no lock or shared counter
	 * at accept; SO_REUSEPORT spreads one address's connections over the
	 * workers by their ports. */
};

#define L7_MAX_WORKERS	64

struct l7_upstream {
	struct split_addr addr;
	uint16_t port;			/* host order */
	char version[SPLIT_NAME_LEN];	/* its version label */
	/* Its identity in the datapath's maps (backends, weights), for the
	 * sockops health counters (l7_proxy_tag_upstreams); backend_id 0:
	 * none, the proxy's connections to it are not tagged. */
	uint32_t backend_id, svc_id, version_id;
};

/* What the proxy needs to route one service. Everything is copied by
 * l7_proxy_set_service(): the caller may free it right after. */
struct l7_service {
	const struct split_rules_service *rules;	/* NULL: default split only */
	const struct l7_upstream *eps;
	size_t neps;
	/* The default split: weight of versions[i] is default_weights[i].
	 * Versions not listed get 0. default_weights NULL: every endpoint an
	 * equal share (Kubernetes without a route). */
	const char *const *versions;
	const uint32_t *default_weights;
	size_t nversions;
	/*
	 * Sticky sessions (a rollout's --sticky-cookie): the cookie's name,
	 * an HTTP token of at most SPLIT_NAME_LEN - 1 characters (EINVAL
	 * otherwise); NULL or "": none. For a request that no match rule
	 * takes (it reaches a route without a match block, or the default
	 * split) and that is not an upgrade or CONNECT:
	 *   - a Cookie header carrying NAME=VERSION, where VERSION has
	 *     endpoints and a weight above 0 in that route (or the default
	 *     split), sends it to VERSION, whatever the weights say;
	 *   - else it is routed by the weights, and the final response's head
	 *     gets "Set-Cookie: NAME=VERSION; Path=/; HttpOnly" naming the
	 *     version chosen (a cookie naming another version is replaced).
	 * A request a match rule takes is routed by that rule, the cookie
	 * unread and none set. The header is added in place: no allocation,
	 * and pipelining, bodies (Content-Length, chunked, to EOF), 1xx
	 * (100-continue) and keep-alive are relayed as without it.
	 */
	const char *sticky_cookie;
};

/* Counters of one version of a service; version "" holds the answers the
 * proxy gave before a version was chosen (400, 404, 408, 431). */
struct l7_version_stats {
	char version[SPLIT_NAME_LEN];
	uint64_t requests;		/* routed to this version */
	uint64_t responses[5];		/* final status 1xx (101), 2xx .. 5xx */
	uint64_t nonhttp;		/* connections relayed at L4 */
	uint64_t latency_us_sum;	/* head received -> response relayed */
};

struct l7_proxy_stats {
	uint64_t conns_accepted;
	uint64_t conns_rejected;	/* over a limit with none idle to close */
	uint64_t conns_evicted;		/* idle ones closed to make room */
	uint64_t conns_active;
	uint64_t upstream_connects;	/* new upstream connections */
	uint64_t upstream_reused;	/* requests sent on a pooled connection */
	uint64_t upstream_retries;	/* a pooled connection was found closed */
	uint64_t tunnels;		/* upgrade, CONNECT and non-HTTP relays */
	uint64_t spliced_bytes;		/* bytes moved by splice(2) */
	uint64_t sockmap_tunnels;	/* tunnels whose sockets were both put
					 * in the sockmap */
	uint64_t sockmap_bytes;		/* bytes redirected by its verdict */
	uint64_t threads_started;	/* workers, and sockmap relay threads */
	uint64_t pool_reaped;		/* idle upstream connections timed out */
	uint64_t pool_peer_closed;	/* pooled ones the upstream closed */
	unsigned workers;
	uint64_t worker_accepted[L7_MAX_WORKERS];	/* per worker */
};

/* NULL opts: all defaults. NULL on failure (errno). The functions below
 * that can fail return a negative errno (and leave errno set too). */
struct l7_proxy *l7_proxy_new(const struct l7_proxy_opts *o);

/* Listen on addr:port (port 0: the kernel chooses) for the service
 * svc_key. Returns the bound port (host order), or -errno. May be
 * called while l7_proxy_run() runs. */
int l7_proxy_listen(struct l7_proxy *p, const struct split_addr *addr,
		    uint16_t port, void *svc_key);
/* Close the listeners of svc_key; its connections carry on. */
void l7_proxy_unlisten(struct l7_proxy *p, void *svc_key);
/* A new fd (close it) on one of svc_key's listening sockets, for
 * l7_listener_publish(); -ENOENT if it has none. */
int l7_proxy_listen_fd(struct l7_proxy *p, void *svc_key);

/* Set (or with svc NULL, remove) the routing of svc_key. Atomic with
 * respect to requests: each request is routed with the old or the new
 * version, never a mix. Returns 0, or -errno (-EINVAL: a version
 * with no name, rules that cannot be copied; -ENOMEM). */
int l7_proxy_set_service(struct l7_proxy *p, void *svc_key,
			 const struct l7_service *svc);

/* Serve until l7_proxy_stop(): the workers run (worker 0 in the calling
 * thread); a connection in the middle of a request holds about 80 KiB of
 * buffers with the default limits, an idle one about 1 KiB. Returns 0
 * once every connection has ended, -EAGAIN if a worker could not start
 * (the others served), -EBUSY if it runs already. A proxy runs
 * once: after l7_proxy_stop(), l7_proxy_run() returns at once. */
int l7_proxy_run(struct l7_proxy *p);
/* Make l7_proxy_run() return: listeners stop, connections are cut.
 * Async-signal-safe (one write to an eventfd). */
void l7_proxy_stop(struct l7_proxy *p);
/* Graceful stop, while l7_proxy_run() runs: accept what is queued, close
 * every listener, close keep-alive connections between requests, let
 * requests in flight finish (their responses say Connection: close, then
 * the connection closes). Returns 0 once no connection is left, or, when
 * deadline_ms passed first, how many are left (l7_proxy_stop() cuts
 * them). Not async-signal-safe; never from a worker. */
int l7_proxy_drain(struct l7_proxy *p, unsigned deadline_ms);
unsigned l7_proxy_workers(const struct l7_proxy *p);
/* Tag every new upstream connection to an endpoint with a backend_id in
 * the socket-local storage map sk_storage_fd (the datapath's pinned
 * sk_backend) before its connect(), as the connect hooks tag a client's
 * socket: the sockops program then counts its TCP health (established,
 * failed connects, resets, retransmits, RTT) for that backend and
 * version, if the proxy's sockets are in the cgroup sockops is attached
 * to. One bpf() call per new upstream connection (pooled ones are
 * reused). -1: stop tagging. The caller keeps the fd open. */
void l7_proxy_tag_upstreams(struct l7_proxy *p, int sk_storage_fd);
/* After l7_proxy_run() has returned (or was never called). */
void l7_proxy_free(struct l7_proxy *p);

/* Copy up to max version counters of svc_key into out (version "" first,
 * then in the order versions were first seen). Returns how many there
 * are (may be > max), or -ENOENT if svc_key is unknown. */
int l7_proxy_service_stats(struct l7_proxy *p, void *svc_key,
			   struct l7_version_stats *out, size_t max);
void l7_proxy_stats(struct l7_proxy *p, struct l7_proxy_stats *out);
/* 1 if tunnels use sockmap, else 0 with why (if not NULL) saying why
 * not ("off": no object given, or no_sockmap). */
int l7_proxy_sockmap(struct l7_proxy *p, const char **why);
/* The workers' backend: L7_IO_URING or L7_IO_EPOLL; why (if not NULL):
 * a sentence on the choice (e.g. why io_uring was refused). */
int l7_proxy_io(struct l7_proxy *p, const char **why);

#endif /* SPLIT_L7PROXY_H */
