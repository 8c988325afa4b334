#!/usr/bin/env bash
# The Windows side of CI: prepares the cross toolchain and Wine (scripts/windows-env.sh),
# lints and builds the library and both binaries for x86_64-pc-windows-gnu, checks that
# sup.exe and supctl.exe run and say that the Windows event loop is not built yet, and
# runs the Windows backend's tests (platform::windows) and the shared unit-file and
# log-pipeline tests (unit, output) under Wine. When the toolchain
# cannot be had it prints why and exits 0: skipped, not failed.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

target=x86_64-pc-windows-gnu
scripts/windows-env.sh
prefix="${WINEPREFIX:-$(pwd)/target/wine}"
if [ ! -f "$prefix/.sup-ready" ]; then
  echo "windows-test: skipped (the Windows toolchain or Wine is not available, see above)"
  exit 0
fi
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER="$(pwd)/scripts/windows/runner"
export SUP_EXPECT_WINE=1
export WINEPREFIX="$prefix"
# Whatever a failed test left running in the test prefix (only this script uses it)
# must not hold the output pipes open after it.
trap '/usr/lib/wine/wineserver64 -k 2>/dev/null || true' EXIT

echo "== windows: cargo clippy (lib, bins, lib tests)"
cargo clippy --target "$target" --lib --bins --quiet -- -D warnings
cargo clippy --target "$target" --lib --profile test --quiet -- -D warnings

echo "== windows: cargo build (lib, bins)"
cargo build --target "$target" --lib --bins --quiet

echo "== windows: sup.exe and supctl.exe under Wine"
for cmd in "sup" "supctl status"; do
  bin="${cmd%% *}"
  exe="target/$target/debug/$bin.exe"
  "$CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER" "$exe" --version
  set +e
  # shellcheck disable=SC2086 # the arguments after the binary's name
  msg="$("$CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER" "$exe" ${cmd#"$bin"} 2>&1 >/dev/null)"
  rc=$?
  set -e
  if [ "$rc" != 1 ] || [[ "$msg" != *"Windows event loop is not built yet"* ]]; then
    echo "windows-test: $bin.exe exited $rc with: $msg" >&2
    exit 1
  fi
  echo "$bin.exe: exit $rc: $msg"
done

echo "== windows: cargo test --lib platform::windows (under Wine)"
timeout 600 cargo test --target "$target" --lib platform::windows -- --test-threads=2

# The shared layers run on Windows as they are: unit files load (unit), unit output is
# written to log files with rotation and timestamps (output). Tests of what Windows has
# not (FIFOs, permission bits, non-blocking console writes) print that they skip.
echo "== windows: cargo test --lib unit, output (under Wine)"
timeout 600 cargo test --target "$target" --lib unit:: -- --test-threads=2
timeout 600 cargo test --target "$target" --lib output:: -- --test-threads=2
