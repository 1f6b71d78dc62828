// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * l7.c - splitd's L7 proxy runtime: one listener per VIP:port of every
 * service with request-matching rules, its routing kept in step with the
 * pinned state, its socket in `l7_listen_sk` and then its place published
 * in `l7_listen`, its counters in `l7_stats`. See l7.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "apply.h"
#include "l7_rt.h"
#include "l7listen.h"
#include "log.h"
#include "split_l7_sockmap.skel.h"	/* the tunnels' BPF object */
#include "l7skmsg.h"

#define L7_MAX_VERS 64		/* counters read per listener and flush */
/* Stopping: after the listeners are withdrawn, connect()s that passed the
 * hook just before still arrive (SETTLE); then the proxy drains. */
#define L7_STOP_SETTLE_MS 50

/* What the proxy counted for one version, at the last flush. */
struct l7_seen {
	char version[SPLIT_NAME_LEN];
	struct split_l7_stats s;
};

/* One VIP:port. Never freed while the proxy runs: its address is the
 * proxy's service key, which connections still in flight may hold. */
struct l7_rec {
	struct l7_rec *next;
	struct split_svc_key key;
	__u32 svc_id;
	int port;		/* listening port (host order), 0: not listening */
	int witnessed;		/* its listening socket is in l7_listen_sk */
	int active;		/* wanted by the state in force */
	struct split_addr addr;
	struct l7_seen seen[L7_MAX_VERS];
	size_t nseen;
	/* version name -> version id (weights map), from the last sync */
	struct { char name[SPLIT_NAME_LEN]; __u32 id; } vers[L7_MAX_VERS];
	size_t nvers;
	char sticky[SPLIT_NAME_LEN];	/* the sticky cookie in force, "" none */
};

/* What the heartbeat thread refreshes: an l7_listen entry. */
struct hb_entry {
	struct split_svc_key k;
	struct split_l7_listen_val v;
};

struct l7_rt {
	struct l7_rt_opts o;
	struct l7_proxy *proxy;
	pthread_t thread;
	struct l7_rec *recs;
	__u64 gen;
	int synced;
	int listen_fd;		/* l7_listen map */
	int listen_sk_fd;	/* l7_listen_sk map (the listeners' sockets) */
	int stats_fd;		/* l7_stats map */
	int skb_fd;		/* sk_backend: tags on the proxy's upstream sockets */
	int ro_fd;		/* rollouts: sticky cookies (-1: an older datapath) */
	struct split_state *st;	/* splitd's, set by the first sync (its fds are the process's) */
	/* The heartbeat runs in its own thread, so a long apply in splitd's
	 * main loop never makes the listeners look dead. */
	pthread_t hb_thread;
	int hb_started;
	pthread_mutex_t hb_mu;	/* hb, nhb, hb_stop */
	pthread_cond_t hb_cv;
	struct hb_entry *hb;
	size_t nhb;
	int hb_stop;
};

static __u64 mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
}

/* Every second: l7_listen heartbeats, and the proxy's in `generation`. */
static void *hb_main(void *arg)
{
	struct l7_rt *rt = arg;
	struct timespec until;

	pthread_mutex_lock(&rt->hb_mu);
	while (!rt->hb_stop) {
		__u64 now = mono_ns();

		for (size_t i = 0; i < rt->nhb; i++) {
			rt->hb[i].v.heartbeat_ns = now;
			bpf_map_update_elem(rt->listen_fd, &rt->hb[i].k, &rt->hb[i].v, BPF_ANY);
		}
		split_state_set_generation(rt->st, SPLIT_GEN_L7_HEARTBEAT, now);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 1;
		pthread_cond_timedwait(&rt->hb_cv, &rt->hb_mu, &until);
	}
	pthread_mutex_unlock(&rt->hb_mu);
	return NULL;
}

/* After a sync: the heartbeat refreshes exactly the listeners in force.
 * Swapped before stale entries are deleted, so it never writes one back. */
