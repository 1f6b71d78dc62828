// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * test_metrics.c - the Prometheus exposition (metrics.c) of hand-made
 * counters: exact lines, escaping, HELP and TYPE for every family, and
 * `promtool check metrics` when promtool is installed (Debian package
 * prometheus; skipped without). split_stats_read() (stats.c) on real maps
 * pinned in a scratch directory of the BPF filesystem, the L7 proxy's
 * l7_stats among them (root only; skipped without). Then the HTTP
 * responder (metrics_http.c) over loopback: answers, errors, timeouts,
 * hostile input.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "metrics.h"
#include "metrics_http.h"
#include "../lib/tutil.h"
#include "test.h"

/* ---- a hand-made split_stats --------------------------------------------- */

static void row(struct split_stat_row *r, const char *svc, const char *ns,
		const char *ver, uint32_t weight, uint32_t s4, uint32_t s6, const char *addr)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->service, sizeof(r->service), "%s", svc);
	snprintf(r->ns, sizeof(r->ns), "%s", ns);
	snprintf(r->version, sizeof(r->version), "%s", ver);
	r->weight = weight;
	r->slots[0] = s4;
	r->slots[1] = s6;
	if (addr && split_addr_parse(addr, &r->addr))
		abort();
}

static struct split_stat_row g_versions[3], g_backends[3], g_proxy[1];

/* reviews has L7 proxy traffic: v1 its counters, v2 none yet (zeros),
 * and the proxy's own answers; x is a plain service (no L7 series). */
static const struct split_l7_stats l7_v1 = {
	.requests = 1000, .responses = { 1, 950, 20, 10, 19 }, .nonhttp = 3,
	.latency_us_sum = 2500000,
};
static const struct split_l7_stats l7_own = {
	.requests = 2, .responses = { 0, 0, 0, 12, 0 }, .nonhttp = 0, .latency_us_sum = 7,
};

static void make_stats(struct split_stats *st)
{
	/* reviews: v1=90 v2=10, IPv4 only (no IPv6 slots). */
	row(&g_versions[0], "reviews", "default", "v1", 90, 9006, 0, NULL);
	row(&g_versions[1], "reviews", "default", "v2", 10, 1001, 0, NULL);
	/* A version name no Kubernetes label allows, for the escaping. */
	row(&g_versions[2], "x", "ns", "a\\b\"c\nd", 1, 10007, 10007, NULL);
	g_versions[0].s.connections = 900;

	row(&g_backends[0], "reviews", "default", "v1", 90, 9006, 0, "10.0.0.1");
	g_backends[0].s = (struct split_sock_stats){
		.connections = 900, .established = 890, .connect_failed = 10, .resets = 3,
		.retransmits = 7, .rto = 2, .rtt_samples = 4, .rtt_sum_us = 1234567,
		.rtt_last_us = 123, .rtt_last_ns = 1,
	};
	g_backends[0].c = (struct split_flow_stats){
		.flows = 5, .packets = 50, .bytes = 5000, .rev_packets = 40, .rev_bytes = 80000,
	};
	row(&g_backends[1], "reviews", "default", "v2", 10, 1001, 0, "10.0.0.2");
	g_backends[1].s.connections = 100;	/* UDP only: no RTT sample */
	row(&g_backends[2], "x", "ns", "a\\b\"c\nd", 1, 10007, 10007, "fd00::2");

	g_versions[0].l7_service = 1;
	g_versions[0].l7 = l7_v1;
	g_versions[1].l7_service = 1;
	row(&g_proxy[0], "reviews", "default", "", 0, 0, 0, NULL);
	g_proxy[0].l7_service = 1;
	g_proxy[0].l7 = l7_own;

	*st = (struct split_stats){ .versions = g_versions, .nversions = 3,
				    .backends = g_backends, .nbackends = 3,
				    .proxy = g_proxy, .nproxy = 1 };
}

static int render_stats(FILE *f, const void *st)
{
	return split_metrics_render(f, st);
}

/* The rendering as a string (caller frees). */
static char *render(const struct split_stats *st)
{
	return tu_print_str(render_stats, st);
}

/* Is `line` a whole line of text? */
static int has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)); p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return 1;
	return 0;
}

#define ASSERT_LINE(text, line)                                                   \
	do {                                                                      \
		if (!has_line(text, line))                                        \
			TEST_FAIL_("line not in the exposition: %s", line);       \
	} while (0)
#define ASSERT_NO_LINE(text, prefix)                                              \
	do {                                                                      \
		if (strstr(text, prefix))                                         \
			TEST_FAIL_("unexpected in the exposition: %s", prefix);   \
	} while (0)

