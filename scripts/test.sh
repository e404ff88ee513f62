#!/usr/bin/env bash
# The whole test suite in one command, from a clean clone: create .venv if needed, install dnmf
# with its test extras (pytest, hypothesis, ruff, Playwright's Python package), lint, then run
# every test under tests/ — the browser tests drive Debian's /usr/bin/chromium (never
# `playwright install`); without it they skip locally and fail under CI (CI=true).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m e2e`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test,e2e]"
.venv/bin/python -m ruff check dnmf pages app.py tests bench
# pytest exits non-zero on any failure and when no test is collected (exit code 5).
.venv/bin/python -m pytest -q --durations=15 "$@"
