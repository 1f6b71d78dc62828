#!/bin/bash
# repro_xdp_rst.sh - chase the rare TCP reset through the XDP/tc NAT path.
#
#   bash tests/tools/repro/repro_xdp_rst.sh [TOTAL [BATCH [PARALLEL]]]
#
# Builds a testbed as test_xdp.sh does (splitd --xdp on the client-facing
# veth, --tc-rev on the backend-facing ones, client outside the cgroup), sets
# v1=50 v2=50, and runs splitclient in batches of BATCH (default 10000) TCP
# connections until TOTAL (default 100000) or the first batch with a failure
# (STOP_ON_FAIL=0: keep going). Meanwhile tcpdump (SYN/FIN/RST, snaplen 128)
# runs on the client, on every node interface and in every backend netns, and
# nstat absolute counters are taken in every netns before and after.
# On a failure it prints, for each failed port: the packet history of the port
# in every capture, the ct/ct_rev entries of the port, and the nstat deltas.
#
# Other knobs: MODE=sock (socket-level path instead), CAPTURE=0 (no tcpdump),
# FULL=1 (capture every TCP header), TRACE=1 (perf: tcp:tcp_send_reset),
# RPS=1 (RPS on the node's to-client, the fix test_xdp.sh applies).
# The nstat deltas show the race that causes the resets without waiting for
# one: TcpPassiveOpens in v1+v2 above the number of connections = handshakes
# completed twice, on two CPUs at once.
#
# Everything is kept in OUT (default /tmp/repro-xdp-rst.<pid>); the testbed
# itself is removed on exit.
set -u
cd "$(dirname "$0")/../../.." || exit 1
T_SUITE=repro_xdp_rst
source tests/e2e/fixture.sh

TOTAL=${1:-100000}
BATCH=${2:-10000}
PAR=${3:-2}
STOP_ON_FAIL=${STOP_ON_FAIL:-1}
CAPTURE=${CAPTURE:-1}
OUT=${OUT:-/tmp/repro-xdp-rst.$$}
mkdir -p "$OUT"

SPLITD_NS='$TB_NODE'
SPLITD_ARGS=(--xdp to-client --tc-rev to-v1 --tc-rev to-v2 --tc-rev to-v3)
# MODE=sock: the socket-level path instead (no XDP/tc; client in the cgroup).
MODE=${MODE:-xdp}
RUN_CLIENT=(tb_in client)
if [ "$MODE" = sock ]; then
	SPLITD_ARGS=()
	RUN_CLIENT=(tb_client)
fi
DUMP_PIDS=()

repro_cleanup() {
	local p
	for p in "${DUMP_PIDS[@]}"; do kill -INT "$p" 2>/dev/null; done
	for p in "${DUMP_PIDS[@]}"; do wait "$p" 2>/dev/null; done
	cleanup
}
fixture_up
trap repro_cleanup EXIT
for c in all default to-v1 to-v2 to-v3; do
	tb_in "$TB_NODE" sysctl -qw "net.ipv4.conf.$c.rp_filter=0"
done
# RPS=1: RPS over every CPU on the node's to-client, as test_xdp.sh does
# (each flow processed on one CPU, as with a NIC's RSS).
if [ "${RPS:-0}" = 1 ]; then
	tb_rps "$TB_NODE" to-client || exit 1
fi
start_splitd || { echo "FAIL: splitd did not start"; exit 1; }
ctl set reviews v1=50 v2=50 >/dev/null || exit 1

# FULL=1: every TCP packet (headers only), else SYN/FIN/RST only.
if [ "${FULL:-0}" = 1 ]; then
	FILTER=tcp
else
	FILTER='tcp and (tcp[tcpflags] & (tcp-syn|tcp-fin|tcp-rst) != 0)'
fi
dump() { # NS IFACE NAME (nsenter execs tcpdump: $! is tcpdump's PID)
	nsenter --net="/run/netns/$(tb__ns "$1")" tcpdump -Z root -s 128 -B 32768 -U -n -i "$2" \
		-w "$OUT/$3.pcap" "$FILTER" >"$OUT/$3.tcpdump.log" 2>&1 &
	DUMP_PIDS+=($!)
}
if [ "$CAPTURE" = 1 ]; then
	dump "$TB_CLIENT" eth0 client
	dump "$TB_NODE" to-client node-client
	for v in 1 2 3; do
		dump "$TB_NODE" "to-v$v" "node-v$v"
		dump "${TB_ID}-v$v" eth0 "v$v"
	done
	sleep 1
