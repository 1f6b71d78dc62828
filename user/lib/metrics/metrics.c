// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* metrics.c - Prometheus text exposition of the counters; see metrics.h. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "metrics.h"
#include "rollout.h"

void split_metrics_escape(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '\\': fputs("\\\\", f); break;
		case '"': fputs("\\\"", f); break;
		case '\n': fputs("\\n", f); break;
		default: fputc(*s, f); break;
		}
	}
}

/* HELP text: only backslash and newline are escaped there. */
static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s ", name);
	for (const char *s = help; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
	fprintf(f, "\n# TYPE %s %s\n", name, type);
}

static void label(FILE *f, const char *name, const char *val, int first)
{
	fprintf(f, "%s%s=\"", first ? "" : ",", name);
	split_metrics_escape(f, val);
	fputc('"', f);
}

/* name{service=..,namespace=..,version=..[,endpoint=..][,extra=..]} */
static void series(FILE *f, const char *name, const char *suffix,
		   const struct split_stat_row *r, int endpoint,
		   const char *xname, const char *xval)
{
	char a[64];

	fprintf(f, "%s%s{", name, suffix);
	label(f, "service", r->service, 1);
	label(f, "namespace", r->ns, 0);
	label(f, "version", r->version, 0);
	if (endpoint)
		label(f, "endpoint", split_addr_str(&r->addr, a, sizeof(a)), 0);
	if (xname)
		label(f, xname, xval, 0);
	fputs("} ", f);
}

/* Microseconds as seconds, exactly: 1234 -> 0.001234. */
static void seconds_us(FILE *f, uint64_t us)
{
	fprintf(f, "%" PRIu64 ".%06" PRIu64 "\n", us / 1000000, us % 1000000);
}

/* Same service as row r (rows are sorted by namespace, service). */
static int same_svc(const struct split_stat_row *a, const struct split_stat_row *b)
{
	return !strcmp(a->service, b->service) && !strcmp(a->ns, b->ns);
}

static void weights(FILE *f, const struct split_stats *st)
{
	static const char *const fam[2] = { "ipv4", "ipv6" };

	family(f, "split_weight", "gauge",
	       "Configured weight of the version (relative to the service's other versions).");
	for (size_t i = 0; i < st->nversions; i++) {
		series(f, "split_weight", "", &st->versions[i], 0, NULL, NULL);
		fprintf(f, "%" PRIu32 "\n", st->versions[i].weight);
	}
	family(f, "split_weight_share", "gauge",
	       "Configured share of new connections: weight / sum of the service's weights.");
	for (size_t i = 0; i < st->nversions;) {
		size_t end = i;
		uint64_t sum = 0;

		while (end < st->nversions && same_svc(&st->versions[i], &st->versions[end]))
			sum += st->versions[end++].weight;
		for (; i < end; i++) {
			series(f, "split_weight_share", "", &st->versions[i], 0, NULL, NULL);
			fprintf(f, "%.6g\n", sum ? (double)st->versions[i].weight / (double)sum : 0.0);
		}
	}
	family(f, "split_table_share", "gauge",
	       "Share of the service's selection table slots the version holds, per address family (what the kernel applies).");
	for (size_t i = 0; i < st->nversions;) {
		size_t end = i;
		uint64_t sum[2] = { 0, 0 };

		while (end < st->nversions && same_svc(&st->versions[i], &st->versions[end])) {
			sum[0] += st->versions[end].slots[0];
			sum[1] += st->versions[end].slots[1];
			end++;
		}
		for (int fa = 0; fa < 2; fa++)
			for (size_t k = i; sum[fa] && k < end; k++) {
				series(f, "split_table_share", "", &st->versions[k], 0, "family", fam[fa]);
				fprintf(f, "%.6g\n", (double)st->versions[k].slots[fa] / (double)sum[fa]);
			}
		i = end;
	}
}

/* One counter family over the endpoint rows. */
#define ENDPOINT_COUNTER(f, st, name, help, expr)                               \
	do {                                                                    \
		family(f, name, "counter", help);                               \
		for (size_t i_ = 0; i_ < (st)->nbackends; i_++) {               \
			const struct split_stat_row *r = &(st)->backends[i_];   \
			series(f, name, "", r, 1, NULL, NULL);                  \
			fprintf(f, "%llu\n", (unsigned long long)(expr));       \
		}                                                               \
	} while (0)

