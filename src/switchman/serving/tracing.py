"""OpenTelemetry traces built from the call records (``tracing.enabled``; the ``otel`` extra).

Nothing here runs on a request's path: ``submit`` appends the finished record to a deque, and a
background task turns the waiting records into spans with explicit timestamps, ten times a second and
16 records at a time between yields to the event loop. Each request becomes one SERVER span
(``chat <requested model>``, GenAI semantic-convention attributes plus ``switchman.*``), joined to the
client's trace when the request carried a W3C ``traceparent``, with one CLIENT child span per upstream
attempt. Attempts carry their own latency but not their start time, so they are laid back to back, the
last one ending at the first byte (or at the end of a failed request). Prompt and answer bodies, keys
and tenants never go into a span.

This module is imported only when tracing is enabled; it imports OpenTelemetry inside functions, and a
missing package is a ``ConfigError`` naming the extra to install.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import TYPE_CHECKING, Any

from aiohttp import web

from switchman import __version__
from switchman.config.observe import TracingConfig
from switchman.errors import ConfigError
from switchman.records import CallRecord

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Tracer

log = logging.getLogger("switchman.tracing")

INSTALL_HINT = "pip install 'switchman[otel]'"
#: How often waiting records become spans, seconds; and how many are converted between two yields to
#: the event loop (~80 µs each: a chunk holds the loop ~1.5 ms at most).
INTERVAL_S = 0.1
CHUNK = 16


def _require_otel() -> None:
    try:
        import opentelemetry.sdk.trace
        import opentelemetry.trace  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            f"tracing.enabled: OpenTelemetry is not installed (no module {exc.name!r}); {INSTALL_HINT}"
        ) from None


def make_provider(config: TracingConfig) -> TracerProvider:
    """A tracer provider with the configured resource and sampler, and no span processor yet."""
    _require_otel()
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    resource = Resource.create({"service.name": config.service_name, "service.version": __version__})
    sampler = ParentBased(TraceIdRatioBased(config.sample_ratio))
    return TracerProvider(sampler=sampler, resource=resource, shutdown_on_exit=False)


def make_exporter(config: TracingConfig) -> SpanExporter | None:
    """The configured exporter (``None`` for ``exporter: none``)."""
    _require_otel()
    if config.exporter == "none":
        return None
    if config.exporter == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as exc:
        raise ConfigError(
            f"tracing.exporter: otlp needs opentelemetry-exporter-otlp-proto-http (no module {exc.name!r}); "
            f"{INSTALL_HINT}"
        ) from None
    headers = {k: v.get_secret_value() for k, v in config.headers.items()}
    return OTLPSpanExporter(endpoint=config.endpoint, headers=headers, timeout=config.timeout_s)


class TracingSink:
    """A record sink that turns call records into OpenTelemetry spans, off the request path.

    ``provider`` defaults to one built from ``config`` (and shut down at ``close``); the exporter
    (OTLP/HTTP or console, behind the SDK's ``BatchSpanProcessor``) is added to it at ``start``. With
    ``exporter: none`` spans are made but go nowhere until a caller adds a span processor of its own to
    ``provider`` (tests do, with the SDK's in-memory exporter).
    """

    def __init__(self, config: TracingConfig, provider: TracerProvider | None = None) -> None:
        self.config = config
        self.provider = provider if provider is not None else make_provider(config)
        self._owns_provider = provider is None
        self._exporter = make_exporter(config)  # built now so that a missing package fails at startup
        self._tracer: Tracer = self.provider.get_tracer("switchman", __version__)
        self._queue: deque[CallRecord] = deque(maxlen=config.queue_max)
        self._task: asyncio.Task[None] | None = None
        #: Records dropped because the queue was full, and spans failed to build (both only counted).
        self.dropped = 0
        self.failed = 0
        self._reported_drops = 0

    # -- the sink protocol --------------------------------------------------------------------------
    async def start(self) -> None:
        if self._exporter is not None:
            from opentelemetry.sdk.trace.export import BatchSpanProcessor

            self.provider.add_span_processor(BatchSpanProcessor(self._exporter))
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="tracing")

    def submit(self, record: CallRecord) -> None:
        q = self._queue
        if len(q) == q.maxlen:
            self.dropped += 1
        q.append(record)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.drain()
        # flushing may wait on the network (OTLP): not on the event loop. A provider given by the
        # caller is flushed, not shut down: it is the caller's.
        await asyncio.to_thread(self.provider.shutdown if self._owns_provider else self.provider.force_flush)

    # -- conversion ---------------------------------------------------------------------------------
    async def flush(self) -> None:
        """Turn every waiting record into spans now and push them through the span processors."""
        self.drain()
        await asyncio.to_thread(self.provider.force_flush)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(INTERVAL_S)
            while self._queue:
                self.drain(CHUNK)
                await asyncio.sleep(0)
            if self.dropped != self._reported_drops:
                log.warning(
                    "tracing queue full: records dropped",
                    extra={
                        "dropped": self.dropped - self._reported_drops,
                        "queue_max": self.config.queue_max,
                    },
                )
                self._reported_drops = self.dropped

    def drain(self, limit: int | None = None) -> int:
        """Turn up to ``limit`` waiting records (all by default) into spans; the number converted."""
        q, n = self._queue, 0
        while q and (limit is None or n < limit):
            record = q.popleft()
            n += 1
            try:
                self._spans(record)
            except Exception:
                self.failed += 1
                log.exception(
                    "could not build the spans of a request", extra={"request_id": record.request_id}
                )
        return n

    def _spans(self, r: CallRecord) -> None:
        from opentelemetry import trace
        from opentelemetry.trace import SpanKind, Status, StatusCode

        start_ns = int(r.started * 1e9)
        total_ns = max(0, int(r.latency_ms * 1e6))
        name = f"chat {r.requested_model}" if r.requested_model else "chat"
        root = self._tracer.start_span(
            name,
            context=_remote_parent(r.traceparent),
            kind=SpanKind.SERVER,
            attributes=_root_attributes(r),
            start_time=start_ns,
        )
        if root.is_recording():
            context = trace.set_span_in_context(root)
            for i, (a, (t0, t1)) in enumerate(zip(r.attempts, attempt_times(r), strict=True)):
                attrs: dict[str, Any] = {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": a.model,
                    "switchman.attempt": i,
                    "switchman.provider": a.provider,
                }
                if a.status is not None:
                    attrs["http.response.status_code"] = a.status
                if a.error is not None:
                    attrs["error.type"] = a.error
                span = self._tracer.start_span(
                    f"chat {a.model}",
                    context=context,
                    kind=SpanKind.CLIENT,
                    attributes=attrs,
                    start_time=start_ns + t0,
                )
                if not a.ok:
                    span.set_status(Status(StatusCode.ERROR, a.error))
                span.end(end_time=start_ns + t1)
            if r.status >= 500:
                root.set_status(Status(StatusCode.ERROR, r.error))
        root.end(end_time=start_ns + total_ns)


def attempt_times(r: CallRecord) -> list[tuple[int, int]]:
    """(start, end) of each attempt in nanoseconds from the request's start.

    Back to back, the last ending at the first byte (``ttft_ms``; the end of the request when there was
    none), clamped inside the request.
    """
    total = max(0, int(r.latency_ms * 1e6))
    anchor = total if r.ttft_ms is None else min(total, max(0, int(r.ttft_ms * 1e6)))
    durations = [max(0, int(a.latency_ms * 1e6)) for a in r.attempts]
    t = max(0, anchor - sum(durations))
    out = []
    for d in durations:
        end = min(t + d, total)
        out.append((t, end))
        t = end
    return out


def _root_attributes(r: CallRecord) -> dict[str, Any]:
    """The request span's attributes; the rare ones only when they say something (each costs the SDK and
    the OTLP encoding ~2 µs)."""
    served_other = bool(r.chain) and r.model is not None and r.model != r.chain[0].get("model")
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.stream": r.stream,
        "gen_ai.usage.input_tokens": r.input_tokens,
        "gen_ai.usage.output_tokens": r.output_tokens,
        "switchman.request_id": r.request_id,
        "switchman.status": r.status,
        "switchman.stream": r.stream,
        "switchman.fallback": served_other or len({a.model for a in r.attempts}) > 1,
        "switchman.cost_usd": r.cost_usd,
        "switchman.baseline_cost_usd": r.baseline_cost_usd,
        "http.response.status_code": r.status,
    }
    optional = {
        "gen_ai.request.model": r.requested_model or None,
        "gen_ai.response.model": r.model,
        "gen_ai.usage.cache_read.input_tokens": r.cached_tokens or None,
        "switchman.router": r.router,
        "switchman.route": r.route,
        "switchman.ttft_ms": r.ttft_ms,
        "switchman.usage_estimated": r.usage_estimated or None,
        "switchman.truncated": r.truncated or None,
        "error.type": r.error,
    }
    attrs.update((k, v) for k, v in optional.items() if v is not None)
    return attrs


def _remote_parent(traceparent: str | None) -> Context | None:
    """The client's span (from its ``traceparent`` header) as a parent context; None when absent/invalid."""
    if not traceparent:
        return None
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    context = TraceContextTextMapPropagator().extract({"traceparent": traceparent})
    return context if trace.get_current_span(context).get_span_context().is_valid else None


TRACING = web.AppKey("switchman_tracing", TracingSink)
