"""Time buckets of the limit windows (minute, UTC day, UTC calendar month) and Retry-After math.

Pure functions of a unix time. Replicas sharing Redis compute the same buckets from their clocks, so
their clocks must agree (NTP) to within a small part of a minute.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

Period = Literal["minute", "day", "month"]

MINUTE = 60.0
DAY = 86400.0


@dataclass(frozen=True, slots=True)
class Window:
    """Where time ``now`` falls in a period: bucket index, weight of the previous bucket, seconds left."""

    bucket: int
    prev_weight: float
    elapsed: float  # seconds since the bucket started
    length: float  # seconds of the bucket
    ttl_ms: int

    @property
    def remaining(self) -> float:
        return max(self.length - self.elapsed, 0.0)


#: Windows are reused for this long (a sliding weight is then off by at most 0.1 %).
_TICK_S = 0.05
_cache: dict[tuple[str, bool], tuple[int, Window]] = {}


def window(period: Period, now: float, *, sliding: bool) -> Window:
    """The bucket of ``now``; sliding windows (minutes only) weight the previous bucket linearly."""
    tick = int(now / _TICK_S)
    hit = _cache.get((period, sliding))
    if hit is not None and hit[0] == tick:
        return hit[1]
    w = _window(period, now, sliding=sliding)
    _cache[(period, sliding)] = (tick, w)
    return w


def _window(period: Period, now: float, *, sliding: bool) -> Window:
    if period == "month":
        d = datetime.fromtimestamp(now, UTC)
        start = datetime(d.year, d.month, 1, tzinfo=UTC)
        nxt = datetime(d.year + (d.month == 12), d.month % 12 + 1, 1, tzinfo=UTC)
        length = (nxt - start).total_seconds()
        return Window(d.year * 12 + d.month - 1, 0.0, now - start.timestamp(), length, int(64 * DAY * 1000))
    length = MINUTE if period == "minute" else DAY
    bucket = math.floor(now / length)
    elapsed = now - bucket * length
    weight = 1.0 - elapsed / length if sliding and period == "minute" else 0.0
    return Window(bucket, weight, elapsed, length, int(2 * length * 1000) + 1000)


def retry_after(w: Window, cur: int, prev: int, amount: int, limit: int) -> float | None:
    """Seconds until ``amount`` fits under ``limit`` if nothing else is charged; None = never fits."""
    if amount > limit:
        return None
    if w.prev_weight <= 0:  # fixed window: wait for the next bucket
        return w.remaining
    room = limit - cur - amount
    if room >= 0:
        # the previous bucket's share has to decay: cur + amount + prev * (1 - e/L) <= limit
        need = w.length * (1.0 - room / prev) if prev > 0 else w.elapsed
        return max(need - w.elapsed, 0.0)
    # wait for the next bucket, where this one becomes the weighted previous one
    frac = 1.0 - (limit - amount) / cur if cur > 0 else 0.0
    return w.remaining + max(frac, 0.0) * w.length
