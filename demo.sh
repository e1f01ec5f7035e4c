#!/usr/bin/env bash
# The main job. Until the two-server demo (rbeat → rstash → rstore) lands, it runs the example
# pipeline: JSON access logs → date/mutate/conditionals → one file per server and day, and prints
# what got written. Builds what it needs in release mode; all state goes under ./demo-data/.
set -euo pipefail
cd "$(dirname "$0")"
cargo build --release --quiet --bin rstash
rm -rf demo-data && mkdir -p demo-data
export RSTASH_DEMO_OUT="$PWD/demo-data"
echo "== rstash -f examples/weblogs.conf < examples/access.jsonl (errors shown in rubydebug)"
./target/release/rstash --log.level warn -f examples/weblogs.conf < examples/access.jsonl
echo
echo "== what got indexed (documents per file)"
for f in demo-data/*.jsonl; do
  printf '%6d  %s\n' "$(wc -l < "$f")" "$f"
done
echo
echo "== one parsed document"
head -n 1 "$(ls demo-data/server1-*.jsonl | head -n 1)"
