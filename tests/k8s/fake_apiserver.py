#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""fake_apiserver.py - a small stand-in for kube-apiserver, for contract tests.

Not a Kubernetes API server: it serves just what splitd --source kubernetes
and a few kubectl commands use, over HTTPS with a bearer token, and plays
the watch semantics a client must get right:

  GET /api, /apis, /api/v1, /apis/G/V, /version      discovery (for kubectl)
  GET .../services|pods|endpointslices|virtualservices|destinationrules
      (cluster-wide or under /namespaces/NS/): lists with limit/continue
      (pages of at most --max-page items), watches (?watch=1) as chunked
      streams of JSON events from resourceVersion, BOOKMARK events every
      --bookmark-every seconds when allowWatchBookmarks=true, the end at
      timeoutSeconds. A resourceVersion older than the last compaction gets
      an ERROR event with code 410 (what kube-apiserver does). Pods are
      served as PartialObjectMetadata(List) when the Accept header asks.

Control (same server and token), POST with a JSON body, for the test:
  /_ctl/put      {"kind": K, "object": {...}}        ADDED or MODIFIED
  /_ctl/delete   {"kind": K, "namespace": NS, "name": N}
  /_ctl/batch    {"ops": [{"kind", "object"} | {"kind", "delete": NAME}]}
                 applied 10 ms apart (a rolling deploy's burst)
  /_ctl/compact  {}          events so far are gone: older watches get 410
  /_ctl/fault    {"kind": K, "fault": F, "count": 1}  for the next requests:
                 gone-status (HTTP 410 on a watch), gone-event (ERROR 410 in
                 the stream), close (the server ends the watch at once),
                 error (HTTP 500, on a list or a watch),
                 split (events cut into small chunks, mid-JSON), 429 (with
                 Retry-After: 1), expire-continue (410 on a continue token)
  /_ctl/tokens   {"accept": ["..."]}                   the tokens accepted
  /_ctl/close-watches {}     the server ends every open watch
  GET /_ctl/log  the requests seen, one JSON object per line

Objects of the kinds: K is one of services, endpointslices, pods,
virtualservices, destinationrules. Stdlib only.
"""
import argparse
import base64
import json
import os
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KINDS = {
    # resource: (group, kind, list apiVersion)
    "services": ("", "Service"),
    "pods": ("", "Pod"),
    "endpointslices": ("discovery.k8s.io", "EndpointSlice"),
    "virtualservices": ("networking.istio.io", "VirtualService"),
    "destinationrules": ("networking.istio.io", "DestinationRule"),
}
SHORT = {"services": ["svc"], "pods": ["po"], "endpointslices": [],
         "virtualservices": ["vs"], "destinationrules": ["dr"]}


class State:
    def __init__(self, istio_versions):
        self.cv = threading.Condition()
        self.rv = 1000
        self.compacted = 0
        self.objs = {k: {} for k in KINDS}
        self.events = []          # (rv, kind, type, obj)
        self.faults = {k: [] for k in KINDS}
        self.tokens = set()
        self.close_gen = 0
        self.log = []
        self.istio_versions = istio_versions

    def bump(self):
        self.rv += 1
        return str(self.rv)

    def put(self, kind, obj, event=True):
        with self.cv:
            md = obj.setdefault("metadata", {})
            md.setdefault("namespace", "default")
            key = (md["namespace"], md["name"])
            typ = "MODIFIED" if key in self.objs[kind] else "ADDED"
            md["resourceVersion"] = self.bump()
            self.objs[kind][key] = obj
            if event:
                self.events.append((self.rv, kind, typ, obj))
            self.cv.notify_all()

    def delete(self, kind, ns, name):
        with self.cv:
            obj = self.objs[kind].pop((ns, name), None)
            if obj is None:
                return False
            obj = json.loads(json.dumps(obj))
            obj["metadata"]["resourceVersion"] = self.bump()
            self.events.append((self.rv, kind, "DELETED", obj))
            self.cv.notify_all()
            return True

    def take_fault(self, kind, names):
        with self.cv:
            for f in self.faults[kind]:
                if f["fault"] in names and f["count"] > 0:
                    f["count"] -= 1
                    return f["fault"]
        return None


def api_version(kind, version):
    g = KINDS[kind][0]
    return f"{g}/{version}" if g else version


def meta_only(obj):
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.get("metadata", {})}


def status(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-apiserver/1"

    def log_message(self, fmt, *args):  # quiet; the log is /_ctl/log
        pass

    @property
    def st(self):
        return self.server.state

    def send_json(self, code, obj, headers=None):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def authorized(self):
        auth = self.headers.get("Authorization", "")
        tok = auth[7:] if auth.startswith("Bearer ") else None
        with self.st.cv:
            ok = tok in self.st.tokens
        if not ok:
            self.record(code=401)
            self.send_json(401, status(401, "Unauthorized", "Unauthorized"))
        return ok

    def record(self, **kw):
        u = urllib.parse.urlsplit(self.path)
        e = {"ts": time.time(), "method": self.command, "path": u.path,
             "query": dict(urllib.parse.parse_qsl(u.query)),
             "accept": self.headers.get("Accept", "")}
        e.update(kw)
        with self.st.cv:
            self.st.log.append(e)

    # ---- control ----
    def do_POST(self):
        if not self.authorized():
            return
        n = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(n) or b"{}")
        p = self.path
        st = self.st
        if p == "/_ctl/put":
            st.put(body["kind"], body["object"])
        elif p == "/_ctl/delete":
            if not st.delete(body["kind"], body.get("namespace", "default"), body["name"]):
                return self.send_json(404, status(404, "NotFound", "no such object"))
        elif p == "/_ctl/batch":
            # [{"kind", "object"} or {"kind", "delete": NAME}], 10 ms apart
            for op in body["ops"]:
                if "delete" in op:
                    st.delete(op["kind"], op.get("namespace", "default"), op["delete"])
                else:
                    st.put(op["kind"], op["object"])
                time.sleep(0.01)
        elif p == "/_ctl/compact":
            with st.cv:
                st.compacted = st.rv
                st.events = []
        elif p == "/_ctl/fault":
            with st.cv:
                st.faults[body["kind"]].append({"fault": body["fault"],
                                                "count": body.get("count", 1)})
        elif p == "/_ctl/tokens":
            with st.cv:
                st.tokens = set(body["accept"])
        elif p == "/_ctl/close-watches":
            with st.cv:
                st.close_gen += 1
                st.cv.notify_all()
        else:
            return self.send_json(404, status(404, "NotFound", "no such control"))
        with st.cv:
            rv = st.rv
        self.send_json(200, {"ok": True, "resourceVersion": str(rv)})

    # ---- API ----
    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        parts = [x for x in u.path.split("/") if x]
        if not self.authorized():
            return
        if u.path == "/_ctl/log":
            with self.st.cv:
                text = "".join(json.dumps(e) + "\n" for e in self.st.log)
            body = text.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if self.discovery(u.path, parts):
            return
        # /api/v1[/namespaces/NS]/RES  or  /apis/G/V[/namespaces/NS]/RES
        ns = None
        if parts[:1] == ["api"] and len(parts) >= 3:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 4:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            self.record(code=404)
            return self.send_json(404, status(404, "NotFound", "the server could not find the requested resource"))
        if len(rest) == 3 and rest[0] == "namespaces":
            ns, rest = rest[1], rest[2:]
        res = rest[0] if len(rest) == 1 else None
        ok_version = version == "v1" or (group == "networking.istio.io" and version in self.st.istio_versions)
        if group == "networking.istio.io" and version not in self.st.istio_versions:
            ok_version = False
        if res not in KINDS or KINDS[res][0] != group or not ok_version:
            self.record(code=404)
            return self.send_json(404, status(404, "NotFound", "the server could not find the requested resource"))
        if q.get("watch") in ("1", "true"):
            return self.watch(res, version, ns, q)
        return self.list(res, version, ns, q)

    def discovery(self, path, parts):
        st = self.st
        if path == "/version":
            self.send_json(200, {"major": "1", "minor": "30", "gitVersion": "v1.30.0-fake",
                                 "platform": "linux/amd64"})
        elif path == "/api":
            self.send_json(200, {"kind": "APIVersions", "versions": ["v1"],
                                 "serverAddressByClientCIDRs": []})
        elif path == "/apis":
            groups = [{"name": "discovery.k8s.io", "versions": [{"groupVersion": "discovery.k8s.io/v1", "version": "v1"}],
                       "preferredVersion": {"groupVersion": "discovery.k8s.io/v1", "version": "v1"}}]
            if st.istio_versions:
                vs = [{"groupVersion": "networking.istio.io/" + v, "version": v} for v in st.istio_versions]
                groups.append({"name": "networking.istio.io", "versions": vs, "preferredVersion": vs[0]})
            self.send_json(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
        elif path == "/api/v1" or (len(parts) == 3 and parts[0] == "apis"):
            gv = "v1" if path == "/api/v1" else parts[1] + "/" + parts[2]
            group = "" if path == "/api/v1" else parts[1]
            if group == "networking.istio.io" and parts[2] not in st.istio_versions:
                return False
            if group and group not in ("discovery.k8s.io", "networking.istio.io"):
                return False
            rs = [{"name": r, "singularName": KINDS[r][1].lower(), "namespaced": True,
                   "kind": KINDS[r][1], "verbs": ["get", "list", "watch"], "shortNames": SHORT[r]}
                  for r in KINDS if KINDS[r][0] == group]
            self.send_json(200, {"kind": "APIResourceList", "apiVersion": "v1",
                                 "groupVersion": gv, "resources": rs})
        else:
            return False
        self.record(code=200)
        return True

    def selected(self, res, ns):
        return [o for (ons, _), o in sorted(self.st.objs[res].items()) if ns is None or ons == ns]

    def shape(self, res, version, obj, meta):
        if meta:
            return meta_only(obj)
        o = dict(obj)
        o["kind"] = KINDS[res][1]
        o["apiVersion"] = api_version(res, version)
        return o

    def list(self, res, version, ns, q):
        st = self.st
        meta = res == "pods" and "as=PartialObjectMetadataList" in self.headers.get("Accept", "")
        f = st.take_fault(res, ("429", "error"))
        if f == "429":
            self.record(kind=res, verb="list", code=429)
            return self.send_json(429, status(429, "TooManyRequests", "slow down"), {"Retry-After": "1"})
        if f == "error":
            self.record(kind=res, verb="list", code=500)
            return self.send_json(500, status(500, "InternalError", "etcd is having a bad day"))
        cont = q.get("continue")
        if cont and st.take_fault(res, ("expire-continue",)):
            self.record(kind=res, verb="list", code=410)
            return self.send_json(410, status(410, "Expired", "The provided continue parameter is too old to display a consistent list result."))
        limit = int(q.get("limit", "0") or 0)
        page = self.server.max_page
        if limit and limit < page:
            page = limit
        with st.cv:
            items = self.selected(res, ns)
            rv = str(st.rv)
            start = 0
            if cont:
                c = json.loads(base64.b64decode(cont))
                start, rv = c["offset"], c["rv"]
            chunk = items[start:start + page] if limit else items[start:]
            more = limit and start + page < len(items)
            md = {"resourceVersion": rv}
            if more:
                md["continue"] = base64.b64encode(json.dumps({"offset": start + page, "rv": rv}).encode()).decode()
            out = {"kind": ("PartialObjectMetadataList" if meta else KINDS[res][1] + "List"),
                   "apiVersion": "meta.k8s.io/v1" if meta else api_version(res, version),
                   "metadata": md,
                   "items": [self.shape(res, version, o, meta) for o in chunk]}
        self.record(kind=res, verb="list", code=200, items=len(chunk), cont=bool(cont), meta=meta,
                    rv=rv, more=bool(more))
        self.send_json(200, out)

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def watch(self, res, version, ns, q):
        st = self.st
        meta = res == "pods" and "as=PartialObjectMetadata" in self.headers.get("Accept", "")
        f = st.take_fault(res, ("429", "gone-status", "gone-event", "close", "split", "error"))
        rv = q.get("resourceVersion", "")
        self.record(kind=res, verb="watch", rv=rv, fault=f, meta=meta,
                    bookmarks=q.get("allowWatchBookmarks"), code={"429": 429, "gone-status": 410, "error": 500}.get(f, 200))
        if f == "429":
            return self.send_json(429, status(429, "TooManyRequests", "slow down"), {"Retry-After": "1"})
        if f == "gone-status":
            return self.send_json(410, status(410, "Expired", "too old resource version"))
        if f == "error":
            return self.send_json(500, status(500, "InternalError", "etcd is having a bad day"))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        deadline = time.time() + min(int(q.get("timeoutSeconds", "1800")), 1800)
        bookmarks = q.get("allowWatchBookmarks") in ("true", "1")
        try:
            with st.cv:
                gen = st.close_gen
                old = rv and rv != "0" and int(rv) < st.compacted
            if f == "gone-event" or old:
                ev = {"type": "ERROR", "object": status(410, "Expired", "too old resource version: %s (%d)" % (rv, st.compacted))}
                self.chunk(json.dumps(ev).encode() + b"\n")
                self.chunk(b"")
                return
            sent = int(rv) if rv and rv != "0" else 0
            last_bm = time.time()
            while True:
                with st.cv:
                    evs = [e for e in st.events if e[0] > sent and e[1] == res and
                           (ns is None or e[3]["metadata"].get("namespace") == ns)]
                    if evs:
                        sent = max(sent, evs[-1][0])
                    # everything up to now is seen, for the bookmarks
                    cur = st.rv
                    closing = st.close_gen != gen
                out = b""
                for e in evs:
                    out += json.dumps({"type": e[2], "object": self.shape(res, version, e[3], meta)}).encode() + b"\n"
                if out:
                    if f == "split":
                        # mid-JSON cuts, small pauses between the pieces
                        step = max(1, len(out) // 5)
                        for i in range(0, len(out), step):
                            self.chunk(out[i:i + step])
                            time.sleep(0.02)
                    else:
                        self.chunk(out)
                if f == "close" or closing or time.time() >= deadline:
                    self.chunk(b"")
                    return
                if bookmarks and time.time() - last_bm >= self.server.bookmark_every:
                    last_bm = time.time()
                    sent = max(sent, cur)
                    bm = {"type": "BOOKMARK", "object": {"kind": KINDS[res][1], "apiVersion": api_version(res, version),
                                                         "metadata": {"resourceVersion": str(cur)}}}
                    self.chunk(json.dumps(bm).encode() + b"\n")
                with st.cv:
                    st.cv.wait(0.2)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            return


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--token", required=True, help="the first accepted token")
    ap.add_argument("--data", help="directory of *.json lists to start with")
    ap.add_argument("--port-file", required=True, help="where to write the port")
    ap.add_argument("--addr", default="127.0.0.1")
    ap.add_argument("--max-page", type=int, default=2)
    ap.add_argument("--bookmark-every", type=float, default=1.0)
    ap.add_argument("--istio-versions", default="v1", help="comma-separated, '' for none")
    a = ap.parse_args()
    st = State([v for v in a.istio_versions.split(",") if v])
    st.tokens = {a.token}
    if a.data:
        for res in KINDS:
            p = os.path.join(a.data, res + ".json")
            if os.path.exists(p):
                for o in json.load(open(p))["items"]:
                    o.pop("kind", None)
                    o.pop("apiVersion", None)
                    st.put(res, o, event=False)
    srv = ThreadingHTTPServer((a.addr, 0), Handler)
    srv.daemon_threads = True
    srv.state = st
    srv.max_page = a.max_page
    srv.bookmark_every = a.bookmark_every
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    with open(a.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(a.port_file + ".tmp", a.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
