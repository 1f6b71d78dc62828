/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * l7/l7.h - the L7 engine's insides, shared by its modules (the public
 * API is ../l7proxy.h). One job per module:
 *
 *   loop.c    a worker: its epoll loop (edge-triggered), timer lists,
 *             listeners (one SO_REUSEPORT socket per worker and VIP:port),
 *             accept with the connection limits, buffer free lists
 *   conn.c    a client connection's state machine: head, exchange,
 *             local answers, lingering close, keep-alive idle
 *   http.c    HTTP/1.x framing over a buffer (http_parser), in place: the
 *             head's offsets, the request the matcher sees, responses
 *   route.c   services: routing snapshots (swapped RCU-style), the choice
 *             of a destination, per-worker counters
 *   pool.c    upstream connections per worker: non-blocking connect,
 *             idle pool reaped on a timer, peer closes noticed at once
 *   tunnel.c  Upgrade/CONNECT/non-HTTP: splice(2) (read/write fallback)
 *             in the loop; sockmap relays in a thread of their own
 *   proxy.c   the public API: workers, listeners, drain, stats
 *   drive.c   the parser paths from a buffer (tests, fuzzing)
 *   uring.c   the worker's loop on io_uring instead of epoll (opts.io):
 *             the modules above reach their sockets through l7_recv,
 *             l7_sendv, l7_shut_wr and l7_sock_close (loop.c)
 *
 * Timers: each timeout class has one duration, so a class is a FIFO list
 * kept in deadline order by appending: arming, re-arming and cancelling
 * are O(1) pointer moves, and the loop looks at the heads once per
 * iteration (its clock read is the vDSO's: no syscall).
 */
#ifndef SPLIT_L7_INT_H
#define SPLIT_L7_INT_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <http_parser.h>

#include "istio.h"
#include "l7proxy.h"

#define L7_DEF_HEAD		(16 * 1024)
#define L7_DEF_HEADERS		100
#define L7_DEF_IDLE_MS		300000
#define L7_DEF_KEEPALIVE_MS	60000
#define L7_DEF_HEADER_MS	10000
#define L7_DEF_CONNECT_MS	3000
#define L7_DEF_MAX_CONNS	65536
#define L7_DEF_POOL_IDLE_MS	30000
#define L7_DEF_POOL_MAX		1024
#define L7_DEF_DRAIN_MS		5000
#define L7_MAX_HEAD		(64 * 1024)	/* cap on max_head_bytes */
#define L7_BUF_EXTRA		(32 * 1024)	/* request buffer beyond a head */
#define L7_RESP_BUF		(32 * 1024)
#define L7_MAX_PARAMS		64
#define L7_CTR_SLOTS		256		/* versions counted per service */
#define L7_PIPE_CAP		(64 * 1024)
#define L7_POOL_BUCKETS		256
#define L7_SRC_BUCKETS		1024
#define L7_LINGER_MS		1000
#define L7_LINGER_BYTES		(1024 * 1024)
#define L7_REPLY_MS		2000
#define L7_FREE_BUFS		64		/* idle buffers kept per worker */
#define L7_FREE_CONNS		256		/* idle conn structs kept */
#define L7_MAX_EVENTS		256
#define L7_ROUTE_HDRS		16		/* header names the rules look at */
/* "Set-Cookie: NAME=VERSION; Path=/; HttpOnly\r\n", both names < 64 */
#define L7_SETCK_MAX		(12 + 2 * SPLIT_NAME_LEN + 20)
#define L7_CC_LINE		"Connection: close\r\n"
#define L7_CC_LEN		(sizeof(L7_CC_LINE) - 1)

/* ---- sockets under the io_uring backend (uring.c) ------------------------------ */

struct l7_txc;				/* a chunk of bytes to send (uring.c) */

/*
 * One socket of a worker whose loop runs on io_uring (w->ring): the bytes
 * its one armed recv brought (a provided buffer), what the engine wrote
 * and the ring has not sent yet (copied: the engine's buffers move on at
 * once), and how many of its requests are still in the ring (the struct
 * holding it is not reused before they are all back). Zeroed and unused
 * under epoll.
 */
struct l7_io {
	uint8_t *tag;			/* the owner (l7_conn, upconn) */
	struct l7_io *dnext;		/* the ring's send list */
	struct l7_io *snext;		/* the ring's starved list */
	struct l7_txc *stage, *fly;	/* being filled; in the ring */
	int fd;				/* -1: closed (or closing below) */
	unsigned inflight;		/* its requests in the ring */
	uint32_t rx_off, rx_len;	/* the unread part of buffer rx_bid */
	uint16_t rx_bid;
	bool open, rx_have, rx_armed, rx_eof, tx_err, want_wr, shut_pending,
	     closing, dirty, starved;
	int rx_err;			/* the recv's error (sticky) */
};

union l7_sa {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
	struct sockaddr_storage ss;
};

socklen_t l7_sa_from(union l7_sa *u, const struct split_addr *a,
		     uint16_t port);

/* Counter writes: one writer (the worker), readers anywhere. A relaxed
 * store of the sum: a plain add on x86, no lock prefix. */
#define CTR_ADD(c, v) __atomic_store_n(&(c), (c) + (v), __ATOMIC_RELAXED)
#define CTR_GET(c) __atomic_load_n(&(c), __ATOMIC_RELAXED)

uint64_t l7_now_us(void);

/* RFC 9110 tchar: header names, methods, cookie names. */
static inline bool l7_is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '!' || c == '#' || c == '$' ||
	       c == '%' || c == '&' || c == '\'' || c == '*' || c == '+' ||
	       c == '-' || c == '.' || c == '^' || c == '_' || c == '`' ||
	       c == '|' || c == '~';
}

