#!/usr/bin/env bash
# The set-up for the test suite: scripts/setup.sh (npm ci, the build, a WebGPU adapter), then the programs only the
# tests use, from Debian's packages:
# - djpeg (libjpeg-turbo-progs): the image decoder tests compare against libjpeg-turbo's own decode;
# - chromium: the browser tests drive it headless (WebGPU on SwiftShader);
# - redis-server and openssl: the queue tests start a real Redis, one of them with a TLS certificate.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

missing=()
command -v djpeg >/dev/null || missing+=(libjpeg-turbo-progs)
command -v chromium >/dev/null || missing+=(chromium)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v openssl >/dev/null || missing+=(openssl)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "setup: the tests need ${missing[*]}; install them (Debian: sudo apt-get install ${missing[*]}), then run npm test" >&2
  exit 1
fi
echo "setup: installing what only the tests use: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
