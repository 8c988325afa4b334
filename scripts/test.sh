#!/usr/bin/env bash
# The whole test suite: formatting, lints, pure and integration tests, the static build,
# a short fuzzing run (scripts/fuzz: SUP_FUZZ_SECONDS per target, default 60; 0 skips it)
# and a VM boot with sup as PID 1 (needs qemu-system-x86, busybox-static, cpio: .ci/run).
# Root-only integration tests skip (with a printed reason) when run as another user.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

if [ "$(id -u)" = 0 ]; then
  scripts/install-deps.sh
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
rustfmt --check --edition 2021 fuzz/fuzz_targets/*.rs
echo "== cargo clippy"
cargo clippy --all-targets --quiet -- -D warnings
echo "== cargo test"
cargo test --all-targets -- --test-threads=2
echo "== static build (scripts/build-static.sh)"
scripts/build-static.sh
echo "== fuzzing (scripts/fuzz ${SUP_FUZZ_SECONDS:-60}: each target for that many seconds)"
scripts/fuzz "${SUP_FUZZ_SECONDS:-60}"
echo "== VM boot with sup as PID 1 (scripts/vm-test.sh)"
missing=()
for tool in qemu-system-x86_64 cpio busybox; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "skipping the VM test: ${missing[*]} missing (run this as root to install them)"
else
  scripts/vm-test.sh
fi
