// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* k8s_source.c - debounced model builds from the watcher; see k8s_source.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* asprintf, pipe2 (the fuzz build has no -D_GNU_SOURCE) */
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "k8s_source.h"
#include "log.h"

struct k8s_source {
	struct k8s_store store;
	pthread_mutex_t lock;
	struct k8s_watcher *w;
	int pipe[2];
	unsigned quiet_ms, max_ms;
	int pending;
	long long first_ms, last_ms;	/* of the pending burst */
	struct k8s_build_stats bs;
};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct k8s_source *k8s_source_start(const struct k8s_source_opts *o, struct split_err *err)
{
	struct k8s_source *s = calloc(1, sizeof(*s));
	struct k8s_conn c;
	int r;

	if (!s) {
		split_errc(err, ENOMEM, "out of memory");
		return NULL;
	}
	s->pipe[0] = s->pipe[1] = -1;
	pthread_mutex_init(&s->lock, NULL);
	s->quiet_ms = o->quiet_ms ? o->quiet_ms : K8S_QUIET_MS;
	s->max_ms = o->max_ms ? o->max_ms : K8S_MAX_MS;
	if (o->kubeconfig)
		r = k8s_conn_kubeconfig(&c, o->kubeconfig, o->context, err);
	else
		r = k8s_conn_in_cluster(&c, o->server, o->token_file, o->ca_file, err);
	if (r)
		goto fail;
	if (pipe2(s->pipe, O_CLOEXEC | O_NONBLOCK)) {
		split_errf(err, "pipe: %s", strerror(errno));
		k8s_conn_free(&c);
		goto fail;
	}
	s->w = k8s_watch_start(&c, &s->store, &s->lock, s->pipe[1], err);
	k8s_conn_free(&c);
	if (!s->w)
		goto fail;
	return s;
fail:
	k8s_source_stop(s);
	return NULL;
}

int k8s_source_fd(struct k8s_source *s)
{
	return s->pipe[0];
}

static int synced(struct k8s_source *s)
{
	int r;

	pthread_mutex_lock(&s->lock);
	r = k8s_watch_synced(s->w);
	pthread_mutex_unlock(&s->lock);
	return r;
}

static void drain(struct k8s_source *s)
{
	char buf[256];
	ssize_t n;
	int got = 0;

	while ((n = read(s->pipe[0], buf, sizeof(buf))) > 0)
		got = 1;
	if (got) {
		long long t = now_ms();

		if (!s->pending)
			s->first_ms = t;
		s->pending = 1;
		s->last_ms = t;
	}
}

int k8s_source_timeout(struct k8s_source *s)
{
	long long t = now_ms(), due;

	if (!s->pending)
		return -1;
	due = s->last_ms + s->quiet_ms;
	if (due > s->first_ms + s->max_ms)
		due = s->first_ms + s->max_ms;
	/* Not all kinds listed yet: look again in a while. */
	return due <= t ? (synced(s) ? 0 : 100) : (int)(due - t);
}

int k8s_source_due(struct k8s_source *s)
{
	drain(s);
	if (!s->pending || k8s_source_timeout(s) != 0)
		return 0;
	s->pending = 0;
	return 1;
}

int k8s_source_build(struct k8s_source *s, struct split_config *cfg,
		     struct split_objs *objs, struct split_err *err)
{
	struct k8s_build_stats bs = { 0 };
	int r;

	pthread_mutex_lock(&s->lock);
	r = k8s_build(&s->store, cfg, objs, &bs, err);
	if (!r)
		s->bs = bs;
	pthread_mutex_unlock(&s->lock);
	return r;
}

void k8s_source_count_bad(struct k8s_source *s, const char *kind)
{
	for (int k = 0; k < K8S_NKINDS; k++)
		if (!strcmp(k8s_kind_name(k), kind)) {
			pthread_mutex_lock(&s->lock);
			s->bs.bad[k]++;
			pthread_mutex_unlock(&s->lock);
		}
}

void k8s_source_stats(struct k8s_source *s, struct k8s_kind_stats ks[K8S_NKINDS],
		      struct k8s_build_stats *bs)
{
	k8s_watch_stats(s->w, ks);
	pthread_mutex_lock(&s->lock);
	*bs = s->bs;
	pthread_mutex_unlock(&s->lock);
}

void k8s_source_metrics(struct k8s_source *s, FILE *f)
{
	struct k8s_kind_stats ks[K8S_NKINDS];
	struct k8s_build_stats bs;

	k8s_source_stats(s, ks, &bs);
	k8s_metrics_render(f, ks, &bs);
}

void k8s_source_stop(struct k8s_source *s)
{
	if (!s)
		return;
	k8s_watch_stop(s->w);
	if (s->pipe[0] >= 0)
		close(s->pipe[0]);
	if (s->pipe[1] >= 0)
		close(s->pipe[1]);
	k8s_store_free(&s->store);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
