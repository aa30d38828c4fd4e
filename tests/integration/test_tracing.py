"""OpenTelemetry traces: a real gateway in front of `switchman sim`, the official OpenAI SDK as the client.

Spans are collected with the SDK's in-memory exporter (``exporter: none`` and a span processor added to
the sink's provider) and, in one test, exported over OTLP/HTTP to a loopback receiver.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import openai
import pytest
from aiohttp import web
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from helpers import SECRET, Proc, app_client, free_port, gateway_config, start_gateway
from switchman.config.load import parse_config
from switchman.config.model import Config
from switchman.config.observe import TracingConfig
from switchman.errors import ConfigError
from switchman.records import Attempt, CallRecord
from switchman.serving.app import create_app
from switchman.serving.keys import STATE
from switchman.serving.tracing import TRACING, TracingSink, attempt_times

PROMPT = "Name three primary colours, tracing-probe-7731."
MSG = [{"role": "user", "content": PROMPT}]
# prices of the gateway_config models: USD per 1M tokens (input, output); big is the baseline
TINY, BIG = (0.15, 0.6), (3.0, 15.0)

FLAKY_ROUTER = """
  switchman/flaky:
    policy: cheapest
    models: [broken, tiny]
"""


def config(sim: Proc, tracing: str, env: dict[str, str] | None = None) -> Config:
    extra = FLAKY_ROUTER + f"dispatch: {{max_retries: 0}}\nledger: {{enabled: false}}\ntracing: {tracing}\n"
    return parse_config(gateway_config(sim.url, extra), env={"SIM_API_KEY": SECRET, **(env or {})})


@dataclass
class Traced:
    client: openai.AsyncOpenAI
    sink: TracingSink
    exporter: InMemorySpanExporter

    async def spans(self) -> Sequence[ReadableSpan]:
        await self.sink.flush()
        return self.exporter.get_finished_spans()


@contextlib.asynccontextmanager
async def traced_gateway(cfg: Config) -> AsyncIterator[Traced]:
    app = create_app(cfg)
    sink = app[TRACING]
    exporter = InMemorySpanExporter()
    sink.provider.add_span_processor(SimpleSpanProcessor(exporter))
    async with app_client(app) as client:
        yield Traced(client, sink, exporter)


def roots(spans: Sequence[ReadableSpan]) -> list[ReadableSpan]:
    return [s for s in spans if s.kind == SpanKind.SERVER]


def children(spans: Sequence[ReadableSpan], root: ReadableSpan) -> list[ReadableSpan]:
    assert root.context is not None
    kids = [s for s in spans if s.parent is not None and s.parent.span_id == root.context.span_id]
    return sorted(kids, key=lambda s: s.start_time or 0)


def usd(tokens_in: int, tokens_out: int, prices: tuple[float, float]) -> float:
    return (tokens_in * prices[0] + tokens_out * prices[1]) / 1e6


def traceparent() -> tuple[int, int, str]:
    trace_id, span_id = random.getrandbits(128) | 1, random.getrandbits(64) | 1
    return trace_id, span_id, f"00-{trace_id:032x}-{span_id:016x}-01"


async def test_request_becomes_a_server_span_with_one_client_span_per_attempt(sim: Proc) -> None:
    async with traced_gateway(config(sim, "{enabled: true, exporter: none}")) as gw:
        raw = await gw.client.chat.completions.with_raw_response.create(model="switchman/auto", messages=MSG)
        completion = raw.parse()
        spans = await gw.spans()
    assert completion.usage is not None
    pt, ct = completion.usage.prompt_tokens, completion.usage.completion_tokens
    [root] = roots(spans)
    assert root.name == "chat switchman/auto"
    assert root.parent is None
    a = dict(root.attributes or {})
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.request.model"] == "switchman/auto"
    assert a["gen_ai.response.model"] == raw.headers["x-switchman-model"] == "tiny"
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (pt, ct)
    assert a["switchman.request_id"] == raw.headers["x-switchman-request-id"]
    assert a["switchman.router"] == "switchman/auto"
    assert a["switchman.route"] == raw.headers["x-switchman-route"]
    assert a["switchman.cost_usd"] == pytest.approx(usd(pt, ct, TINY))
    assert a["switchman.baseline_cost_usd"] == pytest.approx(usd(pt, ct, BIG))
    assert a["switchman.status"] == 200
    assert a["switchman.stream"] is False
    assert a["switchman.fallback"] is False
    assert root.status.status_code == StatusCode.UNSET
    assert root.resource.attributes["service.name"] == "switchman"

    [attempt] = children(spans, root)
    assert attempt.kind == SpanKind.CLIENT
    assert attempt.name == "chat tiny"
    assert attempt.context is not None and root.context is not None
    assert attempt.context.trace_id == root.context.trace_id
    assert attempt.attributes is not None
    assert attempt.attributes["gen_ai.request.model"] == "tiny"
    assert attempt.attributes["switchman.provider"] == "local"
    assert attempt.attributes["http.response.status_code"] == 200
    assert attempt.status.status_code != StatusCode.ERROR
    assert root.start_time is not None and root.end_time is not None
    assert attempt.start_time is not None and attempt.end_time is not None
    assert root.start_time <= attempt.start_time < attempt.end_time <= root.end_time


async def test_streamed_request_carries_stream_usage(sim: Proc) -> None:
    async with traced_gateway(config(sim, "{enabled: true, exporter: none}")) as gw:
        stream = await gw.client.chat.completions.create(
            model="switchman/quality", messages=MSG, stream=True, stream_options={"include_usage": True}
        )
        usage = None
        async for chunk in stream:
            usage = chunk.usage or usage
        spans = await gw.spans()
    assert usage is not None
    [root] = roots(spans)
    a = dict(root.attributes or {})
    assert root.name == "chat switchman/quality"
    assert a["switchman.stream"] is True and a["gen_ai.request.stream"] is True
    assert a["gen_ai.response.model"] == "big"
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (
        usage.prompt_tokens,
        usage.completion_tokens,
    )
    assert a["switchman.ttft_ms"] <= (root.end_time or 0) / 1e6 - (root.start_time or 0) / 1e6
    assert [c.attributes["gen_ai.request.model"] for c in children(spans, root) if c.attributes] == ["big"]


async def test_incoming_traceparent_is_joined(sim: Proc) -> None:
    trace_id, span_id, header = traceparent()
    async with traced_gateway(config(sim, "{enabled: true, exporter: none}")) as gw:
        await gw.client.chat.completions.create(
            model="switchman/auto", messages=MSG, extra_headers={"traceparent": header}
        )
        await gw.client.chat.completions.create(
            model="switchman/auto", messages=MSG, extra_headers={"traceparent": "00-not-a-valid-header"}
        )
        spans = await gw.spans()
    joined, fresh = roots(spans)
    assert joined.context is not None and joined.parent is not None
    assert joined.context.trace_id == trace_id
    assert joined.parent.span_id == span_id and joined.parent.is_remote
    assert all(c.context is not None and c.context.trace_id == trace_id for c in children(spans, joined))
    # an invalid header starts a trace of its own
    assert fresh.parent is None and fresh.context is not None and fresh.context.trace_id != trace_id


async def test_fallback_gives_a_failed_then_a_successful_attempt(sim: Proc) -> None:
    async with traced_gateway(config(sim, "{enabled: true, exporter: none}")) as gw:
        raw = await gw.client.chat.completions.with_raw_response.create(model="switchman/flaky", messages=MSG)
        spans = await gw.spans()
    assert raw.headers["x-switchman-model"] == "tiny"
    [root] = roots(spans)
    assert root.attributes is not None
    assert root.attributes["switchman.fallback"] is True
    assert root.attributes["gen_ai.response.model"] == "tiny"
    first, second = children(spans, root)
    assert first.attributes is not None and second.attributes is not None
    assert first.attributes["gen_ai.request.model"] == "broken"
    assert first.status.status_code == StatusCode.ERROR
    assert first.attributes["error.type"] == first.status.description == "UpstreamServerError"
    assert first.attributes["http.response.status_code"] == 503
    assert second.attributes["gen_ai.request.model"] == "tiny"
    assert second.status.status_code != StatusCode.ERROR
    assert (root.start_time or 0) <= (first.start_time or 0) <= (first.end_time or 0)
    assert (first.end_time or 0) <= (second.start_time or 0) <= (second.end_time or 0) <= (root.end_time or 0)


async def test_no_secret_prompt_or_answer_in_any_span(sim: Proc) -> None:
    async with traced_gateway(config(sim, "{enabled: true, exporter: none}")) as gw:
        answers = []
        for model in ("switchman/auto", "switchman/flaky", "big"):
            c = await gw.client.chat.completions.create(model=model, messages=MSG)
            answers.append(c.choices[0].message.content or "")
        stream = await gw.client.chat.completions.create(model="tiny", messages=MSG, stream=True)
        async for _ in stream:
            pass
        spans = await gw.spans()
    assert len(roots(spans)) == 4
    dumped = "\n".join(s.to_json() for s in spans)
    assert SECRET not in dumped
    assert "tracing-probe-7731" not in dumped
    assert all(a and a not in dumped for a in answers)


async def test_sampling_ratio_zero_keeps_only_sampled_parents(sim: Proc) -> None:
    trace_id, _, header = traceparent()
    async with traced_gateway(config(sim, "{enabled: true, exporter: none, sample_ratio: 0}")) as gw:
        await gw.client.chat.completions.create(model="switchman/auto", messages=MSG)
        await gw.client.chat.completions.create(
            model="switchman/auto", messages=MSG, extra_headers={"traceparent": header}
        )
        spans = await gw.spans()
    assert {s.context.trace_id for s in spans if s.context is not None} == {trace_id}
    assert len(roots(spans)) == 1


async def test_tracing_off_builds_no_sink(sim: Proc) -> None:
    app = create_app(config(sim, "{enabled: false}"))
    assert TRACING not in app
    assert not any(isinstance(s, TracingSink) for s in app[STATE].sinks)
    async with app_client(app) as client:
        c = await client.chat.completions.create(model="switchman/auto", messages=MSG)
    assert c.choices[0].message.content


def test_tracing_off_loads_no_opentelemetry(sim: Proc) -> None:
    code = (
        "import sys; from switchman.config.load import parse_config;"
        "from switchman.serving.app import create_app;"
        f"create_app(parse_config({gateway_config(sim.url)!r}, env={{'SIM_API_KEY': 'x'}}));"
        "print([m for m in sys.modules if 'opentelemetry' in m])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_serve_without_the_packages_names_the_extra(tmp_path: Path, sim: Proc) -> None:
    # an installation without OpenTelemetry: a package of that name earlier on the path that fails to import
    (tmp_path / "opentelemetry").mkdir()
    (tmp_path / "opentelemetry" / "__init__.py").write_text("raise ImportError('not installed')\n")
    cfg = tmp_path / "gateway.yaml"
    cfg.write_text(gateway_config(sim.url, "ledger: {enabled: false}\ntracing: {enabled: true}\n"))
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "switchman.cli.main",
            "serve",
            "--config",
            str(cfg),
            "--port",
            str(free_port()),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={
            **os.environ,
            "SIM_API_KEY": SECRET,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])),
        },
    )
    assert out.returncode == 1
    assert "Error: tracing.enabled: OpenTelemetry is not installed" in out.stderr
    assert "pip install 'switchman[otel]'" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize(
    ("tracing", "key"),
    [
        ("{exporter: jaeger}", "tracing.exporter"),
        ("{sample_ratio: 1.5}", "tracing.sample_ratio"),
        ("{endpoint: 'collector:4318'}", "tracing.endpoint"),
        ("{enabled: true, colour: blue}", "tracing.colour"),
    ],
)
def test_config_errors_name_the_key(sim: Proc, tracing: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        config(sim, tracing)


@dataclass
class Received:
    content_type: str
    body: bytes
    token: str | None


@contextlib.asynccontextmanager
async def otlp_receiver() -> AsyncIterator[tuple[str, list[Received]]]:
    """A loopback stand-in for an OpenTelemetry collector's OTLP/HTTP traces endpoint."""
    got: list[Received] = []

    async def traces(request: web.Request) -> web.Response:
        got.append(Received(request.content_type, await request.read(), request.headers.get("x-token")))
        return web.Response(body=b"", content_type="application/x-protobuf")

    app = web.Application()
    app.router.add_post("/v1/traces", traces)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/v1/traces", got
    finally:
        await runner.cleanup()


