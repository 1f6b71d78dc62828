#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# bench/lib.sh - helpers shared by the benchmark scripts (sourced, not run):
# statistics, the machine description, the results file, and generators for
# N services in our services-file format, in kube-proxy's nftables layout
# and in kube-proxy's iptables layout.
#
# Nothing here touches the network or the root netns: the generated rule
# files are loaded by the callers inside the testbed's client netns only.

BENCH_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

bench_log() { echo "bench: $*" >&2; }
bench_die() { echo "bench: error: $*" >&2; exit 1; }

# bench_usage: the script's header comment (to `set -u`, without the
# licence line) as --help.
bench_usage() {
	sed -n '2,/^set -u/p' "$0" | sed '/SPDX-License-Identifier/d; $d; s/^# \{0,1\}//' | sed '1{/^$/d}'
}

# bench_opt ARG...: the options every benchmark takes, for the caller's
# option loop: --quick, -r/--repeats N (R), -d/--duration S (D), -o/--out
# FILE (OUT, OUT_SET), -h/--help; anything else is bad usage (exit 2).
# Status 0 when it took the option's value too (the caller shifts once more).
bench_opt() {
	case $1 in
	--quick) QUICK=1; return 1 ;;
	-r | --repeats) R=$2 ;;
	-d | --duration) D=$2 ;;
	-o | --out) OUT=$2; OUT_SET=1 ;;
	-h | --help) bench_usage; exit 0 ;;
	*) echo "$(basename "$0" .sh): unknown option '$1' (see --help)" >&2; exit 2 ;;
	esac
}

# bench_args ARG...: the options of a script that takes only --quick (QUICK)
# and -h/--help; anything else is bad usage (exit 2). Status 0 in quick
# mode, for the caller to shrink its counts: bench_args "$@" && N=10.
bench_args() {
	local a
	QUICK=0
	for a in "$@"; do
		case $a in
		--quick) QUICK=1 ;;
		-h | --help) bench_usage; exit 0 ;;
		*) echo "$(basename "$0" .sh): unknown option '$a' (see --help)" >&2; exit 2 ;;
		esac
	done
	[ "$QUICK" = 1 ]
}

# bench_local NAME BINARY ARG...: the start of a benchmark of one build/
# tool on this machine (no testbed, no root): bench_args ARG..., the
# repository as the working directory, build/BINARY there, WORK (from
# bench_workdir NAME) removed on exit. Status 0 in quick mode, as bench_args.
bench_local() {
	local name=$1 bin=$2 quick=0
	shift 2
	bench_args "$@" && quick=1
	cd "$BENCH_REPO" || bench_die "cannot enter $BENCH_REPO"
	bench_need "" "$bin"
	bench_workdir "$name"
	trap 'rm -rf "$WORK"' EXIT
	[ "$quick" = 1 ]
}

# bench_workdir NAME: WORK, a new directory under /tmp. Quick mode never
# touches bench/results.md: without -o, OUT (the section) goes to WORK.
bench_workdir() {
	WORK=$(mktemp -d "/tmp/split-bench-$1.XXXXXX") || bench_die "mktemp failed"
	if [ "${QUICK:-0}" = 1 ] && [ "${OUT_SET:-0}" = 0 ]; then
		OUT=$WORK/results.md
	fi
}

# bench_testbed_up BINARY...: the start of a testbed benchmark, once WORK
# and the caller's cleanup() are set: cleanup() on exit (and on a signal),
# private copies of build/BINARY... (bench_private_bins), T_START, and the
# testbed up.
bench_testbed_up() {
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	bench_private_bins "$WORK/bin" "$@"
	T_START=$(date +%s)
	tb_up || bench_die "the testbed did not come up"
}

# bench_publish NAME SECTION: write the SECTION file into OUT (bench_results_write);
# in quick mode without -o, print it too, with the closing line the test
# runner counts (the script ran end to end).
bench_publish() {
	bench_results_write "$1" "$2" "$OUT"
	if [ "$QUICK" = 1 ] && [ "$OUT_SET" = 0 ]; then
		bench_log "quick mode: the section (not written to bench/results.md):"
		cat "$2"
		echo "$1: 1 passed, 0 failed"
	else
		bench_log "results: $OUT"
	fi
}

