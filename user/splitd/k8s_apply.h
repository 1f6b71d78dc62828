/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * k8s_apply.h - splitd --source kubernetes: the model built from the API
 * (k8s_source.h) goes through the same commit as the files (split_apply:
 * validation, tables, all or nothing), with the weights set by splitctl
 * kept (split_config_merge), as apply_config() does for files. The Istio
 * objects from the API are all the objects (ones gone are removed).
 */
#ifndef SPLITD_K8S_APPLY_H
#define SPLITD_K8S_APPLY_H

#include "k8s_source.h"
#include "state.h"

/* Build and apply. An Istio object that split_apply() refuses (e.g. a
 * route to a version with no endpoint) is logged, counted as bad and left
 * out, and the rest is applied. 0, or -1 with the state in force unchanged. */
int k8s_apply(struct split_state *st, struct k8s_source *ks);

/* GET /metrics: the pinned counters plus the Kubernetes source's. */
void k8s_metrics_handle(int listen_fd, const char *pin_dir, struct k8s_source *ks);

#endif
