// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * splitclient.c - load and check client for the traffic splitter tests.
 *
 *   splitclient --connect 10.96.0.10 --port 9080 -n 10000 --parallel 8
 *
 * Each iteration opens a new socket to the target, checks that the socket's
 * peer is still the target (the cgroup hooks must hide the backend), sends
 * one request and reads the reply, whose body is "<version> <endpoint>\n"
 * (tests/tools/httpd.c). At the end it prints, sorted:
 *
 *   total 10000 ok 10000 fail 0 peer_mismatch 0
 *   version v1 5012
 *   version v2 4988
 *   endpoint v1 10.201.1.2 2500
 *   endpoint v1 10.201.1.3 2512
 *   endpoint v2 10.201.2.2 4988
 *
 * With --set-cookie NAME it also counts the value each response's
 * Set-Cookie gives the cookie NAME ("-": none):
 *
 *   set_cookie - 12
 *   set_cookie v2 3
 *   set_cookie_mismatch 0      (a value that is not the version answering)
 *
 * Exit status: 0 if fail == 0 and peer_mismatch == 0, 1 otherwise, 2 on a
 * usage error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "../lib/tutil.h"

#define WORD_MAX	64	/* version / endpoint words */
#define RESP_MAX	65536	/* response head + body */
#define REASON_MAX	64
#define MAX_REASONS	5	/* distinct failure reasons reported */
#define REQ_MAX		8192
#define MAX_COOKIE_VALS	16	/* distinct --set-cookie values counted */

/* ---- options --------------------------------------------------------------- */

static union tu_sa g_target;
static socklen_t g_targetlen;
static const char *g_target_txt;
static int g_port;
static long g_count = 100;
static bool g_count_given;
static int g_parallel = 1;
static bool g_udp, g_udp_connected, g_same_socket;
static double g_keepalive;		/* seconds; 0 = off */
static long g_interval_ms = 100;
static bool g_allow_change;
static const char *g_logpath;
static double g_duration;		/* seconds; 0 = off */
static int g_timeout_ms = 2000;
static char g_request[REQ_MAX];		/* one-shot request */
static char g_request_ka[REQ_MAX];	/* keep-alive request */
static const char *g_host = "reviews";
static const char *g_path = "/";
static const char *g_headers[32];
static int g_nheaders;
static bool g_verbose;
static const char *g_setck;		/* --set-cookie NAME */

/* ---- shared state ------------------------------------------------------------ */

static long g_next_iter;		/* atomic: iterations handed out */
static uint64_t g_deadline_mono;	/* CLOCK_MONOTONIC ns; 0 = none */
static FILE *g_log;
static pthread_mutex_t g_log_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t g_reason_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char reason[REASON_MAX];
	long count;
} g_reasons[MAX_REASONS];
static int g_nreasons;
static long g_reasons_other;		/* failures with a reason beyond the first 5 */

struct bucket {
	char version[WORD_MAX];
	char endpoint[WORD_MAX];
	long count;
};

struct stats {
	long total, ok, fail, peer_mismatch;
	struct bucket *b;
	size_t nb, cap;
	/* --set-cookie: values seen ("-" none), and values not the version */
	struct tu_tally ck;	/* per --set-cookie value */
	long ck_mismatch;
};

struct worker {
	pthread_t th;
	int id;
	struct stats st;
};

#define STR_(x) #x
#define STR(x) STR_(x)

enum { OPT_CONNECT = 256, OPT_PORT, OPT_PARALLEL, OPT_UDP, OPT_UDPC, OPT_KA, OPT_INT, OPT_LOG,
       OPT_DUR, OPT_TMO, OPT_HDR, OPT_HOST, OPT_PATH, OPT_ALLOW, OPT_VERBOSE,
       OPT_SAME, OPT_SETCK };

