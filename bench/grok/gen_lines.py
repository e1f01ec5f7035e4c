"""Writes N synthetic Apache combined log lines (deterministic), or N lines that match nothing."""
import random
import sys

n, kind, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
rnd = random.Random(42)
verbs = ["GET", "GET", "GET", "POST", "PUT", "DELETE", "HEAD"]
paths = ["/", "/index.html", "/api/v1/users", "/deposit/100", "/withdraw/25", "/balance",
         "/static/app.js", "/images/logo.png", "/search?q=grok&page=2"]
agents = ["Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
          "curl/8.5.0", "python-requests/2.32.3", "Go-http-client/1.1"]
months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
with open(path, "w", encoding="utf-8") as out:
    for i in range(n):
        if kind == "miss":
            out.write(f"Traceback (most recent call last): File \"/app/main.py\", line {i % 500}, in handler\n")
            continue
        ip = f"{rnd.randint(1, 223)}.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}"
        user = "-" if rnd.random() < 0.9 else "alice"
        ts = f"{rnd.randint(1, 28):02d}/{rnd.choice(months)}/2026:{rnd.randint(0, 23):02d}:{rnd.randint(0, 59):02d}:{rnd.randint(0, 59):02d} +0000"
        status = rnd.choice([200, 200, 200, 201, 301, 304, 400, 404, 500])
        size = rnd.randint(0, 50000) if status != 304 else "-"
        ref = rnd.choice(["-", "https://example.com/", "https://example.com/search"])
        out.write(f'{ip} - {user} [{ts}] "{rnd.choice(verbs)} {rnd.choice(paths)} HTTP/1.1" {status} {size} "{ref}" "{rnd.choice(agents)}"\n')
