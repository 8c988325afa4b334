#!/usr/bin/env bash
# Installs what the test suite needs that a fresh Debian machine may lack (as root):
# python3 (with yaml, and python-hcl2 from PyPI when pip may install it), setpriv, QEMU,
# cpio, readelf, a static busybox, podman and runc (tests/container/run.sh), a C++
# compiler (libFuzzer, for scripts/fuzz), Prometheus and promtool (tests/metrics.rs),
# and the package lists that scripts/vm-test.sh
# needs to fetch the cloud kernel. Quick when everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

need=()
command -v python3 >/dev/null || need+=(python3)
command -v setpriv >/dev/null || need+=(util-linux)
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v cpio >/dev/null || need+=(cpio)
command -v readelf >/dev/null || need+=(binutils)
command -v gcc >/dev/null || need+=(gcc)
command -v podman >/dev/null || need+=(podman)
command -v runc >/dev/null || need+=(runc)
# tests/docs.rs renders the man pages; scripts/package builds the .deb (dpkg-deb).
command -v man >/dev/null || need+=(man-db)
command -v groff >/dev/null || need+=(groff-base)
python3 -c 'import yaml' 2>/dev/null || need+=(python3-yaml)
# Prometheus's server and promtool: tests/metrics.rs checks the exposition with both.
# Optional (those tests print that they skip without them), so installed on their own
# and without the recommended exporters.
prom=()
{ command -v prometheus >/dev/null && command -v promtool >/dev/null; } || prom+=(prometheus)
command -v c++ >/dev/null || need+=(g++)
{ [ -x /bin/busybox ] && ! readelf -l /bin/busybox 2>/dev/null | grep -q INTERP; } || need+=(busybox-static)
if [ ${#need[@]} -gt 0 ] || [ ${#prom[@]} -gt 0 ] || [ ! -s target/vm/vmlinuz ]; then
  apt-get update -qq
fi
if [ ${#need[@]} -gt 0 ]; then
  apt-get install -y -qq "${need[@]}"
fi
if [ ${#prom[@]} -gt 0 ]; then
  apt-get install -y -qq --no-install-recommends "${prom[@]}" ||
    echo "install-deps: prometheus not installed: tests/metrics.rs will skip its Prometheus checks"
fi
# The manifest check reads HCL with python-hcl2 when it is there, else with its own reader.
# (A python3 that is not Debian's may not see python3-yaml: then PyYAML from PyPI.)
python3 -c 'import yaml' 2>/dev/null || python3 -m pip install -q --disable-pip-version-check PyYAML 2>/dev/null ||
  echo "install-deps: no yaml module for $(command -v python3): the manifest check will skip"
python3 -c 'import hcl2' 2>/dev/null || python3 -m pip install -q --disable-pip-version-check python-hcl2 2>/dev/null ||
  echo "install-deps: python-hcl2 not installed: the manifest check reads HCL with its own reader"
if command -v rustup >/dev/null; then
  rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt
fi
# tests/import.rs: real systemd unit files (fetched with apt-get download, not installed)
# and two daemons that it runs from imported units, installed without starting them.
daemons=()
[ -x /usr/sbin/cron ] || daemons+=(cron)
[ -x /usr/sbin/rsyslogd ] || daemons+=(rsyslog)
if [ ${#daemons[@]} -gt 0 ]; then
  made_policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    made_policy=1
  fi
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${daemons[@]}"; } ||
    echo "install-deps: ${daemons[*]} not installed: tests/import.rs will not run them"
  if [ -n "$made_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
fi
bash scripts/systemd-units.sh || { apt-get update -qq && bash scripts/systemd-units.sh; } ||
  echo "install-deps: no Debian unit files: tests/import.rs will skip the real units"
