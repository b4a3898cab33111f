#!/usr/bin/env bash
# `make test`: make sure what the tests need is there (PostgreSQL and chromium from Debian's packages,
# when we may install them), start PostgreSQL, then run the whole suite. Without root the PostgreSQL
# and browser tests are skipped unless RISKSCORE_REQUIRE_POSTGRES/BROWSER=1 (as .ci/run sets).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  bash scripts/system-deps.sh
fi
if [ -z "${RISKSCORE_TEST_POSTGRES_URL:-}" ] && [ "$(id -u)" = 0 ] && command -v pg_ctlcluster >/dev/null 2>&1; then
  RISKSCORE_TEST_POSTGRES_URL=$(bash scripts/start-postgres.sh | tail -n 1)
  export RISKSCORE_TEST_POSTGRES_URL
fi
mkdir -p test-artifacts
exec .venv/bin/pytest -q -p no:cacheprovider --timeout 600 --durations=15 "$@" tests
