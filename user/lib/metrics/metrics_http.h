/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * metrics_http.h - a tiny HTTP/1.0-style responder for the Prometheus
 * endpoint, driven from the caller's poll loop:
 *
 *   int lfd = split_metrics_listen("127.0.0.1:9464", &err);
 *   ... poll(lfd, POLLIN) ...
 *   if (readable) split_metrics_handle(lfd, pin_dir);
 *
 * Each call accepts at most one connection, reads its request head (at
 * most SPLIT_METRICS_HEAD_MAX bytes, within SPLIT_METRICS_READ_MS), answers
 * and closes: GET or HEAD /metrics (any query string) -> 200 with the text
 * exposition (Content-Type: text/plain; version=0.0.4); GET /healthz -> 200
 * "ok" (the caller's loop answered: it is alive); GET /readyz -> 200
 * "ready: ..." or 503 "not ready: ..." as split_metrics_set_ready() last
 * said (not ready until it is called); another path -> 404;
 * another method -> 405; a malformed or oversized head -> 400; a head not
 * complete in time -> 408; counters unreadable (no datapath pinned) -> 500.
 * The answer is written within SPLIT_METRICS_WRITE_MS, else dropped; then
 * the client's close is awaited for SPLIT_METRICS_DRAIN_MS at most. So a
 * slow or hostile client holds the caller for at most about 1.7 s, and
 * nothing a client sends can crash it.
 */
#ifndef SPLIT_METRICS_HTTP_H
#define SPLIT_METRICS_HTTP_H

#include <stdio.h>

#include "model.h"

#define SPLIT_METRICS_ADDR_DEFAULT	"127.0.0.1:9464"
#define SPLIT_METRICS_HEAD_MAX		8192
#define SPLIT_METRICS_READ_MS		500
#define SPLIT_METRICS_WRITE_MS		1000
#define SPLIT_METRICS_DRAIN_MS		200	/* waiting for the client's close */

/*
 * Listen on ADDR:PORT: "127.0.0.1:9464", "0.0.0.0:9464", "[::1]:9464",
 * "[::]:9464" (IPv6 only). Port 0 picks a free port (split_metrics_port()
 * tells which). Returns a non-blocking, close-on-exec listening fd, or
 * -errno with err (-EINVAL: a bad address).
 */
int split_metrics_listen(const char *addr_port, struct split_err *err);

/* The local port of a listening fd, or -errno. */
int split_metrics_port(int listen_fd);

/* What GET /readyz answers from now on: ready (200) or not (503), and
 * why (a short text, shown in the body). Process-wide. */
void split_metrics_set_ready(int ready, const char *why);

/* Accept one connection on listen_fd (if one is pending) and answer it
 * with the counters pinned under pin_dir. Never blocks when none is
 * pending. */
void split_metrics_handle(int listen_fd, const char *pin_dir);

/* The same with another body for GET /metrics: render(f, arg) writes it
 * and returns 0, or a negative errno (answered 500). For tests and other callers. */
void split_metrics_handle_with(int listen_fd, int (*render)(FILE *f, void *arg),
			       void *arg);

#endif
