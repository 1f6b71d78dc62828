// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * once.c - the record of what `splitd --once` applied, and the path that
 * re-applies one changed service from it (see once.h).
 *
 * The record, /run/split/<pin dir>.once: a header, then one entry per
 * document of the services file in file order. Written whole by a full
 * apply (a new file renamed over the old); after an incremental apply the
 * changed entry is written in place, then the header with the new
 * generation: until that last write the record names a generation that is
 * no longer in force, and is not used.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "files.h"
#include "log.h"
#include "once.h"
#include "ops.h"
#include "services_yaml.h"
#include "util.h"
#include "yaml_tree.h"

#define ONCE_MAGIC	"SPLITONC"
#define ONCE_FORMAT	2
#define ONCE_MAX_LINKS	16	/* the cgroup links pinned under links/ */
/* Totals this close to a limit take the full path, which checks them
 * exactly (the incremental path sees one service). */
#define ONCE_MARGIN	1024

struct once_hdr {
	char magic[8];
	__u32 format;
	__u32 ndocs;
	char boot_id[40];	/* /proc/sys/kernel/random/boot_id */
	__u64 exe[4];		/* the splitd binary: dev, inode, size, mtime (ns) */
	__u32 gen_map_id;	/* the pin dir's generation map */
	__u32 pad;
	__u64 gen;		/* SPLIT_GEN_COMMITTED after the apply */
	/* The file as parsed (its own checks). */
	__u64 nsvcs, nnodes, neps, nvers;
	/* The maps after the apply (the commit's checks). */
	__u64 nvp, m_eps, m_vers;
	/* The datapath as that --once left it: the options it was loaded
	 * and attached with (split_once_same_datapath), and the programs the
	 * links under links/ run, by id (sorted; unique until reboot). */
	__u64 attach_key;
	__u32 nprogs;
	__u32 progs[ONCE_MAX_LINKS];
};

struct once_doc {
	__u64 h[2];		/* two hashes of its bytes */
	__u64 id;		/* its service's namespace and name; 0: none */
	__u64 vip;		/* its service's VIPs and ports */
	__u32 len, nsvcs, neps, nvers, nnodes, pad;
};

struct split_once {
	int fd;			/* the record, open for the update */
	struct once_hdr h;
	size_t changed;		/* index of the changed document; ndocs: none */
	struct once_doc old, now;	/* its entry, and the new one */
	struct split_config cfg;	/* its service, parsed */
};

#define WHY(...) (snprintf(why, wlen, __VA_ARGS__), (void)0)

static __u64 mix(__u64 h, __u64 w)
{
	h = (h ^ w) * 0x9fb21c651e98df25ULL;
	return h ^ (h >> 31);
}

/* The second hash of a document: other constants than split_bytes_hash,
 * and the length at both ends. */
static __u64 bytes_hash2(const char *b, size_t n)
{
	__u64 h = 0x6a09e667f3bcc909ULL ^ ((__u64)n << 1), w;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		memcpy(&w, b + i, 8);
		h = mix(h, w);
	}
	w = 0;
	memcpy(&w, b + i, n - i);
	return mix(mix(h, w), n);
}

static __u64 str_hash(__u64 h, const char *s, size_t max)
{
	size_t n = strnlen(s, max);

	for (size_t i = 0; i < n; i++)
		h = mix(h, (unsigned char)s[i]);
	return mix(h, 0x100 + n);
}

static __u64 svc_id_hash(const struct split_service *s)
{
	return str_hash(str_hash(0x243f6a8885a308d3ULL, s->ns, SPLIT_NAME_LEN), s->name,
			SPLIT_NAME_LEN) | 1;
}

/* The fields of VIPs and ports a commit writes into the VIPs map. */
static __u64 svc_vip_hash(const struct split_service *s)
{
	__u64 h = mix(0x13198a2e03707344ULL, s->nvips * 0x10000 + s->nports);

	for (size_t i = 0; i < s->nvips; i++) {
		__u64 w[2];

		memcpy(w, s->vips[i].bytes, 16);
		h = mix(mix(mix(h, s->vips[i].family), w[0]), w[1]);
	}
	for (size_t i = 0; i < s->nports; i++)
		h = mix(h, (__u64)s->ports[i].port | (__u64)s->ports[i].target_port << 16 |
			   (__u64)s->ports[i].proto << 32);
	return h;
}

