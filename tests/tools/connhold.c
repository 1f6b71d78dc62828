// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * connhold.c - many client connections held open, for the L7 proxy's
 * load and abuse tests (tests/e2e/test_l7_load.sh).
 *
 *   connhold --connect 10.96.0.10 --port 9080 -n 5000 --request --hold 20
 *   connhold --connect 10.96.0.10 --port 9080 -n 300 --trickle-ms 500 --hold 8
 *   connhold --connect fd00:96::10 --port 9080 --probe 200 --header 'cookie: ...'
 *
 * Hold mode (-n): opens N connections one after the other; with --request
 * each first sends one GET and reads its response (an idle keep-alive
 * connection afterwards); with --trickle-ms MS each sends a request line
 * and then one more byte of a never-ending header every MS (slowloris).
 * Prints "ready open N failed F" once all are open, then holds them for
 * --hold seconds and prints "held N closed_by_peer M". Exit 0.
 *
 * Probe mode (--probe N): N requests one after the other, each on a new
 * connection; prints "probe N ok K fail F p50_us X p99_us Y max_us Z";
 * exit 0 if F is 0.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../lib/tutil.h"

static union tu_sa g_sa;
static socklen_t g_salen;
static const char *g_header;

static const struct tu_opt opts[] = {
	{ "connect", 'c', "ADDR", "IPv4 or IPv6 address to connect to" },
	{ "port", 'p', "PORT", "its port" },
	{ "count", 'n', "N", "hold N connections open (also -n N)" },
	{ "request", 'r', NULL, "one GET on each first (then idle keep-alive)" },
	{ "trickle-ms", 't', "MS", "a request line, then one header byte every MS" },
	{ "hold", 'H', "SECONDS", "hold them this long (default 10)" },
	{ "probe", 'P', "N", "instead: N requests, each on a new connection, timed" },
	{ "header", 'e', "'NAME: VALUE'", "a header line for the requests" },
	{ 0 },
};

static const struct tu_cmd cmd = {
	.synopsis = "--connect ADDR --port PORT (-n N [--request | --trickle-ms MS]\n"
		    "                [--hold SECONDS] | --probe N) [--header 'NAME: VALUE']",
	.about = "Hold N connections open (idle after one request, or trickling a header\n"
		 "byte by byte), or time N requests on new connections. See the source.\n",
	.shorts = "n:",
	.opts = opts,
};

