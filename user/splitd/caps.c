// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* caps.c - see caps.h. Raw capget/capset: no libcap needed. */
#include <errno.h>
#include <linux/capability.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "caps.h"
#include "log.h"

static const int keep[] = { CAP_BPF, CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_PERFMON,
			    CAP_NET_BIND_SERVICE };

static int kept(int cap)
{
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		if (keep[i] == cap)
			return 1;
	return 0;
}

int splitd_drop_caps(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];
	uint64_t eff, perm, mask = 0;
	int dropped = 0;

	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		mask |= 1ULL << keep[i];
	if (syscall(SYS_capget, &h, d)) {
		pr_warn("capget: %s\n", strerror(errno));
		return -1;
	}
	eff = d[0].effective | (uint64_t)d[1].effective << 32;
	perm = d[0].permitted | (uint64_t)d[1].permitted << 32;
	/* Bounding set first: that needs CAP_SETPCAP, which goes next. The
	 * kernel may know more capabilities than our headers. */
	for (int cap = 0; cap < 64; cap++) {
		int r = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);

		if (r < 0)
			break;
		if (r == 1 && !kept(cap)) {
			if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)) {
				pr_warn("dropping capability %d from the bounding set: %s\n",
					cap, strerror(errno));
				return -1;
			}
			dropped++;
		}
	}
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	eff &= mask;
	perm &= mask;
	d[0].effective = (uint32_t)eff;
	d[1].effective = (uint32_t)(eff >> 32);
	d[0].permitted = (uint32_t)perm;
	d[1].permitted = (uint32_t)(perm >> 32);
	d[0].inheritable = d[1].inheritable = 0;
	if (syscall(SYS_capset, &h, d)) {
		pr_warn("capset: %s\n", strerror(errno));
		return -1;
	}
	pr_info("capabilities: kept %s%s%s%s%s; %d others dropped\n",
		eff & (1ULL << CAP_BPF) ? "BPF " : "",
		eff & (1ULL << CAP_SYS_ADMIN) ? "SYS_ADMIN " : "",
		eff & (1ULL << CAP_NET_ADMIN) ? "NET_ADMIN " : "",
		eff & (1ULL << CAP_PERFMON) ? "PERFMON " : "",
		eff & (1ULL << CAP_NET_BIND_SERVICE) ? "NET_BIND_SERVICE " : "", dropped);
	return 0;
}
