#!/usr/bin/env bash
# Creates (once per requirements version) a Python venv with the peers the tests cross-check against, in the per-user
# cache, and prints the path of its python. Used by `./dev test`, which exports it as GSCRIPT_TEST_PYTHON.
# Wheels only, except intervaltree (a dependency of borzoi-pytorch) and MOODS-python (pychromvar's motif matcher),
# which exist only as sdists for this Python. The packages in test-requirements-nodeps.txt are installed without their
# declared dependencies (see that file).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
req="$root/scripts/test-requirements.txt"
nodeps="$root/scripts/test-requirements-nodeps.txt"
cache=${GSCRIPT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gscript}
key=$(cat "$req" "$nodeps" | sha256sum | cut -c1-12)
venv="$cache/test-venv-$key"
if [ ! -f "$venv/.complete" ]; then
  echo "setup: creating the test venv $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --only-binary=:all: --no-binary=intervaltree,MOODS-python -r "$req" >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --only-binary=:all: --no-deps -r "$nodeps" >&2
  touch "$venv/.complete"
fi
echo "$venv/bin/python"
