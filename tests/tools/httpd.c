// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * httpd.c - a small, real HTTP/1.1 + UDP test server for the netns testbed.
 *
 *   httpd --name v1 --port 9080 --listen 10.201.1.2 --listen fd00:201:1::2
 *
 * Per --listen address: one TCP listening socket and one UDP socket, both
 * bound to ADDR:PORT. Every HTTP request gets
 *
 *   HTTP/1.1 200 OK
 *   Content-Type: text/plain
 *   Content-Length: N
 *   X-Version: v1
 *   X-Endpoint: 10.201.1.2
 *
 *   v1 10.201.1.2
 *
 * where the endpoint is the local address of the accepted socket
 * (getsockname). Every UDP datagram gets the same body back, sent from the
 * address the datagram was sent to (IP_PKTINFO / IPV6_PKTINFO), which is the
 * bound address unless the socket is a wildcard or steered by sk_lookup.
 *
 * TCP: one detached thread per connection, keep-alive, request heads parsed
 * strictly (request line and header fields up to CRLFCRLF), request bodies
 * (Content-Length or chunked) read and discarded, "Connection: close" (or
 * HTTP/1.0 without keep-alive) closes after the response. A malformed request
 * gets 400 and the connection is closed.
 *
 * Prints "ready" on stdout once every socket is listening; exits 0 on
 * SIGTERM/SIGINT (removing --pidfile).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "../lib/tutil.h"

#define MAX_LISTEN	16
#define HEAD_MAX	16384	/* request line + header fields */
#define NAME_MAX_LEN	63
#define BODY_MAX	(NAME_MAX_LEN + INET6_ADDRSTRLEN + 4)

/* SIGUSR1: answer 500 from now on; SIGUSR2: 200 again. */
static volatile sig_atomic_t g_fail;

static void on_usr(int sig)
{
	g_fail = sig == SIGUSR1;
}

struct listener {
	int family;
	union tu_sa addr;
	socklen_t addrlen;
	const char *text;	/* as given on the command line */
	int tfd;		/* TCP listener */
	int ufd;		/* UDP socket */
};

static const char *g_name;
static int g_port;
static int g_idle_timeout = 300;	/* seconds a keep-alive connection may idle */
static bool g_verbose;
static const char *g_pidfile;
static struct listener g_listen[MAX_LISTEN];
static int g_nlisten;

#define STR_(x) #x
#define STR(x) STR_(x)

static const struct tu_opt opts[] = {
	{ "name", 'N', "NAME", "version name reported in replies (e.g. v1; <= " STR(NAME_MAX_LEN) " chars)" },
	{ "port", 'p', "PORT", "TCP and UDP port for every --listen address" },
	{ "listen", 'l', "ADDR", "IPv4 or IPv6 address to bind (repeatable, up to " STR(MAX_LISTEN) ");\n"
	  "one TCP listener and one UDP socket per address.\n0.0.0.0 and :: work too." },
	{ "pidfile", 'P', "FILE", "write the PID here; removed on SIGTERM/SIGINT" },
	{ "idle-timeout", 'i', "SEC", "close keep-alive connections idle this long (default 300)" },
	{ "verbose", 'v', NULL, "log connections and errors to stderr" },
	{ "check-stream", 'C', "N", "no server: check that stdin is exactly the N bytes a\n"
	  "GET /stream/N returns; prints \"ok N bytes\" or where\nit differs, exit 0/1" },
	{ 0 },
};

