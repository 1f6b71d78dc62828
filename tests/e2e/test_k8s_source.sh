#!/bin/bash
# test_k8s_source.sh - end to end: splitd --source kubernetes on the
# node-shaped testbed, fed by the fake API server (tests/k8s/
# fake_apiserver.py, HTTPS on 127.0.0.1 inside the node netns). splitd runs
# as the DaemonSet does (node netns, its own pod cgroup, --cgroup auto);
# clients in a pod connect to the VIP for real.
#
# Checks: endpoints added and removed through the API change the split
# (the time from the API change to the new split is printed, not judged);
# a VirtualService + DestinationRule from the API set the weights; a bad
# object is counted in the metrics and the rest still applies; /readyz;
# a Service whose pods have no version label stays out of the maps (a pod's
# connections reach its VIP instead of being refused) until one has;
# and the differential test after apply: the maps splitd writes from the
# API equal, byte for byte, the maps it writes from the same objects as
# files (--config-dir); last, splitd restarted with the shipped DaemonSet's
# own arguments (deploy/30-daemonset.yaml, read by check_manifests.py),
# in-cluster style (KUBERNETES_SERVICE_HOST/PORT), takes over, becomes
# ready and follows the API. No real kube-apiserver runs here.
#
# Needs root. Builds its own testbed (unique names) and removes it on exit.
T_SUITE=e2e_k8s_source
source "$(dirname "$0")/fixture.sh"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)
for tool in openssl curl "$PY"; do
	command -v "$tool" >/dev/null 2>&1 || {
		echo "SKIP: $T_SUITE (no $tool)"
		echo "$T_SUITE: 0 passed, 0 failed, 1 skipped"
		exit 0
	}
done
k8s_cleanup() {
	local p
	[ -f "${WORK:-/nonexistent}/pids" ] && while read -r p; do kill "$p" 2>/dev/null; done <"$WORK/pids"
	[ -f "${WORK:-/nonexistent}/pins" ] && while read -r p; do
		[ -d "$p" ] && "$B/splitd" -q --unload -p "$p" 2>/dev/null
	done <"$WORK/pins"
	cleanup
}
track() { echo "$1" >>"$WORK/pids"; }

fixture_up
trap k8s_cleanup EXIT
tb_pods_init || { echo "FAIL: node testbed"; exit 1; }
tb_pod_add a 1 || { echo "FAIL: pod"; exit 1; }
SPLITD_POD="$TB_KUBEPODS/kubepods-burstable.slice/kubepods-burstable-podsplitd.slice/cri-splitd.scope"
mkdir -p "$SPLITD_POD"
FAKE_NS=$TB_NODE
source tests/k8s/fake_lib.sh
pki || { echo "FAIL: openssl could not make the test PKI"; exit 1; }

# ---- the cluster's objects: the testbed's reviews service ---------------------
mkdir -p "$WORK/api"
"$PY" - "$WORK/api" <<'EOF'
import json, sys
d = sys.argv[1]
def lst(items): return {"metadata": {"resourceVersion": "1"}, "items": items}
svc = {"metadata": {"name": "reviews", "namespace": "default"},
       "spec": {"clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10", "fd00:96::10"],
                "ports": [{"name": "http", "port": 9080, "targetPort": "http", "protocol": "TCP"}]}}
pods = [{"metadata": {"name": n, "namespace": "default", "labels": {"app": "reviews", "version": v}}}
        for n, v in [("reviews-v1-a", "v1"), ("reviews-v1-b", "v1"), ("reviews-v2-a", "v2"), ("reviews-v3-a", "v3")]]
def ep(a, pod): return {"addresses": [a], "conditions": {"ready": True},
                        "targetRef": {"kind": "Pod", "namespace": "default", "name": pod}}
sl = {"metadata": {"name": "reviews-1", "namespace": "default", "labels": {"kubernetes.io/service-name": "reviews"}},
      "addressType": "IPv4", "ports": [{"name": "http", "port": 9080, "protocol": "TCP"}],
      "endpoints": [ep("10.201.1.2", "reviews-v1-a"), ep("10.201.1.3", "reviews-v1-b")]}
json.dump(lst([svc]), open(d + "/services.json", "w"))
json.dump(lst(pods), open(d + "/pods.json", "w"))
json.dump(lst([sl]), open(d + "/endpointslices.json", "w"))
EOF
start_fake main --data "$WORK/api" || { echo "FAIL: the fake API server did not start"; exit 1; }

