// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* ops.c - model operations shared by splitd and splitctl. See state.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "state.h"

static int svc_matches(const struct split_service *s, const char *ref)
{
	size_t nl = strlen(s->name), sl = strlen(s->ns);

	if (!strcmp(ref, s->name))
		return 1;
	/* name.namespace */
	if (!strncmp(ref, s->name, nl) && ref[nl] == '.' &&
	    !strcmp(ref + nl + 1, s->ns))
		return 2;
	/* namespace/name */
	if (!strncmp(ref, s->ns, sl) && ref[sl] == '/' &&
	    !strcmp(ref + sl + 1, s->name))
		return 2;
	return 0;
}

int split_config_find(const struct split_config *cfg, const char *ref,
		      struct split_err *err)
{
	int found = -1, nshort = 0;

	for (size_t i = 0; i < cfg->nsvcs; i++) {
		int m = svc_matches(&cfg->svcs[i], ref);

		if (m == 2)
			return (int)i;
		if (m == 1) {
			if (found < 0)
				found = (int)i;
			nshort++;
		}
	}
	if (nshort > 1)
		return split_errf(err,
				  "service '%s' exists in %d namespaces: say NAME.NAMESPACE",
				  ref, nshort);
	if (found < 0) {
		size_t off;

		split_errc(err, ENOENT, "unknown service '%s'", ref);
		if (!err)
			return -ENOENT;
		off = strlen(err->msg);
		for (size_t i = 0; i < cfg->nsvcs && off < sizeof(err->msg) - 80; i++)
			off += snprintf(err->msg + off, sizeof(err->msg) - off,
					"%s%s.%s", i ? ", " : " (services: ",
					cfg->svcs[i].name, cfg->svcs[i].ns);
		if (cfg->nsvcs && off < sizeof(err->msg) - 1)
			snprintf(err->msg + off, sizeof(err->msg) - off, ")");
		else if (!cfg->nsvcs)
			snprintf(err->msg + off, sizeof(err->msg) - off,
				 " (no services are loaded)");
		return -ENOENT;
	}
	return found;
}

static struct split_version *find_version(const struct split_service *s,
					  const char *name)
{
	for (size_t i = 0; i < s->nversions; i++)
		if (!strcmp(s->versions[i].name, name))
			return &s->versions[i];
	return NULL;
}

static int version_cmp(const void *a, const void *b)
{
	return strcmp(((const struct split_version *)a)->name,
		      ((const struct split_version *)b)->name);
}

static size_t version_endpoints(const struct split_service *s, const char *v)
{
	size_t n = 0;

	for (size_t i = 0; i < s->neps; i++)
		n += !strcmp(s->eps[i].version, v);
	return n;
}

static int svc_ptr_cmp(const void *a, const void *b)
{
	const struct split_service *x = *(const struct split_service *const *)a;
	const struct split_service *y = *(const struct split_service *const *)b;
	int c = strcmp(x->ns, y->ns);

	return c ? c : strcmp(x->name, y->name);
}

int split_service_index(const struct split_config *cfg,
			const struct split_service ***idx)
{
	const struct split_service **v = calloc(cfg->nsvcs + 1, sizeof(*v));

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->nsvcs; i++)
		v[i] = &cfg->svcs[i];
	qsort(v, cfg->nsvcs, sizeof(*v), svc_ptr_cmp);
	*idx = v;
	return 0;
}

const struct split_service *split_service_lookup(const struct split_service **idx,
						 size_t n, const char *ns,
						 const char *name)
{
	struct split_service key;
	const struct split_service *kp = &key, **hit;

	snprintf(key.ns, sizeof(key.ns), "%s", ns);
	snprintf(key.name, sizeof(key.name), "%s", name);
	hit = bsearch(&kp, idx, n, sizeof(*idx), svc_ptr_cmp);
	return hit ? *hit : NULL;
}

int split_config_merge(struct split_config *file, const struct split_config *old,
		       struct split_err *err)
{
	const struct split_service **oidx;

