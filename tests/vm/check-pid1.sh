# sup is PID 1; pseudo-filesystems and cgroup2 (with controllers) are mounted; hostname;
# units started in dependency order; orphans reaped.
. /checks/lib.sh
ok=1
fail() { vm_fail "pid1/$1" "$2"; ok=0; }

[ "$(readlink /proc/1/exe)" = /init ] || fail is-pid1 "/proc/1/exe is $(readlink /proc/1/exe)"
supctl status >/dev/null 2>&1 || fail is-pid1 "supctl cannot reach PID 1's socket"

for m in /proc:proc /sys:sysfs /dev:devtmpfs /dev/pts:devpts /dev/shm:tmpfs /run:tmpfs /sys/fs/cgroup:cgroup2; do
  dir=${m%%:*}; fs=${m#*:}
  awk -v d="$dir" -v f="$fs" '$2 == d && $3 == f { found = 1 } END { exit !found }' /proc/mounts ||
    fail mounts "$dir is not mounted as $fs"
done
for c in memory pids cpu io; do
  grep -qw "$c" /sys/fs/cgroup/cgroup.controllers || fail cgroup2 "controller $c missing: $(cat /sys/fs/cgroup/cgroup.controllers)"
done
[ "$(hostname)" = supvm ] || fail hostname "hostname is $(hostname), /etc/hostname says supvm"

vm_wait_state order-c running 20 || fail order "order-c is $(vm_field order-c state)"
got=$(tr '\n' ' ' < /run/order)
[ "$got" = "order-a order-b order-c " ] || fail order "start order was: $got"

vm_wait_state orphan-maker done 20 || fail reap "orphan-maker is $(vm_field orphan-maker state)"
sleep 1
zombies=$(cat /proc/[0-9]*/stat 2>/dev/null | awk '{ sub(/.*\) /, ""); if ($1 == "Z") n++ } END { print n + 0 }')
[ "$zombies" = 0 ] || fail reap "$zombies zombie processes left"

[ $ok = 1 ] && vm_pass pid1
