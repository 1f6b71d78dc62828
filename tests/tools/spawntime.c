// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * spawntime - the wall time of one command, from its start to its exit
 * (bench/bench_ctl.sh: how long `splitctl set` runs).
 *
 *   spawntime CMD [ARG...]
 *
 * Starts CMD with posix_spawnp() (glibc: clone(CLONE_VM | CLONE_VFORK),
 * no copy of this process's page tables), its standard output on
 * /dev/null, waits for it, and prints the seconds between a
 * CLOCK_MONOTONIC read just before the spawn and one just after the wait,
 * e.g. "0.003912". Timed from a shell instead, the figure also holds the
 * shell's own fork(), which copies the shell's page tables and grows
 * with the shell's size (a large benchmark script: about a millisecond
 * more on this VM). Exit 0 if CMD exited 0; else CMD's status goes to
 * stderr and the exit is 1 (2: bad usage, or CMD could not start).
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../lib/tutil.h"

extern char **environ;

int main(int argc, char **argv)
{
	posix_spawn_file_actions_t fa;
	uint64_t t0, t1;
	pid_t pid;
	int st, e;

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		fprintf(argc < 2 ? stderr : stdout,
			"usage: spawntime CMD [ARG...]\n"
			"Runs CMD (its stdout on /dev/null) and prints its wall time in seconds,\n"
			"from just before its spawn to just after its exit.\n");
		return argc < 2 ? 2 : 0;
	}
	if (posix_spawn_file_actions_init(&fa) ||
	    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0)) {
		fprintf(stderr, "spawntime: %s\n", strerror(errno));
		return 2;
	}
	t0 = tu_mono_ns();
	e = posix_spawnp(&pid, argv[1], &fa, NULL, argv + 1, environ);
	if (e) {
		fprintf(stderr, "spawntime: %s: %s\n", argv[1], strerror(e));
		return 2;
	}
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "spawntime: waitpid: %s\n", strerror(errno));
			return 2;
		}
	}
	t1 = tu_mono_ns();
	posix_spawn_file_actions_destroy(&fa);
	printf("%.6f\n", (double)(t1 - t0) / 1e9);
	if (WIFEXITED(st) && !WEXITSTATUS(st))
		return 0;
	if (WIFEXITED(st))
		fprintf(stderr, "spawntime: %s exited %d\n", argv[1], WEXITSTATUS(st));
	else
		fprintf(stderr, "spawntime: %s killed by signal %d\n", argv[1], WTERMSIG(st));
	return 1;
}
