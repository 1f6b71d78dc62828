// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* k8s_client.c - connection, list+watch; see k8s_client.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* asprintf, pipe2 (the fuzz build has no -D_GNU_SOURCE) */
#endif
#include <errno.h>
#include <libgen.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "files.h"
#include "k8s_client.h"
#include "k8s_curl.h"
#include "log.h"
#include "yaml_tree.h"

#define BACKOFF_MIN_MS		200
#define BACKOFF_MAX_MS		30000
#define RETRY_AFTER_MAX_S	60
#define NO_CRD_RETRY_MS		60000
#define WATCH_TIMEOUT_MIN_S	300	/* timeoutSeconds: 5..10 min, as client-go */
#define MAX_LIST_BODY		(256u << 20)

/* ---- connection ----------------------------------------------------------- */

static char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

void k8s_conn_free(struct k8s_conn *c)
{
	free(c->server);
	free(c->ca_file);
	free(c->ca_data);
	free(c->token_file);
	free(c->token);
	free(c->cert_file);
	free(c->key_file);
	free(c->cert_data);
	free(c->key_data);
	free(c->origin);
	memset(c, 0, sizeof(*c));
}

static int conn_dup(struct k8s_conn *d, const struct k8s_conn *s)
{
	*d = *s;
	d->server = xstrdup(s->server);
	d->ca_file = xstrdup(s->ca_file);
	d->token_file = xstrdup(s->token_file);
	d->token = xstrdup(s->token);
	d->cert_file = xstrdup(s->cert_file);
	d->key_file = xstrdup(s->key_file);
	d->origin = xstrdup(s->origin);
	d->ca_data = s->ca_data ? malloc(s->ca_len + 1) : NULL;
	d->cert_data = s->cert_data ? malloc(s->cert_len + 1) : NULL;
	d->key_data = s->key_data ? malloc(s->key_len + 1) : NULL;
	if (d->ca_data)
		memcpy(d->ca_data, s->ca_data, s->ca_len + 1);
	if (d->cert_data)
		memcpy(d->cert_data, s->cert_data, s->cert_len + 1);
	if (d->key_data)
		memcpy(d->key_data, s->key_data, s->key_len + 1);
	return 0;
}

int k8s_conn_in_cluster(struct k8s_conn *c, const char *server, const char *token_file,
			const char *ca_file, struct split_err *err)
{
	memset(c, 0, sizeof(*c));
	if (server) {
		c->server = strdup(server);
	} else {
		const char *h = getenv("KUBERNETES_SERVICE_HOST");
		const char *p = getenv("KUBERNETES_SERVICE_PORT");

		if (!h || !*h)
			return split_errf(err, "not in a cluster: KUBERNETES_SERVICE_HOST is not set (give --kubeconfig FILE or --k8s-server URL)");
		if (asprintf(&c->server, strchr(h, ':') ? "https://[%s]:%s" : "https://%s:%s", h,
			     p && *p ? p : "443") < 0)
			c->server = NULL;
	}
	c->token_file = strdup(token_file ? token_file : K8S_SA_DIR "/token");
	c->ca_file = strdup(ca_file ? ca_file : K8S_SA_DIR "/ca.crt");
	c->origin = strdup("in-cluster");
	if (!c->server || !c->token_file || !c->ca_file || !c->origin) {
		k8s_conn_free(c);
		return split_errc(err, ENOMEM, "out of memory");
	}
	if (strncmp(c->server, "https://", 8) && strncmp(c->server, "http://", 7)) {
		split_errf(err, "API server '%s': not an http(s):// URL", c->server);
		k8s_conn_free(c);
		return -EINVAL;
	}
	if (access(c->ca_file, R_OK)) {
		int e = errno;

		split_errc(err, e, "CA file %s: %s", c->ca_file, strerror(e));
		k8s_conn_free(c);
		return -e;
	}
	return 0;
}

