// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* k8s_apply.c - see k8s_apply.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apply.h"
#include "k8s_apply.h"
#include "log.h"
#include "metrics.h"
#include "metrics_http.h"
#include "ops.h"
#include "stats.h"

/* The object err names ("VirtualService default/reviews: ..."), or -1. */
static long culprit(const struct split_objs *objs, const char *msg)
{
	for (size_t i = 0; i < objs->n; i++) {
		char id[SPLIT_KIND_LEN + 2 * SPLIT_NAME_LEN + 4];

		snprintf(id, sizeof(id), "%s %s/%s", objs->v[i].kind, objs->v[i].ns,
			 objs->v[i].name);
		if (strstr(msg, id))
			return (long)i;
	}
	return -1;
}

static int try_apply(struct split_state *st, const struct split_config *cfg,
		     const struct split_objs *objs, struct split_err *err)
{
	struct split_config file = { 0 };
	int ret = -1;

	if (split_config_dup(cfg, &file))
		return split_errc(err, ENOMEM, "out of memory");
	if (split_state_lock(st, err))
		goto out;
	if (!split_state_merge(st, &file, err) &&
	    !split_apply(st, &file, objs, NULL, err)) {
		ret = 0;
		pr_info("applied from the Kubernetes API: %zu services, %zu Istio objects\n",
			file.nsvcs, objs->n);
	}
	split_state_unlock(st);
out:
	split_config_free(&file);
	return ret;
}

int k8s_apply(struct split_state *st, struct k8s_source *ks)
{
	struct split_config cfg = { 0 };
	struct split_objs objs = { 0 };
	struct split_err err;
	int ret = -1;

	if (k8s_source_build(ks, &cfg, &objs, &err)) {
		pr_warn("k8s: %s (the state in force is unchanged)\n", err.msg);
		return -1;
	}
	for (;;) {
		long bad;
		struct split_objs one = { 0 };

		if (!try_apply(st, &cfg, &objs, &err)) {
			ret = 0;
			break;
		}
		bad = culprit(&objs, err.msg);
		if (bad < 0) {
			pr_warn("k8s: %s (the state in force is unchanged)\n", err.msg);
			break;
		}
		pr_warn("k8s: %s: left out\n", err.msg);
		k8s_source_count_bad(ks, objs.v[bad].kind);
		one.n = 1;
		{
			struct split_obj gone = objs.v[bad];

			one.v = &gone;
			split_objs_remove(&objs, &one);
		}
	}
	split_config_free(&cfg);
	split_objs_free(&objs);
	return ret;
}

struct render_arg {
	const char *pin_dir;
	struct k8s_source *ks;
};

static int render(FILE *f, void *p)
{
	struct render_arg *a = p;
	struct split_stats st;
	struct split_err err;
	int r;

	if (split_stats_read(a->pin_dir, &st, &err)) {
		fprintf(f, "reading the counters: %s\n", err.msg);
		return -1;
	}
	r = split_metrics_render(f, &st);
	split_stats_free(&st);
	k8s_source_metrics(a->ks, f);
	return r;
}

void k8s_metrics_handle(int listen_fd, const char *pin_dir, struct k8s_source *ks)
{
	struct render_arg a = { pin_dir, ks };

	split_metrics_handle_with(listen_fd, render, &a);
}
