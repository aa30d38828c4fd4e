"""`switchman serve`: run the gateway (one process, or several sharing the port)."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import click

from switchman import native
from switchman.config.load import load_config
from switchman.config.model import Config
from switchman.errors import ConfigError

log = logging.getLogger("switchman.serve")
#: Young-generation GC threshold while serving (CPython default 700); see `_tune_gc`.
GC_GEN0_THRESHOLD = 20_000


@click.command()
@click.option(
    "--config", "config_path", type=click.Path(dir_okay=False), help="YAML config (default: built-in)."
)
@click.option("--host", default=None, help="Bind address (default: server.host, 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port (default: server.port, 8080).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Processes.")
@click.option(
    "--reload-config", is_flag=True, help="Reload when the config file changes (SIGHUP always does)."
)
@click.option("--log-level", default="info", show_default=True)
@click.option(
    "--loop",
    type=click.Choice(["auto", "asyncio", "uvloop"]),
    default="auto",
    show_default=True,
    help="Event loop (auto: uvloop when installed, a default dependency on Linux and macOS).",
)
@click.option("--reuse-port", is_flag=True, hidden=True)
def serve(
    config_path: str | None,
    host: str | None,
    port: int | None,
    workers: int,
    reload_config: bool,
    log_level: str,
    loop: str,
    reuse_port: bool,
) -> None:
    """Start the OpenAI-compatible gateway."""
    from switchman.serving.logs import setup_logging

    setup_logging(log_level)
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    server = config.server.model_copy(
        update={k: v for k, v in (("host", host), ("port", port)) if v is not None}
    )
    config = config.model_copy(update={"server": server})
    if workers > 1:
        raise SystemExit(_supervise(workers, sys.argv[1:]))
    path = Path(config_path) if config_path else None
    from threadpoolctl import threadpool_limits

    # routing runs one small embedding per request on the event loop: BLAS must not fan out over cores
    threadpool_limits(limits=1)
    try:
        with asyncio.Runner(loop_factory=_loop_factory(loop)) as runner:
            runner.run(_run(config, path, reload_config=reload_config, reuse_port=reuse_port))
    except ConfigError as exc:  # found while building the app (a router artifact, tracing packages)
        raise click.ClickException(str(exc)) from None


def _loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop when asked for or (``auto``) installed; None = asyncio's default loop."""
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise click.ClickException("--loop uvloop: uvloop is not installed") from None
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


async def _run(config: Config, path: Path | None, *, reload_config: bool, reuse_port: bool) -> None:
    from aiohttp import web

    from switchman.serving.app import create_app
    from switchman.serving.keys import STATE

    app = create_app(config, config_path=path)
    state = app[STATE]
    runner = web.AppRunner(
        app, access_log=None, handle_signals=False, shutdown_timeout=config.server.shutdown_grace_s
    )
    await runner.setup()
    site = web.TCPSite(runner, config.server.host, config.server.port, reuse_port=reuse_port or None)
    await site.start()
    _tune_gc()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if path is not None:
        loop.add_signal_handler(signal.SIGHUP, state.reload)
    watcher = loop.create_task(_watch(path, state.reload)) if reload_config and path is not None else None
    if old := native.stale():
        log.warning(
            "compiled modules are older than their sources: they run the old code; run `make native`",
            extra={"modules": old},
        )
    log.info(
        "switchman listening",
        extra={
            "url": f"http://{config.server.host}:{config.server.port}",
            "pid": os.getpid(),
            "models": sorted(config.models),
            "routers": sorted(config.routers),
            "compiled_modules": f"{len(native.compiled())}/{len(native.NATIVE_MODULES)}",
        },
    )
    await stop.wait()
    state.draining = True
    log.info("draining in-flight requests", extra={"grace_s": config.server.shutdown_grace_s})
    if watcher is not None:
        watcher.cancel()
    await runner.cleanup()
    log.info("stopped")


def _tune_gc() -> None:
    """Keep the cyclic garbage collector off the request path (measured: ~50 µs per request before).

    Everything built at start-up (config, catalog, routers, embedder weights, imported modules: ~70k
    objects) is moved out of the collector's reach with ``gc.freeze()``, so collections never scan it
    again; and young collections run every 20,000 net allocations instead of 700, so a burst of
    in-flight requests is not scanned over and over while it is still alive.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_GEN0_THRESHOLD, 50, 50)
    _release_free_heap()


def _release_free_heap() -> None:
    """Hand the heap that start-up freed back to the OS (glibc only; elsewhere a no-op).

    Loading a router parses its tokenizer's JSON (~130k vocabulary entries, ~280k merges) into objects
    that are dropped right after; glibc keeps the freed pages, so without this the worker's RSS carries
    ~30 MB it never uses again.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (e.g. musl)
        return
    trim(0)


async def _watch(path: Path, reload: object) -> None:
    """Poll the config file's mtime once a second and reload on change."""
    assert callable(reload)
    last = path.stat().st_mtime_ns if path.exists() else 0
    while True:
        await asyncio.sleep(1.0)
        try:
            now = path.stat().st_mtime_ns
        except OSError:
            continue
        if now != last:
            last = now
            reload()


def _supervise(workers: int, argv: list[str]) -> int:
    """Run ``workers`` single-process gateways sharing the port (SO_REUSEPORT); forward signals."""
    args = [a for a in argv if not a.startswith("--workers")]
    if "--workers" in argv:
        i = argv.index("--workers")
        args = argv[:i] + argv[i + 2 :]
    cmd = [sys.executable, "-m", "switchman.cli.main", *args, "--reuse-port"]
    children = [subprocess.Popen(cmd) for _ in range(workers)]

    def forward(signum: int, _frame: object) -> None:
        for c in children:
            if c.poll() is None:
                c.send_signal(signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    codes = [c.wait() for c in children]
    return max(codes)
