#!/bin/bash
# test_health.sh - end to end: the east-west counters and TCP health
# (issue 6). Real clients in the cgroup connect through the VIP; the counters
# the socket hooks and the sockops program keep per endpoint and per version
# must match what the clients saw, exactly where the count is exact:
# connections per version and endpoint (TCP, IPv6, UDP), handshakes, a
# refused port, a peer that resets, retransmissions through a blackholed
# route, RTT. Then the Prometheus exposition: promtool, the HTTP responder,
# and a real Prometheus server scraping it and answering a PromQL query for
# the split.
#
# Needs root. Builds its own testbed (unique names) and removes it on exit.
# promtool and prometheus (Debian package prometheus) are optional: the tests
# that need them skip without.
T_SUITE=e2e_health
source "$(dirname "$0")/fixture.sh"

VIP_REFUSED=10.96.0.11	# service "ratings": targetPort 9999, nobody listens there

fixture_up
fixture_service ratings $VIP_REFUSED 9080:9999 10.201.3.2=v1
fixture_splitd

# Helpers that link libbpf and libsplit: from the build dir when the Makefile
# made them, else compiled here.
helper() {
	if [ -x "$B/$1" ]; then
		echo "$B/$1"
		return 0
	fi
	if [ ! -x "$WORK/$1" ]; then
		# shellcheck disable=SC2046
		cc -O2 -g -Wall -Wextra -Werror -std=gnu11 -D_GNU_SOURCE -Iinclude -Iuser/lib -I"$B" \
			"tests/tools/$1.c" "$B/libsplit.a" \
			$(pkg-config --libs libbpf libelf zlib yaml-0.1 libpcre2-8 2>/dev/null ||
			  echo -lbpf -lelf -lz -lyaml -lpcre2-8) -o "$WORK/$1" >&2 || return 1
	fi
	echo "$WORK/$1"
}
SOCKOPS_ATTACH=$(helper sockops_attach) || { echo "FAIL: building sockops_attach"; exit 1; }
METRICS_DUMP=$(helper metrics_dump) || { echo "FAIL: building metrics_dump"; exit 1; }
METRICS_SERVE=$(helper metrics_serve) || { echo "FAIL: building metrics_serve"; exit 1; }

# Until splitd attaches the sockops program itself: attach it to the test's
# cgroup with the maps splitd pinned; the link is pinned under links/ as
# splitd would, so splitd --unload (the fixture's cleanup) detaches it.
if [ ! -e "$TB_PIN/links/split_sockops" ]; then
	"$SOCKOPS_ATTACH" "$TB_PIN" "$TB_CGROUP" || { echo "FAIL: attaching split_sockops"; exit 1; }
fi

# ---- reading the counters --------------------------------------------------------

rows() { "$METRICS_DUMP" --rows "$TB_PIN"; }
# ep ROWS SERVICE ADDR KEY: a counter of one endpoint row (0 if absent).
ep() {
	awk -v s="$2" -v a="$3" -v k="$4" '$1 == "endpoint" && $2 == s && $5 == a {
		for (i = 6; i < NF; i += 2) if ($i == k) v = $(i + 1) } END { print v + 0 }' <<<"$1"
}
# ver ROWS SERVICE VERSION KEY: a counter of one version row.
ver() {
	awk -v s="$2" -v n="$3" -v k="$4" '$1 == "version" && $2 == s && $4 == n {
		for (i = 5; i < NF; i += 2) if ($i == k) v = $(i + 1) } END { print v + 0 }' <<<"$1"
}
# sumk ROWS SERVICE KEY: a counter summed over the service's versions.
sumk() {
	awk -v s="$2" -v k="$3" '$1 == "version" && $2 == s {
		for (i = 5; i < NF; i += 2) if ($i == k) v += $(i + 1) } END { print v + 0 }' <<<"$1"
}
# epcount OUTPUT VERSION ADDR: splitclient's "endpoint VERSION ADDR N".
epcount() { awk -v v="$2" -v a="$3" '$1 == "endpoint" && $2 == v && $3 == a { n = $4 } END { print n + 0 }' <<<"$1"; }
# dep SERVICE ADDR KEY, dver SERVICE VERSION KEY, dsum SERVICE KEY: how much
# ep, ver or sumk grew from the caller's $before rows to its $after rows.
dep() { echo $(( $(ep "$after" "$@") - $(ep "$before" "$@") )); }
dver() { echo $(( $(ver "$after" "$@") - $(ver "$before" "$@") )); }
dsum() { echo $(( $(sumk "$after" "$@") - $(sumk "$before" "$@") )); }
# client_fails ERRNO ARG...: 20 connections by splitclient ARG... that all
# fail with ERRNO (its exit status 1); the caller's before and after hold
# the rows read around them.
client_fails() {
	local errno=$1 out rc=0
	shift
	before=$(rows)
	out=$(client "$@" -n 20 2>"$WORK/$errno.err") || rc=$?
	after=$(rows)
	expect_eq "$rc" 1 "splitclient exit status"
	expect_eq "$(field "$out" fail)" 20 "connections failed with $errno, seen by the client"
	grep -q "$errno" "$WORK/$errno.err" || fail "client errors: $(cat "$WORK/$errno.err")"
}

