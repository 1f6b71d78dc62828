#!/bin/bash
# test_node.sh - end to end on a node-shaped testbed: what a Kubernetes node
# with splitd as a DaemonSet looks like, without Kubernetes.
#
#   pods      network namespaces with a veth each to the node namespace, each
#             in its own cgroup under a kubepods.slice the test creates
#             (inside this run's cgroup: never the machine's real pods)
#   splitd    in the node namespace (hostNetwork) and in a pod cgroup of its
#             own under kubepods.slice, placed as the DaemonSet runs it:
#             --cgroup auto (pointed at the test's cgroup with --cgroup-root),
#             the L7 proxy on the node's address, metrics and probes. Its
#             source here is a ConfigMap-shaped --config-dir: the documented
#             alternative (deploy/examples/), not the shipped DaemonSet's
#             --source=kubernetes, which tests/e2e/test_k8s_source.sh runs
#             with the shipped arguments against a fake API server
#
# Checks: --cgroup auto attaches to kubepods.slice; /healthz and /readyz;
# the seed walkthrough (L4 weights and the test-user cookie rule) from two
# pods at once, changed through ConfigMap swaps; a node process outside
# kubepods is untouched; a pod made after splitd started is split too;
# splitd's own connections are never redirected; the capabilities splitd
# keeps, and a run with only the capability-only variant's capabilities;
# the example ConfigMap (deploy/examples/config-files.yaml) loads and applies.
#
# Needs root. Builds its own testbed (unique names) and removes it on exit.
T_SUITE=e2e_node
source "$(dirname "$0")/fixture.sh"
PY=/usr/bin/python3
CM_PIN=

node_cleanup() {
	if [ -n "$CM_PIN" ] && [ -d "$CM_PIN" ]; then
		"$B/splitd" -q --unload -p "$CM_PIN" 2>/dev/null
	fi
	cleanup
}

fixture_up
trap node_cleanup EXIT
tb_pods_init || { echo "FAIL: node testbed"; exit 1; }
tb_pod_add a 1 && tb_pod_add b 2 || { echo "FAIL: pods"; exit 1; }
SPLITD_POD="$TB_KUBEPODS/kubepods-burstable.slice/kubepods-burstable-podsplitd.slice/cri-splitd.scope"
mkdir -p "$SPLITD_POD"
CM="$WORK/config"

# ---- the ConfigMap volume, as the kubelet writes it ---------------------------

