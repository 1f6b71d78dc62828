#!/bin/bash
# test_xdp.sh - end to end: traffic entering the node from the client netns
# is split by XDP on the node's client-facing interface, replies are
# rewritten by tc on the backend-facing ones; the client is NOT in the
# cgroup, so the socket hooks play no part.
#
# Needs root. Builds its own testbed (unique names) and removes it on exit.
T_SUITE=e2e_xdp
source "$(dirname "$0")/fixture.sh"

# splitd runs in the node netns, where the interfaces are.
SPLITD_NS='$TB_NODE'
XDP_ARGS=(--xdp to-client --tc-rev to-v1 --tc-rev to-v2 --tc-rev to-v3)
SPLITD_ARGS=("${XDP_ARGS[@]}")
# passive_opens: TCP passive opens (child sockets created) in the backends.
passive_opens() {
	local n v s=0
	for n in "$TB_V1" "$TB_V2" "$TB_V3"; do
		v=$(tb_in "$n" awk '$1 == "Tcp:" { if (!h) { for (i = 2; i <= NF; i++) c[$i] = i; h = 1 }
			else print $c["PassiveOpens"] }' /proc/net/snmp)
		s=$((s + ${v:-0}))
	done
	echo "$s"
}

fixture_up
for ns in "$TB_NODE"; do
	# Replies leave tc_rev with the VIP as source: no strict rp_filter.
	for c in all default to-v1 to-v2 to-v3; do
		tb_in "$ns" sysctl -qw "net.ipv4.conf.$c.rp_filter=0"
	done
done
# to-client stands in for the node's NIC, and a NIC's RSS keeps each flow on
# one CPU. A veth does not once XDP is attached: it then receives in NAPI
# mode, and two packets of one flow (the handshake's last ACK, sent from the
# client's softirq, and the request, sent by the client thread) may be
# forwarded from two CPUs and reach the backend's TCP at the same time. The
# backend kernel then creates the child socket twice (an extra
# TcpPassiveOpens), and now and then (1 connection in 30,000 to 100,000) its
# lockless established-hash lookup misses the request socket while the other
# CPU swaps it for the child, the segment goes to the listener and the
# listener answers with a reset: the client gets ECONNRESET although our
# conntrack is right (tcp:tcp_send_reset state=LISTEN reason=TCP_FLAGS; the
# same happens with XDP_PASS-only traffic or with GRO on the veth instead of
# XDP). RPS on to-client gives the veth the NIC's flow-to-CPU affinity.
tb_rps "$TB_NODE" to-client || { echo "FAIL: cannot set RPS on to-client"; exit 1; }
fixture_splitd

# A client outside the cgroup, in the client netns.
xclient() { tb_in "$TB_CLIENT" "$B/splitclient" "$@"; }
# stream N KIBPS: fetch /stream/N through the VIP, check every byte.
stream() {
	tb_in "$TB_CLIENT" curl -sS --max-time 120 "http://$VIP4:$PORT/stream/$1/$2" |
		"$B/httpd" --check-stream "$1"
}
# stream_start N NAME: stream N bytes at 1.5 MB/s in the background (PID in
# the caller's $pid, output in WORK/NAME.out); stream_done N NAME WHAT: wait
# for it and check that every byte arrived.
stream_start() {
	stream "$1" 1536 >"$WORK/$2.out" 2>&1 &
	pid=$!
}
stream_done() {
	wait "$pid" || fail "transfer: $(cat "$WORK/$2.out")"
	expect_contains "$(cat "$WORK/$2.out")" "ok $1 bytes" "$3"
}

test_attached() {
	local out
	out=$(ctl show)
	expect_contains "$out" "xdp on to-client" "north-south attachments"
	expect_contains "$out" "tc-rev on to-v1" "north-south attachments"
	out=$(tb_in "$TB_NODE" ip link show to-client)
	expect_contains "$out" "xdp" "ip link shows XDP on to-client"
}

test_xdp_split_10000() {
	local out po
	ctl set reviews v1=50 v2=50 >/dev/null
	po=$(passive_opens)
	out=$(xclient --connect $VIP4 --port $PORT -n 10000 --parallel 2)
	expect_clean "$out" 10000
	# One socket per connection at the backends: a handshake completed twice
	# on two CPUs (see tb_rps above) would show here, ~30 times in 10,000.
	expect_eq "$(($(passive_opens) - po))" 10000 "sockets the backends opened for 10000 connections"
	within_sigma "$(vcount "$out" v1)" 10000 0.5 4 "v1 at 50% through XDP"
	within_sigma "$(vcount "$out" v2)" 10000 0.5 4 "v2 at 50% through XDP"
	expect_eq "$(vcount "$out" v3)" 0 "v3 (weight 0)"
}

test_xdp_ipv6_and_udp() {
	local out
	ctl set reviews v1=30 v3=70 >/dev/null
	expect_split 2000 v3 0.7 "v3 at 70% over IPv6" xclient --connect $VIP6 --port $PORT --parallel 2
	expect_eq "$(vcount "$out" v2)" 0 "v2 (weight 0) over IPv6"
	expect_split 2000 v3 0.7 "v3 at 70% over UDP" xclient --udp --connect $VIP4 --port $PORT --parallel 2
	expect_split 1000 v1 0.3 "v1 at 30% over UDP/IPv6" xclient --udp --connect $VIP6 --port $PORT
}

