"""Alert rules over a real SQLite ledger; firings go to the log and a loopback webhook, once per dedup."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr

from switchman.alerts.runner import AlertRunner
from switchman.config.observe import AlertRuleConfig, AlertsConfig, LedgerConfig
from switchman.ledger.writer import LedgerWriter
from switchman.records import CallRecord

NOW = 1_800_000_000.0
HOUR = 3600.0


def rec(i: int, ts: float, model: str, cost: float, *, status: int = 200, latency: float = 50.0,
        feedback: float | None = None) -> CallRecord:  # fmt: skip
    r = CallRecord(request_id=f"r{i}", started=ts, requested_model="switchman/auto", stream=False)
    r.router, r.model, r.status, r.latency_ms, r.cost_usd = "switchman/auto", model, status, latency, cost
    r.baseline_cost_usd, r.feedback, r.input_tokens = 0.01, feedback, 10
    return r


async def fill(tmp: Path, records: list[CallRecord]) -> LedgerConfig:
    cfg = LedgerConfig(data_dir=str(tmp), flush_interval_s=0.01)
    w = LedgerWriter(cfg)
    await w.start()
    for r in records:
        w.submit(r)
    await w.close()
    return cfg


@pytest.fixture
async def hook() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    got: list[dict[str, Any]] = []

    async def receive(request: web.Request) -> web.Response:
        got.append(await request.json())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/hook", got
    await runner.cleanup()


def traffic() -> list[CallRecord]:
    """Yesterday: cheap, fast, good, mostly tiny. The last hour: dearer, slower, worse, more big, errors."""
    out = []
    for i in range(100):  # baseline window
        model = "big" if i % 10 == 0 else "tiny"
        out.append(rec(i, NOW - 5 * HOUR - i, model, 0.001, latency=40 + i % 5, feedback=0.9))
    for i in range(100, 160):  # current window
        model = "big" if i % 2 == 0 else "tiny"
        status = 502 if i % 10 == 0 else 200
        out.append(rec(i, NOW - 60 - i, model, 0.0015, status=status, latency=900 + i, feedback=0.8))
    return out


def rules(**over: float) -> list[AlertRuleConfig]:
    spec = [
        ("cost", "cost_per_request", 20.0),
        ("strong", "strong_share", 10.0),
        ("errors", "error_rate", 0.05),
        ("slo", "p99_latency", 1000.0),
        ("quality", "quality", 5.0),
    ]
    return [
        AlertRuleConfig(name=n, kind=k, threshold=over.get(n, t), window_s=HOUR, baseline_window_s=23 * HOUR)  # type: ignore[arg-type]
        for n, k, t in spec
    ]


async def test_every_kind_fires_once_to_log_and_webhook(
    tmp_path: Path, hook: tuple[str, list[dict[str, Any]]], caplog: pytest.LogCaptureFixture
) -> None:
    url, got = hook
    ledger = await fill(tmp_path, traffic())
    runner = AlertRunner(
        AlertsConfig(rules=rules(), webhook_url=SecretStr(url), dedup_s=600), ledger, {"big"}
    )
    await runner.start()
    try:
        with caplog.at_level(logging.WARNING, logger="switchman.alerts"):
            fired = await runner.check(NOW)
        assert {f.rule for f in fired} == {"cost", "strong", "errors", "slo", "quality"}
        by = {f.rule: f for f in fired}
        assert by["cost"].value == pytest.approx(50.0)  # 0.001 → 0.0015 USD per request
        assert by["strong"].value == pytest.approx(40.0)  # 10 % → 50 % of requests to the strong tier
        assert by["errors"].value == pytest.approx(0.1)
        assert by["quality"].value == pytest.approx(100 * (1 - 0.8 / 0.9))
        assert sorted(h["alert"] for h in got) == sorted(by)
        assert sum("alert: " in r.getMessage() for r in caplog.records) == 5
        # de-duplication: the same conditions a minute later fire nothing
        assert await runner.check(NOW + 60) == []
        assert len(got) == 5
        # after the dedup window they fire again
        assert len(await runner.check(NOW + 601)) == 5
        assert len(got) == 10
    finally:
        await runner.close()


async def test_quiet_when_under_thresholds_and_webhook_down(tmp_path: Path) -> None:
    ledger = await fill(tmp_path, traffic())
    quiet = rules(cost=60, strong=50, errors=0.2, slo=5000, quality=20)
    dead = "http://127.0.0.1:9/hook"  # nothing listens: the failure is logged, never raised
    runner = AlertRunner(AlertsConfig(rules=quiet, webhook_url=SecretStr(dead)), ledger, {"big"})
    await runner.start()
    try:
        assert await runner.check(NOW) == []
        loud = AlertRunner(AlertsConfig(rules=rules(), webhook_url=SecretStr(dead)), ledger, {"big"})
        await loud.start()
        assert len(await loud.check(NOW)) == 5
        await loud.close()
    finally:
        await runner.close()


async def test_too_few_requests_never_fire(tmp_path: Path) -> None:
    ledger = await fill(tmp_path, traffic()[:100] + traffic()[100:105])
    runner = AlertRunner(AlertsConfig(rules=rules()), ledger, {"big"})
    await runner.start()
    try:
        assert await runner.check(NOW) == []
    finally:
        await runner.close()
