// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * proxy.c - the L7 engine's public API (l7proxy.h): workers, listeners
 * (one SO_REUSEPORT socket per worker and VIP:port, all on one port),
 * services, drain, stop, counters.
 *
 * The control path (listen, unlisten, set_service, drain) takes p->mu and
 * wakes the workers through their eventfds; the request path never takes
 * it. A routing snapshot replaced by set_service() is freed once every
 * worker has been seen outside a loop iteration that began before the
 * swap (blocked in epoll_wait, or in a later iteration): quiescent-state
 * reclamation, as RCU does it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE		/* splice, pipe2, accept4 */
#endif
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "l7.h"
#include "l7sockmap.h"
#include "log.h"

static uint64_t mono_ms(void)
{
	return l7_now_us() / 1000u;
}

/* A proxy holds a socket per client connection: let the process have
 * the descriptors it is allowed (soft limit up to the hard one). */
static unsigned fd_budget(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t want = rl.rlim_max;

		rl.rlim_cur = want;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1u << 24))
		return 1u << 24;
	return (unsigned)rl.rlim_cur;
}

struct l7_proxy *l7_proxy_new(const struct l7_proxy_opts *o)
{
	struct l7_proxy *p = calloc(1, sizeof(*p));
	unsigned budget;
	long ncpu;

