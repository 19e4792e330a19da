#!/usr/bin/env bash
# The project's main command: bash scripts/demo.sh [vreward score args]
# Installs the package with its eval extra (no torch) into .venv and scores the bundled sample of completions.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python3}"
VENV=".venv"
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip --disable-pip-version-check -q install -c constraints.txt -e '.[eval]'

exec "$VENV/bin/vreward" score "$@"
