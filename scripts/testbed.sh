#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# testbed.sh - the netns testbed for end-to-end tests. A bash library:
#
#   . scripts/testbed.sh
#   trap tb_down EXIT            # or: TB_TRAP=1 before tb_up
#   tb_up                        # or: tb_up myrun1
#   tb_client "$TB_BUILD/splitclient" --connect "$TB_VIP4" --port "$TB_PORT" -n 1000
#   tb_in "$TB_NODE" ip route
#
# Also runnable by hand:
#   eval "$(scripts/testbed.sh up [RUNID])"    # prints export lines
#   scripts/testbed.sh down RUNID
#
# Topology (every name carries the per-run id TB_ID; nothing in the root netns):
#
#   client ns                 node ns (forwarding)                 backend ns
#   eth0 10.200.0.2/24  <-> to-client 10.200.0.1/24
#        fd00:200::2/64               fd00:200::1/64
#   default via node                  to-v1  10.201.1.1  <->  v1: eth0 10.201.1.2 + .3
#                                            fd00:201:1::1          fd00:201:1::2 + ::3
#                                     to-v2  10.201.2.1  <->  v2: eth0 10.201.2.2, fd00:201:2::2
#                                     to-v3  10.201.3.1  <->  v3: eth0 10.201.3.2, fd00:201:3::2
#
# Each backend ns runs build/httpd --name vN --port 9080 on all its addresses.
# The VIP of the default services file is 10.96.0.10 / fd00:96::10, port 9080
# TCP and UDP; the client's default route sends it to the node.
#
# Functions:
#   tb_up [RUNID]          build it all; exports the TB_* variables below
#   tb_down                tear down what tb_up made; idempotent, never fails
#   tb_client CMD...       run CMD in the client netns and in the child cgroup
#   tb_in_cgroup NS CMD... run CMD in netns NS and in the child cgroup
#   tb_in NS CMD...        run CMD in netns NS (not in the cgroup); NS may be
#                          the full name or client|node|v1|v2|v3
#   tb_services_file       path of the default services file
#   tb_rps NS IFACE        RPS over every CPU on IFACE in netns NS: each flow
#                          received on one CPU, as a NIC's RSS does (a veth
#                          with XDP attached does not; see tests/e2e/test_xdp.sh)
#
# Exported by tb_up:
#   TB_ID TB_CLIENT TB_NODE TB_V1 TB_V2 TB_V3   run id and netns names
#   TB_CGROUP   child cgroup (cgroup2) for the client; attach cgroup progs here
#   TB_PIN      bpffs pin dir for this run (not created: the daemon does that)
#   TB_BUILD    build dir (default <repo>/build; set it before tb_up to change)
#   TB_DIR      scratch dir for this run (server logs, state); removed by tb_down
#               unless TB_KEEP=1
#   TB_IF_CLIENT TB_IF_V1 TB_IF_V2 TB_IF_V3   node-side interface names
#               (in TB_NODE); the other end is eth0 in each netns
#   TB_VIP4 TB_VIP6 TB_PORT   10.96.0.10 fd00:96::10 9080
#   TB_NODE_IP4 TB_NODE_IP6   the node's address on the client link
#   TB_CLIENT_IP4 TB_CLIENT_IP6
#
# Environment read by tb_up: TB_BUILD, TB_TRAP=1 (install "trap tb_down EXIT"),
# TB_KEEP=1 (keep TB_DIR), TB_STATE_ROOT (parent of TB_DIR, default /tmp).
#
# Safety: 10.x / fd00:: addresses exist only inside the netns made here; veths
# are created from inside the node netns, so no interface name ever appears in
# the root netns; the cgroup is a fresh child of the cgroup2 root. tb_down
# kills only the servers it started (by PID, checked by name) and leftover
# processes inside this run's own cgroup and netns (never itself or its
# ancestors).

# Not "set -e" here: this file is sourced and must not change the caller's
# shell options. Every step below checks its own result.

TB__REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

tb__log() { echo "testbed: $*" >&2; }

# Run a command; on failure say which and return 1.
tb__x() {
	"$@" || { tb__log "failed: $*"; return 1; }
}

