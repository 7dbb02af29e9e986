#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what the tests need, starts a throwaway
# PostgreSQL, runs pytest (SQLite and PostgreSQL tiers). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q --disable-pip-version-check -e ".[test]"
# shellcheck source=scripts/pg.sh
source scripts/pg.sh
python3 -m pytest "$@"