fi
# TRACE=1: record every TCP reset sent on the machine (tracepoint
# tcp:tcp_send_reset: the state of the socket that sent it, and the reason);
# lines of other testbeds share the addresses, match them by port and time.
if [ "${TRACE:-0}" = 1 ] && command -v perf >/dev/null; then
	perf record -q -a -e tcp:tcp_send_reset -e tcp:tcp_receive_reset -o "$OUT/perf.data" \
		>"$OUT/perf.log" 2>&1 &
	DUMP_PIDS+=($!)
	sleep 1
fi

NSS=(client node v1 v2 v3)
nstat_all() { # SUFFIX
	local n
	for n in "${NSS[@]}"; do
		tb_in "$n" nstat -asz >"$OUT/nstat-$n.$1" 2>/dev/null
	done
}
nstat_delta() { # A B: print nonzero deltas of interesting counters per netns
	local n
	for n in "${NSS[@]}"; do
		echo "== $n"
		awk 'NR == FNR { if ($1 !~ /^#/) a[$1] = $2; next }
		     $1 !~ /^#/ { d = $2 - a[$1]; if (d != 0) printf "  %-28s %d\n", $1, d }' \
			"$OUT/nstat-$n.$1" "$OUT/nstat-$n.$2" |
			grep -E 'Rst|Reset|Syn|SYN|Listen|Cookie|ReqQ|Challenge|TW|Abort|Retrans|Fail|Drop|Ack|Paws|PAWS|ActiveOpens|PassiveOpens|EstabResets|OutRsts|Attempt' || true
	done
}

done_n=0 batch=0 failed=0
nstat_all 0
while [ "$done_n" -lt "$TOTAL" ]; do
	batch=$((batch + 1))
	nstat_all "b$batch.pre"
	"${RUN_CLIENT[@]}" "$B/splitclient" --connect "$VIP4" --port "$PORT" -n "$BATCH" \
		--parallel "$PAR" --log "$OUT/client-b$batch.log" >"$OUT/out-b$batch" 2>"$OUT/err-b$batch"
	nstat_all "b$batch.post"
	done_n=$((done_n + BATCH))
	f=$(field "$(cat "$OUT/out-b$batch")" fail)
	echo "batch $batch: $(head -1 "$OUT/out-b$batch") $(tr '\n' ' ' <"$OUT/err-b$batch")"
	if [ "${f:-0}" -gt 0 ]; then
		failed=$((failed + f))
		echo "--- nstat deltas of batch $batch"
		nstat_delta "b$batch.pre" "b$batch.post"
		echo "--- nat_stats"
		bpftool -j map dump pinned "$TB_PIN/nat_stats" |
			python3 -c 'import json,sys; d=json.load(sys.stdin)
for e in d:
    e=e.get("formatted", e)
    s=sum(v["value"] for v in e["values"])
    if s: print("  nat_stats[%d] = %d" % (e["key"], s))'
		for port in $(grep -o 'port[0-9]*' "$OUT/err-b$batch" | tr -d 'port' | sort -un); do
			echo "--- port $port: ct / ct_rev"
			bpftool -j map dump pinned "$TB_PIN/ct" | python3 -c '
import json,sys,socket,struct
p=int(sys.argv[1])
for e in json.load(sys.stdin):
    e=e.get("formatted", e)
    k=e["key"]
    sp=socket.ntohs(k["sport"])
    if sp==p: print("  ct", json.dumps(e))' "$port"
			bpftool -j map dump pinned "$TB_PIN/ct_rev" | python3 -c '
import json,sys,socket
p=int(sys.argv[1])
for e in json.load(sys.stdin):
    e=e.get("formatted", e)
    k=e["key"]
    if socket.ntohs(k["dport"])==p: print("  ct_rev", json.dumps(e))' "$port"
			if [ -s "$OUT/perf.data" ] || [ "${TRACE:-0}" = 1 ]; then
				echo "  [tcp_send_reset / tcp_receive_reset, all netns, port $port]"
				perf script -i "$OUT/perf.data" 2>/dev/null | grep -E "[:.]$port( |$)" | sed 's/^/    /'
			fi
			if [ "$CAPTURE" = 1 ]; then
				sleep 1
				for c in client node-client node-v1 node-v2 node-v3 v1 v2 v3; do
					echo "  [$c]"
					tcpdump -tt -n -r "$OUT/$c.pcap" "port $port" 2>/dev/null | sed 's/^/    /'
				done
			fi
		done
		[ "$STOP_ON_FAIL" = 1 ] && break
	fi
done
echo "--- nstat deltas of the whole run"
nstat_all end
nstat_delta 0 end
echo "RESULT: $done_n connections, $failed failed; files in $OUT"
[ "$failed" -eq 0 ]
