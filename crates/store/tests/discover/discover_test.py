#!/usr/bin/env python3
"""Discover in a real browser (headless Chromium through Selenium) against a real rstore.

usage: discover_test.py URL SHOTS_DIR

Indexes known documents, then drives the page as a user does and checks what it shows: the hit
count, the histogram's buckets, the first rows, a KQL query, a field-value filter, the time
picker, a bad query's error, the keyboard, paging by scroll, brushing the histogram, auto-refresh,
a row's details. Saves a screenshot
of each step in SHOTS_DIR. Prints "discover ok" at the end; any failed check raises.
"""

import json
import os
import sys
import time
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

URL, SHOTS = sys.argv[1], sys.argv[2]
os.makedirs(SHOTS, exist_ok=True)
NOW = int(time.time() * 1000)
MIN = 60_000


def docs():
    """3,000 documents of server1 over the last 24 h (none within 5 min of the 1 h mark, so the
    'last hour' count cannot drift while the test runs), 500 of server2."""
    out = []
    for i in range(3000):
        age = 2 * MIN + i * 28 * MIN // 100  # 2 min .. ~14 h, every 16.8 s
        if 55 * MIN <= age <= 65 * MIN:
            age += 11 * MIN
        verb = ["GET", "GET", "POST", "DELETE"][i % 4]
        path = ["/balance", "/deposit/100", "/withdraw/5", "/login", "/"][i % 5]
        code = [200, 200, 500, 404, 503][i % 5 if i % 7 else 2]
        out.append(("server1", NOW - age, {"verb": verb, "request_path": path, "response_code": code,
                                           "bytes": i, "message": f"{verb} {path} {code} event {i:05}"}))
    for i in range(500):
        out.append(("server2", NOW - 3 * MIN - i * MIN, {"verb": "GET", "request_path": "/", "response_code": 200,
                                                        "bytes": i, "message": f"server2 event {i}"}))
    return out


def iso(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + ".%03dZ" % (ms % 1000)


def index(all_docs):
    lines = []
    for server, ts, d in all_docs:
        day = time.strftime("%Y.%m.%d", time.gmtime(ts / 1000))
        lines.append(json.dumps({"index": {"_index": f"{server}-{day}"}}))
        lines.append(json.dumps(dict(d, **{"@timestamp": iso(ts)})))
    req = urllib.request.Request(URL + "/_bulk?refresh=true", ("\n".join(lines) + "\n").encode(),
                                 {"Content-Type": "application/x-ndjson"})
    r = json.load(urllib.request.urlopen(req))
    assert not r["errors"], r["items"][:3]


ALL = docs()
S1T = sorted(((t, d) for s, t, d in ALL if s == "server1"), key=lambda x: -x[0])
index(ALL)

o = webdriver.ChromeOptions()
for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000",
          "--disable-gpu", "--no-first-run", "--no-proxy-server"]:
    o.add_argument(a)
