#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what the tests need, starts a throwaway
# PostgreSQL, runs pytest (SQLite and PostgreSQL tiers). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q --disable-pip-version-check -e ".[test,sql]"
# the spark and stream tests run real local Spark (pyspark is large: installed once)
if ! python3 -c "import pyspark" 2>/dev/null; then
  python3 -m pip install -q --disable-pip-version-check "pyspark>=3.5"
fi
if ! command -v java >/dev/null; then
  echo "test.sh: installing a Java runtime for Spark with apt" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null
fi
# the integration tier starts its own Redis servers
if ! command -v redis-server >/dev/null; then
  echo "test.sh: installing redis-server with apt" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi
# the web view's browser tests drive Debian's chromium through Playwright (pip: test extra)
if ! command -v chromium >/dev/null; then
  echo "test.sh: installing chromium with apt" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
# shellcheck source=scripts/pg.sh
source scripts/pg.sh
python3 -m pytest "$@"
