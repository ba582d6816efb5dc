#!/usr/bin/env bash
# Installs what the test suite needs: Python packages, and Debian's chromium for the browser test
# (Playwright drives it through executable_path; its own browser download is not used).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python -c "import torch" 2>/dev/null; then
  # the CPU build for the tests: PyPI's torch for Linux is the CUDA build, several GB more
  pip install "torch==2.13.0" --extra-index-url https://download.pytorch.org/whl/cpu
fi
pip install -q -r requirements-test.txt
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
  else
    echo "chromium is missing: install it (sudo apt-get install chromium) or the browser test is skipped" >&2
  fi
fi
