"""The gateway's mutable state: the current runtime (swapped on reload) and process-wide flags."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from switchman.config.load import load_config
from switchman.errors import ConfigError
from switchman.records import CallRecord
from switchman.serving.runtime import Runtime

log = logging.getLogger("switchman.serving")


class RecordSink(Protocol):
    """Receives every finished call record (the ledger, metrics). ``submit`` must not block."""

    async def start(self) -> None: ...

    def submit(self, record: CallRecord) -> None: ...

    async def close(self) -> None: ...


@dataclass
class GatewayState:
    runtime: Runtime
    config_path: Path | None = None
    sinks: list[RecordSink] = field(default_factory=list)
    ready: bool = True
    draining: bool = False
    reloads: int = 0
    _background: set[asyncio.Task[None]] = field(default_factory=set)

    def reload(self) -> bool:
        """Load the config file again; a bad file is rejected and the current config keeps serving."""
        try:
            config = load_config(self.config_path)
        except ConfigError as exc:
            log.error("config reload rejected; still serving the previous config", extra={"error": str(exc)})
            return False
        old, self.runtime = self.runtime, Runtime.build(config, self.runtime.dispatcher.health)
        self.reloads += 1
        task = asyncio.get_running_loop().create_task(old.retire())
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        log.info(
            "config reloaded", extra={"models": sorted(config.models), "routers": sorted(config.routers)}
        )
        return True

    def submit(self, record: CallRecord) -> None:
        for sink in self.sinks:
            sink.submit(record)