#define L_R1 "{service=\"reviews\",namespace=\"default\",version=\"v1\""
#define L_R2 "{service=\"reviews\",namespace=\"default\",version=\"v2\""
#define E1 ",endpoint=\"10.0.0.1\""
#define E2 ",endpoint=\"10.0.0.2\""

TEST(exact_lines)
{
	struct split_stats st;
	char *t;

	make_stats(&st);
	t = render(&st);
	ASSERT_TRUE(t != NULL);
	ASSERT_LINE(t, "split_weight" L_R1 "} 90");
	ASSERT_LINE(t, "split_weight" L_R2 "} 10");
	ASSERT_LINE(t, "split_weight_share" L_R1 "} 0.9");
	ASSERT_LINE(t, "split_weight_share" L_R2 "} 0.1");
	ASSERT_LINE(t, "split_table_share" L_R1 ",family=\"ipv4\"} 0.89997");
	ASSERT_LINE(t, "split_table_share" L_R2 ",family=\"ipv4\"} 0.10003");
	/* reviews holds no IPv6 slot: no ipv6 series for it. */
	ASSERT_NO_LINE(t, "split_table_share" L_R1 ",family=\"ipv6\"}");
	ASSERT_LINE(t, "split_connections_total" L_R1 E1 "} 900");
	ASSERT_LINE(t, "split_connections_total" L_R2 E2 "} 100");
	ASSERT_LINE(t, "split_tcp_established_total" L_R1 E1 "} 890");
	ASSERT_LINE(t, "split_tcp_connect_failures_total" L_R1 E1 "} 10");
	ASSERT_LINE(t, "split_tcp_resets_total" L_R1 E1 "} 3");
	ASSERT_LINE(t, "split_tcp_retransmits_total" L_R1 E1 "} 7");
	ASSERT_LINE(t, "split_tcp_rto_total" L_R1 E1 "} 2");
	ASSERT_LINE(t, "split_tcp_rtt_seconds" L_R1 E1 "} 0.000123");
	/* No RTT sample, no RTT gauge (0 would be a lie). */
	ASSERT_NO_LINE(t, "split_tcp_rtt_seconds" L_R2);
	ASSERT_LINE(t, "split_tcp_smoothed_rtt_seconds_sum" L_R1 E1 "} 1.234567");
	ASSERT_LINE(t, "split_tcp_smoothed_rtt_seconds_count" L_R1 E1 "} 4");
	ASSERT_LINE(t, "split_tcp_smoothed_rtt_seconds_count" L_R2 E2 "} 0");
	ASSERT_LINE(t, "split_flows_total" L_R1 E1 "} 5");
	ASSERT_LINE(t, "split_packets_total" L_R1 E1 ",direction=\"forward\"} 50");
	ASSERT_LINE(t, "split_packets_total" L_R1 E1 ",direction=\"reply\"} 40");
	ASSERT_LINE(t, "split_bytes_total" L_R1 E1 ",direction=\"forward\"} 5000");
	ASSERT_LINE(t, "split_bytes_total" L_R1 E1 ",direction=\"reply\"} 80000");
	ASSERT_LINE(t, "split_connections_total{service=\"x\",namespace=\"ns\",version=\"a\\\\b\\\"c\\nd\",endpoint=\"fd00::2\"} 0");
	ASSERT_LINE(t, "split_table_share{service=\"x\",namespace=\"ns\",version=\"a\\\\b\\\"c\\nd\",family=\"ipv6\"} 1");
	/* The raw newline never reaches the output inside a label. */
	ASSERT_TRUE(strstr(t, "a\\b\"c\nd") == NULL);
	free(t);
}

#define L_OWN "{service=\"reviews\",namespace=\"default\",version=\"\""

/* The L7 proxy's counters: every field, per version and for its own answers. */
static void l7_lines(int *failed, const char *t)
{
	ASSERT_LINE(t, "split_l7_requests_total" L_R1 "} 1000");
	ASSERT_LINE(t, "split_l7_requests_total" L_R2 "} 0");
	ASSERT_LINE(t, "split_l7_requests_total" L_OWN "} 2");
	ASSERT_LINE(t, "split_l7_responses_total" L_R1 ",code=\"1xx\"} 1");
	ASSERT_LINE(t, "split_l7_responses_total" L_R1 ",code=\"2xx\"} 950");
	ASSERT_LINE(t, "split_l7_responses_total" L_R1 ",code=\"3xx\"} 20");
	ASSERT_LINE(t, "split_l7_responses_total" L_R1 ",code=\"4xx\"} 10");
	ASSERT_LINE(t, "split_l7_responses_total" L_R1 ",code=\"5xx\"} 19");
	ASSERT_LINE(t, "split_l7_responses_total" L_R2 ",code=\"2xx\"} 0");
	ASSERT_LINE(t, "split_l7_responses_total" L_OWN ",code=\"4xx\"} 12");
	ASSERT_LINE(t, "split_l7_responses_total" L_OWN ",code=\"2xx\"} 0");
	ASSERT_LINE(t, "split_l7_nonhttp_connections_total" L_R1 "} 3");
	ASSERT_LINE(t, "split_l7_nonhttp_connections_total" L_R2 "} 0");
	ASSERT_LINE(t, "split_l7_request_duration_seconds_sum" L_R1 "} 2.500000");
	ASSERT_LINE(t, "split_l7_request_duration_seconds_count" L_R1 "} 1000");
	ASSERT_LINE(t, "split_l7_request_duration_seconds_sum" L_R2 "} 0.000000");
	ASSERT_LINE(t, "split_l7_request_duration_seconds_count" L_R2 "} 0");
	ASSERT_LINE(t, "split_l7_request_duration_seconds_sum" L_OWN "} 0.000007");
	ASSERT_LINE(t, "split_l7_request_duration_seconds_count" L_OWN "} 2");
}

