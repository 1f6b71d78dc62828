/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * k8s_source.h - the Kubernetes API as a source of the model, for a poll
 * loop: the watcher's threads fill a store; the loop learns of changes on
 * a file descriptor and, once a burst has settled (quiet_ms without a
 * change, or max_ms after its first change) and every kind has been
 * listed, builds the model (k8s_build) and applies it.
 *
 *   struct k8s_source *ks = k8s_source_start(&o, &err);
 *   poll(... k8s_source_fd(ks) ..., k8s_source_timeout(ks, now));
 *   if (k8s_source_due(ks)) { k8s_source_build(ks, &cfg, &objs, &err); apply }
 */
#ifndef SPLIT_K8S_SOURCE_H
#define SPLIT_K8S_SOURCE_H

#include <stdio.h>

#include "k8s_client.h"

#define K8S_QUIET_MS	200
#define K8S_MAX_MS	1000

struct k8s_source_opts {
	const char *kubeconfig;		/* NULL: in-cluster */
	const char *context;		/* kubeconfig context; NULL: current */
	const char *server;		/* in-cluster overrides */
	const char *token_file;
	const char *ca_file;
	unsigned quiet_ms, max_ms;	/* 0: the defaults */
};

struct k8s_source;

/* Reads the connection settings (errors: a bad kubeconfig, no cluster)
 * and starts watching. */
struct k8s_source *k8s_source_start(const struct k8s_source_opts *o, struct split_err *err);
int k8s_source_fd(struct k8s_source *s);
/* Milliseconds until a model is due, or -1 when nothing is pending. */
int k8s_source_timeout(struct k8s_source *s);
/* Drain the fd; 1 when a model is due now (the burst settled and every
 * kind was listed), then the pending state is cleared. */
int k8s_source_due(struct k8s_source *s);
/* The model of the objects now in the store (see k8s_build). */
int k8s_source_build(struct k8s_source *s, struct split_config *cfg,
		     struct split_objs *objs, struct split_err *err);
/* Objects refused at apply time (a rule naming a version with no
 * endpoint, ...), added to the last build's counts. */
void k8s_source_count_bad(struct k8s_source *s, const char *kind);
/* Prometheus text: the watch counters and the last build's counts. */
void k8s_source_metrics(struct k8s_source *s, FILE *f);
void k8s_source_stats(struct k8s_source *s, struct k8s_kind_stats ks[K8S_NKINDS],
		      struct k8s_build_stats *bs);
void k8s_source_stop(struct k8s_source *s);

#endif