test_non_vip_traffic_untouched() {
	local out
	ctl set reviews v1=100 >/dev/null
	out=$(xclient --connect 10.201.3.2 --port $PORT -n 300)
	expect_clean "$out" 300
	expect_eq "$(vcount "$out" v3)" 300 "direct connections to v3 stay on v3"
	out=$(xclient --udp --connect fd00:201:2::2 --port $PORT -n 100)
	expect_eq "$(vcount "$out" v2)" 100 "direct UDP to v2 stays on v2"
}

test_long_transfer_survives_20_changes() {
	# 6 MB at 1.5 MB/s (4 s) while the weights change 20 times: conntrack
	# keeps the flow on its backend, every byte arrives in order.
	local pid i
	ctl set reviews v1=50 v2=50 >/dev/null
	stream_start 6000000 stream
	sleep 0.3
	for i in $(seq 20); do
		case $((i % 4)) in
		0) ctl set reviews v1=100 ;; 1) ctl set reviews v2=100 ;;
		2) ctl set reviews v3=100 ;; 3) ctl set reviews v1=1 v3=9 ;;
		esac >/dev/null
		sleep 0.15
	done
	stream_done 6000000 stream "byte-exact transfer"
}

test_removed_backend_drains() {
	# A flow to v2 goes on after v2 is set to 0 and its endpoint removed from
	# the services file; new connections go to v1.
	local pid out
	ctl set reviews v2=100 >/dev/null
	stream_start 4000000 stream3
	sleep 0.5
	ctl set reviews v1=100 >/dev/null
	cp "$SVC" "$WORK/svc.orig"
	sed '/10.201.2.2/,+1d' "$WORK/svc.orig" >"$SVC.tmp" && mv "$SVC.tmp" "$SVC"
	for _ in $(seq 30); do ctl show reviews | grep -q 10.201.2.2 || break; sleep 0.1; done
	ctl show reviews | grep -q 10.201.2.2 && fail "v2 endpoint not removed"
	out=$(xclient --connect $VIP4 --port $PORT -n 200)
	expect_eq "$(vcount "$out" v1)" 200 "new connections after v2 left"
	stream_done 4000000 stream3 "draining transfer"
	cp "$WORK/svc.orig" "$SVC.tmp" && mv "$SVC.tmp" "$SVC"
	for _ in $(seq 30); do ctl show reviews | grep -q 10.201.2.2 && break; sleep 0.1; done
}

test_flows_continue_across_restart() {
	local pid out
	ctl set reviews v1=50 v2=50 >/dev/null
	stream_start 4000000 stream2
	sleep 0.5
	stop_splitd TERM
	sleep 0.3
	start_splitd || fail "splitd restart"
	stream_done 4000000 stream2 "transfer across a restart"
	out=$(ctl show)
	expect_contains "$out" "xdp on to-client" "XDP still attached after restart"
	expect_split 1000 v2 0.5 "v2 at 50% after restart" xclient --connect $VIP4 --port $PORT --parallel 2
}

test_tc_dnat_with_checksum_offload() {
	# tc DNAT where XDP is not used, with TX checksum offload back on at the
	# client (CHECKSUM_PARTIAL packets): the tc checksum helpers must cope.
	local out
	stop_splitd TERM
	SPLITD_ARGS=(--tc-dnat to-client --tc-rev to-v1 --tc-rev to-v2 --tc-rev to-v3)
	start_splitd || fail "splitd with --tc-dnat"
	tb_in "$TB_CLIENT" ethtool -K eth0 tx on >/dev/null 2>&1 || skip "ethtool cannot turn offload on"
	out=$(ctl show)
	expect_contains "$out" "tc-dnat on to-client" "tc DNAT reported"
	[[ "$out" != *"xdp on to-client"* ]] || fail "XDP still attached: $out"
	ctl set reviews v1=50 v2=50 >/dev/null
	out=$(xclient --connect $VIP4 --port $PORT -n 2000 --parallel 2)
	tb_in "$TB_CLIENT" ethtool -K eth0 tx off >/dev/null 2>&1
	expect_clean "$out" 2000
	within_sigma "$(vcount "$out" v1)" 2000 0.5 4 "v1 at 50% through tc DNAT"
	stop_splitd TERM
	SPLITD_ARGS=("${XDP_ARGS[@]}")
	start_splitd || fail "splitd back on XDP"
	expect_contains "$(ctl show)" "xdp on to-client" "back on XDP"
}

test_counters() {
	local out
	ctl set reviews v1=50 v2=50 >/dev/null
	xclient --connect $VIP4 --port $PORT -n 500 >/dev/null
	out=$(ctl stats reviews)
	expect_contains "$out" "v1" "stats per version"
	out=$(bpftool map dump pinned "$TB_PIN/ver_stats")
	expect_contains "$out" '"flows"' "per-version flow counters in bpftool"
}

run_tests test_attached test_xdp_split_10000 test_xdp_ipv6_and_udp test_non_vip_traffic_untouched \
	test_long_transfer_survives_20_changes test_removed_backend_drains \
	test_flows_continue_across_restart \
	test_tc_dnat_with_checksum_offload test_counters
