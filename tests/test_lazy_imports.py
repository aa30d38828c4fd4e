"""A gateway whose routers embed nothing must not load numpy, the embedders or the tokenizer (RSS)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import sys
from switchman.config.load import load_config
from switchman.serving.app import create_app
from switchman.routing.tokens import get_token_counter

app = create_app(load_config(sys.argv[1]))
print(sorted(m for m in ("numpy", "wordllama", "tokenizers", "onnxruntime", "alembic") if m in sys.modules))
get_token_counter().count("x" * 50)  # the first exact count reads the tokenizer
print("tokenizers" in sys.modules)
"""


def test_fixed_route_gateway_loads_no_numpy_embedder_or_tokenizer(tmp_path: Path) -> None:
    config = tmp_path / "fixed.yaml"
    config.write_text(
        "ledger: {enabled: false}\n"
        "providers: {up: {type: openai, base_url: 'http://127.0.0.1:9/v1'}}\n"
        "models: {m: {provider: up, input_price: 1, output_price: 2, context_window: 8000}}\n"
        "routers: {switchman/fixed: {policy: ordered, models: [m]}}\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(config)], capture_output=True, text=True, check=True, cwd=ROOT
    )
    loaded, tokenizer_after_count = out.stdout.split("\n")[:2]
    assert loaded == "[]"
    assert tokenizer_after_count == "True"
