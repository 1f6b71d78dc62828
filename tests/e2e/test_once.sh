#!/bin/bash
# test_once.sh - end to end: `splitd --once` re-applies a services file in
# which one service's document changed by committing that service alone,
# from the record the last --once left in /run/split (issue 13), and
# otherwise applies the whole file. After every step the maps must be
# exactly those of `splitd --once --full` (the whole file parsed and
# applied, as before the record) on a state that went through the same
# steps, byte for byte (build/mapdump); which path ran is read from the
# log; a bad document must leave the maps as they were.
#
# The file: a service "web" and fillers, one YAML document each. Steps: a
# filler gains and loses an endpoint (incremental, also vs a cold apply),
# `splitctl set` between two runs (full, then incremental again, weights
# kept), a broken document, two documents changed, a VIP changed, a
# document added, an Istio object in the file, and a record from a pin
# dir of the same name that was unloaded and loaded again.
#
# Needs root. No traffic: the maps are what is compared.
set -u
cd "$(dirname "$0")/../.." || exit 1
T_SUITE=e2e_once
source tests/lib.sh
B=${TB_BUILD:-build}

# States: incremental (--once with its record), the oracle (--full), cold.
states_sandbox once once i f c
SVC=$WORK/svc.yaml
LOG=$WORK/once.log

record() { echo "/run/split/$(pin "$1" | tr / _).once"; }
# once STATE [ARGS...]: splitd --once on $SVC; its log in $LOG
once() {
	local s=$1
	shift
	"$B/splitd" --once --no-metrics --no-l7 -c "$SVC" -g "$(cg "$s")" -p "$(pin "$s")" "$@" \
		>"$LOG" 2>&1
}
oracle() { once f --full || fail "splitd --once --full (oracle) failed: $(tail -n 2 "$LOG")"; }
# incremental WHAT: the last --once of i committed one service alone
incremental() {
	grep -q 'one service changed, committed alone' "$LOG" ||
		fail "$1: not applied from the record: $(grep -v libbpf "$LOG" | head -n 3 | cut -c 1-200)"
}
# whole WHAT REASON: the last --once of i applied the whole file, for REASON
whole() {
	grep -q "applying the whole file: .*$2" "$LOG" ||
		fail "$1: want the whole file for '$2': $(grep -v libbpf "$LOG" | head -n 2 | cut -c 1-200)"
	grep -q 'applied: ' "$LOG" || fail "$1: not applied: $(tail -n 2 "$LOG")"
}

# svc_file [EDIT...]: web and fillers 1..40; each EDIT is I:WHAT for
# filler I: grow (a second v2 endpoint), shrink (no v2), vip (another
# VIP), broken (not YAML), add (filler I appended at the end)
svc_file() {
	local i e
	declare -A ed=()
	for e in "$@"; do ed[${e%%:*}]=${e#*:}; done
	echo "# services for test_once"
	svc_doc web 0
	for ((i = 1; i <= 40; i++)); do
		case ${ed[$i]:-} in
		grow) svc_doc "$(printf 'filler-%03d' "$i")" "$i" 2 ;;
		shrink) svc_doc "$(printf 'filler-%03d' "$i")" "$i" 0 ;;
		vip) svc_doc "$(printf 'filler-%03d' "$i")" "$i" 1 98 ;;
		broken) printf -- '---\napiVersion: split.dev/v1\nkind: Service\nmetadata:\n  name: [broken\n' ;;
		*) svc_doc "$(printf 'filler-%03d' "$i")" "$i" ;;
		esac
	done
	for i in "${!ed[@]}"; do
		[ "${ed[$i]}" = add ] && svc_doc "$(printf 'filler-%03d' "$i")" "$i"
	done
	return 0
}
# step WHAT EDITS...: the file, then i (from its record) and the oracle
step() {
	local what=$1
	shift
	svc_file "$@" >"$SVC.tmp" && mv "$SVC.tmp" "$SVC"
	oracle
	once i || fail "$what: splitd --once failed: $(tail -n 2 "$LOG")"
	info "$what: $(grep -E 'applied: |whole file' "$LOG" | head -n 1 | cut -c 1-160)"
}