static int b64val(int ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

/* Standard base64 (whitespace ignored) into a malloc()ed, NUL-terminated
 * buffer. NULL when s is not base64. */
static char *b64decode(const char *s, size_t *outlen)
{
	size_t n = strlen(s), o = 0;
	char *out = malloc(n / 4 * 3 + 4);
	unsigned int acc = 0, bits = 0;
	int pad = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		int v;

		if (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')
			continue;
		if (s[i] == '=') {
			pad++;
			continue;
		}
		v = b64val((unsigned char)s[i]);
		if (v < 0 || pad) {
			free(out);
			return NULL;
		}
		acc = (acc << 6) | (unsigned int)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	out[o] = 0;
	*outlen = o;
	return out;
}

/* A named entry of a kubeconfig list (clusters, users, contexts): its
 * inner mapping (entry[key]). */
static const struct yt_node *kc_named(const struct yt_node *root, const char *list,
				      const char *key, const char *name)
{
	const struct yt_node *l = yt_field(root, list), *it;
	size_t i;

	if (!l || l->kind != YT_SEQUENCE)
		return NULL;
	yt_seq_for_each(it, i, l) {
		const struct yt_node *n = yt_field(it, "name");

		if (n && n->kind == YT_SCALAR && !strcmp(n->scalar.value, name))
			return yt_field(it, key);
	}
	return NULL;
}

static const char *kc_str(const struct yt_node *m, const char *key)
{
	const struct yt_node *n = yt_field(m, key);

	return n && n->kind == YT_SCALAR ? n->scalar.value : NULL;
}

/* path relative to the kubeconfig's directory. */
static char *kc_path(const char *kubeconfig, const char *p)
{
	char tmp[4096], *out;

	if (p[0] == '/')
		return strdup(p);
	snprintf(tmp, sizeof(tmp), "%s", kubeconfig);
	if (asprintf(&out, "%s/%s", dirname(tmp), p) < 0)
		return NULL;
	return out;
}

int k8s_conn_kubeconfig(struct k8s_conn *c, const char *path, const char *context,
			struct split_err *err)
{
	static const char *const unsupported_user[] = {
		"exec", "auth-provider", "username", "password", "as", "as-groups", NULL
	};
	static const char *const unsupported_cluster[] = {
		"proxy-url", "tls-server-name", NULL
	};
	const struct yt_node *root, *ctx, *cl, *us;
	struct yt_tree t = { 0 };
	const char *cur, *cname, *uname, *s;
	size_t len;
	char *buf;
	struct split_err e;
	int ret;

	memset(c, 0, sizeof(*c));
	if (strchr(path, ':'))
		return split_errf(err, "kubeconfig %s: several files (a $KUBECONFIG list) are not supported; give one",
				  path);
	if ((ret = split_read_file(path, &buf, &len, &e)))
		return split_errc(err, ret, "kubeconfig: %.400s", e.msg);
	if ((ret = yt_parse(path, buf, len, &t, err))) {
		free(buf);
		return ret;
	}
	ret = -EINVAL;
	free(buf);
	if (t.ndocs != 1 || t.docs[0].root->kind != YT_MAPPING) {
		split_errf(err, "kubeconfig %s: not a kubeconfig (one YAML mapping)", path);
		goto out;
	}
	root = t.docs[0].root;
	cur = context ? context : kc_str(root, "current-context");
	if (!cur || !*cur) {
		split_errf(err, "kubeconfig %s: no current-context", path);
		goto out;
	}
	ctx = kc_named(root, "contexts", "context", cur);
	if (!ctx) {
		split_errf(err, "kubeconfig %s: context '%s' not found", path, cur);
		goto out;
	}
	cname = kc_str(ctx, "cluster");
	uname = kc_str(ctx, "user");
	cl = cname ? kc_named(root, "clusters", "cluster", cname) : NULL;
	if (!cl) {
		split_errf(err, "kubeconfig %s: context '%s': cluster '%s' not found", path, cur,
			   cname ? cname : "");
		goto out;
	}
	us = uname ? kc_named(root, "users", "user", uname) : NULL;
	for (const char *const *u = unsupported_cluster; *u; u++)
		if (yt_field(cl, *u)) {
			yt_errf(err, &t, yt_field(cl, *u), "cluster '%s': '%s' is not supported",
				cname, *u);
			goto out;
		}
	for (const char *const *u = unsupported_user; us && *u; u++)
		if (yt_field(us, *u)) {
			yt_errf(err, &t, yt_field(us, *u),
				"user '%s': '%s' is not supported (use a token, a tokenFile or a client certificate)",
				uname, *u);
			goto out;
		}
	s = kc_str(cl, "server");
	if (!s || (strncmp(s, "https://", 8) && strncmp(s, "http://", 7))) {
		split_errf(err, "kubeconfig %s: cluster '%s': server must be an http(s):// URL",
			   path, cname);
		goto out;
	}
	c->server = strdup(s);
	if ((s = kc_str(cl, "certificate-authority-data"))) {
		c->ca_data = b64decode(s, &c->ca_len);
		if (!c->ca_data) {
			split_errf(err, "kubeconfig %s: certificate-authority-data is not base64", path);
			goto out;
		}
	} else if ((s = kc_str(cl, "certificate-authority"))) {
		c->ca_file = kc_path(path, s);
	}
	s = kc_str(cl, "insecure-skip-tls-verify");
	c->insecure = s && !strcmp(s, "true");
	if (us) {
		if ((s = kc_str(us, "token")))
			c->token = strdup(s);
		else if ((s = kc_str(us, "tokenFile")))
			c->token_file = kc_path(path, s);
		if ((s = kc_str(us, "client-certificate-data"))) {
			c->cert_data = b64decode(s, &c->cert_len);
			if (!c->cert_data) {
				split_errf(err, "kubeconfig %s: client-certificate-data is not base64", path);
				goto out;
			}
		} else if ((s = kc_str(us, "client-certificate"))) {
			c->cert_file = kc_path(path, s);
		}
		if ((s = kc_str(us, "client-key-data"))) {
			c->key_data = b64decode(s, &c->key_len);
			if (!c->key_data) {
				split_errf(err, "kubeconfig %s: client-key-data is not base64", path);
				goto out;
			}
		} else if ((s = kc_str(us, "client-key"))) {
			c->key_file = kc_path(path, s);
		}
		if (!(c->cert_data || c->cert_file) != !(c->key_data || c->key_file)) {
			split_errf(err, "kubeconfig %s: user '%s': a client certificate needs its key (and the other way round)",
				   path, uname);
			goto out;
		}
	}
	c->origin = strdup(path);
	ret = 0;
out:
	if (ret)
		k8s_conn_free(c);
	yt_free(&t);
	return ret;
}

/* ---- HTTP ------------------------------------------------------------------ */

struct kind_def {
	enum k8s_kind kind;
	const char *group;		/* "" for core */
	const char *versions[3];	/* tried in order on 404 */
	const char *resource;
	int metadata_only;
};

static const struct kind_def kinds[K8S_NKINDS] = {
	{ K8S_SERVICE, "", { "v1" }, "services", 0 },
	{ K8S_ENDPOINTSLICE, "discovery.k8s.io", { "v1" }, "endpointslices", 0 },
	{ K8S_POD, "", { "v1" }, "pods", 1 },
	{ K8S_VIRTUALSERVICE, "networking.istio.io", { "v1", "v1beta1", "v1alpha3" },
	  "virtualservices", 0 },
	{ K8S_DESTINATIONRULE, "networking.istio.io", { "v1", "v1beta1", "v1alpha3" },
	  "destinationrules", 0 },
};

struct k8s_watcher;

struct reflector {
	struct k8s_watcher *w;
	const struct kind_def *def;
	int vi;				/* index in def->versions */
	pthread_t thread;
	int started;
	char *rv;			/* resourceVersion to watch from, NULL: list */
	unsigned backoff_ms;
	unsigned rand_state;
	/* one request */
	CURL *curl;
	long status;
	long retry_after;		/* seconds, -1 none */
	char *body;			/* list: the whole body */
	size_t blen;
	json_tokener *tok;		/* watch: the stream */
	int watch_result;
	int got_event;
	char err[256];
};

struct k8s_watcher {
	const struct k8s_curl *cu;	/* libcurl (dlopen) */
	struct k8s_conn conn;
	struct k8s_store *store;
	pthread_mutex_t *lock;		/* the caller's: store and stats */
	int notify_fd;
	pthread_mutex_t wlock;		/* stop flag + condition */
	pthread_cond_t cond;
	volatile int stop;
	struct reflector r[K8S_NKINDS];
	struct k8s_kind_stats stats[K8S_NKINDS];
};

static void notify(struct k8s_watcher *w)
{
	char b = 1;

	if (write(w->notify_fd, &b, 1) < 0 && errno != EAGAIN)
		pr_debug("k8s: notify: %s\n", strerror(errno));
}

/* Sleep ms, or less when stopping. 1 when stopping. */
static int wait_ms(struct k8s_watcher *w, unsigned ms)
{
	struct timespec ts;
	int stop;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&w->wlock);
	while (!w->stop && pthread_cond_timedwait(&w->cond, &w->wlock, &ts) != ETIMEDOUT)
		;
	stop = w->stop;
	pthread_mutex_unlock(&w->wlock);
	return stop;
}

/* Exponential backoff with jitter: a random time in [d/2, d]. */
static int backoff(struct reflector *r)
{
	unsigned d = r->backoff_ms ? r->backoff_ms : BACKOFF_MIN_MS;
	unsigned ms = d / 2 + (unsigned)rand_r(&r->rand_state) % (d / 2 + 1);

	r->backoff_ms = d * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : d * 2;
	return wait_ms(r->w, ms);
}

static int xferinfo(void *p, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	struct reflector *r = p;

	(void)a, (void)b, (void)c, (void)d;
	return r->w->stop;	/* non-zero aborts the transfer */
}

static size_t on_header(char *buf, size_t size, size_t n, void *p)
{
	struct reflector *r = p;
	size_t len = size * n;

	if (len > 12 && !strncasecmp(buf, "Retry-After:", 12)) {
		long v = strtol(buf + 12, NULL, 10);

		/* Seconds; an HTTP date (rare here) counts as 1 s. */
		r->retry_after = v > 0 ? (v > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : v) : 1;
	}
	return len;
}

static size_t on_body(char *buf, size_t size, size_t n, void *p)
{
	struct reflector *r = p;
	size_t len = size * n;
	char *b;

	if (r->blen + len > MAX_LIST_BODY)
		return 0;
	b = realloc(r->body, r->blen + len + 1);
	if (!b)
		return 0;
	r->body = b;
	memcpy(r->body + r->blen, buf, len);
	r->blen += len;
	r->body[r->blen] = 0;
	return len;
}

static char *read_token(struct k8s_watcher *w, char *why, size_t wlen)
{
	char *buf = NULL, *e;
	size_t len;
	struct split_err err;

	if (w->conn.token)
		return strdup(w->conn.token);
	if (!w->conn.token_file)
		return NULL;
	if (split_read_file(w->conn.token_file, &buf, &len, &err)) {
		snprintf(why, wlen, "token: %.200s", err.msg);
		return NULL;
	}
	for (e = buf + len; e > buf && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' '); e--)
		;
	*e = 0;
	return buf;
}