tb_services_file() {
	echo "$TB__REPO/tests/data/services.yaml"
}

# tb_rps NS IFACE: spread IFACE's receive processing over every CPU by flow
# hash (RPS): each flow on one CPU, as a NIC's RSS keeps it. sysfs shows the
# devices of the netns that mounted it: mount a private one, in a private
# mount namespace inside NS.
tb_rps() {
	local n mask="" g
	n=$(nproc --all)
	while [ "$n" -gt 0 ]; do	# rps_cpus: 32-bit groups, comma-separated
		if [ "$n" -ge 32 ]; then g=ffffffff; n=$((n - 32)); else g=$(printf '%x' $(((1 << n) - 1))); n=0; fi
		mask="$g${mask:+,$mask}"
	done
	nsenter --net="/run/netns/$(tb__ns "$1")" unshare --mount --propagation private sh -c '
		mount -t sysfs sysfs /sys || exit 1
		for q in /sys/class/net/"$1"/queues/rx-*/rps_cpus; do
			echo "$2" > "$q" || exit 1
		done' sh "$2" "$mask"
}

tb__ns() {
	# Map a short name (client|node|v1|v2|v3) to this run's netns name.
	local ns=$1
	if [ ! -e "/run/netns/$ns" ] && [ -n "${TB_ID:-}" ] && [ -e "/run/netns/${TB_ID}-$ns" ]; then
		ns="${TB_ID}-$ns"
	fi
	echo "$ns"
}

