#!/bin/bash
# test_l7_load.sh - end to end: splitd's L7 proxy under load and abuse, and
# across a graceful restart. Real splitd, real clients in the client netns
# and cgroup (connhold, splitclient, curl, python), real backends.
#
#   10,000 idle keep-alive connections: others still served, threads
#   stay at workers + a few, RSS printed (and held under 100 MiB);
#   slowloris; the extension-method bypass; one address at its connection
#   limit while another is served; the upstream pool emptied on an idle
#   machine; RSS after bursts; connections spread over workers; the
#   proxy's upstream connections in the sockops health counters; SIGTERM
#   drains (a download in flight completes, nothing refused).
#
# Needs root. Builds its own testbed (unique names) and removes it on exit.
set -u
cd "$(dirname "$0")/../.." || exit 1
T_SUITE=e2e_l7_load
source tests/lib.sh
source scripts/testbed.sh
source tests/e2e/fixture.sh
SPLITD_NS='$TB_NODE'
fixture_up
WORKERS=2
L7_ARGS=(--l7-addr "$TB_NODE_IP4" --l7-addr "$TB_NODE_IP6" --l7-workers $WORKERS "${L7_IO[@]}")
SPLITD_ARGS=("${L7_ARGS[@]}" --l7-max-per-source 20000 --l7-pool-idle-ms 1000)
start_splitd || { echo "FAIL: splitd did not start"; exit 1; }
SEED=tests/data/seed
COOKIE='cookie: user=test-user'
ctl apply -f $SEED/route-rule-test-reviews-v2.yaml >/dev/null

