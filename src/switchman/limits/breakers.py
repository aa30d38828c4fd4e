"""Circuit-breaker state shared by replicas through Redis.

Each replica keeps its breakers in its :class:`~switchman.health.HealthBoard` (routing reads them
synchronously, without I/O). This task, run when ``state.backend`` is ``redis``, publishes every breaker
that opened here as a Redis key that expires after the cooldown, and reads the others' keys every
``interval_s``, so a deployment one replica found broken is avoided by all of them within about a second.
When Redis is unreachable each replica keeps its own breakers (and says nothing else changes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from switchman.health import HealthBoard

log = logging.getLogger("switchman.limits")


class BreakerSync:
    def __init__(
        self, url: str, board: HealthBoard, *, prefix: str, timeout_s: float, interval_s: float = 0.5
    ) -> None:
        self._url = url
        self.board = board
        self._key = prefix + "breaker:"
        self._timeout = timeout_s
        self.interval_s = interval_s
        self._client: Any = None
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    async def start(self) -> None:
        from redis.asyncio import Redis

        self._client = Redis.from_url(
            self._url, socket_timeout=self._timeout, socket_connect_timeout=self._timeout
        )
        self._task = asyncio.get_running_loop().create_task(self._run(), name="breaker-sync")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._client is not None:
            await self._client.aclose()

    async def _run(self) -> None:
        while True:
            try:
                await self.sync()
                if self._failing:
                    log.info("breaker sync: Redis is back; breakers are shared again")
                self._failing = False
            except Exception as exc:  # Redis down: keep local breakers, retry next tick
                if not self._failing:
                    log.warning(
                        "breaker sync: cannot reach Redis; breakers are per replica meanwhile",
                        extra={"error": type(exc).__name__},
                    )
                self._failing = True
            await asyncio.sleep(self.interval_s)

    async def sync(self) -> None:
        """Publish breakers opened here; adopt the ones other replicas opened."""
        cooldown_ms = int(self.board.breaker_config.cooldown_s * 1000)
        deployments = self.board.deployments()
        opened = self.board.newly_opened()
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for dep in opened:
                    pipe.set(self._key + dep, b"1", px=cooldown_ms)
                for dep in deployments:
                    pipe.pttl(self._key + dep)
                results = await pipe.execute()
        except BaseException:
            for dep in opened:  # tell the others on the next tick
                self.board.get(dep).breaker.unshared = True
            raise
        for dep, ttl in zip(deployments, results[len(results) - len(deployments) :], strict=True):
            if isinstance(ttl, int) and ttl > 0:
                self.board.apply_shared(dep, ttl / 1000)
