# syntax=docker/dockerfile:1
# ferrite's image (docs/operations.md#containers). One image per platform; both at once:
#   docker buildx build --platform linux/amd64,linux/arm64 -t ferrite .
# BASE_IMAGE is any Debian bookworm image (the default is the official slim one).
ARG BASE_IMAGE=debian:bookworm-slim

# Production dependencies only. Debian's Node runs `npm ci` once; the image runs the Node the
# project pins (the `node` package), with the embedded Postgres and the Rust addons built for
# this platform.
FROM ${BASE_IMAGE} AS deps
# A CA bundle for a registry reached through a TLS-inspecting proxy, mounted at build time
# (scripts/container-check.sh); not kept in the image.
ARG NPM_CAFILE=
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm ca-certificates libatomic1 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN if [ -n "$NPM_CAFILE" ]; then export npm_config_cafile="$NPM_CAFILE" NODE_EXTRA_CA_CERTS="$NPM_CAFILE"; fi \
 && npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force

FROM ${BASE_IMAGE}
# tini as PID 1: signals go on to ferrite's primary (which drains the workers and stops the
# embedded Postgres), and orphaned processes are reaped. libatomic1: the pinned Node needs it.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini ca-certificates libatomic1 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin ferrite \
 && mkdir /data \
 && chown ferrite:ferrite /data
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json LICENSE ./
COPY src ./src
COPY web ./web
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    METRICS_HOST=0.0.0.0 \
    DATA_DIR=/data \
    PATH=/app/node_modules/.bin:$PATH
USER ferrite
# The embedded database (without DATABASE_URL), the certificate, secrets and the pid file.
VOLUME ["/data"]
EXPOSE 8080 8443 9464
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.HTTP_PORT ?? 8080}/api/ready`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "src/main.js"]
