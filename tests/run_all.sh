#!/bin/sh
# run_all.sh - what `make test` runs: unit tests (ASan/UBSan), then the
# end-to-end suites in network namespaces (root). One closing total line.
set -u
cd "$(dirname "$0")/.." || exit 1
pass=0 fail=0 skip=0
tally() { # LOG: add up the suite's closing line
	eval "$(awk '/^[A-Za-z0-9_.-]*: [0-9]+ passed, [0-9]+ failed/ { l = $0 }
		END { n = split(l, a, " "); s = (n >= 6) ? a[6] : 0
		      printf "pass=$((pass+%d)) fail=$((fail+%d)) skip=$((skip+%d))\n", a[2], a[4], s }' "$1")"
}
log=$(mktemp /tmp/split-test.XXXXXX)
trap 'rm -f "$log"' EXIT

# Unit tests (ASan/UBSan), then BPF programs on crafted packets (test_run).
sh tests/run_unit.sh build/asan/test_* build/bpftest/test_* 2>&1 | tee "$log"
tally "$log"
# A short fuzz run of the config loaders (make fuzz for a long one).
if [ -x build/fuzz_rules ]; then
	mkdir -p build/fuzz-corpus
	if build/fuzz_rules -max_total_time="${FUZZ_SECONDS:-10}" -max_len=8192 -print_final_stats=1 \
		build/fuzz-corpus tests/data/seed tests/data/istio-bad tests/data >"$log" 2>&1; then
		echo "PASS: fuzz_rules ($(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | awk '{print $2}') runs)"
		pass=$((pass + 1))
	else
		tail -n 30 "$log"; echo "FAIL: fuzz_rules"; fail=$((fail + 1))
	fi
fi
for suite in tests/e2e/test_*.sh; do
	before=$fail
	timeout 900 bash "$suite" 2>&1 | tee "$log"
	tally "$log"
	grep -q ' passed, ' "$log" || { echo "FAIL: $suite printed no result"; fail=$((fail + 1)); }
	[ "$fail" = "$before" ] || echo "(suite $suite had failures)"
done
# The benchmarks in quick mode, so the scripts cannot rot (no timing judged).
bash bench/quick.sh 2>&1 | tee "$log"
tally "$log"
echo "all: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
