"""Circuit breaker and health board, with plain values."""

from __future__ import annotations

import time

from switchman.config.model import BreakerConfig
from switchman.health import Breaker, HealthBoard

CFG = BreakerConfig(failures=3, window_s=10, cooldown_s=5)


def test_opens_after_n_failures_in_window() -> None:
    b = Breaker(CFG)
    b.failure(0.0)
    b.failure(1.0)
    assert b.state(1.0) == "closed"
    b.failure(2.0)
    assert b.state(2.0) == "open" and not b.allows(2.0)


def test_old_failures_leave_the_window() -> None:
    b = Breaker(CFG)
    b.failure(0.0)
    b.failure(1.0)
    b.failure(12.0)  # the first two are older than 10 s
    assert b.state(12.0) == "closed"


def test_half_open_lets_one_probe() -> None:
    b = Breaker(CFG)
    for t in (0.0, 0.1, 0.2):
        b.failure(t)
    assert b.state(5.3) == "half_open"
    assert b.acquire(5.3) is True
    assert b.acquire(5.3) is False  # only one probe at a time
    b.success()
    assert b.state(5.4) == "closed" and b.acquire(5.4)


def test_failed_probe_reopens_for_a_full_cooldown() -> None:
    b = Breaker(CFG)
    for t in (0.0, 0.1, 0.2):
        b.failure(t)
    assert b.acquire(6.0)
    b.failure(6.0)
    assert b.state(10.0) == "open"
    assert b.state(11.1) == "half_open"


def test_board_availability_by_model() -> None:
    board = HealthBoard(CFG)
    board.configure(CFG, {"m": ["m/a", "m/b"], "n": ["n/a"]})
    now = time.monotonic()
    for _ in range(3):
        board.get("m/a").breaker.failure(now)
        board.get("n/a").breaker.failure(now)
    assert board.available("m")  # m/b is still closed
    assert not board.available("n")
    board.get("m/b").observe(True, 100.0)
    board.get("m/b").observe(True, 200.0)
    assert board.latency_ms("m") == 120.0


def test_shared_breaker_state() -> None:
    board = HealthBoard(CFG)
    board.configure(CFG, {"m": ["m/a"]})
    now = time.monotonic()
    for _ in range(3):
        board.get("m/a").breaker.failure(now)
    assert board.newly_opened() == ["m/a"]
    assert board.newly_opened() == []  # told once
    other = HealthBoard(CFG)
    other.configure(CFG, {"m": ["m/a"]})
    other.apply_shared("m/a", 5.0, now=now)
    assert other.get("m/a").breaker.state(now + 4.9) == "open"
    assert other.get("m/a").breaker.state(now + 5.1) == "closed"
