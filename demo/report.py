"""Waits until every request's access line is in rstore (with a progress line), then prints what
got indexed: indices, counts against the requests made, top paths and statuses (terms
aggregations), and three parsed documents. Exit 1 if the counts do not meet in time."""
import json
import sys
import time
import urllib.request

store, traffic_file, limit = sys.argv[1], sys.argv[2], float(sys.argv[3])
made = json.load(open(traffic_file))["requests"]


def call(path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(store + path, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        raw = r.read().decode()
    return json.loads(raw) if raw.lstrip().startswith(("{", "[")) else raw


def counts(server):
    try:
        total = call(f"/{server}-*/_count")["count"]
        failed = call(f"/{server}-*/_count?q=tags:_grokparsefailure")["count"]
    except Exception:
        return 0, 0
    return total - failed, failed


deadline = time.time() + limit
while True:
    now = {s: counts(s) for s in made}
    line = "  ".join(f"{s}: {now[s][0]}/{made[s]} parsed, {now[s][1]} unparsed" for s in made)
    print(f"\r  waiting for the store: {line}   ", end="", flush=True)
    if all(now[s][0] >= made[s] for s in made):
        break
    if time.time() > deadline:
        print(f"\nnot everything was indexed within {limit:.0f} s")
        sys.exit(1)
    time.sleep(1)
print("\n")
print("== indices (GET /_cat/indices?v)")
print(call("/_cat/indices?v").rstrip())
print()
print("== requests made by the traffic generator vs documents indexed")
for s in made:
    parsed, failed = counts(s)
    print(f"  {s}: {made[s]} requests, {parsed} access lines parsed, {failed} other lines tagged _grokparsefailure")
print()
aggs = call("/server1-*,server2-*/_search", {
    "size": 0,
    "query": {"bool": {"must_not": [{"term": {"tags.keyword": "_grokparsefailure"}}]}},
    "aggs": {
        "paths": {"terms": {"field": "request_path.keyword", "size": 5}},
        "codes": {"terms": {"field": "response_code", "size": 10}},
    },
})["aggregations"]
print("== top paths (terms aggregation)")
for b in aggs["paths"]["buckets"]:
    print(f"  {b['doc_count']:6}  {b['key']}")
print("== status codes (terms aggregation)")
for b in aggs["codes"]["buckets"]:
    print(f"  {b['doc_count']:6}  {b['key']}")
print()
print("== three parsed documents")
for server in ("server1", "server2"):
    hits = call(f"/{server}-*/_search", {"size": 2 if server == "server1" else 1, "query": {"term": {"http_method.keyword": "GET"}}})["hits"]["hits"]
    for h in hits:
        src = h["_source"]
        keep = {k: src.get(k) for k in ("@timestamp", "client_ip", "http_method", "request_path", "response_code", "log_level", "status_message", "tags") if k in src}
        keep["log.file.path"] = src.get("log", {}).get("file", {}).get("path")
        print(f"  {h['_index']}: {json.dumps(keep)}")
print()
print("== what the processes report (rstash :9600/_node/stats, rbeat :5066 and :5067/stats)")


def get_json(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.loads(r.read())
    except Exception as e:
        return {"error": str(e)}


node = get_json("http://127.0.0.1:9600/_node/stats")
for pid, p in node.get("pipelines", {}).items():
    ev = p["events"]
    grok = next((f for f in p["plugins"]["filters"] if f["name"] == "grok"), None)
    grok_ms = f", grok {grok['events']['duration_in_millis']} ms" if grok else ""
    print(f"  rstash pipeline {pid}: in {ev['in']}, filtered {ev['filtered']}, out {ev['out']}{grok_ms}")
if "process" in node:
    pr = node["process"]
    print(f"  rstash process: {pr['mem']['resident_in_bytes'] // (1 << 20)} MB resident, {pr['cpu']['total_in_millis']} ms CPU")
for server, port in (("server1", 5066), ("server2", 5067)):
    st = get_json(f"http://127.0.0.1:{port}/stats")
    if "libbeat" in st:
        out = st["libbeat"]["output"]["events"]
        print(f"  rbeat {server}: read {st['filebeat']['events']['added']}, acked {out['acked']}, "
              f"{st['beat']['memstats']['rss'] // (1 << 20)} MB resident")