/* Set up r->curl for a GET of url. */
static struct curl_slist *request(struct reflector *r, const char *url, int watch)
{
	const struct k8s_curl *cu = r->w->cu;
	const struct k8s_conn *c = &r->w->conn;
	struct curl_slist *h = NULL;
	char why[256] = "", *tok, *auth = NULL;

	cu->easy_reset(r->curl);
	cu->easy_setopt(r->curl, CURLOPT_URL, url);
	cu->easy_setopt(r->curl, CURLOPT_NOSIGNAL, 1L);
	cu->easy_setopt(r->curl, CURLOPT_CONNECTTIMEOUT, 10L);
	cu->easy_setopt(r->curl, CURLOPT_TCP_KEEPALIVE, 1L);
	cu->easy_setopt(r->curl, CURLOPT_NOPROGRESS, 0L);
	cu->easy_setopt(r->curl, CURLOPT_XFERINFOFUNCTION, xferinfo);
	cu->easy_setopt(r->curl, CURLOPT_XFERINFODATA, r);
	cu->easy_setopt(r->curl, CURLOPT_HEADERFUNCTION, on_header);
	cu->easy_setopt(r->curl, CURLOPT_HEADERDATA, r);
	cu->easy_setopt(r->curl, CURLOPT_USERAGENT, "splitd (split.dev)");
	/* No byte for this long: the connection is dead (bookmarks come
	 * about every minute on a real server). */
	cu->easy_setopt(r->curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
	cu->easy_setopt(r->curl, CURLOPT_LOW_SPEED_TIME, watch ? 180L : 60L);
	if (c->ca_file)
		cu->easy_setopt(r->curl, CURLOPT_CAINFO, c->ca_file);
	if (c->ca_data) {
		struct curl_blob b = { c->ca_data, c->ca_len, CURL_BLOB_COPY };

		cu->easy_setopt(r->curl, CURLOPT_CAINFO_BLOB, &b);
	}
	if (c->insecure) {
		cu->easy_setopt(r->curl, CURLOPT_SSL_VERIFYPEER, 0L);
		cu->easy_setopt(r->curl, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (c->cert_file)
		cu->easy_setopt(r->curl, CURLOPT_SSLCERT, c->cert_file);
	if (c->key_file)
		cu->easy_setopt(r->curl, CURLOPT_SSLKEY, c->key_file);
	if (c->cert_data) {
		struct curl_blob cb = { c->cert_data, c->cert_len, CURL_BLOB_COPY };

		cu->easy_setopt(r->curl, CURLOPT_SSLCERT_BLOB, &cb);
	}
	if (c->key_data) {
		struct curl_blob kb = { c->key_data, c->key_len, CURL_BLOB_COPY };

		cu->easy_setopt(r->curl, CURLOPT_SSLKEY_BLOB, &kb);
	}
	tok = read_token(r->w, why, sizeof(why));
	if (*why)
		snprintf(r->err, sizeof(r->err), "%.200s", why);
	if (tok && *tok && asprintf(&auth, "Authorization: Bearer %s", tok) > 0) {
		h = cu->slist_append(h, auth);
		free(auth);
	}
	free(tok);
	if (r->def->metadata_only)
		h = cu->slist_append(h, watch ?
			"Accept: application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json" :
			"Accept: application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json");
	else
		h = cu->slist_append(h, "Accept: application/json");
	cu->easy_setopt(r->curl, CURLOPT_HTTPHEADER, h);
	r->status = 0;
	r->retry_after = -1;
	return h;
}

static const char *status_message(struct json_object *st)
{
	struct json_object *m = NULL;

	if (st && json_object_object_get_ex(st, "message", &m) &&
	    json_object_is_type(m, json_type_string))
		return json_object_get_string(m);
	return "";
}

static void stat_add(struct reflector *r, uint64_t *field)
{
	pthread_mutex_lock(r->w->lock);
	(*field)++;
	pthread_mutex_unlock(r->w->lock);
}

#define STAT(r, f) stat_add((r), &(r)->w->stats[(r)->def->kind].f)

static void url_of(struct reflector *r, char *buf, size_t len)
{
	const struct kind_def *d = r->def;

	if (*d->group)
		snprintf(buf, len, "%s/apis/%s/%s/%s", r->w->conn.server, d->group,
			 d->versions[r->vi], d->resource);
	else
		snprintf(buf, len, "%s/api/%s/%s", r->w->conn.server, d->versions[r->vi],
			 d->resource);
}

enum { R_OK_, R_GONE, R_RETRY, R_STOP, R_NOTFOUND, R_CLOSED };

/* After a failed request: wait as the server asks, or back off. */
static int after_failure(struct reflector *r, const char *what)
{
	if (r->status == 429) {
		STAT(r, throttled);
		pr_info("k8s: %s %s: 429 Too Many Requests: retrying in %ld s\n", what,
			r->def->resource, r->retry_after > 0 ? r->retry_after : 1);
		return wait_ms(r->w, (unsigned)(r->retry_after > 0 ? r->retry_after : 1) * 1000u);
	}
	STAT(r, errors);
	pr_warn("k8s: %s %s: %s\n", what, r->def->resource, r->err);
	return backoff(r);
}

/* Paginated list into the store. */
static int do_list(struct reflector *r)
{
	const struct k8s_curl *cu = r->w->cu;
	struct k8s_items items = { 0 };
	char base[1024], url[4096];
	char *cont = NULL, *rv = NULL;
	int ret = R_RETRY;
	size_t nobj;

	url_of(r, base, sizeof(base));
	for (;;) {
		struct json_object *doc = NULL, *md = NULL, *it = NULL, *v;
		struct curl_slist *h;
		CURLcode cc;
		char *ec = NULL;

		if (cont) {
			ec = cu->easy_escape(r->curl, cont, 0);
			snprintf(url, sizeof(url), "%s?limit=%d&continue=%s", base, K8S_LIST_LIMIT,
				 ec ? ec : "");
			cu->free(ec);
		} else {
			snprintf(url, sizeof(url), "%s?limit=%d", base, K8S_LIST_LIMIT);
		}
		free(r->body);
		r->body = NULL;
		r->blen = 0;
		h = request(r, url, 0);
		cu->easy_setopt(r->curl, CURLOPT_WRITEFUNCTION, on_body);
		cu->easy_setopt(r->curl, CURLOPT_WRITEDATA, r);
		cu->easy_setopt(r->curl, CURLOPT_TIMEOUT, 120L);
		cc = cu->easy_perform(r->curl);
		cu->slist_free_all(h);
		if (r->w->stop) {
			ret = R_STOP;
			goto out;
		}
		if (cc != CURLE_OK) {
			snprintf(r->err, sizeof(r->err), "list: %s", cu->easy_strerror(cc));
			goto out;
		}
		cu->easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &r->status);
		if (r->body)
			doc = json_tokener_parse(r->body);
		if (r->status == 410 && cont) {
			/* The continue token expired: a fresh full list. */
			pr_info("k8s: list %s: continue token expired (410): listing again\n",
				r->def->resource);
			STAT(r, relists_gone);
			json_object_put(doc);
			k8s_items_free(&items);
			free(cont);
			cont = NULL;
			continue;
		}
		if (r->status == 404) {
			json_object_put(doc);
			ret = R_NOTFOUND;
			goto out;
		}
		if (r->status != 200 || !doc) {
			snprintf(r->err, sizeof(r->err), "list: HTTP %ld%s%s", r->status,
				 doc ? ": " : (r->status == 200 ? ": not JSON" : ""),
				 status_message(doc));
			json_object_put(doc);
			goto out;
		}
		STAT(r, list_pages);
		json_object_object_get_ex(doc, "metadata", &md);
		json_object_object_get_ex(doc, "items", &it);
		for (size_t i = 0; it && i < json_object_array_length(it); i++)
			if (k8s_items_put(&items, json_object_array_get_idx(it, i)))
				pr_warn("k8s: list %s: an item without a name: skipped\n",
					r->def->resource);
		free(cont);
		cont = NULL;
		if (md && json_object_object_get_ex(md, "continue", &v) &&
		    json_object_is_type(v, json_type_string) && *json_object_get_string(v))
			cont = strdup(json_object_get_string(v));
		if (md && json_object_object_get_ex(md, "resourceVersion", &v) &&
		    json_object_is_type(v, json_type_string)) {
			free(rv);
			rv = strdup(json_object_get_string(v));
		}
		json_object_put(doc);
		if (!cont)
			break;
	}
	pthread_mutex_lock(r->w->lock);
	k8s_store_replace(r->w->store, r->def->kind, &items);
	nobj = r->w->store->kinds[r->def->kind].n;
	r->w->stats[r->def->kind].lists++;
	r->w->stats[r->def->kind].synced = 1;
	snprintf(r->w->stats[r->def->kind].version, sizeof(r->w->stats[0].version), "%s",
		 r->def->versions[r->vi]);
	pthread_mutex_unlock(r->w->lock);
	notify(r->w);
	free(r->rv);
	r->rv = rv ? rv : strdup("");
	rv = NULL;
	pr_info("k8s: listed %s (%s): %zu objects, resourceVersion %s\n", r->def->resource,
		r->def->versions[r->vi], nobj, r->rv);
	ret = R_OK_;
out:
	free(cont);
	free(rv);
	k8s_items_free(&items);
	return ret;
}

/* One watch event. */
static void on_event(struct reflector *r, struct json_object *ev)
{
	struct json_object *t = NULL, *obj = NULL, *v = NULL;
	const char *type;
	int changed = 0;

	json_object_object_get_ex(ev, "type", &t);
	json_object_object_get_ex(ev, "object", &obj);
	type = t && json_object_is_type(t, json_type_string) ? json_object_get_string(t) : "";
	if (!strcmp(type, "ERROR")) {
		struct json_object *code = NULL;

		json_object_object_get_ex(obj, "code", &code);
		if (code && json_object_get_int(code) == 410) {
			r->watch_result = R_GONE;
			pr_info("k8s: watch %s: ERROR 410 Gone (%s): relisting\n", r->def->resource,
				status_message(obj));
		} else {
			r->watch_result = R_RETRY;
			snprintf(r->err, sizeof(r->err), "watch: ERROR event: %s",
				 status_message(obj));
		}
		return;
	}
	if (obj && json_object_object_get_ex(obj, "metadata", &v) &&
	    json_object_object_get_ex(v, "resourceVersion", &v) &&
	    json_object_is_type(v, json_type_string)) {
		free(r->rv);
		r->rv = strdup(json_object_get_string(v));
	}
	pthread_mutex_lock(r->w->lock);
	if (!strcmp(type, "BOOKMARK")) {
		r->w->stats[r->def->kind].bookmarks++;
	} else if (!strcmp(type, "ADDED") || !strcmp(type, "MODIFIED")) {
		changed = !k8s_store_put(r->w->store, r->def->kind, obj);
		r->w->stats[r->def->kind].events++;
	} else if (!strcmp(type, "DELETED")) {
		changed = k8s_store_del(r->w->store, r->def->kind, obj);
		r->w->stats[r->def->kind].events++;
	} else {
		pr_warn("k8s: watch %s: unknown event type '%s': ignored\n", r->def->resource, type);
	}
	pthread_mutex_unlock(r->w->lock);
	r->got_event = 1;
	if (changed)
		notify(r->w);
}

/* The stream: JSON objects back to back, split anywhere by chunks. */
static size_t on_stream(char *buf, size_t size, size_t n, void *p)
{
	struct reflector *r = p;
	size_t len = size * n, off = 0;

	if (r->status == 0)
		r->w->cu->easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &r->status);
	if (r->status != 200)
		return on_body(buf, size, n, p);	/* a Status: read it whole */
	while (off < len && r->watch_result == R_OK_) {
		struct json_object *ev;
		enum json_tokener_error te;
		size_t used;

		/* Whitespace between events. */
		while (off < len && (buf[off] == '\n' || buf[off] == '\r' || buf[off] == ' '))
			off++;
		if (off == len)
			break;
		ev = json_tokener_parse_ex(r->tok, buf + off, (int)(len - off));
		te = json_tokener_get_error(r->tok);
		used = json_tokener_get_parse_end(r->tok);
		if (!ev && te == json_tokener_continue)
			break;	/* the rest comes in the next chunk */
		if (!ev) {
			snprintf(r->err, sizeof(r->err), "watch: bad JSON in the stream: %s",
				 json_tokener_error_desc(te));
			r->watch_result = R_RETRY;
			return 0;
		}
		on_event(r, ev);
		json_object_put(ev);
		json_tokener_reset(r->tok);
		off += used;
	}
	return r->watch_result == R_OK_ ? len : 0;	/* 0: ends the transfer */
}

static int do_watch(struct reflector *r)
{
	const struct k8s_curl *cu = r->w->cu;
	char base[1024], url[4096], *erv;
	struct curl_slist *h;
	long timeout = WATCH_TIMEOUT_MIN_S + rand_r(&r->rand_state) % WATCH_TIMEOUT_MIN_S;
	CURLcode cc;

	url_of(r, base, sizeof(base));
	erv = cu->easy_escape(r->curl, r->rv, 0);
	snprintf(url, sizeof(url), "%s?watch=1&allowWatchBookmarks=true&resourceVersion=%s&timeoutSeconds=%ld",
		 base, erv ? erv : "", timeout);
	cu->free(erv);
	free(r->body);
	r->body = NULL;
	r->blen = 0;
	json_tokener_reset(r->tok);
	r->watch_result = R_OK_;
	r->got_event = 0;
	h = request(r, url, 1);
	cu->easy_setopt(r->curl, CURLOPT_WRITEFUNCTION, on_stream);
	cu->easy_setopt(r->curl, CURLOPT_WRITEDATA, r);
	cu->easy_setopt(r->curl, CURLOPT_TIMEOUT, timeout + 60);
	STAT(r, watches);
	cc = cu->easy_perform(r->curl);
	cu->slist_free_all(h);
	if (r->w->stop)
		return R_STOP;
	if (r->watch_result != R_OK_)
		return r->watch_result;	/* 410 in the stream, or a bad event */
	if (!r->status)
		cu->easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &r->status);
	if (r->status == 410) {
		pr_info("k8s: watch %s: HTTP 410 Gone: relisting\n", r->def->resource);
		return R_GONE;
	}
	if (r->status != 200) {
		struct json_object *doc = r->body ? json_tokener_parse(r->body) : NULL;

		snprintf(r->err, sizeof(r->err), "watch: HTTP %ld%s%s", r->status,
			 doc ? ": " : "", status_message(doc));
		json_object_put(doc);
		return R_RETRY;
	}
	if (cc != CURLE_OK) {
		snprintf(r->err, sizeof(r->err), "watch: %s", cu->easy_strerror(cc));
		return R_RETRY;
	}
	return R_CLOSED;
}