static const struct tu_cmd cmd = {
	.synopsis = "--name NAME --port PORT --listen ADDR [--listen ADDR ...]\n"
		    "             [--pidfile FILE] [--idle-timeout SEC] [--verbose]",
	.about = "\nA small HTTP/1.1 and UDP test server.\n",
	.opts = opts,
	.more =
"GET /stream/N[/KIBPS] answers N bytes of a fixed pattern (paced at KIBPS\n"
"KiB/s if given), for byte-exact checks of long transfers.\n"
"A request for /reset gets no answer: once its head is read the connection\n"
"is closed with SO_LINGER {1, 0}, so the client receives a TCP reset.\n"
"\n"
"TCP: every request gets\n"
"  HTTP/1.1 200 OK\\r\\nContent-Type: text/plain\\r\\nContent-Length: N\\r\\n\n"
"  X-Version: NAME\\r\\nX-Endpoint: LOCAL\\r\\n\\r\\nNAME LOCAL\\n\n"
"where LOCAL is the local address of the accepted socket. Keep-alive is the\n"
"default for HTTP/1.1; \"Connection: close\" closes after the response (the\n"
"response then carries \"Connection: close\"). Request bodies (Content-Length\n"
"or chunked) are read and discarded. HEAD gets no body. A malformed request\n"
"gets 400 Bad Request and the connection is closed.\n"
"UDP: every datagram gets \"NAME LOCAL\\n\" back, sent from the address it was\n"
"sent to.\n"
"SIGUSR1 makes every later response (but /stream) a 500 Internal Server\n"
"Error with the same body; SIGUSR2 makes them 200 again.\n"
"Prints \"ready\" on stdout once every socket listens. Exits 0 on SIGTERM.\n",
};

static void vlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void vlog(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	if (!g_verbose)
		return;
	n = snprintf(line, sizeof(line), "httpd[%s]: ", g_name);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	strcat(line, "\n");
	/* One write per line: threads do not interleave. */
	if (write(2, line, strlen(line)) < 0)
		return;
}

/* Parse "10.0.0.1", "fd00::1" or "[fd00::1]". */
static int parse_addr(const char *s, struct listener *l)
{
	if (tu_sa_parse(s, (uint16_t)g_port, &l->addr, &l->addrlen))
		return -1;
	l->family = l->addr.sa.sa_family;
	return 0;
}

/* Address (no port) as text; v4-mapped v6 printed as plain v4. */
static void addr_text(const struct sockaddr *sa, char *out, size_t outlen)
{
	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, outlen);
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a))
			inet_ntop(AF_INET, &a->s6_addr[12], out, outlen);
		else
			inet_ntop(AF_INET6, a, out, outlen);
	} else {
		snprintf(out, outlen, "unknown");
	}
}

/* ---- buffered reader for one connection ---------------------------------- */

struct conn {
	int fd;
	char local[INET6_ADDRSTRLEN];
	char peer[INET6_ADDRSTRLEN + 8];
	size_t off, len;	/* unread bytes are buf[off..len) */
	char buf[HEAD_MAX];
};

/* Read more bytes into the buffer. 1 = got some, 0 = EOF, -1 = error. */
static int conn_fill(struct conn *c)
{
	ssize_t r;

	if (c->off > 0 && c->off == c->len)
		c->off = c->len = 0;
	if (c->len == sizeof(c->buf)) {
		if (c->off == 0)
			return -1;	/* full: caller checks limits first */
		memmove(c->buf, c->buf + c->off, c->len - c->off);
		c->len -= c->off;
		c->off = 0;
	}
	for (;;) {
		r = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		break;
	}
	if (r < 0)
		return -1;
	if (r == 0)
		return 0;
	c->len += (size_t)r;
	return 1;
}

/* Discard n body bytes. 0 ok, -1 error/EOF. */
static int conn_skip(struct conn *c, uint64_t n)
{
	while (n) {
		size_t have = c->len - c->off;

		if (have == 0) {
			if (conn_fill(c) <= 0)
				return -1;
			continue;
		}
		if (have > n)
			have = (size_t)n;
		c->off += have;
		n -= have;
	}
	return 0;
}

/*
 * One CRLF-terminated line (CRLF stripped, NUL-terminated in place).
 * Returns the line or NULL on error/EOF/overlong line/bare LF.
 */
static char *conn_line(struct conn *c, size_t max)
{
	for (;;) {
		char *start = c->buf + c->off;
		size_t have = c->len - c->off;
		char *lf = memchr(start, '\n', have);

		if (lf) {
			size_t n = (size_t)(lf - start);

			if (n == 0 || start[n - 1] != '\r' || n > max)
				return NULL;
			start[n - 1] = 0;
			c->off += n + 1;
			return start;
		}
		if (have > max)
			return NULL;
		if (conn_fill(c) <= 0)
			return NULL;
	}
}

/* ---- HTTP request parsing ------------------------------------------------ */

