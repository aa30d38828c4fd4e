"""Helpers for ledger tests: drive mixed traffic through a real gateway with the OpenAI SDK."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import openai
from sqlalchemy import create_engine, select

from switchman.ledger.tables import calls

PRICES = {"tiny": (0.15, 0.6), "big": (3.0, 15.0)}
BASELINE = "big"


def ledger_yaml(url: str | None, data_dir: str, **extra: Any) -> str:
    lines = ["ledger:", f"  data_dir: {data_dir}", "  flush_interval_s: 0.05", "  batch_size: 50"]
    if url is not None:
        lines.append(f"  url: {url}")
    lines += [f"  {k}: {v}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


@dataclass
class Served:
    request_id: str
    model: str
    stream: bool
    input_tokens: int
    output_tokens: int
    status: int = 200


async def one_call(client: openai.AsyncOpenAI, i: int, model: str, stream: bool) -> Served:
    messages = [{"role": "user", "content": f"request {i}: " + "tell me something " * (i % 7 + 1)}]
    if not stream:
        raw = await client.chat.completions.with_raw_response.create(model=model, messages=messages)
        resp = raw.parse()
        assert resp.usage is not None
        return Served(
            raw.headers["x-switchman-request-id"],
            raw.headers["x-switchman-model"],
            False,
            resp.usage.prompt_tokens,
            resp.usage.completion_tokens,
        )
    raw_s = await client.chat.completions.with_raw_response.create(
        model=model, messages=messages, stream=True, stream_options={"include_usage": True}
    )
    usage = None
    async for chunk in raw_s.parse():
        if chunk.usage is not None:
            usage = chunk.usage
    assert usage is not None
    return Served(
        raw_s.headers["x-switchman-request-id"],
        raw_s.headers["x-switchman-model"],
        True,
        usage.prompt_tokens,
        usage.completion_tokens,
    )


async def mixed_load(base_url: str, n: int, concurrency: int = 24, start: int = 0) -> list[Served]:
    """``n`` requests, streaming and not, over a router and two explicit models."""
    models = ["switchman/auto", "tiny", "big", "switchman/quality"]
    sem = asyncio.Semaphore(concurrency)
    async with openai.AsyncOpenAI(base_url=base_url + "/v1", api_key="unused", max_retries=0) as client:

        async def run(i: int) -> Served:
            async with sem:
                return await one_call(client, i, models[i % len(models)], stream=i % 2 == 0)

        return list(await asyncio.gather(*(run(start + i) for i in range(n))))


def read_rows(url: str) -> dict[str, dict[str, Any]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {r.id: dict(r._mapping) for r in conn.execute(select(calls))}
    finally:
        engine.dispose()


def wait_rows(url: str, want: int, timeout: float = 20.0) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    rows: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        try:
            rows = read_rows(url)
        except Exception:  # the table may not exist yet, or the database is still locked
            rows = {}
        if len(rows) >= want:
            return rows
        time.sleep(0.1)
    return rows


def expected_cost(model: str, inp: int, out: int) -> tuple[float, float]:
    pi, po = PRICES[model]
    bi, bo = PRICES[BASELINE]
    return (inp * pi + out * po) / 1e6, (inp * bi + out * bo) / 1e6


def check_rows_match(served: list[Served], rows: dict[str, dict[str, Any]]) -> None:
    assert len(rows) == len(served), f"{len(rows)} ledger rows for {len(served)} requests"
    for s in served:
        row = rows[s.request_id]
        assert row["model"] == s.model
        assert row["stream"] is s.stream
        assert row["status"] == 200
        assert (row["input_tokens"], row["output_tokens"]) == (s.input_tokens, s.output_tokens)
        assert row["usage_estimated"] is False
        cost, baseline = expected_cost(s.model, s.input_tokens, s.output_tokens)
        assert abs(row["cost_usd"] - cost) <= 1e-15
        assert abs(row["baseline_cost_usd"] - baseline) <= 1e-15
        assert row["latency_ms"] > 0 and row["ttft_ms"] is not None
        assert row["chain"] and row["n_attempts"] >= 1
        assert row["prompt_body"] is None and row["response_body"] is None
