"""A hard spending cap for batch jobs that call upstream models concurrently (``switchman label``)."""

from __future__ import annotations

import asyncio

__all__ = ["CostCap"]


class CostCap:
    """Spend so far plus reservations of calls in flight, against an optional hard limit.

    A call that does not fit beside the reservations in flight waits for them to settle; the run stops
    only when the call could cross the limit on top of what is already spent.
    """

    def __init__(self, limit: float | None) -> None:
        self.limit = limit
        self.spent = 0.0
        self.judge_spent = 0.0
        self.reserved = 0.0
        self.stopped: str | None = None
        self._changed = asyncio.Condition()

    async def reserve(self, estimate: float) -> bool:
        async with self._changed:
            while self.stopped is None:
                if self.limit is None or self.spent + self.reserved + estimate <= self.limit:
                    self.reserved += estimate
                    return True
                if self.spent + estimate > self.limit:
                    self.stopped = (
                        f"the next call (up to ${estimate:.6f}) could take spend from ${self.spent:.6f} "
                        f"past --max-cost-usd ${self.limit:g}"
                    )
                    self._changed.notify_all()
                    break
                await self._changed.wait()  # calls in flight will settle
            return False

    async def settle(self, estimate: float, actual: float, *, judge: bool) -> None:
        async with self._changed:
            self.reserved -= estimate
            self.spent += actual
            if judge:
                self.judge_spent += actual
            self._changed.notify_all()
