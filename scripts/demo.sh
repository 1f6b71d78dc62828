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
	[ -f "$WORK/splitd.pid" ] && kill "$(cat "$WORK/splitd.pid")" 2>/dev/null && sleep 0.2
	[ -n "${TB_PIN:-}" ] && "$B/splitd" -q --unload -p "$TB_PIN" 2>/dev/null
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

observe() { # N real HTTP requests (one connection each) from the client netns
	local out
	out=$(tb_client "$B/splitclient" --connect $VIP --port $PORT -n "$N" --parallel 2)
	splitctl show --json reviews | awk -v out="$out" -v n="$N" '
	BEGIN { split(out, lines, "\n")
		for (i in lines) { split(lines[i], f, " ")
			if (f[1] == "version") obs[f[2]] = f[3]
			if (f[1] == "total") { fail = f[6] } } }
	{ s = $0; tot = 0
	  while (match(s, /"name":"[^"]*","weight":[0-9]+/)) {
		m = substr(s, RSTART, RLENGTH); s = substr(s, RSTART + RLENGTH)
		split(m, kv, /[":,]+/); v[++nv] = kv[3]; w[nv] = kv[5]; tot += kv[5] } }
	END { printf "  %-8s %12s %14s\n", "version", "configured", "observed"
	      for (i = 1; i <= nv; i++)
		printf "  %-8s %11.1f%% %8d/%-5d (%5.1f%%)\n", v[i], tot ? 100 * w[i] / tot : 0,
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
"$B/splitd" -c "$WORK/services.yaml" -g "$TB_CGROUP" -p "$TB_PIN" >"$WORK/splitd.log" 2>&1 &
echo $! >"$WORK/splitd.pid"
for _ in $(seq 50); do grep -q watching "$WORK/splitd.log" && break; sleep 0.1; done
grep -q watching "$WORK/splitd.log" || { cat "$WORK/splitd.log"; exit 1; }
sed 's/^/  /' "$WORK/splitd.log"

bold "Step 1: only reviews v1 runs; the default rule sends 100% to v1"
run splitctl set reviews v1=100
observe
dump

bold "Step 2: deploy v2 beside v1; it gets nothing (versions not named weigh 0)"
deploy services-v1-v2.yaml 2
run splitctl show reviews
observe

bold "Step 3: test-user cookie to v2: needs the L7 proxy (its own issue), skipped here"

bold "Step 4: canary: v1=50 v2=50 for new connections, at once"
run splitctl set reviews v1=50 v2=50
observe
dump

bold "Step 5: all traffic to v2"
run splitctl set reviews v2=100
observe

bold "Rollback: a problem shows up, back to v1"
run splitctl set reviews v1=100
observe

bold "Step 6: v2 is fine after all: v2=100, then v1 is deleted"
run splitctl set reviews v2=100
deploy services-v2.yaml 3
run splitctl show reviews
observe
dump
bold "Done. The testbed and the pinned maps are removed on exit."
