"""Soak test (issue 7, item 5; ``make test-stress``).

4 processes x 8 threads run mixed get / set / get_or_load / delete on a key space 20x the
memory budget, against one shared disk directory, for ``MEMCACHE_KIT_SOAK_SECONDS`` (default
60 when ``CI`` is set, else 10). Checked:

- zero exceptions in every thread;
- every value read is the one its key derives (values carry their key);
- loads: the disk budget holds the whole key space, so a key's value leaves the shared tiers
  only by a ``delete``. Cross-process single flight then means a key is loaded at most once
  per "life": ``loads(k) <= 1 + deletes(k)`` summed over all processes;
- the memory budget is never exceeded (sampled by a thread in each process every 5 ms);
- a final ``verify()`` is clean.

Each process reports its ops/s; the test prints them in the run's output.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import random
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import memcache_kit as mk
from faults import summary

SECONDS = float(os.environ.get("MEMCACHE_KIT_SOAK_SECONDS") or (60 if os.environ.get("CI") else 10))
PROCS, THREADS = 4, 8
MEMORY = 256 * 1024
VALUE = 1024
KEYS = 20 * MEMORY // VALUE  # the key space is 20x what memory holds


def value_of(k: int, salt: int = 0) -> bytes:
    head = f"{k}:{salt}:".encode()
    return head + bytes([k % 251]) * (VALUE - len(head))


def key_of(v: bytes) -> int:
    return int(v.split(b":", 1)[0])


def soak_worker(directory: str, out: str, proc: int, seconds: float) -> None:
    cache = mk.Cache("soak", memory=MEMORY, disk="256MiB", directory=directory)
    mem = cache._memory
    assert mem is not None
    loads: Counter[int] = Counter()
    deletes: Counter[int] = Counter()
    ops = [0] * THREADS
    errors: list[str] = []
    over: list[int] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def run(t: int) -> None:
        rng = random.Random(proc * 1000 + t)
        n = 0
        try:
            while time.monotonic() < stop:
                k = int(rng.paretovariate(1.2) * 7) % KEYS  # skewed: hot keys and a long tail
                r = rng.random()
                if r < 0.45:
                    got = cache.get(k)
                    assert got is None or key_of(got) == k, (k, got[:20])
                elif r < 0.85:

                    def load(k: int = k) -> bytes:
                        with lock:
                            loads[k] += 1
                        return value_of(k)

                    assert key_of(cache.get_or_load(k, load)) == k
                elif r < 0.97:
                    cache.set(k, value_of(k, salt=1))
                else:
                    with lock:
                        deletes[k] += 1
                    cache.delete(k)
                n += 1
        except BaseException as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
        ops[t] = n

    def sample() -> None:
        while time.monotonic() < stop:
            s = mem.stats()
            if s.bytes > s.budget:
                over.append(s.bytes)
            time.sleep(0.005)

    started = time.monotonic()
    threads = [threading.Thread(target=run, args=(t,)) for t in range(THREADS)]
    threads.append(threading.Thread(target=sample))
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.monotonic() - started
    cache.close()
    Path(out).write_text(
        json.dumps(
            {
                "proc": proc,
                "ops": sum(ops),
                "ops_per_s": sum(ops) / elapsed,
                "errors": errors,
                "over": over[:10],
                "loads": loads,
                "deletes": deletes,
            }
        )
    )


@pytest.mark.stress
def test_soak(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    directory = str(tmp_path / "c")
    ctx = mp.get_context("spawn")
    outs = [tmp_path / f"out{p}.json" for p in range(PROCS)]
    procs = [
        ctx.Process(target=soak_worker, args=(directory, str(outs[p]), p, SECONDS), daemon=True)
        for p in range(PROCS)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=SECONDS + 300)
        assert p.exitcode == 0, p.exitcode
    results: list[dict[str, Any]] = [json.loads(o.read_text()) for o in outs]
    loads: Counter[int] = Counter()
    deletes: Counter[int] = Counter()
    for r in results:
        assert r["errors"] == [], r["errors"]
        assert r["over"] == [], f"memory budget exceeded: {r['over']}"
        loads.update({int(k): v for k, v in r["loads"].items()})
        deletes.update({int(k): v for k, v in r["deletes"].items()})
    extra = {k: (n, deletes[k]) for k, n in loads.items() if n > 1 + deletes[k]}
    assert not extra, f"keys loaded more than once per life (loads, deletes): {extra}"
    cache = mk.Cache("soak", memory=MEMORY, disk="256MiB", directory=directory)
    report = cache.verify()
    cache.close()
    assert report.ok, report.problems
    total = sum(r["ops"] for r in results)
    line = (
        f"soak: {PROCS} processes x {THREADS} threads, {SECONDS:.0f} s, {total} ops, "
        f"{sum(loads.values())} loads of {len(loads)} keys, {sum(deletes.values())} deletes; "
        "ops/s per process: "
        + ", ".join(f"{r['ops_per_s']:,.0f}" for r in sorted(results, key=lambda r: r["proc"]))
    )
    summary(request, line)
