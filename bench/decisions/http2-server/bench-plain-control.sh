#!/usr/bin/env bash
# Control: plain node:http (no express), Node 20 vs Node 26, 2 alternating 5 s autocannon runs, plus server CPU sampling.
set -u
cd "$(dirname "$0")"
OUT=results/plain-control; mkdir -p "$OUT"
node plain-http-server.js 3120 >"$OUT/node20-server.log" 2>&1 & P20=$!
../../../node_modules/.bin/node plain-http-server.js 3126 >"$OUT/node26-server.log" 2>&1 & P26=$!
sleep 1.5
AC="node node_modules/.bin/autocannon"
for run in 1 2; do
  for v in node20 node26; do
    port=3120; pid=$P20; [ "$v" = node26 ] && { port=3126; pid=$P26; }
    t0=$(awk '{print $14+$15}' /proc/$pid/stat)
    timeout 15 $AC -c 50 -d 5 --json http://127.0.0.1:$port/ > "$OUT/$v-run$run.json" 2>/dev/null
    t1=$(awk '{print $14+$15}' /proc/$pid/stat)
    echo "$v run$run $(node -e 'const r=require(process.argv[1]);console.log(`req/s(avg)=${r.requests.average} p50=${r.latency.p50}ms p99=${r.latency.p99}ms`)' "$OUT/$v-run$run.json") server_cpu_ticks=$((t1-t0)) (CLK_TCK=$(getconf CLK_TCK), ~5 s run)"
  done
done
kill $P20 $P26; wait $P20 $P26 2>/dev/null
