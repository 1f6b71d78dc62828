#!/bin/bash
# test_rollout.sh - end to end: progressive rollouts run by splitd (issue 12).
# Real clients in the cgroup make connections and requests through the VIPs
# while splitd moves the weights step by step, judging each window by the
# kernel's (sockops) and the L7 proxy's counters; real servers answer, fail
# to answer (a refused port) or answer 500 (httpd on SIGUSR1).
#
# Needs root. Builds its own testbed (unique names) and removes it on exit.
T_SUITE=e2e_rollout
source "$(dirname "$0")/fixture.sh"

VIP_RATINGS=10.96.0.12	# ratings: v1 answers, v2's endpoint refuses (no listener)

fixture_up_l7
fixture_service ratings $VIP_RATINGS 9080:9080 10.201.1.2=v1 10.201.2.9=v2
# 10.201.2.9 exists in v2's netns, but nothing listens on it: connects to
# it are refused (a reset), as when a new version's server is down.
ip -n "$TB_V2" addr add 10.201.2.9/24 dev eth0 || { echo "FAIL: address"; exit 1; }
fixture_splitd

# Background connections through VIP (connection per request, HTTP GET).
TRAFFIC=()
traffic() { # VIP SECONDS
	# Exec all the way down, so $! is splitclient itself (tb_client would
	# leave a subshell between).
	# shellcheck disable=SC2016 # $$ and $1.. belong to the inner sh
	(exec sh -c 'echo $$ > "$1/cgroup.procs" && exec nsenter --net="/run/netns/$2" "$3" \
		--connect "$4" --port "$5" --duration "$6" --parallel 2 --timeout-ms 500' \
		sh "$TB_CGROUP" "$TB_CLIENT" "$B/splitclient" "$1" $PORT "$2" >/dev/null 2>&1) &
	TRAFFIC+=($!)
	trap traffic_stop EXIT	# the test runs in a subshell: its own trap
}
traffic_stop() {
	local p
	for p in "${TRAFFIC[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	TRAFFIC=()
}
ro() { ctl rollout status --json "$1" | jq -r ".[0].$2"; }
wait_ro() { # SERVICE FIELD VALUE SECONDS
	local i
	for ((i = 0; i < $4 * 10; i++)); do
		[ "$(ro "$1" "$2")" = "$3" ] && return 0
		sleep 0.1
	done
	info "$(ctl rollout status "$1")"
	fail "$1: rollout $2 is $(ro "$1" "$2"), want $3 within $4 s"
}
weights() { ctl show --json "$1" | jq -r '.[0].versions | map("\(.name)=\(.weight)") | join(" ")'; }
snap() { snapshot; bpftool map dump pinned "$TB_PIN/rollouts_v2" 2>&1; }
settle() { # back to v1 only, no rollout running
	traffic_stop
	ctl rollout abort "$1" >/dev/null 2>&1 || true
	ctl set "$1" v1=100 >/dev/null
}

test_bad_input_changes_nothing() {
	local before out
	settle reviews
	before=$(snap)
	for args in "--to v2 --steps 10,5" "--to v2 --steps 50,150" "--to v2 --steps 0,50" \
		    "--to v9" "--to v2 --from v9" "--to v1 --from v1" "--to v2 --interval 5x" \
		    "--to v2 --interval 10ms" "--to v2 --max-error-rate abc" \
		    "--to v2 --max-error-rate 120%" "--to v2 --min-requests -3" "--steps 10"; do
		# shellcheck disable=SC2086
		if out=$(ctl rollout start reviews $args 2>&1); then
			fail "'rollout start reviews $args' was accepted: $out"
		fi
		info "refused: $args: $(head -n1 <<<"$out")"
	done
	expect_eq "$(snap)" "$before" "state after refused starts"
	ctl rollout start reviews --to v2 --steps 10,100 --interval 30s >/dev/null ||
		fail "a good start was refused"
	before=$(snap)
	out=$(ctl rollout start reviews --to v3 2>&1) && fail "a second rollout was accepted"
	expect_contains "$out" "already running" "second start"
	out=$(ctl set reviews v1=100 2>&1) && fail "set during a rollout was accepted"
	expect_contains "$out" "rollout of reviews.default to v2 is running" "set during a rollout"
	out=$(ctl rollout resume reviews 2>&1) && fail "resume of a running rollout was accepted"
	expect_eq "$(snap)" "$before" "state after refused commands"
	ctl rollout abort reviews >/dev/null
	out=$(ctl rollout pause reviews 2>&1) && fail "pause after abort was accepted"
	expect_contains "$out" "it is aborted" "pause after abort"
}

