#!/bin/bash
# ferrite (one worker) and the express peer (one worker) profiled over the same wrk run length,
# one after the other: µs per request by function and by package. The profiler samples wall
# time, so a syscall during which the process was preempted (the socket write that wakes wrk)
# reads larger than its CPU cost; compare JS functions, and read CPU per request from ab.sh.
#   usage: side-by-side.sh [PATH]   env: LOG_LEVEL (info), TOP (25), DATABASE_URL
set -euo pipefail
cd "$(dirname "$0")/../../.."
export PATH="$PWD/node_modules/.bin:$PATH"
U=${1:-/api/health}; H=bench/decisions/hot-path; D=$(mktemp -d)
DB=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
command -v wrk > /dev/null || apt-get install -y -q wrk > /dev/null
free_port() { node -e "const s=require('net').createServer().listen(0,()=>{console.log(s.address().port);s.close()})"; }
PF=$(free_port); PE=$(free_port)
WORKERS=1 DATABASE_URL="$DB" NODE_ENV=production JWT_SECRET=abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH \
  HOST=127.0.0.1 HTTP_PORT=$PF HTTPS_PORT=off METRICS_PORT=0 DATA_DIR="$D" LOG_LEVEL="${LOG_LEVEL:-info}" \
  MINER_CMD="$(command -v node)" MINER_ARGS=src/modules/rig/sim-miner.ts \
  node --import ./$H/cpu-probe.mjs src/main.js > "$D/ferrite.log" 2>&1 &
FP=$!
PORT=$PE WORKERS=1 node --import ./$H/cpu-probe.mjs bench/peers/express.ts > "$D/express.log" 2>&1 &
EP=$!
trap 'kill -TERM $FP $EP 2> /dev/null || true' EXIT
for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$PF/api/health" && curl -sf -o /dev/null "http://127.0.0.1:$PE/api/health" && break; sleep 0.1; done
FW=$(pgrep -P $FP -f ferrite-worker | head -1); EW=$(pgrep -P $EP | head -1)
for pw in "$PF $FW ferrite" "$PE $EW express"; do
  read -r port pid name <<< "$pw"
  wrk -t1 -c64 -d2s "http://127.0.0.1:$port$U" > /dev/null
  kill -USR2 "$pid"; sleep 0.2
  n=$(wrk -t1 -c64 -d4s "http://127.0.0.1:$port$U" | awk '/requests in/{print $1}')
  kill -USR2 "$pid"; sleep 1
  echo "== $name: $n requests of $U"
  node $H/profile-per-request.ts "/tmp/cpuprof.$pid.cpuprofile" "$n"
done
