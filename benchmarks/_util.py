"""Small timing helpers shared by the benchmarks."""

from __future__ import annotations

import time
from collections.abc import Callable


def per_call(
    fn: Callable[[], object], *, number: int = 0, repeat: int = 5, budget: float = 0.2
) -> float:
    """Best-of-``repeat`` seconds per call of ``fn`` (``number`` calls a round, auto-sized)."""
    if number <= 0:
        number = 1
        while True:
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            if time.perf_counter() - t0 > budget / 5 or number >= 1 << 24:
                break
            number *= 2
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best


def table(title: str, rows: list[tuple[str, float, str]]) -> None:
    """Print rows of (label, seconds per op, ratio text) under a title."""
    print(title)
    width = max(len(r[0]) for r in rows)
    for label, secs, ratio in rows:
        print(f"  {label:<{width}}  {secs * 1e6:>12.3f} µs  {ratio}")
