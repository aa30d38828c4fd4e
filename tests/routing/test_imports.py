"""Routing is pure: importing it (and building a decision) loads no HTTP, server or database module."""

from __future__ import annotations

import json
import subprocess
import sys

FORBIDDEN = [
    "aiohttp",
    "httpx",
    "sqlalchemy",
    "redis",
    "switchman.serving",
    "switchman.dispatch",
    "switchman.providers",
]

SCRIPT = """
import json, sys
import switchman.routing.analyze, switchman.routing.rules, switchman.routing.semantic
import switchman.routing.scoring, switchman.routing.explain, switchman.routing.trace
from switchman.catalog import Catalog, NoStats
from switchman.config.load import load_config
from switchman.routing.explain import explain_json
from switchman.routing.policy import build_policies
from switchman.routing.request import RequestInfo
from switchman.wire import parse_chat_request

config = load_config(None, env={})
raw = b'{"model": "switchman/auto", "messages": [{"role": "user", "content": "hi"}]}'
info = RequestInfo(request=parse_chat_request(raw, max_bytes=1000), requested_model="switchman/auto")
d = build_policies(config)["switchman/auto"].decide(info, Catalog.from_config(config), NoStats())
explain_json(d)
print(json.dumps(sorted(sys.modules)))
"""


def test_routing_imports_no_http_server_or_database_module() -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, check=True
    )
    loaded = set(json.loads(out.stdout))
    assert "switchman.routing.policy" in loaded  # the script did import routing
    bad = sorted(m for m in loaded if any(m == f or m.startswith(f + ".") for f in FORBIDDEN))
    assert bad == []