static const struct tu_opt opts[] = {
	{ "connect", OPT_CONNECT, "ADDR", "target IPv4 or IPv6 address (e.g. a VIP); [v6] is ok" },
	{ "port", OPT_PORT, "PORT", "target port" },
	{ "count", 'n', "COUNT", "iterations (connections or datagrams); default 100;\n"
	  "also -n. With --duration, -n is a cap only if given." },
	{ "parallel", OPT_PARALLEL, "K", "worker threads (default 1)" },
	{ "duration", OPT_DUR, "SECONDS", "keep going until the time is up (instead of -n)" },
	{ "udp", OPT_UDP, NULL, "per iteration: new unconnected UDP socket, sendto the\n"
	  "target, recvfrom (timeout); the reply's source\n"
	  "address and port must equal the target, else\npeer_mismatch" },
	{ "udp-connected", OPT_UDPC, NULL, "per iteration: new UDP socket, connect, send, recv;\n"
	  "getpeername() and the reply source must equal the\ntarget, else peer_mismatch" },
	{ "same-socket", OPT_SAME, NULL, "with --udp / --udp-connected: each thread uses ONE\n"
	  "socket for all its iterations (made on first use,\nreplaced after a failure)" },
	{ "keepalive", OPT_KA, "SECONDS", "instead: each thread opens ONE TCP connection and\n"
	  "sends a keep-alive request on it every --interval-ms\n"
	  "for SECONDS seconds. Every response must come from\n"
	  "the same endpoint (version and address) as the\n"
	  "first, else it is a failure (endpoint_changed); so\n"
	  "is a response with \"Connection: close\"\n"
	  "(server_closed). After a connection error the\n"
	  "thread reconnects; its first endpoint stays the one\n"
	  "to match. total counts requests." },
	{ "interval-ms", OPT_INT, "MS", "request interval for --keepalive (default 100)" },
	{ "allow-endpoint-change", OPT_ALLOW, NULL, "with --keepalive: endpoint changes are not\n"
	  "failures (for per-request L7 routing)" },
	{ "header", OPT_HDR, "'NAME: VAL'", "add a request header (repeatable), e.g.\n"
	  "--header 'cookie: user=test-user'" },
	{ "host", OPT_HOST, "HOST", "Host header (default reviews)" },
	{ "set-cookie", OPT_SETCK, "NAME", "count the values responses give cookie NAME with\n"
	  "Set-Cookie (sticky sessions); see below" },
	{ "path", OPT_PATH, "PATH", "request target (default /)" },
	{ "timeout-ms", OPT_TMO, "MS", "connect / read / UDP reply timeout (default 2000)" },
	{ "log", OPT_LOG, "FILE", "one line per finished iteration:\n"
	  "  <start_ns> <end_ns> <version> <endpoint>\n"
	  "  <start_ns> <end_ns> FAIL <errno-name-or-reason>\n"
	  "CLOCK_REALTIME ns, taken just before connect() (or\n"
	  "sendto/send) and after the response" },
	{ "verbose", OPT_VERBOSE, NULL, "print every failure to stderr" },
	{ 0 },
};

static const struct tu_cmd cmd = {
	.synopsis = "--connect ADDR --port PORT [options]",
	.about =
"\n"
"Open connections (or send datagrams) to ADDR:PORT and count which version\n"
"and endpoint answered. The reply body must be \"<version> <endpoint>\\n\"\n"
"(tests/tools/httpd.c).\n"
"\n"
"By default (TCP), per iteration: new socket, connect (timeout), getpeername()\n"
"must equal the target (else peer_mismatch), send\n"
"  \"GET / HTTP/1.1\\r\\nHost: reviews\\r\\nConnection: close\\r\\n\\r\\n\",\n"
"read the full response (status 200, Content-Length or chunked or read-to-EOF\n"
"body), then wait for the server's close (a server that does not close after\n"
"\"Connection: close\" is a failure: no_close).\n",
	.shorts = "n:",
	.opts = opts,
	.more =
"Output on stdout at the end (sorted):\n"
"  total N ok N fail N peer_mismatch N\n"
"  version VERSION COUNT            (one line per version)\n"
"  endpoint VERSION ENDPOINT COUNT  (one line per version and endpoint)\n"
"  set_cookie VALUE COUNT           (--set-cookie: per value, - for none)\n"
"  set_cookie_mismatch COUNT        (--set-cookie: value not the version)\n"
"The first " STR(MAX_REASONS) " distinct failure reasons go to stderr with their counts.\n"
"A peer mismatch is not a failure (the reply still counts) but fails the run.\n"
"Exit status: 0 if fail == 0 and peer_mismatch == 0, 1 otherwise, 2 on a\n"
"usage error.\n",
};

static bool time_is_up(void)
{
	return g_deadline_mono && tu_clock_ns(CLOCK_MONOTONIC) >= g_deadline_mono;
}

/* Next iteration for this thread? */
static bool take_iteration(void)
{
	if (g_duration > 0) {
		if (time_is_up())
			return false;
		if (!g_count_given)
			return true;
	}
	return __atomic_fetch_add(&g_next_iter, 1, __ATOMIC_RELAXED) < g_count;
}

static const char *errname(int e)
{
	const char *n = strerrorname_np(e);

	return n ? n : "EUNKNOWN";
}

/* ---- results ------------------------------------------------------------------ */

static void note_reason(const char *reason)
{
	int i;

	pthread_mutex_lock(&g_reason_lock);
	for (i = 0; i < g_nreasons; i++) {
		if (strcmp(g_reasons[i].reason, reason) == 0) {
			g_reasons[i].count++;
			goto out;
		}
	}
	if (g_nreasons < MAX_REASONS) {
		snprintf(g_reasons[g_nreasons].reason, REASON_MAX, "%s", reason);
		g_reasons[g_nreasons++].count = 1;
	} else {
		g_reasons_other++;
	}
out:
	pthread_mutex_unlock(&g_reason_lock);
}

