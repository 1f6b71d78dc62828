#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# bench_xdp.sh - the north-south path (issue 3 item 7, issue 7 item 3): ns
# per packet of split_xdp through BPF_PROG_TEST_RUN, and packets per second
# forwarded through the netns testbed by our XDP DNAT next to nftables DNAT
# (kube-proxy's nftables mode) and plain routing, all in the same run.
#
#   bench/bench_xdp.sh            full run (~4 min), writes its section of bench/results.md
#   bench/bench_xdp.sh --quick    tiny counts, ~15 s, writes to a temp file (for make test)
#
# Options: --quick, -r/--repeats R (forwarding rounds, default 5),
# -d/--duration S (seconds per forwarding run, default 5), -k/--flows K
# (UDP flows of the sender, default 256), -n/--tr-flows N (flows per
# test_run round, default 100000), --tr-rounds R (default 5), --no-tr,
# --no-fwd, -o/--out FILE (the results file), -h/--help.
#
# 1. test_run (build/xdp_bench, in the testbed's node netns; nothing is
#    attached): split_xdp on 60-byte TCP frames - a SYN of a new flow, ACKs
#    of established flows (among N live ones, among 1024, one flow), a
#    non-VIP packet - next to an empty XDP program, and the per-CPU counter
#    updates estimated by difference. See tests/tools/xdp_bench.c for the
#    two methods (warm: a loop in one call; cold: one call per packet).
# 2. Forwarding: build/udpblast in the client netns (one thread, sendmmsg,
#    K flows, 18-byte UDP payloads: 60-byte frames) for S seconds; the
#    packets the backends' eth0 received are counted (/proc/net/dev read
#    in each backend netns), next to what was sent. Paths, interleaved in
#    each round with the order rotated from round to round:
#      ours     to the VIP 10.96.0.10:9999/udp; splitd --xdp to-client
#               --tc-rev to-v1/2/3 in the node netns (XDP native on the
#               veth), v1=50 v2=50 (v1: 10.201.1.2 and .3, v2: 10.201.2.2)
#      nft      to 10.96.0.20:9999/udp; kube-proxy nftables-mode rules in
#               the node netns's prerouting (numgen random mod 100, the
#               same endpoints at 25/25/50); our XDP/tc detached
#      floor    to 10.201.1.2:9999 directly: plain routing, nothing of ours
#               attached, no netfilter rule
#      xdp_miss to 10.201.1.2:9999 with our XDP/tc attached: what the XDP
#               program (and the veth's XDP mode) costs traffic that is not
#               for a VIP
#      ours_tc  ours with the same DNAT at tc ingress of to-client instead
#               of XDP (splitd --tc-dnat): the veth stays out of XDP mode
#    Nothing listens on port 9999: the backends' kernels count each datagram
#    (Udp NoPorts: delivered, checksum good) and drop it; their ICMP port
#    unreachable replies are rate-limited by the kernel to a trickle.
#
# Needs root. Builds its own testbed (unique names, removed on exit, also on
# failure); nftables rules only inside its node netns. Never pass/fail on
# timing: it prints figures and ratios. Exit 1 only if something broke (a
# path did not forward or split, a checksum was bad, a tool is missing).
set -u
cd "$(dirname "$0")/.." || exit 1
REPO=$(pwd)
source scripts/testbed.sh
source bench/lib.sh

QUICK=0 R=5 D=5 K=256 TRN=100000 TRR=5 TRREP=1000000 DO_TR=1 DO_FWD=1 WARM=1
OUT=$REPO/bench/results.md OUT_SET=0
while [ $# -gt 0 ]; do
	case $1 in
	-k | --flows) K=$2; shift ;;
	-n | --tr-flows) TRN=$2; shift ;;
	--tr-rounds) TRR=$2; shift ;;
	--no-tr) DO_TR=0 ;;
	--no-fwd) DO_FWD=0 ;;
	*) bench_opt "$@" && shift ;;
	esac
	shift
done
if [ $QUICK = 1 ]; then
	R=1 D=1 TRN=3000 TRR=1 TRREP=100000 WARM=0
fi
[ "$(id -u)" = 0 ] || bench_die "run as root (network namespaces, BPF)"
bench_need "nft ethtool nsenter flock ip jq bpftool" \
	"splitd splitctl httpd udpblast xdp_bench"

bench_workdir xdp
cleanup() {
	local p
	# The sleepers that hold the netns for reading counters (ours, by PID).
	for p in $(cat "$WORK/holders" 2> /dev/null); do
		[ "$(cat "/proc/$p/comm" 2> /dev/null)" = sleep ] && kill "$p" 2> /dev/null
	done
	# --unload detaches tc filters by ifindex: run it where splitd ran.
	if [ -n "${TB_PIN:-}" ] && [ -e "$TB_PIN" ] && [ -x "${BIN:-/nonexistent}/splitd" ] &&
		[ -e "/run/netns/${TB_NODE:-/nonexistent}" ]; then
		nsenter --net="/run/netns/$TB_NODE" "$BIN/splitd" -q --unload -p "$TB_PIN" 2> /dev/null
	fi
	tb_down
	rm -rf "$WORK"
}

