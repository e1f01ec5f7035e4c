#!/usr/bin/env bash
# What building rstash with the `ruby` feature needs (the ruby filter embeds CRuby): Ruby's
# headers and shared library (Debian's ruby-dev) and libclang (bindgen reads ruby.h). Installs
# them with apt-get when missing. ./demo.sh, ./test.sh and CI run this before building.
#
# `--missing [ROOT]` only prints the packages that are missing (ROOT: look for libclang under
# ROOT/usr/lib* instead of /usr/lib*), so that the detection itself can be tested.
set -euo pipefail

# bindgen loads libclang through clang-sys, which accepts `libclang.so`, `libclang-<v>.so` and
# their `.so.<n>` forms. `libclang-cpp.so.14` (installed with LLVM itself) is a different library
# that clang-sys rejects: it must not count.
has_libclang() {
  local root=$1 f name
  while IFS= read -r -d '' f; do
    name=${f##*/}
    case $name in
      libclang.so | libclang.so.*) return 0 ;;
      libclang-[0-9]*.so | libclang-[0-9]*.so.*) return 0 ;;
    esac
  done < <(find "$root"/usr/lib* -maxdepth 4 -name 'libclang*.so*' -print0 2>/dev/null)
  return 1
}

missing_packages() {
  local root=$1
  ruby -e 'exit File.exist?(File.join(RbConfig::CONFIG["rubyhdrdir"], "ruby.h"))' 2>/dev/null ||
    echo ruby-dev
  has_libclang "$root" || echo libclang-dev
}

if [ "${1:-}" = --missing ]; then
  missing_packages "${2:-}"
  exit 0
fi

mapfile -t missing < <(missing_packages "")
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-build-deps: installing ${missing[*]}" >&2
  if ! command -v apt-get >/dev/null; then
    echo "install-build-deps: need the Debian packages ${missing[*]} (or build without --features rstash/ruby)" >&2
    exit 1
  fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
