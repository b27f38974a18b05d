#!/usr/bin/env bash
# Installs this lab's own packages, a throwaway TLS certificate and h2load (Debian nghttp2-client).
set -eu
cd "$(dirname "$0")"
npm install --no-audit --no-fund
[ -f key.pem ] || openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 30 -subj "/CN=127.0.0.1"
command -v h2load >/dev/null || { apt-get update && apt-get install -y nghttp2-client; }