spid() { cat "$WORK/splitd.pid"; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$(spid)/status"; }
threads() { awk '/^Threads:/ { print $2 }' "/proc/$(spid)/status"; }
wait_listen() {
	for _ in $(seq 50); do
		[ -n "$(bpftool -j map dump pinned "$TB_PIN/l7_listen" 2>/dev/null | jq -r '.[0].key // empty')" ] &&
			return 0
		sleep 0.1
	done
	return 1
}
# connhold in the client netns and cgroup, in the background: its output
# goes to $1; waits until it says ready.
hold_bg() { # OUT ARGS...
	local out=$1; shift
	tb_client bash -c 'ulimit -n 20000; exec "$@"' _ "$B/connhold" "$@" >"$out" 2>&1 &
	HOLD_PID=$!
	for _ in $(seq 600); do
		grep -q '^ready' "$out" && return 0
		kill -0 "$HOLD_PID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$out" >&2
	return 1
}
probe() { tb_client "$B/connhold" --port $PORT --probe "$@"; }
num() { awk -v k="$2" '{ for (i = 1; i < NF; i++) if ($i == k) print $(i + 1) }' <<<"$1"; }

test_many_idle_connections() {
	local n=10000 out base peak th
	wait_listen || fail "no l7_listen entry"
	base=$(rss_kib)
	hold_bg "$WORK/hold.out" --connect $VIP4 --port $PORT -n $n --request --hold 60 ||
		fail "connhold did not get its connections open"
	expect_eq "$(num "$(cat "$WORK/hold.out")" open)" $n "idle keep-alive connections opened"
	peak=$(rss_kib)
	th=$(threads)
	info "$n idle keep-alive connections: splitd RSS $((base / 1024)) MiB before, $((peak / 1024)) MiB held; $th threads ($WORKERS workers)"
	expect_le "$th" $((WORKERS + 4)) "splitd threads"
	expect_le "$peak" $((100 * 1024)) "splitd RSS (KiB) with $n idle connections"
	# Meanwhile other clients are served (cookie rule in force).
	out=$(client --connect $VIP4 --port $PORT -n 300 --parallel 4 --header "$COOKIE")
	expect_clean "$out" 300
	expect_eq "$(vcount "$out" v2)" 300 "test-user requests to v2 while $n are held"
	out=$(probe 200 --connect $VIP6 --header "$COOKIE")
	info "a second client meanwhile: $out"
	expect_eq "$(num "$out" fail)" 0 "probe requests failed"
	kill "$HOLD_PID" 2>/dev/null; wait "$HOLD_PID" 2>/dev/null || true
	return 0
}

test_slowloris() {
	local out
	hold_bg "$WORK/slow.out" --connect $VIP4 --port $PORT -n 300 --trickle-ms 300 --hold 6 ||
		fail "connhold (slowloris) did not start"
	out=$(probe 200 --connect $VIP6 --header "$COOKIE")
	info "300 slowloris connections; another client: $out"
	expect_eq "$(num "$out" fail)" 0 "requests failed during slowloris"
	out=$(client --connect $VIP4 --port $PORT -n 200 --parallel 2 --header "$COOKIE")
	expect_clean "$out" 200
	expect_eq "$(vcount "$out" v2)" 200 "test-user requests to v2 during slowloris"
	kill "$HOLD_PID" 2>/dev/null; wait "$HOLD_PID" 2>/dev/null || true
	return 0
}

test_extension_method_bypass() {
	local out
	# A first request with an extension method, then test-user requests
	# pipelined behind it: the proxy answers 501 and closes; nothing
	# reaches a backend (an L4 relay would have sent them all to v1).
	out=$(tb_client python3 -c '
import socket, sys
def run(first):
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
    req = first + b"Host: reviews\r\n\r\n"
    for i in range(3):
        req += b"GET /p%d HTTP/1.1\r\nHost: reviews\r\ncookie: user=test-user\r\n\r\n" % i
    s.sendall(req)
    got = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        got += b
    s.close()
    return got
for first in (b"FOO / HTTP/1.1\r\n", b"GET /a b HTTP/1.1\r\n"):
    got = run(first)
    print(got.split(b"\r\n")[0].decode(), got.count(b"HTTP/1.1 "), got.count(b"X-Version"))
' "$VIP4" $PORT 2>&1)
	info "answers: $(tr '\n' '|' <<<"$out")"
	expect_eq "$(sed -n 1p <<<"$out")" "HTTP/1.1 501 Not Implemented 1 0" "extension method: one 501, no backend answer"
	expect_eq "$(sed -n 2p <<<"$out")" "HTTP/1.1 400 Bad Request 1 0" "space in the target: one 400, no backend answer"
	# TLS and the HTTP/2 preface still go through at L4
	out=$(tb_client python3 -c '
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
print(s.recv(100)[:12].decode(errors="replace"))
' "$VIP4" $PORT 2>&1)
	info "HTTP/2 preface: backend said '$out'"
	expect_contains "$out" "HTTP/1.1 400" "HTTP/2 preface relayed to a backend (its own 400)"
}

test_per_source_limit() {
	local out held
	# One client address holds 1200 idle connections against a limit of
	# 1000 (500 per worker): its oldest idle ones are closed for its newer
	# ones, and a client from another address is served throughout.
	stop_splitd
	SPLITD_ARGS=("${L7_ARGS[@]}" --l7-max-per-source 1000)
	start_splitd || fail "splitd did not restart"
	wait_listen || fail "no l7_listen entry"
	hold_bg "$WORK/lim.out" --connect $VIP4 --port $PORT -n 1200 --request --hold 8 ||
		fail "connhold did not start"
	out=$(probe 100 --connect $VIP6 --header "$COOKIE")
	info "client A holds 1200 (limit 1000); client B: $out"
	expect_eq "$(num "$out" fail)" 0 "the other address's requests failed"
	out=$(client --connect $VIP4 --port $PORT -n 100 --parallel 2 --header "$COOKIE")
	expect_eq "$(field "$out" fail)" 0 "client A's new connections (its oldest idle make room)"
	wait "$HOLD_PID" 2>/dev/null || true
	held=$(cat "$WORK/lim.out")
	info "client A: $(tr '\n' ' ' <<<"$held")"
	expect_ge "$(num "$held" closed_by_peer)" 150 "client A's oldest idle connections closed"
	stop_splitd
	SPLITD_ARGS=("${L7_ARGS[@]}" --l7-max-per-source 20000 --l7-pool-idle-ms 1000)
	start_splitd || fail "splitd did not restart"
	wait_listen || fail "no l7_listen entry"
}

test_pool_reaped_when_idle() {
	local out n
	out=$(client --connect $VIP4 --port $PORT -n 400 --parallel 8)
	expect_clean "$out" 400
	n=$(nsenter --net="/run/netns/$TB_NODE" ss -Htn state all "( dport = :9080 )" 2>/dev/null | grep -vc LISTEN || true)
	info "upstream sockets right after the burst: $n"
	sleep 2.5		# --l7-pool-idle-ms 1000; nothing else happens
	n=$(nsenter --net="/run/netns/$TB_NODE" ss -Htn "( dport = :9080 )" 2>/dev/null |
		grep -cE 'ESTAB|CLOSE-WAIT' || true)
	expect_eq "$n" 0 "upstream connections established or in CLOSE-WAIT 2.5 s after the burst"
}

test_rss_after_bursts() {
	local base after peak=0 r
	base=$(rss_kib)
	for round in 1 2 3; do
		hold_bg "$WORK/burst.out" --connect $VIP4 --port $PORT -n 3000 --request --hold 1 ||
			fail "burst $round did not start"
		r=$(rss_kib); [ "$r" -gt "$peak" ] && peak=$r
		wait "$HOLD_PID" 2>/dev/null || true
	done
	sleep 3
	after=$(rss_kib)
	info "RSS: $((base / 1024)) MiB before, $((peak / 1024)) MiB at a 3000-connection peak, $((after / 1024)) MiB 3 s after 3 bursts"
	expect_le "$after" $((2 * base)) "RSS after the bursts (KiB), at most twice the baseline"
}

test_connections_spread_over_workers() {
	local out line a b
	out=$(client --connect $VIP4 --port $PORT -n 400 --parallel 4)
	expect_clean "$out" 400
	stop_splitd TERM
	line=$(grep "per worker:" "$WORK/splitd.log" | tail -n 1)
	info "${line#*L7 proxy: }"
	a=$(awk '{ print $(NF - 1) }' <<<"$line"); b=$(awk '{ print $NF }' <<<"$line")
	# binomial, n >= 400: each worker well over a quarter
	expect_ge "$a" 100 "connections taken by worker 0"
	expect_ge "$b" 100 "connections taken by worker 1"
	start_splitd || fail "splitd did not restart"
	wait_listen || fail "no l7_listen entry"
}

test_sigterm_drains() {
	local out dl_pid res
	# A slow download through the proxy (300 KB at 100 KiB/s, about 3 s)
	# and a stream of new connections; then SIGTERM and a new splitd.
	tb_client curl -sS --max-time 20 -H "$COOKIE" -o "$WORK/dl.bin" \
		-w '%{http_code} %header{x-version}' "http://$VIP4:$PORT/stream/300000/100" \
		>"$WORK/dl.out" 2>&1 &
	dl_pid=$!
	tb_client "$B/splitclient" --connect $VIP4 --port $PORT --duration 5 --interval-ms 5 \
		--parallel 2 --header "$COOKIE" >"$WORK/during.out" 2>&1 &
	res=$!
	sleep 1
	stop_splitd TERM
	start_splitd || fail "splitd did not restart"
	wait "$dl_pid" || true
	wait "$res" || true
	out=$(cat "$WORK/during.out")
	info "new connections across the restart: $(grep '^total' <<<"$out")"
	[ "$(field "$out" fail)" = 0 ] || info "$(grep -vE '^(total|version|endpoint)' <<<"$out")"
	info "the download in flight: $(cat "$WORK/dl.out"), $(stat -c %s "$WORK/dl.bin") bytes"
	info "splitd said: $(grep -E 'drained|still busy' "$WORK/splitd.log" | tail -n 1 | sed 's/.*L7 proxy: //')"
	expect_eq "$(cat "$WORK/dl.out")" "200 v2" "download in flight: status and version"
	expect_eq "$("$B/httpd" --check-stream 300000 <"$WORK/dl.bin")" "ok 300000 bytes" "download in flight: every byte"
	expect_eq "$(field "$out" fail)" 0 "requests failed across the SIGTERM restart"
	wait_listen || fail "no l7_listen entry after the restart"
}

# ep ROWS SERVICE ADDR KEY: a counter of one endpoint row of metrics_dump.
ep() {
	awk -v s="$2" -v a="$3" -v k="$4" '$1 == "endpoint" && $2 == s && $5 == a {
		for (i = 6; i < NF; i += 2) if ($i == k) v = $(i + 1) } END { print v + 0 }' <<<"$1"
}

test_proxy_upstreams_counted() {
	local seen r0 r1 e0 e1 out
	# splitd under the testbed's cgroup, where sockops is attached, as on a
	# node (its pod's cgroup under kubepods): its upstream sockets carry
	# the tag. A child cgroup of its own: splitd exempts its own cgroup
	# from the connect hook (self_cgroup), and the clients must not be.
	stop_splitd
	mkdir -p "$TB_CGROUP/splitd" || fail "mkdir $TB_CGROUP/splitd"
	seen=$(grep -c "watching" "$WORK/splitd.log")
	# (tb_in_cgroup's steps, so that $! is splitd: sh and nsenter exec it)
	# shellcheck disable=SC2016 # $$ and $1.. belong to the inner sh
	sh -c 'echo $$ > "$1/cgroup.procs" && ns=$2 && shift 2 && exec nsenter --net="/run/netns/$ns" "$@"' \
		sh "$TB_CGROUP/splitd" "$TB_NODE" "$B/splitd" -c "$SVC" -g "$TB_CGROUP" -p "$TB_PIN" \
		--metrics 127.0.0.1:0 "${SPLITD_ARGS[@]}" >>"$WORK/splitd.log" 2>&1 </dev/null &
	echo $! >"$WORK/splitd.pid"
	for _ in $(seq 100); do
		[ "$(grep -c "watching" "$WORK/splitd.log")" -gt "$seen" ] && break
		sleep 0.1
	done
	wait_listen || fail "no l7_listen entry (splitd in the cgroup)"
	r0=$("$B/metrics_dump" --rows "$TB_PIN")
	e0=$(ep "$r0" reviews 10.201.2.2 est)
	out=$(client --connect $VIP4 --port $PORT -n 100 --parallel 4 --header "$COOKIE")
	expect_clean "$out" 100
	r1=$("$B/metrics_dump" --rows "$TB_PIN")
	e1=$(ep "$r1" reviews 10.201.2.2 est)
	info "v2-a (10.201.2.2): established $e0 -> $e1, connections $(ep "$r0" reviews 10.201.2.2 conn) -> $(ep "$r1" reviews 10.201.2.2 conn) (the proxy's pooled upstream connections)"
	expect_ge "$e1" $((e0 + 1)) "sockops: the proxy's upstream connections to v2-a established"
	stop_splitd
	rmdir "$TB_CGROUP/splitd" 2>/dev/null	# else the testbed's cleanup does
	start_splitd || fail "splitd did not restart"
	wait_listen || fail "no l7_listen entry"
}

run_tests test_many_idle_connections test_slowloris test_extension_method_bypass \
	test_per_source_limit test_pool_reaped_when_idle test_rss_after_bursts \
	test_connections_spread_over_workers test_proxy_upstreams_counted test_sigterm_drains
