#!/bin/bash
# The ABLATE switch is not in the product: add it locally to app.ts/context.ts before using this.
# usage: ab.sh LABEL [ENV=VAL ...] — one ferrite worker under wrk; prints req/s and worker CPU µs per request
label=$1; shift
cd "$(dirname "$0")/../../.."
export PATH="$PWD/node_modules/.bin:$PATH"
rm -rf /tmp/fdata-ab
env DATABASE_URL=postgres://postgres@127.0.0.1:5432/test NODE_ENV=production JWT_SECRET=abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH WORKERS=1 HTTP_PORT=18080 HTTPS_PORT=0 METRICS_PORT=0 DATA_DIR=/tmp/fdata-ab "$@" node src/main.js > /tmp/ab-$label.log 2>&1 &
for i in $(seq 1 50); do curl -s -o /dev/null http://127.0.0.1:18080/api/health && break; sleep 0.2; done
U=${URL:-http://127.0.0.1:18080/api/health}
wrk -t1 -c64 -d2s $U -H "authorization: Bearer ${TOKEN:-x}" > /dev/null
W=$(pgrep -f ferrite-worker-1)
cpu() { awk '{print $14+$15}' /proc/$W/stat; }
out=""
for i in 1 2 3; do
  c0=$(cpu); res=$(wrk -t1 -c64 -d3s $U ${TOKEN:+-H "authorization: Bearer $TOKEN"}); c1=$(cpu)
  n=$(echo "$res" | awk '/requests in/{print $1}'); rps=$(echo "$res" | awk '/Requests\/sec/{print int($2)}')
  out="$out ${rps}rps/$(( (c1-c0)*10000000/n ))ns"
done
echo "$label: $out"
pkill -TERM -f ferrite-primary; sleep 1.5
