// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * rollout.c - `splitctl rollout`: start, watch and steer progressive
 * rollouts. splitd runs them (user/lib/rollout/rollout.c); this only writes and
 * reads the rollouts_v2 map.
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ops.h"
#include "rollout.h"
#include "splitctl.h"

const char cmd_rollout_help[] =
	"\n"
	"  splitctl rollout start SERVICE --to VERSION [--from VERSION]\n"
	"          [--steps 1,5,10,25,50,100] [--interval 30s]\n"
	"          [--max-error-rate 1%] [--max-connect-failure-rate 1%]\n"
	"          [--max-latency-ms N] [--min-requests 20] [--sticky-cookie NAME]\n"
	"  splitctl rollout status [--json] [--watch] [SERVICE]\n"
	"  splitctl rollout pause|resume|abort|promote SERVICE\n"
	"\n"
	"start puts the first step in force at once (VERSION gets that percent,\n"
	"--from the rest, other versions 0) and hands the rollout to splitd,\n"
	"which needs to run. At the end of every --interval, splitd looks at what\n"
	"VERSION did in that window, from the kernel's and the proxy's counters:\n"
	"  - connect failures: (failed TCP connects + resets) / connections, for\n"
	"    every service (socket hooks and sockops);\n"
	"  - error rate: 5xx responses / requests, and the mean latency, for\n"
	"    services behind the L7 proxy (services with request rules).\n"
	"A window with fewer than --min-requests requests (L7 services) or\n"
	"connections (others) holds the step: no promotion on no traffic, no\n"
	"rollback either. A rate above its threshold rolls back: --from at 100%\n"
	"in one commit, and the reason is recorded. Otherwise the next step goes\n"
	"in force; a healthy window at the last step ends the rollout (done).\n"
	"\n"
	"--from defaults to the version with the largest weight now. --steps are\n"
	"increasing percentages from 1 to 100; a last step below 100 ends there.\n"
	"--interval: 500ms, 30s, 2m (100ms to 24h). Rates are percentages (1%,\n"
	"0.5%); 0 turns a check off, as does leaving --max-latency-ms out.\n"
	"\n"
	"--sticky-cookie NAME (services behind the L7 proxy, i.e. with a request\n"
	"rule; refused for others): sticky sessions while the rollout runs or is\n"
	"paused. A request that no match rule takes is routed by the weights as\n"
	"usual, and its response gets \"Set-Cookie: NAME=VERSION; Path=/; HttpOnly\"\n"
	"naming the version chosen. A request carrying NAME=VERSION goes to that\n"
	"version as long as it has endpoints and a weight above 0, whatever the\n"
	"steps do; so the share of NEW sessions follows the weights. A cookie\n"
	"naming another version is ignored (and replaced). Match rules come first\n"
	"(the seed's test-user cookie still means v2). Once the rollout is done,\n"
	"rolled back or aborted, the cookie is neither set nor read: after a\n"
	"rollback every session is on --from at once. NAME is a cookie name: an\n"
	"HTTP token of at most 63 characters (letters, digits, !#$%&'*+-.^_`|~).\n"
	"\n"
	"The rollout lives in the pinned map `rollouts_v2`: splitctl may exit, and a\n"
	"restarted splitd carries on at the step in force with a new window. While\n"
	"a rollout runs or is paused, `splitctl set` and `reset` refuse to move\n"
	"its weights. Each step does what `splitctl set` does: where a RouteRule's\n"
	"or VirtualService's default route sets the weights, that route moves in\n"
	"that object (`splitctl get` shows it); under splitd --config-dir, whose\n"
	"files own the objects, start is refused.\n"
	"\n"
	"status prints, per rollout, the step and weights, the current window's\n"
	"figures next to the thresholds, and the last decisions; --watch prints\n"
	"it again every second until every rollout shown has ended. pause holds\n"
	"the step (no judging), resume starts a new window, abort puts --from\n"
	"back at 100% at once, promote puts VERSION at 100% at once.\n"
	"\n"
	"Examples:\n"
	"  splitctl rollout start reviews --to v2 --steps 10,50,100 --interval 1m\n"
	"  splitctl rollout start reviews --to v2 --sticky-cookie reviews-version\n"
	"  splitctl rollout status reviews --watch\n"
	"  splitctl rollout abort reviews\n";

