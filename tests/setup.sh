#!/usr/bin/env bash
# Installs what the test suite needs: Python packages, Debian's chromium for the browser test
# (Playwright drives it through executable_path; its own browser download is not used), Mesa's software
# Vulkan for web-rwkv, and llama.cpp (llama-cpp-python built from source: about 6 minutes on 2 cores the
# first time, then pip's wheel cache) for the GGUF test.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python -c "import torch" 2>/dev/null; then
  # the CPU build for the tests: PyPI's torch for Linux is the CUDA build, several GB more
  pip install "torch==2.13.0" --extra-index-url https://download.pytorch.org/whl/cpu
fi
pip install -q -r requirements-test.txt
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
dpkg -s mesa-vulkan-drivers >/dev/null 2>&1 || missing+=(mesa-vulkan-drivers libvulkan1)
command -v g++ >/dev/null 2>&1 || missing+=(g++)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  else
    echo "missing: ${missing[*]} (sudo apt-get install ${missing[*]}): the tests that need them are skipped" >&2
  fi
fi
if ! python -c "import llama_cpp" 2>/dev/null; then
  # PyPI has only its source; a portable CPU build without llama.cpp's tests and examples
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF" \
    pip install -q "llama-cpp-python==0.3.36"
fi