/* A counter family with direction="forward" and "reply" series. */
#define DIRECTION_COUNTER(f, st, name, help, fwd, rev)                          \
	do {                                                                    \
		family(f, name, "counter", help);                               \
		for (size_t i_ = 0; i_ < (st)->nbackends; i_++) {               \
			const struct split_stat_row *r = &(st)->backends[i_];   \
			series(f, name, "", r, 1, "direction", "forward");      \
			fprintf(f, "%llu\n", (unsigned long long)(fwd));        \
			series(f, name, "", r, 1, "direction", "reply");        \
			fprintf(f, "%llu\n", (unsigned long long)(rev));        \
		}                                                               \
	} while (0)

enum l7_what { L7_REQUESTS, L7_RESPONSES, L7_NONHTTP, L7_DURATION };

static void l7_series(FILE *f, const struct split_stat_row *r, enum l7_what w)
{
	static const char *const code[5] = { "1xx", "2xx", "3xx", "4xx", "5xx" };

	switch (w) {
	case L7_REQUESTS:
		series(f, "split_l7_requests_total", "", r, 0, NULL, NULL);
		fprintf(f, "%llu\n", (unsigned long long)r->l7.requests);
		break;
	case L7_RESPONSES:
		for (int c = 0; c < 5; c++) {
			series(f, "split_l7_responses_total", "", r, 0, "code", code[c]);
			fprintf(f, "%llu\n", (unsigned long long)r->l7.responses[c]);
		}
		break;
	case L7_NONHTTP:
		series(f, "split_l7_nonhttp_connections_total", "", r, 0, NULL, NULL);
		fprintf(f, "%llu\n", (unsigned long long)r->l7.nonhttp);
		break;
	case L7_DURATION:
		series(f, "split_l7_request_duration_seconds", "_sum", r, 0, NULL, NULL);
		seconds_us(f, r->l7.latency_us_sum);
		series(f, "split_l7_request_duration_seconds", "_count", r, 0, NULL, NULL);
		fprintf(f, "%llu\n", (unsigned long long)r->l7.requests);
		break;
	}
}

/* One L7 family: every version of the services with L7 counters, then the
 * proxy's own answers (version ""). Plain services get no L7 series. */
static void l7_family(FILE *f, const struct split_stats *st, const char *name,
		      const char *type, const char *help, enum l7_what w)
{
	family(f, name, type, help);
	for (size_t i = 0; i < st->nversions; i++)
		if (st->versions[i].l7_service)
			l7_series(f, &st->versions[i], w);
	for (size_t i = 0; i < st->nproxy; i++)
		l7_series(f, &st->proxy[i], w);
}

static void l7_families(FILE *f, const struct split_stats *st)
{
	l7_family(f, st, "split_l7_requests_total", "counter",
		  "HTTP requests the L7 proxy routed to the version (version \"\": requests it answered itself).",
		  L7_REQUESTS);
	l7_family(f, st, "split_l7_responses_total", "counter",
		  "Final HTTP responses by status class (code 1xx .. 5xx) that the L7 proxy relayed from the version or gave itself; version \"\": its own answers before a version was chosen (400, 404, 408, 431).",
		  L7_RESPONSES);
	l7_family(f, st, "split_l7_nonhttp_connections_total", "counter",
		  "Connections to an L7 service that were not HTTP/1.x, relayed at L4 by the proxy.",
		  L7_NONHTTP);
	l7_family(f, st, "split_l7_request_duration_seconds", "summary",
		  "L7 proxy time from request head received to response relayed; _count is the requests, rate(_sum) / rate(_count) is the mean over a window.",
		  L7_DURATION);
}

