"""Template filling shared by the public and the private traffic generators: flight numbers,
cities, durations and booking references drawn from the caller's seeded ``random.Random``.
"""

from __future__ import annotations

import random

CITIES = ["Lisbon", "Denver", "Seoul", "Madrid", "Chicago", "Paris", "Toronto", "Austin",
          "Dublin", "Boston", "Lyon", "Phoenix", "Busan", "Seattle", "Miami"]


def fill(template: str, rng: random.Random) -> str:
    """``template`` with ``{flight}``, ``{city}``, ``{hours}``, ``{days}``, ``{weeks}`` and
    ``{ref}`` drawn from ``rng`` (always in the same order, so a seed gives the same text)."""
    return template.format(
        flight=f"AC{rng.randint(100, 2999)}", city=rng.choice(CITIES),
        hours=rng.randint(2, 9), days=rng.randint(2, 12), weeks=rng.randint(3, 11),
        ref="".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(6)),
    )
