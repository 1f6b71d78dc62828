#!/usr/bin/python3
# yaml2json.py FILE... - every YAML document of the files, as a JSON array
# of {file, doc} on stdout (for validate.js).
import json
import sys

import yaml

out = []
for path in sys.argv[1:]:
    with open(path) as f:
        for doc in yaml.safe_load_all(f):
            if doc is not None:
                out.append({"file": path, "doc": doc})
json.dump(out, sys.stdout)
