"""Single flight within a process: threads and asyncio tasks share one loader run per key."""

from __future__ import annotations

import asyncio
import collections
import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import memcache_kit as mk


def make(d: Path, **kw: Any) -> mk.Cache:
    kw.setdefault("memory", "16MiB")
    kw.setdefault("disk", "64MiB")
    return mk.Cache("conc", directory=d, **kw)


class Loaders:
    """Counts loader runs per key, and never lets two runs of one key overlap unnoticed."""

    def __init__(self, delay: float = 0.002) -> None:
        self.calls: collections.Counter[Any] = collections.Counter()
        self.lock = threading.Lock()
        self.delay = delay

    def sync(self, key: Any) -> Any:
        def load() -> Any:
            with self.lock:
                self.calls[key] += 1
            time.sleep(self.delay)
            return ("value", key)

        return load

    def asynchronous(self, key: Any) -> Any:
        async def load() -> Any:
            with self.lock:
                self.calls[key] += 1
            await asyncio.sleep(self.delay)
            return ("value", key)

        return load


def hammer(c: mk.Cache, loaders: Loaders, keys: list[Any], rounds: int) -> None:
    """16 threads, each ``get_or_load`` of ``rounds`` random keys (checking every value);
    the first error of any thread is raised here."""
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(rounds):
                k = rng.choice(keys)
                assert c.get_or_load(k, loaders.sync(k)) == ("value", k)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
        assert not t.is_alive(), "a worker hung"
    if errors:
        raise errors[0]


@pytest.mark.parametrize("write_through", [True, False])
def test_threads_hammering_get_or_load(cache_dir: Path, write_through: bool) -> None:
    loaders = Loaders()
    keys: list[Any] = [("k", i) for i in range(64)]
    with make(cache_dir, write_through=write_through) as c:
        hammer(c, loaders, keys, 300)
        assert sum(loaders.calls.values()) == len(set(loaders.calls)) == len(keys)
        s = c.stats()
        assert s.loads == len(keys)
        assert c.verify().ok


@pytest.mark.parametrize("write_through", [True, False])
def test_threads_on_a_tiny_memory_budget_still_load_each_key_once(
    cache_dir: Path, write_through: bool
) -> None:
    # Memory holds a handful of entries: misses come back from disk (or from the spill queue),
    # never from the loader.
    loaders = Loaders(delay=0.0005)
    keys: list[Any] = list(range(200))
    with make(cache_dir, memory=8 * 1024, write_through=write_through) as c:
        hammer(c, loaders, keys, 200)
        assert max(loaders.calls.values()) == 1
        assert c.stats().tiers["memory"].bytes <= 8 * 1024
        assert c.verify().ok


def test_exception_reaches_every_waiter_and_is_not_cached(cache_dir: Path) -> None:
    release = threading.Event()
    calls = []
    entered = []
    results: list[Any] = []

    def failing() -> Any:
        calls.append(1)
        release.wait(30)
        raise ValueError("loader failed")

    with make(cache_dir) as c:

        def worker() -> None:
            entered.append(1)
            try:
                results.append(c.get_or_load("k", failing))
            except ValueError as e:
                results.append(e)

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        while len(entered) < 8:
            time.sleep(0.01)
        time.sleep(0.5)  # let every thread reach the in-flight wait
        release.set()
        for t in threads:
            t.join(timeout=60)
        assert len(calls) == 1
        assert len(results) == 8
        assert all(isinstance(r, ValueError) for r in results)
        assert len({id(r) for r in results}) == 1  # the same exception, from the one run
        assert c.get_or_load("k", lambda: "ok") == "ok"  # not cached
        assert c.stats().loads == 1


