"""Shared test helpers: real `switchman sim` and `switchman serve` processes on loopback.

A plain module (not a conftest) so that tests can import it unambiguously: ``from helpers import ...``.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
from aiohttp import web

from switchman.config.model import Config

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Proc:
    popen: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def start_process(
    args: list[str], port: int, log: Path, ready_path: str, env: dict[str, str] | None = None
) -> Proc:
    """Start ``switchman ARGS`` and wait until ``GET ready_path`` answers (or fail with its log)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    with log.open("wb") as fh:
        popen = subprocess.Popen(
            [sys.executable, "-m", "switchman.cli.main", *args],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=full_env,
        )
    proc = Proc(popen, port, log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            raise RuntimeError(f"switchman {' '.join(args)} exited {popen.returncode}:\n{proc.log_text()}")
        try:
            if httpx.get(proc.url + ready_path, timeout=1).status_code < 500:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.stop()
    raise RuntimeError(f"switchman {' '.join(args)} did not become ready:\n{proc.log_text()}")


def start_sim(tmp: Path, config_text: str | None = None) -> Proc:
    port = free_port()
    args = ["sim", "--port", str(port)]
    if config_text is not None:
        cfg = tmp / f"sim-{port}.yaml"
        cfg.write_text(config_text)
        args += ["--config", str(cfg)]
    return start_process(args, port, tmp / f"sim-{port}.log", "/v1/models")


def start_gateway(
    tmp: Path, config_text: str, env: dict[str, str] | None = None, extra: list[str] | None = None
) -> Proc:
    port = free_port()
    cfg = tmp / f"gateway-{port}.yaml"
    cfg.write_text(config_text)
    args = ["serve", "--config", str(cfg), "--port", str(port), *(extra or [])]
    return start_process(args, port, tmp / f"gateway-{port}.log", "/readyz", env)


SIM_MODELS = """
models:
  tiny-up:
    answer_words: 12
  big-up:
    answer_words: 30
  broken-up:
    error_rate: 1.0
    error_status: 503
"""


def gateway_config(sim_url: str, extra: str = "") -> str:
    return f"""
server:
  max_body_bytes: 200000
providers:
  local:
    type: openai
    base_url: {sim_url}/v1
    api_key: ${{SIM_API_KEY}}
models:
  tiny:
    provider: local
    upstream: tiny-up
    input_price: 0.15
    output_price: 0.6
    context_window: 16000
    tier: small
  big:
    provider: local
    upstream: big-up
    input_price: 3.0
    output_price: 15.0
    context_window: 200000
    tier: large
    capabilities: {{vision: true}}
  broken:
    provider: local
    upstream: broken-up
    input_price: 0.1
    output_price: 0.1
    tier: small
routers:
  switchman/auto:
    policy: cheapest
    models: [tiny, big]
  switchman/quality:
    policy: quality
    models: [tiny, big]
{extra}
"""


SECRET = "sk-test-secret-do-not-leak-4242"


REDIS_URL = "redis://127.0.0.1:6379/0"


def drop_prefix(prefix: str, url: str = REDIS_URL) -> None:
    """Delete every Redis key a test wrote under its own prefix."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


async def start_app(app: web.Application) -> tuple[web.AppRunner, int]:
    """An aiohttp app on a free loopback port in this event loop: (runner to clean up, port)."""
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, int(runner.addresses[0][1])


@contextlib.asynccontextmanager
async def app_client(app: web.Application) -> AsyncIterator[openai.AsyncOpenAI]:
    """``app`` on a loopback port in this event loop, and an OpenAI client for it."""
    runner, port = await start_app(app)
    client = openai.AsyncOpenAI(api_key="unused", base_url=f"http://127.0.0.1:{port}/v1", max_retries=0)
    try:
        yield client
    finally:
        await client.close()
        await runner.cleanup()


@contextlib.asynccontextmanager
async def gateway_client(config: Config) -> AsyncIterator[openai.AsyncOpenAI]:
    """The gateway app for ``config`` on a loopback port in this event loop, and an OpenAI client for it."""
    from switchman.serving.app import create_app

    async with app_client(create_app(config)) as client:
        yield client
