// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * reload_wait - how long a running splitd takes to put a changed config
 * file in force, seen from the pinned maps (bench/bench_ctl.sh).
 *
 *   reload_wait PIN_DIR NEW_FILE TARGET SERVICE NS VERSION ENDPOINTS4 [TIMEOUT_MS]
 *
 * Renames NEW_FILE over TARGET (what a config management tool does: an
 * atomic rename, which splitd's inotify watch sees), then polls the
 * weights map until SERVICE's VERSION has ENDPOINTS4 IPv4 endpoints (the
 * weights entry is written after the service's backends and table, so
 * then the change is in force), and prints the milliseconds from just
 * before the rename to the first poll that saw it. Each poll is a few map
 * lookups by key (svc_names, services, weights), a few microseconds.
 * Exit 0, 1 on a timeout (default 10000 ms), 2 on bad usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "split_common.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int open_map(const char *dir, const char *name)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return bpf_obj_get(path);
}

/* SERVICE's VERSION endpoints4, or -1 when not there (yet). */
static long endpoints4(int names, int services, int weights, const char *svc,
		       const char *ns, const char *ver)
{
	struct split_name_key nk;
	struct split_name_val nv;
	struct split_service_val sv;
	struct split_weight_val wv;

	memset(&nk, 0, sizeof(nk));
	snprintf(nk.name, sizeof(nk.name), "%s", svc);
	snprintf(nk.ns, sizeof(nk.ns), "%s", ns);
	if (bpf_map_lookup_elem(names, &nk, &nv) || !nv.svc_id ||
	    bpf_map_lookup_elem(services, &nv.svc_id, &sv))
		return -1;
	for (__u32 v = 1; v < sv.ver_end; v++) {
		struct split_weight_key k = { nv.svc_id, v };

		if (!bpf_map_lookup_elem(weights, &k, &wv) &&
		    !strncmp(wv.version, ver, sizeof(wv.version)))
			return wv.endpoints4;
	}
	return -1;
}

int main(int argc, char **argv)
{
	int names, services, weights;
	double t0, t, limit;
	long want;

	if (argc < 8 || argc > 9 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		fprintf(argc < 2 ? stderr : stdout,
			"usage: reload_wait PIN_DIR NEW_FILE TARGET SERVICE NS VERSION ENDPOINTS4 [TIMEOUT_MS]\n"
			"Rename NEW_FILE over TARGET and print the ms until SERVICE's VERSION has\n"
			"ENDPOINTS4 IPv4 endpoints in the weights map under PIN_DIR.\n");
		return argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) ? 0 : 2;
	}
	want = strtol(argv[7], NULL, 10);
	limit = argc > 8 ? strtod(argv[8], NULL) : 10000;
	names = open_map(argv[1], SPLIT_MAP_SVC_NAMES);
	services = open_map(argv[1], SPLIT_MAP_SERVICES);
	weights = open_map(argv[1], SPLIT_MAP_WEIGHTS);
	if (names < 0 || services < 0 || weights < 0) {
		fprintf(stderr, "reload_wait: the maps under %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	if (endpoints4(names, services, weights, argv[4], argv[5], argv[6]) == want) {
		fprintf(stderr, "reload_wait: %s/%s %s has %ld endpoints already\n", argv[5],
			argv[4], argv[6], want);
		return 2;
	}
	t0 = now_ms();
	if (rename(argv[2], argv[3])) {
		fprintf(stderr, "reload_wait: rename %s %s: %s\n", argv[2], argv[3], strerror(errno));
		return 1;
	}
	for (;;) {
		t = now_ms();
		if (endpoints4(names, services, weights, argv[4], argv[5], argv[6]) == want)
			break;
		if (t - t0 > limit) {
			fprintf(stderr, "reload_wait: not in force after %.0f ms\n", limit);
			return 1;
		}
		usleep(100);
	}
	printf("%.3f\n", t - t0);
	return 0;
}
