#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# bench_ctl.sh - the control plane and the accuracy of the split (issue 7,
# items 5 and 6), on a netns testbed:
#
#   bench/bench_ctl.sh            full run (~7 min), writes its section of bench/results.md
#   bench/bench_ctl.sh --quick    tiny counts, ~20 s, writes to a temp file (for make test)
#
# Options: --quick, -r/--repeats R, --scale "N1 N2 ...", --cold-repeats-large R
# (cold applies at N >= 10000, default 3: one takes tens of seconds),
# -c/--connections C (per accuracy setting, default 100000), -o/--out FILE,
# -h/--help.
#
# Measures, at each N services (N counts the testbed's reviews service; the
# others are generated as in bench/lib.sh):
#   apply     wall time of `splitd --once` with N services (started by
#             build/spawntime): cold (empty pin dir: load and verify the
#             BPF object, attach, write every map),
#             no-op (the same file again: what a reload that changes nothing
#             costs) and one service changed (an endpoint added to or removed
#             from reviews: a typical reload); both from the record the last
#             --once left (only the changed document parsed, that service
#             committed alone), the log checked for it
#   --once -f the same change with --full: the whole file parsed and applied
#   reload    the same change made to a running splitd (the daemon, which
#             keeps each document's parse and what the maps hold): the
#             file is renamed over the one it watches, and
#             build/reload_wait times from just before the rename to the
#             first poll of the weights map that shows reviews' new v3
#             endpoint count (the weights entry is written after the
#             service's backends and table); next to it splitd's own
#             "applied ... in X ms" (parse, checks, commit; it includes
#             the RCU grace period before a removed backend is deleted,
#             which comes after the change is in force)
#   memory    kernel memory of the datapath's maps (bpftool's memlock, which
#             on this kernel is the map's real usage): the pinned maps and
#             every inner selection table; per service = the growth from
#             N = 1 to the largest N, divided by the services added
#   set       time from the start of `splitctl set reviews ...` until a new
#             connection from the client sees the new weights: a poller
#             (build/splitclient, one thread, one connection at a time, each
#             logged with its start time) runs while the weights flip between
#             v1=100 and v2=100; the effect time is the start of the first
#             connection that reached the new version minus the command's
#             start (resolution: one poll, reported)
#             and, with no poller running, how long the command runs,
#             started by build/spawntime (posix_spawn), next to /bin/true
#             timed the same way (the cost of any process start); both also
#             timed from this script's bash (its fork adds the caller's cost)
# and with the testbed's one service:
#   accuracy  observed share of v2 over C connections at v1/v2 = 99/1, 90/10
#             and 50/50, its deviation from the configured weight and from
#             the table's exact slot share, in binomial sigmas
#   movement  the share of flows whose backend changes when the weights go
#             90/10 -> 80/20 (and two more changes), counted on the
#             selection tables themselves: the table is dumped with bpftool
#             before and after, slot by slot
#
# Needs root. Builds its own testbed (unique names, removed on exit, also on
# failure). Never pass/fail on timing. Exit 1 only if something broke.
set -u
cd "$(dirname "$0")/.." || exit 1
REPO=$(pwd)
source scripts/testbed.sh
source bench/lib.sh

QUICK=0 R=5 SCALE="1 100 1000 10000" RCL=3 C=100000
OUT=$REPO/bench/results.md OUT_SET=0
usage() { sed -n '3,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 ;;
	-r | --repeats) R=$2; shift ;;
	--scale) SCALE=$2; shift ;;
	--cold-repeats-large) RCL=$2; shift ;;
	-c | --connections) C=$2; shift ;;
	-o | --out) OUT=$2; OUT_SET=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "bench_ctl: unknown option '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done
if [ $QUICK = 1 ]; then
	R=1 SCALE="1 100" C=1000
fi
[ "$(id -u)" = 0 ] || bench_die "run as root (network namespaces, cgroup, BPF)"
bench_need "bpftool jq nsenter flock" \
	"splitd splitctl splitclient httpd reload_wait spawntime"

WORK=$(mktemp -d /tmp/split-bench-ctl.XXXXXX)
# Quick mode never touches bench/results.md.
if [ $QUICK = 1 ] && [ $OUT_SET = 0 ]; then
	OUT=$WORK/results.md
