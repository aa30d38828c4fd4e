"""The learning commands end to end through click: import, train, score, eval, calibrate, add-model."""

from __future__ import annotations

from pathlib import Path

import orjson
from click.testing import CliRunner

from switchman.cli.main import cli


def _ok(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_five_commands_on_llmrouter(tmp_path: Path, shared_data: Path) -> None:
    runner = CliRunner()
    data, router = tmp_path / "llmr.jsonl", tmp_path / "router"
    _ok(runner, "data", "import", "llmrouter", str(shared_data / "llmrouter-9models"), "-o", str(data))
    # hold one model out to add it afterwards without retraining
    rows = [orjson.loads(line) for line in data.read_bytes().splitlines()]
    held = "gemma-2-9b-it"
    base = tmp_path / "base.jsonl"
    base.write_bytes(
        b"".join(
            orjson.dumps({**r, "outcomes": {m: o for m, o in r["outcomes"].items() if m != held}}) + b"\n"
            for r in rows[:400]
        )
    )
    small = tmp_path / "small.jsonl"
    small.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows[400:460]))
    _ok(runner, "train", str(base), "-o", str(router), "--learner", "knn", "-q")
    _ok(runner, "train", "--add-model", held, "--data", str(small), str(router), "-q")
    scores = tmp_path / "scores.jsonl"
    _ok(runner, "score", str(data), "--router", str(router), "-o", str(scores), "-q")
    first = orjson.loads(scores.read_bytes().splitlines()[0])
    assert first["id"] == rows[0]["id"] and set(first["predicted"]) == set(rows[0]["outcomes"])
    out = orjson.loads(_ok(runner, "eval", str(data), "--router", str(router), "--json", "-q"))
    assert out["n_model"]["aiq"] > out["n_model"]["zero_aiq"]
    cal = orjson.loads(
        _ok(runner, "calibrate", str(router), "--data", str(data), "--strong-share", "0.2", "--json", "-q")
    )
    assert cal["strong_share"] <= 0.2
    manifest = orjson.loads((router / "manifest.json").read_bytes())
    assert manifest["calibration"]["kind"] == "strong_share"


def test_eval_cv_two_models_text_output(tmp_path: Path, shared_data: Path) -> None:
    runner = CliRunner()
    data = tmp_path / "arena.jsonl"
    _ok(runner, "data", "import", "routerarena", str(shared_data / "routerarena-2models"), "-o", str(data))
    text = _ok(runner, "eval", str(data), "--cv", "3", "--learner", "knn", "-q")
    assert "APGR" in text and "AIQ" in text


def test_usage_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    empty = tmp_path / "e.jsonl"
    empty.write_text('{"id": "a", "prompt": "p", "outcomes": {"m": {"score": 1}}}\n')
    result = runner.invoke(cli, ["eval", str(empty)])
    assert result.exit_code != 0 and "exactly one of" in result.output
    result = runner.invoke(cli, ["calibrate", str(tmp_path), "--data", str(empty), "--strong-share", "0.2"])
    assert result.exit_code != 0 and "router artifact" in result.output


def test_train_takes_any_minilm_window(tmp_path: Path, shared_data: Path) -> None:
    """``--embedder`` takes the windows a router config takes (here a tail window), and refuses others."""
    runner = CliRunner()
    data, router = tmp_path / "arena.jsonl", tmp_path / "router"
    _ok(runner, "data", "import", "routerarena", str(shared_data / "routerarena-2models"), "-o", str(data))
    rows = data.read_bytes().splitlines()[:60]
    small = tmp_path / "small.jsonl"
    small.write_bytes(b"\n".join(rows) + b"\n")
    _ok(runner, "train", str(small), "-o", str(router), "--embedder", "minilm@1+15", "--learner", "knn", "-q")
    manifest = orjson.loads((router / "manifest.json").read_bytes())
    assert manifest["embedder"] == "sentence-transformers/all-MiniLM-L6-v2@1+15"
    bad = runner.invoke(cli, ["train", str(small), "-o", str(tmp_path / "r2"), "--embedder", "minilm@x+3"])
    assert bad.exit_code == 2 and "unknown embedder 'minilm@x+3'" in bad.output
