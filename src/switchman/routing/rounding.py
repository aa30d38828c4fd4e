"""``round4``: ``round(x, 4)`` for the figures routing reports (qualities, similarities, difficulty)."""

from __future__ import annotations

__all__ = ["round4"]


def round4(x: float) -> float:
    """``round(x, 4)``, the same float, several times cheaper for 0 < |x| < 100 away from ties.

    ``round`` formats the decimal digits and parses them back (~3,700 machine instructions). Here: the
    nearest integer to ``|x| * 10000`` (decided on the float product, which is within 1.2e-10 of the
    exact one below 1e6, so only a fractional part within 1e-7 of one half is left to ``round``), then
    divided by 10000: both exact in binary, so the quotient is the float nearest that decimal, which is
    what ``round`` returns. ``round`` is symmetric (ties to even on the exact value), so a negative
    ``x`` is the negated result for ``-x`` (``-0.0`` where it rounds to zero, as ``round`` gives).
    """
    if type(x) is not float:  # a numpy float32 product is far less exact
        return round(x, 4)
    a = -x if x < 0.0 else x
    y = a * 10000.0
    n = y // 1.0
    f = y - n
    if 0.0 < a < 100.0 and not 0.4999999 < f < 0.5000001:
        r = (n + 1.0 if f > 0.5 else n) / 10000.0
        return -r if x < 0.0 else r
    return round(x, 4)
