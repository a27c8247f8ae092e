#!/usr/bin/env bash
# Create .venv (if missing) and install echoquant with its test extras.
# torch is installed first as the 2.13.0 CPU build so that pip never pulls a CUDA build;
# on a machine with CUDA, install the CUDA build of torch yourself before this script.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  .venv/bin/python -m pip install -q "torch==2.13.0"
fi
.venv/bin/python -m pip install -q -e ".[test]"
echo "echoquant installed in $(pwd)/.venv"
