#!/bin/bash
# test_reload.sh - end to end: a running splitd reloads its config dir by
# parsing only the documents that changed and without dumping the maps it
# wrote itself (issue 13). After every change the maps it leaves must be
# exactly those of `splitd --once` on the same files applied to a state
# that went through the same changes (the full re-apply, as before), byte
# for byte (build/mapdump), and a bad change must leave them as they were.
#
# The config dir: svc.yaml (a service "web" and fillers, one YAML document
# each) and rules.yaml (a DestinationRule and a VirtualService for web,
# v1 80 / v2 20). Changes: one document edited (and, once, the same files
# applied cold to fresh maps), a broken document, a service defined twice
# across files, documents removed and added, web's Service changed under
# its unchanged VirtualService (valid, then not), and `splitctl set` on a
# filler between two reloads (its weights are kept, as a full re-apply
# keeps them).
#
# Needs root. No traffic: the maps are what is compared.
set -u
cd "$(dirname "$0")/../.." || exit 1
T_SUITE=e2e_reload
source tests/lib.sh
B=${TB_BUILD:-build}

# States: the daemon's, the oracle's (--once each time), cold ones.
states_sandbox rld reload d o c
# The daemon of the test running (tests run in subshells: its pid is in a
# file, for the next test and the EXIT trap).
stop_daemon() {
	local pid
	pid=$(cat "$WORK/dpid" 2>/dev/null) || return 0
	rm -f "$WORK/dpid"
	kill "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
}
STATES_PRE=stop_daemon
CFG=$WORK/cfg
mkdir -p "$CFG"

once() { # STATE: splitd --once on the config dir
	"$B/splitd" -q --once --no-metrics --no-l7 -C "$CFG" -g "$(cg "$1")" -p "$(pin "$1")"
}

# ---- the files ------------------------------------------------------------------

# svc_file [SKIP_FILLER] [WEB_V2: 0 none, 1 one, 2 two] [EDIT_FILLER] [BREAK_FILLER]
# [EXTRA_FILLER]: web and fillers 1..60 (SKIP_FILLER left out, EDIT_FILLER
# with a second v2 endpoint, BREAK_FILLER's document not YAML, EXTRA_FILLER
# added at the end).
svc_file() {
	local skip=${1:-0} web=${2:-1} edit=${3:-0} brk=${4:-0} extra=${5:-0} i
	echo "# services for test_reload"
	{
		svc_doc web 0 "$web"
		for ((i = 1; i <= 60; i++)); do
			[ "$i" = "$skip" ] && continue
			if [ "$i" = "$brk" ]; then
				printf -- '---\napiVersion: split.dev/v1\nkind: Service\nmetadata:\n  name: [broken\n'
				continue
			fi
			svc_doc "$(printf 'filler-%03d' "$i")" "$i" $([ "$i" = "$edit" ] && echo 2)
		done
		if [ "$extra" != 0 ]; then
			svc_doc "$(printf 'filler-%03d' "$extra")" "$extra"
		fi
	}
}
rules_file() {
	cat <<'EOF'
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: web}
spec:
  host: web
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: web}
spec:
  hosts: [web]
  http:
  - route:
    - destination: {host: web, subset: v1}
      weight: 80
    - destination: {host: web, subset: v2}
      weight: 20
EOF
}
# put FILE GENERATOR ARGS...: the generator's output into the config dir,
# with an atomic rename
put() {
	local f=$1
	shift
	"$@" >"$WORK/next.tmp" && mv "$WORK/next.tmp" "$CFG/$f"
}

# ---- the daemon -----------------------------------------------------------------

DLOG=$WORK/splitd.log
# events: lines that end a reload (applied, or refused with the state kept)
events() {
	local n
	n=$(grep -c -E 'applied: |state in force is unchanged' "$DLOG" 2>/dev/null)
	echo "${n:-0}"
}
# wait_reload N: until more than N reloads ended (30 s at most)
wait_reload() {
	local i
	for ((i = 0; i < 300; i++)); do
		[ "$(events)" -gt "$1" ] && return 0
		sleep 0.1
	done
	fail "splitd did not reload within 30 s: $(tail -n 5 "$DLOG")"
}
# change WHAT FILE GENERATOR ARGS...: put the file, wait for the daemon
change() {
	local n
	n=$(events)
	put "${@:2}"
	wait_reload "$n"
	info "$1: $(grep -E 'applied: |state in force is unchanged' "$DLOG" | tail -n 1 | cut -c 1-200)"
}

