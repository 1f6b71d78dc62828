// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * connrate.c - connection-rate client for the benchmarks (bench/).
 *
 *   connrate --connect 10.96.0.10 --port 9080 --duration 5 --parallel 2 --request --rst
 *
 * Each of K threads loops: socket(), connect() (blocking), optionally one
 * HTTP/1.1 request with "Connection: close" whose reply is read to EOF,
 * close(). The time of the connect() call alone is taken with
 * CLOCK_MONOTONIC around the syscall; it includes the cgroup connect hooks,
 * the netfilter output hooks the SYN passes and the TCP handshake (the call
 * returns when the SYN-ACK has arrived). At the end one line:
 *
 *   connections N seconds S rate R/s connect_ns_p50 X connect_ns_p99 Y errors E
 *
 * N counts finished iterations without an error; S is the wall time from the
 * start until the last thread stopped; the percentiles are over the connect()
 * times of those N iterations (exact: every sample is kept, up to 8M per
 * thread; past that a uniform reservoir of 8M per thread). The first few
 * error reasons go to stderr with their counts.
 *
 * With several --connect targets each thread takes them in turn, one
 * connection each, and one more line per target follows (see --help): two
 * paths measured connection by connection under the same load, so that the
 * machine's noise cancels out of their difference.
 *
 * Paced (--interval-ms): each thread starts an iteration every MS ms
 * instead of as fast as it can, e.g. to count what fails while a proxy
 * restarts. --header adds one request header line; --versions counts the
 * replies' X-Version header (one "version NAME N" line each).
 *
 * Exit status: 0 if N > 0 and E == 0; 1 if E > 0 or N == 0 (the line is
 * still printed); 2 on a usage error.
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
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "../lib/tutil.h"

#define MAX_PARALLEL	256
#define SAMPLE_CAP	(8u << 20)	/* connect() samples kept per thread */
#define MAX_REASONS	8
#define MAX_TARGETS	8
#define MAX_VERSIONS	8
#define VERSION_LEN	32

static char g_request[1024] =
	"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
static size_t g_request_len;

struct target {
	union tu_sa addr;
	socklen_t len;
	const char *text;
};

static struct target g_targets[MAX_TARGETS];
static int g_ntargets;
static int g_port = -1;
static double g_duration;		/* seconds; 0 = not given */
static long g_count;			/* 0 = no cap */
static int g_parallel = 1;
static bool g_do_request, g_rst, g_verbose;
static int g_timeout_ms = 2000;
static uint64_t g_interval_ns;		/* 0: as fast as possible */
static bool g_versions;

static uint64_t g_deadline;		/* CLOCK_MONOTONIC ns; 0 = none */
static long g_taken;			/* iterations handed out (atomic) */
static volatile sig_atomic_t g_stop;

static pthread_mutex_t g_reason_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char what[48];
	long n;
} g_reasons[MAX_REASONS];
static int g_nreasons;
static long g_reasons_other;

/* One thread's figures for one target. */
struct tstats {
	uint32_t *samples;
	size_t nsamples, cap;
	uint64_t seen;			/* samples offered (reservoir) */
	long ok, errors;
	uint64_t busy_ns;		/* time spent in this target's iterations */
};

struct worker {
	pthread_t tid;
	int index;
	uint64_t rng;
	struct tstats t[MAX_TARGETS];
	struct tu_tally ver;	/* per X-Version value ("": none) */
};

#define STR_(x) #x
#define STR(x) STR_(x)

