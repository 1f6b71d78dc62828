#!/bin/bash
# test_manifests.sh - the Kubernetes manifests in deploy/, checked offline:
# yamllint, the API's schemas (npm kubernetes-models, unknown fields too),
# that the DaemonSet keeps the mounts and privileges splitd needs and takes
# its objects from the API (--source=kubernetes, its ServiceAccount bound to
# the read-only ClusterRole), that the ConfigMap alternative in
# deploy/examples/ patches it into a valid --config-dir DaemonSet (kubectl
# patch --local), that splitd accepts the DaemonSet's arguments, and that
# the image's runtime packages cover splitd's libraries. Each checker is
# also shown to fail on a broken copy. No Kubernetes control plane runs
# here; no root needed. `kubectl apply -f deploy/` applies the top level
# only: Namespace, RBAC, DaemonSet (variants/ and examples/ are opt-in).
T_SUITE=k8s_manifests
source "$(dirname "$0")/../lib.sh"
PY=/usr/bin/python3
export NODE_PATH=$PWD/$B/npm/node_modules
WORK=$(mktemp -d /tmp/split-k8s.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

need_py() { "$PY" -c 'import yaml' 2>/dev/null || skip "no python3-yaml ($PY)"; }
check() { DEPLOY_DIR=${2:-deploy} "$PY" tests/k8s/check_manifests.py "$1"; }
# broken NAME SED-SCRIPT [FILE]: a copy of deploy/ with FILE edited.
broken() {
	rm -rf "${WORK:?}/${1:?}"
	cp -r deploy "$WORK/$1"
	sed -i "$2" "$WORK/$1/${3:-30-daemonset.yaml}"
	cmp -s "deploy/${3:-30-daemonset.yaml}" "$WORK/$1/${3:-30-daemonset.yaml}" &&
		fail "broken $1: the edit changed nothing"
	echo "$WORK/$1"
}
validate() { "$PY" tests/k8s/yaml2json.py "$@" | node tests/k8s/validate.js; }
need_models() {
	command -v node >/dev/null 2>&1 || skip "no node"
	[ -d "$NODE_PATH/kubernetes-models" ] || skip "kubernetes-models not installed in $B/npm (scripts/deps.sh)"
}

test_yamllint() {
	command -v yamllint >/dev/null 2>&1 || skip "no yamllint (scripts/deps.sh installs it)"
	yamllint -s -c tests/k8s/yamllint.yaml deploy/ || fail "yamllint"
	local d
	d=$(broken dupkey 's/^      hostNetwork: true$/      hostNetwork: true\n      hostNetwork: false/')
	yamllint -s -c tests/k8s/yamllint.yaml "$d" >/dev/null && fail "yamllint passed a duplicate key"
	return 0
}

test_schema_every_object() {
	local out
	need_py
	need_models
	out=$(validate deploy/*.yaml) || fail "schema: $out"
	expect_contains "$out" "5 objects, 0 invalid" "what kubectl apply -f deploy/ applies"
	out=$("$PY" tests/k8s/yaml2json.py deploy/*.yaml |
		"$PY" -c 'import json,sys; print(" ".join(o["doc"]["kind"] for o in json.load(sys.stdin)))')
	expect_eq "$out" "Namespace ServiceAccount ClusterRole ClusterRoleBinding DaemonSet" \
		"kubectl apply -f deploy/: no ConfigMap"
	out=$(validate deploy/*.yaml deploy/variants/*.yaml deploy/examples/config-files.yaml) ||
		fail "schema: $out"
	info "$out"
	expect_contains "$out" "7 objects, 0 invalid" "every object checked, variant and example too"
}

test_schema_catches_mistakes() {
	local d out
	need_py
	need_models
	d=$(broken schema 's/mountPropagation: HostToContainer/mountPropagaton: HostToContainer/; s/containerPort: 9464/containerPort: "9464"/')
	out=$(validate "$d/30-daemonset.yaml") && fail "a broken DaemonSet passed: $out"
	expect_contains "$out" "unknown field /spec/template/spec/containers/0/volumeMounts/0/mountPropagaton" "misspelt field"
	expect_contains "$out" "containerPort must be integer" "wrong type"
	d=$(broken schema2 's/^  name: split-splitd$/  nam: split-splitd/' 10-rbac.yaml)
	out=$(validate "$d/10-rbac.yaml") && fail "a broken ClusterRole passed: $out"
	expect_contains "$out" "unknown field /metadata/nam" "misspelt metadata field"
	return 0
}

test_daemonset_keeps_mounts_and_privileges() {
	local out d what
	need_py
	out=$(check daemonset) || fail "deploy/30-daemonset.yaml: $out"
	# Each of these breaks what splitd needs; the check must say so.
	while IFS='#' read -r what sedexp want; do
		d=$(broken "$what" "$sedexp")
		out=$(check daemonset "$d") && fail "$what: the check passed a broken DaemonSet"
		expect_contains "$out" "$want" "$what"
	done <<'EOF2'
no-hostnetwork#s/^      hostNetwork: true$/      hostNetwork: false/#hostNetwork must be true
no-priority#s/system-node-critical/system-cluster-critical/#system-node-critical
no-toleration#s/^      - operator: Exists$/      - {key: a, operator: Exists}/#operator: Exists
bpffs-not-host#s|^          path: /sys/fs/bpf$|          path: /var/lib/split-bpf|#hostPath
bpffs-propagation#s/mountPropagation: Bidirectional/mountPropagation: HostToContainer/#Bidirectional
cgroup-root#s|--cgroup-root=/host/cgroupv2|--cgroup-root=/sys/fs/cgroup|#--cgroup-root must be a mounted path
cgroup-auto#s|--cgroup=auto|--cgroup=/sys/fs/cgroup|#--cgroup=auto
cgroup-init#s|--cgroup=/hostproc/1/ns/cgroup|--cgroup=/proc/1/ns/cgroup|#enter the node's namespaces
no-source#/^        - --source=kubernetes$/d#names no source
source-files#s|--source=kubernetes|--source=files|#--source=kubernetes, got --source=files
config-dir-instead#s|--source=kubernetes|--config-dir=/etc/split/config|#not --config-dir
both-sources#s|^        - --source=kubernetes$|&\n        - --config-dir=/etc/split/config|#together
kubeconfig#s|^        - --source=kubernetes$|&\n        - --kubeconfig=/etc/kubeconfig|#--kubeconfig: in a pod
no-token#s|automountServiceAccountToken: true|automountServiceAccountToken: false|#automountServiceAccountToken must be true
token-hidden#s|^          mountPath: /host/cgroupv2$|          mountPath: /var/run/secrets|#hides the ServiceAccount's token
other-sa#s|serviceAccountName: splitd|serviceAccountName: default|#serviceAccountName is not the ServiceAccount
leftover-configmap#s|^      volumes:$|&\n      - name: config\n        configMap: {name: split-config}|#a leftover
readyz#s|path: /readyz|path: /healthz|#readinessProbe must GET /readyz
metrics-port#s|--metrics=$(HOST_IP):9464|--metrics=$(HOST_IP):9465|#metrics must be --metrics's port
l7-addr#s|--l7-addr=$(HOST_IP)|--l7-addr=127.0.0.1|#--l7-addr must be the node's address
not-root#s|^          runAsUser: 0$|          runAsUser: 65532|#must run as root
unprivileged#s|^          privileged: true$|          privileged: false|#needs capabilities
EOF2
	# splitd's ServiceAccount not bound to the ClusterRole (10-rbac.yaml).
	d=$(broken sa-unbound '/^- kind: ServiceAccount$/,+1 s/name: splitd/name: default/' 10-rbac.yaml)
	out=$(check daemonset "$d") && fail "sa-unbound: the check passed an unbound ServiceAccount"
	expect_contains "$out" "must be bound to the ClusterRole" "sa-unbound"
	return 0
}

# The ConfigMap alternative (deploy/examples/): its JSON patch, applied by
# kubectl to the shipped DaemonSet (and the capability variant) offline,
# gives a DaemonSet that passes the same checks in --config-dir form, with
# the example ConfigMap mounted; the patch refuses a DaemonSet it does not
# fit, whole.
test_config_files_alternative() {
	local d f out args=() patch=deploy/examples/daemonset-config-files.patch.yaml
	need_py
	command -v kubectl >/dev/null 2>&1 || skip "no kubectl (kubectl patch --local applies the patch)"
	for f in 30-daemonset.yaml variants/daemonset-capabilities.yaml; do
		d="$WORK/alt-${f%%/*}"
		rm -rf "$d" && mkdir -p "$d"
		cp deploy/00-namespace.yaml deploy/10-rbac.yaml "$d/"
		cp deploy/examples/config-files.yaml "$d/20-config.yaml"
		out=$(timeout 60 kubectl patch --local -f "deploy/$f" --type json --patch-file "$patch" \
			-o yaml 2>&1 >"$d/30-daemonset.yaml") || fail "kubectl patch $f: $out"
		out=$(check daemonset-config-dir "$d") || fail "$f patched: $out"
		grep -q -- '--config-dir=/etc/split/config' "$d/30-daemonset.yaml" || fail "$f: no --config-dir"
		# Not the shipped form: the default check says so.
		out=$(check daemonset "$d") && fail "$f patched passed as the shipped DaemonSet"
		expect_contains "$out" "not --config-dir" "$f patched: the shipped check refuses it"
		# splitd accepts the alternative's arguments too.
		if [ -x "$B/splitd" ]; then
			mapfile -t args < <(DEPLOY_DIR=$d "$PY" tests/k8s/check_manifests.py args 10.0.0.1)
			"$B/splitd" "${args[@]}" --help >/dev/null || fail "$f patched: splitd refused ${args[*]}"
		fi
		# Applied twice: its test operation refuses the already patched DaemonSet.
		timeout 60 kubectl patch --local -f "$d/30-daemonset.yaml" --type json \
			--patch-file "$patch" -o yaml >/dev/null 2>&1 && fail "$f: the patch applied twice"
	done
	if [ -d "$NODE_PATH/kubernetes-models" ] && command -v node >/dev/null 2>&1; then
		out=$(validate "$WORK"/alt-*/30-daemonset.yaml) || fail "schema of the patched DaemonSets: $out"
		expect_contains "$out" "2 objects, 0 invalid" "the patched DaemonSets against the schema"
	fi
	# Without the example ConfigMap beside it, the check says so.
	rm "$WORK/alt-30-daemonset.yaml/20-config.yaml"
	out=$(check daemonset-config-dir "$WORK/alt-30-daemonset.yaml") && fail "passed without the ConfigMap"
	expect_contains "$out" "--config-dir must be the ConfigMap" "no ConfigMap"
}

test_capability_variant() {
	local out d
	need_py
	out=$(check variant) || fail "deploy/variants/daemonset-capabilities.yaml: $out"
	d=$(broken variant-nosysadmin '/- SYS_ADMIN/d' variants/daemonset-capabilities.yaml)
	out=$(check variant "$d") && fail "a variant without SYS_ADMIN passed"
	expect_contains "$out" "needs capabilities" "missing capability"
	d=$(broken variant-drift 's/cpu: 100m/cpu: 200m/' variants/daemonset-capabilities.yaml)
	out=$(check variant "$d") && fail "a variant that drifted from the default passed"
	expect_contains "$out" "only in splitd's securityContext" "drift"
	return 0
}

test_rbac_read_only() {
	local out d
	need_py
	out=$(check rbac) || fail "$out"
	d=$(broken rbac-write 's/verbs: \[get, list, watch\]/verbs: [get, list, watch, update]/' 10-rbac.yaml)
	out=$(check rbac "$d") && fail "a writing ClusterRole passed"
	expect_contains "$out" "exactly get, list, watch" "write verb"
}

test_objects_namespaced_and_labelled() {
	local out
	need_py
	out=$(check objects) || fail "$out"
}

test_splitd_accepts_the_daemonset_args() {
	local v args=()
	need_py
	[ -x "$B/splitd" ] || skip "$B/splitd not built"
	for v in default variant; do
		mapfile -t args < <(DEPLOY_DIR=deploy "$PY" tests/k8s/check_manifests.py args 10.0.0.1 "$v")
		expect_ge "${#args[@]}" 5 "$v: arguments"
		# Parsed in order: an unknown or malformed one fails before --help.
		"$B/splitd" "${args[@]}" --help >/dev/null || fail "$v: splitd refused: ${args[*]}"
	done
	# And splitd does refuse bad ones (so the above means something).
	local rc=0
	"$B/splitd" --cgroup=/x --cgroup-root=/y >/dev/null 2>&1 || rc=$?
	expect_eq $rc 2 "splitd --cgroup-root without --cgroup auto: exit status"
	rc=0
	"$B/splitd" --no-such-flag --help >/dev/null 2>&1 || rc=$?
	expect_eq $rc 2 "splitd with an unknown flag: exit status"
	rc=0
	"$B/splitd" --l7-addr=not-an-address --help >/dev/null 2>&1 || rc=$?
	expect_eq $rc 2 "splitd with a bad --l7-addr: exit status"
}

# runtime_packages CONTAINERFILE: the runtime stage's apt-get install list
# (after the last FROM).
runtime_packages() {
	awk '/^FROM /{ rt = ($0 ~ /slim/) } rt' "$1" |
		tr ' \\' '\n\n' | grep -E '^(lib[a-z0-9.+-]*[0-9][a-z0-9.+-]*|zlib1g)$' | sort -u | tr '\n' ' '
}
# sonames BINARY...: the libraries the programs need: those they link
# (NEEDED) and those they open by name with dlopen (libcurl.so.4, for the
# Kubernetes source: user/lib/config/k8s/k8s_curl.h), found as a string
# that is a soname and nothing else.
sonames() {
	local b
	for b in "$@"; do
		readelf -d "$b" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'
		strings -a "$b" | grep -E '^lib[a-z0-9_+-]+\.so\.[0-9.]+$'
	done | sort -u | tr '\n' ' '
}
# packages_missing CONTAINERFILE SONAME...: each library's file, and its
# package when the Containerfile's runtime stage does not install it (apt
# installs what they depend on; debian:12-slim has the base ones).
packages_missing() {
	local want lib path pkg missing=""
	want=$(runtime_packages "$1")
	shift
	for lib in "$@"; do
		path=$(/sbin/ldconfig -p | awk -v s="$lib" '$1 == s && /x86-64|64bit/ { print $NF; exit }')
		[ -n "$path" ] || { missing="$missing $lib(not installed here)"; continue; }
		pkg=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -n1 | cut -d: -f1)
		[ -n "$pkg" ] || pkg=$(dpkg -S "$path" 2>/dev/null | head -n1 | cut -d: -f1)
		case $pkg in
		libc6|libgcc-s1|libzstd1|liblzma5|libbz2-1.0|libselinux1|libcap2) continue ;; # in debian:12-slim
		esac
		case " $want " in *" $pkg "*) ;; *) missing="$missing $path($pkg)" ;; esac
	done
	echo "$missing"
}

