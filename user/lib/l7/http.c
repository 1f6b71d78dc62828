// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * http.c - HTTP/1.x framing over a connection's buffer (see l7.h).
 *
 * A `struct side` is one direction's bytes: [0, sent) forwarded, [sent,
 * parsed) parsed and still to forward, [parsed, end) not parsed yet. The
 * parser (http_parser) pauses at the end of a request head (to route) and
 * at the end of each message (pipelined bytes stay unparsed); forwarding
 * is by byte range, so what goes upstream is what the client sent. Heads
 * are kept as offsets into the buffer: nothing is copied.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE		/* splice, pipe2, accept4 */
#endif
#include <string.h>
#include <strings.h>

#include "l7.h"

static struct side *side_of(http_parser *hp)
{
	return hp->data;
}

static int rq_on_begin(http_parser *hp)
{
	struct side *s = side_of(hp);

	s->nhdrs = 0;
	s->url_seen = false;
	s->url_len = 0;
	s->last_was_value = false;
	s->head_done = false;
	s->msg_done = false;
	return 0;
}

static int rq_on_url(http_parser *hp, const char *at, size_t len)
{
	struct side *s = side_of(hp);
	size_t off = (size_t)(at - s->buf);

	if (!s->url_seen) {
		s->url_seen = true;
		s->url_off = off;
	} else if (s->url_off + s->url_len != off) {
		s->bad_head = true;
		return -1;
	}
	s->url_len += len;
	return 0;
}

static int rq_on_field(http_parser *hp, const char *at, size_t len)
{
	struct side *s = side_of(hp);
	size_t off = (size_t)(at - s->buf);
	struct hdr_off *h;

	/* chunked trailers are not routed on; past max_headers, the head
	 * is parsed to its end (431) but not kept */
	if (s->head_done || s->too_many)
		return 0;
	if (!s->nhdrs || s->last_was_value) {
		if (s->nhdrs >= s->max_hdrs) {
			s->too_many = true;
			return 0;
		}
		h = &s->hdrs[s->nhdrs++];
		h->name_off = (uint32_t)off;
		h->name_len = 0;
		h->value_off = (uint32_t)off;
		h->value_len = 0;
	} else {
		h = &s->hdrs[s->nhdrs - 1];
		if (h->name_off + h->name_len != off) {
			s->bad_head = true;
			return -1;
		}
	}
	h->name_len += (uint32_t)len;
	s->last_was_value = false;
	return 0;
}

static int rq_on_value(http_parser *hp, const char *at, size_t len)
{
	struct side *s = side_of(hp);
	size_t off = (size_t)(at - s->buf);
	struct hdr_off *h;

	if (s->head_done || s->too_many)
		return 0;
	if (!s->nhdrs) {
		s->bad_head = true;
		return -1;
	}
	h = &s->hdrs[s->nhdrs - 1];
	if (!s->last_was_value) {
		h->value_off = (uint32_t)off;
		h->value_len = (uint32_t)len;
		s->last_was_value = true;
	} else if (h->value_off + h->value_len == off) {
		h->value_len += (uint32_t)len;
	} else {
		/* obs-fold: RFC 7230 3.2.4 lets a server answer 400 */
		s->bad_head = true;
		return -1;
	}
	return 0;
}

static int rq_on_headers(http_parser *hp)
{
	struct side *s = side_of(hp);

	s->head_done = true;
	s->upgrade = hp->upgrade;
	http_parser_pause(hp, 1);
	return 0;
}

static int on_message(http_parser *hp)
{
	struct side *s = side_of(hp);

	s->msg_done = true;
	s->keepalive = http_should_keep_alive(hp);
	http_parser_pause(hp, 1);
	return 0;
}

