/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * metrics.h - the counters of split_stats_read() as Prometheus text
 * exposition (format 0.0.4), for splitd's metrics endpoint (metrics_http.h).
 *
 * Families (every one has HELP and TYPE lines, even with no sample):
 *
 *   per version, labels {service, namespace, version}
 *     split_weight                      gauge    configured weight
 *     split_weight_share                gauge    weight / sum of the service's weights (0..1)
 *     split_table_share{family}         gauge    share of the selection table's slots
 *                                                (family "ipv4" | "ipv6"; what the kernel
 *                                                applies; only families with slots)
 *   per endpoint, labels {service, namespace, version, endpoint}
 *     split_connections_total           counter  sockets sent there by the socket hooks
 *     split_tcp_established_total       counter  TCP handshakes completed (sockops)
 *     split_tcp_connect_failures_total  counter  SYN_SENT -> CLOSE: refused or timed out
 *     split_tcp_resets_total            counter  ESTABLISHED -> CLOSE: reset or aborted
 *     split_tcp_retransmits_total       counter  retransmitted segments
 *     split_tcp_rto_total               counter  retransmission timeouts
 *     split_tcp_rtt_seconds             gauge    smoothed RTT after the last sample
 *                                                (endpoints with at least one sample)
 *     split_tcp_smoothed_rtt_seconds    summary  _sum and _count of the smoothed RTT at
 *                                                every sample (mean over a window:
 *                                                rate(_sum) / rate(_count))
 *     split_flows_total                 counter  new XDP/tc flows (conntrack entries)
 *     split_packets_total{direction}    counter  XDP/tc packets, "forward" (client ->
 *     split_bytes_total{direction}      counter  backend) and "reply" (rewritten back)
 *   L7 proxy (l7_stats), per version, labels {service, namespace, version};
 *   only the services with L7 counters, each of their versions, plus
 *   version "" for the proxy's own answers (400, 404, 408, 431 before a
 *   version was chosen)
 *     split_l7_requests_total           counter  requests routed to the version
 *     split_l7_responses_total{code}    counter  final responses by status class,
 *                                                code "1xx" .. "5xx"
 *     split_l7_nonhttp_connections_total counter connections not HTTP/1.x, relayed at L4
 *     split_l7_request_duration_seconds summary  _sum: request head in -> response
 *                                                relayed; _count: requests (mean over a
 *                                                window: rate(_sum) / rate(_count))
 *
 * Label values are escaped (backslash, double quote, newline).
 */
#ifndef SPLIT_METRICS_H
#define SPLIT_METRICS_H

#include <stdio.h>

#include "stats.h"

/* Write the exposition of st to f. 0, or -EIO if writing failed. */
int split_metrics_render(FILE *f, const struct split_stats *st);

/* Write s as a label value (no quotes around it): \ -> \\, " -> \",
 * newline -> \n. */
void split_metrics_escape(FILE *f, const char *s);

#endif