static int open_one(void)
{
	struct timeval tv = { .tv_sec = 5 };
	int fd = socket(g_sa.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, &g_sa.sa, g_salen)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One GET and its whole response (Content-Length framing). 0 or -1. */
static int get_one(int fd, bool keep)
{
	char req[512], buf[8192];
	size_t len = 0;
	int n = snprintf(req, sizeof(req), "GET /hold HTTP/1.1\r\nHost: svc\r\n%s%s%s\r\n",
			 g_header ? g_header : "", g_header ? "\r\n" : "",
			 keep ? "" : "Connection: close\r\n");

	if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n)
		return -1;
	for (;;) {
		char *eoh, *cl;
		ssize_t k = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);

		if (k <= 0)
			return -1;
		len += (size_t)k;
		buf[len] = 0;
		eoh = strstr(buf, "\r\n\r\n");
		if (!eoh)
			continue;
		if (strncmp(buf, "HTTP/1.1 200", 12))
			return -1;
		cl = strcasestr(buf, "content-length:");
		if (!cl || cl > eoh)
			return 0;
		if (len >= (size_t)(eoh + 4 - buf) + strtoul(cl + 15, NULL, 10))
			return 0;
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int probe(unsigned n)
{
	uint64_t *lat = calloc(n ? n : 1, sizeof(*lat));
	unsigned ok = 0, fail = 0;

	if (!lat)
		return 1;
	for (unsigned i = 0; i < n; i++) {
		uint64_t t0 = (tu_mono_ns() / 1000);
		int fd = open_one();

		if (fd < 0 || get_one(fd, false)) {
			fail++;
		} else {
			lat[ok++] = (tu_mono_ns() / 1000) - t0;
		}
		if (fd >= 0)
			close(fd);
	}
	qsort(lat, ok, sizeof(*lat), cmp_u64);
	printf("probe %u ok %u fail %u p50_us %llu p99_us %llu max_us %llu\n", n, ok,
	       fail, ok ? (unsigned long long)lat[ok / 2] : 0ULL,
	       ok ? (unsigned long long)lat[(ok * 99) / 100 < ok ? (ok * 99) / 100 : ok - 1] : 0ULL,
	       ok ? (unsigned long long)lat[ok - 1] : 0ULL);
	free(lat);
	return fail ? 1 : 0;
}

int main(int argc, char **argv)
{
	const char *addr = NULL;
	unsigned port = 0, n = 0, trickle = 0, hold = 10, nprobe = 0;
	unsigned opened = 0, failed = 0, closed = 0;
	bool request = false;
	struct pollfd *pf;
	struct rlimit rl;
	uint64_t until, next_trickle;
	int c;

	while ((c = tu_getopt(argc, argv, &cmd)) != -1) {
		switch (c) {
		case 'c': addr = optarg; break;
		case 'p': port = (unsigned)tu_arg_long("--port", optarg, 1, 65535); break;
		case 'n': n = (unsigned)tu_arg_long("--count", optarg, 1, 1000000); break;
		case 'r': request = true; break;
		case 't': trickle = (unsigned)tu_arg_long("--trickle-ms", optarg, 1, 60000); break;
		case 'H': hold = (unsigned)tu_arg_long("--hold", optarg, 0, 86400); break;
		case 'P': nprobe = (unsigned)tu_arg_long("--probe", optarg, 1, 1000000); break;
		case 'e': g_header = optarg; break;
		}
	}
	if (!addr || !port || (!n && !nprobe))
		tu_die_usage("--connect, --port and -n or --probe are required");
	if (tu_sa_parse(addr, (uint16_t)port, &g_sa, &g_salen))
		tu_die_usage("not an address: '%s'", addr);
	if (nprobe)
		return probe(nprobe);
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	pf = calloc(n, sizeof(*pf));
	if (!pf)
		return 1;
	for (unsigned i = 0; i < n; i++) {
		int fd = open_one();

		pf[i].fd = -1;
		if (fd >= 0 && request && get_one(fd, true)) {
			close(fd);
			fd = -1;
		}
		if (fd >= 0 && trickle &&
		    send(fd, "GET / HTTP/1.1\r\nX-Slow: ", 24, MSG_NOSIGNAL) != 24) {
			close(fd);
			fd = -1;
		}
		if (fd < 0) {
			failed++;
			continue;
		}
		pf[i].fd = fd;
		pf[i].events = POLLIN;
		opened++;
	}
	printf("ready open %u failed %u\n", opened, failed);
	fflush(stdout);
	until = (tu_mono_ns() / 1000) + (uint64_t)hold * 1000000u;
	next_trickle = (tu_mono_ns() / 1000) + (uint64_t)trickle * 1000u;
	while ((tu_mono_ns() / 1000) < until) {
		int k = poll(pf, n, 100);

		for (unsigned i = 0; k > 0 && i < n; i++) {
			char b[4096];

			if (pf[i].fd < 0 || !pf[i].revents)
				continue;
			if (recv(pf[i].fd, b, sizeof(b), MSG_DONTWAIT) > 0)
				continue;	/* an answer (408 ...): the close follows */
			close(pf[i].fd);
			pf[i].fd = -1;
			closed++;
		}
		if (trickle && (tu_mono_ns() / 1000) >= next_trickle) {
			next_trickle += (uint64_t)trickle * 1000u;
			for (unsigned i = 0; i < n; i++)
				if (pf[i].fd >= 0)
					send(pf[i].fd, "a", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		}
	}
	printf("held %u closed_by_peer %u\n", opened, closed);
	for (unsigned i = 0; i < n; i++)
		if (pf[i].fd >= 0)
			close(pf[i].fd);
	free(pf);
	return 0;
}
