// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * drive.c - the engine's parser paths fed from a buffer instead of a
 * socket (l7_drive_requests, l7_drive_response in l7proxy.h): the unit
 * tests and the HTTP fuzzer run exactly the head, routing, body framing
 * and response code that connections run.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE		/* splice, pipe2, accept4 */
#endif
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "drive.h"
#include "l7.h"

/* Append up to chunk bytes of data[*pos..len) to s. 0 if none fit. */
static size_t feed(struct side *s, const void *data, size_t len, size_t *pos,
		   size_t chunk)
{
	size_t n = len - *pos;

	if (n > s->cap - s->end)
		n = s->cap - s->end;
	if (chunk && n > chunk)
		n = chunk;
	memcpy(s->buf + s->end, (const char *)data + *pos, n);
	s->end += n;
	*pos += n;
	return n;
}

int l7_drive_requests(struct l7_proxy *p, void *svc_key, const void *data,
		      size_t len, size_t chunk, struct l7_drive_result *res)
{
	struct split_http_param params[L7_MAX_PARAMS];
	struct split_http_header *hv;
	struct split_http_request req;
	struct l7_entry *e;
	struct hdr_off *hdrs;
	struct side s;
	size_t pos = 0, cap = p->o.max_head_bytes + L7_BUF_EXTRA;
	bool first = true;
	char *buf;

	memset(res, 0, sizeof(*res));
	memset(&s, 0, sizeof(s));
	pthread_mutex_lock(&p->mu);
	e = l7_entry_find(p, svc_key, true);
	pthread_mutex_unlock(&p->mu);
	hv = calloc(p->o.max_headers, sizeof(*hv));
	hdrs = calloc(p->o.max_headers, sizeof(*hdrs));
	buf = malloc(cap);
	if (!e || !hv || !hdrs || !buf) {
		free(hv);
		free(hdrs);
		free(buf);
		errno = ENOMEM;
		return -1;
	}
	l7_side_attach(&s, buf, cap, hdrs, p->o.max_headers);
	http_parser_init(&s.hp, HTTP_REQUEST);
	s.hp.data = &s;
	for (;;) {
		struct l7_snap *snap;
		struct l7_pick pk;
		int r = HS_MORE;

		l7_side_begin_request(&s);
		for (;;) {
			if (s.parsed < s.end)
				r = l7_head_step(&s, &p->o, first);
			if (r != HS_MORE)
				break;
			if (s.end >= s.cap) {
				r = HS_431;
				break;
			}
			if (!feed(&s, data, len, &pos, chunk)) {
				res->need_more = s.end > 0;
				goto out;
			}
		}
		if (r == HS_400 || r == HS_431 || r == HS_501) {
			res->status = r == HS_400 ? 400 : r == HS_431 ? 431 : 501;
			goto out;
		}
		if (r == HS_NONHTTP) {
			res->nonhttp = 1;
			goto out;
		}
		snap = l7_snap_cur(e);
		l7_build_request(&s, snap, &req, hv, params);
		{
			const char *ck = NULL;
			size_t ckl = 0;

			if (snap && snap->sticky_len &&
			    !l7_find_cookie(&s, snap->sticky, snap->sticky_len, &ck, &ckl))
				ck = NULL;
			l7_route(snap, &req, ck, ckl, &pk);
		}
		res->requests++;
		if (pk.route >= 0 && pk.route < 4)
			res->routed[pk.route]++;
		if (pk.status) {
			res->status = pk.status;
			goto out;
		}
		/* the body, as the exchange frames it; "sent" at once */
		s.sent = s.parsed;
		while (!s.msg_done) {
			if (s.parsed < s.end) {
				if (l7_side_parse(&s, &l7_rq_settings)) {
					res->status = 400;
					goto out;
				}
				s.sent = s.parsed;
				continue;
			}
			l7_side_make_room(&s);
			if (!feed(&s, data, len, &pos, chunk)) {
				res->need_more = 1;
				goto out;
			}
		}
		res->messages++;
		if (s.upgrade) {
			res->upgrade = 1;
			goto out;
		}
		if (!s.keepalive)
			goto out;
		first = false;
	}
out:
	free(buf);
	free(hdrs);
	free(hv);
	return 0;
}

int l7_drive_response(const void *data, size_t len, size_t chunk,
		      int method, int upgrade)
{
	struct side s;
	size_t pos = 0;
	bool eof_framed = false;
	int ret = 0;
	char *buf = malloc(L7_RESP_BUF);

	if (!buf)
		return -1;
	memset(&s, 0, sizeof(s));
	l7_side_attach(&s, buf, L7_RESP_BUF, NULL, 0);
	l7_side_begin_response(&s, method, upgrade);
	for (;;) {
		bool eof;
		int st;

		l7_side_make_room(&s);
		eof = !feed(&s, data, len, &pos, chunk) && s.parsed == s.end;
		st = l7_resp_step(&s, eof, &eof_framed);
		s.sent = s.parsed;
		if (st == RP_DONE) {
			ret = s.status;
			break;
		}
		if (st == RP_BROKEN) {
			ret = -1;
			break;
		}
		if (eof)
			break;
	}
	free(buf);
	return ret;
}
