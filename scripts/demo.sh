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

DEMO_SERVICES=services-v1.yaml
source scripts/demo_lib.sh
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