static int rs_on_headers(http_parser *hp)
{
	struct side *s = side_of(hp);
	int st = hp->status_code;

	s->status = st;
	if (st < 100 || st > 599)
		return -1;
	if (st >= 200) {
		size_t n = s->inj_ck;

		if (s->inject_close && http_should_keep_alive(hp))
			n += L7_CC_LEN;
		if (n) {
			s->inj_len = (uint16_t)n;
			s->inject_pending = true;	/* resp_step() notes where */
			http_parser_pause(hp, 1);
		}
	}
	if (st == 101)
		return s->req_upgrade ? 2 : 1;
	if (s->req_method == HTTP_CONNECT && st / 100 == 2)
		return 2;
	if (st / 100 == 1 || st == 204 || st == 304 ||
	    s->req_method == HTTP_HEAD)
		return 1;		/* no body, whatever the headers say */
	return 0;
}

const http_parser_settings l7_rq_settings = {
	.on_message_begin = rq_on_begin,
	.on_url = rq_on_url,
	.on_header_field = rq_on_field,
	.on_header_value = rq_on_value,
	.on_headers_complete = rq_on_headers,
	.on_message_complete = on_message,
};

static const http_parser_settings rs_settings = {
	.on_headers_complete = rs_on_headers,
	.on_message_complete = on_message,
};

void l7_side_attach(struct side *s, char *buf, size_t cap,
		    struct hdr_off *hdrs, unsigned max_hdrs)
{
	s->buf = buf;
	s->cap = cap;
	s->hdrs = hdrs;
	s->max_hdrs = max_hdrs;
}

/* Parse [parsed, min(end, limit)) up to a pause. 0, or -1 on a parse
 * error. */
static int side_parse_to(struct side *s, const http_parser_settings *st,
			 size_t limit)
{
	size_t n, stop = s->end < limit ? s->end : limit;
	enum http_errno e;

	if (s->parsed >= stop)
		return 0;
	n = http_parser_execute(&s->hp, st, s->buf + s->parsed,
				stop - s->parsed);
	if (n > stop - s->parsed)
		n = stop - s->parsed;
	s->parsed += n;
	e = HTTP_PARSER_ERRNO(&s->hp);
	if (e == HPE_PAUSED) {
		http_parser_pause(&s->hp, 0);
		return 0;
	}
	return e == HPE_OK ? 0 : -1;
}

int l7_side_parse(struct side *s, const http_parser_settings *st)
{
	return side_parse_to(s, st, SIZE_MAX);
}

/* Make room to read: drop what was forwarded (keeping the current
 * message from msg_start for a retry while it fits). */
void l7_side_make_room(struct side *s)
{
	size_t keep = s->sent;

	if (s->end < s->cap && s->sent < s->end)
		return;
	if (s->msg_start != SIZE_MAX && s->msg_start < keep) {
		if (s->msg_start > 0 || s->end < s->cap)
			keep = s->msg_start;
		else
			s->msg_start = SIZE_MAX;	/* too big to resend */
	}
	if (!keep)
		return;
	memmove(s->buf, s->buf + keep, s->end - keep);
	s->sent -= keep;
	s->parsed -= keep;
	s->end -= keep;
	if (s->msg_start != SIZE_MAX)
		s->msg_start -= keep;
	if (s->inject_pending && s->inject_at != SIZE_MAX)
		s->inject_at -= keep;	/* keep <= sent <= inject_at */
	if (s->skip_to > s->skip_from) {
		if (s->skip_from >= keep) {
			s->skip_from -= keep;
			s->skip_to -= keep;
		} else {
			s->skip_from = s->skip_to = 0;	/* sent past it */
		}
	}
}

/* A new request: its head starts at buf[0]. */
void l7_side_begin_request(struct side *s)
{
	size_t keep = s->parsed;

	if (keep && s->end > keep)
		memmove(s->buf, s->buf + keep, s->end - keep);
	s->end -= keep;
	s->sent = s->parsed = s->msg_start = 0;
	s->nhdrs = 0;
	s->url_seen = false;
	s->url_len = 0;
	s->last_was_value = false;
	s->head_done = s->msg_done = false;
	s->bad_head = s->too_many = s->upgrade = false;
	s->skip_from = s->skip_to = 0;
	s->close_stripped = false;
}

