"""Limit counters in Redis, shared by every replica: atomic Lua scripts, batched into pipelines.

Every ``acquire`` and ``adjust`` issued during one event-loop turn goes to Redis in one pipeline (one
round trip, one socket write and read), which keeps the CPU per request low under load. When Redis is
unreachable the backend logs it once, serves from local (per-process) counters, reports it in
:meth:`RedisBackend.status` (shown by ``/readyz``) and reconnects by itself in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from switchman.errors import ServiceUnavailable
from switchman.limits.base import Check, Delta, Verdict
from switchman.limits.memory import MemoryBackend

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger("switchman.limits")

#: One script call carries every operation of a batch (one command to pack, one reply to parse).
#: ARGV[1]: key prefix; ARGV[2]: operations separated by \x1e, fields by \x1f:
#:   ``a name bucket amount limit weight ttl_ms [name ...]`` — check all, charge all or none;
#:   ``d name bucket amount ttl_ms [name ...]`` — signed changes, no check.
#: Returns, for each ``a`` in order, ``{denied index or 0, cur1, prev1, cur2, prev2, ...}`` (values
#: before charging). Counter keys are built inside the script, so this needs a standalone Redis (or a
#: cluster proxy), not Redis Cluster.
BATCH = """
local P = ARGV[1]
local out = {}
for op in string.gmatch(ARGV[2], '[^\\30]+') do
  local f = {}
  for x in string.gmatch(op, '[^\\31]+') do f[#f + 1] = x end
  if f[1] == 'a' then
    local n = (#f - 1) / 6
    local res = {0}
    local keys = {}
    local denied = 0
    for i = 1, n do
      local b = 6 * (i - 1) + 1
      local key = P .. f[b + 1] .. ':' .. f[b + 2]
      keys[i] = key
      local weight = tonumber(f[b + 5])
      local cur = tonumber(redis.call('GET', key) or '0')
      local prev = 0
      if weight > 0 then
        local pkey = P .. f[b + 1] .. ':' .. string.format('%d', tonumber(f[b + 2]) - 1)
        prev = tonumber(redis.call('GET', pkey) or '0')
      end
      res[2 * i] = cur
      res[2 * i + 1] = prev
      local limit = tonumber(f[b + 4])
      if denied == 0 and limit > 0 and cur + prev * weight + tonumber(f[b + 3]) > limit then
        denied = i
      end
    end
    res[1] = denied
    if denied == 0 then
      for i = 1, n do
        local b = 6 * (i - 1) + 1
        if f[b + 3] ~= '0' then
          redis.call('INCRBY', keys[i], f[b + 3])
          redis.call('PEXPIRE', keys[i], f[b + 6])
        end
      end
    end
    out[#out + 1] = res
  else
    local n = (#f - 1) / 4
    for i = 1, n do
      local b = 4 * (i - 1) + 1
      local key = P .. f[b + 1] .. ':' .. f[b + 2]
      redis.call('INCRBY', key, f[b + 3])
      redis.call('PEXPIRE', key, f[b + 4])
    end
  end
end
return out
"""

_SHA = hashlib.sha1(BATCH.encode()).hexdigest()
_RS, _US = "\x1e", "\x1f"
#: Reconciliations wait at most this long for an admission's batch to ride with.
ADJUST_DELAY_S = 0.005


@dataclass(slots=True)
class _Op:
    payload: str
    checks: Sequence[Check] | None = None
    future: asyncio.Future[Verdict] | None = None


class RedisBackend:
    name = "redis"

    def __init__(
        self, url: str, *, prefix: str = "switchman:", timeout_s: float = 0.25, reconnect_s: float = 1.0
    ):
        self._url = url
        self.prefix = prefix
        self._timeout = timeout_s
        self._reconnect_s = reconnect_s
        self.local = MemoryBackend()
        self._client: Redis | None = None
        self._up = False
        self._down_since: float | None = None
        self._outages = 0
        self._calls = 0
        self._ops = 0
        self._pending: list[_Op] = []
        self._scheduled = False
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._reconnect: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def connected(self) -> bool:
        return self._up

    async def start(self) -> None:
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        self._client = Redis.from_url(
            self._url,
            socket_timeout=self._timeout,
            socket_connect_timeout=self._timeout,
            retry=Retry(NoBackoff(), 0),
            decode_responses=False,
        )
        try:
            await self._ping()
        except Exception as exc:  # any failure to reach Redis: serve with local limits
            self._mark_down(exc)
        else:
            self._up = True
            log.info("limits: redis backend connected", extra={"prefix": self.prefix})

    async def _ping(self) -> None:
        assert self._client is not None
        await asyncio.wait_for(self._client.ping(), self._timeout * 2)

    # --- operations -------------------------------------------------------------------------------

    async def acquire(self, checks: Sequence[Check]) -> Verdict:
        if not self._up:
            return self._local_acquire(checks)
        fields = ["a"]
        for c in checks:
            fields += (c.name, str(c.bucket), str(c.amount), str(c.limit), repr(c.prev_weight), str(c.ttl_ms))
        fut: asyncio.Future[Verdict] = asyncio.get_running_loop().create_future()
        self._enqueue(_Op(_US.join(fields), checks, fut), now=True)
        return await fut

    def adjust(self, deltas: Sequence[Delta], *, shared: bool = True) -> None:
        """Apply signed changes (in the background); ``shared=False``: the charge was local (outage)."""
        deltas = [d for d in deltas if d.amount]
        if not deltas:
            return
        if not shared or not self._up:
            self.local.adjust(deltas)
            return
        fields = ["d"]
        for d in deltas:
            fields += (d.name, str(d.bucket), str(d.amount), str(d.ttl_ms))
        self._enqueue(_Op(_US.join(fields)), now=False)

    def _local_acquire(self, checks: Sequence[Check]) -> Verdict:
        v = self.local.acquire_now(checks)
        return Verdict(v.ok, v.denied, v.used, shared=False)

    async def read(self, checks: Sequence[Check]) -> list[tuple[int, int]]:
        if not self._up or self._client is None:
            return self.local.read_now(checks)
        keys = [self.prefix + k for c in checks for k in (c.key, c.prev_key)]
        try:
            raw = await asyncio.wait_for(self._client.mget(keys), self._timeout * 2)
        except Exception as exc:
            self._mark_down(exc)
            return self.local.read_now(checks)
        vals = [int(v) if v is not None else 0 for v in raw]
        return [(vals[2 * i], vals[2 * i + 1]) for i in range(len(checks))]

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"backend": self.name, "shared": self._up, "outages": self._outages}
        out["ops_per_call"] = round(self._ops / self._calls, 1) if self._calls else None
        if not self._up:
            out["degraded"] = "redis unreachable: enforcing local (per-process) limits"
            out["down_since"] = self._down_since
        return out

    async def aclose(self) -> None:
        self._closed = True
        if self._reconnect is not None:
            self._reconnect.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconnect
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()

    # --- batching ---------------------------------------------------------------------------------

    def _enqueue(self, op: _Op, *, now: bool) -> None:
        """Queue an operation; admissions go out this loop turn, reconciliations may wait a moment to
        ride with one (fewer round trips: the CPU per request stays low at any concurrency)."""
        self._pending.append(op)
        if now and not self._scheduled:
            self._scheduled = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            asyncio.get_running_loop().call_soon(self._spawn_flush)
        elif not self._scheduled and self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(ADJUST_DELAY_S, self._spawn_flush)

    def _spawn_flush(self) -> None:
        self._scheduled = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        ops, self._pending = self._pending, []
        if not ops:
            return
        task = asyncio.get_running_loop().create_task(self._flush(ops))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush(self, ops: list[_Op]) -> None:
        try:
            async with asyncio.timeout(self._timeout * 2):  # no extra task, unlike wait_for
                results = await self._execute(ops)
        except Exception as exc:  # connection refused/reset, timeout, script error: go local
            self._mark_down(exc)
            for op in ops:
                if op.future is not None and not op.future.done():
                    assert op.checks is not None
                    op.future.set_result(self._local_acquire(op.checks))
            return
        replies = iter(results)
        for op in ops:
            if op.future is None:
                continue
            res = next(replies)
            if op.future.done():
                continue
            assert op.checks is not None
            denied = int(res[0]) - 1
            used = tuple((int(res[2 * i + 1]), int(res[2 * i + 2])) for i in range(len(op.checks)))
            op.future.set_result(Verdict(denied < 0, denied, used))

    async def _execute(self, ops: list[_Op]) -> list[Any]:
        from redis.exceptions import NoScriptError

        assert self._client is not None
        payload = _RS.join(op.payload for op in ops)
        self._calls += 1
        self._ops += len(ops)
        try:
            out = await self._client.evalsha(_SHA, 0, self.prefix, payload)
        except NoScriptError:  # Redis restarted: its script cache is empty (nothing ran)
            await self._client.script_load(BATCH)
            out = await self._client.evalsha(_SHA, 0, self.prefix, payload)
        results = list(out)
        if len(results) != sum(op.future is not None for op in ops):
            raise ServiceUnavailable("the redis limit script answered an unexpected reply")
        return results

    # --- outage and reconnection ------------------------------------------------------------------

    def _mark_down(self, exc: BaseException) -> None:
        if self._closed:
            return
        if self._up or self._down_since is None:
            self._up = False
            self._down_since = time.time()
            self._outages += 1
            log.warning(
                "limits: redis unreachable; enforcing local (per-process) limits until it is back",
                extra={"error": type(exc).__name__},
            )
        if self._reconnect is None or self._reconnect.done():
            self._reconnect = asyncio.get_running_loop().create_task(self._reconnect_loop())

    async def _reconnect_loop(self) -> None:
        while not self._closed:
            await asyncio.sleep(self._reconnect_s)
            try:
                await self._ping()
            except Exception:
                continue
            self._up = True
            down = time.time() - (self._down_since or time.time())
            self._down_since = None
            log.info("limits: redis reachable again; limits are shared", extra={"outage_s": round(down, 1)})
            return
