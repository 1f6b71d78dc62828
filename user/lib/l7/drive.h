/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * l7/drive.h - test entry points into the L7 proxy (drive.c): the request
 * and response paths fed from memory, without sockets. For the unit tests
 * and the fuzz target only; splitd never calls them.
 */
#ifndef SPLIT_L7_DRIVE_H
#define SPLIT_L7_DRIVE_H

#include "l7proxy.h"

/* What a connection would have done with these client bytes. */
struct l7_drive_result {
	unsigned requests;		/* heads complete and routed */
	unsigned messages;		/* requests complete, body included */
	unsigned routed[4];		/* requests whose route index was 0..3 */
	int status;			/* local answer that ended it: 400, 404,
					 * 408 (never here), 431, 503; or 0 */
	int nonhttp;			/* relayed at L4 */
	int upgrade;			/* ended with an upgrade or CONNECT */
	int need_more;			/* the data ended inside a message */
};

/*
 * Feed data as a client connection's input, in reads of at most chunk
 * bytes (0: as large as the buffer allows), through the code the proxy
 * runs: head reading with its limits, request building, routing with the
 * service svc_key of p (set with l7_proxy_set_service; no listener and no
 * l7_proxy_run needed), body framing, pipelining. Nothing is sent.
 * Returns 0, or -1 on ENOMEM.
 */
int l7_drive_requests(struct l7_proxy *p, void *svc_key, const void *data,
		      size_t len, size_t chunk, struct l7_drive_result *res);

/* Feed data as an upstream's answer to a request of the given method
 * (http_parser's enum http_method, e.g. 1 GET, 2 HEAD, 5 CONNECT) through
 * the response path. Returns the final status (1xx skipped), or 0 if the
 * data ends first, or -1 if the response is broken (502). */
int l7_drive_response(const void *data, size_t len, size_t chunk,
		      int method, int upgrade);

#endif /* SPLIT_L7_DRIVE_H */