	if (split_service_index(old, &oidx))
		return split_errc(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < file->nsvcs; i++) {
		struct split_service *s = &file->svcs[i];
		const struct split_service *o = split_service_lookup(oidx, old->nsvcs, s->ns, s->name);

		if (o && o->routed && split_service_merge(s, o)) {
			free(oidx);
			return split_errc(err, ENOMEM, "out of memory");
		}
	}
	free(oidx);
	return 0;
}

int split_service_merge(struct split_service *s, const struct split_service *o)
{
	size_t extra = 0, n;
	struct split_version *v;

	for (size_t j = 0; j < o->nversions; j++)
		extra += o->versions[j].weight && !find_version(s, o->versions[j].name);
	v = realloc(s->versions, (s->nversions + extra + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	s->versions = v;
	for (size_t j = 0; j < s->nversions; j++) {
		const struct split_version *ov = find_version(o, s->versions[j].name);

		s->versions[j].weight = ov ? ov->weight : 0;
	}
	n = s->nversions;
	for (size_t j = 0; j < o->nversions; j++)
		if (o->versions[j].weight && !find_version(s, o->versions[j].name))
			s->versions[n++] = o->versions[j];
	s->nversions = n;
	qsort(s->versions, s->nversions, sizeof(*s->versions), version_cmp);
	s->routed = true;
	return 0;
}

/* Strict non-negative decimal integer, no sign, no spaces. */
static int parse_weight(const char *s, uint32_t *out)
{
	unsigned long v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > SPLIT_MAX_WEIGHT)
			return -ERANGE;
	}
	*out = (uint32_t)v;
	return 0;
}

static void list_versions(const struct split_service *s, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = 0;
	for (size_t i = 0; i < s->nversions && off + 1 < len; i++)
		off += snprintf(buf + off, len - off, "%s%s", i ? ", " : "",
				s->versions[i].name);
}

int split_config_set_weights(struct split_config *cfg, size_t idx, int argc,
			     char **argv, struct split_err *err)
{
	struct split_service *s = &cfg->svcs[idx];
	uint32_t *w;
	uint64_t sum = 0;
	char names[256];
	int ret = -EINVAL;

	list_versions(s, names, sizeof(names));
	if (argc < 1)
		return split_errf(err, "no weights given: say VERSION=WEIGHT ... (versions of %s: %s)",
				  s->name, names);
	w = calloc(s->nversions + 1, sizeof(*w));
	if (!w)
		return split_errc(err, ENOMEM, "out of memory");
	for (int i = 0; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		struct split_version *v;
		char vname[SPLIT_NAME_LEN];
		size_t vlen;
		int r;

		if (!eq || eq == argv[i]) {
			split_errf(err, "bad argument '%s': expected VERSION=WEIGHT, e.g. v1=90",
				   argv[i]);
			goto out;
		}
		vlen = (size_t)(eq - argv[i]);
		if (vlen >= sizeof(vname)) {
			split_errf(err, "bad argument '%s': version name too long", argv[i]);
			goto out;
		}
		memcpy(vname, argv[i], vlen);
		vname[vlen] = 0;
		v = find_version(s, vname);
		if (!v) {
			split_errf(err, "service %s has no version '%s' (versions: %s)",
				   s->name, vname, names);
			goto out;
		}
		if (w[v - s->versions]) {
			split_errf(err, "version '%s' given twice", vname);
			goto out;
		}
		r = parse_weight(eq + 1, &w[v - s->versions]);
		if (r == -ERANGE) {
			split_errf(err, "weight of %s is too large: '%s' (at most %d)",
				   vname, eq + 1, SPLIT_MAX_WEIGHT);
			goto out;
		}
		if (r) {
			split_errf(err, "weight of %s must be a non-negative integer, not '%s'",
				   vname, eq + 1);
			goto out;
		}
		/* Remember that it was named, even with weight 0. */
		w[v - s->versions] |= 0x80000000u;
	}
	for (size_t i = 0; i < s->nversions; i++)
		sum += w[i] & 0x7fffffffu;
	if (!sum) {
		split_errf(err, "all weights are 0: %s would have no version to send new connections to",
			   s->name);
		goto out;
	}
	for (size_t i = 0; i < s->nversions; i++)
		s->versions[i].weight = w[i] & 0x7fffffffu;
	s->routed = true;
	ret = 0;
out:
	free(w);
	return ret;
}

