// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * k8s_dump - watch the Kubernetes API the way splitd --source kubernetes
 * does (same client, store, debounce and build) and print every model it
 * builds, for the contract tests (tests/k8s/test_k8s_api.sh):
 *
 *   === model N
 *   service default/reviews ... (k8s_model_print)
 *   stats KIND lists=.. relists_gone=.. watches=.. watch_ends=.. events=..
 *         bookmarks=.. errors=.. throttled=.. version=..
 *   bad KIND N ...
 *   === end N
 *
 * Stops on SIGTERM/SIGINT. No root, no BPF.
 */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s_source.h"
#include "log.h"
#include "../lib/tutil.h"

static volatile sig_atomic_t done;

static void on_sig(int s)
{
	(void)s;
	done = 1;
}

static const struct tu_opt opts[] = {
	{ "kubeconfig", 'k', "FILE", "the kubeconfig to read" },
	{ "context", 'x', "NAME", "its context (default: the current one)" },
	{ "server", 's', "URL", "the API server, without a kubeconfig" },
	{ "token-file", 't', "FILE", "with --server: the bearer token" },
	{ "ca-file", 'a', "FILE", "with --server: the CA to trust" },
	{ "files", 'f', "PATH", "print the model of these files, the same way, and exit" },
	{ "verbose", 'v', NULL, "debug messages" },
	{ 0 },
};

static const struct tu_cmd cmd = {
	.synopsis = "[--kubeconfig FILE [--context NAME]] [--server URL --token-file F --ca-file F] [-v]\n"
		    "       k8s_dump --files PATH",
	.about = "Watch the API as splitd --source kubernetes does; print each model built.\n",
	.shorts = "v",
	.opts = opts,
};

int main(int argc, char **argv)
{
	struct k8s_source_opts o = { 0 };
	struct k8s_source *ks;
	struct split_err err;
	struct sigaction sa = { .sa_handler = on_sig };
	int c, n = 0;

	split_log_prog = "k8s_dump";
	while ((c = tu_getopt(argc, argv, &cmd)) != -1) {
		switch (c) {
		case 'k': o.kubeconfig = optarg; break;
		case 'x': o.context = optarg; break;
		case 's': o.server = optarg; break;
		case 't': o.token_file = optarg; break;
		case 'a': o.ca_file = optarg; break;
		case 'v': split_log_level = LOG_LVL_DEBUG; break;
		case 'f': {
			/* The model of files, printed the same way (the differential test). */
			const char *paths[] = { optarg };
			struct split_input in = { 0 };

			if (split_input_load(paths, 1, &in, &err) ||
			    split_input_check(&in, &err)) {
				fprintf(stderr, "k8s_dump: %s\n", err.msg);
				split_input_free(&in);
				return 1;
			}
			k8s_model_print(stdout, &in.svcs, &in.objs);
			split_input_free(&in);
			return 0;
		}
		}
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	ks = k8s_source_start(&o, &err);
	if (!ks) {
		fprintf(stderr, "k8s_dump: %s\n", err.msg);
		return 1;
	}
	while (!done) {
		struct pollfd p = { .fd = k8s_source_fd(ks), .events = POLLIN };
		struct k8s_kind_stats st[K8S_NKINDS];
		struct k8s_build_stats bs;
		struct split_config cfg = { 0 };
		struct split_objs objs = { 0 };
		int t = k8s_source_timeout(ks);

		poll(&p, 1, t < 0 || t > 500 ? 500 : t);
		if (!k8s_source_due(ks))
			continue;
		if (k8s_source_build(ks, &cfg, &objs, &err)) {
			fprintf(stderr, "k8s_dump: %s\n", err.msg);
			continue;
		}
		n++;
		k8s_source_stats(ks, st, &bs);
		printf("=== model %d\n", n);
		k8s_model_print(stdout, &cfg, &objs);
		for (int k = 0; k < K8S_NKINDS; k++)
			printf("stats %s lists=%llu relists_gone=%llu watches=%llu watch_ends=%llu events=%llu bookmarks=%llu errors=%llu throttled=%llu pages=%llu version=%s\n",
			       k8s_kind_name(k), (unsigned long long)st[k].lists,
			       (unsigned long long)st[k].relists_gone, (unsigned long long)st[k].watches,
			       (unsigned long long)st[k].watch_ends, (unsigned long long)st[k].events,
			       (unsigned long long)st[k].bookmarks, (unsigned long long)st[k].errors,
			       (unsigned long long)st[k].throttled, (unsigned long long)st[k].list_pages,
			       st[k].version[0] ? st[k].version : "-");
		for (int k = 0; k < K8S_NKINDS; k++)
			printf("bad %s %llu\n", k8s_kind_name(k), (unsigned long long)bs.bad[k]);
		printf("=== end %d\n", n);
		fflush(stdout);
		split_config_free(&cfg);
		split_objs_free(&objs);
	}
	k8s_source_stop(ks);
	return 0;
}