def test_a_cached_none_is_shared_by_waiters(cache_dir: Path) -> None:
    loaders = Loaders()
    with make(cache_dir) as c:
        calls = []

        def load() -> None:
            calls.append(1)
            time.sleep(0.05)

        threads = [threading.Thread(target=c.get_or_load, args=("n", load)) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert len(calls) == 1
        assert c.get_or_load("n", loaders.sync("n")) is None
        assert not loaders.calls


@pytest.mark.parametrize("kind", ["async", "sync"])
def test_tasks_hammering_aget_or_load(cache_dir: Path, kind: str) -> None:
    loaders = Loaders()
    keys = list(range(20))

    async def main(c: mk.Cache) -> None:
        async def task(seed: int) -> None:
            rng = random.Random(seed)
            for _ in range(20):
                k = rng.choice(keys)
                load = loaders.asynchronous(k) if kind == "async" else loaders.sync(k)
                assert await c.aget_or_load(k, load) == ("value", k)

        await asyncio.gather(*(task(s) for s in range(100)))

    with make(cache_dir) as c:
        asyncio.run(main(c))
        assert sum(loaders.calls.values()) == len(keys)
        assert max(loaders.calls.values()) == 1
        assert c.verify().ok


def test_threads_and_tasks_share_one_flight(cache_dir: Path) -> None:
    loaders = Loaders(delay=0.05)
    with make(cache_dir) as c:

        def in_thread() -> None:
            assert c.get_or_load("shared", loaders.sync("shared")) == ("value", "shared")

        async def main() -> None:
            threads = [threading.Thread(target=in_thread) for _ in range(4)]
            for t in threads:
                t.start()
            got = await asyncio.gather(
                *(c.aget_or_load("shared", loaders.asynchronous("shared")) for _ in range(20))
            )
            for t in threads:
                t.join(timeout=60)
            assert all(g == ("value", "shared") for g in got)

        asyncio.run(main())
        assert loaders.calls["shared"] == 1


def test_async_exception_reaches_every_task_and_is_not_cached(cache_dir: Path) -> None:
    calls = []

    async def failing() -> Any:
        calls.append(1)
        await asyncio.sleep(0.05)
        raise KeyError("nope")

    async def main(c: mk.Cache) -> None:
        results = await asyncio.gather(
            *(c.aget_or_load("k", failing) for _ in range(50)), return_exceptions=True
        )
        assert all(isinstance(r, KeyError) for r in results)
        assert await c.aget_or_load("k", lambda: 7) == 7

    with make(cache_dir) as c:
        asyncio.run(main(c))
        assert len(calls) == 1


def test_a_cancelled_leader_does_not_cancel_its_waiters(cache_dir: Path) -> None:
    started = asyncio.Event

    async def main(c: mk.Cache) -> None:
        begun = started()
        calls = []

        async def slow() -> str:
            calls.append(1)
            begun.set()
            await asyncio.sleep(10)
            return "slow"

        async def quick() -> str:
            calls.append(1)
            return "quick"

        leader = asyncio.create_task(c.aget_or_load("k", slow))
        await begun.wait()
        waiter = asyncio.create_task(c.aget_or_load("k", quick))
        await asyncio.sleep(0.01)
        leader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await leader
        assert await waiter == "quick"  # the waiter retried and led the next run
        assert len(calls) == 2

    with make(cache_dir) as c:
        asyncio.run(main(c))


def test_event_loop_keeps_ticking_during_loads_and_disk_reads(cache_dir: Path) -> None:
    values = {i: bytes(256 * 1024) + bytes([i]) for i in range(8)}
    with make(cache_dir) as writer:
        for i, v in values.items():
            writer.set(("disk", i), v)

    async def main(c: mk.Cache) -> None:
        ticks = 0
        loop_thread = threading.get_ident()
        seen: list[tuple[int, int]] = []

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.001)

        def blocking_load(i: int) -> Any:
            def load() -> Any:
                assert threading.get_ident() != loop_thread  # a sync loader runs off the loop
                before = ticks
                time.sleep(0.1)
                seen.append((before, ticks))
                return i

            return load

        t = asyncio.create_task(ticker())
        got = await asyncio.gather(
            *(c.aget_or_load(("load", i), blocking_load(i)) for i in range(4))
        )
        assert got == list(range(4))
        # the loop ran the ticker while each blocking loader slept
        assert all(after > before for before, after in seen)
        for i, v in values.items():
            assert await c.aget(("disk", i)) == v
        assert await c.aget("absent", "dflt") == "dflt"
        t.cancel()

    with make(cache_dir, memory=0) as c:
        asyncio.run(main(c))
        assert c.stats().tiers["disk"].hits == len(values)


