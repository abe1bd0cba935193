"""Key hashing: a 100 MB float64 array argument (and a DataFrame) with ``encode`` vs
``joblib.hash``, and the cost of ``memory_key`` (the hit path's key step) next to a cachetools
LRUCache lookup under a lock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np
from cachetools import LRUCache

from memcache_kit._keys import encode, memory_key, namespaced_mem

from ._util import per_call, table


def _seconds(fn: Callable[[], object], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _arrays() -> None:
    import joblib

    a = np.random.default_rng(0).random(100 * 1000 * 1000 // 8)  # 100 MB
    view = a.reshape(-1, 100)[:, ::2]  # 50 MB of content, non-contiguous
    rows: list[tuple[str, float, str]] = []
    for label, arr in (("100 MB contiguous", a), ("50 MB strided view", view)):
        gb = arr.nbytes / 1e9
        ours = _seconds(lambda arr=arr: encode(arr))
        peer = _seconds(lambda arr=arr: joblib.hash(arr), repeat=2)
        rows.append((f"encode     {label}", ours, f"{gb / ours:6.2f} GB/s"))
        rows.append(
            (f"joblib.hash {label}", peer, f"{gb / peer:6.2f} GB/s  (encode is {peer / ours:.1f}x)")
        )
    table("Hashing an array argument (best of 3)", rows)


def _frames() -> None:
    import joblib
    import pandas as pd

    rng = np.random.default_rng(0)
    n = 1_000_000
    df = pd.DataFrame({f"f{i}": rng.random(n) for i in range(5)})
    df["s"] = [f"item{i}" for i in range(n)]
    df["o"] = pd.Series([f"o{i % 1000}" for i in range(n)], dtype=object)
    ours = _seconds(lambda: encode(df))
    peer = _seconds(lambda: joblib.hash(df), repeat=2)
    table(
        "Hashing a DataFrame argument (1M rows: 5 float64, 1 str, 1 object column)",
        [("encode", ours, ""), ("joblib.hash", peer, f"(encode is {peer / ours:.1f}x)")],
    )


def _memory_keys() -> None:
    cache: LRUCache[object, int] = LRUCache(maxsize=1000)
    lock = threading.Lock()
    k = ("abc", 12)
    cache[k] = 1

    def lru_hit() -> int:
        with lock:
            return cache[k]

    token = object()
    peer = per_call(lru_hit)
    rows = [("cachetools LRUCache hit under a lock", peer, "1.00x")]
    for label, fn in (
        ("memory_key(12)", lambda: memory_key(12)),
        ("memory_key('abc')", lambda: memory_key("abc")),
        ("memory_key(('abc', 12))", lambda: memory_key(k)),
        ("memory_key(('abc', 1.5))", lambda: memory_key(("abc", 1.5))),
        ("memory_key([1, 'a'])  (encoded)", lambda: memory_key([1, "a"])),
        ("namespaced_mem(token, (12,))", lambda: namespaced_mem(token, (12,))),
    ):
        secs = per_call(fn)
        rows.append((label, secs, f"{secs / peer:.2f}x of the LRU hit"))
    table("Memory key cost per call", rows)


def main() -> None:
    _arrays()
    _frames()
    _memory_keys()


if __name__ == "__main__":
    main()