static void doc_entry(struct once_doc *e, const char *b, size_t len,
		      const struct split_config *svcs, size_t nnodes)
{
	memset(e, 0, sizeof(*e));
	e->h[0] = split_bytes_hash(b, len);
	e->h[1] = bytes_hash2(b, len);
	e->len = (__u32)len;
	e->nsvcs = (__u32)svcs->nsvcs;
	e->nnodes = (__u32)nnodes;
	for (size_t i = 0; i < svcs->nsvcs; i++) {
		e->neps += (__u32)svcs->svcs[i].neps;
		e->nvers += (__u32)svcs->svcs[i].nversions;
	}
	if (svcs->nsvcs == 1) {
		e->id = svc_id_hash(&svcs->svcs[0]);
		e->vip = svc_vip_hash(&svcs->svcs[0]);
	}
}

/* What this process is and where it runs: the record's key. The file's
 * name is not part of it: the record says what the maps hold, whichever
 * file it came from. */
static int host_key(struct once_hdr *h)
{
	struct stat sb;
	int fd;
	ssize_t n;

	if (stat("/proc/self/exe", &sb))
		return -1;
	h->exe[0] = sb.st_dev;
	h->exe[1] = sb.st_ino;
	h->exe[2] = (__u64)sb.st_size;
	h->exe[3] = (__u64)sb.st_mtim.tv_sec * 1000000000ULL + (__u64)sb.st_mtim.tv_nsec;
	fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, h->boot_id, sizeof(h->boot_id) - 1);
	close(fd);
	return n > 0 ? 0 : -1;
}

static __u32 map_id(int fd)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
		return 0;
	return info.id;
}

static int u32_cmp(const void *a, const void *b)
{
	__u32 x = *(const __u32 *)a, y = *(const __u32 *)b;

	return x < y ? -1 : x > y;
}

/* The programs that the links pinned under pin_dir/links run (ids,
 * sorted, into ids[ONCE_MAX_LINKS]), each link on the cgroup of inode
 * cg_ino (0: any). The count, or -1 (a link that cannot be read, one on
 * another cgroup, more than ONCE_MAX_LINKS). */
static int link_progs(const char *pin_dir, unsigned long cg_ino, __u32 *ids)
{
	char dir[PATH_MAX], path[PATH_MAX + 256];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(dir, sizeof(dir), "%s/%s", pin_dir, SPLIT_LINK_DIR);
	d = opendir(dir);
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		struct bpf_link_info info;
		__u32 len = sizeof(info);
		int fd, bad;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		fd = bpf_obj_get(path);
		memset(&info, 0, sizeof(info));
		bad = fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len) ||
		      info.type != BPF_LINK_TYPE_CGROUP || n >= ONCE_MAX_LINKS ||
		      (cg_ino && info.cgroup.cgroup_id != cg_ino);
		if (fd >= 0)
			close(fd);
		if (bad) {
			closedir(d);
			return -1;
		}
		ids[n++] = info.prog_id;
	}
	closedir(d);
	qsort(ids, (size_t)n, sizeof(*ids), u32_cmp);
	return n;
}

/* The datapath as this run leaves it, into the header: the options it
 * was loaded with and the programs its links run (none: not recorded). */
static void note_datapath(struct once_hdr *h, const char *pin_dir, __u64 attach_key)
{
	int n = link_progs(pin_dir, 0, h->progs);

	h->nprogs = n > 0 ? (__u32)n : 0;
	h->attach_key = attach_key;
}

