#!/usr/bin/env bash
# Installs Debian's Chromium for the web page tests (test/web/: playwright-core drives it headless,
# WebGPU on SwiftShader). Needs root. Idempotent: does nothing when /usr/bin/chromium exists.
# No recommended packages (fonts, extensions) to keep CI time low.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  /usr/bin/chromium --version 2>/dev/null || true
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium >/dev/null
/usr/bin/chromium --version 2>/dev/null || true
