// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * splitctl - command line of the eBPF canary traffic splitter.
 *
 * Works on the pinned maps directly (splitd need not be running): reads the
 * state in force, validates the whole change, and commits it atomically.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <malloc.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>

#include <bpf/bpf.h>

#include "apply.h"
#include "log.h"
#include "mapsize.h"
#include "ops.h"
#include "rollout.h"
#include "splitctl.h"
#include "state.h"
#include "stats.h"

const char *pin_dir = SPLIT_PIN_DIR_DEFAULT;

void cmd_usage(const struct cmd *c, FILE *f)
{
	fprintf(f, "Usage: splitctl [--pin-dir DIR] %s %s\n\n%s\n%s", c->name,
		c->args, c->summary, c->help);
}

/* Common option parsing for subcommands: only -h/--help (+ extra). */
static int sub_opts(const char *name, int argc, char **argv, int *json)
{
	static const struct option lopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, 'j' },
		{ 0 },
	};
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+hj", lopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			cmd_usage(find_cmd(name), stdout);
			exit(0);
		case 'j':
			if (json) {
				*json = 1;
				break;
			}
			/* fallthrough */
		default:
			fprintf(stderr, "splitctl %s: unknown option '%s'\nTry 'splitctl %s --help'.\n",
				name, argv[optind - 1], name);
			return -1;
		}
	}
	return optind;
}

/* A change is in force for new connections once splitctl returns: for
 * services behind splitd's L7 proxy, wait until the proxy follows it (up
 * to a poll of splitd's loop; set skips it for a service not behind it). */
void wait_l7(struct split_state *st)
{
	if (split_state_wait_l7(st, 3000))
		fprintf(stderr, "splitctl: warning: splitd's L7 proxy has not confirmed the change within 3 s; it follows it when it can\n");
}

int open_state(struct split_state *st)
{
	struct split_err err;

	if (split_state_open(st, pin_dir, &err)) {
		fprintf(stderr, "splitctl: %s\n", err.msg);
		return -1;
	}
	return 0;
}

static void print_weights(const struct split_service *s, FILE *f)
{
	for (size_t i = 0; i < s->nversions; i++)
		fprintf(f, "%s%s=%u", i ? " " : "", s->versions[i].name,
			s->versions[i].weight);
}

/* A reset of a service whose weights an object's default route sets is
 * refused: the object would set them again. */
static int reset_refused(struct split_state *st, const struct split_service *s,
			 struct split_err *err)
{
	struct split_objs objs = { 0 };
	struct split_rules rules = { 0 };
	struct split_object_key id;
	int r = -1;

	if (split_objs_read(st, &objs, err) || split_objs_rules(&objs, &rules, err))
		goto out;
	r = 0;
	if (split_weights_owner(&rules, s->ns, s->name, &id))
		r = split_errf(err, "the weights of %s.%s come from the default route of %s %s/%s: set them with 'splitctl set', or 'splitctl delete' that object",
			       s->name, s->ns, id.kind, id.ns, id.name);
out:
	split_rules_free(&rules);
	split_objs_free(&objs);
	return r;
}

/* set / reset: read, change, commit under the lock. */
static int change(const char *ref, int argc, char **argv, int reset)
{
	struct split_config cfg = { 0 };
	struct split_object_key id = { 0 };
	struct split_state st;
	struct split_err err;
	int idx, ret = 1;

	if (split_state_open_some(&st, pin_dir, &err)) {
		fprintf(stderr, "splitctl: %s\n", err.msg);
		return 1;
	}
	/* Only the service changed is read (and written). */
	if (split_state_lock(&st, &err) || split_state_read_service(&st, ref, &cfg, &err))
		goto fail;
	idx = split_config_find(&cfg, ref, &err);
	if (idx < 0)
		goto fail;
	if (split_rollout_busy(&st, cfg.svcs[idx].ns, cfg.svcs[idx].name, &err))
		goto fail;
	if (reset) {
		if (reset_refused(&st, &cfg.svcs[idx], &err))
			goto fail;
		split_config_reset_weights(&cfg, (size_t)idx);
		if (split_state_commit(&st, &cfg, &err))
			goto fail;
	} else if (split_set_weights(&st, &cfg, (size_t)idx, argc, argv, &id, &err)) {
		goto fail;
	}
	printf("%s.%s: ", cfg.svcs[idx].name, cfg.svcs[idx].ns);
	print_weights(&cfg.svcs[idx], stdout);
	if (id.kind[0])
		printf(" (changed %s %s/%s: the weights of its default route)", id.kind, id.ns,
		       id.name);
	printf("%s\n", reset ? " (no explicit route: equal share per endpoint)" : "");
	ret = 0;
	goto out;
fail:
	fprintf(stderr, "splitctl: %s\n", err.msg);
out:
	split_state_unlock(&st);
	/* Only an L7 service's connections go through splitd's proxy: any
	 * other is split by the maps just written, nothing to wait for. */
	if (!ret && cfg.svcs[idx].l7)
		wait_l7(&st);
	split_state_close(&st);
	split_config_free(&cfg);
	return ret;
}

static int cmd_set(int argc, char **argv)
{
	int i = sub_opts("set", argc, argv, NULL);

	if (i < 0)
		return 2;
	if (argc - i < 2) {
		fprintf(stderr, "splitctl set: need a service and at least one VERSION=WEIGHT\n"
				"Try 'splitctl set --help'.\n");
		return 2;
	}
	return change(argv[i], argc - i - 1, argv + i + 1, 0);
}

static int cmd_reset(int argc, char **argv)
{
	int i = sub_opts("reset", argc, argv, NULL);

	if (i < 0)
		return 2;
	if (argc - i != 1) {
		fprintf(stderr, "splitctl reset: need exactly one service\n"
				"Try 'splitctl reset --help'.\n");
		return 2;
	}
	return change(argv[i], 0, NULL, 1);
}

static const char *proto_name(uint8_t p)
{
	return p == IPPROTO_UDP ? "udp" : p == IPPROTO_TCP ? "tcp" : "?";
}

/* Where an L7 service's connections go: splitd's proxy listeners from
 * l7_listen (alive: heartbeat fresh), as text or JSON. */
