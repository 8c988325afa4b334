# Pools on cgroup v2: each instance's group is below the pool's group, which carries
# resources_total while each instance has its own resources; `supctl scale` adds an
# instance in the same place and removes it again.
. /checks/lib.sh
ok=1
fail() { vm_fail "pools/$1" "$2"; ok=0; }

# A cgroup field as a directory (status shows it below /sys/fs/cgroup or absolute).
cg_dir() {
  _c=$(vm_field "$1" cgroup)
  if [ -d "/sys/fs/cgroup$_c" ]; then echo "/sys/fs/cgroup$_c"; else echo "$_c"; fi
}

for n in 1 2; do
  vm_wait_state "pool-sleep@$n" running 30 || fail start "pool-sleep@$n is $(vm_field pool-sleep@$n state)"
done
d1=$(cg_dir pool-sleep@1)
d2=$(cg_dir pool-sleep@2)
case "$d1" in */pool-sleep/pool-sleep@1) ;; *) fail path "pool-sleep@1 is in '$d1'" ;; esac
[ "${d1%/*}" = "${d2%/*}" ] || fail path "the instances are in different pools: $d1 $d2"
own=$(cat "$d1/memory.max" 2>/dev/null)
total=$(cat "${d1%/*}/memory.max" 2>/dev/null)
pids=$(cat "${d1%/*}/pids.max" 2>/dev/null)
[ "$own" = 33554432 ] || fail limits "instance memory.max is '$own', wanted 33554432"
[ "$total" = 50331648 ] || fail limits "pool memory.max is '$total', wanted 50331648"
[ "$pids" = 10 ] || fail limits "pool pids.max is '$pids', wanted 10"
p=$(vm_field pool-sleep@2 pid)
grep -q "^0::.*/pool-sleep/pool-sleep@2$" "/proc/$p/cgroup" || fail place "pid $p is in $(cat /proc/$p/cgroup)"

supctl scale pool-sleep 3 >/dev/null 2>&1 || fail scale "supctl scale pool-sleep 3 failed"
[ "$(vm_field pool-sleep@3 state)" = running ] || fail scale "pool-sleep@3 is $(vm_field pool-sleep@3 state)"
d3=$(cg_dir pool-sleep@3)
[ "${d3%/*}" = "${d1%/*}" ] || fail scale "pool-sleep@3 is in '$d3'"
supctl scale pool-sleep 2 >/dev/null 2>&1 || fail scale "supctl scale pool-sleep 2 failed"
supctl status pool-sleep@3 >/dev/null 2>&1 && fail scale "pool-sleep@3 is still there"

[ $ok = 1 ] && vm_pass pools
