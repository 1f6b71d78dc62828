/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Runner linked into every unit test binary: see test.h. */
#include <libgen.h>

#include "test.h"

TEST_MAIN_DEFS;

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
