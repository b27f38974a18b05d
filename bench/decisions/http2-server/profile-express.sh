#!/usr/bin/env bash
# Diagnostic: CPU profile of express server under 5 s load, per Node version.
set -u
cd "$(dirname "$0")"
OUT=results/profile; mkdir -p "$OUT"
for v in node20 node26; do
  N=node; [ "$v" = node26 ] && N=../../../node_modules/.bin/node
  rm -rf "$OUT/$v"; mkdir -p "$OUT/$v"
  $N --cpu-prof --cpu-prof-dir="$OUT/$v" express-server.js 3030 >"$OUT/$v-server.log" 2>&1 & P=$!
  sleep 1.5
  timeout 15 node node_modules/.bin/autocannon -c 50 -d 5 http://127.0.0.1:3030/ > "$OUT/$v-ac.txt" 2>&1
  kill -INT $P; wait $P 2>/dev/null
done
