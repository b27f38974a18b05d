#!/usr/bin/env bash
# Diagnostic: server-process and autocannon CPU time during a 5 s express run, per Node version.
set -u
cd "$(dirname "$0")"
for v in node20 node26; do
  N=node; [ "$v" = node26 ] && N=../../../node_modules/.bin/node
  $N express-server.js 3040 >/dev/null 2>&1 & P=$!
  sleep 1.5
  t0=$(awk '{print $14+$15}' /proc/$P/stat)
  /usr/bin/time -f "autocannon cpu user=%U sys=%S wall=%e" timeout 15 node node_modules/.bin/autocannon -c 50 -d 5 http://127.0.0.1:3040/ 2>&1 | grep -E "requests in|autocannon cpu"
  t1=$(awk '{print $14+$15}' /proc/$P/stat)
  echo "$v server cpu seconds over run: $(echo "scale=2; ($t1-$t0)/$(getconf CLK_TCK)" | bc)"
  kill -INT $P; wait $P 2>/dev/null
done
