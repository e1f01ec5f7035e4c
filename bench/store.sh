#!/usr/bin/env bash
# rstore and the elasticsearch output, side by side in one run:
#   1. bulk indexing docs/s into rstore with the official Python client (helpers.bulk, 1000/req);
#   2. rstash generator → elasticsearch output → rstore, events/s, next to generator → null.
# Usage: bench/store.sh [docs=200000]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-200000}
cargo build --release --quiet --bin rstash --bin rstore
scripts/install-peers.sh
data=$(mktemp -d)
port=9277
./target/release/rstore --path.data "$data" --http.port $port --log.level warn \
  --cluster.routing.allocation.disk.watermark.flood_stage 100mb \
  --cluster.routing.allocation.disk.watermark.high 200mb &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
.peers/venv/bin/python - "$port" "$n" <<'PY'
import sys, time
from elasticsearch import Elasticsearch, helpers
port, n = int(sys.argv[1]), int(sys.argv[2])
es = Elasticsearch(f"http://127.0.0.1:{port}")
docs = ({"_index": "bench-py", "_source": {"@timestamp": "2024-05-01T12:00:00.000Z", "path": "/balance/%d" % i, "response": 200, "bytes": i}} for i in range(n))
t = time.perf_counter()
ok, _ = helpers.bulk(es, docs, chunk_size=1000)
dt = time.perf_counter() - t
print(f"python client helpers.bulk: {ok} docs in {dt:.2f} s: {ok/dt:,.0f} docs/s")
PY
t0=$(date +%s.%N)
./target/release/rstash --log.level warn -b 1000 -e "input { generator { count => $n } } output { null {} }"
t1=$(date +%s.%N)
./target/release/rstash --log.level warn -b 1000 -e "input { generator { count => $n } } output { elasticsearch { hosts => ['127.0.0.1:$port'] index => 'bench-out' } }"
t2=$(date +%s.%N)
python3 -c "
null = $n / ($t1 - $t0); es = $n / ($t2 - $t1)
print(f'rstash generator -> null:          {null:12,.0f} events/s')
print(f'rstash generator -> elasticsearch: {es:12,.0f} events/s ({es/null:.2f}x of null)')
"
