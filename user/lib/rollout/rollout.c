// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* rollout.c - progressive rollouts with automatic rollback; see rollout.h. */
#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "apply.h"
#include "istio.h"
#include "log.h"
#include "ops.h"
#include "rollout.h"
#include "stats.h"

static const uint32_t default_steps[] = { 1, 5, 10, 25, 50, 100 };

void split_rollout_opts_init(struct split_rollout_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->max_error_ppm = UINT32_MAX;
	o->max_connect_failure_ppm = UINT32_MAX;
	o->min_requests = UINT64_MAX;
}

const char *split_rollout_state_str(uint32_t state)
{
	switch (state) {
	case SPLIT_RO_RUNNING: return "running";
	case SPLIT_RO_PAUSED: return "paused";
	case SPLIT_RO_DONE: return "done";
	case SPLIT_RO_ROLLED_BACK: return "rolled-back";
	case SPLIT_RO_ABORTED: return "aborted";
	}
	return "unknown";
}

const char *split_rollout_what_str(uint32_t what)
{
	static const char *const names[] = {
		[SPLIT_RO_EV_START] = "start",
		[SPLIT_RO_EV_PROMOTE] = "promote",
		[SPLIT_RO_EV_HOLD] = "hold",
		[SPLIT_RO_EV_ROLLBACK] = "rollback",
		[SPLIT_RO_EV_PAUSE] = "pause",
		[SPLIT_RO_EV_RESUME] = "resume",
		[SPLIT_RO_EV_ABORT] = "abort",
		[SPLIT_RO_EV_DONE] = "done",
		[SPLIT_RO_EV_RESTART] = "restart",
		[SPLIT_RO_EV_STOPPED] = "stopped",
	};

	if (what < sizeof(names) / sizeof(names[0]) && names[what])
		return names[what];
	return "unknown";
}

static const struct split_rollout_event *last_event(const struct split_rollout_val *v)
{
	if (!v->nevents)
		return NULL;
	return &v->events[(v->nevents - 1) % SPLIT_ROLLOUT_EVENTS];
}

uint32_t split_rollout_weight(const struct split_rollout_val *v)
{
	const struct split_rollout_event *e;

	if (v->state == SPLIT_RO_RUNNING || v->state == SPLIT_RO_PAUSED)
		return v->step < v->nsteps ? v->steps[v->step] : 0;
	e = last_event(v);
	return e ? e->weight : 0;
}

/* ---- parsing -------------------------------------------------------------- */

int split_rollout_parse_steps(const char *s, struct split_rollout_opts *o,
			      struct split_err *err)
{
	uint32_t steps[SPLIT_ROLLOUT_MAX_STEPS];
	size_t n = 0;
	const char *p = s;

	while (*p) {
		char *end;
		unsigned long v;

		if (*p < '0' || *p > '9')
			return split_errf(err, "--steps '%s': expected percentages separated by commas, such as 1,5,10,25,50,100",
					  s);
		errno = 0;
		v = strtoul(p, &end, 10);
		if (errno || v < 1 || v > 100)
			return split_errf(err, "--steps '%s': each step is a percentage from 1 to 100", s);
		if (n && v <= steps[n - 1])
			return split_errf(err, "--steps '%s': steps must increase (%lu after %u)",
					  s, v, steps[n - 1]);
		if (n == SPLIT_ROLLOUT_MAX_STEPS)
			return split_errf(err, "--steps '%s': at most %d steps", s,
					  SPLIT_ROLLOUT_MAX_STEPS);
		steps[n++] = (uint32_t)v;
		p = end;
		if (*p == ',' && p[1])
			p++;
		else if (*p)
			return split_errf(err, "--steps '%s': expected percentages separated by commas, such as 1,5,10,25,50,100",
					  s);
	}
	if (!n)
		return split_errf(err, "--steps: give at least one step");
	memcpy(o->steps, steps, n * sizeof(steps[0]));
	o->nsteps = n;
	return 0;
}

