"""Window buckets and Retry-After math."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from switchman.config.limits import KeyLimits
from switchman.limits.plan import merge_key_limits
from switchman.limits.windows import retry_after, window

T = datetime(2025, 3, 14, 12, 0, 45, tzinfo=UTC).timestamp()  # 45 s into a minute


def test_minute_buckets() -> None:
    fixed = window("minute", T, sliding=False)
    assert fixed.prev_weight == 0 and fixed.remaining == pytest.approx(15)
    sliding = window("minute", T, sliding=True)
    assert sliding.bucket == fixed.bucket and sliding.prev_weight == pytest.approx(0.25)


def test_day_and_month_buckets() -> None:
    day = window("day", T, sliding=True)  # days are never sliding
    assert day.prev_weight == 0
    assert day.remaining == pytest.approx(11 * 3600 + 59 * 60 + 15)
    month = window("month", T, sliding=False)
    assert month.bucket == 2025 * 12 + 2
    assert month.remaining == pytest.approx(datetime(2025, 4, 1, tzinfo=UTC).timestamp() - T)
    december = window("month", datetime(2025, 12, 31, tzinfo=UTC).timestamp(), sliding=False)
    assert december.remaining == pytest.approx(86400)


def test_retry_after_fixed_waits_for_the_next_bucket() -> None:
    w = window("minute", T, sliding=False)
    assert retry_after(w, 10, 0, 1, 10) == pytest.approx(15)
    assert retry_after(w, 0, 0, 11, 10) is None  # larger than the limit: never fits


def test_retry_after_sliding() -> None:
    w = window("minute", T, sliding=True)  # previous bucket weighs 0.25 now
    # cur 5 + prev 20 * 0.25 = 10: room appears once the weight drops to 0.2, at 48 s: in 3 s
    assert retry_after(w, 5, 20, 1, 10) == pytest.approx(3)
    # the current bucket alone is full: next bucket (15 s), then this one's weight must drop to 0.9
    assert retry_after(w, 10, 0, 1, 10) == pytest.approx(15 + 6)


def test_key_limits_override_defaults_field_by_field() -> None:
    merged = merge_key_limits(KeyLimits(rpm=10, daily_usd=5), KeyLimits(rpm=100))
    assert merged == KeyLimits(rpm=100, daily_usd=5)
