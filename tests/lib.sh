#!/bin/bash
# tests/lib.sh - a tiny test framework for the netns end-to-end tests, in the
# spirit of xdp-tools' test scripts: one shell function per test, each run
# in a subshell, PASS/FAIL/SKIP per test and a closing total line.
#
#   T_SUITE=NAME
#   source "$(dirname "$0")/../lib.sh"
#   test_foo() { ...; expect_eq "$a" 3 "what a is"; ... }
#   run_tests test_foo test_bar
#
# A test fails on the first failed expectation (exit 1), skips with `skip`.
# Sourcing it runs the suite from the repository's root with set -u; B is
# the build directory (TB_BUILD, default build).

set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
B=${TB_BUILD:-build}
T_PASS=0 T_FAIL=0 T_SKIP=0
T_SUITE=${T_SUITE:-$(basename "$0" .sh)}

fail() { T_SAID=1; echo "    FAIL: $*" >&2; exit 1; }
skip() { T_SAID=1; echo "    SKIP: $*" >&2; exit 77; }
info() { echo "    $*" >&2; }

expect_eq() { [ "$1" = "$2" ] || fail "$3: got '$1', want '$2'"; }
expect_le() { [ "$1" -le "$2" ] || fail "$3: got $1, want <= $2"; }
expect_ge() { [ "$1" -ge "$2" ] || fail "$3: got $1, want >= $2"; }
# expect_contains HAYSTACK NEEDLE WHAT
expect_contains() {
	case "$1" in *"$2"*) ;; *) fail "$3: '$2' not in: $1" ;; esac
}

# within_sigma OBSERVED N P K WHAT: |observed - N*p| <= K * sqrt(N p (1-p)).
within_sigma() {
	awk -v o="$1" -v n="$2" -v p="$3" -v k="$4" 'BEGIN {
		m = n * p; s = sqrt(n * p * (1 - p)); d = o - m; if (d < 0) d = -d
		exit !(d <= k * s) }' ||
		fail "$5: $1 of $2 is not within $4 sigma of $(awk -v n="$2" -v p="$3" 'BEGIN{print n*p}')"
	info "$5: $1 of $2 (expected $(awk -v n="$2" -v p="$3" 'BEGIN{printf "%.0f", n*p}'))"
}

run_tests() {
	local t rc ran=0
	for t in "$@"; do
		if [ -n "${TEST_ONLY:-}" ] && [ "$TEST_ONLY" != "$t" ]; then continue; fi
		ran=$((ran + 1))
		echo "--- $T_SUITE $t"
		# set -e ends a test at the first command that fails; say which
		# (fail() and skip() say why themselves). An EXIT trap: it stays
		# in this subshell, where an ERR trap with set -E would also speak
		# inside every $(...) and background job of the test.
		( set -eu; trap 'rc=$?; [ $rc = 0 ] || [ $rc = 77 ] || [ -n "${T_SAID:-}" ] ||
			echo "    FAIL: \"$BASH_COMMAND\" exited $rc" >&2' EXIT; "$t" )
		rc=$?
		case $rc in
		0) echo "PASS: $T_SUITE $t"; T_PASS=$((T_PASS + 1)) ;;
		77) echo "SKIP: $T_SUITE $t"; T_SKIP=$((T_SKIP + 1)) ;;
		*) echo "FAIL: $T_SUITE $t"; T_FAIL=$((T_FAIL + 1)) ;;
		esac
	done
	if [ -n "${TEST_ONLY:-}" ] && [ "$ran" -eq 0 ]; then
		echo "FAIL: $T_SUITE: TEST_ONLY=$TEST_ONLY names no test of this suite"
		T_FAIL=$((T_FAIL + 1))
	fi
	echo "$T_SUITE: $T_PASS passed, $T_FAIL failed, $T_SKIP skipped"
	[ "$T_FAIL" -eq 0 ]
}

