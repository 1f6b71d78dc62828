#!/bin/sh
# deps.sh - install the Debian packages the build, tests and demo need.
# Does nothing (and needs no root) when everything is already installed.
# prometheus (with promtool) is for the metrics tests: a test runs its own
# instance on loopback in a test netns. nftables, iptables, conntrack, jq and
# bsdextrautils are for the benchmarks' peers and tables (bench/); haproxy
# and wrk for the L7 benchmark (bench/bench_l7.sh: HAProxy runs only as a
# process the script starts in a test netns, never as a service).
set -eu
PKGS="clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev libyaml-dev libpcre2-dev \
pkg-config make gcc iproute2 ethtool curl procps util-linux libclang-rt-14-dev \
prometheus nftables iptables conntrack jq bsdextrautils libhttp-parser-dev \
haproxy wrk"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing:$missing"
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing packages and not root; run: apt-get install$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
