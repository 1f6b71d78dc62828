#!/bin/bash
# fake_lib.sh - the fake API server for tests (tests/k8s/fake_apiserver.py):
# a test CA, server certificate and token made with openssl, the fake
# started on 127.0.0.1 (in netns $FAKE_NS when set), a kubeconfig for it,
# and its control and request log. Source after tests/lib.sh; needs WORK,
# PY and track() (PIDs to kill at exit).

FAKE_NS=${FAKE_NS:-}
fake_in() { # CMD...: in the fake's netns (or here)
	if [ -n "$FAKE_NS" ]; then nsenter --net="/run/netns/$FAKE_NS" "$@"; else "$@"; fi
}

# ---- the test PKI and token -------------------------------------------------
pki() {
	local d=$WORK/pki
	mkdir -p "$d"
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/ca.key" -out "$d/ca.crt" \
		-days 1 -subj /CN=split-test-ca 2>/dev/null &&
	openssl req -newkey rsa:2048 -nodes -keyout "$d/srv.key" -out "$d/srv.csr" \
		-subj /CN=fake-apiserver 2>/dev/null &&
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$d/ext" &&
	openssl x509 -req -in "$d/srv.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" \
		-CAcreateserial -out "$d/srv.crt" -days 1 -extfile "$d/ext" 2>/dev/null &&
	openssl rand -hex 32 >"$d/token"
}

# start_fake NAME [ARGS...]: a fake on 127.0.0.1; its port in $WORK/NAME.port
start_fake() {
	local name=$1 pre=()
	shift
	# Not through fake_in: $! must be the server's PID (nsenter execs it).
	[ -z "$FAKE_NS" ] || pre=(nsenter --net="/run/netns/$FAKE_NS")
	"${pre[@]}" "$PY" tests/k8s/fake_apiserver.py --cert "$WORK/pki/srv.crt" --key "$WORK/pki/srv.key" \
		--token "$(cat "$WORK/pki/token")" --port-file "$WORK/$name.port" "$@" \
		>"$WORK/$name.log" 2>&1 &
	track $!
	for _ in $(seq 100); do [ -s "$WORK/$name.port" ] && break; sleep 0.1; done
	[ -s "$WORK/$name.port" ] || { cat "$WORK/$name.log"; return 1; }
	# kubeconfig for it (relative paths: resolved against the file)
	cat >"$WORK/$name.kubeconfig" <<EOF
apiVersion: v1
kind: Config
current-context: fake
clusters:
- name: fake
  cluster:
    server: https://127.0.0.1:$(cat "$WORK/$name.port")
    certificate-authority: pki/ca.crt
users:
- name: tester
  user:
    tokenFile: pki/token
contexts:
- name: fake
  context: {cluster: fake, user: tester}
EOF
}
# start_dump NAME FAKE [ARGS]: k8s_dump against fake FAKE, output in NAME.out
start_dump() {
	local name=$1 fake=$2
	shift 2
	"$B/k8s_dump" --kubeconfig "$WORK/$fake.kubeconfig" "$@" >"$WORK/$name.out" \
		2>"$WORK/$name.err" &
	track $!
}

url() { echo "https://127.0.0.1:$(cat "$WORK/${2:-main}.port")$1"; }
api_ctl() { # PATH JSON [FAKE]: a control request to the fake
	fake_in curl -sf --cacert "$WORK/pki/ca.crt" -H "Authorization: Bearer $(cat "$WORK/pki/token")" \
		-X POST --data "$2" "$(url "$1" "${3:-main}")" >/dev/null ||
		fail "control $1 failed"
}
fake_log() { # [FAKE]
	fake_in curl -sf --cacert "$WORK/pki/ca.crt" -H "Authorization: Bearer $(cat "$WORK/pki/token")" \
		"$(url /_ctl/log "${1:-main}")"
}
# q PY-EXPR: evaluate over the fake's log (L: list of dicts)
q() { fake_log "${2:-main}" | "$PY" -c "import json,sys; L=[json.loads(l) for l in sys.stdin]; print($1)"; }