# unload_all: every state unloaded (its record too)
unload_all() {
	local s
	for s in "${STATES[@]}"; do
		"$B/splitd" -q --unload -p "$(pin "$s")" 2>/dev/null
	done
	return 0
}

# start: fresh states, the first file applied to i and f
start() {
	unload_all
	svc_file >"$SVC"
	oracle
	once i || fail "first apply: $(tail -n 2 "$LOG")"
	whole "first apply" "no record"
	[ -s "$(record i)" ] || fail "no record in /run/split after --once"
	expect_same_maps i f "first apply"
}

# ---- tests -----------------------------------------------------------------

test_one_document_changed() {
	start
	step "filler-007 grows" 7:grow
	incremental "filler-007 grows"
	grep -q 'datapath: as the last --once left it' "$LOG" ||
		fail "the datapath was loaded again: $(grep -v libbpf "$LOG" | head -n 2 | cut -c 1-200)"
	expect_same_maps i f "filler-007 grows"
	once c --full || fail "cold apply failed"
	expect_same_maps i c "filler-007 grows, vs cold"
	step "filler-007 back"
	incremental "filler-007 back"
	expect_same_maps i f "filler-007 back"
	# other options: the datapath is loaded and attached again (then the
	# service from the record)
	svc_file 12:shrink >"$SVC"
	oracle
	once i --no-tc-fallback || fail "with another option: $(tail -n 2 "$LOG")"
	grep -q 'loading the datapath: other options' "$LOG" ||
		fail "another option, the datapath not loaded: $(grep -v libbpf "$LOG" | head -n 2 | cut -c 1-200)"
	incremental "filler-012 loses v2, another option"
	expect_same_maps i f "filler-012 loses v2"
	step "filler-012 back"
	incremental "filler-012 back"
	expect_same_maps i f "filler-012 back"
	step "filler-012 loses v2 again" 12:shrink
	incremental "filler-012 loses v2 again"
	step "nothing changed" 12:shrink
	grep -q 'no service changed since the last --once' "$LOG" ||
		fail "a second run of the same file: $(grep 'applied' "$LOG")"
	expect_same_maps i f "nothing changed"
}

test_splitctl_set_between_runs() {
	start
	sctl i set filler-005 v1=70 v2=30 >/dev/null || fail "splitctl set (i)"
	sctl f set filler-005 v1=70 v2=30 >/dev/null || fail "splitctl set (oracle)"
	step "filler-030 grows after a set" 30:grow
	whole "filler-030 grows after a set" "maps changed since the record"
	expect_same_maps i f "splitctl set, then a run"
	step "three documents at once" 5:grow 6:grow
	whole "three documents at once" "more than one document changed"
	expect_same_maps i f "three documents changed"
	# the record is the full apply's: filler-005's own change is
	# incremental, and keeps the weights set (the maps', merged)
	step "filler-005 back" 6:grow
	incremental "filler-005 back"
	expect_same_maps i f "filler-005 back, weights set"
	expect_eq "$(weight i filler-005 v1)" 70 "filler-005's v1 weight (splitctl set)"
}

test_bad_document_keeps_state() {
	start
	dump i >"$WORK/before"
	svc_file 20:broken >"$SVC"
	once i && fail "a broken document was applied"
	grep -q "svc.yaml:[0-9]*:[0-9]*" "$LOG" || fail "no FILE:LINE:COL in: $(tail -n 1 "$LOG")"
	dump i >"$WORK/after"
	cmp -s "$WORK/before" "$WORK/after" || fail "the maps changed after a broken document"
	# the record still says what the maps hold: the fix is incremental
	step "filler-020 fixed, grown" 20:grow
	incremental "filler-020 fixed"
	expect_same_maps i f "after the fix"
}

