#!/bin/bash
# test_k8s_api.sh - contract tests of the Kubernetes API source against a
# local fake API server (tests/k8s/fake_apiserver.py: HTTPS on 127.0.0.1
# with a CA and a token made here with openssl). build/k8s_dump runs the
# same client, store, debounce and build as splitd --source kubernetes and
# prints every model it builds; the fake's request log shows what the
# client asked. kubectl (when installed) checks the fake's fidelity.
# No real kube-apiserver runs here. No root needed.
T_SUITE=k8s_api
source "$(dirname "$0")/../lib.sh"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)
DATA=tests/data/k8s

WORK=$(mktemp -d /tmp/split-k8sapi.XXXXXX)
# Processes started here, also from the tests' subshells: by PID, in a file.
track() { echo "$1" >>"$WORK/pids"; }
cleanup() {
	local p
	[ -f "$WORK/pids" ] && while read -r p; do kill "$p" 2>/dev/null; done <"$WORK/pids"
	sleep 0.2
	[ -n "${KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for tool in openssl curl "$PY" "$B/k8s_dump"; do
	command -v "$tool" >/dev/null 2>&1 || {
		echo "SKIP: $T_SUITE (no $tool)"
		echo "$T_SUITE: 0 passed, 0 failed, 1 skipped"
		exit 0
	}
done

source tests/k8s/fake_lib.sh
pki || { echo "FAIL: $T_SUITE: openssl could not make the test PKI"; exit 1; }

# The last complete model of dump NAME.
last_model() {
	awk '/^=== model /{buf=""; on=1; next} /^=== end /{last=buf; on=0; next}
	     on {buf = buf $0 "\n"} END {printf "%s", last}' "$WORK/${1:-main}.out"
}
nmodels() { grep -c '^=== end ' "$WORK/${1:-main}.out"; }
# wait_for WHAT CMD...: CMD succeeds within 30 s
wait_for() {
	local what=$1
	shift
	for _ in $(seq 300); do "$@" && return 0; sleep 0.1; done
	fail "$what: not within 30 s"
}
# For wait_for: values read again at each try.
models_ge() { test "$(nmodels "${2:-main}")" -ge "$1"; }	# N [DUMP]
q_ge() { test "$(q "$1" "${3:-main}")" -ge "$2"; }		# EXPR N [FAKE]
q_gt() { test "$(q "$1" "${3:-main}")" -gt "$2"; }
stat_ge() { test "$(stat_of "$1" "$2" "${4:-main}")" -ge "$3"; }	# KIND FIELD N [DUMP]
model_has() { last_model "${2:-main}" | grep -qx -- "$1"; }
model_lacks() { ! last_model "${2:-main}" | grep -qx -- "$1"; }
stat_of() { # KIND FIELD [DUMP]
	last_model "${3:-main}" | awk -v k="$1" -v f="$2" '$1 == "stats" && $2 == k {
		for (i = 3; i <= NF; i++) { split($i, a, "="); if (a[1] == f) print a[2] } }'
}
obj() { "$PY" - "$@"; }	# a JSON object built by a Python snippet on stdin
# put_svc NAME CLUSTERIP EP: Service NAME with one ready endpoint EP of pod
# ratings-v1 (version v1): a Service with no versioned endpoint is not in
# the model. The slice first: the Service's own event makes it appear.
put_svc() {
	api_ctl /_ctl/put '{"kind":"endpointslices","object":{"metadata":{"name":"'"$1"'-1","namespace":"default","labels":{"kubernetes.io/service-name":"'"$1"'"}},"addressType":"IPv4","ports":[{"port":80,"protocol":"TCP"}],"endpoints":[{"addresses":["'"$3"'"],"conditions":{"ready":true},"targetRef":{"kind":"Pod","namespace":"default","name":"ratings-v1"}}]}}'
	api_ctl /_ctl/put '{"kind":"services","object":{"metadata":{"name":"'"$1"'","namespace":"default"},"spec":{"clusterIP":"'"$2"'","ports":[{"port":80,"targetPort":80,"protocol":"TCP"}]}}}'
}

start_fake main --data "$DATA/api" --max-page 2 --bookmark-every 0.5 ||
	{ echo "FAIL: $T_SUITE: the fake API server did not start"; exit 1; }
start_dump main main

# ---- tests --------------------------------------------------------------------

# The model from the API (lists in pages, pods as metadata) equals the
# model of the same objects as files: the differential test.
test_api_model_equals_files() {
	wait_for "a first model" models_ge 1
	"$B/k8s_dump" --files "$DATA/files" >"$WORK/files.model" ||
		fail "the files do not load"
	last_model | sed '/^stats /,$d' >"$WORK/api.model"
	diff -u "$WORK/files.model" "$WORK/api.model" >&2 ||
		fail "the model from the API differs from the files' model"
	grep -q 'endpoint v1 fd00:201:1::2' "$WORK/api.model" || fail "no IPv6 slice merged"
}

test_bad_objects_counted() {
	wait_for "a first model" models_ge 1
	model_has "bad Service 2" || fail "bad Services not counted: $(last_model | grep ^bad)"
	model_has "bad VirtualService 1" || fail "bad VirtualService not counted"
	model_has "bad DestinationRule 1" || fail "bad DestinationRule not counted"
	# Another bad VS arrives: counted, and the good one stays.
	api_ctl /_ctl/put '{"kind":"virtualservices","object":{"apiVersion":"networking.istio.io/v1","kind":"VirtualService","metadata":{"name":"reviews-mirror","namespace":"default"},"spec":{"hosts":["ratings"],"http":[{"mirror":{"host":"ratings"},"route":[{"destination":{"host":"ratings"}}]}]}}}'
	wait_for "the second bad VS counted" model_has "bad VirtualService 2"
	model_has "object VirtualService default/reviews" || fail "the good VS went away"
	grep -q "reviews-mirror.*not supported" "$WORK/main.err" || fail "the bad VS was not logged"
}

test_paginated_lists() {
	wait_for "a first model" models_ge 1
	local pages
	pages=$(q 'sum(1 for e in L if e.get("kind") == "services" and e.get("verb") == "list" and e.get("cont"))')
	expect_ge "$pages" 2 "continue requests for services (6 objects, pages of 2)"
	expect_eq "$(q 'all(e["query"].get("limit") == "500" for e in L if e.get("verb") == "list")')" True "limit on every list"
}

test_pods_metadata_only() {
	wait_for "a first model" models_ge 1
	expect_eq "$(q 'all(e["meta"] for e in L if e.get("kind") == "pods" and e.get("verb") in ("list", "watch") and e["code"] == 200)')" True "pods asked as PartialObjectMetadata"
	expect_contains "$(q '[e["accept"] for e in L if e.get("kind") == "pods"][0]')" "as=PartialObjectMetadataList" "pods' Accept"
}

# Each kind's first watch starts at its list's resourceVersion, with bookmarks.
test_watch_from_list_rv() {
	wait_for "a first model" models_ge 1
	wait_for "five watches" q_ge 'len([e for e in L if e.get("verb") == "watch"])' 5
	local k
	for k in services endpointslices pods virtualservices destinationrules; do
		expect_eq "$(q "[e['rv'] for e in L if e.get('kind') == '$k' and e.get('verb') == 'list' and not e.get('more')][0] == [e['rv'] for e in L if e.get('kind') == '$k' and e.get('verb') == 'watch'][0]")" True "$k: watch from the list's resourceVersion"
		expect_eq "$(q "[e['bookmarks'] for e in L if e.get('kind') == '$k' and e.get('verb') == 'watch'][0]")" true "$k: allowWatchBookmarks"
	done
}

pod_json() { # NAME VERSION
	echo "{\"kind\":\"pods\",\"object\":{\"metadata\":{\"name\":\"$1\",\"namespace\":\"default\",\"labels\":{\"app\":\"reviews\",\"version\":\"$2\"}}}}"
}
# slice_json NAME SVC PORT ADDR:POD...
slice_json() {
	local name=$1 svc=$2 port=$3
	shift 3
	"$PY" -c '
import json, sys
name, svc, port = sys.argv[1:4]
eps = [{"addresses": [a.split(":")[0]], "conditions": {"ready": True},
        "targetRef": {"kind": "Pod", "namespace": "default", "name": a.split(":")[1]}}
       for a in sys.argv[4:]]
print(json.dumps({"kind": "endpointslices", "object": {
    "metadata": {"name": name, "namespace": "default",
                 "labels": {"kubernetes.io/service-name": svc}},
    "addressType": "IPv4", "ports": [{"name": "http", "port": int(port), "protocol": "TCP"}],
    "endpoints": eps}}))' "$name" "$svc" "$port" "$@"
}

test_endpoints_follow_watch() {
	wait_for "a first model" models_ge 1
	api_ctl /_ctl/put "$(pod_json reviews-v2-c v2)"
	api_ctl /_ctl/put "$(slice_json reviews-new reviews 9080 10.201.2.3:reviews-v2-c)"
	wait_for "the new endpoint" model_has "  endpoint v2 10.201.2.3"
	# Its pod loses the version label: the endpoint goes.
	api_ctl /_ctl/put '{"kind":"pods","object":{"metadata":{"name":"reviews-v2-c","namespace":"default","labels":{"app":"reviews"}}}}'
	wait_for "the unversioned endpoint gone" model_lacks "  endpoint v2 10.201.2.3"
	api_ctl /_ctl/put "$(pod_json reviews-v2-c v2)"
	wait_for "the endpoint back" model_has "  endpoint v2 10.201.2.3"
	# The slice deleted: gone again.
	api_ctl /_ctl/delete '{"kind":"endpointslices","name":"reviews-new"}'
	wait_for "the deleted slice's endpoint gone" model_lacks "  endpoint v2 10.201.2.3"
}

# A watch the server ends is resumed from the last resourceVersion (moved
# by bookmarks too): no relist.
test_closed_watch_resumed() {
	wait_for "a first model" models_ge 1
	local lists before
	lists=$(q 'len([e for e in L if e.get("verb") == "list"])')
	# Some events elsewhere, then a bookmark moves the DR watch's rv.
	api_ctl /_ctl/put "$(pod_json bump-1 v1)"
	sleep 1.5
	before=$(q 'len([e for e in L if e.get("kind") == "destinationrules" and e.get("verb") == "watch"])')
	api_ctl /_ctl/close-watches '{}'
	wait_for "the DR watch resumed" q_gt 'len([e for e in L if e.get("kind") == "destinationrules" and e.get("verb") == "watch"])' "$before"
	expect_eq "$(q 'len([e for e in L if e.get("verb") == "list"])')" "$lists" "lists after closed watches (no relist)"
	# The resumed DR watch starts after the first list's rv: a bookmark moved it.
	expect_eq "$(q '(lambda w, l: int(w[-1]["rv"]) > int(l[0]["rv"]))([e for e in L if e.get("kind") == "destinationrules" and e.get("verb") == "watch"], [e for e in L if e.get("kind") == "destinationrules" and e.get("verb") == "list"])')" True "the DR watch resumed after a bookmark's resourceVersion"
	api_ctl /_ctl/put "$(pod_json reviews-v3-b v3)"
	api_ctl /_ctl/put "$(slice_json reviews-v3 reviews 9080 10.201.3.3:reviews-v3-b)"
	wait_for "an event after the resumed watch" model_has "  endpoint v3 10.201.3.3"
}

# refire KIND FAULT: the next watch of KIND gets FAULT.
refire() {
	api_ctl /_ctl/fault "{\"kind\":\"$1\",\"fault\":\"$2\"}"
	api_ctl /_ctl/close-watches '{}'
}

test_split_chunks() {
	wait_for "a first model" models_ge 1
	refire endpointslices split
	wait_for "a watch with split chunks" q_ge 'len([e for e in L if e.get("fault") == "split"])' 1
	api_ctl /_ctl/put "$(pod_json reviews-v1-c v1)"
	api_ctl /_ctl/put "$(slice_json reviews-split reviews 9080 10.201.1.7:reviews-v1-c 10.201.1.8:reviews-v1-c)"
	wait_for "events cut mid-JSON decoded" model_has "  endpoint v1 10.201.1.8"
	model_has "  endpoint v1 10.201.1.7" || fail "first endpoint of the split event missing"
	expect_eq "$(stat_of EndpointSlice errors)" 0 "stream errors"
}

gone_test() { # KIND FAULT STATKIND
	wait_for "a first model" models_ge 1
	local lists kind=$1 fault=$2 skind=$3
	lists=$(q "len([e for e in L if e.get('kind') == '$kind' and e.get('verb') == 'list' and not e.get('cont')])")
	refire "$kind" "$fault"
	wait_for "a relist of $kind after $fault" q_gt "len([e for e in L if e.get('kind') == '$kind' and e.get('verb') == 'list' and not e.get('cont')])" "$lists"
	put_svc "after-$fault" "10.96.7.${#fault}" "10.209.7.${#fault}"
	wait_for "a change after the relist" model_has "service default/after-$fault"
	wait_for "the relist counted" stat_ge "$skind" relists_gone 1
}
test_gone_http_status() { gone_test services gone-status Service; }
test_gone_error_event() { gone_test pods gone-event Pod; }

test_429_retry_after() {
	wait_for "a first model" models_ge 1
	refire virtualservices 429
	wait_for "a 429" q_ge 'len([e for e in L if e.get("kind") == "virtualservices" and e["code"] == 429])' 1
	wait_for "a watch after the 429" q_ge '(lambda i: len([e for e in L[i+1:] if e.get("kind") == "virtualservices" and e.get("verb") == "watch"]))([n for n, e in enumerate(L) if e.get("kind") == "virtualservices" and e["code"] == 429][-1])' 1
	# Retry-After: 1 was honoured (a lower bound: load only makes it later).
	expect_eq "$(q '(lambda i: [e for e in L[i+1:] if e.get("kind") == "virtualservices"][0]["ts"] - L[i]["ts"] >= 0.95)([n for n, e in enumerate(L) if e.get("kind") == "virtualservices" and e["code"] == 429][-1])')" True "the retry waited for Retry-After"
	api_ctl /_ctl/put '{"kind":"services","object":{"metadata":{"name":"after-429","namespace":"default"},"spec":{"clusterIP":"10.96.8.1","ports":[{"port":80,"targetPort":80,"protocol":"TCP"}]}}}'
	wait_for "throttling counted" stat_ge VirtualService throttled 1
}

# A server error: counted, backed off, then watched again.
test_server_error_backoff() {
	wait_for "a first model" models_ge 1
	api_ctl /_ctl/fault '{"kind":"destinationrules","fault":"error","count":3}'
	api_ctl /_ctl/close-watches '{}'
	wait_for "three 500s" q_ge 'len([e for e in L if e.get("kind") == "destinationrules" and e["code"] == 500])' 3
	wait_for "a watch after them" q_ge '(lambda i: len([e for e in L[i+1:] if e.get("kind") == "destinationrules" and e.get("verb") == "watch" and e["code"] == 200]))([n for n, e in enumerate(L) if e.get("kind") == "destinationrules" and e["code"] == 500][-1])' 1
	# Backed off: the gaps between the retries grow (200 ms, 400 ms, ...
	# with jitter in [d/2, d]): the third is at least 0.25 s after the first.
	expect_eq "$(q '(lambda t: t[2] - t[0] >= 0.25)([e["ts"] for e in L if e.get("kind") == "destinationrules" and e["code"] == 500])')" True "backoff between retries"
	api_ctl /_ctl/put '{"kind":"services","object":{"metadata":{"name":"after-500","namespace":"default"},"spec":{"clusterIP":"10.96.8.5","ports":[{"port":80,"targetPort":80,"protocol":"TCP"}]}}}'
	wait_for "the errors counted" stat_ge DestinationRule errors 3
}

# A relist whose continue token has expired starts the list again.
test_expired_continue() {
	wait_for "a first model" models_ge 1
	local lists
	lists=$(q "len([e for e in L if e.get('kind') == 'services' and e.get('verb') == 'list' and not e.get('cont')])")
	api_ctl /_ctl/fault '{"kind":"services","fault":"expire-continue"}'
	refire services gone-status
	wait_for "a 410 on a continue token" q_ge 'len([e for e in L if e.get("kind") == "services" and e.get("verb") == "list" and e["code"] == 410])' 1
	wait_for "the list started again" q_gt "len([e for e in L if e.get('kind') == 'services' and e.get('verb') == 'list' and not e.get('cont')])" $((lists + 1))
	put_svc after-expired 10.96.8.6 10.209.8.6
	wait_for "a change after the full relist" model_has "service default/after-expired"
	model_has "service default/reviews" || fail "reviews lost in the relist"
	model_has "service default/ratings" || fail "ratings lost in the relist"
}

# The kubelet rotates the token file: the next requests carry the new one.
test_token_rotation() {
	wait_for "a first model" models_ge 1
	local old new n401
	old=$(cat "$WORK/pki/token")
	new=$(openssl rand -hex 32)
	api_ctl /_ctl/tokens "{\"accept\":[\"$old\",\"$new\"]}"
	echo "$new" >"$WORK/pki/token.tmp" && mv "$WORK/pki/token.tmp" "$WORK/pki/token"
	api_ctl /_ctl/tokens "{\"accept\":[\"$new\"]}"
	n401=$(q 'len([e for e in L if e["code"] == 401])')
	api_ctl /_ctl/close-watches '{}'
	api_ctl /_ctl/put "$(pod_json reviews-v3-c v3)"
	api_ctl /_ctl/put "$(slice_json reviews-rot reviews 9080 10.201.3.9:reviews-v3-c)"
	wait_for "a change seen with the rotated token" model_has "  endpoint v3 10.201.3.9"
	expect_eq "$(q 'len([e for e in L if e["code"] == 401])')" "$n401" "401 answers after the rotation"
}

# A rolling deploy's burst (40 changes, 10 ms apart) makes few builds.
test_burst_debounced() {
	wait_for "a first model" models_ge 1
	local ops before after
	ops=$("$PY" -c '
import json
ops = []
for i in range(20):
    ops.append({"kind": "pods", "object": {"metadata": {"name": "roll-%d" % i, "namespace": "default", "labels": {"version": "v2"}}}})
    ops.append({"kind": "endpointslices", "object": {"metadata": {"name": "reviews-roll", "namespace": "default", "labels": {"kubernetes.io/service-name": "reviews"}},
        "addressType": "IPv4", "ports": [{"name": "http", "port": 9080, "protocol": "TCP"}],
        "endpoints": [{"addresses": ["10.201.4.%d" % (j + 1)], "targetRef": {"kind": "Pod", "namespace": "default", "name": "roll-%d" % j}} for j in range(i + 1)]}})
print(json.dumps({"ops": ops}))')
	sleep 1
	before=$(nmodels)
	api_ctl /_ctl/batch "$ops"
	wait_for "the burst's last endpoint" model_has "  endpoint v2 10.201.4.20"
	sleep 1.5
	after=$(nmodels)
	info "40 changes in a burst: $((after - before)) model builds"
	expect_le "$((after - before))" 10 "builds for a burst of 40 changes"
}

test_istio_version_fallback() {
	start_fake beta --data "$DATA/api" --istio-versions v1beta1 || fail "second fake"
	cp -r "$WORK/pki" "$WORK/pki-beta" 2>/dev/null
	start_dump beta beta
	wait_for "a model from the v1beta1 fake" models_ge 1 beta
	expect_eq "$(stat_of VirtualService version beta)" v1beta1 "VirtualService API version"
	expect_eq "$(stat_of DestinationRule version beta)" v1beta1 "DestinationRule API version"
	model_has "object VirtualService default/reviews" beta || fail "VS not read through v1beta1"
	expect_ge "$(q 'len([e for e in L if e.get("kind") is None and e["code"] == 404 and "/networking.istio.io/v1/" in e["path"]])' beta)" 1 "a 404 on v1 first"
	# Without the CRDs: no Istio objects, and the services still come.
	start_fake none --data "$DATA/api" --istio-versions "" || fail "third fake"
	start_dump none none
	wait_for "a model without Istio's CRDs" models_ge 1 none
	model_has "service default/reviews" none || fail "services missing"
	! last_model none | grep -q '^object ' || fail "Istio objects without CRDs"
}

test_in_cluster_config() {
	local out=$WORK/incluster.out
	KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=$(cat "$WORK/main.port") \
		"$B/k8s_dump" --token-file "$WORK/pki/token" --ca-file "$WORK/pki/ca.crt" \
		>"$out" 2>"$WORK/incluster.err" &
	local pid=$!
	track "$pid"
	wait_for "a model in-cluster" grep -q '^=== end 1' "$out"
	kill "$pid" || true
	grep -q 'https://127.0.0.1:' "$WORK/incluster.err" || fail "the server was not taken from the environment"
	# No environment: a clear error.
	env -u KUBERNETES_SERVICE_HOST "$B/k8s_dump" 2>"$WORK/noenv.err" && fail "started without a cluster"
	expect_contains "$(cat "$WORK/noenv.err")" "KUBERNETES_SERVICE_HOST is not set" "error without a cluster"
	# A wrong CA: TLS fails, reported, no model.
	KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=$(cat "$WORK/main.port") \
		timeout 3 "$B/k8s_dump" --token-file "$WORK/pki/token" --ca-file /etc/ssl/certs/ca-certificates.crt \
		>"$WORK/badca.out" 2>"$WORK/badca.err" || true
	[ ! -s "$WORK/badca.out" ] || fail "a model through an unverified server"
	grep -qi 'certificate\|SSL' "$WORK/badca.err" || fail "no TLS error reported: $(head -3 "$WORK/badca.err")"
}

test_kubeconfig_unsupported() {
	local kc=$WORK/exec.kubeconfig
	sed 's/    tokenFile: pki\/token/    exec: {command: aws}/' "$WORK/main.kubeconfig" >"$kc"
	"$B/k8s_dump" --kubeconfig "$kc" 2>"$WORK/exec.err" && fail "an exec plugin accepted"
	expect_contains "$(cat "$WORK/exec.err")" "'exec' is not supported" "exec plugin error"
	"$B/k8s_dump" --kubeconfig "$WORK/main.kubeconfig" --context nope 2>"$WORK/ctx.err" && fail "a missing context accepted"
	expect_contains "$(cat "$WORK/ctx.err")" "context 'nope' not found" "missing context error"
	# certificate-authority-data (base64) instead of a file.
	sed "s|    certificate-authority: pki/ca.crt|    certificate-authority-data: $(base64 -w0 "$WORK/pki/ca.crt")|" \
		"$WORK/main.kubeconfig" >"$WORK/data.kubeconfig"
	start_dump cadata main --kubeconfig "$WORK/data.kubeconfig"
	wait_for "a model with certificate-authority-data" grep -q '^=== end 1' "$WORK/cadata.out"
}

# The fake's fidelity: real kubectl reads its lists and follows its watch.
need_kubectl() { command -v kubectl >/dev/null 2>&1 || skip "no kubectl (Debian: kubernetes-client)"; }
test_kubectl_raw() {
	need_kubectl
	local out
	out=$(KUBECONFIG=$WORK/main.kubeconfig timeout 60 kubectl get --raw /api/v1/services) ||
		fail "kubectl get --raw failed"
	expect_eq "$(echo "$out" | "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(d["kind"], "reviews" in [i["metadata"]["name"] for i in d["items"]])')" "ServiceList True" "kubectl get --raw"
	out=$(KUBECONFIG=$WORK/main.kubeconfig timeout 60 kubectl get endpointslices -o json) ||
		fail "kubectl get endpointslices failed"
	expect_contains "$out" '"reviews-abc"' "kubectl get endpointslices"
	out=$(KUBECONFIG=$WORK/main.kubeconfig timeout 60 kubectl get vs -o name) || fail "kubectl get vs failed"
	expect_contains "$out" "virtualservice.networking.istio.io/reviews" "kubectl get vs (discovery of the Istio group)"
}
test_kubectl_watch() {
	need_kubectl
	KUBECONFIG=$WORK/main.kubeconfig timeout 60 kubectl get svc -w -o name >"$WORK/kw.out" 2>"$WORK/kw.err" &
	local pid=$!
	wait_for "kubectl's list" grep -q 'service/reviews' "$WORK/kw.out"
	api_ctl /_ctl/put '{"kind":"services","object":{"metadata":{"name":"kubectl-sees-me","namespace":"default"},"spec":{"clusterIP":"10.96.9.9","ports":[{"port":80,"targetPort":80}]}}}'
	wait_for "kubectl's watch event" grep -q 'service/kubectl-sees-me' "$WORK/kw.out"
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	# The watch kubectl made: from its list's resourceVersion.
	expect_eq "$(q '[e for e in L if e.get("kind") == "services" and e.get("verb") == "watch" and e["path"].startswith("/api/v1/namespaces/")][-1]["rv"] != ""')" True "kubectl watched from a resourceVersion"
}

run_tests test_api_model_equals_files test_bad_objects_counted test_paginated_lists \
	test_pods_metadata_only test_watch_from_list_rv test_endpoints_follow_watch \
	test_closed_watch_resumed test_split_chunks test_gone_http_status test_gone_error_event \
	test_429_retry_after test_server_error_backoff test_expired_continue test_token_rotation test_burst_debounced test_istio_version_fallback \
	test_in_cluster_config test_kubeconfig_unsupported test_kubectl_raw test_kubectl_watch
