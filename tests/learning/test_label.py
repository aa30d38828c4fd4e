"""`switchman label` end to end against a real `switchman sim` upstream (providers called directly)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from click.testing import CliRunner, Result

from helpers import Proc, start_sim
from switchman.cli.main import cli
from switchman.learning.outcomes import read_outcomes

BEHAVIOURS: dict[str, Any] = {
    "right-up": {"answer": "The answer is 42."},
    "wrong-up": {"answer": "I think it is 41"},
    "judge8-up": {"answer": "The answer is correct and concise. Rating: [[8]]"},
    "judge-a-up": {"answer": "Assistant A is better. [[A]]"},
    "broken-up": {"error_rate": 1.0, "error_status": 503},
}


def config_text(sim_url: str) -> str:
    def model(name: str, pin: float, pout: float) -> str:
        return (
            f"  {name}: {{provider: local, upstream: {name}-up, input_price: {pin}, output_price: {pout}}}\n"
        )

    return (
        f"providers:\n  local: {{type: openai, base_url: '{sim_url}/v1'}}\nmodels:\n"
        + model("right", 1.0, 2.0)
        + model("wrong", 3.0, 100.0)
        + model("judge8", 5.0, 5.0)
        + model("judge-a", 5.0, 5.0)
        + model("broken", 1.0, 1.0)
    )


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    proc = start_sim(tmp_path_factory.mktemp("sim"), orjson.dumps({"models": BEHAVIOURS}).decode())
    yield proc
    proc.stop()


@pytest.fixture
def world(sim: Proc, tmp_path: Path) -> dict[str, Any]:
    """A fresh config and prompt log; the sim's counters reset for every model used here."""
    for name, b in BEHAVIOURS.items():
        httpx.put(f"{sim.url}/_sim/models/{name}", json=b).raise_for_status()
    cfg = tmp_path / "config.yaml"
    cfg.write_text(config_text(sim.url))
    prompts = tmp_path / "prompts.jsonl"
    lines = [
        {"id": f"q{i}", "prompt": f"What is six times seven? (variant {i})", "gold": "42"} for i in range(6)
    ]
    lines[1] = {"id": "q1", "messages": [{"role": "user", "content": "Six times seven?"}], "gold": 42}
    prompts.write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in lines))
    return {"config": cfg, "prompts": prompts, "out": tmp_path / "out.jsonl", "sim": sim}


def label(world: dict[str, Any], *args: str) -> Result:
    argv = ["label", str(world["prompts"]), "--config", str(world["config"]), "-o", str(world["out"])]
    return CliRunner().invoke(cli, [*argv, *args], catch_exceptions=False)


def stats(world: dict[str, Any]) -> dict[str, int]:
    data = httpx.get(f"{world['sim'].url}/_sim/stats").json()
    return {name: v["requests"] for name, v in data.items()}


def lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(x) for x in path.read_bytes().splitlines() if x.strip()]


def test_reference_scoring_numeric(world: dict[str, Any]) -> None:
    res = label(world, "--models", "right,wrong", "--reference-field", "gold", "-q")
    assert res.exit_code == 0, res.output
    records = read_outcomes(world["out"])  # the outcomes reader takes the file as is
    assert [r.id for r in records] == [f"q{i}" for i in range(6)]
    for r in records:
        assert r.outcomes["right"].score == 1.0 and r.outcomes["wrong"].score == 0.0
        o = r.outcomes["wrong"]
        assert o.input_tokens and o.output_tokens and o.cost is not None
        assert o.cost == pytest.approx((o.input_tokens * 3.0 + o.output_tokens * 100.0) / 1e6)
    first = lines(world["out"])[0]
    assert first["reference"] == "42" and first["answers"]["right"]["text"] == "The answer is 42."
    assert stats(world)["right-up"] == 6 and stats(world)["wrong-up"] == 6


def test_absolute_judge(world: dict[str, Any]) -> None:
    res = label(world, "--models", "right,wrong", "--judge", "judge8", "-q")
    assert res.exit_code == 0, res.output
    for r in read_outcomes(world["out"]):
        assert r.outcomes["right"].score == pytest.approx(7 / 9)
        assert r.outcomes["wrong"].score == pytest.approx(7 / 9)
    assert stats(world)["judge8-up"] == 12
    spent, judge = map(float, re.findall(r"\$([0-9.]+)", res.output))
    answers = sum(o.cost or 0.0 for r in read_outcomes(world["out"]) for o in r.outcomes.values())
    assert judge > 0 and spent == pytest.approx(answers + judge, rel=1e-4)  # the judge's cost counts