static int usage_err(const char *fmt, const char *arg)
{
	fprintf(stderr, "splitctl rollout: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'splitctl rollout --help'.\n");
	return 2;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int active(uint32_t state)
{
	return state == SPLIT_RO_RUNNING || state == SPLIT_RO_PAUSED;
}

static void weights_str(const struct split_rollout_val *v, char *buf, size_t len)
{
	uint32_t w = split_rollout_weight(v);

	snprintf(buf, len, "%s %u%%, %s %u%%", v->to, w, v->from, 100 - w);
}

static void rate_str(char *buf, size_t len, uint32_t ppm)
{
	if (ppm)
		snprintf(buf, len, "%.2f%%", ppm / 1e4);
	else
		snprintf(buf, len, "off");
}

static double pct(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

/* The window's figures (the last judged one when not running) and how
 * long the running one has been open. */
static void window(const struct split_rollout_ent *e, struct split_rollout_counts *d,
		   int *l7, double *elapsed_s)
{
	struct split_err err;

	*l7 = 0;
	*elapsed_s = 0;
	if (split_rollout_window(pin_dir, e, d, l7, &err))
		return;
	if (e->val.state == SPLIT_RO_RUNNING)
		*elapsed_s = (double)(mono_ns() - e->val.window_start_ns) / 1e9;
}

static void print_text(const struct split_rollout_ent *e)
{
	const struct split_rollout_val *v = &e->val;
	struct split_rollout_counts d;
	char w[2 * SPLIT_NAME_LEN + 32], r1[16], r2[16], steps[128] = "";
	double elapsed;
	size_t off = 0;
	int l7;

	for (uint32_t i = 0; i < v->nsteps && off < sizeof(steps); i++)
		off += (size_t)snprintf(steps + off, sizeof(steps) - off, "%s%u",
					i ? "," : "", v->steps[i]);
	weights_str(v, w, sizeof(w));
	printf("%s.%s: %s, step %u of %u (%s): %s\n", e->key.name, e->key.ns,
	       split_rollout_state_str(v->state), v->step + 1, v->nsteps, steps, w);
	if (v->sticky_cookie[0])
		printf("  sticky cookie: %.*s (%s)\n", (int)sizeof(v->sticky_cookie) - 1,
		       v->sticky_cookie, active(v->state) ?
		       "set and honoured by the L7 proxy" : "no longer read");
	window(e, &d, &l7, &elapsed);
	rate_str(r1, sizeof(r1), v->max_connect_failure_ppm);
	rate_str(r2, sizeof(r2), v->max_error_ppm);
	if (v->state == SPLIT_RO_RUNNING)
		printf("  window: %.1f s of %.1f s; %s so far:\n", elapsed,
		       v->interval_ms / 1000.0, v->to);
	else
		printf("  last judged window of %.1f s, %s:\n", v->interval_ms / 1000.0, v->to);
	if (l7) {
		printf("    requests %llu (min %llu), 5xx %.2f%% (max %s), mean latency ",
		       (unsigned long long)d.requests, (unsigned long long)v->min_requests,
		       pct(d.responses_5xx, d.requests), r2);
		if (d.requests)
			printf("%.1f ms", (double)d.latency_us_sum / (double)d.requests / 1000.0);
		else
			printf("-");
		if (v->max_latency_ms)
			printf(" (max %u ms)\n", v->max_latency_ms);
		else
			printf(" (max off)\n");
	}
	printf("    connections %llu", (unsigned long long)d.connections);
	if (!l7)
		printf(" (min %llu)", (unsigned long long)v->min_requests);
	printf(", connect failures %.2f%% (max %s): %llu failed, %llu reset\n",
	       pct(d.connect_failed + d.resets, d.connections), r1,
	       (unsigned long long)d.connect_failed, (unsigned long long)d.resets);
	printf("  decisions:\n");
	for (uint32_t i = v->nevents > SPLIT_ROLLOUT_EVENTS ? v->nevents - SPLIT_ROLLOUT_EVENTS : 0;
	     i < v->nevents; i++) {
		const struct split_rollout_event *ev = &v->events[i % SPLIT_ROLLOUT_EVENTS];
		time_t t = (time_t)ev->time_s;
		struct tm tm;
		char ts[32];

		gmtime_r(&t, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
		printf("    %s UTC  %-8s %s %3u%%  %s\n", ts,
		       split_rollout_what_str(ev->what), v->to, ev->weight, ev->why);
	}
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

static void print_json(const struct split_rollout_ent *e, int first)
{
	const struct split_rollout_val *v = &e->val;
	struct split_rollout_counts d;
	double elapsed;
	int l7;

	window(e, &d, &l7, &elapsed);
	printf("%s{\"service\":", first ? "" : ",");
	json_str(e->key.name);
	printf(",\"namespace\":");
	json_str(e->key.ns);
	printf(",\"state\":\"%s\",\"from\":", split_rollout_state_str(v->state));
	json_str(v->from);
	printf(",\"to\":");
	json_str(v->to);
	printf(",\"sticky_cookie\":");
	if (v->sticky_cookie[0]) {
		char ck[SPLIT_NAME_LEN];

		snprintf(ck, sizeof(ck), "%.*s", (int)sizeof(v->sticky_cookie) - 1,
			 v->sticky_cookie);
		json_str(ck);
	} else {
		printf("null");
	}
	printf(",\"step\":%u,\"steps\":[", v->step + 1);
	for (uint32_t i = 0; i < v->nsteps; i++)
		printf("%s%u", i ? "," : "", v->steps[i]);
	printf("],\"weight\":%u,\"interval_ms\":%u,\"l7\":%s,"
	       "\"max_error_rate_pct\":%.4f,\"max_connect_failure_rate_pct\":%.4f,"
	       "\"max_latency_ms\":%u,\"min_requests\":%llu,\"rollbacks\":%u,",
	       split_rollout_weight(v), v->interval_ms, l7 ? "true" : "false",
	       v->max_error_ppm / 1e4, v->max_connect_failure_ppm / 1e4,
	       v->max_latency_ms, (unsigned long long)v->min_requests, v->rollbacks);
	printf("\"window\":{\"elapsed_s\":%.3f,\"requests\":%llu,\"responses_5xx\":%llu,"
	       "\"latency_us_sum\":%llu,\"connections\":%llu,\"connect_failed\":%llu,"
	       "\"resets\":%llu},\"events\":[",
	       elapsed, (unsigned long long)d.requests, (unsigned long long)d.responses_5xx,
	       (unsigned long long)d.latency_us_sum, (unsigned long long)d.connections,
	       (unsigned long long)d.connect_failed, (unsigned long long)d.resets);
	for (uint32_t i = v->nevents > SPLIT_ROLLOUT_EVENTS ? v->nevents - SPLIT_ROLLOUT_EVENTS : 0,
		      first_ev = 1;
	     i < v->nevents; i++, first_ev = 0) {
		const struct split_rollout_event *ev = &v->events[i % SPLIT_ROLLOUT_EVENTS];

		printf("%s{\"time\":%llu,\"what\":\"%s\",\"weight\":%u,\"why\":",
		       first_ev ? "" : ",", (unsigned long long)ev->time_s,
		       split_rollout_what_str(ev->what), ev->weight);
		json_str(ev->why);
		putchar('}');
	}
	printf("]}");
}

static int status(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, 'j' },
		{ "watch", no_argument, NULL, 'w' },
		{ 0 },
	};
	struct split_config cfg = { 0 };
	struct split_state st;
	struct split_err err;
	char name[SPLIT_NAME_LEN] = "", ns[SPLIT_NAME_LEN] = "";
	int json = 0, watch = 0, c, ret = 1;

	optind = 0;	/* a full reset: main() parsed in "+" mode */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "hjw", lopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			cmd_usage(find_cmd("rollout"), stdout);
			return 0;
		case 'j': json = 1; break;
		case 'w': watch = 1; break;
		default:
			return usage_err("status: unknown option '%s'", argv[optind - 1]);
		}
	}
	if (argc - optind > 1)
		return usage_err("status: at most one service, not '%s'", argv[optind + 1]);
	if (open_state(&st))
		return 1;
	if (argc - optind == 1) {
		int idx;

		if (split_state_read(&st, &cfg, &err) ||
		    (idx = split_config_find(&cfg, argv[optind], &err)) < 0)
			goto fail;
		snprintf(name, sizeof(name), "%s", cfg.svcs[idx].name);
		snprintf(ns, sizeof(ns), "%s", cfg.svcs[idx].ns);
	}
	for (int round = 0;; round++) {
		struct split_rollout_ent *ents;
		size_t n, shown = 0;
		int live = 0;

		if (split_rollout_list(st.pin_dir, &ents, &n, &err))
			goto fail;
		if (json)
			putchar('[');
		else if (round)
			printf("\n");
		for (size_t i = 0; i < n; i++) {
			if (*name && (strcmp(ents[i].key.name, name) || strcmp(ents[i].key.ns, ns)))
				continue;
			if (json)
				print_json(&ents[i], !shown);
			else
				print_text(&ents[i]);
			shown++;
			live |= active(ents[i].val.state);
		}
		free(ents);
		if (json)
			printf("]\n");
		else if (!shown)
			printf(*name ? "no rollout of %s.%s\n" : "no rollouts\n", name, ns);
		fflush(stdout);
		if (!watch || !live)
			break;
		sleep(1);
	}
	ret = 0;
	goto out;
fail:
	fprintf(stderr, "splitctl: %s\n", err.msg);
out:
	split_state_close(&st);
	split_config_free(&cfg);
	return ret;
}

