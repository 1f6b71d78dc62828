// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* fixture.c - the L7 engine tests' servers, proxy and client (fixture.h). */
#include "fixture.h"

/* Append at[0..len) to buf (cap bytes, *n used), dropping what does not fit. */
static void append_clamped(char *buf, size_t cap, size_t *n, const char *at, size_t len)
{
	if (len > cap - *n)
		len = cap - *n;
	memcpy(buf + *n, at, len);
	*n += len;
}

struct ups_conn {
	struct ups *u;
	int fd;
	http_parser hp;
	char path[256];
	size_t plen;
	char field[32];
	size_t flen;
	char value[64];
	size_t vlen;
	bool in_value, expect, close_after;
	char *body;
	size_t blen, bcap;
};

static void uc_commit(struct ups_conn *c)
{
	if (c->flen == 6 && !strncasecmp(c->field, "expect", 6) &&
	    c->vlen >= 12 && !strncasecmp(c->value, "100-continue", 12))
		c->expect = true;
	c->flen = c->vlen = 0;
	c->in_value = false;
}

static int uc_url(http_parser *hp, const char *at, size_t len)
{
	struct ups_conn *c = hp->data;

	if (len > sizeof(c->path) - 1 - c->plen)
		len = sizeof(c->path) - 1 - c->plen;
	memcpy(c->path + c->plen, at, len);
	c->plen += len;
	return 0;
}

static int uc_field(http_parser *hp, const char *at, size_t len)
{
	struct ups_conn *c = hp->data;

	if (c->in_value)
		uc_commit(c);
	append_clamped(c->field, sizeof(c->field), &c->flen, at, len);
	return 0;
}

static int uc_value(http_parser *hp, const char *at, size_t len)
{
	struct ups_conn *c = hp->data;

	c->in_value = true;
	append_clamped(c->value, sizeof(c->value), &c->vlen, at, len);
	return 0;
}

static int uc_headers(http_parser *hp)
{
	struct ups_conn *c = hp->data;
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

	if (c->in_value)
		uc_commit(c);
	if (c->expect)
		tu_send_all(c->fd, cont, sizeof(cont) - 1);
	return 0;
}

static int uc_body(http_parser *hp, const char *at, size_t len)
{
	struct ups_conn *c = hp->data;

	if (c->blen + len > c->bcap) {
		size_t cap = (c->blen + len) * 2;
		char *b = realloc(c->body, cap);

		if (!b)
			return -1;
		c->body = b;
		c->bcap = cap;
	}
	memcpy(c->body + c->blen, at, len);
	c->blen += len;
	return 0;
}

