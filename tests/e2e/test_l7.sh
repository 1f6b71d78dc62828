#!/bin/bash
# test_l7.sh - end to end: the seed's test-user cookie rule through splitd's
# L7 proxy. Clients in the cgroup connect to the VIP; the connect hooks send
# the connections of an L7 service to splitd's listener in the node netns,
# which routes every request. Real curl, real splitclient, real servers.
#
# Needs root. Builds its own testbed (unique names) and removes it on exit.
T_SUITE=e2e_l7
source "$(dirname "$0")/fixture.sh"
fixture_up_l7
fixture_splitd

# curl in the client netns and cgroup; prints the X-Version of each response.
ccurl() { tb_client curl -sS --max-time 5 -o /dev/null -w '%header{x-version}\n' "$@"; }
split_of() { client --connect $VIP4 --port $PORT -n "$1" --parallel 2 "${@:2}"; }
# The proxy's listener port for the VIP of family $1, from l7_listen ("" if
# none); the map holds it in network order (__be16).
listen_port() {
	bpftool -j map dump pinned "$TB_PIN/l7_listen" 2>/dev/null |
		jq -r --arg f "${1:-4}" '.[] | select(.formatted.value.family == ($f | tonumber)) |
			.formatted.value.port | (. % 256) * 256 + ((. / 256) | floor)' |
		head -n 1
}
wait_listen() { # FAMILY present|absent
	for _ in $(seq 50); do
		if [ -n "$(listen_port "$1")" ]; then [ "$2" = present ] && return 0
		else [ "$2" = absent ] && return 0; fi
		sleep 0.1
	done
	return 1
}
# svc_add_port NAME PORT: reviews gets TCP port PORT too (once), in the
# services file splitd watches.
svc_add_port() {
	python3 - "$SVC" "$1" "$2" <<'PY'
import sys
p, name, port = sys.argv[1:]
s = open(p).read()
old = "    port: 9080\n    targetPort: 9080\n    protocol: TCP\n"
if "port: %s\n" % port not in s:
    s = s.replace(old, old + "  - name: %s\n    port: %s\n    targetPort: %s\n    protocol: TCP\n"
                  % (name, port, port), 1)
open(p, "w").write(s)
PY
}
# Sum of a field of l7_stats over the entries of version VERSION.
l7_stat() { # VERSION FIELD
	local vid
	vid=$(bpftool -j map dump pinned "$TB_PIN/weights" |
		jq -r --arg v "$1" '.[] | select(.formatted.value.version == $v) | .formatted.key.version_id')
	bpftool -j map dump pinned "$TB_PIN/l7_stats" |
		jq --arg id "${vid:-0}" --arg f "$2" \
		   '[.[] | select(.formatted.key.version_id == ($id | tonumber)) | .formatted.value[$f] |
		     if type == "array" then add else . end] | add // 0'
}

test_plain_service_not_proxied() {
	local out
	ctl apply -f $SEED/route-rule-default-reviews.yaml >/dev/null
	wait_listen 4 absent || fail "l7_listen has an entry for a service without L7 rules"
	expect_contains "$(ctl show --json reviews)" '"l7":false' "show --json: not L7"
	out=$(split_of 200)
	expect_clean "$out" 200
	expect_eq "$(vcount "$out" v1)" 200 "all to v1 by the default rule"
}

