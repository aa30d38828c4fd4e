"""Tracing benchmarks: what ``tracing.enabled`` costs a request and the process.

    .venv/bin/python bench/tracing_cost.py

- ``submit``: microseconds on the request path (a deque append);
- span building: CPU microseconds per record in the background task (one SERVER + one CLIENT span, or
  three CLIENT spans for a fallback), with the SDK's ``BatchSpanProcessor`` queueing them;
- OTLP encoding: CPU microseconds per record for the protobuf body (done in the exporter's thread);
- RSS (VmRSS, Linux): a process that has built the gateway app, tracing off vs on (OTLP exporter).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Sequence

from switchman.config.observe import TracingConfig
from switchman.records import Attempt, CallRecord


def make_records(n: int, attempts: int) -> list[CallRecord]:
    out, now = [], time.time()
    for i in range(n):
        r = CallRecord(
            request_id=f"req_{i}", started=now, requested_model="switchman/auto", stream=i % 2 == 0
        )
        r.router, r.route, r.model = "switchman/auto", "switchman/auto;cheapest", "tiny"
        r.chain = [{"model": "broken", "q": 0.8, "cost": 1e-5, "reason": "cheapest"}]
        r.attempts = [Attempt("broken", "local", False, 3.0, 503, "UpstreamServerError")] * (attempts - 1)
        r.attempts.append(Attempt("tiny", "local", True, 41.5, 200))
        r.input_tokens, r.output_tokens, r.cost_usd, r.baseline_cost_usd = 120, 48, 4.7e-5, 1.08e-3
        r.latency_ms, r.ttft_ms = 52.0, 45.0
        r.traceparent = f"00-{i + 1:032x}-{i + 1:016x}-01" if i % 2 else None
        out.append(r)
    return out


class _Discard:
    """A span exporter that keeps nothing (so the measurement is span building, not exporting)."""

    def export(self, spans: Sequence[object]) -> object:
        from opentelemetry.sdk.trace.export import SpanExportResult

        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def build_cost(n: int, attempts: int) -> tuple[float, float, float, float]:
    """(µs per submit, µs per record to build its spans, µs and bytes per record OTLP-encoded)."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from switchman.serving.tracing import TracingSink, make_provider

    config = TracingConfig(enabled=True, exporter="none", queue_max=n)
    provider = make_provider(config)
    provider.add_span_processor(BatchSpanProcessor(_Discard(), max_queue_size=4 * n))  # type: ignore[arg-type]
    sink = TracingSink(config, provider)
    records = make_records(n, attempts)
    t0 = time.perf_counter()
    for r in records:
        sink.submit(r)
    submit = (time.perf_counter() - t0) / n * 1e6
    t0 = time.process_time()
    sink.drain()
    build = (time.process_time() - t0) / n * 1e6
    provider.shutdown()

    keep = InMemorySpanExporter()
    provider = make_provider(config)
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider.add_span_processor(SimpleSpanProcessor(keep))
    sink = TracingSink(config, provider)
    m = min(n, 5000)
    for r in records[:m]:
        sink.submit(r)
    sink.drain()
    spans = keep.get_finished_spans()
    t0 = time.process_time()
    body = encode_spans(spans).SerializeToString()
    encode = (time.process_time() - t0) / m * 1e6
    return submit, build, encode, len(body) / m


RSS_CODE = """
import sys
from switchman.config.load import parse_config
from switchman.serving.app import create_app
text = '''
providers: {{s: {{type: sim}}}}
models: {{m: {{provider: s}}}}
ledger: {{enabled: false}}
tracing: {{enabled: {enabled}}}
'''
app = create_app(parse_config(text, env={{}}))
rss = next(int(x.split()[1]) for x in open('/proc/self/status') if x.startswith('VmRSS:'))
print(rss / 1024, sum('opentelemetry' in m for m in sys.modules))
"""


def rss(enabled: bool) -> tuple[float, int]:
    out = subprocess.run(
        [sys.executable, "-c", RSS_CODE.format(enabled=str(enabled).lower())],
        capture_output=True,
        text=True,
        check=True,
    )
    mib, modules = out.stdout.split()
    return float(mib), int(modules)


async def main() -> None:
    for attempts in (1, 3):
        best = min((build_cost(20_000, attempts) for _ in range(3)), key=lambda t: t[1])
        print(
            f"{attempts} attempt(s): submit {best[0]:.2f} µs; spans built {best[1]:.1f} µs/request "
            f"(background); OTLP encoding {best[2]:.1f} µs and {best[3]:.0f} bytes/request (exporter thread)"
        )
    for enabled in (False, True):
        runs = [rss(enabled) for _ in range(3)]
        print(
            f"tracing {'on ' if enabled else 'off'}: RSS after create_app {min(r[0] for r in runs):.1f} MiB, "
            f"{runs[0][1]} opentelemetry modules"
        )


if __name__ == "__main__":
    asyncio.run(main())
