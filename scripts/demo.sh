#!/usr/bin/env bash
# The project's main command: bash scripts/demo.sh [vreward-train demo args]
# Installs vreward with its train and eval extras into .venv (torch first: the local CPU build, pinned by
# constraints.txt), then runs the whole loop on CPU: build a tiny Qwen2-VL, make a tiny synthetic detection set,
# train a few GRPO steps with vreward's rewards, generate on the test split, and score the saved completions.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python3}"
VENV=".venv"
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
"${PIP[@]}" install -c constraints.txt "torch==2.13.0"
"${PIP[@]}" install -c constraints.txt -e '.[train,eval]'

exec "$VENV/bin/vreward-train" demo "$@"
