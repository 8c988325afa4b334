#!/usr/bin/env bash
# Builds static `sup` and `supctl` (glibc, +crt-static) and checks that they are static
# and run. Output: target/x86_64-unknown-linux-gnu/release/{sup,supctl}.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
target=x86_64-unknown-linux-gnu
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --quiet --target "$target" --bins
out="target/$target/release"
for bin in sup supctl; do
  f="$out/$bin"
  # A static executable has no program interpreter (PT_INTERP) and no dynamic section needs.
  if readelf -l "$f" | grep -q 'INTERP'; then
    echo "build-static: $f has a program interpreter: not static" >&2
    exit 1
  fi
  if readelf -d "$f" 2>/dev/null | grep -q 'NEEDED'; then
    echo "build-static: $f needs shared libraries: not static" >&2
    exit 1
  fi
  "$f" --version >/dev/null
  echo "build-static: $f: static, $(du -h "$f" | cut -f1), runs: $("$f" --version)"
done
