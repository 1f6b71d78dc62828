// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* stats.c - see stats.h. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "rollout.h"
#include "stats.h"

enum { F_WEIGHTS, F_SERVICES, F_BACKENDS, F_VER_STATS, F_BE_STATS, F_NUM };
/* Optional: a datapath pinned before these counters existed has none. */
enum { O_SK_VER_STATS, O_SK_BE_STATS, O_L7_STATS, O_NUM };

static int get(const char *pin_dir, const char *name, struct split_err *err)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", pin_dir, name);
	fd = bpf_obj_get(path);
	if (fd < 0)
		fd = split_errc(err, errno, "opening %s: %s%s", path, strerror(errno),
				errno == ENOENT ? " (is splitd running with this --pin-dir?)" : "");
	return fd;
}

/* Sum one per-CPU split_flow_stats value; zeros when absent. */
static void sum_percpu(int fd, const void *key, struct split_flow_stats *out)
{
	int ncpu = libbpf_num_possible_cpus();
	struct split_flow_stats *v;

	memset(out, 0, sizeof(*out));
	if (ncpu <= 0 || !(v = calloc((size_t)ncpu, sizeof(*v))))
		return;
	if (!bpf_map_lookup_elem(fd, key, v))
		for (int i = 0; i < ncpu; i++) {
			out->flows += v[i].flows;
			out->packets += v[i].packets;
			out->bytes += v[i].bytes;
			out->rev_packets += v[i].rev_packets;
			out->rev_bytes += v[i].rev_bytes;
		}
	free(v);
}

/* Sum one per-CPU split_sock_stats value; zeros when absent (or no map).
 * The last RTT is the most recent one on any CPU. */
static void sum_sock_percpu(int fd, const void *key, struct split_sock_stats *out)
{
	int ncpu = libbpf_num_possible_cpus();
	struct split_sock_stats *v;

	memset(out, 0, sizeof(*out));
	if (fd < 0 || ncpu <= 0 || !(v = calloc((size_t)ncpu, sizeof(*v))))
		return;
	if (!bpf_map_lookup_elem(fd, key, v))
		for (int i = 0; i < ncpu; i++) {
			out->connections += v[i].connections;
			out->established += v[i].established;
			out->connect_failed += v[i].connect_failed;
			out->resets += v[i].resets;
			out->retransmits += v[i].retransmits;
			out->rto += v[i].rto;
			out->rtt_samples += v[i].rtt_samples;
			out->rtt_sum_us += v[i].rtt_sum_us;
			if (v[i].rtt_samples && v[i].rtt_last_ns >= out->rtt_last_ns) {
				out->rtt_last_ns = v[i].rtt_last_ns;
				out->rtt_last_us = v[i].rtt_last_us;
			}
		}
	free(v);
}

/* One l7_stats value; zeros when absent (or no map). */
static void read_l7(int fd, __u32 svc_id, __u32 version_id, struct split_l7_stats *out)
{
	struct split_weight_key k = { svc_id, version_id };

	if (fd < 0 || bpf_map_lookup_elem(fd, &k, out))
		memset(out, 0, sizeof(*out));
}

/* Mark in l7_svc (a bit per service id) the services with any l7_stats
 * entry; returns how many. */
static size_t l7_services(int fd, unsigned char *l7_svc)
{
	struct split_weight_key k, cur, *prev = NULL;
	size_t n = 0, guard = 0;

	while (fd >= 0 && guard++ < SPLIT_MAX_VERSIONS && !bpf_map_get_next_key(fd, prev, &k)) {
		cur = k;
		prev = &cur;
		if (k.svc_id >= SPLIT_MAX_SERVICES || (l7_svc[k.svc_id / 8] & (1U << (k.svc_id % 8))))
			continue;
		l7_svc[k.svc_id / 8] |= (unsigned char)(1U << (k.svc_id % 8));
		n++;
	}
	return n;
}

static int has_l7(const unsigned char *l7_svc, __u32 svc_id)
{
	return svc_id < SPLIT_MAX_SERVICES && (l7_svc[svc_id / 8] & (1U << (svc_id % 8)));
}

static int row_cmp(const void *a, const void *b)
{
	const struct split_stat_row *x = a, *y = b;
	int c = strcmp(x->ns, y->ns);

	if (!c)
		c = strcmp(x->service, y->service);
	if (!c)
		c = strcmp(x->version, y->version);
	if (!c && x->addr.family != y->addr.family)
		c = x->addr.family - y->addr.family;
	if (!c)
		c = memcmp(x->addr.bytes, y->addr.bytes, sizeof(x->addr.bytes));
	return c;
}

static void name_service(int services_fd, __u32 svc_id, struct split_stat_row *r)
{
	struct split_service_val sv;

	if (!bpf_map_lookup_elem(services_fd, &svc_id, &sv)) {
		snprintf(r->service, sizeof(r->service), "%s", sv.name);
		snprintf(r->ns, sizeof(r->ns), "%s", sv.ns);
		r->svc_flags = sv.flags;
	}
}