/*
 * Connection is hop-by-hop (RFC 9110 7.6.1): a client's "close" asks the
 * proxy to close the client connection after the response, not the
 * upstream one. For an HTTP/1.1 request (not an upgrade or CONNECT) with
 * one Connection header whose only option is "close", that line is not
 * forwarded: the upstream sees a keep-alive request and its connection
 * goes back to the pool; the client's connection closes after the
 * response as asked. Other Connection headers are forwarded as they are.
 */
void l7_plan_strip_close(struct side *q)
{
	const struct hdr_off *h = NULL;
	const char *v;
	size_t vl, end;

	q->skip_from = q->skip_to = 0;
	q->close_stripped = false;
	if (q->upgrade || q->hp.method == HTTP_CONNECT ||
	    q->hp.http_major != 1 || q->hp.http_minor != 1)
		return;
	for (unsigned i = 0; i < q->nhdrs; i++) {
		if (q->hdrs[i].name_len != 10 ||
		    strncasecmp(q->buf + q->hdrs[i].name_off, "connection", 10))
			continue;
		if (h)
			return;		/* two of them: leave it all alone */
		h = &q->hdrs[i];
	}
	if (!h || h->name_off < q->msg_start || h->name_off == 0 ||
	    q->buf[h->name_off - 1] != '\n')
		return;
	v = q->buf + h->value_off;
	vl = h->value_len;
	while (vl && (*v == ' ' || *v == '\t'))
		v++, vl--;
	while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
		vl--;
	if (vl != 5 || strncasecmp(v, "close", 5))
		return;
	for (end = h->value_off + h->value_len; end < q->parsed && q->buf[end] != '\n'; end++)
		;
	if (end >= q->parsed)
		return;
	q->skip_from = h->name_off;
	q->skip_to = end + 1;
	q->close_stripped = true;
}

void l7_side_begin_response(struct side *s, int method, bool upgrade)
{
	http_parser_init(&s->hp, HTTP_RESPONSE);
	s->hp.data = s;
	s->sent = s->parsed = s->end = 0;
	s->msg_start = SIZE_MAX;
	s->head_done = s->msg_done = s->keepalive = false;
	s->status = 0;
	s->req_method = method;
	s->req_upgrade = upgrade;
	s->inject_close = s->inject_pending = false;
	s->inj_len = 0;
	s->inject_at = SIZE_MAX;
	s->inject_sent = 0;
}

/* The methods http_parser knows, by name. */
static bool known_method(const char *m, size_t n)
{
	for (int i = 0; i < 64; i++) {
		const char *k = http_method_str((enum http_method)i);

		if (!k || !strcmp(k, "<unknown>"))
			break;
		if (strlen(k) == n && !memcmp(k, m, n))
			return true;
	}
	return false;
}

/*
 * The parser refused the connection's first request line. Is it an HTTP
 * request the proxy refuses (an extension method, a space in the target:
 * 501 or 400, and the connection closes, so that nothing pipelined after
 * it escapes the rules), or bytes of another protocol (TLS, the HTTP/2
 * preface, anything else), relayed at L4? An HTTP request line is
 * "token SP target SP HTTP/d.d": a line that starts with a token and a
 * space and ends with an HTTP/1.x version is HTTP. HS_MORE: the line
 * looks like one so far; wait for its end.
 */
static int classify_first_line(const struct side *s, size_t max_head)
{
	size_t i = s->msg_start, tok, eol, e, end = s->end;
	const char *b = s->buf;

	/* what the parser may see: the outcome must not depend on reads */
	if (end - s->msg_start > max_head)
		end = s->msg_start + max_head;
	while (i < end && (b[i] == '\r' || b[i] == '\n'))
		i++;
	for (tok = i; tok < end && tok - i < 32 && l7_is_tchar((unsigned char)b[tok]); tok++)
		;
	if (tok - i >= 32)
		return HS_NONHTTP;	/* no method is that long */
	if (tok == end)
		return HS_MORE;
	if (tok == i || b[tok] != ' ')
		return HS_NONHTTP;
	for (eol = tok; eol < end && b[eol] != '\n'; eol++) {
		unsigned char c = (unsigned char)b[eol];

		if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7f)
			return HS_NONHTTP;	/* binary: not a request line */
	}
	if (eol == end)
		return HS_MORE;
	e = eol;
	if (e > tok && b[e - 1] == '\r')
		e--;
	if (e - tok < 10 || memcmp(b + e - 9, " HTTP/1.", 8) ||
	    b[e - 1] < '0' || b[e - 1] > '9')
		return HS_NONHTTP;
	return known_method(b + i, tok - i) ? HS_400 : HS_501;
}