static bool is_tchar(unsigned char ch)
{
	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
		return true;
	return ch && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

struct request {
	char target[256];	/* request-target (truncated) */
	bool head;		/* HEAD method: no body in the response */
	bool keepalive;
	bool chunked;
	bool have_cl;
	uint64_t content_length;
};

/* Is token tok in the comma-separated list v (case-insensitive)? */
static bool has_token(const char *v, const char *tok)
{
	size_t tl = strlen(tok);

	while (*v) {
		const char *e;
		size_t n;

		while (*v == ' ' || *v == '\t' || *v == ',')
			v++;
		e = v;
		while (*e && *e != ',')
			e++;
		n = (size_t)(e - v);
		while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
			n--;
		if (n == tl && strncasecmp(v, tok, n) == 0)
			return true;
		v = e;
	}
	return false;
}

/*
 * Parse one request head, starting at c->buf[c->off], which holds a complete
 * head ending in CRLFCRLF at offset hlen (exclusive). Returns 0 or -1 (400).
 */
static int parse_head(char *h, size_t hlen, struct request *rq)
{
	char *end = h + hlen - 2;	/* points at the final CRLF */
	char *line = h, *eol, *p;
	bool conn_close = false, conn_keep = false, http10;
	int minor;

	memset(rq, 0, sizeof(*rq));

	/* request-line = method SP request-target SP HTTP-version CRLF */
	eol = memmem(line, (size_t)(end - line) + 2, "\r\n", 2);
	if (!eol || eol == line)
		return -1;
	*eol = 0;
	p = line;
	while (is_tchar((unsigned char)*p))
		p++;
	if (p == line || *p != ' ')
		return -1;
	rq->head = (p - line == 4 && memcmp(line, "HEAD", 4) == 0);
	line = ++p;
	while ((unsigned char)*p > ' ' && *p != 0x7f)
		p++;
	if (p == line || *p != ' ')
		return -1;
	snprintf(rq->target, sizeof(rq->target), "%.*s", (int)(p - line), line);
	p++;
	if (strncmp(p, "HTTP/1.", 7) != 0 || p[7] < '0' || p[7] > '9' || p[8] != 0)
		return -1;
	minor = p[7] - '0';
	http10 = (minor == 0);

	/* header-field = field-name ":" OWS field-value OWS CRLF */
	line = eol + 2;
	while (line < end) {
		char *name = line, *val, *ve;

		eol = memmem(line, (size_t)(end - line) + 2, "\r\n", 2);
		if (!eol)
			return -1;
		*eol = 0;
		p = name;
		while (is_tchar((unsigned char)*p))
			p++;
		if (p == name || *p != ':')	/* also rejects obs-fold and "name :" */
			return -1;
		*p++ = 0;
		while (*p == ' ' || *p == '\t')
			p++;
		val = p;
		for (ve = val; *ve; ve++) {
			unsigned char ch = (unsigned char)*ve;

			if ((ch < ' ' && ch != '\t') || ch == 0x7f)
				return -1;
		}
		while (ve > val && (ve[-1] == ' ' || ve[-1] == '\t'))
			*--ve = 0;

		if (strcasecmp(name, "Content-Length") == 0) {
			uint64_t v = 0;

			if (!*val)
				return -1;
			for (p = val; *p; p++) {
				if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10)
					return -1;
				v = v * 10 + (uint64_t)(*p - '0');
			}
			if (rq->have_cl && rq->content_length != v)
				return -1;
			rq->have_cl = true;
			rq->content_length = v;
		} else if (strcasecmp(name, "Transfer-Encoding") == 0) {
			if (strcasecmp(val, "chunked") != 0 || rq->chunked)
				return -1;	/* only plain "chunked" is supported */
			rq->chunked = true;
		} else if (strcasecmp(name, "Connection") == 0) {
			if (has_token(val, "close"))
				conn_close = true;
			if (has_token(val, "keep-alive"))
				conn_keep = true;
		}
		line = eol + 2;
	}
	if (rq->chunked && rq->have_cl)
		return -1;	/* request smuggling shape: refuse */
	rq->keepalive = !conn_close && (!http10 || conn_keep);
	return 0;
}