/* ---- timers ---------------------------------------------------------------- */

enum {
	T_KEEPALIVE,		/* idle between requests (and before the first) */
	T_FIRST_BYTE,		/* first_byte_timeout_ms: relay at L4 */
	T_HEAD,			/* first byte of a head to its end: 408 */
	T_IO,			/* no progress in an exchange or tunnel: 504 */
	T_CONNECT,		/* upstream connect: 503 */
	T_REPLY,		/* writing the proxy's own answer */
	T_LINGER,		/* reading what the client still sends */
	T_POOL,			/* an idle pooled upstream connection */
	T_NCLASSES,
};

struct tnode {
	struct tnode *prev, *next;
	uint64_t deadline;	/* ms */
	int8_t cls;		/* -1: not armed */
};

struct tlist {
	struct tnode head;	/* circular */
	unsigned ms;
};

/* ---- services -------------------------------------------------------------- */

struct l7_ctr {
	uint64_t requests;
	uint64_t responses[5];
	uint64_t nonhttp;
	uint64_t latency_us;
};

struct snap_ver {
	char name[SPLIT_NAME_LEN];
	uint32_t weight;
	size_t *eps;
	size_t neps;
	unsigned ctr;			/* counter slot */
	uint16_t setck_len;		/* its Set-Cookie line (sticky), 0: none */
};

struct snap_dest {
	long ver;			/* index into vers; -1: every endpoint */
	uint32_t weight;
};

struct snap_route {
	struct snap_dest *dests;
	size_t ndests;
	uint64_t total;
};

struct l7_snap {
	struct l7_snap *retired_next;
	uint64_t retired_epoch;
	struct split_rules rules;
	const struct split_rules_service *svc;
	bool vs;
	struct l7_upstream *eps;
	union l7_sa *ep_sa;		/* eps as socket addresses */
	socklen_t *ep_salen;
	size_t neps;
	size_t *ep_ver;
	struct snap_ver *vers;
	size_t nvers;
	size_t *ep_idx;
	struct snap_route *routes;
	size_t nroutes;
	struct snap_dest *dest_store;
	bool uniform;
	uint64_t default_total;
	/* the header names the rules look at (lower case); all_hdrs: too
	 * many to list, give the matcher every header */
	char *hdr_names[L7_ROUTE_HDRS];
	size_t hdr_lens[L7_ROUTE_HDRS];
	unsigned nhdr_names;
	bool all_hdrs;
	/* sticky sessions: the cookie's name (sticky_len 0: off), and per
	 * version its Set-Cookie line at setck + v * L7_SETCK_MAX */
	char sticky[SPLIT_NAME_LEN];
	size_t sticky_len;
	char *setck;
};