# ---- tests -------------------------------------------------------------------------

test_sockops_attached() {
	local out
	out=$(bpftool cgroup show "$TB_CGROUP")
	expect_contains "$out" "sock_ops" "bpftool cgroup show"
	expect_contains "$out" "split_sockops" "bpftool cgroup show"
	[ -e "$TB_PIN/links/split_sockops" ] || fail "link not pinned under $TB_PIN/links"
	out=$(bpftool map show pinned "$TB_PIN/sk_backend")
	expect_contains "$out" "sk_storage" "sk_backend map type"
}

test_connections_match_client() {
	# Every TCP connection is counted once, on the endpoint and the version
	# it went to: the counts equal splitclient's tallies exactly.
	local before after out out6 e v a d4
	ctl set reviews v1=50 v2=50 >/dev/null
	before=$(rows)
	out=$(client --connect $VIP4 --port $PORT -n 2000 --parallel 2)
	expect_clean "$out" 2000
	out6=$(client --connect $VIP6 --port $PORT -n 400 --parallel 2)
	expect_clean "$out6" 400
	after=$(rows)
	for v in v1 v2 v3; do
		d4=$(dver reviews $v conn)
		expect_eq "$d4" "$(( $(vcount "$out" $v) + $(vcount "$out6" $v) ))" "connections to $v (version counter)"
		d4=$(dver reviews $v est)
		expect_eq "$d4" "$(( $(vcount "$out" $v) + $(vcount "$out6" $v) ))" "handshakes with $v"
	done
	info "split counted: v1 $(dver reviews v1 conn)," \
		"v2 $(dver reviews v2 conn) of 2400"
	for e in "v1 10.201.1.2" "v1 10.201.1.3" "v2 10.201.2.2" "v1 fd00:201:1::2" "v2 fd00:201:2::2"; do
		# shellcheck disable=SC2086 # "VERSION ADDR"
		set -- $e
		a=$(dep reviews "$2" conn)
		expect_eq "$a" "$(( $(epcount "$out" "$1" "$2") + $(epcount "$out6" "$1" "$2") ))" "connections to $2"
	done
	for k in fail reset; do
		expect_eq "$(dsum reviews $k)" 0 \
			"$k counted for clean connections"
	done
}

test_udp_counted_per_socket_choice() {
	# Unconnected UDP: one choice per new socket, not per datagram; a socket
	# that sends 100 datagrams is one choice. No TCP health for UDP.
	local before after out
	ctl set reviews v1=50 v2=50 >/dev/null
	before=$(rows)
	out=$(client --udp --connect $VIP4 --port $PORT -n 300 --parallel 2)
	expect_clean "$out" 300
	after=$(rows)
	expect_eq "$(dsum reviews conn)" 300 "choices for 300 UDP sockets"
	expect_eq "$(dver reviews v2 conn)" "$(vcount "$out" v2)" "UDP choices of v2"
	expect_eq "$(dsum reviews est)" 0 "handshakes counted for UDP"
	before=$after
	out=$(client --udp --same-socket --connect $VIP4 --port $PORT -n 100)
	expect_clean "$out" 100
	after=$(rows)
	expect_eq "$(dsum reviews conn)" 1 "choices for 100 datagrams on one socket"
	before=$after
	out=$(client --udp-connected --connect $VIP4 --port $PORT -n 100)
	expect_clean "$out" 100
	after=$(rows)
	expect_eq "$(dsum reviews conn)" 100 "choices for 100 connected UDP sockets"
}

