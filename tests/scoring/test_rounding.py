"""`round3` / `round4` give `round(x, 3)` / `round(x, 4)` bit for bit.

Why: every score is rounded by them (VADER's four values, the sentiment, urgency at each
level) instead of by `round`; a float one bit off would move stored scores. Compared by
their bytes (so -0.0 and 0.0 differ), on random values, on the decimal grid and its
neighbours (half-way points, and the doubles just either side of them, where a shortcut
that rounds the scaled product would go wrong) and on the values `round` handles apart.
"""

from __future__ import annotations

import math
import random
import struct

import pytest

from listener.scoring.rounding import round3, round4


def _bits(x: float) -> bytes:
    return struct.pack("<d", x)


def _values() -> list[float]:
    rng = random.Random(11)
    out = [rng.uniform(-1, 1) for _ in range(40_000)]
    out += [rng.uniform(-1e-3, 1e-3) for _ in range(10_000)]
    out += [rng.uniform(-1e5, 1e5) for _ in range(10_000)]
    for k in range(-20_000, 20_001):
        for point in (k / 10_000, (k + 0.5) / 10_000, (k + 0.5) / 1_000):
            out += [point, math.nextafter(point, math.inf), math.nextafter(point, -math.inf)]
    return [*out, 0.0, -0.0, 1e-9, -1e-9, 5e-5, -5e-5, 1e6 + 0.00005, 1e20, -1e20,
            math.inf, -math.inf, 0.1 + 0.2, 2.675, 1.0005, -1.0005]


@pytest.mark.parametrize(("fast", "digits"), [(round4, 4), (round3, 3)])
def test_same_float_as_round(fast: object, digits: int) -> None:
    wrong = [x for x in _values()
             if _bits(fast(x)) != _bits(round(x, digits))]  # type: ignore[operator]
    assert wrong == []


def test_zero_keeps_the_sign_and_nan_stays_nan() -> None:
    assert _bits(round4(-0.00001)) == _bits(-0.0)
    assert _bits(round3(0.0001)) == _bits(0.0)
    assert math.isnan(round4(math.nan))
    assert math.isnan(round3(math.nan))
