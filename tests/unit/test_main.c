/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Runner linked into every unit test binary: see test.h. */
#include <libgen.h>

#include "test.h"

TEST_MAIN_DEFS;

int main(int argc, char **argv)
{
	(void)argc;
#ifdef TEST_SUITE	/* the unit tests: DIR/test_X, as under tests/unit/ */
	(void)argv;
	return test_run_all(TEST_SUITE);
#else
	return test_run_all(basename(argv[0]));
#endif
}