async def test_otlp_http_exporter_posts_protobuf(sim: Proc) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    async with otlp_receiver() as (url, got):
        tracing = f"{{enabled: true, endpoint: '{url}', headers: {{x-token: '${{TRACE_TOKEN}}'}}}}"
        app = create_app(config(sim, tracing, env={"TRACE_TOKEN": "tok-1"}))
        async with app_client(app) as client:
            for _ in range(3):
                await client.chat.completions.create(model="switchman/auto", messages=MSG)
            await app[TRACING].flush()
    assert got, "no OTLP export arrived"
    assert all(r.content_type == "application/x-protobuf" and r.body and r.token == "tok-1" for r in got)
    names = []
    for r in got:
        req = ExportTraceServiceRequest.FromString(r.body)
        names += [s.name for rs in req.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert names.count("chat switchman/auto") == 3 and names.count("chat tiny") == 3


async def test_otlp_is_silent_when_tracing_is_off(tmp_path: Path, sim: Proc) -> None:
    async with otlp_receiver() as (url, got):
        text = gateway_config(
            sim.url, f"ledger: {{enabled: false}}\ntracing: {{enabled: false, endpoint: '{url}'}}\n"
        )
        gw = start_gateway(tmp_path, text, env={"SIM_API_KEY": SECRET})
        try:
            async with openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0) as c:
                for _ in range(3):
                    await c.chat.completions.create(model="switchman/auto", messages=MSG)
        finally:
            # stopped in a thread: the receiver keeps answering while the gateway shuts down (and would
            # see a final export, were there one)
            await asyncio.to_thread(gw.stop)
    assert got == []
    assert gw.popen.returncode == 0 and "stopped" in gw.log_text()