test_connect_refused() {
	# ratings sends to 10.201.3.2:9999, where nothing listens: RST to the
	# SYN, SYN_SENT -> CLOSE on every connection.
	local before after
	client_fails ECONNREFUSED --connect $VIP_REFUSED --port $PORT --timeout-ms 2000
	expect_eq "$(dep ratings 10.201.3.2 conn)" 20 "connections chosen"
	expect_eq "$(dep ratings 10.201.3.2 fail)" 20 "connect failures"
	expect_eq "$(dep ratings 10.201.3.2 est)" 0 "handshakes"
	expect_eq "$(dver ratings v1 fail)" 20 "connect failures of the version"
	# The same address in reviews is another endpoint row: untouched.
	expect_eq "$(dep reviews 10.201.3.2 fail)" 0 "failures on reviews' 10.201.3.2"
}

test_peer_reset() {
	# httpd answers /reset with SO_LINGER {1,0}: an RST on an established
	# connection, ESTABLISHED -> CLOSE with no FIN state.
	local before after
	ctl set reviews v2=100 >/dev/null
	client_fails ECONNRESET --connect $VIP4 --port $PORT --path /reset
	expect_eq "$(dep reviews 10.201.2.2 est)" 20 "handshakes"
	expect_eq "$(dep reviews 10.201.2.2 reset)" 20 "resets"
	expect_eq "$(dver reviews v2 reset)" 20 "resets of v2"
	expect_eq "$(dep reviews 10.201.2.2 fail)" 0 "connect failures"
}

test_retransmits_blackhole() {
	# One keep-alive connection to v2; for 2 s the node drops everything to
	# 10.201.2.2 (blackhole route, no ICMP): the request in flight is
	# retransmitted on RTO until the route is back, and the connection
	# survives.
	local before after out cpid r t
	ctl set reviews v2=100 >/dev/null
	before=$(rows)
	client --connect $VIP4 --port $PORT --keepalive 5 --interval-ms 250 --timeout-ms 6000 \
		>"$WORK/ka.out" 2>"$WORK/ka.err" &
	cpid=$!
	sleep 1
	tb_in "$TB_NODE" ip route add blackhole 10.201.2.2/32
	sleep 2
	tb_in "$TB_NODE" ip route del blackhole 10.201.2.2/32
	wait $cpid || true
	out=$(cat "$WORK/ka.out")
	after=$(rows)
	expect_eq "$(field "$out" fail)" 0 "failed requests on the connection ($(cat "$WORK/ka.err"))"
	expect_ge "$(field "$out" total)" 8 "requests on the connection"
	expect_eq "$(dep reviews 10.201.2.2 conn)" 1 "connections"
	r=$(dep reviews 10.201.2.2 retrans)
	t=$(dep reviews 10.201.2.2 rto)
	info "blackholed 2 s: $r retransmits, $t RTOs"
	expect_ge "$r" 2 "retransmits"
	expect_ge "$t" 1 "RTO events"
	expect_eq "$(dver reviews v2 retrans)" "$r" "retransmits of v2"
	expect_eq "$(dep reviews 10.201.2.2 reset)" 0 "resets"
}

test_rtt() {
	local r n s l e out
	r=$(rows)
	for e in 10.201.1.2 10.201.2.2; do
		n=$(ep "$r" reviews $e rtt_n); s=$(ep "$r" reviews $e rtt_sum_us); l=$(ep "$r" reviews $e rtt_last_us)
		info "$e: $n RTT samples, mean smoothed RTT $(( s / (n ? n : 1) )) us, last $l us"
		expect_ge "$n" "$(ep "$r" reviews $e est)" "RTT samples (at least one per handshake)"
		expect_ge "$s" 1 "RTT sum"
		expect_ge "$l" 1 "last smoothed RTT in us"
	done
	out=$("$METRICS_DUMP" "$TB_PIN")
	grep -Eq '^split_tcp_rtt_seconds\{service="reviews",namespace="default",version="v2",endpoint="10.201.2.2"\} 0\.[0-9]{6}$' <<<"$out" ||
		fail "no split_tcp_rtt_seconds line for 10.201.2.2"
}

