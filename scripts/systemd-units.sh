#!/usr/bin/env bash
# Fetches real systemd unit files for tests/import.rs into target/systemd-units, without
# installing anything: `apt-get download` of the Debian packages that ship ssh.service,
# cron.service, rsyslog.service and nginx.service, unpacked with `dpkg-deb -x`.
# Quick when they are there; exits non-zero (saying why) when apt cannot get them.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=target/systemd-units
have() {
  for u in ssh cron rsyslog nginx; do
    [ -n "$(find "$dest" -name "$u.service" -path '*systemd/system*' 2>/dev/null | head -1)" ] || return 1
  done
}
have && exit 0
command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || {
  echo "systemd-units: apt-get or dpkg-deb missing: cannot fetch the Debian unit files" >&2
  exit 1
}
mkdir -p "$dest/debs"
(
  cd "$dest/debs"
  apt-get download -qq openssh-server cron rsyslog nginx-common 2>&1 | grep -v '^W: Download is performed unsandboxed' || true
)
for deb in "$dest"/debs/*.deb; do
  [ -e "$deb" ] || continue
  dpkg-deb -x "$deb" "$dest/root"
done
have || {
  echo "systemd-units: apt-get download did not bring the unit files (no package lists? run apt-get update)" >&2
  exit 1
}
