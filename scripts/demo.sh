#!/usr/bin/env bash
# The project's main command: bash scripts/demo.sh [vreward-train demo args]
# Installs vreward with its train and eval extras into .venv (torch first: the local CPU build, pinned by
# constraints.txt), then runs the whole loop on CPU: a small random Qwen2-VL learns to localize drawn shapes in
# a supervised warm-up (cached in ~/.cache/vreward), then GRPO with vreward's rewards adapts it to larger shapes;
# a held-out set is scored before and during GRPO, and the before / after metrics are printed and written to
# learning.json, with a report of the run (docs/learning.md).
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