int split_rollout_check_cookie(const char *name, struct split_err *err)
{
	size_t n = strlen(name);

	if (!n)
		return split_errf(err, "--sticky-cookie: give a cookie name");
	if (n >= SPLIT_NAME_LEN)
		return split_errf(err, "--sticky-cookie '%.20s...': at most %d characters",
				  name, SPLIT_NAME_LEN - 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("!#$%&'*+-.^_`|~", c))
			continue;
		if (c < 0x20 || c >= 0x7f)
			return split_errf(err, "--sticky-cookie: byte 0x%02x at %zu is not allowed in a cookie name (letters, digits and !#$%%&'*+-.^_`|~)",
					  c, i + 1);
		return split_errf(err, "--sticky-cookie '%s': '%c' is not allowed in a cookie name (letters, digits and !#$%%&'*+-.^_`|~)",
				  name, c);
	}
	return 0;
}

/* A decimal number with at most 6 fractional digits, times 10^6. */
static int parse_micro(const char *s, uint64_t *out, const char **end)
{
	uint64_t v = 0, frac = 0, scale = 1000000;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > 1000000000ULL)
			return -EINVAL;
	}
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -EINVAL;
		for (; *p >= '0' && *p <= '9'; p++) {
			if (scale == 1)
				return -EINVAL;
			scale /= 10;
			frac += (uint64_t)(*p - '0') * scale;
		}
	}
	*out = v * 1000000 + frac;
	*end = p;
	return 0;
}

int split_rollout_parse_duration(const char *s, uint32_t *ms,
				 struct split_err *err)
{
	const char *unit;
	uint64_t micro, v;

	if (parse_micro(s, &micro, &unit))
		goto bad;
	if (!strcmp(unit, "ms"))
		v = micro / 1000000;
	else if (!strcmp(unit, "s"))
		v = micro / 1000;
	else if (!strcmp(unit, "m"))
		v = micro * 60 / 1000;
	else if (!strcmp(unit, "h"))
		v = micro * 3600 / 1000;
	else
		goto bad;
	if (v < 100 || v > 24ULL * 3600 * 1000)
		return split_errf(err, "duration '%s': from 100ms to 24h", s);
	*ms = (uint32_t)v;
	return 0;
bad:
	return split_errf(err, "duration '%s': a number and a unit: 500ms, 30s, 2m, 1h", s);
}

int split_rollout_parse_rate(const char *s, uint32_t *ppm,
			     struct split_err *err)
{
	const char *end;
	uint64_t micro;

	if (parse_micro(s, &micro, &end) || (*end && strcmp(end, "%")))
		return split_errf(err, "rate '%s': a percentage such as 1%% or 0.5%%", s);
	/* percent * 10^6 / 100 = ppm * 100 */
	if (micro > 100ULL * 1000000)
		return split_errf(err, "rate '%s': at most 100%%", s);
	*ppm = (uint32_t)(micro / 100);
	return 0;
}

/* ---- the map -------------------------------------------------------------- */

static int open_map(const char *pin_dir, struct split_err *err)
{
	char path[PATH_MAX + 64];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", pin_dir, SPLIT_MAP_ROLLOUTS);
	fd = bpf_obj_get(path);
	if (fd < 0)
		fd = split_errc(err, errno, "opening %s: %s (a splitd of this version must have loaded the datapath)",
				path, strerror(errno));
	return fd;
}

static void key_of(struct split_rollout_key *k, const char *ns, const char *name)
{
	memset(k, 0, sizeof(*k));
	snprintf(k->ns, sizeof(k->ns), "%s", ns);
	snprintf(k->name, sizeof(k->name), "%s", name);
}

static int ent_cmp(const void *a, const void *b)
{
	const struct split_rollout_ent *x = a, *y = b;
	int c = strcmp(x->key.ns, y->key.ns);

	return c ? c : strcmp(x->key.name, y->key.name);
}

static int list_fd(int fd, struct split_rollout_ent **out, size_t *n,
		   struct split_err *err)
{
	struct split_rollout_key k, cur, *prev = NULL;
	struct split_rollout_ent *v = NULL;
	size_t cnt = 0, cap = 0;

	while (!bpf_map_get_next_key(fd, prev, &k)) {
		cur = k;
		prev = &cur;
		if (cnt == cap) {
			struct split_rollout_ent *nv;

			cap = cap ? cap * 2 : 8;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				free(v);
				return split_errc(err, ENOMEM, "out of memory");
			}
			v = nv;
		}
		if (bpf_map_lookup_elem(fd, &k, &v[cnt].val))
			continue;	/* deleted meanwhile */
		v[cnt++].key = k;
	}
	if (cnt)
		qsort(v, cnt, sizeof(*v), ent_cmp);
	*out = v;
	*n = cnt;
	return 0;
}