/* Parse the request head in [parsed, end). first: the connection's first
 * request, which may turn out not to be HTTP. The parser never sees a
 * byte past max_head_bytes of head, so the outcome does not depend on
 * how the bytes were cut into reads. */
int l7_head_step(struct side *s, const struct l7_proxy_opts *o, bool first)
{
	if (side_parse_to(s, &l7_rq_settings, s->msg_start + o->max_head_bytes)) {
		enum http_errno e = HTTP_PARSER_ERRNO(&s->hp);
		size_t i = s->msg_start;
		int k;

		if (e == HPE_HEADER_OVERFLOW)
			return HS_431;
		if (s->bad_head || !first)
			return HS_400;
		/* An error inside the first line: HTTP or not? */
		while (i < s->parsed && (s->buf[i] == '\r' || s->buf[i] == '\n'))
			i++;
		if (memchr(s->buf + i, '\n', s->parsed - i))
			return HS_400;	/* past the first line */
		k = classify_first_line(s, o->max_head_bytes);
		if (k == HS_MORE && s->end - s->msg_start >= o->max_head_bytes)
			return HS_431;
		return k;
	}
	if (!s->head_done) {
		if (s->parsed - s->msg_start >= o->max_head_bytes)
			return HS_431;
		return HS_MORE;
	}
	if (s->too_many || s->parsed + 1 - s->msg_start > o->max_head_bytes)
		return HS_431;
	if (s->hp.http_major != 1)
		return first ? HS_NONHTTP : HS_400;
	/* Transfer-Encoding whose final coding is not chunked (RFC 7230
	 * 3.3.3): the body length cannot be known. */
	if (s->hp.uses_transfer_encoding && !(s->hp.flags & F_CHUNKED))
		return HS_400;
	for (unsigned i = 0; i < s->nhdrs; i++) {
		const struct hdr_off *h = &s->hdrs[i];

		if (!h->name_len)
			return HS_400;
		for (size_t k = 0; k < h->name_len; k++)
			if (!l7_is_tchar((unsigned char)s->buf[h->name_off + k]))
				return HS_400;
	}
	return HS_DONE;
}

static bool wanted(const struct l7_snap *snap, const char *name, size_t len)
{
	if (!snap || snap->all_hdrs)
		return true;
	for (unsigned i = 0; i < snap->nhdr_names; i++)
		if (snap->hdr_lens[i] == len &&
		    !strncasecmp(snap->hdr_names[i], name, len))
			return true;
	return false;
}

/* The split_http_request of the head in s (pointers into s->buf), with
 * only the headers the rules of snap look at (all if snap is NULL). */
void l7_build_request(struct side *s, const struct l7_snap *snap,
		      struct split_http_request *req,
		      struct split_http_header *hv,
		      struct split_http_param *params)
{
	const char *url = s->url_seen ? s->buf + s->url_off : "/";
	size_t ulen = s->url_seen ? s->url_len : 1, n = 0;

