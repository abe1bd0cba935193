"""``mk.cached`` on ``async def`` functions and methods: single flight, tiers, controls."""

from __future__ import annotations

import asyncio
import gc
import inspect
import threading
import time
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

import memcache_kit as mk
from memcache_kit._config import registry as _registry


@pytest.fixture(autouse=True)
def _fresh_registry() -> Iterator[None]:
    _registry._reset()
    yield
    _registry._reset()


@pytest.fixture
def tiered(cache_dir: Path) -> Iterator[mk.Cache]:
    cache = mk.Cache("dec-async", memory="16MiB", disk="64MiB", directory=cache_dir)
    yield cache
    cache.close()


@pytest.fixture
def disk_only(cache_dir: Path) -> Iterator[mk.Cache]:
    cache = mk.Cache("dec-async-disk", memory=0, disk="64MiB", directory=cache_dir)
    yield cache
    cache.close()


def test_async_wrapper_is_a_coroutine_function_with_the_signature(tiered: mk.Cache) -> None:
    async def fetch(url: str, *, retries: int = 3) -> bytes:
        return url.encode()

    f = mk.cached(cache=tiered)(fetch)
    assert inspect.iscoroutinefunction(f)
    assert inspect.signature(f) == inspect.signature(fetch)
    assert f.__wrapped__ is fetch


def test_hundred_tasks_on_one_missing_key_run_the_coroutine_once(tiered: mk.Cache) -> None:
    calls = 0

    @mk.cached(cache=tiered)
    async def slow(x: int) -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.1)
        return x * 2

    async def main() -> list[int]:
        return await asyncio.gather(*(slow(21) for _ in range(100)))

    assert asyncio.run(main()) == [42] * 100
    assert calls == 1
    info = slow.cache_info()
    assert info.misses == 1
    assert info.hits == 99


def test_async_hits_from_memory_and_disk(tiered: mk.Cache) -> None:
    calls = 0

    @mk.cached(cache=tiered)
    async def f(x: str, n: int = 2) -> str:
        nonlocal calls
        calls += 1
        return x * n

    async def main() -> None:
        assert await f("a") == "aa"
        assert await f("a", 2) == "aa"
        assert await f(x="a", n=2) == "aa"
        tiered.close()  # the memory tier starts empty again: the next hit comes from disk
        assert await f("a") == "aa"

    asyncio.run(main())
    assert calls == 1
    assert f.cache_info().tiers == {"memory": (2, 2), "disk": (1, 1)}


def test_disk_reads_do_not_block_the_event_loop(disk_only: mk.Cache) -> None:
    """Disk I/O runs in worker threads: a ticker task keeps running while values load."""

    @mk.cached(cache=disk_only)
    async def blob(i: int) -> bytes:
        return bytes(2_000_000) + i.to_bytes(4, "little")

    loop_threads: set[int] = set()

    async def ticker(stop: asyncio.Event) -> int:
        ticks = 0
        while not stop.is_set():
            loop_threads.add(threading.get_ident())
            ticks += 1
            await asyncio.sleep(0)
        return ticks

    async def main() -> int:
        stop = asyncio.Event()
        tick = asyncio.create_task(ticker(stop))
        for i in range(5):
            await blob(i)
        for i in range(5):
            assert (await blob(i))[-4:] == i.to_bytes(4, "little")
        stop.set()
        return await tick

    assert asyncio.run(main()) > 10
    assert blob.cache_info().tiers == {"disk": (5, 5)}


def test_async_exceptions_are_not_cached_and_none_is(tiered: mk.Cache) -> None:
    calls = 0

    @mk.cached(cache=tiered)
    async def flaky(x: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ValueError("first call fails")

    async def main() -> None:
        with pytest.raises(ValueError):
            await flaky(1)
        assert await flaky(1) is None
        assert await flaky(1) is None

    asyncio.run(main())
    assert calls == 2


def test_waiters_see_the_leaders_exception_and_a_later_call_retries(tiered: mk.Cache) -> None:
    calls = 0

    @mk.cached(cache=tiered)
    async def failing(x: int) -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        if calls == 1:
            raise KeyError("boom")
        return x

    async def main() -> None:
        results = await asyncio.gather(*(failing(1) for _ in range(10)), return_exceptions=True)
        assert all(isinstance(r, KeyError) for r in results)
        assert await failing(1) == 1

    asyncio.run(main())
    assert calls == 2


def test_async_invalidate_refresh_and_clear(tiered: mk.Cache) -> None:
    state = {"v": 1}

    @mk.cached(cache=tiered)
    async def f(x: int) -> int:
        return state["v"] + x

    @mk.cached(cache=tiered)
    async def g(x: int) -> int:
        return -x

    async def main() -> None:
        assert await f(1) == 2
        assert await g(1) == -1
        state["v"] = 10
        assert await f(1) == 2
        assert f.invalidate(1) is True
        assert await f(1) == 11
        state["v"] = 100
        assert await f.refresh(1) == 101
        assert await f(1) == 101
        f.cache_clear()
        state["v"] = 1000
        assert await f(1) == 1001
        assert g.cache_info().misses == 1

    asyncio.run(main())


def test_async_methods_key_instances_and_release_them(tiered: mk.Cache) -> None:
    calls: list[int] = []

    class Client:
        def __init__(self, base: int) -> None:
            self.base = base

        @mk.cached(cache=tiered)
        async def get(self, x: int) -> int:
            calls.append(self.base)
            await asyncio.sleep(0)
            return self.base + x

    async def main() -> weakref.ref[Client]:
        a, b = Client(1), Client(100)
        assert await a.get(1) == 2
        assert await b.get(1) == 101
        assert await a.get(1) == 2
        assert await asyncio.gather(*(b.get(5) for _ in range(20))) == [105] * 20
        assert a.get.invalidate(1) is True
        assert await a.get.refresh(1) == 2
        return weakref.ref(a)

    ref = asyncio.run(main())
    gc.collect()
    assert ref() is None
    assert calls == [1, 100, 100, 1]


def test_async_ttl(tiered: mk.Cache) -> None:
    calls = 0

    @mk.cached(cache=tiered, ttl=0.2)
    async def f(x: int) -> int:
        nonlocal calls
        calls += 1
        return x

    async def main() -> None:
        await f(1)
        await f(1)
        time.sleep(0.4)
        await f(1)

    asyncio.run(main())
    assert calls == 2
