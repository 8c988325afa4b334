#!/usr/bin/env bash
# Prepares the Windows cross toolchain and its Wine test harness (idempotent; quick when
# everything is there; installs as root):
# - the Rust standard library for x86_64-pc-windows-gnu (rustup),
# - its linker (Debian's gcc-mingw-w64-x86-64) and Wine 8.0 (wine64, at /usr/lib/wine/wine64),
# - a Wine prefix in target/wine (WINEPREFIX) holding the ProcessPrng stand-in DLL that
#   Rust >= 1.78 executables need under Wine 8.0 (scripts/windows/bcryptprimitives.c).
# Then `cargo test --target x86_64-pc-windows-gnu` runs under Wine with
#   CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=scripts/windows/runner (absolute path).
# When the toolchain cannot be had (no rustup, no target download, not root and the
# packages missing, no such package) it prints why, on a line starting with
# "windows-env: skipped:", and exits 0 without writing target/wine/.sup-ready: callers
# (scripts/windows-test.sh) test for that file.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export DEBIAN_FRONTEND=noninteractive

root="$(pwd)"
target=x86_64-pc-windows-gnu
wine=/usr/lib/wine/wine64
export WINEPREFIX="${WINEPREFIX:-$root/target/wine}"
export WINEDEBUG=-all
export WINEDLLOVERRIDES="winedbg.exe=d;winemenubuilder.exe=d"
ready="$WINEPREFIX/.sup-ready"
rm -f "$ready"

skip() {
  echo "windows-env: skipped: $*"
  exit 0
}

# 1. The Rust target.
command -v rustup >/dev/null || skip "no rustup to add the $target standard library"
if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
  rustup target add "$target" >/dev/null 2>&1 || skip "rustup could not add the $target target (offline?)"
fi

# 2. The linker and Wine.
need=()
command -v x86_64-w64-mingw32-gcc >/dev/null || need+=(gcc-mingw-w64-x86-64)
[ -x "$wine" ] || need+=(wine64)
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || skip "${need[*]} missing and not root to install them"
  command -v apt-get >/dev/null || skip "${need[*]} missing and no apt-get"
  apt-get update -qq >/dev/null 2>&1 || true
  apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 || skip "apt-get could not install ${need[*]}"
  command -v x86_64-w64-mingw32-gcc >/dev/null || skip "x86_64-w64-mingw32-gcc still missing"
  [ -x "$wine" ] || skip "$wine still missing after installing wine64"
fi

# 3. The prefix (about 7 s the first time).
if [ ! -f "$WINEPREFIX/system.reg" ]; then
  mkdir -p "$WINEPREFIX"
  start=$(date +%s.%N)
  "$wine" wineboot --init >/dev/null 2>&1 || skip "wineboot could not create $WINEPREFIX"
  /usr/lib/wine/wineserver64 -w 2>/dev/null || true
  echo "windows-env: created the Wine prefix $WINEPREFIX in $(echo "$(date +%s.%N) - $start" | bc 2>/dev/null || echo '?') s"
fi
[ -d "$WINEPREFIX/drive_c/windows/system32" ] || skip "the prefix $WINEPREFIX has no system32"

# 4. The ProcessPrng stand-in, rebuilt when its source changes.
dll="$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll"
src=scripts/windows/bcryptprimitives.c
if [ ! -s "$dll" ] || [ "$src" -nt "$dll" ]; then
  x86_64-w64-mingw32-gcc -shared -O2 -static-libgcc -o "$dll.tmp" "$src" -ladvapi32 ||
    skip "could not build $src"
  mv "$dll.tmp" "$dll"
fi

touch "$ready"
echo "windows-env: ready (target $target, $("$wine" --version 2>/dev/null || echo wine), prefix $WINEPREFIX)"
