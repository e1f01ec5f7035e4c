"""Sends a bounded, mixed load to both servers; prints per-server request counts as JSON."""
import json
import random
import sys
import urllib.error
import urllib.request

n, ports = int(sys.argv[1]), {"server1": int(sys.argv[2]), "server2": int(sys.argv[3])}
rnd = random.Random(7)
paths = [("/deposit/{}", 40), ("/withdraw/{}", 25), ("/balance", 25), ("/account/{}", 7), ("/crash", 3)]
made = {"server1": 0, "server2": 0}
statuses = {}
for i in range(n):
    server = "server1" if i % 2 == 0 else "server2"
    template = rnd.choices([p for p, _ in paths], weights=[w for _, w in paths])[0]
    path = template.format(rnd.choice([5, 20, 100, 250]) if "{}" in template and "account" not in template else "alice")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ports[server]}{path}", timeout=10) as r:
            code = r.status
    except urllib.error.HTTPError as e:
        code = e.code
    made[server] += 1
    statuses[code] = statuses.get(code, 0) + 1
print(json.dumps({"requests": made, "statuses": statuses}))
