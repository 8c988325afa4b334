# Isolation on cgroup v2 (issue 3): OOM → reason oom, pids_max contained, limits in the
# unit's cgroup files, sup in its own leaf, cgroup.kill leaves nothing, freeze works.
# busybox sh; supctl on PATH. Prints VM-CHECK PASS/FAIL isolation.
ok=1
fail() { echo "VM-CHECK FAIL isolation: $1"; ok=0; }
field() {
  j=$(supctl --json status "$1" 2>/dev/null)
  v=$(echo "$j" | sed -n "s/.*\"$2\":\"\([^\"]*\)\".*/\1/p")
  [ -n "$v" ] || v=$(echo "$j" | sed -n "s/.*\"$2\":\([0-9a-z]*\).*/\1/p")
  echo "$v"
}
wait_state() { # UNIT STATE SECONDS
  n=$(( $3 * 10 ))
  while [ "$n" -gt 0 ]; do
    [ "$(field "$1" state)" = "$2" ] && return 0
    sleep 0.1; n=$((n - 1))
  done
  return 1
}
alive() { [ -d "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }

[ -f /sys/fs/cgroup/cgroup.controllers ] || fail "/sys/fs/cgroup is not cgroup v2"
grep -q '^0::/sup/supervisor$' /proc/1/cgroup || fail "sup is not in /sup/supervisor: $(cat /proc/1/cgroup)"

# OOM
wait_state iso-hog failed 30 || fail "iso-hog is $(field iso-hog state), wanted failed"
[ "$(field iso-hog reason)" = oom ] || fail "iso-hog reason is '$(field iso-hog reason)', wanted oom"

# pids_max
wait_state iso-bomb running 10 || fail "iso-bomb is $(field iso-bomb state)"
n=0; while [ $n -lt 50 ] && [ "$(field iso-bomb pids)" -lt 12 ] 2>/dev/null; do sleep 0.1; n=$((n+1)); done
cg=$(field iso-bomb cgroup)
p=$(cat "/sys/fs/cgroup$cg/pids.current" 2>/dev/null)
[ -n "$p" ] && [ "$p" -le 12 ] || fail "iso-bomb has '$p' processes (pids_max 12)"
[ "$(awk '$1 == "max" {print $2}' "/sys/fs/cgroup$cg/pids.events")" -gt 0 ] 2>/dev/null || fail "pids.max never hit"
t0=$(date +%s); supctl status >/dev/null || fail "status failed during the fork bomb"
[ $(( $(date +%s) - t0 )) -le 2 ] || fail "status took more than 2s during the fork bomb"
supctl stop iso-bomb >/dev/null || fail "stopping the fork bomb failed"
n=0; while [ $n -lt 30 ] && [ -d "/sys/fs/cgroup$cg" ]; do sleep 0.1; n=$((n+1)); done
[ -d "/sys/fs/cgroup$cg" ] && fail "/sys/fs/cgroup$cg left behind after stopping the fork bomb"

# limits in files
wait_state iso-limits running 10 || fail "iso-limits is $(field iso-limits state)"
d="/sys/fs/cgroup$(field iso-limits cgroup)"
[ "$(cat "$d/memory.max")" = 67108864 ] || fail "memory.max is $(cat "$d/memory.max")"
[ "$(cat "$d/memory.high")" = 50331648 ] || fail "memory.high is $(cat "$d/memory.high")"
[ "$(cat "$d/cpu.max")" = "50000 100000" ] || fail "cpu.max is $(cat "$d/cpu.max")"
[ "$(cat "$d/cpu.weight")" = 200 ] || fail "cpu.weight is $(cat "$d/cpu.weight")"
[ "$(cat "$d/pids.max")" = 100 ] || fail "pids.max is $(cat "$d/pids.max")"

# stop kills the whole cgroup (cgroup.kill)
wait_state iso-escape running 10 || fail "iso-escape is $(field iso-escape state)"
n=0; while [ $n -lt 50 ] && [ ! -s /run/iso-escape.pid ]; do sleep 0.1; n=$((n+1)); done
esc=$(cat /run/iso-escape.pid 2>/dev/null)
ed="/sys/fs/cgroup$(field iso-escape cgroup)"
supctl stop iso-escape >/dev/null || fail "supctl stop iso-escape failed"
n=0; while [ $n -lt 30 ] && [ -n "$esc" ] && alive "$esc"; do sleep 0.1; n=$((n+1)); done
[ -n "$esc" ] && ! alive "$esc" || fail "escaped process '$esc' outlived its unit"
n=0; while [ $n -lt 30 ] && [ -d "$ed" ]; do sleep 0.1; n=$((n+1)); done
[ ! -d "$ed" ] || fail "$ed left behind"

# freeze
wait_state iso-ticker running 10 || fail "iso-ticker is $(field iso-ticker state)"
td="/sys/fs/cgroup$(field iso-ticker cgroup)"
supctl pause iso-ticker >/dev/null || fail "pause failed"
[ "$(field iso-ticker state)" = paused ] || fail "state after pause is $(field iso-ticker state)"
n=0; while [ $n -lt 30 ] && ! grep -q '^frozen 1' "$td/cgroup.events"; do sleep 0.1; n=$((n+1)); done
grep -q '^frozen 1' "$td/cgroup.events" || fail "cgroup.events does not say frozen"
s1=$(wc -c < /run/iso-ticks); sleep 0.5; s2=$(wc -c < /run/iso-ticks)
[ "$s1" = "$s2" ] || fail "the ticker kept running while paused"
supctl resume iso-ticker >/dev/null || fail "resume failed"
[ "$(field iso-ticker state)" = running ] || fail "state after resume is $(field iso-ticker state)"
n=0; while [ $n -lt 30 ] && [ "$(wc -c < /run/iso-ticks)" = "$s2" ]; do sleep 0.1; n=$((n+1)); done
[ "$(wc -c < /run/iso-ticks)" != "$s2" ] || fail "no progress after resume"
supctl pause iso-ticker >/dev/null
supctl stop iso-ticker >/dev/null || fail "stopping a paused unit failed"
[ "$(field iso-ticker state)" = stopped ] || fail "paused unit did not stop: $(field iso-ticker state)"

[ $ok = 1 ] && echo "VM-CHECK PASS isolation"
