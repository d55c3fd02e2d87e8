#!/usr/bin/env bash
# Installs Debian's chromium (the report's browser test) and chromium-driver (the workspace's Selenium tests),
# only what is missing. CI runs `make test` on a fresh Debian machine as root (no sudo); a developer machine
# that already has both skips the network entirely.
set -euo pipefail
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-chromium: ${missing[*]} missing and installing needs root:" >&2
    echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
fi
echo "ensure-chromium: installing Debian's ${missing[*]} (the report and workspace tests drive a headless browser)"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
/usr/bin/chromium --version
/usr/bin/chromedriver --version
