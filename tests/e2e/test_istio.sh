#!/bin/bash
# test_istio.sh - end to end: Istio configuration through splitctl apply /
# delete / get and splitd --config-dir, checked on real connections and on
# the maps, including refused changes leaving every map byte-identical.
#
# Needs root. Builds its own testbed (unique names) and removes it on exit.
T_SUITE=e2e_istio
source "$(dirname "$0")/fixture.sh"
# splitd in the node netns, its L7 proxy on the node's address: connections
# to a service with request-matching rules go through it (test_l7.sh).
fixture_up_l7
fixture_splitd

snapshot_all() { # every map the control plane writes, byte for byte
	local m
	for m in svc backends services weights tables_v3 slots_v3 big_v4 objects l7_routes l7_conds; do
		echo "== $m"; bpftool map dump pinned "$TB_PIN/$m" 2>&1
	done
}
split_of() { client --connect $VIP4 --port $PORT --parallel 2 "$@"; }	# -n N [ARG...]

test_seed_default_rule_all_to_v1() {
	local out
	out=$(ctl apply -f $SEED/route-rule-default-reviews.yaml)
	expect_contains "$out" "applied 1 Istio objects" "apply output"
	out=$(ctl show --json reviews)
	expect_contains "$out" '"name":"v1","weight":100' "v1 weight from the RouteRule"
	expect_contains "$out" '"name":"v2","weight":0' "v2 not in the route"
	out=$(split_of -n 500)
	expect_clean "$out" 500
	expect_eq "$(vcount "$out" v1)" 500 "connections to v1"
	out=$(ctl get)
	expect_contains "$out" "kind: RouteRule" "get prints the RouteRule"
	expect_contains "$out" "name: reviews-default" "get prints its name"
}

test_seed_test_user_rule_compiled_to_l7_maps() {
	local out
	ctl apply -f $SEED/route-rule-test-reviews-v2.yaml >/dev/null
	out=$(bpftool map dump pinned "$TB_PIN/l7_conds")
	expect_contains "$out" '"name": "cookie"' "header name in l7_conds"
	expect_contains "$out" 'user=test-user' "the regex in l7_conds"
	out=$(bpftool map dump pinned "$TB_PIN/l7_routes")
	expect_contains "$out" '"nmatches": 1' "the test-user route"
	expect_contains "$out" '"version": "v2"' "its destination"
	out=$(bpftool map dump pinned "$TB_PIN/services")
	expect_contains "$out" '"flags": 3' "reviews is routed and L7"
	# Both rules are in force, the default one still sends all to v1.
	out=$(ctl get)
	expect_contains "$out" "name: reviews-test-user" "get: test-user rule"
	expect_contains "$out" "name: reviews-default" "get: default rule kept"
	out=$(split_of -n 300)
	expect_eq "$(vcount "$out" v1)" 300 "connections without L7 still to v1"
}

# The RouteRule reviews-default as `splitctl get` prints it: "v1=50 v2=50".
rr_default_weights() {
	ctl get | awk '/^---/ { doc = 0 } /name: reviews-default/ { doc = 1 }
		doc && /version:/ { v = $2 } doc && /weight:/ { printf "%s%s=%s", n++ ? " " : "", v, $2 }
		END { print "" }'
}

test_set_patches_the_route_rule() {
	# The seed's step 4 as a user types it: default rule (v1) and the
	# test-user rule in force, then `splitctl set reviews v1=50 v2=50`.
	local out rc before
	out=$(ctl set reviews v1=50 v2=50)
	expect_contains "$out" "v1=50 v2=50 v3=0" "set output: the weights"
	expect_contains "$out" "changed RouteRule default/reviews-default" "set output: the object it changed"
	expect_eq "$(rr_default_weights)" "v1=50 v2=50" "get: the RouteRule with its new weights"
	expect_contains "$(ctl get)" "name: reviews-test-user" "the test-user rule still in force"
	expect_contains "$(ctl show --json reviews)" '"name":"v2","weight":50' "v2 weight in the state"
	expect_split 4000 v2 0.5 "v2 at 50% after set" split_of
	expect_eq "$(vcount "$out" v3)" 0 "v3 not routed"
	# The cookie rule still routes, through splitd's proxy.
	out=$(split_of -n 200 --header "$COOKIE")
	expect_clean "$out" 200
	expect_eq "$(vcount "$out" v2)" 200 "test-user requests to v2 after set"
	# Relative weights that scale to percents; others refused, clearly.
	expect_contains "$(ctl set reviews v1=9 v2=1)" "v1=90 v2=10" "v1=9 v2=1 is 90/10"
	expect_eq "$(rr_default_weights)" "v1=90 v2=10" "get after v1=9 v2=1"
	before=$(snapshot_all)
	rc=0; out=$(ctl set reviews v1=50 v4=50 2>&1) || rc=$?
	expect_eq "$rc" 1 "an unknown version"
	expect_contains "$out" "no version 'v4'" "names the version"
	rc=0; out=$(ctl set reviews v1=1 v2=2 2>&1) || rc=$?
	expect_eq "$rc" 1 "weights that are no whole percents"
	expect_contains "$out" "add up to 100" "says why"
	rc=0; out=$(ctl reset reviews 2>&1) || rc=$?
	expect_eq "$rc" 1 "reset of a rule's weights"
	expect_contains "$out" "RouteRule default/reviews-default" "reset names the object"
	[ "$before" = "$(snapshot_all)" ] || fail "maps changed after refused sets"
	ctl set reviews v1=50 v2=50 >/dev/null
}

