"""The benchmark configs in bench/configs stay valid as the config schema and the routers evolve."""

from __future__ import annotations

from pathlib import Path

import pytest

from switchman.config.load import parse_config
from switchman.routing.policy import build_policies

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "bench" / "configs").glob("*.yaml"))
ENV = {
    "SWITCHMAN_BENCH_UPSTREAM": "http://127.0.0.1:9/v1",
    "SWITCHMAN_BENCH_DATA_DIR": "/tmp/unused",
}


def test_there_are_bench_configs() -> None:
    assert {"fixed.yaml", "lean.yaml", "ledger-on.yaml", "routed.yaml"} <= {p.name for p in CONFIGS}


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_bench_config_loads_and_builds_its_routers(path: Path) -> None:
    config = parse_config(path.read_text(encoding="utf-8"), ENV, source=str(path))
    policies = build_policies(config)
    assert set(policies) == set(config.routers)