/* Read and discard a chunked body. 0 ok, -1 malformed/error. */
static int skip_chunked(struct conn *c)
{
	for (;;) {
		char *line = conn_line(c, 1024), *p;
		uint64_t n = 0;
		int digits = 0;

		if (!line)
			return -1;
		for (p = line; *p; p++, digits++) {
			int d;

			if (*p >= '0' && *p <= '9')
				d = *p - '0';
			else if (*p >= 'a' && *p <= 'f')
				d = *p - 'a' + 10;
			else if (*p >= 'A' && *p <= 'F')
				d = *p - 'A' + 10;
			else
				break;
			if (n > (UINT64_MAX >> 4))
				return -1;
			n = (n << 4) | (uint64_t)d;
		}
		if (!digits || (*p && *p != ';' && *p != ' ' && *p != '\t'))
			return -1;
		if (n == 0) {
			/* trailer fields, then the empty line */
			for (;;) {
				line = conn_line(c, HEAD_MAX / 2);
				if (!line)
					return -1;
				if (!*line)
					return 0;
			}
		}
		if (conn_skip(c, n) < 0)
			return -1;
		line = conn_line(c, 2);
		if (!line || *line)
			return -1;
	}
}

static void send_400(struct conn *c)
{
	char out[512];
	int n = snprintf(out, sizeof(out),
			 "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
			 "Content-Length: 12\r\nConnection: close\r\nX-Version: %s\r\n\r\n"
			 "bad request\n", g_name);

	tu_send_all(c->fd, out, (size_t)n);
}

/* Byte i of a /stream response: a pattern that catches lost, duplicated
 * or reordered bytes (and is the same in --check-stream). */
static unsigned char stream_byte(uint64_t i)
{
	return (unsigned char)((i * 131) ^ (i >> 9) ^ (i >> 17));
}

/* GET /stream/N[/KIBPS]: N pattern bytes, paced at KIBPS KiB/s if given. */
static int parse_stream(const char *target, uint64_t *n, uint64_t *kibps)
{
	char *e;

	if (strncmp(target, "/stream/", 8))
		return 0;
	*kibps = 0;
	*n = strtoull(target + 8, &e, 10);
	if (*e == '/')
		*kibps = strtoull(e + 1, &e, 10);
	return *e == 0 || *e == '?';
}

static int send_stream(int fd, uint64_t n, uint64_t kibps)
{
	unsigned char buf[16384];

	for (uint64_t off = 0; off < n;) {
		size_t k = n - off < sizeof(buf) ? (size_t)(n - off) : sizeof(buf);

		for (size_t j = 0; j < k; j++)
			buf[j] = stream_byte(off + j);
		if (tu_send_all(fd, (const char *)buf, k) < 0)
			return -1;
		off += k;
		if (kibps)
			usleep((useconds_t)(k * 1000000ULL / (kibps * 1024)));
	}
	return 0;
}

/* --check-stream N: does stdin hold exactly the N bytes of a /stream? */
static int check_stream(uint64_t n)
{
	unsigned char buf[65536];
	uint64_t off = 0;
	ssize_t r;

	while ((r = read(0, buf, sizeof(buf))) > 0) {
		for (ssize_t j = 0; j < r; j++, off++)
			if (off >= n || buf[j] != stream_byte(off)) {
				printf("mismatch at byte %llu\n", (unsigned long long)off);
				return 1;
			}
	}
	if (off != n) {
		printf("short: %llu of %llu bytes\n", (unsigned long long)off,
		       (unsigned long long)n);
		return 1;
	}
	printf("ok %llu bytes\n", (unsigned long long)n);
	return 0;
}