TEST(l7_lines)
{
	struct split_stats st;
	char *t;

	make_stats(&st);
	t = render(&st);
	ASSERT_TRUE(t != NULL);
	l7_lines(failed, t);
	if (*failed) {
		free(t);
		return;
	}
	/* A plain service (no L7 counters) gets no L7 series. */
	if (strstr(t, "split_l7_requests_total{service=\"x\"") ||
	    strstr(t, "split_l7_responses_total{service=\"x\""))
		TEST_FAIL_("L7 series for a plain service");
	/* Five status classes per version with L7 counters, and the proxy. */
	{
		int n = 0;

		for (const char *p = t; (p = strstr(p, "\nsplit_l7_responses_total{")); p++)
			n++;
		ASSERT_EQ(n, 15);
	}
	free(t);
}

TEST(help_and_type_for_every_family)
{
	static const char *const fams[][2] = {
		{ "split_weight", "gauge" },
		{ "split_weight_share", "gauge" },
		{ "split_table_share", "gauge" },
		{ "split_connections_total", "counter" },
		{ "split_tcp_established_total", "counter" },
		{ "split_tcp_connect_failures_total", "counter" },
		{ "split_tcp_resets_total", "counter" },
		{ "split_tcp_retransmits_total", "counter" },
		{ "split_tcp_rto_total", "counter" },
		{ "split_tcp_rtt_seconds", "gauge" },
		{ "split_tcp_smoothed_rtt_seconds", "summary" },
		{ "split_flows_total", "counter" },
		{ "split_packets_total", "counter" },
		{ "split_bytes_total", "counter" },
		{ "split_l7_requests_total", "counter" },
		{ "split_l7_responses_total", "counter" },
		{ "split_l7_nonhttp_connections_total", "counter" },
		{ "split_l7_request_duration_seconds", "summary" },
	};
	struct split_stats st, empty = { 0 };
	char *t, *e, line[128];

	make_stats(&st);
	t = render(&st);
	e = render(&empty);
	ASSERT_TRUE(t != NULL && e != NULL);
	for (size_t i = 0; i < sizeof(fams) / sizeof(fams[0]); i++) {
		const char *help, *type, *first;

		snprintf(line, sizeof(line), "# HELP %s ", fams[i][0]);
		help = strstr(t, line);
		if (!help || !strstr(e, line))
			TEST_FAIL_("no HELP line for %s", fams[i][0]);
		snprintf(line, sizeof(line), "# TYPE %s %s", fams[i][0], fams[i][1]);
		ASSERT_LINE(t, line);
		ASSERT_LINE(e, line);
		type = strstr(t, line);
		/* HELP, then TYPE, then the samples. */
		snprintf(line, sizeof(line), "\n%s{", fams[i][0]);
		first = strstr(t, line);
		ASSERT_TRUE(help < type);
		if (first && first < type)
			TEST_FAIL_("a %s sample before its TYPE line", fams[i][0]);
	}
	/* Nothing but HELP and TYPE lines without rows. */
	for (char *p = e; *p; p = strchr(p, '\n') + 1)
		ASSERT_TRUE(p[0] == '#');
	free(t);
	free(e);
}

TEST(escape)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	ASSERT_TRUE(f != NULL);
	split_metrics_escape(f, "plain");
	fputc('|', f);
	split_metrics_escape(f, "a\\b\"c\nd");
	fputc('|', f);
	split_metrics_escape(f, "");
	fclose(f);
	ASSERT_STREQ(buf, "plain|a\\\\b\\\"c\\nd|");
	free(buf);
}