# slice ADDR:POD...: the reviews-1 EndpointSlice now holds these endpoints.
slice() {
	"$PY" -c '
import json, sys
eps = [{"addresses": [a.split(":")[0]], "conditions": {"ready": True},
        "targetRef": {"kind": "Pod", "namespace": "default", "name": a.split(":")[1]}} for a in sys.argv[1:]]
print(json.dumps({"kind": "endpointslices", "object": {
    "metadata": {"name": "reviews-1", "namespace": "default", "labels": {"kubernetes.io/service-name": "reviews"}},
    "addressType": "IPv4", "ports": [{"name": "http", "port": 9080, "protocol": "TCP"}], "endpoints": eps}}))' "$@"
}

# ---- splitd as the DaemonSet runs it, with the API as its source -----------------
NODE_ARGS=(--source kubernetes --kubeconfig "$WORK/main.kubeconfig" --cgroup auto
	--cgroup-root "$TB_CGROUP" -p "$TB_PIN" --metrics "$TB_NODE_POD_IP4:0"
	--l7-addr "$TB_NODE_POD_IP4" --l7-addr "$TB_NODE_POD_IP6")
applied() { grep -c "applied from the Kubernetes API" "$WORK/splitd.log" 2>/dev/null; }
# shellcheck disable=SC2016
sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' sh "$SPLITD_POD" \
	nsenter --net="/run/netns/$TB_NODE" "$B/splitd" "${NODE_ARGS[@]}" >>"$WORK/splitd.log" 2>&1 &
echo $! >"$WORK/splitd.pid"
disown
for _ in $(seq 300); do
	[ "$(applied)" -ge 1 ] && break
	alive "$(cat "$WORK/splitd.pid")" || break
	sleep 0.1
done
[ "$(applied)" -ge 1 ] || { cat "$WORK/splitd.log"; echo "FAIL: splitd applied nothing from the API"; exit 1; }

metrics_port() { sed -n 's/.*metrics: GET \/metrics on .* (port \([0-9]*\)).*/\1/p' "$WORK/splitd.log" | tail -n1; }
node_get() { tb_in "$TB_NODE" curl -sS --max-time 5 "http://$TB_NODE_POD_IP4:$(metrics_port)$1"; }
pod_split() { # N: splitclient in pod a against the VIP
	tb_in_pod a timeout 120 "$B/splitclient" --connect $VIP4 --port $PORT -n "$1" \
		--parallel 2 --timeout-ms 1000
}
now_ms() { date +%s%3N; }
# changed_to CMD...: poll until CMD holds; print how long it took (ms) from $T0.
until_ms() {
	local what=$1
	shift
	for _ in $(seq 200); do
		if "$@"; then
			info "$what: $(($(now_ms) - T0)) ms after the API change"
			return 0
		fi
		sleep 0.05
	done
	fail "$what: not within 10 s"
}
# The split as the connections see it: 20 connections, the versions seen.
versions_seen() { pod_split 20 | awk '$1 == "version" && $3 > 0 { printf "%s ", $2 }'; }
only() { [ "$(versions_seen)" = "$1 " ]; }
has_v() { [[ " $(versions_seen)" == *" $1 "* ]]; }
# v2_joins_then_alone N: v2's pod becomes ready and its endpoint joins v1's
# two (no route: an equal share per endpoint, 1 of 3 to v2 over N
# connections), then v1's endpoints are removed (a rollout's end) until
# everything goes to v2.
v2_joins_then_alone() {
	local out n=$1
	T0=$(now_ms)
	api_ctl /_ctl/put "$(slice 10.201.1.2:reviews-v1-a 10.201.1.3:reviews-v1-b 10.201.2.2:reviews-v2-a)"
	until_ms "v2 gets connections" has_v v2
	out=$(pod_split "$n")
	expect_clean "$out" "$n"
	within_sigma "$(vcount "$out" v2)" "$n" 0.3333 4 "v2 (1 of 3 endpoints)"
	T0=$(now_ms)
	api_ctl /_ctl/put "$(slice 10.201.2.2:reviews-v2-a)"
	until_ms "v1 gets none" only v2
}

# ---- tests ------------------------------------------------------------------------

