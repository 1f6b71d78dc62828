#!/bin/bash
# test_sock.sh - end to end: the socket-level split with real servers and
# real clients in network namespaces, splitd and splitctl as a user runs them.
#
# Needs root. Builds its own testbed (unique names) and removes it on exit.
T_SUITE=e2e_sock
source "$(dirname "$0")/fixture.sh"
fixture_up
fixture_splitd

# ---- tests -------------------------------------------------------------------

test_default_equal_per_endpoint() {
	# No route yet: every endpoint gets an equal share (v1 has 2 of 4).
	local out
	expect_split 2000 v1 0.5 "v1 (2 of 4 endpoints)" client --connect $VIP4 --port $PORT --parallel 2
	within_sigma "$(vcount "$out" v3)" 2000 0.25 4 "v3 (1 of 4 endpoints)"
}

test_split_50_50_10000() {
	local out
	ctl set reviews v1=50 v2=50 >/dev/null
	expect_split 10000 v1 0.5 "v1 at 50%" client --connect $VIP4 --port $PORT --parallel 2
	within_sigma "$(vcount "$out" v2)" 10000 0.5 4 "v2 at 50%"
	expect_eq "$(vcount "$out" v3)" 0 "v3 (weight 0, not named)"
	# v1's two endpoints share v1's half equally.
	within_sigma "$(awk '$1=="endpoint" && $3=="10.201.1.3" {print $4}' <<<"$out")" \
		10000 0.25 4 "endpoint 10.201.1.3"
}

test_all_to_one_version() {
	local out
	ctl set reviews v1=100 >/dev/null
	out=$(client --connect $VIP4 --port $PORT -n 1000 --parallel 2)
	expect_clean "$out" 1000
	expect_eq "$(vcount "$out" v1)" 1000 "v1=100: connections to v1"
	ctl set reviews v1=0 v2=100 >/dev/null
	out=$(client --connect $VIP4 --port $PORT -n 1000 --parallel 2)
	expect_clean "$out" 1000
	expect_eq "$(vcount "$out" v2)" 1000 "v1=0 v2=100: connections to v2"
}

test_small_canary() {
	# A 1% canary gets 1%: 20,000 connections, 4 sigma is +-56.
	local out
	ctl set reviews v1=99 v2=1 >/dev/null
	expect_split 20000 v2 0.01 "v2 at 1%" client --connect $VIP4 --port $PORT --parallel 2
}

test_ipv6() {
	local out
	ctl set reviews v1=50 v2=50 >/dev/null
	expect_split 2000 v2 0.5 "v2 at 50% over IPv6" client --connect $VIP6 --port $PORT --parallel 2
	expect_eq "$(vcount "$out" v3)" 0 "v3 over IPv6"
}

test_ipv4_mapped_vip() {
	local out
	# A dual-stack application: an IPv6 socket connecting to ::ffff:VIP4
	# is split like an IPv4 connection, and getpeername() / the reply
	# source show ::ffff:VIP4 (checked by splitclient: peer_mismatch).
	ctl set reviews v1=50 v2=50 >/dev/null
	expect_split 1000 v2 0.5 "v2 at 50% via ::ffff:VIP4" client --connect "::ffff:$VIP4" --port $PORT --parallel 2
	expect_split 500 v1 0.5 "unconnected UDP via ::ffff:VIP4" client --udp --connect "::ffff:$VIP4" --port $PORT
	expect_split 500 v1 0.5 "connected UDP via ::ffff:VIP4" client --udp-connected --connect "::ffff:$VIP4" --port $PORT
}

test_udp() {
	local out
	ctl set reviews v1=50 v2=50 >/dev/null
	expect_split 2000 v1 0.5 "unconnected UDP v1" client --udp --connect $VIP4 --port $PORT --parallel 2
	expect_split 1000 v2 0.5 "connected UDP v2" client --udp-connected --connect $VIP4 --port $PORT
	expect_split 1000 v2 0.5 "UDP over IPv6 v2" client --udp --connect $VIP6 --port $PORT
}

test_udp_socket_is_sticky() {
	# One unconnected UDP socket keeps its backend while weights change.
	local out
	ctl set reviews v1=50 v2=50 >/dev/null
	out=$(client --udp --same-socket --connect $VIP4 --port $PORT -n 200)
	expect_clean "$out" 200
	expect_eq "$(awk '$1=="endpoint"' <<<"$out" | wc -l)" 1 "endpoints seen by one socket"
}