# tb_in NS CMD...: run CMD in netns NS. nsenter, not "ip netns exec", which
# remounts /sys and hides bpffs and cgroup2.
tb_in() {
	local ns
	if [ $# -lt 2 ]; then
		tb__log "usage: tb_in NS CMD..."
		return 2
	fi
	ns=$(tb__ns "$1")
	shift
	nsenter --net="/run/netns/$ns" "$@"
}

# tb_in_cgroup NS CMD...: run CMD in netns NS and in the run's child cgroup.
tb_in_cgroup() {
	local ns
	if [ $# -lt 2 ]; then
		tb__log "usage: tb_in_cgroup NS CMD..."
		return 2
	fi
	if [ -z "${TB_CGROUP:-}" ] || [ ! -d "$TB_CGROUP" ]; then
		tb__log "no testbed cgroup (tb_up first)"
		return 2
	fi
	ns=$(tb__ns "$1")
	shift
	# shellcheck disable=SC2016 # $$ and $1.. belong to the inner sh
	sh -c 'echo $$ > "$1/cgroup.procs" && ns=$2 && shift 2 && exec nsenter --net="/run/netns/$ns" "$@"' \
		sh "$TB_CGROUP" "$ns" "$@"
}

# tb_client CMD...: run CMD in the client netns and in the child cgroup.
tb_client() {
	if [ $# -lt 1 ]; then
		tb__log "usage: tb_client CMD..."
		return 2
	fi
	tb_in_cgroup "${TB_CLIENT:-}" "$@"
}

tb__state() { echo "$*" >> "$TB_DIR/state"; }

tb__cgroup2_root() {
	awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts
}

# Write a sysctl inside a netns (through /proc/sys, which follows the netns of
# the writer; no dependency on the sysctl tool).
tb__sysctl() {
	local ns=$1 key=$2 val=$3
	# shellcheck disable=SC2016
	tb_in "$ns" sh -c 'echo "$2" > "/proc/sys/$1"' sh "${key//.//}" "$val"
}

# Link one backend (or the client) to the node: veth made inside the node
# netns, peer "eth0" moved straight into the other netns.
tb__link() {
	local ns=$1 nodeif=$2 v4node=$3 v6node=$4
	shift 4
	local a
	tb__x ip -n "$TB_NODE" link add "$nodeif" type veth peer name eth0 netns "$ns" || return 1
	tb__x ip -n "$TB_NODE" addr add "$v4node" dev "$nodeif" || return 1
	tb__x ip -n "$TB_NODE" addr add "$v6node" dev "$nodeif" nodad || return 1
	for a in "$@"; do
		case $a in
		*:*) tb__x ip -n "$ns" addr add "$a" dev eth0 nodad || return 1 ;;
		*) tb__x ip -n "$ns" addr add "$a" dev eth0 || return 1 ;;
		esac
	done
	tb__x ip -n "$TB_NODE" link set "$nodeif" up || return 1
	tb__x ip -n "$ns" link set eth0 up || return 1
	# veth TX checksum offload leaves packets CHECKSUM_PARTIAL; after an XDP
	# redirect the receiver then sees bad L4 checksums. Turn it off on both
	# ends of every test veth. ethtool is optional: without it, skip silently.
	if command -v ethtool > /dev/null 2>&1; then
		tb_in "$TB_NODE" ethtool -K "$nodeif" tx off > /dev/null 2>&1
		tb_in "$ns" ethtool -K eth0 tx off > /dev/null 2>&1
	fi
	return 0
}

tb__start_server() {
	local ns=$1 name=$2 pid i
	shift 2
	local args=(--name "$name" --port "$TB_PORT")
	for i in "$@"; do
		args+=(--listen "$i")
	done
	# nsenter without -F execs httpd directly: $! is the server's PID.
	nsenter --net="/run/netns/$ns" "$TB_BUILD/httpd" "${args[@]}" \
		> "$TB_DIR/httpd-$name.out" 2> "$TB_DIR/httpd-$name.err" < /dev/null &
	pid=$!
	tb__state "pid $pid"
	for ((i = 0; i < 100; i++)); do
		if grep -qx ready "$TB_DIR/httpd-$name.out" 2> /dev/null; then
			return 0
		fi
		if ! kill -0 "$pid" 2> /dev/null; then
			break
		fi
		sleep 0.05
	done
	tb__log "httpd $name in $ns did not become ready:"
	sed 's/^/  /' "$TB_DIR/httpd-$name.err" >&2
	return 1
}

tb__up_steps() {
	local ns n cgroot
	local all_ns=("$TB_CLIENT" "$TB_NODE" "$TB_V1" "$TB_V2" "$TB_V3")

	if [ "$(id -u)" != 0 ]; then
		tb__log "must run as root"
		return 1
	fi
	for n in ip nsenter awk; do
		command -v "$n" > /dev/null 2>&1 || { tb__log "missing tool: $n"; return 1; }
	done
	if [ ! -x "$TB_BUILD/httpd" ]; then
		tb__log "$TB_BUILD/httpd not built (run make)"
		return 1
	fi
	cgroot=$(tb__cgroup2_root)
	if [ -z "$cgroot" ]; then
		tb__log "no cgroup2 mount in /proc/mounts"
		return 1
	fi
	TB_CGROUP="$cgroot/$TB_ID"
	for ns in "${all_ns[@]}"; do
		if [ -e "/run/netns/$ns" ]; then
			tb__log "netns $ns already exists: pick another run id"
			return 1
		fi
	done
	if [ -e "$TB_CGROUP" ] || [ -e "$TB_PIN" ]; then
		tb__log "$TB_CGROUP or $TB_PIN already exists: pick another run id"
		return 1
	fi

	# The scratch dir holds the state tb_down works from. mkdir fails on an
	# existing path, so a stale or foreign dir is never reused.
	TB_DIR="${TB_STATE_ROOT:-/tmp}/testbed-$TB_ID"
	if ! mkdir -m 0700 "$TB_DIR"; then
		tb__log "cannot create $TB_DIR"
		TB_DIR=
		return 1
	fi
	export TB_DIR
	tb__state "id $TB_ID"
	tb__state "build $TB_BUILD"
	tb__state "pin $TB_PIN"

	for ns in "${all_ns[@]}"; do
		tb__x ip netns add "$ns" || return 1
		tb__state "ns $ns"
		tb__x ip -n "$ns" link set lo up || return 1
		# No DAD anywhere: addresses (also link-local ones) usable at once.
		tb__sysctl "$ns" net.ipv6.conf.all.accept_dad 0 || return 1
		tb__sysctl "$ns" net.ipv6.conf.default.accept_dad 0 || return 1
	done
	tb__x mkdir "$TB_CGROUP" || return 1
	tb__state "cgroup $TB_CGROUP"

	# A wide ephemeral port range for the client: the suites make tens of
	# thousands of connections.
	tb__sysctl "$TB_CLIENT" net.ipv4.ip_local_port_range "1024 65000" || return 1
	tb__sysctl "$TB_NODE" net.ipv4.ip_forward 1 || return 1
	tb__sysctl "$TB_NODE" net.ipv6.conf.all.forwarding 1 || return 1

	tb__link "$TB_CLIENT" "$TB_IF_CLIENT" 10.200.0.1/24 fd00:200::1/64 \
		10.200.0.2/24 fd00:200::2/64 || return 1
	tb__x ip -n "$TB_CLIENT" route add default via 10.200.0.1 || return 1
	tb__x ip -n "$TB_CLIENT" -6 route add default via fd00:200::1 || return 1

	tb__link "$TB_V1" "$TB_IF_V1" 10.201.1.1/24 fd00:201:1::1/64 \
		10.201.1.2/24 10.201.1.3/24 fd00:201:1::2/64 fd00:201:1::3/64 || return 1
	tb__link "$TB_V2" "$TB_IF_V2" 10.201.2.1/24 fd00:201:2::1/64 \
		10.201.2.2/24 fd00:201:2::2/64 || return 1
	tb__link "$TB_V3" "$TB_IF_V3" 10.201.3.1/24 fd00:201:3::1/64 \
		10.201.3.2/24 fd00:201:3::2/64 || return 1
	for n in 1 2 3; do
		ns="${TB_ID}-v$n"
		tb__x ip -n "$ns" route add default via "10.201.$n.1" || return 1
		tb__x ip -n "$ns" -6 route add default via "fd00:201:$n::1" || return 1
	done

	tb__start_server "$TB_V1" v1 10.201.1.2 10.201.1.3 fd00:201:1::2 fd00:201:1::3 || return 1
	tb__start_server "$TB_V2" v2 10.201.2.2 fd00:201:2::2 || return 1
	tb__start_server "$TB_V3" v3 10.201.3.2 fd00:201:3::2 || return 1
	return 0
}

# tb_up [RUNID]
tb_up() {
	local id=${1:-}
	# TB__UP is not exported: a child script may build its own testbed.
	if [ "${TB__UP:-0}" = 1 ] && [ -n "${TB_DIR:-}" ] && [ -e "$TB_DIR/state" ]; then
		tb__log "a testbed is already up in this shell ($TB_ID); tb_down first"
		return 1
	fi
	if [ -z "$id" ]; then
		id="sp$$$(printf '%04x' "$RANDOM")"
	fi
	if ! [[ $id =~ ^[A-Za-z0-9][A-Za-z0-9_]{0,23}$ ]]; then
		tb__log "bad run id '$id' (letters, digits, _; at most 24)"
		return 1
	fi
	export TB_ID=$id
	export TB_CLIENT="${id}-client" TB_NODE="${id}-node"
	export TB_V1="${id}-v1" TB_V2="${id}-v2" TB_V3="${id}-v3"
	export TB_PIN="/sys/fs/bpf/${id}"
	export TB_BUILD=${TB_BUILD:-$TB__REPO/build}
	export TB_IF_CLIENT=to-client TB_IF_V1=to-v1 TB_IF_V2=to-v2 TB_IF_V3=to-v3
	export TB_VIP4=10.96.0.10 TB_VIP6=fd00:96::10 TB_PORT=9080
	export TB_NODE_IP4=10.200.0.1 TB_NODE_IP6=fd00:200::1
	export TB_CLIENT_IP4=10.200.0.2 TB_CLIENT_IP6=fd00:200::2
	TB_CGROUP=
	TB_DIR=
	export TB_CGROUP TB_DIR
	if [ "${TB_TRAP:-0}" = 1 ]; then
		trap tb_down EXIT
		trap 'exit 130' INT	# a signal's default action skips EXIT traps
		trap 'exit 143' TERM
	fi
	TB__UP=1
	if ! tb__up_steps; then
		tb__log "tb_up failed; cleaning up"
		tb_down
		return 1
	fi
	return 0
}

# "STATE PPID" of pid $1 from /proc/PID/stat (the comm field may hold spaces
# and parentheses: cut after the last ")").
tb__stat() {
	local s
	s=$(cat "/proc/$1/stat" 2> /dev/null) || return 1
	[ -n "$s" ] || return 1
	s=${s##*) }
	echo "${s%% *} $(echo "$s" | cut -d' ' -f2)"
}

# Is pid $1 this shell or one of its ancestors?
tb__is_self_or_ancestor() {
	local p=$BASHPID st
	while [ -n "$p" ] && [ "$p" -gt 1 ]; do
		[ "$p" = "$1" ] && return 0
		st=$(tb__stat "$p") || return 1
		p=${st#* }
	done
	return 1
}

tb__alive() {
	# Running and not a zombie.
	local st
	st=$(tb__stat "$1") || return 1
	[ "${st%% *}" != Z ]
}

# Terminate the given PIDs: TERM, wait up to 3 s, then KILL. Reap our children.
tb__kill_pids() {
	local p i left
	[ $# -eq 0 ] && return 0
	for p in "$@"; do
		kill -TERM "$p" 2> /dev/null
	done
	for ((i = 0; i < 60; i++)); do
		left=0
		for p in "$@"; do
			tb__alive "$p" && left=1
		done
		[ $left = 0 ] && break
		sleep 0.05
	done
	for p in "$@"; do
		tb__alive "$p" && kill -KILL "$p" 2> /dev/null
	done
	for p in "$@"; do
		wait "$p" 2> /dev/null
	done
	return 0
}

# PIDs of processes in cgroup dir $1 and below.
tb__cgroup_pids() {
	find "$1" -name cgroup.procs -exec cat {} + 2> /dev/null
}

# PIDs of processes whose netns is one of /run/netns/$1... (one pass over /proc).
tb__netns_pids() {
	local ns inos=()
	for ns in "$@"; do
		[ -e "/run/netns/$ns" ] && inos+=("$(stat -L -c %i "/run/netns/$ns" 2> /dev/null)")
	done
	[ ${#inos[@]} -gt 0 ] || return 0
	stat -L -c '%i %n' /proc/[0-9]*/ns/net 2> /dev/null |
		awk -v want=" ${inos[*]} " 'index(want, " " $1 " ") { split($2, a, "/"); print a[3] }'
	return 0
}

tb__down_steps() {
	local kind val p comm d
	local pids=() nss=() cgroup="" pin="" leftovers=() ours=()

	[ -n "${TB_DIR:-}" ] && [ -f "$TB_DIR/state" ] || return 0
	while read -r kind val; do
		case $kind in
		pid) pids+=("$val") ;;
		ns) nss+=("$val") ;;
		cgroup) cgroup=$val ;;
		pin) pin=$val ;;
		esac
	done < "$TB_DIR/state"

	# 1. The servers we started, by PID (checked by name against PID reuse).
	for p in "${pids[@]}"; do
		comm=$(cat "/proc/$p/comm" 2> /dev/null) || continue
		[ "$comm" = httpd ] && ours+=("$p")
	done
	tb__kill_pids "${ours[@]}"

	# 2. Leftovers in this run's cgroup or netns: only tb_client / tb_in put
	#    processes there, so they are ours. Never ourselves or an ancestor.
	if [ -n "$cgroup" ] && [ -d "$cgroup" ]; then
		for p in $(tb__cgroup_pids "$cgroup"); do
			leftovers+=("$p")
		done
	fi
	for p in $(tb__netns_pids "${nss[@]}"); do
		leftovers+=("$p")
	done
	ours=()
	for p in $(printf '%s\n' "${leftovers[@]}" | sort -un); do
		tb__is_self_or_ancestor "$p" && continue
		tb__alive "$p" || continue
		tb__log "stopping leftover pid $p ($(tr '\0' ' ' < "/proc/$p/cmdline" 2> /dev/null | cut -c1-80))"
		ours+=("$p")
	done
	tb__kill_pids "${ours[@]}"

	# 3. The cgroup: move anything still inside (ourselves, zombies) to the
	#    parent, then remove it, children first.
	if [ -n "$cgroup" ] && [ -d "$cgroup" ]; then
		for p in $(tb__cgroup_pids "$cgroup"); do
			echo "$p" > "$(dirname "$cgroup")/cgroup.procs" 2> /dev/null
		done
		while read -r d; do
			rmdir "$d" 2> /dev/null || tb__log "could not remove cgroup $d"
		done < <(find "$cgroup" -depth -type d 2> /dev/null)
	fi

	# 4. The netns (veths go with them).
	for val in "${nss[@]}"; do
		if [ -e "/run/netns/$val" ]; then
			ip netns del "$val" 2> /dev/null || tb__log "could not delete netns $val"
		fi
	done

	# 5. The pin dir, if the daemon made one. Only a /sys/fs/bpf/<id> path.
	case $pin in
	/sys/fs/bpf/?*)
		if [ -e "$pin" ]; then
			rm -rf -- "$pin" 2> /dev/null || tb__log "could not remove $pin"
		fi
		;;
	esac

	# 6. The scratch dir.
	if [ "${TB_KEEP:-0}" = 1 ]; then
		mv -- "$TB_DIR/state" "$TB_DIR/state.down" 2> /dev/null
		tb__log "kept $TB_DIR"
	else
		case $TB_DIR in
		*/testbed-?*) rm -rf -- "$TB_DIR" 2> /dev/null ;;
		esac
	fi
	return 0
}

