// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * udpblast.c - send small UDP datagrams as fast as one thread can, for the
 * packets-per-second benchmark (bench/bench_xdp.sh). Not a test.
 *
 *   udpblast --dst ADDR --port PORT [--duration S] [--flows K] [--batch B]
 *            [--size N]
 *
 * K unconnected UDP sockets, each bound to its own ephemeral source port,
 * so the traffic is K flows (5-tuples); sendmmsg() sends B datagrams of N
 * payload bytes from one socket, then the next socket takes over (round
 * robin), until S seconds have passed. Unconnected sockets: an ICMP error
 * coming back (port unreachable from a backend where nothing listens) is
 * not reported to the sender and does not stop it.
 *
 * Prints one line:
 *   sent N errors E calls C elapsed_ns T pps P cpu_ns U wait_ns W
 *   flows K batch B size N
 * sent counts the datagrams the kernel accepted (a datagram a veth drops
 * further on still counts as sent: UDP swallows ENOBUFS without
 * IP_RECVERR). errors counts failed sendmmsg() calls (ENOBUFS, EAGAIN...).
 * cpu_ns and wait_ns are this thread's time on a CPU and waiting for one
 * (runnable but not running) while sending, from
 * /proc/thread-self/schedstat (0 if that file is missing). Without
 * CONFIG_IRQ_TIME_ACCOUNTING the softirq work done on the sender's stack -
 * on veths the receive path of every hop - is charged to cpu_ns.
 * Exit 0, or 1 if nothing could be sent, 2 on bad usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../lib/tutil.h"

#define MAX_BATCH	1024
#define MAX_FLOWS	65536
#define MAX_SIZE	1472

/* On-CPU and run-queue wait time of this thread, ns (0 0 if unknown). */
static void sched_times(unsigned long long *cpu, unsigned long long *wait)
{
	FILE *f = fopen("/proc/thread-self/schedstat", "r");

	*cpu = *wait = 0;
	if (!f)
		return;
	if (fscanf(f, "%llu %llu", cpu, wait) != 2)
		*cpu = *wait = 0;
	fclose(f);
}

#define STR_(x) #x
#define STR(x) STR_(x)

static const struct tu_opt opts[] = {
	{ "dst", 'd', "ADDR", "IPv4 or IPv6 destination" },
	{ "port", 'p', "PORT", "destination UDP port" },
	{ "duration", 't', "S", "seconds to send (default 5; fractions allowed)" },
	{ "flows", 'k', "K", "sockets, i.e. source ports (default 256, at most " STR(MAX_FLOWS) ")" },
	{ "batch", 'b', "B", "datagrams per sendmmsg() (default 64, at most " STR(MAX_BATCH) ")" },
	{ "size", 's', "N", "payload bytes (default 18: a 60-byte IPv4 frame;\n"
	  "at most " STR(MAX_SIZE) ")" },
	{ 0 },
};

static const struct tu_cmd cmd = {
	.synopsis = "--dst ADDR --port PORT [--duration S] [--flows K] [--batch B] [--size N]",
	.about = "Send small UDP datagrams as fast as one thread can (see the source).\n",
	.shorts = "d:p:t:k:b:s:",
	.opts = opts,
};

int main(int argc, char **argv)
{
	static struct mmsghdr msgs[MAX_BATCH];
	static struct iovec iov;
	static char payload[MAX_SIZE];
	union tu_sa dst;
	socklen_t dlen = 0;
	const char *daddr = NULL;
	long port = 0, flows = 256, batch = 64, size = 18;
	double duration = 5;
	unsigned long long t0, t1, deadline, sent = 0, errors = 0, calls = 0;
	unsigned long long c0, w0, c1, w1;
	int *fds, family, c;
	char *end;

	while ((c = tu_getopt(argc, argv, &cmd)) != -1) {
		switch (c) {
		case 'd': daddr = optarg; break;
		case 'p': port = tu_arg_long("--port", optarg, 1, 65535); break;
		case 't':
			duration = strtod(optarg, &end);
			if (*end || !(duration > 0))
				tu_die_usage("bad --duration '%s' (want seconds > 0)", optarg);
			break;
		case 'k': flows = tu_arg_long("--flows", optarg, 1, MAX_FLOWS); break;
		case 'b': batch = tu_arg_long("--batch", optarg, 1, MAX_BATCH); break;
		case 's': size = tu_arg_long("--size", optarg, 0, MAX_SIZE); break;
		}
	}
	if (!daddr || !port)
		tu_die_usage("--dst and --port are required");
	if (optind != argc)
		tu_die_usage("unexpected argument '%s'", argv[optind]);
	if (tu_sa_parse(daddr, (uint16_t)port, &dst, &dlen))
		tu_die_usage("bad address '%s'", daddr);
	family = dst.sa.sa_family;
	fds = calloc((size_t)flows, sizeof(*fds));
	if (!fds) {
		fprintf(stderr, "udpblast: out of memory\n");
		return 1;
	}
	for (long i = 0; i < flows; i++) {
		fds[i] = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fds[i] < 0) {
			fprintf(stderr, "udpblast: socket %ld: %s\n", i, strerror(errno));
			return 1;
		}
		/* An explicit bind to port 0: each socket gets its own port now. */
		{
			struct sockaddr_storage any = { .ss_family = (sa_family_t)family };

			if (bind(fds[i], (struct sockaddr *)&any,
				 family == AF_INET ? sizeof(struct sockaddr_in) :
						     sizeof(struct sockaddr_in6))) {
				fprintf(stderr, "udpblast: bind %ld: %s\n", i, strerror(errno));
				return 1;
			}
		}
	}
	for (long i = 0; i < size; i++)
		payload[i] = (char)('a' + i % 26);
	iov.iov_base = payload;
	iov.iov_len = (size_t)size;
	for (long i = 0; i < batch; i++) {
		msgs[i].msg_hdr.msg_name = &dst;
		msgs[i].msg_hdr.msg_namelen = dlen;
		msgs[i].msg_hdr.msg_iov = &iov;
		msgs[i].msg_hdr.msg_iovlen = 1;
	}

	sched_times(&c0, &w0);
	t0 = tu_mono_ns();
	deadline = t0 + (unsigned long long)(duration * 1e9);
	for (long k = 0;; k = k + 1 == flows ? 0 : k + 1) {
		int n = sendmmsg(fds[k], msgs, (unsigned int)batch, 0);

		calls++;
		if (n > 0)
			sent += (unsigned long long)n;
		else
			errors++;
		if ((calls & 7) == 0 && tu_mono_ns() >= deadline)
			break;
	}
	t1 = tu_mono_ns();
	sched_times(&c1, &w1);
	printf("sent %llu errors %llu calls %llu elapsed_ns %llu pps %.0f cpu_ns %llu wait_ns %llu flows %ld batch %ld size %ld\n",
	       sent, errors, calls, t1 - t0, (double)sent * 1e9 / (double)(t1 - t0), c1 - c0, w1 - w0,
	       flows, batch, size);
	for (long i = 0; i < flows; i++)
		close(fds[i]);
	free(fds);
	return sent ? 0 : 1;
}