test_healthy_reaches_100() {
	local out
	settle reviews
	traffic $VIP4 30
	out=$(ctl rollout start reviews --to v2 --steps 10,50,100 --interval 1s --min-requests 5)
	expect_contains "$out" "step 1 of 3: v2 10%, v1 90%" "start output"
	expect_eq "$(weights reviews)" "v1=90 v2=10 v3=0" "weights at step 1"
	wait_ro reviews state done 20
	traffic_stop
	expect_eq "$(weights reviews)" "v1=0 v2=100 v3=0" "weights when done"
	out=$(ctl rollout status --json reviews | jq -r '.[0].events | map("\(.what):\(.weight)") | join(" ")')
	expect_eq "$out" "start:10 promote:50 promote:100 done:100" "decisions"
	out=$($B/metrics_dump "$TB_PIN")
	expect_contains "$out" 'split_rollout_state{service="reviews",namespace="default",to="v2",state="done"} 1' "metrics: state"
	expect_contains "$out" 'split_rollout_step{service="reviews",namespace="default",to="v2"} 3' "metrics: step"
	expect_contains "$out" 'split_rollout_rollbacks_total{service="reviews",namespace="default",to="v2"} 0' "metrics: rollbacks"
	# The exposition with the rollout families stays valid (deps.sh installs it).
	command -v promtool >/dev/null || fail "promtool not installed (Debian package prometheus)"
	promtool check metrics <<<"$out" || fail "promtool check metrics"
	grep -q "rollout reviews.default: done, v2 100%" "$WORK/splitd.log" || fail "splitd did not log the end"
}

test_low_traffic_holds_the_step() {
	settle reviews
	ctl rollout start reviews --to v2 --steps 10,50,100 --interval 1s --min-requests 50 >/dev/null
	sleep 3.5
	expect_eq "$(ro reviews state)" running "state without traffic"
	expect_eq "$(ro reviews step)" 1 "step without traffic"
	expect_eq "$(weights reviews)" "v1=90 v2=10 v3=0" "weights without traffic"
	expect_contains "$(ctl rollout status reviews)" "connections < 50: step held" "a hold decision"
	ctl rollout abort reviews >/dev/null
}

test_connect_failures_roll_back() {
	local out
	settle ratings
	traffic $VIP_RATINGS 20
	ctl rollout start ratings --to v2 --steps 20,50,100 --interval 1s --min-requests 5 >/dev/null
	wait_ro ratings state rolled-back 10
	expect_eq "$(weights ratings)" "v1=100 v2=0" "weights after the rollback"
	expect_eq "$(ro ratings step)" 1 "rolled back at step 1"
	expect_eq "$(ro ratings rollbacks)" 1 "rollbacks"
	expect_contains "$(ro ratings 'events[-1].why')" "connect failures" "the reason"
	traffic_stop
	# From now on every connection reaches v1.
	out=$(client --connect $VIP_RATINGS --port $PORT -n 200 --parallel 2)
	expect_clean "$out" 200
	expect_eq "$(vcount "$out" v1)" 200 "connections after the rollback"
	expect_contains "$($B/metrics_dump "$TB_PIN")" \
		'split_rollout_rollbacks_total{service="ratings",namespace="default",to="v2"} 1' "metrics: rollbacks"
}

