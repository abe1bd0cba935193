"""The memory budget is honest: what the cache keeps alive stays within it (tracemalloc).

A 16 MiB memory tier receives ten times that much mixed data (numpy arrays, dicts, lists,
strings). After a warm-up, tracemalloc measures every Python allocation still alive after
each ``set``: it must stay within 1.10 x budget + 1 MiB (the sizer's error plus bookkeeping)
at every step, and every key must still be readable from disk afterwards.
"""

from __future__ import annotations

import gc
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np

import memcache_kit as mk

MiB = 1024**2
BUDGET = 16 * MiB
TOTAL = 10 * BUDGET


def value(i: int) -> Any:
    """Deterministic mixed data, 16 KiB to ~1 MiB each."""
    rng = np.random.default_rng(i)
    kind = i % 4
    n = int(rng.integers(2_000, 130_000))
    if kind == 0:
        return rng.random(n)  # float64 array, n * 8 bytes
    if kind == 1:
        return {f"key-{i}-{j}": j * 1.5 for j in range(n // 40)}
    if kind == 2:
        return f"{i:08d}" * (n // 8)
    return [{"id": j, "name": f"row{j}", "tags": [j, j + 1]} for j in range(n // 200)]


def same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and np.array_equal(a, b)
    return bool(a == b)


def test_memory_kept_alive_stays_within_budget(cache_dir: Path) -> None:
    cache = mk.Cache("budget", memory=BUDGET, disk="1GiB", directory=cache_dir)
    # Warm-up: first uses of pickle, numpy, SQLite statements and the sizer allocate caches
    # that live for the process, not for the cache.
    for i in range(8):
        cache.set(("warm", i), value(i))
        cache.get(("warm", i))
    cache.clear()
    gc.collect()

    tracemalloc.start()
    try:
        written = 0
        worst = 0
        i = 0
        limit = int(1.10 * BUDGET) + MiB
        while written < TOTAL:
            v = value(i)
            written += mk.sizeof(v)
            cache.set(i, v)
            del v
            current, _ = tracemalloc.get_traced_memory()
            worst = max(worst, current)
            assert current <= limit, f"step {i}: {current} bytes alive > {limit}"
            i += 1
        count = i
        s = cache.stats().tiers["memory"]
        assert s.bytes <= BUDGET
        assert s.evictions > 0 and s.spills == s.evictions
        # the budget is used, not left idle: what is alive is mostly the values it holds
        assert worst > BUDGET // 2
    finally:
        tracemalloc.stop()

    assert cache.verify().ok
    cache.close()
    reader = mk.Cache("budget", memory=0, disk="1GiB", directory=cache_dir)
    for i in range(count):
        assert same(reader.get(i), value(i)), i
    reader.close()
