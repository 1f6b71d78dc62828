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

#include <http_parser.h>
#include "metrics.h"
#include "metrics_http.h"

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* ---- listening ------------------------------------------------------------ */

int split_metrics_listen(const char *addr_port, struct split_err *err)
{
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	} sa;
	struct split_addr a;
	socklen_t salen;
	uint16_t port;
	int fd, one = 1;

	memset(&sa, 0, sizeof(sa));
	if (!addr_port || !*addr_port)
		return split_errf(err, "metrics address is empty (want ADDR:PORT, e.g. %s)",
				  SPLIT_METRICS_ADDR_DEFAULT);
	if (split_addr_port_parse(addr_port, &a, &port))
		return split_errf(err, "bad metrics address '%s' (want ADDR:PORT, e.g. 127.0.0.1:9464 or [::1]:9464)",
				  addr_port);
	if (a.family == 6) {
		memcpy(&sa.in6.sin6_addr, a.bytes, 16);
		sa.in6.sin6_family = AF_INET6;
		sa.in6.sin6_port = htons(port);
		salen = sizeof(sa.in6);
	} else {
		memcpy(&sa.in.sin_addr, a.bytes, 4);
		sa.in.sin_family = AF_INET;
		sa.in.sin_port = htons(port);
		salen = sizeof(sa.in);
	}
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

/* The request head, parsed by http_parser (as the L7 proxy parses them):
 * the method in the parser, the target where it lies in the buffer. */
struct head {
	const char *target;
	size_t tlen;
	int complete;
};

static int on_url(http_parser *p, const char *at, size_t len)
{
	struct head *h = p->data;

	if (h->target && at != h->target + h->tlen)
		return -1;	/* one contiguous buffer: never split */
	if (!h->target)
		h->target = at;
	h->tlen += len;
	return 0;
}

/* The head is all we read: stop there, whatever body follows. */
static int on_headers_complete(http_parser *p)
{
	((struct head *)p->data)->complete = 1;
	return 1;
}

static const http_parser_settings head_settings = {
	.on_url = on_url,
	.on_headers_complete = on_headers_complete,
};

/* Parse the head in buf[0, len): 0 with p->method and *h set, or -1 if
 * malformed (or HTTP/0.9, a line with no version, which http_parser
 * takes). */
static int parse_head(const char *buf, size_t len, http_parser *p, struct head *h)
{
	http_parser_init(p, HTTP_REQUEST);
	p->data = h;
	h->target = NULL;
	h->tlen = 0;
	h->complete = 0;
	http_parser_execute(p, &head_settings, buf, len);
	if (HTTP_PARSER_ERRNO(p) != HPE_OK || !h->complete || p->http_major != 1 || !h->tlen)
		return -1;
	return 0;
}

static void serve(int fd, int (*render)(FILE *f, void *arg), void *arg)
{
	char buf[SPLIT_METRICS_HEAD_MAX + 1];
	int64_t deadline = now_ms() + SPLIT_METRICS_READ_MS;
	const char *end = NULL;
	char *target, *body = NULL;
	struct head h;
	http_parser p;
	int head_only;
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
	if (parse_head(buf, (size_t)(end - buf), &p, &h)) {
		respond_text(fd, 400, "bad request\n");
		return;
	}
	if (p.method != HTTP_GET && p.method != HTTP_HEAD) {
		respond_text(fd, 405, "only GET and HEAD\n");
		return;
	}
	head_only = p.method == HTTP_HEAD;
	target = buf + (h.target - buf);	/* parsed: cut in place */
	target[h.tlen] = 0;
	target[strcspn(target, "?")] = 0;
	if (!strcmp(target, "/healthz")) {
		/* Answered by the daemon's own loop: it is alive. */
		respond(fd, 200, "text/plain; charset=utf-8", "ok\n", 3, head_only);
		return;
	}
	if (!strcmp(target, "/readyz")) {
		char msg[192];
		int n = snprintf(msg, sizeof(msg), "%s%s%s\n", health.ready ? "ready" : "not ready",
				 health.why[0] ? ": " : "", health.why);

		respond(fd, health.ready ? 200 : 503, "text/plain; charset=utf-8", msg,
			(size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1, head_only);
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
		respond(fd, 200, CONTENT_TYPE, body, blen, head_only);
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
