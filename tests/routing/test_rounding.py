"""``round4`` is ``round(x, 4)``: the same float and sign, for every kind of value."""

from __future__ import annotations

import math
import random

import numpy as np

from switchman.routing.rounding import round4


def test_round4_is_round_to_4_places() -> None:
    rng = random.Random(7)
    values = [rng.random() for _ in range(200_000)] + [rng.uniform(0, 100) for _ in range(50_000)]
    values += [k / 20000 + d for k in range(0, 2_000_000, 7) for d in (0.0, 1e-12, -1e-12, 3e-10, -3e-10)]
    values += [0.0, -0.0, 5e-324, 5e-5, 4.99999e-5, 99.99995, 100.0, 1e9, -0.25, -1e-9, math.inf, -math.inf]
    values += [-v for v in values]  # negative similarities: round is symmetric, ties to even included
    values += [rng.uniform(-1, 1) for _ in range(100_000)]
    for x in values:
        assert round4(x) == round(x, 4) and math.copysign(1, round4(x)) == math.copysign(1, round(x, 4)), x
    assert math.isnan(round4(math.nan))
    assert round4(np.float32(0.88392)) == round(np.float32(0.88392), 4)