test_whole_file_when_needed() {
	start
	step "filler-009's VIP" 9:vip
	whole "filler-009's VIP" "name, VIPs or ports"
	expect_same_maps i f "a VIP changed"
	step "filler-041 added" 9:vip 41:add
	whole "filler-041 added" "added or removed"
	expect_same_maps i f "a document added"
	step "filler-041 removed" 9:vip
	whole "filler-041 removed" "added or removed"
	expect_same_maps i f "a document removed"
	# an Istio object in the file: no record is kept
	{ svc_file 9:vip; printf -- '---\napiVersion: networking.istio.io/v1beta1\nkind: VirtualService\nmetadata: {name: web}\nspec:\n  hosts: [web]\n  http:\n  - route:\n    - destination: {host: web}\n'; } >"$SVC"
	oracle
	once i || fail "with an Istio object: $(tail -n 2 "$LOG")"
	expect_same_maps i f "an Istio object in the file"
	[ -e "$(record i)" ] && fail "a record was kept with an Istio object in force"
	# out of the file, the object stays in force (objects in force plus
	# the file's): still no record
	svc_file 9:vip >"$SVC"
	oracle
	once i || fail "without the Istio object: $(tail -n 2 "$LOG")"
	expect_same_maps i f "the object out of the file, in force"
	[ -e "$(record i)" ] && fail "a record was kept with an Istio object in force (not in the file)"
	# deleted (splitctl delete): the next --once records again
	printf 'apiVersion: networking.istio.io/v1beta1\nkind: VirtualService\nmetadata: {name: web}\nspec:\n  hosts: [web]\n  http:\n  - route:\n    - destination: {host: web}\n' >"$WORK/vs.yaml"
	sctl i delete -f "$WORK/vs.yaml" >/dev/null || fail "splitctl delete (i)"
	sctl f delete -f "$WORK/vs.yaml" >/dev/null || fail "splitctl delete (oracle)"
	oracle
	once i || fail "after the delete: $(tail -n 2 "$LOG")"
	[ -s "$(record i)" ] || fail "no record once no object is in force"
	# an object applied with splitctl: the whole file, and no record
	sctl i apply -f "$WORK/vs.yaml" >/dev/null || fail "splitctl apply (i)"
	sctl f apply -f "$WORK/vs.yaml" >/dev/null || fail "splitctl apply (oracle)"
	step "filler-002 grows, an object in force" 9:vip 2:grow
	whole "an object in force" "maps changed since the record"
	expect_same_maps i f "an object in force"
	[ -e "$(record i)" ] && fail "a record was kept with an Istio object in force (splitctl apply)"
	return 0
}

test_record_of_another_load() {
	start
	cp "$(record i)" "$WORK/old.record"
	# the same pin dir unloaded and loaded again: its maps are new
	"$B/splitd" -q --unload -p "$(pin i)" || fail "unload"
	[ -e "$(record i)" ] && fail "--unload left the record"
	once i || fail "cold apply: $(tail -n 2 "$LOG")"
	svc_file 3:grow >"$SVC"
	cp "$WORK/old.record" "$(record i)"
	once i || fail "with an old record: $(tail -n 2 "$LOG")"
	whole "an old record" "pin dir is not the one recorded"
	oracle
	expect_same_maps i f "an old record"
}

# An Istio object in force that the file no longer holds (no config dir:
# the objects in force stay): no record either, and filler-003 (L7 by
# that object) changes through the full path, keeping its L7 routes.
test_objects_in_force() {
	start
	{ svc_file; printf -- '---\napiVersion: networking.istio.io/v1beta1\nkind: VirtualService\nmetadata: {name: filler-003}\nspec:\n  hosts: [filler-003]\n  http:\n  - match:\n    - uri: {prefix: /beta}\n    route:\n    - destination: {host: filler-003}\n  - route:\n    - destination: {host: filler-003}\n'; } >"$SVC"
	oracle
	once i || fail "with an Istio object: $(tail -n 2 "$LOG")"
	svc_file >"$SVC"
	oracle
	once i || fail "the object left the file: $(tail -n 2 "$LOG")"
	expect_same_maps i f "the object in force, not in the file"
	[ -e "$(record i)" ] && fail "a record was kept with an Istio object in force (not in the file)"
	step "filler-003 grows, its object in force" 3:grow
	whole "filler-003 grows, its object in force" "no record"
	expect_same_maps i f "filler-003 grows, its object in force"
}