bool split_once_same_datapath(const struct split_once *o, const char *pin_dir,
			      __u64 attach_key, const char *cgroup, char *why, size_t wlen)
{
	__u32 ids[ONCE_MAX_LINKS];
	struct stat cs;
	int n;

	if (!o->h.nprogs || o->h.attach_key != attach_key) {
		WHY("other options than the last --once (or none recorded)");
		return false;
	}
	if (stat(cgroup, &cs)) {
		WHY("%s: %s", cgroup, strerror(errno));
		return false;
	}
	n = link_progs(pin_dir, cs.st_ino, ids);
	if (n != (int)o->h.nprogs || memcmp(ids, o->h.progs, (size_t)n * sizeof(*ids))) {
		WHY("the pinned links do not run the programs the last --once attached");
		return false;
	}
	return true;
}

static void record_path(char *buf, size_t len, const char *pin_dir)
{
	split_run_path(buf, len, pin_dir, ".once");
}

void split_once_forget(const char *pin_dir)
{
	char path[PATH_MAX];

	record_path(path, sizeof(path), pin_dir);
	unlink(path);
}

void split_once_free(struct split_once *o)
{
	if (!o)
		return;
	if (o->fd >= 0)
		close(o->fd);
	split_config_free(&o->cfg);
	free(o);
}

struct split_once *split_once_plan(const char *pin_dir, const char *path, char *why,
				   size_t wlen)
{
	struct split_once *o = calloc(1, sizeof(*o));
	struct once_hdr key = { 0 };
	const struct once_doc *docs = MAP_FAILED;
	char rpath[PATH_MAX], *b = NULL;
	size_t cap = 0, have = 0, total = 0, dlen = 0, off = 0, i = 0;
	bool eof = false;
	struct stat sb;
	int fd = -1;

	if (!o) {
		WHY("out of memory");
		return NULL;
	}
	o->fd = -1;
	record_path(rpath, sizeof(rpath), pin_dir);
	o->fd = open(rpath, O_RDWR | O_CLOEXEC);
	if (o->fd < 0) {
		WHY("no record of a previous --once (%s)", strerror(errno));
		goto no;
	}
	if (pread(o->fd, &o->h, sizeof(o->h), 0) != (ssize_t)sizeof(o->h) ||
	    memcmp(o->h.magic, ONCE_MAGIC, 8) || o->h.format != ONCE_FORMAT) {
		WHY("the record is of another format");
		goto no;
	}
	if (host_key(&key) || memcmp(key.boot_id, o->h.boot_id, sizeof(key.boot_id)) ||
	    memcmp(key.exe, o->h.exe, sizeof(key.exe))) {
		WHY("the record is of another boot or splitd binary");
		goto no;
	}
	if (fstat(o->fd, &sb) ||
	    (size_t)sb.st_size != sizeof(o->h) + (size_t)o->h.ndocs * sizeof(*docs)) {
		WHY("the record is cut short");
		goto no;
	}
	dlen = (size_t)sb.st_size;
	docs = mmap(NULL, dlen, PROT_READ, MAP_SHARED, o->fd, 0);
	if (docs == MAP_FAILED) {
		WHY("mapping the record: %s", strerror(errno));
		goto no;
	}
	docs = (const struct once_doc *)((const char *)docs + sizeof(o->h));

	/* The file as it is now, cut as the full path's cache cuts it, read
	 * a window at a time (a mapping would fault a page at a time here,
	 * and raise SIGBUS if the file were cut short meanwhile). */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) || !S_ISREG(sb.st_mode) || sb.st_size <= 0 ||
	    sb.st_size > SPLIT_MAX_FILE) {
		WHY("%s: not a regular file of a size the full path reads", path);
		goto no;
	}
	cap = 256 << 10;
	b = malloc(cap);
	if (!b) {
		WHY("out of memory");
		goto no;
	}
	o->changed = o->h.ndocs;
	for (;;) {
		size_t end;
		ssize_t r;

		if (off == have && eof)
			break;
		end = split_doc_end(b, have, off);
		/* Where a document ends is certain once the bytes after its
		 * "---" are in (or at the end of the file). */
		if (!eof && end + 3 >= have) {
			if (off) {
				memmove(b, b + off, have - off);
				have -= off;
				off = 0;
			}
			if (have == cap) {
				char *nb = cap < SPLIT_MAX_FILE ? realloc(b, 2 * cap) : NULL;

				if (!nb) {
					WHY("%s: a document too large", path);
					goto no;
				}
				b = nb;
				cap *= 2;
			}
			r = read(fd, b + have, cap - have);
			if (r < 0) {
				WHY("reading %s: %s", path, strerror(errno));
				goto no;
			}
			eof = r == 0;
			have += (size_t)r;
			total += (size_t)r;
			if (total > SPLIT_MAX_FILE) {
				WHY("%s: larger than the full path reads", path);
				goto no;
			}
			continue;
		}
		if (i >= o->h.ndocs) {
			WHY("documents were added or removed");
			goto no;
		}
		if (!split_docs_cuttable(b + off, end - off)) {
			WHY("%s cannot be cut into documents", path);
			goto no;
		}
		if (docs[i].len == end - off &&
		    split_bytes_hash(b + off, end - off) == docs[i].h[0] &&
		    bytes_hash2(b + off, end - off) == docs[i].h[1]) {
			off = end;
			i++;
			continue;
		}
		if (o->changed != o->h.ndocs) {
			WHY("more than one document changed");
			goto no;
		}
		o->changed = i;
		o->old = docs[i];
		{
			struct yt_tree t = { 0 };
			struct split_err err;
			bool bad = yt_parse(path, b + off, end - off, &t, &err) ||
				   split_services_from_tree(&t, &o->cfg, &err);

			for (size_t d = 0; !bad && d < t.ndocs; d++)
				bad = split_doc_classify(t.docs[d].root) == SPLIT_DOC_RULES;
			if (!bad)
				doc_entry(&o->now, b + off, end - off, &o->cfg, t.nnodes);
			yt_free(&t);
			if (bad) {
				WHY("document %zu changed and is not a Service document that parses",
				    i + 1);
				goto no;
			}
		}
		off = end;
		i++;
	}
	if (i != o->h.ndocs) {
		WHY("documents were added or removed");
		goto no;
	}
	if (o->changed < o->h.ndocs) {
		const struct once_doc *w = &o->old, *n = &o->now;

		if (w->nsvcs != n->nsvcs || n->nsvcs > 1 || w->id != n->id || w->vip != n->vip) {
			WHY("document %zu changed a service's name, VIPs or ports, or added or removed one",
			    o->changed + 1);
			goto no;
		}
		if (o->h.nnodes - w->nnodes + n->nnodes > YT_MAX_NODES - ONCE_MARGIN ||
		    o->h.neps - w->neps + n->neps > SPLIT_MAX_BACKENDS - ONCE_MARGIN ||
		    o->h.nvers - w->nvers + n->nvers > SPLIT_MAX_VERSIONS - ONCE_MARGIN) {
			WHY("the file is close to a limit");
			goto no;
		}
	}
	free(b);
	munmap((char *)docs - sizeof(o->h), dlen);
	close(fd);
	return o;
