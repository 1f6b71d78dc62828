/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Runner linked into every unit test binary: see test.h. */
#include <libgen.h>
#include <signal.h>
#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/common_interface_defs.h>
#define TEST_DEATH_CALLBACK 1
#endif

#include "test.h"

TEST_MAIN_DEFS;

static void (*at_exit_fns[8])(void);
static int n_at_exit;
static volatile sig_atomic_t exiting;

static void run_at_exit(void)
{
	if (exiting)
		return;
	exiting = 1;
	while (n_at_exit > 0)
		at_exit_fns[--n_at_exit]();
}

static void at_exit_signal(int sig)
{
	run_at_exit();
	signal(sig, SIG_DFL);
	raise(sig);
}

void test_at_exit(void (*fn)(void))
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGABRT };

	for (int i = 0; i < n_at_exit; i++)
		if (at_exit_fns[i] == fn)
			return;		/* registered already: runs once */
	if (n_at_exit >= (int)(sizeof(at_exit_fns) / sizeof(at_exit_fns[0])))
		abort();
	if (!n_at_exit) {
		atexit(run_at_exit);
		for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
			signal(sigs[i], at_exit_signal);
#ifdef TEST_DEATH_CALLBACK
		/* a sanitizer's report ends the process without exit handlers */
		__sanitizer_set_death_callback(run_at_exit);
#endif
	}
	at_exit_fns[n_at_exit++] = fn;
}

int main(int argc, char **argv)
{
	const char *tag = getenv("TEST_SUITE_TAG");	/* a second run's name */
	static char name[256];

	(void)argc;
#ifdef TEST_SUITE	/* the unit tests: DIR/test_X, as under tests/unit/ */
	(void)argv;
	snprintf(name, sizeof(name), "%s", TEST_SUITE);
#else
	snprintf(name, sizeof(name), "%s", basename(argv[0]));
#endif
	if (tag && *tag)
		snprintf(name + strlen(name), sizeof(name) - strlen(name), "[%s]", tag);
	return test_run_all(name);
}
