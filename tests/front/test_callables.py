"""What ``mk.cached`` makes of callables that are not plain module-level functions.

Bound methods, closures, builtins, ``functools.partial`` and callable objects: each is keyed by
everything that decides what it computes (its instance, its captured values, its arguments), so
no call ever gets another call's value, and each namespace is the same in every process.
"""

from __future__ import annotations

import copy
import functools
import os
import pickle
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import memcache_kit as mk


@pytest.fixture
def tiered(cache_dir: Path) -> Iterator[mk.Cache]:
    cache = mk.Cache("callables", memory="64MiB", disk="1GiB", directory=cache_dir)
    yield cache
    cache.close()


@pytest.fixture
def disk_only(cache_dir: Path) -> Iterator[mk.Cache]:
    cache = mk.Cache("callables-disk", memory=0, disk="1GiB", directory=cache_dir)
    yield cache
    cache.close()


class Query:
    def __init__(self, text: str) -> None:
        self.text = text

    def __cache_key__(self) -> str:
        return self.text


class Scorer:
    """An instance whose state cannot be encoded: keyed by a per-instance token."""

    def __init__(self, weight: int) -> None:
        self.weight = weight

    def score(self, q: Query) -> int:
        return self.weight * len(q.text)

    def times(self, n: int) -> int:
        return self.weight * n

    def run(self, *args: Any, **kwargs: Any) -> tuple[int, tuple[Any, ...]]:
        return self.weight, args

    @classmethod
    def make(cls, weight: int) -> str:
        return f"{cls.__name__}:{weight}"


@dataclass
class Weighted:
    """An instance with an encodable state: keyed by it, on disk too."""

    weight: int

    def times(self, n: int) -> int:
        return self.weight * n


# -- item 1: a bound method is keyed by its instance ----------------------------------------------


@pytest.mark.parametrize("cache_name", ["tiered", "disk_only"])
def test_bound_methods_of_two_instances_never_share_an_entry(
    cache_name: str, request: pytest.FixtureRequest
) -> None:
    cache = request.getfixturevalue(cache_name)
    s2 = mk.cached(cache=cache)(Scorer(2).score)
    s3 = mk.cached(cache=cache)(Scorer(3).score)
    assert (s2(Query("abcd")), s3(Query("abcd"))) == (8, 12)
    assert (s2(Query("abcd")), s3(Query("abcd"))) == (8, 12)
    # Scorer's state cannot be encoded: keyed by a token, so held in memory only (none here
    # when the cache has no memory tier).
    hits = 2 if cache_name == "tiered" else 0
    assert s2.cache_info().hits + s3.cache_info().hits == hits


def test_a_bound_method_takes_its_real_first_argument(tiered: mk.Cache) -> None:
    times = mk.cached(cache=tiered)(Scorer(2).times)
    assert times(5) == 10
    assert times(5) == 10
    assert times.cache_info().hits == 1
    run = mk.cached(cache=tiered)(Scorer(7).run)
    assert run(1, 2) == (7, (1, 2))
    assert run(1, 2) == (7, (1, 2))
    assert run.cache_info().hits == 1


def test_a_bound_method_of_an_encodable_instance_is_keyed_by_its_state(
    disk_only: mk.Cache,
) -> None:
    w = Weighted(2)
    times = mk.cached(cache=disk_only)(w.times)
    assert times(5) == 10
    w.weight = 3  # the state changed: a new key, as a method call on it would be
    assert times(5) == 15
    again = mk.cached(cache=disk_only)(Weighted(3).times)
    assert again(5) == 15
    assert again.cache_info().hits == 1  # read from disk: an equal state is the same key


def test_a_bound_classmethod_is_keyed_by_its_class(disk_only: mk.Cache) -> None:
    class Sub(Scorer):
        pass

    base = mk.cached(cache=disk_only)(Scorer.make)
    sub = mk.cached(cache=disk_only)(Sub.make)
    assert (base(1), sub(1)) == ("Scorer:1", "Sub:1")
    assert (base(1), sub(1)) == ("Scorer:1", "Sub:1")


# -- item 2: closures are keyed by what they capture ----------------------------------------------


def make_scorer(cache: mk.Cache, weight: int) -> Callable[[str], int]:
    @mk.cached(cache=cache)
    def score(q: str) -> int:
        return weight * len(q)

    return score


@pytest.mark.parametrize("cache_name", ["tiered", "disk_only"])
def test_closures_capturing_different_values_never_share_an_entry(
    cache_name: str, request: pytest.FixtureRequest
) -> None:
    cache = request.getfixturevalue(cache_name)
    assert (make_scorer(cache, 2)("abcd"), make_scorer(cache, 3)("abcd")) == (8, 12)
    again = make_scorer(cache, 3)
    assert again("abcd") == 12
    assert again.cache_info().hits == 1  # an equal capture is the same namespace: a disk hit


