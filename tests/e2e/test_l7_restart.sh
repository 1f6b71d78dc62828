#!/bin/bash
# test_l7_restart.sh - end to end: no connection refused while splitd's L7
# proxy dies, stops or restarts.
#
# The connect hooks send an L7 service's connections to splitd's listener
# only while that listening socket is in l7_listen_sk (the kernel removes
# it when the socket closes, SIGKILL included); otherwise they split at L4
# by the default route. With the seed's rules (default v1, test-user -> v2)
# a test-user request answered by v2 went through the proxy, one answered
# by v1 went straight to a backend at L4.
#
# A client (build/connrate, paced) opens a connection every 2 ms, each with
# one test-user request, while splitd is SIGKILLed and restarted, then
# SIGTERMed and restarted. Refused connections are counted (want 0), and so
# are requests that failed in flight (want 0 across SIGTERM; reported across
# SIGKILL, where the proxy's accepted connections die with it).
#
# Needs root. Builds its own testbed (unique names) and removes it on exit.
set -u
cd "$(dirname "$0")/../.." || exit 1
T_SUITE=e2e_l7_restart
source tests/lib.sh
source scripts/testbed.sh
source tests/e2e/fixture.sh
SPLITD_NS='$TB_NODE'
fixture_up
SPLITD_ARGS=(--l7-addr "$TB_NODE_IP4" --l7-addr "$TB_NODE_IP6" "${L7_IO[@]}")
start_splitd || { echo "FAIL: splitd did not start"; exit 1; }

SEED=tests/data/seed
COOKIE='cookie: user=test-user'
RATE_MS=${RATE_MS:-2}		# one connection every RATE_MS ms
RUN_S=${RUN_S:-6}		# for this long

ctl apply -f $SEED/route-rule-default-reviews.yaml >/dev/null &&
	ctl apply -f $SEED/route-rule-test-reviews-v2.yaml >/dev/null ||
	{ echo "FAIL: applying the seed's rules"; exit 1; }

# X-Version of one test-user request from the client netns (or "ERR ...").
cookie_version() {
	tb_client curl -sS --max-time 5 -H "$COOKIE" -o /dev/null \
		-w '%{http_code} %header{x-version}\n' "http://$VIP4:$PORT/" 2>&1 | tail -n 1
}
# The same from a process in the node netns (where splitd listens).
cookie_version_node() {
	tb_in_cgroup "$TB_NODE" curl -sS --max-time 5 -H "$COOKIE" -o /dev/null \
		-w '%{http_code} %header{x-version}\n' "http://$VIP4:$PORT/" 2>&1 | tail -n 1
}
listen_entries() { bpftool -j map dump pinned "$TB_PIN/l7_listen" 2>/dev/null | jq length; }
listen_socks() { bpftool -j map dump pinned "$TB_PIN/l7_listen_sk" 2>/dev/null | jq length; }
# Age in ms of the youngest l7_listen heartbeat (CLOCK_MONOTONIC, as the
# hook reads it).
heartbeat_age_ms() {
	bpftool -j map dump pinned "$TB_PIN/l7_listen" 2>/dev/null |
		python3 -c '
import json, sys, time
e = json.load(sys.stdin)
hb = max(x["formatted"]["value"]["heartbeat_ns"] for x in e)
print((time.monotonic_ns() - hb) // 1000000)'
}
ensure_splitd() { # a test that failed half way may have left none running
	[ -f "$WORK/splitd.pid" ] && alive "$(cat "$WORK/splitd.pid")" && return 0
	start_splitd
}
wait_proxied() { # until a test-user request goes through the proxy (v2)
	ensure_splitd || return 1
	for _ in $(seq 100); do
		[ "$(cookie_version)" = "200 v2" ] && return 0
		sleep 0.1
	done
	return 1
}

# connrate from the client netns in the background; its output in $1.
rate_start() {
	tb_client "$B/connrate" --connect "$VIP4" --port "$PORT" --duration "$RUN_S" \
		--interval-ms "$RATE_MS" --request --header "$COOKIE" --versions \
		--timeout-ms 3000 --rst >"$1" 2>&1 &
	RATE_PID=$!
}
# N from connrate's "connrate: error WHAT: N" line ("" WHAT: all errors).
rate_errors() { # FILE WHAT
	awk -v w="$2" '$1 == "connrate:" && $2 == "error" {
		line = $0; sub(/^connrate: error /, "", line); n = $NF; sub(/: [0-9]+$/, "", line)
		if (w == "" || line == w) s += n } END { print s + 0 }' "$1"
}
rate_field() { awk -v k="$2" '$1 == "connections" { for (i = 1; i < NF; i++) if ($i == k) print $(i + 1) }' "$1"; }
rate_version() { awk -v v="$2" '$1 == "version" && $2 == v { print $3 }' "$1" | awk '{ s += $1 } END { print s + 0 }'; }
rate_report() { # FILE WHAT
	info "$2: $(rate_field "$1" connections) ok, $(rate_errors "$1" "") failed" \
		"($(rate_errors "$1" "connect: ECONNREFUSED") refused);" \
		"via the proxy (v2) $(rate_version "$1" v2), at L4 (v1) $(rate_version "$1" v1)"
	grep '^connrate: error' "$1" | sed 's/^/      /' >&2 || true
}