static void hb_update(struct l7_rt *rt)
{
	struct hb_entry *n = NULL, *old;
	size_t cnt = 0, k = 0;

	for (struct l7_rec *r = rt->recs; r; r = r->next)
		cnt += r->active && r->port && r->witnessed;
	if (cnt && !(n = calloc(cnt, sizeof(*n))))
		cnt = 0;	/* out of memory: publish() at each sync still works */
	for (struct l7_rec *r = rt->recs; r && k < cnt; r = r->next) {
		if (!r->active || !r->port || !r->witnessed)
			continue;
		n[k].k = r->key;
		split_addr_to_be(n[k].v.addr, &r->addr);
		n[k].v.port = htons((uint16_t)r->port);
		n[k].v.family = r->addr.family;
		n[k].v.svc_id = r->svc_id;
		k++;
	}
	pthread_mutex_lock(&rt->hb_mu);
	old = rt->hb;
	rt->hb = n;
	rt->nhb = k;
	if (!rt->hb_started && rt->listen_fd >= 0) {
		sigset_t all, prev;

		sigfillset(&all);	/* splitd's signals are for its main loop */
		pthread_sigmask(SIG_BLOCK, &all, &prev);
		rt->hb_started = !pthread_create(&rt->hb_thread, NULL, hb_main, rt);
		pthread_sigmask(SIG_SETMASK, &prev, NULL);
	}
	pthread_mutex_unlock(&rt->hb_mu);
	free(old);
}

static void *proxy_main(void *arg)
{
	struct l7_rt *rt = arg;

	if (l7_proxy_run(rt->proxy))
		pr_warn("L7 proxy: stopped on an error\n");
	return NULL;
}

struct l7_rt *l7_rt_start(const struct l7_rt_opts *o)
{
	struct l7_rt *rt = calloc(1, sizeof(*rt));
	sigset_t all, old;

