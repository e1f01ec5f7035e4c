"""Checks what ./demo.sh indexed, through the official Elasticsearch client against rstore:
the day's (UTC) per-server indices exist, every request the generator made is there once as a
parsed document with the right fields and types, status codes add up to what the generator saw,
and the lines that are not access lines (startup banners, tracebacks) are tagged, not lost."""
import datetime
import ipaddress
import json
import sys
import time

from elasticsearch import Elasticsearch

url, traffic_file = sys.argv[1], sys.argv[2]
traffic = json.load(open(traffic_file))
es = Elasticsearch(url, request_timeout=30)
for _ in range(100):
    try:
        es.info()
        break
    except Exception:
        time.sleep(0.2)

failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


# The run may straddle midnight UTC: the traffic of the last minutes went to today's index or
# yesterday's.
now = datetime.datetime.now(datetime.timezone.utc)
days = sorted({(now - datetime.timedelta(minutes=m)).strftime("%Y.%m.%d") for m in (0, 15)})
indices = {row["index"]: int(row["docs.count"]) for row in es.cat.indices(format="json")}
not_access = {"term": {"tags.keyword": "_grokparsefailure"}}
codes = {}
for server in ("server1", "server2"):
    names = [f"{server}-{d}" for d in days]
    check(any(n in indices for n in names), f"index {' or '.join(names)} exists (have {sorted(indices)})")
    made = traffic["requests"][server]
    parsed = es.count(index=f"{server}-*", query={"bool": {"must_not": [not_access]}})["count"]
    check(parsed == made, f"{server}: {parsed} parsed documents for {made} requests")
    docs = es.search(index=f"{server}-*", size=10000, query={"bool": {"must_not": [not_access]}})["hits"]["hits"]
    check(len(docs) == made, f"{server}: search returns all {made} parsed documents")
    bad = []
    for d in docs:
        s = d["_source"]
        try:
            ipaddress.ip_address(s["client_ip"])
            assert s["http_method"] == "GET"
            assert s["request_path"].startswith("/")
            assert isinstance(s["response_code"], int)
            assert s["fields"]["server"] == server
            assert s["log"]["file"]["path"].endswith(f"{server}.log")
            if server == "server1":
                assert s["log_level"] == "INFO"
                assert isinstance(s["client_port"], int)
            else:
                assert "timestamp" in s and s["@timestamp"].endswith("Z")
        except (AssertionError, KeyError, ValueError) as e:
            bad.append((d["_id"], repr(e), s))
    check(not bad, f"{server}: every parsed document has client_ip, http_method, request_path, integer response_code" + (f" (first bad: {bad[0]})" if bad else ""))
    for d in docs:
        c = str(d["_source"]["response_code"])
        codes[c] = codes.get(c, 0) + 1
    other = es.search(index=f"{server}-*", size=1000, query=not_access)["hits"]["hits"]
    check(len(other) > 0, f"{server}: {len(other)} other lines (banner, tracebacks) kept and tagged _grokparsefailure")
    tracebacks = [o for o in other if "Traceback (most recent call last):" in o["_source"]["message"]]
    check(all("\n" in t["_source"]["message"] for t in tracebacks) and len(tracebacks) > 0,
          f"{server}: {len(tracebacks)} tracebacks arrived whole, one event each (multiline)")
check(codes == traffic["statuses"], f"status codes indexed {codes} == status codes the generator saw {traffic['statuses']}")
if failures:
    print(f"demo check: {len(failures)} failed")
    sys.exit(1)
print("demo check: all passed")