int split_stats_read(const char *pin_dir, struct split_stats *st,
		     struct split_err *err)
{
	static const char *const names[F_NUM] = {
		SPLIT_MAP_WEIGHTS, SPLIT_MAP_SERVICES, SPLIT_MAP_BACKENDS,
		SPLIT_MAP_VER_STATS, SPLIT_MAP_BE_STATS,
	};
	static const char *const opt_names[O_NUM] = {
		SPLIT_MAP_SK_VER_STATS, SPLIT_MAP_SK_BE_STATS, SPLIT_MAP_L7_STATS,
	};
	int fd[F_NUM] = { -1, -1, -1, -1, -1 }, ofd[O_NUM] = { -1, -1, -1 };
	unsigned char l7_svc[SPLIT_MAX_SERVICES / 8] = { 0 };
	struct split_weight_key wk, wcur, *wprev = NULL;
	__u32 bk, bcur, *bprev = NULL;
	size_t cap, nl7;
	int ret = -ENOMEM;

	memset(st, 0, sizeof(*st));
	for (int i = 0; i < F_NUM; i++)
		if ((ret = fd[i] = get(pin_dir, names[i], err)) < 0)
			goto out;
	ret = -ENOMEM;
	for (int i = 0; i < O_NUM; i++) {
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "%s/%s", pin_dir, opt_names[i]);
		ofd[i] = bpf_obj_get(path);
	}

	nl7 = l7_services(ofd[O_L7_STATS], l7_svc);

	cap = SPLIT_MAX_VERSIONS;
	st->versions = calloc(cap, sizeof(*st->versions));
	st->backends = calloc(SPLIT_MAX_BACKENDS, sizeof(*st->backends));
	st->proxy = calloc(nl7 ? nl7 : 1, sizeof(*st->proxy));
	if (!st->versions || !st->backends || !st->proxy) {
		split_errc(err, ENOMEM, "out of memory");
		goto out;
	}
	while (st->nversions < cap && !bpf_map_get_next_key(fd[F_WEIGHTS], wprev, &wk)) {
		struct split_stat_row *r = &st->versions[st->nversions];
		struct split_weight_val wv;
		wcur = wk;
		wprev = &wcur;
		if (bpf_map_lookup_elem(fd[F_WEIGHTS], &wk, &wv))
			continue;
		name_service(fd[F_SERVICES], wk.svc_id, r);
		snprintf(r->version, sizeof(r->version), "%s", wv.version);
		r->weight = wv.weight;
		r->slots[0] = wv.slots4;
		r->slots[1] = wv.slots6;
		sum_percpu(fd[F_VER_STATS], &wk, &r->c);
		sum_sock_percpu(ofd[O_SK_VER_STATS], &wk, &r->s);
		r->l7_service = has_l7(l7_svc, wk.svc_id);
		if (r->l7_service)
			read_l7(ofd[O_L7_STATS], wk.svc_id, wk.version_id, &r->l7);
		st->nversions++;
	}
	/* The proxy's own answers, one row per service with L7 counters (a
	 * service no longer in `services` has no name: left out). */
	for (__u32 id = 1; id < SPLIT_MAX_SERVICES && st->nproxy < nl7; id++) {
		struct split_stat_row *r = &st->proxy[st->nproxy];
		struct split_service_val sv;

		if (!has_l7(l7_svc, id) || bpf_map_lookup_elem(fd[F_SERVICES], &id, &sv))
			continue;
		snprintf(r->service, sizeof(r->service), "%s", sv.name);
		snprintf(r->ns, sizeof(r->ns), "%s", sv.ns);
		r->l7_service = 1;
		read_l7(ofd[O_L7_STATS], id, 0, &r->l7);
		st->nproxy++;
	}
	while (st->nbackends < SPLIT_MAX_BACKENDS &&
	       !bpf_map_get_next_key(fd[F_BACKENDS], bprev, &bk)) {
		struct split_stat_row *r = &st->backends[st->nbackends];
		struct split_weight_key k;
		struct split_backend_val bv;
		struct split_weight_val wv;
		bcur = bk;
		bprev = &bcur;
		if (bpf_map_lookup_elem(fd[F_BACKENDS], &bk, &bv))
			continue;
		name_service(fd[F_SERVICES], bv.svc_id, r);
		k = (struct split_weight_key){ bv.svc_id, bv.version_id };
		if (!bpf_map_lookup_elem(fd[F_WEIGHTS], &k, &wv)) {
			snprintf(r->version, sizeof(r->version), "%s", wv.version);
			r->weight = wv.weight;
			r->slots[0] = wv.slots4;
			r->slots[1] = wv.slots6;
		}
		r->addr.family = bv.family;
		memcpy(r->addr.bytes, bv.addr, bv.family == 4 ? 4 : 16);
		sum_percpu(fd[F_BE_STATS], &bk, &r->c);
		sum_sock_percpu(ofd[O_SK_BE_STATS], &bk, &r->s);
		st->nbackends++;
	}
	{
		struct split_rollout_ent *ro;
		size_t nro;

		if ((ret = split_rollout_list(pin_dir, &ro, &nro, err)))
			goto out;
		ret = -ENOMEM;
		st->rollouts = calloc(nro ? nro : 1, sizeof(*st->rollouts));
		if (!st->rollouts) {
			free(ro);
			split_errc(err, ENOMEM, "out of memory");
			goto out;
		}
		for (size_t i = 0; i < nro; i++) {
			struct split_stat_rollout *r = &st->rollouts[i];

			snprintf(r->service, sizeof(r->service), "%s", ro[i].key.name);
			snprintf(r->ns, sizeof(r->ns), "%s", ro[i].key.ns);
			snprintf(r->to, sizeof(r->to), "%s", ro[i].val.to);
			r->state = ro[i].val.state;
			r->step = ro[i].val.step + 1;
			r->weight = split_rollout_weight(&ro[i].val);
			r->rollbacks = ro[i].val.rollbacks;
		}
		st->nrollouts = nro;
		free(ro);
	}
	qsort(st->versions, st->nversions, sizeof(*st->versions), row_cmp);
	qsort(st->backends, st->nbackends, sizeof(*st->backends), row_cmp);
	qsort(st->proxy, st->nproxy, sizeof(*st->proxy), row_cmp);
	ret = 0;
