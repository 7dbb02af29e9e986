#!/usr/bin/env bash
# The lock: requirements/*.lock, pinned versions with sha256 hashes, made from pyproject.toml's
# ranges by uv's pip-compatible resolver (docs/dependencies.md says why this form).
#
#   scripts/lock.sh           re-resolve, keeping every pin that still satisfies pyproject.toml
#   scripts/lock.sh --upgrade take the newest versions the ranges allow (make upgrade-deps)
#   scripts/lock.sh --check   exit 1 when the lock no longer matches pyproject.toml (CI)
#
# Three files, one resolution: dev.lock holds every extra; run.lock (core + sql +
# observability: the demo and the image, so that a deployment can turn traces and lineage on)
# and spark.lock (run + spark: the image's spark target) are resolved under dev.lock's pins,
# so a package has the same version in all three.
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION=0.13.9
mode=${1:-}
case "$mode" in "" | --upgrade | --check) ;; *)
  echo "usage: scripts/lock.sh [--upgrade|--check]" >&2
  exit 2
  ;;
esac

if ! python3 -m uv --version 2>/dev/null | grep -q "^uv $UV_VERSION"; then
  python3 -m pip install -q --disable-pip-version-check "uv==$UV_VERSION"
fi

out=requirements
if [ "$mode" = --check ]; then
  out=$(mktemp -d)
  cp requirements/*.lock "$out/"
fi
upgrade=()
[ "$mode" = --upgrade ] && upgrade=(--upgrade)

compile() { # compile FILE [uv args...]
  local file=$1
  shift
  # run from the lock's folder so that the header's command names no machine-specific path
  (cd "$out" && python3 -m uv pip compile -q "$OLDPWD/pyproject.toml" --universal \
    --python-version 3.11 --generate-hashes --no-header --custom-compile-command \
    "scripts/lock.sh" "$@" -o "$file")
}
compile dev.lock --all-extras "${upgrade[@]}"
compile run.lock --extra sql --extra observability -c dev.lock
compile spark.lock --extra sql --extra spark --extra observability -c dev.lock
for f in "$out"/*.lock; do # uv writes the pyproject path it was given: keep it relative
  sed -i "s|$PWD/pyproject.toml|pyproject.toml|g" "$f"
done

if [ "$mode" = --check ]; then
  if ! changes=$(diff -ru requirements "$out"); then
    echo "lock.sh: requirements/*.lock no longer match pyproject.toml; run scripts/lock.sh and commit the result:" >&2
    head -n 40 <<<"$changes" >&2
    exit 1
  fi
  echo "lock.sh: the lock matches pyproject.toml"
fi
