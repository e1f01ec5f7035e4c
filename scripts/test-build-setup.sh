#!/usr/bin/env bash
# Proves what a first build on a fresh machine relies on. CI runs it before the build.
# 1. install-build-deps.sh's libclang detection, on made-up trees: LLVM's libclang-cpp alone must
#    ask for libclang-dev; each name clang-sys accepts must not.
# 2. A plain `cargo build` at the root (what a Rust user types first) needs no Ruby: nothing it
#    builds depends on the embedded CRuby or bindgen.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
fail=0
check() { # check EXPECT FILE...: lay out the files under a fresh tree, compare the verdict
  local expect=$1 tree got
  shift
  tree=$(mktemp -d "$root/t.XXXX")
  for f in "$@"; do mkdir -p "$tree/$(dirname "$f")" && : >"$tree/$f"; done
  got=$("$here/install-build-deps.sh" --missing "$tree" | grep -c '^libclang-dev$' || true)
  if [ "$got" != "$expect" ]; then
    echo "install-build-deps: with [$*] expected libclang-dev asked $expect time(s), got $got" >&2
    fail=1
  fi
}
check 1 usr/lib/llvm-14/lib/libclang-cpp.so.14 usr/lib/x86_64-linux-gnu/libclang-cpp.so.14
check 1 usr/lib/llvm-14/lib/libclangAST.a
check 1
check 0 usr/lib/llvm-14/lib/libclang.so
check 0 usr/lib/llvm-14/lib/libclang-14.so.1 usr/lib/llvm-14/lib/libclang-cpp.so.14
check 0 usr/lib/x86_64-linux-gnu/libclang-14.so
check 0 usr/lib64/libclang.so.13
ruby_deps=$(cd "$here/.." && cargo tree --prefix none -e normal,build 2>/dev/null |
  grep -E '^(rstash-ruby|magnus|rb-sys|bindgen) ' | sort -u || true)
if [ -n "$ruby_deps" ]; then
  echo "a plain cargo build would need Ruby and libclang, through: $ruby_deps" >&2
  fail=1
fi
[ $fail -eq 0 ] && echo "build setup: libclang detection (7 trees) and a Ruby-free default build checked"
exit $fail