static void show_l7(const struct split_service *s, int json)
{
	char path[PATH_MAX + 64], a[64], l[64];
	struct timespec ts;
	int fd, n = 0;
	__u64 now;

	if (!s->l7) {
		if (json)
			printf(",\"l7\":false");
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
	snprintf(path, sizeof(path), "%s/%s", pin_dir, SPLIT_MAP_L7_LISTEN);
	fd = bpf_obj_get(path);
	printf(json ? ",\"l7\":true,\"proxy\":[" : "  l7:    request rules in force");
	for (size_t i = 0; fd >= 0 && i < s->nvips; i++)
		for (size_t k = 0; k < s->nports; k++) {
			struct split_svc_key key;
			struct split_l7_listen_val v;
			struct split_addr la;
			int alive;

			if (s->ports[k].proto != IPPROTO_TCP)
				continue;
			split_vip_key(&key, &s->vips[i], &s->ports[k]);
			if (bpf_map_lookup_elem(fd, &key, &v))
				continue;
			split_addr_from_be(&la, v.addr, v.family);
			alive = now - v.heartbeat_ns <= SPLIT_L7_STALE_NS || v.heartbeat_ns > now;
			if (json)
				printf("%s{\"vip\":\"%s\",\"port\":%u,\"listen\":\"%s\",\"listenPort\":%u,\"alive\":%s}",
				       n ? "," : "", split_addr_str(&s->vips[i], a, sizeof(a)),
				       s->ports[k].port, split_addr_str(&la, l, sizeof(l)),
				       ntohs(v.port), alive ? "true" : "false");
			else
				printf("%s %s -> %s%s", n ? "," : ": through splitd's proxy",
				       split_addr_port_str(&s->vips[i], s->ports[k].port, a, sizeof(a)),
				       split_addr_port_str(&la, ntohs(v.port), l, sizeof(l)),
				       alive ? "" : " (stale: splitd gone)");
			n++;
		}
	if (fd >= 0)
		close(fd);
	if (json)
		printf("]");
	else if (!n)
		printf(", but no splitd proxy listens: connect() splits by the default route (splitd stopped, or --no-l7)\n");
	else
		printf("\n");
}

/* Slots of the service's table for a family (0, 1): the sum over its
 * versions (a small table has one per endpoint, a big one 10007). */
static double table_slots(const struct split_service *s, int fa)
{
	uint64_t n = 0;

	for (size_t v = 0; v < s->nversions; v++)
		n += s->versions[v].slots[fa];
	return n ? (double)n : 1.0;
}

static void show_text(const struct split_service *s)
{
	char a[64];

	printf("%s.%s%s\n", s->name, s->ns,
	       s->routed ? "" : "  (no explicit route: equal share per endpoint)");
	printf("  vips:  ");
	for (size_t i = 0; i < s->nvips; i++)
		printf("%s%s", i ? " " : "", split_addr_str(&s->vips[i], a, sizeof(a)));
	printf("\n  ports: ");
	for (size_t i = 0; i < s->nports; i++)
		printf("%s%u/%s->%u", i ? " " : "", s->ports[i].port,
		       proto_name(s->ports[i].proto), s->ports[i].target_port);
	printf("\n  %-16s %8s %9s %9s  %s\n", "VERSION", "WEIGHT", "SHARE4",
	       "SHARE6", "ENDPOINTS");
	for (size_t v = 0; v < s->nversions; v++) {
		const struct split_version *ver = &s->versions[v];
		int n = 0;

		printf("  %-16s %8u %8.2f%% %8.2f%% ", ver->name, ver->weight,
		       100.0 * ver->slots[0] / table_slots(s, 0),
		       100.0 * ver->slots[1] / table_slots(s, 1));
		for (size_t e = 0; e < s->neps; e++)
			if (!strcmp(s->eps[e].version, ver->name))
				printf(" %s", split_addr_str(&s->eps[e].addr, a, sizeof(a))), n++;
		printf("%s\n", n ? "" : " (none)");
	}
	show_l7(s, 0);
}

static void show_json(const struct split_service *s, int first)
{
	char a[64];

	printf("%s{\"service\":\"%s\",\"namespace\":\"%s\",\"routed\":%s,\"vips\":[",
	       first ? "" : ",", s->name, s->ns, s->routed ? "true" : "false");
	for (size_t i = 0; i < s->nvips; i++)
		printf("%s\"%s\"", i ? "," : "", split_addr_str(&s->vips[i], a, sizeof(a)));
	printf("],\"ports\":[");
	for (size_t i = 0; i < s->nports; i++)
		printf("%s{\"port\":%u,\"protocol\":\"%s\",\"targetPort\":%u}",
		       i ? "," : "", s->ports[i].port, proto_name(s->ports[i].proto),
		       s->ports[i].target_port);
	printf("],\"versions\":[");
	for (size_t v = 0; v < s->nversions; v++) {
		const struct split_version *ver = &s->versions[v];
		int n = 0;

		printf("%s{\"name\":\"%s\",\"weight\":%u,\"slots4\":%u,\"slots6\":%u,\"endpoints\":[",
		       v ? "," : "", ver->name, ver->weight, ver->slots[0], ver->slots[1]);
		for (size_t e = 0; e < s->neps; e++)
			if (!strcmp(s->eps[e].version, ver->name))
				printf("%s\"%s\"", n++ ? "," : "",
				       split_addr_str(&s->eps[e].addr, a, sizeof(a)));
		printf("]}");
	}
	printf("]");
	show_l7(s, 1);
	printf("}");
}

struct iface_ent {
	struct split_iface_key k;
	struct split_iface_val v;
};

static int iface_cmp(const void *a, const void *b)
{
	const struct iface_ent *x = a, *y = b;

	if (x->k.mode != y->k.mode)
		return x->k.mode < y->k.mode ? -1 : 1;
	if (x->v.fallback != y->v.fallback)
		return x->v.fallback < y->v.fallback ? -1 : 1;
	return strcmp(x->v.name, y->v.name);
}

static const char *iface_mode(unsigned int mode, unsigned int fallback)
{
	switch (mode) {
	case SPLIT_IF_XDP: return "xdp";
	case SPLIT_IF_TC_DNAT: return fallback ? "tc-dnat (xdp failed)" : "tc-dnat";
	case SPLIT_IF_TC_REV: return "tc-rev";
	default: return "?";
	}
}

/* "north-south: xdp on eth0; tc-rev on veth1, veth2" from the ifaces map. */
static void show_ifaces(void)
{
	struct iface_ent e[SPLIT_MAX_IFACES];
	struct split_iface_key key, *prev = NULL;
	char path[PATH_MAX];
	size_t n = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", pin_dir, SPLIT_MAP_IFACES);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return;
	while (n < SPLIT_MAX_IFACES && !bpf_map_get_next_key(fd, prev, &e[n].k)) {
		key = e[n].k;
		prev = &key;
		if (!bpf_map_lookup_elem(fd, &key, &e[n].v))
			n++;
	}
	close(fd);
	qsort(e, n, sizeof(e[0]), iface_cmp);
	printf("north-south: ");
	for (size_t i = 0; i < n; i++) {
		int same = i && e[i].k.mode == e[i - 1].k.mode &&
			   e[i].v.fallback == e[i - 1].v.fallback;

		printf("%s%s%s", same ? ", " : i ? "; " : "",
		       same ? "" : iface_mode(e[i].k.mode, e[i].v.fallback),
		       same ? "" : " on ");
		printf("%s", e[i].v.name);
	}
	printf("%s\n", n ? "" : "none (socket hooks only)");
}

/* Kernel memory (memlock) of one map by id. */
static __u64 map_id_bytes(__u32 id)
{
	char path[64], line[128];
	__u64 bytes = 0;
	FILE *f;
	int fd = bpf_map_get_fd_by_id(id);

	if (fd < 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long long v;

		if (sscanf(line, "memlock: %llu", &v) == 1)
			bytes = v;
	}
	if (f)
		fclose(f);
	close(fd);
	return bytes;
}

/* "maps: ..." the maps allocated whole at creation (sized by splitd's
 * options), the selection tables, and all pinned maps together. */
static void show_maps(void)
{
	static const struct { const char *name, *unit; } fixed[] = {
		{ SPLIT_MAP_CT, "flows" }, { SPLIT_MAP_CT_REV, "flows" },
		{ SPLIT_MAP_SOCK_NAT, "entries" }, { SPLIT_MAP_UDP_AFF, "entries" },
		{ SPLIT_MAP_SLOTS, "cells" },
	};
	char path[PATH_MAX + 300];
	__u64 total = 0, bytes, used = 0;
	__u32 max, k, *prev = NULL, cur, nbig = 0, nsmall = 0;
	struct split_table_val tv;
	struct dirent *de;
	DIR *d;
	int fd, bfd;

	printf("maps (kernel memory; sizes: splitd --ct-max, --sock-nat-max, --table-cells):\n");
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		if (!split_map_mem(pin_dir, fixed[i].name, &max, &bytes))
			printf("  %-10s %9u %-7s %8.1f %s\n", fixed[i].name, max, fixed[i].unit,
			       bytes < 1048576 ? (double)bytes / 1024 : (double)bytes / 1048576,
			       bytes < 1048576 ? "KiB" : "MiB");
	snprintf(path, sizeof(path), "%s/%s", pin_dir, SPLIT_MAP_BIG_TABLES);
	bfd = bpf_obj_get(path);
	snprintf(path, sizeof(path), "%s/%s", pin_dir, SPLIT_MAP_TABLES);
	fd = bpf_obj_get(path);
	while (fd >= 0 && !bpf_map_get_next_key(fd, prev, &k)) {
		cur = k;
		prev = &cur;
		if (k >= SPLIT_TBL_TOMB || bpf_map_lookup_elem(fd, &k, &tv))
			continue;
		if (tv.kind == SPLIT_TBL_SMALL) {
			nsmall++;
			used += (tv.nslots + 1) / 2;
		} else if (tv.kind == SPLIT_TBL_BIG) {
			__u32 id;

			if (bfd >= 0 && !bpf_map_lookup_elem(bfd, &k, &id)) {
				total += map_id_bytes(id);
				nbig++;
			}
		}
	}
	if (fd >= 0)
		close(fd);
	if (bfd >= 0)
		close(bfd);
	printf("  tables     %u small (%llu cells of %s in use), %u big (10007 slots, an inner map each)\n",
	       nsmall, (unsigned long long)used, SPLIT_MAP_SLOTS, nbig);
	d = opendir(pin_dir);
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.' || !strcmp(de->d_name, SPLIT_LINK_DIR))
			continue;
		if (!split_map_mem(pin_dir, de->d_name, &max, &bytes))
			total += bytes;
	}
	if (d)
		closedir(d);
	printf("  all maps   %.1f MiB (pinned maps and big tables)\n", (double)total / 1048576);
}