# cm_set FILE...: the config dir now holds the services and FILEs, changed
# in the kubelet's order (its AtomicWriter): the new files in a new
# timestamped dir, links for new keys, an atomic rename of ..data, then the
# links of keys gone and the old dir removed.
cm_set() {
	local d f k old keys=(services.yaml)
	# The generation lives in a file: each test runs in a subshell.
	CM_GEN=$(($(cat "$WORK/cm-gen" 2>/dev/null || echo 0) + 1))
	echo $CM_GEN >"$WORK/cm-gen"
	d="..2026_01_01_00_$(printf '%02d_%02d' $((CM_GEN / 60)) $((CM_GEN % 60))).000000001"
	mkdir -p "$CM/$d"
	cp tests/data/services.yaml "$CM/$d/services.yaml"
	for f in "$@"; do
		cp "$f" "$CM/$d/$(basename "$f")"
		keys+=("$(basename "$f")")
	done
	old=$(readlink "$CM/..data" 2>/dev/null)
	for k in "${keys[@]}"; do
		[ -L "$CM/$k" ] || ln -s "..data/$k" "$CM/$k"
	done
	ln -s "$d" "$CM/..data_tmp"
	mv -T "$CM/..data_tmp" "$CM/..data"
	for f in "$CM"/*; do
		k=$(basename "$f")
		[[ " ${keys[*]} " == *" $k "* ]] || rm -f "$f"
	done
	[ -n "$old" ] && rm -rf "${CM:?}/$old"
	return 0
}
applied() { grep -c "applied:" "$WORK/splitd.log" 2>/dev/null; }
# cm_apply FILE...: cm_set, and wait until splitd applied this version:
# its last "applied:" line counts these services and Istio objects.
cm_apply() {
	local before f svcs=1 objs=0 want
	for f in "$@"; do
		if grep -q '^kind: Service' "$f"; then svcs=$((svcs + 1)); else objs=$((objs + 1)); fi
	done
	want="applied: $svcs services, $objs Istio objects"
	before=$(applied)
	cm_set "$@"
	for _ in $(seq 100); do
		if [ "$(applied)" -gt "$before" ] &&
			[ "$(grep "applied:" "$WORK/splitd.log" | tail -n1)" = "splitd: $want" ]; then
			sleep 0.2	# the L7 proxy follows within 50 ms
			return 0
		fi
		sleep 0.1
	done
	tail -n 5 "$WORK/splitd.log" >&2
	fail "splitd did not apply the ConfigMap change ($want)"
}

# ---- splitd placed as the DaemonSet runs it, with the ConfigMap as its source --

NODE_ARGS=(--config-dir "$CM" --cgroup auto --cgroup-root "$TB_CGROUP" -p "$TB_PIN"
	--metrics "$TB_NODE_POD_IP4:0" --l7-addr "$TB_NODE_POD_IP4" --l7-addr "$TB_NODE_POD_IP6")
# start_node_splitd [WRAPPER...]: in the node netns and splitd's pod cgroup.
start_node_splitd() {
	local seen
	seen=$(grep -c "watching" "$WORK/splitd.log" 2>/dev/null)
	# shellcheck disable=SC2016
	sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' sh "$SPLITD_POD" \
		nsenter --net="/run/netns/$TB_NODE" "$@" "$B/splitd" "${NODE_ARGS[@]}" \
		>>"$WORK/splitd.log" 2>&1 &
	splitd_started "$seen"
}
metrics_port() { sed -n 's/.*metrics: GET \/metrics on .* (port \([0-9]*\)).*/\1/p' "$WORK/splitd.log" | tail -n1; }
node_get() { # PATH: status and body from the metrics port, from the node netns
	tb_in "$TB_NODE" curl -sS --max-time 5 -w '%{http_code}' \
		"http://$TB_NODE_POD_IP4:$(metrics_port)$1"
}

cm_set $SEED/route-rule-default-reviews.yaml
start_node_splitd || { echo "FAIL: splitd did not start"; exit 1; }

# pod_split POD N [ARGS...]: splitclient in POD against the VIP.
pod_split() {
	tb_in_pod "$1" timeout 120 "$B/splitclient" --connect $VIP4 --port $PORT -n "$2" \
		--parallel 2 --timeout-ms 1000 "${@:3}"
}
# both_pods N [ARGS...]: the same from pods a and b at once; outputs in
# $WORK/out-a, $WORK/out-b.
both_pods() {
	pod_split a "$@" >"$WORK/out-a" 2>&1 &
	local pa=$!
	pod_split b "$@" >"$WORK/out-b" 2>&1 &
	local pb=$!
	wait $pa; wait $pb
}
out_of() { cat "$WORK/out-$1"; }

test_cgroup_auto_attaches_to_kubepods() {
	local out id
	expect_contains "$(cat "$WORK/splitd.log")" "--cgroup auto: $TB_KUBEPODS (the kubelet's pods)" "splitd's choice"
	out=$(bpftool cgroup show "$TB_KUBEPODS")
	expect_contains "$out" "connect4" "programs on kubepods.slice"
	expect_contains "$out" "split_connect4" "our connect4 on kubepods.slice"
	expect_contains "$out" "sock_ops" "sockops on kubepods.slice"
	out=$(bpftool cgroup show "$TB_CGROUP")
	[[ $out != *split_connect4* ]] || fail "attached to the cgroup2 root given, not kubepods.slice"
	# The pinned link names kubepods.slice's cgroup id.
	id=$(stat -c %i "$TB_KUBEPODS")
	out=$(bpftool -j link show pinned "$TB_PIN/links/split_connect4")
	expect_contains "$out" "\"cgroup_id\":$id" "pinned link's cgroup"
	# splitd found its own cgroup (its pod) and says so.
	expect_contains "$(cat "$WORK/splitd.log")" "own cgroup $SPLITD_POD (id $(stat -c %i "$SPLITD_POD"))" "own cgroup"
}

test_health_and_readiness() {
	local out
	out=$(node_get /healthz)
	expect_eq "$out" $'ok\n200' "/healthz"
	out=$(node_get /readyz)
	expect_eq "$out" $'ready: datapath attached, configuration applied\n200' "/readyz"
	# From a pod too (hostNetwork: the node's address).
	out=$(tb_in_pod a curl -sS --max-time 5 -o /dev/null -w '%{http_code}' \
		"http://$TB_NODE_POD_IP4:$(metrics_port)/readyz")
	expect_eq "$out" 200 "/readyz from a pod"
	out=$(node_get /metrics)
	expect_contains "$out" "split_" "metrics"
}

test_seed_walkthrough_from_two_pods() {
	local p n=300
	# 1. Only v1: the default rule sends everything there.
	cm_apply $SEED/route-rule-default-reviews.yaml
	both_pods $n
	for p in a b; do
		expect_clean "$(out_of $p)" $n
		expect_eq "$(vcount "$(out_of $p)" v1)" $n "pod $p: all to v1"
	done
	# 2-3. v2 deployed; the test-user cookie rule sends only test-user there.
	cm_apply $SEED/route-rule-default-reviews.yaml $SEED/route-rule-test-reviews-v2.yaml
	pod_split a $n --header "$COOKIE" >"$WORK/out-a" 2>&1 &
	pod_split b $n >"$WORK/out-b" 2>&1 &
	wait
	expect_clean "$(out_of a)" $n
	expect_eq "$(vcount "$(out_of a)" v2)" $n "pod a, test-user: v2"
	expect_clean "$(out_of b)" $n
	expect_eq "$(vcount "$(out_of b)" v1)" $n "pod b, anyone else: v1"
	both_pods 100 --header "$COOKIE"
	for p in a b; do
		expect_eq "$(vcount "$(out_of $p)" v2)" 100 "pod $p, test-user: v2"
	done
	# 4. The default rule becomes v1=50 v2=50 (the cookie rule stays).
	cm_apply $SEED/route-rule-default-reviews-50.yaml $SEED/route-rule-test-reviews-v2.yaml
	both_pods 1000
	for p in a b; do
		expect_clean "$(out_of $p)" 1000
		within_sigma "$(vcount "$(out_of $p)" v2)" 1000 0.5 4 "pod $p: v2 at 50%"
		expect_eq "$(vcount "$(out_of $p)" v3)" 0 "pod $p: no v3"
	done
	both_pods 100 --header "$COOKIE"
	expect_eq "$(vcount "$(out_of a)" v2)" 100 "pod a, test-user at 50/50: v2"
	# 5. v2=100; then a rollback to v1 is one ConfigMap change.
	cm_apply $SEED/route-rule-default-reviews-v2.yaml $SEED/route-rule-test-reviews-v2.yaml
	both_pods $n
	for p in a b; do
		expect_eq "$(vcount "$(out_of $p)" v2)" $n "pod $p: v2=100"
	done
	cm_apply $SEED/route-rule-default-reviews.yaml $SEED/route-rule-test-reviews-v2.yaml
	both_pods $n
	for p in a b; do
		expect_eq "$(vcount "$(out_of $p)" v1)" $n "pod $p: rolled back to v1"
	done
	# 6. v1 and the test rule deleted: v2 only.
	cm_apply $SEED/route-rule-default-reviews-v2.yaml
	both_pods $n
	for p in a b; do
		expect_clean "$(out_of $p)" $n
		expect_eq "$(vcount "$(out_of $p)" v2)" $n "pod $p: v2 after the test rule is gone"
	done
}

test_node_process_outside_kubepods_untouched() {
	local out srv
	cm_apply $SEED/route-rule-default-reviews-50.yaml
	# Something at the VIP itself on the node: only an unsplit connection
	# gets there.
	ip -n "$TB_NODE" addr add "$VIP4/32" dev lo
	nsenter --net="/run/netns/$TB_NODE" "$B/httpd" --name node-literal --port $PORT \
		--listen $VIP4 >"$WORK/literal.out" 2>&1 &
	srv=$!
	for _ in $(seq 50); do grep -qx ready "$WORK/literal.out" && break; sleep 0.05; done
	out=$(tb_in_system kubelet "$TB_NODE" "$B/splitclient" --connect $VIP4 --port $PORT -n 50)
	expect_eq "$(vcount "$out" node-literal)" 50 "a node process (system.slice) reaches the VIP itself"
	# In the cgroup2 root given (the parent of kubepods.slice): untouched too.
	out=$(tb_in_cgroup "$TB_NODE" "$B/splitclient" --connect $VIP4 --port $PORT -n 50)
	expect_eq "$(vcount "$out" node-literal)" 50 "a process in the root, outside kubepods"
	# A hostNetwork pod (node netns, cgroup under kubepods) is split.
	mkdir -p "$TB_KUBEPODS/kubepods-besteffort.slice/kubepods-besteffort-podhostnet.slice"
	out=$(sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' sh \
		"$TB_KUBEPODS/kubepods-besteffort.slice/kubepods-besteffort-podhostnet.slice" \
		nsenter --net="/run/netns/$TB_NODE" "$B/splitclient" --connect $VIP4 --port $PORT -n 400)
	expect_clean "$out" 400
	expect_eq "$(vcount "$out" node-literal)" 0 "a hostNetwork pod is split"
	within_sigma "$(vcount "$out" v2)" 400 0.5 4 "hostNetwork pod: v2 at 50%"
	kill "$srv"; wait "$srv" 2>/dev/null
	ip -n "$TB_NODE" addr del "$VIP4/32" dev lo
}

test_pod_made_after_splitd_started() {
	local out
	cm_apply $SEED/route-rule-default-reviews-50.yaml $SEED/route-rule-test-reviews-v2.yaml
	# A new pod: new netns, new cgroup (nested under kubepods.slice), made now.
	tb_pod_add late 3 || fail "pod late"
	out=$(pod_split late 1000)
	expect_clean "$out" 1000
	within_sigma "$(vcount "$out" v2)" 1000 0.5 4 "new pod: v2 at 50%"
	out=$(pod_split late 100 --header "$COOKIE")
	expect_eq "$(vcount "$out" v2)" 100 "new pod, test-user: v2 (through the proxy)"
}

test_own_connections_not_redirected() {
	local out id
	# A second service whose VIP is v2's endpoint address, sending to v3.
	# splitd's proxy connects upstream to 10.201.2.2:9080 for test-user
	# requests: were its sockets redirected, they would reach v3.
	cat >"$WORK/alias.yaml" <<YAML
apiVersion: split.dev/v1
kind: Service
metadata: {name: alias, namespace: default}
spec:
  clusterIP: 10.201.2.2
  ports: [{port: $PORT, protocol: TCP}]
  endpoints:
  - addresses: [10.201.3.2]
    labels: {version: v3}
YAML
	cm_apply $SEED/route-rule-default-reviews.yaml $SEED/route-rule-test-reviews-v2.yaml "$WORK/alias.yaml"
	# A pod's own connection to that address is split (to v3): the alias is live.
	out=$(tb_in_pod a "$B/splitclient" --connect 10.201.2.2 --port $PORT -n 50)
	expect_eq "$(vcount "$out" v3)" 50 "a pod's connection to the alias VIP goes to v3"
	# splitd's: test-user requests still reach v2 through the proxy.
	out=$(pod_split a 200 --header "$COOKIE")
	expect_clean "$out" 200
	expect_eq "$(vcount "$out" v2)" 200 "the proxy's upstream connections to v2 are not redirected"
	# The control: with splitd's cgroup id taken out of self_cgroup, the
	# proxy's new upstream connections are split to v3 like anyone's. A
	# fresh splitd, so that its upstream pool is empty: pooled connections,
	# made before, would stay with v2 (the earlier tests can leave more of
	# them than this test's clients use at once).
	id=$(stat -c %i "$SPLITD_POD")
	stop_splitd
	start_node_splitd || fail "restart"
	bpftool map update pinned "$TB_PIN/self_cgroup" key 0 0 0 0 value 0 0 0 0 0 0 0 0
	out=$(pod_split a 400 --header "$COOKIE" --parallel 16)
	info "without the exemption: $(vcount "$out" v3) of 400 test-user requests reached v3"
	expect_ge "$(vcount "$out" v3)" 1 "without the exemption the proxy's connections are redirected"
	# A restarted splitd (a new pod of the DaemonSet, same place) writes its
	# cgroup again, and its new pool connects straight to v2.
	stop_splitd
	start_node_splitd || fail "restart"
	expect_eq "$(bpftool -j map lookup pinned "$TB_PIN/self_cgroup" key 0 0 0 0 |
		jq '.formatted.value // .value')" "$id" "self_cgroup after the restart"
	out=$(pod_split a 200 --header "$COOKIE")
	expect_eq "$(vcount "$out" v2)" 200 "exemption back: v2 again"
	cm_apply $SEED/route-rule-default-reviews.yaml
}

caps_of() { # PID: CapEff of every thread, one line each
	local t
	for t in /proc/"$1"/task/*; do awk '/^CapEff/ { print $2 }' "$t/status"; done | sort -u
}
capmask() { # NAME...: the capability mask of the names (cap numbers)
	local m=0 c
	for c in "$@"; do
		case $c in
		NET_BIND_SERVICE) m=$((m | 1 << 10)) ;; NET_ADMIN) m=$((m | 1 << 12)) ;;
		SYS_ADMIN) m=$((m | 1 << 21)) ;; SYS_RESOURCE) m=$((m | 1 << 24)) ;;
		PERFMON) m=$((m | 1 << 38)) ;; BPF) m=$((m | 1 << 39)) ;;
		*) fail "capmask: $c" ;;
		esac
	done
	printf '%016x\n' $m
}

test_capabilities_dropped_after_attach() {
	local pid
	pid=$(cat "$WORK/splitd.pid")
	# Every thread (the L7 proxy's too): only what the running daemon needs.
	expect_eq "$(caps_of "$pid")" "$(capmask BPF SYS_ADMIN NET_ADMIN PERFMON NET_BIND_SERVICE)" "CapEff of splitd's threads"
	expect_eq "$(awk '/^CapBnd/ { print $2 }' "/proc/$pid/status")" \
		"$(capmask BPF SYS_ADMIN NET_ADMIN PERFMON NET_BIND_SERVICE)" "bounding set"
	# And it still applies changes (new tables) and serves the proxy.
	cm_apply $SEED/route-rule-default-reviews-50.yaml $SEED/route-rule-test-reviews-v2.yaml
	out=$(pod_split b 400)
	within_sigma "$(vcount "$out" v2)" 400 0.5 4 "after the drop: v2 at 50%"
	out=$(pod_split b 100 --header "$COOKIE")
	expect_eq "$(vcount "$out" v2)" 100 "after the drop: test-user to v2"
}

test_capability_only_variant() {
	local caps bnd pid out
	command -v setpriv >/dev/null || skip "no setpriv"
	"$PY" -c 'import yaml' 2>/dev/null || skip "no python3-yaml"
	# Exactly the capabilities the variant DaemonSet adds (after drop ALL).
	caps=$(DEPLOY_DIR=deploy "$PY" tests/k8s/check_manifests.py caps)
	expect_eq "$caps" "BPF,PERFMON,NET_ADMIN,SYS_RESOURCE,SYS_ADMIN" "the variant's capabilities"
	bnd="-all,$(echo "$caps" | tr 'A-Z' 'a-z' | sed 's/^/+/; s/,/,+/g')"
	stop_splitd
	# Restarted as root with only those: it takes over the pinned links.
	start_node_splitd setpriv --bounding-set="$bnd" --inh-caps=-all -- ||
		fail "splitd did not start with the variant's capabilities"
	pid=$(cat "$WORK/splitd.pid")
	out=$(tail -n 20 "$WORK/splitd.log")
	expect_contains "$out" "taken over from pinned links" "takeover"
	expect_eq "$(caps_of "$pid")" "$(capmask BPF SYS_ADMIN NET_ADMIN PERFMON)" "CapEff after the drop"
	cm_apply $SEED/route-rule-default-reviews-v2.yaml
	out=$(pod_split a 200)
	expect_eq "$(vcount "$out" v2)" 200 "capability-only: v2=100 applied"
	cm_apply $SEED/route-rule-default-reviews.yaml $SEED/route-rule-test-reviews-v2.yaml
	out=$(pod_split b 100 --header "$COOKIE")
	expect_eq "$(vcount "$out" v2)" 100 "capability-only: test-user through the proxy"
	out=$(node_get /readyz)
	expect_contains "$out" "200" "/readyz"
	# Back to a privileged splitd for the tests after this one.
	stop_splitd
	start_node_splitd || fail "restart"
}

test_example_configmap_applies() {
	local out
	"$PY" -c 'import yaml' 2>/dev/null || skip "no python3-yaml"
	# deploy/examples/config-files.yaml's ConfigMap (the --config-dir
	# alternative to the API source), materialized as the kubelet does,
	# loaded and applied by splitd --once into a pin dir of its own and a
	# cgroup of this run's.
	DEPLOY_DIR=deploy "$PY" tests/k8s/check_manifests.py configmap "$WORK/deploy-cm" ||
		fail "materializing the ConfigMap"
	CM_PIN="/sys/fs/bpf/${TB_ID}cm"
	mkdir -p "$TB_CGROUP/cm-check"
	# --cgroup auto where there is no kubepods cgroup: the root given.
	out=$("$B/splitd" --once --config-dir "$WORK/deploy-cm" --cgroup auto \
		--cgroup-root "$TB_CGROUP/cm-check" -p "$CM_PIN" --no-metrics 2>&1) ||
		fail "splitd --once on the example ConfigMap: $out"
	expect_contains "$out" "applied: 1 services, 2 Istio objects" "applied"
	expect_contains "$out" "--cgroup auto: $TB_CGROUP/cm-check (no kubepods cgroup: the root)" "auto without kubepods"
	expect_contains "$(bpftool cgroup show "$TB_CGROUP/cm-check")" "split_connect4" "attached to the root given"
	out=$("$B/splitctl" -p "$CM_PIN" show reviews)
	expect_contains "$out" "10.96.0.10" "VIP"
	expect_contains "$out" "10.244.2.17" "v2 endpoint"
	out=$("$B/splitctl" -p "$CM_PIN" get)
	expect_contains "$out" "user=test-user" "the cookie rule in force"
	"$B/splitd" -q --unload -p "$CM_PIN" || fail "unload"
	CM_PIN=
}

run_tests test_cgroup_auto_attaches_to_kubepods test_health_and_readiness \
	test_seed_walkthrough_from_two_pods test_node_process_outside_kubepods_untouched \
	test_pod_made_after_splitd_started test_own_connections_not_redirected \
	test_capabilities_dropped_after_attach test_capability_only_variant \
	test_example_configmap_applies
