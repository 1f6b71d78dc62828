#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# bench_sock.sh - connection rate through the socket-level split, next to
# the floor (direct to one backend) and to kube-proxy's two datapaths
# (nftables DNAT with numgen random, iptables DNAT with statistic random),
# all in the same run on the same netns testbed. Issue 7, items 1 and 2.
#
#   bench/bench_sock.sh            full run (~8 min), writes its section of bench/results.md
#   bench/bench_sock.sh --quick    tiny counts, ~20 s, writes to a temp file (for make test)
#
# Options: --quick, -r/--repeats R (rounds, default 10), -d/--duration S
# (seconds per run, default 2), -P/--parallel K (client threads, default 2),
# --scale "N1 N2 ..." (default "1 100 1000 10000"), --scale-repeats R
# (default 5), --scale-duration S (default 2), --no-scale, -o/--out FILE
# (the results file, default bench/results.md), -h/--help.
#
# Client: build/connrate in the testbed's client netns; every connection is
# connect(), GET / with "Connection: close", read to EOF, close with RST (so
# no TIME_WAIT piles up); K threads.
#
# 1. The paths, each in its own run; R rounds, the paths interleaved in each
#    round and their order rotated from round to round (short runs, many
#    rounds: the machine is shared, and a round's paths run seconds apart):
#      direct   to 10.201.1.2:9080 (a v1 endpoint), no hook, no netfilter: the floor
#      ours     to the VIP 10.96.0.10:9080 from our cgroup, v1=50 v2=50
#      miss     to 10.201.1.2:9080 from our cgroup: what our hooks cost a
#               connection that is not to a service
#      nft      to 10.96.0.20:9080 through kube-proxy nftables-mode rules in
#               the client netns (numgen random mod 100, the same endpoints,
#               the same 25/25/50)
#      nftmiss  to 10.201.1.2:9080 with those rules loaded: what they (and
#               the conntrack they switch on) cost a connection that is not
#               to a service
#      ipt      to 10.96.0.30:9080 through kube-proxy iptables-mode rules
#               (statistic --mode random --probability 0.5; iptables-nft)
# 2. Paired, connection by connection, at N = 1, 100, 1,000, 10,000
#    services loaded in each (N counts the measured one; bench/lib.sh makes
#    the others): one connrate run alternates two targets, so both see the
#    same moments of the noisy machine and their difference is clean:
#      ours vs miss      (our cgroup, no netfilter)
#      nft  vs nftmiss   (nft rules for N services loaded)
#      ipt  vs iptmiss   (iptables rules for N services loaded)
#    The N = 1 figures also go into the table of part 1.
# 3. ours vs miss again, paired, after many more connects to the VIP than
#    the sock_nat LRU map holds (connect + RST): a busy node's steady
#    state. Connected sockets keep their VIP in socket storage, freed with
#    the socket, so nothing should pile up (before that fix, each connect
#    added an LRU entry and the cost rose once the map was full).
#
# Needs root. Builds its own testbed (unique names, removed on exit, also on
# failure); netfilter rules only inside its client netns. Never pass/fail on
# timing: it prints figures and ratios. Exit 1 only if something broke (a
# path did not split, the testbed did not come up, a tool is missing).
set -u
cd "$(dirname "$0")/.." || exit 1
REPO=$(pwd)
source scripts/testbed.sh
source bench/lib.sh

QUICK=0 R=10 D=2 P=2 SCALE="1 100 1000 10000" SR=5 SD=2 DO_SCALE=1
OUT=$REPO/bench/results.md OUT_SET=0
while [ $# -gt 0 ]; do
	case $1 in
	-P | --parallel) P=$2; shift ;;
	--scale) SCALE=$2; shift ;;
	--scale-repeats) SR=$2; shift ;;
	--scale-duration) SD=$2; shift ;;
	--no-scale) DO_SCALE=0 ;;
	*) bench_opt "$@" && shift ;;
	esac
	shift
done
if [ $QUICK = 1 ]; then
	R=1 D=0.5 SR=1 SD=0.5 SCALE="1 100"
fi
[ $DO_SCALE = 1 ] || SCALE=1
[ "${SCALE%% *}" = 1 ] || SCALE="1 $SCALE"
[ "$(id -u)" = 0 ] || bench_die "run as root (network namespaces, cgroup, BPF)"
bench_need "nft iptables iptables-restore conntrack ethtool jq bpftool nsenter flock" \
	"splitd splitctl splitclient connrate httpd"

