// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * mapdump.c - test helper: the content of pinned maps, byte for byte, in a
 * form two states can be compared with (cmp, diff).
 *
 *   mapdump PIN_DIR MAP...
 *
 * One line per entry, "MAP KEYHEX VALUEHEX", in key order (a hash map's
 * walk order depends on its history, not on what it holds). For a
 * map-of-maps the value is the inner map's content instead of its id
 * (ids change with every swap): "inner N FNV64" over all its values in
 * key order. Output is sorted by the caller (sort). Exit 0, or 1 when a
 * map cannot be read.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

static void hex(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf("%02x", p[i]);
}

static unsigned long long fnv(unsigned long long h, const unsigned char *p, size_t n)
{
	while (n--)
		h = (h ^ *p++) * 0x100000001b3ULL;
	return h;
}

/* Every value of an inner map, in key walk order (an array: index order). */
static int inner(int id)
{
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info);
	unsigned long long h = 0xcbf29ce484222325ULL;
	unsigned char *k, *prev = NULL, *cur, *v;
	size_t n = 0;
	int fd = bpf_map_get_fd_by_id((__u32)id), ret = -1;

	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
		goto out_fd;
	k = calloc(1, info.key_size);
	cur = calloc(1, info.key_size);
	v = calloc(1, info.value_size);
	if (!k || !cur || !v)
		goto out;
	while (!bpf_map_get_next_key(fd, prev, k)) {
		memcpy(cur, k, info.key_size);
		prev = cur;
		if (bpf_map_lookup_elem(fd, k, v))
			goto out;
		h = fnv(fnv(h, k, info.key_size), v, info.value_size);
		n++;
	}
	printf("inner %zu %016llx", n, h);
	ret = 0;
out:
	free(k);
	free(cur);
	free(v);
out_fd:
	if (fd >= 0)
		close(fd);
	return ret;
}

static int dump(const char *dir, const char *name)
{
	char path[4096];
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info);
	unsigned char *k = NULL, *cur = NULL, *v = NULL, *prev = NULL;
	int fd, ret = -1, mom;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = bpf_obj_get(path);
	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len)) {
		fprintf(stderr, "mapdump: %s: %s\n", path, strerror(errno));
		goto out;
	}
	mom = info.type == BPF_MAP_TYPE_ARRAY_OF_MAPS || info.type == BPF_MAP_TYPE_HASH_OF_MAPS;
	k = calloc(1, info.key_size);
	cur = calloc(1, info.key_size);
	v = calloc(1, info.value_size < 8 ? 8 : info.value_size);
	if (!k || !cur || !v)
		goto out;
	while (!bpf_map_get_next_key(fd, prev, k)) {
		memcpy(cur, k, info.key_size);
		prev = cur;
		if (bpf_map_lookup_elem(fd, k, v)) {
			if (errno == ENOENT)
				continue;
			fprintf(stderr, "mapdump: %s: lookup: %s\n", path, strerror(errno));
			goto out;
		}
		printf("%s ", name);
		hex(k, info.key_size);
		printf(" ");
		if (mom) {
			if (inner(*(int *)v)) {
				fprintf(stderr, "mapdump: %s: inner map %d: %s\n", path,
					*(int *)v, strerror(errno));
				goto out;
			}
		} else {
			hex(v, info.value_size);
		}
		printf("\n");
	}
	ret = 0;
out:
	free(k);
	free(cur);
	free(v);
	if (fd >= 0)
		close(fd);
	return ret;
}

int main(int argc, char **argv)
{
	int ret = 0;

	if (argc < 3 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		fprintf(argc < 3 ? stderr : stdout, "Usage: mapdump PIN_DIR MAP...\n"
			"Entries of pinned maps as MAP KEYHEX VALUEHEX lines; a map-of-maps\n"
			"entry gives its inner map's entry count and FNV-64 of its content.\n");
		return argc < 3 ? 2 : 0;
	}
	for (int i = 2; i < argc; i++)
		ret |= dump(argv[1], argv[i]);
	return ret ? 1 : 0;
}