drv = webdriver.Chrome(service=Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")), options=o)
wait = WebDriverWait(drv, 20)
step_no = [0]


def shot(name):
    step_no[0] += 1
    path = os.path.join(SHOTS, f"{step_no[0]:02}-{name}.png")
    drv.save_screenshot(path)
    print("screenshot", path)


def loaded_after(prev):
    """Waits for the page to finish a query started after `prev`."""
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-loaded") not in (None, prev))
    return drv.find_element(By.TAG_NAME, "body").get_attribute("data-loaded")


def hits():
    return int(drv.find_element(By.ID, "hits").text.replace(",", ""))


def rows():
    return drv.find_elements(By.CSS_SELECTOR, "#rows tr.doc")


def run_query(text, lang="kql"):
    prev = drv.find_element(By.TAG_NAME, "body").get_attribute("data-loaded")
    picker = Select(drv.find_element(By.ID, "lang"))
    if picker.first_selected_option.get_attribute("value") != lang:
        picker.select_by_value(lang)
        prev = loaded_after(prev)
    box = drv.find_element(By.ID, "query")
    box.clear()
    box.send_keys(text, Keys.ENTER)
    return loaded_after(prev)


try:
    # 1. The view from the URL: pattern, 24 h, a message column.
    drv.get(URL + "/app/discover?index=server1-*&from=now-24h&to=now&cols=message")
    gen = loaded_after(None)
    shot("loaded")
    assert hits() == 3000, hits()
    buckets = int(drv.find_element(By.ID, "histogram").get_attribute("data-buckets"))
    assert 48 <= buckets <= 49, buckets  # 24 h in 30 min buckets, the partial first one too
    bars = drv.find_elements(By.CSS_SELECTOR, "#histogram rect.bar")
    assert sum(int(b.get_attribute("data-count")) for b in bars) == 3000
    assert len(rows()) == 50, len(rows())
    first = rows()[0].find_elements(By.TAG_NAME, "td")
    assert first[1].text == S1T[0][1]["message"], (first[1].text, S1T[0][1]["message"])
    pats = [o.text for o in Select(drv.find_element(By.ID, "pattern")).options]
    assert "server1-*" in pats and "server2-*" in pats, pats

    # 2. KQL narrows the hits.
    q = "response_code >= 500 and not request_path : /balance"
    want = sum(1 for _, d in S1T if d["response_code"] >= 500 and d["request_path"] != "/balance")
    gen = run_query(q)
    shot("kql")
    assert hits() == want, (hits(), want)
    assert "q=response_code" in drv.current_url, drv.current_url

    # 3. A field's top value, filtered in.
    gen = run_query("")
    assert hits() == 3000
    field = drv.find_element(By.CSS_SELECTOR, '#fields li[data-field="verb"] .field-name')
    field.click()
    plus = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, '#fields li[data-field="verb"] li[data-value="POST"] button.plus'))
    shot("field-values")
    plus.click()
    gen = loaded_after(gen)
    shot("field-filter")
    assert hits() == sum(1 for _, d in S1T if d["verb"] == "POST"), hits()
    assert 'verb : "POST"' in drv.find_element(By.ID, "query").get_attribute("value")

    # 4. The time picker changes the counts.
    gen = run_query("")
    Select(drv.find_element(By.ID, "range")).select_by_value("now-1h")
    gen = loaded_after(gen)
    shot("last-hour")
    want = sum(1 for t, _ in S1T if t >= NOW - 60 * MIN)
    assert hits() == want, (hits(), want)

    # 5. A bad query shows the server's error, not a blank page.
    Select(drv.find_element(By.ID, "range")).select_by_value("now-24h")
    gen = loaded_after(gen)
    gen = run_query("verb:(GET", lang="lucene")
    shot("bad-query")
    err = drv.find_element(By.ID, "error")
    assert err.is_displayed() and "Failed to parse query" in err.text, err.text
    assert drv.find_element(By.ID, "hits").text == "–" and not rows(), "stale results under the error"

    # 6. Keyboard: / focuses the query bar.
    drv.find_element(By.TAG_NAME, "body").click()
    drv.find_element(By.TAG_NAME, "body").send_keys("/")
    assert drv.switch_to.active_element.get_attribute("id") == "query"

    # 7. Scrolling loads the next page (search_after); the rows stay newest first.
    gen = run_query("")
    drv.execute_script("window.scrollTo(0, document.body.scrollHeight)")
    wait.until(lambda d: len(rows()) == 100)
    shot("scrolled")
    msgs = [r.find_elements(By.TAG_NAME, "td")[1].text for r in rows()]
    assert msgs == [d["message"] for _, d in S1T[:100]], msgs[48:52]

    # 8. Dragging across the histogram narrows the time range to the brushed span.
    drv.execute_script("window.scrollTo(0, 0)")
    svg = drv.find_element(By.ID, "histogram")
    w = svg.size["width"]
    ActionChains(drv).move_to_element_with_offset(svg, int(w * 0.2), 0).click_and_hold() \
        .move_by_offset(int(w * 0.2), 0).release().perform()
    gen = loaded_after(gen)
    shot("brushed")
    assert 0 < hits() < 3000, hits()
    assert "from=20" in drv.current_url and "to=20" in drv.current_url, drv.current_url

    # 9. Auto-refresh shows a document indexed meanwhile.
    Select(drv.find_element(By.ID, "range")).select_by_value("now-24h")
    gen = loaded_after(gen)
    Select(drv.find_element(By.ID, "refresh")).select_by_value("5")
    index([("server1", int(time.time() * 1000) - 1000, {"verb": "GET", "request_path": "/new",
                                                        "response_code": 201, "bytes": 1, "message": "a late event"})])
    WebDriverWait(drv, 20).until(lambda d: hits() == 3001)
    shot("auto-refreshed")
    Select(drv.find_element(By.ID, "refresh")).select_by_value("0")
    assert "refresh=" not in drv.current_url, drv.current_url

    # 10. A row opens into the whole document.
    drv.execute_script("window.scrollTo(0, 0)")
    rows()[0].click()
    detail = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#rows tr.detail pre"))
    shot("document")
    doc = json.loads(detail.text)
    assert doc["_source"]["message"] == "a late event", doc
    # No script error in the page's console over all the steps (a failed request, such as the
    # bad query's 400, is logged by the browser as a network entry, not a script one).
    errors = [e for e in drv.get_log("browser") if e.get("source") == "javascript"]
    assert not errors, errors
    print("discover ok")
finally:
    drv.quit()
