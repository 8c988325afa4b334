# Helpers for tests/vm/check-*.sh (busybox sh inside the VM; supctl on PATH).
# A check prints `VM-CHECK PASS NAME` or `VM-CHECK FAIL NAME: why` (or, only when this
# build says it lacks a feature, `VM-CHECK SKIP NAME: why`).

vm_pass() { echo "VM-CHECK PASS $1"; }
vm_fail() { echo "VM-CHECK FAIL $1: $2"; }
vm_skip() { echo "VM-CHECK SKIP $1: $2"; }

# vm_field UNIT FIELD: one field of `supctl --json status UNIT` (strings unquoted).
vm_field() {
  _j=$(supctl --json status "$1" 2>/dev/null)
  _v=$(echo "$_j" | sed -n "s/.*\"$2\":\"\([^\"]*\)\".*/\1/p")
  [ -n "$_v" ] || _v=$(echo "$_j" | sed -n "s/.*\"$2\":\([0-9a-z]*\).*/\1/p")
  echo "$_v"
}

# vm_wait_state UNIT STATE SECONDS: waits (polling every 0.2 s) until UNIT is in STATE.
vm_wait_state() {
  n=$(( $3 * 5 ))
  while [ "$n" -gt 0 ]; do
    [ "$(vm_field "$1" state)" = "$2" ] && return 0
    sleep 0.2
    n=$((n - 1))
  done
  return 1
}