# big_file [FILLER_EDIT] [BIG_EXTRA]: 3,000 fillers (about 650 KB; filler
# FILLER_EDIT with a second v2 endpoint), and after them "bulk", one
# document of 4,000 endpoints with a long label each (about 460 KB: more
# than the 256 KB --once reads at a time) plus BIG_EXTRA more
big_file() {
	awk -v edit="${1:-0}" -v extra="${2:-0}" 'BEGIN {
		print "# many services for test_once"
		for (i = 1; i <= 3000; i++) {
			printf "---\napiVersion: split.dev/v1\nkind: Service\nmetadata:\n  name: filler-%04d\n", i
			printf "spec:\n  clusterIPs: [10.97.%d.%d]\n  ports:\n  - port: 80\n  endpoints:\n", int(i / 256), i % 256
			printf "  - addresses: [10.202.%d.%d]\n    labels: {version: v1}\n", int(i / 256), i % 256
			printf "  - addresses: [10.203.%d.%d]\n    labels: {version: v2}\n", int(i / 256), i % 256
			if (i == edit)
				printf "  - addresses: [10.204.%d.%d]\n    labels: {version: v2}\n", int(i / 256), i % 256
		}
		printf "---\napiVersion: split.dev/v1\nkind: Service\nmetadata:\n  name: bulk\n"
		printf "spec:\n  clusterIPs: [10.96.9.9]\n  ports:\n  - port: 80\n  endpoints:\n"
		for (e = 0; e < 4000 + extra; e++)
			printf "  - addresses: [10.%d.%d.%d]\n    labels: {version: v%d, note: a-label-that-makes-this-document-larger-than-one-read}\n", 110 + e % 2, int(e / 250), 1 + e % 250, 1 + e % 2
	}'
}

# A file that --once reads in several windows, a document larger than one,
# changes far into the file and in the large document.
test_large_file() {
	unload_all
	big_file >"$SVC"
	oracle
	once i || fail "first apply: $(tail -n 2 "$LOG")"
	expect_same_maps i f "first apply"
	big_file 2500 >"$SVC"
	oracle
	once i || fail "filler-2500 grows: $(tail -n 2 "$LOG")"
	incremental "filler-2500 grows (in the third window)"
	expect_same_maps i f "filler-2500 grows"
	big_file 2500 1 >"$SVC"
	oracle
	once i || fail "bulk grows: $(tail -n 2 "$LOG")"
	incremental "bulk (330 KB) grows"
	expect_same_maps i f "bulk grows"
	big_file 0 1 >"$SVC"
	oracle
	once i || fail "filler-2500 back: $(tail -n 2 "$LOG")"
	incremental "filler-2500 back (a document before the large one)"
	expect_same_maps i f "filler-2500 back"
}

# --once on files loads no libcurl (and none of its libraries): only
# --source kubernetes opens it (tests/k8s/test_libcurl.sh). LD_DEBUG=files:
# every library the loader opens, at start and by dlopen, in a whole apply
# and in one from the record.
test_once_loads_no_libcurl() {
	local log mode
	start
	svc_file 3:grow >"$SVC"
	for mode in full record; do
		rm -f "$WORK"/lddebug.*
		if [ $mode = full ]; then
			LD_DEBUG=files LD_DEBUG_OUTPUT="$WORK/lddebug" once i --full ||
				fail "--once --full: $(tail -n 2 "$LOG")"
		else
			svc_file >"$SVC"
			LD_DEBUG=files LD_DEBUG_OUTPUT="$WORK/lddebug" once i ||
				fail "--once: $(tail -n 2 "$LOG")"
			incremental "--once under LD_DEBUG"
		fi
		log=$(cat "$WORK"/lddebug.*)
		expect_contains "$log" "file=libbpf.so.1" "--once ($mode): the loader's log"
		expect_eq "$(echo "$log" | grep -c 'file=libcurl')" 0 "--once ($mode): libcurl files opened"
	done
}

run_tests test_one_document_changed test_splitctl_set_between_runs \
	test_bad_document_keeps_state test_whole_file_when_needed test_record_of_another_load \
	test_objects_in_force test_large_file test_once_loads_no_libcurl