static int uc_message(http_parser *hp)
{
	struct ups_conn *c = hp->data;
	struct ups *u = c->u;
	char head[512];
	const char *body = c->blen ? c->body : u->name;
	size_t blen = c->blen ? c->blen : strlen(u->name);
	int n;

	c->path[c->plen] = '\0';
	if (hp->upgrade) {
		if (hp->method == HTTP_CONNECT)
			n = snprintf(head, sizeof(head),
				     "HTTP/1.1 200 Connection Established\r\n"
				     "X-Version: %s\r\nX-Name: %s\r\n\r\n",
				     u->version, u->name);
		else
			n = snprintf(head, sizeof(head),
				     "HTTP/1.1 101 Switching Protocols\r\n"
				     "Connection: Upgrade\r\nUpgrade: echo\r\n"
				     "X-Version: %s\r\nX-Name: %s\r\n\r\n",
				     u->version, u->name);
		tu_send_all(c->fd, head, (size_t)n);
		goto reset;
	}
	if (!http_should_keep_alive(hp))
		c->close_after = true;
	if (!strcmp(c->path, "/chunked")) {
		size_t half = strlen(u->name) / 2;

		n = snprintf(head, sizeof(head),
			     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
			     "X-Version: %s\r\nX-Name: %s\r\nX-Path: %s\r\n\r\n"
			     "%zx\r\n%.*s\r\n%zx\r\n%s\r\n0\r\n\r\n",
			     u->version, u->name, c->path, half, (int)half,
			     u->name, strlen(u->name) - half, u->name + half);
		tu_send_all(c->fd, head, (size_t)n);
	} else if (!strcmp(c->path, "/eof")) {
		n = snprintf(head, sizeof(head),
			     "HTTP/1.1 200 OK\r\nConnection: close\r\n"
			     "X-Version: %s\r\nX-Name: %s\r\nX-Path: %s\r\n\r\n%s",
			     u->version, u->name, c->path, u->name);
		tu_send_all(c->fd, head, (size_t)n);
		c->close_after = true;
	} else if (!strcmp(c->path, "/slow")) {
		/* a request still in flight 300 ms later */
		usleep(300 * 1000);
		n = snprintf(head, sizeof(head),
			     "HTTP/1.1 200 OK\r\nX-Version: %s\r\nX-Name: %s\r\n"
			     "X-Path: %s\r\nContent-Length: 4\r\n\r\nslow",
			     u->version, u->name, c->path);
		tu_send_all(c->fd, head, (size_t)n);
	} else if (!strcmp(c->path, "/lf")) {
		/* a head whose lines end in a bare LF (RFC 9112 2.2 lets
		 * recipients take them) */
		n = snprintf(head, sizeof(head),
			     "HTTP/1.1 200 OK\nX-Version: %s\nX-Name: %s\n"
			     "X-Path: %s\nContent-Length: %zu\n\n%s",
			     u->version, u->name, c->path, strlen(u->name), u->name);
		tu_send_all(c->fd, head, (size_t)n);
	} else if (!strcmp(c->path, "/204")) {
		n = snprintf(head, sizeof(head),
			     "HTTP/1.1 204 No Content\r\nX-Version: %s\r\n"
			     "X-Name: %s\r\nX-Path: %s\r\n\r\n",
			     u->version, u->name, c->path);
		tu_send_all(c->fd, head, (size_t)n);
	} else {
		if (!strcmp(c->path, "/103")) {
			static const char eh[] =
				"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n";

			tu_send_all(c->fd, eh, sizeof(eh) - 1);
		}
		n = snprintf(head, sizeof(head),
			     "HTTP/1.1 200 OK\r\nX-Version: %s\r\nX-Name: %s\r\n"
			     "X-Path: %s\r\nContent-Length: %zu\r\n\r\n",
			     u->version, u->name, c->path, blen);
		tu_send_all(c->fd, head, (size_t)n);
		if (hp->method != HTTP_HEAD)
			tu_send_all(c->fd, body, blen);
	}
reset:
	c->plen = 0;
	c->blen = 0;
	c->expect = false;
	return 0;
}

static const http_parser_settings uc_settings = {
	.on_url = uc_url,
	.on_header_field = uc_field,
	.on_header_value = uc_value,
	.on_headers_complete = uc_headers,
	.on_body = uc_body,
	.on_message_complete = uc_message,
};

static void *ups_conn_thread(void *arg)
{
	struct ups_conn *c = arg;
	struct ups *u = c->u;
	char buf[65536];
	bool raw = false, first = true;

	http_parser_init(&c->hp, HTTP_REQUEST);
	c->hp.data = c;
	for (;;) {
		struct pollfd pf[2] = { { .fd = c->fd, .events = POLLIN },
					{ .fd = u->stopfd, .events = POLLIN } };
		ssize_t n;
		size_t k;

		if (poll(pf, 2, -1) < 0 && errno != EINTR)
			break;
		if (pf[1].revents)
			break;
		n = recv(c->fd, buf, sizeof(buf), 0);
		if (n <= 0)
			break;
		if (first) {
			first = false;
			if (!(buf[0] >= 'A' && buf[0] <= 'Z') ||
			    (n >= 4 && !memcmp(buf, "PRI ", 4))) {
				char hello[64];
				int h = snprintf(hello, sizeof(hello), "RAW %s\n",
						 u->name);

				raw = true;
				tu_send_all(c->fd, hello, (size_t)h);
			}
		}
		if (raw) {
			if (tu_send_all(c->fd, buf, (size_t)n))
				break;
			continue;
		}
		k = http_parser_execute(&c->hp, &uc_settings, buf, (size_t)n);
		if (c->hp.upgrade) {
			raw = true;
			if (k < (size_t)n && tu_send_all(c->fd, buf + k, (size_t)n - k))
				break;
			continue;
		}
		if (HTTP_PARSER_ERRNO(&c->hp) != HPE_OK) {
			static const char bad[] =
				"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
				"Connection: close\r\n\r\n";

			tu_send_all(c->fd, bad, sizeof(bad) - 1);
			break;
		}
		if (c->close_after)
			break;
	}
	close(c->fd);
	free(c->body);
	free(c);
	pthread_mutex_lock(&u->mu);
	u->nconns--;
	pthread_cond_broadcast(&u->cv);
	pthread_mutex_unlock(&u->mu);
	return NULL;
}