test_image_runtime_packages_cover_the_binaries() {
	local want libs missing
	[ -x "$B/splitd" ] && [ -x "$B/splitctl" ] || skip "not built"
	command -v dpkg >/dev/null 2>&1 || skip "no dpkg"
	want=$(runtime_packages Containerfile)
	expect_contains "$want" "libbpf1" "runtime packages read from the Containerfile"
	libs=$(sonames "$B/splitd" "$B/splitctl")
	expect_contains " $libs" " libbpf.so" "splitd's libraries (NEEDED)"
	expect_contains " $libs " " libcurl.so.4 " "splitd's libraries (dlopen, the Kubernetes source)"
	# shellcheck disable=SC2086 # one soname a word
	missing=$(packages_missing Containerfile $libs)
	[ -z "$missing" ] || fail "libraries from packages the image does not install:$missing"
	info "runtime packages: $want"
	# The check itself, on a Containerfile without libcurl4: it sees the
	# library splitd opens only for --source kubernetes.
	sed 's/ libcurl4 / /' Containerfile >"$WORK/Containerfile.nocurl"
	cmp -s Containerfile "$WORK/Containerfile.nocurl" && fail "broken Containerfile: the edit changed nothing"
	# shellcheck disable=SC2086
	expect_contains "$(packages_missing "$WORK/Containerfile.nocurl" $libs)" "(libcurl4)" \
		"a Containerfile without libcurl4"
}