# The L7 service: the seed's test-user rule (requests with the cookie go to
# v2 whatever the weights); others follow the weights the rollout moves.
test_http_500_rolls_back() {
	local v2pid before after
	settle reviews
	ctl apply -f $SEED/route-rule-test-reviews-v2.yaml >/dev/null
	v2pid=$(cat "$TB_DIR/httpd-v2.pid")
	traffic $VIP4 30
	ctl rollout start reviews --to v2 --steps 20,50,100 --interval 1.5s --min-requests 5 >/dev/null
	wait_ro reviews l7 true 5
	wait_ro reviews step 2 10
	kill -USR1 "$v2pid"	# v2 answers 500 from step 2 on
	wait_ro reviews state rolled-back 5
	expect_eq "$(weights reviews)" "v1=100 v2=0 v3=0" "weights after the rollback"
	expect_contains "$(ro reviews 'events[-1].why')" "errors" "the reason"
	# After the rollback v2 gets no new request without the cookie.
	sleep 1.2	# the proxy's counters are written once a second
	before=$(ctl rollout status --json reviews >/dev/null; ctl stats --json reviews |
		jq '[.[] | select(.kind == "version" and .version == "v2") | .requests] | add')
	sleep 2.5
	after=$(ctl stats --json reviews |
		jq '[.[] | select(.kind == "version" and .version == "v2") | .requests] | add')
	traffic_stop
	kill -USR2 "$v2pid"
	expect_eq "$after" "$before" "v2's requests after the rollback"
	ctl delete -f $SEED/route-rule-test-reviews-v2.yaml >/dev/null
}

# The seed's own flow: the default RouteRule sets the weights, the test-user
# rule is in force; each step moves the RouteRule's weights, as set does.
test_route_rule_governed_service() {
	local out
	settle reviews
	ctl apply -f $SEED/route-rule-default-reviews.yaml -f $SEED/route-rule-test-reviews-v2.yaml >/dev/null
	traffic $VIP4 20
	out=$(ctl rollout start reviews --to v2 --steps 10,100 --interval 1s --min-requests 5)
	expect_contains "$out" "step 1 of 2: v2 10%, v1 90%" "start output"
	out=$(ctl get)
	expect_contains "$out" "weight: 90" "the RouteRule at step 1 (get)"
	expect_contains "$out" "weight: 10" "the RouteRule at step 1 (get)"
	wait_ro reviews state done 15
	traffic_stop
	expect_eq "$(weights reviews)" "v1=0 v2=100 v3=0" "weights when done"
	out=$(ctl get)
	expect_contains "$out" "user=test-user" "the test-user rule is still in force"
	expect_contains "$out" "weight: 100" "the RouteRule at the end (get)"
	out=$(client --connect $VIP4 --port $PORT -n 100 --parallel 2)
	expect_eq "$(vcount "$out" v2)" 100 "requests after the rollout"
	ctl delete -f $SEED/route-rule-default-reviews.yaml -f $SEED/route-rule-test-reviews-v2.yaml >/dev/null
}

test_restart_resumes_at_the_same_step() {
	settle reviews
	traffic $VIP4 40
	ctl rollout start reviews --to v2 --steps 10,50,100 --interval 2s --min-requests 5 >/dev/null
	wait_ro reviews step 2 10
	stop_splitd KILL
	sleep 2.5	# longer than the interval: a dead splitd judges nothing
	expect_eq "$(ro reviews step)" 2 "step while splitd is down"
	expect_eq "$(weights reviews)" "v1=50 v2=50 v3=0" "weights while splitd is down"
	start_splitd || fail "splitd did not restart"
	expect_eq "$(ro reviews step)" 2 "step right after the restart (never ahead)"
	wait_ro reviews 'events[-1].what' restart 3
	wait_ro reviews state done 15
	traffic_stop
	expect_eq "$(weights reviews)" "v1=0 v2=100 v3=0" "weights when done"
}