static int start(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "to", required_argument, NULL, 't' },
		{ "from", required_argument, NULL, 'f' },
		{ "steps", required_argument, NULL, 's' },
		{ "interval", required_argument, NULL, 'i' },
		{ "max-error-rate", required_argument, NULL, 'e' },
		{ "max-connect-failure-rate", required_argument, NULL, 'c' },
		{ "max-latency-ms", required_argument, NULL, 'l' },
		{ "min-requests", required_argument, NULL, 'm' },
		{ "sticky-cookie", required_argument, NULL, 'k' },
		{ 0 },
	};
	struct split_rollout_opts o;
	struct split_rollout_ent e;
	struct split_state st;
	struct split_err err;
	char w[2 * SPLIT_NAME_LEN + 32];
	int c, ret;
	char *end;

	split_rollout_opts_init(&o);
	optind = 0;	/* a full reset: main() parsed in "+" mode */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		unsigned long long u;

		switch (c) {
		case 'h':
			cmd_usage(find_cmd("rollout"), stdout);
			return 0;
		case 't': o.to = optarg; break;
		case 'f': o.from = optarg; break;
		case 's':
			if (split_rollout_parse_steps(optarg, &o, &err))
				return usage_err("%s", err.msg);
			break;
		case 'i':
			if (split_rollout_parse_duration(optarg, &o.interval_ms, &err))
				return usage_err("--interval: %s", err.msg);
			break;
		case 'e':
			if (split_rollout_parse_rate(optarg, &o.max_error_ppm, &err))
				return usage_err("--max-error-rate: %s", err.msg);
			break;
		case 'c':
			if (split_rollout_parse_rate(optarg, &o.max_connect_failure_ppm, &err))
				return usage_err("--max-connect-failure-rate: %s", err.msg);
			break;
		case 'k':
			if (split_rollout_check_cookie(optarg, &err))
				return usage_err("%s", err.msg);
			o.sticky_cookie = optarg;
			break;
		case 'l':
		case 'm':
			u = strtoull(optarg, &end, 10);
			if (*optarg < '0' || *optarg > '9' || *end ||
			    (c == 'l' && (u < 1 || u > 3600000)))
				return usage_err(c == 'l' ?
						 "--max-latency-ms wants milliseconds (1 to 3600000), not '%s'" :
						 "--min-requests wants a whole number, not '%s'", optarg);
			if (c == 'l')
				o.max_latency_ms = (uint32_t)u;
			else
				o.min_requests = u;
			break;
		default:
			return usage_err("start: unknown option or missing argument '%s'",
					 argv[optind - 1]);
		}
	}
	if (argc - optind != 1)
		return usage_err("start: %s", argc - optind ? "exactly one service" :
					       "which service?");
	if (!o.to)
		return usage_err("start: %s", "--to VERSION is required");
	if (open_state(&st))
		return 1;
	ret = split_rollout_start(&st, argv[optind], &o, &e, &err);
	if (ret) {
		fprintf(stderr, "splitctl: %s (nothing changed)\n", err.msg);
	} else {
		weights_str(&e.val, w, sizeof(w));
		printf("%s.%s: rollout to %s started, step 1 of %u: %s; splitd judges every %.1f s\n",
		       e.key.name, e.key.ns, e.val.to, e.val.nsteps, w,
		       e.val.interval_ms / 1000.0);
		wait_l7(&st);
	}
	split_state_close(&st);
	return ret ? 1 : 0;
}

