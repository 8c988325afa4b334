#!/usr/bin/env bash
# Builds the example image of deploy/Containerfile (FROM scratch): assembles a build
# context with the static sup and supctl, deploy/units and a static busybox, then runs
# `podman build` ($BUILDER to use another, e.g. BUILDER=docker). No registry is needed.
#
#   deploy/build-image.sh [TAG]        default TAG: sup-example
#   SUP_NO_BUILD=1 deploy/build-image.sh   use the binaries already in target/ (tests)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
tag=${1:-sup-example}
bin=target/x86_64-unknown-linux-gnu/release
[ -n "${SUP_NO_BUILD:-}" ] || scripts/build-static.sh >/dev/null
busybox=$(command -v busybox || true)
if [ -z "$busybox" ] || readelf -l "$busybox" 2>/dev/null | grep -q INTERP; then
  echo "build-image: a static busybox is needed (apt-get install busybox-static)" >&2
  exit 1
fi
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp "$bin/sup" "$bin/supctl" "$ctx/"
cp "$busybox" "$ctx/busybox"
cp -r deploy/units "$ctx/units"
"${BUILDER:-podman}" build -q -f deploy/Containerfile -t "$tag" "$ctx" >/dev/null
echo "$tag"