def test_pairwise_judge_asks_both_orders(world: dict[str, Any]) -> None:
    res = label(world, "--models", "right,wrong", "--judge", "judge-a", "--mode", "pairwise", "-q")
    assert res.exit_code == 0, res.output
    for r in read_outcomes(world["out"]):
        assert r.outcomes["right"].score == 0.5  # the anchor ties with itself
        # a judge that always says [[A]] contradicts itself once the order is swapped: a tie
        assert r.outcomes["wrong"].score == 0.5
    assert stats(world)["judge-a-up"] == 12  # two orders per prompt for the one non-anchor model


def test_a_failing_model_is_recorded_as_missing(world: dict[str, Any]) -> None:
    res = label(world, "--models", "right,broken", "--reference-field", "gold", "--retries", "1", "-q")
    assert res.exit_code == 0, res.output
    rows = lines(world["out"])
    assert len(rows) == 6
    for row in rows:
        assert row["outcomes"]["right"]["score"] == 1.0 and "broken" not in row["outcomes"]
        assert "UpstreamServerError" in row["missing"]["broken"]
        assert "after 2 attempts" in row["missing"]["broken"]
    assert stats(world)["broken-up"] == 12  # one retry each


def test_a_zero_cap_asks_nothing(world: dict[str, Any]) -> None:
    res = label(world, "--models", "right", "--reference-field", "gold", "--max-cost-usd", "0", "-q")
    assert res.exit_code == 3
    assert "--max-cost-usd" in res.output and "rerun with a larger cap" in res.output
    assert stats(world)["right-up"] == 0
    assert not world["out"].exists() or lines(world["out"]) == []


def test_cost_cap_stops_then_a_rerun_resumes_without_asking_twice(world: dict[str, Any]) -> None:
    cap = 0.0012
    common = ["--models", "right,wrong", "--reference-field", "gold", "--max-tokens", "8"]
    first = label(world, *common, "--concurrency", "1", "--max-cost-usd", str(cap), "-q")
    assert first.exit_code == 3, first.output
    rows = lines(world["out"])
    spent = sum(a["cost"] for row in rows for a in row["answers"].values())
    assert 0 < spent <= cap
    complete = [row for row in rows if set(row["outcomes"]) == {"right", "wrong"}]
    partial = [row for row in rows if set(row["outcomes"]) == {"right"}]
    assert 0 < len(complete) < 6 and len(partial) == 1  # stopped before the expensive model
    assert partial[0]["missing"] == {"wrong": "not asked: --max-cost-usd reached"}
    asked = stats(world)
    assert asked["right-up"] == len(rows) and asked["wrong-up"] == len(complete)

    second = label(world, *common, "--concurrency", "4")
    assert second.exit_code == 0, second.output
    final = lines(world["out"])
    assert [row["id"] for row in final] == [f"q{i}" for i in range(6)]  # every prompt exactly once
    assert all(set(row["outcomes"]) == {"right", "wrong"} and "missing" not in row for row in final)
    after = stats(world)
    assert after["right-up"] == 6 and after["wrong-up"] == 6  # nobody was asked a prompt twice
    assert f"{len(complete)} already done" in second.output


def test_the_cap_holds_under_concurrency_and_counts_the_judge(world: dict[str, Any]) -> None:
    cap = 0.012
    args = ["--models", "right,wrong", "--judge", "judge8", "--max-tokens", "16", "--max-cost-usd", str(cap)]
    res = label(world, *args, "-q")
    assert res.exit_code == 3, res.output
    m = re.search(r"up to \$([0-9.]+)\) could take spend from \$([0-9.]+)", res.output)
    assert m is not None, res.output
    estimate, spent_then = float(m.group(1)), float(m.group(2))
    # calls in flight were waited for, not refused: the run used the budget up to one call's bound
    assert spent_then + estimate > cap
    spent, judge = map(float, re.findall(r"spent \$([0-9.]+) \(judge \$([0-9.]+)\)", res.output)[0])
    assert spent_then <= spent <= cap and judge > 0
    rows = lines(world["out"])
    answers = sum(a["cost"] for row in rows for a in row["answers"].values())
    assert answers + judge == pytest.approx(spent, rel=1e-4)  # the judge's spend counts against the cap
    assert 0 < len([r for r in rows if set(r["outcomes"]) == {"right", "wrong"}]) < 6