static void *conn_thread(void *arg)
{
	struct conn *c = arg;
	char body[BODY_MAX + 2], out[BODY_MAX * 2 + 256];
	int blen;

	blen = snprintf(body, sizeof(body), "%s %s\n", g_name, c->local);
	vlog("accept %s -> %s", c->peer, c->local);

	for (;;) {
		struct request rq;
		char *crlf2;
		size_t hlen;
		int n, r;

		/* Skip empty lines before a request line (RFC 9112 2.2). */
		for (;;) {
			while (c->len - c->off >= 2 && c->buf[c->off] == '\r' &&
			       c->buf[c->off + 1] == '\n')
				c->off += 2;
			if (c->len - c->off >= 2 || (c->len - c->off == 1 && c->buf[c->off] != '\r'))
				break;
			r = conn_fill(c);
			if (r <= 0)
				goto out;	/* clean EOF, reset or idle timeout */
		}
		/* Find the end of the head; a bare LF is malformed (do not wait). */
		for (;;) {
			char *lf;

			crlf2 = memmem(c->buf + c->off, c->len - c->off, "\r\n\r\n", 4);
			lf = memchr(c->buf + c->off, '\n',
				    crlf2 ? (size_t)(crlf2 - (c->buf + c->off)) + 4 : c->len - c->off);
			while (lf && lf > c->buf + c->off && lf[-1] == '\r') {
				char *from = lf + 1, *lim = crlf2 ? crlf2 + 4 : c->buf + c->len;

				lf = memchr(from, '\n', (size_t)(lim - from));
			}
			if (lf) {
				vlog("%s: bare LF in request head", c->peer);
				send_400(c);
				goto out;
			}
			if (crlf2)
				break;
			if (c->off == 0 && c->len == sizeof(c->buf)) {
				vlog("%s: request head too large", c->peer);
				send_400(c);
				goto out;
			}
			r = conn_fill(c);
			if (r < 0)
				goto out;
			if (r == 0) {
				if (c->len > c->off) {
					vlog("%s: EOF inside a request head", c->peer);
					send_400(c);
				}
				goto out;
			}
		}
		hlen = (size_t)(crlf2 + 4 - (c->buf + c->off));
		if (memchr(c->buf + c->off, 0, hlen) || parse_head(c->buf + c->off, hlen, &rq) < 0) {
			vlog("%s: malformed request", c->peer);
			send_400(c);
			goto out;
		}
		c->off += hlen;
		if (rq.chunked) {
			if (skip_chunked(c) < 0) {
				vlog("%s: malformed chunked body", c->peer);
				send_400(c);
				goto out;
			}
		} else if (rq.have_cl && conn_skip(c, rq.content_length) < 0) {
			goto out;
		}

		if (!strcmp(rq.target, "/reset")) {
			/* Abort: RST instead of FIN (the client sees ECONNRESET). */
			struct linger lg = { .l_onoff = 1, .l_linger = 0 };

			vlog("%s: /reset: closing with a reset", c->peer);
			setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			close(c->fd);
			free(c);
			return NULL;
		}
		{
			uint64_t sn, kibps;

			if (parse_stream(rq.target, &sn, &kibps)) {
				n = snprintf(out, sizeof(out),
					     "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
					     "Content-Length: %llu\r\nX-Version: %s\r\nX-Endpoint: %s\r\n%s\r\n",
					     (unsigned long long)sn, g_name, c->local,
					     rq.keepalive ? "" : "Connection: close\r\n");
				if (tu_send_all(c->fd, out, (size_t)n) < 0 ||
				    (!rq.head && send_stream(c->fd, sn, kibps) < 0))
					goto out;
				if (!rq.keepalive)
					break;
				continue;
			}
		}
		n = snprintf(out, sizeof(out),
			     "HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
			     "X-Version: %s\r\nX-Endpoint: %s\r\n%s\r\n%s",
			     g_fail ? "500 Internal Server Error" : "200 OK",
			     blen, g_name, c->local,
			     rq.keepalive ? "" : "Connection: close\r\n",
			     rq.head ? "" : body);
		if (tu_send_all(c->fd, out, (size_t)n) < 0)
			goto out;
		if (!rq.keepalive)
			break;
	}
out:
	/* Graceful close: our FIN first, so a client that reads to EOF is happy. */
	shutdown(c->fd, SHUT_WR);
	close(c->fd);
	free(c);
	return NULL;
}