static const struct tu_opt opts[] = {
	{ "connect", 'c', "ADDR", "IPv4 or IPv6 address ([v6] is ok): a VIP, a backend, ...\n"
	  "Repeatable (up to " STR(MAX_TARGETS) "): each thread then takes the\n"
	  "targets in turn, one connection each (thread i starts\n"
	  "at target i), so the targets share the same moments\nand load" },
	{ "port", 'p', "PORT", "TCP port" },
	{ "duration", 'd', "SECONDS", "run this long (a fraction is ok); the iterations in\nflight then finish" },
	{ "count", 'n', "N", "stop after N iterations (with --duration: whichever\ncomes first); also -n N" },
	{ "parallel", 'P', "K", "threads, each with one connection at a time (default 1)" },
	{ "request", 'r', NULL, "per connection send\n"
	  "  GET / HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n\n"
	  "and read the reply to EOF; a reply that does not start\n"
	  "with \"HTTP/1.x 200\" is an error (bad_status)" },
	{ "rst", 'R', NULL, "close with SO_LINGER {1, 0}: the close sends a RST and\n"
	  "the socket leaves no TIME_WAIT behind. Without it, a\n"
	  "client that closes first (no --request) keeps every\n"
	  "4-tuple in TIME_WAIT for 60 s and runs out of ephemeral\n"
	  "ports after ~28,000 connections per destination; with\n"
	  "it, conntrack (when a NAT is in the path) also drops\n"
	  "the entry after 10 s instead of 120 s. Use it for runs\n"
	  "longer than a few seconds." },
	{ "timeout-ms", 't', "MS", "connect / send / receive timeout (default 2000)" },
	{ "interval-ms", 'I', "MS", "each thread starts an iteration every MS ms (a\n"
	  "fraction is ok) instead of as fast as it can" },
	{ "header", 'H', "LINE", "with --request: add this header line, e.g.\n'cookie: user=test-user'" },
	{ "versions", 'V', NULL, "with --request: count the replies' X-Version header;\n"
	  "one line \"version NAME N\" each (NAME \"-\": none)" },
	{ "path", 'U', "PATH", "with --request: GET PATH instead of /" },
	{ "verbose", 'v', NULL, "print every error to stderr" },
	{ 0 },
};

static const struct tu_cmd cmd = {
	.synopsis = "--connect ADDR --port PORT (--duration SECONDS | --count N) [options]",
	.about = "\nOpen TCP connections to ADDR:PORT in a loop, as fast as possible, and report\n"
		 "the rate and the time of the connect() call.\n",
	.shorts = "n:",
	.opts = opts,
	.more =
"Output (stdout, one line):\n"
"  connections N seconds S rate R/s connect_ns_p50 X connect_ns_p99 Y errors E\n"
"N: iterations without error; S: wall time of the run; R = N / S; X, Y: the\n"
"median and 99th percentile of the connect() call's duration (CLOCK_MONOTONIC\n"
"ns around the syscall) over those N; E: failed iterations (socket, connect,\n"
"send, receive, timeout, bad status). The first " STR(MAX_REASONS) " error reasons go to stderr.\n"
"With more than one target, that line is the total, and one line per target\n"
"follows, in the order given:\n"
"  target ADDR connections N rate R/s connect_ns_p50 X connect_ns_p99 Y errors E\n"
"where R = K x N / (the time the K threads spent in that target's\n"
"iterations): the rate K clients would get if every iteration took as long\n"
"as this target's did.\n"
"Exit status: 0 if N > 0 and E == 0, 1 otherwise, 2 on a usage error.\n",
};

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

/* May this thread start another iteration? */
static bool take_iteration(void)
{
	if (g_stop)
		return false;
	if (g_deadline && tu_mono_ns() >= g_deadline)
		return false;
	if (g_count && __atomic_fetch_add(&g_taken, 1, __ATOMIC_RELAXED) >= g_count)
		return false;
	return true;
}