test_cookie_to_v2() {
	local out i v
	ctl apply -f $SEED/route-rule-test-reviews-v2.yaml >/dev/null
	wait_listen 4 present || fail "no l7_listen entry after the test-user rule"
	wait_listen 6 present || fail "no IPv6 l7_listen entry"
	info "proxy listens on $TB_NODE_IP4:$(listen_port 4) and [$TB_NODE_IP6]:$(listen_port 6)"
	out=$(ctl show reviews)
	expect_contains "$out" "l7:    request rules in force: through splitd's proxy" "show: L7 line"
	expect_contains "$out" "$VIP4:$PORT -> $TB_NODE_IP4:$(listen_port 4)" "show: the IPv4 listener"
	expect_contains "$out" "[$VIP6]:$PORT -> [$TB_NODE_IP6]:$(listen_port 6)" "show: the IPv6 listener"
	expect_contains "$(ctl show --json reviews)" "\"listen\":\"$TB_NODE_IP4\",\"listenPort\":$(listen_port 4),\"alive\":true" "show --json: listener"
	out=$(split_of 200 --header "$COOKIE")
	expect_clean "$out" 200
	expect_eq "$(vcount "$out" v2)" 200 "test-user requests to v2"
	out=$(split_of 200)
	expect_clean "$out" 200
	expect_eq "$(vcount "$out" v1)" 200 "requests without the cookie to v1"
	# The seed's regex, as RE2 reads it, on real requests.
	for v in 'user=test-user' 'a=b;user=test-user' 'user=test-user; a=b'; do
		expect_eq "$(ccurl -H "cookie: $v" "http://$VIP4:$PORT/")" v2 "cookie '$v'"
	done
	for v in 'a=b; user=test-user' 'user=test-user2'; do
		expect_eq "$(ccurl -H "cookie: $v" "http://$VIP4:$PORT/")" v1 "cookie '$v'"
	done
	# IPv6 VIP.
	out=$(client --connect $VIP6 --port $PORT -n 100 --header "$COOKIE")
	expect_clean "$out" 100
	expect_eq "$(vcount "$out" v2)" 100 "test-user over IPv6 to v2"
}

test_keepalive_routes_each_request() {
	local out
	# One connection: two requests without the cookie, then two with it,
	# then one without. curl reuses the connection across --next.
	W='%header{x-version}:%{num_connects} '
	out=$(tb_client curl -sS --max-time 5 \
		"http://$VIP4:$PORT/a" -o /dev/null -w "$W" --next \
		"http://$VIP4:$PORT/b" -o /dev/null -w "$W" --next \
		-H "$COOKIE" "http://$VIP4:$PORT/c" -o /dev/null -w "$W" --next \
		-H "$COOKIE" "http://$VIP4:$PORT/d" -o /dev/null -w "$W" --next \
		"http://$VIP4:$PORT/e" -o /dev/null -w "$W")
	expect_eq "$out" "v1:1 v1:0 v2:0 v2:0 v1:0 " "versions and new connections per request"
	# Many keep-alive connections, each switching: splitclient --keepalive.
	out=$(tb_client "$B/splitclient" --connect $VIP4 --port $PORT --keepalive 1 \
		--interval-ms 20 --parallel 2 --header "$COOKIE")
	expect_eq "$(field "$out" fail)" 0 "keep-alive requests failed"
	expect_eq "$(vcount "$out" v1)" 0 "keep-alive test-user requests to v1"
}