# Weight sets cycled below; allowed versions per set are derived from them.
SETS=("v1=100" "v2=100" "v1=50 v2=50" "v3=100" "v1=1 v3=1" "v2=3 v3=1" "v1=100"
      "v1=90 v2=10" "v2=100" "v3=100")
allowed() { tr ' ' '\n' <<<"$1" | awk -F= '$2 > 0 { printf "%s%s", s, $1; s = "," }'; }

test_weights_change_under_load() {
	# 20 changes while two threads keep connecting: no failure, and every
	# connection lands on a version allowed by the weights in force when it
	# connected (the old or the new ones around a change).
	local log="$WORK/load.log" changes="$WORK/changes.log" i w b a out cpid
	ctl set reviews v1=100 >/dev/null
	: >"$changes"
	client --connect $VIP4 --port $PORT --duration 9 --parallel 2 --log "$log" >"$WORK/load.out" &
	cpid=$!
	sleep 1
	for i in $(seq 0 19); do
		w=${SETS[$((i % ${#SETS[@]}))]}
		b=$(date +%s%N)
		# shellcheck disable=SC2086
		ctl set reviews $w >/dev/null || fail "set $w"
		a=$(date +%s%N)
		echo "$b $a $(allowed "$w")" >>"$changes"
		sleep 0.3
	done
	wait $cpid || true
	out=$(cat "$WORK/load.out")
	expect_eq "$(field "$out" fail)" 0 "failed connections during 20 changes"
	expect_eq "$(field "$out" peer_mismatch)" 0 "peer mismatches"
	expect_ge "$(field "$out" total)" 1000 "connections made"
	awk -v init=v1 'BEGIN { n = 0 }
		NR == FNR { b[n] = $1; a[n] = $2; w[n] = $3; n++; next }
		$3 == "FAIL" { bad++; next }
		{
			s = $1; e = $2; ok = 0; tot++
			# config 0 (init) is in force until change 0 completes.
			if (s <= a[0] && ("," init ",") ~ ("," $3 ",")) ok = 1
			for (i = 0; i < n && !ok; i++) {
				lo = b[i]; hi = (i + 1 < n) ? a[i + 1] : 9e18
				if (s <= hi && e >= lo && ("," w[i] ",") ~ ("," $3 ",")) ok = 1
			}
			if (!ok) { bad++; if (bad <= 5) print "invalid: " $0 > "/dev/stderr" }
		}
		END { print tot + 0, bad + 0 }' "$changes" "$log" >"$WORK/verdict"
	info "connections checked, invalid: $(cat "$WORK/verdict")"
	expect_eq "$(awk '{print $2}' "$WORK/verdict")" 0 "connections on a version the weights did not allow"
}

test_established_survives_changes() {
	# A keep-alive connection keeps its endpoint through changes, including
	# its own version going to weight 0 (drain).
	local cpid i out
	ctl set reviews v1=50 v2=50 >/dev/null
	client --connect $VIP4 --port $PORT --keepalive 5 --interval-ms 20 >"$WORK/ka.out" &
	cpid=$!
	sleep 0.5
	for i in $(seq 10); do
		ctl set reviews "${SETS[$((i % ${#SETS[@]}))]% *}" >/dev/null
		sleep 0.3
	done
	wait $cpid; out=$(cat "$WORK/ka.out")
	expect_eq "$(field "$out" fail)" 0 "failed requests on the established connection"
	expect_ge "$(field "$out" total)" 100 "requests on the established connection"
	expect_eq "$(awk '$1=="endpoint"' <<<"$out" | wc -l)" 1 "endpoints seen by one connection"
}

test_bad_input_changes_nothing() {
	local before after out rc
	ctl set reviews v1=70 v2=30 >/dev/null
	before=$(snapshot)
	for args in "nosuch v1=1" "reviews v9=1" "reviews v1=-1" "reviews v1=abc" \
		"reviews v1=0 v2=0" "reviews v1:5" "reviews v1=5 v1=6" "reviews v1=1.5" \
		"reviews v1=2000000" "reviews" "default/nosuch v1=1"; do
		# shellcheck disable=SC2086
		rc=0; out=$(ctl set $args 2>&1) || rc=$?
		[ $rc -eq 1 ] || [ $rc -eq 2 ] || fail "'splitctl set $args' exited $rc"
		expect_contains "$out" "splitctl" "error for '$args'"
	done
	rc=0; out=$(ctl frobnicate 2>&1) || rc=$?
	expect_eq "$rc" 2 "exit status of an unknown command"
	after=$(snapshot)
	[ "$before" = "$after" ] || fail "maps changed after refused commands"
	out=$(ctl show reviews)
	expect_contains "$out" "70" "weight still in force"
}

test_services_file_reload() {
	# A bad edit is refused with file:line:col and changes nothing; a good
	# one (new endpoint) is applied by splitd on its own (inotify).
	local before after
	ctl set reviews v1=50 v2=50 >/dev/null
	before=$(snapshot)
	cp "$SVC" "$WORK/good.yaml"
	printf -- '---\napiVersion: split.dev/v1\nkind: Service\nmetadata: {name: x}\nspec:\n  clusterIP: 10.96.0.99\n  ports: [{port: 0}]\n' >>"$SVC"
	sleep 0.5
	after=$(snapshot)
	[ "$before" = "$after" ] || fail "maps changed after a bad services file"
	grep -q "services.yaml:[0-9]*:[0-9]*:" "$WORK/splitd.log" || fail "no file:line:col error in the splitd log"
	# Good edit: v2 gets a second endpoint (appended to the endpoints list
	# that ends the file; no server behind it: only the maps are checked).
	cp "$WORK/good.yaml" "$WORK/good2.yaml"
	printf '  - addresses: [10.201.2.9]\n    labels: {app: reviews, version: v2}\n' >>"$WORK/good2.yaml"
	cp "$WORK/good2.yaml" "$SVC.tmp" && mv "$SVC.tmp" "$SVC"
	for _ in $(seq 30); do ctl show reviews | grep -q 10.201.2.9 && break; sleep 0.1; done
	expect_contains "$(ctl show reviews)" "10.201.2.9" "new endpoint applied"
	expect_contains "$(ctl show reviews)" "50" "weights kept across the reload"
	cp "$WORK/good.yaml" "$SVC.tmp" && mv "$SVC.tmp" "$SVC"
	for _ in $(seq 30); do ctl show reviews | grep -q 10.201.2.9 || break; sleep 0.1; done
	ctl show reviews | grep -q 10.201.2.9 && fail "endpoint not removed"
	true
}

test_splitd_sigkill_keeps_datapath() {
	local out
	ctl set reviews v1=50 v2=50 >/dev/null
	stop_splitd KILL
	expect_split 2000 v1 0.5 "v1 with splitd dead" client --connect $VIP4 --port $PORT --parallel 2
	# splitctl needs no daemon.
	ctl set reviews v3=100 >/dev/null
	out=$(client --connect $VIP4 --port $PORT -n 300)
	expect_eq "$(vcount "$out" v3)" 300 "v3=100 set while splitd is dead"
	start_splitd || fail "splitd restart"
}

test_splitd_restart_keeps_state_no_gap() {
	local out cpid before
	ctl set reviews v1=30 v2=70 >/dev/null
	client --connect $VIP4 --port $PORT --duration 4 >"$WORK/rs.out" &
	cpid=$!
	sleep 1
	stop_splitd TERM
	before=$(wc -l <"$WORK/splitd.log")	# the log accumulates: this start's lines
	start_splitd || fail "splitd restart"
	wait $cpid; out=$(cat "$WORK/rs.out")
	expect_eq "$(field "$out" fail)" 0 "failed connections across a restart"
	tail -n +"$((before + 1))" "$WORK/splitd.log" | grep -q "9 taken over" ||
		fail "links not taken over: $(tail -n +"$((before + 1))" "$WORK/splitd.log")"
	out=$(ctl show --json reviews)
	expect_contains "$out" '"name":"v1","weight":30' "v1 weight after restart"
	expect_contains "$out" '"name":"v2","weight":70' "v2 weight after restart"
	out=$(client --connect $VIP4 --port $PORT -n 2000 --parallel 2)
	within_sigma "$(vcount "$out" v2)" 2000 0.7 4 "v2 at 70% after restart"
}

test_pinned_maps_readable() {
	local out
	ctl set reviews v1=50 v2=50 >/dev/null
	out=$(bpftool map dump pinned "$TB_PIN/weights")
	expect_contains "$out" '"service": "reviews"' "service name in the weights map"
	expect_contains "$out" '"version": "v2"' "version name in the weights map"
	expect_contains "$out" '"weight": 50' "weight in the weights map"
	expect_contains "$out" '"slots4": 5004' "slots of v1 or v2"
	# explicit weights: a big table (kind 2) of 10007 slots
	out=$(bpftool map dump pinned "$TB_PIN/tables_v3")
	expect_contains "$out" '"kind": 2' "a big table for explicit weights"
	expect_contains "$out" '"nslots": 10007' "10007 slots"
	# no explicit weights: a small table (kind 1), one slot per endpoint
	ctl reset reviews >/dev/null
	out=$(bpftool map dump pinned "$TB_PIN/tables_v3")
	expect_contains "$out" '"kind": 1' "a small table without explicit weights"
	expect_contains "$out" '"nslots": 4' "one slot per IPv4 endpoint of reviews"
	out=$(bpftool map dump pinned "$TB_PIN/weights")
	expect_contains "$out" '"slots4": 2' "v1's two endpoints, one slot each"
	ctl set reviews v1=50 v2=50 >/dev/null
}

test_map_sizes() {
	# A second datapath, pinned apart, on a child cgroup with no process
	# in it: the size options reach the maps, splitctl show prints them,
	# and a pinned map keeps its size (with a warning).
	local pin="$TB_PIN-sz" cg="$TB_CGROUP/sz" out
	mkdir -p "$cg" || fail "mkdir $cg"
	"$B/splitd" -q --once --no-l7 --no-metrics -c "$SVC" -g "$cg" -p "$pin" \
		--ct-max 4096 --sock-nat-max 2k --table-cells 1024 || fail "splitd with sizes"
	expect_eq "$(bpftool -j map show pinned "$pin/ct" | jq .max_entries)" 4096 "ct entries"
	expect_eq "$(bpftool -j map show pinned "$pin/ct_rev" | jq .max_entries)" 4096 "ct_rev entries"
	expect_eq "$(bpftool -j map show pinned "$pin/udp_aff" | jq .max_entries)" 2048 "udp_aff entries"
	expect_eq "$(bpftool -j map show pinned "$pin/slots_v3" | jq .max_entries)" 1024 "slots_v3 cells"
	out=$("$B/splitctl" -p "$pin" show)
	expect_contains "$out" "ct              4096 flows" "show: ct size"
	expect_contains "$out" "sock_nat        2048 entries" "show: sock_nat size"
	expect_contains "$out" "tables     2 small" "show: reviews has small tables (IPv4, IPv6)"
	out=$("$B/splitd" -q --once --no-l7 --no-metrics -c "$SVC" -g "$cg" -p "$pin" --ct-max 8192 2>&1) ||
		fail "splitd again"
	expect_contains "$out" "ct is pinned with 4096 entries and keeps them" "warning on a pinned size"
	expect_eq "$(bpftool -j map show pinned "$pin/ct" | jq .max_entries)" 4096 "ct keeps its size"
	out=$("$B/splitd" --ct-max 100 2>&1) && fail "splitd took --ct-max 100"
	expect_contains "$out" "want a count from 1024 to 16m" "bad size refused"
	"$B/splitd" -q --unload -p "$pin" || fail "unload"
	rmdir "$cg"
}

test_metrics_endpoint() {
	# splitd's own Prometheus endpoint (port 0 in the fixture: read it
	# from the log), with the connections just made.
	local port out
	ctl set reviews v1=50 v2=50 >/dev/null
	client --connect $VIP4 --port $PORT -n 200 >/dev/null
	port=$(sed -n 's/.*metrics: GET \/metrics on .* (port \([0-9]*\)).*/\1/p' "$WORK/splitd.log" | tail -n 1)
	[ -n "$port" ] || fail "no metrics port in the splitd log"
	out=$(curl -sS --max-time 5 "http://127.0.0.1:$port/metrics") || fail "GET /metrics"
	expect_contains "$out" "# TYPE split_connections_total counter" "metric family"
	expect_contains "$out" 'split_weight{service="reviews",namespace="default",version="v1"} 50' "weight gauge"
	if command -v promtool >/dev/null; then
		promtool check metrics <<<"$out" || fail "promtool check metrics"
	fi
	out=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$port/nope")
	expect_eq "$out" 404 "unknown path"
}

test_stats_observed_split() {
	# splitctl stats: connections per version equal the client's tallies,
	# as a table, as JSON, and over a --watch window.
	local out before js w1 w2
	ctl set reviews v1=50 v2=50 >/dev/null
	before=$(ctl stats --json reviews)
	out=$(client --connect $VIP4 --port $PORT -n 400 --parallel 2)
	js=$(ctl stats --json reviews)
	for v in v1 v2; do
		w1=$(jq --arg v $v '[.[] | select(.kind == "version" and .version == $v)][0].connections' <<<"$before")
		w2=$(jq --arg v $v '[.[] | select(.kind == "version" and .version == $v)][0].connections' <<<"$js")
		expect_eq "$((w2 - w1))" "$(vcount "$out" $v)" "stats --json connections of $v"
	done
	expect_contains "$(ctl stats reviews)" "OBSERVD" "stats table header"
	client --connect $VIP4 --port $PORT --duration 2 >/dev/null &
	out=$(ctl stats --watch 1 --count 1 reviews)
	wait
	expect_contains "$out" "window: 1.0 s" "a --watch window"
	[ "$(awk '$1 == "v1" || $1 == "v2" { n += $5 } END { print n + 0 }' <<<"$out")" -gt 0 ] ||
		fail "no connections counted in the window: $out"
}

# le VALUE BYTES: VALUE as little-endian hex bytes for bpftool map update.
le() {
	local i out=""
	for ((i = 0; i < $2; i++)); do out+=" $(printf '0x%02x' $((($1 >> (8 * i)) & 255)))"; done
	echo "$out"
}

# l7_put SVC_ID VERSION_ID REQUESTS R1XX R2XX R3XX R4XX R5XX NONHTTP LATENCY_US_SUM:
# one struct split_l7_stats into the pinned l7_stats map (what splitd's
# proxy writes about once a second).
l7_put() {
	local key val="" v
	key="$(le "$1" 4)$(le "$2" 4)"
	for v in "${@:3}"; do val+=$(le "$v" 8); done
	# shellcheck disable=SC2086
	bpftool map update pinned "$TB_PIN/l7_stats" key $key value $val
}

# weight_key SERVICE VERSION: "SVC_ID VERSION_ID" from the weights map.
weight_key() {
	bpftool -j map dump pinned "$TB_PIN/weights" | jq -r --arg s "$1" --arg v "$2" \
		'.[] | (.formatted // .) | select(.value.service == $s and .value.version == $v) |
		 "\(.key.svc_id) \(.key.version_id)"'
}

test_stats_l7() {
	# The L7 proxy's counters (l7_stats), written here with bpftool, as
	# splitctl stats (table, JSON, --watch) and /metrics show them. A
	# service without l7_stats entries keeps the plain table.
	local out js port svc v1 v2 k row
	[ -e "$TB_PIN/l7_stats" ] || skip "no pinned l7_stats map"
	ctl set reviews v1=50 v2=50 >/dev/null
	read -r svc v1 <<<"$(weight_key reviews v1)"
	read -r _ v2 <<<"$(weight_key reviews v2)"
	if [ -z "$svc" ] || [ -z "$v1" ] || [ -z "$v2" ]; then
		fail "reviews v1/v2 not in the weights map"
	fi
	out=$(ctl stats reviews)
	case "$out" in *"L7 PROXY"*) fail "L7 block for a service without L7 counters: $out" ;; esac
	expect_eq "$(ctl stats --json reviews | jq '[.[] | select(has("requests"))] | length')" 0 \
		"JSON rows with L7 fields before any L7 counter"

	l7_put "$svc" "$v1" 90 0 88 1 0 1 2 180000
	l7_put "$svc" "$v2" 10 0 10 0 0 0 0 50000
	l7_put "$svc" 0 0 0 0 0 3 0 0 0
	js=$(ctl stats --json reviews)
	jrow() { jq -c --arg k "$1" --arg v "$2" '[.[] | select(.kind == $k and .version == $v)][0]' <<<"$js"; }
	k=$(jrow version v1)
	expect_eq "$(jq -r '[.requests, .responses_1xx, .responses_2xx, .responses_3xx, .responses_4xx,
		.responses_5xx, .nonhttp, .latency_us_sum, .latency_ms_mean] | join(" ")' <<<"$k")" \
		"90 0 88 1 0 1 2 180000 2" "JSON L7 fields of v1"
	expect_eq "$(jrow version v2 | jq -r '"\(.requests) \(.responses_2xx) \(.latency_ms_mean)"')" \
		"10 10 5" "JSON L7 fields of v2"
	expect_eq "$(jrow proxy "" | jq -r '"\(.service) \(.requests) \(.responses_4xx)"')" \
		"reviews 0 3" "JSON row of the proxy's own answers"
	expect_eq "$(jrow endpoint v1 | jq 'has("requests")')" false "no L7 fields on endpoint rows"

	out=$(ctl stats reviews)
	expect_contains "$out" "L7 PROXY" "L7 block header"
	row=$(awk '/L7 PROXY/ { l7 = 1; next } l7 && $1 == "v1"' <<<"$out")
	expect_eq "$(awk '{ print $2, $3, $5, $6, $8, $9, $10, $11, $12, $13 }' <<<"$row")" \
		"50 50.00% 90 90.00% 88 1 0 1 2 2.000" "L7 row of v1: $row"
	row=$(awk '/L7 PROXY/ { l7 = 1; next } l7 && $1 == "(proxy)"' <<<"$out")
	expect_eq "$(awk '{ print $3, $7 }' <<<"$row")" "0 3" "(proxy) row: $row"

	# --watch: 30 more requests to v1 in the middle of a 6 s window, none
	# to v2 (a wide window: on a loaded machine splitctl may take a second
	# or two to take its first reading).
	ctl stats --watch 6 --count 1 reviews >"$WORK/l7watch.out" &
	sleep 3
	l7_put "$svc" "$v1" 120 0 118 1 0 1 2 240000
	wait $!
	out=$(cat "$WORK/l7watch.out")
	row=$(awk '/L7 PROXY/ { l7 = 1; next } l7 && $1 == "v1"' <<<"$out")
	expect_eq "$(awk '{ print $5, $6, $7, $8, $13 }' <<<"$row")" "30 100.00% 5.0 30 2.000" \
		"L7 row of v1 over a --watch window: $row"

	port=$(sed -n 's/.*metrics: GET \/metrics on .* (port \([0-9]*\)).*/\1/p' "$WORK/splitd.log" | tail -n 1)
	[ -n "$port" ] || fail "no metrics port in the splitd log"
	out=$(curl -sS --max-time 5 "http://127.0.0.1:$port/metrics") || fail "GET /metrics"
	local l='{service="reviews",namespace="default",version='
	expect_contains "$out" "split_l7_requests_total${l}\"v1\"} 120" "requests of v1"
	expect_contains "$out" "split_l7_responses_total${l}\"v1\",code=\"2xx\"} 118" "2xx of v1"
	expect_contains "$out" "split_l7_responses_total${l}\"\",code=\"4xx\"} 3" "the proxy's own 4xx"
	expect_contains "$out" "split_l7_nonhttp_connections_total${l}\"v1\"} 2" "non-HTTP of v1"
	expect_contains "$out" "split_l7_request_duration_seconds_sum${l}\"v2\"} 0.050000" "latency sum of v2"
	expect_contains "$out" "split_l7_request_duration_seconds_count${l}\"v2\"} 10" "latency count of v2"
	if command -v promtool >/dev/null; then
		promtool check metrics <<<"$out" || fail "promtool check metrics"
	fi
	# Back to a plain service for whatever runs next.
	for k in "$v1" "$v2" 0; do
		# shellcheck disable=SC2046
		bpftool map delete pinned "$TB_PIN/l7_stats" key $(le "$svc" 4) $(le "$k" 4)
	done
	out=$(ctl stats reviews)
	case "$out" in *"L7 PROXY"*) fail "L7 block after the entries were deleted" ;; esac
	true
}

# The daemon on a services file maps no libcurl (nor its libraries): only
# --source kubernetes opens it (tests/k8s/test_libcurl.sh; test_k8s_source
# sees it mapped there).
test_daemon_maps_no_libcurl() {
	local pid
	pid=$(cat "$WORK/splitd.pid")
	alive "$pid" || fail "splitd is not running"
	grep -q 'libbpf\.so' "/proc/$pid/maps" || fail "no libbpf in /proc/$pid/maps: not splitd's?"
	expect_eq "$(grep -c 'libcurl' "/proc/$pid/maps" || true)" 0 "libcurl mappings of the running splitd"
}

run_tests test_default_equal_per_endpoint test_split_50_50_10000 test_all_to_one_version \
	test_small_canary test_ipv6 test_ipv4_mapped_vip test_udp test_udp_socket_is_sticky \
	test_weights_change_under_load test_established_survives_changes \
	test_bad_input_changes_nothing test_services_file_reload \
	test_splitd_sigkill_keeps_datapath test_splitd_restart_keeps_state_no_gap \
	test_pinned_maps_readable test_map_sizes test_metrics_endpoint test_stats_observed_split \
	test_stats_l7 test_daemon_maps_no_libcurl