# bench_section_done NAME: print WORK/section.md; write it into
# bench/results.md unless in quick mode; the closing line the test runner
# counts (the script ran end to end).
bench_section_done() {
	cat "$WORK/section.md"
	if [ "$QUICK" = 0 ]; then
		bench_results_write "$1" "$WORK/section.md" bench/results.md
	fi
	echo "$1: 1 passed, 0 failed"
}

# bench_need "TOOL..." "BINARY...": the commands and build/ binaries a script uses.
bench_need() {
	local t b
	for t in $1; do
		command -v "$t" > /dev/null 2>&1 ||
			bench_die "missing tool: $t (make deps installs it: scripts/deps.sh)"
	done
	for b in $2; do
		[ -x "build/$b" ] || bench_die "build/$b missing: run make"
	done
}

# bench_stats X...: "median min max" (median of an even count: mean of the
# two middle values). Empty input: "nan nan nan".
bench_stats() {
	printf '%s\n' "$@" | awk 'NF { v[n++] = $1 + 0 }
		END {
			if (!n) { print "nan nan nan"; exit }
			for (i = 1; i < n; i++) { x = v[i]; j = i - 1
				while (j >= 0 && v[j] > x) { v[j + 1] = v[j]; j-- } v[j + 1] = x }
			m = (n % 2) ? v[int(n / 2)] : (v[n / 2 - 1] + v[n / 2]) / 2
			printf "%.10g %.10g %.10g\n", m, v[0], v[n - 1] }'
}
bench_median() { set -- $(bench_stats "$@"); echo "$1"; }

# bench_fmt NUMBER [DECIMALS]: fixed-point; "n/a" for nan or empty.
bench_fmt() {
	awk -v x="${1:-nan}" -v d="${2:-0}" 'BEGIN {
		if (x == "nan" || x == "" || x == "n/a") print "n/a"; else printf "%.*f\n", d, x }'
}

# Monotonic-enough wall clock in ns without a fork (bash >= 5: EPOCHREALTIME
# has microseconds).
# bench_private_bins DIR NAME...: copy build/NAME... to DIR and point the
# testbed at it (TB_BUILD): the build dir may be rebuilt while a benchmark
# runs. Sets BIN=DIR.
bench_private_bins() {
	BIN=$1
	shift
	mkdir -p "$BIN" && (cd "$BENCH_REPO/build" && cp "$@" "$BIN/") ||
		bench_die "cannot copy the binaries"
	export TB_BUILD=$BIN
}

# bench_psi_now: the CPU pressure stall total (PSI "some", us) so far, or "".
bench_psi_now() { awk '/^some/ { split($5, a, "="); print a[2] }' /proc/pressure/cpu 2> /dev/null; }
# bench_psi_share PSI0 SECONDS: the share of SECONDS since PSI0 (from
# bench_psi_now) in which some task waited for a CPU, e.g. "52%", or "n/a".
bench_psi_share() {
	awk -v a="${1:-}" -v b="$(bench_psi_now)" -v t="${2:-0}" 'BEGIN {
		if (a == "" || b == "" || t <= 0) print "n/a"; else printf "%.0f%%", (b - a) / 1e4 / t }'
}

bench_now_ns() {
	local t=${EPOCHREALTIME/[.,]/}
	echo "${t}000"
}

# A markdown block describing the machine and the date (for results.md).
bench_sysinfo() {
	local model cpus mem
	model=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	cpus=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN)
	mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
	echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
	echo "- kernel: $(uname -r) ($(uname -m)); CPUs: $cpus x ${model:-unknown}; memory: $mem"
	echo "- git: $(git -C "$BENCH_REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)$(
		[ -n "$(git -C "$BENCH_REPO" status --porcelain 2>/dev/null)" ] && echo ' (work tree has uncommitted changes)')"
	echo "- load average at the start: $(cut -d' ' -f1-3 /proc/loadavg) (the machine is shared: compare rows of one run, not runs)"
}

