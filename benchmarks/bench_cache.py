"""``Cache`` hit paths next to their peers, in one process.

1. A memory hit, ``cache.get(key)``, with an int key and a ``(str, int)`` key, against
   cachetools' ``LRUCache`` under a lock (``with lock: c[k]``, the fair peer: ``Cache`` is
   thread-safe), unlocked ``c[k]``, and a ``functools.lru_cache`` function. Ratios are to the
   locked cachetools.
2. A disk hit of a small value through ``Cache(memory=0)`` against ``diskcache.Cache.get``
   with its default policy. Ratio to diskcache.

Every timed call goes through a lambda, for peers alike.
"""

from __future__ import annotations

import functools
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from benchmarks._util import per_call, table


def interleaved(
    fns: list[Callable[[], object]], rounds: int = 7, budget: float = 0.1
) -> list[float]:
    """Best seconds per call of each fn, measured in alternation so that a burst of load on
    the machine hits every contender alike."""
    best = [float("inf")] * len(fns)
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            best[i] = min(best[i], per_call(fn, repeat=2, budget=budget))
    return best


def _memory_hits() -> None:
    from cachetools import LRUCache

    import memcache_kit as mk

    tmp = Path(tempfile.mkdtemp(prefix="mk-bench-"))
    try:
        cache = mk.Cache("bench", memory="64MiB", disk=None, directory=tmp)
        lru: LRUCache[object, object] = LRUCache(maxsize=10_000)
        lock = threading.Lock()

        def locked(k: object) -> object:
            with lock:
                return lru[k]

        for label, key in (("int key", 12345), ("(str, int) key", ("user", 12345))):
            cache.set(key, "value")
            lru[key] = "value"

            @functools.lru_cache(maxsize=10_000)
            def cached(k: object) -> str:
                return "value"

            cached(key)
            get = cache.get
            assert get(key) == "value"
            ours, peer, bare, fn = interleaved(
                [
                    lambda: get(key),  # noqa: B023 - timed at once
                    lambda: locked(key),  # noqa: B023
                    lambda: lru[key],  # noqa: B023
                    lambda: cached(key),  # noqa: B023
                ]
            )
            table(
                f"memory hit, {label} (ratio to cachetools LRUCache under a lock; target <= 1.0x)",
                [
                    ("memcache_kit Cache.get", ours, f"{ours / peer:.2f}x"),
                    ("cachetools LRUCache + lock", peer, "1.00x"),
                    ("cachetools LRUCache, no lock", bare, f"{bare / peer:.2f}x"),
                    ("functools.lru_cache", fn, f"{fn / peer:.2f}x"),
                ],
            )
        cache.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _disk_hits() -> None:
    import diskcache

    import memcache_kit as mk

    tmp = Path(tempfile.mkdtemp(prefix="mk-bench-"))
    try:
        value = {"id": 12345, "name": "a small value", "tags": [1, 2, 3]}
        ours_cache = mk.Cache("bench", memory=0, disk="256MiB", directory=tmp / "ours")
        peer_cache = diskcache.Cache(str(tmp / "diskcache"))
        for i in range(1000):
            ours_cache.set(("k", i), value)
            peer_cache.set(("k", i), value)
        key = ("k", 500)
        get, peer_get = ours_cache.get, peer_cache.get
        assert get(key) == value and peer_get(key) == value
        ours, peer = interleaved([lambda: get(key), lambda: peer_get(key)], budget=0.2)
        table(
            "disk hit, small value, memory tier off (ratio to diskcache.Cache.get; target <= 1.2x)",
            [
                ("memcache_kit Cache(memory=0).get", ours, f"{ours / peer:.2f}x"),
                ("diskcache.Cache.get", peer, "1.00x"),
            ],
        )
        ours_cache.close()
        peer_cache.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    _memory_hits()
    _disk_hits()


if __name__ == "__main__":
    main()
