#!/usr/bin/env python3
"""Runs Elasticsearch/OpenSearch REST API YAML test suites against a server.

usage: runner.py URL SUITES_DIR API_DIR [--min-rate R] [--only SUBSTR] [--verbose]

The format is the one the suites' SOURCES.md describes: a `setup` document runs before every
test of its file, `teardown` after, every other document is a test (a list of steps). Before
each test every index and template is deleted. The server is judged as OpenSearch 2.19.0, the
line these suites gate on. Prints every failure with its reason and ends with
`es-rest: P passed, F failed, S skipped (RATE% of run, bar R%)`; exits 1 below the bar.
Standard library and PyYAML only.
"""

import argparse
import http.client
import json
import os
import re
import sys
import urllib.parse

import yaml

VERSION = (2, 19, 0)
FEATURES = {"headers", "allowed_warnings", "warnings", "contains", "close_to",
            "stash_in_path", "stash_in_key", "default_shards", "arbitrary_key"}
CATCH = {"missing": {404}, "bad_request": {400}, "conflict": {409}, "forbidden": {403},
         "unauthorized": {401}, "unavailable": {503}, "request_timeout": {408}}


class Loader(yaml.SafeLoader):
    """YAML without timestamp resolution: dates in bodies stay the strings they are."""


Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}


class Failure(Exception):
    pass


class Skip(Exception):
    pass


def parse_version(s):
    parts = [int(p) for p in re.findall(r"\d+", s)[:3]]
    return tuple(parts + [0] * (3 - len(parts)))


def version_skipped(spec):
    spec = str(spec).strip()
    if spec == "all":
        return True
    for rng in spec.split(","):
        lo, _, hi = rng.partition("-")
        lo = parse_version(lo) if lo.strip() else (0, 0, 0)
        hi = parse_version(hi) if hi.strip() else (999, 0, 0)
        if lo <= VERSION <= hi:
            return True
    return False


def check_skip(step):
    s = step["skip"]
    if "version" in s and version_skipped(s["version"]):
        raise Skip(f"version {s['version']}: {s.get('reason', '')}")
    feats = s.get("features", [])
    feats = [feats] if isinstance(feats, str) else feats
    missing = [f for f in feats if f not in FEATURES]
    if missing:
        raise Skip(f"runner lacks features {missing}")


class Client:
    def __init__(self, url, api_dir):
        u = urllib.parse.urlparse(url)
        self.host, self.port = u.hostname, u.port or 9200
        self.apis = {}
        for name in os.listdir(api_dir):
            if name.endswith(".json") and not name.startswith("_"):
                with open(os.path.join(api_dir, name)) as f:
                    self.apis.update({k: v for k, v in json.load(f).items()
                                      if k != "documentation"})

    def request(self, method, path, query=None, body=None, headers=None):
        if query:
            path += "?" + urllib.parse.urlencode(query)
        h = {"Content-Type": "application/json"}
        if isinstance(body, list):
            data = "".join(json.dumps(x) + "\n" if not isinstance(x, str) else x + "\n"
                           for x in body).encode()
            h["Content-Type"] = "application/x-ndjson"
        elif isinstance(body, str):
            data = body.encode()
        elif body is not None:
            data = json.dumps(body).encode()
        else:
            data = None
        h.update(headers or {})
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            raw = r.read()
            ctype = r.getheader("Content-Type", "")
        finally:
            conn.close()
        if method == "HEAD":
            return r.status, 200 <= r.status < 300
        text = raw.decode("utf-8", "replace")
        if "json" in ctype and text:
            try:
                return r.status, json.loads(text)
            except ValueError:
                return r.status, text
        return r.status, text

    def call(self, api, args, headers):
        spec = self.apis.get(api)
        if spec is None:
            raise Skip(f"no API spec for {api}")
        args = dict(args or {})
        body = args.pop("body", None)
        ignore = args.pop("ignore", None)
        ignore = set(ignore if isinstance(ignore, list) else [ignore]) if ignore else set()
        parts = {}
        best = None
        for p in spec["url"]["paths"]:
            names = set(p.get("parts", {}))
            if names <= set(args) and (best is None or len(names) > len(best.get("parts", {}))):
                best = p
        if best is None:
            raise Failure(f"{api}: no path for {sorted(args)}")
        path = best["path"]
        for name in best.get("parts", {}):
            v = args.pop(name)
            v = ",".join(map(str, v)) if isinstance(v, list) else str(v)
            parts[name] = v
            path = path.replace("{" + name + "}", urllib.parse.quote(v, safe=",*"))
        query = {}
        for k, v in args.items():
            if isinstance(v, bool):
                v = str(v).lower()
            elif isinstance(v, list):
                v = ",".join(map(str, v))
            query[k] = v
        methods = best["methods"]
        method = methods[0]
        if body is not None and method == "GET" and "POST" in methods:
            method = "POST"
        if body is None and method == "POST" and "GET" in methods and api != "indices.refresh":
            method = "GET" if api in ("search", "count", "field_caps", "msearch") else method
        status, resp = self.request(method, path, query, body, headers)
        return status, resp, ignore