static int control(const char *sub, enum split_rollout_cmd cmd, int argc, char **argv)
{
	struct split_rollout_ent e;
	struct split_state st;
	struct split_err err;
	char w[2 * SPLIT_NAME_LEN + 32];
	int ret;

	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		cmd_usage(find_cmd("rollout"), stdout);
		return 0;
	}
	if (argc != 2)
		return usage_err("%s: exactly one service", sub);
	if (argv[1][0] == '-')
		return usage_err("unknown option '%s'", argv[1]);
	if (open_state(&st))
		return 1;
	ret = split_rollout_control(&st, argv[1], cmd, &e, &err);
	if (ret) {
		fprintf(stderr, "splitctl: %s (nothing changed)\n", err.msg);
	} else {
		weights_str(&e.val, w, sizeof(w));
		printf("%s.%s: rollout to %s %s: %s\n", e.key.name, e.key.ns, e.val.to,
		       split_rollout_state_str(e.val.state), w);
		wait_l7(&st);
	}
	split_state_close(&st);
	return ret ? 1 : 0;
}

int cmd_rollout(int argc, char **argv)
{
	static const struct {
		const char *name;
		enum split_rollout_cmd cmd;
	} ctl[] = {
		{ "pause", SPLIT_RO_CMD_PAUSE },
		{ "resume", SPLIT_RO_CMD_RESUME },
		{ "abort", SPLIT_RO_CMD_ABORT },
		{ "promote", SPLIT_RO_CMD_PROMOTE },
	};

	if (argc < 2)
		return usage_err("%s", "which subcommand? start, status, pause, resume, abort or promote");
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		cmd_usage(find_cmd("rollout"), stdout);
		return 0;
	}
	if (!strcmp(argv[1], "start"))
		return start(argc - 1, argv + 1);
	if (!strcmp(argv[1], "status"))
		return status(argc - 1, argv + 1);
	for (size_t i = 0; i < sizeof(ctl) / sizeof(ctl[0]); i++)
		if (!strcmp(argv[1], ctl[i].name))
			return control(ctl[i].name, ctl[i].cmd, argc - 1, argv + 1);
	return usage_err("unknown subcommand '%s' (start, status, pause, resume, abort, promote)",
			 argv[1]);
}
