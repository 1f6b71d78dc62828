// validate.js - every Kubernetes object given (a JSON array on stdin, each
// item {file, doc}) against the API's schema, with the npm kubernetes-models
// package (the OpenAPI schemas of the API server, compiled with ajv).
// Its validators check types, required fields and enums but accept unknown
// fields; a misspelt field (mountPropagaton) would then pass. So each
// object is also walked through a Proxy: a key the validator never read,
// in an object it never enumerated as a map (labels, data), is unknown.
//
// Exit 0 if all are valid; else print each problem and exit 1; exit 77 if
// kubernetes-models is not installed (NODE_PATH).
"use strict";
try {
	require.resolve("kubernetes-models/v1/Namespace");
} catch (e) {
	console.log("kubernetes-models not installed (NODE_PATH=" + (process.env.NODE_PATH || "") + ")");
	process.exit(77);
}

const schemaDir = require("path").join(
	require("path").dirname(require.resolve("kubernetes-models/v1/Namespace")), "..", "_schemas");

function modelFor(apiVersion, kind) {
	const path = "kubernetes-models/" + apiVersion + "/" + kind;
	try {
		return require(path)[kind];
	} catch (e) {
		return null;
	}
}

// Wrap obj so that reads and enumerations are recorded per object path.
function track(obj, path, seen) {
	if (obj === null || typeof obj !== "object")
		return obj;
	const rec = { read: new Set(), enumerated: false, obj };
	seen.set(path, rec);
	const target = Array.isArray(obj) ? obj.map((v, i) => track(v, path + "/" + i, seen)) :
		Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, track(v, path + "/" + k, seen)]));
	return new Proxy(target, {
		get(t, k, r) {
			if (typeof k === "string")
				rec.read.add(k);
			return Reflect.get(t, k, r);
		},
		has(t, k) {
			if (typeof k === "string")
				rec.read.add(k);
			return Reflect.has(t, k);
		},
		ownKeys(t) {
			rec.enumerated = true;
			return Reflect.ownKeys(t);
		},
	});
}

const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
let bad = 0, n = 0;
for (const { file, doc } of input) {
	const where = file + ": " + doc.kind + " " + ((doc.metadata || {}).name || "?");
	const M = modelFor(doc.apiVersion, doc.kind);
	n++;
	if (!M) {
		console.log(where + ": no schema for " + doc.apiVersion + " " + doc.kind);
		bad++;
		continue;
	}
	const seen = new Map();
	const proxied = track(doc, "", seen);
	const alias = Object.keys(require("kubernetes-models/" + doc.apiVersion + "/" + doc.kind))
		.find((k) => k.startsWith("IoK8s"));
	// _schemas is not in the package's exports: load it by its file name.
	const { validate } = alias ? require(schemaDir + "/" + alias + ".js") : {};
	let ok = true;
	try {
		// The class validates what it was given; validate() on the proxy
		// records what the schema looked at.
		new M(doc).validate();
	} catch (e) {
		console.log(where + ": " + e.message);
		ok = false;
	}
	if (typeof validate === "function") {
		const unknown = [];
		validate(proxied);
		for (const [path, rec] of seen) {
			if (Array.isArray(rec.obj) || rec.enumerated)
				continue;
			for (const k of Object.keys(rec.obj))
				if (!rec.read.has(k))
					unknown.push(path + "/" + k);
		}
		// Only the outermost: what is inside an unknown field is unknown too.
		for (const u of unknown)
			if (!unknown.some((o) => u.startsWith(o + "/"))) {
				console.log(where + ": unknown field " + u);
				ok = false;
			}
	} else {
		console.log(where + ": cannot find the schema validator to check for unknown fields");
		ok = false;
	}
	if (!ok)
		bad++;
}
console.log(n + " objects, " + bad + " invalid");
process.exit(bad ? 1 : 0);