	if (!rt)
		return NULL;
	rt->o = *o;
	rt->listen_fd = rt->listen_sk_fd = rt->stats_fd = rt->skb_fd = rt->ro_fd = -1;
	pthread_mutex_init(&rt->hb_mu, NULL);
	pthread_cond_init(&rt->hb_cv, NULL);
	rt->o.proxy.sockmap_obj =
		split_l7_sockmap__elf_bytes(&rt->o.proxy.sockmap_obj_len);
	rt->proxy = l7_proxy_new(&rt->o.proxy);
	if (!rt->proxy) {
		pr_warn("L7 proxy: %s\n", strerror(errno));
		free(rt);
		return NULL;
	}
	{
		const char *io;

		l7_proxy_io(rt->proxy, &io);
		pr_info("L7 proxy: %u workers, %s\n", l7_proxy_workers(rt->proxy), io);
	}
	/* The proxy's threads must not take splitd's signals. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	if (pthread_create(&rt->thread, NULL, proxy_main, rt)) {
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		pr_warn("L7 proxy: cannot start its thread\n");
		l7_proxy_free(rt->proxy);
		free(rt);
		return NULL;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rt;
}

/* *fd = the pinned map name under pin_dir, unless *fd is open already;
 * 1 if it was opened now. */
static int open_pinned(int *fd, const char *pin_dir, const char *name)
{
	char path[PATH_MAX + 64];

	if (*fd >= 0)
		return 0;
	snprintf(path, sizeof(path), "%s/%s", pin_dir, name);
	*fd = bpf_obj_get(path);
	return 1;
}

static int open_maps(struct l7_rt *rt, struct split_state *st)
{
	rt->st = st;
	open_pinned(&rt->listen_fd, st->pin_dir, SPLIT_MAP_L7_LISTEN);
	open_pinned(&rt->listen_sk_fd, st->pin_dir, SPLIT_MAP_L7_LISTEN_SK);
	open_pinned(&rt->stats_fd, st->pin_dir, SPLIT_MAP_L7_STATS);
	/* sockops counts the proxy's upstream connections per endpoint too
	 * (where splitd is in the attached cgroup) */
	if (open_pinned(&rt->skb_fd, st->pin_dir, SPLIT_MAP_SK_BACKEND))
		l7_proxy_tag_upstreams(rt->proxy, rt->skb_fd);
	open_pinned(&rt->ro_fd, st->pin_dir, SPLIT_MAP_ROLLOUTS);
	if (rt->listen_fd < 0 || rt->listen_sk_fd < 0) {
		pr_warn("L7 proxy: no %s map under %s (an older datapath? run splitd --unload)\n",
			rt->listen_fd < 0 ? SPLIT_MAP_L7_LISTEN : SPLIT_MAP_L7_LISTEN_SK,
			st->pin_dir);
		return -1;
	}
	return 0;
}

static struct l7_rec *rec_find(struct l7_rt *rt, const struct split_svc_key *k)
{
	for (struct l7_rec *r = rt->recs; r; r = r->next)
		if (!memcmp(&r->key, k, sizeof(*k)))
			return r;
	return NULL;
}

static const struct split_addr *listen_addr(const struct l7_rt *rt, int family)
{
	for (int i = 0; i < rt->o.naddrs; i++)
		if (rt->o.addrs[i].family == family)
			return &rt->o.addrs[i];
	return NULL;
}

static void key_str(const struct split_svc_key *k, char *buf, size_t len)
{
	struct split_addr a;

	split_addr_from_be(&a, k->addr, k->family);
	split_addr_port_str(&a, ntohs(k->port), buf, len);
}

/* Publish (or refresh the heartbeat of) a listening record. */
static int publish(struct l7_rt *rt, const struct l7_rec *r)
{
	struct split_l7_listen_val v = { 0 };

	split_addr_to_be(v.addr, &r->addr);
	v.port = htons((uint16_t)r->port);
	v.family = r->addr.family;
	v.svc_id = r->svc_id;
	v.heartbeat_ns = mono_ns();
	return bpf_map_update_elem(rt->listen_fd, &r->key, &v, BPF_ANY);
}

/* Delete l7_listen entries that are not our listening records. */
static void prune_listen(struct l7_rt *rt, int all)
{
	struct split_svc_key k, next, *prev = NULL;
	struct split_svc_key *del = NULL;
	size_t n = 0, cap = 0;

	while (!bpf_map_get_next_key(rt->listen_fd, prev, &next)) {
		struct l7_rec *r = rec_find(rt, &next);

		k = next;
		prev = &k;
		if (!all && r && r->active && r->port && r->witnessed)
			continue;
		if (n == cap) {
			struct split_svc_key *t = realloc(del, (cap = cap ? cap * 2 : 16) * sizeof(*t));

			if (!t)
				break;
			del = t;
		}
		del[n++] = next;
	}
	for (size_t i = 0; i < n; i++)
		bpf_map_delete_elem(rt->listen_fd, &del[i]);
	free(del);
}

/* Put the record's listening socket in l7_listen_sk (before its l7_listen
 * entry is written: the hook sends nothing to a listener not there). */
static int witness(struct l7_rt *rt, struct l7_rec *r)
{
	int fd = l7_proxy_listen_fd(rt->proxy, r), rc;

	if (fd < 0)
		return -1;
	rc = l7_listener_publish(rt->listen_sk_fd, fd);
	close(fd);
	if (rc) {
		errno = -rc;
		return -1;
	}
	r->witnessed = 1;
	if (rt->o.skmsg) {
		struct split_l7_sk_key k;

		l7_listener_key(&k, &r->addr, (uint16_t)r->port);
		if ((rc = l7_skmsg_listen_add(rt->o.skmsg, &k)))
			pr_warn("L7 proxy: --l7-skmsg: port %d: %s (its connections go through TCP)\n",
				r->port, strerror(-rc));
	}
	return 0;
}

/* Take it out (before the listener closes; its l7_listen entry is gone). */
static void unwitness(struct l7_rt *rt, struct l7_rec *r)
{
	if (r->witnessed && r->port) {
		l7_listener_unpublish(rt->listen_sk_fd, &r->addr, (uint16_t)r->port);
		if (rt->o.skmsg) {
			struct split_l7_sk_key k;

			l7_listener_key(&k, &r->addr, (uint16_t)r->port);
			l7_skmsg_listen_del(rt->o.skmsg, &k);
		}
	}
	r->witnessed = 0;
}

/* The port an earlier splitd used for this VIP:port, to keep it. */
static uint16_t old_port(struct l7_rt *rt, const struct split_svc_key *k,
			 const struct split_addr *a)
{
	struct split_l7_listen_val v;
	__be32 want[4];

	if (bpf_map_lookup_elem(rt->listen_fd, k, &v))
		return 0;
	split_addr_to_be(want, a);
	if (v.family != a->family || memcmp(v.addr, want, sizeof(want)))
		return 0;
	return ntohs(v.port);
}

/* Version name -> id for service svc_id, from the weights map. */
static void load_versions(struct split_state *st, struct l7_rec *r)
{
	struct split_weight_key k, next, *prev = NULL;
	struct split_weight_val v;

	struct split_service_val sv;

	r->nvers = 0;
	/* By key: the service's version ids are below its ver_end. */
	if (!bpf_map_lookup_elem(st->services_fd, &r->svc_id, &sv) && sv.ver_end) {
		for (__u32 i = 1; i < sv.ver_end && r->nvers < L7_MAX_VERS; i++) {
			next = (struct split_weight_key){ r->svc_id, i };
			if (bpf_map_lookup_elem(st->weights_fd, &next, &v))
				continue;
			snprintf(r->vers[r->nvers].name, SPLIT_NAME_LEN, "%s", v.version);
			r->vers[r->nvers++].id = i;
		}
		return;
	}
	/* A state an older splitd wrote: walk the map. */
	while (!bpf_map_get_next_key(st->weights_fd, prev, &next)) {
		k = next;
		prev = &k;
		if (next.svc_id != r->svc_id || r->nvers >= L7_MAX_VERS ||
		    bpf_map_lookup_elem(st->weights_fd, &next, &v))
			continue;
		snprintf(r->vers[r->nvers].name, SPLIT_NAME_LEN, "%s", v.version);
		r->vers[r->nvers++].id = next.version_id;
	}
}

/* The datapath's ids of the endpoints (backends map), for the tags that
 * let sockops count the proxy's upstream connections per endpoint. */
static void endpoint_ids(struct split_state *st, __u32 svc_id, struct l7_upstream *eps,
			 size_t n)
{
	__u32 k, next, *prev = NULL, end = 0;
	struct split_service_val sv;
	struct split_backend_val v;

	/* By key where the service says its range (ids SPLIT_BACKEND_ID(svc_id,
	 * i), i < ep_end); else (an older splitd's state) a walk of the map. */
	if (!bpf_map_lookup_elem(st->services_fd, &svc_id, &sv))
		end = sv.ep_end;
	for (__u32 j = 1;; j++) {
		if (end) {
			if (j >= end)
				break;
			next = SPLIT_BACKEND_ID(svc_id, j);
		} else {
			if (bpf_map_get_next_key(st->backends_fd, prev, &next))
				break;
			k = next;
			prev = &k;
		}
		if (bpf_map_lookup_elem(st->backends_fd, &next, &v) || v.svc_id != svc_id)
			continue;
		for (size_t i = 0; i < n; i++) {
			__be32 a[4];

			split_addr_to_be(a, &eps[i].addr);
			if (eps[i].addr.family != v.family || memcmp(a, v.addr, sizeof(a)))
				continue;
			eps[i].backend_id = next;
			eps[i].svc_id = svc_id;
			eps[i].version_id = v.version_id;
		}
	}
}

/* The sticky cookie of the service's rollout while it runs or is paused
 * (see rollout.h), else "". Read with the state lock held: start, abort,
 * promote and splitd's decisions write the rollout under it, together with
 * the commit whose generation brings us here. */
static void sticky_of(struct l7_rt *rt, const struct split_service *s,
		      char out[SPLIT_NAME_LEN])
{
	struct split_rollout_key k;
	struct split_rollout_val v;

	out[0] = '\0';
	if (rt->ro_fd < 0)
		return;
	memset(&k, 0, sizeof(k));
	snprintf(k.ns, sizeof(k.ns), "%s", s->ns);
	snprintf(k.name, sizeof(k.name), "%s", s->name);
	if (bpf_map_lookup_elem(rt->ro_fd, &k, &v) ||
	    (v.state != SPLIT_RO_RUNNING && v.state != SPLIT_RO_PAUSED))
		return;
	snprintf(out, SPLIT_NAME_LEN, "%.*s", (int)sizeof(v.sticky_cookie) - 1,
		 v.sticky_cookie);
}

/* Route one VIP:port: its endpoints (same family as the VIP if it has
 * any, else all) with the port's target port, the rules and the
 * default weights. */
static int route(struct l7_rt *rt, struct l7_rec *r, const struct split_service *s,
		 const struct split_port *p, const struct split_rules *rules)
{
	struct l7_upstream *eps = calloc(s->neps + 1, sizeof(*eps));
	const char **vers = calloc(s->nversions + 1, sizeof(*vers));
	uint32_t *w = calloc(s->nversions + 1, sizeof(*w));
	struct l7_service svc = { 0 };
	char sticky[SPLIT_NAME_LEN], what[80];
	size_t n = 0;
	int ret = -1;

	if (!eps || !vers || !w)
		goto out;
	for (int pass = 0; pass < 2 && !n; pass++)
		for (size_t i = 0; i < s->neps; i++) {
			if (!pass && s->eps[i].addr.family != r->key.family)
				continue;
			eps[n].addr = s->eps[i].addr;
			eps[n].port = p->target_port;
			snprintf(eps[n].version, sizeof(eps[n].version), "%s", s->eps[i].version);
			n++;
		}
	for (size_t i = 0; i < s->nversions; i++) {
		vers[i] = s->versions[i].name;
		w[i] = s->versions[i].weight;
	}
	if (rt->st)
		endpoint_ids(rt->st, r->svc_id, eps, n);
	svc.rules = split_rules_find(rules, s->ns, s->name);
	svc.eps = eps;
	svc.neps = n;
	svc.versions = vers;
	svc.default_weights = s->routed ? w : NULL;
	svc.nversions = s->nversions;
	sticky_of(rt, s, sticky);
	svc.sticky_cookie = sticky;
	ret = l7_proxy_set_service(rt->proxy, r, &svc);
	if (!ret && strcmp(sticky, r->sticky)) {
		key_str(&r->key, what, sizeof(what));
		if (sticky[0])
			pr_info("L7 proxy: %s/%s %s: sticky sessions, cookie %s\n", s->ns,
				s->name, what, sticky);
		else
			pr_info("L7 proxy: %s/%s %s: no sticky sessions now (cookie %s)\n",
				s->ns, s->name, what, r->sticky);
		memcpy(r->sticky, sticky, sizeof(r->sticky));
	}
out:
	free(eps);
	free(vers);
	free(w);
	return ret;
}

static int sync_one(struct l7_rt *rt, struct split_state *st, const struct split_service *s,
		    const struct split_addr *vip, const struct split_port *p,
		    const struct split_rules *rules)
{
	const struct split_addr *la = listen_addr(rt, vip->family);
	struct split_svc_key k;
	struct split_svc_val sv;
	struct l7_rec *r;
	char what[80];

	split_vip_key(&k, vip, p);	/* p is a TCP port */
	key_str(&k, what, sizeof(what));
	if (!la) {
		pr_warn("L7 proxy: %s/%s %s: no --l7-addr of IPv%d; it splits at L4\n",
			s->ns, s->name, what, vip->family);
		return 0;
	}
	if (bpf_map_lookup_elem(st->svc_fd, &k, &sv))
		return 0;	/* not in the datapath (yet) */
	r = rec_find(rt, &k);
	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r)
			return -1;
		r->key = k;
		r->next = rt->recs;
		rt->recs = r;
	}
	r->svc_id = sv.svc_id;
	r->active = 1;
	load_versions(st, r);
	if (route(rt, r, s, p, rules)) {
		pr_warn("L7 proxy: routing %s/%s %s: %s\n", s->ns, s->name, what, strerror(errno));
		r->active = 0;
		return -1;
	}
	if (!r->port) {
		uint16_t want = old_port(rt, &k, la);
		int port = want ? l7_proxy_listen(rt->proxy, la, want, r) : -1;

		if (port < 0)
			port = l7_proxy_listen(rt->proxy, la, 0, r);
		if (port < 0) {
			pr_warn("L7 proxy: listening for %s/%s %s: %s\n", s->ns, s->name, what,
				strerror(errno));
			r->active = 0;
			return -1;
		}
		r->port = port;
		r->addr = *la;
		r->witnessed = 0;
		pr_info("L7 proxy: %s/%s %s -> listening on port %d\n", s->ns, s->name, what,
			port);
	}
	/* The socket first, then the entry that sends connect()s to it. */
	if (!r->witnessed && witness(rt, r)) {
		pr_warn("L7 proxy: %s/%s %s: putting the listener in %s: %s; it splits at L4\n",
			s->ns, s->name, what, SPLIT_MAP_L7_LISTEN_SK, strerror(errno));
		return -1;
	}
	if (publish(rt, r)) {
		pr_warn("L7 proxy: writing %s: %s\n", SPLIT_MAP_L7_LISTEN, strerror(errno));
		return -1;
	}
	return 0;
}

