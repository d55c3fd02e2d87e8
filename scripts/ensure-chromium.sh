#!/usr/bin/env bash
# Installs Debian's chromium for the report's browser test, only when it is missing.
# CI runs `make test` on a fresh Debian machine as root (no sudo); a developer machine that already
# has /usr/bin/chromium skips the network entirely.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-chromium: /usr/bin/chromium is missing and installing it needs root:" >&2
    echo "  apt-get update && apt-get install -y --no-install-recommends chromium" >&2
    exit 1
fi
echo "ensure-chromium: installing Debian's chromium (the report test renders the page in it)"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
/usr/bin/chromium --version
