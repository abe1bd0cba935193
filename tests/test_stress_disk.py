"""Kill-and-reopen harness for the disk tier (``make test-stress``).

A writer process writes and overwrites small values, large values and arrays in a loop; the
test SIGKILLs it at random moments, reopens the directory and reads every key back. Each read
must be a complete value that was written (values carry their key, a sequence number and a
checksum) or a miss. At the end ``verify(repair=True)`` then ``verify()`` must be clean.

``MEMCACHE_KIT_STRESS_KILLS`` raises the number of kills (default 30).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from memcache_kit._shapes import MISSING
from memcache_kit._tiers.disk import DiskTier

SECRET = b"stress-secret-0123456789abcdefgh"
KEYS = [f"{i:032x}" for i in range(24)]
SRC = str(Path(__file__).resolve().parents[1] / "src")
# Read at import: the autouse fixture in conftest.py clears MEMCACHE_KIT_* before each test.
KILLS = int(os.environ.get("MEMCACHE_KIT_STRESS_KILLS", "30"))

WRITER = textwrap.dedent(
    """
    import sys, zlib, numpy as np
    from memcache_kit._tiers.disk import DiskTier
    directory, secret, durability, seed = sys.argv[1:5]
    secret = secret.encode()
    keys = [f"{i:032x}" for i in range(24)]
    rng = np.random.default_rng(int(seed))
    # A budget below the working set, so culling runs while the writer is killed.
    tier = DiskTier(directory, 12 * 1024 * 1024, secret=secret, durability=durability)
    print("ready", flush=True)
    seq = 0
    while True:
        seq += 1
        i = int(rng.integers(len(keys)))
        key = keys[i]
        kind = i % 3
        if kind == 0:  # small, inline in the index
            body = rng.bytes(int(rng.integers(10, 2000)))
            tier.set(key, {"key": key, "seq": seq, "body": body, "crc": zlib.crc32(body)})
        elif kind == 1:  # large, a .bin data file
            body = rng.bytes(int(rng.integers(70_000, 400_000)))
            tier.set(key, (key, seq, zlib.crc32(body), body))
        else:  # an array, a .npy data file
            arr = rng.integers(0, 2**40, size=int(rng.integers(1000, 300_000)), dtype=np.int64)
            arr[0] = i
            arr[1] = seq
            arr[2] = zlib.crc32(arr[3:].tobytes())
            tier.set(key, arr)
        if seq % 7 == 0:
            tier.delete(keys[int(rng.integers(len(keys)))])
        if seq % 11 == 0:
            tier.get(keys[int(rng.integers(len(keys)))])
    """
)


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
def test_kill_and_reopen(cache_dir: Path) -> None:
    kills = KILLS
    rng = random.Random(1234)
    env = {**os.environ, "PYTHONPATH": SRC}
    hits = misses = 0
    started = time.monotonic()
    for n in range(kills):
        durability = "strict" if n % 4 == 3 else "fast"
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(cache_dir), SECRET.decode(), durability, str(n)],
            env=env,
            stdout=subprocess.PIPE,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0.02, 0.4))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
        assert proc.returncode == -signal.SIGKILL
        tier = DiskTier(cache_dir, 12 * 1024 * 1024, secret=SECRET)
        for i, key in enumerate(KEYS):
            got = tier.get(key)
            check(i, key, got)
            if got is MISSING:
                misses += 1
            else:
                hits += 1
            del got
        assert tier.bad_entries == {}, tier.bad_entries
        tier.close()
    tier = DiskTier(cache_dir, 12 * 1024 * 1024, secret=SECRET)
    tier.verify(repair=True)
    problems, repaired, details = tier.verify()
    assert problems == [] and repaired == 0, problems
    assert details["bytes"] <= 12 * 1024 * 1024
    for i, key in enumerate(KEYS):
        check(i, key, tier.get(key))
    tier.close()
    assert hits > 0, "the writer never got an entry in: the harness tests nothing"
    print(
        f"{kills} kills survived in {time.monotonic() - started:.0f} s; "
        f"{hits} hits, {misses} misses on reopen"
    )