# tb_down: idempotent; never fails the caller (returns 0; as an EXIT trap it
# leaves the script's exit status alone). Shell options are restored on return.
tb_down() {
	local -
	set +eu
	tb__down_steps
	TB__UP=0
	return 0
}

# ---- a node with pods ------------------------------------------------------------
#
# On a Kubernetes node, pods are network namespaces with a veth each to the
# node, and processes in cgroups under the kubelet's kubepods cgroup. This
# shapes the testbed like that (after tb_up):
#
#   tb_pods_init           TB_KUBEPODS=$TB_CGROUP/kubepods.slice (the kubelet's
#                          systemd layout, inside this run's own cgroup, so
#                          attaching there never reaches the real pods of the
#                          machine), TB_SYSTEM=$TB_CGROUP/system.slice for node
#                          processes, and the node's address TB_NODE_POD_IP4/6
#                          (10.210.0.1, fd00:210::1 on the node's lo) that
#                          every pod routes to
#   tb_pod_add NAME N      pod NAME: netns $TB_ID-NAME, eth0 10.210.N.2/24 and
#                          fd00:210:N::2/64 with a veth to the node (to-NAME,
#                          10.210.N.1), default route via the node; cgroup
#                          kubepods.slice/kubepods-besteffort.slice/
#                          kubepods-besteffort-podNAME.slice/cri-NAME.scope
#                          (TB_POD_CGROUP_<NAME>). N: 1..250
#   tb_in_pod NAME CMD...  run CMD in pod NAME (its netns and cgroup)
#   tb_in_system NAME NS CMD...  run CMD in netns NS, in the node cgroup
#                          system.slice/NAME.service (outside kubepods)
tb_pods_init() {
	[ -n "${TB_CGROUP:-}" ] && [ -d "$TB_CGROUP" ] || { tb__log "tb_up first"; return 1; }
	export TB_KUBEPODS="$TB_CGROUP/kubepods.slice" TB_SYSTEM="$TB_CGROUP/system.slice"
	export TB_NODE_POD_IP4=10.210.0.1 TB_NODE_POD_IP6=fd00:210::1
	tb__x mkdir -p "$TB_KUBEPODS/kubepods-besteffort.slice" "$TB_SYSTEM" || return 1
	tb__x ip -n "$TB_NODE" addr add "$TB_NODE_POD_IP4/32" dev lo || return 1
	tb__x ip -n "$TB_NODE" addr add "$TB_NODE_POD_IP6/128" dev lo nodad || return 1
}

