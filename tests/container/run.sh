#!/usr/bin/env bash
# Proves sup's entrypoint and supervisor modes in a real container runtime (podman + runc):
# an image built from scratch (static sup and supctl, static busybox, the units of
# tests/container/units in /etc/sup.d, the scripts of tests/container/bin in /test), and
# every check a real `podman` command. Then the example image of deploy/Containerfile and
# the manifests of deploy/ (tests/container/manifests.py).
#
# Each check prints `PASS name` or `FAIL name: why`; the script exits 1 if any failed.
# It skips (exit 0, with the reason) when not root, when podman or runc is missing, or
# when podman cannot run a container here; SUP_REQUIRE_CONTAINERS=1 turns a skip into a
# failure. Needs the static build (scripts/build-static.sh) and a static busybox.
# No registry: the image is `podman import`ed from a directory, the example is built FROM
# scratch. Everything it makes (containers, images, a temp dir) is removed at the end.
set -uo pipefail
cd "$(dirname "$0")/../.."
t_start=$(date +%s%N)

skip() {
  if [ "${SUP_REQUIRE_CONTAINERS:-}" = 1 ]; then
    echo "container-test: FAIL: cannot run (SUP_REQUIRE_CONTAINERS=1): $*"
    exit 1
  fi
  echo "container-test: SKIP: $*"
  exit 0
}
[ "$(id -u)" = 0 ] || skip "needs root (rootless podman cannot give a container writable cgroups here)"
command -v podman >/dev/null || skip "podman is not installed (scripts/install-deps.sh installs it as root)"
command -v runc >/dev/null || skip "runc is not installed (scripts/install-deps.sh installs it as root)"
command -v python3 >/dev/null || skip "python3 is not installed"
bin=target/x86_64-unknown-linux-gnu/release
for b in sup supctl; do
  [ -x "$bin/$b" ] || { echo "container-test: FAIL: $bin/$b missing: run scripts/build-static.sh first"; exit 1; }
done
busybox=$(command -v busybox || true)
if [ -z "$busybox" ] || readelf -l "$busybox" 2>/dev/null | grep INTERP >/dev/null; then
  skip "a static busybox is needed (apt-get install busybox-static)"
fi