# SIGKILL, no restart: the l7_listen entry stays with a fresh heartbeat,
# but its listener left l7_listen_sk with the process, so the very next
# connection reaches a backend by the default route (v1), from the client
# netns and from the node's.
test_sigkill_falls_back_to_l4_at_once() {
	local got age entries t0
	wait_proxied || fail "test-user requests never went through the proxy"
	expect_ge "$(listen_socks)" 1 "listening sockets in l7_listen_sk"
	stop_splitd KILL
	got=$(cookie_version)
	age=$(heartbeat_age_ms)
	entries=$(listen_entries)
	expect_eq "$got" "200 v1" "test-user request right after SIGKILL (L4 default route)"
	expect_eq "$(cookie_version_node)" "200 v1" "the same from the node netns"
	expect_ge "$entries" 1 "l7_listen entries left by the killed splitd"
	expect_eq "$(listen_socks)" 0 "sockets in l7_listen_sk after SIGKILL"
	info "heartbeat age at that request: ${age} ms (the old 3 s guard could not have helped)"
	# A heartbeat this old would have sent it to L4 by itself: say so
	# rather than claim the socket check did it.
	[ "$age" -lt 2500 ] || skip "machine too slow to tell the guards apart (heartbeat ${age} ms old)"
	t0=$(date +%s%N)
	start_splitd || fail "splitd restart"
	wait_proxied || fail "the restarted splitd's proxy never took test-user requests"
	info "restart: test-user requests through the proxy again $((($(date +%s%N) - t0) / 1000000)) ms after splitd was started"
}

# SIGKILL and restart while a connection is attempted every 2 ms: none
# refused; the ones the dying proxy had accepted fail (reported).
test_sigkill_restart_refuses_none() {
	local out=$WORK/rate-kill.txt refused
	wait_proxied || fail "proxy not serving before the run"
	rate_start "$out"
	sleep 1.5
	stop_splitd KILL
	sleep 0.5	# a window with no proxy at all: connections go to L4
	start_splitd || { kill "$RATE_PID" 2>/dev/null; fail "splitd restart"; }
	wait "$RATE_PID" || true	# exit 1 when anything failed: counted below
	rate_report "$out" "SIGKILL + restart, a connection every ${RATE_MS} ms for ${RUN_S} s"
	refused=$(rate_errors "$out" "connect: ECONNREFUSED")
	expect_eq "$refused" 0 "connections refused across SIGKILL + restart"
	expect_ge "$(rate_version "$out" v1)" 1 "connections split at L4 while no proxy listened"
	expect_ge "$(rate_version "$out" v2)" 1 "connections through the proxy"
	wait_proxied || fail "the restarted splitd's proxy never took test-user requests"
}

