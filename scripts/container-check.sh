#!/usr/bin/env bash
# Builds ferrite's image with podman and runs it: the embedded Postgres as the image's non-root
# user, /api/ready through the image's HEALTHCHECK command, SIGTERM through tini to a clean exit 0.
#   scripts/container-check.sh [BASE_IMAGE]
# Where podman cannot start containers (a sandbox that refuses setrlimit), the image is built and
# run with chroot isolation (buildah), which still runs its own files, user and entrypoint.
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:-debian:bookworm-slim}
ca=${NPM_CAFILE:-${NODE_EXTRA_CA_CERTS:-}}
mount=()
if [ -n "$ca" ]; then mount=(-v "$ca:/etc/ssl/certs/build-ca.crt:ro" --build-arg NPM_CAFILE=/etc/ssl/certs/build-ca.crt); fi
podman build --format docker --isolation chroot "${mount[@]}" --build-arg "BASE_IMAGE=$base" -t localhost/ferrite:check .
podman image inspect localhost/ferrite:check --format 'image size: {{.Size}} bytes, user {{.Config.User}}'

port=$((20000 + RANDOM % 20000))
ctr=$(buildah from localhost/ferrite:check)
trap 'buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
buildah run --isolation chroot --user ferrite --env HTTP_PORT=$port --env HTTPS_PORT=0 --env METRICS_PORT=0 \
  --env JWT_SECRET="$(head -c 48 /dev/urandom | base64)" "$ctr" -- /usr/bin/tini -- node src/main.js &
runner=$!
for _ in $(seq 60); do
  if buildah run --isolation chroot --user ferrite --env HTTP_PORT=$port "$ctr" -- \
    node -e 'fetch(`http://127.0.0.1:${process.env.HTTP_PORT}/api/ready`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))'; then
    echo "ready on $port (the HEALTHCHECK's command)"
    break
  fi
  sleep 1
done
kill -TERM "$(pgrep -f '^/usr/bin/tini -- node src/main.js' | head -1)"
wait "$runner"
echo "stopped: exit $?"
