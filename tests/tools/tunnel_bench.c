// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * tunnel_bench - throughput of one tunnel through the L7 proxy (bytes that
 * are not HTTP, relayed at L4), with each way of moving them: sk_skb
 * sockmap redirect, splice(2), read/write. On loopback: a client sends MiB
 * and half-closes, a sink upstream counts and closes. The sockmap runs
 * without its probe (sockmap_trust), which refuses kernels that lose bytes
 * under backpressure: the figure is what that path gives where it is
 * sound, and bulk one-way transfer into a fast reader is a case that works.
 * For bench/bench_tunnel.sh; prints one line per mode, judges nothing but
 * the byte count.
 *
 *   tunnel_bench [-m MIB] [-o build/split_l7_sockmap.bpf.o]
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../lib/tutil.h"
#include "l7proxy.h"
#include "log.h"

#define CHUNK (1 << 18)

struct sink {
	int lfd;
	uint64_t got;
};

static void *sink_main(void *arg)
{
	struct sink *s = arg;
	char *buf = malloc(CHUNK);
	int fd = accept(s->lfd, NULL, NULL);
	ssize_t k;

	while (buf && fd >= 0 && (k = recv(fd, buf, CHUNK, 0)) > 0)
		s->got += (uint64_t)k;
	if (fd >= 0)
		close(fd);
	free(buf);
	return NULL;
}

static void *proxy_main(void *p)
{
	l7_proxy_run(p);
	return NULL;
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *b = NULL;

	*len = 0;
	if (!f)
		return NULL;
	b = malloc(1 << 22);
	if (b)
		*len = fread(b, 1, 1 << 22, f);
	fclose(f);
	return b;
}

/* One run; 0 when every byte arrived. */
static int run(int mode, uint64_t mib, const void *obj, size_t objlen)
{
	static const char *const names[] = { "sockmap", "splice", "read/write" };
	static const char *const vers[] = { "v1" };
	struct l7_proxy_opts o = { 0 };
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	struct l7_upstream ep = { .version = "v1" };
	struct l7_service svc = { .eps = &ep, .neps = 1, .versions = vers, .nversions = 1 };
	struct sink s = { .lfd = -1 };
	struct l7_proxy_stats ps;
	struct l7_proxy *p = NULL;
	pthread_t st, rt;
	char *buf = malloc(CHUNK);
	uint64_t t0, ms, left = mib << 20;
	int key, port, cfd = -1, ret = -1, started = 0;

	o.sockmap_obj = obj;
	o.sockmap_obj_len = objlen;
	o.no_sockmap = mode != 0;
	o.no_splice = mode == 2;
	o.sockmap_trust = 1;
	o.workers = 1;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s.lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (!buf || s.lfd < 0 || bind(s.lfd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(s.lfd, 4) || getsockname(s.lfd, (struct sockaddr *)&sa, &sl))
		goto out;
	split_addr_parse("127.0.0.1", &ep.addr);
	ep.port = ntohs(sa.sin_port);
	p = l7_proxy_new(&o);
	if (!p || (port = l7_proxy_listen(p, &ep.addr, 0, &key)) <= 0 ||
	    l7_proxy_set_service(p, &key, &svc) ||
	    pthread_create(&rt, NULL, proxy_main, p))
		goto out;
	started = 1;
	if (pthread_create(&st, NULL, sink_main, &s))
		goto out;
	sa.sin_port = htons((uint16_t)port);
	cfd = socket(AF_INET, SOCK_STREAM, 0);
	if (cfd < 0 || connect(cfd, (struct sockaddr *)&sa, sizeof(sa))) {
		shutdown(s.lfd, SHUT_RDWR);
		pthread_join(st, NULL);
		goto out;
	}
	memset(buf, 0x16, CHUNK);	/* not HTTP: relayed at L4 */
	t0 = tu_mono_ms();
	while (left) {
		ssize_t w = send(cfd, buf, left > CHUNK ? CHUNK : left, 0);

		if (w <= 0)
			break;
		left -= (uint64_t)w;
	}
	shutdown(cfd, SHUT_WR);
	pthread_join(st, NULL);
	ms = tu_mono_ms() - t0;
	recv(cfd, buf, 1, 0);		/* the proxy's FIN */
	l7_proxy_stats(p, &ps);
	printf("%s %llu %llu %.0f %llu %llu\n", names[mode],
	       (unsigned long long)(s.got >> 20), (unsigned long long)ms,
	       (double)s.got / 1048576.0 * 1000.0 / (double)(ms ? ms : 1),
	       (unsigned long long)ps.sockmap_bytes, (unsigned long long)ps.spliced_bytes);
	if (s.got == mib << 20)
		ret = 0;
	else
		fprintf(stderr, "tunnel_bench: %s: %llu of %llu bytes arrived\n", names[mode],
			(unsigned long long)s.got, (unsigned long long)(mib << 20));
out:
	if (ret && !started)
		fprintf(stderr, "tunnel_bench: %s: setup failed\n", names[mode]);
	if (cfd >= 0)
		close(cfd);
	if (p) {
		if (started) {
			l7_proxy_stop(p);
			pthread_join(rt, NULL);
		}
		l7_proxy_free(p);
	}
	if (s.lfd >= 0)
		close(s.lfd);
	free(buf);
	return ret;
}

int main(int argc, char **argv)
{
	const char *objpath = "build/split_l7_sockmap.bpf.o";
	uint64_t mib = 512;
	size_t objlen;
	char *obj, *end;
	int c, ret = 0;

	split_log_prog = "tunnel_bench";
	while ((c = getopt(argc, argv, "m:o:h")) != -1) {
		switch (c) {
		case 'm':
			mib = strtoull(optarg, &end, 10);
			if (*end || !mib || mib > (1u << 20)) {
				fprintf(stderr, "tunnel_bench: -m: MiB from 1 to 1048576, not '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'o': objpath = optarg; break;
		case 'h':
			printf("Usage: tunnel_bench [-m MIB] [-o SOCKMAP_BPF_OBJ]\n"
			       "One tunnel through the L7 proxy per mode (sockmap, splice,\n"
			       "read/write); prints: mode MiB ms MiB/s sockmap_bytes spliced_bytes\n");
			return 0;
		default:
			return 2;
		}
	}
	obj = read_file(objpath, &objlen);
	if (!obj)
		fprintf(stderr, "tunnel_bench: %s: cannot read (the sockmap mode falls back)\n",
			objpath);
	for (int mode = 0; mode < 3; mode++)
		ret |= run(mode, mib, obj, objlen);
	free(obj);
	return ret ? 1 : 0;
}