static void log_line(uint64_t t0, uint64_t t1, const char *a, const char *b)
{
	if (!g_log)
		return;
	pthread_mutex_lock(&g_log_lock);
	fprintf(g_log, "%llu %llu %s %s\n", (unsigned long long)t0,
		(unsigned long long)t1, a, b);
	pthread_mutex_unlock(&g_log_lock);
}

/* setck: the value Set-Cookie gave --set-cookie's cookie ("" none). */
static void record_ok(struct stats *st, uint64_t t0, const char *version, const char *endpoint,
		      const char *setck)
{
	size_t i;

	if (g_setck) {
		tu_tally_add(&st->ck, MAX_COOKIE_VALS, *setck ? setck : "-", 1);
		if (*setck && strcmp(setck, version))
			st->ck_mismatch++;
	}
	st->total++;
	st->ok++;
	for (i = 0; i < st->nb; i++)
		if (!strcmp(st->b[i].version, version) && !strcmp(st->b[i].endpoint, endpoint))
			break;
	if (i == st->nb) {
		if (st->nb == st->cap) {
			size_t cap = st->cap ? st->cap * 2 : 16;
			struct bucket *nb = realloc(st->b, cap * sizeof(*nb));

			if (!nb) {
				fprintf(stderr, "splitclient: out of memory\n");
				exit(1);
			}
			st->b = nb;
			st->cap = cap;
		}
		snprintf(st->b[i].version, WORD_MAX, "%s", version);
		snprintf(st->b[i].endpoint, WORD_MAX, "%s", endpoint);
		st->b[i].count = 0;
		st->nb++;
	}
	st->b[i].count++;
	log_line(t0, tu_clock_ns(CLOCK_REALTIME), version, endpoint);
}

static void record_fail(struct stats *st, uint64_t t0, const char *reason)
{
	st->total++;
	st->fail++;
	note_reason(reason);
	if (g_verbose)
		fprintf(stderr, "splitclient: FAIL %s\n", reason);
	log_line(t0, tu_clock_ns(CLOCK_REALTIME), "FAIL", reason);
}

/* ---- sockets -------------------------------------------------------------------- */

static bool same_addr(const union tu_sa *a, socklen_t alen)
{
	if (a->sa.sa_family != g_target.sa.sa_family)
		return false;
	if (a->sa.sa_family == AF_INET)
		return alen >= sizeof(struct sockaddr_in) &&
		       a->in.sin_port == g_target.in.sin_port &&
		       a->in.sin_addr.s_addr == g_target.in.sin_addr.s_addr;
	return alen >= sizeof(struct sockaddr_in6) &&
	       a->in6.sin6_port == g_target.in6.sin6_port &&
	       !memcmp(&a->in6.sin6_addr, &g_target.in6.sin6_addr, sizeof(struct in6_addr));
}

/* The reason for a failed recv/send errno. */
static const char *io_reason(int e, const char *timeout_reason)
{
	if (e == EAGAIN || e == EWOULDBLOCK)
		return timeout_reason;
	return errname(e);
}

/*
 * TCP connect with a timeout. Returns the fd, or -1 with *reason set.
 * *t0 is CLOCK_REALTIME just before connect().
 */