static void note_error(struct tstats *w, const char *what, int err)
{
	char buf[48];
	int i;

	w->errors++;
	if (err)
		snprintf(buf, sizeof(buf), "%s: %s", what, strerrorname_np(err) ?
			 strerrorname_np(err) : "?");
	else
		snprintf(buf, sizeof(buf), "%s", what);
	if (g_verbose)
		fprintf(stderr, "connrate: %s\n", buf);
	pthread_mutex_lock(&g_reason_lock);
	for (i = 0; i < g_nreasons; i++)
		if (!strcmp(g_reasons[i].what, buf))
			break;
	if (i < g_nreasons) {
		g_reasons[i].n++;
	} else if (g_nreasons < MAX_REASONS) {
		snprintf(g_reasons[g_nreasons].what, sizeof(g_reasons[0].what), "%s", buf);
		g_reasons[g_nreasons++].n = 1;
	} else {
		g_reasons_other++;
	}
	pthread_mutex_unlock(&g_reason_lock);
	/* Do not spin on a persistent error (e.g. no route, no port left). */
	usleep(1000);
}

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static void add_sample(struct tstats *w, uint64_t *rng, uint64_t ns)
{
	uint32_t v = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;

	w->seen++;
	if (w->nsamples < w->cap) {
		w->samples[w->nsamples++] = v;
		return;
	}
	if (w->cap < SAMPLE_CAP) {
		size_t ncap = w->cap ? w->cap * 2 : 4096;
		uint32_t *p;

		if (ncap > SAMPLE_CAP)
			ncap = SAMPLE_CAP;
		p = realloc(w->samples, ncap * sizeof(*p));
		if (p) {
			w->samples = p;
			w->cap = ncap;
			w->samples[w->nsamples++] = v;
			return;
		}
		if (!w->cap)
			return;	/* no memory at all: no sample */
	}
	/* Reservoir (algorithm R): keep each of the seen samples with equal
	 * probability. */
	{
		uint64_t j = xorshift(rng) % w->seen;

		if (j < w->nsamples)
			w->samples[j] = v;
	}
}

static void close_sock(int fd)
{
	if (g_rst) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };

		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	close(fd);
}

/* The X-Version value in a reply head ("" if none). */
static void head_version(const char *head, size_t n, char *out)
{
	static const char key[] = "\r\nx-version:";
	size_t k = sizeof(key) - 1;

	out[0] = 0;
	for (size_t i = 0; i + k <= n; i++) {
		size_t j = i + k, o = 0;

		if (strncasecmp(head + i, key, k))
			continue;
		while (j < n && head[j] == ' ')
			j++;
		while (j < n && head[j] != '\r' && o + 1 < VERSION_LEN)
			out[o++] = head[j++];
		out[o] = 0;
		return;
	}
}

