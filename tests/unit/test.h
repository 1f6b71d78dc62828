/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * test.h - minimal unit test harness in the spirit of the kernel selftests.
 *
 *   TEST(name) { ASSERT_EQ(a, b); ... }
 *
 * test_main.c (linked into every test binary) holds main().
 *
 * Each failed ASSERT prints file:line, the expression and both values, and
 * ends the current test; TEST_SKIP ends it as skipped. The runner prints
 * PASS/FAIL/SKIP per test and a closing line "N passed, N failed" (with
 * ", N skipped" when some were). TEST_ONLY=NAME runs one test; a NAME that
 * names no test fails, and so does a binary with more than TEST_MAX tests
 * (the ones past it would never run).
 */
#ifndef SPLIT_TEST_H
#define SPLIT_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct test_case {
	const char *name;
	void (*fn)(int *failed);
};

#define TEST_MAX 256
extern struct test_case test_cases[TEST_MAX];
extern int test_ncases, test_overflow;

#define TEST(name)                                                        \
	static void test_##name(int *failed);                             \
	__attribute__((constructor)) static void test_reg_##name(void)    \
	{                                                                 \
		if (test_ncases < TEST_MAX)                               \
			test_cases[test_ncases++] =                       \
				(struct test_case){ #name, test_##name }; \
		else                                                      \
			test_overflow++;                                  \
	}                                                                 \
	static void test_##name(int *failed)

#define TEST_FAIL_(fmt, ...)                                              \
	do {                                                              \
		fprintf(stderr, "  %s:%d: " fmt "\n", __FILE__, __LINE__, \
			##__VA_ARGS__);                                   \
		*failed = 1;                                              \
		return;                                                   \
	} while (0)

/* The test cannot run here (e.g. needs root): SKIP, never PASS. */
#define TEST_SKIP(fmt, ...)                                               \
	do {                                                              \
		fprintf(stderr, "  skipped: " fmt "\n", ##__VA_ARGS__);  \
		*failed = 2;                                              \
		return;                                                   \
	} while (0)

#define ASSERT_TRUE(c)                                                    \
	do {                                                              \
		if (!(c))                                                 \
			TEST_FAIL_("ASSERT_TRUE(%s) failed", #c);         \
	} while (0)
#define ASSERT_FALSE(c) ASSERT_TRUE(!(c))

#define ASSERT_CMP_(a, b, op)                                             \
	do {                                                              \
		long long a_ = (long long)(a), b_ = (long long)(b);       \
		if (!(a_ op b_))                                          \
			TEST_FAIL_("ASSERT %s %s %s failed: %lld vs %lld", \
				   #a, #op, #b, a_, b_);                  \
	} while (0)
#define ASSERT_EQ(a, b) ASSERT_CMP_(a, b, ==)
#define ASSERT_NE(a, b) ASSERT_CMP_(a, b, !=)
#define ASSERT_LT(a, b) ASSERT_CMP_(a, b, <)
#define ASSERT_LE(a, b) ASSERT_CMP_(a, b, <=)
#define ASSERT_GT(a, b) ASSERT_CMP_(a, b, >)
#define ASSERT_GE(a, b) ASSERT_CMP_(a, b, >=)

#define ASSERT_STREQ(a, b)                                                \
	do {                                                              \
		const char *a_ = (a), *b_ = (b);                          \
		if (!a_ || !b_ || strcmp(a_, b_))                         \
			TEST_FAIL_("ASSERT_STREQ(%s, %s) failed: \"%s\" vs \"%s\"", \
				   #a, #b, a_ ? a_ : "(null)",            \
				   b_ ? b_ : "(null)");                   \
	} while (0)

/* Substring check, for error messages. */
#define ASSERT_CONTAINS(hay, needle)                                      \
	do {                                                              \
		const char *h_ = (hay), *n_ = (needle);                   \
		if (!h_ || !strstr(h_, n_))                               \
			TEST_FAIL_("ASSERT_CONTAINS(%s, \"%s\") failed: \"%s\"", \
				   #hay, n_, h_ ? h_ : "(null)");         \
	} while (0)

/* fn runs once when the binary ends, however it ends short of SIGKILL:
 * a return from main, exit(), SIGTERM/SIGINT/SIGHUP/SIGABRT (a timeout, a
 * ^C) or a sanitizer's report (which skips exit handlers and destructors).
 * For what a test leaves outside the process: bpffs pins, cgroups, temp
 * dirs. Registering fn again changes nothing; at most 8 functions, the last
 * registered runs first. (test_main.c) */
void test_at_exit(void (*fn)(void));

#define TEST_MAIN_DEFS                                                    \
	struct test_case test_cases[TEST_MAX];                            \
	int test_ncases, test_overflow

static inline int test_run_all(const char *prog)
{
	int passed = 0, nfailed = 0, skipped = 0, ran = 0;
	const char *only = getenv("TEST_ONLY");

	if (test_overflow) {
		printf("FAIL: %s: %d tests past TEST_MAX (%d) would not run: raise it\n",
		       prog, test_overflow, TEST_MAX);
		nfailed++;
	}
	if (only && !*only)
		only = NULL;

	for (int i = 0; i < test_ncases; i++) {
		int failed = 0;

		if (only && strcmp(only, test_cases[i].name))
			continue;
		ran++;
		test_cases[i].fn(&failed);
		printf("%s: %s %s\n", failed == 2 ? "SKIP" : failed ? "FAIL" : "PASS",
		       prog, test_cases[i].name);
		if (failed == 2)
			skipped++;
		else if (failed)
			nfailed++;
		else
			passed++;
	}
	if (only && !ran) {
		printf("FAIL: %s: TEST_ONLY=%s names no test of this binary\n", prog, only);
		nfailed++;
	}
	if (skipped)
		printf("%s: %d passed, %d failed, %d skipped\n", prog, passed, nfailed,
		       skipped);
	else
		printf("%s: %d passed, %d failed\n", prog, passed, nfailed);
	return nfailed ? 1 : 0;
}

#endif /* SPLIT_TEST_H */
