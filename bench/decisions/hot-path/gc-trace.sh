#!/bin/bash
# The GC's view of one request (issue 12): one worker with --trace-gc under wrk, with ABLATE=PIECE
# as in ablation.sh (or `none` for ferrite as shipped). Prints the bytes the scavenges freed per
# request (about what a request allocates) and the median bytes a scavenge promoted to old space,
# per request (what outlived two scavenges: old-space growth, mark-compacts). Unlike CPU time on
# this VM, both hold still from run to run.
#   usage: gc-trace.sh PIECE [PATH]   env: LOG_LEVEL (info), TOKEN (bearer for PATH), DATABASE_URL
set -euo pipefail
cd "$(dirname "$0")/../../.."
export PATH="$PWD/node_modules/.bin:$PATH"
P=$1; U=${2:-/api/health}; D=$(mktemp -d)
command -v wrk > /dev/null || apt-get install -y -q wrk > /dev/null
PORT=$(node -e "const s=require('net').createServer().listen(0,()=>{console.log(s.address().port);s.close()})")
pre=(); [ "$P" != none ] && pre=(--import ./bench/decisions/hot-path/ablate.ts)
ABLATE=$P DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test} NODE_ENV=production \
  JWT_SECRET=abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH WORKERS=1 HOST=127.0.0.1 HTTP_PORT=$PORT \
  HTTPS_PORT=off METRICS_PORT=0 DATA_DIR="$D" LOG_LEVEL="${LOG_LEVEL:-info}" \
  MINER_CMD="$(command -v node)" MINER_ARGS=src/modules/rig/sim-miner.ts \
  node --trace-gc "${pre[@]}" src/main.js > "$D/log" 2>&1 &
primary=$!
trap 'kill -TERM $primary 2> /dev/null || true' EXIT
for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/api/health" && break; sleep 0.1; done
FW=$(pgrep -P $primary -f ferrite-worker | head -1)
# /api/stats answers the simulated miner's numbers (503 while no miner runs).
[ -n "${TOKEN:-}" ] && curl -sf -o /dev/null -X POST -H "authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/api/miner/start"
sleep 2
before=$(grep -c "\[$FW:" "$D/log")
n=$(wrk -t1 -c64 -d4s "http://127.0.0.1:$PORT$U" -H "authorization: Bearer ${TOKEN:-x}" | awk '/requests in/{print $1}')
# "Scavenge A (a) -> B (b) MB": A before, B after; B minus the previous B is what it promoted.
grep "\[$FW:" "$D/log" | tail -n +$((before + 1)) | grep Scavenge |
  sed -E 's/.*Scavenge ([0-9.]+) \([0-9.]+\) -> ([0-9.]+).*/\1 \2/' |
  awk -v n="$n" -v piece="$P" -v path="$U" '
    { freed += ($1 - $2) * 1048576; if (NR > 1) d[NR - 1] = ($2 - prev) * 1048576; prev = $2 }
    END {
      m = NR - 1; for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (d[j] < d[i]) { t = d[i]; d[i] = d[j]; d[j] = t }
      med = m > 0 ? d[int((m + 1) / 2)] : 0; if (med < 0) med = 0
      printf "%s %s: %d requests, %d scavenges, %.1f KB allocated per request, %.0f B promoted per request (median)\n",
        piece, path, n, NR, freed / n / 1024, med * NR / n }'