	if (!p)
		return NULL;
	if (o)
		p->o = *o;
	if (!p->o.max_head_bytes)
		p->o.max_head_bytes = L7_DEF_HEAD;
	if (p->o.max_head_bytes > L7_MAX_HEAD)
		p->o.max_head_bytes = L7_MAX_HEAD;
	if (!p->o.max_headers)
		p->o.max_headers = L7_DEF_HEADERS;
	if (!p->o.idle_timeout_ms)
		p->o.idle_timeout_ms = L7_DEF_IDLE_MS;
	if (!p->o.keepalive_timeout_ms)
		p->o.keepalive_timeout_ms = L7_DEF_KEEPALIVE_MS;
	if (!p->o.header_timeout_ms)
		p->o.header_timeout_ms = L7_DEF_HEADER_MS;
	if (!p->o.connect_timeout_ms)
		p->o.connect_timeout_ms = L7_DEF_CONNECT_MS;
	budget = fd_budget();
	if (!p->o.max_connections) {
		p->o.max_connections = budget / 4 * 3;
		if (p->o.max_connections > L7_DEF_MAX_CONNS)
			p->o.max_connections = L7_DEF_MAX_CONNS;
		if (p->o.max_connections < 64)
			p->o.max_connections = 64;
	}
	if (!p->o.max_per_source)
		p->o.max_per_source = p->o.max_connections / 2 ? p->o.max_connections / 2 : 1;
	if (!p->o.pool_idle_ms)
		p->o.pool_idle_ms = L7_DEF_POOL_IDLE_MS;
	if (!p->o.pool_max_idle)
		p->o.pool_max_idle = L7_DEF_POOL_MAX;
	if (!p->o.workers) {
		ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		p->o.workers = ncpu > 0 ? (unsigned)ncpu : 1;
	}
	if (p->o.workers > L7_MAX_WORKERS)
		p->o.workers = L7_MAX_WORKERS;
	p->nworkers = p->o.workers;
	p->tag_fd = -1;
	pthread_mutex_init(&p->mu, NULL);
	pthread_mutex_init(&p->sm_mu, NULL);
	pthread_cond_init(&p->sm_cv, NULL);
	p->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	p->w = aligned_alloc(64, sizeof(*p->w) * p->nworkers);
	if (p->stopfd < 0 || !p->w)
		goto fail;
	for (unsigned i = 0; i < p->nworkers; i++)
		if (l7_worker_init(&p->w[i], p, i)) {
			while (i--)
				l7_worker_fini(&p->w[i]);
			goto fail;
		}
	snprintf(p->sm_why, sizeof(p->sm_why), "off");
	/* The default: io_uring, unless --l7-sockmap asks for the sockmap
	 * relay (epoll's tunnels), --l7-skmsg for the client hop by sk_msg
	 * (tested with epoll; on io_uring a tunnel through it came out
	 * short once in e2e_l7), or the kernel refuses the ring. */
	if (p->o.io == L7_IO_AUTO && !p->o.no_sockmap && p->o.sockmap_obj) {
		snprintf(p->io_why, sizeof(p->io_why),
			 "epoll (edge-triggered; the sockmap relay asked for)");
	} else if (p->o.io == L7_IO_AUTO && p->o.skmsg) {
		snprintf(p->io_why, sizeof(p->io_why),
			 "epoll (edge-triggered; with --l7-skmsg)");
	} else if (p->o.io == L7_IO_URING || p->o.io == L7_IO_AUTO) {
		char why[128];

		if (l7_uring_probe(why, sizeof(why))) {
			snprintf(p->io_why, sizeof(p->io_why),
				 "epoll (io_uring refused: %s)", why);
			if (p->o.io == L7_IO_URING)
				pr_warn("L7 proxy: io_uring unusable here (%s): the workers run epoll\n",
					why);
			else
				pr_info("L7 proxy: io_uring unusable here (%s): the workers run epoll\n",
					why);
		} else {
			p->uring = true;
			snprintf(p->io_why, sizeof(p->io_why),
				 "io_uring (recv into provided buffers, sends batched per loop turn)");
			/* the ring reads the sockets: tunnels read and
			 * write through it (no splice, no sockmap thread) */
			if (!p->o.no_sockmap && p->o.sockmap_obj)
				pr_warn("L7 proxy: sockmap unusable (off: the workers run io_uring): tunnels read and write through the ring\n");
			p->o.no_splice = 1;
			p->o.no_sockmap = 1;
			snprintf(p->sm_why, sizeof(p->sm_why), "off (io_uring)");
		}
	} else {
		snprintf(p->io_why, sizeof(p->io_why), "epoll (edge-triggered)");
	}
	if (p->o.skmsg) {
		/* splice(2) reads TCP's queue, and redirected bytes wait in
		 * the psock's: tunnels read and write */
		p->o.no_splice = 1;
		if (!p->o.no_sockmap)
			pr_warn("L7 proxy: --l7-skmsg is on: tunnels read and write (no sockmap, no splice)\n");
		p->o.no_sockmap = 1;
		snprintf(p->sm_why, sizeof(p->sm_why), "off (--l7-skmsg)");
	}
	if (!p->o.no_sockmap && p->o.sockmap_obj && !p->uring) {
		struct split_err e;

		p->sm = l7_sockmap_open_flags(p->o.sockmap_obj,
					      p->o.sockmap_obj_len,
					      p->o.sockmap_trust ?
					      L7_SOCKMAP_NO_PROBE : 0, &e);
		if (!p->sm)
			snprintf(p->sm_why, sizeof(p->sm_why), "%.*s", (int)sizeof(p->sm_why) - 1, e.msg);
		if (p->sm)
			pr_info("L7 proxy: tunnels move bytes in the kernel (sockmap)\n");
		else
			pr_warn("L7 proxy: sockmap unusable (%s): tunnels use splice\n",
				p->sm_why);
	}
	return p;
fail:
	{
		int saved = errno ? errno : ENOMEM;

		if (p->stopfd >= 0)
			close(p->stopfd);
		free(p->w);
		pthread_mutex_destroy(&p->mu);
		pthread_mutex_destroy(&p->sm_mu);
		pthread_cond_destroy(&p->sm_cv);
		free(p);
		errno = saved;
	}
	return NULL;
}

static void wake_all(struct l7_proxy *p)
{
	for (unsigned i = 0; i < p->nworkers; i++)
		l7_worker_wake(&p->w[i]);
}

static int listen_one(const struct l7_proxy *p, const union l7_sa *sa, socklen_t len,
		      int family)
{
	/* Deferring the accept defers the accepted socket: not for a
	 * server-first client, nor for skmsg, whose client's first write
	 * finds the proxy's end in the sockhash only if it exists by then
	 * (else that end writes through TCP for good). */
	int fd, one = 1, defer = p->o.first_byte_timeout_ms || p->o.skmsg ? 0 :
				 (int)p->o.defer_accept_s;

	fd = socket(sa->sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)))
		goto fail;
	if (family == 6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	/* the accepted sockets inherit it: no setsockopt per connection */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (defer && setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer, sizeof(defer)))
		goto fail;
	if (bind(fd, &sa->sa, len) || listen(fd, 4096))
		goto fail;
	return fd;
fail:
	{
		int saved = errno;

		close(fd);
		errno = saved;
	}
	return -1;
}