static void *ups_accept_thread(void *arg)
{
	struct ups *u = arg;

	for (;;) {
		struct pollfd pf[2] = { { .fd = u->lfd, .events = POLLIN },
					{ .fd = u->stopfd, .events = POLLIN } };
		struct ups_conn *c;
		pthread_attr_t attr;
		pthread_t t;
		int fd, one = 1;

		if (poll(pf, 2, -1) < 0 && errno != EINTR)
			break;
		if (pf[1].revents)
			break;
		fd = accept4(u->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->u = u;
		c->fd = fd;
		pthread_mutex_lock(&u->mu);
		u->nconns++;
		u->accepted++;
		pthread_mutex_unlock(&u->mu);
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		pthread_attr_setstacksize(&attr, 256 * 1024);
		if (pthread_create(&t, &attr, ups_conn_thread, c)) {
			close(fd);
			free(c);
			pthread_mutex_lock(&u->mu);
			u->nconns--;
			pthread_mutex_unlock(&u->mu);
		}
		pthread_attr_destroy(&attr);
	}
	return NULL;
}

int ups_start(struct ups *u, const char *name, const char *version)
{
	memset(u, 0, sizeof(*u));
	snprintf(u->name, sizeof(u->name), "%s", name);
	snprintf(u->version, sizeof(u->version), "%s", version);
	pthread_mutex_init(&u->mu, NULL);
	pthread_cond_init(&u->cv, NULL);
	u->stopfd = eventfd(0, EFD_CLOEXEC);
	u->lfd = tu_listen_lo(&u->port, 1024);
	if (u->stopfd < 0 || u->lfd < 0)
		return -1;
	return pthread_create(&u->acc, NULL, ups_accept_thread, u) ? -1 : 0;
}

void ups_stop(struct ups *u)
{
	uint64_t one = 1;

	if (write(u->stopfd, &one, sizeof(one)) != sizeof(one))
		return;
	pthread_join(u->acc, NULL);
	pthread_mutex_lock(&u->mu);
	while (u->nconns)
		pthread_cond_wait(&u->cv, &u->mu);
	pthread_mutex_unlock(&u->mu);
	close(u->lfd);
	close(u->stopfd);
	pthread_mutex_destroy(&u->mu);
	pthread_cond_destroy(&u->cv);
}

static void *run_thread(void *arg)
{
	struct fx *f = arg;

	l7_proxy_run(f->p);
	return NULL;
}

static const char *const versions[] = { "v1", "v2" };

/* Route "reviews" with these RouteRule files (or the YAML text in
 * yaml) and default weights v1, v2 (w NULL: equal per endpoint). */
int fx_service(struct fx *f, const char **files, size_t nfiles,
	       const char *yaml, const uint32_t *w)
{
	struct split_rules rules = { 0 };
	struct split_err err;
	struct l7_service svc = {
		.eps = f->eps,
		.neps = 3,
		.versions = versions,
		.default_weights = w,
		.nversions = 2,
		.sticky_cookie = f->sticky,
	};
	int r;

	if (nfiles && split_rules_load(files, nfiles, &rules, &err)) {
		fprintf(stderr, "  rules: %s\n", err.msg);
		return -1;
	}
	if (yaml && split_rules_parse("test.yaml", yaml, strlen(yaml), &rules,
				      &err)) {
		fprintf(stderr, "  rules: %s\n", err.msg);
		return -1;
	}
	svc.rules = split_rules_find(&rules, "default", "reviews");
	r = l7_proxy_set_service(f->p, &f->key, &svc);
	/* the proxy keeps its own copy */
	split_rules_free(&rules);
	return r;
}

static int fx_io = -1;	/* -1: as L7_TEST_IO says */

void fx_force_io(int io)
{
	fx_io = io;
}

static int fx_io_wanted(void)
{
	const char *e = getenv("L7_TEST_IO");

	if (fx_io >= 0)
		return fx_io;
	if (!e || !*e)
		return L7_IO_AUTO;
	return !strcmp(e, "uring") ? L7_IO_URING : L7_IO_EPOLL;
}

bool fx_uring(struct l7_proxy *p)
{
	return l7_proxy_io(p, NULL) == L7_IO_URING;
}

struct l7_proxy *fx_proxy_new(const struct l7_proxy_opts *o)
{
	struct l7_proxy_opts x = { 0 };
	struct l7_proxy *p;
	const char *why;

	if (o)
		x = *o;
	if (fx_io_wanted() != L7_IO_AUTO)
		x.io = fx_io_wanted();
	p = l7_proxy_new(&x);
	if (p && x.io != L7_IO_AUTO && l7_proxy_io(p, &why) != x.io) {
		/* not the backend asked for: nothing here would test it */
		printf("SKIP: the L7 backend asked for: %s\n"
		       "l7 backend: 0 passed, 0 failed, 1 skipped\n", why);
		exit(0);
	}
	return p;
}

int fx_start(struct fx *f, const struct l7_proxy_opts *o,
	     const char **files, size_t nfiles, const uint32_t *w)
{
	static const char *const names[3][2] = {
		{ "v1-a", "v1" }, { "v1-b", "v1" }, { "v2-a", "v2" },
	};
	struct split_addr lo;
	int port;

	memset(f, 0, sizeof(*f));
	split_addr_parse("127.0.0.1", &lo);
	for (int i = 0; i < 3; i++) {
		if (ups_start(&f->ups[i], names[i][0], names[i][1]))
			return -1;
		f->eps[i].addr = lo;
		f->eps[i].port = f->ups[i].port;
		snprintf(f->eps[i].version, sizeof(f->eps[i].version), "%s",
			 names[i][1]);
	}
	f->p = fx_proxy_new(o);
	if (!f->p)
		return -1;
	port = l7_proxy_listen(f->p, &lo, 0, &f->key);
	if (port <= 0)
		return -1;
	f->port = (uint16_t)port;
	if (fx_service(f, files, nfiles, NULL, w))
		return -1;
	return pthread_create(&f->run, NULL, run_thread, f) ? -1 : 0;
}

void fx_stop(struct fx *f)
{
	l7_proxy_stop(f->p);
	pthread_join(f->run, NULL);
	l7_proxy_free(f->p);
	for (int i = 0; i < 3; i++)
		ups_stop(&f->ups[i]);
}

int cli_connect(struct cli *c, uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(port) };
	struct timeval tv = { .tv_sec = 10 };
	int one = 1;

	memset(c, 0, sizeof(*c));
	http_parser_init(&c->hp, HTTP_RESPONSE);
	c->hp.data = c;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	return 0;
}

