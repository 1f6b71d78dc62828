// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * test_l7_uring.c - the L7 proxy's whole unit suite (test_l7proxy.c: real
 * sockets, real upstream servers on loopback) again with the workers on
 * io_uring (opts.io = L7_IO_URING), so both backends keep every behaviour.
 * If this kernel refuses io_uring, the binary says SKIP (never PASS).
 */
#define L7_TEST_IO L7_IO_URING
#include "test_l7proxy.c"