/* Could there be anything to do: an L7 route in force (every service with
 * request rules has its routes in l7_routes), or a listener of ours? */
static int any_l7(struct l7_rt *rt, struct split_state *st)
{
	struct split_l7_route_key k;
	char path[PATH_MAX + 64];
	int fd, ret;

	for (struct l7_rec *r = rt->recs; r; r = r->next)
		if (r->port)
			return 1;
	snprintf(path, sizeof(path), "%s/%s", st->pin_dir, SPLIT_MAP_L7_ROUTES);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 1;	/* cannot tell: look */
	ret = !bpf_map_get_next_key(fd, NULL, &k);
	close(fd);
	return ret;
}

/* The ids of the services with request rules: those with routes in
 * l7_routes (written for exactly the services flagged L7). Sorted, each
 * once. 0, or -1 with errno. */
static int l7_svc_ids(struct split_state *st, __u32 **out, size_t *n)
{
	struct split_l7_route_key k, next;
	char path[PATH_MAX + 64];
	__u32 *ids = NULL;
	size_t cap = 0;
	int fd, r;

	*n = 0;
	snprintf(path, sizeof(path), "%s/%s", st->pin_dir, SPLIT_MAP_L7_ROUTES);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -1;
	for (r = bpf_map_get_next_key(fd, NULL, &next); !r;
	     r = bpf_map_get_next_key(fd, &k, &next)) {
		k = next;
		if (split_grow((void **)&ids, &cap, *n, sizeof(*ids))) {
			errno = ENOMEM;
			break;
		}
		ids[(*n)++] = k.svc_id;
	}
	close(fd);
	if (errno != ENOENT) {
		free(ids);
		return -1;
	}
	*out = ids;
	return 0;
}