bench_workdir sock
cleanup() {
	[ -n "${TB_PIN:-}" ] && [ -x "${BIN:-/nonexistent}/splitd" ] && "$BIN/splitd" -q --unload -p "$TB_PIN" 2> /dev/null
	tb_down
	rm -rf "$WORK"
}

PSI0=$(bench_psi_now)
bench_testbed_up splitd splitctl splitclient connrate httpd
VIP=10.96.0.10 NFT_VIP=10.96.0.20 IPT_VIP=10.96.0.30 DIRECT=10.201.1.2 PORT=9080
ctl() { "$BIN/splitctl" -p "$TB_PIN" "$@"; }
secs_since() { awk -v a="$1" -v b="$(bench_now_ns)" 'BEGIN { printf "%.3f\n", (b - a) / 1e9 }'; }
apply() { # services file -> datapath (splitd --once); prints seconds taken
	local t0
	t0=$(bench_now_ns)
	"$BIN/splitd" -q --once -c "$1" -g "$TB_CGROUP" -p "$TB_PIN" || return 1
	secs_since "$t0"
}

# ---- the peers' rules ---------------------------------------------------------

# peer_on nft|ipt N / peer_off nft|ipt N: load / remove a peer's rules for N
# services; the times go to $WORK/load.PEER.N and $WORK/unload.PEER.N.
peer_on() {
	local t0
	bench_nf_clean || bench_die "netfilter rules left in the client netns"
	bench_ct_flush
	[ -f "$WORK/$1.$2" ] || case $1 in
		nft) bench_gen_nft "$2" "$NFT_VIP" "$WORK/nft.$2" ;;
		ipt) bench_gen_ipt "$2" "$IPT_VIP" "$WORK/ipt.$2" ;;
	esac
	t0=$(bench_now_ns)
	case $1 in
	nft) bench_nft_load "$WORK/nft.$2" || bench_die "nft -f with $2 services failed" ;;
	ipt) bench_ipt_load "$WORK/ipt.$2" || bench_die "iptables-restore with $2 services failed" ;;
	esac
	secs_since "$t0" >> "$WORK/load.$1.$2"
}
peer_off() {
	local t0
	t0=$(bench_now_ns)
	case $1 in
	nft) bench_nft_unload || bench_die "cannot remove the nft rules" ;;
	ipt) bench_ipt_unload || bench_die "cannot remove the iptables rules" ;;
	esac
	secs_since "$t0" >> "$WORK/unload.$1.$2"
}

# ---- running connrate -----------------------------------------------------------------

# connrate_in WHERE TARGET... : WHERE is cgroup (client netns, our cgroup)
# or plain (client netns only). Prints one "rate p50 p99 errors conns" line
# per target (the per-target lines when there are several).
connrate_in() {
	local where=$1 out rc=0 a args=(--port "$PORT" --duration "$DUR" --parallel "$P" --request --rst --timeout-ms 2000)
	shift
	for a in "$@"; do args+=(--connect "$a"); done
	if [ "$where" = cgroup ]; then
		out=$(tb_client "$BIN/connrate" "${args[@]}") || rc=$?
	else
		out=$(tb_in "$TB_CLIENT" "$BIN/connrate" "${args[@]}") || rc=$?
	fi
	[ $rc -le 1 ] && [ -n "$out" ] || bench_die "connrate failed (exit $rc): $*"
	awk -v multi=$(($# > 1)) '(multi && $1 == "target") || (!multi && $1 == "connections") {
		for (i = 1; i < NF; i++) v[$i] = $(i + 1)
		sub("/s", "", v["rate"])
		print v["rate"], v["connect_ns_p50"], v["connect_ns_p99"], v["errors"], v["connections"] }' <<< "$out"
}

# run PATH: one run of one path with N=1 rules (part 1).
run() {
	case $1 in
	direct) connrate_in plain "$DIRECT" ;;
	miss) connrate_in cgroup "$DIRECT" ;;
	ours) connrate_in cgroup "$VIP" ;;
	nft) peer_on nft 1; connrate_in plain "$NFT_VIP"; peer_off nft 1 ;;
	nftmiss) peer_on nft 1; connrate_in plain "$DIRECT"; peer_off nft 1 ;;
	ipt) peer_on ipt 1; connrate_in plain "$IPT_VIP"; peer_off ipt 1 ;;
	esac
}

