#!/usr/bin/env bash
# Runs every test of the workspace: unit, property, golden, end-to-end and interop (they start the
# real binaries on 127.0.0.1; third-party peers such as Filebeat run under `unshare -n`, loopback
# only). Installs those peers first (scripts/install-peers.sh). Then the demo (tests/demo/run).
# Ends with one summary line.
set -euo pipefail
cd "$(dirname "$0")"
scripts/install-peers.sh
scripts/install-build-deps.sh
log=$(mktemp)
# Tests that cannot run here (not root, say) write why in this file; the summary counts them.
export RSTASH_SKIP_LOG=$(mktemp)
# Conformance suites write their `N passed, N failed` lines here; printed before the summary.
export RSTASH_REPORT_LOG=$(mktemp)
trap 'rm -f "$log" "$RSTASH_SKIP_LOG" "$RSTASH_REPORT_LOG"' EXIT
status=0
# --no-fail-fast: one failing test binary must not hide the results of the others.
cargo test --no-fail-fast --workspace --lib --bins --tests --features rstash/ruby "$@" 2>&1 | tee "$log" || status=$?
# The README's first command, run as a user runs it and checked (only on a full run: arguments
# are cargo test filters).
if [ $# -eq 0 ]; then
  if tests/demo/run 2>&1 | tee -a "$log"; then
    echo "test result: ok. 1 passed; 0 failed (the demo)" >>"$log"
  else
    echo "test result: FAILED. 0 passed; 1 failed (the demo)" >>"$log"
    status=1
  fi
fi
if [ -s "$RSTASH_REPORT_LOG" ]; then
  sort "$RSTASH_REPORT_LOG"
fi
if [ -s "$RSTASH_SKIP_LOG" ]; then
  echo "skipped here (they passed without running):"
  sed 's/^/  /' "$RSTASH_SKIP_LOG"
fi
skipped=$(wc -l <"$RSTASH_SKIP_LOG")
awk -v s="$skipped" '/^test result:/ { p += $4; f += $6 } END { printf "summary: %d passed, %d failed, %d skipped\n", p - s, f, s }' "$log"
exit "$status"