int l7_rt_sync(struct l7_rt *rt, struct split_state *st, int force)
{
	struct split_config cfg = { 0 };
	struct split_objs objs = { 0 };
	struct split_rules rules = { 0 };
	struct split_err err;
	__u32 *ids = NULL;
	size_t nids = 0;
	int ret = 0;
	__u64 gen;

	if (!rt || open_maps(rt, st))
		return -1;
	gen = split_state_generation(st, SPLIT_GEN_COMMITTED);
	if (!force && rt->synced && gen == rt->gen)
		return 0;
	if (!any_l7(rt, st)) {
		/* The common case: no service has request rules, and we
		 * listen for none. Nothing to read. */
		if (force)
			prune_listen(rt, 0);	/* left by a killed splitd */
		rt->gen = gen;
		rt->synced = 1;
		split_state_set_generation(st, SPLIT_GEN_L7_HEARTBEAT, mono_ns());
		split_state_set_generation(st, SPLIT_GEN_L7_APPLIED, gen);
		return 0;
	}
	if (split_state_lock(st, &err))
		goto fail;
	gen = split_state_generation(st, SPLIT_GEN_COMMITTED);
	/* Only the services with request rules: at 10,000 services,
	 * reading them all made every change wait for a full read. */
	if (l7_svc_ids(st, &ids, &nids)) {
		split_errf(&err, "reading %s: %s", SPLIT_MAP_L7_ROUTES, strerror(errno));
		split_state_unlock(st);
		goto fail;
	}
	if (split_state_read_ids(st, ids, nids, &cfg, &err) || split_objs_read(st, &objs, &err) ||
	    split_objs_rules(&objs, &rules, &err)) {
		split_state_unlock(st);
		goto fail;
	}
	for (struct l7_rec *r = rt->recs; r; r = r->next)
		r->active = 0;
	for (size_t i = 0; i < cfg.nsvcs; i++) {
		const struct split_service *s = &cfg.svcs[i];

		if (!s->l7)
			continue;
		for (size_t a = 0; a < s->nvips; a++)
			for (size_t k = 0; k < s->nports; k++)
				if (s->ports[k].proto == IPPROTO_TCP &&
				    sync_one(rt, st, s, &s->vips[a], &s->ports[k], &rules))
					ret = -1;
	}
	/* Services that lost their last request-matching rule: new
	 * connections go straight to backends; the proxy's connections
	 * finish what they do with the old routing. */
	hb_update(rt);
	prune_listen(rt, 0);
	for (struct l7_rec *r = rt->recs; r; r = r->next) {
		char what[80];

		if (r->active || !r->port)
			continue;
		key_str(&r->key, what, sizeof(what));
		unwitness(rt, r);
		l7_proxy_unlisten(rt->proxy, r);
		pr_info("L7 proxy: %s has no request-matching rule now: not listening on port %d\n",
			what, r->port);
		r->port = 0;
	}
	split_state_unlock(st);
	rt->gen = gen;
	rt->synced = 1;
	/* splitctl waits for this (what failed above is logged). */
	split_state_set_generation(st, SPLIT_GEN_L7_HEARTBEAT, mono_ns());
	split_state_set_generation(st, SPLIT_GEN_L7_APPLIED, gen);
	goto out;
fail:
	pr_warn("L7 proxy: reading the state: %s\n", err.msg);
	ret = -1;
out:
	free(ids);
	split_rules_free(&rules);
	split_objs_free(&objs);
	split_config_free(&cfg);
	return ret;
}

