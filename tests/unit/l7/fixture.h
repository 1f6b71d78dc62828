/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * fixture.h - what the L7 engine's tests (tests/unit/l7/test_*.c) share:
 * upstream servers, the proxy under test and a client, on real sockets,
 * loopback only, ports chosen by the kernel (fixture.c).
 *
 * Each test starts three in-process HTTP/1.1 upstreams on 127.0.0.1
 * (v1-a and v1-b of version v1, v2-a of version v2) and a proxy for the
 * service "reviews" with the seed's RouteRules. An upstream answers
 *
 *   200, X-Version: VERSION, X-Name: NAME, X-Path: PATH, body = the
 *   request body (decoded), or NAME if there is none
 *
 * and also: /chunked (chunked answer), /eof (close-delimited), /204,
 * /lf (a head with bare LF line ends),
 * /103 (an Early Hints interim first), Expect: 100-continue (a 100
 * first), Upgrade (101 then echo), CONNECT (200 then echo), and a
 * connection whose first byte is not an upper-case letter, or that
 * starts with "PRI ", gets "RAW NAME\n" then an echo.
 */
#ifndef SPLIT_TEST_L7_FIXTURE_H
#define SPLIT_TEST_L7_FIXTURE_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <http_parser.h>
#include "istio.h"
#include "../lib/tutil.h"
#include "l7/drive.h"
#include "l7proxy.h"
#include "model.h"
#include "test.h"

#define SEED "tests/data/seed/"
#define RR_TEST SEED "route-rule-test-reviews-v2.yaml"
#define RR_V1 SEED "route-rule-default-reviews.yaml"
#define RR_50 SEED "route-rule-default-reviews-50.yaml"
#define RR_V2 SEED "route-rule-default-reviews-v2.yaml"

/* ---- upstream test servers ------------------------------------------------- */

struct ups {
	char name[32];
	char version[16];
	int lfd, stopfd;
	uint16_t port;
	pthread_t acc;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int nconns;
	unsigned long accepted;
};

int ups_start(struct ups *u, const char *name, const char *version);

void ups_stop(struct ups *u);

/* ---- the proxy under test ------------------------------------------------ */

struct fx {
	struct ups ups[3];
	struct l7_proxy *p;
	pthread_t run;
	uint16_t port;
	int key;
	struct split_rules rules;
	struct l7_upstream eps[3];
	const char *sticky;	/* fx_service(): the sticky cookie */
};

/* Route "reviews" with these RouteRule files (or the YAML text in
 * yaml) and default weights v1, v2 (w NULL: equal per endpoint). */
int fx_service(struct fx *f, const char **files, size_t nfiles,
	       const char *yaml, const uint32_t *w);

/*
 * The proxies the tests make (fx_start, the tunnel fixture): on the
 * backend that L7_TEST_IO names ("uring" or "epoll"; unset: the default,
 * io_uring where the kernel allows it), or on the one fx_force_io() chose.
 * tests/run_unit.sh runs every l7 suite a second time with
 * L7_TEST_IO=epoll, so both backends keep every
 * behaviour. A kernel that refuses the backend asked for: SKIP (the
 * binary ends there), never PASS.
 */
struct l7_proxy *fx_proxy_new(const struct l7_proxy_opts *o);
void fx_force_io(int io);
bool fx_uring(struct l7_proxy *p);	/* p runs io_uring (the default, or asked for) */

int fx_start(struct fx *f, const struct l7_proxy_opts *o,
	     const char **files, size_t nfiles, const uint32_t *w);

void fx_stop(struct fx *f);

/* ---- a client ------------------------------------------------------------ */

struct resp {
	int status;
	int interim;		/* last 1xx seen */
	char version[16];
	char name[32];
	char path[128];
	char *body;
	size_t blen, bcap;
	bool keepalive;
	char setck[128];	/* the last Set-Cookie value */
	int nsetck;		/* Set-Cookie lines, interim heads included */
};

struct cli {
	int fd;
	char buf[65536];
	size_t off, len;
	http_parser hp;
	bool head, stop_interim, done, in_value;
	bool connect;		/* the request was a CONNECT */
	size_t rmax;		/* cli_read: at most this much per recv (0: all) */
	struct resp *r;
	char field[32], value[128];
	size_t flen, vlen;
};

int cli_connect(struct cli *c, uint16_t port);

void cli_close(struct cli *c);

void resp_free(struct resp *r);

/* Read one response (1xx passed over unless stop_interim). 0 or -1. */
int cli_read(struct cli *c, struct resp *r, bool head,
	     bool stop_interim);

/* GET path with an optional cookie; 0 or -1. */
int cli_get(struct cli *c, const char *path, const char *cookie,
	    struct resp *r);

/* n requests on one connection; counts by version. -1 on an error. */
int count_versions(uint16_t port, int n, const char *cookie,
		   int *v1, int *v2);

struct l7_version_stats *find_stats(struct l7_version_stats *st, int n,
				    const char *v);

/* ---- a test on the fixture ------------------------------------------------ */

/* FX_TEST(name, opts, files, nfiles, w) { ... f ... }: a test with a fixture
 * f started by fx_start(f, opts, files, nfiles, w) and stopped after it. */
#define FX_TEST(name, opts, files, nfiles, w)                              \
	static void body_##name(struct fx *f, int *failed);                \
	TEST(name)                                                         \
	{                                                                  \
		struct fx *f = calloc(1, sizeof(*f));                      \
		if (!f)                                                    \
			TEST_FAIL_("no memory");                           \
		if (fx_start(f, opts, files, nfiles, w)) {                 \
			free(f);                                           \
			TEST_FAIL_("fixture: %s", strerror(errno));        \
		}                                                          \
		body_##name(f, failed);                                    \
		fx_stop(f);                                                \
		free(f);                                                   \
	}                                                                  \
	static void body_##name(struct fx *f, int *failed)

/* The seed's RouteRule files, and default weights of v1, v2. */
extern const char *seed_v1[2];
extern const char *seed_50[2];
extern const char *seed_test[1];
extern const uint32_t w_v1[2];
extern const uint32_t w_5050[2];

/* ---- helpers more than one test file uses ---------------------------------- */

void fill_random(char *b, size_t n, unsigned seed);

struct sender {
	int fd;
	const char *buf;
	size_t len;
	int rc;
};

void *send_thread(void *arg);

/* Send raw bytes, read the proxy's answer; status or -1. The connection
 * must then be closed by the proxy. */
int raw_status(uint16_t port, const char *req, size_t len,
	       unsigned pause_ms);

#endif /* SPLIT_TEST_L7_FIXTURE_H */