# Offload state of the client's veth (the testbed turns TX checksum offload
# off on every test veth). Call with the testbed up.
bench_offload() {
	tb_in "$TB_CLIENT" ethtool -k eth0 2>/dev/null |
		awk -F': ' '/^(tx-checksumming|scatter-gather|tcp-segmentation-offload|generic-segmentation-offload|generic-receive-offload):/ {
			split($2, a, " "); printf "%s%s %s", s, $1, a[1]; s = ", " } END { print "" }'
}

# bench_results_write NAME CONTENT_FILE TARGET: put CONTENT_FILE between
# <!-- BEGIN NAME --> and <!-- END NAME --> in TARGET, replacing what was
# there and keeping every other section; appended if absent. Under flock.
bench_results_write() {
	local name=$1 content=$2 target=$3 tmp
	(
		flock 9
		if [ ! -s "$target" ]; then
			{
				echo "# Benchmarks"
				echo
				echo "Written by the scripts under bench/ (\`make bench\`); each script owns one"
				echo "section below and rewrites only that one. Every figure compares us with a"
				echo "peer measured in the same run on the same testbed."
				echo
			} > "$target"
		fi
		tmp=$(mktemp "$target.XXXXXX") || exit 1
		awk -v name="$name" -v cf="$content" '
			function emit() { print "<!-- BEGIN " name " -->"
				while ((getline l < cf) > 0) print l
				close(cf); print "<!-- END " name " -->"; done = 1 }
			$0 == "<!-- BEGIN " name " -->" { skip = 1; emit(); next }
			$0 == "<!-- END " name " -->" { skip = 0; next }
			!skip { print }
			END { if (!done) { print ""; emit() } }' "$target" > "$tmp" &&
			mv "$tmp" "$target"
	) 9>> "$target.lock"
	rm -f "$target.lock"
}

# ---- generators ----------------------------------------------------------------
#
# Filler service i (1 <= i < N): name filler-NNNNN, VIP 10.97.(i/256).(i%256),
# port 9080/TCP, two endpoints 10.202.(i/256).(i%256) (version v1) and
# 10.203.(i/256).(i%256) (version v2); nothing listens there and no traffic
# is sent to them. N counts the measured service too: N = 1 is the measured
# service alone.

# bench_gen_services N OUT: the testbed's services file (reviews, the measured
# service, VIP 10.96.0.10) followed by N - 1 filler services.
bench_gen_services() {
	local n=$1 out=$2
	cat "$BENCH_REPO/tests/data/services.yaml" > "$out" || return 1
	awk -v n="$n" 'BEGIN {
		for (i = 1; i < n; i++) {
			a = int(i / 256); b = i % 256
			printf "---\napiVersion: split.dev/v1\nkind: Service\nmetadata:\n"
			printf "  name: filler-%05d\n  namespace: bench\nspec:\n", i
			printf "  clusterIPs: [10.97.%d.%d]\n", a, b
			printf "  ports:\n  - port: 9080\n    protocol: TCP\n  endpoints:\n"
			printf "  - addresses: [10.202.%d.%d]\n    labels: {version: v1}\n", a, b
			printf "  - addresses: [10.203.%d.%d]\n    labels: {version: v2}\n", a, b
		} }' >> "$out"
}

