#!/usr/bin/env bash
# Create a separate virtualenv with the LiteLLM proxy for the gateway-throughput comparison.
# It never touches the project's .venv. Usage: bash bench/litellm/setup.sh
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
VENV="${LITELLM_VENV:-$HERE/../.litellm-venv}"
PYTHON="${PYTHON:-python3.11}"
if [ ! -x "$VENV/bin/litellm" ]; then
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install --disable-pip-version-check -q 'litellm[proxy]'
fi
"$VENV/bin/litellm" --version 2>/dev/null || "$VENV/bin/pip" show litellm | head -2
