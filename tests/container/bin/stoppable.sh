#!/bin/sh
# The main command of the stop test: on TERM exits with code $1 (no argument: no trap,
# so TERM kills it). Prints `ready` once the trap is set.
if [ $# -gt 0 ]; then
  trap "echo stopping with $1; exit $1" TERM
fi
echo ready
while :; do
  sleep 1000 &
  wait $!
done
