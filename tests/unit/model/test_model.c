/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * test_model.c - the model's helpers (model.c): addresses parsed and
 * printed, error messages, freeing.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "model.h"
#include "test.h"

/* ---- addresses ------------------------------------------------------------ */

TEST(addr_roundtrip)
{
	static const char *const ok[] = {
		"10.0.0.1", "0.0.0.0", "255.255.255.255", "fd00::1", "::",
		"::1", "fd00:201:1::2", "2001:db8::ff00:42:8329",
		"::ffff:10.1.2.3",
	};
	struct split_addr a;
	char buf[64];

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ASSERT_EQ(split_addr_parse(ok[i], &a), 0);
		ASSERT_STREQ(split_addr_str(&a, buf, sizeof(buf)), ok[i]);
	}
	/* Non-canonical input comes back canonical. */
	ASSERT_EQ(split_addr_parse("FD00:0:0::0001", &a), 0);
	ASSERT_STREQ(split_addr_str(&a, buf, sizeof(buf)), "fd00::1");
}

TEST(addr_layout)
{
	static const uint8_t v4[16] = { 10, 201, 1, 2 };
	static const uint8_t v6[16] = { 0xfd, 0x00, 0x02, 0x01, 0, 1,
					[15] = 2 };
	struct split_addr a;

	memset(&a, 0xaa, sizeof(a));
	ASSERT_EQ(split_addr_parse("10.201.1.2", &a), 0);
	ASSERT_EQ(a.family, 4);
	ASSERT_EQ(memcmp(a.bytes, v4, 16), 0);
	ASSERT_EQ(split_addr_parse("fd00:201:1::2", &a), 0);
	ASSERT_EQ(a.family, 6);
	ASSERT_EQ(memcmp(a.bytes, v6, 16), 0);
	ASSERT_EQ(split_addr_parse("::ffff:10.1.2.3", &a), 0);
	ASSERT_EQ(a.family, 6);
}

TEST(addr_reject)
{
	static const char *const bad[] = {
		"", " 10.0.0.1", "10.0.0.1 ", "10.0.0", "10.0.0.256",
		"10.0.0.300", "1.2.3.4.5", "10.0.0.1/32", "fd00::1::2",
		"fe80::1%eth0", "fd00::g", "localhost", "0x0a.0.0.1",
		"[fd00::1]", "fd00::1 ", "10.0.0.1\n",
	};
	struct split_addr a = { .family = 9 };
	char buf[64];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (split_addr_parse(bad[i], &a) != -EINVAL) {
			fprintf(stderr, "  accepted '%s'\n", bad[i]);
			ASSERT_TRUE(0);
		}
		ASSERT_EQ(a.family, 9);	/* untouched on error */
	}
	ASSERT_EQ(split_addr_parse(NULL, &a), -EINVAL);
	ASSERT_STREQ(split_addr_str(&a, buf, sizeof(buf)), "?");
	/* Too small a buffer gives "?", never a truncated address. */
	ASSERT_EQ(split_addr_parse("fd00:201:1::2", &a), 0);
	ASSERT_STREQ(split_addr_str(&a, buf, 8), "?");
}

TEST(errf_and_free)
{
	struct split_err err;
	struct split_config cfg = { 0 };
	struct split_service svc = { 0 };

	ASSERT_EQ(split_errf(&err, "%s:%d: %s", "f", 3, "bad"), -EINVAL);
	ASSERT_STREQ(err.msg, "f:3: bad");
	ASSERT_EQ(split_errf(NULL, "x"), -EINVAL);
	split_config_free(&cfg);	/* zeroed: a no-op */
	split_config_free(&cfg);
	split_service_free(&svc);
	ASSERT_TRUE(cfg.svcs == NULL && cfg.nsvcs == 0);
}
