#!/usr/bin/env bash
# Create the venv if needed, install dnmf, start the workbench on http://localhost:8501
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e .
exec .venv/bin/python -m streamlit run app.py --browser.gatherUsageStats false "$@"