out:
	if (ret)
		split_stats_free(st);
	for (int i = 0; i < F_NUM; i++)
		if (fd[i] >= 0)
			close(fd[i]);
	for (int i = 0; i < O_NUM; i++)
		if (ofd[i] >= 0)
			close(ofd[i]);
	return ret;
}

int split_stats_read_version(const char *pin_dir, const char *ns, const char *name,
			     const char *version, struct split_stat_row *row,
			     struct split_err *err)
{
	static const char *const names[] = {
		SPLIT_MAP_SVC_NAMES, SPLIT_MAP_SERVICES, SPLIT_MAP_WEIGHTS,
		SPLIT_MAP_SK_VER_STATS, SPLIT_MAP_L7_STATS,
	};
	enum { N_NAMES, N_SERVICES, N_WEIGHTS, N_SK_VER, N_L7, N_NUM };
	int fd[N_NUM] = { -1, -1, -1, -1, -1 }, ret = 2;
	struct split_name_key nk = { 0 };
	struct split_name_val nv;
	struct split_service_val sv;

	memset(row, 0, sizeof(*row));
	for (int i = 0; i < N_NUM; i++) {
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "%s/%s", pin_dir, names[i]);
		fd[i] = bpf_obj_get(path);
	}
	if (fd[N_SERVICES] < 0 || fd[N_WEIGHTS] < 0) {
		ret = split_errc(err, errno, "opening the maps under %s: %s", pin_dir,
				 strerror(errno));
		goto out;
	}
	snprintf(nk.name, sizeof(nk.name), "%s", name);
	snprintf(nk.ns, sizeof(nk.ns), "%s", ns);
	/* Not named in svc_names, or no version range (an older splitd's
	 * state): only a full read can say. */
	if (fd[N_NAMES] < 0 || bpf_map_lookup_elem(fd[N_NAMES], &nk, &nv) || !nv.svc_id ||
	    bpf_map_lookup_elem(fd[N_SERVICES], &nv.svc_id, &sv) || !sv.ver_end ||
	    strcmp(sv.name, name) || strcmp(sv.ns, ns))
		goto out;
	ret = 0;
	snprintf(row->service, sizeof(row->service), "%s", sv.name);
	snprintf(row->ns, sizeof(row->ns), "%s", sv.ns);
	row->svc_flags = sv.flags;
	for (__u32 v = 1; v < sv.ver_end; v++) {
		struct split_weight_key wk = { nv.svc_id, v };
		struct split_weight_val wv;

		if (bpf_map_lookup_elem(fd[N_WEIGHTS], &wk, &wv) || strcmp(wv.version, version))
			continue;
		snprintf(row->version, sizeof(row->version), "%s", wv.version);
		row->weight = wv.weight;
		row->slots[0] = wv.slots4;
		row->slots[1] = wv.slots6;
		sum_sock_percpu(fd[N_SK_VER], &wk, &row->s);
		read_l7(fd[N_L7], wk.svc_id, wk.version_id, &row->l7);
		ret = 1;
		break;
	}
out:
	for (int i = 0; i < N_NUM; i++)
		if (fd[i] >= 0)
			close(fd[i]);
	return ret;
}

void split_stats_free(struct split_stats *st)
{
	free(st->versions);
	free(st->backends);
	free(st->proxy);
	free(st->rollouts);
	memset(st, 0, sizeof(*st));
}