def test_a_closure_over_an_unencodable_value_stays_in_memory_with_one_warning(
    tiered: mk.Cache,
) -> None:
    def build(scorer: Scorer) -> Callable[[int], int]:
        @mk.cached(cache=tiered)
        def times(n: int) -> int:
            return scorer.times(n)

        return times

    with pytest.warns(mk.CacheWarning, match="captures 'scorer'") as caught:
        a, b = build(Scorer(2)), build(Scorer(3))
        assert (a(5), b(5), a(5), b(5)) == (10, 15, 10, 15)
    assert len([w for w in caught if "captures" in str(w.message)]) == 2  # one per function
    assert a.cache_info().hits == 1
    assert tiered.stats().tiers["disk"].items == 0  # nothing written where it could be shared


def test_version_vouches_for_captured_values_that_cannot_be_encoded(disk_only: mk.Cache) -> None:
    def build(scorer: Scorer) -> Callable[[int], int]:
        @mk.cached(cache=disk_only, version="v1")
        def times(n: int) -> int:
            return scorer.times(n)

        return times

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        first = build(Scorer(2))
        assert first(5) == 10
    second = build(Scorer(2))
    assert second(5) == 10
    assert second.cache_info().hits == 1  # shared through disk: version= named them one


def test_a_recursive_closure_is_keyed_and_hits() -> None:
    cache = mk.Cache("rec", memory="16MiB", disk=None)

    def build(offset: int) -> Callable[[int], int]:
        @mk.cached(cache=cache)
        def fib(n: int) -> int:
            return n + offset if n < 2 else fib(n - 1) + fib(n - 2)

        return fib

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert build(0)(20) == 6765
        assert build(1)(3) == 5  # fib(1)+fib(0) = 2, fib(2)+fib(1) = 3+2
    cache.close()


def test_a_closure_calling_another_cached_closure_is_keyed_by_it(disk_only: mk.Cache) -> None:
    def build(weight: int) -> Callable[[int], int]:
        @mk.cached(cache=disk_only)
        def inner(n: int) -> int:
            return weight * n

        @mk.cached(cache=disk_only)
        def outer(n: int) -> int:
            return inner(n) + 1

        return outer

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert (build(2)(5), build(3)(5)) == (11, 16)


# -- item 4: namespaces without memory addresses --------------------------------------------------

SCRIPT = """
import functools, sys
import memcache_kit as mk

cache = mk.Cache("xproc", memory="16MiB", disk="64MiB", directory=sys.argv[1])

def add(a, b):
    return a + b

class Adder:
    def __call__(self, a):
        return a + 100

part = mk.cached(cache=cache, version="1")(functools.partial(add, 1))
obj = mk.cached(cache=cache, version="1")(Adder())
plain_part = mk.cached(cache=cache)(functools.partial(add, 2))
built = mk.cached(cache=cache)(divmod)
print(part(2), obj(2), plain_part(2), built(7, 2))
infos = [f.cache_info() for f in (part, obj, plain_part, built)]
print(" ".join(str(i.hits) + "/" + str(i.misses) for i in infos))
"""


def test_partials_callable_objects_and_builtins_hit_in_another_process(tmp_path: Path) -> None:
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(SCRIPT))
    directory = tmp_path / "cache"

    def run() -> list[str]:
        out = subprocess.run(
            [sys.executable, str(script), str(directory)],
            capture_output=True, text=True, check=True, timeout=120,
        )  # fmt: skip
        return out.stdout.split("\n")

    first = run()
    assert first[0] == "3 102 4 (3, 1)"
    assert first[1] == "0/1 0/1 0/1 0/1"
    second = run()
    assert second[0] == first[0]
    assert second[1] == "1/0 1/0 1/0 1/0", second


# -- item 5: cached methods pickle by reference ---------------------------------------------------


class Model:
    def __init__(self, scale: int) -> None:
        self.scale = scale

    @mk.cached(cache=mk.Cache("pickled", memory="4MiB", disk=None))
    def predict(self, x: int) -> int:
        return self.scale * x

    @mk.cached(cache=mk.Cache("pickled-cls", memory="4MiB", disk=None))
    @classmethod
    def build(cls, x: int) -> str:
        return f"{cls.__name__}{x}"


def test_cached_methods_pickle_and_copy_like_plain_methods() -> None:
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        assert pickle.loads(pickle.dumps(Model.predict, protocol)) is Model.predict
        bound = pickle.loads(pickle.dumps(Model(3).predict, protocol))
        assert bound(2) == 6
        assert pickle.loads(pickle.dumps(Model.build, protocol))(2) == "Model2"
    assert copy.deepcopy(Model.predict) is Model.predict
    assert copy.copy(Model.predict) is Model.predict
    m = Model(4)
    assert copy.deepcopy(m.predict)(2) == 8


