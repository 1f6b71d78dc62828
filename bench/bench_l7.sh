#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# bench_l7.sh - HTTP requests per second and latency through splitd's L7
# proxy (the seed's test-user cookie rule in force), next to HAProxy with
# the same rule and to the floor (straight to one backend), all in the same
# run on the same netns testbed. Issue 7, item 4.
#
#   bench/bench_l7.sh            full run (~12 min), writes its section of bench/results.md
#   bench/bench_l7.sh --quick    one round of 1 s runs, no warm-up, fewer checks (~20 s),
#                                writes to a temp file (for make test)
#
# Options: --quick, -r/--repeats R (rounds, default 5), -d/--duration S
# (whole seconds per wrk run, default 5), -c/--connections C (default 32),
# -t/--threads T (wrk threads, default 1), -w/--workers N (our proxy's
# workers and HAProxy's nbthread alike, default 1), --proxy-cpus LIST
# (where both proxies and the backends run, default 1), --wrk-cpus LIST
# (where wrk runs, default 0), -n/--check N (requests per correctness
# check, default 200), --no-close (keep-alive runs only), --no-skmsg (no
# sk/sk+ck paths), --no-epoll (no ep/ep+ck paths), --paths LIST (only these
# paths, comma-separated, e.g. ours,ep,hap: quick A/B runs), --perf DIR
# (a system-wide `perf record -g` of every timed run, one file per run in
# DIR: where the CPUs went; the profiler's cost is in the figures),
# --proxy-quota PCT (both proxies capped at PCT% of one CPU each: below),
# --idle-conns N (connections held in the many-connections part, default
# 10000), --no-idle (without that part),
# -o/--out FILE (the results file, default bench/results.md), -h/--help.
#
# Same CPUs, same threads: splitd (all its threads: the proxy's workers,
# its main loop and heartbeat), HAProxy and the backends are pinned to
# --proxy-cpus (taskset), wrk to --wrk-cpus; our proxy runs --workers
# event loops (--l7-workers) and HAProxy --workers threads (nbthread).
#
# The rules: tests/data/seed/route-rule-default-reviews-50.yaml (v1 50,
# v2 50) and route-rule-test-reviews-v2.yaml (cookie
# ^(.*?;)?(user=test-user)(;.*)?$ -> v2), applied with splitctl to a
# running splitd (--l7-addr: the node's addresses) in the node netns.
#
# The paths, each measured with wrk (--latency) from the client netns, with
# C keep-alive connections and then with one connection per request
# ("Connection: close": wrk reconnects after every response):
#   ours      wrk in the testbed's cgroup to the VIP 10.96.0.10:9080: the
#             connect hook sends the connection to splitd's L7 listener in
#             the node netns, which routes each request (v1 50 / v2 50)
#   ours+ck   the same with "Cookie: user=test-user" (every request to v2)
#   hap       HAProxy (the Debian package) in the node netns on the node's
#             address 10.200.0.1:19080, HTTP mode, the same rule: an ACL
#             req.hdr(cookie) -m reg with the same regex -> backend v2, else
#             v1 (10.201.1.2, 10.201.1.3, weight 1 each) and v2 (10.201.2.2,
#             weight 2): 50/50 by version; http-reuse always, keep-alive to
#             the servers
#   hap+ck    the same with the cookie
#   direct    straight to one backend, 10.201.1.2:9080: the floor
#   ep, ep+ck ours and ours+ck with splitd --l7-io epoll: the proxy's event
#             loops on edge-triggered epoll instead of the default io_uring
#             (recvs into provided buffers, each loop turn's sends in one
#             submit); only if the default runs io_uring here (splitd's
#             probe), else ours is epoll already
#   sk, sk+ck ours and ours+ck with splitd --l7-skmsg: the client-to-proxy
#             hop in the kernel (sk_msg redirects between the client's
#             socket and the proxy's accepted one); only if splitd's probe
#             finds it sound here (else left out, and the section says why)
# splitd runs in a child cgroup of the testbed's (as on a node: its pod under
# the attached cgroup; --l7-skmsg needs it there), and is restarted with or
# without --l7-skmsg when the next run needs the other (the rules stay in
# the pinned maps, the listener keeps its port).
# R rounds; in each round every path and mode runs once, the order rotated
# from round to round. Figures: median and range (min - max) over rounds;
# ratios are medians of the per-round ratios.
#
# --proxy-quota PCT: each proxy (splitd with all its threads; HAProxy) runs
# in a CPU cgroup of its own made for the run, both with the same CFS quota:
# PCT% of one CPU (cgroup v1 cpu controller: cpu.cfs_quota_us over a 10 ms
# cpu.cfs_period_us). On this 2-CPU testbed a connection-per-request run is
# otherwise bound by wrk's CPU for our proxy (both paths cost the client's
# CPU alike), so its ratio says how fast wrk is, not how fast the proxies
# are; with the proxies capped well below that, the proxy is what runs out
# on every path and requests/s compare the engines on equal CPU. The
# section is "bench_l7_quota", next to the plain run's (not replacing it),
# and says how many of the proxies' CFS periods were throttled (the share
# near 100% is the proof that the cap, not wrk, set the rate).
#
# Many connections, then (unless --no-idle), for ours and HAProxy in turn,
# IDLE_R rounds of: a probe alone (build/connhold --probe: NPROBE requests
# with the cookie, one after the other, each on a new connection, timed
# from connect to the response's end); --idle-conns N (default 10,000)
# keep-alive connections opened, one request each, then held idle, and the
# probe again while they are held, with the proxy's RSS and thread count at
# that point; 300 slowloris connections (a request line, then a header
# byte every 300 ms) held, and the probe again. The clients run on wrk's CPU
# (ours through the cgroup to the VIP, HAProxy's from the client netns),
# HAProxy's maxconn what the open-file limit allows (up to 30000), splitd
# with --l7-max-per-source N + 1000 (the clients share one address).
# Issue 11's targets: RSS <= 100 MiB and at most workers + 4 threads with
# the idle connections held, and the probe's p99 under 10 ms in both cases. The client netns (the testbed's own) gets
# net.ipv4.tcp_tw_reuse = 1 and the local port range 1024-65535 for this
# part: the held connections are closed by the client, 10,000 TIME_WAITs a
# round to one address.
#
# Correctness, checked in the same run (not timed), before and after the
# timed runs: with the cookie every response comes from v2 (X-Version),
# without it both v1 and v2 answer and v3 never does: build/splitclient
# (N new connections, one request each) and a keep-alive wrk run that
# counts X-Version per response, against ours and HAProxy.
#
# Needs root. Builds its own testbed (unique names, removed on exit, also on
# failure); HAProxy and splitd are processes it starts (killed by PID, their
# configuration in a temp dir). Never pass/fail on timing: it prints figures
# and ratios. Exit 1 only if something broke (a wrong version, the testbed or
# a proxy did not come up, a tool is missing).
set -u
cd "$(dirname "$0")/.." || exit 1
REPO=$(pwd)
source scripts/testbed.sh
source bench/lib.sh

ARGS=("$@")
QUICK=0 R=5 D=5 C=32 T=1 WORKERS=1 NCHECK=200 CLOSE=1 PROXY_CPUS=1 WRK_CPUS=0 SKMSG=1 EPOLL=1 ONLY="" PERF_DIR="" QUOTA=""
IDLE=1 IDLE_N=10000 SLOW_N=300 NPROBE=1000 IDLE_R=3
OUT=$REPO/bench/results.md OUT_SET=0
while [ $# -gt 0 ]; do
	case $1 in
	-c | --connections) C=$2; shift ;;
	-t | --threads) T=$2; shift ;;
	-w | --workers) WORKERS=$2; shift ;;
	--proxy-cpus) PROXY_CPUS=$2; shift ;;
	--wrk-cpus) WRK_CPUS=$2; shift ;;
	-n | --check) NCHECK=$2; shift ;;
	--no-close) CLOSE=0 ;;
	--no-skmsg) SKMSG=0 ;;
	--no-epoll) EPOLL=0 ;;
	--paths) ONLY=",$2,"; shift ;;
	--perf) PERF_DIR=$2; shift ;;
	--proxy-quota) QUOTA=$2; shift ;;
	--no-idle) IDLE=0 ;;
	--idle-conns) IDLE_N=$2; shift ;;
	*) bench_opt "$@" && shift ;;
	esac
	shift
