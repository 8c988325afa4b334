#!/usr/bin/env bash
# The Debian package of scripts/package, installed with dpkg into an empty root directory
# (`dpkg --root`, no host package touched) and used from there: its files are where
# Debian's tools look for them, `sup check` runs chrooted on the installed example unit,
# the installed sup supervises that unit (started, logged, shown by `supctl cat`, shut
# down), the man pages render, the bash completion loads, and dpkg removes it again.
#
# Each check prints `PASS name` or `FAIL name: why`; exits 1 if any failed. Skips (exit 0,
# with the reason) when not root, when dpkg or chroot is missing, or when cargo-deb cannot
# be installed; SUP_REQUIRE_PACKAGE=1 turns a skip into a failure. Builds the package with
# scripts/package unless a .deb is given as the first argument.
set -uo pipefail
cd "$(dirname "$0")/../.."
export PATH="$HOME/.cargo/bin:$PATH:/usr/sbin:/sbin"

skip() {
  if [ "${SUP_REQUIRE_PACKAGE:-}" = 1 ]; then
    echo "package-test: FAIL: cannot run (SUP_REQUIRE_PACKAGE=1): $*"
    exit 1
  fi
  echo "package-test: SKIP: $*"
  exit 0
}
[ "$(id -u)" = 0 ] || skip "needs root (dpkg --root and chroot)"
for tool in dpkg dpkg-deb chroot; do
  command -v "$tool" >/dev/null || skip "$tool is not installed"
done

deb=${1:-}
if [ -z "$deb" ]; then
  if ! cargo deb --version >/dev/null 2>&1 && ! cargo install --locked --quiet cargo-deb; then
    skip "cargo-deb cannot be installed (cargo install cargo-deb failed)"
  fi
  deb=$(scripts/package | tail -n 1) || { echo "package-test: FAIL: scripts/package failed"; exit 1; }
fi
[ -f "$deb" ] || { echo "package-test: FAIL: no package at $deb"; exit 1; }

failed=0
ok() { echo "PASS $1"; }
bad() { echo "FAIL $1: $2"; failed=1; }

tmp=$(mktemp -d /tmp/sup-pkg.XXXXXX)
root="$tmp/root"
sup_pid=
cleanup() {
  if [ -n "$sup_pid" ] && kill -0 "$sup_pid" 2>/dev/null; then
    kill -KILL "$sup_pid" 2>/dev/null
    wait "$sup_pid" 2>/dev/null
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# An empty dpkg database in an empty root.
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/triggers"
touch "$root/var/lib/dpkg/status" "$root/var/lib/dpkg/available"
if out=$(dpkg --root="$root" --force-script-chrootless -i "$deb" 2>&1); then
  ok "dpkg -i installs $(basename "$deb") into an empty root"
else
  bad "dpkg -i installs the package" "$out"
  exit 1
fi
status=$(dpkg --root="$root" -s sup 2>&1)
case "$status" in
  *"Status: install ok installed"*) ok "dpkg -s: sup is installed" ;;
  *) bad "dpkg -s: sup is installed" "$status" ;;
esac

missing=()
for f in usr/sbin/sup usr/bin/supctl etc/sup.d/example.yaml \
  usr/share/man/man8/sup.8.gz usr/share/man/man1/supctl.1.gz usr/share/man/man5/sup.d.5.gz \
  usr/share/bash-completion/completions/supctl usr/share/zsh/vendor-completions/_supctl \
  usr/share/fish/vendor_completions.d/supctl.fish usr/share/doc/sup/copyright; do
  [ -s "$root/$f" ] || missing+=("$f")