struct l7_entry {
	struct l7_entry *next;
	void *key;
	struct l7_snap *snap;		/* atomic pointer; readers: workers */
	char names[L7_CTR_SLOTS][SPLIT_NAME_LEN];	/* slot 0: "" */
	unsigned nctr;			/* slots used (release store) */
	struct l7_ctr *ctr;		/* [worker][slot]; one extra "worker"
					 * for answers given outside a worker */
};

struct l7_pick {
	int status;			/* 0, or the proxy's answer (404, 503) */
	int route;			/* matched route, -1 none */
	socklen_t salen;
	uint32_t backend_id, svc_id, version_id;	/* the endpoint's, for tags */
	union l7_sa sa;
	unsigned ctr;			/* counter slot */
	long sticky_ver;		/* version to name in a Set-Cookie, -1: none */
};

struct l7_proxy;
struct l7_worker;

struct l7_entry *l7_entry_find(struct l7_proxy *p, void *key, bool create);
void l7_entry_free(struct l7_entry *e);
struct l7_snap *l7_snap_build(struct l7_proxy *p, struct l7_entry *e,
			      const struct l7_service *in);
void l7_snap_free(struct l7_snap *s);
/* The service's snapshot: valid until the caller's loop iteration ends. */
struct l7_snap *l7_snap_cur(struct l7_entry *e);
/* Route a request (req NULL: a non-HTTP connection, default split); s
 * NULL (no routing): 503. ck, cklen: the value of the request's sticky
 * cookie (NULL: none, or not looked for). */
void l7_route(const struct l7_snap *s, const struct split_http_request *req,
	      const char *ck, size_t cklen, struct l7_pick *out);
static inline struct l7_ctr *l7_ctr_of(struct l7_entry *e, unsigned widx,
				       unsigned slot)
{
	return &e->ctr[(size_t)widx * L7_CTR_SLOTS + slot];
}
uint64_t l7_rnd(void);

/* ---- HTTP ------------------------------------------------------------------ */

struct hdr_off {
	uint32_t name_off, name_len;
	uint32_t value_off, value_len;
};

struct side {
	http_parser hp;
	char *buf;
	size_t cap;
	size_t sent, parsed, end;
	size_t msg_start;		/* SIZE_MAX: no longer in buf */
	bool head_done, msg_done, keepalive;
	struct hdr_off *hdrs;
	unsigned nhdrs, max_hdrs;
	size_t skip_from, skip_to;
	bool close_stripped;
	/* Lines inserted before the end of a final response head: inj[0,
	 * inj_ck) (the sticky cookie), then L7_CC_LINE if inject_close and
	 * the response is keep-alive; inj_len: what this head gets. */
	bool inject_close, inject_pending;
	const char *inj;
	uint16_t inj_ck, inj_len;
	size_t inject_at, inject_sent;
	size_t url_off, url_len;
	bool url_seen, last_was_value, bad_head, too_many, upgrade;
	int status;
	int req_method;
	bool req_upgrade;
};

enum { HS_MORE, HS_DONE, HS_400, HS_431, HS_501, HS_NONHTTP };
enum { RP_MORE, RP_DONE, RP_BROKEN };

extern const http_parser_settings l7_rq_settings;
void l7_side_attach(struct side *s, char *buf, size_t cap,
		    struct hdr_off *hdrs, unsigned max_hdrs);
int l7_side_parse(struct side *s, const http_parser_settings *st);
void l7_side_make_room(struct side *s);
void l7_side_begin_request(struct side *s);
void l7_side_begin_response(struct side *s, int method, bool upgrade);
void l7_plan_strip_close(struct side *q);
int l7_head_step(struct side *s, const struct l7_proxy_opts *o, bool first);
void l7_build_request(struct side *s, const struct l7_snap *snap,
		      struct split_http_request *req,
		      struct split_http_header *hv,
		      struct split_http_param *params);