int split_rollout_list(const char *pin_dir, struct split_rollout_ent **out,
		       size_t *n, struct split_err *err)
{
	char path[PATH_MAX + 64];
	int fd, r;

	*out = NULL;
	*n = 0;
	snprintf(path, sizeof(path), "%s/%s", pin_dir, SPLIT_MAP_ROLLOUTS);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return errno == ENOENT ? 0 : split_errc(err, errno, "opening %s: %s", path,
							 strerror(errno));
	r = list_fd(fd, out, n, err);
	close(fd);
	return r;
}

static void add_event(struct split_rollout_val *v, uint32_t what,
		      uint32_t weight, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Record a decision; weight: the new version's percent after it. */
static void add_event(struct split_rollout_val *v, uint32_t what,
		      uint32_t weight, const char *fmt, ...)
{
	struct split_rollout_event *e = &v->events[v->nevents % SPLIT_ROLLOUT_EVENTS];
	va_list ap;

	memset(e, 0, sizeof(*e));
	e->time_s = (uint64_t)time(NULL);
	e->what = what;
	e->weight = weight;
	va_start(ap, fmt);
	vsnprintf(e->why, sizeof(e->why), fmt, ap);
	va_end(ap);
	v->nevents++;
}

/* ---- counters ------------------------------------------------------------- */

int split_rollout_counts_now(const char *pin_dir, const char *ns,
			     const char *name, const char *version,
			     struct split_rollout_counts *c, int *l7,
			     struct split_err *err)
{
	struct split_stats s = { 0 };
	struct split_stat_row row;
	int r;

	memset(c, 0, sizeof(*c));
	*l7 = 0;
	/* That service's version alone (O(1) in the number of services);
	 * a full read only where the maps cannot say. */
	r = split_stats_read_version(pin_dir, ns, name, version, &row, err);
	if (r < 0)
		return r;
	if (r < 2) {
		*l7 = !!(row.svc_flags & SPLIT_SVC_F_L7);
		if (r == 1) {
			c->connections = row.s.connections;
			c->connect_failed = row.s.connect_failed;
			c->resets = row.s.resets;
			c->requests = row.l7.requests;
			c->responses_5xx = row.l7.responses[4];
			c->latency_us_sum = row.l7.latency_us_sum;
		}
		return 0;
	}
	if ((r = split_stats_read(pin_dir, &s, err)))
		return r;
	for (size_t i = 0; i < s.nversions; i++) {
		const struct split_stat_row *r = &s.versions[i];

		if (strcmp(r->ns, ns) || strcmp(r->service, name))
			continue;
		/* Judged as L7 while request rules are in force (its
		 * l7_stats entries outlive the rules). */
		*l7 |= !!(r->svc_flags & SPLIT_SVC_F_L7);
		if (strcmp(r->version, version))
			continue;
		c->connections = r->s.connections;
		c->connect_failed = r->s.connect_failed;
		c->resets = r->s.resets;
		c->requests = r->l7.requests;
		c->responses_5xx = r->l7.responses[4];
		c->latency_us_sum = r->l7.latency_us_sum;
	}
	split_stats_free(&s);
	return 0;
}

static void counts_sub(struct split_rollout_counts *d,
		       const struct split_rollout_counts *now,
		       const struct split_rollout_counts *base);

int split_rollout_window(const char *pin_dir, const struct split_rollout_ent *e,
			 struct split_rollout_counts *d, int *l7,
			 struct split_err *err)
{
	struct split_rollout_counts now;
	int r;

	memset(d, 0, sizeof(*d));
	if ((r = split_rollout_counts_now(pin_dir, e->key.ns, e->key.name, e->val.to,
					  &now, l7, err)))
		return r;
	if (e->val.state == SPLIT_RO_RUNNING)
		counts_sub(d, &now, &e->val.base);
	else
		*d = e->val.last;
	return 0;
}

static void counts_sub(struct split_rollout_counts *d,
		       const struct split_rollout_counts *now,
		       const struct split_rollout_counts *base)
{
	/* Counters are deleted with their version: never below zero. */
#define SUB(f) d->f = now->f >= base->f ? now->f - base->f : now->f
	SUB(connections);
	SUB(connect_failed);
	SUB(resets);
	SUB(requests);
	SUB(responses_5xx);
	SUB(latency_us_sum);
#undef SUB
}

/* ---- weights -------------------------------------------------------------- */

/* The arguments of `splitctl set SERVICE to=pct from=100-pct`: versions not
 * named get 0. */
struct split_args {
	char a[SPLIT_NAME_LEN + 16], b[SPLIT_NAME_LEN + 16];
	char *argv[2];
};

static void split_args(struct split_args *x, const char *from, const char *to,
		       uint32_t pct)
{
	snprintf(x->a, sizeof(x->a), "%s=%u", from, 100 - pct);
	snprintf(x->b, sizeof(x->b), "%s=%u", to, pct);
	x->argv[0] = x->a;
	x->argv[1] = x->b;
}

static const struct split_version *find_version(const struct split_service *s,
						const char *name)
{
	for (size_t i = 0; i < s->nversions; i++)
		if (!strcmp(s->versions[i].name, name))
			return &s->versions[i];
	return NULL;
}

/* Read the state, put to at pct, commit: what `splitctl set` does (an
 * object's default route that sets the weights is patched). The lock is
 * held. */
static int commit_split(struct split_state *st, const struct split_rollout_key *k,
			const char *from, const char *to, uint32_t pct,
			struct split_err *err)
{
	struct split_config cfg = { 0 };
	struct split_object_key owner;
	char ref[2 * SPLIT_NAME_LEN + 2];
	struct split_args args;
	int idx, ret;

	snprintf(ref, sizeof(ref), "%s/%s", k->ns, k->name);
	split_args(&args, from, to, pct);
	/* That service alone (all of them if an object's route sets its
	 * weights): a step costs the same at 10,000 services as at one. */
	if ((ret = split_state_read_service(st, ref, &cfg, err)))
		goto out;
	idx = split_config_find(&cfg, ref, err);
	if (idx < 0) {
		ret = idx;
		goto out;
	}
	if ((ret = split_set_weights(st, &cfg, (size_t)idx, 2, args.argv, &owner, err)))
		goto out;
	ret = 0;
out:
	st->scope_id = 0;	/* st lives on in splitd: its next commit is a full one */
	split_config_free(&cfg);
	return ret;
}

static int begin_window(struct split_state *st, const struct split_rollout_key *k,
			struct split_rollout_val *v, uint64_t now_ns,
			struct split_err *err)
{
	int l7, r;

	if ((r = split_rollout_counts_now(st->pin_dir, k->ns, k->name, v->to, &v->base,
					  &l7, err)))
		return r;
	v->window_start_ns = now_ns;
	return 0;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* ---- start and control ---------------------------------------------------- */

/* What start and control begin with: the map open, the state locked and
 * read, svc_ref found (its index in *idx, its key in *k). 0, or -errno
 * with err (the lock released, *fd closed). */
static int begin_cmd(struct split_state *st, const char *svc_ref,
		     struct split_config *cfg, int *idx, int *fd,
		     struct split_rollout_key *k, struct split_err *err)
{
	int ret;

	*fd = open_map(st->pin_dir, err);
	if (*fd < 0)
		return *fd;
	if ((ret = split_state_lock(st, err)))
		goto fail_fd;
	if ((ret = split_state_read(st, cfg, err)))
		goto fail;
	*idx = split_config_find(cfg, svc_ref, err);
	if ((ret = *idx) < 0)
		goto fail;
	key_of(k, cfg->svcs[*idx].ns, cfg->svcs[*idx].name);
	return 0;
fail:
	split_state_unlock(st);
fail_fd:
	close(*fd);
	return ret;
}

int split_rollout_start(struct split_state *st, const char *svc_ref,
			const struct split_rollout_opts *o,
			struct split_rollout_ent *out, struct split_err *err)
{
	struct split_config cfg = { 0 }, orig = { 0 };
	struct split_objs objs = { 0 };
	struct split_object_key owner;
	struct split_args args;
	struct split_rollout_ent e = { 0 };
	struct split_rollout_val *v = &e.val;
	const struct split_service *s;
	const char *from = o->from;
	int fd, idx, ret;

	if (!o->to || !*o->to)
		return split_errf(err, "--to VERSION is required");
	if (o->sticky_cookie && (ret = split_rollout_check_cookie(o->sticky_cookie, err)))
		return ret;
	if ((ret = begin_cmd(st, svc_ref, &cfg, &idx, &fd, &e.key, err))) {
		split_config_free(&cfg);
		return ret;
	}
	ret = -EINVAL;
	s = &cfg.svcs[idx];
	if (!bpf_map_lookup_elem(fd, &e.key, v) &&
	    (v->state == SPLIT_RO_RUNNING || v->state == SPLIT_RO_PAUSED)) {
		split_errf(err, "a rollout of %s.%s to %s is already %s: 'splitctl rollout abort %s' or 'promote' it first",
			   s->name, s->ns, v->to, split_rollout_state_str(v->state), svc_ref);
		goto out;
	}
	memset(v, 0, sizeof(*v));
	if (!find_version(s, o->to)) {
		split_errf(err, "%s.%s has no version '%s'", s->name, s->ns, o->to);
		goto out;
	}
	if (!from) {
		const struct split_version *best = NULL;

		for (size_t i = 0; i < s->nversions; i++)
			if (strcmp(s->versions[i].name, o->to) && s->versions[i].weight &&
			    (!best || s->versions[i].weight > best->weight))
				best = &s->versions[i];
		if (!best) {
			split_errf(err, "%s.%s: no other version has traffic now; say --from VERSION",
				   s->name, s->ns);
			goto out;
		}
		from = best->name;
	} else if (!find_version(s, from)) {
		split_errf(err, "%s.%s has no version '%s'", s->name, s->ns, from);
		goto out;
	}
	if (!strcmp(from, o->to)) {
		split_errf(err, "--to and --from are both '%s'", from);
		goto out;
	}
	if (o->sticky_cookie && !s->l7) {
		/* Only the L7 proxy sees cookies, and only services with a
		 * request-matching rule go through it. */
		split_errf(err, "--sticky-cookie: %s.%s has no request-matching rule, so its requests do not pass through splitd's L7 proxy and no cookie can be set or read; apply a RouteRule or VirtualService that matches requests (such as the seed's test-user rule), or start without --sticky-cookie",
			   s->name, s->ns);
		goto out;
	}
	if (o->sticky_cookie)
		snprintf(v->sticky_cookie, sizeof(v->sticky_cookie), "%s", o->sticky_cookie);
	snprintf(v->from, sizeof(v->from), "%s", from);
	snprintf(v->to, sizeof(v->to), "%s", o->to);
	if (o->nsteps) {
		memcpy(v->steps, o->steps, o->nsteps * sizeof(o->steps[0]));
		v->nsteps = (uint32_t)o->nsteps;
	} else {
		memcpy(v->steps, default_steps, sizeof(default_steps));
		v->nsteps = sizeof(default_steps) / sizeof(default_steps[0]);
	}
	v->interval_ms = o->interval_ms ? o->interval_ms : 30000;
	v->max_error_ppm = o->max_error_ppm == UINT32_MAX ? 10000 : o->max_error_ppm;
	v->max_connect_failure_ppm = o->max_connect_failure_ppm == UINT32_MAX ?
				     10000 : o->max_connect_failure_ppm;
	v->max_latency_ms = o->max_latency_ms;
	v->min_requests = o->min_requests == UINT64_MAX ? 20 : o->min_requests;
	v->state = SPLIT_RO_RUNNING;
	v->started_s = (uint64_t)time(NULL);
	/* The window's counters start here: a connection or two before the
	 * first step is in force counts for the old split, harmlessly. */
	if ((ret = begin_window(st, &e.key, v, mono_ns(), err)))
		goto out;
	/* Refused as `splitctl set` would be (weights that do not make whole
	 * percents of an object's route, splitd --config-dir owning it). */
	if ((ret = split_state_read(st, &orig, err)) || (ret = split_objs_read(st, &objs, err)))
		goto out;
	split_args(&args, v->from, v->to, v->steps[0]);
	if ((ret = split_set_weights(st, &cfg, (size_t)idx, 2, args.argv, &owner, err)))
		goto out;
	ret = -EINVAL;
	add_event(v, SPLIT_RO_EV_START, v->steps[0], "%s %u%%, %s %u%%%s%.*s", v->to,
		  v->steps[0], v->from, 100 - v->steps[0],
		  v->sticky_cookie[0] ? "; sticky cookie " : "",
		  (int)sizeof(v->sticky_cookie) - 1, v->sticky_cookie);
	if (bpf_map_update_elem(fd, &e.key, v, BPF_ANY)) {
		struct split_err e2;
		int e = errno;

		/* All or nothing: the weights as they were (and the
		 * object, if the step patched one). */
		if (owner.kind[0] ? split_apply(st, &orig, &objs, NULL, &e2) :
				    split_state_commit(st, &orig, &e2))
			ret = split_errc(err, e, "writing the rollout: %s; putting the weights back: %s",
					 strerror(e), e2.msg);
		else
			ret = split_errc(err, e, "writing the rollout: %s", strerror(e));
		goto out;
	}
	if (out)
		*out = e;
	ret = 0;
out:
	split_state_unlock(st);
	split_config_free(&cfg);
	split_config_free(&orig);
	split_objs_free(&objs);
	close(fd);
	return ret;
}

static int lookup(int fd, const struct split_rollout_key *k,
		  struct split_rollout_val *v)
{
	return bpf_map_lookup_elem(fd, k, v);
}

int split_rollout_busy(struct split_state *st, const char *ns,
		       const char *name, struct split_err *err)
{
	struct split_rollout_val *v = malloc(sizeof(*v));
	struct split_rollout_key k;
	int fd = split_state_obj_get(st, SPLIT_MAP_ROLLOUTS), ret = 0;

	if (fd < 0 || !v) {
		free(v);
		if (fd >= 0)
			close(fd);
		return 0;
	}
	key_of(&k, ns, name);
	if (!lookup(fd, &k, v) &&
	    (v->state == SPLIT_RO_RUNNING || v->state == SPLIT_RO_PAUSED)) {
		ret = split_errc(err, EBUSY, "a rollout of %s.%s to %s is %s (step %u/%u, %s %u%%): 'splitctl rollout pause', 'abort' or 'promote' it instead",
				 name, ns, v->to, split_rollout_state_str(v->state),
				 v->step + 1, v->nsteps, v->to, v->steps[v->step]);
	}
	free(v);
	close(fd);
	return ret;
}

int split_rollout_control(struct split_state *st, const char *svc_ref,
			  enum split_rollout_cmd cmd,
			  struct split_rollout_ent *out, struct split_err *err)
{
	static const char *const names[] = { "pause", "resume", "abort", "promote" };
	struct split_config cfg = { 0 };
	struct split_rollout_ent e;
	struct split_rollout_val *v = &e.val;
	int fd, idx, ret;
	uint32_t st_now;

	if ((ret = begin_cmd(st, svc_ref, &cfg, &idx, &fd, &e.key, err))) {
		split_config_free(&cfg);
		return ret;
	}
	ret = -EINVAL;
	if (lookup(fd, &e.key, v)) {
		split_errf(err, "no rollout of %s.%s (start one with 'splitctl rollout start')",
			   e.key.name, e.key.ns);
		goto out;
	}
	st_now = v->state;
	if ((cmd == SPLIT_RO_CMD_PAUSE && st_now != SPLIT_RO_RUNNING) ||
	    (cmd == SPLIT_RO_CMD_RESUME && st_now != SPLIT_RO_PAUSED) ||
	    (st_now != SPLIT_RO_RUNNING && st_now != SPLIT_RO_PAUSED)) {
		split_errf(err, "cannot %s the rollout of %s.%s to %s: it is %s",
			   names[cmd], e.key.name, e.key.ns, v->to,
			   split_rollout_state_str(st_now));
		goto out;
	}
	switch (cmd) {
	case SPLIT_RO_CMD_PAUSE:
		v->state = SPLIT_RO_PAUSED;
		add_event(v, SPLIT_RO_EV_PAUSE, v->steps[v->step], "by splitctl");
		break;
	case SPLIT_RO_CMD_RESUME:
		/* The step's weights again (they are what it put in force),
		 * and a window from now. */
		if ((ret = commit_split(st, &e.key, v->from, v->to, v->steps[v->step], err)) ||
		    (ret = begin_window(st, &e.key, v, mono_ns(), err)))
			goto out;
		v->state = SPLIT_RO_RUNNING;
		add_event(v, SPLIT_RO_EV_RESUME, v->steps[v->step], "by splitctl");
		break;
	case SPLIT_RO_CMD_ABORT:
		if ((ret = commit_split(st, &e.key, v->from, v->to, 0, err)))
			goto out;
		v->state = SPLIT_RO_ABORTED;
		add_event(v, SPLIT_RO_EV_ABORT, 0, "by splitctl: %s 100%%", v->from);
		break;
	case SPLIT_RO_CMD_PROMOTE:
		if ((ret = commit_split(st, &e.key, v->from, v->to, 100, err)))
			goto out;
		v->state = SPLIT_RO_DONE;
		add_event(v, SPLIT_RO_EV_DONE, 100, "promoted by splitctl: %s 100%%", v->to);
		break;
	}
	if (bpf_map_update_elem(fd, &e.key, v, BPF_ANY)) {
		ret = split_errc(err, errno, "writing the rollout: %s (the weights are in force)",
				 strerror(errno));
		goto out;
	}
	if (out)
		*out = e;
	ret = 0;
out:
	split_state_unlock(st);
	split_config_free(&cfg);
	close(fd);
	return ret;
}

/* ---- splitd's loop -------------------------------------------------------- */

static uint64_t ppm(uint64_t part, uint64_t whole)
{
	return whole ? part * 1000000ULL / whole : 0;
}

/* A window's verdict: 0 healthy, 1 breach (why in buf). */
static int breach(const struct split_rollout_val *v,
		  const struct split_rollout_counts *d, int l7, char *buf,
		  size_t len)
{
	uint64_t cf = ppm(d->connect_failed + d->resets, d->connections);

	if (v->max_connect_failure_ppm && d->connections &&
	    cf > v->max_connect_failure_ppm) {
		snprintf(buf, len, "connect failures %.2f%% > %.2f%% (%llu failed, %llu reset of %llu)",
			 cf / 1e4, v->max_connect_failure_ppm / 1e4,
			 (unsigned long long)d->connect_failed,
			 (unsigned long long)d->resets,
			 (unsigned long long)d->connections);
		return 1;
	}
	if (!l7 || !d->requests)
		return 0;
	if (v->max_error_ppm && ppm(d->responses_5xx, d->requests) > v->max_error_ppm) {
		snprintf(buf, len, "errors %.2f%% > %.2f%% (%llu 5xx of %llu requests)",
			 ppm(d->responses_5xx, d->requests) / 1e4,
			 v->max_error_ppm / 1e4,
			 (unsigned long long)d->responses_5xx,
			 (unsigned long long)d->requests);
		return 1;
	}
	if (v->max_latency_ms &&
	    d->latency_us_sum / d->requests > (uint64_t)v->max_latency_ms * 1000) {
		snprintf(buf, len, "mean latency %.1f ms > %u ms over %llu requests",
			 (double)d->latency_us_sum / (double)d->requests / 1000.0,
			 v->max_latency_ms, (unsigned long long)d->requests);
		return 1;
	}
	return 0;
}

/* Judge one rollout whose window ended (the lock is held). 1: a decision
 * was taken (write v back), 0: nothing to do. */
static int judge(struct split_state *st, const struct split_rollout_key *k,
		 struct split_rollout_val *v, uint64_t now_ns, int starting)
{
	struct split_rollout_counts now, d;
	struct split_err err;
	char why[SPLIT_ROLLOUT_WHY_LEN];
	uint64_t n;
	int l7;

	if (starting) {
		if (begin_window(st, k, v, now_ns, &err))
			goto stopped;
		add_event(v, SPLIT_RO_EV_RESTART, v->steps[v->step],
			  "splitd started: window begun anew at %s %u%%", v->to,
			  v->steps[v->step]);
		pr_info("rollout %s.%s: splitd started, step %u/%u (%s %u%%), new window\n",
			k->name, k->ns, v->step + 1, v->nsteps, v->to, v->steps[v->step]);
		return 1;
	}
	if (now_ns - v->window_start_ns < (uint64_t)v->interval_ms * 1000000ULL)
		return 0;
	if (split_rollout_counts_now(st->pin_dir, k->ns, k->name, v->to, &now, &l7, &err))
		goto stopped;
	counts_sub(&d, &now, &v->base);
	v->last = d;
	n = l7 ? d.requests : d.connections;
	if (breach(v, &d, l7, why, sizeof(why))) {
		if (commit_split(st, k, v->from, v->to, 0, &err))
			goto stopped;
		v->state = SPLIT_RO_ROLLED_BACK;
		v->rollbacks++;
		add_event(v, SPLIT_RO_EV_ROLLBACK, 0, "%s", why);
		pr_warn("rollout %s.%s: rolled back to %s 100%% at step %u/%u: %s\n",
			k->name, k->ns, v->from, v->step + 1, v->nsteps, why);
		return 1;
	}
	if (n < v->min_requests) {
		add_event(v, SPLIT_RO_EV_HOLD, v->steps[v->step],
			  "%llu %s < %llu: step held", (unsigned long long)n,
			  l7 ? "requests" : "connections",
			  (unsigned long long)v->min_requests);
		pr_info("rollout %s.%s: holding %s %u%%: %llu %s in the window, fewer than %llu\n",
			k->name, k->ns, v->to, v->steps[v->step], (unsigned long long)n,
			l7 ? "requests" : "connections",
			(unsigned long long)v->min_requests);
		return begin_window(st, k, v, now_ns, &err) ? -1 : 1;
	}
	if (v->step + 1 >= v->nsteps) {
		/* The last step was judged healthy too. */
		v->state = SPLIT_RO_DONE;
		add_event(v, SPLIT_RO_EV_DONE, v->steps[v->step],
			  "%s %u%% healthy (window: %llu %s)", v->to,
			  v->steps[v->step], (unsigned long long)n,
			  l7 ? "requests" : "connections");
		pr_info("rollout %s.%s: done, %s %u%%\n", k->name, k->ns, v->to,
			v->steps[v->step]);
		return 1;
	}
	if (commit_split(st, k, v->from, v->to, v->steps[v->step + 1], &err))
		goto stopped;
	v->step++;
	add_event(v, SPLIT_RO_EV_PROMOTE, v->steps[v->step],
		  "%s %u%% (window: %llu %s healthy)", v->to, v->steps[v->step],
		  (unsigned long long)n, l7 ? "requests" : "connections");
	pr_info("rollout %s.%s: step %u/%u, %s %u%%, %s %u%%\n", k->name, k->ns,
		v->step + 1, v->nsteps, v->to, v->steps[v->step], v->from,
		100 - v->steps[v->step]);
	return begin_window(st, k, v, now_ns, &err) ? -1 : 1;
stopped:
	/* The service or a version went away, or a routing object took the
	 * weights over: hold everything and say why. */
	v->state = SPLIT_RO_PAUSED;
	add_event(v, SPLIT_RO_EV_STOPPED, v->steps[v->step], "%.*s",
		  (int)sizeof(why) - 1, err.msg);
	pr_warn("rollout %s.%s: paused: %s\n", k->name, k->ns, err.msg);
	return 1;
}

int split_rollout_tick(struct split_state *st, uint64_t now_ns, int starting,
		       struct split_err *err)
{
	struct split_rollout_ent *ents = NULL;
	size_t n = 0;
	int fd, due = 0, decisions = 0, ret;

	fd = open_map(st->pin_dir, NULL);
	if (fd < 0)
		return 0;	/* a datapath without rollouts */
	if ((ret = list_fd(fd, &ents, &n, err)))
		goto fail;
	for (size_t i = 0; i < n; i++) {
		const struct split_rollout_val *v = &ents[i].val;

		if (v->state == SPLIT_RO_RUNNING &&
		    (starting || now_ns - v->window_start_ns >=
				 (uint64_t)v->interval_ms * 1000000ULL))
			due = 1;
	}
	free(ents);
	ents = NULL;
	if (!due)
		goto out;
	/* Judge under the lock, on a fresh read: splitctl may have changed
	 * a rollout since. */
	if ((ret = split_state_lock(st, err)))
		goto fail;
	if ((ret = list_fd(fd, &ents, &n, err))) {
		split_state_unlock(st);
		goto fail;
	}
	ret = 0;
	for (size_t i = 0; i < n; i++) {
		struct split_rollout_val *v = &ents[i].val;
		int r;

		if (v->state != SPLIT_RO_RUNNING)
			continue;
		r = judge(st, &ents[i].key, v, now_ns, starting);
		/* A state that cannot be written: the others go on, the
		 * first failure is the result. */
		if (r > 0 && bpf_map_update_elem(fd, &ents[i].key, v, BPF_EXIST) && !ret)
			ret = split_errc(err, errno, "rollout %s.%s: writing its state: %s",
					 ents[i].key.name, ents[i].key.ns, strerror(errno));
		if (r > 0)
			decisions++;
	}
	split_state_unlock(st);
	if (ret)
		goto fail;
out:
	free(ents);
	close(fd);
	return decisions;
fail:
	free(ents);
	close(fd);
	return ret;
}
