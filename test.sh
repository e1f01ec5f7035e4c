#!/usr/bin/env bash
# Runs every test of the workspace: unit, property, golden, end-to-end and interop (they start the
# real binaries on 127.0.0.1; third-party peers such as Filebeat run under `unshare -n`, loopback
# only). Installs those peers first (scripts/install-peers.sh). Ends with one summary line.
set -euo pipefail
cd "$(dirname "$0")"
scripts/install-peers.sh
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --lib --bins --tests "$@" 2>&1 | tee "$log" || status=$?
awk '/^test result:/ { p += $4; f += $6 } END { printf "summary: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
