/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * tutil.h - small helpers that the unit tests (tests/unit, tests/bpf) and
 * the test tools (tests/tools) share: clocks, whole sends, number and
 * address parsing, loopback listen and dial, a private network namespace.
 * Header-only (static inline), so each program takes what it uses;
 * include it as "../lib/tutil.h".
 * Each returns -1 with errno (or why) set on failure, and prints nothing:
 * messages are the caller's.
 */
#ifndef SPLIT_TUTIL_H
#define SPLIT_TUTIL_H

#include <arpa/inet.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Any socket address, IPv4 or IPv6. */
union tu_sa {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
	struct sockaddr_storage ss;
};

static inline uint64_t tu_clock_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t tu_mono_ns(void)
{
	return tu_clock_ns(CLOCK_MONOTONIC);
}

static inline uint64_t tu_mono_ms(void)
{
	return tu_mono_ns() / 1000000;
}

/* All n bytes on a socket (no SIGPIPE; EINTR retried). */
static inline int tu_send_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (!w)
				errno = EPIPE;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* A decimal integer in [lo, hi], the whole string. */
static inline int tu_parse_long(const char *s, long lo, long hi, long *out)
{
	char *e;
	long v;

	errno = 0;
	v = strtol(s, &e, 10);
	if (errno || e == s || *e || v < lo || v > hi) {
		errno = EINVAL;
		return -1;
	}
	*out = v;
	return 0;
}

/* An IPv4 or IPv6 address (IPv6 optionally in brackets) and a port. */
static inline int tu_sa_parse(const char *s, uint16_t port, union tu_sa *sa,
			      socklen_t *len)
{
	char buf[INET6_ADDRSTRLEN + 2];
	size_t n = strlen(s);

	if (n >= sizeof(buf))
		goto bad;
	if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
		memcpy(buf, s + 1, n - 2);
		buf[n - 2] = 0;
	} else {
		memcpy(buf, s, n + 1);
	}
	memset(sa, 0, sizeof(*sa));
	if (inet_pton(AF_INET, buf, &sa->in.sin_addr) == 1) {
		sa->in.sin_family = AF_INET;
		sa->in.sin_port = htons(port);
		*len = sizeof(sa->in);
		return 0;
	}
	if (inet_pton(AF_INET6, buf, &sa->in6.sin6_addr) == 1) {
		sa->in6.sin6_family = AF_INET6;
		sa->in6.sin6_port = htons(port);
		*len = sizeof(sa->in6);
		return 0;
	}
bad:
	errno = EINVAL;
	return -1;
}

/* A TCP listener on 127.0.0.1 and a port the kernel picks (in *port). */
static inline int tu_listen_lo(uint16_t *port, int backlog)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, saved;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, backlog) ||
	    getsockname(fd, (struct sockaddr *)&sa, &len)) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	*port = ntohs(sa.sin_port);
	return fd;
}

/* A TCP connection to 127.0.0.1:port. */
static inline int tu_dial_lo(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), saved;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons(port);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/* Once per process: a network namespace of its own with lo up (tests that
 * attach to cgroups and make connections keep them private). 0, or -1
 * with why set. */
static inline int tu_private_netns(char *why, size_t n)
{
	static int done;
	struct ifreq ifr = { 0 };
	int fd;

	if (done)
		return 0;
	if (unshare(CLONE_NEWNET)) {
		snprintf(why, n, "unshare(CLONE_NEWNET): %s", strerror(errno));
		return -1;
	}
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) ||
	    (ifr.ifr_flags |= IFF_UP, ioctl(fd, SIOCSIFFLAGS, &ifr))) {
		snprintf(why, n, "lo up: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	done = 1;
	return 0;
}

#endif /* SPLIT_TUTIL_H */