done
if [ $QUICK = 1 ]; then
	R=1 D=1 NCHECK=50 IDLE_N=300 SLOW_N=30 NPROBE=50 IDLE_R=1
fi
[ -z "$QUOTA" ] || IDLE=0	# the capped run compares request rates only
HAP_THREADS=$WORKERS
for v in R D C T WORKERS NCHECK IDLE_N; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || bench_die "$v must be a positive integer (wrk takes whole seconds)"
done
if [ -n "$QUOTA" ]; then
	[[ $QUOTA =~ ^[1-9][0-9]*$ ]] && [ "$QUOTA" -le 100 ] ||
		bench_die "--proxy-quota takes a whole percentage of one CPU, 1 to 100 (got '$QUOTA')"
	# The cgroup v1 cpu controller (cgroup v2's cpu.max would need the
	# controller on the path to splitd's cgroup, which holds wrk too).
	CPU_CG=$(awk '$3 == "cgroup" && $4 ~ /(^|,)cpu(,|$)/ { print $2; exit }' /proc/mounts)
	[ -n "$CPU_CG" ] && [ -e "$CPU_CG/cpu.cfs_quota_us" ] ||
		bench_die "--proxy-quota needs the cgroup v1 cpu controller (cpu.cfs_quota_us), not mounted here"
fi
[ "$(id -u)" = 0 ] || bench_die "run as root (network namespaces, cgroup, BPF)"
# Open files for everything started from here, up to the hard limit (HAProxy
# needs two per connection it may take; the many-connections part holds
# 10,000 per proxy): NOFILE, and HAProxy's maxconn from it.
ulimit -Sn "$(ulimit -Hn)" 2> /dev/null
NOFILE=$(ulimit -Sn)
[ "$NOFILE" = unlimited ] && NOFILE=1048576
HAP_MAXCONN=$(((NOFILE - 100) / 2))
[ "$HAP_MAXCONN" -gt 30000 ] && HAP_MAXCONN=30000
# HAProxy holds at most that many (less a margin for the probe).
HAP_IDLE_N=$((HAP_MAXCONN - 100 < IDLE_N ? HAP_MAXCONN - 100 : IDLE_N))
bench_need "wrk haproxy jq bpftool nsenter flock ethtool taskset" "splitd splitctl splitclient httpd connhold"

# Two processes: this one (the parent) starts the benchmark as a child in a
# session of its own and waits. bash does not always run a script's TERM
# trap when the signal lands while it waits for a command substitution (it
# can die at once, the EXIT trap unrun), so the cleanup must not depend on
# the benchmark's own shell: the child records what it starts in
# $WORK/state, and the parent, whose `wait` always runs its traps, stops
# the child's session and cleans up from that record.
cleanup() {
	local k v tb="" sp="" hp="" cgs=()
	if [ -f "$WORK/state" ]; then
		while read -r k v; do
			case $k in tb) tb=$v ;; splitd) sp=$v ;; haproxy) hp=$v ;; cpucg) cgs+=("$v") ;; esac
		done < "$WORK/state"
	fi
	stop_pid "$hp" haproxy
	stop_pid "$sp" splitd
	# --proxy-quota's CPU cgroups (empty once their proxies are gone)
	for v in "${cgs[@]}"; do rmdir "$v" 2> /dev/null; done
	if [ -n "$tb" ]; then
		# shellcheck disable=SC2034 # read by tb_down
		TB_ID=$tb TB_PIN=/sys/fs/bpf/$tb TB_NODE=$tb-node TB_DIR=${TB_STATE_ROOT:-/tmp}/testbed-$tb
		if [ -d "$TB_PIN" ] && [ -e "/run/netns/$TB_NODE" ]; then
			nsenter --net="/run/netns/$TB_NODE" "$WORK/bin/splitd" -q --unload -p "$TB_PIN" 2> /dev/null
		fi
		tb_down
	fi
	if [ -z "${BENCH_L7_WORK:-}" ]; then
		rm -rf "$WORK"
	fi
	return 0
}
# stop_pid PID NAME: TERM (then KILL after 3 s) a process we started, if it
# is still that program (checked by name against PID reuse).
stop_pid() {
	local pid=$1 name=$2 i
	[ -n "$pid" ] || return 0
	[ "$(cat "/proc/$pid/comm" 2> /dev/null)" = "$name" ] || return 0
	kill -TERM "$pid" 2> /dev/null
	for ((i = 0; i < 60; i++)); do
		[ "$(cat "/proc/$pid/comm" 2> /dev/null)" = "$name" ] || break
		awk '{ exit !($3 == "Z") }' "/proc/$pid/stat" 2> /dev/null && break
		sleep 0.05
	done
	[ "$(cat "/proc/$pid/comm" 2> /dev/null)" = "$name" ] && kill -KILL "$pid" 2> /dev/null
	wait "$pid" 2> /dev/null
	return 0
}

if [ -z "${BENCH_L7_WORK:-}" ]; then
	WORK=$(mktemp -d /tmp/split-bench-l7.XXXXXX) || bench_die "mktemp failed"
	trap cleanup EXIT
	SIG=0
	trap 'SIG=1; kill -TERM "$CHILD" 2> /dev/null' INT TERM
	# setsid: the child leads a new process group (and session) that holds
	# everything it starts, so nothing of it survives it.
	BENCH_L7_WORK=$WORK setsid -w bash "$REPO/bench/bench_l7.sh" "${ARGS[@]}" &
	CHILD=$!
	while :; do
		wait "$CHILD"
		rc=$?
		kill -0 "$CHILD" 2> /dev/null || break	# returned on a signal: wait on
	done
	if [ $SIG = 1 ]; then
		# The child's shell may be gone with its subshells (wrk runs)
		# still there: end its process group (the group $CHILD exists
		# only if the child made it: setsid did not fork).
		kill -TERM -- "-$CHILD" 2> /dev/null
		rc=130
	fi
	exit $rc	# the EXIT trap cleans up after the child
fi
WORK=$BENCH_L7_WORK
# Quick mode never touches bench/results.md: its section goes to a temp
# file (printed at the end, removed on exit).
if [ $QUICK = 1 ] && [ $OUT_SET = 0 ]; then
	OUT=$WORK/results.md
fi
state() { echo "$*" >> "$WORK/state"; }
SPLITD_PID="" HAP_PID=""
trap cleanup EXIT
trap 'exit 130' INT TERM

bench_private_bins "$WORK/bin" splitd splitctl splitclient httpd connhold
T_START=$(date +%s)
PSI0=$(bench_psi_now)

SYSINFO=$(bench_sysinfo)	# at the start: the load average it shows is the start's
RUN_ID="sp$$$(printf '%04x' "$RANDOM")"
state tb "$RUN_ID"
tb_up "$RUN_ID" || bench_die "the testbed did not come up"
# --proxy-quota: a CPU cgroup per proxy, the same quota for both.
quota_dir() { echo "$CPU_CG/split-bench-$RUN_ID-$1"; }
if [ -n "$QUOTA" ]; then
	for q in ours hap; do
		d=$(quota_dir $q)
		mkdir "$d" || bench_die "cannot make the CPU cgroup $d"
		state cpucg "$d"
		echo 10000 > "$d/cpu.cfs_period_us" && echo $((QUOTA * 100)) > "$d/cpu.cfs_quota_us" ||
			bench_die "cannot set the CPU quota of $d"
	done