# SIGTERM and restart: splitd withdraws its listeners before closing them
# and lets its connections finish: nothing refused, nothing failed.
test_sigterm_restart_refuses_none_fails_none() {
	local out=$WORK/rate-term.txt
	wait_proxied || fail "proxy not serving before the run"
	rate_start "$out"
	sleep 1.5
	stop_splitd TERM
	expect_eq "$(listen_entries)" 0 "l7_listen entries after SIGTERM"
	expect_eq "$(listen_socks)" 0 "sockets in l7_listen_sk after SIGTERM"
	sleep 0.3
	start_splitd || { kill "$RATE_PID" 2>/dev/null; fail "splitd restart"; }
	wait "$RATE_PID" || true	# exit 1 when anything failed: counted below
	rate_report "$out" "SIGTERM + restart, a connection every ${RATE_MS} ms for ${RUN_S} s"
	expect_eq "$(rate_errors "$out" "connect: ECONNREFUSED")" 0 "connections refused across SIGTERM + restart"
	expect_eq "$(rate_errors "$out" "")" 0 "requests failed across SIGTERM + restart"
	expect_ge "$(rate_version "$out" v1)" 1 "connections split at L4 while no proxy listened"
	expect_ge "$(rate_version "$out" v2)" 1 "connections through the proxy"
	wait_proxied || fail "the restarted splitd's proxy never took test-user requests"
}

# The hook needs the socket in l7_listen_sk, not just the l7_listen entry:
# take the IPv4 listener's socket out by hand and test-user requests split
# at L4 (v1) while the l7_listen entry is untouched; splitd notices within
# about a second and puts it back.
test_witness_removed_then_put_back() {
	local key got socks i try
	wait_proxied || fail "proxy not serving"
	key=$(bpftool -j map dump pinned "$TB_PIN/l7_listen_sk" |
		jq -r '.[] | select(.key[18] == "0x04") | .key | map(ltrimstr("0x")) | join(" ")' |
		head -n 1)
	[ -n "$key" ] || fail "no IPv4 listener in l7_listen_sk"
	# splitd puts it back within a second: a request counts only if the
	# entry was still missing after it.
	for try in 1 2 3 4 5; do
		wait_proxied || fail "proxy not serving"
		# shellcheck disable=SC2086 # one word per byte
		bpftool map delete pinned "$TB_PIN/l7_listen_sk" key hex $key || fail "deleting the entry"
		got=$(cookie_version)
		socks=$(listen_socks)
		[ "$socks" -lt 2 ] && break
	done
	[ "$socks" -lt 2 ] || skip "splitd always put the socket back before the request could tell"
	expect_eq "$got" "200 v1" "test-user request while the listener is not in l7_listen_sk"
	expect_ge "$(listen_entries)" 2 "l7_listen entries (untouched)"
	for i in $(seq 50); do
		[ "$(cookie_version)" = "200 v2" ] && break
		sleep 0.1
	done
	expect_eq "$(cookie_version)" "200 v2" "test-user through the proxy again after splitd put it back"
	expect_contains "$(cat "$WORK/splitd.log")" "listener put back in l7_listen_sk" "splitd's log"
	info "put back within $((i / 10)).$((i % 10)) s (attempt $try)"
}

# SIGTERM while requests are in the middle of their responses (each a
# 32 KiB body paced at 256 KiB/s: 125 ms): they finish through the proxy
# before it stops; nothing fails, nothing is refused.
test_sigterm_lets_requests_in_flight_finish() {
	local out=$WORK/rate-slow.txt pid
	wait_proxied || fail "proxy not serving before the run"
	tb_client "$B/connrate" --connect "$VIP4" --port "$PORT" --duration 3 --parallel 4 \
		--request --path /stream/32768/256 --header "$COOKIE" --versions \
		--timeout-ms 3000 --rst >"$out" 2>&1 &
	pid=$!
	sleep 1
	stop_splitd TERM
	start_splitd || { kill "$pid" 2>/dev/null; fail "splitd restart"; }
	wait "$pid" || true
	rate_report "$out" "SIGTERM with 4 clients each in a 125 ms response"
	expect_eq "$(rate_errors "$out" "")" 0 "requests failed across SIGTERM"
	expect_ge "$(rate_version "$out" v2)" 8 "slow requests through the proxy"
}

run_tests test_witness_removed_then_put_back test_sigkill_falls_back_to_l4_at_once test_sigkill_restart_refuses_none \
	test_sigterm_restart_refuses_none_fails_none test_sigterm_lets_requests_in_flight_finish