no:
	free(b);
	if (docs != MAP_FAILED)
		munmap((char *)docs - sizeof(o->h), dlen);
	if (fd >= 0)
		close(fd);
	split_once_free(o);
	return NULL;
}

int split_once_apply(struct split_once *o, struct split_state *st, __u64 attach_key,
		     size_t *nsvcs, size_t *changed, char *why, size_t wlen)
{
	struct split_config cur = { 0 }, one = { 0 };
	struct split_service svc = { 0 };
	struct split_err err;
	char ref[2 * SPLIT_NAME_LEN + 2];
	int ret = 0;

	*changed = 0;
	*nsvcs = (size_t)o->h.nsvcs;
	if (map_id(st->gen_fd) != o->h.gen_map_id || !o->h.gen_map_id) {
		WHY("the pin dir is not the one recorded");
		return 0;
	}
	if (split_state_lock(st, &err)) {
		WHY("%s", err.msg);
		return 0;
	}
	if (split_state_generation(st, SPLIT_GEN_COMMITTED) != o->h.gen) {
		WHY("the maps changed since the record (a commit by splitctl or another splitd)");
		goto unlock;
	}
	if (o->changed >= o->h.ndocs || !o->cfg.nsvcs) {
		ret = 1;	/* nothing for the maps; a changed document without a service */
		goto unlock;
	}
	snprintf(ref, sizeof(ref), "%s/%s", o->cfg.svcs[0].ns, o->cfg.svcs[0].name);
	if (split_state_read_service(st, ref, &cur, &err)) {
		WHY("reading %s from the maps: %s", ref, err.msg);
		goto unlock;
	}
	if (cur.nsvcs != 1 || !st->scope_id || strcmp(cur.svcs[0].name, o->cfg.svcs[0].name) ||
	    strcmp(cur.svcs[0].ns, o->cfg.svcs[0].ns)) {
		WHY("%s is not alone in what the maps gave", ref);
		goto unlock;
	}
	if (split_service_copy(&svc, &o->cfg.svcs[0]) ||
	    (cur.svcs[0].routed && split_service_merge(&svc, &cur.svcs[0]))) {
		WHY("out of memory");
		goto unlock;
	}
	/* Limits of the commit (plan_check, plan_ids), with room: the full
	 * path checks them exactly. */
	{
		__u64 eps = o->h.m_eps - cur.svcs[0].neps + svc.neps;
		__u64 vers = o->h.m_vers - cur.svcs[0].nversions + svc.nversions;

		/* in force plus what the commit may add (its VIPs: none) */
		if (eps > SPLIT_MAX_BACKENDS - ONCE_MARGIN ||
		    o->h.m_eps + svc.neps > SPLIT_MAX_BACKENDS - ONCE_MARGIN ||
		    vers > SPLIT_MAX_VERSIONS - ONCE_MARGIN ||
		    o->h.m_vers + svc.nversions > SPLIT_MAX_VERSIONS - ONCE_MARGIN ||
		    o->h.nvp > SPLIT_MAX_VIPS - ONCE_MARGIN) {
			WHY("the maps are close to a limit");
			goto unlock;
		}
	}
	/* As a full apply without Istio objects: no L7, weights from the
	 * maps where `splitctl set` gave them; its VIPs stay as they are
	 * (the same ones: a scoped commit neither writes nor removes VIPs). */
	svc.l7 = false;
	svc.nvips = 0;
	one.svcs = &svc;
	one.nsvcs = 1;
	if (split_state_commit(st, &one, &err)) {
		WHY("committing %s: %s", ref, err.msg);
		goto unlock;
	}
	o->h.m_eps = o->h.m_eps - cur.svcs[0].neps + svc.neps;
	o->h.m_vers = o->h.m_vers - cur.svcs[0].nversions + svc.nversions;
	*changed = 1;
	ret = 1;
unlock:
	split_state_unlock(st);
	split_service_free(&svc);
	split_config_free(&cur);
	if (ret == 1) {
		/* The datapath as this run left it (loaded again, or not);
		 * the entry, then the header that makes the record current. */
		note_datapath(&o->h, st->pin_dir, attach_key);
		o->h.nnodes = o->h.nnodes - o->old.nnodes + o->now.nnodes;
		o->h.neps = o->h.neps - o->old.neps + o->now.neps;
		o->h.nvers = o->h.nvers - o->old.nvers + o->now.nvers;
		o->h.gen = st->unlock_gen;
		if ((o->changed < o->h.ndocs &&
		     pwrite(o->fd, &o->now, sizeof(o->now),
			    (off_t)(sizeof(o->h) + o->changed * sizeof(o->now))) != (ssize_t)sizeof(o->now)) ||
		    pwrite(o->fd, &o->h, sizeof(o->h), 0) != (ssize_t)sizeof(o->h))
			pr_warn("updating the record of --once: %s (the next --once applies in full)\n",
				strerror(errno));
	}
	return ret;
}