fi
# quota PROXY PID: with --proxy-quota, the process (all its threads, and
# those it starts later) into that proxy's CPU cgroup.
quota() {
	[ -n "$QUOTA" ] || return 0
	echo "$2" > "$(quota_dir "$1")/cgroup.procs" || bench_die "cannot put $1 (pid $2) in its CPU cgroup"
}
# throttled PATH: "periods throttled" of the path's proxy's CPU cgroup
# ("0 0" without --proxy-quota, and for direct).
throttled() {
	local q
	[ -n "$QUOTA" ] || { echo "0 0"; return; }
	case $1 in ours* | sk* | ep*) q=ours ;; hap*) q=hap ;; *) echo "0 0"; return ;; esac
	awk '$1 == "nr_periods" { p = $2 } $1 == "nr_throttled" { t = $2 } END { print p + 0, t + 0 }' "$(quota_dir $q)/cpu.stat"
}
# The backends run on the proxies' CPUs (every path pays for them alike).
pin() { # CPUS PID: the process and all its threads
	taskset -a -p -c "$1" "$2" > /dev/null || bench_die "taskset -c $1 $2 failed"
}
for p in $(awk '$1 == "pid" { print $2 }' "$TB_DIR/state"); do
	[ "$(cat "/proc/$p/comm" 2> /dev/null)" = httpd ] && pin "$PROXY_CPUS" "$p"
done
VIP=10.96.0.10 PORT=9080 DIRECT=10.201.1.2 HAP_PORT=19080
HAP_ADDR=$TB_NODE_IP4
COOKIE='user=test-user'
SEED=tests/data/seed
ctl() { "$BIN/splitctl" -p "$TB_PIN" "$@"; }

# ---- ours: splitd with its L7 proxy, the seed's rules -------------------------

cp "$(tb_services_file)" "$WORK/services.yaml" || bench_die "no services file"
mkdir -p "$TB_CGROUP/splitd" || bench_die "mkdir $TB_CGROUP/splitd"
: > "$WORK/splitd.log"
SPLITD_MODE="" L7_PORT=""
# l7port: the proxy's IPv4 listener port from l7_listen ("" if none yet).
l7port() {
	bpftool -j map dump pinned "$TB_PIN/l7_listen" 2> /dev/null |
		jq -r '.[] | select(.formatted.value.family == 4) | .formatted.value.port' 2> /dev/null | head -n 1
}
# start_ours plain|skmsg|epoll: splitd in its child cgroup of the testbed's,
# as it comes, with --l7-skmsg or with --l7-io epoll; a restart if the
# running one is another kind.
# Once the rules are applied, waits for the listener and pins all threads.
start_ours() {
	local mode=$1 args=() seen i
	[ "$SPLITD_MODE" = "$mode" ] && return 0
	[ -n "$SPLITD_PID" ] && stop_pid "$SPLITD_PID" splitd
	[ "$mode" = skmsg ] && args=(--l7-skmsg)
	[ "$mode" = epoll ] && args=(--l7-io epoll)
	seen=$(grep -c watching "$WORK/splitd.log" 2> /dev/null)
	# shellcheck disable=SC2016 # $$ and $1.. belong to the inner sh
	sh -c 'echo $$ > "$1/cgroup.procs" && ns=$2 && shift 2 && exec nsenter --net="/run/netns/$ns" "$@"' \
		sh "$TB_CGROUP/splitd" "$TB_NODE" "$BIN/splitd" -c "$WORK/services.yaml" -g "$TB_CGROUP" \
		-p "$TB_PIN" --metrics 127.0.0.1:0 --l7-addr "$TB_NODE_IP4" --l7-addr "$TB_NODE_IP6" \
		--l7-workers "$WORKERS" --l7-drain-ms 500 --l7-max-per-source $((IDLE_N + 1000)) "${args[@]}" >> "$WORK/splitd.log" 2>&1 < /dev/null &
	SPLITD_PID=$!
	state splitd "$SPLITD_PID"
	# (sh, then nsenter, exec splitd: the PID is alive all along)
	for ((i = 0; i < 200; i++)); do
		[ "$(grep -c watching "$WORK/splitd.log")" -gt "${seen:-0}" ] && break
		kill -0 "$SPLITD_PID" 2> /dev/null || break
		awk '{ exit !($3 == "Z") }' "/proc/$SPLITD_PID/stat" 2> /dev/null && break
		sleep 0.1
	done
	[ "$(grep -c watching "$WORK/splitd.log")" -gt "${seen:-0}" ] ||
		{ cat "$WORK/splitd.log" >&2; bench_die "splitd ($mode) did not start"; }
	SPLITD_MODE=$mode
	if [ -n "$L7_PORT" ]; then
		for ((i = 0; i < 50; i++)); do
			[ -n "$(l7port)" ] && break
			sleep 0.1
		done
		[ -n "$(l7port)" ] || { cat "$WORK/splitd.log" >&2; bench_die "splitd's L7 listener did not come back ($mode)"; }
		pin "$PROXY_CPUS" "$SPLITD_PID"
		quota ours "$SPLITD_PID"
	fi
}
# ours_for PATH: the splitd that PATH needs (sk paths: --l7-skmsg).
ours_for() {
	case $1 in
	sk*) start_ours skmsg ;;
	ep*) start_ours epoll ;;
	ours*) start_ours plain ;;
	esac
}
SK_WHY=""
if [ $SKMSG = 1 ]; then
	# Does --l7-skmsg turn on here? (its probe, and splitd in the cgroup)
	lines=$(wc -l < "$WORK/splitd.log" 2> /dev/null || echo 0)
	start_ours skmsg
	if ! tail -n +"$((lines + 1))" "$WORK/splitd.log" | grep -q -- "--l7-skmsg: on"; then
		SK_WHY=$(tail -n +"$((lines + 1))" "$WORK/splitd.log" | grep -- "--l7-skmsg" | head -n 1 | sed 's/^.*splitd: //')
		SKMSG=0
	else
		SK_WHY=$(tail -n +"$((lines + 1))" "$WORK/splitd.log" | grep -- "--l7-skmsg: probe" | head -n 1 | sed 's/^.*--l7-skmsg: //')
	fi
	bench_log "--l7-skmsg: $([ $SKMSG = 1 ] && echo "on ($SK_WHY)" || echo "left out: $SK_WHY")"
fi
# ours: splitd's default backend (io_uring where its probe accepts it).
lines=$(wc -l < "$WORK/splitd.log" 2> /dev/null || echo 0)
start_ours plain
sleep 0.3
IO_WHY=$(tail -n +"$((lines + 1))" "$WORK/splitd.log" | grep -E "L7 proxy: [0-9]+ workers" | head -n 1 | sed 's/^.*workers, //')
if ! tail -n +"$((lines + 1))" "$WORK/splitd.log" | grep -E "L7 proxy: [0-9]+ workers" | grep -q io_uring; then
	EPOLL=0		# ours runs epoll already
fi
bench_log "ours: the default backend: ${IO_WHY:-?}; the ep paths (--l7-io epoll): $([ $EPOLL = 1 ] && echo in || echo "left out")"
ctl apply -f "$SEED/route-rule-default-reviews-50.yaml" > /dev/null || bench_die "splitctl apply (50/50) failed"
ctl apply -f "$SEED/route-rule-test-reviews-v2.yaml" > /dev/null || bench_die "splitctl apply (test-user) failed"
for ((i = 0; i < 50; i++)); do
	L7_PORT=$(l7port)
	[ -n "$L7_PORT" ] && break
	sleep 0.1
done
[ -n "$L7_PORT" ] || { cat "$WORK/splitd.log" >&2; bench_die "splitd's L7 listener did not appear in l7_listen"; }
pin "$PROXY_CPUS" "$SPLITD_PID"	# all its threads, the workers started by now
quota ours "$SPLITD_PID"
bench_log "testbed $TB_ID up; splitd (pid $SPLITD_PID) proxies $VIP:$PORT on $TB_NODE_IP4:$L7_PORT"

# ---- HAProxy: the same rule ---------------------------------------------------------

HAP_CFG=$WORK/haproxy.cfg
cat > "$HAP_CFG" << EOF
# bench/bench_l7.sh: the seed's rules for reviews, as HAProxy config.
global
	nbthread $HAP_THREADS
	maxconn $HAP_MAXCONN
