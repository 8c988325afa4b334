#!/usr/bin/env bash
# The whole test suite: formatting, lints, pure and integration tests.
# Root-only integration tests skip (with a printed reason) when run as another user.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --all-targets --quiet -- -D warnings
echo "== cargo test"
cargo test --all-targets -- --test-threads=2
