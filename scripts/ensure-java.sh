#!/usr/bin/env bash
# Installs Debian's headless Java runtime when no Java 17 or newer is on the machine: the Spark engine
# (`--engine spark`, `pip install -e '.[spark]'`) runs Spark in a JVM. CI runs `make test` on a fresh Debian machine
# as root (no sudo); a machine that already has Java 17+ skips the network entirely.
set -euo pipefail
version() { java -version 2>&1 | sed -n 's/.* version "\([0-9]*\).*/\1/p' | head -1; }
if command -v java >/dev/null 2>&1 && [ "$(version)" -ge 17 ] 2>/dev/null; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-java: Java 17+ is missing and installing it needs root:" >&2
    echo "  apt-get update && apt-get install -y --no-install-recommends default-jre-headless" >&2
    exit 1
fi
echo "ensure-java: installing Debian's default-jre-headless (the Spark engine runs in a JVM)"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends default-jre-headless >/dev/null
java -version