void cli_close(struct cli *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

void resp_free(struct resp *r)
{
	free(r->body);
	memset(r, 0, sizeof(*r));
}

static void cl_commit(struct cli *c)
{
	struct resp *r = c->r;
	char *dst = NULL;
	size_t cap = 0;

	if (c->flen == 9 && !strncasecmp(c->field, "x-version", 9)) {
		dst = r->version;
		cap = sizeof(r->version);
	} else if (c->flen == 6 && !strncasecmp(c->field, "x-name", 6)) {
		dst = r->name;
		cap = sizeof(r->name);
	} else if (c->flen == 6 && !strncasecmp(c->field, "x-path", 6)) {
		dst = r->path;
		cap = sizeof(r->path);
	} else if (c->flen == 10 && !strncasecmp(c->field, "set-cookie", 10)) {
		dst = r->setck;
		cap = sizeof(r->setck);
		r->nsetck++;
	}
	if (dst)
		snprintf(dst, cap, "%.*s", (int)c->vlen, c->value);
	c->flen = c->vlen = 0;
	c->in_value = false;
}

static int cl_field(http_parser *hp, const char *at, size_t len)
{
	struct cli *c = hp->data;

	if (c->in_value)
		cl_commit(c);
	append_clamped(c->field, sizeof(c->field), &c->flen, at, len);
	return 0;
}

static int cl_value(http_parser *hp, const char *at, size_t len)
{
	struct cli *c = hp->data;

	c->in_value = true;
	append_clamped(c->value, sizeof(c->value), &c->vlen, at, len);
	return 0;
}

static int cl_headers(http_parser *hp)
{
	struct cli *c = hp->data;

	if (c->in_value)
		cl_commit(c);
	c->r->status = hp->status_code;
	if (hp->status_code == 101 ||
	    (c->connect && hp->status_code / 100 == 2))
		return 2;
	return c->head || hp->status_code / 100 == 1 ? 1 : 0;
}

static int cl_body(http_parser *hp, const char *at, size_t len)
{
	struct cli *c = hp->data;
	struct resp *r = c->r;

	if (r->blen + len + 1 > r->bcap) {
		size_t cap = (r->blen + len + 1) * 2;
		char *b = realloc(r->body, cap);

		if (!b)
			return -1;
		r->body = b;
		r->bcap = cap;
	}
	memcpy(r->body + r->blen, at, len);
	r->blen += len;
	r->body[r->blen] = '\0';
	return 0;
}

static int cl_message(http_parser *hp)
{
	struct cli *c = hp->data;
	int st = hp->status_code;

	if (st / 100 == 1 && st != 101) {
		c->r->interim = st;
		if (!c->stop_interim)
			return 0;
	}
	c->r->keepalive = http_should_keep_alive(hp);
	c->done = true;
	http_parser_pause(hp, 1);
	return 0;
}

static const http_parser_settings cl_settings = {
	.on_header_field = cl_field,
	.on_header_value = cl_value,
	.on_headers_complete = cl_headers,
	.on_body = cl_body,
	.on_message_complete = cl_message,
};

/* Read one response (1xx passed over unless stop_interim). 0 or -1. */
int cli_read(struct cli *c, struct resp *r, bool head,
	     bool stop_interim)
{
	resp_free(r);
	c->r = r;
	c->head = head;
	c->stop_interim = stop_interim;
	c->done = false;
	for (;;) {
		ssize_t n;

		if (c->off < c->len) {
			size_t k = http_parser_execute(&c->hp, &cl_settings,
						       c->buf + c->off,
						       c->len - c->off);

			c->off += k;
			if (HTTP_PARSER_ERRNO(&c->hp) == HPE_PAUSED)
				http_parser_pause(&c->hp, 0);
			else if (HTTP_PARSER_ERRNO(&c->hp) != HPE_OK)
				return -1;
			if (c->done)
				return 0;
			if (c->hp.upgrade)
				return -1;
		}
		if (c->off == c->len)
			c->off = c->len = 0;
		n = recv(c->fd, c->buf + c->len,
			 c->rmax && c->rmax < sizeof(c->buf) - c->len ?
			 c->rmax : sizeof(c->buf) - c->len, 0);
		if (n == 0) {
			http_parser_execute(&c->hp, &cl_settings, NULL, 0);
			if (HTTP_PARSER_ERRNO(&c->hp) == HPE_PAUSED)
				http_parser_pause(&c->hp, 0);
			return c->done ? 0 : -1;
		}
		if (n < 0)
			return -1;
		c->len += (size_t)n;
	}
}

/* GET path with an optional cookie; 0 or -1. */
int cli_get(struct cli *c, const char *path, const char *cookie,
	    struct resp *r)
{
	char req[512];
	int n;

	n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: reviews:9080\r\n"
		     "%s%s%s\r\n", path, cookie ? "Cookie: " : "",
		     cookie ? cookie : "", cookie ? "\r\n" : "");
	if (tu_send_all(c->fd, req, (size_t)n))
		return -1;
	return cli_read(c, r, false, false);
}

