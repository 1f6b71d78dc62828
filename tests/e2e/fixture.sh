#!/bin/bash
# fixture.sh - shared by the end-to-end suites: a testbed, splitd started and
# stopped as a user would, and helpers to read splitclient's output.
#
#   T_SUITE=e2e_NAME
#   source "$(dirname "$0")/fixture.sh"
#   fixture_up          (or fixture_up_l7)
#   fixture_splitd
#
# It sources tests/lib.sh (which runs the caller from the repository's
# root, with set -u) and scripts/testbed.sh.
#
#   SPLITD_NS    netns to run splitd in (default: the caller's)
#   SPLITD_ARGS  extra splitd arguments (an array)

source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source scripts/testbed.sh

SPLITD_NS=${SPLITD_NS:-}
[ -n "${SPLITD_ARGS+x}" ] || SPLITD_ARGS=()
VIP4=10.96.0.10 VIP6=fd00:96::10 PORT=9080
SEED=tests/data/seed			# the seed's RouteRules
COOKIE='cookie: user=test-user'		# the seed's test user

cleanup() {
	stop_splitd
	if [ -n "${TB_PIN:-}" ] && [ -d "$TB_PIN" ]; then
		# --unload detaches tc filters by ifindex: run it where splitd ran.
		if [ -n "$SPLITD_NS" ]; then
			nsenter --net="/run/netns/$SPLITD_NS" "$B/splitd" -q --unload -p "$TB_PIN"
		else
			"$B/splitd" -q --unload -p "$TB_PIN"
		fi 2>/dev/null
	fi
	# A second datapath some tests load on a child cgroup (test_map_sizes).
	if [ -n "${TB_PIN:-}" ] && [ -d "$TB_PIN-sz" ]; then
		"$B/splitd" -q --unload -p "$TB_PIN-sz" 2>/dev/null
	fi
	[ -n "${TB_CGROUP:-}" ] && [ -d "$TB_CGROUP/sz" ] && rmdir "$TB_CGROUP/sz" 2>/dev/null
	tb_down
	[ -n "${WORK:-}" ] && [ -z "${KEEP:-}" ] && rm -rf "$WORK"
}

fixture_up() {
	if [ "$(id -u)" != 0 ]; then
		echo "SKIP: $T_SUITE (needs root)"
		echo "$T_SUITE: 0 passed, 0 failed, 1 skipped"
		exit 0
	fi
	trap cleanup EXIT
	# Killed (timeout, ^C): exit through the EXIT trap, so the testbed,
	# the pins and splitd go too. A signal's default action would skip it.
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'exit 129' HUP
	WORK=$(mktemp -d /tmp/split-e2e.XXXXXX)
	tb_up || { echo "FAIL: testbed did not come up"; exit 1; }
	SVC="$WORK/services.yaml"
	cp "$(tb_services_file)" "$SVC"
	[ -z "$SPLITD_NS" ] || SPLITD_NS=$(eval echo "$SPLITD_NS")
}

# fixture_up_l7 [ARG...]: fixture_up for splitd in the node netns with its
# L7 proxy on the node's addresses: L7_ARGS holds those flags and ARGs,
# SPLITD_ARGS starts as L7_ARGS.
fixture_up_l7() {
	SPLITD_NS='$TB_NODE'	# shellcheck disable=SC2016 # fixture_up expands it
	fixture_up
	L7_ARGS=(--l7-addr "$TB_NODE_IP4" --l7-addr "$TB_NODE_IP6" "${L7_IO[@]}" "$@")
	SPLITD_ARGS=("${L7_ARGS[@]}")
}

# fixture_splitd: start splitd (start_splitd); the suite cannot go on without.
fixture_splitd() {
	start_splitd || { echo "FAIL: splitd did not start"; exit 1; }
}