fi
DPID=
cleanup() {
	[ -n "$DPID" ] && kill "$DPID" 2> /dev/null && wait "$DPID" 2> /dev/null
	[ -n "${TB_PIN:-}" ] && [ -x "${BIN:-/nonexistent}/splitd" ] && "$BIN/splitd" -q --unload -p "$TB_PIN" 2> /dev/null
	tb_down
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bench_private_bins "$WORK/bin" splitd splitctl splitclient httpd reload_wait spawntime
T_START=$(date +%s)

tb_up || bench_die "the testbed did not come up"
VIP=10.96.0.10 PORT=9080
ctl() { "$BIN/splitctl" -p "$TB_PIN" "$@"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f\n", (b - a) / 1e9 }'; }
# timed CMD...: run it, print its wall time in s; fails if it fails.
timed() {
	local t0 t1
	t0=$(bench_now_ns)
	"$@" > /dev/null || return 1
	t1=$(bench_now_ns)
	elapsed "$t0" "$t1"
}
once() { "$BIN/splitd" -q --once -c "$1" -g "$TB_CGROUP" -p "$TB_PIN"; }
# Timed --once runs print their wall time in s, started by build/spawntime
# (posix_spawn: not this big script's fork). once_cold FILE: the usual
# --once; once_rec FILE: from the record (its info log in $WORK/once.log);
# once_full FILE: --once --full (the whole file).
once_cold() { "$BIN/spawntime" "$BIN/splitd" -q --once -c "$1" -g "$TB_CGROUP" -p "$TB_PIN"; }
once_rec() { "$BIN/spawntime" "$BIN/splitd" --once -c "$1" -g "$TB_CGROUP" -p "$TB_PIN" 2> "$WORK/once.log"; }
once_full() { "$BIN/spawntime" "$BIN/splitd" -q --once --full -c "$1" -g "$TB_CGROUP" -p "$TB_PIN"; }
# from_record: the last once_rec applied from the record (else counted)
from_record() {
	grep -q -E 'committed alone|no service changed' "$WORK/once.log" && return 0
	RECMISS=$((RECMISS + 1))
	bench_log "  --once did not apply from its record: $(grep 'whole file' "$WORK/once.log" | head -n 1)"
}
RECMISS=0
unload() { "$BIN/splitd" -q --unload -p "$TB_PIN" 2> /dev/null; return 0; }

# ---- memory --------------------------------------------------------------------

# memory: "outer_bytes inner_bytes inner_count" for the maps under the pin
# dir and the inner maps of big_v4 (the big tables); per-map lines go to
# $WORK/mem.detail ("name type max_entries memlock").
memory() {
	local f ids
	: > "$WORK/mem.detail"
	for f in "$TB_PIN"/*; do
		[ -f "$f" ] || continue
		bpftool -j map show pinned "$f" 2> /dev/null |
			jq -r '"\(.name) \(.type) \(.max_entries) \(.bytes_memlock)"' >> "$WORK/mem.detail"
	done
	# Inner map ids: the values of the tables map (little-endian u32).
	bpftool map dump pinned "$TB_PIN/big_v4" 2> /dev/null | awk '
		function h(s) { return (index(X, tolower(substr(s, 1, 1))) - 1) * 16 + index(X, tolower(substr(s, 2, 1))) - 1 }
		BEGIN { X = "0123456789abcdef" }
		/^key:/ { for (i = 1; i <= NF; i++) if ($i == "value:") break
			  print h($(i + 1)) + 256 * h($(i + 2)) + 65536 * h($(i + 3)) + 16777216 * h($(i + 4)) }' \
		> "$WORK/inner.ids"
	ids=$(jq -Rsc 'split("\n") | map(select(length > 0) | tonumber)' "$WORK/inner.ids")
	bpftool -j map show 2> /dev/null | jq -r --argjson ids "$ids" '
		($ids | map({key: tostring, value: 1}) | from_entries) as $want
		| [.[] | select($want[(.id | tostring)])] | "\(map(.bytes_memlock) | add // 0) \(length) \(.[0].bytes_memlock // 0) \(.[0].max_entries // 0)"' \
		> "$WORK/inner.sum"
	awk '{ s += $4 } END { printf "%d ", s }' "$WORK/mem.detail"
	awk '{ printf "%d %d %d %d\n", $1, $2, $3, $4 }' "$WORK/inner.sum"
}

# ---- daemon reload -----------------------------------------------------------------

# reloads N: a running splitd on $WORK/svc.$N; R changes, alternately the
# extra endpoint added and removed, each timed by reload_wait; appends
# "in_force_ms splitd_apply_ms documents_parsed" to $WORK/reload.$N.
reloads() {
	local n=$1 f=$WORK/daemon.$1.yaml log=$WORK/splitd.$1.log i src w c t a p
	cp "$WORK/svc.$n" "$f"
	"$BIN/splitd" --no-metrics --no-l7 -c "$f" -g "$TB_CGROUP" -p "$TB_PIN" > "$log" 2>&1 &
	DPID=$!
	applied() { local k; k=$(grep -c 'applied: ' "$log" 2> /dev/null); echo "${k:-0}"; }
	# until the first apply (the whole file) and the daemon's loop
	for ((i = 0; i < 600 && $(applied) < 1; i++)); do sleep 0.1; done
	[ "$(applied)" -ge 1 ] || bench_die "splitd did not apply $n services: $(tail -n 3 "$log")"
	sleep 0.5
	: > "$WORK/reload.$n"
	for ((i = 0; i < R; i++)); do
		if ((i % 2 == 0)); then src=$WORK/svc.$n.b w=2; else src=$WORK/svc.$n w=1; fi
		cp "$src" "$WORK/next.yaml"
		c=$(applied)
		t=$("$BIN/reload_wait" "$TB_PIN" "$WORK/next.yaml" "$f" reviews default v3 "$w" 30000) ||
			bench_die "the daemon's reload was not seen: $(tail -n 3 "$log")"
		for ((k = 0; k < 300 && $(applied) <= c; k++)); do sleep 0.02; done
		for ((k = 0; k < 100 && $(grep -c 'apply took ' "$log") <= c; k++)); do sleep 0.02; done
		a=$(grep 'apply took ' "$log" | tail -n 1 | sed -n 's/.*took \([0-9.]*\) ms, \([0-9.]*\) ms CPU.*/\1 \2/p')
		p=$(grep 'apply took ' "$log" | tail -n 1 | sed -n 's/.*documents: \([0-9]*\) parsed.*/\1/p')
		echo "$t ${a:-nan nan} ${p:-nan}" >> "$WORK/reload.$n"
		bench_log "  daemon reload: in force after $t ms (splitd: apply took ${a% *} ms, ${a#* } ms CPU, ${p:-?} documents parsed)"
		sleep 0.3
	done
	kill "$DPID" 2> /dev/null
	wait "$DPID" 2> /dev/null
	DPID=
}

# ---- set latency -------------------------------------------------------------------

# setlat K: K flips between v1=100 and v2=100, each watched by its own
# poller. Appends "effect_s ctl_s poll_gap_s stale_after" to $WORK/setlat.$N.
setlat() {
	local k=$1 i old new t0 t1 dur w log res
	ctl set reviews v1=100 > /dev/null || bench_die "splitctl set failed"
	# How long does one set take here? (sizes the poller's run)
	w=$(timed ctl set reviews v1=100) || bench_die "splitctl set failed"
	dur=$(awk -v w="$w" 'BEGIN { printf "%.2f\n", 0.8 + 3 * w }')
	for ((i = 0; i < k; i++)); do
		if ((i % 2 == 0)); then old=v1 new=v2; else old=v2 new=v1; fi
		log=$WORK/poll.$i.log
		tb_client "$BIN/splitclient" --connect "$VIP" --port "$PORT" --duration "$dur" \
			--timeout-ms 1000 --log "$log" > "$WORK/poll.out" 2>&1 &
		local pid=$!
		sleep 0.3
		t0=$(bench_now_ns)
		ctl set reviews "$new=100" > /dev/null || bench_die "splitctl set failed"
		t1=$(bench_now_ns)
		wait "$pid"
		# Times relative to t0 from the last 12 digits (exact in a double).
		res=$(awk -v t0="${t0: -12}" -v new="$new" -v old="$old" '
			function rel(s,   d) { d = substr(s, length(s) - 11) - t0
				if (d < -5e11) d += 1e12; if (d > 5e11) d -= 1e12; return d }
			$3 == "FAIL" { next }
			{ s = rel($1); st[n] = s; n++
			  if (prev != "") { gaps[ng++] = s - prev } prev = s
			  if ($3 == new && s >= 0 && (first == "" || s < first)) first = s
			  if ($3 == old) olds[no++] = s }
			END {
				if (first == "") { print "nan nan 0"; exit }
				stale = 0; for (i = 0; i < no; i++) if (olds[i] > first) stale++
				# median gap between connection starts
				for (i = 1; i < ng; i++) { x = gaps[i]; j = i - 1
					while (j >= 0 && gaps[j] > x) { gaps[j + 1] = gaps[j]; j-- } gaps[j + 1] = x }
				printf "%.6f %.6f %d\n", first / 1e9, (ng ? gaps[int(ng / 2)] : 0) / 1e9, stale }' "$log")
		read -r eff gap stale <<< "$res"
		echo "$eff $(elapsed "$t0" "$t1") $gap $stale" >> "$WORK/setlat.$N"
		if [ "$eff" = nan ]; then
			bench_log "  set $old->$new: no connection saw $new within ${dur} s"
		fi
	done
}

# setrun K: how long `splitctl set` runs, with nothing else running: K
# flips between v1=100 and v2=100 (each swaps reviews' table), each followed
# by the peer, /bin/true, timed the same way; then K more flips timed from
# this shell. Spawned: build/spawntime (posix_spawn, a vfork: what the
# command itself takes from its start to its exit). From this shell: the
# clock read here around fork, exec and wait, so also this bash's fork,
# which copies its page tables (a big script: more). Appends "set_s
# true_s set_shell_s true_shell_s" to $WORK/setrun.$N.
setrun() {
	local k=$1 i new a b t0 t1 t2 t3
	for ((i = 0; i < k; i++)); do
		if ((i % 2 == 0)); then new=v2; else new=v1; fi
		a=$("$BIN/spawntime" "$BIN/splitctl" -p "$TB_PIN" set reviews "$new=100") ||
			bench_die "splitctl set failed"
		b=$("$BIN/spawntime" /bin/true) || bench_die "/bin/true failed"
		if ((i % 2 == 0)); then new=v1; else new=v2; fi
		t0=${EPOCHREALTIME/[.,]/}
		ctl set reviews "$new=100" > /dev/null || bench_die "splitctl set failed"
		t1=${EPOCHREALTIME/[.,]/}
		t2=${EPOCHREALTIME/[.,]/}
		/bin/true
		t3=${EPOCHREALTIME/[.,]/}
		echo "$a $b $(((t1 - t0))) $(((t3 - t2)))" |
			awk '{ printf "%.6f %.6f %.6f %.6f\n", $1, $2, $3 / 1e6, $4 / 1e6 }' >> "$WORK/setrun.$N"
	done
}

# ---- tables --------------------------------------------------------------------

# table_dump FILE: the IPv4 table of reviews (VIP 10.96.0.10:9080/TCP), one
# backend id per line, slot order.
table_dump() {
	local tid key id
	tid=$(bpftool -j map dump pinned "$TB_PIN/svc" | jq -r '.[] | select(.formatted.key.family == 4
		and .formatted.key.proto == 6 and .formatted.key.port == 30755
		and .formatted.key.addr[0] == 167796746) | .formatted.value.table_id')
	# (port 9080 = 0x2378, read as a little-endian u16: 0x7823 = 30755;
	#  10.96.0.10 read as a little-endian u32: 0x0a00600a = 167796746)
	[ -n "$tid" ] || bench_die "no svc entry for $VIP:$PORT/TCP"
	key=$(printf '%02x %02x %02x %02x' $((tid & 255)) $(((tid >> 8) & 255)) $(((tid >> 16) & 255)) $(((tid >> 24) & 255)))
	# shellcheck disable=SC2086
	id=$(bpftool map lookup pinned "$TB_PIN/big_v4" key hex $key | awk '
		function h(s) { return (index(X, tolower(substr(s, 1, 1))) - 1) * 16 + index(X, tolower(substr(s, 2, 1))) - 1 }
		BEGIN { X = "0123456789abcdef" }
		{ for (i = 1; i <= NF; i++) if ($i == "value:") break
		  print h($(i + 1)) + 256 * h($(i + 2)) + 65536 * h($(i + 3)) + 16777216 * h($(i + 4)) }')
	[ -n "$id" ] || bench_die "no inner table for table id $tid"
	# One element, the whole table: slot s is the s-th little-endian u16
	# of the value (printed 16 bytes a line), k of backend id
	# (service << 16) | k, the service being table id / 2 (0: none); the
	# last one is padding: keep the first 10007.
	bpftool map dump id "$id" | awk -v svc=$((tid / 2)) '
		function h(s) { return (index(X, tolower(substr(s, 1, 1))) - 1) * 16 + index(X, tolower(substr(s, 2, 1))) - 1 }
		BEGIN { X = "0123456789abcdef" }
		/^value:/ { v = 1; next }
		v && /^[0-9a-f][0-9a-f] / { for (i = 1; i <= NF; i++) b[n++] = h($i) }
		END { for (j = 0; j + 1 < n; j += 2) { k = b[j] + 256 * b[j + 1]; print k ? svc * 65536 + k : 0 } }' |
		head -n 10007 > "$1"
	[ "$(wc -l < "$1")" -gt 0 ] || bench_die "empty table dump"
	echo "$tid $id"
}
# backend id -> version name, for reviews
backend_versions() {
	bpftool -j map dump pinned "$TB_PIN/weights" |
		jq -r '.[] | "W \(.formatted.key.svc_id) \(.formatted.key.version_id) \(.formatted.value.version)"' > "$WORK/wv"
	bpftool -j map dump pinned "$TB_PIN/backends" |
		jq -r '.[] | "B \(.formatted.key) \(.formatted.value.svc_id) \(.formatted.value.version_id)"' >> "$WORK/wv"
	awk '$1 == "W" { v[$2 " " $3] = $4 } $1 == "B" { b[$2] = $3 " " $4 }
		END { for (k in b) print k, v[b[k]] }' "$WORK/wv"
}

# ==== 1. apply times, memory and set latency at each N =====================================

declare -A COLD NOOP CHG CHGF MEM SETL SETC SETT SETCS SETTS SETG SETS SETN RLD RLA RLC RLP
for N in $SCALE; do
	bench_log "$N services"
	bench_gen_services "$N" "$WORK/svc.$N"
	# One service changed: an extra v3 endpoint for reviews.
	awk '{ print } /labels: \{app: reviews, version: v3\}/ && !done {
		print "  - addresses: [10.201.3.9]"; print "    labels: {app: reviews, version: v3}"; done = 1 }' \
		"$WORK/svc.$N" > "$WORK/svc.$N.b"
	cmp -s "$WORK/svc.$N" "$WORK/svc.$N.b" && bench_die "could not make the changed services file"
	rc=$R
	[ "$N" -ge 10000 ] && [ "$RCL" -lt "$rc" ] && rc=$RCL
	: > "$WORK/cold.$N"
	for ((i = 0; i < rc; i++)); do
		unload
		t=$(once_cold "$WORK/svc.$N") || bench_die "splitd --once with $N services failed"
		echo "$t" >> "$WORK/cold.$N"
		bench_log "  cold apply: $t s"
	done
	got=$(bpftool -j map dump pinned "$TB_PIN/services" | jq length)
	[ "$got" = "$N" ] || bench_die "$got services in the map, want $N"
	read -r mo mi mn m1 me <<< "$(memory)"
	cp "$WORK/mem.detail" "$WORK/mem.detail.$N"
	MEM[$N]="$mo $mi $mn $m1 $me"
	: > "$WORK/noop.$N"
	: > "$WORK/chg.$N"
	: > "$WORK/chgf.$N"
	once "$WORK/svc.$N" || bench_die "apply failed"	# the record of this file
	# Each repeat: a no-op, then the endpoint added and removed again, one
	# way from the record and the other with --full (both ways each,
	# alternating).
	for ((i = 0; i < R; i++)); do
		t=$(once_rec "$WORK/svc.$N") || bench_die "no-op apply failed"
		from_record
		echo "$t" >> "$WORK/noop.$N"
		if ((i % 2)); then
			t=$(once_full "$WORK/svc.$N.b") || bench_die "changed apply (--full) failed"
			echo "$t" >> "$WORK/chgf.$N"
			t=$(once_rec "$WORK/svc.$N") || bench_die "changed apply failed"
			from_record
			echo "$t" >> "$WORK/chg.$N"
		else
			t=$(once_rec "$WORK/svc.$N.b") || bench_die "changed apply failed"
			from_record
			echo "$t" >> "$WORK/chg.$N"
			t=$(once_full "$WORK/svc.$N") || bench_die "changed apply (--full) failed"
			echo "$t" >> "$WORK/chgf.$N"
		fi
	done
	bench_log "  no-op apply: $(bench_median $(cat "$WORK/noop.$N")) s, one change: $(bench_median $(cat "$WORK/chg.$N")) s, with --full: $(bench_median $(cat "$WORK/chgf.$N")) s"
	reloads "$N"
	RLD[$N]=$(bench_stats $(awk '{ print $1 / 1000 }' "$WORK/reload.$N"))
	RLA[$N]=$(bench_stats $(awk '$2 != "nan" { print $2 / 1000 }' "$WORK/reload.$N"))
	RLC[$N]=$(bench_stats $(awk '$3 != "nan" { print $3 / 1000 }' "$WORK/reload.$N"))
	RLP[$N]=$(awk '{ print $4 }' "$WORK/reload.$N" | sort -u | tr '\n' ' ' | sed 's/ $//')
	: > "$WORK/setlat.$N"
	setlat "$R"
	: > "$WORK/setrun.$N"
	setrun $((R < 10 ? 20 : 2 * R))
	COLD[$N]=$(bench_stats $(cat "$WORK/cold.$N"))
	NOOP[$N]=$(bench_stats $(cat "$WORK/noop.$N"))
	CHG[$N]=$(bench_stats $(cat "$WORK/chg.$N"))
	CHGF[$N]=$(bench_stats $(cat "$WORK/chgf.$N"))
	SETL[$N]=$(bench_stats $(awk '$1 != "nan" { print $1 }' "$WORK/setlat.$N"))
	SETC[$N]=$(bench_stats $(awk '{ print $1 }' "$WORK/setrun.$N"))
	SETT[$N]=$(bench_stats $(awk '{ print $2 }' "$WORK/setrun.$N"))
	SETCS[$N]=$(bench_stats $(awk '{ print $3 }' "$WORK/setrun.$N"))
	SETTS[$N]=$(bench_stats $(awk '{ print $4 }' "$WORK/setrun.$N"))
	SETG[$N]=$(bench_median $(awk '{ print $3 }' "$WORK/setlat.$N"))
	SETS[$N]=$(awk '{ s += $4 } END { print s + 0 }' "$WORK/setlat.$N")
	SETN[$N]=$(awk '$1 != "nan"' "$WORK/setlat.$N" | wc -l)
	bench_log "  set takes effect after $(bench_median $(awk '$1 != "nan" { print $1 }' "$WORK/setlat.$N")) s; splitctl set runs $(bench_median $(awk '{ print $1 }' "$WORK/setrun.$N")) s, /bin/true $(bench_median $(awk '{ print $2 }' "$WORK/setrun.$N")) s (spawned); from this shell $(bench_median $(awk '{ print $3 }' "$WORK/setrun.$N")) s and $(bench_median $(awk '{ print $4 }' "$WORK/setrun.$N")) s"
done

# ==== 2. accuracy and movement with the one service ========================================

unload
once "$(tb_services_file)" || bench_die "splitd --once failed"
declare -A ACC
for w in "99 1" "90 10" "50 50"; do
	read -r a b <<< "$w"
	ctl set reviews "v1=$a" "v2=$b" > /dev/null || bench_die "splitctl set failed"
	slots=$(bpftool -j map dump pinned "$TB_PIN/weights" |
		jq -r '[.[] | select(.formatted.value.service == "reviews" and .formatted.value.version == "v2")][0].formatted.value.slots4')
	out=$(tb_client "$BIN/splitclient" --connect "$VIP" --port "$PORT" -n "$C" --parallel 2 --timeout-ms 2000 2>&1)
	tot=$(awk '$1 == "total" { print $4 }' <<< "$out")
	fails=$(awk '$1 == "total" { print $6 }' <<< "$out")
	n1=$(awk '$1 == "version" && $2 == "v1" { print $3 }' <<< "$out")
	n2=$(awk '$1 == "version" && $2 == "v2" { print $3 }' <<< "$out")
	ACC[$w]=$(awk -v n1="${n1:-0}" -v n2="${n2:-0}" -v a="$a" -v b="$b" -v slots="$slots" -v M=10007 \
		-v tot="${tot:-0}" -v fails="${fails:-0}" 'BEGIN {
		n = n1 + n2; p = b / (a + b); q = slots / M
		zp = (n2 - n * p) / sqrt(n * p * (1 - p)); zq = (n2 - n * q) / sqrt(n * q * (1 - q))
		printf "%d %d %.4f %.4f %.4f %+.2f %+.2f %d\n", n, n2, 100 * p, 100 * q, 100 * n2 / n, zp, zq, fails }')
	bench_log "accuracy v1=$a v2=$b: $(awk '{ printf "v2 %d of %d = %.4f%% (configured %.4f%%, table %.4f%%), %s sigma, failures %d", $2, $1, $5, $3, $4, $6, $8 }' <<< "${ACC[$w]}")"
done

declare -A MOVE
for tr in "90 10>80 20" "99 1>95 5" "80 20>50 50"; do
	from=${tr%>*} to=${tr#*>}
	read -r a b <<< "$from"
	ctl set reviews "v1=$a" "v2=$b" > /dev/null || bench_die "splitctl set failed"
	table_dump "$WORK/t.before" > "$WORK/t.ids.before"
	backend_versions > "$WORK/bv"
	read -r a2 b2 <<< "$to"
	ctl set reviews "v1=$a2" "v2=$b2" > /dev/null || bench_die "splitctl set failed"
	table_dump "$WORK/t.after" > "$WORK/t.ids.after"
	backend_versions >> "$WORK/bv"
	MOVE[$tr]=$(paste "$WORK/t.before" "$WORK/t.after" | awk -v bvf="$WORK/bv" -v a="$a" -v b="$b" -v a2="$a2" -v b2="$b2" '
		BEGIN { while ((getline l < bvf) > 0) { split(l, f, " "); ver[f[1]] = f[2] } }
		{ n++; if ($1 != $2) be++; if (ver[$1] != ver[$2]) vv++ }
		END { d = b2 / (a2 + b2) - b / (a + b); if (d < 0) d = -d
		      printf "%d %d %d %.4f %.4f %.4f\n", n, be, vv, 100 * be / n, 100 * vv / n, 100 * d }')
	bench_log "movement $from -> $to: $(awk '{ printf "%d of %d slots changed backend (%.3f%%), %d changed version (%.3f%%), minimum %.3f%%", $2, $1, $4, $3, $5, $6 }' <<< "${MOVE[$tr]}")"
done
TABLE_INFO=$(cat "$WORK/t.ids.after")

# ==== results ============================================================================

T_TOTAL=$(($(date +%s) - T_START))
NMAX=${SCALE##* } NMIN=${SCALE%% *}
SECTION=$WORK/section.md
{
	echo "## Control plane, memory and accuracy (bench/bench_ctl.sh)"
	echo
	bench_sysinfo
	echo "- settings: N = $SCALE services; $R repeats (cold applies at N >= 10000: $([ "$RCL" -lt "$R" ] && echo "$RCL" || echo "$R")); $C connections per accuracy setting; total run time ${T_TOTAL} s$([ $QUICK = 1 ] && echo '; QUICK MODE (tiny counts: figures not meaningful)')"
	echo "- testbed veths: $(bench_offload); selection tables: one slot per endpoint (in slots_v3) for a service without explicit weights, 10007 slots (an inner map in big_v4, one 20 KB element) for one with; a slot is a backend id (4 bytes in slots_v3; 2 in a big table, the service's part implied)"
	echo
	echo "### Applying N services"
	echo
	echo "| services | cold: splitd --once, empty pin dir (s) | no-op re-apply (s) | one service changed (s) | the same, --full (s) | daemon reload, one service changed: in force after (ms) | daemon reload: splitd's apply time (ms) | its CPU time (ms) | \`splitctl set\` takes effect after (ms) | \`splitctl set\` runs (ms) | peer: /bin/true runs (ms) | the two from this script's bash (ms) |"
	echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for N in $SCALE; do
		read -r cm clo chi <<< "${COLD[$N]}"
		read -r nm nlo nhi <<< "${NOOP[$N]}"
		read -r gm glo ghi <<< "${CHG[$N]}"
		read -r fm flo fhi <<< "${CHGF[$N]}"
		read -r sm slo shi <<< "${SETL[$N]}"
		read -r tm tlo thi <<< "${SETC[$N]}"
		read -r rm rlo rhi <<< "${RLD[$N]}"
		read -r am alo ahi <<< "${RLA[$N]}"
		read -r um ulo uhi <<< "${RLC[$N]}"
		read -r pm plo phi <<< "${SETT[$N]}"
		read -r xm _ <<< "${SETCS[$N]}"
		read -r ym _ <<< "${SETTS[$N]}"
		ms() { awk -v x="$1" 'BEGIN { if (x == "nan") print "n/a"; else printf "%.1f", x * 1000 }'; }
		printf '| %s | %s (%s - %s) | %s (%s - %s) | %s (%s - %s) | %s (%s - %s) | %s (%s - %s) | %s (%s - %s) | %s (%s - %s) | %s (%s - %s) | %s (%s - %s) | %s (%s - %s) | %s / %s |\n' "$N" \
			"$(bench_fmt "$cm" 3)" "$(bench_fmt "$clo" 3)" "$(bench_fmt "$chi" 3)" \
			"$(bench_fmt "$nm" 3)" "$(bench_fmt "$nlo" 3)" "$(bench_fmt "$nhi" 3)" \
			"$(bench_fmt "$gm" 3)" "$(bench_fmt "$glo" 3)" "$(bench_fmt "$ghi" 3)" \
			"$(bench_fmt "$fm" 3)" "$(bench_fmt "$flo" 3)" "$(bench_fmt "$fhi" 3)" \
			"$(ms "$rm")" "$(ms "$rlo")" "$(ms "$rhi")" "$(ms "$am")" "$(ms "$alo")" "$(ms "$ahi")" \
			"$(ms "$um")" "$(ms "$ulo")" "$(ms "$uhi")" \
			"$(ms "$sm")" "$(ms "$slo")" "$(ms "$shi")" "$(ms "$tm")" "$(ms "$tlo")" "$(ms "$thi")" \
			"$(ms "$pm")" "$(ms "$plo")" "$(ms "$phi")" "$(ms "$xm")" "$(ms "$ym")"
	done
	echo
	echo "Medians (min - max) over the repeats; every \`splitd --once\` started by build/spawntime (below). Cold includes loading and verifying the BPF object and attaching it to the cgroup; no-op and one-change are \`splitd --once\` on the loaded state, from the record the last --once left (runs that did not apply from it: $RECMISS, must be 0); --full: the same change with the whole file parsed and applied. The change adds or removes one endpoint of reviews (each way once per repeat, from the record and with --full alternating). Daemon reload: the same change to a running \`splitd -c FILE\` (--no-l7, on the same pinned state), the new file renamed over the watched one; \"in force after\" is from just before the rename to the first poll (build/reload_wait, every 0.1 ms) of the weights map showing reviews' v3 endpoint count changed (written after its backends and table); splitd's apply time and its CPU time are what it logs (\"apply took X ms, Y ms CPU\": from reading the files to the end of the commit, which includes the RCU grace period before deleting a removed backend, after the change is in force; CPU is the thread's, the steadier figure on a shared machine). A file renamed over the watched one is read at once (no inotify settling: that is for bursts of writes, 10 ms on the services file, 50 ms for a config dir). \`splitctl set\` flips reviews between v1=100 and v2=100 while a client connects in a loop (one connection at a time; a poll every $(awk -v x="${SETG[$NMIN]}" 'BEGIN { printf "%.0f", x * 1e6 }') us at N = $NMIN, median); \"takes effect\" is from the command's start to the start of the first connection that reached the new version (an upper bound, within one poll). "Runs" is the command's own wall time, measured apart from the poller (which would otherwise share the CPUs with it): $((R < 10 ? 20 : 2 * R)) flips started by build/spawntime (posix_spawn: a vfork and an exec; the clock read just before the spawn and just after the wait), each followed by /bin/true timed the same way, so the two columns show what a process start costs here at that moment. The last column: as many flips and /bin/trues timed from this script's bash (the clock read around the command: bash's fork copies its page tables, a cost of the caller that grows with its size: this script's bash holds every figure of the run). Connections that reached the old version after the first one reached the new: $(for N in $SCALE; do printf '%s at N = %s; ' "${SETS[$N]}" "$N"; done | sed 's/; $//') (must be 0: the table is swapped in one update). Flips observed: $(for N in $SCALE; do printf '%s of %s at N = %s; ' "${SETN[$N]}" "$R" "$N"; done | sed 's/; $//')."
	echo
	read -r cm _ <<< "${COLD[$NMAX]}"
	read -r gm _ <<< "${CHG[$NMAX]}"
	read -r tm _ <<< "${SETC[$NMAX]}"
	read -r t1 _ <<< "${SETC[$NMIN]}"
	read -r g1 _ <<< "${CHG[$NMIN]}"
	read -r gf _ <<< "${CHGF[$NMAX]}"
	read -r tr _ <<< "$(bench_stats $(awk '{ print $2 }' "$WORK"/setrun.*))"
	read -r t1s _ <<< "${SETCS[$NMIN]}"
	read -r trs _ <<< "$(bench_stats $(awk '{ print $4 }' "$WORK"/setrun.*))"
	read -r rm _ <<< "${RLD[$NMAX]}"
	read -r am _ <<< "${RLA[$NMAX]}"
	read -r um _ <<< "${RLC[$NMAX]}"
	awk -v tr="$tr" -v t1s="$t1s" -v trs="$trs" -v n="$NMAX" -v n1="$NMIN" -v c="$cm" -v g="$gm" -v t="$tm" -v t1="$t1" -v g1="$g1" \
		-v rl="$rm" -v ra="$am" -v rc="$um" -v rf="$gf" -v rp="${RLP[$NMAX]}" 'function v(x, lim, unit, sc) {
			if (x == "nan" || x == "") return "n/a"
			return sprintf("%.*f %s (%s)", unit == "s" ? 3 : 1, x * sc, unit,
				x <= lim ? "met" : sprintf("MISSED: %.1fx the target", x / lim)) }
		BEGIN { printf "Targets (issue 13), medians: cold apply of %d services <= 1 s: %s; re-apply with one service changed <= 50 ms: the daemon (a running splitd reloading its file, what a user runs) %s from the rename to the change in force (splitd reports %s for its whole apply, %s of CPU), `splitd --once` %s; `splitctl set` <= 10 ms at %d services: %s, <= 5 ms at %d: %s. ", n, v(c, 1, "s", 1), v(rl, 0.05, "ms", 1000), v(ra, 0.05, "ms", 1000), v(rc, 0.05, "ms", 1000), v(g, 0.05, "ms", 1000), n, v(t, 0.010, "ms", 1000), n1, v(t1, 0.005, "ms", 1000)
			printf "The daemon parses only the documents whose bytes changed (documents parsed per reload at N = %d: %s), redoes the checks that span documents on the whole set, does not dump the maps it wrote itself (it keeps them in memory while the generation counter says nobody else committed), takes the weights in force from that copy, and commits only the services that differ from what it last wrote (the others are compared with its own copy of them, not with the maps, and not touched); a copy of the state for a rollback is made only if a late write fails. What is left at large N is linear work over every service (finding each document in the parse cache and copying its services, the checks that span documents, comparing each service with the copy). ", n, rp
			printf "`splitd --once` keeps a record of what it applied (/run/split/<pin dir>.once: hashes of each document, the name, VIPs and ports of its service, and the commit generation it left): the next run hashes the documents of the file, parses only the one that changed, reads that service alone from the maps (it checks the generation under the lock: nobody committed since), merges it as a full apply does and commits it alone; when the pinned links still run the programs the last --once left (their ids and the options are in the record) it does not load and attach the datapath again (the whole change takes %.0f ms at N = %d). With --full (the whole file parsed and validated, every map read) the same change takes %s at N = %d. ", g1 * 1000, n1, v(rf, 0.05, "ms", 1000), n
			printf "The peer for `splitctl set`: starting /bin/true, timed the same way right after each set, takes %.1f ms here (median over all N), so set at %d services costs %.1fx a process start (splitctl is linked statically: loading shared libraries cost more than its work). Timed from this bash script instead, set at %d takes %.1f ms and /bin/true %.1f ms (median over all N): the fork of the caller is in those.\n", tr * 1000, n, t / tr, n1, t1s * 1000, trs * 1000 }'
	echo
	echo "### Kernel memory"
	echo
	echo "| services | pinned maps (bytes) | big tables (inner maps) | bytes per big table (max_entries) | all (MiB) |"
	echo "|---:|---:|---:|---:|---:|"
	for N in $SCALE; do
		read -r mo mi mn m1 me <<< "${MEM[$N]}"
		printf '| %s | %s | %s (%s bytes) | %s (%s) | %.1f |\n' "$N" "$mo" "$mn" "$mi" "$m1" "$me" \
			"$(awk -v a="$mo" -v b="$mi" 'BEGIN { print (a + b) / 1048576 }')"
	done
	echo
	read -r o1 i1 _ <<< "${MEM[$NMIN]}"
	read -r o2 i2 n2 m1 _ <<< "${MEM[$NMAX]}"
	if [ "$NMAX" != "$NMIN" ]; then
		awk -v o1="$o1" -v i1="$i1" -v o2="$o2" -v i2="$i2" -v n1="$NMIN" -v n2="$NMAX" -v m1="$m1" 'BEGIN {
			d = n2 - n1
			printf "Per service (growth from N = %d to N = %d, divided by %d): %.0f bytes, of which %.0f in the selection tables and %.0f in the other maps. ", n1, n2, d, (o2 + i2 - o1 - i1) / d, (i2 - i1) / d, (o2 - o1) / d
			printf "Target: at most 4096 bytes per service without explicit weights (%s). ", ((o2 + i2 - o1 - i1) / d <= 4096 ? "met" : "MISSED")
			printf "The generated services have no explicit weights, so each has a small table (one slot per endpoint, in slots_v3, whose size is fixed at load: --table-cells) and no inner map; the growth is the hash maps (services, svc_names, backends, weights, svc, tables_v3), which allocate per element. "
			printf "A service with explicit weights (splitctl set, a route) also gets a big table: an inner map of one 20 KB element, 10007 slots x 2 bytes (the backend of slot s is k[s] of its service; written with one update; half the 40 KB of the 5004 two-slot cells of big_v3, which every table cost before tables_v3). "
			printf "The fixed part (maps sized at load, with no service) is most of the total at small N: the LRU maps (sock_nat, udp_aff, ct, ct_rev) are preallocated; splitd --ct-max and --sock-nat-max size them, and splitctl show prints their memory.\n" }'
	fi
	echo
	echo "Maps at N = $NMAX (name, type, max_entries, bytes):"
	echo
	echo '```'
	column -t "$WORK/mem.detail.$NMAX" 2> /dev/null || cat "$WORK/mem.detail.$NMAX"
	echo '```'
	echo
	echo "### Accuracy: observed share of v2 over $C connections"
	echo
	echo "| v1/v2 | connections | v2 observed | v2 configured | v2 in the table (slots/10007) | observed - configured (sigmas) | observed - table (sigmas) | failed |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|"
	for w in "99 1" "90 10" "50 50"; do
		read -r n n2 p q o zp zq f <<< "${ACC[$w]}"
		printf '| %s/%s | %s | %s (%s%%) | %s%% | %s%% | %s | %s | %s |\n' ${w% *} ${w#* } "$n" "$n2" "$o" "$p" "$q" "$zp" "$zq" "$f"
	done
	echo
	echo "Sigmas: (observed - n p) / sqrt(n p (1 - p)), binomial. The table's share differs from the weight by under one slot (0.01%) per version (largest-remainder rounding of 10007 slots)."
	echo
	echo "### Flows that change backend when the weights change"
	echo
	echo "| change | slots whose backend changed | share | slots whose version changed | share | minimum possible (the weight moved) |"
	echo "|---|---:|---:|---:|---:|---:|"
	for tr in "90 10>80 20" "99 1>95 5" "80 20>50 50"; do
		read -r n be vv pbe pvv d <<< "${MOVE[$tr]}"
		from=${tr%>*} to=${tr#*>}
		printf '| %s -> %s | %s of %s | %s%% | %s | %s%% | %s%% |\n' "${from/ //}" "${to/ //}" "$be" "$n" "$pbe" "$vv" "$pvv" "$d"
	done
	echo
	echo "Counted on the kernel's tables: the IPv4 table of reviews (table id and inner map id after the last change: $TABLE_INFO) dumped with \`bpftool map dump id\` before and after each \`splitctl set\`, slot by slot. A slot is what a flow hash (XDP) or a random draw (socket hooks) picks, so the share of slots that change is the share of new flows (or, for XDP, of flows without conntrack state) that move. Established sockets never move."
	echo
} > "$SECTION"
bench_results_write bench_ctl "$SECTION" "$OUT"
if [ $QUICK = 1 ] && [ $OUT_SET = 0 ]; then
	bench_log "quick mode: the section (not written to bench/results.md):"
	cat "$SECTION"
	echo "bench_ctl: 1 passed, 0 failed"
else
	cat "$SECTION"
	bench_log "results: $OUT"
fi
exit 0
