"""Prometheus metrics (``GET /metrics``), fed from the call records.

``submit`` only queues the record; the counters are updated in batches (every second and on every
scrape), so the hot path pays almost nothing. One registry per app (no process globals), so that several
gateways can live in one test process. With ``--workers N`` each process has its own numbers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from switchman.records import CallRecord

if TYPE_CHECKING:
    from switchman.ledger.writer import LedgerWriter

#: Seconds; covers cache hits (ms) to long generations (minutes).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
BREAKER_VALUES = {"closed": 0.0, "half_open": 1.0, "open": 2.0}
_NONE = "none"


class Metrics:
    """A record sink that keeps the Prometheus series of one gateway process."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = r = registry or CollectorRegistry()
        self._pending: deque[CallRecord] = deque()
        self._task: asyncio.Task[None] | None = None
        #: Called at scrape time for the current breaker states (deployment → closed/half_open/open).
        self.breaker_source: Callable[[], Mapping[str, str]] | None = None
        self.requests = Counter(
            "switchman_requests", "Requests answered.", ["router", "model", "status", "stream"], registry=r
        )
        self.tokens = Counter("switchman_tokens", "Tokens by kind.", ["model", "kind"], registry=r)
        self.cost = Counter("switchman_cost_usd", "Cost of the served calls, USD.", ["model"], registry=r)
        self.baseline = Counter(
            "switchman_baseline_cost_usd", "What the baseline model would have cost, USD.", registry=r
        )
        self.savings = Counter(
            "switchman_savings_usd",
            "Savings against the baseline model, USD (a call dearer than the baseline adds 0).",
            registry=r,
        )
        self.latency = Histogram(
            "switchman_request_duration_seconds",
            "Whole-request latency.",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.ttft = Histogram(
            "switchman_ttft_seconds",
            "Time to the first byte of the answer (first token for streams).",
            ["model", "stream"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.decisions = Counter(
            "switchman_routing_decisions", "Served model per router.", ["router", "model"], registry=r
        )
        self.fallbacks = Counter(
            "switchman_fallbacks",
            "Requests served by a model other than the primary.",
            ["router"],
            registry=r,
        )
        self.attempts = Counter(
            "switchman_upstream_attempts", "Upstream attempts.", ["model", "outcome"], registry=r
        )
        self.errors = Counter("switchman_errors", "Failed requests by error type.", ["error"], registry=r)
        self.usage_reported = Counter(
            "switchman_usage_reported",
            "Requests whose tokens came from the upstream's usage (not estimated).",
            registry=r,
        )
        self.usage_total = Counter("switchman_usage_settled", "Requests with token counts.", registry=r)
        self.capture = Gauge(
            "switchman_spend_capture_ratio",
            "Share of requests whose spend comes from upstream usage (1 = nothing estimated).",
            registry=r,
        )
        self.capture.set_function(self._capture_ratio)
        self.breaker = Gauge(
            "switchman_breaker_state",
            "Circuit breaker per deployment: 0 closed, 1 half-open, 2 open.",
            ["deployment"],
            registry=r,
        )
        self.ledger_queue = Gauge(
            "switchman_ledger_queue_depth", "Records waiting to be written.", registry=r
        )
        self.ledger_spooled = Gauge(
            "switchman_ledger_spooled_records", "Records spooled to disk, not yet replayed.", registry=r
        )
        self.ledger_up = Gauge(
            "switchman_ledger_up", "1 when the ledger database accepts writes.", registry=r
        )
        self.ledger_written = Gauge(
            "switchman_ledger_written_records", "Records written by this process.", registry=r
        )
        self.ledger_dropped = Gauge(
            "switchman_ledger_dropped_records", "Records dropped because the spool was full.", registry=r
        )
        self._usage_reported = 0
        self._usage_total = 0

    # -- the sink protocol --------------------------------------------------------------------------
    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._drain_loop(), name="metrics")

    def submit(self, record: CallRecord) -> None:
        self._pending.append(record)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.drain()

    # -- updating -----------------------------------------------------------------------------------
    def set_breaker_state(self, deployment: str, state: str) -> None:
        """``closed`` / ``half_open`` / ``open`` for one deployment (for dispatch to call)."""
        self.breaker.labels(deployment).set(BREAKER_VALUES.get(state, 0.0))

    def watch_ledger(self, writer: LedgerWriter) -> None:
        self.ledger_queue.set_function(lambda: writer.queue_depth)
        self.ledger_spooled.set_function(lambda: writer.spool.pending_rows)
        self.ledger_up.set_function(lambda: 1.0 if writer.db_up else 0.0)
        self.ledger_written.set_function(lambda: writer.written)
        self.ledger_dropped.set_function(lambda: writer.spool.dropped)

    def _capture_ratio(self) -> float:
        return self._usage_reported / self._usage_total if self._usage_total else 1.0

    async def _drain_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.drain()

    def drain(self) -> None:
        q = self._pending
        while q:
            self._observe(q.popleft())

    def _observe(self, r: CallRecord) -> None:
        model = r.model or _NONE
        router = r.router or _NONE
        self.requests.labels(router, model, str(r.status), "true" if r.stream else "false").inc()
        self.latency.labels(model).observe(r.latency_ms / 1000)
        if r.ttft_ms is not None:
            self.ttft.labels(model, "true" if r.stream else "false").observe(r.ttft_ms / 1000)
        for a in r.attempts:
            self.attempts.labels(a.model, "ok" if a.ok else (a.error or "error")).inc()
        if r.error is not None:
            self.errors.labels(r.error).inc()
        if r.model is None:
            return
        self.decisions.labels(router, model).inc()
        if r.chain and r.chain[0].get("model") != r.model:
            self.fallbacks.labels(router).inc()
        if r.input_tokens or r.output_tokens:
            self.tokens.labels(model, "input").inc(r.input_tokens)
            self.tokens.labels(model, "output").inc(r.output_tokens)
            self.tokens.labels(model, "cached").inc(r.cached_tokens)
            self.cost.labels(model).inc(r.cost_usd)
            self.baseline.inc(r.baseline_cost_usd)
            saved = r.baseline_cost_usd - r.cost_usd
            if saved > 0:
                self.savings.inc(saved)
            self._usage_total += 1
            self.usage_total.inc()
            if not r.usage_estimated:
                self._usage_reported += 1
                self.usage_reported.inc()

    def _refresh_breakers(self) -> None:
        if self.breaker_source is None:
            return
        for deployment, state in self.breaker_source().items():
            self.set_breaker_state(deployment, state)

    def render(self) -> bytes:
        self.drain()
        self._refresh_breakers()
        return generate_latest(self.registry)


METRICS = web.AppKey("switchman_metrics", Metrics)


async def metrics_handler(request: web.Request) -> web.Response:
    body = request.app[METRICS].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