int l7_proxy_listen(struct l7_proxy *p, const struct split_addr *addr,
		    uint16_t port, void *svc_key)
{
	struct l7_group *g;
	union l7_sa sa;
	socklen_t len;
	unsigned i;
	int saved;

	if (addr->family != 4 && addr->family != 6) {
		errno = EINVAL;
		return -EINVAL;
	}
	len = l7_sa_from(&sa, addr, port);
	g = calloc(1, sizeof(*g));
	if (g)
		g->wl = calloc(p->nworkers, sizeof(*g->wl));
	if (!g || !g->wl) {
		if (g)
			free(g->wl);
		free(g);
		errno = ENOMEM;
		return -ENOMEM;
	}
	for (i = 0; i < p->nworkers; i++) {
		g->wl[i].type = EV_LISTEN;
		g->wl[i].fd = -1;
		g->wl[i].g = g;
	}
	/* The first socket gets the port (or the kernel chooses it), the
	 * others join it: one port, one socket per worker. */
	for (i = 0; i < p->nworkers; i++) {
		g->wl[i].fd = listen_one(p, &sa, len, addr->family);
		if (g->wl[i].fd < 0)
			goto fail;
		if (!i) {
			len = sizeof(sa);
			if (getsockname(g->wl[0].fd, &sa.sa, &len))
				goto fail;
		}
	}
	g->key = svc_key;
	pthread_mutex_lock(&p->mu);
	g->e = l7_entry_find(p, svc_key, true);
	if (!g->e) {
		pthread_mutex_unlock(&p->mu);
		errno = ENOMEM;
		goto fail;
	}
	g->next = p->groups;
	p->groups = g;
	pthread_mutex_unlock(&p->mu);
	wake_all(p);
	return ntohs(sa.sa.sa_family == AF_INET6 ? sa.in6.sin6_port :
						   sa.in.sin_port);
fail:
	saved = errno;
	for (i = 0; i < p->nworkers; i++)
		if (g->wl[i].fd >= 0)
			close(g->wl[i].fd);
	free(g->wl);
	free(g);
	errno = saved;
	return -saved;
}

static void group_close_all(struct l7_proxy *p, struct l7_group *g)
{
	for (unsigned i = 0; i < p->nworkers; i++)
		if (g->wl[i].fd >= 0) {
			close(g->wl[i].fd);
			g->wl[i].fd = -1;
		}
}

void l7_proxy_unlisten(struct l7_proxy *p, void *svc_key)
{
	struct l7_group **pp, *g;

	pthread_mutex_lock(&p->mu);
	for (pp = &p->groups; (g = *pp);) {
		if (g->key != svc_key) {
			pp = &g->next;
			continue;
		}
		if (p->running) {	/* each worker closes its socket */
			g->closing = true;
			pp = &g->next;
			continue;
		}
		*pp = g->next;
		group_close_all(p, g);
		free(g->wl);
		free(g);
	}
	pthread_mutex_unlock(&p->mu);
	wake_all(p);
}

int l7_proxy_listen_fd(struct l7_proxy *p, void *svc_key)
{
	int fd = -1;

	/* Workers close their sockets under p->mu: dup while holding it, so
	 * the caller's fd names the socket even if a worker closes its own. */
	errno = 0;
	pthread_mutex_lock(&p->mu);
	for (struct l7_group *g = p->groups; g && fd < 0; g = g->next) {
		if (g->key != svc_key || g->closing)
			continue;
		for (unsigned i = 0; i < p->nworkers && fd < 0; i++)
			if (g->wl[i].fd >= 0)
				fd = fcntl(g->wl[i].fd, F_DUPFD_CLOEXEC, 0);
	}
	pthread_mutex_unlock(&p->mu);
	if (fd < 0 && !errno)
		errno = ENOENT;
	return fd < 0 ? -errno : fd;
}

/* Wait until no worker can still use a snapshot swapped out before
 * epoch e. */
static void synchronize(struct l7_proxy *p, uint64_t e)
{
	for (unsigned i = 0; i < p->nworkers; i++) {
		struct l7_worker *w = &p->w[i];

		for (unsigned k = 0;; k++) {
			if (__atomic_load_n(&w->blocked, __ATOMIC_SEQ_CST) ||
			    __atomic_load_n(&w->qepoch, __ATOMIC_SEQ_CST) >= e)
				break;
			if (k < 100)
				sched_yield();
			else
				usleep(100);
		}
	}
}