def unescape_path(path):
    out, cur, i = [], "", 0
    while i < len(path):
        c = path[i]
        if c == "\\" and i + 1 < len(path) and path[i + 1] == ".":
            cur += "."
            i += 2
            continue
        if c == ".":
            out.append(cur)
            cur = ""
        else:
            cur += c
        i += 1
    out.append(cur)
    return out


class Test:
    def __init__(self, client):
        self.client = client
        self.stash = {}
        self.last = None

    def sub(self, v):
        if isinstance(v, str):
            if v.startswith("$") and v[1:] in self.stash:
                return self.stash[v[1:]]
            return re.sub(r"\$\{(\w+)\}", lambda m: str(self.stash.get(m.group(1), m.group(0))), v)
        if isinstance(v, list):
            return [self.sub(x) for x in v]
        if isinstance(v, dict):
            return {self.sub(k): self.sub(x) for k, x in v.items()}
        return v

    def resolve(self, path):
        if path in ("", "$body"):
            return self.last
        cur = self.last
        for key in unescape_path(path):
            key = self.sub(key) if key.startswith("$") else key
            if isinstance(cur, list):
                try:
                    cur = cur[int(key)]
                except (ValueError, IndexError):
                    raise Failure(f"{path}: no element {key} in a list of {len(cur)}")
            elif isinstance(cur, dict):
                if key not in cur:
                    return None
                cur = cur[key]
            else:
                return None
        return cur

    def run_step(self, step):
        (kind, arg), = step.items()
        if kind == "skip":
            check_skip(step)
        elif kind == "do":
            self.do(arg)
        elif kind == "set":
            for path, name in arg.items():
                self.stash[name] = self.resolve(path)
        elif kind in ("match", "length", "gt", "gte", "lt", "lte", "contains", "close_to",
                      "is_true", "is_false"):
            self.assertion(kind, arg)
        else:
            raise Skip(f"runner lacks step {kind}")

    def do(self, arg):
        arg = dict(arg)
        catch = arg.pop("catch", None)
        headers = arg.pop("headers", None)
        for w in ("warnings", "allowed_warnings", "node_selector"):
            arg.pop(w, None)
        (api, params), = arg.items()
        status, body, ignore = self.client.call(api, self.sub(params or {}), headers)
        self.last = body
        if catch is None:
            if status >= 400 and status not in ignore and not (
                    status == 404 and isinstance(body, bool)):
                raise Failure(f"{api}: HTTP {status}: {short(body)}")
            return
        if catch in CATCH:
            if status not in CATCH[catch]:
                raise Failure(f"{api}: expected {catch}, got HTTP {status}: {short(body)}")
        elif catch == "request":
            if status < 400 or status in (400, 401, 403, 404, 408, 409):
                raise Failure(f"{api}: expected another 4xx/5xx, got HTTP {status}: {short(body)}")
        elif catch == "param":
            raise Skip("client-side parameter checks are not the server's")
        elif catch.startswith("/"):
            if status < 400:
                raise Failure(f"{api}: expected an error {catch}, got HTTP {status}")
            if not re.search(catch.strip("/"), json.dumps(body) if not isinstance(body, str)
                             else body):
                raise Failure(f"{api}: error does not match {catch}: {short(body)}")
        else:
            raise Skip(f"unknown catch {catch}")

    def assertion(self, kind, arg):
        if kind in ("is_true", "is_false"):
            v = self.resolve(self.sub(arg) if isinstance(arg, str) else str(arg))
            truthy = isinstance(v, (dict, list)) or v not in (None, False, "", 0, "false")
            if (kind == "is_true") != truthy:
                raise Failure(f"{kind} {arg}: got {short(v)}")
            return
        for path, want in arg.items():
            got = self.resolve(path)
            want = self.sub(want)
            if kind == "match":
                if isinstance(want, str) and want.strip().startswith("/") and \
                        want.strip().endswith("/") and len(want.strip()) > 1:
                    if got is None or not re.search(want.strip()[1:-1], str(got), re.X):
                        raise Failure(f"match {path}: {short(got)} !~ {want.strip()}")
                elif not same(got, want):
                    raise Failure(f"match {path}: got {short(got)}, want {short(want)}")
            elif kind == "length":
                if not hasattr(got, "__len__") or len(got) != want:
                    raise Failure(f"length {path}: got {short(got)}, want {want}")
            elif kind == "contains":
                if not isinstance(got, list) or not any(same(x, want) or
                                                        (isinstance(x, dict) and isinstance(want, dict)
                                                         and all(same(x.get(k), v) for k, v in want.items()))
                                                        for x in got):
                    raise Failure(f"contains {path}: {short(got)} lacks {short(want)}")
            elif kind == "close_to":
                if not isinstance(got, (int, float)) or abs(got - want["value"]) > want["error"]:
                    raise Failure(f"close_to {path}: got {got}, want {want}")
            else:
                ops = {"gt": lambda a, b: a > b, "gte": lambda a, b: a >= b,
                       "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b}
                try:
                    ok = ops[kind](got, want)
                except TypeError:
                    ok = False
                if not ok:
                    raise Failure(f"{kind} {path}: got {short(got)}, want {kind} {want}")


def same(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or a == b and type(a) == type(b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def short(v):
    s = json.dumps(v) if not isinstance(v, str) else v
    return s if len(s) < 300 else s[:300] + "..."


def clean(client):
    client.request("DELETE", "/_all", {"expand_wildcards": "all"})
    client.request("DELETE", "/_template/*")
    client.request("DELETE", "/_index_template/*")


def run_file(client, path, rel, only, out):
    with open(path) as f:
        docs = [d for d in yaml.load_all(f, Loader=Loader) if d]
    setup = next((d["setup"] for d in docs if "setup" in d), [])
    teardown = next((d["teardown"] for d in docs if "teardown" in d), [])
    for doc in docs:
        (name, steps), = doc.items()
        if name in ("setup", "teardown"):
            continue
        full = f"{rel} :: {name}"
        if only and only not in full:
            continue
        clean(client)
        t = Test(client)
        try:
            for step in setup or []:
                t.run_step(step)
            for step in steps or []:
                t.run_step(step)
            out.append(("pass", full, ""))
        except Skip as e:
            out.append(("skip", full, str(e)))
        except Failure as e:
            out.append(("fail", full, str(e)))
        except (OSError, http.client.HTTPException) as e:
            out.append(("fail", full, f"connection: {e}"))
        finally:
            try:
                for step in teardown or []:
                    t.run_step(step)
            except (Skip, Failure, OSError, http.client.HTTPException):
                pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("suites")
    ap.add_argument("api")
    ap.add_argument("--min-rate", type=float, default=0.0)
    ap.add_argument("--only")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    client = Client(a.url, a.api)
    results = []
    for root, _, files in sorted(os.walk(a.suites)):
        for name in sorted(files):
            if name.endswith((".yml", ".yaml")):
                path = os.path.join(root, name)
                run_file(client, path, os.path.relpath(path, a.suites), a.only, results)
    clean(client)
    for kind, name, why in results:
        if kind == "fail" or (a.verbose and kind == "skip"):
            print(f"{kind.upper()} {name}: {why}")
        elif a.verbose:
            print(f"PASS {name}")
    p = sum(k == "pass" for k, _, _ in results)
    f = sum(k == "fail" for k, _, _ in results)
    s = sum(k == "skip" for k, _, _ in results)
    rate = p / (p + f) if p + f else 0.0
    print(f"es-rest: {p} passed, {f} failed, {s} skipped "
          f"({rate * 100:.1f}% of run, bar {a.min_rate * 100:.0f}%)")
    sys.exit(0 if rate >= a.min_rate else 1)


if __name__ == "__main__":
    main()
