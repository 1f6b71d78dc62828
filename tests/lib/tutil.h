/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * tutil.h - small helpers that the unit tests (tests/unit, tests/bpf) and
 * the test tools (tests/tools) share: clocks, whole sends, number and
 * address parsing, loopback listen and dial, a private network namespace,
 * rendering into a string; and the tools' command lines (one option table
 * for getopt_long and --help) and their fatal errors.
 * Header-only (static inline), so each program takes what it uses;
 * include it as "../lib/tutil.h".
 * Each returns -1 with errno (or why) set on failure, and prints nothing:
 * messages are the caller's (but for tu_getopt, tu_die* and tu_arg_*).
 */
#ifndef SPLIT_TUTIL_H
#define SPLIT_TUTIL_H

#include <arpa/inet.h>
#include <bpf/libbpf.h>
#include <getopt.h>
#include <net/if.h>
#include <stdarg.h>
#include <sched.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
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

/* Send and receive timeouts of ms on a socket (SO_SNDTIMEO also bounds a
 * blocking connect() on Linux). */
static inline void tu_set_timeouts(int fd, int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* Wait up to ms for events on fd (EINTR retried): poll()'s result. */
static inline int tu_poll1(int fd, short events, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int r;

	do {
		r = poll(&pfd, 1, ms);
	} while (r < 0 && errno == EINTR);
	return r;
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

/* libbpf's messages on stderr but its debug ones:
 * libbpf_set_print(tu_libbpf_print). */
static inline int tu_libbpf_print(enum libbpf_print_level lvl, const char *fmt, va_list ap)
{
	if (lvl == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* The test data directory: $SPLIT_TEST_DATA, else tests/data (the tests
 * run from the repository's root). */
static inline const char *tu_data_dir(void)
{
	const char *dir = getenv("SPLIT_TEST_DATA");

	return dir && *dir ? dir : "tests/data";
}

/* The path of rel in the test data directory, in one of 8 rotating
 * buffers (so a call's result survives the next 7 calls). */
static inline const char *tu_data_path(const char *rel)
{
	static char buf[8][512];
	static int i;

	i = (i + 1) % 8;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", tu_data_dir(), rel);
	return buf[i];
}

/* What fn(f, arg) writes, as a string (caller frees); NULL if fn fails. */
static inline char *tu_print_str(int (*fn)(FILE *f, const void *arg), const void *arg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	if (fn(f, arg)) {
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	return buf;
}

/* ---- the test tools' command lines ----------------------------------------- */

/* "PROG: message" and end on stderr, then exit(status). */
__attribute__((noreturn))
static inline void tu_vdie(int status, const char *end, const char *fmt, va_list ap)
{
	fprintf(stderr, "%s: ", program_invocation_short_name);
	vfprintf(stderr, fmt, ap);
	fputs(end, stderr);
	exit(status);
}

/* "PROG: message" on stderr, then exit(1): a runtime error. */
__attribute__((format(printf, 1, 2), noreturn))
static inline void tu_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tu_vdie(1, "\n", fmt, ap);
}

/* "PROG: message (see --help)" on stderr, then exit(2): bad usage. */
__attribute__((format(printf, 1, 2), noreturn))
static inline void tu_die_usage(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tu_vdie(2, " (see --help)\n", fmt, ap);
}

/* The argument s of option opt, a decimal integer in [lo, hi]; bad usage
 * (tu_die_usage) if it is not. */
static inline long tu_arg_long(const char *opt, const char *s, long lo, long hi)
{
	long v;

	if (tu_parse_long(s, lo, hi, &v))
		tu_die_usage("bad %s '%s' (want %ld..%ld)", opt, s, lo, hi);
	return v;
}

/* The argument s of option opt, a number (a fraction is fine) in (0, hi];
 * bad usage if it is not. */
static inline double tu_arg_double(const char *opt, const char *s, double hi)
{
	char *e;
	double v;

	errno = 0;
	v = strtod(s, &e);
	if (errno || e == s || *e || !(v > 0) || v > hi)
		tu_die_usage("bad %s '%s' (want a number > 0, <= %g)", opt, s, hi);
	return v;
}

/*
 * A tool's command line: one table of options gives getopt_long its long
 * options and --help its lines. An option's arg names its argument in
 * --help (NULL: it takes none); its help may hold "\n" for more lines.
 * The table ends with { 0 }; --help (and -h) are added.
 */
struct tu_opt {
	const char *name;
	int val;
	const char *arg;
	const char *help;
};

struct tu_cmd {
	const char *synopsis;	/* "usage: PROG synopsis" */
	const char *about;	/* text after the usage line (or NULL) */
	const char *shorts;	/* getopt's optstring ("h" added) */
	const struct tu_opt *opts;
	const char *more;	/* text after the options (or NULL) */
};

#define TU_OPTS_MAX 48

static inline void tu_usage(FILE *f, const struct tu_cmd *cmd)
{
	fprintf(f, "usage: %s %s\n", program_invocation_short_name, cmd->synopsis);
	if (cmd->about)
		fputs(cmd->about, f);
	fputs("\noptions:\n", f);
	for (const struct tu_opt *o = cmd->opts; o->name; o++) {
		char left[64];
		const char *h = o->help;
		int n = snprintf(left, sizeof(left), "--%s%s%s", o->name,
				 o->arg ? " " : "", o->arg ? o->arg : "");

		fprintf(f, "  %s%*s", left, n < 24 ? 24 - n : 1, "");
		for (const char *nl; (nl = strchr(h, '\n')); h = nl + 1)
			fprintf(f, "%.*s\n%26s", (int)(nl - h), h, "");
		fprintf(f, "%s\n", h);
	}
	fprintf(f, "  %-24s%s\n", "-h, --help", "this text");
	if (cmd->more)
		fprintf(f, "\n%s", cmd->more);
}

/*
 * getopt_long over cmd's options: the next option's val, or -1 after the
 * last. --help prints the usage on stdout and exits 0; an unknown option
 * or a missing argument (getopt says which) exits 2.
 */
static inline int tu_getopt(int argc, char **argv, const struct tu_cmd *cmd)
{
	struct option lo[TU_OPTS_MAX + 2];
	char shorts[64];
	size_t i;
	int c;

	for (i = 0; cmd->opts[i].name && i < TU_OPTS_MAX; i++)
		lo[i] = (struct option){ cmd->opts[i].name,
					 cmd->opts[i].arg ? required_argument : no_argument,
					 NULL, cmd->opts[i].val };
	if (cmd->opts[i].name)
		tu_die("more than %d options: raise TU_OPTS_MAX", TU_OPTS_MAX);
	lo[i++] = (struct option){ "help", no_argument, NULL, 'h' };
	lo[i] = (struct option){ 0 };
	snprintf(shorts, sizeof(shorts), "%sh", cmd->shorts ? cmd->shorts : "");
	c = getopt_long(argc, argv, shorts, lo, NULL);
	if (c == 'h') {
		tu_usage(stdout, cmd);
		exit(0);
	}
	if (c == '?' || c == ':')
		tu_die_usage("bad usage");
	return c;
}

/* A count per short string (a version, a cookie value), in first-seen
 * order: the first `max` (<= TU_TALLY_MAX) distinct keys, the rest summed
 * in other. Zero it before use. */
#define TU_TALLY_MAX	16
#define TU_TALLY_KEY	64
struct tu_tally {
	struct {
		char key[TU_TALLY_KEY];	/* the first member: qsort by strcmp */
		long n;
	} v[TU_TALLY_MAX];
	size_t n;
	long other;
};

static inline void tu_tally_add(struct tu_tally *t, size_t max, const char *key, long n)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (!strcmp(t->v[i].key, key))
			break;
	if (i == t->n) {
		if (t->n >= max || t->n >= TU_TALLY_MAX) {
			t->other += n;
			return;
		}
		snprintf(t->v[i].key, sizeof(t->v[i].key), "%s", key);
		t->v[i].n = 0;
		t->n++;
	}
	t->v[i].n += n;
}

/* Add every count of `from` (another thread's tally) to t. */
static inline void tu_tally_merge(struct tu_tally *t, size_t max, const struct tu_tally *from)
{
	for (size_t i = 0; i < from->n; i++)
		tu_tally_add(t, max, from->v[i].key, from->v[i].n);
	t->other += from->other;
}

#endif /* SPLIT_TUTIL_H */