int l7_proxy_set_service(struct l7_proxy *p, void *svc_key,
			 const struct l7_service *svc)
{
	struct l7_snap *s = NULL, *old;
	struct l7_entry *e;
	uint64_t ep;

	pthread_mutex_lock(&p->mu);
	e = l7_entry_find(p, svc_key, true);
	if (!e) {
		pthread_mutex_unlock(&p->mu);
		errno = ENOMEM;
		return -ENOMEM;
	}
	if (svc) {
		s = l7_snap_build(p, e, svc);
		if (!s) {
			pthread_mutex_unlock(&p->mu);
			return errno ? -errno : -EINVAL;
		}
	}
	old = __atomic_exchange_n(&e->snap, s, __ATOMIC_SEQ_CST);
	ep = __atomic_add_fetch(&p->epoch, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&p->mu);
	synchronize(p, ep);
	l7_snap_free(old);
	return 0;
}

int l7_proxy_run(struct l7_proxy *p)
{
	sigset_t all, old;
	unsigned started = 1;

	pthread_mutex_lock(&p->mu);
	if (p->running) {
		pthread_mutex_unlock(&p->mu);
		errno = EBUSY;
		return -EBUSY;
	}
	if (p->ran) {
		pthread_mutex_unlock(&p->mu);
		return 0;
	}
	p->running = 1;
	p->ran = true;
	pthread_mutex_unlock(&p->mu);
	/* splice(2) to a closed socket raises SIGPIPE: not in the workers */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (unsigned i = 1; i < p->nworkers; i++) {
		if (pthread_create(&p->w[i].tid, NULL, l7_worker_main, &p->w[i])) {
			pr_warn("L7 proxy: cannot start worker %u: %s\n", i,
				strerror(errno));
			break;
		}
		started++;
	}
	/* Workers that did not start: close their listeners at once, or the
	 * kernel would keep handing them connections nobody accepts. */
	pthread_mutex_lock(&p->mu);
	for (struct l7_group *g = p->groups; g; g = g->next)
		for (unsigned i = started; i < p->nworkers; i++)
			if (g->wl[i].fd >= 0) {
				close(g->wl[i].fd);
				g->wl[i].fd = -1;
			}
	pthread_mutex_unlock(&p->mu);
	l7_worker_main(&p->w[0]);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	for (unsigned i = 1; i < started; i++)
		pthread_join(p->w[i].tid, NULL);
	pthread_mutex_lock(&p->sm_mu);
	while (p->sm_threads)
		pthread_cond_wait(&p->sm_cv, &p->sm_mu);
	pthread_mutex_unlock(&p->sm_mu);
	pthread_mutex_lock(&p->mu);
	p->running = 0;
	pthread_mutex_unlock(&p->mu);
	return started == p->nworkers ? 0 : -EAGAIN;
}

void l7_proxy_stop(struct l7_proxy *p)
{
	uint64_t one = 1;
	ssize_t r = write(p->stopfd, &one, sizeof(one));

	(void)r;
}

static uint64_t active_conns(struct l7_proxy *p)
{
	uint64_t n = __atomic_load_n(&p->sm_active, __ATOMIC_RELAXED);

	for (unsigned i = 0; i < p->nworkers; i++)
		n += CTR_GET(p->w[i].st.active);
	return n;
}

int l7_proxy_drain(struct l7_proxy *p, unsigned deadline_ms)
{
	uint64_t until = mono_ms() + deadline_ms;
	int running;

	pthread_mutex_lock(&p->mu);
	running = p->running;
	__atomic_store_n(&p->draining, 1, __ATOMIC_RELEASE);
	if (!running)
		for (struct l7_group *g = p->groups; g; g = g->next)
			group_close_all(p, g);
	pthread_mutex_unlock(&p->mu);
	if (!running)
		return 0;
	wake_all(p);
	/* the workers see the wake-up in their next iteration */
	usleep(2000);
	for (;;) {
		uint64_t n = active_conns(p);

		if (!n)
			return 0;
		if (mono_ms() >= until)
			return n > INT32_MAX ? INT32_MAX : (int)n;
		usleep(5000);
	}
}