SYSINFO=$(bench_sysinfo)
bench_testbed_up splitd splitctl httpd udpblast xdp_bench
VIP=10.96.0.10 NFT_VIP=10.96.0.20 DIRECT=10.201.1.2 PORT=9999
ctl() { "$BIN/splitctl" -p "$TB_PIN" "$@"; }
fmt() { bench_fmt "$@"; }

# ---- 1. test_run -------------------------------------------------------------

TR_TABLE=$WORK/tr.md
TR_NOTE=""
if [ $DO_TR = 1 ]; then
	bench_log "test_run: $TRR rounds x $TRN flows (repeat $TRREP for the packets left unchanged)"
	T_TR=$(date +%s)
	tb_in "$TB_NODE" "$BIN/xdp_bench" -n "$TRN" -r "$TRR" -R "$TRREP" > "$WORK/tr.out" 2> "$WORK/tr.err" ||
		{ cat "$WORK/tr.err" >&2; bench_die "xdp_bench failed"; }
	bench_log "test_run: done in $(($(date +%s) - T_TR)) s"
	# One awk for the whole table (a fork costs ~15 ms here).
	awk -v nflows="$TRN" '
		function fmt(x) { return (x == "" || x == "nan") ? "n/a" : sprintf("%.0f", x) }
		function sub_(a, b) { return (a == "" || b == "") ? "nan" : a - b }
		$1 == "info" { for (i = 2; i <= NF; i++) { split($i, kv, "="); info[kv[1]] = kv[2] } }
		$1 ~ /^case=/ { split($1, cc, "="); split($2, mm, "=")
			for (i = 3; i <= NF; i++) { split($i, kv, "="); v[cc[2], mm[2], kv[1]] = kv[2] } }
		END {
			L["new"] = "new flow: TCP SYN, no ct entry (ct + ct_rev inserted)"
			L["est1"] = "established, first ACK (sets the entry'"'"'s ACKED flag)"
			L["est"] = "established: ACK, one of " nflows " live flows"
			L["est_1k"] = "established: ACK, one of 1024 flows"
			L["est_hot"] = "established: ACK, always the same flow"
			L["pass"] = "not for a VIP: TCP to 10.1.0.1:80 (XDP_PASS)"
			L["counters"] = "counter updates alone (synthetic: 3 per-CPU lookups, 7 adds)"
			L["empty"] = "empty XDP program (baseline, absolute)"
			ew = v["empty", "warm", "ns"]; ec = v["empty", "cold", "median"]; ww = v["wrapper", "warm", "ns"]
			print "| packet | warm ns/packet | rounds min - max | warm, counters compiled out | the counters cost | cold ns/packet: median | p10 - p90 | p99 | cold rounds min - max | test_run syscall wall ns |"
			print "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
			n = split("new est1 est est_1k est_hot pass counters empty", cs, " ")
			for (k = 1; k <= n; k++) {
				c = cs[k]
				wb = (c == "empty") ? 0 : (c == "pass" || c == "counters") ? ew : ww
				cb = (c == "empty") ? 0 : ec
				nc = v[c "_nocount", "warm", "ns"]
				printf "| %s | %s | %s - %s | %s | %s | %s | %s - %s | %s | %s - %s | %s |\n", L[c],
					fmt(sub_(v[c, "warm", "ns"], wb)), fmt(sub_(v[c, "warm", "rmin"], wb)), fmt(sub_(v[c, "warm", "rmax"], wb)),
					fmt(sub_(nc, wb)), fmt(sub_(v[c, "warm", "ns"], nc)),
					fmt(sub_(v[c, "cold", "median"], cb)), fmt(sub_(v[c, "cold", "p10"], cb)), fmt(sub_(v[c, "cold", "p90"], cb)),
					fmt(sub_(v[c, "cold", "p99"], cb)), fmt(sub_(v[c, "cold", "rmin"], cb)), fmt(sub_(v[c, "cold", "rmax"], cb)),
					fmt(v[c, "cold", "wall"])
			}
			printf "%s %s %s %s %s\n", fmt(ew), fmt(ec), fmt(ww), fmt(v["empty", "cold", "wall"]), info["bpf_stats"] > "/dev/stderr"
		}' "$WORK/tr.out" > "$TR_TABLE" 2> "$WORK/tr.base"
	read -r E_W E_C W_W E_WALL STATS_ON < "$WORK/tr.base"
	if [ "${STATS_ON:-0}" = 1 ]; then
		TR_NOTE="kernel.bpf_stats_enabled was on: split_xdp's run_time_ns / run_cnt (as \`bpftool prog show\` prints them) over the cold runs: $(awk '$1 == "stats" && $3 == "method=cold" {
			split($2, a, "="); split($6, b, "="); printf "%s%s %.0f ns", s, a[2], b[2]; s = ", " }' "$WORK/tr.out") (program time only, no timing overhead; the warm runs reach split_xdp by tail call, which bpf_stats does not count)."
	else
		TR_NOTE="kernel.bpf_stats_enabled is 0 (left as it is): no \`bpftool prog show\` run_time_ns / run_cnt figures."
	fi
	echo
	echo "test_run, ns per packet (net of the baseline; empty: absolute)"
	cat "$TR_TABLE"
	echo
	bench_log "test_run: $TR_NOTE"
