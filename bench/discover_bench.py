"""bench/discover.sh's measurements (see there). usage: discover_bench.py URL DOCS"""

import json
import statistics
import sys
import time
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

URL, N = sys.argv[1], int(sys.argv[2])
NOW = int(time.time() * 1000)


def post(path, body, ndjson=False):
    data = body if ndjson else json.dumps(body).encode()
    ctype = "application/x-ndjson" if ndjson else "application/json"
    req = urllib.request.Request(URL + path, data, {"Content-Type": ctype})
    return json.load(urllib.request.urlopen(req, timeout=600))


t = time.perf_counter()
chunk = 20000
for start in range(0, N, chunk):
    lines = []
    for i in range(start, min(N, start + chunk)):
        ts = NOW - 1000 - (i * 86_400_000 // N)
        day = time.strftime("%Y.%m.%d", time.gmtime(ts / 1000))
        lines.append('{"index":{"_index":"server1-%s"}}' % day)
        lines.append(json.dumps({"@timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts / 1000)) + ".%03dZ" % (ts % 1000),
                                 "verb": ["GET", "POST"][i % 2], "request_path": "/balance/%d" % (i % 100),
                                 "response_code": [200, 200, 500, 404][i % 4], "message": "event %d" % i}))
    r = post("/_bulk", ("\n".join(lines) + "\n").encode(), ndjson=True)
    assert not r["errors"]
post("/_refresh", {})
print(f"indexed {N:,} documents in {time.perf_counter() - t:.1f} s")

frm, to = NOW - 86_400_000 - 60_000, NOW + 60_000


def body(after=None):
    b = {"size": 50, "track_total_hits": True,
         "sort": [{"@timestamp": {"order": "desc", "unmapped_type": "date"}}],
         "query": {"bool": {"filter": [{"range": {"@timestamp": {"gte": frm, "lte": to, "format": "epoch_millis"}}},
                                       {"match_all": {}}]}},
         "aggs": {"hist": {"date_histogram": {"field": "@timestamp", "fixed_interval": "30m", "min_doc_count": 0}}}}
    if after:
        b["search_after"] = after
    return b


def timed(b, runs=20):
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        r = post("/server1-*/_search", b)
        out.append((time.perf_counter() - t) * 1000)
    out.sort()
    return r, statistics.median(out), out[int(len(out) * 0.9) - 1]


r, med, p90 = timed(body())
assert r["hits"]["total"]["value"] == N and len(r["hits"]["hits"]) == 50
print(f"first request (newest 50 + histogram, column path): median {med:.0f} ms, p90 {p90:.0f} ms")
# A formatted search_after is not the column path's shape: the general path sorts every match.
newest = r["hits"]["hits"][0]["_source"]["@timestamp"]
r2, med2, p902 = timed(body([newest]), runs=2)
print(f"same page, general path (every match sorted): median {med2:.0f} ms, p90 {p902:.0f} ms"
      f" -> column path is {med2 / max(med, 0.001):.0f}x faster")

o = webdriver.ChromeOptions()
for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000", "--no-proxy-server"]:
    o.add_argument(a)
drv = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=o)
paints = []
try:
    for k in range(6):
        drv.get(URL + "/app/discover?index=server1-*&from=now-7d&to=now")
        WebDriverWait(drv, 60, poll_frequency=0.05).until(
            lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-first-paint"))
        ms = float(drv.find_element(By.TAG_NAME, "body").get_attribute("data-first-paint"))
        assert drv.find_element(By.ID, "hits").text.replace(",", "") == str(N)
        if k:  # the first load warms the browser
            paints.append(ms)
finally:
    drv.quit()
print(f"browser: navigation start to histogram and 50 rows drawn, median {statistics.median(paints):.0f} ms"
      f" (max {max(paints):.0f} ms) over {len(paints)} loads")