test_pause_resume_abort_promote() {
	local out
	settle reviews
	ctl rollout start reviews --to v2 --steps 10,50,100 --interval 1s --min-requests 1 >/dev/null
	ctl rollout pause reviews >/dev/null
	traffic $VIP4 3
	sleep 2.5
	expect_eq "$(ro reviews state)" paused "state"
	expect_eq "$(ro reviews step)" 1 "a paused rollout does not move"
	out=$(ctl set reviews v1=100 2>&1) && fail "set during a paused rollout was accepted"
	ctl rollout resume reviews >/dev/null
	expect_eq "$(ro reviews state)" running "state after resume"
	out=$(ctl rollout abort reviews)
	expect_contains "$out" "aborted: v2 0%, v1 100%" "abort output"
	expect_eq "$(weights reviews)" "v1=100 v2=0 v3=0" "weights after abort"
	ctl rollout start reviews --to v2 --interval 1m >/dev/null
	expect_eq "$(weights reviews)" "v1=99 v2=1 v3=0" "default first step"
	out=$(ctl rollout promote reviews)
	expect_contains "$out" "done: v2 100%, v1 0%" "promote output"
	expect_eq "$(weights reviews)" "v1=0 v2=100 v3=0" "weights after promote"
	traffic_stop
	out=$(ctl rollout status reviews)
	expect_contains "$out" "reviews.default: done" "status"
	expect_contains "$out" "promoted by splitctl" "status: the decision"
	ctl set reviews v1=100 >/dev/null || fail "set after the rollout ended was refused"
}

# Sticky sessions on the L7 service (the seed's test-user rule makes it
# one): new sessions follow the weights and are told their version; a
# session that sends the cookie back keeps its version through the steps.
# Each step is measured paused (the weights hold; so does stickiness).
ckcount() { awk -v v="$2" '$1 == "set_cookie" && $2 == v { n = $3 } END { print n + 0 }' <<<"$1"; }
ckmismatch() { awk '$1 == "set_cookie_mismatch" { print $2 }' <<<"$1"; }
sessions() { # PCT_V2 STEP: what new sessions and old ones get at this step
	local out n=300 v
	out=$(client --connect $VIP4 --port $PORT -n $n --parallel 2 --set-cookie split-version)
	expect_clean "$out" $n
	expect_eq "$(ckmismatch "$out")" 0 "$2: new sessions told another version than they got"
	expect_eq "$(ckcount "$out" -)" 0 "$2: new sessions without a Set-Cookie"
	expect_eq "$(($(vcount "$out" v1) + $(vcount "$out" v2)))" $n "$2: new sessions on v1 or v2"
	within_sigma "$(vcount "$out" v2)" $n "$(awk -v p="$1" 'BEGIN { print p / 100 }')" 5 \
		"$2: new sessions on v2 (weight $1%)"
	for v in v1 v2; do
		out=$(client --connect $VIP4 --port $PORT -n 100 --parallel 2 \
			--header "cookie: a=b; split-version=$v" --set-cookie split-version)
		expect_clean "$out" 100
		expect_eq "$(vcount "$out" $v)" 100 "$2: sessions with split-version=$v on $v"
		expect_eq "$(ckcount "$out" -)" 100 "$2: no Set-Cookie for sessions that have it"
	done
}

