// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* metrics_http.c - the Prometheus endpoint's responder; see metrics_http.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "metrics.h"
#include "metrics_http.h"

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* ---- listening ------------------------------------------------------------ */

static int parse_port(const char *s, uint16_t *port)
{
	unsigned long v = 0;

	if (!*s || strlen(s) > 5)
		return -1;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

int split_metrics_listen(const char *addr_port, struct split_err *err)
{
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	} sa;
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon, *port_s;
	struct split_addr a;
	socklen_t salen;
	uint16_t port;
	size_t hlen;
	int fd, one = 1;

	memset(&sa, 0, sizeof(sa));
	if (!addr_port || !*addr_port)
		return split_errf(err, "metrics address is empty (want ADDR:PORT, e.g. %s)",
				  SPLIT_METRICS_ADDR_DEFAULT);
	/* ADDR:PORT, or [IPV6]:PORT; the address as split_addr_parse takes it. */
	if (addr_port[0] == '[') {
		const char *rb = strchr(addr_port, ']');

		if (!rb || rb[1] != ':')
			goto bad;
		hlen = (size_t)(rb - addr_port - 1);
		port_s = rb + 2;
		if (hlen >= sizeof(host))
			goto bad;
		memcpy(host, addr_port + 1, hlen);
	} else {
		colon = strrchr(addr_port, ':');
		if (!colon)
			goto bad;
		hlen = (size_t)(colon - addr_port);
		port_s = colon + 1;
		if (hlen >= sizeof(host))
			goto bad;
		memcpy(host, addr_port, hlen);
	}
	host[hlen] = 0;
	/* a bracketed address is IPv6, an unbracketed one IPv4 */
	if (split_addr_parse(host, &a) || a.family != (addr_port[0] == '[' ? 6 : 4))
		goto bad;
	if (a.family == 6) {
		memcpy(&sa.in6.sin6_addr, a.bytes, 16);
		sa.in6.sin6_family = AF_INET6;
		salen = sizeof(sa.in6);
	} else {
		memcpy(&sa.in.sin_addr, a.bytes, 4);
		sa.in.sin_family = AF_INET;
		salen = sizeof(sa.in);
	}
	if (parse_port(port_s, &port))
		goto bad;
	if (sa.sa.sa_family == AF_INET6)
		sa.in6.sin6_port = htons(port);
	else
		sa.in.sin_port = htons(port);

	fd = socket(sa.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return split_errc(err, errno, "metrics: socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (sa.sa.sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, &sa.sa, salen) || listen(fd, 64)) {
		int e = errno;

		split_errc(err, e, "metrics: listening on %s: %s", addr_port, strerror(e));
		close(fd);
		return -e;
	}
	return fd;
bad:
	return split_errf(err, "bad metrics address '%s' (want ADDR:PORT, e.g. 127.0.0.1:9464 or [::1]:9464)",
			  addr_port);
}

int split_metrics_port(int listen_fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(listen_fd, (struct sockaddr *)&ss, &len))
		return -errno;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return -EAFNOSUPPORT;
}

/* ---- health ----------------------------------------------------------------- */

static struct {
	int ready;
	char why[160];
} health = { 0, "starting" };

void split_metrics_set_ready(int ready, const char *why)
{
	health.ready = !!ready;
	snprintf(health.why, sizeof(health.why), "%s", why ? why : "");
}

/* ---- one exchange ----------------------------------------------------------- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for events on fd until deadline: 1 ready, 0 timed out, -1 error. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };

	for (;;) {
		int64_t left = deadline - now_ms();
		int r;

		if (left <= 0)
			return 0;
		r = poll(&p, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		return r < 0 ? -1 : r;
	}
}

static void send_all(int fd, const char *p, size_t n, int64_t deadline)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
		    wait_fd(fd, POLLOUT, deadline) > 0)
			continue;
		return;	/* peer gone, error or too slow: drop it */
	}
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 503: return "Service Unavailable";
	default: return "Internal Server Error";
	}
}

static void respond(int fd, int status, const char *ctype, const char *body,
		    size_t blen, int head_only)
{
	int64_t deadline = now_ms() + SPLIT_METRICS_WRITE_MS;
	char h[256];
	int n;

	n = snprintf(h, sizeof(h),
		     "HTTP/1.0 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
		     "Connection: close\r\n\r\n",
		     status, reason(status), ctype, blen,
		     status == 405 ? "Allow: GET, HEAD\r\n" : "");
	send_all(fd, h, (size_t)n, deadline);
	if (!head_only && blen)
		send_all(fd, body, blen, deadline);
}

static void respond_text(int fd, int status, const char *msg)
{
	respond(fd, status, "text/plain; charset=utf-8", msg, strlen(msg), 0);
}

/* End of the request head (CRLFCRLF, or LFLF from a lenient client), or
 * NULL. */
static const char *head_end(const char *buf, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (buf[i + 1] == '\n')
			return buf + i + 2;
		if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
			return buf + i + 3;
	}
	return NULL;
}

