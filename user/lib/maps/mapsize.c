// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* mapsize.c - sizes of the preallocated maps; see mapsize.h. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "log.h"
#include "mapsize.h"
#include "split_common.h"

void split_map_sizes_default(struct split_map_sizes *sz)
{
	sz->ct = SPLIT_MAX_CT;
	sz->sock_nat = SPLIT_MAX_SOCK_NAT;
	sz->table_cells = SPLIT_SLOT_CELLS;
}

int split_map_size_parse(const char *s, __u32 min, __u32 max, __u32 *out)
{
	unsigned long long v = 0, mul = 1;
	const char *p = s;

	if (!*p)
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (unsigned long long)(*p - '0');
		if (v > UINT_MAX)
			return -ERANGE;
	}
	if (p == s)
		return -EINVAL;
	if (*p == 'k' || *p == 'K')
		mul = 1024, p++;
	else if (*p == 'm' || *p == 'M')
		mul = 1024 * 1024, p++;
	if (*p)
		return -EINVAL;
	v *= mul;
	if (v < min || v > max)
		return -ERANGE;
	*out = (__u32)v;
	return 0;
}

static int pinned_max(const char *pin_dir, const char *name, __u32 *max)
{
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info);
	char path[PATH_MAX];
	int fd, ret;

	snprintf(path, sizeof(path), "%s/%s", pin_dir, name);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -1;
	ret = bpf_obj_get_info_by_fd(fd, &info, &len);
	close(fd);
	if (ret)
		return -1;
	*max = info.max_entries;
	return 0;
}

static void adopt(const char *pin_dir, const char *name, const char *opt, __u32 *want,
		  int explicit)
{
	__u32 have;

	if (pinned_max(pin_dir, name, &have) || have == *want)
		return;
	if (explicit)
		pr_warn("%s: %s is pinned with %u entries and keeps them (splitd --unload, then start again, to resize)\n",
			opt, name, have);
	*want = have;
}

void split_map_sizes_pinned(const char *pin_dir, struct split_map_sizes *sz, int explicit)
{
	adopt(pin_dir, SPLIT_MAP_CT, "--ct-max", &sz->ct, explicit & SPLIT_SIZE_CT);
	adopt(pin_dir, SPLIT_MAP_SOCK_NAT, "--sock-nat-max", &sz->sock_nat,
	      explicit & SPLIT_SIZE_SOCK_NAT);
	adopt(pin_dir, SPLIT_MAP_SLOTS, "--table-cells", &sz->table_cells,
	      explicit & SPLIT_SIZE_TABLE_CELLS);
}

int split_map_sizes_set(struct bpf_object *obj, const struct split_map_sizes *sz)
{
	static const struct { const char *name; size_t off; } maps[] = {
		{ SPLIT_MAP_CT, offsetof(struct split_map_sizes, ct) },
		{ SPLIT_MAP_CT_REV, offsetof(struct split_map_sizes, ct) },
		{ SPLIT_MAP_SOCK_NAT, offsetof(struct split_map_sizes, sock_nat) },
		{ SPLIT_MAP_UDP_AFF, offsetof(struct split_map_sizes, sock_nat) },
		{ SPLIT_MAP_SLOTS, offsetof(struct split_map_sizes, table_cells) },
	};

	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
		struct bpf_map *m = bpf_object__find_map_by_name(obj, maps[i].name);
		__u32 v;

		if (!m)
			continue;
		int r;

		memcpy(&v, (const char *)sz + maps[i].off, sizeof(v));
		if ((r = bpf_map__set_max_entries(m, v)))
			return r;
	}
	return 0;
}

int split_map_mem(const char *pin_dir, const char *name, __u32 *max_entries, __u64 *bytes)
{
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info);
	char path[PATH_MAX], line[256];
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", pin_dir, name);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -errno;
	if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
		int e = errno;

		close(fd);
		return -e;
	}
	*max_entries = info.max_entries;
	*bytes = 0;
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long long v;

		if (sscanf(line, "memlock: %llu", &v) == 1)
			*bytes = v;
	}
	if (f)
		fclose(f);
	close(fd);
	return 0;
}
