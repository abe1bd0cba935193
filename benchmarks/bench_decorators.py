"""``@mk.cached`` hits vs the peers' memoizing decorators, in one process.

- memory hit of a one-argument function called with an int: ``functools.lru_cache``,
  ``cachetools.cached(LRUCache, lock=Lock())``, ``cachebox.cached(LRUCache)``,
  ``diskcache.Cache.memoize`` (its "memory" is SQLite's page cache) and ``@mk.cached``;
- disk hit (memory tier off) of a function returning a small dict: ``diskcache.Cache.memoize``,
  ``joblib.Memory.cache`` and ``@mk.cached`` on a ``Cache(memory=0)``.

Ratios are time per hit over ``lru_cache``'s (memory) or over ``diskcache``'s (disk): lower is
faster. Rounds are interleaved and the best of each kept, so load from other processes shifts
every contender alike.
"""

from __future__ import annotations

import functools
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cachebox
import cachetools
import diskcache
import joblib

import memcache_kit as mk
from benchmarks._util import per_call, table


def _best(contenders: dict[str, Callable[[], object]], rounds: int = 20) -> dict[str, float]:
    # Short timed rounds (about a millisecond), many of them, interleaved, best kept: on a busy
    # machine a short round often runs without being preempted, a long one never does.
    number = {
        name: max(20, int(1e-3 / per_call(fn, number=200, repeat=3)))
        for name, fn in contenders.items()
    }
    best = dict.fromkeys(contenders, float("inf"))
    for _ in range(rounds):
        for name, fn in contenders.items():
            best[name] = min(best[name], per_call(fn, number=number[name], repeat=10))
    return best


def _memory_hits(root: Path) -> None:
    def square(x: int) -> int:
        return x * x

    lru = functools.lru_cache(maxsize=1024)(square)
    ct = cachetools.cached(cachetools.LRUCache(maxsize=1024), lock=threading.Lock())(square)
    cb = cachebox.cached(cachebox.LRUCache(maxsize=1024))(square)
    dc = diskcache.Cache(str(root / "diskcache-mem"))
    dcm = dc.memoize()(square)
    cache = mk.Cache("bench-decorators", memory="64MiB", disk=None)
    ours = mk.cached(cache=cache)(square)
    fns: dict[str, Callable[[int], int]] = {
        "functools.lru_cache": lru,
        "cachetools.cached(LRUCache, lock)": ct,
        "cachebox.cached(LRUCache)": cb,
        "diskcache.Cache.memoize": dcm,
        "memcache_kit @cached": ours,
    }
    for fn in fns.values():
        assert fn(7) == 49 and fn(7) == 49  # warm: every call below is a hit
    best = _best({name: functools.partial(fn, 7) for name, fn in fns.items()})
    base = best["functools.lru_cache"]
    table(
        "memory hit, 1-argument function (int)",
        [(name, secs, f"{secs / base:.2f}x lru_cache") for name, secs in best.items()],
    )
    info = ours.cache_info()
    assert info.misses == 1 and info.hits > 0
    dc.close()
    cache.close()


def _disk_hits(root: Path) -> None:
    def record(x: int) -> dict[str, Any]:
        return {"id": x, "name": f"item-{x}", "scores": [1.5, 2.5, 3.5]}

    dc = diskcache.Cache(str(root / "diskcache"))
    dcm = dc.memoize()(record)
    memory = joblib.Memory(str(root / "joblib"), verbose=0)
    jb = memory.cache(record)
    cache = mk.Cache("bench-decorators-disk", memory=0, disk="256MiB", directory=root / "mk")
    ours = mk.cached(cache=cache)(record)
    fns: dict[str, Callable[[int], dict[str, Any]]] = {
        "diskcache.Cache.memoize": dcm,
        "joblib.Memory.cache": jb,
        "memcache_kit @cached (memory=0)": ours,
    }
    for fn in fns.values():
        assert fn(7) == record(7) and fn(7) == record(7)
    best = _best({name: functools.partial(fn, 7) for name, fn in fns.items()})
    base = best["diskcache.Cache.memoize"]
    table(
        "disk hit, small dict (memory tier off)",
        [(name, secs, f"{secs / base:.2f}x diskcache") for name, secs in best.items()],
    )
    assert ours.cache_info().tiers["disk"][0] > 0
    dc.close()
    cache.close()


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="mk-bench-decorators-"))
    root.chmod(0o700)
    try:
        _memory_hits(root)
        _disk_hits(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
