#!/usr/bin/env bash
# The workbench in one command, from a clean clone: create .venv if needed, install dnmf, start
# the app on http://localhost:8501 (its Data page starts on the embedded faces; Home's "Try it"
# fits them in one click). Extra arguments go to `streamlit run`, e.g. --server.port 8600.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e .
# No first-run e-mail prompt (it would wait on the terminal), no usage statistics.
exec .venv/bin/python -m streamlit run app.py --server.showEmailPrompt false \
  --browser.gatherUsageStats false "$@"