static __u32 version_id(const struct l7_rec *r, const char *name)
{
	if (!*name)
		return 0;
	for (size_t i = 0; i < r->nvers; i++)
		if (!strcmp(r->vers[i].name, name))
			return r->vers[i].id;
	return (__u32)-1;	/* a version that left: not counted */
}

/* Add what each listener counted since the last flush to l7_stats. */
static void flush_stats(struct l7_rt *rt)
{
	struct l7_version_stats cur[L7_MAX_VERS];

	if (rt->stats_fd < 0)
		return;
	for (struct l7_rec *r = rt->recs; r; r = r->next) {
		int n = l7_proxy_service_stats(rt->proxy, r, cur, L7_MAX_VERS);

		for (int i = 0; i < n && i < L7_MAX_VERS; i++) {
			struct split_l7_stats d = { 0 }, v = { 0 };
			struct l7_seen *seen = NULL;
			struct split_weight_key k;

			for (size_t j = 0; j < r->nseen; j++)
				if (!strcmp(r->seen[j].version, cur[i].version))
					seen = &r->seen[j];
			if (!seen) {
				if (r->nseen >= L7_MAX_VERS)
					continue;
				seen = &r->seen[r->nseen++];
				memcpy(seen->version, cur[i].version, sizeof(seen->version));
				seen->version[sizeof(seen->version) - 1] = 0;
			}
			d.requests = cur[i].requests - seen->s.requests;
			for (int c = 0; c < 5; c++)
				d.responses[c] = cur[i].responses[c] - seen->s.responses[c];
			d.nonhttp = cur[i].nonhttp - seen->s.nonhttp;
			d.latency_us_sum = cur[i].latency_us_sum - seen->s.latency_us_sum;
			if (!d.requests && !d.nonhttp && !d.latency_us_sum &&
			    !d.responses[0] && !d.responses[1] && !d.responses[2] &&
			    !d.responses[3] && !d.responses[4])
				continue;
			k.svc_id = r->svc_id;
			k.version_id = version_id(r, cur[i].version);
			if (k.version_id == (__u32)-1)
				continue;
			bpf_map_lookup_elem(rt->stats_fd, &k, &v);
			v.requests += d.requests;
			for (int c = 0; c < 5; c++)
				v.responses[c] += d.responses[c];
			v.nonhttp += d.nonhttp;
			v.latency_us_sum += d.latency_us_sum;
			if (bpf_map_update_elem(rt->stats_fd, &k, &v, BPF_ANY))
				continue;	/* full: try again next time */
			seen->s.requests = cur[i].requests;
			memcpy(seen->s.responses, cur[i].responses, sizeof(seen->s.responses));
			seen->s.nonhttp = cur[i].nonhttp;
			seen->s.latency_us_sum = cur[i].latency_us_sum;
		}
	}
}

