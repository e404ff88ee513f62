#!/usr/bin/env bash
# Create the venv if needed, install dnmf with its test extras, run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test,e2e]"
.venv/bin/python -m ruff check dnmf pages app.py tests bench
.venv/bin/python -m pytest -q "$@"