/* The value of cookie name in the request head's Cookie headers (the
 * first of that name; quotes taken off): true and *val, *vlen, or false. */
bool l7_find_cookie(const struct side *s, const char *name, size_t nlen,
		    const char **val, size_t *vlen);
int l7_resp_step(struct side *s, bool eof, bool *eof_framed);

/* ---- workers, connections ---------------------------------------------------- */

enum { EV_LISTEN = 1, EV_CLIENT, EV_UP, EV_WAKE, EV_STOP };

struct l7_group;

struct wl {				/* a worker's listening socket */
	uint8_t type;			/* EV_LISTEN */
	int fd;
	bool registered;
	struct l7_group *g;
};

struct l7_group {			/* one l7_proxy_listen() */
	struct l7_group *next;
	struct l7_entry *e;
	void *key;
	bool closing;
	struct wl *wl;			/* [nworkers] */
};

struct upconn {
	uint8_t type;			/* EV_UP */
	bool rd, wr, connecting, err, hup;
	int fd;
	unsigned bucket;
	union l7_sa sa;
	socklen_t salen;
	struct l7_conn *owner;		/* NULL: pooled or free */
	struct l7_io io;		/* io_uring backend */
	struct upconn *pprev, *pnext;	/* pool bucket, or free list */
	struct tnode t;			/* T_CONNECT or T_POOL */
};

struct tdir {
	bool eof, shut, full, rw;
	int pipe[2];
	size_t pending;			/* in the pipe */
	char *buf;
	size_t bcap, boff, blen;	/* buffered bytes [boff, blen) */
};

struct src;

enum { C_HEAD, C_EXCH, C_TUNNEL, C_REPLY, C_LINGER, C_DEAD };

struct l7_conn {
	uint8_t type;			/* EV_CLIENT */
	bool rd, wr, hup;
	uint8_t state;
	bool idle;			/* between requests, no buffers */
	bool have;			/* head bytes seen (T_HEAD armed) */
	bool nonhttp;			/* tunnel of a non-HTTP connection */
	bool draining_close;		/* close after this response */
	int cfd;
	struct l7_worker *w;
	struct l7_entry *e;
	struct src *src;
	struct l7_conn *sprev, *snext;	/* src's idle list; free list */
	struct l7_conn *aprev, *anext;	/* the worker's connections */
	struct tnode t;
	unsigned nreq;
	struct side rq, rs;
	struct upconn *up;
	struct l7_pick pk;
	uint64_t t0_us;
	/* the exchange */
	bool cl_eof, up_eof, resp_done, got, relayed, reused, eof_framed,
	     retried;
	int fail;
	/* the tunnel */
	struct tdir d[2];
	/* the proxy's own answer (C_REPLY); during an exchange, the lines
	 * inserted into the response head (msg[0, inj_ck): the sticky
	 * cookie's, then L7_CC_LINE; see struct side) */
	char msg[256];
	uint16_t mlen, moff;
	uint16_t inj_ck;
	size_t lingered;
	struct l7_io io;		/* io_uring backend */
};

struct src {
	struct src *next;
	uint8_t family;
	uint8_t addr[16];
	unsigned count;
	struct l7_conn *idle_head, *idle_tail;	/* oldest first */
};

struct bufblk {
	struct bufblk *next;
};

struct l7_wstats {
	uint64_t accepted, rejected, evicted, active;
	uint64_t upstream_connects, upstream_reused, upstream_retries;
	uint64_t pool_reaped, pool_peer_closed;
	uint64_t tunnels, spliced_bytes;
};

struct l7_uring;