/* A listener's socket that left l7_listen_sk while it still listens (the
 * socket that stood witness closed, e.g. one of several SO_REUSEPORT
 * listeners, or someone deleted the entry): put one back, else the hook
 * keeps splitting that VIP:port at L4. */
static void rewitness(struct l7_rt *rt)
{
	for (struct l7_rec *r = rt->recs; r; r = r->next) {
		char what[80];

		if (!r->active || !r->port || !r->witnessed ||
		    l7_listener_present(rt->listen_sk_fd, &r->addr, (uint16_t)r->port) != 0)
			continue;
		key_str(&r->key, what, sizeof(what));
		r->witnessed = 0;
		if (witness(rt, r))
			pr_warn("L7 proxy: %s: listener gone from %s and cannot be put back: %s\n",
				what, SPLIT_MAP_L7_LISTEN_SK, strerror(errno));
		else
			pr_info("L7 proxy: %s: listener put back in %s\n", what,
				SPLIT_MAP_L7_LISTEN_SK);
	}
}

int l7_rt_poll_ms(const struct l7_rt *rt)
{
	for (const struct l7_rec *r = rt ? rt->recs : NULL; r; r = r->next)
		if (r->port)
			return 10;
	return 50;
}

void l7_rt_tick(struct l7_rt *rt, struct split_state *st)
{
	if (!rt || open_maps(rt, st))
		return;
	rewitness(rt);
	flush_stats(rt);	/* the heartbeat has its own thread */
}