static void *reflector_main(void *p)
{
	struct reflector *r = p;
	struct k8s_watcher *w = r->w;

	while (!w->stop) {
		int res;

		if (!r->rv) {
			res = do_list(r);
			if (res == R_STOP)
				break;
			if (res == R_NOTFOUND) {
				if (r->vi + 1 < 3 && r->def->versions[r->vi + 1]) {
					r->vi++;
					continue;
				}
				/* No such API (Istio's CRDs absent): empty, ask again later. */
				pr_info("k8s: %s: not served by this API server (%s %s): none; asking again in %d s\n",
					r->def->resource, r->def->group, r->def->versions[0],
					NO_CRD_RETRY_MS / 1000);
				pthread_mutex_lock(w->lock);
				{
					struct k8s_items none = { 0 };

					k8s_store_replace(w->store, r->def->kind, &none);
				}
				w->stats[r->def->kind].synced = 1;
				w->stats[r->def->kind].version[0] = 0;
				pthread_mutex_unlock(w->lock);
				notify(w);
				r->vi = 0;
				if (wait_ms(w, NO_CRD_RETRY_MS))
					break;
				continue;
			}
			if (res != R_OK_) {
				if (after_failure(r, "list"))
					break;
				continue;
			}
			r->backoff_ms = 0;
		}
		res = do_watch(r);
		switch (res) {
		case R_STOP:
			break;
		case R_GONE:
			STAT(r, relists_gone);
			free(r->rv);
			r->rv = NULL;
			break;
		case R_CLOSED:
			/* The server ended it (timeoutSeconds, a restart):
			 * resume from the last resourceVersion seen. */
			STAT(r, watch_ends);
			pr_debug("k8s: watch %s ended by the server: resuming at %s\n",
				 r->def->resource, r->rv);
			if (r->got_event)
				r->backoff_ms = 0;
			else if (backoff(r))	/* ended at once: do not spin */
				goto out;
			break;
		default:
			if (r->got_event)
				r->backoff_ms = 0;
			if (after_failure(r, "watch"))
				goto out;
		}
	}
out:
	return NULL;
}