# start: fresh states, the first files, the daemon
start() {
	local s
	stop_daemon
	for s in "${STATES[@]}"; do
		"$B/splitd" -q --unload -p "$(pin "$s")" 2>/dev/null
	done
	rm -f "$CFG"/* "$DLOG"
	svc_file >"$CFG/svc.yaml"
	rules_file >"$CFG/rules.yaml"
	"$B/splitd" --no-metrics --no-l7 -C "$CFG" -g "$(cg d)" -p "$(pin d)" >"$DLOG" 2>&1 &
	echo $! >"$WORK/dpid"
	wait_reload 0
	once o || fail "splitd --once (oracle) failed"
	expect_same_maps d o "first apply"
}

# ---- tests -----------------------------------------------------------------

test_one_document_changed() {
	start
	change "filler-007 grows" svc.yaml svc_file 0 1 7
	grep 'apply took ' "$DLOG" | tail -n 1 | grep -q 'documents: 1 parsed' ||
		fail "the reload parsed more than the changed document: $(tail -n 1 "$DLOG")"
	once o || fail "oracle failed"
	expect_same_maps d o "one document changed"
	# and the same files applied cold, to fresh maps
	once c || fail "cold apply failed"
	expect_same_maps d c "one document changed, vs cold"
	change "filler-007 back" svc.yaml svc_file
	once o || fail "oracle failed"
	expect_same_maps d o "changed back"
}

test_bad_document_keeps_state() {
	start
	dump d >"$WORK/before"
	change "filler-020 broken" svc.yaml svc_file 0 1 0 20
	tail -n 3 "$DLOG" | grep -q 'state in force is unchanged' || fail "no refusal logged"
	once o 2>/dev/null && fail "the oracle applied a broken file"
	dump d >"$WORK/after"
	cmp -s "$WORK/before" "$WORK/after" || fail "the maps changed after a broken document"
	# a service defined in two files: each file fine on its own
	change "fixed" svc.yaml svc_file
	change "filler-003 twice" extra.yaml svc_doc filler-003 3
	tail -n 3 "$DLOG" | grep -q 'defined twice' || fail "no 'defined twice' logged: $(tail -n 2 "$DLOG")"
	dump d >"$WORK/after"
	cmp -s "$WORK/before" "$WORK/after" || fail "the maps changed after a duplicate service"
	local n
	n=$(events)
	rm -f "$CFG/extra.yaml"
	wait_reload "$n"
	once o || fail "oracle failed"
	expect_same_maps d o "after the fixes"
}

test_documents_removed_added() {
	start
	change "filler-010 removed" svc.yaml svc_file 10
	once o || fail "oracle failed"
	expect_same_maps d o "a document removed"
	change "filler-061 added" svc.yaml svc_file 10 1 0 0 61
	once o || fail "oracle failed"
	expect_same_maps d o "a document added"
	change "filler-010 back, in a file of its own" extra.yaml svc_doc filler-010 10
	once o || fail "oracle failed"
	expect_same_maps d o "a document in a new file"
}

test_route_follows_service_change() {
	start
	# web gets a second v2 endpoint; rules.yaml is unchanged and still
	# sets 80/20
	change "web grows" svc.yaml svc_file 0 2
	once o || fail "oracle failed"
	expect_same_maps d o "web changed under its VirtualService"
	expect_eq "$(weight d web v2)" 20 "web's v2 weight (the VirtualService's)"
	# web loses its v2 endpoints: the route names a subset with none
	dump d >"$WORK/before"
	change "web without v2" svc.yaml svc_file 0 0
	tail -n 3 "$DLOG" | grep -q 'state in force is unchanged' || fail "no refusal logged"
	once o 2>/dev/null && fail "the oracle applied a route to a version with no endpoints"
	dump d >"$WORK/after"
	cmp -s "$WORK/before" "$WORK/after" || fail "the maps changed after a refused change"
}

test_splitctl_set_between_reloads() {
	start
	sctl d set filler-005 v1=70 v2=30 >/dev/null || fail "splitctl set (daemon's state)"
	sctl o set filler-005 v1=70 v2=30 >/dev/null || fail "splitctl set (oracle's state)"
	change "filler-030 grows" svc.yaml svc_file 0 1 30
	once o || fail "oracle failed"
	expect_same_maps d o "splitctl set, then a reload"
	expect_eq "$(weight d filler-005 v1)" 70 "filler-005's v1 weight (splitctl set)"
	# and once more, with no set in between (the daemon's own snapshot)
	change "filler-030 back" svc.yaml svc_file
	once o || fail "oracle failed"
	expect_same_maps d o "a second reload"
	# a set, then the service's own document changes: its new endpoint
	# joins at the weights set (what the maps say, not what the daemon
	# wrote last)
	sctl d set filler-005 v1=60 v2=40 >/dev/null || fail "splitctl set (daemon's state)"
	sctl o set filler-005 v1=60 v2=40 >/dev/null || fail "splitctl set (oracle's state)"
	change "filler-005 grows" svc.yaml svc_file 0 1 5
	once o || fail "oracle failed"
	expect_same_maps d o "splitctl set, then the service's document changed"
	expect_eq "$(weight d filler-005 v1)" 60 "filler-005's v1 weight (splitctl set)"
}

run_tests test_one_document_changed test_bad_document_keeps_state \
	test_documents_removed_added test_route_follows_service_change \
	test_splitctl_set_between_reloads
