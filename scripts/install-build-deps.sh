#!/usr/bin/env bash
# What building rstash with the `ruby` feature needs (the ruby filter embeds CRuby): Ruby's
# headers and shared library (Debian's ruby-dev) and libclang (bindgen reads ruby.h). Installs
# them with apt-get when missing. ./demo.sh, ./test.sh and CI run this before building.
set -euo pipefail
missing=()
ruby -e 'exit File.exist?(File.join(RbConfig::CONFIG["rubyhdrdir"], "ruby.h"))' 2>/dev/null ||
  missing+=(ruby-dev)
compgen -G '/usr/lib/llvm-*/lib/libclang*.so*' >/dev/null ||
  compgen -G '/usr/lib/*/libclang*.so*' >/dev/null || missing+=(libclang-dev)
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-build-deps: installing ${missing[*]}" >&2
  if ! command -v apt-get >/dev/null; then
    echo "install-build-deps: need the Debian packages ${missing[*]} (or build without --features rstash/ruby)" >&2
    exit 1
  fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
