#!/usr/bin/python3
# check_manifests.py CHECK [DEPLOY_DIR] - the deploy/ manifests keep what
# splitd needs on a node. One check per call (tests/k8s/test_manifests.sh
# runs them all); prints what is wrong and exits 1, or exits 0.
#
# Checks: daemonset (mounts, privileges, probes, flags tied to the mounts;
# the source: --source=kubernetes with splitd's ServiceAccount bound to the
# ClusterRole and its token mounted, no --config-dir), daemonset-config-dir
# (the same, for the alternative: the DaemonSet patched with
# examples/daemonset-config-files.patch.yaml, the ConfigMap of
# examples/config-files.yaml as --config-dir), variant (the capability-only
# DaemonSet differs from the default only in splitd's securityContext, and
# adds exactly the documented capabilities), rbac (read-only rights on what
# splitd routes by), objects (every object, examples too, has the namespace
# and labels the install needs). Printers: args (splitd's arguments,
# $(HOST_IP) filled in, one per line, for a run of splitd), caps (the
# variant's capabilities), configmap DIR (examples/config-files.yaml's
# ConfigMap as the kubelet mounts it).
import copy
import glob
import os
import sys

import yaml

errors = []


def err(msg):
    errors.append(msg)


SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def load(deploy):
    objs = []
    for path in sorted(glob.glob(os.path.join(deploy, "*.yaml"))):
        if path.endswith(".patch.yaml"):
            continue    # a JSON patch (examples/), not an object
        with open(path) as f:
            for doc in yaml.safe_load_all(f):
                if doc is not None:
                    objs.append((path, doc))
    return objs


def one(objs, kind, name=None):
    found = [o for _, o in objs if o.get("kind") == kind and
             (name is None or o["metadata"]["name"] == name)]
    if len(found) != 1:
        raise SystemExit("want one %s%s, found %d" % (kind, " " + name if name else "", len(found)))
    return found[0]


def container(pod, name, init=False):
    lst = pod.get("initContainers" if init else "containers", [])
    for c in lst:
        if c["name"] == name:
            return c
    raise SystemExit("no %scontainer %s" % ("init " if init else "", name))


def args_of(c):
    out = {}
    for a in c.get("args", []):
        if not a.startswith("--") or "=" not in a:
            err("splitd argument %r: write --flag=value" % a)
            continue
        k, v = a[2:].split("=", 1)
        out[k] = v
    return out


def mounts_of(c):
    return {m["mountPath"]: m for m in c.get("volumeMounts", [])}


def volumes_of(pod):
    return {v["name"]: v for v in pod.get("volumes", [])}


