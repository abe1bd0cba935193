"""Lazy proxies: transparency, single flight, eviction and reload, pickling, errors."""

from __future__ import annotations

import asyncio
import copy
import gc
import multiprocessing
import operator
import pickle
import threading
import time
import tracemalloc
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from memcache_kit._cache.cache import Cache
from memcache_kit._front.lazy import LazyProxy, is_loaded, lazy

MiB = 1 << 20
CALLS: dict[str, int] = {}
_calls_lock = threading.Lock()


def _count(tag: str) -> None:
    with _calls_lock:
        CALLS[tag] = CALLS.get(tag, 0) + 1


class Thing:
    """A user class exercising attributes, calls, containers, `with` and `await`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.items = [1, 2, 3]

    def method(self, n: int) -> str:
        return self.name * n

    def __call__(self, n: int) -> int:
        return n + len(self.name)

    def __len__(self) -> int:
        return len(self.items)

    def __contains__(self, x: object) -> bool:
        return x in self.items

    def __iter__(self) -> Iterator[int]:
        return iter(self.items)

    def __getitem__(self, i: int) -> int:
        return self.items[i]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Thing) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    def __enter__(self) -> str:
        return f"entered {self.name}"

    def __exit__(self, *exc: object) -> None:
        return None

    def __await__(self) -> Iterator[Any]:
        yield from asyncio.sleep(0).__await__()
        return self.name.upper()


MAKERS: dict[str, Callable[[], Any]] = {
    "int": lambda: 7,
    "list": lambda: [1, 2, 3],
    "dict": lambda: {"a": 1, "b": 2},
    "array": lambda: np.arange(6, dtype=np.float64),
    "thing": lambda: Thing("ab"),
}


def make(kind: str) -> Any:
    _count(f"make:{kind}")
    return MAKERS[kind]()


def _with(x: Any) -> Any:
    with x as entered:
        return entered


def _await(x: Any) -> Any:
    async def go() -> Any:
        return await x

    return asyncio.run(go())


OPS: list[tuple[str, str, Callable[[Any], Any]]] = [
    ("int", "add", lambda x: x + 1),
    ("int", "radd", lambda x: 1 + x),
    ("int", "mul", lambda x: x * 3),
    ("int", "floordiv", lambda x: x // 2),
    ("int", "pow", lambda x: x**2),
    ("int", "neg", operator.neg),
    ("int", "lt", lambda x: x < 10),
    ("int", "eq", lambda x: x == 7),
    ("int", "hash", hash),
    ("int", "int", int),
    ("int", "float", float),
    ("int", "str", str),
    ("int", "format", lambda x: f"{x:03d}"),
    ("int", "index", lambda x: list(range(10))[x]),
    ("int", "method", lambda x: x.bit_length()),
    ("int", "isinstance", lambda x: isinstance(x, int)),
    ("int", "bool", bool),
    ("list", "len", len),
    ("list", "getitem", lambda x: x[0]),
    ("list", "negative index", lambda x: x[-1]),
    ("list", "slice", lambda x: x[1:]),
    ("list", "in", lambda x: 2 in x),
    ("list", "iter", list),
    ("list", "concat", lambda x: x + [4]),  # noqa: RUF005 (the operator is what is tested)
    ("list", "reversed", lambda x: list(reversed(x))),
    ("list", "method", lambda x: x.count(1)),
    ("list", "isinstance", lambda x: isinstance(x, list)),
    ("list", "eq", lambda x: x == [1, 2, 3]),
    ("dict", "getitem", lambda x: x["a"]),
    ("dict", "in", lambda x: "b" in x),
    ("dict", "len", len),
    ("dict", "keys", lambda x: sorted(x.keys())),
    ("dict", "get", lambda x: x.get("c", 0)),
    ("dict", "dict", dict),
    ("dict", "isinstance", lambda x: isinstance(x, dict)),
    ("array", "asarray", np.asarray),
    ("array", "shape", lambda x: x.shape),
    ("array", "dtype", lambda x: x.dtype),
    ("array", "sum", lambda x: x.sum()),
    ("array", "add", lambda x: x + 1),
    ("array", "radd", lambda x: 1 + x),
    ("array", "matmul", lambda x: x @ x),
    ("array", "slice", lambda x: x[2:4]),
    ("array", "compare", lambda x: x > 2),
    ("array", "ufunc", np.sqrt),
    ("array", "mean", np.mean),
    ("array", "len", len),
    ("array", "iter", list),
    ("array", "isinstance", lambda x: isinstance(x, np.ndarray)),
    ("thing", "attribute", lambda x: x.name),
    ("thing", "method", lambda x: x.method(2)),
    ("thing", "call", lambda x: x(3)),
    ("thing", "len", len),
    ("thing", "in", lambda x: 2 in x),
    ("thing", "iter", list),
    ("thing", "getitem", lambda x: x[1]),
    ("thing", "eq", lambda x: x == Thing("ab")),
    ("thing", "hash", hash),
    ("thing", "with", _with),
    ("thing", "await", _await),
    ("thing", "isinstance", lambda x: isinstance(x, Thing)),
]


@pytest.fixture
def cache(cache_dir: Path) -> Iterator[Cache]:
    c = Cache("lazy-test", memory=64 * MiB, disk=256 * MiB, directory=cache_dir)
    yield c
    c.close()


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return bool(np.array_equal(a, b))
    return bool(a == b) and type(a) is type(b)


@pytest.mark.parametrize(("kind", "label", "op"), OPS, ids=[f"{k}-{n}" for k, n, _ in OPS])
def test_proxy_is_transparent(
    cache: Cache, kind: str, label: str, op: Callable[[Any], Any]
) -> None:
    p = lazy(make, kind, cache=cache)
    assert not is_loaded(p)
    assert _same(op(p), op(MAKERS[kind]()))
    assert is_loaded(p)


def test_nothing_runs_until_first_use_and_repr_does_not_load(cache: Cache) -> None:
    p = lazy(make, "dict", cache=cache, key="repr-test")
    text = repr(p)
    assert "not loaded" in text and "make('dict')" in text
    assert not is_loaded(p)
    assert CALLS.get("make:dict:repr", 0) == 0
    before = CALLS.get("make:dict", 0)
    assert p["a"] == 1
    assert CALLS["make:dict"] == before + 1
    assert "'a': 1" in repr(p)
    assert type(p) is LazyProxy
    assert p.__class__ is dict


def test_is_loaded_rejects_other_objects() -> None:
    with pytest.raises(TypeError, match=r"takes a proxy from memcache_kit\.lazy"):
        is_loaded([1, 2])


def test_in_place_operators(cache: Cache) -> None:
    lst = lazy(make, "list", cache=cache)
    lst += [4]  # mutates the cached list in place
    assert lst == [1, 2, 3, 4]
    assert lazy(make, "list", cache=cache) == [1, 2, 3, 4]
    n = lazy(make, "int", cache=cache)
    with pytest.raises(TypeError, match="cannot rebind the lazy value"):
        n += 1


def slow_square(tag: str, x: int) -> int:
    _count(tag)
    time.sleep(0.05)
    return x * x


def test_concurrent_first_uses_run_the_loader_once(cache: Cache) -> None:
    tag = "slow:16"
    p = lazy(slow_square, tag, 12, cache=cache)
    start = threading.Barrier(16)
    results: list[int] = []

    def use() -> None:
        start.wait()
        results.append(p + 0)

    threads = [threading.Thread(target=use) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert results == [144] * 16
    assert CALLS[tag] == 1


def big(tag: str, n: int) -> bytes:
    _count(tag)
    return bytes([len(tag) % 256]) * n


def test_evicted_value_comes_back_from_disk(cache: Cache) -> None:
    p = lazy(big, "big:disk", 8 * MiB, cache=cache)
    assert len(p) == 8 * MiB
    assert is_loaded(p)
    cache.memory_budget = 4096  # shrinking evicts at once
    assert not is_loaded(p)
    disk_hits = cache.stats().tiers["disk"].hits
    assert len(p) == 8 * MiB
    assert CALLS["big:disk"] == 1
    assert cache.stats().tiers["disk"].hits == disk_hits + 1


def test_evicted_value_is_loaded_again_without_disk(cache_dir: Path) -> None:
    with Cache("memonly", memory=64 * MiB, disk=None) as c:
        p = lazy(big, "big:mem", 8 * MiB, cache=c)
        assert p[:1] == p[-1:]
        c.memory_budget = 4096
        assert not is_loaded(p)
        c.memory_budget = 64 * MiB
        assert len(p) == 8 * MiB
        assert CALLS["big:mem"] == 2
        assert is_loaded(p)


def test_used_proxies_do_not_keep_evicted_values_alive() -> None:
    with Cache("tracemalloc", memory=64 * MiB, disk=None) as c:
        proxies = [lazy(big, f"big:tm{i}", 8 * MiB, cache=c) for i in range(3)]
        tracemalloc.start()
        try:
            for p in proxies:
                assert len(p) == 8 * MiB and p[0] == p[-1]
            gc.collect()
            loaded, _ = tracemalloc.get_traced_memory()
            c.memory_budget = 4096
            gc.collect()
            evicted, _ = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert loaded - evicted >= 3 * 8 * MiB - MiB, (loaded, evicted)
        assert not any(is_loaded(p) for p in proxies)


def make_thing(name: str) -> Thing:
    return Thing(name)


def test_evicted_object_is_collected() -> None:
    with Cache("weak", memory=MiB, disk=None) as c:
        p = lazy(make_thing, "weakly", cache=c)
        ref = weakref.ref(p.__wrapped__)
        assert p.method(1) == "weakly"
        c.memory_budget = 1
        gc.collect()
        assert ref() is None
        c.memory_budget = MiB
        assert p.name == "weakly"


def test_pickle_sends_the_recipe_not_the_value(cache: Cache) -> None:
    p = lazy(big, "big:pickle", 4 * MiB, cache=cache)
    data = pickle.dumps(p)
    assert CALLS.get("big:pickle", 0) == 0
    assert len(p) == 4 * MiB  # loaded now; the pickle stays small
    data = pickle.dumps(p)
    assert len(data) < 64 * 1024
    q = pickle.loads(data)
    assert type(q) is LazyProxy
    assert len(q) == 4 * MiB
    assert CALLS["big:pickle"] == 1


def test_copies_share_the_recipe(cache: Cache) -> None:
    p = lazy(make, "array", cache=cache)
    for q in (copy.copy(p), copy.deepcopy(p)):
        assert type(q) is LazyProxy
        assert not is_loaded(q)
    assert np.array_equal(copy.deepcopy(p), MAKERS["array"]())
    assert is_loaded(p)


def marked(marker_dir: str, value: int) -> int:
    Path(
        marker_dir, f"{value}-{time.monotonic_ns()}-{multiprocessing.current_process().pid}"
    ).touch()
    return value * 2


def _use_in_child(p: Any) -> int:
    return int(p + 0)


def test_spawned_process_reattaches_to_the_disk_tier(cache: Cache, tmp_path: Path) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    p = lazy(marked, str(markers), 21, cache=cache)
    assert p == 42
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        assert pool.apply(_use_in_child, (p,)) == 42
    assert len(list(markers.iterdir())) == 1


def failing(tag: str) -> int:
    _count(tag)
    raise ValueError(f"cannot load {tag}")


def test_loader_errors_propagate_on_each_use_and_are_not_cached(cache: Cache) -> None:
    p = lazy(failing, "fail:1", cache=cache)
    for n in (1, 2):
        with pytest.raises(ValueError, match="cannot load fail:1"):
            _ = p + 1
        assert CALLS["fail:1"] == n
    assert not is_loaded(p)


def test_unkeyable_loader_asks_for_key(cache: Cache) -> None:
    class Opaque:
        def __init__(self) -> None:
            self.lock = threading.Lock()

        def __call__(self) -> int:
            return 5

    with pytest.raises(TypeError, match="key="):
        lazy(Opaque(), cache=cache)
    p = lazy(Opaque(), cache=cache, key="opaque-v1")
    assert p * 2 == 10


def test_bad_arguments_are_refused(cache: Cache) -> None:
    with pytest.raises(TypeError, match="not callable"):
        lazy(42)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="cache=3 is not allowed"):
        lazy(make, "int", cache=3)  # type: ignore[arg-type]


def test_named_cache_resolves_at_first_use() -> None:
    p = lazy(make, "list", cache="lazy-named")
    assert not is_loaded(p)
    assert p[1] == 2
    assert is_loaded(p)


# -- proxies inside values, proxies of proxies (issue 12, item 3) ---------------------------------


def test_sizeof_a_proxy_charges_its_recipe_and_never_loads(cache: Cache) -> None:
    import memcache_kit as mk

    big = lazy(_big_list, cache=cache)
    assert 0 < mk.sizeof(big) < 4096  # the value (a million ints) is not the proxy's to hold
    assert not is_loaded(big)
    assert mk.sizeof([big, big]) < 8192
    assert not is_loaded(big)


def _big_list() -> list[int]:
    return list(range(1_000_000))


def test_values_containing_proxies_are_stored_and_come_back(cache: Cache) -> None:
    inner = lazy(_value_of, "inner", cache=cache)
    cache.set("holder", {"p": inner})
    got = cache.get("holder")
    assert got["p"] == "value-inner"
    outer = lazy(_proxy_of, "inner", cache=cache)  # a proxy whose value is a proxy
    assert len(outer) == len("value-inner")
    assert outer.upper() == "VALUE-INNER"
    assert outer == "value-inner"


def _value_of(tag: str) -> str:
    return f"value-{tag}"


def _proxy_of(tag: str) -> Any:
    return lazy(_value_of, tag)


# -- transparency gaps of the slots proxy (issue 12, item 10) -------------------------------------


def test_numeric_conversions_are_forwarded(cache: Cache) -> None:
    import math

    assert complex(lazy(_const, 3 + 4j, cache=cache)) == 3 + 4j
    assert complex(lazy(_const, 2.5, cache=cache)) == 2.5 + 0j
    p = lazy(_const, 3.7, cache=cache)
    assert (math.trunc(p), math.floor(p), math.ceil(p), round(p), round(p, 1)) == (3, 3, 4, 4, 3.7)


def test_a_proxy_of_a_class_checks_instances_and_subclasses(cache: Cache) -> None:
    p = lazy(_const, int, cache=cache)
    assert isinstance(3, p)
    assert not isinstance("3", p)
    assert issubclass(bool, p)
    assert not issubclass(str, p)


def test_a_keyword_named_self_is_forwarded(cache: Cache) -> None:
    p = lazy(_const, _takes_self, cache=cache)
    assert p(self=1) == 1
    assert p(2) == 2


def _takes_self(self: Any) -> Any:
    return self


def test_os_fspath_of_a_proxy_is_that_of_its_value(cache: Cache, tmp_path: Path) -> None:
    import os

    path = lazy(_const, tmp_path / "f.txt", cache=cache)
    assert os.fspath(path) == str(tmp_path / "f.txt")
    number = lazy(_const, 42, cache=cache)
    with pytest.raises(TypeError):
        os.fspath(number)


def test_async_protocols_are_forwarded(cache: Cache) -> None:
    class Gen:
        def __init__(self) -> None:
            self.n = 0

        def __aiter__(self) -> Gen:
            return self

        async def __anext__(self) -> int:
            self.n += 1
            if self.n > 3:
                raise StopAsyncIteration
            return self.n

        async def __aenter__(self) -> str:
            return "entered"

        async def __aexit__(self, *exc: Any) -> None:
            return None

    async def main() -> tuple[list[int], str]:
        gen = lazy(Gen, cache=mk_memory())
        got = [x async for x in gen]
        async with lazy(Gen, cache=mk_memory()) as entered:
            return got, entered

    assert asyncio.run(main()) == ([1, 2, 3], "entered")


def mk_memory() -> Cache:
    return Cache("lazy-mem", memory="4MiB", disk=None)


def _const(v: Any) -> Any:
    return v
