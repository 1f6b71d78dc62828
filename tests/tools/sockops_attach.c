// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * sockops_attach.c - test helper: load bpf/split_sockops.bpf.c (skeleton)
 * with the maps pinned under PIN_DIR (the same maps splitd uses), attach it
 * to CGROUP and pin the link as PIN_DIR/links/split_sockops, so that
 * `splitd --unload` removes it with the rest.
 *
 *   sockops_attach PIN_DIR CGROUP
 *
 * Until splitd loads and attaches the sockops program itself. Exit 0 on
 * success, 1 on failure (with the reason on stderr).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "split_common.h"
#include "split_sockops.skel.h"
#include "../lib/tutil.h"

int main(int argc, char **argv)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo);
	char path[PATH_MAX];
	struct split_sockops *skel;
	struct bpf_link *link;
	int cg, ret = 1;

	if (argc != 3) {
		fprintf(stderr, "usage: sockops_attach PIN_DIR CGROUP\n");
		return 2;
	}
	libbpf_set_print(tu_libbpf_print);
	oo.pin_root_path = argv[1];
	skel = split_sockops__open_opts(&oo);
	if (!skel || split_sockops__load(skel)) {
		fprintf(stderr, "sockops_attach: loading split_sockops: %s\n", strerror(errno));
		split_sockops__destroy(skel);
		return 1;
	}
	cg = open(argv[2], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg < 0) {
		fprintf(stderr, "sockops_attach: %s: %s\n", argv[2], strerror(errno));
		goto out;
	}
	link = bpf_program__attach_cgroup(skel->progs.split_sockops, cg);
	if (!link) {
		fprintf(stderr, "sockops_attach: attaching to %s: %s\n", argv[2], strerror(errno));
		goto out;
	}
	snprintf(path, sizeof(path), "%s/%s", argv[1], SPLIT_LINK_DIR);
	if (mkdir(path, 0700) && errno != EEXIST)
		fprintf(stderr, "sockops_attach: mkdir %s: %s\n", path, strerror(errno));
	snprintf(path, sizeof(path), "%s/%s/split_sockops", argv[1], SPLIT_LINK_DIR);
	if (bpf_link__pin(link, path))
		fprintf(stderr, "sockops_attach: pinning %s: %s\n", path, strerror(errno));
	else
		ret = 0;
	bpf_link__destroy(link);	/* the pin keeps it attached */
out:
	if (cg >= 0)
		close(cg);
	split_sockops__destroy(skel);
	return ret;
}
