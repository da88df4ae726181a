"""`round(x, 3)` and `round(x, 4)`, bit for bit, without the decimal round trip.

Why: every mention's scores are rounded nine times (VADER's four, the sentiment, urgency at
each repeat-contact level), and `round(x, ndigits)` prints the float's decimal digits and
reads them back (`_Py_dg_dtoa`, then `_Py_dg_strtod`): ~6,000 instructions a call, 14% of
the fetch worker's scoring of a page (callgrind).

Why the result is the same float: `round(x, n)` is the double nearest to k / 10**n, k being
x * 10**n (the exact product) rounded to an integer. Here y = x * 10**n is that product to
within half an ulp of y (under 1e-7 for |y| < 1e9), so unless y lies within 1e-6 of a
half-way point, y's nearest integer r is k; r / 10**n is then one correctly rounded IEEE
division of two exact doubles, the double nearest to k / 10**n as well. A y within 1e-6 of a
half-way point (a decimal tie, or a product that rounding may have moved across it), a
non-finite or a large value goes to `round` itself. A zero result keeps x's sign, as
`round` does (round(-0.00001, 4) is -0.0). tests/scoring/test_rounding.py holds both to
the same bits.
"""

from __future__ import annotations

# The constants are written out, not named: compiled (Cython), a module-level name is a
# boxed Python float looked up at every call. In `_rounded`:
# - 1e9 bounds |y|: there y's rounding error is under 1e-7, and y + 1.5 * 2**52 has a unit
#   last place, so adding and subtracting 6755399441055744.0 (1.5 * 2**52) rounds y to its
#   nearest integer (ties to even, which never matters: ties go to `round`);
# - 0.499999 leaves `round` every y within 1e-6 of a half-way point: far above y's rounding
#   error, far below the spacing of decimals, so `round` is called for next to no score.


def round4(x: float) -> float:
    """`round(x, 4)`, the very same float (see the module's docstring)."""
    return _rounded(x, 10000.0, 4)


def round3(x: float) -> float:
    """`round(x, 3)`, the very same float (see the module's docstring)."""
    return _rounded(x, 1000.0, 3)


def _rounded(x: float, scale: float, digits: int) -> float:
    """`round(x, digits)`, `scale` being 10.0 ** digits."""
    y = x * scale
    if -1e9 < y < 1e9:
        r = (y + 6755399441055744.0) - 6755399441055744.0  # y's nearest integer
        d = y - r
        if -0.499999 < d < 0.499999:
            return r / scale if r else 0.0 * x  # 0.0 * x: zero with x's sign
    return round(x, digits)
