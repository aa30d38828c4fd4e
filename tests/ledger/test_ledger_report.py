"""`switchman report` over a ledger filled by a real gateway: the numbers equal what was served."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from ledger_helpers import Served, expected_cost, ledger_yaml, mixed_load, wait_rows

from helpers import SECRET, gateway_config, start_gateway, start_sim

SIM = "models:\n  tiny-up: {answer_words: 12}\n  big-up: {answer_words: 30}\n"


@dataclass
class Filled:
    config: Path
    served: list[Served]


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Filled]:
    import asyncio

    tmp = tmp_path_factory.mktemp("report")
    data = tmp / "data"
    cfg_text = gateway_config("SIMURL", ledger_yaml(None, str(data)))
    sim = start_sim(tmp, SIM)
    gw = start_gateway(tmp, cfg_text.replace("SIMURL", sim.url), env={"SIM_API_KEY": SECRET})
    try:
        served = asyncio.run(mixed_load(gw.url, 60))
        wait_rows(f"sqlite:///{data / 'ledger.db'}", 60)
    finally:
        gw.stop()
        sim.stop()
    config = tmp / "report.yaml"
    config.write_text(cfg_text.replace("SIMURL", sim.url))
    yield Filled(config, served)


def run_report(filled: Filled, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "switchman.cli.main", "report", "--config", str(filled.config), *args],
        capture_output=True,
        text=True,
        env={"SIM_API_KEY": "x", "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_json_totals_equal_what_was_served(filled: Filled) -> None:
    rep = json.loads(run_report(filled, "--json", "--since", "1h"))
    total = rep["total"]
    served = filled.served
    assert total["requests"] == len(served)
    assert total["input_tokens"] == sum(s.input_tokens for s in served)
    assert total["output_tokens"] == sum(s.output_tokens for s in served)
    costs = [expected_cost(s.model, s.input_tokens, s.output_tokens) for s in served]
    assert total["cost_usd"] == pytest.approx(sum(c for c, _ in costs), rel=1e-9)
    assert total["baseline_cost_usd"] == pytest.approx(sum(b for _, b in costs), rel=1e-9)
    saved = sum(b - c for c, b in costs)
    assert total["savings_usd"] == pytest.approx(saved, rel=1e-9)
    assert total["savings_pct"] == pytest.approx(100 * saved / sum(b for _, b in costs), rel=1e-9)
    assert total["error_rate"] == 0 and total["usage_capture_rate"] == 1
    assert 0 < total["latency_p50_ms"] <= total["latency_p95_ms"] <= total["latency_p99_ms"]
    assert total["ttft_p50_ms"] is not None
    by_model = {g["key"]: g["requests"] for g in rep["groups"]}
    assert by_model == {m: sum(s.model == m for s in served) for m in ("tiny", "big")}
    mix = {(m["router"], m["model"]): m["requests"] for m in rep["routing_mix"]}
    assert mix[("switchman/auto", "tiny")] == len(served) // 4  # cheapest policy → tiny
    assert mix[("switchman/quality", "big")] == len(served) // 4


def test_text_csv_and_other_groupings(filled: Filled) -> None:
    text = run_report(filled, "--by", "router")
    assert "requests     60" in text and "saved" in text and "routing mix" in text
    assert "switchman/auto" in text and "explicit" in text  # direct model requests
    rows = list(csv.DictReader(io.StringIO(run_report(filled, "--csv", "--by", "day"))))
    assert rows[-1]["router" if "router" in rows[-1] else "day"] == "total"
    assert int(rows[-1]["requests"]) == 60 and len(rows) == 2
    assert "no requests in this window" in run_report(
        filled, "--since", "2001-01-01", "--until", "2001-01-02"
    )
