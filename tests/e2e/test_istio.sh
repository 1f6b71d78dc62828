#!/bin/bash
# test_istio.sh - end to end: Istio configuration through splitctl apply /
# delete / get and splitd --config-dir, checked on real connections and on
# the maps, including refused changes leaving every map byte-identical.
#
# Needs root. Builds its own testbed (unique names) and removes it on exit.
set -u
cd "$(dirname "$0")/../.." || exit 1
T_SUITE=e2e_istio
source tests/lib.sh
source scripts/testbed.sh
source tests/e2e/fixture.sh
# splitd in the node netns, its L7 proxy on the node's address: connections
# to a service with request-matching rules go through it (test_l7.sh).
SPLITD_NS='$TB_NODE'
fixture_up
SPLITD_ARGS=(--l7-addr "$TB_NODE_IP4" --l7-addr "$TB_NODE_IP6")
start_splitd || { echo "FAIL: splitd did not start"; exit 1; }

SEED=tests/data/seed
snapshot_all() { # every map the control plane writes, byte for byte
	local m
	for m in svc backends services weights tables_v3 slots_v3 big_v3 objects l7_routes l7_conds; do
		echo "== $m"; bpftool map dump pinned "$TB_PIN/$m" 2>&1
	done
}
split_of() { client --connect $VIP4 --port $PORT -n "$1" --parallel 2; }

test_seed_default_rule_all_to_v1() {
	local out
	out=$(ctl apply -f $SEED/route-rule-default-reviews.yaml)
	expect_contains "$out" "applied 1 Istio objects" "apply output"
	out=$(ctl show --json reviews)
	expect_contains "$out" '"name":"v1","weight":100' "v1 weight from the RouteRule"
	expect_contains "$out" '"name":"v2","weight":0' "v2 not in the route"
	out=$(split_of 500)
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
	out=$(split_of 300)
	expect_eq "$(vcount "$out" v1)" 300 "connections without L7 still to v1"
}

test_seed_50_50_replaces_by_identity() {
	local out rc=0
	ctl apply -f $SEED/route-rule-default-reviews-50.yaml >/dev/null
	out=$(split_of 4000)
	expect_clean "$out" 4000
	within_sigma "$(vcount "$out" v2)" 4000 0.5 4 "v2 at 50% by RouteRule"
	expect_contains "$(ctl get)" "name: reviews-test-user" "test-user rule still in force"
	out=$(ctl set reviews v1=10 v2=90 2>&1) || rc=$?
	expect_eq "$rc" 1 "set refused while a rule sets the weights"
	expect_contains "$out" "come from RouteRule default/reviews-default" "why set was refused"
	ctl apply -f $SEED/route-rule-default-reviews-v2.yaml >/dev/null
	out=$(split_of 300)
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
	out=$(split_of 2000)
	within_sigma "$(vcount "$out" v1)" 2000 0.5 4 "v1 (2 of 4 endpoints) after delete"
}

test_virtualservice_destinationrule() {
	local out v
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
	out=$(split_of 4000)
	expect_clean "$out" 4000
	within_sigma "$(vcount "$out" v3)" 4000 0.1 4 "canary v3 at 10%"
	expect_eq "$(vcount "$out" v2)" 0 "v2 not routed"
	expect_contains "$(bpftool map dump pinned "$TB_PIN/l7_conds")" '"name": "end-user"' "match in l7_conds"
	ctl delete -f "$WORK/vs.yaml" >/dev/null
}

test_config_dir_configmap_updates() {
	# A Kubernetes ConfigMap volume: files are symlinks into ..data, which
	# is swapped atomically to a new timestamped directory.
	local cm="$WORK/cm" out
	mkdir -p "$cm/..2026_01_01_00_00_01.000000001"
	cp $SEED/route-rule-default-reviews-50.yaml "$cm/..2026_01_01_00_00_01.000000001/rules.yaml"
	ln -s ..2026_01_01_00_00_01.000000001 "$cm/..data"
	ln -s ..data/rules.yaml "$cm/rules.yaml"
	stop_splitd TERM
	SPLITD_ARGS=(--l7-addr "$TB_NODE_IP4" --l7-addr "$TB_NODE_IP6" --config-dir "$cm")
	start_splitd || fail "splitd with --config-dir"
	expect_contains "$(ctl show --json reviews)" '"name":"v2","weight":50' "rules from the config dir"
	# update: v2=100
	mkdir "$cm/..2026_01_01_00_00_02.000000002"
	cp $SEED/route-rule-default-reviews-v2.yaml "$cm/..2026_01_01_00_00_02.000000002/rules.yaml"
	ln -s ..2026_01_01_00_00_02.000000002 "$cm/..data_tmp"
	mv -T "$cm/..data_tmp" "$cm/..data"
	for _ in $(seq 40); do ctl show --json reviews | grep -q '"name":"v2","weight":100' && break; sleep 0.1; done
	expect_contains "$(ctl show --json reviews)" '"name":"v2","weight":100' "ConfigMap update applied"
	# a bad update: logged, state in force unchanged
	mkdir "$cm/..2026_01_01_00_00_03.000000003"
	cp tests/data/istio-bad/001-vs-http-fault.yaml "$cm/..2026_01_01_00_00_03.000000003/rules.yaml"
	ln -s ..2026_01_01_00_00_03.000000003 "$cm/..data_tmp"
	mv -T "$cm/..data_tmp" "$cm/..data"
	for _ in $(seq 40); do grep -q "is not supported (fault injection)" "$WORK/splitd.log" && break; sleep 0.1; done
	grep -q "rules.yaml:10:5: VirtualService field 'http\[0\].fault' is not supported" "$WORK/splitd.log" ||
		fail "bad update not logged with file:line:col: $(tail -n 3 "$WORK/splitd.log")"
	expect_contains "$(ctl show --json reviews)" '"name":"v2","weight":100' "state kept after a bad update"
	out=$(split_of 300)
	expect_eq "$(vcount "$out" v2)" 300 "traffic still per the last good config"
	stop_splitd TERM
	SPLITD_ARGS=(--l7-addr "$TB_NODE_IP4" --l7-addr "$TB_NODE_IP6")
	start_splitd || fail "splitd restart"
}

run_tests test_seed_default_rule_all_to_v1 test_seed_test_user_rule_compiled_to_l7_maps \
	test_seed_50_50_replaces_by_identity test_bad_configs_change_nothing \
	test_delete_restores_equal_split test_virtualservice_destinationrule \
	test_config_dir_configmap_updates