test_ready_and_first_split() {
	expect_contains "$(node_get /readyz)" "ready: datapath attached, Kubernetes objects applied" "/readyz"
	local out
	out=$(pod_split 200)
	expect_clean "$out" 200
	expect_eq "$(vcount "$out" v1)" 200 "only v1 has endpoints"
	# The named targetPort went through the slice's port.
	expect_contains "$("$B/splitctl" -p "$TB_PIN" show 2>&1)" "reviews" "splitctl show"
	# The API source opened libcurl (dlopen; no other mode of splitd does:
	# tests/k8s/test_libcurl.sh, test_sock, test_once).
	grep -q 'libcurl\.so\.4' "/proc/$(cat "$WORK/splitd.pid")/maps" ||
		fail "libcurl.so.4 not mapped in splitd --source kubernetes"
}

test_endpoint_added_then_removed() {
	local out
	v2_joins_then_alone 600
	out=$(pod_split 200)
	expect_clean "$out" 200
	expect_eq "$(vcount "$out" v2)" 200 "all to v2"
	# And back.
	T0=$(now_ms)
	api_ctl /_ctl/put "$(slice 10.201.1.2:reviews-v1-a 10.201.1.3:reviews-v1-b 10.201.2.2:reviews-v2-a)"
	until_ms "v1 back" has_v v1
}

test_istio_objects_from_the_api() {
	api_ctl /_ctl/put '{"kind":"destinationrules","object":{"metadata":{"name":"reviews","namespace":"default"},"spec":{"host":"reviews","subsets":[{"name":"v1","labels":{"version":"v1"}},{"name":"v2","labels":{"version":"v2"}}]}}}'
	T0=$(now_ms)
	api_ctl /_ctl/put '{"kind":"virtualservices","object":{"metadata":{"name":"reviews","namespace":"default"},"spec":{"hosts":["reviews"],"http":[{"route":[{"destination":{"host":"reviews","subset":"v1"},"weight":10},{"destination":{"host":"reviews","subset":"v2"},"weight":90}]}]}}}'
	# shellcheck disable=SC2016 # evaluated at each try
	until_ms "the VirtualService's weights in the maps" \
		eval '"$B/splitctl" -p "$TB_PIN" show 2>&1 | grep -q "v2.*90"'
	local out n=600
	out=$(pod_split $n)
	expect_clean "$out" $n
	within_sigma "$(vcount "$out" v2)" $n 0.9 4 "v2 at weight 90"
	# A bad VS (fault injection) for another host: counted, the rest stays.
	api_ctl /_ctl/put '{"kind":"virtualservices","object":{"metadata":{"name":"bad","namespace":"default"},"spec":{"hosts":["reviews"],"http":[{"fault":{"abort":{"httpStatus":500}},"route":[{"destination":{"host":"reviews"}}]}]}}}'
	for _ in $(seq 100); do
		node_get /metrics | grep -q 'split_k8s_bad_objects{kind="VirtualService"} 1' && break
		sleep 0.1
	done
	expect_contains "$(node_get /metrics)" 'split_k8s_bad_objects{kind="VirtualService"} 1' "bad VS counted"
	out=$(pod_split $n)
	within_sigma "$(vcount "$out" v2)" $n 0.9 4 "v2 still at weight 90"
	# A route to a version with no endpoint: split_apply refuses it, the
	# VS is left out and counted, the services still follow the API.
	api_ctl /_ctl/delete '{"kind":"virtualservices","name":"bad"}'
	api_ctl /_ctl/put '{"kind":"virtualservices","object":{"metadata":{"name":"reviews","namespace":"default"},"spec":{"hosts":["reviews"],"http":[{"route":[{"destination":{"host":"reviews","subset":"v3"},"weight":100}]}]}}}'
	api_ctl /_ctl/put '{"kind":"destinationrules","object":{"metadata":{"name":"reviews","namespace":"default"},"spec":{"host":"reviews","subsets":[{"name":"v1","labels":{"version":"v1"}},{"name":"v2","labels":{"version":"v2"}},{"name":"v3","labels":{"version":"v3"}}]}}}'
	for _ in $(seq 100); do
		grep -q "VirtualService default/reviews.*v3.*left out" "$WORK/splitd.log" && break
		sleep 0.1
	done
	grep -q "VirtualService default/reviews.*left out" "$WORK/splitd.log" ||
		fail "the VS naming a version without endpoints was not left out: $(tail -n 3 "$WORK/splitd.log")"
	api_ctl /_ctl/delete '{"kind":"virtualservices","name":"reviews"}'
	api_ctl /_ctl/delete '{"kind":"destinationrules","name":"reviews"}'
	T0=$(now_ms)
	# shellcheck disable=SC2016 # evaluated at each try
	until_ms "the Istio objects gone from the maps" eval '[ "$(obj_ids "$TB_PIN")" = "[]" ]'
}

