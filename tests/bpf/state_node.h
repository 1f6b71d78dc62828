/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * state_node.h - the fixture of the BPF tests that commit state (test_state,
 * test_once): a node is a datapath's maps, loaded (split_sock) and pinned
 * under a per-run bpffs dir, /sys/fs/bpf/split-test-NODE_TAG-PID-N, with a
 * state handle on them. Nothing is attached. Every dir made is removed
 * when the binary ends, also on a signal or a sanitizer's report.
 * Define NODE_TAG before including.
 */
#ifndef SPLIT_TEST_STATE_NODE_H
#define SPLIT_TEST_STATE_NODE_H

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "mapsize.h"
#include "split_sock.skel.h"
#include "state.h"
#include "test.h"
#include "util.h"

#define NODE_MAX 32

struct node {
	char pin[128];
	struct split_sock *skel;
	struct split_state st;
	int open;
};

static int node_seq;
static char node_made[NODE_MAX][128];	/* pin dirs made: removed at exit */

static void node_remove_all(void)
{
	struct stat sb;

	for (int i = 0; i < node_seq && i < NODE_MAX; i++)
		if (node_made[i][0] && !stat(node_made[i], &sb))
			split_unload(node_made[i], NULL);	/* its --once record too */
}

__attribute__((constructor)) static void node_remove_at_exit(void)
{
	test_at_exit(node_remove_all);
}

/* A fresh node, its maps sized by sz (NULL: the defaults). 0, or -1. */
static int node_up(struct node *n, const struct split_map_sizes *sz)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo);
	struct split_map_sizes def;
	struct split_err err;

	memset(n, 0, sizeof(*n));
	if (node_seq >= NODE_MAX) {
		errno = ENOSPC;
		return -1;
	}
	snprintf(n->pin, sizeof(n->pin), "/sys/fs/bpf/split-test-%s-%d-%d", NODE_TAG, getpid(),
		 node_seq);
	snprintf(node_made[node_seq++], sizeof(node_made[0]), "%s", n->pin);
	split_log_level = LOG_LVL_WARN;
	if (mkdir(n->pin, 0700))
		return -1;
	if (!sz) {
		split_map_sizes_default(&def);
		sz = &def;
	}
	oo.pin_root_path = n->pin;
	n->skel = split_sock__open_opts(&oo);
	if (!n->skel || split_map_sizes_set(n->skel->obj, sz) || split_sock__load(n->skel))
		return -1;
	if (split_state_open(&n->st, n->pin, &err)) {
		fprintf(stderr, "  %s\n", err.msg);
		return -1;
	}
	n->open = 1;
	return 0;
}

static void node_down(struct node *n)
{
	if (n->open)
		split_state_close(&n->st);
	split_sock__destroy(n->skel);
	if (n->pin[0])
		split_unload(n->pin, NULL);
	memset(n, 0, sizeof(*n));
}

#endif