/* After the listeners were withdrawn: let the connect()s that passed the
 * hook just before reach the listeners, so the drain accepts them. With
 * --l7-defer-accept a connection reaches the accept queue with its first
 * bytes: this is also the time its client has to send them. */
static void settle(struct l7_rt *rt)
{
	for (struct l7_rec *r = rt->recs; r; r = r->next)
		if (r->port) {
			usleep(L7_STOP_SETTLE_MS * 1000);
			return;
		}
}

void l7_rt_stop(struct l7_rt *rt, struct split_state *st)
{
	if (!rt)
		return;
	pthread_mutex_lock(&rt->hb_mu);
	rt->hb_stop = 1;
	pthread_cond_signal(&rt->hb_cv);
	pthread_mutex_unlock(&rt->hb_mu);
	if (rt->hb_started)
		pthread_join(rt->hb_thread, NULL);
	/* Withdraw before closing: new connect()s split at L4 from here on,
	 * none is sent to a listener about to close. */
	if (rt->listen_fd >= 0 || !open_maps(rt, st)) {
		prune_listen(rt, 1);
		for (struct l7_rec *r = rt->recs; r; r = r->next)
			unwitness(rt, r);
	}
	split_state_set_generation(st, SPLIT_GEN_L7_HEARTBEAT, 0);
	settle(rt);
	{
		unsigned ms = rt->o.drain_ms ? rt->o.drain_ms : 5000;
		struct l7_proxy_stats ps;
		char per[256];
		size_t off = 0;
		int left;

		left = l7_proxy_drain(rt->proxy, ms);
		l7_proxy_stats(rt->proxy, &ps);
		for (unsigned i = 0; i < ps.workers && off < sizeof(per) - 24; i++)
			off += (size_t)snprintf(per + off, sizeof(per) - off, "%s%llu",
						i ? " " : "",
						(unsigned long long)ps.worker_accepted[i]);
		if (left)
			pr_warn("L7 proxy: %d connections still busy after %u ms: cut\n",
				left, ms);
		else
			pr_info("L7 proxy: drained\n");
		pr_info("L7 proxy: %llu connections accepted, per worker: %s\n",
			(unsigned long long)ps.conns_accepted, per);
	}
	flush_stats(rt);
	l7_proxy_stop(rt->proxy);
	pthread_join(rt->thread, NULL);
	l7_proxy_free(rt->proxy);
	while (rt->recs) {
		struct l7_rec *r = rt->recs;

		rt->recs = r->next;
		free(r);
	}
	if (rt->listen_fd >= 0)
		close(rt->listen_fd);
	if (rt->listen_sk_fd >= 0)
		close(rt->listen_sk_fd);
	if (rt->stats_fd >= 0)
		close(rt->stats_fd);
	if (rt->skb_fd >= 0)
		close(rt->skb_fd);
	if (rt->ro_fd >= 0)
		close(rt->ro_fd);
	free(rt->hb);
	pthread_mutex_destroy(&rt->hb_mu);
	pthread_cond_destroy(&rt->hb_cv);
	free(rt);
}
