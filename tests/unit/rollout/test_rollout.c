/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * test_rollout.c - what `splitctl rollout start` accepts: steps, durations,
 * rates and sticky cookie names (rollout.c). The rollout itself runs against real maps and
 * servers in tests/e2e/test_rollout.sh.
 */
#include <stdint.h>
#include <string.h>

#include "rollout.h"
#include "test.h"

TEST(steps)
{
	static const char *const bad[] = {
		"", "0", "101", "10,5", "10,10", "5,,10", "5,", ",5", "a", "5;10",
		"1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17", "-5", "5 10",
	};
	struct split_rollout_opts o;
	struct split_err err;

	split_rollout_opts_init(&o);
	ASSERT_EQ(split_rollout_parse_steps("1,5,10,25,50,100", &o, &err), 0);
	ASSERT_EQ(o.nsteps, 6);
	ASSERT_EQ(o.steps[0], 1);
	ASSERT_EQ(o.steps[5], 100);
	ASSERT_EQ(split_rollout_parse_steps("100", &o, &err), 0);
	ASSERT_EQ(o.nsteps, 1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o.nsteps = 42;
		if (!split_rollout_parse_steps(bad[i], &o, &err))
			TEST_FAIL_("steps '%s' accepted", bad[i]);
		ASSERT_EQ(o.nsteps, 42);	/* untouched */
		ASSERT_TRUE(err.msg[0] != '\0');
	}
}

TEST(durations)
{
	static const struct { const char *s; uint32_t ms; } ok[] = {
		{ "100ms", 100 }, { "1.5s", 1500 }, { "30s", 30000 }, { "2m", 120000 },
		{ "1h", 3600000 }, { "24h", 86400000 }, { "0.25s", 250 },
	};
	static const char *const bad[] = {
		"", "30", "s", "99ms", "25h", "1.s", "-1s", "1 s", "1sec", "1e3ms",
		"99999999999999s",
	};
	struct split_err err;
	uint32_t ms;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ASSERT_EQ(split_rollout_parse_duration(ok[i].s, &ms, &err), 0);
		ASSERT_EQ(ms, ok[i].ms);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (!split_rollout_parse_duration(bad[i], &ms, &err))
			TEST_FAIL_("duration '%s' accepted (%u ms)", bad[i], ms);
}

TEST(rates)
{
	static const struct { const char *s; uint32_t ppm; } ok[] = {
		{ "1%", 10000 }, { "0.5%", 5000 }, { "0", 0 }, { "100%", 1000000 },
		{ "0.01%", 100 }, { "2", 20000 },
	};
	static const char *const bad[] = { "", "%", "abc", "101%", "1%%", "-1%", "1 %" };
	struct split_err err;
	uint32_t ppm;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ASSERT_EQ(split_rollout_parse_rate(ok[i].s, &ppm, &err), 0);
		ASSERT_EQ(ppm, ok[i].ppm);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (!split_rollout_parse_rate(bad[i], &ppm, &err))
			TEST_FAIL_("rate '%s' accepted (%u ppm)", bad[i], ppm);
}

TEST(sticky_cookie_names)
{
	static const char *const ok[] = {
		"split-version", "reviews_v", "a", "Az09!#$%&'*+-.^_`|~",
		"012345678901234567890123456789012345678901234567890123456789012",
	};
	static const char *const bad[] = {
		"", "a b", "a;b", "a=b", "a,b", "\"a\"", "a\tb", "a/b", "a(b)", "a:b",
		"caf\xc3\xa9", "a\x7f",
		"0123456789012345678901234567890123456789012345678901234567890123",
	};
	struct split_err err;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (split_rollout_check_cookie(ok[i], &err))
			TEST_FAIL_("cookie name '%s' refused: %s", ok[i], err.msg);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err.msg[0] = '\0';
		if (!split_rollout_check_cookie(bad[i], &err))
			TEST_FAIL_("cookie name '%s' accepted", bad[i]);
		ASSERT_TRUE(strstr(err.msg, "--sticky-cookie") != NULL);
	}
}

TEST(weight_in_force)
{
	struct split_rollout_val v;

	memset(&v, 0, sizeof(v));
	v.nsteps = 3;
	v.steps[0] = 10;
	v.steps[1] = 50;
	v.steps[2] = 100;
	v.step = 1;
	v.state = SPLIT_RO_RUNNING;
	ASSERT_EQ(split_rollout_weight(&v), 50);
	v.state = SPLIT_RO_PAUSED;
	ASSERT_EQ(split_rollout_weight(&v), 50);
	/* Ended: what the last decision left in force. */
	v.state = SPLIT_RO_ROLLED_BACK;
	v.nevents = 9;
	v.events[8 % SPLIT_ROLLOUT_EVENTS].weight = 0;
	ASSERT_EQ(split_rollout_weight(&v), 0);
	ASSERT_STREQ(split_rollout_state_str(SPLIT_RO_ROLLED_BACK), "rolled-back");
	ASSERT_STREQ(split_rollout_what_str(SPLIT_RO_EV_HOLD), "hold");
	ASSERT_STREQ(split_rollout_what_str(999), "unknown");
}
