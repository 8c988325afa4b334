# memory_max hog is OOM-killed and reported `oom`; a pids_max fork bomb is contained.
# Needs the cgroup backend (issue 3): a build without it says "not supported yet" and
# this check reports SKIP, never PASS.
. /checks/lib.sh
ok=1
fail() { vm_fail "cgroup/$1" "$2"; ok=0; }

msg=$(vm_field cgroup-hog message)
case "$msg" in
  *"not supported yet"*) vm_skip cgroup "this build does not enforce resources ($msg)"; exit 0 ;;
esac

vm_wait_state cgroup-hog failed 30 || fail oom "cgroup-hog is $(vm_field cgroup-hog state), wanted failed"
reason=$(vm_field cgroup-hog reason)
[ "$reason" = oom ] || fail oom "cgroup-hog reason is '$reason', wanted oom"

n=0
while [ $n -lt 50 ]; do
  [ "$(vm_field cgroup-forkbomb state)" = running ] && break
  sleep 0.2; n=$((n + 1))
done
sleep 2
pids=$(vm_field cgroup-forkbomb pids)
cg=$(vm_field cgroup-forkbomb cgroup)
[ -n "$pids" ] && [ "$pids" -le 16 ] || fail pids "cgroup-forkbomb has '$pids' processes, limit 16"
if [ -n "$cg" ] && [ -f "/sys/fs/cgroup$cg/pids.events" ] || [ -f "$cg/pids.events" ]; then
  f="/sys/fs/cgroup$cg/pids.events"; [ -f "$f" ] || f="$cg/pids.events"
  hits=$(awk '$1 == "max" { print $2 }' "$f")
  [ "${hits:-0}" -gt 0 ] || fail pids "pids.events max is ${hits:-0}: the limit was never hit"
fi
total=$(ls -d /proc/[0-9]* | wc -l)
[ "$total" -lt 150 ] || fail pids "$total processes on the machine: the bomb escaped"

[ $ok = 1 ] && vm_pass cgroup