/* promtool check metrics on the rendering, when promtool is there. */
TEST(promtool_check_metrics)
{
	char path[] = "/tmp/split-metrics-XXXXXX", cmd[256];
	struct split_stats st;
	char *t;
	int fd, rc;
	FILE *f;

	if (system("command -v promtool >/dev/null 2>&1")) {
		TEST_SKIP("promtool not installed (Debian package prometheus)");
	}
	make_stats(&st);
	t = render(&st);
	ASSERT_TRUE(t != NULL);
	fd = mkstemp(path);
	ASSERT_TRUE(fd >= 0);
	f = fdopen(fd, "w");
	ASSERT_TRUE(f != NULL);
	fputs(t, f);
	fclose(f);
	free(t);
	snprintf(cmd, sizeof(cmd), "promtool check metrics < %s", path);
	rc = system(cmd);
	unlink(path);
	ASSERT_TRUE(WIFEXITED(rc));
	ASSERT_EQ(WEXITSTATUS(rc), 0);
}

/* ---- split_stats_read() on real pinned maps ------------------------------- */

enum { M_WEIGHTS, M_SERVICES, M_BACKENDS, M_VER_STATS, M_BE_STATS, M_L7_STATS, M_NUM };

static const struct {
	const char *name;
	enum bpf_map_type type;
	unsigned int key, val;
} g_maps[M_NUM] = {
	{ SPLIT_MAP_WEIGHTS, BPF_MAP_TYPE_HASH, sizeof(struct split_weight_key),
	  sizeof(struct split_weight_val) },
	{ SPLIT_MAP_SERVICES, BPF_MAP_TYPE_HASH, sizeof(__u32), sizeof(struct split_service_val) },
	{ SPLIT_MAP_BACKENDS, BPF_MAP_TYPE_HASH, sizeof(__u32), sizeof(struct split_backend_val) },
	{ SPLIT_MAP_VER_STATS, BPF_MAP_TYPE_PERCPU_HASH, sizeof(struct split_weight_key),
	  sizeof(struct split_flow_stats) },
	{ SPLIT_MAP_BE_STATS, BPF_MAP_TYPE_PERCPU_HASH, sizeof(__u32),
	  sizeof(struct split_flow_stats) },
	{ SPLIT_MAP_L7_STATS, BPF_MAP_TYPE_HASH, sizeof(struct split_weight_key),
	  sizeof(struct split_l7_stats) },
};

static void unpin_all(const char *dir)
{
	char path[512];

	for (int i = 0; i < M_NUM; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, g_maps[i].name);
		unlink(path);
	}
	rmdir(dir);
}

/* Create and pin map i under dir; its fd, or -1. */
static int make_map(const char *dir, int i)
{
	char path[512];
	int fd = bpf_map_create(g_maps[i].type, g_maps[i].name, g_maps[i].key, g_maps[i].val,
				64, NULL);

	snprintf(path, sizeof(path), "%s/%s", dir, g_maps[i].name);
	if (fd >= 0 && bpf_obj_pin(fd, path)) {
		close(fd);
		return -1;
	}
	return fd;
}

static void put_service(int fd, __u32 id, const char *name)
{
	struct split_service_val v = { 0 };

	snprintf(v.name, sizeof(v.name), "%s", name);
	snprintf(v.ns, sizeof(v.ns), "default");
	bpf_map_update_elem(fd, &id, &v, BPF_ANY);
}

static void put_weight(int fd, __u32 svc, __u32 ver, const char *name, __u32 weight)
{
	struct split_weight_key k = { svc, ver };
	struct split_weight_val v = { 0 };

	snprintf(v.version, sizeof(v.version), "%s", name);
	v.weight = weight;
	bpf_map_update_elem(fd, &k, &v, BPF_ANY);
}

static void put_l7(int fd, __u32 svc, __u32 ver, const struct split_l7_stats *v)
{
	struct split_weight_key k = { svc, ver };

	bpf_map_update_elem(fd, &k, v, BPF_ANY);
}

static int l7_eq(const struct split_l7_stats *a, const struct split_l7_stats *b)
{
	return !memcmp(a, b, sizeof(*a));
}

