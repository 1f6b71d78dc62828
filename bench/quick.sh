#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# quick.sh - run every benchmark (bench/bench_*.sh) in quick mode (tiny counts, no write to
# bench/results.md) so that the scripts cannot rot; for `make test`. Each
# script counts as one test: passed if it ran end to end. Timing is never
# judged. Needs root (skipped otherwise). About 20 s per script.
set -u
cd "$(dirname "$0")/.." || exit 1
if [ "$(id -u)" != 0 ]; then
	echo "SKIP: bench quick mode (needs root)"
	echo "bench_quick: 0 passed, 0 failed, 1 skipped"
	exit 0
fi
pass=0 fail=0
for s in bench/bench_*.sh; do
	echo "--- $s --quick"
	if timeout 300 bash "$s" --quick; then
		echo "PASS: $s --quick"
		pass=$((pass + 1))
	else
		echo "FAIL: $s --quick"
		fail=$((fail + 1))
	fi
done
# bench_l7's --proxy-quota (CPU cgroups per proxy): a short variant of it.
s="bench/bench_l7.sh --quick --proxy-quota 50 --paths ours,hap --no-skmsg --no-epoll"
echo "--- $s"
if timeout 300 bash $s; then
	echo "PASS: $s"
	pass=$((pass + 1))
else
	echo "FAIL: $s"
	fail=$((fail + 1))
fi
echo "bench_quick: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