static void *accept_thread(void *arg)
{
	struct listener *l = arg;
	pthread_attr_t attr;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);

	for (;;) {
		union {
			struct sockaddr sa;
			struct sockaddr_storage ss;
		} local, peer;
		socklen_t llen = sizeof(local), plen = sizeof(peer);
		struct timeval tv = { .tv_sec = g_idle_timeout };
		struct conn *c;
		pthread_t th;
		int one = 1, fd, err;
		char ptxt[INET6_ADDRSTRLEN];

		fd = accept4(l->tfd, &peer.sa, &plen, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
				continue;
			vlog("accept: %s", strerror(errno));
			usleep(10000);	/* EMFILE, ENOBUFS, ...: back off */
			continue;
		}
		c = malloc(sizeof(*c));
		if (!c || getsockname(fd, &local.sa, &llen) < 0) {
			free(c);
			close(fd);
			continue;
		}
		c->fd = fd;
		c->off = c->len = 0;
		addr_text(&local.sa, c->local, sizeof(c->local));
		addr_text(&peer.sa, ptxt, sizeof(ptxt));
		snprintf(c->peer, sizeof(c->peer), "%s:%u", ptxt,
			 ntohs(peer.sa.sa_family == AF_INET6 ?
			       ((struct sockaddr_in6 *)&peer)->sin6_port :
			       ((struct sockaddr_in *)&peer)->sin_port));
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		err = pthread_create(&th, &attr, conn_thread, c);
		if (err) {
			vlog("pthread_create: %s", strerror(err));
			close(fd);
			free(c);
			usleep(10000);
		}
	}
	return NULL;
}

/* ---- UDP ------------------------------------------------------------------ */

/* One control message: level, type and len bytes of data; its space. */
static size_t put_cmsg(struct cmsghdr *cm, int level, int type, const void *data, size_t len)
{
	cm->cmsg_level = level;
	cm->cmsg_type = type;
	cm->cmsg_len = CMSG_LEN(len);
	memcpy(CMSG_DATA(cm), data, len);
	return CMSG_SPACE(len);
}

static void *udp_thread(void *arg)
{
	struct listener *l = arg;

	for (;;) {
		union {
			struct sockaddr sa;
			struct sockaddr_in in;
			struct sockaddr_in6 in6;
		} peer, local;
		char cbuf[256] __attribute__((aligned(8)));
		char data[2048], body[BODY_MAX + 2], ltxt[INET6_ADDRSTRLEN];
		struct iovec iov = { data, sizeof(data) };
		struct msghdr mh = {
			.msg_name = &peer, .msg_namelen = sizeof(peer),
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
		};
		struct cmsghdr *cm;
		bool have_dst = false;
		ssize_t r;
		int blen;

		r = recvmsg(l->ufd, &mh, 0);
		if (r < 0) {
			if (errno != EINTR)
				vlog("udp recvmsg: %s", strerror(errno));
			continue;
		}
		memset(&local, 0, sizeof(local));
		local.sa.sa_family = (sa_family_t)l->family;
		for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
				struct in_pktinfo pi;

				memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
				local.in.sin_addr = pi.ipi_addr;
				have_dst = true;
			} else if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO) {
				struct in6_pktinfo pi;

				memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
				local.in6.sin6_addr = pi.ipi6_addr;
				have_dst = true;
			}
		}
		if (!have_dst)
			memcpy(&local, &l->addr, l->addrlen);
		addr_text(&local.sa, ltxt, sizeof(ltxt));
		blen = snprintf(body, sizeof(body), "%s %s\n", g_name, ltxt);

		/* Reply from the address the datagram was sent to. */
		memset(cbuf, 0, sizeof(cbuf));
		iov.iov_base = body;
		iov.iov_len = (size_t)blen;
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
		if (have_dst) {
			mh.msg_control = cbuf;
			cm = (struct cmsghdr *)cbuf;
			if (l->family == AF_INET) {
				struct in_pktinfo pi = { .ipi_spec_dst = local.in.sin_addr };

				mh.msg_controllen = put_cmsg(cm, IPPROTO_IP, IP_PKTINFO, &pi, sizeof(pi));
			} else {
				struct in6_pktinfo pi = { .ipi6_addr = local.in6.sin6_addr };

				mh.msg_controllen = put_cmsg(cm, IPPROTO_IPV6, IPV6_PKTINFO, &pi,
							     sizeof(pi));
			}
		}
		mh.msg_flags = 0;
		if (sendmsg(l->ufd, &mh, MSG_NOSIGNAL) < 0 && have_dst) {
			/* Source not usable (e.g. not local): plain reply from the bound socket. */
			mh.msg_control = NULL;
			mh.msg_controllen = 0;
			if (sendmsg(l->ufd, &mh, MSG_NOSIGNAL) < 0)
				vlog("udp sendmsg: %s", strerror(errno));
		}
	}
	return NULL;
}