static void stats_read_checks(int *failed, const char *dir, int *fd)
{
	static const struct split_l7_stats stale = { .requests = 77 };
	struct split_stats st;
	struct split_err err;
	char *t;

	/* plain (id 1): v1 only; reviews (id 2): v1, v2. */
	put_service(fd[M_SERVICES], 1, "plain");
	put_service(fd[M_SERVICES], 2, "reviews");
	put_weight(fd[M_WEIGHTS], 1, 1, "v1", 1);
	put_weight(fd[M_WEIGHTS], 2, 1, "v1", 90);
	put_weight(fd[M_WEIGHTS], 2, 2, "v2", 10);

	/* A datapath pinned before l7_stats existed: no L7 counters at all. */
	if (split_stats_read(dir, &st, &err))
		TEST_FAIL_("%s", err.msg);
	ASSERT_EQ(st.nversions, 3);
	ASSERT_EQ(st.nproxy, 0);
	for (size_t i = 0; i < st.nversions; i++)
		ASSERT_EQ(st.versions[i].l7_service, 0);
	split_stats_free(&st);

	fd[M_L7_STATS] = make_map(dir, M_L7_STATS);
	ASSERT_TRUE(fd[M_L7_STATS] >= 0);
	/* Empty: still no L7 service. */
	if (split_stats_read(dir, &st, &err))
		TEST_FAIL_("%s", err.msg);
	ASSERT_EQ(st.nproxy, 0);
	ASSERT_EQ(st.versions[1].l7_service, 0);
	split_stats_free(&st);

	/* reviews v1 and the proxy's own answers; v2 has no entry yet. A
	 * version and a service that no longer exist are not shown. */
	put_l7(fd[M_L7_STATS], 2, 1, &l7_v1);
	put_l7(fd[M_L7_STATS], 2, 0, &l7_own);
	put_l7(fd[M_L7_STATS], 2, 9, &stale);
	put_l7(fd[M_L7_STATS], 99, 1, &stale);
	if (split_stats_read(dir, &st, &err))
		TEST_FAIL_("%s", err.msg);
	ASSERT_EQ(st.nversions, 3);
	/* Sorted: plain v1, reviews v1, reviews v2. */
	ASSERT_STREQ(st.versions[0].service, "plain");
	ASSERT_EQ(st.versions[0].l7_service, 0);
	ASSERT_EQ(st.versions[0].l7.requests, 0);
	ASSERT_STREQ(st.versions[1].service, "reviews");
	ASSERT_STREQ(st.versions[1].version, "v1");
	ASSERT_EQ(st.versions[1].l7_service, 1);
	ASSERT_TRUE(l7_eq(&st.versions[1].l7, &l7_v1));
	ASSERT_STREQ(st.versions[2].version, "v2");
	ASSERT_EQ(st.versions[2].l7_service, 1);
	ASSERT_EQ(st.versions[2].l7.requests, 0);
	ASSERT_EQ(st.versions[2].l7.responses[1], 0);
	ASSERT_EQ(st.nproxy, 1);
	ASSERT_STREQ(st.proxy[0].service, "reviews");
	ASSERT_STREQ(st.proxy[0].ns, "default");
	ASSERT_STREQ(st.proxy[0].version, "");
	ASSERT_EQ(st.proxy[0].l7_service, 1);
	ASSERT_TRUE(l7_eq(&st.proxy[0].l7, &l7_own));

	/* And the exposition of what was read. */
	t = render(&st);
	split_stats_free(&st);
	ASSERT_TRUE(t != NULL);
	ASSERT_LINE(t, "split_l7_requests_total" L_R1 "} 1000");
	ASSERT_LINE(t, "split_l7_responses_total" L_R1 ",code=\"5xx\"} 19");
	ASSERT_LINE(t, "split_l7_responses_total" L_OWN ",code=\"4xx\"} 12");
	ASSERT_LINE(t, "split_l7_nonhttp_connections_total" L_R1 "} 3");
	ASSERT_LINE(t, "split_l7_request_duration_seconds_sum" L_R1 "} 2.500000");
	ASSERT_LINE(t, "split_l7_request_duration_seconds_count" L_R2 "} 0");
	if (strstr(t, "split_l7_requests_total{service=\"plain\""))
		TEST_FAIL_("L7 series for a plain service");
	free(t);
}

TEST(stats_read_l7_maps)
{
	char dir[] = "/sys/fs/bpf/split-test-metrics-XXXXXX";
	int fd[M_NUM];

	if (geteuid() != 0) {
		TEST_SKIP("not root: no BPF maps");
	}
	if (!mkdtemp(dir)) {
		TEST_SKIP("no BPF filesystem at /sys/fs/bpf (%s)", strerror(errno));
	}
	for (int i = 0; i < M_NUM; i++)
		fd[i] = i == M_L7_STATS ? -1 : make_map(dir, i);
	for (int i = 0; i < M_L7_STATS; i++)
		if (fd[i] < 0) {
			*failed = 1;
			fprintf(stderr, "  creating map %s: %s\n", g_maps[i].name, strerror(errno));
		}
	if (!*failed)
		stats_read_checks(failed, dir, fd);
	for (int i = 0; i < M_NUM; i++)
		if (fd[i] >= 0)
			close(fd[i]);
	unpin_all(dir);
}

/* ---- the HTTP responder over loopback ------------------------------------- */