test_bodies_pipelining_expect() {
	local out
	head -c 200000 /dev/zero | tr '\0' x >"$WORK/body"
	out=$(tb_client curl -sS --max-time 5 -H "$COOKIE" --data-binary "@$WORK/body" \
		-o /dev/null -w '%{http_code} %header{x-version}' "http://$VIP4:$PORT/post")
	expect_eq "$out" "200 v2" "POST with Content-Length: status and version"
	# Chunked upload with Expect: 100-continue.
	out=$(tb_client curl -sS --max-time 5 -H "$COOKIE" \
		-H 'Transfer-Encoding: chunked' -H 'Expect: 100-continue' --data-binary "@$WORK/body" \
		-o /dev/null -w '%{http_code} %header{x-version}' "http://$VIP4:$PORT/chunked")
	expect_eq "$out" "200 v2" "chunked POST with Expect: 100-continue"
	# Two pipelined requests in one write: the first to v1, the second to v2.
	out=$(tb_client env PYTHONPATH=tests/e2e python3 -c '
import sys
from l7util import exchange
data = exchange(sys.argv[1], int(sys.argv[2]),
                b"GET /1 HTTP/1.1\r\nHost: reviews\r\n\r\n"
                b"GET /2 HTTP/1.1\r\nHost: reviews\r\ncookie: user=test-user\r\nConnection: close\r\n\r\n")
print(" ".join(l.split(b": ")[1].decode() for l in data.split(b"\r\n") if l.lower().startswith(b"x-version")))
' "$VIP4" "$PORT")
	expect_eq "$out" "v1 v2" "pipelined requests routed one by one"
}

test_peer_is_vip_and_bad_requests() {
	local out
	# splitclient checks getpeername() == VIP on every connection (peer_mismatch).
	out=$(split_of 50 --header "$COOKIE")
	expect_clean "$out" 50
	# A malformed request gets 400 from the proxy and the connection closes.
	out=$(tb_client env PYTHONPATH=tests/e2e python3 -c '
import sys
from l7util import exchange
data = exchange(sys.argv[1], int(sys.argv[2]),
                b"GET / HTTP/1.1\r\nHost: reviews\r\nbad header\r\n\r\n")
print(data.split(b"\r\n")[0].decode())
' "$VIP4" "$PORT")
	expect_contains "$out" "400" "malformed request status"
	# A head over the limit gets 431.
	out=$(tb_client curl -sS --max-time 5 -o /dev/null -w '%{http_code}' \
		-H "x-big: $(head -c 20000 /dev/zero | tr '\0' a)" "http://$VIP4:$PORT/")
	expect_eq "$out" 431 "oversized head"
}

test_nonhttp_follows_default_route() {
	local out before after
	before=$(l7_stat v1 nonhttp)
	# A TLS ClientHello-like start and then garbage: relayed at L4 to the
	# default route (v1); our httpd answers 400 to it, which we read back.
	out=$(tb_client python3 -c '
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40 + b"\r\n\r\n")
s.shutdown(socket.SHUT_WR)
data = b""
while True:
    try:
        b = s.recv(65536)
    except OSError:
        break
    if not b:
        break
    data += b
head = data.split(b"\r\n\r\n")[0].split(b"\r\n")
print(head[0].decode(), [l.decode() for l in head if l.lower().startswith(b"x-version")])
' "$VIP4" "$PORT")
	# The backend's own answer to the bytes, relayed back: it reached v1.
	expect_contains "$out" "HTTP/1.1 400 Bad Request" "non-HTTP bytes relayed to a backend"
	expect_contains "$out" "X-Version: v1" "non-HTTP connection on the default route (v1)"
	for _ in $(seq 30); do
		after=$(l7_stat v1 nonhttp)
		[ "$after" -gt "$before" ] && break
		sleep 0.1
	done
	expect_ge "$after" $((before + 1)) "non-HTTP connections counted on v1 in l7_stats"
}

test_l7_stats_count_requests() {
	local r1 r2 ok2 out
	r2=$(l7_stat v2 requests)
	out=$(split_of 100 --header "$COOKIE")
	expect_clean "$out" 100
	for _ in $(seq 30); do
		ok2=$(l7_stat v2 requests)
		[ "$ok2" -ge $((r2 + 100)) ] && break
		sleep 0.1
	done
	expect_eq "$ok2" $((r2 + 100)) "v2 requests in l7_stats"
	r1=$(l7_stat v2 responses)
	[ "$r1" -ge 100 ] || fail "v2 responses in l7_stats: $r1"
}

test_client_in_node_netns() {
	local out
	# A process in the node netns (where splitd runs) and in the cgroup.
	out=$(tb_in_cgroup "$TB_NODE" "$B/splitclient" --connect $VIP4 --port $PORT -n 50 \
		--header "$COOKIE")
	expect_clean "$out" 50
	expect_eq "$(vcount "$out" v2)" 50 "test-user from the node netns to v2"
}

test_rules_change_take_effect() {
	local out
	# 50/50 with the test-user rule in force: the cookie still wins.
	ctl apply -f $SEED/route-rule-default-reviews-50.yaml >/dev/null

	out=$(split_of 2000)
	expect_clean "$out" 2000
	within_sigma "$(vcount "$out" v2)" 2000 0.5 4 "v2 at 50% through the proxy"
	out=$(split_of 200 --header "$COOKIE")
	expect_eq "$(vcount "$out" v2)" 200 "test-user still to v2 at 50/50"
	# The last request-matching rule goes: the proxy steps aside.
	ctl delete -f $SEED/route-rule-test-reviews-v2.yaml >/dev/null
	wait_listen 4 absent || fail "l7_listen entry kept after the rule was deleted"
	out=$(split_of 2000 --header "$COOKIE")
	expect_clean "$out" 2000
	within_sigma "$(vcount "$out" v2)" 2000 0.5 4 "cookie ignored without the rule"
	ctl apply -f $SEED/route-rule-test-reviews-v2.yaml >/dev/null
	wait_listen 4 present || fail "no l7_listen entry after re-applying the rule"
}

test_splitd_gone_falls_back_to_l4() {
	local out
	# SIGTERM: splitd withdraws its listeners; connections split at L4.
	stop_splitd TERM
	[ -z "$(listen_port 4)" ] || fail "l7_listen entry left after SIGTERM"
	expect_contains "$(ctl show reviews)" "no splitd proxy listens" "show after SIGTERM"
	out=$(split_of 400 --header "$COOKIE")
	expect_clean "$out" 400
	within_sigma "$(vcount "$out" v2)" 400 0.5 4 "split at L4 while splitd is stopped"
	start_splitd || fail "splitd restart"
	wait_listen 4 present || fail "no l7_listen entry after restart"
	out=$(split_of 100 --header "$COOKIE")
	expect_eq "$(vcount "$out" v2)" 100 "test-user to v2 after restart"
	# SIGKILL: the entry stays but its heartbeat goes stale in 3 s.
	stop_splitd KILL
	[ -n "$(listen_port 4)" ] || fail "l7_listen entry should outlive a SIGKILL"
	sleep 3.5
	expect_contains "$(ctl show reviews)" "(stale: splitd gone)" "show after SIGKILL"
	out=$(split_of 400 --header "$COOKIE")
	expect_clean "$out" 400
	within_sigma "$(vcount "$out" v2)" 400 0.5 4 "split at L4 after splitd was killed"
	start_splitd || fail "splitd restart after SIGKILL"
	out=$(split_of 100 --header "$COOKIE")
	expect_eq "$(vcount "$out" v2)" 100 "test-user to v2 after restart"
}

# A websocket-style Upgrade through the proxy: 8 MiB of random bytes to an
# echo server behind the 101 and back, byte-exact, half-closed by the
# client; once with --l7-sockmap (in-kernel tunnel if splitd's probe passes,
# else splice: the log says which) and once with --l7-no-sockmap.
test_upgrade_tunnel_sockmap_and_not() {
	local srv_pid out mode probe lines
	ctl apply -f $SEED/route-rule-default-reviews.yaml >/dev/null
	ctl apply -f $SEED/route-rule-test-reviews-v2.yaml >/dev/null
	# The upgrade echo server on v2 (the test-user route), port 9090.
	nsenter --net="/run/netns/$TB_V2" env PYTHONPATH=tests/e2e python3 -c '
import socket, threading
from l7util import echo_back
def serve(c):
    head = b""
    while b"\r\n\r\n" not in head:
        b = c.recv(65536)
        if not b:
            c.close(); return
        head += b
    head, rest = head.split(b"\r\n\r\n", 1)
    c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
              b"Upgrade: websocket\r\nX-Version: v2\r\n\r\n" + rest)
    echo_back(c)
    c.close()
l = socket.create_server(("0.0.0.0", 9090), reuse_port=False)
while True:
    c, _ = l.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
' </dev/null >"$WORK/ws.log" 2>&1 &
	srv_pid=$!
	# reviews gets a TCP port 9090 (splitd re-reads the file on change).
	svc_add_port ws 9090
	for mode in --l7-sockmap --l7-no-sockmap; do
		stop_splitd
		lines=$(wc -l <"$WORK/splitd.log")
		SPLITD_ARGS=("${L7_ARGS[@]}" "$mode")
		start_splitd || { kill "$srv_pid"; fail "splitd $mode did not start"; }
		wait_listen 4 present || { kill "$srv_pid"; fail "no l7_listen entry ($mode)"; }
		# what this splitd said about sockmap (the log accumulates)
		probe=$(tail -n +"$((lines + 1))" "$WORK/splitd.log" |
			grep -E "sockmap unusable|tunnels move bytes in the kernel" | tail -n 1)
		if [ "$mode" = --l7-sockmap ]; then
			[ -n "$probe" ] || { kill "$srv_pid"; fail "no sockmap probe result logged"; }
			info "splitd $mode: $probe"
		else
			[ -z "$probe" ] || { kill "$srv_pid"; fail "sockmap probed despite $mode: $probe"; }
		fi
		out=""
		for _ in $(seq 30); do
			out=$(tb_client env PYTHONPATH=tests/e2e python3 -c '
import random, socket, sys
from l7util import echo_through, read_head
data = random.Random(7).randbytes(8 << 20)
s = socket.create_connection((sys.argv[1], 9090), timeout=10)
s.sendall(b"GET /ws HTTP/1.1\r\nHost: reviews\r\nConnection: Upgrade\r\n"
          b"Upgrade: websocket\r\ncookie: user=test-user\r\n\r\n")
h = read_head(s)
if not h:
    print("no 101"); sys.exit(0)
if not h[0].startswith(b"HTTP/1.1 101"):
    print("status", h[0].split(b"\r\n")[0].decode()); sys.exit(0)
got = echo_through(s, data, h[1])
print("echo", len(got), "exact" if got == data else "DIFFERENT")
' "$VIP4" 2>&1) || true
			case "$out" in echo*) break ;; esac
			sleep 0.2
		done
		[ "$out" = "echo $((8 << 20)) exact" ] || kill "$srv_pid"
		expect_eq "$out" "echo $((8 << 20)) exact" "8 MiB through an upgrade tunnel ($mode)"
	done
	kill "$srv_pid" 2>/dev/null || true
	wait "$srv_pid" 2>/dev/null || true
	SPLITD_ARGS=("${L7_ARGS[@]}")
}

# --l7-skmsg: splitd in a child cgroup of the testbed's (sockops sees a
# socket by its cgroup: the proxy's accepted sockets are in splitd's), the
# seed's rules (test-user cookie to v2, 50/50 otherwise). Routing as
# without it; request and response bodies (1 MiB each way, keep-alive, and
# 4 MiB + 64 KiB to an upstream that waits 1.5 s before it reads),
# pipelined requests and an 8 MiB upgrade tunnel arrive byte for byte
# through an echo server; a response still queued for a client when splitd
# stops is read whole after splitd is gone; splitd's closing line says the
# kernel redirected bytes between both ends. SKIP if splitd's probe finds
# sk_msg unsound.
test_skmsg_hop_in_the_kernel() {
	local lines probe out srv=() st late
	ctl apply -f $SEED/route-rule-default-reviews-50.yaml >/dev/null
	ctl apply -f $SEED/route-rule-test-reviews-v2.yaml >/dev/null
	# An echo server on v1 and v2, port 9091: a POST's body comes back as
	# the response's; an Upgrade gets 101, then every byte back.
	for ns in "$TB_V1" "$TB_V2"; do
		nsenter --net="/run/netns/$ns" env PYTHONPATH=tests/e2e python3 -c '
import socket, sys, threading, time
from l7util import echo_back
ver = sys.argv[1]
def serve(c):
    buf = b""
    try:
        while True:
            while b"\r\n\r\n" not in buf:
                b = c.recv(262144)
                if not b:
                    return
                buf += b
            head, buf = buf.split(b"\r\n\r\n", 1)
            lines = head.split(b"\r\n")
            hdr = {l.split(b":", 1)[0].strip().lower(): l.split(b":", 1)[1].strip() for l in lines[1:]}
            if hdr.get(b"upgrade"):
                c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                          b"Upgrade: echo\r\nX-Version: " + ver.encode() + b"\r\n\r\n" + buf)
                echo_back(c)
                return
            n = int(hdr.get(b"content-length", b"0"))
            if lines[0].split(b" ")[1].startswith(b"/slow"):
                time.sleep(1.5)     # the proxy must hold the body meanwhile
            while len(buf) < n:
                b = c.recv(262144)
                if not b:
                    return
                buf += b
            body, buf = buf[:n], buf[n:]
            c.sendall(b"HTTP/1.1 200 OK\r\nX-Version: " + ver.encode() +
                      b"\r\nContent-Length: " + str(n).encode() + b"\r\n\r\n" + body)
    finally:
        c.close()
l = socket.create_server(("0.0.0.0", 9091))
while True:
    c, _ = l.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
' "${ns##*-}" </dev/null >>"$WORK/echo.log" 2>&1 &
		srv+=($!)
	done
	svc_add_port echo 9091
	stop_splitd
	mkdir -p "$TB_CGROUP/splitd" || fail "mkdir $TB_CGROUP/splitd"
	lines=$(wc -l <"$WORK/splitd.log")
	SPLITD_ARGS=("${L7_ARGS[@]}" --l7-skmsg)
	SPLITD_CG=$TB_CGROUP/splitd start_splitd || fail "splitd --l7-skmsg did not start"
	wait_listen 4 present || { kill "${srv[@]}"; fail "no l7_listen entry (splitd --l7-skmsg)"; }
	probe=$(tail -n +"$((lines + 1))" "$WORK/splitd.log" | grep -E -- "--l7-skmsg: (probe|sk_msg unusable)" | tail -n 1)
	info "splitd: ${probe#*splitd: }"
	case "$probe" in
	*"probe sound"*) ;;
	*unusable*) kill "${srv[@]}"; skip "splitd's probe finds sk_msg unsound on this kernel" ;;
	*) kill "${srv[@]}"; fail "no --l7-skmsg probe result in splitd's log" ;;
	esac
	tail -n +"$((lines + 1))" "$WORK/splitd.log" | grep -q -- "--l7-skmsg: on" ||
		{ kill "${srv[@]}"; fail "--l7-skmsg did not turn on"; }
	# Routing: the cookie to v2, 50/50 otherwise (new connections and keep-alive).
	out=$(split_of 200 --header "$COOKIE")
	expect_clean "$out" 200
	expect_eq "$(vcount "$out" v2)" 200 "test-user requests to v2 (--l7-skmsg)"
	out=$(split_of 400)
	expect_clean "$out" 400
	within_sigma "$(vcount "$out" v2)" 400 0.5 4 "no cookie: v2 share, 50/50 (--l7-skmsg)"
	out=$(tb_client "$B/splitclient" --connect $VIP4 --port $PORT --keepalive 1 \
		--interval-ms 20 --parallel 2 --header "$COOKIE")
	expect_eq "$(field "$out" fail)" 0 "keep-alive requests failed (--l7-skmsg)"
	expect_eq "$(vcount "$out" v1)" 0 "keep-alive test-user requests to v1 (--l7-skmsg)"
	# Bodies both ways on one keep-alive connection, then pipelined
	# requests, then an 8 MiB upgrade tunnel: every byte compared.
	out=$(tb_client env PYTHONPATH=tests/e2e python3 -c '
import random, socket, sys
from l7util import echo_through, read_head
vip, port = sys.argv[1], int(sys.argv[2])
def resp(s, buf):
    while b"\r\n\r\n" not in buf:
        b = s.recv(262144)
        if not b:
            raise SystemExit("EOF in a response head")
        buf += b
    head, buf = buf.split(b"\r\n\r\n", 1)
    h = {l.split(b":", 1)[0].strip().lower(): l.split(b":", 1)[1].strip() for l in head.split(b"\r\n")[1:]}
    n = int(h[b"content-length"])
    while len(buf) < n:
        b = s.recv(262144)
        if not b:
            raise SystemExit("EOF in a response body")
        buf += b
    return h[b"x-version"].decode(), buf[:n], buf[n:]
r = random.Random(11)
s = socket.create_connection((vip, port), timeout=10)
res, buf = [], b""
for i in range(4):
    body = r.randbytes(1 << 20)
    s.sendall(b"POST /echo HTTP/1.1\r\nHost: reviews\r\ncookie: user=test-user\r\nContent-Length: "
              + str(len(body)).encode() + b"\r\n\r\n" + body)
    v, got, buf = resp(s, buf)
    res.append("%s:%s" % (v, "exact" if got == body else "DIFFERENT"))
# A body just over what the kernel queues for the proxy (4 MiB) to an
# upstream that waits before it reads: the client moves to TCP, and the
# proxy then holds bytes in both queues of its socket.
body = r.randbytes((4 << 20) + (64 << 10))
s.sendall(b"POST /slow HTTP/1.1\r\nHost: reviews\r\ncookie: user=test-user\r\nContent-Length: "
          + str(len(body)).encode() + b"\r\n\r\n" + body)
v, got, buf = resp(s, buf)
res.append("slow:%s" % ("exact" if got == body else "DIFFERENT"))
bodies = [r.randbytes(1000 + 37 * i) for i in range(20)]
s.sendall(b"".join(b"POST /p HTTP/1.1\r\nHost: reviews\r\n" + (b"cookie: user=test-user\r\n" if i % 2 else b"")
                   + b"Content-Length: " + str(len(b)).encode() + b"\r\n\r\n" + b for i, b in enumerate(bodies)))
ok = 0
for i, b in enumerate(bodies):
    v, got, buf = resp(s, buf)
    ok += got == b and (v == "v2" or i % 2 == 0)
res.append("pipelined:%d/20" % ok)
s.close()
data = r.randbytes(8 << 20)
s = socket.create_connection((vip, port), timeout=10)
s.sendall(b"GET /t HTTP/1.1\r\nHost: reviews\r\nConnection: Upgrade\r\nUpgrade: echo\r\ncookie: user=test-user\r\n\r\n")
h = read_head(s)
if not h:
    raise SystemExit("no 101")
got = echo_through(s, data, h[1])
res.append("tunnel:%s" % ("exact" if got == data else "DIFFERENT %d" % len(got)))
print(" ".join(res))
' "$VIP4" 9091 2>&1) || true
	[ "$out" = "v2:exact v2:exact v2:exact v2:exact slow:exact pipelined:20/20 tunnel:exact" ] ||
		kill "${srv[@]}" 2>/dev/null
	expect_eq "$out" "v2:exact v2:exact v2:exact v2:exact slow:exact pipelined:20/20 tunnel:exact" \
		"bodies, pipelining and a tunnel through --l7-skmsg"
	# A response the proxy wrote into a client's queue (redirected, not yet
	# read) is still there when the client reads it after splitd has
	# stopped (SIGTERM) and exited (the kernel keeps the map, and the
	# client's psock, while the client's socket lives).
	rm -f "$WORK/go"
	tb_client env PYTHONPATH=tests/e2e python3 -c '
import os, random, socket, sys, time
from l7util import recv_all
body = random.Random(5).randbytes(512 << 10)
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=20)
s.sendall(b"POST /late HTTP/1.1\r\nHost: reviews\r\ncookie: user=test-user\r\nContent-Length: "
          + str(len(body)).encode() + b"\r\n\r\n" + body)