struct l7_worker {
	struct l7_proxy *p;
	unsigned idx;
	pthread_t tid;
	struct l7_uring *ring;		/* the io_uring backend; NULL: epoll */
	int epfd;
	int wakefd;
	uint8_t wake_type, stop_type;	/* epoll tags */
	uint64_t now_ms;
	struct tlist tl[T_NCLASSES];
	unsigned nconns, max_conns, max_per_src;
	struct src *srcs[L7_SRC_BUCKETS];
	struct src *free_srcs;
	struct l7_conn *free_conns;
	unsigned nfree_conns;
	struct bufblk *free_rq, *free_rs;
	unsigned nfree_rq, nfree_rs;
	unsigned long freed_since_trim;
	struct upconn *pool[L7_POOL_BUCKETS];
	unsigned pool_n;
	struct upconn *free_ups, *dead_ups;
	unsigned nfree_ups;
	struct l7_conn *dead_conns;
	struct l7_conn *all;		/* every connection */
	char scratch[4096];		/* bytes read to be dropped */
	bool stopping, draining, drained_listeners;
	/* scratch for one request's routing */
	struct split_http_header *hv;
	struct split_http_param params[L7_MAX_PARAMS];
	/* quiescent-state reporting for routing snapshots */
	uint64_t qepoch __attribute__((aligned(64)));
	int blocked;
	struct l7_wstats st __attribute__((aligned(64)));
} __attribute__((aligned(64)));

struct l7_proxy {
	struct l7_proxy_opts o;
	unsigned nworkers;
	struct l7_worker *w;		/* [nworkers] */
	pthread_mutex_t mu;		/* entries, groups */
	struct l7_entry *entries;
	struct l7_group *groups;
	struct l7_group *dead_groups;	/* closed; freed with the proxy */
	int stopfd;			/* readable once stopped */
	int running;			/* workers exist */
	bool ran;
	int draining;
	uint64_t epoch;			/* snapshot swaps */
	struct l7_snap *retired;	/* under mu */
	struct l7_sockmap *sm;
	char sm_why[160];
	/* sockmap relay threads (rare: off by default) */
	pthread_mutex_t sm_mu;
	pthread_cond_t sm_cv;
	unsigned sm_threads;
	uint64_t sm_tunnels, sm_bytes, sm_active;	/* atomics */
	uint64_t extra_threads;
	int tag_fd;			/* sk_backend map, or -1 (atomic) */
	bool uring;			/* workers run on io_uring (probed) */
	char io_why[160];		/* the backend, and why */
};

/*
 * After a short read, is the client socket's queue empty (so that the next
 * bytes come with a new edge-triggered EPOLLIN)? On TCP, yes. With
 * --l7-skmsg, not always: once the client's writes moved to TCP under
 * backpressure (bpf/split_skmsg.bpf.c), the socket holds redirected bytes
 * in its psock's queue and later ones in TCP's; a read that empties the
 * psock's queue is short, the TCP bytes have already had their wake-up,
 * and none follows. Then the engine reads until EAGAIN.
 */
static inline bool l7_short_read_drains(const struct l7_proxy *p)
{
	return !p->o.skmsg;
}


/* loop.c */
int l7_worker_init(struct l7_worker *w, struct l7_proxy *p, unsigned idx);
void l7_worker_fini(struct l7_worker *w);
void *l7_worker_main(void *arg);
void l7_worker_wake(struct l7_worker *w);
void l7_timer_arm(struct l7_worker *w, struct tnode *t, int cls);
void l7_timer_cancel(struct tnode *t);
char *l7_buf_get(struct l7_worker *w, bool rq);
void l7_buf_put(struct l7_worker *w, bool rq, char *b);
int l7_ev_add(struct l7_worker *w, int fd, void *tag);
void l7_dispatch(struct l7_worker *w, uint8_t *tag, uint32_t ev);
void l7_reconcile(struct l7_worker *w);
void l7_accept_all(struct l7_worker *w, struct wl *l);
void l7_loop_tail(struct l7_worker *w, int nevents);
void l7_loop_stop(struct l7_worker *w);
bool l7_accept_retry(void);
uint64_t l7_mono_ms(void);
int l7_next_timeout(struct l7_worker *w);

