#!/bin/bash
# test_libcurl.sh - libcurl (and the 30 libraries it needs: TLS, Kerberos,
# LDAP, SSH, HTTP/2, ...) is loaded only for --source kubernetes, by
# dlopen (user/lib/config/k8s/k8s_curl.c): no program links it, `splitd
# --help` maps none of it (LD_DEBUG=files lists every library the loader
# opens, at start and by dlopen) while the API source does; and without a
# usable libcurl, `splitd --source kubernetes` stops at once: one line
# naming the library, its Debian package and dlerror()'s reason, exit
# status 1, nothing touched (its pin dir is not made). The library is
# missing (root: a private mount namespace hides it under an overlay, for
# splitd alone), not a library, or lacks a function (LD_LIBRARY_PATH to a
# directory holding such a libcurl.so.4). The rest of splitd (--once, the
# daemon on files) is checked in tests/e2e (test_once, test_sock).
T_SUITE=k8s_libcurl
source "$(dirname "$0")/../lib.sh"
SONAME=libcurl.so.4
WORK=$(mktemp -d /tmp/split-libcurl.XXXXXX)
PIN=/sys/fs/bpf/split-libcurl-$$-$RANDOM
trap 'rm -rf "$WORK"' EXIT

# A kubeconfig splitd accepts; nothing listens at its server (the tests
# stop before any request).
cat >"$WORK/kubeconfig" <<'KC'
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}
users:
- name: u
  user: {token: not-used}
contexts:
- name: x
  context: {cluster: c, user: u}
current-context: x
KC

need_splitd() { [ -x "$B/splitd" ] || skip "not built"; }
# curl_files LOG: the lines of an LD_DEBUG=files log naming libcurl
curl_files() { grep -c 'file=libcurl' "$1" || true; }