static int render_cb(FILE *f, void *arg)
{
	return split_metrics_render(f, arg);
}

static int render_fail(FILE *f, void *arg)
{
	(void)arg;
	fputs("reading the counters: no datapath\n", f);
	return -1;
}

/* A connection to the responder's port. */
static int dial(int lfd)
{
	return tu_dial_lo((uint16_t)split_metrics_port(lfd));
}

/*
 * Send req (len bytes; shut our side down after it if `eof`), let the
 * responder handle the connection, return everything it answered
 * (malloc'd, NUL-terminated).
 */
static char *exchange(int lfd, const void *req, size_t len, int eof,
		      int (*rend)(FILE *, void *), void *arg)
{
	size_t cap = 1 << 20, n = 0;
	char *out = malloc(cap + 1);
	int fd = dial(lfd);
	ssize_t r;

	if (!out || fd < 0) {
		free(out);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	if (len && send(fd, req, len, MSG_NOSIGNAL) != (ssize_t)len) {
		free(out);
		close(fd);
		return NULL;
	}
	if (eof)
		shutdown(fd, SHUT_WR);
	split_metrics_handle_with(lfd, rend, arg);
	while (n < cap && (r = recv(fd, out + n, cap - n, MSG_DONTWAIT)) > 0)
		n += (size_t)r;
	out[n] = 0;
	close(fd);
	return out;
}

#define REQ(s) s, sizeof(s) - 1

TEST(http_answers)
{
	struct split_stats st;
	struct split_err err;
	char *out, *body;
	int lfd;

	make_stats(&st);
	lfd = split_metrics_listen("127.0.0.1:0", &err);
	if (lfd < 0)
		TEST_FAIL_("%s", err.msg);
	ASSERT_GT(split_metrics_port(lfd), 0);

	/* Nothing pending: returns at once. */
	split_metrics_handle_with(lfd, render_cb, &st);

	out = exchange(lfd, REQ("GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n"), 1,
		       render_cb, &st);
	ASSERT_TRUE(out != NULL);
	ASSERT_CONTAINS(out, "HTTP/1.0 200 OK\r\n");
	ASSERT_CONTAINS(out, "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n");
	ASSERT_CONTAINS(out, "\r\nConnection: close\r\n");
	body = strstr(out, "\r\n\r\n");
	ASSERT_TRUE(body != NULL);
	{
		char *want = render(&st), cl[64];

		ASSERT_TRUE(want != NULL);
		snprintf(cl, sizeof(cl), "\r\nContent-Length: %zu\r\n", strlen(want));
		ASSERT_CONTAINS(out, cl);
		ASSERT_STREQ(body + 4, want);
		free(want);
	}
	free(out);

	/* Query string, HTTP/1.0, bare LF line ends: all fine. */
	out = exchange(lfd, REQ("GET /metrics?name[]=x HTTP/1.0\n\n"), 1, render_cb, &st);
	ASSERT_CONTAINS(out, "HTTP/1.0 200 OK\r\n");
	free(out);
	/* Words of the request line parted by more than one space: RFC 9112
	 * section 3 lets a recipient take them, http_parser does (the L7
	 * proxy's parser too). */
	out = exchange(lfd, REQ("GET  /metrics HTTP/1.1\r\n\r\n"), 1, render_cb, &st);
	ASSERT_CONTAINS(out, "HTTP/1.0 200 OK\r\n");
	free(out);
	/* HEAD: the head, no body. */
	out = exchange(lfd, REQ("HEAD /metrics HTTP/1.1\r\n\r\n"), 1, render_cb, &st);
	ASSERT_CONTAINS(out, "HTTP/1.0 200 OK\r\n");
	ASSERT_TRUE(strstr(out, "# HELP") == NULL);
	free(out);
	/* A client that sends more than a head (a body) still gets its answer. */
	out = exchange(lfd, REQ("GET /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"), 0,
		       render_cb, &st);
	ASSERT_CONTAINS(out, "HTTP/1.0 200 OK\r\n");
	free(out);
	close(lfd);
}

TEST(http_errors)
{
	struct split_stats st;
	struct split_err err;
	char *big, *out;
	int lfd;

	make_stats(&st);
	lfd = split_metrics_listen("127.0.0.1:0", &err);
	if (lfd < 0)
		TEST_FAIL_("%s", err.msg);

	out = exchange(lfd, REQ("GET / HTTP/1.1\r\n\r\n"), 1, render_cb, &st);
	ASSERT_CONTAINS(out, "HTTP/1.0 404 Not Found\r\n");
	free(out);
	out = exchange(lfd, REQ("GET /metricsx HTTP/1.1\r\n\r\n"), 1, render_cb, &st);
	ASSERT_CONTAINS(out, "HTTP/1.0 404 Not Found\r\n");
	free(out);
	out = exchange(lfd, REQ("POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n"), 1,
		       render_cb, &st);
	ASSERT_CONTAINS(out, "HTTP/1.0 405 Method Not Allowed\r\n");
	ASSERT_CONTAINS(out, "\r\nAllow: GET, HEAD\r\n");
	free(out);

	static const char *const bad[] = {
		"garbage\r\n\r\n",
		"GET /metrics\r\n\r\n",
		"GET /metrics HTTP/2.0\r\n\r\n",
		"GET /metrics HTTP/1.1 \r\n\r\n",
		"GET /metrics HTTP/11\r\n\r\n",
		"GET /metrics FTP/1.1\r\n\r\n",
		"G(T /metrics HTTP/1.1\r\n\r\n",
		"GET /met\x01rics HTTP/1.1\r\n\r\n",
		"\r\n\r\n",
		" GET /metrics HTTP/1.1\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		out = exchange(lfd, bad[i], strlen(bad[i]), 1, render_cb, &st);
		ASSERT_TRUE(out != NULL);
		if (!strstr(out, "HTTP/1.0 400 Bad Request\r\n"))
			TEST_FAIL_("request %zu: got '%.40s'", i, out);
		free(out);
	}
	/* A NUL byte in the head. */
	out = exchange(lfd, "GET /metrics HTTP/1.1\r\nX: a\0b\r\n\r\n", 33, 1, render_cb, &st);
	ASSERT_CONTAINS(out, "HTTP/1.0 400 Bad Request\r\n");
	free(out);
	/* Head over the cap: 400, whatever follows. */
	big = malloc(SPLIT_METRICS_HEAD_MAX + 100);
	ASSERT_TRUE(big != NULL);
	memset(big, 'a', SPLIT_METRICS_HEAD_MAX + 100);
	memcpy(big, "GET /", 5);
	out = exchange(lfd, big, SPLIT_METRICS_HEAD_MAX + 100, 1, render_cb, &st);
	free(big);
	ASSERT_CONTAINS(out, "HTTP/1.0 400 Bad Request\r\n");
	free(out);
	/* A head cut short by the client's close: 400. */
	out = exchange(lfd, REQ("GET /metrics HTTP/1.1\r\nHost: x\r\n"), 1, render_cb, &st);
	ASSERT_CONTAINS(out, "HTTP/1.0 400 Bad Request\r\n");
	free(out);
	/* A client that says nothing and keeps the connection: 408 in time. */
	out = exchange(lfd, "", 0, 0, render_cb, &st);
	ASSERT_CONTAINS(out, "HTTP/1.0 408 Request Timeout\r\n");
	free(out);
	/* A client that connects and closes: no answer, no crash. */
	out = exchange(lfd, "", 0, 1, render_cb, &st);
	ASSERT_STREQ(out, "");
	free(out);
	/* Counters unreadable: 500 with the reason. */
	out = exchange(lfd, REQ("GET /metrics HTTP/1.1\r\n\r\n"), 1, render_fail, NULL);
	ASSERT_CONTAINS(out, "HTTP/1.0 500 Internal Server Error\r\n");
	ASSERT_CONTAINS(out, "no datapath");
	free(out);
	/* And it still answers. */
	out = exchange(lfd, REQ("GET /metrics HTTP/1.1\r\n\r\n"), 1, render_cb, &st);
	ASSERT_CONTAINS(out, "HTTP/1.0 200 OK\r\n");
	free(out);
	close(lfd);
}

TEST(http_pin_dir_missing)
{
	struct split_err err;
	char *out = NULL;
	int lfd = split_metrics_listen("127.0.0.1:0", &err), fd;
	size_t n = 0;
	ssize_t r;

	if (lfd < 0)
		TEST_FAIL_("%s", err.msg);
	fd = dial(lfd);
	ASSERT_TRUE(fd >= 0);
	ASSERT_EQ(send(fd, REQ("GET /metrics HTTP/1.1\r\n\r\n"), 0), 25);
	shutdown(fd, SHUT_WR);
	split_metrics_handle(lfd, "/nonexistent/split-pin-dir");
	out = calloc(1, 4096);
	ASSERT_TRUE(out != NULL);
	while (n < 4095 && (r = recv(fd, out + n, 4095 - n, MSG_DONTWAIT)) > 0)
		n += (size_t)r;
	close(fd);
	close(lfd);
	ASSERT_CONTAINS(out, "HTTP/1.0 500 Internal Server Error\r\n");
	ASSERT_CONTAINS(out, "/nonexistent/split-pin-dir");
	free(out);
}

TEST(listen_addresses)
{
	static const char *const bad[] = {
		"", "127.0.0.1", "9464", ":9464", "localhost:9464", "127.0.0.1:", "127.0.0.1:x",
		"127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:+80", "127.0.0.1:999999",
		"[::1]9464", "[::1]:", "[]:9464", "::1:9464", "[127.0.0.1]:9464", "[::1:9464",
		"1.2.3:9464", "127.0.0.1:9464 ",
	};
	struct split_err err;
	int fd;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err.msg[0] = 0;
		fd = split_metrics_listen(bad[i], &err);
		if (fd >= 0) {
			close(fd);
			TEST_FAIL_("'%s' accepted", bad[i]);
		}
		ASSERT_TRUE(err.msg[0] != 0);
	}
	ASSERT_EQ(split_metrics_listen(NULL, &err), -EINVAL);
	/* The parser behind it reads what split_addr_port_str prints. */
	for (size_t i = 0; i < 3; i++) {
		static const char *const good[] = { "10.0.0.1:80", "[fd00::1]:65535", "0.0.0.0:0" };
		struct split_addr a;
		uint16_t port = 1;
		char back[64];

		ASSERT_EQ(split_addr_port_parse(good[i], &a, &port), 0);
		ASSERT_STREQ(split_addr_port_str(&a, port, back, sizeof(back)), good[i]);
	}
	{
		struct split_addr a = { .family = 9 };
		uint16_t port = 7;

		ASSERT_EQ(split_addr_port_parse("[::1]9464", &a, &port), -EINVAL);
		ASSERT_EQ(a.family, 9);	/* unchanged on failure */
		ASSERT_EQ(port, 7);
	}
	fd = split_metrics_listen("127.0.0.1:0", &err);
	ASSERT_TRUE(fd >= 0);
	close(fd);
	fd = split_metrics_listen("0.0.0.0:0", &err);
	ASSERT_TRUE(fd >= 0);
	close(fd);
	fd = split_metrics_listen("[::1]:0", &err);
	if (fd < 0)	/* a host without IPv6 loopback */
		TEST_SKIP("[::1]: %s", err.msg);
	close(fd);
}

