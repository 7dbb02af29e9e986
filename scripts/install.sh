#!/usr/bin/env bash
# Installs Maestro and the exact versions of the lock (requirements/*.lock, hashes checked) into
# the current Python environment: the active virtualenv, or the interpreter `python3` names.
#
#   scripts/install.sh          run.lock:   Maestro with the sql runtimes (the demo, the image)
#   scripts/install.sh spark    spark.lock: + pyspark for spark and stream steps (Java 17+)
#   scripts/install.sh dev      dev.lock:   every extra: tests, lint, spark, sql
set -euo pipefail
cd "$(dirname "$0")/.."
lock=requirements/${1:-run}.lock
if [ ! -f "$lock" ]; then
  echo "install.sh: no lock named '${1:-}': choose run, spark or dev" >&2
  exit 2
fi
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "install.sh: Maestro needs Python 3.11 or newer; python3 is $(python3 -V 2>&1)" >&2
  exit 2
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
echo "install.sh: installing $lock into $(python3 -c 'import sys; print(sys.prefix)')" >&2
python3 -m pip install -q --require-hashes -r "$lock"
# the project itself, editable, with nothing resolved beside the lock
python3 -m pip install -q --no-deps -e .