void l7_proxy_free(struct l7_proxy *p)
{
	if (!p)
		return;
	for (int k = 0; k < 2; k++) {
		struct l7_group **l = k ? &p->dead_groups : &p->groups;

		while (*l) {
			struct l7_group *g = *l;

			*l = g->next;
			group_close_all(p, g);
			free(g->wl);
			free(g);
		}
	}
	while (p->entries) {
		struct l7_entry *e = p->entries;

		p->entries = e->next;
		l7_entry_free(e);
	}
	for (unsigned i = 0; i < p->nworkers; i++) {
		l7_pool_flush(&p->w[i]);
		l7_worker_fini(&p->w[i]);
	}
	free(p->w);
	l7_sockmap_close(p->sm);
	close(p->stopfd);
	pthread_mutex_destroy(&p->mu);
	pthread_mutex_destroy(&p->sm_mu);
	pthread_cond_destroy(&p->sm_cv);
	free(p);
}

int l7_proxy_service_stats(struct l7_proxy *p, void *svc_key,
			   struct l7_version_stats *out, size_t max)
{
	struct l7_entry *e;
	size_t n;

	pthread_mutex_lock(&p->mu);
	e = l7_entry_find(p, svc_key, false);
	pthread_mutex_unlock(&p->mu);
	if (!e)
		return -ENOENT;
	n = __atomic_load_n(&e->nctr, __ATOMIC_ACQUIRE);
	for (size_t i = 0; i < n && i < max; i++) {
		memset(&out[i], 0, sizeof(out[i]));
		memcpy(out[i].version, e->names[i], sizeof(out[i].version));
		for (unsigned w = 0; w <= p->nworkers; w++) {
			struct l7_ctr *c = l7_ctr_of(e, w, (unsigned)i);

			out[i].requests += CTR_GET(c->requests);
			for (int k = 0; k < 5; k++)
				out[i].responses[k] += CTR_GET(c->responses[k]);
			out[i].nonhttp += CTR_GET(c->nonhttp);
			out[i].latency_us_sum += CTR_GET(c->latency_us);
		}
	}
	return (int)n;
}

void l7_proxy_stats(struct l7_proxy *p, struct l7_proxy_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->workers = p->nworkers;
	for (unsigned i = 0; i < p->nworkers; i++) {
		const struct l7_wstats *s = &p->w[i].st;

		out->conns_accepted += CTR_GET(s->accepted);
		out->worker_accepted[i] = CTR_GET(s->accepted);
		out->conns_rejected += CTR_GET(s->rejected);
		out->conns_evicted += CTR_GET(s->evicted);
		out->conns_active += CTR_GET(s->active);
		out->upstream_connects += CTR_GET(s->upstream_connects);
		out->upstream_reused += CTR_GET(s->upstream_reused);
		out->upstream_retries += CTR_GET(s->upstream_retries);
		out->pool_reaped += CTR_GET(s->pool_reaped);
		out->pool_peer_closed += CTR_GET(s->pool_peer_closed);
		out->tunnels += CTR_GET(s->tunnels);
		out->spliced_bytes += CTR_GET(s->spliced_bytes);
	}
	out->conns_active += __atomic_load_n(&p->sm_active, __ATOMIC_RELAXED);
	out->sockmap_tunnels = __atomic_load_n(&p->sm_tunnels, __ATOMIC_RELAXED);
	out->sockmap_bytes = __atomic_load_n(&p->sm_bytes, __ATOMIC_RELAXED);
	out->threads_started = p->ran ? p->nworkers : 0;
	out->threads_started += __atomic_load_n(&p->extra_threads, __ATOMIC_RELAXED);
}

int l7_proxy_sockmap(struct l7_proxy *p, const char **why)
{
	if (why)
		*why = p->sm ? "" : p->sm_why;
	return p->sm != NULL;
}

void l7_proxy_tag_upstreams(struct l7_proxy *p, int sk_storage_fd)
{
	__atomic_store_n(&p->tag_fd, sk_storage_fd < 0 ? -1 : sk_storage_fd,
			 __ATOMIC_RELAXED);
}

unsigned l7_proxy_workers(const struct l7_proxy *p)
{
	return p->nworkers;
}

int l7_proxy_io(struct l7_proxy *p, const char **why)
{
	if (why)
		*why = p->io_why;
	return p->uring ? L7_IO_URING : L7_IO_EPOLL;
}