tb_pod_add() {
	local name=$1 n=$2 ns cg
	if ! [[ $name =~ ^[a-z0-9]{1,10}$ ]] || ! [[ $n =~ ^[0-9]+$ ]] || [ "$n" -lt 1 ] || [ "$n" -gt 250 ]; then
		tb__log "usage: tb_pod_add NAME(a-z0-9, <= 10) N(1..250)"
		return 2
	fi
	[ -n "${TB_KUBEPODS:-}" ] || { tb__log "tb_pods_init first"; return 1; }
	ns="${TB_ID}-$name"
	[ -e "/run/netns/$ns" ] && { tb__log "pod $name exists"; return 1; }
	tb__x ip netns add "$ns" || return 1
	tb__state "ns $ns"
	tb__x ip -n "$ns" link set lo up || return 1
	tb__sysctl "$ns" net.ipv6.conf.all.accept_dad 0 || return 1
	tb__sysctl "$ns" net.ipv4.ip_local_port_range "1024 65000" || return 1
	tb__link "$ns" "to-$name" "10.210.$n.1/24" "fd00:210:$n::1/64" \
		"10.210.$n.2/24" "fd00:210:$n::2/64" || return 1
	tb__x ip -n "$ns" route add default via "10.210.$n.1" || return 1
	tb__x ip -n "$ns" -6 route add default via "fd00:210:$n::1" || return 1
	cg="$TB_KUBEPODS/kubepods-besteffort.slice/kubepods-besteffort-pod$name.slice/cri-$name.scope"
	tb__x mkdir -p "$cg" || return 1
	printf -v "TB_POD_CGROUP_$name" '%s' "$cg"
	export "TB_POD_CGROUP_$name"
}