# -- the sink on its own: a provider given by the caller, the bounded queue, the attempt layout ---------


def record(i: int, attempts: list[Attempt], ttft_ms: float | None) -> CallRecord:
    r = CallRecord(
        request_id=f"req_{i}", started=1_800_000_000.0 + i, requested_model="switchman/auto", stream=False
    )
    r.attempts, r.latency_ms, r.ttft_ms = attempts, 250.0, ttft_ms
    return r


async def test_full_queue_drops_the_oldest_and_counts_them() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    sink = TracingSink(TracingConfig(enabled=True, exporter="none", queue_max=3), provider)
    for i in range(8):
        sink.submit(record(i, [Attempt("tiny", "local", True, 10.0, 200)], 20.0))
    assert sink.dropped == 8 - 3
    await sink.flush()
    kept = [
        s.attributes["switchman.request_id"] for s in roots(exporter.get_finished_spans()) if s.attributes
    ]
    assert kept == [f"req_{i}" for i in range(8 - 3, 8)]
    await sink.close()
    assert exporter.get_finished_spans()  # a caller's provider is flushed, not shut down
    provider.shutdown()


def test_attempts_are_laid_back_to_back_ending_at_the_first_byte() -> None:
    failed = Attempt("broken", "local", False, 30.0, 503, "UpstreamServerError")
    ok = Attempt("tiny", "local", True, 50.0, 200)
    r = record(0, [failed, failed, ok], ttft_ms=200.0)
    times = attempt_times(r)
    assert [round((t1 - t0) / 1e6, 3) for t0, t1 in times] == [a.latency_ms for a in r.attempts]
    assert all(a[1] == b[0] for a, b in itertools.pairwise(times))
    assert times[-1][1] == round(r.ttft_ms * 1e6)
    # no first byte (a failed request): the attempts end with the request; too long: clamped inside it
    r.ttft_ms, r.attempts = None, [failed]
    assert attempt_times(r)[-1][1] == round(r.latency_ms * 1e6)
    r.attempts = [Attempt("slow", "local", False, 400.0, None, "UpstreamTimeout")]
    assert attempt_times(r) == [(0, round(r.latency_ms * 1e6))]
