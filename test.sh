#!/usr/bin/env bash
# Runs every test of the workspace: unit, property, golden and end-to-end (they start the real
# binaries on 127.0.0.1 and stdin/stdout; nothing leaves the machine).
set -euo pipefail
cd "$(dirname "$0")"
cargo test --workspace "$@"
