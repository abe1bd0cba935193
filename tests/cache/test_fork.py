"""Fork and processes (issue 7, item 4).

A cache created (and used: SQLite handles open, threads running) before ``os.fork()`` or before
a DataLoader forks its workers works in parent and children: no deadlock, no "disk I/O error",
no SQLite handle shared across the fork. Cross-process single flight: several processes and
threads on overlapping keys run each loader once, and a lock left by a killed process does not
block later callers forever.
"""

from __future__ import annotations

import faulthandler
import logging
import multiprocessing as mp
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import memcache_kit as mk


def in_child(fn: Callable[[], None], timeout: float = 60.0) -> None:
    """Run ``fn`` in a forked child; fail on an exception, a non-zero exit or a hang."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - reports through the exit status
        code = 1
        # A hang shows where: the parent asks for every thread's stack (SIGUSR1) before it
        # kills the child. A signal handler, not dump_traceback_later: its watchdog thread
        # does not survive a nested fork, and re-arming it there would wait for it forever.
        faulthandler.register(signal.SIGUSR1, all_threads=True)
        try:
            fn()
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGUSR1)
            time.sleep(1.0)
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("the forked child hung (deadlock?)")
        time.sleep(0.01)
    assert os.waitstatus_to_exitcode(status) == 0


def no_disk_errors(caplog: pytest.LogCaptureFixture) -> None:
    bad = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert not bad, bad


def test_cache_used_before_fork_works_in_parent_and_children(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # WARNING, not DEBUG: at DEBUG the parent's busy thread below writes a log line for every
    # spill, and a fork taken while it is inside a stream's write leaves that stream's lock
    # held in the child forever (CPython's buffered IO is not reset at fork): the child then
    # hung in StreamHandler.flush (the stack dump of a hung run). The assertion reads only
    # WARNING and above.
    caplog.set_level(logging.WARNING, logger="memcache_kit")
    cache = mk.Cache("fork", memory="256KiB", disk="64MiB", directory=tmp_path / "c")
    for k in range(200):
        cache.set(k, str(k).encode() * 100)
    assert cache.get(5) == b"5" * 100
    # Another thread of the parent holds its own SQLite connection across the fork.
    stop = threading.Event()

    def busy() -> None:
        n = 0
        while not stop.is_set():
            cache.set(("t", n % 50), os.urandom(500))
            cache.get(("t", (n * 7) % 50))
            n += 1

    t = threading.Thread(target=busy)
    t.start()
    try:

        def child(i: int) -> Callable[[], None]:
            def run() -> None:
                tier = cache._disk
                assert tier is not None
                for k in range(200):
                    assert cache.get(k) == str(k).encode() * 100
                for k in range(100):
                    cache.set(("child", i, k), os.urandom(2000))
                    assert cache.get_or_load(("load", i, k), lambda k=k: k) == k
                assert tier.faults == {}, tier.faults
                assert not tier.degraded
                assert tier._h._pid == os.getpid()  # fresh handles, not the parent's
                cache.close()

            return run

        for i in range(4):
            in_child(child(i))
    finally:
        stop.set()
        t.join()
    # The parent's handles still work, and sees what the children wrote.
    assert cache.get(5) == b"5" * 100
    tier = cache._disk
    assert tier is not None
    assert tier.faults == {} and not tier.degraded
    assert cache.verify().ok
    no_disk_errors(caplog)
    cache.close()


def test_nested_fork_and_reopen(tmp_path: Path) -> None:
    cache = mk.Cache("nest", memory="1MiB", disk="16MiB", directory=tmp_path / "c")
    cache.set("a", b"A" * 70_000)  # a data file, so the file store's directory fd is open

    def grandchild() -> None:
        assert cache.get("a") == b"A" * 70_000
        cache.set("c", b"C")

    def child() -> None:
        assert cache.get("a") == b"A" * 70_000
        cache.set("b", b"B" * 70_000)
        in_child(grandchild)
        assert cache.get("c") in (b"C", None)  # memory tiers are per process; disk has it
        assert cache._disk is not None and cache._disk.get(_disk_key("c")) == b"C"

    in_child(child)
    reader = mk.Cache("nest", memory="1MiB", disk="16MiB", directory=tmp_path / "c")
    assert reader.get("b") == b"B" * 70_000 and reader.get("c") == b"C"
    reader.close()
    cache.close()


def _disk_key(key: Any) -> str:
    from memcache_kit._keys import make_key

    return make_key(key).disk  # type: ignore[no-any-return]


class Squares:
    """A map-style dataset whose items come from a cache created in the parent."""

    def __init__(self, cache: mk.Cache) -> None:
        self.cache = cache

    def __len__(self) -> int:
        return 64

    def __getitem__(self, i: int) -> Any:
        import numpy as np

        return self.cache.get_or_load(("sq", i), lambda: np.full(100, i * i, dtype=np.int64))


def test_dataloader_fork_workers(tmp_path: Path) -> None:
    import torch
    from torch.utils.data import DataLoader

    cache = mk.Cache("dl", memory="1MiB", disk="64MiB", directory=tmp_path / "c")
    ds = Squares(cache)
    for i in range(0, 64, 2):  # half loaded in the parent before the workers fork
        ds[i]
    ctx = mp.get_context("fork")
    for _epoch in range(2):
        loader = DataLoader(ds, batch_size=8, num_workers=2, multiprocessing_context=ctx)
        seen = torch.cat([b[:, 0] for b in loader])
        assert seen.tolist() == [i * i for i in range(64)]
    # Every worker's load reached the shared disk tier.
    fresh = mk.Cache("dl", memory="1MiB", disk="64MiB", directory=tmp_path / "c")
    assert all(int(fresh.get(("sq", i))[0]) == i * i for i in range(64))
    fresh.close()
    cache.close()


# -- cross-process single flight --------------------------------------------------------------


def flight_worker(directory: str, counts: str, proc: int, threads: int, keys: int) -> None:
    """In a spawned process: ``threads`` threads load overlapping keys through one cache."""
    cache = mk.Cache("flight", memory="64MiB", disk="256MiB", directory=directory)
    errors: list[BaseException] = []

    def load(k: int) -> bytes:
        with open(counts, "a") as f:  # O_APPEND: one line per load, across processes
            f.write(f"{k}\n")
        time.sleep(0.05)  # long enough that the others ask while this one loads
        return str(k).encode() * 10

    def run(t: int) -> None:
        try:
            for i in range(keys):
                k = (i + t + proc) % keys
                assert cache.get_or_load(k, lambda k=k: load(k)) == str(k).encode() * 10
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    ts = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    cache.close()
    if errors:
        raise errors[0]


def test_cross_process_single_flight(tmp_path: Path) -> None:
    """4 processes x 8 threads on 40 overlapping keys: each loader runs once."""
    counts = tmp_path / "loads.txt"
    counts.touch()
    ctx = mp.get_context("spawn")
    procs = [
        ctx.Process(
            target=flight_worker, args=(str(tmp_path / "c"), str(counts), p, 8, 40), daemon=True
        )
        for p in range(4)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=180)
        assert p.exitcode == 0, p.exitcode
    loads = counts.read_text().split()
    assert sorted(map(int, loads)) == list(range(40)), f"{len(loads)} loads for 40 keys"


def holder(directory: str, ready: Any) -> None:
    """Starts a load and hangs in it (until SIGKILLed), holding the cross-process lock."""
    cache = mk.Cache("flight", memory="1MiB", disk="16MiB", directory=directory)

    def hang() -> bytes:
        ready.set()
        time.sleep(3600)
        return b"never"

    cache.get_or_load("k", hang)


def test_lock_of_a_killed_process_does_not_block_forever(tmp_path: Path) -> None:
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    p = ctx.Process(target=holder, args=(str(tmp_path / "c"), ready), daemon=True)
    p.start()
    assert ready.wait(120)
    os.kill(p.pid or 0, signal.SIGKILL)
    p.join()
    cache = mk.Cache(
        "flight", memory="1MiB", disk="16MiB", directory=tmp_path / "c", lock_timeout=5
    )
    done: list[bytes] = []
    t = threading.Thread(target=lambda: done.append(cache.get_or_load("k", lambda: b"mine")))
    t.start()
    t.join(timeout=60)
    assert not t.is_alive(), "a lock left by a killed process blocked a later caller"
    assert done == [b"mine"]
    cache.close()


def test_the_fork_gate_forgets_threads_that_ended(tmp_path: Path) -> None:
    """Each thread that touched a disk tier has a depth cell in the fork gate; a service that
    starts a thread per request must not collect them forever."""
    import gc

    from memcache_kit._tiers.disk.handles import GATE

    cache = mk.Cache("gate", memory=0, disk="16MiB", directory=tmp_path / "c")

    def use(i: int) -> None:
        cache.set(("k", i), i)
        assert cache.get(("k", i)) == i

    for batch in range(10):
        threads = [threading.Thread(target=use, args=(batch * 20 + i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    gc.collect()
    assert len(GATE._cells) <= threading.active_count()  # 200 threads came and went
    in_child(lambda: None)  # and a fork still goes through the gate
    assert cache.get(("k", 7)) == 7
    cache.close()