# A Service whose pods carry no version label (kube-dns, the kubernetes
# Service, any workload that is not a canary) is not split: in the maps with
# no endpoint, every pod's connect() to it would be refused. Left out, a
# pod's connection goes on to the VIP itself (here a server on the node at
# that address, standing in for kube-proxy's). Once its pod has a version,
# the service is split like any other.
test_unversioned_service_left_alone() {
	local out srv vip=10.96.0.77
	api_ctl /_ctl/put '{"kind":"pods","object":{"metadata":{"name":"plain-a","namespace":"default","labels":{"app":"plain"}}}}'
	api_ctl /_ctl/put '{"kind":"services","object":{"metadata":{"name":"plain","namespace":"default"},"spec":{"clusterIP":"'$vip'","ports":[{"port":'$PORT',"protocol":"TCP"}]}}}'
	api_ctl /_ctl/put '{"kind":"endpointslices","object":{"metadata":{"name":"plain-1","namespace":"default","labels":{"kubernetes.io/service-name":"plain"}},"addressType":"IPv4","ports":[{"port":'$PORT',"protocol":"TCP"}],"endpoints":[{"addresses":["10.201.3.2"],"conditions":{"ready":true},"targetRef":{"kind":"Pod","namespace":"default","name":"plain-a"}}]}}'
	for _ in $(seq 100); do
		node_get /metrics | grep -qx 'split_k8s_services_skipped 1' && break
		sleep 0.1
	done
	expect_contains "$(node_get /metrics)" 'split_k8s_endpoints_left_out{reason="no_version"} 1' "plain-a's endpoint left out"
	expect_contains "$(node_get /metrics)" 'split_k8s_services_skipped 1' "plain not split"
	[[ $("$B/splitctl" -p "$TB_PIN" show 2>&1) != *plain* ]] || fail "plain is in the maps"
	ip -n "$TB_NODE" addr add "$vip/32" dev lo
	nsenter --net="/run/netns/$TB_NODE" "$B/httpd" --name plain-literal --port $PORT \
		--listen $vip >"$WORK/plain.out" 2>&1 &
	srv=$!
	track $srv
	for _ in $(seq 50); do grep -qx ready "$WORK/plain.out" && break; sleep 0.05; done
	out=$(tb_in_pod a timeout 60 "$B/splitclient" --connect $vip --port $PORT -n 50 --timeout-ms 1000)
	expect_eq "$(vcount "$out" plain-literal)" 50 "a pod's connections to the unversioned service reach its VIP"
	# The pod gets a version: the service is split to its endpoint (v3's server).
	api_ctl /_ctl/put '{"kind":"pods","object":{"metadata":{"name":"plain-a","namespace":"default","labels":{"app":"plain","version":"v1"}}}}'
	T0=$(now_ms)
	# shellcheck disable=SC2016 # evaluated at each try
	until_ms "plain in the maps" eval '"$B/splitctl" -p "$TB_PIN" show 2>&1 | grep -q "^plain"'
	out=$(tb_in_pod a timeout 60 "$B/splitclient" --connect $vip --port $PORT -n 50 --timeout-ms 1000)
	expect_eq "$(vcount "$out" v3)" 50 "versioned: split to the endpoint"
	kill "$srv"; wait "$srv" 2>/dev/null
	ip -n "$TB_NODE" addr del "$vip/32" dev lo
	api_ctl /_ctl/delete '{"kind":"endpointslices","name":"plain-1"}'
	api_ctl /_ctl/delete '{"kind":"services","name":"plain"}'
	api_ctl /_ctl/delete '{"kind":"pods","name":"plain-a"}'
}

# dump_map PIN: its entries, sorted; tables_v3 by the content of each table
# (mapdump: where its slots are in slots_v3 or big_v4 depends on the history
# of the maps, the slots must not).
dump_map() {
	if [[ $1 == */tables_v3 ]]; then
		"$B/mapdump" "${1%/*}" tables_v3 | sort
		return
	fi
	bpftool -j map dump pinned "$1" | "$PY" -c '
import json, sys
print(json.dumps(sorted(json.load(sys.stdin), key=json.dumps), indent=1))'
}