def test_a_cached_method_goes_to_a_process_pool(tmp_path: Path) -> None:
    module = tmp_path / "pooled_model.py"
    module.write_text(
        textwrap.dedent(
            """
            import memcache_kit as mk

            class Model:
                def __init__(self, scale):
                    self.scale = scale

                @mk.cached(cache=mk.Cache("pool", memory="4MiB", disk=None))
                def predict(self, x):
                    return self.scale * x
            """
        )
    )
    main = tmp_path / "main.py"
    main.write_text(
        textwrap.dedent(
            """
            import concurrent.futures as cf
            import multiprocessing as mp

            from pooled_model import Model

            def apply(f, x):
                return f(x)

            if __name__ == "__main__":
                ctx = mp.get_context("spawn")
                with cf.ProcessPoolExecutor(1, mp_context=ctx) as pool:
                    print(pool.submit(apply, Model(5).predict, 3).result(),
                          pool.submit(Model.predict, Model(2), 3).result())
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, str(main)],
        capture_output=True, text=True, check=True, timeout=120, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert out.stdout.split() == ["15", "6"]


# -- item 6: builtins and partials are identified as lazy identifies them -------------------------


def test_builtins_and_partials_are_decorated(disk_only: mk.Cache) -> None:
    def add(a: int, b: int) -> int:
        return a + b

    length = mk.cached(cache=disk_only)(len)
    assert length([1, 2, 3]) == 3
    assert length([1, 2, 3]) == 3
    assert length.cache_info().hits == 1
    one = mk.cached(cache=disk_only)(functools.partial(add, 1))
    two = mk.cached(cache=disk_only)(functools.partial(add, 2))
    assert (one(10), two(10), one(10), two(10)) == (11, 12, 11, 12)
    assert one.cache_info().hits == 1
    assert two.cache_info().hits == 1
    # A builtin bound to an object is keyed by that object, as a method is by its instance.
    data = {"a": 1}
    get = mk.cached(cache=disk_only)(data.get)
    assert get("a") == 1
    data["a"] = 2
    assert get("a") == 2


def test_callable_objects_are_keyed_by_their_instance(tiered: mk.Cache) -> None:
    class Mul:
        def __init__(self, k: int) -> None:
            self.k = k

        def __call__(self, x: int) -> int:
            return self.k * x

    @dataclass
    class Add:
        k: int

        def __call__(self, x: int) -> int:
            return self.k + x

    m2, m3 = mk.cached(cache=tiered)(Mul(2)), mk.cached(cache=tiered)(Mul(3))
    assert (m2(5), m3(5), m2(5)) == (10, 15, 10)
    a2, a3 = mk.cached(cache=tiered)(Add(2)), mk.cached(cache=tiered)(Add(3))
    assert (a2(5), a3(5), a2(5)) == (7, 8, 7)


# -- item 8: a method of an int subclass ----------------------------------------------------------


class Level(int):
    @mk.cached(cache=mk.Cache("levels", memory="4MiB", disk=None))
    def plus(self, x: int) -> int:
        return int(self) + x


def test_a_method_of_an_int_subclass_is_keyed_by_its_value(cache_dir: Path) -> None:
    assert (Level(5).plus(1), Level(6).plus(1), Level(5).plus(1)) == (6, 7, 6)
    assert Level.plus.cache_info().hits == 1
    cache = mk.Cache("lv", memory=0, disk="64MiB", directory=cache_dir)
    cache.set(Level(5), "five")
    assert cache.get(Level(5)) == "five"
    cache.close()


def test_a_builtin_subclass_with_attributes_is_not_keyed_by_its_value_alone() -> None:
    class Tagged(float):
        __slots__ = ("tag",)

        def __new__(cls, v: float, tag: str) -> Tagged:
            self = super().__new__(cls, v)
            self.tag = tag
            return self

        @mk.cached(cache=mk.Cache("tagged", memory="4MiB", disk=None))
        def label(self) -> str:
            return f"{int(self)}{self.tag}"

    class Named(str):
        @mk.cached(cache=mk.Cache("named", memory="4MiB", disk=None))
        def label(self) -> str:
            return f"{self}{getattr(self, 'suffix', '')}"

    with pytest.raises(TypeError, match="cannot key instances of"):
        Tagged(1, "a").label()  # no weakref, no encodable state: an error, never a wrong hit
    n1, n2 = Named("x"), Named("x")
    n2.suffix = "!"  # type: ignore[attr-defined]
    assert (n1.label(), n2.label()) == ("x", "x!")


# -- item 9: ignore= names parameters -------------------------------------------------------------


def test_ignore_with_a_non_name_raises_a_clear_value_error() -> None:
    def f(arg0: int, arg1: int) -> int:
        return arg0

    with pytest.raises(ValueError, match=r"ignore=.*1.*not a parameter name.*arg0"):
        mk.cached(cache=mk.Cache("ig", memory="1MiB", disk=None), ignore={1, "arg1"})(f)
    with pytest.raises(ValueError, match="'nope'"):
        mk.cached(cache=mk.Cache("ig2", memory="1MiB", disk=None), ignore=("nope",))(f)


def test_pickling_a_bound_cached_function_wrapper_by_reference() -> None:
    # A module-level cached function pickles by reference, as a function does.
    assert pickle.loads(pickle.dumps(module_level)) is module_level
    assert copy.deepcopy(module_level) is module_level


@mk.cached(cache=mk.Cache("module-level", memory="1MiB", disk=None))
def module_level(x: int) -> int:
    return x
