#!/usr/bin/env bash
# Boots Debian's cloud kernel in QEMU (TCG) with an initramfs whose /init is the static
# sup, and checks from the serial console that sup does its PID 1 work.
#
# Needs: qemu-system-x86_64, busybox (static), cpio, gzip, apt-get (for the kernel
# package only; cached under target/vm/). .ci/run installs them.
#
# Generic hook: every tests/vm/*.yaml goes to /etc/sup.d and every tests/vm/check-*.sh runs
# after boot (busybox sh, supctl on PATH, /checks/lib.sh helpers). check-NAME.sh must print
# `VM-CHECK PASS NAME`; any `VM-CHECK FAIL` fails this script. `VM-CHECK SKIP NAME: why` is
# accepted (a build that reports a feature as not supported) and listed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

vm=target/vm
timeout_s=${VM_TIMEOUT:-150}
mkdir -p "$vm"

for tool in qemu-system-x86_64 cpio gzip; do
  command -v "$tool" >/dev/null || { echo "vm-test: $tool is missing (apt-get install qemu-system-x86 cpio)" >&2; exit 1; }
done
busybox=$(command -v busybox || true)
if [ -z "$busybox" ] || readelf -l "$busybox" | grep -q INTERP; then
  echo "vm-test: a static busybox is needed (apt-get install busybox-static)" >&2
  exit 1
fi

# 1. The kernel: the package linux-image-cloud-amd64 depends on, through apt.
kernel=$vm/vmlinuz
if [ ! -s "$kernel" ]; then
  pkg=$(apt-cache depends linux-image-cloud-amd64 | sed -n 's/.*Depends: \(linux-image-[0-9].*-cloud-amd64\)$/\1/p' | head -n1)
  [ -n "$pkg" ] || { echo "vm-test: cannot find the cloud kernel package (apt-get update?)" >&2; exit 1; }
  deb=$(ls "$vm"/"$pkg"_*.deb 2>/dev/null | head -n1 || true)
  if [ -z "$deb" ]; then
    (cd "$vm" && apt-get download "$pkg" >/dev/null)
    deb=$(ls "$vm"/"$pkg"_*.deb | head -n1)
  fi
  rm -rf "$vm/kpkg"
  dpkg -x "$deb" "$vm/kpkg"
  cp "$vm"/kpkg/boot/vmlinuz-* "$kernel"
  rm -rf "$vm/kpkg"
fi

# 2. Static sup and supctl.
scripts/build-static.sh
bin=target/x86_64-unknown-linux-gnu/release

# 3. The initramfs.
root=$vm/root
rm -rf "$root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc/sup.d,checks,dev,proc,sys,run,tmp,root,var/log}
cp "$bin/sup" "$root/init"
cp "$bin/supctl" "$root/bin/supctl"
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
  [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done
mknod -m 600 "$root/dev/console" c 5 1 2>/dev/null || true
mknod -m 666 "$root/dev/null" c 1 3 2>/dev/null || true
echo supvm > "$root/etc/hostname"
echo 'root:x:0:0:root:/root:/bin/sh' > "$root/etc/passwd"
echo 'root:x:0:' > "$root/etc/group"
chmod 1777 "$root/tmp"
cp tests/vm/*.yaml "$root/etc/sup.d/"
cp tests/vm/lib.sh tests/vm/check-*.sh "$root/checks/"
expected=()
for c in tests/vm/check-*.sh; do
  n=${c##*/check-}; expected+=("${n%.sh}")
done
cat > "$root/checks/run.sh" <<'RUN'
#!/bin/sh
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
if [ "${vmend:-}" = sigint ]; then
  # Second boot: a leftover that ignores SIGTERM, then Ctrl-Alt-Del's signal to PID 1.
  # It moves itself to the root cgroup: out of its unit, which would otherwise kill it
  # when it stops (a unit's stop kills its whole cgroup).
  setsid sh -c 'echo $$ > /sys/fs/cgroup/cgroup.procs; trap "" TERM; while :; do sleep 1; done' </dev/null >/dev/null 2>&1 &
  # This boot's log directory cannot be written: sup's log must be in the kernel log too.
  dmesg | grep -q 'sup: info: sup .* starting as PID 1' && echo "VM-KMSG ok"
  echo "VM-END sigint"
  kill -INT 1
  exit 0
fi
for c in /checks/check-*.sh; do
  sh "$c" 2>&1 || true
done
echo "VM-CHECKS DONE"
supctl poweroff
RUN
cat > "$root/etc/sup.d/vm-checks.yaml" <<'UNIT'
description: runs /checks/check-*.sh after boot, then powers off
type: oneshot
start_timeout: 5m
log: inherit
exec: ["/bin/sh", "/checks/run.sh"]
UNIT
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) | gzip -1 > "$vm/initramfs.cpio.gz"