/* n requests on one connection; counts by version. -1 on an error. */
int count_versions(uint16_t port, int n, const char *cookie,
		   int *v1, int *v2)
{
	struct resp r = { 0 };
	struct cli *c = malloc(sizeof(*c));
	int ret = 0;

	*v1 = *v2 = 0;
	if (!c || cli_connect(c, port)) {
		free(c);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		if (cli_get(c, "/", cookie, &r) || r.status != 200) {
			ret = -1;
			break;
		}
		if (!strcmp(r.version, "v1"))
			(*v1)++;
		else if (!strcmp(r.version, "v2"))
			(*v2)++;
	}
	resp_free(&r);
	cli_close(c);
	free(c);
	return ret;
}

struct l7_version_stats *find_stats(struct l7_version_stats *st, int n,
				    const char *v)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(st[i].version, v))
			return &st[i];
	return NULL;
}

const char *seed_v1[] = { RR_TEST, RR_V1 };
const char *seed_50[] = { RR_TEST, RR_50 };
const char *seed_test[] = { RR_TEST };
const uint32_t w_v1[2] = { 100, 0 };
const uint32_t w_5050[2] = { 50, 50 };

void fill_random(char *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		b[i] = (char)(seed >> 16);
	}
}

void *send_thread(void *arg)
{
	struct sender *s = arg;

	s->rc = tu_send_all(s->fd, s->buf, s->len);
	return NULL;
}

/* Send raw bytes, read the proxy's answer; status or -1. The connection
 * must then be closed by the proxy. */
int raw_status(uint16_t port, const char *req, size_t len,
	       unsigned pause_ms)
{
	struct resp r = { 0 };
	struct cli *c = malloc(sizeof(*c));
	int st = -1;
	char x;

	if (!c || cli_connect(c, port)) {
		free(c);
		return -1;
	}
	if (!tu_send_all(c->fd, req, len)) {
		if (pause_ms)
			usleep(pause_ms * 1000);
		if (!cli_read(c, &r, false, false) && !r.keepalive &&
		    c->off == c->len && recv(c->fd, &x, 1, 0) == 0)
			st = r.status;
	}
	resp_free(&r);
	cli_close(c);
	free(c);
	return st;
}