test_metrics_promtool() {
	local out r fam
	command -v promtool >/dev/null || skip "promtool not installed (Debian package prometheus)"
	ctl set reviews v2=100 >/dev/null
	out=$("$METRICS_DUMP" "$TB_PIN")
	promtool check metrics <<<"$out" || fail "promtool check metrics"
	for fam in split_weight split_weight_share split_table_share split_connections_total \
		split_tcp_established_total split_tcp_connect_failures_total split_tcp_resets_total \
		split_tcp_retransmits_total split_tcp_rto_total split_tcp_rtt_seconds \
		split_tcp_smoothed_rtt_seconds split_flows_total split_packets_total split_bytes_total; do
		grep -q "^# HELP $fam " <<<"$out" || fail "no HELP for $fam"
		grep -q "^# TYPE $fam " <<<"$out" || fail "no TYPE for $fam"
	done
	# The exposition says what the maps say.
	r=$(rows)
	expect_contains "$out" "split_connections_total{service=\"reviews\",namespace=\"default\",version=\"v2\",endpoint=\"10.201.2.2\"} $(ep "$r" reviews 10.201.2.2 conn)" "connections line"
	expect_contains "$out" "split_tcp_resets_total{service=\"reviews\",namespace=\"default\",version=\"v2\",endpoint=\"10.201.2.2\"} $(ep "$r" reviews 10.201.2.2 reset)" "resets line"
	expect_contains "$out" "split_tcp_connect_failures_total{service=\"ratings\",namespace=\"default\",version=\"v1\",endpoint=\"10.201.3.2\"} $(ep "$r" ratings 10.201.3.2 fail)" "connect failures line"
	expect_contains "$out" 'split_weight{service="reviews",namespace="default",version="v2"} 100' "weight line"
	expect_contains "$out" 'split_weight_share{service="reviews",namespace="default",version="v1"} 0' "weight share line"
	expect_contains "$out" 'split_packets_total{service="reviews",namespace="default",version="v1",endpoint="10.201.1.2",direction="reply"} 0' "packets line"
}

stop_pids() { # PID...: our background helpers, TERM and reap
	kill "$@" 2>/dev/null
	wait "$@" 2>/dev/null
	return 0
}

# serve_metrics: metrics_serve in the node netns (its own loopback), port in
# $MPORT, pid in $MPID.
serve_metrics() {
	# nsenter execs the program: $! is its pid.
	nsenter --net="/run/netns/$TB_NODE" "$METRICS_SERVE" "$TB_PIN" 127.0.0.1:0 \
		>"$WORK/serve.out" 2>"$WORK/serve.err" &
	MPID=$!
	for _ in $(seq 50); do
		MPORT=$(awk '$1 == "listening" { print $2 }' "$WORK/serve.out")
		[ -n "$MPORT" ] && return 0
		sleep 0.1
	done
	fail "metrics_serve did not start: $(cat "$WORK/serve.err")"
}
# raw BYTES...: send bytes to the responder as they are, print the status line.
raw() {
	# shellcheck disable=SC2016
	tb_in "$TB_NODE" timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"; shift
		printf "$@" >&3; head -n 1 <&3 | tr -d "\r"' sh "$MPORT" "$@"
}

