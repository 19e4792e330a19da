#!/usr/bin/env bash
# The project's test command: bash scripts/test.sh [extra pytest args]
# On a fresh machine (only python3) it creates .venv, installs the package with its dev, train, eval and serve
# extras (torch first, the local CPU build pinned by constraints.txt) and the trainers whose reward code the tests
# drive (verl, OpenRLHF, ms-swift), runs ruff, then the whole test suite.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python3}"
VENV=".venv"
if [ ! -x "$VENV/bin/python" ]; then
    echo "==> creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check -q)

start=$SECONDS
echo "==> installing torch (CPU build) and vreward[dev,train,eval,serve]"
# torch first and exactly the pinned version: with no torch installed, any dependency that asks for it would
# pull the multi-GB CUDA build instead of the CPU wheel available locally.
"${PIP[@]}" install -c constraints.txt "torch==2.13.0"
"${PIP[@]}" install -c constraints.txt -e '.[dev,train,eval,serve]'
echo "==> installed in $((SECONDS - start)) s"

start=$SECONDS
echo "==> installing verl, OpenRLHF and ms-swift for tests/test_trainer_*.py (no GPU dependencies)"
# Their own requirements pin GPU stacks and other transformers versions: install the packages without
# dependencies, then the few modules their reward paths import (all pinned in constraints.txt).
"${PIP[@]}" install -c constraints.txt ray tensordict omegaconf aiohttp codetiming pylatexenc json-repair dacite \
    msgspec modelscope-hub
"${PIP[@]}" install -c constraints.txt --no-deps verl openrlhf ms-swift modelscope
echo "==> trainers installed in $((SECONDS - start)) s"

echo "==> ruff"
"$VENV/bin/ruff" check src tests benchmarks

echo "==> pytest"
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
# exec: pytest's exit code is the script's (5 = no tests collected fails too)
exec "$PY" -m pytest -q "$@"