test_seed_50_50_replaces_by_identity() {
	local out
	ctl apply -f $SEED/route-rule-default-reviews-50.yaml >/dev/null
	expect_split 4000 v2 0.5 "v2 at 50% by RouteRule" split_of
	expect_contains "$(ctl get)" "name: reviews-test-user" "test-user rule still in force"
	# An apply after a set replaces the object the set changed.
	ctl set reviews v1=10 v2=90 >/dev/null || fail "set"
	ctl apply -f $SEED/route-rule-default-reviews-v2.yaml >/dev/null
	expect_eq "$(rr_default_weights)" "v2=100" "get: the applied file, not the set"
	out=$(split_of -n 300)
	expect_eq "$(vcount "$out" v2)" 300 "v2=100 by RouteRule"
}

test_bad_configs_change_nothing() {
	local before after f out rc n=0
	before=$(snapshot_all)
	for f in tests/data/istio-bad/*.yaml; do
		n=$((n + 1))
		[ $((n % 9)) -eq 1 ] || continue # a sample of the corpus, every kind
		rc=0; out=$(ctl apply -f "$f" 2>&1) || rc=$?
		expect_eq "$rc" 1 "exit status for $f"
		expect_contains "$out" "$(basename "$f"):" "file:line:col in the error for $f"
	done
	# A valid object that conflicts with the ones in force (a VirtualService
	# for a service that RouteRules already route) is refused too.
	cat >"$WORK/vs-conflict.yaml" <<'YAML'
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: reviews-vs}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews}
YAML
	rc=0; out=$(ctl apply -f "$WORK/vs-conflict.yaml" 2>&1) || rc=$?
	expect_eq "$rc" 1 "conflicting VirtualService refused"
	info "conflict: $out"
	# A rule for a service that does not exist.
	sed 's/name: reviews$/name: nosuch/' $SEED/route-rule-default-reviews.yaml >"$WORK/nosuch.yaml"
	rc=0; out=$(ctl apply -f "$WORK/nosuch.yaml" 2>&1) || rc=$?
	expect_eq "$rc" 1 "rule for an unknown service refused"
	expect_contains "$out" "no service nosuch" "names the unknown service"
	after=$(snapshot_all)
	[ "$before" = "$after" ] || fail "maps changed after refused applies"
}

test_delete_restores_equal_split() {
	local out
	ctl delete -f $SEED/route-rule-test-reviews-v2.yaml >/dev/null
	out=$(bpftool map dump pinned "$TB_PIN/l7_conds")
	[[ "$out" != *user=test-user* ]] || fail "l7_conds still holds the deleted rule"
	ctl delete -f $SEED/route-rule-default-reviews.yaml >/dev/null
	expect_contains "$(ctl get)" "no Istio objects in force" "get after deleting all"
	expect_contains "$(ctl show reviews)" "no explicit route" "weights back to equal"
	out=$(split_of -n 2000)
	within_sigma "$(vcount "$out" v1)" 2000 0.5 4 "v1 (2 of 4 endpoints) after delete"
}

test_virtualservice_destinationrule() {
	local out v rc
	for v in v1alpha3 v1beta1 v1; do
		cat >"$WORK/vs.yaml" <<YAML
apiVersion: networking.istio.io/$v
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: stable, labels: {version: v1}}
  - {name: canary, labels: {version: v3}}
---
apiVersion: networking.istio.io/$v
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews.default.svc.cluster.local]
  http:
  - match:
    - headers: {end-user: {exact: jason}}
    route:
    - destination: {host: reviews, subset: canary}
  - route:
    - destination: {host: reviews, subset: stable}
      weight: 90
    - destination: {host: reviews, subset: canary}
      weight: 10
YAML
		ctl apply -f "$WORK/vs.yaml" >/dev/null || fail "apply $v"
	done
	expect_split 4000 v3 0.1 "canary v3 at 10%" split_of
	expect_eq "$(vcount "$out" v2)" 0 "v2 not routed"
	expect_contains "$(bpftool map dump pinned "$TB_PIN/l7_conds")" '"name": "end-user"' "match in l7_conds"
	# set on a VirtualService-governed service: its last route changes;
	# subsets by name or by version label.
	out=$(ctl set reviews stable=50 canary=50)
	expect_contains "$out" "changed VirtualService default/reviews" "set output: the object"
	expect_contains "$out" "v1=50 v2=0 v3=50" "set output: the weights"
	out=$(ctl get)
	expect_contains "$out" "kind: VirtualService" "get: the VirtualService"
	expect_contains "$(grep -A2 'subset: stable' <<<"$out")" "weight: 50" "get: stable at 50"
	expect_split 4000 v3 0.5 "canary v3 at 50% after set" split_of
	out=$(split_of -n 200 --header 'end-user: jason')
	expect_clean "$out" 200
	expect_eq "$(vcount "$out" v3)" 200 "the end-user match still routes to canary"
	expect_contains "$(ctl set reviews v1=20 v3=80)" "v1=20 v2=0 v3=80" "set by version label"
	rc=0; out=$(ctl set reviews v2=100 2>&1) || rc=$?
	expect_eq "$rc" 1 "a version no subset has"
	expect_contains "$out" "DestinationRule default/reviews defines no subset 'v2'" "names the DestinationRule"
	expect_contains "$out" "stable (version v1)" "lists the subsets"
	# apply after set: the file again
	ctl apply -f "$WORK/vs.yaml" >/dev/null || fail "apply after set"
	out=$(split_of -n 4000)
	within_sigma "$(vcount "$out" v3)" 4000 0.1 4 "canary v3 at 10% again after apply"
	ctl delete -f "$WORK/vs.yaml" >/dev/null
}

test_config_dir_configmap_updates() {
	# A Kubernetes ConfigMap volume: files are symlinks into ..data, which
	# is swapped atomically to a new timestamped directory.
	local cm="$WORK/cm" out rc before
	mkdir -p "$cm/..2026_01_01_00_00_01.000000001"
	cp $SEED/route-rule-default-reviews-50.yaml "$cm/..2026_01_01_00_00_01.000000001/rules.yaml"
	ln -s ..2026_01_01_00_00_01.000000001 "$cm/..data"
	ln -s ..data/rules.yaml "$cm/rules.yaml"
	stop_splitd TERM
	SPLITD_ARGS=("${L7_ARGS[@]}" --config-dir "$cm")
	start_splitd || fail "splitd with --config-dir"
	expect_contains "$(ctl show --json reviews)" '"name":"v2","weight":50' "rules from the config dir"
	# update: v2=100
	mkdir "$cm/..2026_01_01_00_00_02.000000002"
	cp $SEED/route-rule-default-reviews-v2.yaml "$cm/..2026_01_01_00_00_02.000000002/rules.yaml"
	ln -s ..2026_01_01_00_00_02.000000002 "$cm/..data_tmp"
	mv -T "$cm/..data_tmp" "$cm/..data"
	for _ in $(seq 40); do ctl show --json reviews | grep -q '"name":"v2","weight":100' && break; sleep 0.1; done
	expect_contains "$(ctl show --json reviews)" '"name":"v2","weight":100' "ConfigMap update applied"
	# The files own the objects: set refuses and names the file to edit.
	before=$(snapshot_all)
	rc=0; out=$(ctl set reviews v1=50 v2=50 2>&1) || rc=$?
	expect_eq "$rc" 1 "set under --config-dir"
	expect_contains "$out" "RouteRule default/reviews-default" "names the object"
	expect_contains "$out" "$cm/rules.yaml: edit that file" "names the file"
	info "refused: $out"
	[ "$before" = "$(snapshot_all)" ] || fail "maps changed after a refused set"
	# a bad update: logged, state in force unchanged
	mkdir "$cm/..2026_01_01_00_00_03.000000003"
	cp tests/data/istio-bad/001-vs-http-fault.yaml "$cm/..2026_01_01_00_00_03.000000003/rules.yaml"
	ln -s ..2026_01_01_00_00_03.000000003 "$cm/..data_tmp"
	mv -T "$cm/..data_tmp" "$cm/..data"
	for _ in $(seq 40); do grep -q "is not supported (fault injection)" "$WORK/splitd.log" && break; sleep 0.1; done
	grep -q "rules.yaml:10:5: VirtualService field 'http\[0\].fault' is not supported" "$WORK/splitd.log" ||
		fail "bad update not logged with file:line:col: $(tail -n 3 "$WORK/splitd.log")"
	expect_contains "$(ctl show --json reviews)" '"name":"v2","weight":100' "state kept after a bad update"
	out=$(split_of -n 300)
	expect_eq "$(vcount "$out" v2)" 300 "traffic still per the last good config"
	stop_splitd TERM
	SPLITD_ARGS=("${L7_ARGS[@]}")
	start_splitd || fail "splitd restart"
	# Without --config-dir, splitctl owns the objects again: set works.
	expect_contains "$(ctl set reviews v1=50 v2=50)" "changed RouteRule default/reviews-default" "set after --config-dir"
}

run_tests test_seed_default_rule_all_to_v1 test_seed_test_user_rule_compiled_to_l7_maps \
	test_set_patches_the_route_rule test_seed_50_50_replaces_by_identity test_bad_configs_change_nothing \
	test_delete_restores_equal_split test_virtualservice_destinationrule \
	test_config_dir_configmap_updates