def test_sync_get_or_load_inside_the_loop_while_a_task_loads_raises(cache_dir: Path) -> None:
    async def main(c: mk.Cache) -> None:
        begun = asyncio.Event()

        async def slow() -> int:
            begun.set()
            await asyncio.sleep(0.2)
            return 1

        task = asyncio.create_task(c.aget_or_load("k", slow))
        await begun.wait()
        with pytest.raises(RuntimeError, match="aget_or_load"):
            c.get_or_load("k", lambda: 2)
        assert await task == 1

    with make(cache_dir) as c:
        asyncio.run(main(c))


# -- circular loads across threads (issue 12, item 11) --------------------------------------------


@pytest.mark.parametrize("memory", ["16MiB", 0])
def test_a_cycle_split_across_two_threads_raises_instead_of_hanging(
    cache_dir: Path, memory: Any
) -> None:
    """Thread A loads k1, whose loader needs k2; thread B loads k2, whose loader needs k1.
    Each waits for the other's load: the second to wait closes the cycle and gets the error
    a one-thread cycle gets, and the first gets it through its wait."""
    c = make(cache_dir, memory=memory)
    both_leading = threading.Barrier(2, timeout=30)
    outcome: dict[str, Any] = {}

    def loader(mine: str, other: str) -> Any:
        def load() -> Any:
            both_leading.wait()  # each thread leads its own key before asking for the other
            return c.get_or_load(other, lambda: other)

        return load

    def run(mine: str, other: str) -> None:
        try:
            outcome[mine] = c.get_or_load(mine, loader(mine, other))
        except BaseException as e:
            outcome[mine] = e

    threads = [
        threading.Thread(target=run, args=("k1", "k2"), daemon=True),
        threading.Thread(target=run, args=("k2", "k1"), daemon=True),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
        assert not t.is_alive(), "the circular load hung"
    errors = [v for v in outcome.values() if isinstance(v, RuntimeError)]
    assert len(errors) == 2, outcome
    assert all("circular" in str(e) for e in errors), errors
    assert c.get_or_load("k1", lambda: "again") == "again"  # nothing was cached or left held
    c.close()


def test_a_cycle_through_three_tasks_raises(cache_dir: Path) -> None:
    c = make(cache_dir)
    keys = ["a", "b", "c"]

    async def main() -> list[Any]:
        started = asyncio.Event()
        leading = 0

        def loader(i: int) -> Any:
            async def load() -> Any:
                nonlocal leading
                leading += 1
                if leading == 3:
                    started.set()
                await started.wait()
                nxt = keys[(i + 1) % 3]
                return await c.aget_or_load(nxt, _const(nxt))

            return load

        tasks = [asyncio.create_task(c.aget_or_load(k, loader(i))) for i, k in enumerate(keys)]
        return await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 60)

    results = asyncio.run(main())
    assert all(isinstance(r, RuntimeError) and "circular" in str(r) for r in results), results
    c.close()


def _const(v: Any) -> Any:
    async def load() -> Any:
        return v

    return load


def test_threads_waiting_on_one_leader_are_not_a_cycle(cache_dir: Path) -> None:
    """Many threads waiting for one key, whose loader waits for another thread's key, is a
    chain, not a cycle: nothing raises."""
    c = make(cache_dir)
    gate = threading.Event()

    def slow() -> str:
        gate.wait(30)
        return "slow"

    results: list[Any] = []

    def use(key: str, loader: Any) -> None:
        try:
            results.append(c.get_or_load(key, loader))
        except BaseException as e:
            results.append(e)

    threads = [threading.Thread(target=use, args=("slow", slow))]
    threads += [threading.Thread(target=use, args=("outer", lambda: c.get_or_load("slow", slow)))]
    threads += [threading.Thread(target=use, args=("outer", lambda: "x")) for _ in range(4)]
    for t in threads:
        t.start()
        time.sleep(0.01)
    gate.set()
    for t in threads:
        t.join(timeout=60)
    assert all(r == "slow" for r in results), results
    c.close()
