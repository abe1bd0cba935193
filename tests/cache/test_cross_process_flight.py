"""Single flight across processes (design "Processes"; issue 7 item 4): processes sharing a disk
tier (or a remote tier) run each loader once; a killed lock holder does not block the others;
waiters give up after ``lock_timeout`` and load themselves; the event loop never blocks."""

# ruff: noqa: F811 - the redis_server fixture is imported, then named by the tests that use it

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest

from memcache_kit._cache.cache import Cache
from memcache_kit._keys import make_key
from memcache_kit._tiers.disk.lease import FileLock, lock_path
from redis_server import RedisServer, redis_server  # noqa: F401 - registers the fixture

SRC = str(Path(__file__).resolve().parents[2] / "src")
SECRET = "test-secret-shared-by-every-machine"

WORKER = textwrap.dedent(
    """
    import os, sys, threading, time
    from memcache_kit import Cache

    directory, marks, remote, start = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    cache = Cache(
        "flight", memory="64MiB", disk="256MiB", directory=directory,
        remote=remote or None, lock_timeout=60,
    )

    def loader(k):
        def load():
            # O_APPEND: each marker is one write, whole, whatever the other processes do.
            fd = os.open(marks, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            os.write(fd, f"{k}\\n".encode())
            os.close(fd)
            time.sleep(0.05)  # long enough for the others to pile up behind the lock
            return ("value", k)
        return load

    errors = []

    def run(t):
        try:
            for i in range(24):
                k = (i * 7 + t) % 12  # overlapping keys, in a different order per thread
                assert cache.get_or_load(k, loader(k)) == ("value", k)
        except BaseException as e:
            errors.append(repr(e))

    while time.time() < start:
        time.sleep(0.001)
    threads = [threading.Thread(target=run, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    cache.close()
    print("errors:", errors)
    sys.exit(1 if errors else 0)
    """
)


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": SRC, "MEMCACHE_KIT_SECRET": SECRET}


def _run_workers(tmp_path: Path, directories: list[Path], remote: str = "") -> Counter[str]:
    marks = tmp_path / "marks"
    start = time.time() + 1.0
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(d), str(marks), remote, str(start)],
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for d in directories
    ]
    for p in procs:
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0, out.decode()
    return Counter(marks.read_text().split())


def test_four_processes_by_eight_threads_load_each_key_once(tmp_path: Path) -> None:
    shared = tmp_path / "cache"
    counts = _run_workers(tmp_path, [shared] * 4)
    assert counts == Counter({str(k): 1 for k in range(12)})
    # the holders removed their lock files
    assert not any((shared / "locks").iterdir())


def test_machines_with_their_own_disks_load_once_through_redis(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    dirs = [tmp_path / f"machine{i}" for i in range(4)]
    counts = _run_workers(tmp_path, dirs, redis_server.url)
    assert counts == Counter({str(k): 1 for k in range(12)})


HOLDER = textwrap.dedent(
    """
    import sys, time
    from memcache_kit import Cache

    cache = Cache("flight", memory="8MiB", disk="64MiB", directory=sys.argv[1])

    def load():
        print("loading", flush=True)
        time.sleep(3600)

    cache.get_or_load("k", load)
    """
)


def _start_holder(directory: Path) -> subprocess.Popen[bytes]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(directory)], env=_env(), stdout=subprocess.PIPE
    )
    assert holder.stdout is not None
    assert holder.stdout.readline() == b"loading\n"
    return holder


def _stop(holder: subprocess.Popen[bytes]) -> None:
    if holder.poll() is None:
        holder.kill()
    holder.wait(timeout=10)
    if holder.stdout is not None:
        holder.stdout.close()


def test_a_killed_lock_holder_blocks_nobody(tmp_path: Path) -> None:
    directory = tmp_path / "cache"
    holder = _start_holder(directory)
    key = make_key("k").disk
    try:
        probe = FileLock(directory, key, timeout=0)
        assert not probe.acquire()  # held by the loading process
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
    finally:
        _stop(holder)
    assert lock_path(directory, key).exists()  # left behind, but no longer locked
    cache = Cache("flight", memory="8MiB", disk="64MiB", directory=directory, lock_timeout=0)
    try:
        # lock_timeout=0: a held lock would make this load without it; the lock is free, so
        # this process takes it (and removes the dead holder's file when it lets go).
        assert cache.get_or_load("k", lambda: "mine") == "mine"
        assert cache.stats().loads == 1
    finally:
        cache.close()
    assert not lock_path(directory, key).exists()


def test_waiters_give_up_after_lock_timeout_and_load(tmp_path: Path) -> None:
    directory = tmp_path / "cache"
    holder = _start_holder(directory)
    try:
        cache = Cache("flight", memory="8MiB", disk="64MiB", directory=directory, lock_timeout=0.3)
        lock = cache._shared_lock(make_key("k"))
        assert lock is not None and not lock.held and lock.waited >= 0.3
        lock.release()  # not held: nothing to do
        assert cache.get_or_load("k", lambda: "mine") == "mine"
        cache.close()
    finally:
        _stop(holder)


def test_aget_or_load_waits_for_another_process_without_blocking_the_loop(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "cache"
    holder = _start_holder(directory)
    cache = Cache("flight", memory="8MiB", disk="64MiB", directory=directory, lock_timeout=0.5)
    ticks = 0

    async def ticker(stop: asyncio.Event) -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.01)

    async def main() -> str:
        stop = asyncio.Event()
        task = asyncio.create_task(ticker(stop))
        try:
            value: str = await cache.aget_or_load("k", lambda: "mine")
            return value
        finally:
            stop.set()
            await task

    try:
        assert asyncio.run(main()) == "mine"
        assert ticks >= 5  # the loop kept running while this task waited for the lock
    finally:
        _stop(holder)
        cache.close()


def test_a_loader_asking_for_another_key_does_not_wait_for_itself(tmp_path: Path) -> None:
    cache = Cache("flight", memory="8MiB", disk="64MiB", directory=tmp_path, lock_timeout=30)
    try:
        inner = [cache.get_or_load(("inner", i), lambda i=i: i) for i in range(3)]
        outer = cache.get_or_load(
            "outer", lambda: [cache.get_or_load(("nested", i), lambda i=i: i) for i in range(50)]
        )
        assert inner == [0, 1, 2] and outer == list(range(50))
    finally:
        cache.close()


@pytest.mark.parametrize("cross", ["disk", "remote"])
def test_a_value_another_process_stored_meanwhile_is_not_loaded_again(
    tmp_path: Path, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch, cross: str
) -> None:
    # Between this leader's first look and its lock, "another process" stores the value.
    monkeypatch.setenv("MEMCACHE_KIT_SECRET", SECRET)
    remote = redis_server.url if cross == "remote" else None
    a = Cache("flight", directory=tmp_path / "a", remote=remote)
    b = Cache("flight", directory=tmp_path / ("a" if cross == "disk" else "b"), remote=remote)
    try:
        original = b._shared_lock

        def lock_after_a_stored(key):  # type: ignore[no-untyped-def]
            a.set("k", "from a")
            return original(key)

        monkeypatch.setattr(b, "_shared_lock", lock_after_a_stored)
        assert b.get_or_load("k", lambda: "from b") == "from a"
        assert b.stats().loads == 0
    finally:
        a.close()
        b.close()