struct k8s_watcher *k8s_watch_start(const struct k8s_conn *c, struct k8s_store *store,
				    pthread_mutex_t *lock, int notify_fd,
				    struct split_err *err)
{
	const struct k8s_curl *cu = k8s_curl_load(err);	/* the first time: dlopen */
	struct k8s_watcher *w;

	if (!cu)
		return NULL;
	w = calloc(1, sizeof(*w));
	if (!w) {
		split_errc(err, ENOMEM, "out of memory");
		return NULL;
	}
	w->cu = cu;
	conn_dup(&w->conn, c);
	w->store = store;
	w->lock = lock;
	w->notify_fd = notify_fd;
	pthread_mutex_init(&w->wlock, NULL);
	pthread_cond_init(&w->cond, NULL);
	for (int k = 0; k < K8S_NKINDS; k++) {
		struct reflector *r = &w->r[k];

		r->w = w;
		r->def = &kinds[k];
		r->rand_state = (unsigned)time(NULL) ^ (unsigned)getpid() ^ (unsigned)(k * 7919);
		r->curl = cu->easy_init();
		r->tok = json_tokener_new_ex(64);
		if (!r->curl || !r->tok) {
			split_errf(err, "curl/json-c initialization failed");
			k8s_watch_stop(w);
			return NULL;
		}
	}
	for (int k = 0; k < K8S_NKINDS; k++) {
		if (pthread_create(&w->r[k].thread, NULL, reflector_main, &w->r[k])) {
			split_errf(err, "pthread_create: %s", strerror(errno));
			k8s_watch_stop(w);
			return NULL;
		}
		w->r[k].started = 1;
	}
	pr_info("k8s: watching the API at %s (%s)\n", w->conn.server, w->conn.origin);
	return w;
}

