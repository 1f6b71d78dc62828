#!/bin/sh
# deps.sh - install the Debian packages the build, tests and demo need.
# Does nothing (and needs no root) when everything is already installed.
# prometheus (with promtool) is for the metrics tests: a test runs its own
# instance on loopback in a test netns. nftables, iptables, conntrack, jq and
# bsdextrautils are for the benchmarks' peers and tables (bench/); haproxy
# and wrk for the L7 benchmark (bench/bench_l7.sh: HAProxy runs only as a
# process the script starts in a test netns, never as a service).
# yamllint (with python3-yaml) checks the Kubernetes manifests in deploy/;
# node and npm install the kubernetes-models package (the API's schemas)
# into build/npm, for the same checks (tests/k8s/).
# libcurl4-openssl-dev and libjson-c-dev: splitd --source kubernetes (HTTPS,
# watch streams, JSON); openssl makes the fake API server's test CA, and
# kubectl (kubernetes-client) checks that fake's fidelity (tests/k8s/).
# liburing-dev: the L7 proxy's io_uring backend (--l7-io uring).
set -eu
cd "$(dirname "$0")/.."
PKGS="clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev libyaml-dev libpcre2-dev \
pkg-config make gcc iproute2 ethtool curl procps util-linux libclang-rt-14-dev \
prometheus nftables iptables conntrack jq bsdextrautils libhttp-parser-dev \
haproxy wrk yamllint python3-yaml libcurl4-openssl-dev libjson-c-dev openssl python3 \
liburing-dev"
# node and npm: any install of them will do (Debian's, or NodeSource's
# nodejs, which carries its own npm and conflicts with Debian's npm).
command -v node >/dev/null 2>&1 || PKGS="$PKGS nodejs"
command -v npm >/dev/null 2>&1 || PKGS="$PKGS npm"
# kubectl: Debian's, unless one is installed already (e.g. Google Cloud SDK's).
command -v kubectl >/dev/null 2>&1 || PKGS="$PKGS kubernetes-client"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
npm_models() {
	# The Kubernetes schemas for tests/k8s, project-local (never global).
	# Without network the manifest schema test reports SKIP.
	[ -d build/npm/node_modules/kubernetes-models ] && return 0
	command -v npm >/dev/null 2>&1 || return 0
	mkdir -p build/npm
	echo "deps: npm install kubernetes-models into build/npm"
	npm install --prefix build/npm --no-audit --no-fund --no-save --silent \
		kubernetes-models@4.5.1 >/dev/null 2>&1 ||
		echo "deps: npm install kubernetes-models failed: the manifest schema test will skip" >&2
	return 0
}
if [ -z "$missing" ]; then
	npm_models
	exit 0
fi
echo "deps: installing:$missing"
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing packages and not root; run: apt-get install$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
npm_models
