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
skips=$(mktemp /tmp/split-skips.XXXXXX)
times=$(mktemp /tmp/split-times.XXXXXX)
trap 'rm -f "$log" "$skips" "$times"' EXIT
# How long each part took (seconds), listed at the end, longest first: the
# suite must stay well under CI's 15 minutes.
t0=$(date +%s) tp=$t0
took() { # NAME: the time since the last mark
	now=$(date +%s)
	echo "$((now - tp)) $1" >>"$times"
	tp=$now
}
# Each suite's SKIP lines, for the CI check at the end.
noteskips() { grep '^SKIP: ' "$1" >>"$skips" || true; }

# Unit tests (ASan/UBSan), then BPF programs on crafted packets (test_run).
sh tests/run_unit.sh $(find build/asan/unit -type f -name 'test_*' | sort) build/bpftest/test_* \
	2>&1 | tee "$log"
tally "$log"; noteskips "$log"
took "unit and BPF tests"
# Short fuzz runs: the config loaders and the L7 proxy's request path
# (make fuzz for long ones).
fuzz() { # NAME MAXLEN CORPUS...
	name=$1 maxlen=$2
	shift 2
	[ -x "build/$name" ] || return 0
	mkdir -p "build/$name-corpus"
	if "build/$name" -max_total_time="${FUZZ_SECONDS:-10}" -max_len="$maxlen" \
		-print_final_stats=1 "build/$name-corpus" "$@" >"$log" 2>&1; then
		echo "PASS: $name ($(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | awk '{print $2}') runs)"
		pass=$((pass + 1))
	else
		tail -n 30 "$log"; echo "FAIL: $name"; fail=$((fail + 1))
	fi
}
fuzz fuzz_rules 8192 tests/data/seed tests/data/istio-bad tests/data
fuzz fuzz_http 65536
fuzz fuzz_k8s 65536 tests/data/k8s/fuzz
took "fuzz runs"
# The Kubernetes manifests, offline (tests/k8s), then the netns suites.
for suite in tests/k8s/test_*.sh tests/e2e/test_*.sh; do
	before=$fail
	timeout 900 bash "$suite" 2>&1 | tee "$log"
	tally "$log"; noteskips "$log"
	grep -q ' passed, ' "$log" || { echo "FAIL: $suite printed no result"; fail=$((fail + 1)); }
	[ "$fail" = "$before" ] || echo "(suite $suite had failures)"
	took "$suite"
done
# The benchmarks in quick mode, so the scripts cannot rot (no timing judged).
bash bench/quick.sh 2>&1 | tee "$log"
tally "$log"; noteskips "$log"
took "bench/quick.sh"
# In CI (SPLIT_CI=1, set by .ci/run) everything the tests need is installed,
# so a skip is a failure, unless tests/ci-skips names it with the reason it
# cannot run on a CI machine.
if [ "${SPLIT_CI:-0}" = 1 ]; then
	while read -r _ name; do
		grep -qxF "$name" tests/ci-skips 2>/dev/null && continue
		echo "FAIL: skipped in CI: $name (CI installs what tests need; tests/ci-skips lists the exceptions)"
		fail=$((fail + 1))
	done <"$skips"
fi
echo "time: $(($(date +%s) - t0)) s in all; the longest parts:"
sort -rn "$times" | head -n 8 | awk '{ t = $1; $1 = ""; printf "  %4d s %s\n", t, substr($0, 2) }'
echo "all: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