def check_daemonset(deploy, source="kubernetes"):
    objs = load(deploy)
    ds = one(objs, "DaemonSet", "splitd")
    sa = one(objs, "ServiceAccount")
    pod = ds["spec"]["template"]["spec"]
    vols = volumes_of(pod)
    if pod.get("hostNetwork") is not True:
        err("hostNetwork must be true: the L7 proxy listens on the node's address")
    if pod.get("dnsPolicy") != "ClusterFirstWithHostNet":
        err("dnsPolicy must be ClusterFirstWithHostNet with hostNetwork")
    if pod.get("priorityClassName") != "system-node-critical":
        err("priorityClassName must be system-node-critical")
    if {"operator": "Exists"} not in pod.get("tolerations", []):
        err("tolerations must include {operator: Exists} (every node)")
    if pod.get("serviceAccountName") != sa["metadata"]["name"]:
        err("serviceAccountName is not the ServiceAccount in deploy/")
    sel = ds["spec"]["selector"]["matchLabels"]
    labels = ds["spec"]["template"]["metadata"].get("labels", {})
    if any(labels.get(k) != v for k, v in sel.items()):
        err("the pod template's labels do not match the selector")

    d = container(pod, "splitd")
    a = args_of(d)
    m = mounts_of(d)
    sc = d.get("securityContext", {})
    # Flags tied to mounts.
    if a.get("cgroup") != "auto":
        err("--cgroup=auto: attach to the kubelet's pods")
    root = a.get("cgroup-root")
    if not root or root not in m:
        err("--cgroup-root must be a mounted path (the node's cgroup2), got %r" % root)
    else:
        v = vols.get(m[root]["name"], {})
        hp = v.get("hostPath", {}).get("path")
        if not hp:
            err("--cgroup-root's volume must be a hostPath")
        init = container(pod, "mount-cgroup", init=True)
        script = " ".join(init.get("command", []) + init.get("args", []))
        if hp and ("mount -t cgroup2 none %s" % hp) not in script:
            err("mount-cgroup must mount cgroup2 at the hostPath %s" % hp)
        for ns in ("--cgroup=/hostproc/1/ns/cgroup", "--mount=/hostproc/1/ns/mnt"):
            if ns not in init.get("command", []):
                err("mount-cgroup must enter the node's namespaces (%s)" % ns)
        im = mounts_of(init)
        if "/hostproc" not in im or im["/hostproc"].get("readOnly") is not True:
            err("mount-cgroup needs the node's /proc at /hostproc, read-only")
        elif vols.get(im["/hostproc"]["name"], {}).get("hostPath", {}).get("path") != "/proc":
            err("/hostproc must be the node's /proc")
        if init.get("securityContext", {}).get("privileged") is not True:
            err("mount-cgroup must be privileged (it mounts on the node)")
        if m[root].get("mountPropagation") not in ("HostToContainer", "Bidirectional"):
            err("the cgroup2 mount must propagate from the node (HostToContainer)")
    pin = a.get("pin-dir", "/sys/fs/bpf/split")
    bpf = os.path.dirname(pin)
    if bpf != "/sys/fs/bpf" or bpf not in m:
        err("--pin-dir must be under the node's bpffs mounted at /sys/fs/bpf")
    else:
        if vols.get(m[bpf]["name"], {}).get("hostPath", {}).get("path") != "/sys/fs/bpf":
            err("/sys/fs/bpf must be the node's /sys/fs/bpf (hostPath): pins outlive the pod")
        if m[bpf].get("readOnly"):
            err("splitd writes its pins: /sys/fs/bpf must not be read-only")
        init = container(pod, "mount-bpffs", init=True)
        im = mounts_of(init)
        if im.get("/sys/fs/bpf", {}).get("mountPropagation") != "Bidirectional":
            err("mount-bpffs must mount /sys/fs/bpf with Bidirectional propagation")
        if init.get("securityContext", {}).get("privileged") is not True:
            err("mount-bpffs must be privileged")
        if "mount -t bpf" not in " ".join(init.get("command", [])):
            err("mount-bpffs must mount bpffs")
    check_source(objs, pod, sa, a, m, vols, source)
    # Probes on the metrics port.
    metrics = a.get("metrics", "")
    port = metrics.rsplit(":", 1)[-1]
    ports = {p["name"]: p for p in d.get("ports", [])}
    mp = ports.get("metrics")
    if not mp or str(mp["containerPort"]) != port:
        err("a container port named metrics must be --metrics's port (%s)" % port)
    elif pod.get("hostNetwork") and mp.get("hostPort") not in (None, mp["containerPort"]):
        err("with hostNetwork, hostPort must equal containerPort")
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        g = d.get(probe, {}).get("httpGet", {})
        if g.get("path") != path or g.get("port") not in ("metrics", mp and mp["containerPort"]):
            err("%s must GET %s on the metrics port" % (probe, path))
    # The metrics and the proxy on the node's address (the pod's with hostNetwork).
    env = {e["name"]: e for e in d.get("env", [])}
    if env.get("HOST_IP", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") != "status.hostIP":
        err("HOST_IP must come from status.hostIP")
    if a.get("l7-addr") != "$(HOST_IP)":
        err("--l7-addr must be the node's address, $(HOST_IP): every pod reaches it")
    if not metrics.startswith("$(HOST_IP):"):
        err("--metrics must listen on $(HOST_IP): the kubelet probes the pod's (node's) address")
    req = d.get("resources", {}).get("requests", {})
    if "cpu" not in req or "memory" not in req:
        err("splitd needs cpu and memory requests")
    # Privileges.
    if sc.get("runAsUser") != 0:
        err("splitd must run as root (runAsUser: 0; the image's default user is not)")
    for c in pod.get("initContainers", []):
        if c.get("securityContext", {}).get("runAsUser") != 0:
            err("init container %s must run as root" % c["name"])
    if sc.get("privileged") is not True:
        caps = set(sc.get("capabilities", {}).get("add", []))
        need = {"BPF", "PERFMON", "NET_ADMIN", "SYS_RESOURCE", "SYS_ADMIN"}
        if not need <= caps:
            err("not privileged: splitd needs capabilities %s, has %s" %
                (sorted(need), sorted(caps)))
        if sc.get("allowPrivilegeEscalation") is False:
            err("allowPrivilegeEscalation: false with SYS_ADMIN is refused by the API server")
    images = {c["image"] for c in pod.get("initContainers", []) + pod["containers"]}
    if len(images) != 1:
        err("one image for every container, got %s" % sorted(images))


def check_source(objs, pod, sa, a, m, vols, want):
    # Where splitd takes services, endpoints and Istio objects from: the
    # API (shipped) or a ConfigMap as --config-dir (the alternative).
    src, cfg = a.get("source"), a.get("config-dir")
    if src is None and cfg is None:
        err("splitd names no source: neither --source=kubernetes nor --config-dir "
            "(it would read /etc/split/services.yaml, which nothing provides)")
        return
    if src is not None and cfg is not None:
        err("--source=%s and --config-dir together: splitd refuses that" % src)
        return
    if want == "kubernetes" and cfg is not None:
        err("the DaemonSet must take its objects from the API: --source=kubernetes, "
            "not --config-dir (the ConfigMap way is deploy/examples/)")
    if want == "config-dir" and cfg is None:
        err("the config-files alternative must run --config-dir")
    if src is not None and src not in ("kubernetes", "k8s"):
        err("--source=kubernetes, got --source=%s (no files in the pod)" % src)
    if cfg is not None:
        cms = [o for _, o in objs if o.get("kind") == "ConfigMap"]
        if cfg not in m:
            err("--config-dir must be a mounted path")
        else:
            v = vols.get(m[cfg]["name"], {})
            if v.get("configMap", {}).get("name") not in [c["metadata"]["name"] for c in cms]:
                err("--config-dir must be the ConfigMap %s" %
                    (" or ".join(c["metadata"]["name"] for c in cms) or
                     "of deploy/examples/config-files.yaml (none here)"))
            if m[cfg].get("subPath"):
                err("the ConfigMap must not be mounted with subPath (no updates then)")
    else:
        if any("configMap" in v for v in vols.values()):
            err("a ConfigMap volume without --config-dir: a leftover")
    if src is None:
        return
    # The API source, in-cluster: the ServiceAccount's token and CA, read-only rights.
    for k in ("kubeconfig", "k8s-token-file", "k8s-ca-file"):
        if k in a:
            err("--%s: in a pod splitd uses the ServiceAccount's token and CA" % k)
    if pod.get("automountServiceAccountToken") is not True:
        err("automountServiceAccountToken must be true: splitd reads the "
            "ServiceAccount's token and CA (in-cluster config)")
    if any(SA_DIR == p or SA_DIR.startswith(p.rstrip("/") + "/") for p in m):
        err("a volume mounted over %s hides the ServiceAccount's token" % SA_DIR)
    role = [o for _, o in objs if o.get("kind") == "ClusterRole"]
    bound = [o for _, o in objs if o.get("kind") == "ClusterRoleBinding" and
             {"kind": "ServiceAccount", "name": sa["metadata"]["name"],
              "namespace": sa["metadata"]["namespace"]} in o.get("subjects", [])]
    if not bound or not role or any(
            b["roleRef"] != {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                             "name": role[0]["metadata"]["name"]} for b in bound):
        err("splitd's ServiceAccount %s must be bound to the ClusterRole in deploy/ "
            "(list+watch needs it)" % sa["metadata"]["name"])


def check_variant(deploy):
    base = one(load(deploy), "DaemonSet", "splitd")
    var = one(load(os.path.join(deploy, "variants")), "DaemonSet", "splitd")
    check_daemonset_like(deploy, var)
    b = copy.deepcopy(base)
    v = copy.deepcopy(var)
    bs = container(b["spec"]["template"]["spec"], "splitd").pop("securityContext")
    vs = container(v["spec"]["template"]["spec"], "splitd").pop("securityContext")
    if b != v:
        err("the capability-only DaemonSet must differ from deploy/30-daemonset.yaml "
            "only in splitd's securityContext")
    if bs.get("privileged") is not True:
        err("the default DaemonSet is the privileged one")
    if vs.get("privileged") is not False:
        err("the variant must say privileged: false")
    caps = vs.get("capabilities", {})
    if caps.get("drop") != ["ALL"]:
        err("the variant must drop ALL capabilities first")
    want = ["BPF", "PERFMON", "NET_ADMIN", "SYS_RESOURCE", "SYS_ADMIN"]
    if sorted(caps.get("add", [])) != sorted(want):
        err("the variant adds %s, want exactly %s" % (caps.get("add"), want))


def check_daemonset_like(deploy, ds):
    # The variant passes the same checks as the default DaemonSet.
    objs = [(p, o) for p, o in load(deploy) if o.get("kind") != "DaemonSet"] + [("variant", ds)]
    saved = globals()["load"]
    globals()["load"] = lambda d: objs
    try:
        check_daemonset(deploy)
    finally:
        globals()["load"] = saved


def check_rbac(deploy):
    objs = load(deploy)
    role = one(objs, "ClusterRole")
    binding = one(objs, "ClusterRoleBinding")
    sa = one(objs, "ServiceAccount")
    want = {("", "services"), ("", "pods"), ("discovery.k8s.io", "endpointslices"),
            ("networking.istio.io", "virtualservices"),
            ("networking.istio.io", "destinationrules")}
    got = set()
    for r in role["rules"]:
        if sorted(r.get("verbs", [])) != ["get", "list", "watch"]:
            err("rule %s: verbs must be exactly get, list, watch" % r)
        for g in r.get("apiGroups", []):
            for res in r.get("resources", []):
                got.add((g, res))
    if got != want:
        err("ClusterRole grants %s, want %s" % (sorted(got), sorted(want)))
    if binding["roleRef"] != {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                              "name": role["metadata"]["name"]}:
        err("the binding does not name the ClusterRole")
    if binding["subjects"] != [{"kind": "ServiceAccount", "name": sa["metadata"]["name"],
                                "namespace": sa["metadata"]["namespace"]}]:
        err("the binding's subject is not splitd's ServiceAccount")


def check_objects(deploy):
    objs = (load(deploy) + load(os.path.join(deploy, "variants")) +
            load(os.path.join(deploy, "examples")))
    ns = one(objs, "Namespace")["metadata"]["name"]
    if one(load(deploy), "Namespace")["metadata"]["labels"].get(
            "pod-security.kubernetes.io/enforce") != "privileged":
        err("the namespace must allow privileged pods (Pod Security Admission)")
    for path, o in objs:
        md = o.get("metadata", {})
        cluster = o["kind"] in ("Namespace", "ClusterRole", "ClusterRoleBinding")
        if not cluster and md.get("namespace") != ns:
            err("%s: %s %s is not in namespace %s" % (path, o["kind"], md.get("name"), ns))
        if md.get("labels", {}).get("app.kubernetes.io/part-of") != "split":
            err("%s: %s %s lacks app.kubernetes.io/part-of: split" % (path, o["kind"], md.get("name")))


def print_args(deploy, host_ip, which):
    d = deploy if which == "default" else os.path.join(deploy, "variants")
    ds = one(load(d), "DaemonSet", "splitd")
    c = container(ds["spec"]["template"]["spec"], "splitd")
    for a in c.get("args", []):
        print(a.replace("$(HOST_IP)", host_ip))


def print_caps(deploy):
    ds = one(load(os.path.join(deploy, "variants")), "DaemonSet", "splitd")
    c = container(ds["spec"]["template"]["spec"], "splitd")
    print(",".join(c["securityContext"]["capabilities"]["add"]))


def print_configmap(deploy, out):
    # examples/config-files.yaml's ConfigMap as the kubelet mounts it: a
    # timestamped directory, ..data pointing at it, and one symlink per key.
    cm = one(load(os.path.join(deploy, "examples")), "ConfigMap")
    ts = "..2026_01_01_00_00_00.000000001"
    os.makedirs(os.path.join(out, ts))
    for k, v in cm["data"].items():
        with open(os.path.join(out, ts, k), "w") as f:
            f.write(v)
        os.symlink(os.path.join("..data", k), os.path.join(out, k))
    os.symlink(ts, os.path.join(out, "..data"))


def main():
    if len(sys.argv) < 2:
        print(__doc__ if __doc__ else "usage: check_manifests.py CHECK [DEPLOY_DIR]", file=sys.stderr)
        return 2
    what = sys.argv[1]
    deploy = os.environ.get("DEPLOY_DIR", "deploy")
    if what == "args":
        print_args(deploy, sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "default")
        return 0
    if what == "caps":
        print_caps(deploy)
        return 0
    if what == "configmap":
        print_configmap(deploy, sys.argv[2])
        return 0
    checks = {"daemonset": check_daemonset,
              "daemonset-config-dir": lambda d: check_daemonset(d, "config-dir"),
              "variant": check_variant,
              "rbac": check_rbac, "objects": check_objects}
    if what not in checks:
        print("unknown check %s" % what, file=sys.stderr)
        return 2
    checks[what](deploy)
    for e in errors:
        print("    %s" % e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