/* Send the request and read the reply to EOF. 0 or -1 (error noted). */
static int do_request(struct worker *wk, struct tstats *w, int fd)
{
	char buf[4096];
	size_t off = 0, len = g_request_len, got = 0;
	char head[1024], ver[VERSION_LEN];
	ssize_t r;

	while (off < len) {
		r = send(fd, g_request + off, len - off, MSG_NOSIGNAL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			note_error(w, errno == EAGAIN ? "send_timeout" : "send", errno == EAGAIN ? 0 : errno);
			return -1;
		}
		off += (size_t)r;
	}
	for (;;) {
		r = recv(fd, buf, sizeof(buf), 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			note_error(w, errno == EAGAIN ? "recv_timeout" : "recv", errno == EAGAIN ? 0 : errno);
			return -1;
		}
		if (r == 0)
			break;
		if (got < sizeof(head)) {
			size_t n = (size_t)r < sizeof(head) - got ? (size_t)r : sizeof(head) - got;

			memcpy(head + got, buf, n);
		}
		got += (size_t)r;
	}
	/* "HTTP/1.1 200 " */
	if (got < 12 || memcmp(head, "HTTP/1.", 7) || memcmp(head + 8, " 200", 4)) {
		note_error(w, got ? "bad_status" : "empty_reply", 0);
		return -1;
	}
	if (g_versions) {
		head_version(head, got < sizeof(head) ? got : sizeof(head), ver);
		tu_tally_add(&wk->ver, MAX_VERSIONS, ver, 1);
	}
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint64_t t0, t1, start, next = tu_mono_ns();
	int fd, one = 1, k = w->index % g_ntargets;

	while (take_iteration()) {
		const struct target *tg = &g_targets[k];
		struct tstats *ts = &w->t[k];

		k = (k + 1) % g_ntargets;
		if (g_interval_ns) {	/* paced: the next slot, never a burst */
			uint64_t now = tu_mono_ns();

			if (next > now) {
				struct timespec d = {
					.tv_sec = (time_t)((next - now) / 1000000000ull),
					.tv_nsec = (long)((next - now) % 1000000000ull),
				};

				nanosleep(&d, NULL);
			} else {
				next = now;
			}
			next += g_interval_ns;
		}
		start = tu_mono_ns();
		fd = socket(tg->addr.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			note_error(ts, "socket", errno);
			continue;
		}
		tu_set_timeouts(fd, g_timeout_ms);
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		t0 = tu_mono_ns();
		if (connect(fd, &tg->addr.sa, tg->len) < 0) {
			int e = errno;

			close_sock(fd);
			if (e == EINPROGRESS || e == EAGAIN)
				note_error(ts, "connect_timeout", 0);
			else
				note_error(ts, "connect", e);
			continue;
		}
		t1 = tu_mono_ns();
		if (g_do_request && do_request(w, ts, fd)) {
			close_sock(fd);
			continue;
		}
		close_sock(fd);
		add_sample(ts, &w->rng, t1 - t0);
		ts->ok++;
		ts->busy_ns += tu_mono_ns() - start;
	}
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array. */
static uint32_t pct(const uint32_t *v, size_t n, double p)
{
	size_t k;

	if (!n)
		return 0;
	k = (size_t)(p / 100.0 * (double)n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1];
}

/*
 * Merge target k's samples of every thread (all of them if k < 0), sort,
 * and print one result line (prefix: "" or "target ADDR ").
 */
static int report(struct worker *workers, int k, const char *prefix, double secs)
{
	size_t total = 0, off = 0;
	long ok = 0, errors = 0;
	uint64_t busy = 0;
	uint32_t *all;
	double rate;
	int i, j;

	for (i = 0; i < g_parallel; i++)
		for (j = 0; j < g_ntargets; j++) {
			if (k >= 0 && j != k)
				continue;
			ok += workers[i].t[j].ok;
			errors += workers[i].t[j].errors;
			total += workers[i].t[j].nsamples;
			busy += workers[i].t[j].busy_ns;
		}
	all = malloc((total ? total : 1) * sizeof(*all));
	if (!all) {
		fprintf(stderr, "connrate: out of memory\n");
		return -1;
	}
	for (i = 0; i < g_parallel; i++)
		for (j = 0; j < g_ntargets; j++) {
			const struct tstats *t = &workers[i].t[j];

			if ((k >= 0 && j != k) || !t->nsamples)
				continue;
			memcpy(all + off, t->samples, t->nsamples * sizeof(*all));
			off += t->nsamples;
		}
	qsort(all, total, sizeof(*all), cmp_u32);
	if (k < 0)
		rate = secs > 0 ? (double)ok / secs : 0.0;
	else
		rate = busy ? (double)g_parallel * (double)ok / ((double)busy / 1e9) : 0.0;
	printf("%sconnections %ld seconds %.3f rate %.1f/s connect_ns_p50 %u connect_ns_p99 %u errors %ld\n",
	       prefix, ok, secs, rate, pct(all, total, 50), pct(all, total, 99), errors);
	free(all);
	return 0;
}

int main(int argc, char **argv)
{
	static struct worker workers[MAX_PARALLEL];
	const char *targets[MAX_TARGETS];
	const char *header = NULL, *path = "/";
	uint64_t start, end;
	long ok = 0, errors = 0;
	struct sigaction sa;
	char prefix[INET6_ADDRSTRLEN + 16];
	double secs;
	int c, i, j, ret = 0;

	while ((c = tu_getopt(argc, argv, &cmd)) != -1) {
		switch (c) {
		case 'c':
			if (g_ntargets == MAX_TARGETS)
				tu_die_usage("at most %d --connect targets", MAX_TARGETS);
			targets[g_ntargets++] = optarg;
			break;
		case 'p':
			g_port = (int)tu_arg_long("--port", optarg, 1, 65535);
			break;
		case 'd':
			g_duration = tu_arg_double("--duration", optarg, 86400);
			break;
		case 'n':
			g_count = tu_arg_long("--count", optarg, 1, 1000000000000L);
			break;
		case 'P':
			g_parallel = (int)tu_arg_long("--parallel", optarg, 1, MAX_PARALLEL);
			break;
		case 'r':
			g_do_request = true;
			break;
		case 'R':
			g_rst = true;
			break;
		case 't':
			g_timeout_ms = (int)tu_arg_long("--timeout-ms", optarg, 1, 600000);
			break;
		case 'v':
			g_verbose = true;
			break;
		case 'I':
			g_interval_ns = (uint64_t)(tu_arg_double("--interval-ms", optarg, 60000) * 1e6);
			break;
		case 'H':
			if (strpbrk(optarg, "\r\n") || !strchr(optarg, ':') || strlen(optarg) > 512)
				tu_die_usage("bad --header '%s' (want one 'name: value' line)", optarg);
			header = optarg;
			break;
		case 'V':
			g_versions = true;
			break;
		case 'U':
			if (optarg[0] != '/' || strpbrk(optarg, " \r\n") || strlen(optarg) > 256)
				tu_die_usage("bad --path '%s' (want /...)", optarg);
			path = optarg;
			break;
		}
	}
	if (optind < argc)
		tu_die_usage("unexpected argument '%s'", argv[optind]);
	if (!g_ntargets)
		tu_die_usage("--connect ADDR is required");
	if (g_port < 0)
		tu_die_usage("--port PORT is required");
	if (!g_duration && !g_count)
		tu_die_usage("--duration SECONDS or --count N is required");
	if ((header || g_versions || strcmp(path, "/")) && !g_do_request)
		tu_die_usage("--header, --path and --versions need --request");
	snprintf(g_request, sizeof(g_request),
		 "GET %s HTTP/1.1\r\nHost: x\r\n%s%sConnection: close\r\n\r\n", path,
		 header ? header : "", header ? "\r\n" : "");
	g_request_len = strlen(g_request);
	for (i = 0; i < g_ntargets; i++) {
		struct target *t = &g_targets[i];

		t->text = targets[i];
		if (tu_sa_parse(targets[i], 0, &t->addr, &t->len))
			tu_die_usage("bad address '%s'", targets[i]);
		if (t->addr.sa.sa_family == AF_INET)
			t->addr.in.sin_port = htons((uint16_t)g_port);
		else
			t->addr.in6.sin6_port = htons((uint16_t)g_port);
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	start = tu_mono_ns();
	if (g_duration)
		g_deadline = start + (uint64_t)(g_duration * 1e9);
	for (i = 0; i < g_parallel; i++) {
		workers[i].index = i;
		workers[i].rng = 0x9e3779b97f4a7c15ull ^ ((uint64_t)(i + 1) * 0xbf58476d1ce4e5b9ull) ^ start;
		if (pthread_create(&workers[i].tid, NULL, worker_main, &workers[i])) {
			fprintf(stderr, "connrate: pthread_create failed\n");
			g_stop = 1;
			g_parallel = i;
			break;
		}
	}
	for (i = 0; i < g_parallel; i++)
		pthread_join(workers[i].tid, NULL);
	end = tu_mono_ns();
	secs = (double)(end - start) / 1e9;

	for (i = 0; i < g_parallel; i++)
		for (j = 0; j < g_ntargets; j++) {
			ok += workers[i].t[j].ok;
			errors += workers[i].t[j].errors;
		}
	if (report(workers, -1, "", secs))
		ret = 1;
	for (j = 0; g_ntargets > 1 && j < g_ntargets; j++) {
		snprintf(prefix, sizeof(prefix), "target %s ", g_targets[j].text);
		if (report(workers, j, prefix, secs))
			ret = 1;
	}
	if (g_versions) {
		struct worker *w0 = &workers[0];

		/* Merge into worker 0's table (printed in first-seen order). */
		for (i = 1; i < g_parallel; i++)
			tu_tally_merge(&w0->ver, MAX_VERSIONS, &workers[i].ver);
		for (j = 0; j < (int)w0->ver.n; j++)
			printf("version %s %ld\n", w0->ver.v[j].key[0] ? w0->ver.v[j].key : "-",
			       w0->ver.v[j].n);
		if (w0->ver.other)
			printf("version (other) %ld\n", w0->ver.other);
	}
	fflush(stdout);
	for (i = 0; i < g_nreasons; i++)
		fprintf(stderr, "connrate: error %s: %ld\n", g_reasons[i].what, g_reasons[i].n);
	if (g_reasons_other)
		fprintf(stderr, "connrate: other errors: %ld\n", g_reasons_other);
	for (i = 0; i < g_parallel; i++)
		for (j = 0; j < g_ntargets; j++)
			free(workers[i].t[j].samples);
	if (ret)
		return 1;
	return (ok > 0 && errors == 0) ? 0 : 1;
}
