"""Disk tier vs diskcache and numpy, in one process.

- hit of a small value: ``DiskTier.get`` vs ``diskcache.Cache.get`` (default policy);
- 8 MB and 256 MB float64 arrays: write throughput vs ``np.save`` to a file, and read-back
  (open to a memmap) vs ``np.load(mmap_mode='r')``.

Ratios are memcache_kit time / peer time for latencies (lower is better) and memcache_kit
throughput / peer throughput for writes (higher is better).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import diskcache
import numpy as np

from benchmarks._util import per_call, table
from memcache_kit._tiers.disk.tier import DiskTier

SECRET = b"benchmark-secret-0123456789abcdef"


def _small_get(root: Path) -> None:
    value = {"user": 12345, "name": "ada", "scores": [1.5, 2.5, 3.5]}
    key = "0123456789abcdef0123456789abcdef"
    dc = diskcache.Cache(str(root / "dc"))
    dc.set(key, value)
    tier = DiskTier(root / "tier", 1 << 30, secret=SECRET)
    tier.set(key, value)
    assert tier.get(key) == value and dc.get(key) == value
    # Short alternating batches, best of each: load from other processes hits both alike.
    peer = ours = float("inf")
    for _ in range(300):
        peer = min(peer, _batch(dc.get, key))
        ours = min(ours, _batch(tier.get, key))
    table(
        "small value hit (dict of 3 fields)",
        [
            ("diskcache.Cache.get", peer, "1.00x"),
            ("DiskTier.get", ours, f"{ours / peer:.2f}x diskcache"),
        ],
    )
    dc.close()
    tier.close()


def _batch(fn: Callable[[str], object], key: str, n: int = 1000) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn(key)
    return (time.perf_counter() - t0) / n


def _arrays(root: Path, nbytes: int, rounds: int) -> None:
    arr = np.random.default_rng(0).random(nbytes // 8)
    label = f"{nbytes / 1e6:.0f} MB float64"
    tier = DiskTier(root / f"arr{nbytes}", 8 * nbytes, secret=SECRET)
    path = root / "save.npy"
    t_save = t_put = float("inf")
    # Alternating rounds, best of each; only the write is timed (removal is not).
    for i in range(rounds + 1):
        t0 = time.perf_counter()
        np.save(path, arr)
        t1 = time.perf_counter()
        os.unlink(path)
        key = f"{i:032x}"
        t2 = time.perf_counter()
        assert tier.set(key, arr)
        t3 = time.perf_counter()
        tier.delete(key)
        if i:  # the first round warms both up
            t_save, t_put = min(t_save, t1 - t0), min(t_put, t3 - t2)
    np.save(root / "read.npy", arr)
    tier.set("f" * 32, arr)
    t_load = t_get = float("inf")
    for _ in range(5):
        t_load = min(t_load, per_call(lambda: np.load(root / "read.npy", mmap_mode="r"), repeat=3))
        t_get = min(t_get, per_call(lambda: tier.get("f" * 32), repeat=3))
    table(
        f"{label}: write (throughput ratio, higher is better) and open as memmap",
        [
            ("np.save", t_save, f"{nbytes / t_save / 1e9:.2f} GB/s"),
            ("DiskTier.set", t_put, f"{t_save / t_put:.2f}x np.save throughput"),
            ("np.load(mmap_mode='r')", t_load, "1.00x"),
            ("DiskTier.get (memmap 'c')", t_get, f"{t_get / t_load:.2f}x np.load time"),
        ],
    )
    tier.close()


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="mk-bench-disk-"))
    try:
        _small_get(root)
        _arrays(root, 8 * 1024 * 1024, rounds=20)
        _arrays(root, 256 * 1024 * 1024, rounds=5)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
