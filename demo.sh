#!/usr/bin/env bash
# The main job, the two-server demo, all on 127.0.0.1: a FastAPI app under uvicorn (server1) and
# a Flask app under werkzeug (server2) write access logs; one rbeat per server ships them (server1
# → rstash :5045, server2 → :5044); rstash runs two pipelines (demo/pipelines.yml: grok, mutate,
# date) into rstore (:9200), one index per server and day. A bounded traffic generator calls the
# bank endpoints; the demo waits until every request is indexed and prints what got indexed.
# Usage: ./demo.sh [--serve] [REQUESTS=2000]. State: ./demo-data/ (a run starts clean).
set -euo pipefail
cd "$(dirname "$0")"
serve=0
n=2000
for a in "$@"; do
  case "$a" in
    --serve) serve=1 ;;
    *) n=$a ;;
  esac
done
# DEMO_PROFILE=test runs the debug binaries of the test build (`./test.sh` has just built them:
# the same command here is then a no-op) instead of building everything again in release mode;
# tests/demo/run does, to keep CI short. Users get the release build.
scripts/install-build-deps.sh
if [ "${DEMO_PROFILE:-release}" = test ]; then
  cargo test --workspace --lib --bins --tests --features rstash/ruby --no-run --quiet
  bin=target/debug
else
  cargo build --release --quiet --features rstash/ruby --bin rstash --bin rbeat --bin rstore
  bin=target/release
fi
venv=.peers/demo-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c 'import fastapi, uvicorn, flask' 2>/dev/null ||
  "$venv/bin/pip" install --quiet 'fastapi>=0.110,<1' 'uvicorn>=0.30,<1' 'flask>=3,<4'
for port in 9200 9600 5044 5045 5066 5067 8001 8002; do
  if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
    echo "port $port is in use: stop what listens there (a previous demo?) and run again" >&2
    exit 1
  fi
done
rm -rf demo-data
mkdir -p demo-data/logs
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
wait_port() {
  for _ in $(seq 300); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done
  echo "nothing listens on port $1 after 30 s: see demo-data/*.log" >&2
  exit 1
}
echo "== starting rstore (:9200), rstash (two pipelines), server1 (uvicorn :8001), server2 (werkzeug :8002), two rbeats"
# Disk watermarks as free space: Elasticsearch's defaults (95% used) would refuse every write on
# a big disk that is 95% full yet has gigabytes free, and the demo needs a few megabytes.
"$bin/rstore" --path.data demo-data/store --http.port 9200 \
  --cluster.routing.allocation.disk.watermark.flood_stage 100mb \
  --cluster.routing.allocation.disk.watermark.high 200mb 2>demo-data/rstore.log &
pids+=($!)
wait_port 9200
"$bin/rstash" --path.settings demo --path.data demo-data/rstash 2>demo-data/rstash.log &
pids+=($!)
wait_port 5044
wait_port 5045
PYTHONUNBUFFERED=1 "$venv/bin/python" -m uvicorn --app-dir demo/apps server1:app --host 127.0.0.1 --port 8001 >>demo-data/logs/server1.log 2>&1 &
pids+=($!)
PYTHONUNBUFFERED=1 "$venv/bin/python" demo/apps/server2.py 8002 >>demo-data/logs/server2.log 2>&1 &
pids+=($!)
wait_port 8001
wait_port 8002
for s in server1:5045:5066 server2:5044:5067; do
  IFS=: read -r name beats stats <<<"$s"
  # A Python traceback is one event: its lines are glued to the line before them.
  cat >"demo-data/rbeat-$name.yml" <<YML
filebeat.inputs:
  - type: log
    paths: ["$PWD/demo-data/logs/$name.log"]
    fields: {server: $name}
    scan_frequency: 1s
    backoff: 100ms
    max_backoff: 1s
    multiline:
      pattern: '^(Traceback|[[:space:]]|[A-Za-z.]+(Error|Exception):)'
      negate: false
      match: after
queue.mem.flush.timeout: 200ms
output.logstash:
  hosts: ["127.0.0.1:$beats"]
http.enabled: true
http.port: $stats
logging.metrics.period: 10s
YML
  "$bin/rbeat" -c "demo-data/rbeat-$name.yml" --path.data "demo-data/rbeat-$name" 2>"demo-data/rbeat-$name.log" &
  pids+=($!)
done
echo "== traffic: $n requests, alternating servers (deposits, withdrawals, balances, a 404, a 500)"
"$venv/bin/python" demo/traffic.py "$n" 8001 8002 >demo-data/traffic.json
echo "   $(cat demo-data/traffic.json)"
"$venv/bin/python" demo/report.py http://127.0.0.1:9200 demo-data/traffic.json 180
discover="http://127.0.0.1:9200/app/discover?index=server1-*&from=now-1h&to=now&lang=kql&cols=http_method,request_path,response_code"
[ "$serve" = 1 ] || echo "Discover (the logs in a browser; ./demo.sh --serve keeps it up): $discover"
if [ "$serve" = 1 ]; then
  echo
  echo "Serving (Ctrl-C stops everything this script started):"
  echo "  Discover      $discover"
  echo "  store API     http://127.0.0.1:9200/_cat/indices?v"
  echo "  search        http://127.0.0.1:9200/server1-*/_search?q=response_code:500"
  echo "  rstash        http://127.0.0.1:9600/_node/stats?pretty   http://127.0.0.1:9600/metrics"
  echo "  rbeat         http://127.0.0.1:5066/stats?pretty (server1)   http://127.0.0.1:5067/stats?pretty (server2)"
  echo "  server1       http://127.0.0.1:8001/balance     server2  http://127.0.0.1:8002/balance"
  echo "  logs          demo-data/*.log, demo-data/logs/"
  wait
fi