test_sticky_sessions() {
	local before out long
	settle reviews
	# Bad names, and a service without request rules: refused, nothing changes.
	before=$(snap)
	long=$(printf 'c%.0s' {1..64})
	for name in "" "a b" "a;b" "a=b" "caf$(printf '\xc3\xa9')" "$long"; do
		if out=$(ctl rollout start reviews --to v2 --sticky-cookie "$name" 2>&1); then
			fail "--sticky-cookie '$name' was accepted: $out"
		fi
		expect_contains "$out" "--sticky-cookie" "the error for '$name' names the option"
	done
	out=$(ctl rollout start reviews --to v2 --sticky-cookie split-version 2>&1) &&
		fail "--sticky-cookie on a service without request rules was accepted"
	expect_contains "$out" "no request-matching rule" "refused for a service the proxy does not see"
	info "refused: $out"
	expect_eq "$(snap)" "$before" "state after refused starts"

	ctl apply -f $SEED/route-rule-test-reviews-v2.yaml >/dev/null
	ctl rollout start reviews --to v2 --steps 20,50,80 --interval 3s --min-requests 5 \
		--sticky-cookie split-version >/dev/null || fail "start with --sticky-cookie refused"
	ctl rollout pause reviews >/dev/null
	expect_eq "$(ro reviews sticky_cookie)" split-version "status --json: the cookie"
	expect_contains "$(ctl rollout status reviews)" "sticky cookie: split-version" "status: the cookie"
	expect_contains "$(ro reviews 'events[0].why')" "sticky cookie split-version" "the start decision"
	sessions 20 "step 1"
	# Match rules come first: the test user is on v2, and gets no cookie
	# (the seed's regex wants no space after the ";" before user=).
	out=$(client --connect $VIP4 --port $PORT -n 50 --parallel 2 \
		--header "cookie: split-version=v1;user=test-user" --set-cookie split-version)
	expect_eq "$(vcount "$out" v2)" 50 "test-user with split-version=v1"
	expect_eq "$(ckcount "$out" -)" 50 "no Set-Cookie on what a rule routed"
	# A version with weight 0 (v3) is not kept: weights, and a new cookie.
	out=$(client --connect $VIP4 --port $PORT -n 50 --parallel 2 \
		--header "cookie: split-version=v3" --set-cookie split-version)
	expect_eq "$(vcount "$out" v3)" 0 "split-version=v3 (weight 0) is ignored"
	expect_eq "$(ckcount "$out" -)" 0 "split-version=v3 gets a new cookie"
	expect_eq "$(ckmismatch "$out")" 0 "the new cookie names the version"
	for step in 2:50 3:80; do
		traffic $VIP4 20
		ctl rollout resume reviews >/dev/null
		wait_ro reviews step "${step%:*}" 10
		ctl rollout pause reviews >/dev/null
		traffic_stop
		expect_eq "$(weights reviews)" "v1=$((100 - ${step#*:})) v2=${step#*:} v3=0" "weights at step ${step%:*}"
		sessions "${step#*:}" "step ${step%:*}"
	done
	# Abort: everyone back to v1 at once, the cookie no longer read or set.
	ctl rollout abort reviews >/dev/null
	expect_eq "$(weights reviews)" "v1=100 v2=0 v3=0" "weights after abort"
	out=$(client --connect $VIP4 --port $PORT -n 100 --parallel 2 \
		--header "cookie: split-version=v2" --set-cookie split-version)
	expect_clean "$out" 100
	expect_eq "$(vcount "$out" v1)" 100 "v2 sessions after the abort"
	expect_eq "$(ckcount "$out" -)" 100 "no Set-Cookie after the abort"
	expect_contains "$(ctl rollout status reviews)" "sticky cookie: split-version (no longer read)" "status after abort"
	grep -q "sticky sessions, cookie split-version" "$WORK/splitd.log" || fail "splitd did not log the sticky cookie"
	grep -q "no sticky sessions now (cookie split-version)" "$WORK/splitd.log" || fail "splitd did not log the end of stickiness"
	ctl delete -f $SEED/route-rule-test-reviews-v2.yaml >/dev/null
}

run_tests test_bad_input_changes_nothing test_healthy_reaches_100 \
	test_low_traffic_holds_the_step test_connect_failures_roll_back \
	test_http_500_rolls_back test_route_rule_governed_service \
	test_restart_resumes_at_the_same_step \
	test_pause_resume_abort_promote test_sticky_sessions
