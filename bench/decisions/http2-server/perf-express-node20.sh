#!/usr/bin/env bash
# Diagnostic (as run once for the report): native+JIT profile of the express server on Node 20 under load.
set -u
cd "$(dirname "$0")"; mkdir -p results/perf
node --perf-basic-prof express-server.js 3070 >/dev/null 2>&1 & P=$!
sleep 1.5
(timeout 15 node node_modules/.bin/autocannon -c 50 -d 6 http://127.0.0.1:3070/ > results/perf/ac.txt 2>&1 &)
sleep 1
timeout 10 perf record -F 999 -g -p $P -o results/perf/node20.data -- sleep 4
sleep 2; kill -INT $P; wait $P 2>/dev/null
perf report -i results/perf/node20.data --no-children --sort symbol --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -30
rm -f /tmp/perf-$P.map
