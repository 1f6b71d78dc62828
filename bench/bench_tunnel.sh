#!/bin/bash
# bench_tunnel.sh - throughput of one tunnel (bytes that are not HTTP, relayed
# at L4) through the L7 proxy, per way of moving bytes: sk_skb sockmap
# redirect (without its startup probe, which refuses this kernel), splice(2),
# read/write. On loopback, no netns. Prints figures, never judges timing
# (tunnel_bench checks only that every byte arrived).
#
#   bench/bench_tunnel.sh [--quick]
set -u
source "$(dirname "$0")/lib.sh" || exit 1

MIB=1024 ROUNDS=5
bench_local tunnel tunnel_bench "$@" && MIB=16 ROUNDS=1

for ((r = 1; r <= ROUNDS; r++)); do
	build/tunnel_bench -m "$MIB" >>"$WORK/rows" 2>>"$WORK/err" ||
		{ cat "$WORK/err" >&2; bench_die "tunnel_bench failed"; }
done
# Median MiB/s per mode over the rounds, and its range.
summary=$(sed 's|read/write|read-write|' "$WORK/rows" | awk '{ n[$1]++; v[$1, n[$1]] = $4; if (!($1 in seen)) { seen[$1] = 1; order[++m] = $1 } }
	END { for (i = 1; i <= m; i++) { k = order[i]; c = n[k]
		for (x = 1; x <= c; x++) a[x] = v[k, x]
		for (x = 1; x <= c; x++) for (y = x + 1; y <= c; y++) if (a[y] < a[x]) { t = a[x]; a[x] = a[y]; a[y] = t }
		med = (c % 2) ? a[(c + 1) / 2] : (a[c / 2] + a[c / 2 + 1]) / 2
		if (k == "splice") sp = med; r[i] = med; lo[i] = a[1]; hi[i] = a[c] }
	  for (i = 1; i <= m; i++) printf "| %s | %.0f (%.0f - %.0f) | %.2f |\n", order[i], r[i], lo[i], hi[i], sp ? r[i] / sp : 0 }')
{
	echo "## One tunnel through the L7 proxy (bench/bench_tunnel.sh)"
	echo
	bench_sysinfo
	echo "- settings: $ROUNDS rounds of $MIB MiB, one non-HTTP connection through the proxy (one worker) to a sink on loopback; tests/tools/tunnel_bench.c"
	echo
	echo "| how bytes move | MiB/s: median (min - max) | vs splice |"
	echo "|---|---:|---:|"
	echo "$summary"
	echo
	echo "splice(2) is what tunnels use (Upgrade, CONNECT, non-HTTP). The sockmap row runs the sk_skb verdict redirect without the startup probe that splitd --l7-sockmap runs: on kernels where the probe finds bytes lost under backpressure (6.18 here), splitd never uses it; a bulk one-way transfer into a fast reader, as here, is a case that works."
} >"$WORK/section.md"
bench_section_done bench_tunnel