/*
 * Socket I/O of the engine, whichever the backend: under epoll the plain
 * calls (non-blocking); under io_uring (uring.c) recv takes the bytes of
 * the socket's completed recv (EAGAIN: none yet, one is armed), send
 * copies into the socket's send chunk (EAGAIN: 64 KiB wait already),
 * shutdown waits for what is still to be sent, and close sends what is
 * left first (graceful), the socket's requests cancelled after.
 */
int l7_sock_add(struct l7_worker *w, struct l7_io *io, int fd, void *tag,
		bool connecting);
ssize_t l7_recv(struct l7_worker *w, struct l7_io *io, int fd, void *buf,
		size_t len);
/* last: a FIN (shutdown or close) follows these bytes at once; epoll
 * sends them with MSG_MORE so that the FIN rides on their last segment
 * (io_uring's close does the same by itself) */
ssize_t l7_sendv(struct l7_worker *w, struct l7_io *io, int fd,
		 const struct iovec *iov, int iovcnt, bool last);
ssize_t l7_send(struct l7_worker *w, struct l7_io *io, int fd,
		const void *buf, size_t len);
void l7_shut_wr(struct l7_worker *w, struct l7_io *io, int fd);
/* 1: the socket still sends (bound it with a timer), 0: closed */
int l7_sock_close(struct l7_worker *w, struct l7_io *io, int fd);
/* A dead socket's graceful close took too long: cancel it. */
void l7_sock_abort(struct l7_worker *w, struct l7_io *io);
static inline bool l7_io_busy(const struct l7_io *io)
{
	return io->inflight || io->open || io->dirty || io->starved;
}

/* uring.c */
/* Can this kernel run a worker on io_uring? 0, or -1 and why. */
int l7_uring_probe(char *why, size_t len);
/* The worker's loop on io_uring; -1: the ring could not be set up here
 * (the caller runs the epoll loop). */
int l7_uring_main(struct l7_worker *w);
int l7_uring_add(struct l7_worker *w, struct l7_io *io, int fd, void *tag,
		 bool connecting);
ssize_t l7_uring_recv(struct l7_worker *w, struct l7_io *io, void *buf,
		      size_t len);
ssize_t l7_uring_sendv(struct l7_worker *w, struct l7_io *io,
		       const struct iovec *iov, int iovcnt);
void l7_uring_shut_wr(struct l7_worker *w, struct l7_io *io);
int l7_uring_close(struct l7_worker *w, struct l7_io *io);
void l7_uring_abort(struct l7_worker *w, struct l7_io *io);
void l7_uring_listen(struct l7_worker *w, struct wl *l, bool on);
void l7_src_put(struct l7_worker *w, struct src *s);

/* conn.c */
struct l7_conn *l7_conn_new(struct l7_worker *w, int fd, struct l7_entry *e,
			    struct src *src);
void l7_conn_run(struct l7_conn *c);
void l7_conn_timeout(struct l7_conn *c, int cls);
void l7_conn_close(struct l7_conn *c);
struct l7_conn *l7_conn_all_first(struct l7_worker *w);
void l7_conn_count_status(struct l7_conn *c, unsigned slot, int status);

/* pool.c */
struct upconn *l7_pool_take(struct l7_worker *w, const union l7_sa *sa,
			    socklen_t len);
void l7_pool_put(struct l7_worker *w, struct upconn *u);
struct upconn *l7_up_connect(struct l7_worker *w, const struct l7_pick *pk);
void l7_up_close(struct l7_worker *w, struct upconn *u);
int l7_up_connected(struct l7_conn *c);
void l7_up_event(struct l7_worker *w, struct upconn *u, uint32_t ev);
void l7_pool_timeout(struct l7_worker *w, struct upconn *u);
void l7_pool_flush(struct l7_worker *w);

/* tunnel.c */
void l7_tunnel_start(struct l7_conn *c);
void l7_tunnel_run(struct l7_conn *c);
void l7_tunnel_free(struct l7_conn *c);

#endif /* SPLIT_L7_INT_H */