while not os.path.exists(sys.argv[3]):
    time.sleep(0.05)
data = recv_all(s)
print("late:" + ("exact" if data.endswith(b"\r\n\r\n" + body) else "DIFFERENT %d" % len(data)))
' "$VIP4" 9091 "$WORK/go" >"$WORK/late.out" 2>&1 &
	late=$!
	sleep 1.5
	# splitd's closing line: both ends went into the map, bytes were redirected.
	stop_splitd
	touch "$WORK/go"
	wait "$late" || true	# what it printed (a traceback too) is checked below
	kill "${srv[@]}" 2>/dev/null
	expect_eq "$(cat "$WORK/late.out")" "late:exact" "a queued response read after splitd exited"
	rmdir "$TB_CGROUP/splitd" 2>/dev/null
	st=$(tail -n +"$((lines + 1))" "$WORK/splitd.log" | grep -- "--l7-skmsg: .* ends put in the map" | tail -n 1)
	info "splitd: ${st#*splitd: }"
	[ -n "$st" ] || fail "no --l7-skmsg counters in splitd's log"
	expect_ge "$(sed -E 's/.*--l7-skmsg: ([0-9]+) client.*/\1/' <<<"$st")" 600 "client ends put in the map"
	expect_ge "$(sed -E 's/.* and ([0-9]+) proxy ends.*/\1/' <<<"$st")" 600 "proxy ends put in the map"
	expect_ge "$(sed -E 's/.*\(([0-9]+) bytes\) redirected.*/\1/' <<<"$st")" $((16 << 20)) "bytes redirected by sk_msg"
	# Both ways: the requests' bytes too (the client's first write finds
	# the proxy's end in the map), not only the responses'; through TCP:
	# only the backpressure case above.
	expect_le "$(($(sed -E 's/.*\(([0-9]+) bytes\) through TCP.*/\1/' <<<"$st") * 4))" \
		"$(sed -E 's/.*\(([0-9]+) bytes\) redirected.*/\1/' <<<"$st")" \
		"4 x the bytes written through TCP (redirected bytes)"
	start_splitd || fail "splitd did not restart"
	wait_listen 4 present || fail "no l7_listen entry"
}

run_tests test_plain_service_not_proxied test_cookie_to_v2 \
	test_keepalive_routes_each_request test_bodies_pipelining_expect \
	test_peer_is_vip_and_bad_requests test_nonhttp_follows_default_route \
	test_l7_stats_count_requests test_client_in_node_netns \
	test_rules_change_take_effect test_splitd_gone_falls_back_to_l4 \
	test_upgrade_tunnel_sockmap_and_not test_skmsg_hop_in_the_kernel
