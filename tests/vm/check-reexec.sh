# supctl reexec as the machine's PID 1 (three times): sup is still PID 1, the same
# program, and every unit keeps its process and its restart count.
. /checks/lib.sh
ok=1
fail() { vm_fail "reexec/$1" "$2"; ok=0; }

vm_wait_state order-c running 20 || fail setup "order-c is $(vm_field order-c state)"
# UNIT PID RESTARTS of every unit (the rows of the table; notes under a row are indented).
table() { supctl status | grep -v '^ ' | awk 'NR > 1 && $1 != "" { print $1, $4, $5 }'; }
before=$(table)
for i in 1 2 3; do
  out=$(supctl reexec 2>&1) || fail reexec "supctl reexec $i: $out"
done
[ "$(readlink /proc/1/exe)" = /init ] || fail is-pid1 "/proc/1/exe is $(readlink /proc/1/exe)"
after=$(table)
[ "$before" = "$after" ] || fail units "before: $before / after: $after"
# Still supervising: a unit restarts by request.
supctl restart order-c >/dev/null 2>&1 || fail restart "order-c did not restart after the reexecs"

[ $ok = 1 ] && vm_pass reexec