static int is_tchar(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/*
 * Parse "METHOD SP TARGET SP HTTP/D.D" (the line ends at LF, an optional CR
 * before it). 0 with method/target pointing into line (NUL-terminated in
 * place), -1 if malformed.
 */
static int parse_request_line(char *line, char **method, char **target)
{
	char *sp1, *sp2, *eol = strchr(line, '\n');

	if (!eol)
		return -1;
	if (eol > line && eol[-1] == '\r')
		eol--;
	*eol = 0;
	sp1 = strchr(line, ' ');
	if (!sp1 || sp1 == line)
		return -1;
	*sp1 = 0;
	for (char *p = line; *p; p++)
		if (!is_tchar(*p))
			return -1;
	sp2 = strchr(sp1 + 1, ' ');
	if (!sp2 || sp2 == sp1 + 1)
		return -1;
	*sp2 = 0;
	for (char *p = sp1 + 1; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return -1;
	if (strlen(sp2 + 1) != 8 || strncmp(sp2 + 1, "HTTP/", 5) ||
	    sp2[6] < '0' || sp2[6] > '9' || sp2[7] != '.' || sp2[8] < '0' || sp2[8] > '9')
		return -1;
	*method = line;
	*target = sp1 + 1;
	return 0;
}

static void serve(int fd, int (*render)(FILE *f, void *arg), void *arg)
{
	char buf[SPLIT_METRICS_HEAD_MAX + 1];
	int64_t deadline = now_ms() + SPLIT_METRICS_READ_MS;
	const char *end = NULL;
	char *method, *target, *body = NULL;
	size_t len = 0, blen = 0;
	FILE *f;
	int r;

	while (!(end = head_end(buf, len))) {
		ssize_t n;

		if (len == SPLIT_METRICS_HEAD_MAX) {
			respond_text(fd, 400, "request head too large\n");
			return;
		}
		n = recv(fd, buf + len, SPLIT_METRICS_HEAD_MAX - len, 0);
		if (n > 0) {
			len += (size_t)n;
			continue;
		}
		if (n == 0) {	/* EOF: an empty connection gets nothing */
			if (len)
				respond_text(fd, 400, "incomplete request head\n");
			return;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return;
		r = wait_fd(fd, POLLIN, deadline);
		if (r == 0)
			respond_text(fd, 408, "request head not received in time\n");
		if (r <= 0)
			return;
	}
	buf[len] = 0;
	if (memchr(buf, 0, (size_t)(end - buf)) ||
	    parse_request_line(buf, &method, &target)) {
		respond_text(fd, 400, "bad request\n");
		return;
	}
	if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
		respond_text(fd, 405, "only GET and HEAD\n");
		return;
	}
	target[strcspn(target, "?")] = 0;
	if (!strcmp(target, "/healthz")) {
		/* Answered by the daemon's own loop: it is alive. */
		respond(fd, 200, "text/plain; charset=utf-8", "ok\n", 3, !strcmp(method, "HEAD"));
		return;
	}
	if (!strcmp(target, "/readyz")) {
		char msg[192];
		int n = snprintf(msg, sizeof(msg), "%s%s%s\n", health.ready ? "ready" : "not ready",
				 health.why[0] ? ": " : "", health.why);

		respond(fd, health.ready ? 200 : 503, "text/plain; charset=utf-8", msg,
			(size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1, !strcmp(method, "HEAD"));
		return;
	}
	if (strcmp(target, "/metrics")) {
		respond_text(fd, 404, "not found: the metrics are at /metrics (health: /healthz, /readyz)\n");
		return;
	}
	f = open_memstream(&body, &blen);
	if (!f) {
		respond_text(fd, 500, "out of memory\n");
		return;
	}
	r = render(f, arg);
	if (fclose(f))
		r = -1;
	if (!body) {
		respond_text(fd, 500, "out of memory\n");
		return;
	}
	if (r)
		respond(fd, 500, "text/plain; charset=utf-8", body, blen, 0);
	else
		respond(fd, 200, CONTENT_TYPE, body, blen, !strcmp(method, "HEAD"));
	free(body);
}

void split_metrics_handle_with(int listen_fd, int (*render)(FILE *f, void *arg),
			       void *arg)
{
	char junk[4096];
	int64_t deadline;
	int fd;

	do {
		fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	} while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return;	/* none pending, or the client already gave up */
	serve(fd, render, arg);
	/* Our FIN first, then read what the client sent beyond the head until
	 * it closes (briefly, and at most 64 KiB): close() with unread data
	 * would send a reset, which can destroy the answer in flight. */
	shutdown(fd, SHUT_WR);
	deadline = now_ms() + SPLIT_METRICS_DRAIN_MS;
	for (size_t total = 0; total < 65536;) {
		ssize_t n = recv(fd, junk, sizeof(junk), 0);

		if (n > 0) {
			total += (size_t)n;
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
			break;
		if (errno != EINTR && wait_fd(fd, POLLIN, deadline) <= 0)
			break;
	}
	close(fd);
}

static int render_pinned(FILE *f, void *arg)
{
	struct split_stats st;
	struct split_err err;
	int r;

	if (split_stats_read(arg, &st, &err)) {
		fprintf(f, "reading the counters: %s\n", err.msg);
		return -1;
	}
	r = split_metrics_render(f, &st);
	split_stats_free(&st);
	return r;
}

void split_metrics_handle(int listen_fd, const char *pin_dir)
{
	split_metrics_handle_with(listen_fd, render_pinned, (void *)pin_dir);
}
