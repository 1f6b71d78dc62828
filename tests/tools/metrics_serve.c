// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * metrics_serve.c - test helper: serve the counters pinned under PIN_DIR on
 * ADDR:PORT with split_metrics_listen() / split_metrics_handle(), the way
 * splitd's poll loop does, until killed (SIGTERM/SIGINT: exit 0).
 *
 *   metrics_serve PIN_DIR 127.0.0.1:0
 *
 * Prints "listening PORT" on stdout once it accepts connections (port 0
 * picks a free one).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "metrics_http.h"

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct split_err err;
	struct pollfd p;
	int fd;

	if (argc != 3) {
		fprintf(stderr, "usage: metrics_serve PIN_DIR ADDR:PORT\n");
		return 2;
	}
	fd = split_metrics_listen(argv[2], &err);
	if (fd < 0) {
		fprintf(stderr, "metrics_serve: %s\n", err.msg);
		return 1;
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	printf("listening %d\n", split_metrics_port(fd));
	fflush(stdout);
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	while (!g_stop) {
		int r = poll(&p, 1, 1000);

		if (r < 0 && errno != EINTR) {
			fprintf(stderr, "metrics_serve: poll: %s\n", strerror(errno));
			return 1;
		}
		if (r > 0)
			split_metrics_handle(fd, argv[1]);
	}
	close(fd);
	return 0;
}