obj_ids() { # PIN: the (kind, name) of its objects map, sorted
	bpftool -j map dump pinned "$1/objects" | "$PY" -c 'import json,sys; print(sorted((e["formatted"]["key"]["kind"], e["formatted"]["key"]["name"]) for e in json.load(sys.stdin)))'
}

# The differential test after apply: splitd --once from the API and from
# the same objects as files, each on a fresh pin dir and its own cgroup:
# the same maps, byte for byte (tests/data/k8s/api vs tests/data/k8s/files).
test_maps_from_api_equal_maps_from_files() {
	local m a b
	a="/sys/fs/bpf/split-k8sdiff-a-$TB_ID" b="/sys/fs/bpf/split-k8sdiff-f-$TB_ID"
	printf '%s\n%s\n' "$a" "$b" >>"$WORK/pins"
	mkdir -p "$TB_CGROUP/diff-a" "$TB_CGROUP/diff-f"
	start_fake diff --data tests/data/k8s/api || fail "the second fake"
	timeout 120 nsenter --net="/run/netns/$TB_NODE" "$B/splitd" -q --once --source kubernetes \
		--kubeconfig "$WORK/diff.kubeconfig" -g "$TB_CGROUP/diff-a" -p "$a" --no-metrics \
		2>"$WORK/diff-a.log" || { cat "$WORK/diff-a.log" >&2; fail "splitd --once from the API"; }
	nsenter --net="/run/netns/$TB_NODE" "$B/splitd" -q --once --config-dir tests/data/k8s/files \
		-g "$TB_CGROUP/diff-f" -p "$b" --no-metrics 2>"$WORK/diff-f.log" ||
		{ cat "$WORK/diff-f.log" >&2; fail "splitd --once from files"; }
	for m in svc services backends weights l7_routes l7_conds tables_v3; do
		dump_map "$a/$m" >"$WORK/diff-a.$m"
		dump_map "$b/$m" >"$WORK/diff-f.$m"
		diff -u "$WORK/diff-f.$m" "$WORK/diff-a.$m" >&2 || fail "map $m differs"
	done
	# Not empty: the maps hold the services, the versions and the rules.
	grep -q '"reviews"' "$WORK/diff-a.services" || fail "no reviews in the services map"
	[ "$(grep -c '"key"' "$WORK/diff-a.l7_conds")" -ge 1 ] || fail "no L7 condition (the cookie rule)"
	# reviews' VirtualService sets weights: its tables are big (kind 2, 10007 slots).
	grep -q ' 2 10007 ' "$WORK/diff-a.tables_v3" || fail "tables_v3: no big table"
	# The objects map holds the same identities (the JSON text differs in form).
	local ia ib
	ia=$(obj_ids "$a") || fail "reading the objects map (API)"
	ib=$(obj_ids "$b") || fail "reading the objects map (files)"
	expect_contains "$ia" "('VirtualService', 'reviews')" "objects from the API"
	expect_eq "$ia" "$ib" "objects"
	"$B/splitd" -q --unload -p "$a" 2>/dev/null
	"$B/splitd" -q --unload -p "$b" 2>/dev/null
}

