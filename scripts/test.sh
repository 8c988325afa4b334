#!/usr/bin/env bash
# The whole test suite: formatting, lints, pure and integration tests, the static build,
# the fleet manifests of deploy/, sup in real containers (podman, runc; skipped with the
# reason where they cannot run), a short fuzzing run (scripts/fuzz: SUP_FUZZ_SECONDS per
# target, default 60; 0 skips it), a VM boot with sup as PID 1 (needs qemu-system-x86,
# busybox-static, cpio: .ci/run), and the Windows build with its tests under Wine
# (skipped with the reason where the toolchain cannot be had).
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
echo "== the platform seam (scripts/seam-check)"
scripts/seam-check
echo "== docs (scripts/doc-check)"
scripts/doc-check
echo "== cargo test"
cargo test --all-targets -- --test-threads=2
echo "== static build (scripts/build-static.sh)"
scripts/build-static.sh
echo "== fleet manifests of deploy/ (tests/container/manifests.py check)"
if command -v python3 >/dev/null; then
  python3 tests/container/manifests.py check
else
  echo "skipping the manifest check: python3 missing (run this as root to install it)"
fi
echo "== sup in containers: podman + runc (tests/container/run.sh)"
tests/container/run.sh
echo "== the Debian package: scripts/package, installed into an empty root (tests/package/run.sh)"
tests/package/run.sh
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
echo "== Windows: cross build, job objects under Wine (scripts/windows-test.sh)"
scripts/windows-test.sh
