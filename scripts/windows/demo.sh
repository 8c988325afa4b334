#!/usr/bin/env bash
# The Windows backend end to end under Wine: sup.exe runs three units from the same kind
# of unit files as on Linux: a service (`web`, prints a tick every 100 ms), one that
# keeps failing and is restarted (`flaky`, exits 3), a oneshot (`hello`) and one that
# asks for a key Windows cannot honour (`asroot`, fails naming it). supctl.exe
# talks to it over a named pipe: status (printed, as the judged artifact), logs, stop of
# a unit (its job ends), and shutdown (sup.exe exits 0). Needs what
# scripts/windows-env.sh prepares; run by scripts/windows-test.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$HOME/.cargo/bin:$PATH"
target=x86_64-pc-windows-gnu
run="$(pwd)/scripts/windows/runner"
export WINEPREFIX="${WINEPREFIX:-$(pwd)/target/wine}"

cargo build --target "$target" --bins --example demo-unit --quiet
bin="$(pwd)/target/$target/debug"
# A Linux path as Wine's Z: drive sees it.
winpath() { local p="${1//\//\\}"; echo "Z:$p"; }

work="$(mktemp -d /tmp/sup-win-demo.XXXXXX)"
units="$work/units"
mkdir -p "$units" "$work/log"
demo="$(winpath "$bin/examples/demo-unit.exe")"
cat >"$units/web.yaml" <<EOF
description: a service that prints a tick every 100 ms
exec: ['$demo', tick]
restart: {policy: always, delay: 200ms}
EOF
cat >"$units/flaky.yaml" <<EOF
description: fails with status 3 after 100 ms, restarted each time
exec: ['$demo', fail, '3']
restart: {policy: always, delay: 200ms, max_delay: 200ms, limit: {burst: 1000, interval: 1m}}
EOF
# A key Windows cannot honour: the unit fails with a reason naming it, never runs.
cat >"$units/asroot.yaml" <<EOF
description: asks for another user
exec: ['$demo', tick]
user: nobody
EOF
cat >"$units/hello.yaml" <<EOF
description: a oneshot
type: oneshot
exec: ['$demo', hello]
EOF

pipe='\\.\pipe\sup-demo-'$$
supctl() { "$run" "$bin/supctl.exe" --socket "$pipe" "$@"; }
"$run" "$bin/sup.exe" --units "$(winpath "$units")" --socket "$pipe" \
  --log-dir "$(winpath "$work/log")" --log-level debug >"$work/sup.out" 2>&1 &
sup_pid=$!
cleanup() {
  kill "$sup_pid" 2>/dev/null || true
  /usr/lib/wine/wineserver64 -k 2>/dev/null || true
}
trap cleanup EXIT
fail() {
  echo "windows demo: $*" >&2
  echo "--- sup.exe output:" >&2
  tail -n 40 "$work/sup.out" >&2
  exit 1
}

# Wait (bounded) until `jq`-free checks on the JSON status hold.
status_json() { supctl --json status 2>/dev/null || true; }
unit_field() { # JSON UNIT FIELD
  python3 -c 'import json,sys; d=json.loads(sys.argv[1]); u=[x for x in d.get("units", d if isinstance(d, list) else []) if x["name"]==sys.argv[2]]; print(u[0].get(sys.argv[3]) if u else "")' "$1" "$2" "$3"
}
deadline=$((SECONDS + 90))
while :; do
  s="$(status_json)"
  if [ -n "$s" ] &&
    [ "$(unit_field "$s" web state)" = running ] &&
    [ "$(unit_field "$s" hello state)" = done ] &&
    [ "$(unit_field "$s" flaky restarts)" -ge 2 ] 2>/dev/null; then
    break
  fi
  [ $SECONDS -lt $deadline ] || fail "units did not reach web=running, hello=done, flaky restarted twice: $s"
  kill -0 "$sup_pid" 2>/dev/null || fail "sup.exe exited early"
  sleep 0.5
done
echo "== supctl.exe status"
supctl status
[ "$(unit_field "$s" asroot state)" = failed ] || fail "asroot is not failed: $s"
case "$(unit_field "$s" asroot message)" in
  *"user: not available on Windows"*) ;;
  *) fail "asroot's message does not name the key and the platform: $s" ;;
esac

echo "== supctl.exe check"
supctl check "$(winpath "$units")"

echo "== supctl.exe logs web"
deadline=$((SECONDS + 30))
until supctl logs web -n 5 2>/dev/null | grep -q 'tick [0-9]'; do
  [ $SECONDS -lt $deadline ] || fail "no tick in the web unit's log"
  sleep 0.5
done
supctl logs web -n 3
grep -q 'hello from demo-unit' "$work/log/hello.log" || fail "hello.log lacks the oneshot's line"

echo "== supctl.exe stop web"
supctl stop web
s="$(status_json)"
[ "$(unit_field "$s" web state)" = stopped ] || fail "web is not stopped: $s"
[ "$(unit_field "$s" web pid)" = None ] || fail "web still has a pid: $s"

echo "== supctl.exe shutdown"
supctl shutdown
deadline=$((SECONDS + 30))
while kill -0 "$sup_pid" 2>/dev/null; do
  [ $SECONDS -lt $deadline ] || fail "sup.exe did not exit after shutdown"
  sleep 0.2
done
set +e
wait "$sup_pid"
rc=$?
set -e
[ "$rc" = 0 ] || fail "sup.exe exited $rc after shutdown"
echo "windows demo: ok (sup.exe exited 0)"
rm -rf "$work"
