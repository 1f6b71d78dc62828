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
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_BATCH	1024
#define MAX_FLOWS	65536
#define MAX_SIZE	1472

static unsigned long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;
}

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

static void usage(FILE *f)
{
	fprintf(f,
		"usage: udpblast --dst ADDR --port PORT [--duration S] [--flows K]\n"
		"                [--batch B] [--size N]\n"
		"  --dst ADDR      IPv4 or IPv6 destination\n"
		"  --port PORT     destination UDP port\n"
		"  --duration S    seconds to send (default 5; fractions allowed)\n"
		"  --flows K       sockets, i.e. source ports (default 256, at most %d)\n"
		"  --batch B       datagrams per sendmmsg() (default 64, at most %d)\n"
		"  --size N        payload bytes (default 18: a 60-byte IPv4 frame; at most %d)\n",
		MAX_FLOWS, MAX_BATCH, MAX_SIZE);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dst", required_argument, NULL, 'd' },
		{ "port", required_argument, NULL, 'p' },
		{ "duration", required_argument, NULL, 't' },
		{ "flows", required_argument, NULL, 'k' },
		{ "batch", required_argument, NULL, 'b' },
		{ "size", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct mmsghdr msgs[MAX_BATCH];
	static struct iovec iov;
	static char payload[MAX_SIZE];
	struct sockaddr_storage dst = {};
	socklen_t dlen = 0;
	const char *daddr = NULL;
	long port = 0, flows = 256, batch = 64, size = 18;
	double duration = 5;
	unsigned long long t0, t1, deadline, sent = 0, errors = 0, calls = 0;
	unsigned long long c0, w0, c1, w1;
	int *fds, family, c;

	while ((c = getopt_long(argc, argv, "d:p:t:k:b:s:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': daddr = optarg; break;
		case 'p': port = strtol(optarg, NULL, 10); break;
		case 't': duration = strtod(optarg, NULL); break;
		case 'k': flows = strtol(optarg, NULL, 10); break;
		case 'b': batch = strtol(optarg, NULL, 10); break;
		case 's': size = strtol(optarg, NULL, 10); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!daddr || port < 1 || port > 65535 || !(duration > 0) || flows < 1 ||
	    flows > MAX_FLOWS || batch < 1 || batch > MAX_BATCH || size < 0 || size > MAX_SIZE ||
	    optind != argc) {
		usage(stderr);
		return 2;
	}
	{
		struct sockaddr_in *s4 = (struct sockaddr_in *)&dst;
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&dst;

		if (inet_pton(AF_INET, daddr, &s4->sin_addr) == 1) {
			s4->sin_family = AF_INET;
			s4->sin_port = htons((unsigned short)port);
			dlen = sizeof(*s4);
		} else if (inet_pton(AF_INET6, daddr, &s6->sin6_addr) == 1) {
			s6->sin6_family = AF_INET6;
			s6->sin6_port = htons((unsigned short)port);
			dlen = sizeof(*s6);
		} else {
			fprintf(stderr, "udpblast: bad address %s\n", daddr);
			return 2;
		}
		family = dst.ss_family;
	}
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
	t0 = now_ns();
	deadline = t0 + (unsigned long long)(duration * 1e9);
	for (long k = 0;; k = k + 1 == flows ? 0 : k + 1) {
		int n = sendmmsg(fds[k], msgs, (unsigned int)batch, 0);

		calls++;
		if (n > 0)
			sent += (unsigned long long)n;
		else
			errors++;
		if ((calls & 7) == 0 && now_ns() >= deadline)
			break;
	}
	t1 = now_ns();
	sched_times(&c1, &w1);
	printf("sent %llu errors %llu calls %llu elapsed_ns %llu pps %.0f cpu_ns %llu wait_ns %llu flows %ld batch %ld size %ld\n",
	       sent, errors, calls, t1 - t0, (double)sent * 1e9 / (double)(t1 - t0), c1 - c0, w1 - w0,
	       flows, batch, size);
	for (long i = 0; i < flows; i++)
		close(fds[i]);
	free(fds);
	return sent ? 0 : 1;
}
