#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs the locked Python packages and the system
# packages the tests use, starts a throwaway PostgreSQL, runs pytest (SQLite and PostgreSQL
# tiers, Redis and Celery workers, Spark, a browser). Extra arguments go to pytest.
#
# Python packages come from requirements/dev.lock, into the active virtualenv, or into ./.venv
# (made here) when none is active. System packages come from apt, which needs root or sudo:
# Java 17+ (Spark), redis-server, chromium (browser tests) and PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${VIRTUAL_ENV:-}" ]; then
  [ -x .venv/bin/python3 ] || python3 -m venv .venv
  # shellcheck source=/dev/null
  source .venv/bin/activate
fi
bash scripts/install.sh dev

# Java 17+, redis-server, chromium, PostgreSQL: apt-get installs what is missing (root or sudo)
# shellcheck source=scripts/system-deps.sh
source scripts/system-deps.sh
# shellcheck source=scripts/pg.sh
source scripts/pg.sh
python3 -m pytest "$@"
