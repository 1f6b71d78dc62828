#!/bin/bash
# bench_count.sh - what counting costs on the socket path: connect() through
# our hooks with the datapath loaded normally and with its counters
# compiled out (splitd --no-counters: no per-CPU counter updates, no sockops
# health tagging). The two alternate round by round on one testbed; the
# datapath is swapped in place (pinned links updated), so nothing else
# changes between them. Prints figures, never judges timing.
#
#   bench/bench_count.sh [--quick]     (root)
set -u
cd "$(dirname "$0")/.." || exit 1
T_SUITE=bench_count
source tests/e2e/fixture.sh
source bench/lib.sh

ROUNDS=7 DUR=3
bench_args "$@" && ROUNDS=1 DUR=0.5
fixture_up
start_splitd || { echo "bench_count: splitd did not start"; exit 1; }
ctl set reviews v1=50 v2=50 >/dev/null

run() { # counting|nocount: one round, prints "p50 rate"
	stop_splitd TERM
	if [ "$1" = nocount ]; then SPLITD_ARGS=(--no-counters); else SPLITD_ARGS=(); fi
	start_splitd >/dev/null || { echo "bench_count: splitd restart failed" >&2; exit 1; }
	tb_client "$B/connrate" --connect $VIP4 --port $PORT --duration $DUR --parallel 2 --request --rst |
		awk '{ for (i = 1; i < NF; i++) { if ($i == "connect_ns_p50") p = $(i + 1); if ($i == "rate") r = $(i + 1) } }
		     END { sub("/s", "", r); print p, r }'
}

: >"$WORK/counting" ; : >"$WORK/nocount"
for ((r = 1; r <= ROUNDS; r++)); do
	for mode in counting nocount; do
		run $mode >>"$WORK/$mode"
	done
	echo "round $r/$ROUNDS: counting $(tail -n1 "$WORK/counting")  nocount $(tail -n1 "$WORK/nocount")  (p50 ns, conn/s)"
done
pc=$(bench_median $(cut -d' ' -f1 "$WORK/counting")); pn=$(bench_median $(cut -d' ' -f1 "$WORK/nocount"))
rc=$(bench_median $(cut -d' ' -f2 "$WORK/counting")); rn=$(bench_median $(cut -d' ' -f2 "$WORK/nocount"))
# The per-round difference cancels slow drifts of the shared machine.
dd=$(bench_median $(paste -d' ' "$WORK/counting" "$WORK/nocount" | awk '{print $1 - $3}'))
{
	echo "## What counting costs on the socket path (bench/bench_count.sh)"
	echo
	bench_sysinfo
	echo "- settings: $ROUNDS rounds, each ${DUR} s with counters then ${DUR} s with \`splitd --no-counters\` (the datapath swapped in place between them); build/connrate --parallel 2 --request --rst to the VIP from the cgroup; v1=50 v2=50"
	echo
	echo "| datapath | connect() p50 ns (median) | conn/s (median) |"
	echo "|---|---:|---:|"
	echo "| with counters (per-CPU connection counts, sockops health tagging) | $pc | $rc |"
	echo "| counters compiled out | $pn | $rn |"
	echo
	echo "Median of the per-round differences of connect() p50: **$dd ns** per connect. Counting adds, per connect, two per-CPU hash updates and a socket storage flag, and per TCP socket the sockops callbacks (state changes, retransmits, and one per RTT sample, i.e. about one per ACK received), each a per-CPU update without locks. A difference within the noise of the machine (negative medians happen) means the cost is not measurable here. The XDP path's counting cost is in the bench_xdp section (test_run, with and without)."
} >"$WORK/section.md"
bench_section_done bench_count