TEST(http_health_and_readiness)
{
	struct split_stats st;
	struct split_err err;
	char *out;
	int lfd;

	make_stats(&st);
	lfd = split_metrics_listen("127.0.0.1:0", &err);
	if (lfd < 0)
		TEST_FAIL_("%s", err.msg);
	out = exchange(lfd, REQ("GET /healthz HTTP/1.1\r\n\r\n"), 1, render_cb, &st);
	ASSERT_CONTAINS(out, "HTTP/1.0 200 OK\r\n");
	ASSERT_CONTAINS(out, "\r\n\r\nok\n");
	free(out);
	/* Not ready until told. */
	out = exchange(lfd, REQ("GET /readyz HTTP/1.1\r\n\r\n"), 1, render_cb, &st);
	ASSERT_CONTAINS(out, "HTTP/1.0 503 Service Unavailable\r\n");
	ASSERT_CONTAINS(out, "\r\n\r\nnot ready: starting\n");
	free(out);
	split_metrics_set_ready(1, "datapath attached, configuration applied");
	out = exchange(lfd, REQ("GET /readyz?verbose HTTP/1.1\r\n\r\n"), 1, render_cb, &st);
	ASSERT_CONTAINS(out, "HTTP/1.0 200 OK\r\n");
	ASSERT_CONTAINS(out, "\r\nContent-Length: 48\r\n");
	ASSERT_CONTAINS(out, "\r\n\r\nready: datapath attached, configuration applied\n");
	free(out);
	out = exchange(lfd, REQ("HEAD /readyz HTTP/1.1\r\n\r\n"), 1, render_cb, &st);
	ASSERT_CONTAINS(out, "HTTP/1.0 200 OK\r\n");
	ASSERT_TRUE(strstr(out, "ready: datapath") == NULL);
	free(out);
	split_metrics_set_ready(0, NULL);
	out = exchange(lfd, REQ("GET /readyz HTTP/1.1\r\n\r\n"), 1, render_cb, &st);
	ASSERT_CONTAINS(out, "HTTP/1.0 503 Service Unavailable\r\n");
	ASSERT_CONTAINS(out, "\r\n\r\nnot ready\n");
	free(out);
	out = exchange(lfd, REQ("POST /readyz HTTP/1.1\r\n\r\n"), 1, render_cb, &st);
	ASSERT_CONTAINS(out, "HTTP/1.0 405 Method Not Allowed\r\n");
	free(out);
	out = exchange(lfd, REQ("GET /readyzz HTTP/1.1\r\n\r\n"), 1, render_cb, &st);
	ASSERT_CONTAINS(out, "HTTP/1.0 404 Not Found\r\n");
	free(out);
	close(lfd);
}