# bench_gen_nft N VIP OUT: kube-proxy's nftables mode (v1.31 layout, trimmed)
# for N services, as one `nft -f` file: table ip kube-proxy; nat-output (hook
# output, priority -100) jumps to "services", whose one rule looks up
#   ip daddr . meta l4proto . th dport vmap @service-ips
# (one element per service) and goes to the service's chain. A service chain
# has kube-proxy's masquerade check and
#   numgen random mod 100 vmap { 0-24 : goto endpoint-..-1, 25-49 : ..., 50-99 : ... }
# to one chain per endpoint (hairpin masquerade check, then DNAT). A
# nat-postrouting chain masquerades marked packets, as kube-proxy's does.
# The measured service (VIP, port 9080) splits 50/50 between v1 (10.201.1.2
# and 10.201.1.3, 25% each) and v2 (10.201.2.2): the split our cgroup hooks
# make for `splitctl set reviews v1=50 v2=50`. Fillers split 50/50 between
# their two endpoints. Not modelled: kube-proxy's filter chains (firewall,
# reject for services without endpoints), node ports, session affinity.
# Block syntax: nft 1.0.6 loads it faster than the same as "add" commands.
bench_gen_nft() {
	local n=$1 vip=$2 out=$3
	awk -v n="$n" -v vip="$vip" '
	function svc(name, addr, nep,   i, lo, hi, s) {
		for (i = 1; i <= nep; i++) {
			printf "\tchain endpoint-%s-%d {\n", name, i
			printf "\t\tip saddr %s jump mark-for-masquerade\n", ep[i]
			printf "\t\tmeta l4proto tcp dnat to %s:9080\n\t}\n", ep[i]
		}
		s = ""; lo = 0
		for (i = 1; i <= nep; i++) {
			hi = (i == nep) ? 99 : lo + share[i] - 1
			s = s sprintf("%s%d-%d : goto endpoint-%s-%d", (i > 1 ? ", " : ""), lo, hi, name, i)
			lo = hi + 1
		}
		printf "\tchain service-%s {\n", name
		printf "\t\tip daddr %s tcp dport 9080 ip saddr != 10.0.0.0/8 jump mark-for-masquerade\n", addr
		printf "\t\tnumgen random mod 100 vmap { %s }\n\t}\n", s
	}
	BEGIN {
		print "table ip kube-proxy {"
		print "\tchain mark-for-masquerade {\n\t\tmeta mark set meta mark or 0x4000\n\t}"
		print "\tchain masquerading {\n\t\tmeta mark & 0x4000 == 0 return"
		print "\t\tmeta mark set meta mark xor 0x4000\n\t\tmasquerade fully-random\n\t}"
		ep[1] = "10.201.1.2"; ep[2] = "10.201.1.3"; ep[3] = "10.201.2.2"
		share[1] = 25; share[2] = 25; share[3] = 50
		svc("measured", vip, 3)
		share[1] = 50; share[2] = 50
		for (i = 1; i < n; i++) {
			a = int(i / 256); b = i % 256
			ep[1] = sprintf("10.202.%d.%d", a, b); ep[2] = sprintf("10.203.%d.%d", a, b)
			svc(sprintf("filler-%05d", i), sprintf("10.97.%d.%d", a, b), 2)
		}
		print "\tmap service-ips {\n\t\ttype ipv4_addr . inet_proto . inet_service : verdict"
		printf "\t\telements = { %s . tcp . 9080 : goto service-measured", vip
		for (i = 1; i < n; i++)
			printf ",\n\t\t\t10.97.%d.%d . tcp . 9080 : goto service-filler-%05d", int(i / 256), i % 256, i
		print " }\n\t}"
		print "\tchain services {\n\t\tip daddr . meta l4proto . th dport vmap @service-ips\n\t}"
		print "\tchain nat-output {\n\t\ttype nat hook output priority -100; policy accept;\n\t\tjump services\n\t}"
		print "\tchain nat-postrouting {\n\t\ttype nat hook postrouting priority 100; policy accept;\n\t\tjump masquerading\n\t}"
		print "}"
	}' > "$out"
}