fi

# ---- 2. forwarding -------------------------------------------------------------

FWD_TABLE=$WORK/fwd.md
if [ $DO_FWD = 1 ]; then
	SVC=$WORK/services.yaml
	cat > "$SVC" << EOF
apiVersion: split.dev/v1
kind: Service
metadata:
  name: blast
  namespace: bench
spec:
  clusterIPs: [$VIP]
  ports:
  - name: blast
    port: $PORT
    targetPort: $PORT
    protocol: UDP
  endpoints:
  - addresses: [10.201.1.2]
    labels: {version: v1}
  - addresses: [10.201.1.3]
    labels: {version: v1}
  - addresses: [10.201.2.2]
    labels: {version: v2}
  - addresses: [10.201.3.2]
    labels: {version: v3}
EOF
	# kube-proxy's nftables layout (v1.31, trimmed; see bench_gen_nft in
	# bench/lib.sh) with its nat-prerouting chain, where traffic entering
	# the node meets the service rules, for one UDP service.
	NFT=$WORK/nft.conf
	cat > "$NFT" << EOF
table ip kube-proxy {
	chain mark-for-masquerade {
		meta mark set meta mark or 0x4000
	}
	chain masquerading {
		meta mark & 0x4000 == 0 return
		meta mark set meta mark xor 0x4000
		masquerade fully-random
	}
	chain endpoint-blast-1 {
		ip saddr 10.201.1.2 jump mark-for-masquerade
		meta l4proto udp dnat to 10.201.1.2:$PORT
	}
	chain endpoint-blast-2 {
		ip saddr 10.201.1.3 jump mark-for-masquerade
		meta l4proto udp dnat to 10.201.1.3:$PORT
	}
	chain endpoint-blast-3 {
		ip saddr 10.201.2.2 jump mark-for-masquerade
		meta l4proto udp dnat to 10.201.2.2:$PORT
	}
	chain service-blast {
		ip daddr $NFT_VIP udp dport $PORT ip saddr != 10.0.0.0/8 jump mark-for-masquerade
		numgen random mod 100 vmap { 0-24 : goto endpoint-blast-1, 25-49 : goto endpoint-blast-2, 50-99 : goto endpoint-blast-3 }
	}
	map service-ips {
		type ipv4_addr . inet_proto . inet_service : verdict
		elements = { $NFT_VIP . udp . $PORT : goto service-blast }
	}
	chain services {
		ip daddr . meta l4proto . th dport vmap @service-ips
	}
	chain nat-prerouting {
		type nat hook prerouting priority -100; policy accept;
		jump services
	}
	chain nat-postrouting {
		type nat hook postrouting priority 100; policy accept;
		jump masquerading
	}
}
EOF
	# Replies (here only the backends' rate-limited ICMP) leave tc_rev with
	# the VIP as source: no strict rp_filter in the node (as the e2e suite).
	for c in all default to-client to-v1 to-v2 to-v3; do
		tb_in "$TB_NODE" sysctl -qw "net.ipv4.conf.$c.rp_filter=0" || bench_die "rp_filter"
	done

	nodens() { nsenter --net="/run/netns/$TB_NODE" "$@"; }
	once() { nodens "$BIN/splitd" -q --once -c "$SVC" -g "$TB_CGROUP" -p "$TB_PIN" "$@"; }
	# The attachment state is read from the interface, never remembered.
	# Where our DNAT runs on to-client: xdp, tc or none - read from the
	# kernel (ip link / tc filter), never remembered.
	ns_mode() {
		if tb_in "$TB_NODE" ip link show to-client | grep -q 'prog/xdp'; then
			echo xdp
		elif [ -n "$(tb_in "$TB_NODE" tc filter show dev to-client ingress 2> /dev/null)" ]; then
			echo tc
		else
			echo none
		fi
	}
	# set_mode xdp|tc|none: splitd --once with the matching options (splitd
	# detaches what an earlier run attached and this one does not name).
	set_mode() {
		local now
		now=$(ns_mode)
		[ "$now" = "$1" ] && return 0
		case $1 in
		xdp) once --xdp to-client --tc-rev to-v1 --tc-rev to-v2 --tc-rev to-v3 ;;
		tc) once --tc-dnat to-client --tc-rev to-v1 --tc-rev to-v2 --tc-rev to-v3 ;;
		none) once ;;
		esac || bench_die "splitd --once for mode $1 failed"
		now=$(ns_mode)
		[ "$now" = "$1" ] || bench_die "to-client is in mode $now after splitd --once for mode $1"
	}
	nft_on() {
		[ -z "$(nodens nft list ruleset 2> /dev/null)" ] || bench_die "netfilter rules left in the node netns"
		if command -v conntrack > /dev/null 2>&1; then
			nodens conntrack -F > /dev/null 2>&1
		fi
		nodens nft -f "$NFT" || bench_die "nft -f failed"
	}
	nft_off() {
		# The whole table: a dnat/masquerade expression keeps conntrack on
		# for the netns even with no base chain left (see bench/lib.sh).
		nodens nft delete table ip kube-proxy || bench_die "cannot remove the nft rules"
		return 0
	}

	set_mode xdp
	ctl set blast v1=50 v2=50 > /dev/null || bench_die "splitctl set failed"
	XDP_MODE=$(tb_in "$TB_NODE" ip -d link show to-client | grep -o 'xdp[a-z]*' | head -1)
	NS_SHOW=$(ctl show | grep 'north-south' | sed 's/^ *//')
	bench_log "ours: ${NS_SHOW:-?}; ip link: ${XDP_MODE:-no xdp}"
	[ "$XDP_MODE" = xdp ] || bench_die "XDP is not attached in native mode on to-client (${XDP_MODE:-none})"
	offload() { # NS IF: the offload settings that matter here
		tb_in "$1" ethtool -k "$2" 2> /dev/null | awk -F': ' '
			/^(tx-checksumming|scatter-gather|generic-segmentation-offload|generic-receive-offload|rx-udp-gro-forwarding|rx-gro-list):/ {
				split($2, a, " "); n = $1
				sub("tx-checksumming", "tx-csum", n); sub("scatter-gather", "sg", n)
				sub("generic-segmentation-offload", "gso", n); sub("generic-receive-offload", "gro", n)
				printf "%s%s %s", s, n, a[1]; s = ", " } END { print "" }'
	}
	OFF_XDP="client eth0: $(offload "$TB_CLIENT" eth0); node to-client: $(offload "$TB_NODE" to-client); node to-v1: $(offload "$TB_NODE" to-v1); v1 eth0: $(offload "$TB_V1" eth0)"
	set_mode none
	OFF_NOXDP="client eth0: $(offload "$TB_CLIENT" eth0); node to-client: $(offload "$TB_NODE" to-client)"
	NFT_VERSION=$(nft --version 2> /dev/null)
	case $(zcat /proc/config.gz 2> /dev/null | grep -E '^(# )?CONFIG_IRQ_TIME_ACCOUNTING[= ]') in
	"# CONFIG_IRQ_TIME_ACCOUNTING is not set") IRQACCT="this kernel has no CONFIG_IRQ_TIME_ACCOUNTING" ;;
	CONFIG_IRQ_TIME_ACCOUNTING=y) IRQACCT="CAUTION: this kernel has CONFIG_IRQ_TIME_ACCOUNTING, which keeps softirq time out of a task's time: the figure misses most of the path"
		bench_log "$IRQACCT" ;;
	*) IRQACCT="CONFIG_IRQ_TIME_ACCOUNTING unknown (no /proc/config.gz; when it is set the figure misses most of the path)" ;;
	esac
	BACKLOG=$(cat /proc/sys/net/core/netdev_max_backlog 2> /dev/null)

	# A sleeper in each netns, so that one process can read every netns's
	# /proc/PID/net/{dev,snmp} (an nsenter per netns and read costs ~50 ms
	# here). Ours by PID: stopped in cleanup (tb_down would stop them too).
	HOLD=()
	for ns in "$TB_V1" "$TB_V2" "$TB_V3" "$TB_NODE" "$TB_CLIENT"; do
		nsenter --net="/run/netns/$ns" sleep 100000 < /dev/null > /dev/null 2>&1 &
		HOLD+=("$!")
	done
	echo "${HOLD[*]}" > "$WORK/holders"
	sleep 0.1
	for p in "${HOLD[@]}"; do
		[ -r "/proc/$p/net/dev" ] || bench_die "cannot read /proc/$p/net/dev"
	done

	# counters: one line of numbers, in this order:
	#   rx1 rx2 rx3   backends' eth0 rx_packets (v1, v2, v3)
	#   np            Udp NoPorts, summed over the backends (delivered, checksum good)
	#   ce            Udp InCsumErrors + InErrors, summed over the backends
	#   nrx ndrop     node to-client rx_packets, rx_dropped
	#   fwd           node Ip ForwDatagrams
	#   ctx ctxdrop   client eth0 tx_packets, tx_dropped
	#   ksoft         CPU time of the ksoftirqd threads, ns
	# /proc/PID/net, not /sys/class/net: nsenter --net does not remount /sys,
	# so /sys/class/net there still shows the root netns's interfaces.
	nsread() { # PID IFACE: "rx_packets rx_dropped tx_packets tx_dropped udp_noports udp_errs forw"
		cat "/proc/$1/net/dev" "/proc/$1/net/snmp" | awk -v ifn="$2" '
			/^ *[^ ]+:/ && !/^(Ip|Icmp|IcmpMsg|Tcp|Udp|UdpLite):/ { l = $0; sub(/:/, " ", l); split(l, f, " ")
				if (f[1] == ifn) { rx = f[3]; rd = f[5]; tx = f[11]; td = f[13] } next }
			/^Udp:/ { if (!uh) { for (i = 2; i <= NF; i++) u[$i] = i; uh = 1 }
				  else { np = $(u["NoPorts"]); ue = $(u["InErrors"]) + $(u["InCsumErrors"]) } }
			/^Ip:/ { if (!ih) { for (i = 2; i <= NF; i++) ip[$i] = i; ih = 1 } else fw = $(ip["ForwDatagrams"]) }
			END { print rx + 0, rd + 0, tx + 0, td + 0, np + 0, ue + 0, fw + 0 }'
	}
	# The softirq threads: packet work the sender's stack defers to them is
	# added to the sender's CPU time.
	KSOFT=()
	for f in /proc/[0-9]*/comm; do
		case $(cat "$f" 2> /dev/null) in ksoftirqd/*) f=${f#/proc/}; KSOFT+=("/proc/${f%/comm}/schedstat") ;; esac
	done
	[ ${#KSOFT[@]} -gt 0 ] || bench_log "no ksoftirqd threads found: CPU per packet counts the sender only"
	ksoft_ns() { cat "${KSOFT[@]}" 2> /dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'; }
	counters() {
		local a b c n cl
		a=$(nsread "${HOLD[0]}" eth0) b=$(nsread "${HOLD[1]}" eth0) c=$(nsread "${HOLD[2]}" eth0)
		n=$(nsread "${HOLD[3]}" to-client) cl=$(nsread "${HOLD[4]}" eth0)
		echo "$a $b $c $n $cl $(ksoft_ns)" | awk '{ print $1, $8, $15, $5 + $12 + $19, $6 + $13 + $20, $22, $23, $28, $31, $32, $36 }'
	}

	# diag: what the node saw, for a path that does not forward (stderr).
	diag() {
		{
			echo "--- diagnostics: node netns"
			tb_in "$TB_NODE" ip -d -s link show to-client
			tb_in "$TB_NODE" cat /proc/net/snmp | grep -A1 '^Ip:'
			echo "conntrack entries: $(tb_in "$TB_NODE" conntrack -C 2> /dev/null)"
			tb_in "$TB_NODE" nft list ruleset
			ctl show 2>&1 | tail -4
			echo "nat_stats, non-zero (index: packets; enum split_nat_stat): $(bpftool -j map dump pinned "$TB_PIN/nat_stats" 2> /dev/null |
				jq -r '[.[] | {k: .key, v: ([.values[].value] | add)} | select(.v > 0) | "\(.k): \(.v)"] | join(", ")' 2> /dev/null)"
			echo "---"
		} >&2
	}

	# run VARIANT DURATION: one sender run; writes to $WORK/last (not a
	# subshell: the attach/detach and nft state must stay in this shell)
	#   "pps_rx pps_sent sent rx1 rx2 rx3 noports csumerr lost node_rxdrop client_txdrop elapsed_s
	#    cpu_ns wait_ns ksoft_ns cpu_per_packet_ns"
	# (lost: sent - delivered to the backends' UDP, i.e. - NoPorts; rx_packets
	# also counts a few ARP and ICMP packets)
	run() {
		local v=$1 dur=$2 dst out before after rc=0
		case $v in
		ours) set_mode xdp; dst=$VIP ;;
		ours_tc) set_mode tc; dst=$VIP ;;
		nft) set_mode none; nft_on; dst=$NFT_VIP ;;
		floor) set_mode none; dst=$DIRECT ;;
		xdp_miss) set_mode xdp; dst=$DIRECT ;;
		esac
		before=$(counters)
		out=$(tb_in "$TB_CLIENT" "$BIN/udpblast" --dst "$dst" --port "$PORT" --duration "$dur" --flows "$K") || rc=$?
		sleep 0.2
		after=$(counters)
		[ "$v" = nft ] && nft_off
		[ $rc = 0 ] && [ -n "$out" ] || bench_die "udpblast failed ($v, exit $rc)"
		[ "${BENCH_XDP_DEBUG:-0}" = 1 ] && diag
		echo "$before" "$after" "$out" | awk '{
			for (i = 1; i <= 11; i++) d[i] = $(i + 11) - $i
			for (i = 23; i < NF; i++) o[$i] = $(i + 1)
			el = o["elapsed_ns"] / 1e9; rx = d[1] + d[2] + d[3]
			lost = o["sent"] - d[4]; if (lost < 0) lost = 0
			cpu = o["cpu_ns"] + d[11]
			printf "%.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.3f %.0f %.0f %.0f %.1f\n", rx / el, o["sent"] / el, o["sent"],
				d[1], d[2], d[3], d[4], d[5], lost, d[7], d[10], el, o["cpu_ns"], o["wait_ns"], d[11],
				(d[4] > 0 ? cpu / d[4] : 0) }' > "$WORK/last"
	}

	VARS=(ours nft floor xdp_miss ours_tc)
	if [ "$WARM" != 0 ]; then
		bench_log "warm-up: ${WARM} s per path (not recorded)"
		for v in "${VARS[@]}"; do
			run "$v" "$WARM"
		done
	fi
	bench_log "forwarding: $R rounds x ${#VARS[@]} paths x $D s, $K flows, one sender thread"
	for ((r = 0; r < R; r++)); do
		for ((i = 0; i < ${#VARS[@]}; i++)); do
			v=${VARS[$(((i + r) % ${#VARS[@]}))]}
			run "$v" "$D"
			cat "$WORK/last" >> "$WORK/fwd.$v"
			read -r prx psent sent r1 r2 r3 np ce dr nd cd el cpu wait ks cpp < "$WORK/last"
			printf '  %-8s round %d/%d: received %s pps, sent %s pps; CPU %s ns/packet (sender %s ms + ksoftirqd %s ms, waited %s ms of %s s); v1 %s v2 %s v3 %s; lost %s (node rx_dropped %s, client tx_dropped %s); csum errors %s\n' \
				"$v" $((r + 1)) "$R" "$prx" "$psent" "$cpp" $((cpu / 1000000)) $((ks / 1000000)) $((wait / 1000000)) "$el" \
				"$r1" "$r2" "$r3" "$dr" "$nd" "$cd" "$ce" >&2
		done
	done

	# Sanity: each path forwarded, split as configured, with good checksums.
	for v in "${VARS[@]}"; do
		awk -v v="$v" '{ r1 += $4; r2 += $5; r3 += $6; np += $7; ce += $8; sent += $3 }
			END {
				bad = ""
				if (ce > 0) bad = bad " checksum errors at the backends: " ce
				if (r1 + r2 == 0) bad = bad " nothing received"
				if ((v == "ours" || v == "ours_tc" || v == "nft") && (r1 == 0 || r2 == 0 || r3 > 100)) bad = bad " not split v1/v2 (v1 " r1 ", v2 " r2 ", v3 " r3 ")"
				if ((v == "floor" || v == "xdp_miss") && (r2 > 100 || r3 > 100)) bad = bad " direct traffic left v1"
				if (np < 0.9 * (r1 + r2 + r3)) bad = bad " fewer datagrams delivered to UDP (" np ") than received (" r1 + r2 + r3 ")"
				if (bad != "") { print v ":" bad; exit 1 } }' "$WORK/fwd.$v" >&2 ||
			{ diag; bench_die "the $v path is broken (see above)"; }
	done

	# One awk over every run (a fork costs ~15 ms here). Line r of each
	# fwd.VARIANT file is round r, so ratios pair the runs of one round.
	for v in "${VARS[@]}"; do
		sed "s/^/$v /" "$WORK/fwd.$v"
	done | awk -v order="${VARS[*]}" '
		function sort(a, n,   i, j, x) { for (i = 2; i <= n; i++) { x = a[i]; j = i - 1
			while (j >= 1 && a[j] > x) { a[j + 1] = a[j]; j-- } a[j + 1] = x } }
		function stats(a, n) { # "median min max" of a[1..n]
			if (!n) return "n/a n/a n/a"
			sort(a, n)
			return sprintf("%s %s %s", (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2, a[1], a[n]) }
		{ v = $1; r = ++nr[v]; rx[v, r] = $2; tx[v, r] = $3; cpp[v, r] = $17
		  sent[v] += $4; v1[v] += $5; v2[v] += $6; lost[v] += $10 }
		END {
			L["ours"] = "ours: XDP DNAT (split_xdp on to-client) + tc reverse NAT, VIP 10.96.0.10"
			L["nft"] = "nftables DNAT in prerouting, numgen random mod 100 (kube-proxy nftables), VIP 10.96.0.20"
			L["floor"] = "plain routing to 10.201.1.2 (floor): no XDP, no netfilter"
			L["xdp_miss"] = "plain routing to 10.201.1.2 with our XDP attached (not a VIP: XDP_PASS)"
			L["ours_tc"] = "ours at tc ingress instead (splitd --tc-dnat to-client), VIP 10.96.0.10"
			print "| path | received pps: median | min - max | sent pps | vs nft | vs floor | CPU ns per packet: median | min - max | vs nft, by CPU | vs floor, by CPU | lost | v2 share of packets |"
			print "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
			nv = split(order, vs, " ")
			for (k = 1; k <= nv; k++) {
				v = vs[k]; n = nr[v]
				for (r = 1; r <= n; r++) { a[r] = rx[v, r]; b[r] = tx[v, r]; e[r] = cpp[v, r]
					c[r] = rx["nft", r] > 0 ? rx[v, r] / rx["nft", r] : "nan"
					d[r] = rx["floor", r] > 0 ? rx[v, r] / rx["floor", r] : "nan"
					f[r] = cpp[v, r] > 0 ? cpp["nft", r] / cpp[v, r] : "nan"
					g[r] = cpp[v, r] > 0 ? cpp["floor", r] / cpp[v, r] : "nan" }
				split(stats(a, n), A, " "); split(stats(b, n), B, " "); split(stats(e, n), E, " ")
				split(stats(c, n), C, " "); split(stats(d, n), D, " ")
				split(stats(f, n), F, " "); split(stats(g, n), G, " ")
				printf "| %s | %.0f | %.0f - %.0f | %.0f | %.2f (%.2f - %.2f) | %.2f (%.2f - %.2f) | %.0f | %.0f - %.0f | %.2f (%.2f - %.2f) | %.2f (%.2f - %.2f) | %.2f%% | %.1f%% |\n", L[v],
					A[1], A[2], A[3], B[1], C[1], C[2], C[3], D[1], D[2], D[3],
					E[1], E[2], E[3], F[1], F[2], F[3], G[1], G[2], G[3],
					sent[v] ? 100 * lost[v] / sent[v] : 0, v1[v] + v2[v] ? 100 * v2[v] / (v1[v] + v2[v]) : 0
			}
		}' > "$FWD_TABLE"
	echo
	echo "forwarding, packets per second received by the backends"
	cat "$FWD_TABLE"
	echo
	awk -F' [|] ' '$1 ~ /^[|] ours: XDP/ { printf "ours (XDP) / nft: %s by pps, %s by CPU per packet; ours / floor: %s by pps, %s by CPU\n", $5, $9, $6, $10 }' "$FWD_TABLE"
fi

# ---- results -----------------------------------------------------------------

T_TOTAL=$(($(date +%s) - T_START))
SECTION=$WORK/section.md
{
	echo "## North-south: XDP DNAT per packet and forwarding rate (bench/bench_xdp.sh)"
	echo
	echo "$SYSINFO"
	echo "- settings: test_run $TRR rounds x $TRN flows (repeat $TRREP for packets left unchanged); forwarding $R rounds x $D s per path, $K UDP flows, one sender thread; total run time ${T_TOTAL} s$([ $QUICK = 1 ] && echo '; QUICK MODE (tiny counts: figures not meaningful)')"
	if [ $DO_TR = 1 ]; then
		echo
		echo "### BPF_PROG_TEST_RUN: ns per packet of split_xdp"
		echo
		cat "$TR_TABLE"
		echo
		echo "60-byte TCP frames; one service, VIP 10.96.0.10:80 -> 8080, four backends in two versions at 50/50 (build/xdp_bench; split_xdp loaded from its skeleton with pinning off, nothing attached). test_run does not reset the packet between repeats (after one run a VIP packet is DNATed, and a SYN's flow exists), so two methods: **warm**: one test_run call with repeat = $TRN, through a wrapper program that writes the case's frame back into the packet (flow i's source address and port for repeat i) and tail-calls split_xdp; the figure is the mean per run minus the same wrapper tail-calling an empty program ($W_W ns), i.e. split_xdp's own cost in a tight loop as in a NAPI poll; median of $TRR rounds and their range. Packets that stay unchanged (not for a VIP, counters, empty) run with repeat = $TRREP directly, minus the empty program ($E_W ns per run). **cold**: one call per packet (repeat = 1, a fresh frame each time), the kernel's own timing of that one run, minus the empty program timed the same way ($E_C ns: two ktime reads); the median of $((TRN * TRR)) packets, so an interrupt inside one run does not count. Every call follows a syscall that on this machine (a VM with page-table isolation on: a test_run syscall takes $E_WALL ns wall) leaves TLBs and caches cold, so cold is an upper bound. In the forwarding test below, consecutive runs of split_xdp are separated by a packet's whole trip through three network stacks, so its cost there lies between the two. Every case is checked against split_xdp's nat_stats (one new flow per SYN, none per ACK, one DNAT per packet, NOT_VIP for the pass)."
		echo
		echo "The counters: \"counters compiled out\" is a second split_xdp loaded with its rodata flag split_no_count = 1 (what \`splitd --no-counters\` loads: no be_stats / ver_stats updates; the nat_stats reasons still count), timed the same warm way in the same rounds; \"the counters cost\" is the difference (a few ns: within the noise for the cases that miss the caches). Cross-check: a synthetic program that does exactly the counter updates of an established DNAT (nat_stats[DNAT], be_stats[backend], ver_stats[version]) on split_xdp's own maps, minus the empty program. Established flows among many cost far more than one hot flow: every packet looks up ct and then ct_rev (split_ct_resolve re-checks the reverse entry), two random reads of LRU hash maps with 262144 preallocated entries each, which miss the caches and the TLB here. $TR_NOTE"
	fi
	if [ $DO_FWD = 1 ]; then
		echo
		echo "### Forwarding through the veth testbed: packets per second"
		echo
		cat "$FWD_TABLE"
		echo
		echo "client netns -> node netns (forwarding) -> backend netns, all veths. build/udpblast: one thread, sendmmsg() of 64 datagrams, $K unconnected sockets (source ports: $K flows), 18-byte UDP payloads (60-byte frames), $D s per run; the paths of a round run back to back, the order rotated each round. received pps: packets counted on the backends' eth0 (rx_packets from /proc/net/dev in each backend netns, v1 + v2 + v3) over the sender's run time; median of $R rounds and the range. vs nft / vs floor: medians (and ranges) of the per-round ratios of received pps. CPU ns per packet: the sender thread's time on a CPU during its run (/proc/thread-self/schedstat) plus the ksoftirqd threads' over the run, divided by the datagrams delivered; $IRQACCT, so the softirq work done on the sender's stack is in it - on veths that is every hop's receive path: the node's XDP/tc/netfilter and forwarding, the backends' IP and UDP receive. Time spent waiting for a CPU that other tenants held is not in it, so on this shared machine it is the steadier figure; \"by CPU\" ratios are per-round ratios of the inverse (higher is better, as for pps). Nothing listens on port $PORT at the backends: their kernels take each datagram to UDP (Udp NoPorts, which needs a good checksum: none failed) and drop it. lost: sent - delivered to the backends' UDP (NoPorts) over all rounds, in % of sent (with XDP on to-client the veth receives through a 256-slot ring drained by its NAPI poll; when the poll falls behind, the sending veth drops: client eth0 tx_dropped). Ours: \`splitd --once --xdp to-client --tc-rev to-v1 --tc-rev to-v2 --tc-rev to-v3\` in the node netns, \`splitctl set blast v1=50 v2=50\` (v1 has two endpoints, v2 one, v3 weight 0); \`ip link\` shows the program attached as \`$XDP_MODE\` (native veth XDP: the veth then receives through its own NAPI poll); $NS_SHOW. ours_tc: the same service and weights with the DNAT at tc ingress of to-client instead (\`splitd --once --tc-dnat to-client --tc-rev ...\`: split_tc_dnat, the tc twin of split_xdp), so the veth is not in XDP mode. For floor and nft splitd is run again without the north-south options, which detaches them (the mode of to-client is read back from \`ip link\` and \`tc filter\` before every run). nft: $NFT_VERSION; kube-proxy's nftables layout (as in bench/lib.sh) with a nat-prerouting chain (priority -100) for one UDP service, numgen random mod 100 to the same three endpoints at 25/25/50; the table is loaded just before each nft run and deleted right after, the node's conntrack table flushed before each nft run (\`conntrack -F\`), so the other paths run with no netfilter rule and no conntrack hook. The client is in 10.0.0.0/8, so neither path masquerades: backends see the client's address."
		echo
		echo "Settings: TX checksum offload off on every test veth (the testbed's default; XDP cannot fix up CHECKSUM_PARTIAL packets); no RPS/RFS; netdev_max_backlog $BACKLOG; rp_filter 0 in the node. With our XDP attached: $OFF_XDP. Without: $OFF_NOXDP. GRO is off on the node's to-client veth in both cases and rx-udp-gro-forwarding is off, so no datagram is aggregated. One sender thread; the veths deliver in softirq on the sending CPU, so the node's forwarding and the backends' receive run mostly on that CPU too: a path's pps is the inverse of the whole path's per-packet cost on one CPU (sender included), and a ratio compares whole paths, not the DNAT step alone."
	fi
	echo
} > "$SECTION"
bench_publish bench_xdp "$SECTION"
exit 0