static int tcp_connect(uint64_t *t0, const char **reason)
{
	socklen_t elen = sizeof(int);
	int fd, err = 0, r, one = 1, flags;

	fd = socket(g_target.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	*t0 = tu_clock_ns(CLOCK_REALTIME);
	if (fd < 0) {
		*reason = errname(errno);
		return -1;
	}
	r = connect(fd, &g_target.sa, g_targetlen);
	if (r < 0 && errno != EINPROGRESS) {
		*reason = errname(errno);
		close(fd);
		return -1;
	}
	if (r < 0) {
		r = tu_poll1(fd, POLLOUT, g_timeout_ms);
		if (r == 0) {
			*reason = "connect_timeout";
			close(fd);
			return -1;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
			err = errno;
		if (err) {
			*reason = errname(err);
			close(fd);
			return -1;
		}
	}
	flags = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
	tu_set_timeouts(fd, g_timeout_ms);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int send_all(int fd, const char *p, size_t n, const char **reason)
{
	if (!tu_send_all(fd, p, n))
		return 0;
	*reason = io_reason(errno, "send_timeout");
	return -1;
}

/* ---- HTTP response reading -------------------------------------------------------- */

struct rbuf {
	int fd;
	size_t off, len;
	char buf[RESP_MAX];
};

/* 1 = more data, 0 = EOF, -1 = error (reason set). */
static int rb_fill(struct rbuf *rb, const char **reason)
{
	ssize_t r;

	if (rb->off == rb->len)
		rb->off = rb->len = 0;
	if (rb->len == sizeof(rb->buf)) {
		if (rb->off == 0) {
			*reason = "response_too_large";
			return -1;
		}
		memmove(rb->buf, rb->buf + rb->off, rb->len - rb->off);
		rb->len -= rb->off;
		rb->off = 0;
	}
	do {
		r = recv(rb->fd, rb->buf + rb->len, sizeof(rb->buf) - rb->len, 0);
	} while (r < 0 && errno == EINTR);
	if (r < 0) {
		*reason = io_reason(errno, "read_timeout");
		return -1;
	}
	if (r == 0)
		return 0;
	rb->len += (size_t)r;
	return 1;
}

/* Append up to n body bytes to body (bounded). 0 ok, -1 error. */
static int rb_take(struct rbuf *rb, uint64_t n, char *body, size_t *blen, size_t bmax,
		   const char **reason)
{
	while (n) {
		size_t have = rb->len - rb->off, c;
		int r;

		if (!have) {
			r = rb_fill(rb, reason);
			if (r == 0)
				*reason = "short_body";
			if (r <= 0)
				return -1;
			continue;
		}
		if (have > n)
			have = (size_t)n;
		c = have;
		if (*blen + c > bmax)
			c = bmax - *blen;
		memcpy(body + *blen, rb->buf + rb->off, c);
		*blen += c;
		rb->off += have;
		n -= have;
	}
	return 0;
}

/* One CRLF line, NUL-terminated in place. */
static char *rb_line(struct rbuf *rb, const char **reason)
{
	for (;;) {
		char *s = rb->buf + rb->off, *lf = memchr(s, '\n', rb->len - rb->off);
		int r;

		if (lf) {
			if (lf == s || lf[-1] != '\r') {
				*reason = "bad_response";
				return NULL;
			}
			lf[-1] = 0;
			rb->off += (size_t)(lf - s) + 1;
			return s;
		}
		r = rb_fill(rb, reason);
		if (r == 0)
			*reason = "short_response";
		if (r <= 0)
			return NULL;
	}
}

/*
 * Read one response. Fills version/endpoint from the body.
 * *server_close: the response said "Connection: close".
 * Returns 0 or -1 with *reason.
 */
static int read_response(struct rbuf *rb, bool head_only, char *version, char *endpoint,
			 bool *server_close, char *setck, const char **reason)
{
	char body[256], *line, *p, *save;
	size_t blen = 0;
	bool have_cl = false, chunked = false;
	uint64_t cl = 0;
	int status;

	*server_close = false;
	*setck = 0;
	line = rb_line(rb, reason);
	if (!line)
		return -1;
	if (strncmp(line, "HTTP/1.", 7) || !line[7] || line[8] != ' ' ||
	    sscanf(line + 9, "%3d", &status) != 1) {
		*reason = "bad_status_line";
		return -1;
	}
	if (line[7] == '0')
		*server_close = true;	/* HTTP/1.0: close unless keep-alive */
	for (;;) {
		char *v;

		line = rb_line(rb, reason);
		if (!line)
			return -1;
		if (!*line)
			break;
		v = strchr(line, ':');
		if (!v || v == line) {
			*reason = "bad_header";
			return -1;
		}
		*v++ = 0;
		while (*v == ' ' || *v == '\t')
			v++;
		if (!strcasecmp(line, "Content-Length")) {
			char *e;

			errno = 0;
			cl = strtoull(v, &e, 10);
			if (errno || e == v || (*e && *e != ' ' && *e != '\t')) {
				*reason = "bad_content_length";
				return -1;
			}
			have_cl = true;
		} else if (!strcasecmp(line, "Transfer-Encoding")) {
			chunked = strcasestr(v, "chunked") != NULL;
		} else if (!strcasecmp(line, "Connection")) {
			if (strcasestr(v, "close"))
				*server_close = true;
			else if (strcasestr(v, "keep-alive"))
				*server_close = false;
		} else if (g_setck && !strcasecmp(line, "Set-Cookie")) {
			size_t nl = strlen(g_setck), vl;

			/* NAME=VALUE[; attributes] */
			if (!strncmp(v, g_setck, nl) && v[nl] == '=') {
				vl = strcspn(v + nl + 1, ";");
				snprintf(setck, WORD_MAX, "%.*s", (int)(vl < WORD_MAX ? vl : WORD_MAX - 1),
					 v + nl + 1);
			}
		}
	}
	if (status != 200) {
		static __thread char r[32];

		snprintf(r, sizeof(r), "http_%d", status);
		*reason = r;
		return -1;
	}
	if (head_only) {
		*reason = "head_only";
		return -1;
	}
	if (chunked) {
		for (;;) {
			uint64_t n;
			char *e;

			line = rb_line(rb, reason);
			if (!line)
				return -1;
			errno = 0;
			n = strtoull(line, &e, 16);
			if (errno || e == line) {
				*reason = "bad_chunk";
				return -1;
			}
			if (n == 0) {
				do {
					line = rb_line(rb, reason);
					if (!line)
						return -1;
				} while (*line);
				break;
			}
			if (rb_take(rb, n, body, &blen, sizeof(body) - 1, reason) < 0)
				return -1;
			line = rb_line(rb, reason);
			if (!line)
				return -1;
			if (*line) {
				*reason = "bad_chunk";
				return -1;
			}
		}
	} else if (have_cl) {
		if (rb_take(rb, cl, body, &blen, sizeof(body) - 1, reason) < 0)
			return -1;
	} else {
		/* No length: the body runs to EOF. */
		for (;;) {
			int r;

			if (rb_take(rb, rb->len - rb->off, body, &blen, sizeof(body) - 1, reason) < 0)
				return -1;
			r = rb_fill(rb, reason);
			if (r < 0)
				return -1;
			if (r == 0)
				break;
		}
		*server_close = true;
	}
	body[blen] = 0;
	p = strtok_r(body, " \t\r\n", &save);
	if (!p || strlen(p) >= WORD_MAX) {
		*reason = "bad_body";
		return -1;
	}
	strcpy(version, p);
	p = strtok_r(NULL, " \t\r\n", &save);
	if (!p || strlen(p) >= WORD_MAX) {
		*reason = "bad_body";
		return -1;
	}
	strcpy(endpoint, p);
	return 0;
}

/* ---- the three modes ----------------------------------------------------------------- */

static void tcp_once(struct stats *st, struct rbuf *rb)
{
	union tu_sa peer;
	socklen_t plen = sizeof(peer);
	char version[WORD_MAX], endpoint[WORD_MAX], setck[WORD_MAX];
	const char *reason = NULL;
	bool server_close;
	uint64_t t0;
	int fd, r;

	fd = tcp_connect(&t0, &reason);
	if (fd < 0) {
		record_fail(st, t0, reason);
		return;
	}
	if (getpeername(fd, &peer.sa, &plen) < 0 || !same_addr(&peer, plen))
		st->peer_mismatch++;
	if (send_all(fd, g_request, strlen(g_request), &reason) < 0)
		goto fail;
	rb->fd = fd;
	rb->off = rb->len = 0;
	if (read_response(rb, false, version, endpoint, &server_close, setck, &reason) < 0)
		goto fail;
	/* We asked for Connection: close: the server must close now. */
	if (rb->len != rb->off) {
		reason = "extra_data";
		goto fail;
	}
	r = rb_fill(rb, &reason);
	if (r != 0) {
		if (r > 0)
			reason = "extra_data";
		else if (!strcmp(reason, "read_timeout"))
			reason = "no_close";
		goto fail;
	}
	close(fd);
	record_ok(st, t0, version, endpoint, setck);
	return;
fail:
	{
		/* The local port identifies the flow when a failure is chased. */
		static __thread char why[96];
		union tu_sa me;
		socklen_t mlen = sizeof(me);

		if (!getsockname(fd, &me.sa, &mlen)) {
			snprintf(why, sizeof(why), "%s@port%u", reason,
				 ntohs(me.sa.sa_family == AF_INET6 ? me.in6.sin6_port :
								  me.in.sin_port));
			reason = why;
		}
	}
	close(fd);
	record_fail(st, t0, reason);
}

/*
 * One datagram and its reply. keep == NULL: a fresh socket for this
 * iteration. Otherwise *keep is the thread's socket (--same-socket), made on
 * first use (-1) and kept; dropped after a failure.
 */
static void udp_once(struct stats *st, bool connected, int *keep)
{
	static const char msg[] = "splitclient\n";
	union tu_sa from, peer;
	socklen_t flen = sizeof(from), plen = sizeof(peer);
	char buf[512], *p, *save, version[WORD_MAX], endpoint[WORD_MAX];
	const char *reason;
	bool mismatch = false;
	uint64_t t0;
	ssize_t r;
	int fd;

	if (keep && *keep >= 0) {
		fd = *keep;
		t0 = tu_clock_ns(CLOCK_REALTIME);
	} else {
		fd = socket(g_target.sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		t0 = tu_clock_ns(CLOCK_REALTIME);
		if (fd < 0) {
			record_fail(st, t0, errname(errno));
			return;
		}
		if (connected && connect(fd, &g_target.sa, g_targetlen) < 0) {
			reason = errname(errno);
			goto fail;
		}
		if (keep)
			*keep = fd;
	}
	if (connected) {
		if (getpeername(fd, &peer.sa, &plen) < 0 || !same_addr(&peer, plen))
			mismatch = true;
		r = send(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL);
	} else {
		r = sendto(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL, &g_target.sa, g_targetlen);
	}
	if (r < 0) {
		reason = errname(errno);
		goto fail;
	}
	r = tu_poll1(fd, POLLIN, g_timeout_ms);
	if (r == 0) {
		reason = "udp_timeout";
		goto fail;
	}
	r = recvfrom(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT, &from.sa, &flen);
	if (r < 0) {
		reason = io_reason(errno, "udp_timeout");
		goto fail;
	}
	if (!same_addr(&from, flen))
		mismatch = true;
	buf[r] = 0;
	p = strtok_r(buf, " \t\r\n", &save);
	if (!p || strlen(p) >= WORD_MAX) {
		reason = "bad_body";
		goto fail;
	}
	strcpy(version, p);
	p = strtok_r(NULL, " \t\r\n", &save);
	if (!p || strlen(p) >= WORD_MAX) {
		reason = "bad_body";
		goto fail;
	}
	strcpy(endpoint, p);
	if (!keep)
		close(fd);
	if (mismatch)
		st->peer_mismatch++;
	record_ok(st, t0, version, endpoint, "");
	return;
fail:
	close(fd);
	if (keep)
		*keep = -1;
	if (mismatch)
		st->peer_mismatch++;
	record_fail(st, t0, reason);
}

/* --keepalive: one connection per thread, one request every interval. */
static void keepalive_loop(struct stats *st, struct rbuf *rb)
{
	uint64_t start = tu_clock_ns(CLOCK_MONOTONIC);
	uint64_t end = start + (uint64_t)(g_keepalive * 1e9);
	uint64_t step = (uint64_t)g_interval_ms * 1000000ull, next = start;
	char first[2 * WORD_MAX + 2] = "", cur[2 * WORD_MAX + 2];
	int fd = -1;

	rb->off = rb->len = 0;
	while (tu_clock_ns(CLOCK_MONOTONIC) < end) {
		char version[WORD_MAX], endpoint[WORD_MAX], setck[WORD_MAX];
		const char *reason = NULL;
		bool server_close;
		struct timespec ts;
		uint64_t t0;

		if (g_count_given && !take_iteration())
			break;
		if (fd < 0) {
			union tu_sa peer;
			socklen_t plen = sizeof(peer);

			fd = tcp_connect(&t0, &reason);
			if (fd < 0) {
				record_fail(st, t0, reason);
				goto wait;
			}
			if (getpeername(fd, &peer.sa, &plen) < 0 || !same_addr(&peer, plen))
				st->peer_mismatch++;
			rb->fd = fd;
			rb->off = rb->len = 0;
		} else {
			t0 = tu_clock_ns(CLOCK_REALTIME);
		}
		if (send_all(fd, g_request_ka, strlen(g_request_ka), &reason) < 0 ||
		    read_response(rb, false, version, endpoint, &server_close, setck, &reason) < 0) {
			record_fail(st, t0, reason);
			close(fd);
			fd = -1;
			goto wait;
		}
		/* "Same endpoint" = same server: version and address. */
		snprintf(cur, sizeof(cur), "%s %s", version, endpoint);
		if (!first[0])
			strcpy(first, cur);
		if (server_close) {
			/* The server ends keep-alive: that breaks the test's premise. */
			record_fail(st, t0, "server_closed");
			close(fd);
			fd = -1;
		} else if (!g_allow_change && strcmp(first, cur) != 0) {
			if (g_verbose)
				fprintf(stderr, "splitclient: endpoint_changed %s -> %s\n",
					first, cur);
			record_fail(st, t0, "endpoint_changed");
		} else {
			record_ok(st, t0, version, endpoint, setck);
		}
wait:
		next += step;
		if (next >= end)
			break;
		ts.tv_sec = (time_t)(next / 1000000000ull);
		ts.tv_nsec = (long)(next % 1000000000ull);
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
	}
	if (fd >= 0)
		close(fd);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct rbuf *rb = NULL;

	if (!g_udp && !g_udp_connected) {
		rb = malloc(sizeof(*rb));
		if (!rb) {
			fprintf(stderr, "splitclient: out of memory\n");
			exit(1);
		}
	}
	if (g_keepalive > 0) {
		keepalive_loop(&w->st, rb);
	} else {
		int ufd = -1;

		while (take_iteration()) {
			if (g_udp || g_udp_connected)
				udp_once(&w->st, g_udp_connected, g_same_socket ? &ufd : NULL);
			else
				tcp_once(&w->st, rb);
		}
		if (ufd >= 0)
			close(ufd);
	}
	free(rb);
	return NULL;
}

/* ---- main ------------------------------------------------------------------------------- */

static int cmp_bucket(const void *a, const void *b)
{
	const struct bucket *x = a, *y = b;
	int c = strcmp(x->version, y->version);

	return c ? c : strcmp(x->endpoint, y->endpoint);
}

static int cmp_cookie(const void *a, const void *b)
{
	return strcmp(a, b);	/* key is the first member */
}

static void build_requests(void)
{
	char extra[REQ_MAX / 2] = "";
	size_t n = 0;
	int i, r;

	for (i = 0; i < g_nheaders; i++) {
		r = snprintf(extra + n, sizeof(extra) - n, "%s\r\n", g_headers[i]);
		if (r < 0 || (size_t)r >= sizeof(extra) - n)
			tu_die_usage("headers too long");
		n += (size_t)r;
	}
	snprintf(g_request, sizeof(g_request),
		 "GET %s HTTP/1.1\r\nHost: %s\r\n%sConnection: close\r\n\r\n",
		 g_path, g_host, extra);
	snprintf(g_request_ka, sizeof(g_request_ka),
		 "GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", g_path, g_host, extra);
}

int main(int argc, char **argv)
{
	struct stats sum = { 0 };
	struct worker *w;
	struct bucket *vb;
	size_t nvb = 0, i, j;
	int opt, k;

	while ((opt = tu_getopt(argc, argv, &cmd)) != -1) {
		switch (opt) {
		case OPT_CONNECT: g_target_txt = optarg; break;
		case OPT_PORT: g_port = (int)tu_arg_long("--port", optarg, 1, 65535); break;
		case 'n':
			g_count = tu_arg_long("-n", optarg, 0, 1000000000L);
			g_count_given = true;
			break;
		case OPT_PARALLEL: g_parallel = (int)tu_arg_long("--parallel", optarg, 1, 4096); break;
		case OPT_UDP: g_udp = true; break;
		case OPT_UDPC: g_udp_connected = true; break;
		case OPT_SAME: g_same_socket = true; break;
		case OPT_KA: g_keepalive = tu_arg_double("--keepalive", optarg, 86400 * 7); break;
		case OPT_INT: g_interval_ms = tu_arg_long("--interval-ms", optarg, 1, 3600000); break;
		case OPT_ALLOW: g_allow_change = true; break;
		case OPT_LOG: g_logpath = optarg; break;
		case OPT_DUR: g_duration = tu_arg_double("--duration", optarg, 86400 * 7); break;
		case OPT_TMO: g_timeout_ms = (int)tu_arg_long("--timeout-ms", optarg, 1, 3600000); break;
		case OPT_HDR:
			if (g_nheaders == (int)(sizeof(g_headers) / sizeof(g_headers[0])))
				tu_die_usage("too many --header");
			if (!strchr(optarg, ':') || strpbrk(optarg, "\r\n"))
				tu_die_usage("bad --header '%s' (want 'Name: value')", optarg);
			g_headers[g_nheaders++] = optarg;
			break;
		case OPT_HOST:
			if (!*optarg || strpbrk(optarg, " \t\r\n"))
				tu_die_usage("bad --host '%s'", optarg);
			g_host = optarg;
			break;
		case OPT_PATH:
			if (!*optarg || strpbrk(optarg, " \t\r\n"))
				tu_die_usage("bad --path '%s'", optarg);
			g_path = optarg;
			break;
		case OPT_VERBOSE: g_verbose = true; break;
		case OPT_SETCK:
			if (!*optarg || strpbrk(optarg, "=; \t"))
				tu_die_usage("bad --set-cookie '%s' (want a cookie name)", optarg);
			g_setck = optarg;
			break;
		}
	}
	if (optind != argc)
		tu_die_usage("unexpected argument '%s'", argv[optind]);
	if (!g_target_txt || !g_port)
		tu_die_usage("--connect and --port are required");
	if (tu_sa_parse(g_target_txt, (uint16_t)g_port, &g_target, &g_targetlen) < 0)
		tu_die_usage("bad --connect address '%s'", g_target_txt);
	if (g_udp && g_udp_connected)
		tu_die_usage("--udp and --udp-connected exclude each other");
	if (g_same_socket && !g_udp && !g_udp_connected)
		tu_die_usage("--same-socket is for --udp / --udp-connected (TCP: --keepalive)");
	if (g_keepalive > 0 && (g_udp || g_udp_connected))
		tu_die_usage("--keepalive is TCP only");
	if (g_keepalive > 0 && g_duration > 0)
		tu_die_usage("--keepalive and --duration exclude each other");
	if (g_allow_change && g_keepalive <= 0)
		tu_die_usage("--allow-endpoint-change needs --keepalive");
	build_requests();

	signal(SIGPIPE, SIG_IGN);
	if (g_logpath) {
		g_log = fopen(g_logpath, "w");
		if (!g_log) {
			fprintf(stderr, "splitclient: %s: %s\n", g_logpath, strerror(errno));
			return 2;
		}
	}
	if (g_duration > 0)
		g_deadline_mono = tu_clock_ns(CLOCK_MONOTONIC) + (uint64_t)(g_duration * 1e9);

	w = calloc((size_t)g_parallel, sizeof(*w));
	if (!w) {
		fprintf(stderr, "splitclient: out of memory\n");
		return 1;
	}
	for (k = 0; k < g_parallel; k++) {
		int err;

		w[k].id = k;
		err = pthread_create(&w[k].th, NULL, worker_main, &w[k]);
		if (err) {
			fprintf(stderr, "splitclient: pthread_create: %s\n", strerror(err));
			return 1;
		}
	}
	/* Merge per-thread counters (no sharing while running). */
	for (k = 0; k < g_parallel; k++) {
		pthread_join(w[k].th, NULL);
		sum.total += w[k].st.total;
		sum.ok += w[k].st.ok;
		sum.fail += w[k].st.fail;
		sum.peer_mismatch += w[k].st.peer_mismatch;
		tu_tally_merge(&sum.ck, MAX_COOKIE_VALS, &w[k].st.ck);
		sum.ck_mismatch += w[k].st.ck_mismatch;
		for (i = 0; i < w[k].st.nb; i++) {
			struct bucket *b = &w[k].st.b[i];

			for (j = 0; j < sum.nb; j++)
				if (!strcmp(sum.b[j].version, b->version) &&
				    !strcmp(sum.b[j].endpoint, b->endpoint))
					break;
			if (j == sum.nb) {
				if (sum.nb == sum.cap) {
					sum.cap = sum.cap ? sum.cap * 2 : 16;
					sum.b = realloc(sum.b, sum.cap * sizeof(*sum.b));
					if (!sum.b) {
						fprintf(stderr, "splitclient: out of memory\n");
						return 1;
					}
				}
				sum.b[j] = *b;
				sum.b[j].count = 0;
				sum.nb++;
			}
			sum.b[j].count += b->count;
		}
		free(w[k].st.b);
	}
	free(w);
	if (g_log && fclose(g_log) != 0)
		fprintf(stderr, "splitclient: %s: %s\n", g_logpath, strerror(errno));

	if (sum.nb)
		qsort(sum.b, sum.nb, sizeof(*sum.b), cmp_bucket);
	/* Per-version totals: buckets are sorted by version, so runs are adjacent. */
	vb = calloc(sum.nb ? sum.nb : 1, sizeof(*vb));
	if (!vb) {
		fprintf(stderr, "splitclient: out of memory\n");
		return 1;
	}
	for (i = 0; i < sum.nb; i++) {
		if (nvb && !strcmp(vb[nvb - 1].version, sum.b[i].version)) {
			vb[nvb - 1].count += sum.b[i].count;
		} else {
			vb[nvb] = sum.b[i];
			nvb++;
		}
	}
	printf("total %ld ok %ld fail %ld peer_mismatch %ld\n",
	       sum.total, sum.ok, sum.fail, sum.peer_mismatch);
	for (i = 0; i < nvb; i++)
		printf("version %s %ld\n", vb[i].version, vb[i].count);
	for (i = 0; i < sum.nb; i++)
		printf("endpoint %s %s %ld\n", sum.b[i].version, sum.b[i].endpoint, sum.b[i].count);
	if (g_setck) {
		qsort(sum.ck.v, sum.ck.n, sizeof(sum.ck.v[0]), cmp_cookie);
		for (i = 0; i < sum.ck.n; i++)
			printf("set_cookie %s %ld\n", sum.ck.v[i].key, sum.ck.v[i].n);
		if (sum.ck.other)
			printf("set_cookie other %ld\n", sum.ck.other);
		printf("set_cookie_mismatch %ld\n", sum.ck_mismatch);
	}
	fflush(stdout);
	for (k = 0; k < g_nreasons; k++)
		fprintf(stderr, "splitclient: failure: %s (%ld)\n",
			g_reasons[k].reason, g_reasons[k].count);
	if (g_reasons_other)
		fprintf(stderr, "splitclient: failure: other reasons (%ld)\n", g_reasons_other);
	if (sum.peer_mismatch)
		fprintf(stderr, "splitclient: peer_mismatch: %ld replies/sockets not from %s port %d\n",
			sum.peer_mismatch, g_target_txt, g_port);
	free(vb);
	free(sum.b);
	return (sum.fail == 0 && sum.peer_mismatch == 0) ? 0 : 1;
}