# bench_gen_ipt N VIP OUT: kube-proxy's iptables mode (iptables-restore
# input, nat table): OUTPUT -> KUBE-SERVICES, one rule per service (a linear
# list: the measured service sits in the middle, the average position) ->
# KUBE-SVC-x (masquerade check, then "-m statistic --mode random
# --probability P" per endpoint but the last) -> KUBE-SEP-x (hairpin
# masquerade check, DNAT); POSTROUTING -> KUBE-POSTROUTING masquerades marked
# packets. The measured service: v2's endpoint with probability 0.5, then
# v1's two with 0.5 each of the rest (25/25/50, as ours and nft).
bench_gen_ipt() {
	local n=$1 vip=$2 out=$3
	# Three passes over the services (chain declarations, the KUBE-SERVICES
	# list, the chains' rules), each printed as it goes.
	awk -v n="$n" -v vip="$vip" '
	function pick(i,   k, a, b) { # service i of 0..n-1 -> name, addr, nep, ep[], prob[]
		if (i == mid) {
			name = "MEASURED"; addr = vip; nep = 3
			ep[1] = "10.201.2.2"; ep[2] = "10.201.1.2"; ep[3] = "10.201.1.3"
			prob[1] = 0.5; prob[2] = 0.5
			return
		}
		k = (i < mid) ? i + 1 : i
		a = int(k / 256); b = k % 256
		name = sprintf("F%05d", k); addr = sprintf("10.97.%d.%d", a, b); nep = 2
		ep[1] = sprintf("10.202.%d.%d", a, b); ep[2] = sprintf("10.203.%d.%d", a, b)
		prob[1] = 0.5
	}
	BEGIN {
		mid = int(n / 2)
		print "*nat"
		print ":KUBE-SERVICES - [0:0]"
		print ":KUBE-MARK-MASQ - [0:0]"
		print ":KUBE-POSTROUTING - [0:0]"
		for (i = 0; i < n; i++) {
			pick(i)
			printf ":KUBE-SVC-%s - [0:0]\n", name
			for (j = 1; j <= nep; j++)
				printf ":KUBE-SEP-%s-%d - [0:0]\n", name, j
		}
		print "-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES"
		print "-A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING"
		print "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000"
		print "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN"
		print "-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0"
		print "-A KUBE-POSTROUTING -j MASQUERADE --random-fully"
		for (i = 0; i < n; i++) {
			pick(i)
			printf "-A KUBE-SERVICES -d %s/32 -p tcp -m tcp --dport 9080 -j KUBE-SVC-%s\n", addr, name
		}
		for (i = 0; i < n; i++) {
			pick(i)
			printf "-A KUBE-SVC-%s ! -s 10.0.0.0/8 -d %s/32 -p tcp -m tcp --dport 9080 -j KUBE-MARK-MASQ\n", name, addr
			for (j = 1; j <= nep; j++) {
				if (j < nep)
					printf "-A KUBE-SVC-%s -m statistic --mode random --probability %.11f -j KUBE-SEP-%s-%d\n", name, prob[j], name, j
				else
					printf "-A KUBE-SVC-%s -j KUBE-SEP-%s-%d\n", name, name, j
				printf "-A KUBE-SEP-%s-%d -s %s/32 -j KUBE-MARK-MASQ\n", name, j, ep[j]
				printf "-A KUBE-SEP-%s-%d -p tcp -m tcp -j DNAT --to-destination %s:9080\n", name, j, ep[j]
			}
		}
		print "COMMIT"
	}' > "$out"
}

# ---- netfilter peers in the client netns ----------------------------------------
# Only ever inside the testbed's client netns (nsenter --net), never the root
# netns. The iptables used is whatever `iptables` is (Debian 12: iptables-nft).
#
# A peer's rules are loaded just before each of its runs and removed right
# after: any dnat/masquerade expression (nft) or DNAT/MASQUERADE target
# (iptables) keeps conntrack on for every connection of the netns, even with
# no base chain hooked, so the other paths (direct, ours) must run with no
# rule loaded at all. The conntrack table is flushed before each peer run so
# every run starts from the same state (and a NATed connection of an earlier
# run cannot clash with a new one on the same client port).

bench__cnf() { nsenter --net="/run/netns/$TB_CLIENT" "$@"; }

bench_nft_load() { bench__cnf nft -f "$1"; }
bench_nft_unload() {
	bench__cnf nft list table ip kube-proxy > /dev/null 2>&1 || return 0
	bench__cnf nft delete table ip kube-proxy
}
bench_ipt_load() { bench__cnf iptables-restore < "$1"; }
bench_ipt_unload() {
	# iptables-nft: flush and delete the nat chains, then the (now empty)
	# "table ip nat" itself, so no nat hook stays registered.
	bench__cnf iptables -t nat -F 2>/dev/null
	bench__cnf iptables -t nat -X 2>/dev/null
	if bench__cnf nft list table ip nat > /dev/null 2>&1; then
		bench__cnf nft delete table ip nat || return 1
	fi
	return 0
}
bench_ct_flush() { bench__cnf conntrack -F > /dev/null 2>&1 || true; }
bench_iptables_variant() {
	local v
	v=$(bench__cnf iptables -V 2>/dev/null)
	echo "${v:-unknown}"
}
# Succeeds if the client netns has no netfilter rule at all.
bench_nf_clean() {
	[ -z "$(bench__cnf nft list ruleset 2>/dev/null)" ]
}
