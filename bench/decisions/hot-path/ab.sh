#!/bin/bash
# Before/after on one machine in one run: two ferrite checkouts (A and B), one worker each,
# both started, then wrk alternates between them ROUNDS times per URL, so drift over minutes
# hits both alike. Prints, per URL, each round's req/s and the worker's CPU µs per request
# (from /proc), then the medians and B ÷ A.
#
# usage: ab.sh DIR_A DIR_B [PATH ...]   (default paths: /api/health /api/stats /api/nope)
#   env: ROUNDS (5), SECONDS_PER_RUN (3), CONNECTIONS (64), DATABASE_URL, LOG_LEVEL (info),
#        A_ENV / B_ENV: extra VAR=VALUE words for one side; ABLATE=piece there loads
#        ablate.ts, which removes that piece of per-request work (ablate-hooks.ts).
# Ends with one line per path for scripts: RESULT path rpsA rpsB nsA nsB ratio×1000, where ratio
# is the median over rounds of B's CPU per request ÷ A's (the figure least moved by drift).
# A worktree of an earlier commit makes DIR_A: git worktree add /tmp/before <commit>
#   (and ln -s "$PWD/node_modules" /tmp/before/node_modules).
set -euo pipefail
A=$(realpath "$1"); B=$(realpath "$2"); shift 2
PATHS=("${@:-/api/health}")
[ $# -eq 0 ] && PATHS=(/api/health /api/stats /api/nope)
ROUNDS=${ROUNDS:-5}; SECS=${SECONDS_PER_RUN:-3}; CONN=${CONNECTIONS:-64}
DB=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
SECRET=abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH
export PATH="$B/node_modules/.bin:$PATH"
command -v wrk > /dev/null || apt-get install -y -q wrk > /dev/null

free_port() { node -e "const s=require('net').createServer().listen(0,()=>{console.log(s.address().port);s.close()})"; }
pids=()
start() { # dir port extra-env
  local dir=$1 port=$2 extra=$3 data preload=()
  data=$(mktemp -d)
  [[ " $extra" == *" ABLATE="* ]] && preload=(--import "$dir/bench/decisions/hot-path/ablate.ts")
  # The simulated miner moved into the rig module; an older checkout has it where it was.
  local sim="$dir/src/modules/rig/sim-miner.ts"
  [ -f "$sim" ] || sim="$dir/src/miner/sim-miner.ts"
  # shellcheck disable=SC2086 # extra is VAR=VALUE words
  (cd "$dir" && env DATABASE_URL="$DB" NODE_ENV=production JWT_SECRET=$SECRET WORKERS=1 HOST=127.0.0.1 \
    HTTP_PORT="$port" HTTPS_PORT=off METRICS_PORT=0 DATA_DIR="$data" LOG_LEVEL="${LOG_LEVEL:-info}" \
    MINER_CMD="$(command -v node)" MINER_ARGS="$sim" $extra \
    node "${preload[@]}" src/main.js > "$data/service.log" 2>&1) &
  pids+=($!)
  for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/api/health" && return; sleep 0.1; done
  echo "the service in $dir ($extra) did not start: $data/service.log" >&2
  tail -5 "$data/service.log" >&2
  exit 1
}
cleanup() { for p in "${pids[@]}"; do pkill -TERM -P "$p" 2> /dev/null || true; done; sleep 1; }
trap cleanup EXIT

PA=$(free_port); start "$A" "$PA" "${A_ENV:-}"
PB=$(free_port); start "$B" "$PB" "${B_ENV:-}"
worker_of() { # port -> the worker process serving it
  local primary
  primary=$(ss -ltnpH "sport = :$1" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
  pgrep -P "$primary" -f ferrite-worker | head -1 || echo "$primary"
}
WA=$(worker_of "$PA"); WB=$(worker_of "$PB")
TOKEN=$(cd "$B" && node --input-type=module -e "
import { parseConfig } from './src/config.ts';
import { AccessTokens } from './src/modules/auth/auth.tokens.ts';
const tokens = new AccessTokens(parseConfig({ JWT_SECRET: '$SECRET' }));
console.log(await tokens.issue({ id: '00000000-0000-4000-8000-000000000001', scopes: ['miner:read', 'miner:control'] }));")
# /api/stats answers the simulated miner's numbers (503 while no miner runs).
curl -sf -o /dev/null -X POST -H "authorization: Bearer $TOKEN" "http://127.0.0.1:$PA/api/miner/start"
curl -sf -o /dev/null -X POST -H "authorization: Bearer $TOKEN" "http://127.0.0.1:$PB/api/miner/start"
sleep 2

cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
run() { # port worker path -> "rps ns_per_request"
  local c0 c1 out n rps
  c0=$(cpu "$2")
  out=$(wrk -t1 -c"$CONN" -d"${SECS}s" "http://127.0.0.1:$1$3" -H "authorization: Bearer $TOKEN")
  c1=$(cpu "$2")
  n=$(echo "$out" | awk '/requests in/{print $1}')
  rps=$(echo "$out" | awk '/Requests\/sec/{print int($2)}')
  echo "$out" | grep -q 'Non-2xx' && echo "note: $3 on :$1 answered non-2xx: $(echo "$out" | grep Non-2xx)" >&2
  echo "$rps $(((c1 - c0) * 10000000 / n))"
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }

results=()
for path in "${PATHS[@]}"; do
  wrk -t1 -c"$CONN" -d1s "http://127.0.0.1:$PA$path" -H "authorization: Bearer $TOKEN" > /dev/null
  wrk -t1 -c"$CONN" -d1s "http://127.0.0.1:$PB$path" -H "authorization: Bearer $TOKEN" > /dev/null
  ra=(); rb=(); ca=(); cb=()
  for i in $(seq 1 "$ROUNDS"); do
    if ((i % 2)); then read -r r c < <(run "$PA" "$WA" "$path"); ra+=("$r"); ca+=("$c")
      read -r r c < <(run "$PB" "$WB" "$path"); rb+=("$r"); cb+=("$c")
    else read -r r c < <(run "$PB" "$WB" "$path"); rb+=("$r"); cb+=("$c")
      read -r r c < <(run "$PA" "$WA" "$path"); ra+=("$r"); ca+=("$c"); fi
  done
  # Each round's B ÷ A CPU per request: A and B ran seconds apart, so a slow minute hits both.
  ratios=(); for i in "${!ca[@]}"; do ratios+=("$(awk -v a="${ca[$i]}" -v b="${cb[$i]}" 'BEGIN { printf "%d", 1000 * b / a }')"); done
  mratio=$(printf '%s\n' "${ratios[@]}" | median)
  mra=$(printf '%s\n' "${ra[@]}" | median); mrb=$(printf '%s\n' "${rb[@]}" | median)
  mca=$(printf '%s\n' "${ca[@]}" | median); mcb=$(printf '%s\n' "${cb[@]}" | median)
  echo "$path"
  echo "  A req/s: ${ra[*]}   CPU ns/req: ${ca[*]}"
  echo "  B req/s: ${rb[*]}   CPU ns/req: ${cb[*]}"
  awk -v a="$mra" -v b="$mrb" -v x="$mca" -v y="$mcb" 'BEGIN {
    printf "  medians: A %d req/s %d ns/req, B %d req/s %d ns/req; B/A throughput %.2fx, CPU per request %.2fx\n", a, x, b, y, b / a, y / x }'
  awk -v r="$mratio" 'BEGIN { printf "  median of the rounds'"'"' B/A CPU per request: %.2fx\n", r / 1000 }'
  results+=("RESULT $path $mra $mrb $mca $mcb $mratio")
done
printf '%s\n' "${results[@]}"
