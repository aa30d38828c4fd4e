"""Prometheus metrics (``GET /metrics``), fed from the call records.

``submit`` only queues the record (a deque append). Once a second, and on every scrape, the queued
records are tallied into plain dicts; the exposition is built from those at scrape time by a custom
collector (prometheus-client's per-sample ``labels().inc()`` cost ~40 µs per record, the tally ~5 µs).
One registry per app (no process globals), so several gateways can live in one test process. With
``--workers N`` each process has its own numbers.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
from bisect import bisect_left
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from switchman.errors import AuthenticationFailed, to_openai_error
from switchman.records import CallRecord
from switchman.serving.keys import STATE

if TYPE_CHECKING:
    from switchman.ledger.writer import LedgerWriter

#: Seconds; covers cache hits (ms) to long generations (minutes).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
BREAKER_VALUES = {"closed": 0.0, "half_open": 1.0, "open": 2.0}
_NONE = "none"


class _Histogram:
    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.total = 0.0

    def observe(self, v: float) -> None:
        self.counts[bisect_left(LATENCY_BUCKETS, v)] += 1
        self.total += v

    def buckets(self) -> list[tuple[str, float]]:
        out, acc = [], 0
        for bound, n in zip((*(str(b) for b in LATENCY_BUCKETS), "+Inf"), self.counts, strict=True):
            acc += n
            out.append((bound, float(acc)))
        return out


class Metrics:
    """A record sink that keeps the Prometheus series of one gateway process."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self._pending: deque[CallRecord] = deque()
        self._task: asyncio.Task[None] | None = None
        #: Called at scrape time for the current breaker states (deployment → closed/half_open/open).
        self.breaker_source: Callable[[], Mapping[str, str]] | None = None
        self._breakers: dict[str, float] = {}
        self._ledger: LedgerWriter | None = None
        self.requests: Counter[tuple[str, str, str, str]] = Counter()
        self.tokens: Counter[tuple[str, str]] = Counter()
        self.cost: defaultdict[str, float] = defaultdict(float)
        self.baseline = 0.0
        self.savings = 0.0
        self.decisions: Counter[tuple[str, str]] = Counter()
        self.fallbacks: Counter[str] = Counter()
        self.attempts: Counter[tuple[str, str]] = Counter()
        self.errors: Counter[str] = Counter()
        self.usage_reported = 0
        self.usage_settled = 0
        self.latency: dict[str, _Histogram] = {}
        self.ttft: dict[tuple[str, str], _Histogram] = {}
        self.registry.register(self)

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

    # -- feeding ------------------------------------------------------------------------------------
    def set_breaker_state(self, deployment: str, state: str) -> None:
        """``closed`` / ``half_open`` / ``open`` for one deployment (for dispatch to call)."""
        self._breakers[deployment] = BREAKER_VALUES.get(state, 0.0)

    def watch_ledger(self, writer: LedgerWriter) -> None:
        self._ledger = writer

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
        stream = "true" if r.stream else "false"
        self.requests[router, model, str(r.status), stream] += 1
        h = self.latency.get(model) or self.latency.setdefault(model, _Histogram())
        h.observe(r.latency_ms / 1000)
        if r.ttft_ms is not None:
            t = self.ttft.get((model, stream)) or self.ttft.setdefault((model, stream), _Histogram())
            t.observe(r.ttft_ms / 1000)
        for a in r.attempts:
            self.attempts[a.model, "ok" if a.ok else (a.error or "error")] += 1
        if r.error is not None:
            self.errors[r.error] += 1
        if r.model is None:
            return
        self.decisions[router, model] += 1
        if r.chain and r.chain[0].get("model") != r.model:
            self.fallbacks[router] += 1
        if r.input_tokens or r.output_tokens:
            self.tokens[model, "input"] += r.input_tokens
            self.tokens[model, "output"] += r.output_tokens
            self.tokens[model, "cached"] += r.cached_tokens
            self.cost[model] += r.cost_usd
            self.baseline += r.baseline_cost_usd
            self.savings += max(r.baseline_cost_usd - r.cost_usd, 0.0)
            self.usage_settled += 1
            self.usage_reported += not r.usage_estimated

    # -- exposition (the prometheus-client collector protocol) --------------------------------------
    def collect(self) -> Iterator[Metric]:
        yield _counter(
            "requests", "Requests answered.", ["router", "model", "status", "stream"], self.requests
        )
        yield _counter("tokens", "Tokens by kind (input, output, cached).", ["model", "kind"], self.tokens)
        yield _counter("cost_usd", "Cost of the served calls, USD.", ["model"], self.cost)
        yield CounterMetricFamily(
            "switchman_baseline_cost_usd",
            "What the baseline model would have cost, USD.",
            value=self.baseline,
        )
        yield CounterMetricFamily(
            "switchman_savings_usd",
            "Savings against the baseline model, USD (a call dearer than the baseline adds 0).",
            value=self.savings,
        )
        yield _counter("routing_decisions", "Served model per router.", ["router", "model"], self.decisions)
        yield _counter(
            "fallbacks", "Requests served by a model other than the primary.", ["router"], self.fallbacks
        )
        yield _counter("upstream_attempts", "Upstream attempts.", ["model", "outcome"], self.attempts)
        yield _counter("errors", "Failed requests by error type.", ["error"], self.errors)
        yield CounterMetricFamily(
            "switchman_usage_reported",
            "Requests whose tokens came from the upstream's usage (not estimated).",
            value=self.usage_reported,
        )
        yield CounterMetricFamily(
            "switchman_usage_settled", "Requests with token counts.", value=self.usage_settled
        )
        ratio = self.usage_reported / self.usage_settled if self.usage_settled else 1.0
        yield GaugeMetricFamily(
            "switchman_spend_capture_ratio",
            "Share of requests whose spend comes from upstream usage (1 = nothing estimated).",
            value=ratio,
        )
        lat = HistogramMetricFamily(
            "switchman_request_duration_seconds", "Whole-request latency.", labels=["model"]
        )
        for m, h in self.latency.items():
            lat.add_metric([m], h.buckets(), h.total)
        yield lat
        ttft = HistogramMetricFamily(
            "switchman_ttft_seconds",
            "Time to the first byte of the answer (first token for streams).",
            labels=["model", "stream"],
        )
        for (m, s), h in self.ttft.items():
            ttft.add_metric([m, s], h.buckets(), h.total)
        yield ttft
        breakers = GaugeMetricFamily(
            "switchman_breaker_state",
            "Circuit breaker per deployment: 0 closed, 1 half-open, 2 open.",
            labels=["deployment"],
        )
        for d, v in sorted(self._breakers.items()):
            breakers.add_metric([d], v)
        yield breakers
        yield from self._ledger_gauges()

    def _ledger_gauges(self) -> Iterator[Metric]:
        w = self._ledger
        if w is None:
            return
        for name, doc, value in (
            ("ledger_queue_depth", "Records waiting to be written.", w.queue_depth),
            ("ledger_spooled_records", "Records spooled to disk, not yet replayed.", w.spool.pending_rows),
            ("ledger_up", "1 when the ledger database accepts writes.", 1.0 if w.db_up else 0.0),
            ("ledger_written_records", "Records written by this process.", w.written),
            ("ledger_dropped_records", "Records dropped because the spool was full.", w.spool.dropped),
        ):
            yield GaugeMetricFamily("switchman_" + name, doc, value=value)

    def render(self) -> bytes:
        self.drain()
        if self.breaker_source is not None:
            for deployment, state in self.breaker_source().items():
                self.set_breaker_state(deployment, state)
        return generate_latest(self.registry)


def _counter(name: str, doc: str, labels: list[str], values: Mapping[Any, float]) -> CounterMetricFamily:
    fam = CounterMetricFamily("switchman_" + name, doc, labels=labels)
    for key, v in values.items():
        fam.add_metric(list(key) if isinstance(key, tuple) else [str(key)], v)
    return fam


METRICS = web.AppKey("switchman_metrics", Metrics)


async def metrics_handler(request: web.Request) -> web.Response:
    """The exposition; 401 (OpenAI error shape) without the configured bearer token."""
    token = request.app[STATE].runtime.config.metrics.bearer_token
    if token is not None:
        given = request.headers.get("Authorization", "")
        expected = "Bearer " + token.get_secret_value()
        if not hmac.compare_digest(given.encode(), expected.encode()):
            status, error = to_openai_error(AuthenticationFailed("/metrics needs its bearer token"))
            return web.json_response(error, status=status, headers={"WWW-Authenticate": "Bearer"})
    body = request.app[METRICS].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
