#!/bin/sh
# The main command of the signal test: prints `got NAME` on stdout for every signal it
# receives, then `ready` once its traps are set. TERM ends it with exit code 0.
# A background sleep keeps it waiting in `wait`, which a trapped signal interrupts at once.
ulimit -c 0
for s in HUP INT QUIT USR1 USR2 WINCH ALRM CONT ILL TRAP ABRT BUS FPE SEGV SYS PIPE; do
  trap "echo got $s" "$s"
done
trap 'echo got TERM; exit 0' TERM
echo ready
while :; do
  sleep 1000 &
  wait $!
done
