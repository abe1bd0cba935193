"""Memory hit: ``MemoryTier.get`` and ``Cache.get`` vs cachetools and functools, same key.

Issue 2's target: ``Cache.get`` on a memory hit no slower than cachetools ``LRUCache`` under a
lock (``with lock: c[k]``), i.e. a ratio ≤ 1.0x. Each case is timed as a ``timeit`` statement
(no lambda around it), so the loop overhead is the same few nanoseconds for every row.
"""

from __future__ import annotations

import functools
import threading
import timeit
from typing import Any

from cachetools import LRUCache

from ._util import table


def _per_call(stmt: str, env: dict[str, Any]) -> float:
    timer = timeit.Timer(stmt, globals=env)
    number, _ = timer.autorange()
    number = max(number, 200_000)
    return min(timer.repeat(repeat=7, number=number)) / number


def _rows(label: str, key: Any) -> list[tuple[str, float, str]]:
    from memcache_kit._tiers.memory.tier import MemoryTier

    value = b"x" * 100
    lock = threading.RLock()
    lru: LRUCache[Any, bytes] = LRUCache(maxsize=1024)
    for i in range(512):
        lru[("other", i)] = value
    lru[key] = value

    @functools.lru_cache(maxsize=1024)
    def cached(k: Any) -> bytes:
        return value

    cached(key)
    tier = MemoryTier(64 << 20)
    for i in range(512):
        tier.set(("other", i), value, size=100)
    tier.set(key, value, size=100)

    env: dict[str, Any] = {"c": lru, "lock": lock, "k": key, "f": cached, "tier_get": tier.get}
    locked = _per_call("with lock: c[k]", env)
    cases: list[tuple[str, float | None]] = [
        ("MemoryTier.get", _per_call("tier_get(k)", env)),
        ("Cache.get", _cache_get(key, value)),
        ("cachetools with lock", locked),
        ("cachetools unlocked", _per_call("c[k]", env)),
        ("functools.lru_cache", _per_call("f(k)", env)),
    ]
    rows = []
    for name, secs in cases:
        if secs is None:
            rows.append((f"{label}: {name} (not built yet)", 0.0, ""))
        else:
            rows.append((f"{label}: {name}", secs, f"{secs / locked:5.2f}x locked cachetools"))
    return rows


def _cache_get(key: Any, value: bytes) -> float | None:
    try:
        import memcache_kit as mk

        cache = mk.Cache("bench", memory="64MiB", disk=None)
        try:
            cache.set(key, value)
            if cache.get(key) != value:
                raise RuntimeError(f"Cache.get({key!r}) missed after set")
            return _per_call("get(k)", {"get": cache.get, "k": key})
        finally:
            cache.close()
    except NotImplementedError:
        return None


def main() -> None:
    rows = _rows("int key", 123_456) + _rows("(str, int) key", ("user", 123_456))
    table("memory hit (µs per call; ratio to `with lock: c[k]`, target ≤ 1.0x for Cache.get)", rows)


if __name__ == "__main__":
    main()