static int cmd_show(int argc, char **argv)
{
	struct split_config cfg = { 0 };
	struct split_state st;
	struct split_err err;
	int json = 0, i = sub_opts("show", argc, argv, &json), idx = -1, ret = 1;

	if (i < 0)
		return 2;
	if (argc - i > 1) {
		fprintf(stderr, "splitctl show: at most one service\nTry 'splitctl show --help'.\n");
		return 2;
	}
	if (open_state(&st))
		return 1;
	if (split_state_read(&st, &cfg, &err))
		goto fail;
	if (argc - i == 1 && (idx = split_config_find(&cfg, argv[i], &err)) < 0)
		goto fail;
	if (json)
		printf("[");
	for (size_t k = 0; k < cfg.nsvcs; k++) {
		if (idx >= 0 && (size_t)idx != k)
			continue;
		if (json)
			show_json(&cfg.svcs[k], idx >= 0 || k == 0);
		else
			show_text(&cfg.svcs[k]);
	}
	if (json)
		printf("]\n");
	else if (!cfg.nsvcs)
		printf("no services (pin dir %s)\n", pin_dir);
	if (!json && idx < 0) {
		show_ifaces();
		show_maps();
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

static double pct(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

static int same_row(const struct split_stat_row *a, const struct split_stat_row *b)
{
	return !strcmp(a->service, b->service) && !strcmp(a->ns, b->ns) &&
	       !strcmp(a->version, b->version) && !memcmp(&a->addr, &b->addr, sizeof(a->addr));
}

/* cur - prev for the counters (prev may be NULL or lack the row). */
static struct split_stat_row delta(const struct split_stat_row *cur,
				   const struct split_stat_row *prev, size_t nprev)
{
	struct split_stat_row d = *cur;

	for (size_t i = 0; prev && i < nprev; i++) {
		const struct split_stat_row *p = &prev[i];

		if (!same_row(cur, p))
			continue;
		d.c.flows -= p->c.flows;
		d.c.packets -= p->c.packets;
		d.c.bytes -= p->c.bytes;
		d.c.rev_packets -= p->c.rev_packets;
		d.c.rev_bytes -= p->c.rev_bytes;
		d.s.connections -= p->s.connections;
		d.s.established -= p->s.established;
		d.s.connect_failed -= p->s.connect_failed;
		d.s.resets -= p->s.resets;
		d.s.retransmits -= p->s.retransmits;
		d.s.rto -= p->s.rto;
		d.s.rtt_samples -= p->s.rtt_samples;
		d.s.rtt_sum_us -= p->s.rtt_sum_us;
		d.l7.requests -= p->l7.requests;
		for (int c = 0; c < 5; c++)
			d.l7.responses[c] -= p->l7.responses[c];
		d.l7.nonhttp -= p->l7.nonhttp;
		d.l7.latency_us_sum -= p->l7.latency_us_sum;
		break;
	}
	return d;
}

/* Per second over the window, or "-" without one. */
static const char *rate_str(uint64_t n, double window)
{
	static char buf[4][32];
	static int i;

	i = (i + 1) % 4;
	if (window <= 0)
		return "-";
	snprintf(buf[i], sizeof(buf[i]), "%.1f", (double)n / window);
	return buf[i];
}

static double rtt_ms(const struct split_stat_row *r)
{
	return r->s.rtt_samples ? (double)r->s.rtt_sum_us / (double)r->s.rtt_samples / 1000.0 : 0.0;
}

/* Mean L7 latency (request head in -> response relayed) per request. */
static double l7_ms(const struct split_stat_row *r)
{
	return r->l7.requests ? (double)r->l7.latency_us_sum / (double)r->l7.requests / 1000.0 : 0.0;
}

/* The L7 proxy's counters as JSON members, with a leading comma. */
static void json_l7(const struct split_stat_row *x)
{
	printf(",\"requests\":%llu,\"responses_1xx\":%llu,\"responses_2xx\":%llu,"
	       "\"responses_3xx\":%llu,\"responses_4xx\":%llu,\"responses_5xx\":%llu,"
	       "\"nonhttp\":%llu,\"latency_us_sum\":%llu,\"latency_ms_mean\":%.3f",
	       (unsigned long long)x->l7.requests, (unsigned long long)x->l7.responses[0],
	       (unsigned long long)x->l7.responses[1], (unsigned long long)x->l7.responses[2],
	       (unsigned long long)x->l7.responses[3], (unsigned long long)x->l7.responses[4],
	       (unsigned long long)x->l7.nonhttp, (unsigned long long)x->l7.latency_us_sum,
	       l7_ms(x));
}

static void json_row(const struct split_stat_row *x, const char *kind, int *first)
{
	char a[64];

	printf("%s{\"kind\":\"%s\",\"service\":\"%s\",\"namespace\":\"%s\",\"version\":\"%s\",",
	       *first ? "" : ",", kind, x->service, x->ns, x->version);
	if (!strcmp(kind, "proxy")) {
		printf("\"weight\":0");
		json_l7(x);
		printf("}");
		*first = 0;
		return;
	}
	if (x->addr.family)
		printf("\"endpoint\":\"%s\",", split_addr_str(&x->addr, a, sizeof(a)));
	printf("\"weight\":%u,\"connections\":%llu,\"established\":%llu,\"connect_failed\":%llu,"
	       "\"resets\":%llu,\"retransmits\":%llu,\"rto\":%llu,\"rtt_samples\":%llu,"
	       "\"rtt_sum_us\":%llu,\"rtt_last_us\":%llu,\"flows\":%llu,\"packets\":%llu,"
	       "\"bytes\":%llu,\"reply_packets\":%llu,\"reply_bytes\":%llu",
	       x->weight, (unsigned long long)x->s.connections,
	       (unsigned long long)x->s.established, (unsigned long long)x->s.connect_failed,
	       (unsigned long long)x->s.resets, (unsigned long long)x->s.retransmits,
	       (unsigned long long)x->s.rto, (unsigned long long)x->s.rtt_samples,
	       (unsigned long long)x->s.rtt_sum_us, (unsigned long long)x->s.rtt_last_us,
	       (unsigned long long)x->c.flows, (unsigned long long)x->c.packets,
	       (unsigned long long)x->c.bytes, (unsigned long long)x->c.rev_packets,
	       (unsigned long long)x->c.rev_bytes);
	if (x->l7_service)
		json_l7(x);
	printf("}");
	*first = 0;
}

/* The proxy's own answers for the service of r, or NULL. */
static const struct split_stat_row *proxy_row(const struct split_stat_row *rows, size_t n,
					      const struct split_stat_row *r)
{
	for (size_t i = 0; rows && i < n; i++)
		if (!strcmp(rows[i].service, r->service) && !strcmp(rows[i].ns, r->ns))
			return &rows[i];
	return NULL;
}

/* The status classes, non-HTTP connections and mean latency of an L7 row. */
static void print_l7_tail(const struct split_stat_row *d, double window)
{
	printf(" %8s %7llu %7llu %7llu %7llu %7llu %8.3f\n",
	       rate_str(d->l7.requests, window),
	       (unsigned long long)d->l7.responses[1], (unsigned long long)d->l7.responses[2],
	       (unsigned long long)d->l7.responses[3], (unsigned long long)d->l7.responses[4],
	       (unsigned long long)d->l7.nonhttp, l7_ms(d));
}

/* The L7 part of a service's table (cur->versions[v..end) are its
 * versions, wsum the sum of their weights): requests per version and their
 * observed share next to the weight, status classes, non-HTTP connections,
 * mean latency; then the proxy's own answers. */
static void print_l7(const struct split_stats *cur, const struct split_stats *prev,
		     double window, size_t v, size_t end, uint64_t wsum,
		     const struct split_stat_row *own)
{
	uint64_t rsum = 0;
	struct split_stat_row d;

	for (size_t k = v; k < end; k++)
		rsum += delta(&cur->versions[k], prev ? prev->versions : NULL,
			      prev ? prev->nversions : 0).l7.requests;
	printf("  %-10s %6s %7s | %9s %7s %8s %7s %7s %7s %7s %7s %8s\n",
	       "L7 PROXY", "WEIGHT", "SHARE", "REQUESTS", "OBSERVD", "REQ/S",
	       "2XX", "3XX", "4XX", "5XX", "NONHTTP", "LAT(ms)");
	for (size_t k = v; k < end; k++) {
		d = delta(&cur->versions[k], prev ? prev->versions : NULL,
			  prev ? prev->nversions : 0);
		printf("  %-10s %6u %6.2f%% | %9llu %6.2f%%", d.version, d.weight,
		       pct(d.weight, wsum), (unsigned long long)d.l7.requests,
		       pct(d.l7.requests, rsum));
		print_l7_tail(&d, window);
	}
	if (own) {
		d = delta(own, prev ? prev->proxy : NULL, prev ? prev->nproxy : 0);
		printf("  %-10s %6s %7s | %9llu %7s", "(proxy)", "", "",
		       (unsigned long long)d.l7.requests, "");
		print_l7_tail(&d, window);
	}
}

/* One table per service: versions, then endpoints. window: seconds the
 * counters cover (0: since the maps were created). */
static void print_stats(const struct split_stats *cur, const struct split_stats *prev,
			double window, const char *name, const char *ns, int json)
{
	int first = 1;

	if (json)
		printf("[");
	for (size_t v = 0; v < cur->nversions;) {
		const struct split_stat_row *r = &cur->versions[v];
		const struct split_stat_row *own = proxy_row(cur->proxy, cur->nproxy, r);
		uint64_t wsum = 0, csum = 0, fsum = 0;
		size_t end = v;
		int l7 = own != NULL;

		while (end < cur->nversions && !strcmp(cur->versions[end].service, r->service) &&
		       !strcmp(cur->versions[end].ns, r->ns)) {
			struct split_stat_row d = delta(&cur->versions[end],
							prev ? prev->versions : NULL,
							prev ? prev->nversions : 0);

			wsum += d.weight;
			csum += d.s.connections;
			fsum += d.c.flows;
			l7 |= d.l7_service;
			end++;
		}
		if (name && (strcmp(r->service, name) || strcmp(r->ns, ns))) {
			v = end;
			continue;
		}
		if (!json) {
			printf("%s.%s  (%s)\n", r->service, r->ns, window > 0 ? "last window" : "since start");
			if (window > 0)
				printf("  window: %.1f s\n", window);
			printf("  %-10s %6s %7s | %9s %7s %8s %6s %6s %7s %8s | %9s %7s %10s\n",
			       "VERSION", "WEIGHT", "SHARE", "CONNS", "OBSERVD", "CONN/S",
			       "FAILED", "RESETS", "RETRANS", "RTT(ms)", "FLOWS", "OBSERVD", "BYTES");
		}
		for (size_t k = v; k < end; k++) {
			struct split_stat_row d = delta(&cur->versions[k], prev ? prev->versions : NULL,
							prev ? prev->nversions : 0);

			if (json) {
				json_row(&d, "version", &first);
				continue;
			}
			printf("  %-10s %6u %6.2f%% | %9llu %6.2f%% %8s %6llu %6llu %7llu %8.3f | %9llu %6.2f%% %10llu\n",
			       d.version, d.weight, pct(d.weight, wsum),
			       (unsigned long long)d.s.connections, pct(d.s.connections, csum),
			       rate_str(d.s.connections, window),
			       (unsigned long long)d.s.connect_failed, (unsigned long long)d.s.resets,
			       (unsigned long long)d.s.retransmits, rtt_ms(&d),
			       (unsigned long long)d.c.flows, pct(d.c.flows, fsum),
			       (unsigned long long)(d.c.bytes + d.c.rev_bytes));
		}
		for (size_t b = 0; b < cur->nbackends; b++) {
			const struct split_stat_row *x = &cur->backends[b];
			struct split_stat_row d;
			char a[64];

			if (strcmp(x->service, r->service) || strcmp(x->ns, r->ns))
				continue;
			d = delta(x, prev ? prev->backends : NULL, prev ? prev->nbackends : 0);
			if (json) {
				json_row(&d, "endpoint", &first);
				continue;
			}
			printf("    %-18s %-4s | %9llu %7s %8s %6llu %6llu %7llu %8.3f | %9llu %7s %10llu\n",
			       split_addr_str(&x->addr, a, sizeof(a)), x->version,
			       (unsigned long long)d.s.connections, "",
			       rate_str(d.s.connections, window),
			       (unsigned long long)d.s.connect_failed, (unsigned long long)d.s.resets,
			       (unsigned long long)d.s.retransmits, rtt_ms(&d),
			       (unsigned long long)d.c.flows, "",
			       (unsigned long long)(d.c.bytes + d.c.rev_bytes));
		}
		if (json && own) {
			struct split_stat_row d = delta(own, prev ? prev->proxy : NULL,
							prev ? prev->nproxy : 0);

			json_row(&d, "proxy", &first);
		} else if (!json && l7) {
			print_l7(cur, prev, window, v, end, wsum, own);
		}
		v = end;
	}
	if (json)
		printf("]\n");
	fflush(stdout);
}

static int cmd_stats(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, 'j' },
		{ "watch", required_argument, NULL, 'w' },
		{ "count", required_argument, NULL, 'n' },
		{ 0 },
	};
	struct split_config cfg = { 0 };
	struct split_stats st = { 0 }, prev = { 0 };
	struct split_state sst;
	struct split_err err;
	const char *name = NULL, *ns = NULL;
	double watch = 0;
	long count = -1;
	int json = 0, c, ret = 1;
	char *end;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+hjw:n:", lopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			cmd_usage(find_cmd("stats"), stdout);
			return 0;
		case 'j':
			json = 1;
			break;
		case 'w':
			watch = strtod(optarg, &end);
			if (*end || watch < 0.1 || watch > 3600) {
				fprintf(stderr, "splitctl stats: --watch wants seconds (0.1 to 3600), not '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'n':
			count = strtol(optarg, &end, 10);
			if (*end || count < 1) {
				fprintf(stderr, "splitctl stats: --count wants a positive number, not '%s'\n",
					optarg);
				return 2;
			}
			break;
		default:
			fprintf(stderr, "splitctl stats: unknown option or missing argument '%s'\nTry 'splitctl stats --help'.\n",
				argv[optind - 1]);
			return 2;
		}
	}
	if (argc - optind > 1) {
		fprintf(stderr, "splitctl stats: at most one service\nTry 'splitctl stats --help'.\n");
		return 2;
	}
	if (argc - optind == 1) {
		int idx;

		if (open_state(&sst))
			return 1;
		if (split_state_read(&sst, &cfg, &err) ||
		    (idx = split_config_find(&cfg, argv[optind], &err)) < 0) {
			fprintf(stderr, "splitctl: %s\n", err.msg);
			split_state_close(&sst);
			split_config_free(&cfg);
			return 1;
		}
		name = cfg.svcs[idx].name;
		ns = cfg.svcs[idx].ns;
		split_state_close(&sst);
	}
	if (split_stats_read(pin_dir, &st, &err))
		goto fail;
	if (!watch) {
		print_stats(&st, NULL, 0, name, ns, json);
		ret = 0;
		goto out;
	}
	for (long i = 0; count < 0 || i < count; i++) {
		split_stats_free(&prev);
		prev = st;
		memset(&st, 0, sizeof(st));
		usleep((useconds_t)(watch * 1e6));
		if (split_stats_read(pin_dir, &st, &err))
			goto fail;
		print_stats(&st, &prev, watch, name, ns, json);
	}
	ret = 0;
	goto out;
fail:
	fprintf(stderr, "splitctl: %s\n", err.msg);
out:
	split_stats_free(&st);
	split_stats_free(&prev);
	split_config_free(&cfg);
	return ret;
}

/* -f PATH ... for apply and delete. */
static int file_opts(const char *name, int argc, char **argv, const char **paths,
		     size_t *n)
{
	static const struct option lopts[] = {
		{ "filename", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;

	optind = 1;
	opterr = 0;
	*n = 0;
	while ((c = getopt_long(argc, argv, "+f:h", lopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (*n == 64) {
				fprintf(stderr, "splitctl %s: too many -f\n", name);
				return -1;
			}
			paths[(*n)++] = optarg;
			break;
		case 'h':
			cmd_usage(find_cmd(name), stdout);
			exit(0);
		default:
			fprintf(stderr, "splitctl %s: unknown option or missing argument '%s'\nTry 'splitctl %s --help'.\n",
				name, argv[optind - 1], name);
			return -1;
		}
	}
	if (optind < argc || !*n) {
		fprintf(stderr, "splitctl %s: %s\nTry 'splitctl %s --help'.\n", name,
			optind < argc ? "unexpected argument (files go after -f)" : "need -f FILE|DIR",
			name);
		return -1;
	}
	return 0;
}

/* Replace or add services by namespace/name; moves them out of src. */
static int upsert_services(struct split_config *dst, struct split_config *src)
{
	for (size_t i = 0; i < src->nsvcs; i++) {
		struct split_service *s = &src->svcs[i], *d = NULL;

		for (size_t j = 0; j < dst->nsvcs && !d; j++)
			if (!strcmp(dst->svcs[j].name, s->name) && !strcmp(dst->svcs[j].ns, s->ns))
				d = &dst->svcs[j];
		if (d) {
			split_service_free(d);
		} else {
			struct split_service *v = realloc(dst->svcs, (dst->nsvcs + 1) * sizeof(*v));

			if (!v)
				return -1;
			dst->svcs = v;
			d = &dst->svcs[dst->nsvcs++];
		}
		*d = *s;
		memset(s, 0, sizeof(*s));
	}
	return 0;
}

static void remove_services(struct split_config *dst, const struct split_config *gone)
{
	size_t n = 0;

	for (size_t j = 0; j < dst->nsvcs; j++) {
		int del = 0;

		for (size_t i = 0; i < gone->nsvcs && !del; i++)
			del = !strcmp(dst->svcs[j].name, gone->svcs[i].name) &&
			      !strcmp(dst->svcs[j].ns, gone->svcs[i].ns);
		if (del)
			split_service_free(&dst->svcs[j]);
		else
			dst->svcs[n++] = dst->svcs[j];
	}
	dst->nsvcs = n;
}

/*
 * apply / delete: the resulting set (objects and services in force, plus
 * or minus the files') is validated and compiled as a whole, as one apply
 * of that set would be, and committed; refused, nothing changes.
 */
static int apply_or_delete(const char *name, int argc, char **argv, int del)
{
	struct split_config cfg = { 0 };
	struct split_input in = { 0 };
	struct split_objs objs = { 0 };
	struct split_state st;
	struct split_err err;
	const char *paths[64];
	size_t n, nobj = 0, nsvcs, nabsent = 0;
	int ret = 1, locked = 0;

	if (file_opts(name, argc, argv, paths, &n))
		return 2;
	/* The files are read and each document checked before the state is
	 * even opened; the set they make is checked under the lock. */
	if (split_input_load(paths, n, &in, &err) ||
	    (del && split_input_check_ids(&in, &err))) {
		fprintf(stderr, "splitctl: %s\n", err.msg);
		split_input_free(&in);
		return 1;
	}
	nsvcs = in.svcs.nsvcs;
	if (open_state(&st))
		goto out_free;
	if (split_state_lock(&st, &err))
		goto fail;
	locked = 1;
	if (split_state_read(&st, &cfg, &err) || split_objs_read(&st, &objs, &err))
		goto fail;
	if (del) {
		nobj = split_objs_remove(&objs, &in.objs);
		nabsent = in.objs.n - nobj;
		nsvcs = cfg.nsvcs;
		remove_services(&cfg, &in.svcs);
		nsvcs -= cfg.nsvcs;
		nabsent += in.svcs.nsvcs - nsvcs;
	} else {
		nobj = in.objs.n;
		if (split_config_merge(&in.svcs, &cfg, &err))
			goto fail;
		if (upsert_services(&cfg, &in.svcs) || split_objs_merge(&objs, &in.objs)) {
			split_errc(&err, ENOMEM, "out of memory");
			goto fail;
		}
	}
	if (split_apply(&st, &cfg, &objs, del ? NULL : &in, &err)) {
		fprintf(stderr, "splitctl: %s refused: %s\n", name, err.msg);
		goto out;
	}
	{
		char file[SPLIT_OWNER_PATH_LEN], dir[SPLIT_OWNER_PATH_LEN];

		if (split_owner_of(pin_dir, "", "", "", file, sizeof(file), dir, sizeof(dir)))
			fprintf(stderr, "splitctl: warning: splitd --config-dir %s owns the Istio objects: this change lasts until splitd reads that directory again\n",
				dir);
	}
	printf("%s %zu Istio objects, %zu services", del ? "deleted" : "applied", nobj,
	       nsvcs);
	if (nabsent)
		printf(" (%zu named in the files were not in force)", nabsent);
	printf("\n");
	ret = 0;
	goto out;
fail:
	fprintf(stderr, "splitctl: %s\n", err.msg);
out:
	if (locked)
		split_state_unlock(&st);
	if (!ret)
		wait_l7(&st);
	split_state_close(&st);
out_free:
	split_config_free(&cfg);
	split_objs_free(&objs);
	split_input_free(&in);
	return ret;
}

static int cmd_apply(int argc, char **argv)
{
	return apply_or_delete("apply", argc, argv, 0);
}

static int cmd_delete(int argc, char **argv)
{
	return apply_or_delete("delete", argc, argv, 1);
}

static int cmd_get(int argc, char **argv)
{
	struct split_objs objs = { 0 };
	struct split_rules rules = { 0 };
	struct split_state st;
	struct split_err err;
	int i = sub_opts("get", argc, argv, NULL), ret = 1;

	if (i < 0)
		return 2;
	if (argc - i) {
		fprintf(stderr, "splitctl get: no arguments\nTry 'splitctl get --help'.\n");
		return 2;
	}
	if (open_state(&st))
		return 1;
	if (split_objs_read(&st, &objs, &err) || split_objs_rules(&objs, &rules, &err)) {
		fprintf(stderr, "splitctl: %s\n", err.msg);
		goto out;
	}
	if (!rules.nsvcs)
		printf("# no Istio objects in force (pin dir %s)\n", pin_dir);
	else if (split_rules_print(stdout, &rules))
		goto out;
	ret = 0;
out:
	split_rules_free(&rules);
	split_objs_free(&objs);
	split_state_close(&st);
	return ret;
}

static int cmd_help(int argc, char **argv);

static const struct cmd cmds[] = {
	{ "set", cmd_set, "SERVICE VERSION=WEIGHT...",
	  "Change the split of SERVICE for new connections, at once.",
	  "\n"
	  "SERVICE is a name (reviews), NAME.NAMESPACE (reviews.default) or\n"
	  "NAMESPACE/NAME. Each VERSION is the value of an endpoint's `version`\n"
	  "label. WEIGHT is a non-negative integer (at most 1000000).\n"
	  "\n"
	  "Weights are relative: v1=90 v2=10 and v1=9 v2=1 give the same split,\n"
	  "and a 0.1% canary is v1=999 v2=1. Versions not named get weight 0,\n"
	  "as in an Istio route, which lists only the destinations that get\n"
	  "traffic. Weight 0 means no new connections; established ones keep\n"
	  "their endpoint (drain). At least one weight must be above 0.\n"
	  "\n"
	  "The whole command is checked first: an unknown service or version, a\n"
	  "bad or duplicate argument changes nothing. Weights stay in the pinned\n"
	  "maps and survive splitd restarts. Versions that get endpoints later\n"
	  "start at weight 0 until named.\n"
	  "\n"
	  "When an Istio object's default route sets the weights of SERVICE (a\n"
	  "RouteRule without a match, or a VirtualService's last http route, without\n"
	  "a match), set changes the weights of that route in that object, as\n"
	  "`kubectl patch` would; its match rules and other routes stay. The output\n"
	  "names the object, `splitctl get` shows it, and applying its file again\n"
	  "replaces it. VERSION is then a version (RouteRule), or a subset of the\n"
	  "service's DestinationRule or the version label of one (VirtualService);\n"
	  "names with weight 0 leave the route. Istio weighs in percent, so the\n"
	  "weights must scale to whole percents (v1=9 v2=1 is 90/10, v1=1 v2=2 is\n"
	  "refused). The change is checked with all the objects in force, like an\n"
	  "apply. Under splitd --config-dir the files own the objects: set refuses\n"
	  "and names the file to edit. `reset` refuses such a service.\n"
	  "\n"
	  "Examples:\n"
	  "  splitctl set reviews v1=100          # everything to v1\n"
	  "  splitctl set reviews v1=50 v2=50     # half and half\n"
	  "  splitctl set reviews v2=100          # v1 drains\n" },
	{ "reset", cmd_reset, "SERVICE",
	  "Drop the explicit weights of SERVICE.",
	  "\n"
	  "Each version then weighs its number of endpoints, so every endpoint\n"
	  "gets an equal share (what Kubernetes does without a route). Refused when\n"
	  "an Istio object's default route sets the weights: delete that object.\n" },
	{ "show", cmd_show, "[--json] [SERVICE]",
	  "Print services, VIPs, ports, versions, weights and endpoints.",
	  "\n"
	  "SHARE4/SHARE6 are the shares of new connections that the kernel gives\n"
	  "each version, read from the slot counts of the IPv4 and IPv6 selection\n"
	  "tables (one slot per endpoint without explicit weights, 10007 slots with).\n"
	  "\n"
	  "Without SERVICE, a maps section follows: the size and kernel memory of\n"
	  "the maps allocated whole when created (splitd --ct-max, --sock-nat-max,\n"
	  "--table-cells), the selection tables, and the total.\n"
	  "\n"
	  "A service whose rules match requests (an L7 service) gets an l7 line:\n"
	  "VIP:port -> the splitd proxy listener its TCP connections go to, or, if\n"
	  "no splitd proxy listens (stopped, --no-l7), that connect() splits by\n"
	  "the default route; \"stale\" marks a listener whose splitd has not\n"
	  "refreshed it for 3 s. With --json, one JSON array (\"l7\", \"proxy\").\n" },
	{ "apply", cmd_apply, "-f FILE|DIR ...",
	  "Apply Istio routing objects and services from YAML, all or nothing.",
	  "\n"
	  "Takes config.istio.io/v1alpha2 RouteRule (as in Istio 0.2), networking.istio.io\n"
	  "VirtualService and DestinationRule (v1alpha3, v1beta1, v1), and split.dev/v1\n"
	  "Service documents; multi-document files, and directories (their *.yaml and\n"
	  "*.yml files in name order). Objects are identified by kind, namespace and\n"
	  "name, as kubectl does: applying one replaces the object of the same\n"
	  "identity and keeps the others.\n"
	  "\n"
	  "The resulting set (the objects and services in force, with these added or\n"
	  "replaced) is validated and compiled as a whole, as one apply of that set\n"
	  "would be, so objects may need ones applied earlier (a VirtualService the\n"
	  "DestinationRule in force). If that set is invalid, nothing changes and the\n"
	  "error names FILE:LINE:COL, or the object in force. A route without a\n"
	  "match sets the service's weights in the kernel tables; routes with matches\n"
	  "(headers, uri, method, queryParams) go to the L7 maps (l7_routes, l7_conds).\n"
	  "Unsupported Istio fields (fault, mirror, retries, ...) are errors.\n"
	  "\n"
	  "Hosts: `reviews` means the service reviews in the object's namespace;\n"
	  "`reviews.NS`, `reviews.NS.svc` and `reviews.NS.svc.cluster.local` name\n"
	  "namespace NS.\n" },
	{ "delete", cmd_delete, "-f FILE|DIR ...",
	  "Delete the objects and services that the files name.",
	  "\n"
	  "Objects are matched by kind, namespace and name (only those fields of the\n"
	  "files are read); services by namespace and name. Refused, changing nothing,\n"
	  "when the set left would be invalid: a DestinationRule whose subsets a\n"
	  "VirtualService in force routes to (delete both in one command), a service a\n"
	  "rule routes to. The error names the object that needs it. A service whose\n"
	  "routing objects are all gone gets an equal share per endpoint again.\n" },
	{ "get", cmd_get, "",
	  "Print the Istio objects in force, as YAML.",
	  "\n"
	  "Per service, its RouteRules (in match order) or its VirtualService, then its\n"
	  "DestinationRule. The output can be applied again as it is.\n" },
	{ "stats", cmd_stats, "[--json] [--watch SECONDS [--count N]] [SERVICE]",
	  "Observed split and health per version and endpoint.",
	  "\n"
	  "Per version: configured WEIGHT and SHARE next to what happened. East-west\n"
	  "(socket hooks): CONNS chosen and their OBSERVeD share, CONN/S with\n"
	  "--watch, TCP connects FAILED (refused or timed out), RESETS of established\n"
	  "connections, RETRANSmits, and the mean smoothed RTT. North-south (XDP/tc):\n"
	  "new FLOWS, their observed share, and BYTES both ways. Then the same per\n"
	  "endpoint address.\n"
	  "\n"
	  "Services with L7 proxy traffic (HTTP request routing; counters in the\n"
	  "l7_stats map) get one more block, L7 PROXY: per version, WEIGHT and SHARE\n"
	  "next to the REQUESTS the proxy routed there and their OBSERVeD share,\n"
	  "REQ/S with --watch, final responses by status class (2XX, 3XX, 4XX, 5XX),\n"
	  "NONHTTP connections relayed at L4, and the mean LATency per request\n"
	  "(request head in to response relayed). The (proxy) row holds the answers\n"
	  "the proxy gave itself before choosing a version (400, 404, 408, 431).\n"
	  "\n"
	  "Without --watch the counters cover the time since the maps were created.\n"
	  "--watch SECONDS prints, every SECONDS, the counts of the last window\n"
	  "(until interrupted, or --count N times). --json prints a JSON array of\n"
	  "rows (kind version, endpoint or proxy) per report; for L7 services the\n"
	  "version and proxy rows also carry requests, responses_1xx .. responses_5xx,\n"
	  "nonhttp, latency_us_sum and latency_ms_mean.\n" },
	{ "rollout", cmd_rollout, "start|status|pause|... SERVICE",
	  "Move SERVICE to a new version step by step; roll back on errors.",
	  cmd_rollout_help },
	{ "help", cmd_help, "[COMMAND]", "Help on splitctl or one command.", "" },
};

const struct cmd *find_cmd(const char *name)
{
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(cmds[i].name, name))
			return &cmds[i];
	return NULL;
}

static void usage(FILE *f)
{
	fprintf(f,
"Usage: splitctl [--pin-dir DIR] [-v] COMMAND [ARGS]\n"
"\n"
"Control the eBPF canary traffic splitter: weights per service version,\n"
"applied by the kernel to new connections at once.\n"
"\n"
"Commands:\n");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  %-7s %-28s %s\n", cmds[i].name, cmds[i].args,
			cmds[i].summary);
	fprintf(f,
"\n"
"Options:\n"
"  -p, --pin-dir DIR  where splitd pinned the maps (default " SPLIT_PIN_DIR_DEFAULT ")\n"
"  -v, --verbose      more logging\n"
"  -h, --help         this help; 'splitctl COMMAND --help' for a command\n"
"\n"
"Exit status: 0 on success, 1 when the change was refused or failed (nothing\n"
"changed), 2 on bad usage.\n");
}

static int cmd_help(int argc, char **argv)
{
	const struct cmd *c;

	if (argc < 2) {
		usage(stdout);
		return 0;
	}
	c = find_cmd(argv[1]);
	if (!c) {
		fprintf(stderr, "splitctl: unknown command '%s'\n", argv[1]);
		return 2;
	}
	cmd_usage(c, stdout);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "pin-dir", required_argument, NULL, 'p' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const struct cmd *c;
	int o;

	/* A short-lived process: memory freed is kept for the next use rather
	 * than given back and faulted in again (a selection table is built
	 * per family in buffers of 40-160 KB, above malloc's default mmap
	 * and trim thresholds). */
	mallopt(M_MMAP_THRESHOLD, 8 << 20);
	mallopt(M_TRIM_THRESHOLD, 32 << 20);
	split_log_prog = "splitctl";
	while ((o = getopt_long(argc, argv, "+p:vh", lopts, NULL)) != -1) {
		switch (o) {
		case 'p': pin_dir = optarg; break;
		case 'v': split_log_level = LOG_LVL_DEBUG; break;
		case 'h': usage(stdout); return 0;
		default:
			fprintf(stderr, "Try 'splitctl --help'.\n");
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	c = find_cmd(argv[optind]);
	if (!c) {
		fprintf(stderr, "splitctl: unknown command '%s'\nTry 'splitctl --help'.\n",
			argv[optind]);
		return 2;
	}
	split_log_libbpf();
	return c->fn(argc - optind, argv + optind);
}