# The DaemonSet's splitd: the arguments deploy/30-daemonset.yaml gives it,
# as they are, but for what only a pod has. Container paths become the
# testbed's: --cgroup-root=/host/cgroupv2 (the node's cgroup2 mounted into
# the container) is this run's cgroup2 root, --pin-dir=/sys/fs/bpf/split
# (the node's bpffs) this run's pin dir; $(HOST_IP) is the node's address
# on the pod network. In-cluster config as the kubelet provides it: the
# API server from KUBERNETES_SERVICE_HOST/PORT (the fake's), and the
# ServiceAccount's token and CA, which are no files here, by
# --k8s-token-file/--k8s-ca-file. It replaces the running splitd (an
# upgrade of the DaemonSet: the pinned links are taken over).
test_shipped_daemonset_args() {
	local a args=() shipped out n=600 port
	"$PY" -c 'import yaml' 2>/dev/null || skip "no python3-yaml"
	mapfile -t shipped < <(DEPLOY_DIR=deploy "$PY" tests/k8s/check_manifests.py args "$TB_NODE_POD_IP4")
	expect_contains " ${shipped[*]} " " --source=kubernetes " "the shipped DaemonSet's source"
	for a in "${shipped[@]}"; do
		case $a in
		--cgroup-root=/host/cgroupv2) args+=("--cgroup-root=$TB_CGROUP") ;;
		--pin-dir=/sys/fs/bpf/split) args+=("--pin-dir=$TB_PIN") ;;
		--cgroup-root=* | --pin-dir=*) fail "the DaemonSet's $a: no testbed equivalent known" ;;
		--metrics=*) port=${a##*:} && args+=("$a") ;;
		*) args+=("$a") ;;
		esac
	done
	args+=("--k8s-token-file=$WORK/pki/token" "--k8s-ca-file=$WORK/pki/ca.crt")
	info "splitd ${args[*]}"
	expect_eq "${port:-}" 9464 "the DaemonSet's metrics port"
	stop_splitd
	: >"$WORK/splitd.log"
	# shellcheck disable=SC2016
	sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' sh "$SPLITD_POD" \
		env KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT="$(cat "$WORK/main.port")" \
		nsenter --net="/run/netns/$TB_NODE" "$B/splitd" "${args[@]}" >>"$WORK/splitd.log" 2>&1 &
	echo $! >"$WORK/splitd.pid"
	disown
	# The kubelet's probes: /healthz, then /readyz until 200.
	for _ in $(seq 300); do
		out=$(tb_in "$TB_NODE" curl -s --max-time 2 -o /dev/null -w '%{http_code}' \
			"http://$TB_NODE_POD_IP4:$port/readyz") || true	# refused until it listens
		[ "$out" = 200 ] && break
		alive "$(cat "$WORK/splitd.pid")" || break
		sleep 0.1
	done
	[ "$out" = 200 ] || { cat "$WORK/splitd.log" >&2; fail "/readyz with the shipped arguments: $out"; }
	expect_eq "$(tb_in "$TB_NODE" curl -sS --max-time 5 "http://$TB_NODE_POD_IP4:$port/healthz")" ok "/healthz"
	expect_contains "$(tb_in "$TB_NODE" curl -sS --max-time 5 "http://$TB_NODE_POD_IP4:$port/readyz")" \
		"Kubernetes objects applied" "/readyz says what it waited for"
	out=$(cat "$WORK/splitd.log")
	expect_contains "$out" "k8s: watching the API at https://127.0.0.1:$(cat "$WORK/main.port") (in-cluster)" \
		"the API server from KUBERNETES_SERVICE_HOST/PORT"
	expect_contains "$out" "--cgroup auto: $TB_KUBEPODS (the kubelet's pods)" "--cgroup=auto"
	expect_contains "$out" "taken over from pinned links" "an upgrade: the pinned links taken over"
	# It splits what the API says: v1 (2 endpoints) and v2 (1), then v2 only.
	v2_joins_then_alone "$n"
	# The Istio objects and the cookie rule, through the L7 proxy on $(HOST_IP).
	api_ctl /_ctl/put "$(slice 10.201.1.2:reviews-v1-a 10.201.2.2:reviews-v2-a)"
	api_ctl /_ctl/put '{"kind":"destinationrules","object":{"metadata":{"name":"reviews","namespace":"default"},"spec":{"host":"reviews","subsets":[{"name":"v1","labels":{"version":"v1"}},{"name":"v2","labels":{"version":"v2"}}]}}}'
	api_ctl /_ctl/put '{"kind":"virtualservices","object":{"metadata":{"name":"reviews","namespace":"default"},"spec":{"hosts":["reviews"],"http":[{"match":[{"headers":{"cookie":{"regex":"^(.*?;)?(user=test-user)(;.*)?$"}}}],"route":[{"destination":{"host":"reviews","subset":"v2"}}]},{"route":[{"destination":{"host":"reviews","subset":"v1"}}]}]}}}'
	T0=$(now_ms)
	until_ms "the VirtualService in force" only v1
	out=$(tb_in_pod a timeout 120 "$B/splitclient" --connect $VIP4 --port $PORT -n 100 \
		--parallel 2 --timeout-ms 1000 --header 'cookie: user=test-user')
	expect_clean "$out" 100
	expect_eq "$(vcount "$out" v2)" 100 "test-user to v2 through the proxy on \$(HOST_IP)"
	api_ctl /_ctl/delete '{"kind":"virtualservices","name":"reviews"}'
	api_ctl /_ctl/delete '{"kind":"destinationrules","name":"reviews"}'
}

run_tests test_ready_and_first_split test_endpoint_added_then_removed \
	test_istio_objects_from_the_api test_unversioned_service_left_alone \
	test_maps_from_api_equal_maps_from_files test_shipped_daemonset_args
