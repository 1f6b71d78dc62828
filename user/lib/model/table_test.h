/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * table_test.h - a test entry point into table.c, for tests/unit/model/test_table.c
 * only: split_table_build() without its shortcuts for one or two
 * candidates (the general walk), whose result must be the same.
 */
#ifndef SPLIT_TABLE_TEST_H
#define SPLIT_TABLE_TEST_H

#include <stdint.h>

#include "table.h"

int split_table_build_walk(const struct split_service *svc, int family,
			   uint32_t *out, size_t nslots);

/* |neg_log2_approx(h) - neg_log2_u(h)|, in units of 2^-32 (test_table
 * checks the bound race_two() relies on). */
double split_table_log_err(uint64_t h);

#endif /* SPLIT_TABLE_TEST_H */