/* Progressive rollouts: step, weight, state, rollbacks. */
static void rollouts(FILE *f, const struct split_stats *st)
{
	static const uint32_t states[] = {
		SPLIT_RO_RUNNING, SPLIT_RO_PAUSED, SPLIT_RO_DONE,
		SPLIT_RO_ROLLED_BACK, SPLIT_RO_ABORTED,
	};

	if (!st->nrollouts)
		return;
#define RO_LABELS(r) do {						\
		fputc('{', f);						\
		label(f, "service", (r)->service, 1);			\
		label(f, "namespace", (r)->ns, 0);			\
		label(f, "to", (r)->to, 0);				\
	} while (0)
	family(f, "split_rollout_step", "gauge",
	       "Step of the progressive rollout in force (1-based), toward the version `to`.");
	for (size_t i = 0; i < st->nrollouts; i++) {
		fputs("split_rollout_step", f);
		RO_LABELS(&st->rollouts[i]);
		fprintf(f, "} %u\n", st->rollouts[i].step);
	}
	family(f, "split_rollout_weight_percent", "gauge",
	       "Percent of new traffic the rollout gives the version `to` now.");
	for (size_t i = 0; i < st->nrollouts; i++) {
		fputs("split_rollout_weight_percent", f);
		RO_LABELS(&st->rollouts[i]);
		fprintf(f, "} %u\n", st->rollouts[i].weight);
	}
	family(f, "split_rollout_state", "gauge",
	       "1 for the state the rollout is in (running, paused, done, rolled-back, aborted), 0 for the others.");
	for (size_t i = 0; i < st->nrollouts; i++)
		for (size_t k = 0; k < sizeof(states) / sizeof(states[0]); k++) {
			fputs("split_rollout_state", f);
			RO_LABELS(&st->rollouts[i]);
			label(f, "state", split_rollout_state_str(states[k]), 0);
			fprintf(f, "} %d\n", st->rollouts[i].state == states[k]);
		}
	family(f, "split_rollout_rollbacks_total", "counter",
	       "Automatic rollbacks of the rollout (a threshold was passed).");
	for (size_t i = 0; i < st->nrollouts; i++) {
		fputs("split_rollout_rollbacks_total", f);
		RO_LABELS(&st->rollouts[i]);
		fprintf(f, "} %u\n", st->rollouts[i].rollbacks);
	}
#undef RO_LABELS
}

int split_metrics_render(FILE *f, const struct split_stats *st)
{
	weights(f, st);

	ENDPOINT_COUNTER(f, st, "split_connections_total",
			 "Sockets sent to the endpoint by the socket hooks: TCP and connected UDP connect(), new unconnected UDP affinities.",
			 r->s.connections);
	ENDPOINT_COUNTER(f, st, "split_tcp_established_total",
			 "TCP connections to the endpoint that completed the handshake (sockops).",
			 r->s.established);
	ENDPOINT_COUNTER(f, st, "split_tcp_connect_failures_total",
			 "TCP connects to the endpoint that failed: SYN_SENT -> CLOSE (refused, unreachable, timed out).",
			 r->s.connect_failed);
	ENDPOINT_COUNTER(f, st, "split_tcp_resets_total",
			 "Established TCP connections to the endpoint that ended without a FIN exchange (reset or aborted).",
			 r->s.resets);
	ENDPOINT_COUNTER(f, st, "split_tcp_retransmits_total",
			 "TCP segments retransmitted to the endpoint.",
			 r->s.retransmits);
	ENDPOINT_COUNTER(f, st, "split_tcp_rto_total",
			 "TCP retransmission timeouts on connections to the endpoint.",
			 r->s.rto);

	family(f, "split_tcp_rtt_seconds", "gauge",
	       "Smoothed TCP round-trip time to the endpoint after the most recent sample.");
	for (size_t i = 0; i < st->nbackends; i++) {
		const struct split_stat_row *r = &st->backends[i];

		if (!r->s.rtt_samples)
			continue;
		series(f, "split_tcp_rtt_seconds", "", r, 1, NULL, NULL);
		seconds_us(f, r->s.rtt_last_us);
	}
	family(f, "split_tcp_smoothed_rtt_seconds", "summary",
	       "Smoothed TCP round-trip time to the endpoint at every RTT sample; rate(_sum) / rate(_count) is the mean over a window.");
	for (size_t i = 0; i < st->nbackends; i++) {
		const struct split_stat_row *r = &st->backends[i];

		series(f, "split_tcp_smoothed_rtt_seconds", "_sum", r, 1, NULL, NULL);
		seconds_us(f, r->s.rtt_sum_us);
		series(f, "split_tcp_smoothed_rtt_seconds", "_count", r, 1, NULL, NULL);
		fprintf(f, "%llu\n", (unsigned long long)r->s.rtt_samples);
	}

	ENDPOINT_COUNTER(f, st, "split_flows_total",
			 "New north-south flows (XDP/tc conntrack entries) sent to the endpoint.",
			 r->c.flows);
	DIRECTION_COUNTER(f, st, "split_packets_total",
			  "North-south packets through XDP/tc: forward (client to endpoint, DNATed) and reply (rewritten back to the VIP).",
			  r->c.packets, r->c.rev_packets);
	DIRECTION_COUNTER(f, st, "split_bytes_total",
			  "North-south L3 bytes through XDP/tc: forward (client to endpoint) and reply.",
			  r->c.bytes, r->c.rev_bytes);
	l7_families(f, st);
	rollouts(f, st);
	fflush(f);
	return ferror(f) ? -EIO : 0;
}
