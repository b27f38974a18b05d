#!/usr/bin/env bash
# express 5 over node:http: system Node 20 vs pinned Node 26.10.0; 3 alternating autocannon runs each.
set -u
cd "$(dirname "$0")"
N20=node
N26=../../../node_modules/.bin/node
OUT=results/express; mkdir -p "$OUT"
$N20 express-server.js 3020 >"$OUT/node20-server.log" 2>&1 & P20=$!
$N26 express-server.js 3026 >"$OUT/node26-server.log" 2>&1 & P26=$!
sleep 1.5
grep -q listening "$OUT/node20-server.log" && grep -q listening "$OUT/node26-server.log" || { echo "servers not listening"; cat "$OUT"/*-server.log; kill $P20 $P26; exit 1; }
AC="node node_modules/.bin/autocannon"   # autocannon always runs on system Node 20
# warm-up (not recorded)
timeout 15 $AC -c 50 -d 3 http://127.0.0.1:3020/ >/dev/null 2>&1
timeout 15 $AC -c 50 -d 3 http://127.0.0.1:3026/ >/dev/null 2>&1
for run in 1 2 3; do
  for v in node20 node26; do
    port=3020; [ "$v" = node26 ] && port=3026
    timeout 15 $AC -c 50 -d 10 --json http://127.0.0.1:$port/ > "$OUT/$v-run$run.json" 2>"$OUT/$v-run$run.err"
    echo "$v run$run rc=$? $(node -e 'const r=require(process.argv[1]);console.log(`req/s(avg)=${r.requests.average} total=${r.requests.total} non2xx=${r.non2xx} errors=${r.errors} timeouts=${r.timeouts} p50=${r.latency.p50}ms p99=${r.latency.p99}ms mean=${r.latency.average}ms`)' "$OUT/$v-run$run.json")"
  done
done
kill $P20 $P26; wait $P20 $P26 2>/dev/null
