/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * model.c - small helpers of the in-memory model: errors, addresses, and
 * freeing services and configs.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "model.h"

const char *split_addr_str(const struct split_addr *a, char *buf, size_t len)
{
	const char *s = NULL;

	if (!buf || !len)
		return buf;
	if (a && a->family == 4)
		s = inet_ntop(AF_INET, a->bytes, buf, len);
	else if (a && a->family == 6)
		s = inet_ntop(AF_INET6, a->bytes, buf, len);
	if (!s)
		snprintf(buf, len, "?");
	return buf;
}

const char *split_addr_port_str(const struct split_addr *a, uint16_t port,
				char *buf, size_t len)
{
	char ip[64];

	split_addr_str(a, ip, sizeof(ip));
	snprintf(buf, len, a->family == 6 ? "[%s]:%u" : "%s:%u", ip, port);
	return buf;
}

int split_grow(void **arr, size_t *cap, size_t n, size_t sz)
{
	size_t ncap;
	void *p;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 8;
	if (ncap > SIZE_MAX / sz)
		return -EOVERFLOW;
	p = realloc(*arr, ncap * sz);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

int split_addr_parse(const char *s, struct split_addr *a)
{
	struct split_addr tmp;

	if (!s || !a)
		return -EINVAL;
	memset(&tmp, 0, sizeof(tmp));
	/* inet_pton is strict: no spaces, no leading zeros in IPv4, no
	 * zone ids, no short forms such as "10.1". */
	if (inet_pton(AF_INET, s, tmp.bytes) == 1)
		tmp.family = 4;
	else if (inet_pton(AF_INET6, s, tmp.bytes) == 1)
		tmp.family = 6;
	else
		return -EINVAL;
	*a = tmp;
	return 0;
}

int split_addr_port_parse(const char *s, struct split_addr *a, uint16_t *port)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *end, *ps;
	struct split_addr tmp;
	unsigned long v = 0;
	size_t hlen;

	if (!s || !a || !port)
		return -EINVAL;
	if (s[0] == '[') {	/* [IPV6]:PORT */
		end = strchr(s, ']');
		if (!end || end[1] != ':')
			return -EINVAL;
		s++;
		ps = end + 2;
	} else {		/* IPV4:PORT */
		end = strrchr(s, ':');
		if (!end)
			return -EINVAL;
		ps = end + 1;
	}
	hlen = (size_t)(end - s);
	if (hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hlen);
	host[hlen] = 0;
	/* a bracketed address is IPv6, an unbracketed one IPv4 */
	if (split_addr_parse(host, &tmp) || tmp.family != (ps == end + 2 ? 6 : 4))
		return -EINVAL;
	if (!*ps || strlen(ps) > 5)
		return -EINVAL;
	for (const char *c = ps; *c; c++) {
		if (*c < '0' || *c > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(*c - '0');
	}
	if (v > 65535)
		return -EINVAL;
	*a = tmp;
	*port = (uint16_t)v;
	return 0;
}

void split_service_free(struct split_service *svc)
{
	if (!svc)
		return;
	free(svc->ports);
	free(svc->eps);
	free(svc->versions);
	memset(svc, 0, sizeof(*svc));
}

void split_config_free(struct split_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->nsvcs && cfg->svcs; i++)
		split_service_free(&cfg->svcs[i]);
	free(cfg->svcs);
	memset(cfg, 0, sizeof(*cfg));
}