/* ---- setup ---------------------------------------------------------------- */

static void open_listener(struct listener *l)
{
	int one = 1;

	l->tfd = socket(l->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	l->ufd = socket(l->family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (l->tfd < 0 || l->ufd < 0)
		tu_die("socket: %s", strerror(errno));
	setsockopt(l->tfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (l->family == AF_INET6) {
		setsockopt(l->tfd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		setsockopt(l->ufd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		if (setsockopt(l->ufd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one)) < 0)
			tu_die("IPV6_RECVPKTINFO: %s", strerror(errno));
	} else {
		if (setsockopt(l->ufd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)) < 0)
			tu_die("IP_PKTINFO: %s", strerror(errno));
	}
	if (bind(l->tfd, &l->addr.sa, l->addrlen) < 0)
		tu_die("bind tcp %s port %d: %s", l->text, g_port, strerror(errno));
	if (listen(l->tfd, 4096) < 0)
		tu_die("listen %s: %s", l->text, strerror(errno));
	if (bind(l->ufd, &l->addr.sa, l->addrlen) < 0)
		tu_die("bind udp %s port %d: %s", l->text, g_port, strerror(errno));
}

int main(int argc, char **argv)
{
	const char *listen_txt[MAX_LISTEN];
	struct rlimit rl;
	sigset_t set;
	int opt, i, sig;

	while ((opt = tu_getopt(argc, argv, &cmd)) != -1) {
		switch (opt) {
		case 'N': g_name = optarg; break;
		case 'p': g_port = (int)tu_arg_long("--port", optarg, 1, 65535); break;
		case 'l':
			if (g_nlisten == MAX_LISTEN)
				tu_die_usage("too many --listen (max %d)", MAX_LISTEN);
			listen_txt[g_nlisten++] = optarg;
			break;
		case 'P': g_pidfile = optarg; break;
		case 'i': g_idle_timeout = (int)tu_arg_long("--idle-timeout", optarg, 1, 86400); break;
		case 'v': g_verbose = true; break;
		case 'C': return check_stream(strtoull(optarg, NULL, 10));
		}
	}
	if (optind != argc)
		tu_die_usage("unexpected argument '%s'", argv[optind]);
	if (!g_name || !*g_name || !g_port || !g_nlisten)
		tu_die_usage("--name, --port and at least one --listen are required");
	if (strlen(g_name) > NAME_MAX_LEN || strpbrk(g_name, " \t\r\n"))
		tu_die("bad --name '%s' (<= %d chars, no white space)", g_name, NAME_MAX_LEN);
	for (i = 0; i < g_nlisten; i++) {
		g_listen[i].text = listen_txt[i];
		if (parse_addr(listen_txt[i], &g_listen[i]) < 0)
			tu_die("bad --listen address '%s'", listen_txt[i]);
	}

	signal(SIGPIPE, SIG_IGN);
	signal(SIGUSR1, on_usr);
	signal(SIGUSR2, on_usr);
	/* Many keep-alive connections: raise the fd limit to the hard limit. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	/* Block the exit signals in every thread; main waits for them. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	for (i = 0; i < g_nlisten; i++)
		open_listener(&g_listen[i]);
	for (i = 0; i < g_nlisten; i++) {
		pthread_t th;

		if (pthread_create(&th, NULL, accept_thread, &g_listen[i]) ||
		    pthread_create(&th, NULL, udp_thread, &g_listen[i]))
			tu_die("pthread_create failed");
	}
	if (g_pidfile) {
		FILE *f = fopen(g_pidfile, "w");

		if (!f)
			tu_die("pidfile %s: %s", g_pidfile, strerror(errno));
		fprintf(f, "%d\n", (int)getpid());
		if (fclose(f) != 0)
			tu_die("pidfile %s: %s", g_pidfile, strerror(errno));
	}
	printf("ready\n");
	fflush(stdout);

	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		break;
	}
	vlog("signal %d: exiting", sig);
	if (g_pidfile)
		unlink(g_pidfile);
	fflush(stdout);
	_exit(0);
}