# sanity PATH COUNT: does the path reach the service and split it? Prints
# "v1 v2 v3" counts; dies if a connection failed or a version is missing.
# The peer's rules must be loaded by the caller.
sanity() {
	local out rc=0 c1 c2 c3 args=(--port "$PORT" -n "$2" --parallel 2 --timeout-ms 3000)
	case $1 in
	ours) out=$(tb_client "$BIN/splitclient" --connect "$VIP" "${args[@]}" 2>&1) || rc=$? ;;
	nft) out=$(tb_in "$TB_CLIENT" "$BIN/splitclient" --connect "$NFT_VIP" "${args[@]}" 2>&1) || rc=$? ;;
	ipt) out=$(tb_in "$TB_CLIENT" "$BIN/splitclient" --connect "$IPT_VIP" "${args[@]}" 2>&1) || rc=$? ;;
	esac
	c1=$(awk '$1 == "version" && $2 == "v1" { print $3 }' <<< "$out")
	c2=$(awk '$1 == "version" && $2 == "v2" { print $3 }' <<< "$out")
	c3=$(awk '$1 == "version" && $2 == "v3" { print $3 }' <<< "$out")
	if [ $rc != 0 ] || [ "${c1:-0}" = 0 ] || [ "${c2:-0}" = 0 ] || [ "${c3:-0}" != 0 ]; then
		echo "$out" >&2
		bench_die "the $1 path does not split the service (v1=${c1:-0} v2=${c2:-0} v3=${c3:-0})"
	fi
	echo "${c1:-0} ${c2:-0} ${c3:-0}"
}

progress() { # PATH ROUND ROUNDS "rate p50 p99 errors conns"
	local rate p50 p99 err
	read -r rate p50 p99 err _ <<< "$4"
	printf '  %-8s round %d/%d: %s conn/s, connect() p50 %s ns, p99 %s ns, errors %s\n' \
		"$1" "$2" "$3" "$rate" "$p50" "$p99" "$err" >&2
}

# col FILE COLUMN: that column of every line.
col() { awk -v c="$2" '{ print $c }' "$WORK/$1"; }
# paired A B ratio|diff: per-line A/B of the rates or A-B of the p50s -> stats.
paired() {
	# shellcheck disable=SC2046
	bench_stats $(paste "$WORK/$1" "$WORK/$2" | awk -v op="$3" '{
		if (op == "ratio") { if ($6 > 0) print $1 / $6 }
		else print $2 - $7 }')
}
sum_errors() { awk '{ e += $4 } END { print e + 0 }' "$WORK/$1"; }

# ---- setup -------------------------------------------------------------------

bench_log "testbed $TB_ID up; offload: $(bench_offload)"
apply "$(tb_services_file)" > /dev/null || bench_die "splitd --once failed"
ctl set reviews v1=50 v2=50 > /dev/null || bench_die "splitctl set failed"
IPT_VARIANT=$(bench_iptables_variant)
NFT_VERSION=$(nft --version 2> /dev/null)

NS=$([ $QUICK = 1 ] && echo 100 || echo 1000)
declare -A SAN
SAN[ours]=$(sanity ours "$NS") || exit 1
peer_on nft 1; SAN[nft]=$(sanity nft "$NS") || exit 1; peer_off nft 1
peer_on ipt 1; SAN[ipt]=$(sanity ipt "$NS") || exit 1; peer_off ipt 1
for v in ours nft ipt; do
	bench_log "split check $v: v1 v2 v3 = ${SAN[$v]} of $NS"
done

# Warm-up (not recorded): the first connections after the setup are slower.
DUR=1 run direct > /dev/null

# ---- 1. the paths side by side ------------------------------------------------

