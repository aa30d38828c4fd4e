"""`switchman route` on the starter config (the issue's "Done when" examples) and `switchman routes fit`."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from switchman.cli.main import cli

NO_KEYS = {"OPENAI_API_KEY": "", "ANTHROPIC_API_KEY": ""}  # the starter's simulated models
DICT_CHECK = "is `{k: v for k, v in d.items()}` valid syntax?"
MIGRATION = (
    "We're migrating our monolith to microservices. The monolith is a Django app with 47 tables, a shared "
    "session store and nightly batch jobs that touch most tables. Propose a phased decomposition strategy: "
    "which services to extract first, how to split the data, and how to keep both systems consistent."
)


def run(*args: str) -> Result:
    result = CliRunner().invoke(cli, list(args), env=NO_KEYS, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def routed(*args: str) -> dict:  # type: ignore[type-arg]
    return json.loads(run("route", "--json", *args).output)  # type: ignore[no-any-return]


def test_syntax_check_goes_to_the_cheap_tier() -> None:
    data = routed(DICT_CHECK)
    assert data["model"] == "sim-small"
    assert data["steps"][0].startswith("route:quick-check=")
    text = run("route", "--explain", DICT_CHECK).output
    assert "model    sim-small" in text and "route:quick-check" in text


def test_migration_strategy_goes_to_the_strong_tier() -> None:
    data = routed(MIGRATION)
    assert data["model"] == "sim-large"
    assert data["steps"][0].startswith("route:deep-reasoning=")


def test_image_goes_to_a_vision_model() -> None:
    data = routed("What is in this picture?", "--image", "https://example.com/cat.png")
    assert data["model"] == "sim-medium"  # the cheapest vision model; sim-small has no vision
    assert {"model": "sim-small", "reason": "no-vision"} in data["dropped"]


def test_declared_premium_tier_and_threshold_in_the_model_name() -> None:
    assert routed("hello", "--tier", "premium")["model"] == "sim-large"
    hard = "How should we shard a 2TB PostgreSQL database with hot tenants? Compare approaches."
    assert routed(hard, "--model", "switchman/auto@0.99")["model"] == "sim-large"
    assert routed(hard, "--model", "switchman/auto@0.1")["model"] == "sim-small"


def test_short_output_and_unknown_model() -> None:
    out = run("route", "hello").output
    assert out.startswith("sim-small\tswitchman/auto;sim-small;")
    bad = CliRunner().invoke(cli, ["route", "hi", "--model", "nope"], env=NO_KEYS)
    assert bad.exit_code != 0 and "unknown router or model" in bad.output


def test_routes_fit(tmp_path: Path) -> None:
    rows = [
        {"text": "is this valid Python: print(x)?", "route": "quick-check"},
        {"text": "translate 'thank you' into German", "route": "quick-check"},
        {"text": "what is the capital of Canada?", "route": "quick-check"},
        {"text": "propose an architecture to split our monolith into services", "route": "deep-reasoning"},
        {
            "text": "analyse the trade-offs of event sourcing for our billing system",
            "route": "deep-reasoning",
        },
        {"text": "write a limerick about a cat", "route": None},
    ]
    path = tmp_path / "examples.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = json.loads(run("routes", "fit", str(path), "--json").output)
    fits = {r["route"]: r for r in out["routes"]}
    assert fits.keys() == {"quick-check", "deep-reasoning"}
    assert fits["quick-check"]["positives"] == 3 and fits["deep-reasoning"]["positives"] == 2
    assert all(0 <= r["f1"] <= 1 and -1 <= r["threshold"] <= 1 for r in out["routes"])
    assert "threshold" in run("routes", "fit", str(path)).output
