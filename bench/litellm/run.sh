#!/usr/bin/env bash
# The gateway-throughput benchmark with the LiteLLM proxy as a third target (same sim, same load).
# Creates bench/.litellm-venv on first use (pip install 'litellm[proxy]', a few minutes).
# Usage: bash bench/litellm/run.sh [extra gateway_load.py options, e.g. --quick]
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$HERE/../.."
bash "$HERE/setup.sh"
exec "${PY:-$ROOT/.venv/bin/python}" "$ROOT/bench/gateway_load.py" \
  --targets passthrough,switchman,switchman-lean,litellm "$@"