# 4. Boot. boot NAME [KERNEL ARGS...]: runs the VM, console in target/vm/console-NAME.log.txt.
rc=0
boot() {
  local name=$1; shift
  log=$vm/console-$name.log
  echo "vm-test: booting $(basename "$(readlink -f "$kernel")") with $(du -h "$vm/initramfs.cpio.gz" | cut -f1) initramfs (TCG): $name"
  start=$(date +%s)
  set +e
  timeout "$timeout_s" qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m 512 \
    -nographic -no-reboot -kernel "$kernel" -initrd "$vm/initramfs.cpio.gz" \
    -append "console=ttyS0 panic=-1 quiet $*" </dev/null >"$log" 2>&1
  rc=$?
  set -e
  tr -d '\r' < "$log" > "$log.txt"
  elapsed=$(( $(date +%s) - start ))
}
problems=()
fail_with_log() {
  echo "---- console log ($log.txt) ----"
  cat "$log.txt"
  echo "---- end of console log ----"
  for p in "${problems[@]}"; do echo "vm-test: FAIL: $p"; done
  exit 1
}

# 5. First boot: the checks, then `supctl poweroff`.
boot poweroff
[ $rc -eq 0 ] || problems+=("qemu exited with $rc (124: timed out after ${timeout_s}s)")
grep -q 'starting as PID 1 (machine init)' "$log.txt" || problems+=("sup did not start as the machine's PID 1")
for n in "${expected[@]}"; do
  grep -q "VM-CHECK PASS $n\$" "$log.txt" || grep -q "VM-CHECK SKIP $n:" "$log.txt" ||
    problems+=("no 'VM-CHECK PASS $n' line")
done
while IFS= read -r line; do problems+=("${line#*VM-CHECK FAIL }"); done < <(grep 'VM-CHECK FAIL' "$log.txt" || true)
grep -q 'VM-CHECKS DONE' "$log.txt" || problems+=("the checks did not finish")
grep -qE 'Kernel panic' "$log.txt" && problems+=("kernel panic")
grep -q 'reboot: Power down' "$log.txt" || problems+=("the VM did not power off")
# Shutdown in reverse dependency order: c stopped before b stops, b stopped before a stops.
line_of() { grep -n -m1 -- "$1" "$log.txt" | cut -d: -f1; }
c_stopped=$(line_of 'order-c: stopping -> stopped')
b_stopping=$(line_of 'order-b: running -> stopping')
b_stopped=$(line_of 'order-b: stopping -> stopped')
a_stopping=$(line_of 'order-a: running -> stopping')
if [ -z "$c_stopped" ] || [ -z "$b_stopping" ] || [ -z "$b_stopped" ] || [ -z "$a_stopping" ] ||
   [ "$c_stopped" -ge "$b_stopping" ] || [ "$b_stopped" -ge "$a_stopping" ]; then
  problems+=("poweroff did not stop order-c, order-b, order-a in that order")
fi
grep -q 'poweroff: syncing, unmounting' "$log.txt" || problems+=("sup did not reach reboot(2)")
[ ${#problems[@]} -eq 0 ] || fail_with_log
grep -o 'VM-CHECK PASS .*' "$log.txt" | sed 's/^/vm-test: /'
skips=$(grep -o 'VM-CHECK SKIP .*' "$log.txt" || true)
[ -z "$skips" ] || echo "$skips" | sed 's/^/vm-test: /'
echo "vm-test: poweroff boot ok: booted, checked and powered off in ${elapsed}s"
total=$elapsed

# 6. Second boot: SIGINT to PID 1 (Ctrl-Alt-Del) reboots, after sweeping a leftover
# that ignores SIGTERM (SIGKILL after the 5 s grace period). Its log directory is not
# writable, so sup logs to /dev/kmsg and the console.
boot sigint vmend=sigint SUP_LOG_DIR=/proc/sup-cannot-log-here
[ $rc -eq 0 ] || problems+=("qemu exited with $rc (124: timed out after ${timeout_s}s)")
grep -q 'VM-END sigint' "$log.txt" || problems+=("the second boot did not get to its end")
grep -q 'received SIGINT' "$log.txt" || problems+=("sup did not take SIGINT")
grep -q 'logging to /dev/kmsg and the console' "$log.txt" || problems+=("no log fallback for an unwritable log directory")
grep -q 'VM-KMSG ok' "$log.txt" || problems+=("sup's log did not reach /dev/kmsg")
grep -q 'orphan-maker: .*orphan-maker-ran' "$log.txt" || problems+=("a unit's output did not reach the console")
grep -q 'grace period over: killing what is left' "$log.txt" || problems+=("the stubborn leftover was not swept")
grep -q 'reboot: syncing, unmounting' "$log.txt" || problems+=("sup did not reach reboot(2) with RESTART")
grep -q 'reboot: Restarting system' "$log.txt" || problems+=("the kernel did not restart")
grep -qE 'Kernel panic' "$log.txt" && problems+=("kernel panic")
[ ${#problems[@]} -eq 0 ] || fail_with_log
echo "vm-test: sigint boot ok: SIGINT swept and rebooted in ${elapsed}s"
total=$((total + elapsed))
echo "vm-test: ok (${total}s of VM time)"