PATHS=(direct ours miss nft nftmiss ipt)
bench_log "part 1: $R rounds x ${#PATHS[@]} paths x $D s, $P threads"
DUR=$D
for ((r = 0; r < R; r++)); do
	for ((i = 0; i < ${#PATHS[@]}; i++)); do
		v=${PATHS[$(((i + r) % ${#PATHS[@]}))]}
		res=$(run "$v") || exit 1
		echo "$res" >> "$WORK/main.$v"
		progress "$v" $((r + 1)) "$R" "$res"
	done
done

# ---- 2. paired per connection, at N services -------------------------------------------

# pair_block N: SR paired runs of each of ours/miss, nft/nftmiss, ipt/iptmiss
# with N services loaded everywhere. Results in $WORK/pN.PATH.
# paired_runs MODE VIP FILE MISSFILE LABEL: SR paired connrate runs
# (connrate_in MODE VIP $DIRECT), each run's two lines (VIP, then the
# unmatched address) appended to WORK/FILE and WORK/MISSFILE.
paired_runs() {
	local r res
	for ((r = 0; r < SR; r++)); do
		res=$(connrate_in "$1" "$2" "$DIRECT") || exit 1
		sed -n 1p <<< "$res" >> "$WORK/$3"
		sed -n 2p <<< "$res" >> "$WORK/$4"
		progress "$5|miss" $((r + 1)) "$SR" "$(paste -d' ' <(sed -n 1p <<< "$res") <(sed -n 2p <<< "$res") | awk '{ print $1 "|" $6, $2 "|" $7, $3 "|" $8, $4 + $9 }')"
	done
}

pair_block() {
	local n=$1 t
	bench_log "paired, $n services"
	bench_gen_services "$n" "$WORK/svc.$n"
	t=$(apply "$WORK/svc.$n") || bench_die "splitd --once with $n services failed"
	echo "$t" > "$WORK/load.ours.$n"
	ctl set reviews v1=50 v2=50 > /dev/null || bench_die "splitctl set failed at $n services"
	got=$(bpftool -j map dump pinned "$TB_PIN/services" | jq length)
	[ "$got" = "$n" ] || bench_die "$got services in the services map, want $n"
	sanity ours 100 > /dev/null || exit 1
	DUR=$SD
	paired_runs cgroup "$VIP" "p$n.ours" "p$n.miss" ours
	for peer in nft ipt; do
		peer_on "$peer" "$n"
		sanity "$peer" 100 > /dev/null || exit 1
		local vip=$NFT_VIP
		[ "$peer" = ipt ] && vip=$IPT_VIP
		paired_runs plain "$vip" "p$n.$peer" "p$n.${peer}miss" "$peer"
		peer_off "$peer" "$n"
	done
}

# A fresh datapath (empty sock_nat, see part 3) for the scale test, so that
# its ours figures are not those of a full LRU map.
"$BIN/splitd" -q --unload -p "$TB_PIN" || bench_die "splitd --unload failed"
for n in $SCALE; do
	pair_block "$n"
done

# ---- 3. ours after many connects --------------------------------------------------------------
# More connects (connect + RST, no request) than sock_nat holds, then ours
# vs miss again: per-connection state must not pile up (see the top).
LRU_MAX=$(bpftool -j map show pinned "$TB_PIN/sock_nat" | jq .max_entries)
# (since the reset before the scale test)
INSERTS=$(cat "$WORK"/p*.ours | awk '{ s += $5 } END { print s + 0 }')
INSERTS=$((INSERTS + 100 * $(wc -w <<< "$SCALE")))
FILL=$((LRU_MAX + LRU_MAX / 4 - INSERTS))
[ $QUICK = 1 ] && FILL=0
if [ "$FILL" -gt 0 ]; then
	bench_log "filling sock_nat: $FILL more connections to the VIP (about $INSERTS so far, $LRU_MAX entries)"
	out=$(tb_client "$BIN/connrate" --connect "$VIP" --port "$PORT" -n "$FILL" --duration 300 --parallel 2 --rst) ||
		bench_die "filling sock_nat failed: $out"
	INSERTS=$((INSERTS + $(awk '{ print $2 }' <<< "$out")))
fi
DUR=$SD
paired_runs cgroup "$VIP" full.ours full.miss full

# ---- tables ----------------------------------------------------------------------

declare -A LABEL=(
	[direct]="direct to one backend (floor)"
	[ours]="**ours**: cgroup connect4 to the VIP"
	[miss]="direct, from our cgroup (our hooks run, no service)"
	[nft]="nftables DNAT, numgen random (kube-proxy nftables mode)"
	[nftmiss]="direct, nftables rules loaded (conntrack on, no service)"
	[ipt]="iptables DNAT, statistic random (kube-proxy iptables mode)"
)
# The paired partner of each path (part 2, N = 1).
declare -A PARTNER=([ours]=miss [nft]=nftmiss [ipt]=iptmiss)
MAIN_TABLE=$WORK/main.md
{
	echo "| path | conn/s median | min - max | vs direct | vs nftables | connect() p50 ns | p99 ns | added ns per connect() vs direct | added ns, paired per connection |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
	for v in "${PATHS[@]}"; do
		read -r rm rlo rhi <<< "$(bench_stats $(col "main.$v" 1))"
		read -r pm _ _ <<< "$(bench_stats $(col "main.$v" 2))"
		read -r qm _ _ <<< "$(bench_stats $(col "main.$v" 3))"
		read -r vd _ _ <<< "$(paired "main.$v" main.direct ratio)"
		read -r vn _ _ <<< "$(paired "main.$v" main.nft ratio)"
		read -r add alo ahi <<< "$(paired "main.$v" main.direct diff)"
		if [ "$v" = direct ]; then
			addtxt=0
		else
			addtxt="$(bench_fmt "$add") ($(bench_fmt "$alo") .. $(bench_fmt "$ahi"))"
		fi
		ptxt=""
		if [ -n "${PARTNER[$v]:-}" ]; then
			read -r pd plo phi <<< "$(paired "p1.$v" "p1.${PARTNER[$v]}" diff)"
			ptxt="$(bench_fmt "$pd") ($(bench_fmt "$plo") .. $(bench_fmt "$phi")) vs ${PARTNER[$v]}"
		fi
		printf '| %s | %s | %s - %s | %s | %s | %s | %s | %s | %s |\n' "${LABEL[$v]}" \
			"$(bench_fmt "$rm")" "$(bench_fmt "$rlo")" "$(bench_fmt "$rhi")" \
			"$(bench_fmt "$vd" 2)" "$(bench_fmt "$vn" 2)" "$(bench_fmt "$pm")" "$(bench_fmt "$qm")" \
			"$addtxt" "$ptxt"
	done
	read -r rm rlo rhi <<< "$(bench_stats $(col full.ours 1))"
	read -r pm _ _ <<< "$(bench_stats $(col full.ours 2))"
	read -r qm _ _ <<< "$(bench_stats $(col full.ours 3))"
	read -r pd plo phi <<< "$(paired full.ours full.miss diff)"
	printf '| %s | %s | %s - %s | | | %s | %s | | %s (%s .. %s) vs miss |\n' \
		"**ours**, after $INSERTS connects $([ $QUICK = 1 ] && echo "(quick mode: few)" || echo "(more than sock_nat's $LRU_MAX entries)")" \
		"$(bench_fmt "$rm")" "$(bench_fmt "$rlo")" "$(bench_fmt "$rhi")" "$(bench_fmt "$pm")" "$(bench_fmt "$qm")" \
		"$(bench_fmt "$pd")" "$(bench_fmt "$plo")" "$(bench_fmt "$phi")"
} > "$MAIN_TABLE"
ERRS=0
for f in "$WORK"/main.* "$WORK"/p[0-9]*.* "$WORK"/full.*; do
	ERRS=$((ERRS + $(awk '{ e += $4 } END { print e + 0 }' "$f")))
done

SCALE_TABLE=$WORK/scale.md
{
	echo "| services | ours: added ns vs miss | nft: added ns vs nftmiss | ipt: added ns vs iptmiss | ours conn/s | nft conn/s | ipt conn/s | ours connect() p50 ns | nft p50 ns | ipt p50 ns | miss / nftmiss / iptmiss p50 ns | load s: ours (splitd --once) | nft -f (delete) | iptables-restore (delete) |"
	echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for n in $SCALE; do
		row="| $n"
		for v in ours nft ipt; do
			read -r d lo hi <<< "$(paired "p$n.$v" "p$n.${PARTNER[$v]}" diff)"
			row="$row | $(bench_fmt "$d") ($(bench_fmt "$lo") .. $(bench_fmt "$hi"))"
		done
		for c in 1 2; do
			for v in ours nft ipt; do
				row="$row | $(bench_fmt "$(bench_median $(col "p$n.$v" "$c"))")"
			done
		done
		row="$row | $(bench_fmt "$(bench_median $(col "p$n.miss" 2))") / $(bench_fmt "$(bench_median $(col "p$n.nftmiss" 2))") / $(bench_fmt "$(bench_median $(col "p$n.iptmiss" 2))")"
		row="$row | $(cat "$WORK/load.ours.$n")"
		for v in nft ipt; do
			row="$row | $(bench_fmt "$(bench_median $(cat "$WORK/load.$v.$n"))" 2) ($(bench_fmt "$(bench_median $(cat "$WORK/unload.$v.$n"))" 2))"
		done
		echo "$row |"
	done
} > "$SCALE_TABLE"
echo
cat "$MAIN_TABLE"
echo
cat "$SCALE_TABLE"
echo

# ---- results -----------------------------------------------------------------

T_TOTAL=$(($(date +%s) - T_START))
PSI=$(bench_psi_share "${PSI0:-}" "$T_TOTAL")
SECTION=$WORK/section.md
{
	echo "## Socket-level split: connections per second (bench/bench_sock.sh)"
	echo
	bench_sysinfo
	echo "- settings: part 1: $R rounds x ${#PATHS[@]} paths x $D s; part 2: $SR paired runs x $SD s per path pair at N = $SCALE; $P client threads (build/connrate --parallel $P --request --rst); total run time ${T_TOTAL} s; CPU pressure during the run (PSI some): $PSI of the time some task waited for a CPU$([ $QUICK = 1 ] && echo '; QUICK MODE (tiny counts: figures not meaningful)')"
	echo "- every connection: connect(), \`GET / HTTP/1.1\` with \`Connection: close\`, read the reply to EOF, close with SO_LINGER 0 (RST: no TIME_WAIT pile-up); backends: build/httpd (one thread per connection) in their own netns behind a forwarding node netns; connection errors in all runs: $ERRS"
	echo "- testbed veths: $(bench_offload) (TX checksum offload off on every test veth)"
	echo "- peers: $NFT_VERSION; $IPT_VARIANT; rules in the client netns's output hook, kube-proxy's layout (bench/lib.sh). A peer's rules are loaded just before its runs and removed right after, the conntrack table flushed first: direct, ours and miss run with no netfilter rule and no conntrack in the netns (any loaded DNAT rule keeps conntrack on for every connection of the netns)"
	echo "- each split checked first with build/splitclient ($NS connections, v1 v2 v3): ours ${SAN[ours]}, nft ${SAN[nft]}, ipt ${SAN[ipt]}"
	echo
	echo "### The paths side by side (1 service)"
	echo
	cat "$MAIN_TABLE"
	echo
	echo "Part 1 (each path in its own runs): conn/s is the median over the rounds, and the spread (min - max). \"vs direct\" and \"vs nftables\" are medians of the per-round ratios of the rates. connect() p50/p99: medians over the rounds of each run's percentiles of the connect() call alone (CLOCK_MONOTONIC around the syscall; it includes the hooks, the routing and the handshake, which on veths completes inside the call). Added ns vs direct: median (and range) over the rounds of p50(path) - p50(direct), runs seconds apart."
	echo
	echo "Paired per connection (part 2, N = 1): one connrate run alternates the path and its partner connection by connection, so both see the same load; the figure is the median (and range) over $SR runs of p50(path) - p50(partner). ours vs miss is what choosing a backend and rewriting the destination costs over the hook's lookup miss; nft vs nftmiss and ipt vs iptmiss are what the service's rules and the DNAT cost over a connection that only passes the nat hook and conntrack. The cost of conntrack itself, which every connection of a kube-proxy node pays, is nftmiss - direct in part 1. The last row is ours vs miss again (paired, $SR runs x $SD s, per-path rate as in part 2) after more connects to the VIP than the sock_nat LRU map holds: connected sockets keep their VIP in socket storage freed with the socket, so the figure should match the first ours row (before that change every connect() left an LRU entry and, once the map was full, paid an eviction: +5 us instead of +4 us)."
	echo
	if [ "$SCALE" != 1 ]; then
		echo "### At scale: N services loaded in each (paired per connection)"
		echo
		cat "$SCALE_TABLE"
		echo
		echo "Added ns: median (range) over $SR paired runs of p50(path) - p50(partner), as above. conn/s and p50: medians of the paired runs' per-path figures (per-path rate = threads x connections / time spent in that path's connections). N counts the measured service. Ours: the measured service (reviews, v1=50 v2=50) and N - 1 services with a VIP in 10.97.0.0/16 and two endpoints each, one services file applied with \`splitd --once\` onto the previous N's state. nft: kube-proxy's nftables layout: one \`service-ips\` verdict-map element per service, a chain per service (masquerade check, \`numgen random mod 100 vmap\`) and a chain per endpoint (hairpin check, DNAT): 3N chains. ipt: kube-proxy's iptables layout: N rules in KUBE-SERVICES walked in order (the measured service is in the middle, the average position), a KUBE-SVC chain per service, a KUBE-SEP chain per endpoint. So iptmiss, which matches no service, walks all N rules and the measured service only half of them: at large N, ipt - iptmiss goes negative, and the growth shows in the p50s themselves. The scale test starts from a fresh datapath (\`splitd --unload\`, then the N = 1 file), so ours runs with the sock_nat LRU map far from full. The peers' load times are one \`nft -f\` / \`iptables-restore\` of the whole ruleset into an empty netns, and its deletion."
		echo
	fi
} > "$SECTION"
bench_publish bench_sock "$SECTION"
exit 0