void split_config_reset_weights(struct split_config *cfg, size_t idx)
{
	struct split_service *s = &cfg->svcs[idx];
	size_t n = 0;

	for (size_t i = 0; i < s->nversions; i++) {
		size_t e = version_endpoints(s, s->versions[i].name);

		if (!e)
			continue;
		s->versions[n] = s->versions[i];
		s->versions[n++].weight = (uint32_t)e;
	}
	s->nversions = n;
	s->routed = false;
}

static void *dup_array(const void *src, size_t n, size_t size, int *fail)
{
	void *p;

	if (!n)
		return NULL;
	p = malloc(n * size);
	if (!p) {
		*fail = 1;
		return NULL;
	}
	memcpy(p, src, n * size);
	return p;
}

int split_config_dup(const struct split_config *src, struct split_config *dst)
{
	int fail = 0;

	memset(dst, 0, sizeof(*dst));
	if (!src->nsvcs)
		return 0;
	dst->svcs = calloc(src->nsvcs, sizeof(*dst->svcs));
	if (!dst->svcs)
		return -ENOMEM;
	dst->nsvcs = src->nsvcs;
	for (size_t i = 0; i < src->nsvcs; i++) {
		const struct split_service *s = &src->svcs[i];
		struct split_service *d = &dst->svcs[i];

		*d = *s;
		d->ports = dup_array(s->ports, s->nports, sizeof(*s->ports), &fail);
		d->eps = dup_array(s->eps, s->neps, sizeof(*s->eps), &fail);
		d->versions = dup_array(s->versions, s->nversions,
					sizeof(*s->versions), &fail);
	}
	if (fail) {
		split_config_free(dst);
		return -ENOMEM;
	}
	return 0;
}

uint64_t split_bytes_hash(const void *buf, size_t n)
{
	const unsigned char *p = buf;
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ n, w;

	for (; n >= 8; p += 8, n -= 8) {
		memcpy(&w, p, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
		h ^= h >> 29;
	}
	w = 0;
	memcpy(&w, p, n);
	h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
	return h ^ (h >> 32);
}

int split_service_copy(struct split_service *d, const struct split_service *s)
{
	*d = *s;
	d->ports = malloc((s->nports + 1) * sizeof(*s->ports));
	d->eps = malloc((s->neps + 1) * sizeof(*s->eps));
	d->versions = malloc((s->nversions + 1) * sizeof(*s->versions));
	if (!d->ports || !d->eps || !d->versions)
		return -ENOMEM;
	if (s->nports)
		memcpy(d->ports, s->ports, s->nports * sizeof(*s->ports));
	if (s->neps)
		memcpy(d->eps, s->eps, s->neps * sizeof(*s->eps));
	if (s->nversions)
		memcpy(d->versions, s->versions, s->nversions * sizeof(*s->versions));
	return 0;
}

int split_dup_find(const void *keys, size_t n, size_t ksz, size_t *first, size_t *dup)
{
	const unsigned char *k = keys;
	size_t cap = 16, *slot;

	while (cap < 2 * n)
		cap *= 2;
	slot = calloc(cap, sizeof(*slot));	/* index + 1 */
	if (!slot)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		size_t h = (size_t)split_bytes_hash(k + i * ksz, ksz) & (cap - 1);

		for (; slot[h]; h = (h + 1) & (cap - 1))
			if (!memcmp(k + (slot[h] - 1) * ksz, k + i * ksz, ksz)) {
				*first = slot[h] - 1;
				*dup = i;
				free(slot);
				return 1;
			}
		slot[h] = i + 1;
	}
	free(slot);
	return 0;
}

void split_name_dkey(struct split_name_dkey *k, const struct split_service *s)
{
	memset(k, 0, sizeof(*k));
	memcpy(k->ns, s->ns, strnlen(s->ns, sizeof(k->ns) - 1));
	memcpy(k->name, s->name, strnlen(s->name, sizeof(k->name) - 1));
}

void split_vip_dkey(struct split_vip_dkey *k, const struct split_addr *a, uint16_t port,
		    uint8_t proto)
{
	memset(k, 0, sizeof(*k));
	k->addr = *a;
	k->port = port;
	k->proto = proto;
}