defaults
	mode http
	option http-keep-alive
	http-reuse always
	timeout connect 3s
	timeout client 300s
	timeout server 300s
	timeout http-keep-alive 300s
	timeout http-request 10s
frontend reviews
	bind $HAP_ADDR:$HAP_PORT
	acl test_user req.hdr(cookie) -m reg '^(.*?;)?(user=test-user)(;.*)?\$'
	use_backend reviews-v2 if test_user
	default_backend reviews-default
# route-rule-default-reviews-50: v1 50 (two endpoints), v2 50 (one).
backend reviews-default
	balance roundrobin
	server v1-a 10.201.1.2:$PORT weight 1
	server v1-b 10.201.1.3:$PORT weight 1
	server v2-a 10.201.2.2:$PORT weight 2
# route-rule-test-reviews-v2: the test-user cookie -> v2.
backend reviews-v2
	server v2-a 10.201.2.2:$PORT
EOF
haproxy -c -q -f "$HAP_CFG" || bench_die "haproxy rejects its configuration ($HAP_CFG)"
# nsenter --net execs haproxy: $! is HAProxy's PID (-db: foreground, no fork).
nsenter --net="/run/netns/$TB_NODE" haproxy -db -f "$HAP_CFG" > "$WORK/haproxy.log" 2>&1 < /dev/null &
HAP_PID=$!
state haproxy "$HAP_PID"
for ((i = 0; i < 100; i++)); do
	tb_in "$TB_CLIENT" curl -s -o /dev/null --max-time 1 "http://$HAP_ADDR:$HAP_PORT/" && break
	[ "$(cat "/proc/$HAP_PID/comm" 2> /dev/null)" = haproxy ] || break
	sleep 0.1
done
[ "$(cat "/proc/$HAP_PID/comm" 2> /dev/null)" = haproxy ] ||
	{ cat "$WORK/haproxy.log" >&2; bench_die "haproxy did not start"; }
pin "$PROXY_CPUS" "$HAP_PID"
quota hap "$HAP_PID"
HAP_VERSION=$(haproxy -v 2> /dev/null | awk 'NR == 1 { print $3; exit }')
bench_log "HAProxy $HAP_VERSION (pid $HAP_PID, nbthread $HAP_THREADS) on $HAP_ADDR:$HAP_PORT"

# ---- wrk ----------------------------------------------------------------------------

# The timed runs: only done() (no per-response Lua, which would slow wrk).
cat > "$WORK/report.lua" << 'EOF'
done = function(summary, latency, requests)
	local e = summary.errors
	io.write(string.format("result requests %d duration_us %d p50_us %d p99_us %d connect %d read %d write %d status %d timeout %d\n",
		summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
		e.connect, e.read, e.write, e.status, e.timeout))
end
EOF
# The correctness runs: count X-Version (and non-200) per response.
cat > "$WORK/count.lua" << 'EOF'
local threads = {}
setup = function(thread) table.insert(threads, thread) end
init = function(args) n_v1 = 0; n_v2 = 0; n_v3 = 0; n_other = 0; n_bad = 0 end
response = function(status, headers, body)
	-- Any case: HAProxy sends header names in lower case.
	local v = headers["X-Version"] or headers["x-version"]
	if status ~= 200 then n_bad = n_bad + 1 end
	if v == "v1" then n_v1 = n_v1 + 1 elseif v == "v2" then n_v2 = n_v2 + 1
	elseif v == "v3" then n_v3 = n_v3 + 1 else n_other = n_other + 1 end
end
done = function(summary, latency, requests)
	local t = { v1 = 0, v2 = 0, v3 = 0, other = 0, bad = 0 }
	for _, th in ipairs(threads) do
		t.v1 = t.v1 + th:get("n_v1"); t.v2 = t.v2 + th:get("n_v2"); t.v3 = t.v3 + th:get("n_v3")
		t.other = t.other + th:get("n_other"); t.bad = t.bad + th:get("n_bad")
	end
	io.write(string.format("count v1 %d v2 %d v3 %d other %d non200 %d\n", t.v1, t.v2, t.v3, t.other, t.bad))
end
EOF

# url PATH: the URL a path's wrk runs use.
url() {
	case $1 in
	ours* | sk* | ep*) echo "http://$VIP:$PORT/" ;;
	hap*) echo "http://$HAP_ADDR:$HAP_PORT/" ;;
	direct) echo "http://$DIRECT:$PORT/" ;;
	esac
}
# in_client PATH CMD...: ours runs in the cgroup (the connect hook sends it to
# the proxy), the others in the client netns only.
in_client() {
	local p=$1
	shift
	case $p in
	ours* | sk* | ep*) tb_client "$@" ;;
	*) tb_in "$TB_CLIENT" "$@" ;;
	esac
}
# hdrs PATH MODE: wrk's -H arguments, one per line.
hdrs() {
	case $1 in *+ck) printf '%s\n' -H "Cookie: $COOKIE" ;; esac
	[ "$2" = close ] && printf '%s\n' -H "Connection: close"
	return 0
}

# Accepted TCP connections in the backends' netns (Tcp PassiveOpens of v1
# and v2): how many connections the path opened to the servers.
backend_opens() {
	local ns n=0 x
	for ns in "$TB_V1" "$TB_V2"; do
		x=$(nsenter --net="/run/netns/$ns" cat /proc/net/snmp |
			awk '$1 == "Tcp:" { if (!h) { for (i = 2; i <= NF; i++) if ($i == "PassiveOpens") c = i; h = 1 } else print $c }')
		n=$((n + ${x:-0}))
	done
	echo "$n"
}
# CPU time (utime + stime of all threads, in clock ticks) of a proxy.
proxy_ticks() {
	local pid
	case $1 in
	ours* | sk* | ep*) pid=$SPLITD_PID ;;
	hap*) pid=$HAP_PID ;;
	*) echo 0; return ;;
	esac
	awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat"
}
HZ=$(getconf CLK_TCK 2> /dev/null || echo 100)

# cpu_snap: "cpuN user system softirq idle ..." for every CPU (jiffies).
cpu_snap() { awk '/^cpu[0-9]/ { printf "%s %d %d %d %d ", $1, $2 + $3, $4, $7 + $8, $5 + $6 }' /proc/stat; }
# busy_of SNAP0 SNAP1 LIST: how busy the CPUs of LIST (e.g. 0 or 0,1) were
# over the run, in % (their mean).
busy_of() {
	awk -v a="$1" -v b="$2" -v l="$3" 'BEGIN { n = split(a, x, " "); split(b, y, " "); m = split(l, c, ",")
		for (k = 1; k <= m; k++) want["cpu" c[k]] = 1
		for (i = 1; i + 4 <= n; i += 5) if (x[i] in want) {
			busy += (y[i+1] - x[i+1]) + (y[i+2] - x[i+2]) + (y[i+3] - x[i+3]); t += (y[i+1] - x[i+1]) + (y[i+2] - x[i+2]) + (y[i+3] - x[i+3]) + (y[i+4] - x[i+4]) }
		printf "%.0f\n", (t > 0 ? 100 * busy / t : 0) }'
}
# cpu_busy SNAP0 SNAP1: per CPU, the share of the run it was busy and how
# (user / system / softirq and irq), for the log: is wrk's CPU or the
# proxy's the one that ran out?
cpu_busy() {
	awk -v a="$1" -v b="$2" 'BEGIN { n = split(a, x, " "); split(b, y, " ")
		for (i = 1; i + 4 <= n; i += 5) { u = y[i+1] - x[i+1]; s = y[i+2] - x[i+2]; q = y[i+3] - x[i+3]; d = y[i+4] - x[i+4]; t = u + s + q + d
			if (t > 0) printf "%s %d%% (us %d sy %d si %d) ", x[i], 100 * (u + s + q) / t, 100 * u / t, 100 * s / t, 100 * q / t } }'
}