/* The section (split_doc_end) holding 1-based line `line`: the last whose
 * first line is at or before it. */
static size_t section_of(const unsigned int *first, size_t n, unsigned int line)
{
	size_t lo = 0, hi = n;

	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;

		if (first[mid] <= line)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

int split_once_record(const char *pin_dir, const char *path, const struct split_input *in,
		      size_t nobjs, struct split_state *st, __u64 attach_key,
		      struct split_err *err)
{
	const struct split_config *applied = &in->svcs;
	const struct yt_tree *t = &in->trees[0];
	struct once_hdr h = { 0 };
	struct once_doc *docs = NULL;
	unsigned int *first = NULL, line = 1;
	char rpath[PATH_MAX], tmp[PATH_MAX + 16], *buf = NULL;
	size_t len = 0, n = 0, off = 0, k = 0;
	int fd, ret = 0;

	/* One file of Service documents, no Istio object in force after it. */
	if (in->ntrees != 1 || in->nsums != 1 || in->objs.n || nobjs)
		goto forget;
	h.gen_map_id = map_id(st->gen_fd);
	h.gen = st->unlock_gen;
	if (!h.gen_map_id || host_key(&h))
		goto forget;
	/* The bytes that were parsed (the file may have changed since: then
	 * the maps hold an older file, and the next --once reads it whole). */
	if (split_read_file(path, &buf, &len, err) || !buf || len != in->sums[0].len ||
	    split_bytes_hash(buf, len) != in->sums[0].hash || !split_docs_cuttable(buf, len))
		goto forget;
	for (off = 0; off < len; n++)
		off = split_doc_end(buf, len, off);
	docs = calloc(n + 1, sizeof(*docs));
	first = calloc(n + 1, sizeof(*first));
	if (!docs || !first) {
		ret = split_errc(err, ENOMEM, "out of memory");
		goto forget;
	}
	for (size_t i = 0, end; i < n; i++, off = end) {
		struct split_config none = { 0 };

		if (!i)
			off = 0;
		end = split_doc_end(buf, len, off);
		first[i] = line;
		for (size_t j = off; j < end; j++)
			line += buf[j] == '\n';
		doc_entry(&docs[i], buf + off, end - off, &none, 0);
	}
	/* Each document's service (one per non-empty document, in order:
	 * services_tree) into the section it starts in. */
	for (size_t d = 0; d < t->ndocs; d++) {
		const struct yt_node *root = t->docs[d].root;
		struct once_doc *e;
		const struct split_service *s;

		if (!root || yt_is_null(root))
			continue;
		if (split_doc_classify(root) == SPLIT_DOC_RULES || k >= applied->nsvcs)
			goto forget;
		e = &docs[section_of(first, n, root->line)];
		s = &applied->svcs[k++];
		if (!e->nsvcs++) {
			e->id = svc_id_hash(s);
			e->vip = svc_vip_hash(s);
		}
		e->neps += (__u32)s->neps;
		e->nvers += (__u32)s->nversions;
	}
	if (k != applied->nsvcs)
		goto forget;
	memcpy(h.magic, ONCE_MAGIC, 8);
	h.format = ONCE_FORMAT;
	h.ndocs = (__u32)n;
	h.nsvcs = applied->nsvcs;
	h.nnodes = t->nnodes;	/* per document: unknown (0), counted whole */
	for (size_t i = 0; i < applied->nsvcs; i++) {
		h.neps += applied->svcs[i].neps;
		h.nvers += applied->svcs[i].nversions;
		h.nvp += applied->svcs[i].nvips * applied->svcs[i].nports;
	}
	h.m_eps = h.neps;
	h.m_vers = h.nvers;
	note_datapath(&h, pin_dir, attach_key);
	record_path(rpath, sizeof(rpath), pin_dir);
	snprintf(tmp, sizeof(tmp), "%s.%d", rpath, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd >= 0) {
		bool ok = write(fd, &h, sizeof(h)) == (ssize_t)sizeof(h) &&
			  write(fd, docs, n * sizeof(*docs)) == (ssize_t)(n * sizeof(*docs));

		ok = !close(fd) && ok;
		if (!ok || rename(tmp, rpath)) {
			ret = split_errc(err, errno ? errno : EIO, "writing %s: %s", tmp,
					 strerror(errno ? errno : EIO));
			unlink(tmp);
			goto forget;
		}
	} else {
		ret = split_errc(err, errno, "creating %s: %s", tmp, strerror(errno));
		goto forget;
	}
	goto out;
forget:
	split_once_forget(pin_dir);
out:
	free(buf);
	free(docs);
	free(first);
	return ret;
}