	memset(req, 0, sizeof(*req));
	req->method = http_method_str((enum http_method)s->hp.method);
	req->method_len = strlen(req->method);
	if (ulen && url[0] != '/' && url[0] != '*' &&
	    s->hp.method != HTTP_CONNECT) {
		/* absolute-form: route on its path; never connect to its host */
		struct http_parser_url u;

		http_parser_url_init(&u);
		if (ulen <= UINT16_MAX &&
		    !http_parser_parse_url(url, ulen, 0, &u) &&
		    (u.field_set & (1 << UF_PATH))) {
			size_t off = u.field_data[UF_PATH].off;

			url += off;
			ulen -= off;
		} else {
			url = "/";
			ulen = 1;
		}
	}
	split_http_set_target(req, url, ulen, params, L7_MAX_PARAMS);
	for (unsigned i = 0; i < s->nhdrs; i++) {
		const struct hdr_off *h = &s->hdrs[i];
		size_t vl = h->value_len;

		if (!wanted(snap, s->buf + h->name_off, h->name_len))
			continue;
		while (vl && (s->buf[h->value_off + vl - 1] == ' ' ||
			      s->buf[h->value_off + vl - 1] == '\t'))
			vl--;
		hv[n].name = s->buf + h->name_off;
		hv[n].name_len = h->name_len;
		hv[n].value = s->buf + h->value_off;
		hv[n].value_len = vl;
		n++;
	}
	req->headers = hv;
	req->nheaders = n;
}

/* RFC 6265 5.4 cookie-string: "a=b; c=d", but also as sent by others
 * ("a=b;c=d", spaces around '=', several Cookie lines). */
bool l7_find_cookie(const struct side *s, const char *name, size_t nlen,
		    const char **val, size_t *vlen)
{
	for (unsigned i = 0; i < s->nhdrs; i++) {
		const struct hdr_off *h = &s->hdrs[i];
		const char *p, *end;

		if (h->name_len != 6 ||
		    strncasecmp(s->buf + h->name_off, "cookie", 6))
			continue;
		p = s->buf + h->value_off;
		end = p + h->value_len;
		while (p < end) {
			const char *pair = p, *eq, *pe, *v, *ve;

			while (p < end && *p != ';')
				p++;
			pe = p;
			if (p < end)
				p++;			/* past ';' */
			while (pair < pe && (*pair == ' ' || *pair == '\t'))
				pair++;
			eq = memchr(pair, '=', (size_t)(pe - pair));
			if (!eq)
				continue;
			ve = eq;
			while (ve > pair && (ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			if ((size_t)(ve - pair) != nlen || memcmp(pair, name, nlen))
				continue;
			v = eq + 1;
			ve = pe;
			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			if (ve - v >= 2 && *v == '"' && ve[-1] == '"')
				v++, ve--;
			*val = v;
			*vlen = (size_t)(ve - v);
			return true;
		}
	}
	return false;
}

/* Parse response bytes, passing interim 1xx responses over (they are
 * relayed as bytes). eof: the upstream closed. */
int l7_resp_step(struct side *s, bool eof, bool *eof_framed)
{
	while (s->parsed < s->end) {
		size_t before = s->parsed;

		if (l7_side_parse(s, &rs_settings))
			return RP_BROKEN;
		if (s->inject_pending && s->inject_at == SIZE_MAX) {
			/* paused on the head's last LF: insert before its CR
			 * (a bare LF: before it) */
			if (s->parsed >= 2 && s->buf[s->parsed - 1] == '\r')
				s->inject_at = s->parsed - 1;
			else
				s->inject_at = s->parsed;
		}
		if (s->msg_done) {
			if (s->status / 100 == 1 && s->status != 101) {
				s->msg_done = false;
				continue;
			}
			if (s->status == 101 && !s->req_upgrade)
				return RP_BROKEN;
			return RP_DONE;
		}
		if (s->parsed == before)
			return RP_BROKEN;
	}
	if (eof) {
		enum http_errno e;

		http_parser_execute(&s->hp, &rs_settings, NULL, 0);
		e = HTTP_PARSER_ERRNO(&s->hp);
		if (e == HPE_PAUSED)
			http_parser_pause(&s->hp, 0);
		else if (e != HPE_OK)
			return RP_BROKEN;
		if (s->msg_done && s->status / 100 != 1) {
			*eof_framed = true;
			return RP_DONE;
		}
		return RP_BROKEN;
	}
	return RP_MORE;
}
