#!/usr/bin/env bash
# HTTP/2 TLS: spdy@4.0.2 vs node:http2 on system Node 20; 3 alternating runs each.
# --duration (bench-h2-duration.sh): each run measured over 5 s after a 1 s warm-up instead of
# for 50,000 requests, so both servers are measured over equal time.
set -u
cd "$(dirname "$0")"
NODE=node
if [ "${1:-}" = --duration ]; then
  OUT=results/h2-duration; LOAD=(-D 5 --warm-up-time=1)
else
  OUT=results/h2; LOAD=(-n 50000)
fi
mkdir -p "$OUT"
$NODE spdy-server.js 8443 >"$OUT/spdy-server.log" 2>&1 & SP=$!
$NODE http2-server.js 8444 >"$OUT/http2-server.log" 2>&1 & HP=$!
sleep 1.5
for p in $SP $HP; do kill -0 $p 2>/dev/null || { echo "server $p failed to start"; cat "$OUT"/*-server.log; kill $SP $HP 2>/dev/null; exit 1; }; done
grep -q listening "$OUT/spdy-server.log" && grep -q listening "$OUT/http2-server.log" || { echo "servers not listening"; kill $SP $HP; exit 1; }
# warm-up (not recorded)
timeout 15 h2load -n 5000 -c 10 -m 10 https://127.0.0.1:8443/ >/dev/null
timeout 15 h2load -n 5000 -c 10 -m 10 https://127.0.0.1:8444/ >/dev/null
for run in 1 2 3; do
  for impl in spdy http2; do
    port=8443; [ "$impl" = http2 ] && port=8444
    timeout 15 h2load "${LOAD[@]}" -c 10 -m 10 https://127.0.0.1:$port/ > "$OUT/$impl-run$run.txt" 2>&1
    echo "rc=$?" >> "$OUT/$impl-run$run.txt"
    echo "$impl run$run: $(grep -E '^finished in' "$OUT/$impl-run$run.txt") | $(grep -E '^requests:' "$OUT/$impl-run$run.txt")"
  done
done
kill $SP $HP; wait $SP $HP 2>/dev/null
