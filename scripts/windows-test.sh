#!/usr/bin/env bash
# The Windows side of CI: prepares the cross toolchain and Wine (scripts/windows-env.sh),
# lints and builds the library and both binaries for x86_64-pc-windows-gnu, checks that
# sup.exe supervises three units end to end (scripts/windows/demo.sh), that supctl.exe
# reports "cannot reach sup" (exit 4) with no sup and prints the status table a pipe
# server sends it, and runs the Windows backend's and the control client's tests
# (platform::windows, ctl::client) and the shared unit-file and
# log-pipeline tests (unit, output) under Wine. When the toolchain cannot be had it
# prints why and exits 0: skipped, not failed.
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
runner="$CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER"
dir="target/$target/debug"
"$runner" "$dir/sup.exe" --version
"$runner" "$dir/supctl.exe" --version
# supctl.exe with no sup serving the pipe: "cannot reach sup", exit 4 (as on Linux).
pipe='\\.\pipe\sup-windows-test-'$$
set +e
msg="$("$runner" "$dir/supctl.exe" --socket "$pipe" status 2>&1 >/dev/null)"
rc=$?
set -e
if [ "$rc" != 4 ] || [[ "$msg" != *"cannot reach sup"* ]]; then
  echo "windows-test: supctl.exe without sup exited $rc with: $msg" >&2
  exit 1
fi
echo "supctl.exe without sup: exit $rc: $msg"
# supctl.exe over a real pipe: a test helper serves one status request as sup would.
cargo test --target "$target" --lib --no-run --quiet 2>/dev/null
coproc SERVE {
  SUP_WIN_SERVE="$pipe" exec timeout 120 cargo test --target "$target" --lib --quiet \
    platform::windows::control_pipe::tests::serve_status_once -- --ignored --exact --nocapture 2>&1
}
ready=""
while IFS= read -r -t 60 line <&"${SERVE[0]}"; do
  if [[ "$line" == *"@sup-serve: ready"* ]]; then ready=1; break; fi
done
if [ -z "$ready" ]; then
  echo "windows-test: the pipe helper did not come up" >&2
  exit 1
fi
set +e
table="$("$runner" "$dir/supctl.exe" --socket "$pipe" status)"
rc=$?
set -e
serve_pid=$SERVE_PID
served="$(cat <&"${SERVE[0]}")"
wait "$serve_pid" || { echo "windows-test: the pipe helper failed: $served" >&2; exit 1; }
if [ "$rc" != 0 ] || [[ "$table" != *web*running* ]]; then
  echo "windows-test: supctl.exe status over the pipe exited $rc with: $table" >&2
  exit 1
fi
echo "supctl.exe status over $pipe: exit $rc"
echo "$table"

echo "== windows: cargo test --lib platform::windows ctl::client (under Wine)"
timeout 600 cargo test --target "$target" --lib -- platform::windows ctl::client --test-threads=2

# The shared layers run on Windows as they are: unit files load (unit), unit output is
# written to log files with rotation and timestamps (output). Tests of what Windows has
# not (FIFOs, permission bits, non-blocking console writes) print that they skip.
echo "== windows: cargo test --lib unit, output (under Wine)"
timeout 600 cargo test --target "$target" --lib unit:: -- --test-threads=2
timeout 600 cargo test --target "$target" --lib output:: -- --test-threads=2

# The whole backend: sup.exe runs a service, a unit that keeps failing and is restarted,
# and a oneshot; supctl.exe status/logs/stop/shutdown over the named pipe.
echo "== windows: sup.exe end to end (scripts/windows/demo.sh)"
timeout 600 scripts/windows/demo.sh
