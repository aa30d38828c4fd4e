"""Outcomes format round-trip, validation, costs, and the four importers on real (or tiny built) files."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import orjson
import pytest

from switchman.errors import DatasetError
from switchman.learning.importers import import_dataset
from switchman.learning.outcomes import (
    ModelOutcome,
    OutcomeRecord,
    fill_costs,
    read_outcomes,
    routing_text,
    to_matrix,
    write_outcomes,
)


def test_round_trip_and_matrix(tmp_path: Path) -> None:
    recs = [
        OutcomeRecord("a", {"big": ModelOutcome(1.0, 0.01, 10, 20), "small": ModelOutcome(0.0)}, prompt="hi"),
        OutcomeRecord(
            "b",
            {"big": ModelOutcome(0.5)},
            messages=({"role": "system", "content": "s"}, {"role": "user", "content": "q"}),
            task="t",
        ),
    ]
    path = tmp_path / "o.jsonl"
    assert write_outcomes(path, recs) == 2
    back = read_outcomes(path)
    assert back == recs
    m = to_matrix(back)
    assert m.models == ("big", "small")
    assert m.texts == ("hi", "q")
    assert np.isnan(m.scores[1, 1]) and m.scores[0, 0] == 1.0
    assert m.fingerprint == to_matrix(read_outcomes(path)).fingerprint
    assert m.subset([1]).ids == ("b",)


def test_routing_text_is_the_last_user_turn_text() -> None:
    msgs = [
        {"role": "system", "content": "sys"},
        {
            "role": "user",
            "content": [{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {}}],
        },
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "again"},
    ]
    assert routing_text(None, msgs) == "again"
    assert routing_text(None, msgs[:2]) == "look"
    assert routing_text("p", msgs) == "p"


@pytest.mark.parametrize(
    "line",
    [
        b'{"id": "x", "outcomes": {"m": {"score": 1}}}',
        b'{"id": "x", "prompt": "p", "outcomes": {"m": {"score": 2}}}',
        b'{"id": "x", "prompt": "p", "outcomes": {"m": {"cost": 1}}}',
        b"not json",
    ],
)
def test_invalid_lines_raise(tmp_path: Path, line: bytes) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(line + b"\n")
    with pytest.raises(DatasetError):
        read_outcomes(path)


def test_fill_costs_from_prices() -> None:
    rec = OutcomeRecord("a", {"m": ModelOutcome(1.0, input_tokens=1000, output_tokens=500)}, prompt="x")
    (filled,) = fill_costs([rec], {"m": (2.0, 10.0)})
    assert filled.outcomes["m"].cost == pytest.approx((1000 * 2 + 500 * 10) / 1e6)


def test_routellm_importer_drops_contaminated(shared_data: Path) -> None:
    src = shared_data / "routellm-mmlu"
    one = list(import_dataset("routellm", src / "responses" / "mmlu_global_facts.csv"))
    assert len(one) == 100 and one[0].task == "global_facts"
    assert set(one[0].outcomes) == {"mistralai/Mixtral-8x7B-Instruct-v0.1", "gpt-4-1106-preview"}
    m = to_matrix(list(import_dataset("routellm", src)))
    assert len(m) == 14037  # 14,042 minus RouteLLM's 5 contaminated prompts
    assert np.nanmean(m.scores, axis=0) == pytest.approx([0.6809, 0.8059], abs=1e-3)


def test_llmrouter_importer_tasks_and_costs(shared_data: Path) -> None:
    m = to_matrix(list(import_dataset("llmrouter", shared_data / "llmrouter-9models")))
    assert len(m) == 500 and len(m.models) == 9
    assert len(set(m.tasks)) == 10 and None not in m.tasks
    assert m.has_costs
    j = m.models.index("llama-3.1-nemotron-51b-instruct")
    assert float(np.mean(m.scores[:, j])) == pytest.approx(0.563, abs=1e-3)


def test_routerarena_importer_exact_costs(shared_data: Path) -> None:
    recs = list(import_dataset("routerarena", shared_data / "routerarena-2models"))
    m = to_matrix(recs)
    assert len(m) == 809 and m.has_costs
    totals = dict(zip(m.models, np.sum(m.costs, axis=0), strict=True))
    assert totals["gemini-2.0-flash-001"] == pytest.approx(0.0384, abs=1e-3)
    assert totals["claude-3-haiku-20240307"] == pytest.approx(0.1424, abs=1e-3)
    assert recs[0].outcomes["gemini-2.0-flash-001"].input_tokens is not None


def test_routerbench_importer_on_built_csv_and_jsonl(tmp_path: Path) -> None:
    rows = [
        {"sample_id": "mmlu.1", "eval_name": "mmlu", "prompt": "['Q1 part', 'Q1 more']", "gpt-4": "1",
         "gpt-4|total_cost": "0.002", "mixtral": "0", "mixtral|total_cost": "0.0001"},
        {"sample_id": "gsm.7", "eval_name": "gsm8k", "prompt": "What is 2+2?", "gpt-4": "0.5",
         "gpt-4|total_cost": "0.001", "mixtral": "1", "mixtral|total_cost": "0.00005"},
    ]  # fmt: skip
    csv_path = tmp_path / "rb.csv"
    with csv_path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    jsonl_path = tmp_path / "rb.jsonl"
    jsonl_path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    for path in (csv_path, jsonl_path):
        recs = list(import_dataset("routerbench", path))
        assert [r.id for r in recs] == ["mmlu.1", "gsm.7"]
        assert recs[0].prompt == "Q1 part\n\nQ1 more" and recs[1].task == "gsm8k"
        assert recs[0].outcomes["gpt-4"] == ModelOutcome(1.0, 0.002)
        assert recs[1].outcomes["mixtral"] == ModelOutcome(1.0, 0.00005)


def test_unknown_format_and_missing_source(tmp_path: Path) -> None:
    with pytest.raises(DatasetError):
        import_dataset("nope", tmp_path)
    with pytest.raises(DatasetError):
        import_dataset("routellm", tmp_path / "missing")