# states_sandbox TAG NAME STATE...: for a suite whose tests load datapaths of
# their own, each pinned at /sys/fs/bpf/split-$RUN-STATE and attached to the
# child cgroup $CGROOT/split-$RUN-STATE. Needs root (else the suite is
# skipped). Sets RUN (TAG-pid-random), CGROOT, STATES and WORK
# (/tmp/split-NAME.XXXXXX), and removes them all on exit, also on a signal.
# The list of states is fixed: tests run in subshells, the EXIT trap cannot
# learn names from them. STATES_PRE: a function the cleanup runs first.
states_sandbox() {
	local tag=$1 name=$2
	shift 2
	if [ "$(id -u)" != 0 ]; then
		echo "SKIP: $T_SUITE (needs root)"
		echo "$T_SUITE: 0 passed, 0 failed, 1 skipped"
		exit 0
	fi
	RUN=$tag-$$-$RANDOM
	CGROOT=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
	[ -n "$CGROOT" ] || { echo "FAIL: no cgroup2 mount"; exit 1; }
	STATES=("$@")
	trap states_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'exit 129' HUP
	WORK=$(mktemp -d "/tmp/split-$name.XXXXXX")
}
# After states_sandbox: STATE's pin dir, its cgroup (made), splitctl on it,
# every map the control plane writes byte for byte (mapdump: entries in key
# order, a selection table by its slots, not where they sit in slots_v3 or
# big_v4), two states compared, a version's weight in force.
pin() { echo "/sys/fs/bpf/split-$RUN-$1"; }
cg() { mkdir -p "$CGROOT/split-$RUN-$1" && echo "$CGROOT/split-$RUN-$1"; }
sctl() { local s=$1; shift; "$B/splitctl" -p "$(pin "$s")" "$@"; }
dump() {
	"$B/mapdump" "$(pin "$1")" svc backends services weights objects l7_routes l7_conds \
		tables_v3 | sort || echo "mapdump failed"
}
expect_same_maps() { # STATE_A STATE_B WHAT
	dump "$1" >"$WORK/dump.$1"
	dump "$2" >"$WORK/dump.$2"
	cmp -s "$WORK/dump.$1" "$WORK/dump.$2" ||
		fail "$3: maps differ: $(diff "$WORK/dump.$1" "$WORK/dump.$2" | cut -c 1-300 | head -n 8)"
}
weight() { # STATE SERVICE VERSION: the version's weight in force
	sctl "$1" show --json "$2" | jq -r --arg v "$3" '[.. | objects | select(.name? == $v and has("weight")) | .weight][0]'
}
# svc_doc NAME I [V2: 0 none, 1 one, 2 two] [VIP_NET]: one Service document,
# its VIP 10.VIP_NET.I (97 by default), a v1 endpoint and (by V2) v2 ones
svc_doc() {
	local name=$1 i=$2
	printf -- '---\napiVersion: split.dev/v1\nkind: Service\nmetadata:\n  name: %s\n' "$name"
	printf 'spec:\n  clusterIPs: [10.%d.%d.%d]\n  ports:\n  - port: 80\n  endpoints:\n' \
		"${4:-97}" $((i / 256)) $((i % 256))
	printf '  - addresses: [10.202.%d.%d]\n    labels: {version: v1}\n' $((i / 256)) $((i % 256))
	if [ "${3:-1}" != 0 ]; then
		printf '  - addresses: [10.203.%d.%d]\n    labels: {version: v2}\n' $((i / 256)) $((i % 256))
	fi
	if [ "${3:-1}" = 2 ]; then
		printf '  - addresses: [10.204.%d.%d]\n    labels: {version: v2}\n' $((i / 256)) $((i % 256))
	fi
}
states_cleanup() {
	local s
	[ -n "${STATES_PRE:-}" ] && [ -n "${WORK:-}" ] && "$STATES_PRE"
	for s in "${STATES[@]}"; do
		"$B/splitd" -q --unload -p "/sys/fs/bpf/split-$RUN-$s" 2>/dev/null
		rmdir "$CGROOT/split-$RUN-$s" 2>/dev/null
	done
	[ -n "${WORK:-}" ] && rm -rf "$WORK"
}