test_metrics_http() {
	local code out
	serve_metrics
	trap 'stop_pids $MPID' EXIT
	out=$(tb_in "$TB_NODE" curl -sS -D "$WORK/h.txt" "http://127.0.0.1:$MPORT/metrics")
	grep -qi '^content-type: text/plain; version=0.0.4' "$WORK/h.txt" || fail "content type: $(cat "$WORK/h.txt")"
	expect_contains "$out" "# TYPE split_connections_total counter" "body"
	if command -v promtool >/dev/null; then
		promtool check metrics <<<"$out" || fail "promtool check metrics on the HTTP answer"
	fi
	code=$(tb_in "$TB_NODE" curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MPORT/")
	expect_eq "$code" 404 "GET /"
	code=$(tb_in "$TB_NODE" curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$MPORT/metrics")
	expect_eq "$code" 405 "POST /metrics"
	code=$(tb_in "$TB_NODE" curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MPORT/metrics?x=1")
	expect_eq "$code" 200 "GET /metrics?x=1"
	expect_eq "$(raw 'garbage\r\n\r\n')" "HTTP/1.0 400 Bad Request" "garbage"
	expect_eq "$(raw 'GET /metrics\r\n\r\n')" "HTTP/1.0 400 Bad Request" "no HTTP version"
	expect_eq "$(raw "GET /$(head -c 9000 /dev/zero | tr '\0' a) HTTP/1.1\r\n\r\n")" "HTTP/1.0 400 Bad Request" "9000-byte head"
	expect_eq "$(raw 'GET /metrics HTTP/1.1\r\nHost: x\r\n')" "HTTP/1.0 408 Request Timeout" "head never finished"
	expect_eq "$(raw 'GET /metrics HTTP/1.1\r\n\r\n')" "HTTP/1.0 200 OK" "still answering"
	alive "$MPID" || fail "metrics_serve died"
}

# promq QUERY: the instant vector from Prometheus' HTTP API, one
# "LABELVALUE[,LABELVALUE...] VALUE" line per series (label values here
# carry no escapes).
promq() {
	tb_in "$TB_NODE" curl -sS --max-time 5 "http://127.0.0.1:9090/api/v1/query" \
		--data-urlencode "query=$1" |
		grep -o '"metric":{[^}]*},"value":\[[^]]*\]' |
		sed -E 's/^"metric":\{(.*)\},"value":\[[^,]*,"([^"]*)"\]$/\1 \2/; s/"[^"]*":"([^"]*)"/\1/g'
}

test_prometheus_scrape() {
	# A real Prometheus, in the node netns on its own loopback, scrapes the
	# responder every second; PromQL gives the split of 2000 connections.
	local before after out v ok=0 got want
	command -v prometheus >/dev/null || skip "prometheus not installed (Debian package prometheus)"
	serve_metrics
	mkdir -p "$WORK/prom"
	cat >"$WORK/prom/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: split
    static_configs:
      - targets: ['127.0.0.1:$MPORT']
EOF
	nsenter --net="/run/netns/$TB_NODE" prometheus --config.file="$WORK/prom/prometheus.yml" \
		--storage.tsdb.path="$WORK/prom/data" --web.listen-address=127.0.0.1:9090 \
		--log.level=warn >"$WORK/prom/log" 2>&1 &
	PPID_=$!
	trap 'stop_pids $MPID $PPID_' EXIT
	ctl set reviews v1=50 v2=50 >/dev/null
	before=$(rows)
	out=$(client --connect $VIP4 --port $PORT -n 2000 --parallel 2)
	expect_clean "$out" 2000
	after=$(rows)
	want="v1 $(ver "$after" reviews v1 conn)
v2 $(ver "$after" reviews v2 conn)
v3 $(ver "$after" reviews v3 conn)"
	# Up to 60 s: Prometheus starts slowly on a busy 2-core machine.
	for _ in $(seq 300); do
		got=$(promq 'sum by (version) (split_connections_total{service="reviews"})' 2>/dev/null | sort)
		[ "$got" = "$want" ] && { ok=1; break; }
		alive "$PPID_" || fail "prometheus died: $(tail -n 5 "$WORK/prom/log")"
		sleep 0.2
	done
	[ $ok = 1 ] || fail "PromQL: got '$got', want '$want' ($(tail -n 3 "$WORK/prom/log"))"
	info "PromQL sum by (version): $(tr '\n' ' ' <<<"$got")"
	expect_eq "$(promq 'up{job="split"}' | awk '{print $2}')" 1 "up"
	# The split of this run's 2000 connections, from Prometheus' numbers.
	v=$(( $(awk '$1 == "v2" {print $2}' <<<"$got") - $(ver "$before" reviews v2 conn) ))
	expect_eq "$v" "$(vcount "$out" v2)" "v2 connections of this run, via PromQL"
	within_sigma "$v" 2000 0.5 4 "v2 share via PromQL"
	got=$(promq 'sum by (version) (split_weight_share{service="reviews"})' | sort)
	expect_eq "$got" "v1 0.5
v2 0.5
v3 0" "split_weight_share via PromQL"
}

run_tests test_sockops_attached test_connections_match_client test_udp_counted_per_socket_choice \
	test_connect_refused test_peer_reset test_retransmits_blackhole test_rtt \
	test_metrics_promtool test_metrics_http test_prometheus_scrape
