"""Kill-and-reopen harness for the disk tier (``make test-stress``).

A writer process writes and overwrites small values, large values and arrays in a loop; the
test SIGKILLs it at random moments, reopens the directory and reads every key back. Each read
must be a complete value that was written (values carry their key, a sequence number and a
checksum) or a miss. At the end ``verify(repair=True)`` then ``verify()`` must be clean.

Three modes: the tier itself, and ``Cache`` over it with write-through and with
``write_through=False`` (values reach disk when spilled). ``MEMCACHE_KIT_STRESS_KILLS`` sets
the number of kills per mode (default 200 when ``CI`` is set, else 30).
"""

from __future__ import annotations

import os
import random
import signal
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import memcache_kit as mk
from faults import summary
from memcache_kit._shapes import MISSING
from memcache_kit._tiers.disk.tier import DiskTier

SECRET = b"stress-secret-0123456789abcdefgh"
KEYS = [f"{i:032x}" for i in range(24)]
BUDGET = 12 * 1024 * 1024
# Read at import: the autouse fixture in conftest.py clears MEMCACHE_KIT_* before each test.
KILLS = int(os.environ.get("MEMCACHE_KIT_STRESS_KILLS") or (200 if os.environ.get("CI") else 30))
MODES = ["tier", "cache", "cache-write-back"]


def open_store(mode: str, directory: Path, durability: str) -> Any:
    """The tier itself, or a ``Cache`` over it (write-through, or write_through=False)."""
    if mode == "tier":
        return DiskTier(directory, BUDGET, secret=SECRET, durability=durability)  # type: ignore[arg-type]
    return mk.Cache(
        "stress",
        memory="4MiB",
        disk=BUDGET,
        directory=directory,
        durability=durability,  # type: ignore[arg-type]
        write_through=mode == "cache",
    )


def writer(mode: str, directory: Path, durability: str, seed: int, ready: int) -> None:
    """Runs in a forked child until it is killed: writes, overwrites, deletes, reads."""
    store = open_store(mode, directory, durability)
    os.write(ready, b"r")
    rng = np.random.default_rng(seed)
    seq = 0
    while True:
        seq += 1
        i = int(rng.integers(len(KEYS)))
        key = KEYS[i]
        kind = i % 3
        if kind == 0:  # small, inline in the index
            body = rng.bytes(int(rng.integers(10, 2000)))
            store.set(key, {"key": key, "seq": seq, "body": body, "crc": zlib.crc32(body)})
        elif kind == 1:  # large, a .bin data file
            body = rng.bytes(int(rng.integers(70_000, 400_000)))
            store.set(key, (key, seq, zlib.crc32(body), body))
        else:  # an array, a .npy data file
            arr = rng.integers(0, 2**40, size=int(rng.integers(1000, 300_000)), dtype=np.int64)
            arr[0] = i
            arr[1] = seq
            arr[2] = zlib.crc32(arr[3:].tobytes())
            store.set(key, arr)
        if seq % 7 == 0:
            store.delete(KEYS[int(rng.integers(len(KEYS)))])
        if seq % 11 == 0:
            store.get(KEYS[int(rng.integers(len(KEYS)))])


def check(i: int, key: str, got: Any) -> None:
    """A hit must be a complete, self-consistent value written for this key."""
    if got is MISSING:
        return
    kind = i % 3
    if kind == 0:
        assert got["key"] == key and zlib.crc32(got["body"]) == got["crc"]
    elif kind == 1:
        assert got[0] == key and zlib.crc32(got[3]) == got[2]
    else:
        assert isinstance(got, np.memmap)
        assert int(got[0]) == i and zlib.crc32(np.asarray(got[3:]).tobytes()) == int(got[2])


@pytest.mark.stress
@pytest.mark.parametrize("mode", MODES)
def test_kill_and_reopen(
    cache_dir: Path, mode: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """The writer is a forked child of this process (no interpreter start-up per kill, so 200
    kills per mode fit in CI); a quarter of the runs use durability "strict"."""
    monkeypatch.setenv("MEMCACHE_KIT_SECRET", SECRET.decode())  # Cache takes the key from here
    kills = KILLS
    rng = random.Random(1234)
    hits = misses = strict = 0
    started = time.monotonic()
    for n in range(kills):
        durability = "strict" if n % 4 == 3 else "fast"
        strict += durability == "strict"
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - killed, never returns
            try:
                os.close(r)
                writer(mode, cache_dir, durability, n, w)
            finally:
                os._exit(1)
        os.close(w)
        try:
            assert os.read(r, 1) == b"r", "the writer died before it was ready"
        finally:
            os.close(r)
        time.sleep(rng.uniform(0.02, 0.4))
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        store = open_store(mode, cache_dir, "fast")
        tier = store if mode == "tier" else store._disk
        for i, key in enumerate(KEYS):
            got = store.get(key, MISSING) if mode != "tier" else store.get(key)
            check(i, key, got)
            if got is MISSING:
                misses += 1
            else:
                hits += 1
            del got
        assert tier.bad_entries == {}, tier.bad_entries
        store.close()
    store = open_store(mode, cache_dir, "fast")
    store.verify(repair=True)
    if mode == "tier":
        problems, repaired, details = store.verify()
        assert problems == [] and repaired == 0, problems
        assert details["bytes"] <= BUDGET
    else:
        report = store.verify()
        assert report.ok and report.repaired == 0, report.problems
        assert report.tiers["disk"]["bytes"] <= BUDGET
    for i, key in enumerate(KEYS):
        check(i, key, store.get(key, MISSING) if mode != "tier" else store.get(key))
    store.close()
    assert hits > 0, "the writer never got an entry in: the harness tests nothing"
    line = (
        f"kill harness [{mode}]: {kills} kills survived ({strict} with durability strict) in "
        f"{time.monotonic() - started:.0f} s; {hits} hits, {misses} misses on reopen"
    )
    summary(request, line)