tb_in_pod() {
	local name=$1 cgv
	shift
	cgv="TB_POD_CGROUP_$name"
	[ -n "${!cgv:-}" ] || { tb__log "no pod $name"; return 2; }
	# shellcheck disable=SC2016 # $$ and $1.. belong to the inner sh
	sh -c 'echo $$ > "$1/cgroup.procs" && ns=$2 && shift 2 && exec nsenter --net="/run/netns/$ns" "$@"' \
		sh "${!cgv}" "${TB_ID}-$name" "$@"
}

tb_in_system() {
	local name=$1 ns
	ns=$(tb__ns "$2")
	shift 2
	mkdir -p "$TB_SYSTEM/$name.service" || return 1
	# shellcheck disable=SC2016
	sh -c 'echo $$ > "$1/cgroup.procs" && ns=$2 && shift 2 && exec nsenter --net="/run/netns/$ns" "$@"' \
		sh "$TB_SYSTEM/$name.service" "$ns" "$@"
}

# ---- run by hand -------------------------------------------------------------

tb__main() {
	case ${1:-} in
	up)
		tb_up "${2:-}" || return 1
		# The servers keep running after this script exits.
		local v
		for v in TB_ID TB_CLIENT TB_NODE TB_V1 TB_V2 TB_V3 TB_CGROUP TB_PIN TB_BUILD TB_DIR \
			TB_IF_CLIENT TB_IF_V1 TB_IF_V2 TB_IF_V3 TB_VIP4 TB_VIP6 TB_PORT \
			TB_NODE_IP4 TB_NODE_IP6 TB_CLIENT_IP4 TB_CLIENT_IP6; do
			printf 'export %s=%q\n' "$v" "${!v}"
		done
		tb__log "up; tear down with: $0 down $TB_ID"
		;;
	down)
		if [ -z "${2:-}" ]; then
			echo "usage: $0 down RUNID" >&2
			return 2
		fi
		TB_DIR="${TB_STATE_ROOT:-/tmp}/testbed-$2"
		if [ ! -f "$TB_DIR/state" ]; then
			tb__log "no testbed state in $TB_DIR"
			return 1
		fi
		TB_ID=$2
		tb_down
		;;
	*)
		echo "usage: $0 up [RUNID] | down RUNID   (or source it: see the header)" >&2
		return 2
		;;
	esac
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	tb__main "$@"
	exit $?
fi
