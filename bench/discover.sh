#!/usr/bin/env bash
# Discover's first paint against many documents: rstore (release) holding N log events over the
# last 24 h in daily indices, then
#   1. the page's own first request (newest 50 rows + the histogram, track_total_hits), timed
#      over 20 runs (median, p90), next to the same request sorting every match the general way
#      (search_after past the newest, which the column path does not take);
#   2. the page in headless Chromium (under unshare -n): navigation start to the histogram and
#      rows drawn, over 5 loads (median).
# Usage: bench/discover.sh [docs=1000000]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
cargo build --release --quiet --bin rstore
scripts/install-peers.sh >/dev/null
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
cat >"$data/run.sh" <<EOF
set -e
ip link set lo up
$PWD/target/release/rstore --path.data $data/store --http.port 9200 --log.level warn \
  --cluster.routing.allocation.disk.watermark.flood_stage 100mb \
  --cluster.routing.allocation.disk.watermark.high 200mb &
pid=\$!
trap 'kill \$pid 2>/dev/null' EXIT
for i in \$(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/9200) 2>/dev/null && break; sleep 0.1; done
$PWD/.peers/venv/bin/python $PWD/bench/discover_bench.py http://127.0.0.1:9200 $n
EOF
unshare -n bash "$data/run.sh"