# --- podman set-up: our own containers.conf, unique names, everything removed at exit ----
tmp=$(mktemp -d /tmp/sup-ct.XXXXXX)
id="supct-$$-$RANDOM"
img="localhost/$id:latest"
example="localhost/$id-example:latest"
export SUP_CT_PREFIX="$id"
export CONTAINERS_CONF="$tmp/containers.conf"
# crun refuses a hybrid cgroup host: runc. Root here cannot raise RLIMIT_NOFILE to podman's
# default: lower ulimits. No systemd: cgroupfs, and events to a file.
cat >"$CONTAINERS_CONF" <<'EOF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
cleanup() {
  local names
  names=$(podman ps -a --filter "name=^$id" --format '{{.Names}}' 2>/dev/null)
  [ -z "$names" ] || podman rm -f -t 2 $names >/dev/null 2>&1
  podman rmi -f "$img" "$example" >/dev/null 2>&1
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pass=0
fail=0
failed=()
ok() { echo "PASS $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1: $2"; fail=$((fail + 1)); failed+=("$1"); }
# expect NAME WANT GOT
expect() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1" "want '$2', got '$3'"; fi; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
t_section=$(now_ms)
s_name=
# section NAME: closes the previous section (printing how long it took) and opens NAME.
section() {
  local t
  t=$(now_ms)
  [ -z "$s_name" ] || printf 'container-test: %s took %d.%03d s\n' "$s_name" $(((t - t_section) / 1000)) $(((t - t_section) % 1000))
  [ "$1" = end ] || echo "== $1"
  s_name=$1
  t_section=$t
}
# wait_for SECONDS CMD...: runs CMD every 0.1 s until it succeeds (0) or time is up (1).
wait_for() {
  local end=$(($(now_ms) + $1 * 1000))
  shift
  while :; do
    "$@" >/dev/null 2>&1 && return 0
    [ "$(now_ms)" -lt "$end" ] || return 1
    sleep 0.1
  done
}
run=(podman run --pull=never --network=none)
ctr() { echo "$id-$1"; }
# launch NAME PODMAN-RUN-ARGS...: `podman run -d --name NAME ...`; a container that cannot
# be started is a FAIL named after it (and returns 1).
launch() {
  local name=$1 out
  shift
  if ! out=$("${run[@]}" -d --name "$name" "$@" 2>&1 >/dev/null); then
    bad "podman run -d $name" "$out"
    return 1
  fi
}
# sig CTR SIGNAL: podman kill -s SIGNAL CTR, a failure of podman itself reported.
sig() {
  local out
  out=$(podman kill -s "$2" "$1" 2>&1 >/dev/null) || echo "container-test: podman kill -s $2 failed: $out"
}
# field CTR UNIT KEY: one field of `supctl --json status UNIT` inside CTR (JSON null → "null";
# for an object, its JSON).
field() {
  podman exec "$1" supctl --json status "$2" 2>/dev/null | python3 -c '
import json, sys
try:
    v = json.load(sys.stdin)["units"][0].get(sys.argv[1])
except Exception as e:
    sys.exit(f"no status: {e}")
print("null" if v is None else v if isinstance(v, (str, int)) else json.dumps(v, sort_keys=True))' "$3" 2>/dev/null
}
state_is() { [ "$(field "$1" "$2" state)" = "$3" ]; }
logs_have() { podman logs "$1" 2>/dev/null | grep -x "$2" >/dev/null; }
# cgroup_of LINES: the cgroup path of the memory controller (v1), or of the v2 line.
cgroup_of() {
  awk -F: '{ n = split($2, c, ","); for (i = 1; i <= n; i++) if (c[i] == "memory") { print $3; found = 1; exit } }
    $1 == "0" && $2 == "" { v2 = $3 } END { if (!found && v2 != "") print v2 }'
}

# --- the image ---------------------------------------------------------------------------
section "the test image (rootfs, podman import)"
root=$tmp/rootfs
mkdir -p "$root"/{bin,usr/bin,etc/sup.d,test,srv/www,tmp,run,var/log,proc,sys,dev}
cp "$bin/sup" "$bin/supctl" "$root/usr/bin/"
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
  [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
echo 'root:x:0:' >"$root/etc/group"
echo '<h1>served under sup</h1>' >"$root/srv/www/index.html"
chmod 1777 "$root/tmp"
cp tests/container/units/*.yaml "$root/etc/sup.d/"
cp tests/container/bin/*.sh "$root/test/"
if ! tar -C "$root" -c . | podman import -q - "$img" >"$tmp/import.log" 2>&1; then
  skip "podman cannot import an image here: $(tail -n 3 "$tmp/import.log")"
fi
if ! out=$(podman run --rm --pull=never --network=none "$img" /bin/busybox true 2>&1); then
  skip "podman cannot run a container here: $out"
fi
echo "container-test: podman $(podman --version | awk '{print $3}'), runc $(runc --version | awk 'NR==1{print $3}'), image $img"
# Entrypoint mode without units: an absent unit directory.
entry=(/usr/bin/sup --units /etc/sup-none --)

# --- 1. exit codes of `sup -- CMD` -------------------------------------------------------
section "exit codes of sup -- CMD"
# exit_case NAME WANT CMD...: the container's status (podman run's) must be WANT.
exit_case() {
  local name=$1 want=$2 got
  shift 2
  "${run[@]}" --rm "$img" "${entry[@]}" "$@" >"$tmp/out" 2>"$tmp/err"
  got=$?
  expect "exit code: $name -> $want" "$want" "$got"
}
exit_case "exit 0" 0 sh -c 'exit 0'
exit_case "exit 3" 3 sh -c 'echo out; echo err >&2; exit 3'
expect "exit code: stdout is CMD's alone" out "$(cat "$tmp/out")"
expect "exit code: stderr is CMD's alone" err "$(cat "$tmp/err")"
exit_case "killed by SIGSEGV (128+11)" 139 sh -c 'ulimit -c 0; kill -SEGV $$'
exit_case "killed by SIGUSR1 (128+10)" 138 sh -c 'kill -USR1 $$'
exit_case "command not found (PATH)" 127 no-such-command
expect "exit code: 127 says so, in one line on stderr" "sup: no-such-command: command not found" "$(cat "$tmp/err")"
exit_case "command not found (path)" 127 /no/such/file
exit_case "not executable" 126 /etc/passwd
if [ "$(wc -l <"$tmp/err")" = 1 ] && grep '^sup: /etc/passwd: ' "$tmp/err" >/dev/null; then
  ok "exit code: 126 says so, in one line on stderr ($(cat "$tmp/err"))"
else
  bad "exit code: 126 says so, in one line on stderr" "stderr: $(cat "$tmp/err")"
fi

# --- 2. podman stop of `sup -- CMD` --------------------------------------------------------
section "podman stop of sup -- CMD"
# stop_case NAME WANT [CODE]: CMD traps TERM and exits CODE (no CODE: TERM kills it).
stop_case() {
  local name=$1 want=$2 c t0 ms got
  shift 2
  c=$(ctr "stop-$want")
  launch "$c" --stop-timeout 30 "$img" "${entry[@]}" /test/stoppable.sh "$@" || return
  if ! wait_for 20 logs_have "$c" ready; then
    bad "stop: $name" "CMD never printed ready: $(podman logs "$c" 2>&1 | tail -n 3)"
    return
  fi
  t0=$(now_ms)
  podman stop -t 30 "$c" >/dev/null
  ms=$(($(now_ms) - t0))
  got=$(podman inspect -f '{{.State.ExitCode}}' "$c")
  printf 'container-test: podman stop (%s) took %d.%03d s of its 30 s timeout\n' "$name" $((ms / 1000)) $((ms % 1000))
  expect "stop: $name: status $want" "$want" "$got"
  if [ "$ms" -lt 5000 ]; then ok "stop: $name: well under the stop timeout (${ms} ms < 5 s)"; else bad "stop: $name: well under the stop timeout" "${ms} ms"; fi
  podman rm -f "$c" >/dev/null 2>&1
}
stop_case "CMD traps TERM, exits 0" 0 0
stop_case "CMD traps TERM, exits 42" 42 42
stop_case "CMD killed by TERM (128+15)" 143

# --- 3. podman kill -s SIG reaches CMD ----------------------------------------------------
section "podman kill -s SIG reaches CMD"
c=$(ctr sig)
if launch "$c" "$img" "${entry[@]}" /test/sigrec.sh && wait_for 20 logs_have "$c" ready; then
  for s in HUP USR1 USR2 INT; do
    sig "$c" "$s"
    wait_for 10 logs_have "$c" "got $s" && ok "signal: podman kill -s $s reaches CMD" ||
      bad "signal: podman kill -s $s reaches CMD" "no 'got $s' from CMD in 10 s"
  done
  # The rest of what sup forwards: sent together, then awaited together (bounded).
  more=(QUIT WINCH ALRM CONT ILL TRAP ABRT BUS FPE SEGV SYS PIPE)
  for s in "${more[@]}"; do sig "$c" "$s"; done
  all_more() { for s in "${more[@]}"; do logs_have "$c" "got $s" || return 1; done; }
  wait_for 10 all_more
  missing=0
  for s in "${more[@]}"; do
    logs_have "$c" "got $s" && ok "signal: podman kill -s $s reaches CMD" || {
      bad "signal: podman kill -s $s reaches CMD" "no 'got $s' from CMD in 10 s"
      missing=1
    }
  done
  [ $missing = 0 ] || podman logs "$c" 2>&1 | tail -n 30 | sed 's/^/    CMD and sup said: /'
  sig "$c" TERM
  if wait_for 10 sh -c "[ \"\$(podman inspect -f '{{.State.Status}}' $c)\" = exited ]"; then
    logs_have "$c" "got TERM" && ok "signal: podman kill -s TERM reaches CMD" || bad "signal: podman kill -s TERM reaches CMD" "no 'got TERM'"
    expect "signal: CMD's exit on TERM is the container's status" 0 "$(podman inspect -f '{{.State.ExitCode}}' "$c")"
  else
    bad "signal: podman kill -s TERM reaches CMD" "container still $(podman inspect -f '{{.State.Status}}' "$c") after 10 s"
  fi
else
  bad "signal: CMD starts" "CMD never printed ready: $(podman logs "$c" 2>&1 | tail -n 3)"
fi
podman rm -f -t 2 "$c" >/dev/null 2>&1

# --- 4. supervisor mode, healthcheck, no writable cgroup ----------------------------------
section "supervisor mode, podman healthcheck, no writable cgroup"
c=$(ctr svc)
if launch "$c" --health-cmd '["supctl", "health"]' --health-interval disable --health-retries 1 \
  "$img" /usr/bin/sup && wait_for 20 state_is "$c" web running && wait_for 20 state_is "$c" ticker running; then
  table=$(podman exec "$c" supctl status)
  rc=$?
  if [ $rc = 0 ] && echo "$table" | grep -E '^web +running ' >/dev/null && echo "$table" | grep -E '^ticker +running ' >/dev/null; then
    ok "supervisor: podman exec supctl status lists the baked-in units running"
  else
    bad "supervisor: podman exec supctl status lists the baked-in units running" "exit $rc: $table"
  fi
  health() { podman healthcheck run "$c" >/dev/null 2>&1; }
  hstate() { podman inspect -f '{{.State.Health.Status}}' "$c"; }
  if wait_for 20 health; then ok "health: podman healthcheck run: healthy with every unit up"; else
    bad "health: podman healthcheck run: healthy with every unit up" "$(podman healthcheck run "$c" 2>&1; podman exec "$c" supctl health 2>&1)"
  fi
  expect "health: podman inspect: healthy" healthy "$(hstate)"
  podman exec "$c" supctl stop web >/dev/null
  if health; then bad "health: unhealthy after supctl stop web" "podman healthcheck run exited 0"; else
    ok "health: unhealthy after supctl stop web (podman healthcheck run exits 1)"
  fi
  expect "health: podman inspect: unhealthy" unhealthy "$(hstate)"
  msg=$(podman exec "$c" supctl health 2>&1)
  echo "$msg" | grep -w web >/dev/null && ok "health: supctl health names the unit that is down" || bad "health: supctl health names the unit that is down" "$msg"
  podman exec "$c" supctl start web >/dev/null
  if wait_for 20 health; then ok "health: healthy again after supctl start web"; else bad "health: healthy again after supctl start web" "$(podman healthcheck run "$c" 2>&1)"; fi
  expect "health: podman inspect: healthy again" healthy "$(hstate)"
  # Without a writable cgroup (not privileged): a unit that asks for limits fails and says why.
  podman exec "$c" supctl start capped >/dev/null 2>&1
  wait_for 10 state_is "$c" capped failed
  st=$(field "$c" capped state)/$(field "$c" capped reason)
  m=$(field "$c" capped message)
  if [ "$st" = failed/exec ] && echo "$m" | grep cgroup >/dev/null; then
    ok "no cgroup: a unit with resources fails naming what is missing ($m)"
  else
    bad "no cgroup: a unit with resources fails naming what is missing" "$st: $m"
  fi
  t0=$(now_ms)
  podman stop -t 30 "$c" >/dev/null
  ms=$(($(now_ms) - t0))
  expect "supervisor: podman stop: sup exits 0" 0 "$(podman inspect -f '{{.State.ExitCode}}' "$c")"
  printf 'container-test: podman stop of the supervisor took %d.%03d s\n' $((ms / 1000)) $((ms % 1000))
else
  bad "supervisor: units web and ticker running" "$(podman exec "$c" supctl status 2>&1; podman logs "$c" 2>&1 | tail -n 5)"
fi
podman rm -f -t 2 "$c" >/dev/null 2>&1

# --- 5. per-unit cgroups: --privileged --cgroupns=private ---------------------------------
section "--privileged --cgroupns=private: per-unit cgroups, memory_max, oom"
# unit_cgroup CTR UNIT: the path status reports and the path of the unit's main process as
# /proc/PID/cgroup shows it inside the container.
c=$(ctr cg)
if launch "$c" --privileged --cgroupns=private "$img" /usr/bin/sup && wait_for 20 state_is "$c" web running && wait_for 20 state_is "$c" ticker running; then
  paths=()
  for u in web ticker; do
    reported=$(field "$c" "$u" cgroup)
    pid=$(field "$c" "$u" pid)
    real=$(podman exec "$c" cat "/proc/$pid/cgroup" | cgroup_of)
    paths+=("$reported")
    if [ "$reported" != null ] && [ "$reported" = "$real" ]; then
      ok "cgroupns=private: $u: status cgroup is the process's own ($real)"
    else
      bad "cgroupns=private: $u: status cgroup is the process's own" "status '$reported', /proc/$pid/cgroup '$real'"
    fi
  done
  [ "${paths[0]}" != "${paths[1]}" ] && [ "${paths[0]}" != null ] && ok "cgroupns=private: each unit has its own cgroup" ||
    bad "cgroupns=private: each unit has its own cgroup" "${paths[*]}"
  podman exec "$c" supctl start capped >/dev/null 2>&1
  if wait_for 10 state_is "$c" capped running; then
    cg=$(field "$c" capped cgroup)
    lim=$(podman exec "$c" sh -c "cat /sys/fs/cgroup/memory$cg/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup$cg/memory.max")
    expect "cgroupns=private: memory_max 32M is the unit cgroup's limit" 33554432 "$lim"
  else
    bad "cgroupns=private: capped starts" "$(field "$c" capped state): $(field "$c" capped message)"
  fi
  podman exec "$c" supctl start hog >/dev/null 2>&1
  if wait_for 20 state_is "$c" hog failed; then
    expect "cgroupns=private: memory_max enforced, reported as reason oom" oom "$(field "$c" hog reason)"
    expect "cgroupns=private: the OOM kill is the exit" '{"signal": "SIGKILL"}' "$(field "$c" hog exit)"
  else
    bad "cgroupns=private: memory_max enforced, reported as reason oom" "hog: $(field "$c" hog state) $(field "$c" hog reason)"
  fi
  podman exec "$c" dd if=/dev/zero of=/dev/null bs=64M count=1 >/dev/null 2>&1 &&
    ok "cgroupns=private: the same dd outside the unit succeeds (the limit did it)" ||
    bad "cgroupns=private: the same dd outside the unit succeeds" "dd failed outside the unit too"
  # supctl reexec as the container's PID 1: same units, same processes, same cgroups.
  before="$(field "$c" web pid) $(field "$c" ticker pid) $(field "$c" capped pid) $(field "$c" web cgroup)"
  out=""
  for i in 1 2 3; do out="$out$(podman exec "$c" supctl reexec 2>&1) "; done
  after="$(field "$c" web pid) $(field "$c" ticker pid) $(field "$c" capped pid) $(field "$c" web cgroup)"
  if [ "$before" = "$after" ] && [ "$(podman exec "$c" readlink /proc/1/exe)" = /usr/bin/sup ] &&
    [ "$(field "$c" web restarts)" = 0 ]; then
    ok "reexec: three supctl reexec as PID 1 keep every unit's process and cgroup ($after)"
  else
    bad "reexec: three supctl reexec as PID 1 keep every unit's process and cgroup" "before '$before', after '$after': $out"
  fi
  podman stop -t 30 "$c" >/dev/null
  expect "cgroupns=private: podman stop: sup exits 0" 0 "$(podman inspect -f '{{.State.ExitCode}}' "$c")"
else
  bad "cgroupns=private: units running" "$(podman exec "$c" supctl status 2>&1; podman logs "$c" 2>&1 | tail -n 5)"
fi
podman rm -f -t 2 "$c" >/dev/null 2>&1

# --- 6. --privileged --cgroupns=host: status names the cgroup the host sees ---------------
section "--privileged --cgroupns=host: the cgroup path the host sees"
c=$(ctr cgh)
if launch "$c" --privileged --cgroupns=host "$img" /usr/bin/sup && wait_for 20 state_is "$c" web running && wait_for 20 state_is "$c" ticker running; then
  for u in web ticker; do
    reported=$(field "$c" "$u" cgroup)
    pid=$(field "$c" "$u" pid)
    hpid=$(podman top "$c" pid hpid | awk -v p="$pid" '$1 == p { print $2 }')
    real=$( [ -n "$hpid" ] && cgroup_of <"/proc/$hpid/cgroup")
    if [ -n "$real" ] && [ "$reported" = "$real" ]; then
      ok "cgroupns=host: $u: status cgroup is where the host sees the process ($real)"
    else
      bad "cgroupns=host: $u: status cgroup is where the host sees the process" "status '$reported', host /proc/$hpid/cgroup '$real'"
    fi
  done
  podman stop -t 30 "$c" >/dev/null
else
  bad "cgroupns=host: units running" "$(podman exec "$c" supctl status 2>&1; podman logs "$c" 2>&1 | tail -n 5)"
fi
podman rm -f -t 2 "$c" >/dev/null 2>&1

# --- 7. deploy/: the example image and the manifests ---------------------------------------
section "deploy/: the example image and the manifests"
if SUP_NO_BUILD=1 deploy/build-image.sh "$example" >"$tmp/build.log" 2>&1; then
  ok "deploy: podman build of deploy/Containerfile (FROM scratch)"
  out=$("${run[@]}" --rm "$example" check 2>&1)
  rc=$?
  expect "deploy: sup check of the image's units" 0 "$rc"
  [ $rc = 0 ] || echo "$out"
  # Entrypoint mode with the same image: the units are up before APP starts (APP checks
  # with supctl health), and APP's status is the container's.
  out=$("${run[@]}" --rm "$example" -- /bin/busybox sh -c '/usr/bin/supctl health && exit 7' 2>&1)
  rc=$?
  expect "deploy: podman run IMAGE -- APP: units healthy before APP, APP's status" 7 "$rc"
  [ $rc = 7 ] || echo "$out" | tail -n 5 | sed 's/^/    /'
  python3 tests/container/manifests.py image "$example" >"$tmp/manifests.log" 2>&1
  rc=$?
  cat "$tmp/manifests.log"
  p=$(grep -c '^PASS ' "$tmp/manifests.log")
  f=$(grep -c '^FAIL ' "$tmp/manifests.log")
  pass=$((pass + p))
  fail=$((fail + f))
  while IFS= read -r line; do failed+=("${line#FAIL }"); done < <(grep '^FAIL ' "$tmp/manifests.log" | cut -d: -f1)
  if [ $rc != 0 ] && [ "$f" = 0 ]; then bad "deploy: manifests.py image" "exit $rc"; fi
else
  bad "deploy: podman build of deploy/Containerfile" "$(tail -n 5 "$tmp/build.log")"
fi

section end
ms=$((($(date +%s%N) - t_start) / 1000000))
printf 'container-test: %d passed, %d failed in %d.%03d s\n' "$pass" "$fail" $((ms / 1000)) $((ms % 1000))
for f in "${failed[@]}"; do echo "  failed: $f"; done
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