int k8s_watch_synced(struct k8s_watcher *w)
{
	for (int k = 0; k < K8S_NKINDS; k++)
		if (!w->stats[k].synced)
			return 0;
	return 1;
}

void k8s_watch_stats(struct k8s_watcher *w, struct k8s_kind_stats out[K8S_NKINDS])
{
	pthread_mutex_lock(w->lock);
	memcpy(out, w->stats, sizeof(w->stats));
	pthread_mutex_unlock(w->lock);
}

void k8s_watch_stop(struct k8s_watcher *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->wlock);
	w->stop = 1;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->wlock);
	for (int k = 0; k < K8S_NKINDS; k++) {
		struct reflector *r = &w->r[k];

		if (r->started)
			pthread_join(r->thread, NULL);
		if (r->curl)
			w->cu->easy_cleanup(r->curl);
		if (r->tok)
			json_tokener_free(r->tok);
		free(r->body);
		free(r->rv);
	}
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->wlock);
	k8s_conn_free(&w->conn);
	free(w);
}

/* ---- metrics ----------------------------------------------------------------- */

void k8s_metrics_render(FILE *f, const struct k8s_kind_stats ks[K8S_NKINDS],
			const struct k8s_build_stats *bs)
{
	static const struct {
		const char *name, *help;
		size_t off;
	} c[] = {
#define C(n, h) { "split_k8s_" #n "_total", h, offsetof(struct k8s_kind_stats, n) }
		C(lists, "Complete lists of a kind."),
		C(list_pages, "Pages of lists received."),
		C(relists_gone, "Relists after 410 Gone (status or ERROR event, or an expired continue token)."),
		C(watches, "Watch requests started."),
		C(watch_ends, "Watches ended by the server and resumed."),
		C(events, "Watch events applied (ADDED, MODIFIED, DELETED)."),
		C(bookmarks, "Watch bookmarks received."),
		C(errors, "Failed requests (then backed off)."),
		C(throttled, "429 answers (then waited for Retry-After)."),
#undef C
	};

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		fprintf(f, "# HELP %s %s\n# TYPE %s counter\n", c[i].name, c[i].help, c[i].name);
		for (int k = 0; k < K8S_NKINDS; k++)
			fprintf(f, "%s{kind=\"%s\"} %llu\n", c[i].name, k8s_kind_name(k),
				(unsigned long long)*(const uint64_t *)((const char *)&ks[k] + c[i].off));
	}
	fprintf(f, "# HELP split_k8s_synced 1 once the kind was listed.\n# TYPE split_k8s_synced gauge\n");
	for (int k = 0; k < K8S_NKINDS; k++)
		fprintf(f, "split_k8s_synced{kind=\"%s\"} %d\n", k8s_kind_name(k), ks[k].synced);
	if (!bs)
		return;
	fprintf(f, "# HELP split_k8s_bad_objects Objects refused by validation in the last build (logged).\n# TYPE split_k8s_bad_objects gauge\n");
	for (int k = 0; k < K8S_NKINDS; k++)
		fprintf(f, "split_k8s_bad_objects{kind=\"%s\"} %llu\n", k8s_kind_name(k),
			(unsigned long long)bs->bad[k]);
	fprintf(f, "# HELP split_k8s_endpoints_left_out Endpoints left out in the last build, by reason.\n# TYPE split_k8s_endpoints_left_out gauge\n");
	fprintf(f, "split_k8s_endpoints_left_out{reason=\"not_ready\"} %llu\n",
		(unsigned long long)bs->eps_not_ready);
	fprintf(f, "split_k8s_endpoints_left_out{reason=\"no_version\"} %llu\n",
		(unsigned long long)bs->eps_unversioned);
	fprintf(f, "split_k8s_endpoints_left_out{reason=\"port_conflict\"} %llu\n",
		(unsigned long long)bs->eps_port_conflict);
	fprintf(f, "split_k8s_endpoints_left_out{reason=\"not_in_subset\"} %llu\n",
		(unsigned long long)bs->eps_unselected);
	fprintf(f, "# HELP split_k8s_services Services taken from the API in the last build.\n# TYPE split_k8s_services gauge\n");
	fprintf(f, "split_k8s_services %llu\n", (unsigned long long)bs->services);
	fprintf(f, "split_k8s_services_skipped %llu\n", (unsigned long long)bs->services_skipped);
}
