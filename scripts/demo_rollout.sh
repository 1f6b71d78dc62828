#!/bin/bash
# demo_rollout.sh - an automated canary release of `reviews` on the netns
# testbed: splitd moves v2 from 10% to 100% step by step, judging every
# window by what the kernel saw (connections, failed connects, resets);
# then a rollout to v3, whose server starts answering 500 halfway, is rolled
# back by splitd on its own (the L7 proxy counts the 5xx); then sticky
# sessions: a rollout with --sticky-cookie keeps each session on the
# version it first got while the share of new sessions follows the weights.
#
#   make demo-rollout          (root; builds first)
#
# Clients make real HTTP requests to the VIP all along. Everything is
# removed on exit.
set -u
cd "$(dirname "$0")/.." || exit 1
source scripts/testbed.sh

DEMO_SERVICES=services-v1-v2-v3.yaml
source scripts/demo_lib.sh
SEED=tests/data/seed

traffic() { # SECONDS: connections to the VIP from the client netns, in the background
	tb_client "$B/splitclient" --connect $VIP --port $PORT --duration "$1" --parallel 2 \
		--timeout-ms 500 >/dev/null 2>&1 &
	TRAFFIC=$!
}
wait_ended() { # SERVICE: until its rollout is no longer running
	for _ in $(seq 600); do
		splitctl rollout status --json "$1" | grep -q '"state":"running"' || return 0
		sleep 0.1
	done
}

bold "A progressive rollout: reviews from v1 to v2 in three steps, one every 2 s"
run splitctl set reviews v1=100
traffic 12
run splitctl rollout start reviews --to v2 --steps 10,50,100 --interval 2s --min-requests 20
printf '  $ splitctl rollout status reviews --watch    (a page per second; last page:)\n'
wait_ended reviews
splitctl rollout status reviews | sed 's/^/    /'
observe
wait "$TRAFFIC"

bold "A bad release: v3 starts answering 500 at its second step; splitd rolls back"
printf '  (the test-user rule puts reviews behind the L7 proxy, which counts the 5xx)\n'
run splitctl apply -f $SEED/route-rule-test-reviews-v2.yaml
traffic 15
run splitctl rollout start reviews --to v3 --from v2 --steps 20,50,100 --interval 2s --min-requests 20
for _ in $(seq 100); do
	splitctl rollout status --json reviews | grep -q '"step":2,' && break
	sleep 0.1
done
printf '  (v3 now answers 500 to every request: kill -USR1 its httpd)\n'
kill -USR1 "$(cat "$TB_DIR/httpd-v3.pid")"
wait_ended reviews
run splitctl rollout status reviews
observe
wait "$TRAFFIC"
printf '  Prometheus (GET /metrics on splitd'"'"'s metrics port):\n'
"$B/metrics_dump" "$TB_PIN" | grep '^split_rollout' | grep -v ' 0$' | sed 's/^/    /'

sessions() { # [COOKIE]: 200 new connections, one request each; versions and Set-Cookie values
	local hdr=()
	[ $# -gt 0 ] && hdr=(--header "cookie: $1")
	tb_client "$B/splitclient" --connect $VIP --port $PORT -n 200 --parallel 2 \
		--set-cookie split-version "${hdr[@]}" |
		awk '$1 == "version" { v = v sprintf(" %s %d", $2, $3) }
		     $1 == "set_cookie" { c = c sprintf(" %s=%d", $2, $3) }
		     END { printf "    got:%s   Set-Cookie split-version:%s (-: none)\n", v, c }'
}
bold "Sticky sessions: back from v2 to v1, each session keeping the version it got"
run splitctl rollout start reviews --to v1 --from v2 --steps 50,100 --interval 2s --sticky-cookie split-version
run splitctl rollout pause reviews
printf '  200 new sessions (no cookie): split by the weights, each told its version\n'
sessions
printf '  200 sessions that were given v2, and 200 given v1: they keep them\n'
sessions "split-version=v2"
sessions "split-version=v1"
printf '  the test user still gets v2 (match rules come first; the seed'"'"'s regex wants no space after ;)\n'
sessions "split-version=v1;user=test-user"
run splitctl rollout abort reviews
printf '  after the abort everyone is on v2 again; the cookie is ignored and not set\n'
sessions "split-version=v1"
bold "Done. The testbed and the pinned maps are removed on exit."
