#!/bin/bash
# demo.sh - replay the seed's canary release of Istio's `reviews` service on
# a self-contained netns testbed: real HTTP servers for v1, v2 and v3, a
# client in its own netns and cgroup, splitd and splitctl as a user runs them.
#
#   make demo                 (root; builds first)
#   DEMO_REQUESTS=500 make demo
#
# Every step sends real HTTP requests to the VIP and prints the observed
# split next to the configured weights, then the kernel's view of the
# weights (bpftool map dump). Everything is removed on exit.
set -u
cd "$(dirname "$0")/.." || exit 1
source scripts/testbed.sh

B=${TB_BUILD:-build}
N=${DEMO_REQUESTS:-300}
VIP=10.96.0.10 PORT=9080
[ "$(id -u)" = 0 ] || { echo "demo: run as root (it creates network namespaces and a cgroup)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/split-demo.XXXXXX)
cleanup() {
	[ -f "$WORK/splitd.pid" ] && kill "$(cat "$WORK/splitd.pid")" 2>/dev/null && sleep 0.3
	[ -n "${TB_PIN:-}" ] && [ -n "${TB_NODE:-}" ] &&
		nsenter --net="/run/netns/$TB_NODE" "$B/splitd" -q --unload -p "$TB_PIN" 2>/dev/null
	tb_down
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bold() { printf '\n\033[1m%s\033[0m\n' "$*"; }
run() { printf '  $ %s\n' "$*"; "$@" 2>&1 | sed 's/^/    /'; }
# What a user types; the testbed's pin dir is passed for them.
splitctl() { "$B/splitctl" -p "$TB_PIN" "$@"; }

deploy() { # services file -> what splitd watches (atomic rename)
	cp "scripts/demo/$1" "$WORK/services.yaml.tmp"
	mv "$WORK/services.yaml.tmp" "$WORK/services.yaml"
	printf '  (services file now: scripts/demo/%s)\n' "$1"
	for _ in $(seq 50); do
		grep -c "applied" "$WORK/splitd.log" | grep -qx "$2" && return 0
		sleep 0.1
	done
	echo "demo: splitd did not apply $1:" >&2; tail -n 5 "$WORK/splitd.log" >&2; exit 1
}

observe() { # [HEADER]: N real HTTP requests (one connection each) from the client netns
	local out hdr=()
	[ $# -gt 0 ] && hdr=(--header "$1")
	out=$(tb_client "$B/splitclient" --connect $VIP --port $PORT -n "$N" --parallel 2 "${hdr[@]}")
	[ $# -gt 0 ] && printf '  %d requests with "%s":\n' "$N" "$1" ||
		printf '  %d requests:\n' "$N"
	splitctl show --json reviews | awk -v out="$out" -v n="$N" '
	BEGIN { split(out, lines, "\n")
		for (i in lines) { split(lines[i], f, " ")
			if (f[1] == "version") obs[f[2]] = f[3]
			if (f[1] == "total") { fail = f[6] } } }
	{ s = $0; tot = 0
	  while (match(s, /"name":"[^"]*","weight":[0-9]+/)) {
		m = substr(s, RSTART, RLENGTH); s = substr(s, RSTART + RLENGTH)
		split(m, kv, /[":,]+/); v[++nv] = kv[3]; w[nv] = kv[5]; tot += kv[5] } }
	END { printf "  %-8s %20s %14s\n", "version", "default route weight", "observed"
	      for (i = 1; i <= nv; i++)
		printf "  %-8s %19.1f%% %8d/%-5d (%5.1f%%)\n", v[i], tot ? 100 * w[i] / tot : 0,
		       obs[v[i]], n, 100 * obs[v[i]] / n
	      if (fail) printf "  failed requests: %d\n", fail }'
}

dump() {
	printf '  $ bpftool map dump pinned %s/weights\n' "$TB_PIN"
	bpftool map dump pinned "$TB_PIN/weights" | sed 's/^/    /'
}

echo "Building the testbed (client netns, node, reviews v1/v2/v3 backends)..."
tb_up || exit 1
cp scripts/demo/services-v1.yaml "$WORK/services.yaml"
# splitd runs in the node netns; its L7 proxy listens on the node's address
# on the clients' link (the test-user rule needs it).
nsenter --net="/run/netns/$TB_NODE" "$B/splitd" -c "$WORK/services.yaml" -g "$TB_CGROUP" \
	-p "$TB_PIN" --metrics 127.0.0.1:0 --l7-addr "$TB_NODE_IP4" --l7-addr "$TB_NODE_IP6" \
	>"$WORK/splitd.log" 2>&1 &
echo $! >"$WORK/splitd.pid"
for _ in $(seq 50); do grep -q watching "$WORK/splitd.log" && break; sleep 0.1; done
grep -q watching "$WORK/splitd.log" || { cat "$WORK/splitd.log"; exit 1; }
sed 's/^/  /' "$WORK/splitd.log"
SEED=tests/data/seed
COOKIE='cookie: user=test-user'

bold "Step 1: only reviews v1 runs; the seed's default rule sends 100% to v1"
run cat $SEED/route-rule-default-reviews.yaml
run splitctl apply -f $SEED/route-rule-default-reviews.yaml
observe
dump

bold "Step 2: deploy v2 beside v1; the default rule still sends it nothing"
deploy services-v1-v2.yaml 2
run splitctl show reviews
observe

bold "Step 3: the seed's test-user rule: the cookie goes to v2, per request"
run cat $SEED/route-rule-test-reviews-v2.yaml
run splitctl apply -f $SEED/route-rule-test-reviews-v2.yaml
observe "$COOKIE"
observe
printf '  reviews has a request rule now: the connect hooks send its connections to\n'
printf '  splitd'"'"'s L7 proxy (l7_listen), which reads the compiled rule (l7_routes, l7_conds):\n'
printf '  $ bpftool map dump pinned %s/l7_listen\n' "$TB_PIN"
bpftool map dump pinned "$TB_PIN/l7_listen" | sed 's/^/    /'
printf '  $ bpftool -j map dump pinned %s/l7_routes | jq ...   (used destinations only)\n' "$TB_PIN"
bpftool -j map dump pinned "$TB_PIN/l7_routes" | jq -c '.[].formatted |
	{svc_id: .key.svc_id, route: .key.route, name: .value.name, nmatches: .value.nmatches,
	 dests: [.value.dests[:.value.ndests][] | {version, weight}]}' | sort | sed 's/^/    /'
printf '  $ bpftool map dump pinned %s/l7_conds | grep -E '"'"'"name"|"value"'"'"'\n' "$TB_PIN"
bpftool map dump pinned "$TB_PIN/l7_conds" | grep -E '"name"|"value"' | sed 's/^/    /'

bold "Step 4: canary: v1 50 / v2 50 in the default rule, test-user rule kept"
printf '  set moves the weights of the route that sets them: the default route of the\n'
printf '  RouteRule reviews-default (as kubectl patch would; its file, applied again,\n'
printf '  replaces it)\n'
run splitctl set reviews v1=50 v2=50
run splitctl get
observe
observe "$COOKIE"
dump

bold "Step 5: all traffic to v2"
run splitctl apply -f $SEED/route-rule-default-reviews-v2.yaml
observe

bold "Rollback: a problem shows up, back to v1 (the test user stays on v2)"
run splitctl apply -f $SEED/route-rule-default-reviews.yaml
observe
observe "$COOKIE"

bold "Step 6: v2 is fine after all: v2=100, v1 is deleted, the test rule removed"
run splitctl apply -f $SEED/route-rule-default-reviews-v2.yaml
deploy services-v2.yaml 3
run splitctl delete -f $SEED/route-rule-test-reviews-v2.yaml
run splitctl show reviews
observe
observe "$COOKIE"
dump
run splitctl stats reviews
bold "Done. The testbed and the pinned maps are removed on exit."