done
[ ${#missing[@]} = 0 ] && ok "every file in its place" || bad "every file in its place" "missing: ${missing[*]}"
listed=$(dpkg --root="$root" -L sup)
grep -qx /usr/sbin/sup <<<"$listed" && grep -qx /usr/bin/supctl <<<"$listed" &&
  ok "dpkg -L lists /usr/sbin/sup and /usr/bin/supctl" || bad "dpkg -L lists the binaries" "$listed"
grep -qx /etc/sup.d/example.yaml "$root/var/lib/dpkg/info/sup.conffiles" 2>/dev/null &&
  ok "/etc/sup.d/example.yaml is a conffile" || bad "/etc/sup.d/example.yaml is a conffile" "$(cat "$root/var/lib/dpkg/info/sup.conffiles" 2>&1)"

# Static: they run in a root that has nothing else.
out=$(chroot "$root" /usr/sbin/sup check 2>&1) && ok "chroot: sup check (of /etc/sup.d) passes on the example" ||
  bad "chroot: sup check passes on the example" "$out"
out=$(chroot "$root" /usr/bin/supctl check /etc/sup.d 2>&1) && ok "chroot: supctl check /etc/sup.d passes" ||
  bad "chroot: supctl check /etc/sup.d passes" "$out"
out=$(chroot "$root" /usr/sbin/sup --version 2>&1) && [ "$out" = "sup $(dpkg-deb -f "$deb" Version | cut -d- -f1)" ] &&
  ok "chroot: sup --version matches the package version" || bad "sup --version matches the package version" "$out"

# The installed sup supervises the installed example unit.
sock="$tmp/ctl.sock"
mkdir -p "$tmp/log"
"$root/usr/sbin/sup" --units "$root/etc/sup.d" --socket "$sock" --log-dir "$tmp/log" >"$tmp/sup.log" 2>&1 &
sup_pid=$!
supctl() { "$root/usr/bin/supctl" --socket "$sock" "$@"; }
wait_for() { # DESCRIPTION COMMAND...: polls (every 0.1 s, at most 10 s) until COMMAND succeeds
  local desc=$1 i
  shift
  for i in $(seq 100); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}
state_is() { supctl --json status "$1" 2>/dev/null | grep -q "\"state\":\"$2\""; }
if wait_for "socket" supctl status; then
  ok "installed sup starts and answers supctl"
  state_is example inactive && ok "the example unit is loaded, disabled (inactive)" ||
    bad "the example unit is loaded, disabled" "$(supctl status 2>&1)"
  out=$(supctl start example 2>&1) && state_is example running &&
    ok "supctl start example: running" || bad "supctl start example: running" "$out $(supctl status 2>&1)"
  wait_for "log" sh -c "\"$root/usr/bin/supctl\" --socket \"$sock\" logs example | grep -q 'hello from sup'" &&
    ok "supctl logs example: its output" || bad "supctl logs example: its output" "$(supctl logs example 2>&1)"
  out=$(supctl cat example 2>&1)
  grep -qx "enabled: false" <<<"$out" && grep -qx "  policy: on-failure" <<<"$out" &&
    ok "supctl cat example: the effective configuration" || bad "supctl cat example" "$out"
  supctl shutdown >/dev/null 2>&1
  if wait_for "exit" sh -c "! kill -0 $sup_pid 2>/dev/null"; then
    wait "$sup_pid"
    rc=$?
    sup_pid=
    [ "$rc" = 0 ] && ok "supctl shutdown: sup exits 0" || bad "supctl shutdown: sup exits 0" "exit $rc"
  else
    bad "supctl shutdown: sup exits" "still running after 10 s"
  fi
else
  bad "installed sup starts and answers supctl" "$(cat "$tmp/sup.log")"
fi

for page in man8/sup.8.gz man1/supctl.1.gz man5/sup.d.5.gz; do
  if command -v man >/dev/null; then
    err=$(MANWIDTH=80 man --warnings -l "$root/usr/share/man/$page" 2>&1 >/dev/null)
    [ -z "$err" ] && ok "man -l renders $page" || bad "man -l renders $page" "$err"
  else
    echo "package-test: man is not installed: not rendering $page"
  fi
done
out=$(bash -c "source '$root/usr/share/bash-completion/completions/supctl' && complete -p supctl" 2>&1)
grep -q "_supctl_with_units" <<<"$out" && ok "bash completion of supctl loads" || bad "bash completion of supctl loads" "$out"

out=$(dpkg --root="$root" --force-script-chrootless -r sup 2>&1) && [ ! -e "$root/usr/sbin/sup" ] &&
  [ -e "$root/etc/sup.d/example.yaml" ] && ok "dpkg -r removes the programs, keeps the conffile" ||
  bad "dpkg -r removes the programs, keeps the conffile" "$out"
out=$(dpkg --root="$root" --force-script-chrootless -P sup 2>&1) && [ ! -e "$root/etc/sup.d/example.yaml" ] &&
  ok "dpkg -P purges the conffile" || bad "dpkg -P purges the conffile" "$out"

if [ "$failed" = 0 ]; then
  echo "package-test: all checks passed"
else
  echo "package-test: FAILED"
fi
exit "$failed"
