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
 *
 * tables_v3 is dumped by what its tables hold, not where: one line per
 * table id, "tables_v3 KEYHEX KIND NSLOTS FNV64" over the table's slots
 * (a small table's cells of slots_v3 at its offset, a big table's inner
 * map of big_v4). Offsets in slots_v3, inner map ids and the tombstones of
 * freed cells depend on the history of the maps, not on their state, so
 * they are left out; slots_v3 and big_v4 need not be named.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "split_common.h"

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

/* Slot s of a small table at base in slots_v3 (fd): its backend id, or -1. */
static long long slot_of(int fd, __u32 base, __u32 s)
{
	struct split_slot_pair pr;
	__u32 cell = (base + s) / 2;

	if (bpf_map_lookup_elem(fd, &cell, &pr))
		return -1;
	return pr.backend_id[(base + s) & 1];
}

static int open_in(const char *dir, const char *name)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return bpf_obj_get(path);
}

/* tables_v3 by content (see the top of this file). */
static int dump_tables(const char *dir)
{
	int tfd = open_in(dir, SPLIT_MAP_TABLES), sfd = open_in(dir, SPLIT_MAP_SLOTS);
	int bfd = open_in(dir, SPLIT_MAP_BIG_TABLES), ret = -1;
	__u32 k, cur, *prev = NULL;
	struct split_table_val tv;

	if (tfd < 0 || sfd < 0 || bfd < 0) {
		fprintf(stderr, "mapdump: %s: %s, %s, %s: %s\n", dir, SPLIT_MAP_TABLES,
			SPLIT_MAP_SLOTS, SPLIT_MAP_BIG_TABLES, strerror(errno));
		goto out;
	}
	while (!bpf_map_get_next_key(tfd, prev, &k)) {
		static struct split_big_table big;
		unsigned long long h = 0xcbf29ce484222325ULL;
		int ifd = -1, fd = sfd;
		__u32 base = 0, id, zero = 0;

		cur = k;
		prev = &cur;
		if (k & SPLIT_TBL_TOMB)
			continue;	/* freed cells: history */
		if (bpf_map_lookup_elem(tfd, &k, &tv)) {
			if (errno == ENOENT)
				continue;
			goto fail;
		}
		if (tv.kind == SPLIT_TBL_SMALL) {
			base = tv.offset;
		} else if (tv.kind == SPLIT_TBL_BIG) {
			if (bpf_map_lookup_elem(bfd, &k, &id))
				goto fail;
			ifd = bpf_map_get_fd_by_id(id);
			if (ifd < 0)
				goto fail;
			if (bpf_map_lookup_elem(ifd, &zero, &big) || tv.nslots > SPLIT_TABLE_SLOTS) {
				close(ifd);
				goto fail;
			}
		}
		for (__u32 s = 0; tv.kind != SPLIT_TBL_FREED && s < tv.nslots; s++) {
			long long b = ifd < 0 ? slot_of(fd, base, s) :	/* a big table: k */
				      big.k[s] ? SPLIT_BACKEND_ID(SPLIT_TABLE_SVC(k), big.k[s]) : 0;
			__u32 v = (__u32)b;

			if (b < 0) {
				if (ifd >= 0)
					close(ifd);
				goto fail;
			}
			h = fnv(h, (const unsigned char *)&v, sizeof(v));
		}
		if (ifd >= 0)
			close(ifd);
		printf("%s ", SPLIT_MAP_TABLES);
		hex((const unsigned char *)&k, sizeof(k));
		printf(" %u %u %016llx\n", tv.kind, tv.nslots, h);
	}
	ret = 0;
	goto out;
fail:
	fprintf(stderr, "mapdump: %s/%s: table %u: %s\n", dir, SPLIT_MAP_TABLES, k,
		strerror(errno));
out:
	if (tfd >= 0)
		close(tfd);
	if (sfd >= 0)
		close(sfd);
	if (bfd >= 0)
		close(bfd);
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
			"entry gives its inner map's entry count and FNV-64 of its content;\n"
			SPLIT_MAP_TABLES " gives each table's kind, slot count and FNV-64 of its\n"
			"slots (wherever they are in " SPLIT_MAP_SLOTS " or " SPLIT_MAP_BIG_TABLES ").\n");
		return argc < 3 ? 2 : 0;
	}
	for (int i = 2; i < argc; i++)
		ret |= strcmp(argv[i], SPLIT_MAP_TABLES) ? dump(argv[1], argv[i]) :
							     dump_tables(argv[1]);
	return ret ? 1 : 0;
}
