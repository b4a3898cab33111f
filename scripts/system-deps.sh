#!/usr/bin/env bash
# Installs what the tests need from Debian's packages: PostgreSQL (store tests), chromium (browser
# tests), wrk (service benchmark), Java (PySpark, `--engine spark`) and node + npm (the tests install
# axe-core and the OpenID provider, oidc-provider, from the npm registry into tests/browser and tests/oidc).
# Idempotent; needs root (CI runs as root).
set -euo pipefail
need=()
command -v pg_ctlcluster >/dev/null 2>&1 || need+=(postgresql)
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v java >/dev/null 2>&1 || need+=(default-jre-headless)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then echo "system-deps: need root to install ${need[*]}" >&2; exit 1; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