# run PATH MODE: one timed wrk run. Prints
# "rate p50_us p99_us requests errors non2xx backend_conns proxy_cpu_us".
run() {
	local p=$1 m=$2 out rc=0 o0 o1 c0 c1 s0 s1 q0 q1 qp0 qt0 qp1 qt1 h=()
	mapfile -t h < <(hdrs "$p" "$m")
	o0=$(backend_opens) c0=$(proxy_ticks "$p") s0=$(cpu_snap) q0=$(throttled "$p")
	if [ -n "$PERF_DIR" ]; then
		perf record -q -a -g -o "$PERF_DIR/$p.$m.$(date +%s).data" -- sleep "$D" 2> /dev/null &
	fi
	out=$(in_client "$p" taskset -c "$WRK_CPUS" wrk -t "$T" -c "$C" -d "${D}s" --timeout 3s --latency -s "$WORK/report.lua" \
		"${h[@]}" "$(url "$p")" 2>&1) || rc=$?
	o1=$(backend_opens) c1=$(proxy_ticks "$p") s1=$(cpu_snap) q1=$(throttled "$p")
	[ -z "$PERF_DIR" ] || wait
	echo "    $p $m: CPUs busy: $(cpu_busy "$s0" "$s1")" >&2
	read -r qp0 qt0 <<< "$q0"
	read -r qp1 qt1 <<< "$q1"
	# A capped proxy that ran outside its cgroup would make the section a lie.
	[ -z "$QUOTA" ] || [ "$p" = direct ] || [ "$qp1" -gt "$qp0" ] ||
		bench_die "$p $m: the proxy's CPU cgroup counted no CFS period (is it in its CPU cgroup?)"
	echo "$(busy_of "$s0" "$s1" "$WRK_CPUS") $(busy_of "$s0" "$s1" "$PROXY_CPUS") $((qp1 > qp0 ? 100 * (qt1 - qt0) / (qp1 - qp0) : 0))" >> "$WORK/busy.$m.$p"
	if [ $rc != 0 ] || ! grep -q '^result ' <<< "$out"; then
		echo "$out" >&2
		bench_die "wrk failed (exit $rc) on $p $m"
	fi
	awk -v o=$((o1 - o0)) -v cpu=$((c1 - c0)) -v hz="$HZ" '$1 == "result" {
		for (i = 2; i < NF; i += 2) v[$i] = $(i + 1)
		printf "%.1f %d %d %d %d %d %d %.0f\n", v["requests"] / (v["duration_us"] / 1e6),
			v["p50_us"], v["p99_us"], v["requests"],
			v["connect"] + v["read"] + v["write"] + v["timeout"], v["status"], o, cpu * 1e6 / hz }' <<< "$out"
}

# ---- correctness ---------------------------------------------------------------------

# check PATH WHEN: splitclient (NCHECK new connections, one request each) and a
# 1 s keep-alive wrk run counting X-Version. With the cookie: all v2; without:
# v1 and v2 both, no v3. Dies on a wrong answer; prints one summary line.
check() {
	local p=$1 when=$2 out rc=0 tgt port v1 v2 v3 fail tot w hargs=() kv1 kv2 kv3 kother kbad
	case $p in
	ours* | sk* | ep*) tgt=$VIP port=$PORT ;;
	hap*) tgt=$HAP_ADDR port=$HAP_PORT ;;
	esac
	case $p in *+ck) hargs=(--header "Cookie: $COOKIE") ;; esac
	out=$(in_client "$p" "$BIN/splitclient" --connect "$tgt" --port "$port" -n "$NCHECK" \
		--parallel 2 --timeout-ms 3000 "${hargs[@]}" 2>&1) || rc=$?
	tot=$(awk '$1 == "total" { print $2 }' <<< "$out")
	fail=$(awk '$1 == "total" { for (i = 1; i < NF; i++) if ($i == "fail") print $(i + 1) }' <<< "$out")
	v1=$(awk '$1 == "version" && $2 == "v1" { print $3 }' <<< "$out")
	v2=$(awk '$1 == "version" && $2 == "v2" { print $3 }' <<< "$out")
	v3=$(awk '$1 == "version" && $2 == "v3" { print $3 }' <<< "$out")
	v1=${v1:-0} v2=${v2:-0} v3=${v3:-0}
	if [ $rc != 0 ] || [ "${tot:-0}" != "$NCHECK" ] || [ "${fail:-1}" != 0 ]; then
		echo "$out" >&2
		bench_die "$p ($when): splitclient failed (exit $rc)"
	fi
	case $p in
	*+ck) [ "$v2" = "$NCHECK" ] || { echo "$out" >&2; bench_die "$p ($when): with the cookie v1=$v1 v2=$v2 v3=$v3 of $NCHECK (want all v2)"; } ;;
	*) [ "$v1" -gt 0 ] && [ "$v2" -gt 0 ] && [ "$v3" = 0 ] ||
		{ echo "$out" >&2; bench_die "$p ($when): without the cookie v1=$v1 v2=$v2 v3=$v3 of $NCHECK (want v1 and v2)"; } ;;
	esac
	case $p in
	*+ck) hargs=(-H "Cookie: $COOKIE") ;;
	*) if [ $QUICK = 1 ]; then # quick mode: the keep-alive count with the cookie only
		echo "$p $when: splitclient v1 v2 v3 = $v1 $v2 $v3 of $NCHECK"
		return 0
	fi ;;
	esac
	w=$(in_client "$p" wrk -t 1 -c 4 -d 1s --timeout 3s -s "$WORK/count.lua" \
		"${hargs[@]}" "$(url "$p")" 2>&1) ||
		{ echo "$w" >&2; bench_die "$p ($when): wrk count run failed"; }
	read -r kv1 kv2 kv3 kother kbad <<< "$(awk '$1 == "count" { print $3, $5, $7, $9, $11 }' <<< "$w")"
	[ -n "${kbad:-}" ] || { echo "$w" >&2; bench_die "$p ($when): no count from wrk"; }
	case $p in
	*+ck) [ "$kv1$kv3$kother$kbad" = 0000 ] && [ "$kv2" -gt 0 ] ||
		bench_die "$p ($when): keep-alive with the cookie v1=$kv1 v2=$kv2 v3=$kv3 other=$kother non-200=$kbad (want all v2)" ;;
	*) [ "$kv1" -gt 0 ] && [ "$kv2" -gt 0 ] && [ "$kv3$kother$kbad" = 000 ] ||
		bench_die "$p ($when): keep-alive without the cookie v1=$kv1 v2=$kv2 v3=$kv3 other=$kother non-200=$kbad" ;;
	esac
	echo "$p $when: splitclient v1 v2 v3 = $v1 $v2 $v3 of $NCHECK; wrk keep-alive v1 v2 v3 = $kv1 $kv2 $kv3 of $((kv1 + kv2 + kv3 + kother)) (non-200: $kbad)"
}

CHECK_PATHS=(ours+ck ours hap+ck hap)
[ $SKMSG = 1 ] && CHECK_PATHS+=(sk+ck sk)
[ $EPOLL = 1 ] && CHECK_PATHS+=(ep+ck ep)
# --paths: only those (HAProxy's stay in for the ratios)
only() {
	local p out=()
	for p in "$@"; do
		case $p in hap* | direct) out+=("$p") ;; *) [ -z "$ONLY" ] || [[ $ONLY == *",$p,"* ]] && out+=("$p") ;; esac
	done
	echo "${out[@]}"
}
read -r -a CHECK_PATHS <<< "$(only "${CHECK_PATHS[@]}")"
: > "$WORK/checks"
for p in "${CHECK_PATHS[@]}"; do
	ours_for "$p"
	line=$(check "$p" before) || exit 1
	bench_log "check $line"
	echo "$line" >> "$WORK/checks"
done

# ---- the timed runs -----------------------------------------------------------------

PATHS=(ours ours+ck hap hap+ck direct)
[ $SKMSG = 1 ] && PATHS+=(sk sk+ck)
[ $EPOLL = 1 ] && PATHS+=(ep ep+ck)
read -r -a PATHS <<< "$(only "${PATHS[@]}")"
MODES=(ka)
[ $CLOSE = 1 ] && MODES+=(close)
RUNS=()
for m in "${MODES[@]}"; do
	for p in "${PATHS[@]}"; do RUNS+=("$m:$p"); done