# fixture_service NAME VIP PORT:TARGETPORT ADDR=VERSION...: one more
# service in the services file (before splitd starts), its endpoints
# labelled app: NAME, version: VERSION.
fixture_service() {
	local name=$1 vip=$2 port=${3%%:*} target=${3#*:} ep
	shift 3
	{
		printf -- '---\napiVersion: split.dev/v1\nkind: Service\nmetadata:\n  name: %s\n' "$name"
		printf 'spec:\n  clusterIPs: [%s]\n  ports:\n  - port: %s\n    targetPort: %s\n' \
			"$vip" "$port" "$target"
		echo "  endpoints:"
		for ep in "$@"; do
			printf '  - addresses: [%s]\n    labels: {app: %s, version: %s}\n' \
				"${ep%%=*}" "$name" "${ep#*=}"
		done
	} >>"$SVC"
}

alive() { # PID: running and not a zombie
	[ -r "/proc/$1/stat" ] && ! awk '{ exit !($3 == "Z") }' "/proc/$1/stat" 2>/dev/null
}

# E2E_L7_IO=uring|epoll: the L7 suites run splitd's proxy on that backend
# (--l7-io; unset: splitd's default).
L7_IO=()
[ -z "${E2E_L7_IO:-}" ] || L7_IO=(--l7-io "$E2E_L7_IO")

# start_splitd: and wait until this one is watching (the log accumulates).
# In SPLITD_NS, and in the cgroup SPLITD_CG if set (sh and nsenter exec
# splitd, so that $! is splitd).
start_splitd() {
	local run=() seen
	seen=$(grep -c "watching" "$WORK/splitd.log" 2>/dev/null)
	# shellcheck disable=SC2016 # $$ and $1 belong to the inner sh
	[ -z "${SPLITD_CG:-}" ] ||
		run=(sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' sh "$SPLITD_CG")
	[ -z "$SPLITD_NS" ] || run+=(nsenter --net="/run/netns/$SPLITD_NS")
	# --metrics on port 0: parallel runs must not fight over the default port.
	"${run[@]}" "$B/splitd" -c "$SVC" -g "$TB_CGROUP" -p "$TB_PIN" --metrics 127.0.0.1:0 \
		"${SPLITD_ARGS[@]}" \
		>>"$WORK/splitd.log" 2>&1 </dev/null &
	splitd_started "$seen"
}

# splitd_started SEEN: splitd was just started in the background ($!): note
# its pid, wait until its log has more than SEEN "watching" lines.
splitd_started() {
	echo $! >"$WORK/splitd.pid"
	disown
	for _ in $(seq 100); do
		[ "$(grep -c "watching" "$WORK/splitd.log" 2>/dev/null)" -gt "${1:-0}" ] && return 0
		alive "$(cat "$WORK/splitd.pid")" || break
		sleep 0.1
	done
	cat "$WORK/splitd.log" >&2
	return 1
}

stop_splitd() { # [SIGNAL]: stop it and wait until it is gone
	local pid
	[ -f "${WORK:-/nonexistent}/splitd.pid" ] || return 0
	pid=$(cat "$WORK/splitd.pid")
	kill "-${1:-TERM}" "$pid" 2>/dev/null
	for _ in $(seq 100); do alive "$pid" || break; sleep 0.05; done
	rm -f "$WORK/splitd.pid"
	return 0
}

ctl() { "$B/splitctl" -p "$TB_PIN" "$@"; }
client() { tb_client "$B/splitclient" "$@"; }

# vcount OUTPUT VERSION: N from splitclient's "version VERSION N" line.
vcount() { awk -v v="$2" '$1 == "version" && $2 == v { n = $3 } END { print n + 0 }' <<<"$1"; }
# field OUTPUT KEY: a number from the "total N ok N fail N ..." line.
field() { awk -v k="$2" '$1 == "total" { for (i = 1; i < NF; i++) if ($i == k) print $(i + 1) }' <<<"$1"; }
expect_clean() { # OUTPUT N: N ok, no failure, getpeername/recvmsg showed the VIP
	expect_eq "$(field "$1" total)" "$2" "total"
	expect_eq "$(field "$1" fail)" 0 "failed connections"
	expect_eq "$(field "$1" peer_mismatch)" 0 "peer address not the VIP"
}
# expect_split N VERSION SHARE WHAT CMD...: a splitclient run (CMD -n N, e.g.
# `client --connect $VIP4 --port $PORT`) is clean and gives VERSION its SHARE
# of the N connections, within 4 sigma. Its output is left in out (the
# caller's local) for further checks.
expect_split() {
	local n=$1 v=$2 share=$3 what=$4
	shift 4
	out=$("$@" -n "$n")
	expect_clean "$out" "$n"
	within_sigma "$(vcount "$out" "$v")" "$n" "$share" 4 "$what"
}
snapshot() { # the whole control state, byte for byte
	local m
	for m in svc backends services weights tables_v3 slots_v3 big_v4; do
		echo "== $m"; bpftool map dump pinned "$TB_PIN/$m" 2>&1
	done
}
