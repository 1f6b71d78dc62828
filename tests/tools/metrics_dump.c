// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * metrics_dump.c - test helper: the counters pinned under PIN_DIR, read with
 * split_stats_read().
 *
 *   metrics_dump PIN_DIR           Prometheus text exposition (metrics.h)
 *   metrics_dump --rows PIN_DIR    one line per version and per endpoint:
 *     version  SVC NS VERSION      KEY VALUE...
 *     endpoint SVC NS VERSION ADDR KEY VALUE...
 *   with the keys conn est fail reset retrans rto rtt_n rtt_sum_us
 *   rtt_last_us flows pkts bytes rpkts rbytes.
 *
 * Exit 0, or 1 when the counters cannot be read.
 */
#include <stdio.h>
#include <string.h>

#include "metrics.h"
#include "stats.h"

static void row(const char *kind, const struct split_stat_row *r, int endpoint)
{
	char a[64] = "";

	if (endpoint)
		split_addr_str(&r->addr, a, sizeof(a));
	printf("%s %s %s %s%s%s conn %llu est %llu fail %llu reset %llu retrans %llu rto %llu"
	       " rtt_n %llu rtt_sum_us %llu rtt_last_us %llu flows %llu pkts %llu bytes %llu"
	       " rpkts %llu rbytes %llu\n",
	       kind, r->service, r->ns, r->version, endpoint ? " " : "", a,
	       (unsigned long long)r->s.connections, (unsigned long long)r->s.established,
	       (unsigned long long)r->s.connect_failed, (unsigned long long)r->s.resets,
	       (unsigned long long)r->s.retransmits, (unsigned long long)r->s.rto,
	       (unsigned long long)r->s.rtt_samples, (unsigned long long)r->s.rtt_sum_us,
	       (unsigned long long)r->s.rtt_last_us, (unsigned long long)r->c.flows,
	       (unsigned long long)r->c.packets, (unsigned long long)r->c.bytes,
	       (unsigned long long)r->c.rev_packets, (unsigned long long)r->c.rev_bytes);
}

int main(int argc, char **argv)
{
	struct split_stats st;
	struct split_err err;
	int rows = argc == 3 && !strcmp(argv[1], "--rows");
	int ret = 0;

	if (argc != 2 + rows || argv[argc - 1][0] == '-') {
		fprintf(stderr, "usage: metrics_dump [--rows] PIN_DIR\n");
		return 2;
	}
	if (split_stats_read(argv[argc - 1], &st, &err)) {
		fprintf(stderr, "metrics_dump: %s\n", err.msg);
		return 1;
	}
	if (rows) {
		for (size_t i = 0; i < st.nversions; i++)
			row("version", &st.versions[i], 0);
		for (size_t i = 0; i < st.nbackends; i++)
			row("endpoint", &st.backends[i], 1);
	} else if (split_metrics_render(stdout, &st)) {
		ret = 1;
	}
	split_stats_free(&st);
	return ret;
}