test_image_build_stage_offline() {
	local d src
	[ -f "$B/.deps" ] || skip "build dependencies not installed (make deps)"
	# The build stage's COPY lines, into an empty dir: are they all the
	# source the two programs need? (The image itself needs an engine.)
	d="$WORK/context"
	mkdir -p "$d"
	while read -r src; do
		mkdir -p "$d/$(dirname "$src")"
		cp -r "$src" "$d/$src" || fail "COPY $src: not in the repository"
	done < <(awk '/^FROM /{ n++ } n == 1 && $1 == "COPY" { print $2 }' Containerfile)
	mkdir -p "$d/build" && touch "$d/build/.deps"
	make -s -C "$d" -j2 build/splitd build/splitctl >"$WORK/context.log" 2>&1 ||
		{ tail -n 20 "$WORK/context.log"; fail "the build stage's sources do not build"; }
	"$d/build/splitd" --help | grep -q "^Usage: splitd" || fail "splitd --help"
	"$d/build/splitctl" --help | grep -q "^Usage: splitctl" || fail "splitctl --help"
}

test_image_build() {
	local out
	out=$(make -s image IMAGE=split-test:latest 2>&1) || fail "make image failed: $out"
	case $out in
	*"image: SKIP"*) skip "${out##*image: SKIP: }" ;;
	esac
	# Built: the programs start in it.
	for e in podman docker; do
		command -v $e >/dev/null 2>&1 && $e info >/dev/null 2>&1 || continue
		$e run --rm split-test:latest --help | grep -q "^Usage: splitd" || fail "splitd --help in the image"
		$e run --rm --entrypoint /usr/local/bin/splitctl split-test:latest --help |
			grep -q "^Usage: splitctl" || fail "splitctl --help in the image"
		$e rmi split-test:latest >/dev/null 2>&1
		return 0
	done
	fail "make image built but no engine to run it"
}

run_tests test_yamllint test_schema_every_object test_schema_catches_mistakes \
	test_daemonset_keeps_mounts_and_privileges test_config_files_alternative test_capability_variant \
	test_rbac_read_only test_objects_namespaced_and_labelled \
	test_splitd_accepts_the_daemonset_args test_image_runtime_packages_cover_the_binaries \
	test_image_build_stage_offline test_image_build
