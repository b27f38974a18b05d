#!/usr/bin/env bash
# Diagnostic: per-thread CPU (ticks, CLK_TCK=100) of the express server during a 5 s autocannon run, plus GC event counts.
set -u
cd "$(dirname "$0")"
for v in node20 node26; do
  N=node; [ "$v" = node26 ] && N=../../../node_modules/.bin/node
  $N --trace-gc express-server.js 3050 >results/gc-$v.log 2>&1 & P=$!
  sleep 1.5
  declare -A T0=()
  for t in /proc/$P/task/*; do T0[$(basename $t)]=$(awk '{print $14+$15}' $t/stat); done
  timeout 15 node node_modules/.bin/autocannon -c 50 -d 5 http://127.0.0.1:3050/ 2>&1 | grep -E "requests in"
  echo "$v per-thread cpu ticks during run:"
  for t in /proc/$P/task/*; do id=$(basename $t); d=$(( $(awk '{print $14+$15}' $t/stat) - ${T0[$id]:-0} )); [ $d -gt 0 ] && echo "  $(cat $t/comm): $d"; done
  kill -INT $P; wait $P 2>/dev/null
  echo "  GC events (whole process life): scavenge=$(grep -c Scavenge results/gc-$v.log) mark-compact=$(grep -c -E 'Mark-Compact|Mark-sweep' results/gc-$v.log)"
  unset T0
done