done
# Warm-up (not recorded): pools, caches, the first thread stacks.
[ $QUICK = 1 ] || for p in $(only ours hap direct $([ $SKMSG = 1 ] && echo sk) $([ $EPOLL = 1 ] && echo ep)); do
	ours_for "$p"
	in_client "$p" taskset -c "$WRK_CPUS" wrk -t "$T" -c "$C" -d 1s "$(url "$p")" > /dev/null 2>&1
done
bench_log "$R rounds x ${#RUNS[@]} runs x $D s; wrk -t $T -c $C"
for ((r = 0; r < R; r++)); do
	for ((i = 0; i < ${#RUNS[@]}; i++)); do
		k=${RUNS[$(((i + r) % ${#RUNS[@]}))]}
		ours_for "${k#*:}"
		res=$(run "${k#*:}" "${k%%:*}") || exit 1
		echo "$res" >> "$WORK/r.${k/:/.}"
		read -r rate p50 p99 _ errs non2 bo cpu <<< "$res"
		printf '  %-14s round %d/%d: %s req/s, p50 %s us, p99 %s us, errors %s, non-2xx %s, backend conns %s, proxy CPU %s us\n' \
			"$k" $((r + 1)) "$R" "$rate" "$p50" "$p99" "$errs" "$non2" "$bo" "$cpu" >&2
	done
done

# ---- many idle connections, slowloris ------------------------------------------------

# idle_target PROXY: "ADDR PORT" the clients connect to.
idle_target() { case $1 in ours) echo "$VIP $PORT" ;; hap) echo "$HAP_ADDR $HAP_PORT" ;; esac; }
idle_pid() { case $1 in ours) echo "$SPLITD_PID" ;; hap) echo "$HAP_PID" ;; esac; }
status_of() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
# hold_start PROXY OUT ARGS...: connhold holding connections (in the
# proxy's client context, on wrk's CPU) until hold_stop; 0 once all are open.
HOLD_PIDFILE=$WORK/hold.pid
hold_start() {
	local p=$1 out=$2 i a port
	shift 2
	read -r a port <<< "$(idle_target "$p")"
	rm -f "$HOLD_PIDFILE"
	# shellcheck disable=SC2016 # $$ and $@ belong to the inner bash
	in_client "$p" taskset -c "$WRK_CPUS" bash -c 'echo $$ > "$1"; shift; exec "$@"' _ \
		"$HOLD_PIDFILE" "$BIN/connhold" --connect "$a" --port "$port" --hold 600 "$@" > "$out" 2>&1 &
	HOLD_JOB=$!
	for ((i = 0; i < 900; i++)); do
		grep -q '^ready open [0-9]* failed [0-9]*$' "$out" 2> /dev/null && return 0
		[ -s "$HOLD_PIDFILE" ] && ! kill -0 "$(cat "$HOLD_PIDFILE")" 2> /dev/null && break
		sleep 0.1
	done
	cat "$out" >&2
	return 1
}
# hold_stop: end the connhold that hold_start started (by its PID).
hold_stop() {
	local pid
	pid=$(cat "$HOLD_PIDFILE" 2> /dev/null)
	[ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2> /dev/null)" = connhold ] && kill -TERM "$pid" 2> /dev/null
	wait "$HOLD_JOB" 2> /dev/null
	rm -f "$HOLD_PIDFILE"
}
# idle_probe PROXY: "p50 p99 max fail" of NPROBE timed requests.
idle_probe() {
	local out a port
	read -r a port <<< "$(idle_target "$1")"
	out=$(in_client "$1" taskset -c "$WRK_CPUS" "$BIN/connhold" --connect "$a" --port "$port" \
		--probe "$NPROBE" --header "Cookie: $COOKIE" 2>&1)
	awk '$1 == "probe" { for (i = 2; i < NF; i++) v[$i] = $(i + 1); print v["p50_us"], v["p99_us"], v["max_us"], v["fail"]; f = 1 }
		END { if (!f) print "nan nan nan nan" }' <<< "$out"
}
# idle_row PROXY PHASE OPEN: one measurement into $WORK/idle.PROXY.PHASE:
# "p50 p99 max fail rss_kib threads open".
idle_row() {
	local pid
	pid=$(idle_pid "$1")
	echo "$(idle_probe "$1") $(status_of "$pid" VmRSS) $(status_of "$pid" Threads) $3" >> "$WORK/idle.$1.$2"
}
if [ $IDLE = 1 ]; then
	tb_in "$TB_CLIENT" sysctl -qw net.ipv4.tcp_tw_reuse=1 "net.ipv4.ip_local_port_range=1024 65535" ||
		bench_die "cannot set the client netns's sysctls"
	bench_log "many connections: $IDLE_R rounds of: probe alone, with $IDLE_N idle keep-alive connections held, with $SLOW_N slowloris connections ($NPROBE probe requests each)"
	start_ours plain
	for ((r = 0; r < IDLE_R; r++)); do
		for p in ours hap; do
			idle_row "$p" alone 0
			n=$IDLE_N
			[ $p = hap ] && n=$HAP_IDLE_N
			hold_start "$p" "$WORK/hold.out" -n "$n" --request || bench_die "$p: connhold did not open $n connections"
			idle_row "$p" idle "$(awk '$1 == "ready" { print $3 }' "$WORK/hold.out")"
			hold_stop
			hold_start "$p" "$WORK/hold.out" -n "$SLOW_N" --trickle-ms 300 || bench_die "$p: connhold (slowloris) did not start"
			idle_row "$p" slow "$(awk '$1 == "ready" { print $3 }' "$WORK/hold.out")"
			hold_stop
			bench_log "  many connections round $((r + 1))/$IDLE_R $p: alone $(tail -n 1 "$WORK/idle.$p.alone"); idle $(tail -n 1 "$WORK/idle.$p.idle"); slowloris $(tail -n 1 "$WORK/idle.$p.slow") (p50 p99 max fail rss_kib threads open)"
		done
	done
fi

# (Quick mode: before only.)
[ $QUICK = 1 ] || for p in "${CHECK_PATHS[@]}"; do
	ours_for "$p"
	line=$(check "$p" after) || exit 1
	bench_log "check $line"
	echo "$line" >> "$WORK/checks"
done

# The --l7-skmsg splitds' own counters (each logs them when it stops):
# what the kernel redirected during their runs.
SK_COUNTS=""
if [ $SKMSG = 1 ]; then
	start_ours plain
	SK_COUNTS=$(grep -- "--l7-skmsg: .* ends put in the map" "$WORK/splitd.log" |
		sed -E 's/.*--l7-skmsg: ([0-9]+) client and ([0-9]+) proxy ends put in the map \(([0-9]+) refused\); ([0-9]+) writes \(([0-9]+) bytes\) redirected, ([0-9]+) writes \(([0-9]+) bytes\) through TCP, ([0-9]+) ends moved.*/\1 \2 \3 \4 \5 \6 \7 \8/' |
		awk '{ for (i = 1; i <= 8; i++) t[i] += $i } END {
			printf "%d client and %d proxy ends put in the sockhash (%d refused); %d writes (%.1f MiB) redirected, %d writes (%.1f MiB) through TCP (ends not yet or no longer in the map), %d ends moved to TCP by backpressure",
				t[1], t[2], t[3], t[4], t[5] / 1048576, t[6], t[7] / 1048576, t[8] }')
	bench_log "--l7-skmsg counters over the sk runs: $SK_COUNTS"
fi

# ---- tables ----------------------------------------------------------------------------

col() { awk -v c="$2" '{ print $c }' "$WORK/$1"; }
# ratio A B COLUMN: per-round A/B of a column -> "median min max".
ratio() {
	# shellcheck disable=SC2046
	bench_stats $(paste -d' ' "$WORK/$1" "$WORK/$2" | awk -v c="$3" '{ if ($(c + 8) > 0) print $c / $(c + 8) }')
}
# fmt3 DECIMALS MEDIAN MIN MAX: "median (min - max)" (bench_fmt without
# its forks: the tables format a few hundred numbers).
fmt3() {
	local d=$1 x out=()
	shift
	for x in "$@"; do
		case $x in nan | "" | n/a) out+=(n/a) ;; *) out+=("$(printf '%.*f' "$d" "$x")") ;; esac
	done
	echo "${out[0]} (${out[1]} - ${out[2]})"
}
# stat3 FILE COLUMN: "median (min - max)" of a column, no decimals.
stat3() {
	# shellcheck disable=SC2046
	fmt3 0 $(bench_stats $(col "$1" "$2"))
}
# ratio3 A B COLUMN: "median (min - max)" of the per-round ratios.
ratio3() {
	# shellcheck disable=SC2046
	fmt3 2 $(ratio "$@")
}
declare -A LABEL=(
	[ours]="**ours**: splitd's L7 proxy, no cookie (v1 50 / v2 50)"
	[ours+ck]="**ours**: splitd's L7 proxy, \`Cookie: user=test-user\` (v2)"
	[hap]="HAProxy $HAP_VERSION, no cookie (v1 50 / v2 50)"
	[hap+ck]="HAProxy $HAP_VERSION, \`Cookie: user=test-user\` (v2)"
	[direct]="direct to one backend, 10.201.1.2 (floor)"
	[sk]="**ours + \`--l7-skmsg\`**: the client hop by sk_msg, no cookie (v1 50 / v2 50)"
	[sk+ck]="**ours + \`--l7-skmsg\`**: the client hop by sk_msg, \`Cookie: user=test-user\` (v2)"
	[ep]="**ours + \`--l7-io epoll\`**: the loops on epoll, no cookie (v1 50 / v2 50)"
	[ep+ck]="**ours + \`--l7-io epoll\`**: the loops on epoll, \`Cookie: user=test-user\` (v2)"
)
declare -A PEER=([ours]=hap [ours+ck]=hap+ck [hap]=hap [hap+ck]=hap+ck [direct]=hap [sk]=hap [sk+ck]=hap+ck [ep]=hap [ep+ck]=hap+ck)
declare -A MODE_LABEL=([ka]="keep-alive ($C connections)" [close]="connection per request (\`Connection: close\`)")
TABLE=$WORK/table.md
ERRS=0 NON2=0 OURS_ERRS=0 OURS_NON2=0 CLOSE_BC=""
{
	echo "| connections | path | requests/s: median (min - max) | p50 us | p99 us | req/s vs HAProxy | req/s vs direct | p50 vs HAProxy | backend connections per 1000 requests | proxy CPU us per request | errors / non-2xx |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for m in "${MODES[@]}"; do
		for p in "${PATHS[@]}"; do
			f="r.$m.$p"
			e=$(awk '{ e += $5 } END { print e + 0 }' "$WORK/$f")
			n2=$(awk '{ e += $6 } END { print e + 0 }' "$WORK/$f")
			ERRS=$((ERRS + e)) NON2=$((NON2 + n2))
			case $p in ours* | sk* | ep*) OURS_ERRS=$((OURS_ERRS + e)) OURS_NON2=$((OURS_NON2 + n2)) ;; esac
			bc=$(awk '{ r += $4; o += $7 } END { if (r) printf "%.1f", o * 1000 / r; else print "n/a" }' "$WORK/$f")
			if [ "$p" = direct ]; then
				cpu="n/a"
			else
				cpu=$(awk '{ r += $4; c += $8 } END { if (r) printf "%.1f", c / r; else print "n/a" }' "$WORK/$f")
			fi
			[ "$m:$p" = close:ours ] && CLOSE_BC=$bc
			printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s |\n' \
				"${MODE_LABEL[$m]}" "${LABEL[$p]}" "$(stat3 "$f" 1)" "$(stat3 "$f" 2)" "$(stat3 "$f" 3)" \
				"$(ratio3 "$f" "r.$m.${PEER[$p]}" 1)" "$(ratio3 "$f" "r.$m.direct" 1)" \
				"$(ratio3 "$f" "r.$m.${PEER[$p]}" 2)" "$bc" "$cpu" "$e" "$n2"
		done
	done
} > "$TABLE"
echo
cat "$TABLE"
echo
cat "$WORK/checks"
echo

# ---- results ----------------------------------------------------------------------------

T_TOTAL=$(($(date +%s) - T_START))
PSI=$(bench_psi_share "${PSI0:-}" "$T_TOTAL")
WRK_VERSION=$(wrk -v 2>&1 | awk 'NR == 1 { print $2; exit }')
SECTION=$WORK/section.md
{
	if [ -n "$QUOTA" ]; then
		echo "## L7 with both proxies capped at $QUOTA% of a CPU: the engines on equal CPU (bench/bench_l7.sh --proxy-quota $QUOTA)"
		echo
		echo "The same benchmark as the L7 section above, with one change: each proxy (splitd with all its threads; HAProxy) runs in a CPU cgroup of its own made for the run, both with the same CFS quota, $QUOTA% of one CPU (cgroup v1 \`cpu.cfs_quota_us\` $((QUOTA * 100)) us per 10,000 us \`cpu.cfs_period_us\`). In the plain run a connection-per-request client (one wrk thread on its own CPU) runs out of CPU before our proxy does, and costs the same per connection on both paths, so that ratio measures wrk; capped, the proxy runs out first on every path (the share of its CFS periods that were throttled is below the table), and requests/s compare what each engine does with the same CPU. The backends and the kernel work of the proxies' packets that runs in softirq outside their process context are not capped (the same for both)."
		echo
	else
		echo "## L7: HTTP requests through the proxy, next to HAProxy (bench/bench_l7.sh)"
		echo
	fi
	echo "$SYSINFO"
	echo "- settings: $R rounds x ${#RUNS[@]} runs (${#PATHS[@]} paths x ${#MODES[@]} connection modes) x $D s, the order rotated each round; wrk $WRK_VERSION -t $T -c $C -d ${D}s --latency --timeout 3s, \`GET /\` (a 12-byte body); total run time ${T_TOTAL} s; CPU pressure during the run (PSI some): $PSI of the time some task waited for a CPU$([ $QUICK = 1 ] && echo '; QUICK MODE (one 1 s round: figures not meaningful)')"
	echo "- **pinned**: both proxies and the backends on CPU $PROXY_CPUS, wrk on CPU $WRK_CPUS (taskset; the machine has $(nproc) CPUs and other jobs may run on them too, so ratios matter more than absolute rates); **same threads**: our proxy \`--l7-workers $WORKERS\`, HAProxy \`nbthread $HAP_THREADS\`"
	echo "- rules: \`tests/data/seed/route-rule-default-reviews-50.yaml\` (v1 50 / v2 50) and \`route-rule-test-reviews-v2.yaml\` (\`cookie\` matching \`^(.*?;)?(user=test-user)(;.*)?\$\` -> v2), applied with \`splitctl apply\` to a running \`splitd --l7-addr $TB_NODE_IP4 --l7-addr $TB_NODE_IP6\` in the node netns. ours: wrk in the client netns and the testbed's cgroup connects to the VIP $VIP:$PORT; the connect hook sends it to splitd's listener ($TB_NODE_IP4:$L7_PORT), which routes each request (istio/istio_match.c's matcher on the cookie header, the only header the rules name) and pools upstream connections per endpoint and worker. splitd's proxy: $WORKERS event loop(s) (its default backend, io_uring here unless said below), each with its own SO_REUSEPORT listener; splitd runs in a child cgroup of the testbed's (as in a pod under the attached cgroup), restarted with \`--l7-skmsg\`, \`--l7-io epoll\` or neither as the next run needs (the rules stay pinned, the listener keeps its port)"
	if [ -n "$SK_WHY" ] && [ $SKMSG = 1 ]; then
		echo "- sk, sk+ck: \`splitd --l7-skmsg\`: sockops puts the client's socket and the proxy's accepted one in a sockhash, and an sk_msg program redirects each write of one end to the other's receive queue (no TCP, no veth between the client netns and the node netns for that hop; the proxy's upstream hop is plain TCP as before). splitd's probe at startup: $SK_WHY. The kernel's work of a redirect is charged to the writer: wrk's writes into the proxy's queue are not in the proxy's CPU column, its writes to wrk are. splitd's counters over all sk runs and checks: $SK_COUNTS"
	elif [ -n "$SK_WHY" ]; then
		echo "- sk, sk+ck (\`splitd --l7-skmsg\`): **left out**: $SK_WHY"
	fi
	echo "- ours: splitd's default backend, here: $IO_WHY. On io_uring each worker's loop keeps one recv per socket in the ring into a provided-buffer ring (reads are no syscall), copies the bytes to send per socket and submits all of a loop turn's sends in its one io_uring_enter (which also waits); listeners and wake-ups on multishot polls"
	if [ $EPOLL = 1 ]; then
		echo "- ep, ep+ck: \`splitd --l7-io epoll\`: the same engine on edge-triggered epoll (a syscall per read and write)"
	fi
	echo "- HAProxy $HAP_VERSION (Debian package), a process in the node netns on $HAP_ADDR:$HAP_PORT, **nbthread $HAP_THREADS**, \`mode http\`, \`option http-keep-alive\`, \`http-reuse always\`; \`acl test_user req.hdr(cookie) -m reg '^(.*?;)?(user=test-user)(;.*)?\$'\` (PCRE2 with JIT), \`use_backend reviews-v2 if test_user\`, else \`balance roundrobin\` over 10.201.1.2 and 10.201.1.3 (weight 1 each, v1) and 10.201.2.2 (weight 2, v2): 50/50 by version; no logging, no added headers (ours adds none either). wrk reaches it from the client netns (not the cgroup). direct: wrk from the client netns to 10.201.1.2:$PORT, no proxy: the floor"
	echo "- backends: build/httpd (one thread per connection) in their own netns behind the forwarding node netns; testbed veths: $(bench_offload)"
	echo "- errors in all timed runs (wrk: connect, read, write, timeout): $ERRS; non-2xx responses: $NON2 (of which ours: $OURS_ERRS errors, $OURS_NON2 non-2xx)"
	echo
	cat "$TABLE"
	echo
	echo "Medians over the $R rounds and their range (min - max). requests/s: wrk's requests over its run time. p50/p99: medians over the rounds of wrk's per-run percentiles (\`--latency\`; from a request's first byte written to its response's last byte read, so in connection-per-request runs the TCP handshake is not included, its cost shows in requests/s). Ratios (vs HAProxy: ours against HAProxy with the same cookie; vs direct: against the floor) are medians and ranges of the per-round ratios, the paths of a round running seconds apart. Backend connections per 1000 requests: TCP connections the backends' netns accepted during the runs (Tcp PassiveOpens in the v1 and v2 netns) per 1000 requests: 0 means the proxy reused pooled connections, 1000 one new upstream connection per request. Proxy CPU us per request: the proxy process's user + system CPU time (all its threads, /proc/PID/stat, $HZ Hz ticks) over the runs, divided by the requests."
	echo
	printf 'How busy the CPUs were during the timed runs (median over the rounds, %% of the run, whatever ran there: wrk and the kernel work of its packets on CPU %s; the proxy, the backends and the kernel work of their packets on CPU %s), which one ran out: ' "$WRK_CPUS" "$PROXY_CPUS"
	for m in "${MODES[@]}"; do
		for p in "${PATHS[@]}"; do
			[ -s "$WORK/busy.$m.$p" ] || continue
			printf '%s %s: wrk %s%%, proxy %s%%%s; ' "$p" "$m" "$(bench_median $(awk '{ print $1 }' "$WORK/busy.$m.$p"))" \
				"$(bench_median $(awk '{ print $2 }' "$WORK/busy.$m.$p"))" \
				"$([ -n "$QUOTA" ] && [ "$p" != direct ] && echo " (its cgroup throttled in $(bench_median $(awk '{ print $3 }' "$WORK/busy.$m.$p"))% of the CFS periods)")"
		done
	done | sed 's/; $/./'
	echo
	echo
	if [ -n "$CLOSE_BC" ] && awk -v b="$CLOSE_BC" 'BEGIN { exit !(b > 500) }'; then
		echo "Connection per request: our proxy opened about one upstream connection per request ($CLOSE_BC per 1000), HAProxy next to none: the upstream pool did not keep them (a regression to look into: \`Connection: close\` is hop-by-hop and stripped)."
		echo
	fi
	if [ $IDLE = 1 ]; then
		echo "### Many connections at once, and slowloris"
		echo
		echo "For each proxy, $IDLE_R rounds of: a probe alone; $IDLE_N keep-alive connections opened (one request each, then idle; HAProxy: $HAP_IDLE_N, as its maxconn $HAP_MAXCONN is what $NOFILE open files allow it here, two per connection) and held while the probe runs again; $SLOW_N slowloris connections (a request line, then one header byte every 300 ms) held while it runs again. The probe (build/connhold --probe) sends $NPROBE requests with the test-user cookie one after the other, each on a new connection, and times each from its connect() to the end of its response; every client runs on wrk's CPU (ours through the cgroup to the VIP, HAProxy's from the client netns); splitd runs with \`--l7-max-per-source $((IDLE_N + 1000))\` (all the clients share one address; the default, half of \`--l7-max-conns\`, is $(((NOFILE * 3 / 4 < 65536 ? NOFILE * 3 / 4 : 65536) / 2)) with $NOFILE open files). RSS and threads: the proxy process's VmRSS and Threads (/proc/PID/status) while the connections are held, before the probe's requests."
		echo
		echo "| proxy | while the probe runs | probe p50 us | probe p99 us | probe max us | probe failures | proxy RSS MiB | proxy threads | connections held |"
		echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
		for p in ours hap; do
			for ph in alone idle slow; do
				f=$WORK/idle.$p.$ph
				[ -s "$f" ] || continue
				case $ph in alone) what="nothing else" ;; idle) what="$([ $p = hap ] && echo "$HAP_IDLE_N" || echo "$IDLE_N") idle keep-alive connections held" ;; slow) what="$SLOW_N slowloris connections held" ;; esac
				# shellcheck disable=SC2046
				printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
					"$([ $p = ours ] && echo "**ours** (\`--l7-workers $WORKERS\`)" || echo "HAProxy $HAP_VERSION (nbthread $HAP_THREADS)")" "$what" \
					"$(stat3 "idle.$p.$ph" 1)" "$(stat3 "idle.$p.$ph" 2)" "$(stat3 "idle.$p.$ph" 3)" \
					"$(awk '{ s += $4 } END { print s + 0 }' "$f")" \
					"$(fmt3 1 $(bench_stats $(awk '{ print $5 / 1024 }' "$f")))" "$(stat3 "idle.$p.$ph" 6)" "$(stat3 "idle.$p.$ph" 7)"
			done
		done
		echo
		echo "Medians over the $IDLE_R rounds and their range; probe failures summed. Issue 11's targets, with $IDLE_N idle connections held: splitd's RSS at most 100 MiB, at most workers + 4 = $((WORKERS + 4)) threads, and the probe's p99 under 10 ms, also during slowloris."
		echo
	fi
	echo "Correctness, in the same run (not timed), before$([ $QUICK = 1 ] || echo ' and after') the timed runs: build/splitclient ($NCHECK new connections, one request each) and a 1 s wrk keep-alive run (-t 1 -c 4) that counts \`X-Version\` per response:"
	echo
	sed 's/^/- /' "$WORK/checks"
	echo
} > "$SECTION"
bench_results_write "bench_l7${QUOTA:+_quota}" "$SECTION" "$OUT"
if [ $QUICK = 1 ] && [ $OUT_SET = 0 ]; then
	bench_log "quick mode: the section (not written to bench/results.md):"
	cat "$SECTION"
	echo "bench_l7: 1 passed, 0 failed"
else
	bench_log "results: $OUT"
fi
exit 0
