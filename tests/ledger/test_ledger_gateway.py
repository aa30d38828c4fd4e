"""Ledger rows equal requests served, through a real gateway under concurrent mixed traffic."""

from __future__ import annotations

from pathlib import Path

import pytest
from ledger_helpers import check_rows_match, ledger_yaml, mixed_load, wait_rows
from ledger_pg import pg_url  # noqa: F401  (fixture)

from helpers import SECRET, gateway_config, start_gateway, start_sim

SIM = """
models:
  tiny-up: {answer_words: 12}
  big-up: {answer_words: 30}
"""


def _sqlite_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'ledger.db'}"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_rows_equal_requests_with_exact_usage(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "postgresql":
        url: str | None = request.getfixturevalue("pg_url")
    else:
        url = None  # the default: SQLite (WAL) in the data directory
    data = tmp_path / "data"
    sim = start_sim(tmp_path, SIM)
    gw = start_gateway(
        tmp_path, gateway_config(sim.url, ledger_yaml(url, str(data))), env={"SIM_API_KEY": SECRET}
    )
    try:
        served = await mixed_load(gw.url, 120)
        read_url = url or _sqlite_url(data)
        rows = wait_rows(read_url, len(served))
        check_rows_match(served, rows)
        assert {r["stream"] for r in rows.values()} == {True, False}
        assert {r["model"] for r in rows.values()} == {"tiny", "big"}
    finally:
        gw.stop()
        sim.stop()
    # nothing spooled: the database was up the whole time
    assert not list((data / "spool").glob("spool-*"))


def test_bodies_are_stored_only_for_enabled_routers(tmp_path: Path) -> None:
    import json

    import openai

    data = tmp_path / "data"
    sim = start_sim(tmp_path, SIM)
    ledger = ledger_yaml(None, str(data), store_bodies_routers="[switchman/quality]")
    gw = start_gateway(tmp_path, gateway_config(sim.url, ledger), env={"SIM_API_KEY": SECRET})
    try:
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key="x", max_retries=0)
        msgs = [{"role": "user", "content": "keep this prompt"}]
        kept = client.chat.completions.with_raw_response.create(model="switchman/quality", messages=msgs)
        streamed = client.chat.completions.with_raw_response.create(
            model="switchman/quality", messages=msgs, stream=True
        )
        text = "".join(c.choices[0].delta.content or "" for c in streamed.parse() if c.choices)
        plain = client.chat.completions.with_raw_response.create(model="switchman/auto", messages=msgs)
        rows = wait_rows(_sqlite_url(data), 3)
    finally:
        gw.stop()
        sim.stop()
    row = rows[kept.headers["x-switchman-request-id"]]
    assert json.loads(row["prompt_body"])["messages"] == msgs
    assert json.loads(row["response_body"])["choices"][0]["message"]["content"] == (
        kept.parse().choices[0].message.content
    )
    srow = rows[streamed.headers["x-switchman-request-id"]]
    assert srow["response_body"] == text and "keep this prompt" in srow["prompt_body"]
    prow = rows[plain.headers["x-switchman-request-id"]]
    assert prow["prompt_body"] is None and prow["response_body"] is None
    assert "keep this prompt" not in gw.log_text()  # bodies go to the ledger, never to the log