test_no_program_links_libcurl() {
	local b n checked=0
	need_splitd
	# splitd, splitctl and every tool built beside them (k8s_dump runs the
	# API source's client too).
	for b in "$B"/*; do
		[ -f "$b" ] && [ -x "$b" ] && readelf -h "$b" >/dev/null 2>&1 || continue
		n=$(readelf -d "$b" | grep -c "NEEDED.*libcurl" || true)
		expect_eq "$n" 0 "$b: libcurl among its NEEDED libraries"
		checked=$((checked + 1))
	done
	info "$checked programs link no libcurl"
	# It is opened by name: the name is in splitd (tests/k8s/test_manifests
	# finds it there for the image's packages).
	strings -a "$B/splitd" | grep -qx "$SONAME" || fail "no '$SONAME' string in splitd"
}

test_help_maps_no_libcurl() {
	need_splitd
	LD_DEBUG=files LD_DEBUG_OUTPUT="$WORK/help" "$B/splitd" --help >/dev/null ||
		fail "splitd --help failed"
	cat "$WORK"/help.* >"$WORK/help.log"
	# The log is the loader's: it names the libraries splitd does link.
	grep -q 'file=libbpf.so.1' "$WORK/help.log" || fail "LD_DEBUG=files listed no libbpf"
	expect_eq "$(curl_files "$WORK/help.log")" 0 "libcurl files opened by splitd --help"
	info "splitd --help opened $(grep -c 'file=.*\[0\];  needed by' "$WORK/help.log") libraries"
}

test_api_source_loads_libcurl() {
	local pid
	[ -x "$B/k8s_dump" ] || skip "k8s_dump not built"
	# The same client as splitd --source kubernetes (no BPF, no root): it
	# opens libcurl when it starts watching, then retries the dead server.
	LD_DEBUG=files LD_DEBUG_OUTPUT="$WORK/dump" "$B/k8s_dump" --kubeconfig "$WORK/kubeconfig" \
		>/dev/null 2>"$WORK/dump.err" &
	pid=$!
	for _ in $(seq 100); do
		grep -q 'watching the API' "$WORK/dump.err" && break
		sleep 0.05
	done
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null || true
	grep -q 'watching the API' "$WORK/dump.err" || fail "k8s_dump did not start: $(cat "$WORK/dump.err")"
	cat "$WORK"/dump.* >"$WORK/dump.log"
	grep -q "file=$SONAME .*dynamically loaded" "$WORK/dump.log" ||
		fail "the API source did not dlopen $SONAME: $(grep -m3 curl "$WORK/dump.log")"
	info "the API source opened $(grep -c 'file=.*\[0\];  needed by' "$WORK/dump.log") libraries"
}

# refused WHAT REASON [ENV...]: splitd --source kubernetes (with ENV)
# stops with the one-line error for REASON (part of dlerror()'s text),
# exit status 1, and its pin dir was not made.
refused() {
	local what=$1 reason=$2 rc=0
	shift 2
	env "$@" "$B/splitd" --source kubernetes --kubeconfig "$WORK/kubeconfig" -p "$PIN" \
		--no-metrics >"$WORK/out" 2>"$WORK/err" </dev/null || rc=$?
	refused_check "$what" "$reason" "$rc"
}
refused_check() {
	local what=$1 reason=$2 rc=$3
	info "$what: $(cat "$WORK/err")"
	expect_eq "$rc" 1 "$what: exit status"
	expect_eq "$(wc -l <"$WORK/err")" 1 "$what: lines on stderr"
	expect_contains "$(cat "$WORK/err")" "splitd: --source kubernetes: " "$what"
	expect_contains "$(cat "$WORK/err")" "$SONAME" "$what: the library"
	expect_contains "$(cat "$WORK/err")" "(Debian package libcurl4)" "$what: the package"
	expect_contains "$(cat "$WORK/err")" "$reason" "$what: dlerror()'s reason"
	[ ! -e "$PIN" ] || fail "$what: the pin dir $PIN was made"
}

test_libcurl_missing() {
	local dir rc=0
	need_splitd
	[ "$(id -u)" = 0 ] || skip "needs root (a private mount namespace)"
	command -v unshare >/dev/null 2>&1 || skip "no unshare"
	# The directory the loader finds it in (its cache), and no other copy.
	dir=$(/sbin/ldconfig -p | awk -v s="$SONAME" '$1 == s && /x86-64|64bit/ { print $NF }')
	[ "$(echo "$dir" | grep -c .)" = 1 ] || skip "$SONAME: not one copy in the loader's cache: $dir"
	dir=$(readlink -f "$(dirname "$dir")")
	mkdir -p "$WORK/mnt"
	# In a mount namespace of its own (private: nothing outside sees it),
	# an overlay on that directory whose upper layer holds a whiteout of
	# the soname; splitd runs there and nowhere else.
	# shellcheck disable=SC2016 # $1.. belong to the inner sh
	unshare -m --propagation private sh -c '
		set -e
		mount -t tmpfs split-libcurl "$1"
		mkdir "$1/u" "$1/w"
		mknod "$1/u/$2" c 0 0
		mount -t overlay split-libcurl -o "lowerdir=$3,upperdir=$1/u,workdir=$1/w" "$3"
		[ ! -e "$3/$2" ] || { echo "$3/$2 still there" >&2; exit 100; }
		shift 3
		exec "$@"' sh "$WORK/mnt" "$SONAME" "$dir" \
		"$B/splitd" --source kubernetes --kubeconfig "$WORK/kubeconfig" -p "$PIN" --no-metrics \
		>"$WORK/out" 2>"$WORK/err" </dev/null || rc=$?
	[ "$rc" != 100 ] || fail "the overlay did not hide $dir/$SONAME"
	grep -q '^mount: ' "$WORK/err" && skip "no overlay mount here: $(head -n1 "$WORK/err")"
	refused_check "$SONAME missing" "cannot open shared object file: No such file or directory" "$rc"
	# Outside the namespace it is still there.
	[ -e "$dir/$SONAME" ] || fail "$dir/$SONAME gone outside the namespace"
}

test_libcurl_not_a_library() {
	need_splitd
	mkdir -p "$WORK/garbage"
	head -c 4096 /dev/zero | tr '\0' 'x' >"$WORK/garbage/$SONAME"
	refused "$SONAME not a library" "invalid ELF header" LD_LIBRARY_PATH="$WORK/garbage"
}

test_libcurl_without_a_function() {
	need_splitd
	command -v "${CC:-cc}" >/dev/null 2>&1 || skip "no C compiler"
	mkdir -p "$WORK/partial"
	# A libcurl.so.4 with every function splitd calls but curl_easy_setopt.
	cat >"$WORK/partial/stub.c" <<'C'
int curl_global_init(long f) { (void)f; return 0; }
void *curl_easy_init(void) { return 0; }
void curl_easy_cleanup(void *h) { (void)h; }
void curl_easy_reset(void *h) { (void)h; }
int curl_easy_perform(void *h) { (void)h; return 0; }
int curl_easy_getinfo(void *h, int i, ...) { (void)h; (void)i; return 0; }
const char *curl_easy_strerror(int c) { (void)c; return ""; }
char *curl_easy_escape(void *h, const char *s, int n) { (void)h; (void)s; (void)n; return 0; }
void curl_free(void *p) { (void)p; }
void *curl_slist_append(void *l, const char *s) { (void)l; (void)s; return 0; }
void curl_slist_free_all(void *l) { (void)l; }
C
	"${CC:-cc}" -shared -fPIC -Wl,-soname,"$SONAME" -o "$WORK/partial/$SONAME" \
		"$WORK/partial/stub.c" || fail "could not build the stub library"
	refused "$SONAME without curl_easy_setopt" "has no curl_easy_setopt" \
		LD_LIBRARY_PATH="$WORK/partial"
	expect_contains "$(cat "$WORK/err")" "undefined symbol: curl_easy_setopt" "dlerror()'s text"
}

run_tests test_no_program_links_libcurl test_help_maps_no_libcurl test_api_source_loads_libcurl \
	test_libcurl_missing test_libcurl_not_a_library test_libcurl_without_a_function
