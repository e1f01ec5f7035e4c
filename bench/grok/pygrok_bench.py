"""Runs a grok pattern with PyPI pygrok over every line of a file; prints one JSON line of figures."""
import json
import sys
import time

import pygrok

pattern, path = sys.argv[1], sys.argv[2]
with open(path, encoding="utf-8") as f:
    lines = f.read().splitlines()
grok = pygrok.Grok(pattern)
start = time.perf_counter()
matched = 0
for line in lines:
    if grok.match(line) is not None:
        matched += 1
secs = time.perf_counter() - start
print(json.dumps({"engine": "pygrok", "lines": len(lines), "matched": matched, "seconds": secs}))
