"""``mk.cached`` and ``mk.cached_property``: binding, keys, tiers, methods, controls."""

from __future__ import annotations

import dataclasses
import gc
import inspect
import os
import subprocess
import sys
import textwrap
import threading
import time
import types
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import memcache_kit as mk
from memcache_kit._config import registry as _registry
from memcache_kit._keys.binding import BindError, Plan

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _fresh_registry() -> Iterator[None]:
    _registry._reset()
    yield
    _registry._reset()


@pytest.fixture
def mem_cache() -> Iterator[mk.Cache]:
    cache = mk.Cache("dec-mem", memory="16MiB", disk=None)
    yield cache
    cache.close()


@pytest.fixture
def tiered(cache_dir: Path) -> Iterator[mk.Cache]:
    cache = mk.Cache("dec-tiered", memory="16MiB", disk="64MiB", directory=cache_dir)
    yield cache
    cache.close()


@pytest.fixture
def disk_only(cache_dir: Path) -> Iterator[mk.Cache]:
    cache = mk.Cache("dec-disk", memory=0, disk="64MiB", directory=cache_dir)
    yield cache
    cache.close()


class Counter:
    """Counts calls per argument tuple (a loader's side effect the tests can observe)."""

    def __init__(self) -> None:
        self.calls: list[Any] = []
        self.lock = threading.Lock()

    def __call__(self, *args: Any) -> None:
        with self.lock:
            self.calls.append(args)

    @property
    def n(self) -> int:
        return len(self.calls)

    def __cache_key__(self) -> str:
        # Closures capture a Counter to observe calls; it never changes what they compute, so
        # every Counter is one key (as docs/decorators.md suggests for such captured helpers).
        return "counter"


# -- binding ------------------------------------------------------------------------------------


def test_positional_keyword_and_default_calls_are_one_key(mem_cache: mk.Cache) -> None:
    seen = Counter()

    @mk.cached(cache=mem_cache)
    def f(a: int, b: int = 2) -> int:
        seen(a, b)
        return a * 10 + b

    assert f(1, 2) == 12
    assert f(1) == 12
    assert f(1, b=2) == 12
    assert f(a=1, b=2) == 12
    assert f(b=2, a=1) == 12
    assert seen.n == 1
    assert f(1, 3) == 13
    assert seen.n == 2
    info = f.cache_info()
    assert (info.hits, info.misses) == (4, 2)


def test_varargs_kwargs_kwonly_and_positional_only(mem_cache: mk.Cache) -> None:
    seen = Counter()

    @mk.cached(cache=mem_cache)
    def f(a: int, /, b: int = 0, *rest: int, c: int = 5, **extra: int) -> tuple[Any, ...]:
        seen(a)
        return (a, b, rest, c, sorted(extra.items()))

    assert f(1) == (1, 0, (), 5, [])
    assert f(1, 0, c=5) == (1, 0, (), 5, [])
    assert seen.n == 1
    f(1, 2, 3, 4, x=1, y=2)
    f(1, 2, 3, 4, y=2, x=1)
    assert seen.n == 2
    f(1, 2, 3, 4, y=2, x=1, c=6)
    assert seen.n == 3


def test_a_bad_call_raises_pythons_own_error(mem_cache: mk.Cache) -> None:
    @mk.cached(cache=mem_cache)
    def f(a: int, *, b: int) -> int:
        return a + b

    with pytest.raises(TypeError, match="b"):
        f(1)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        f(1, 2, b=3)  # type: ignore[misc]
    with pytest.raises(TypeError):
        f(1, b=2, a=1)  # type: ignore[misc]
    with pytest.raises(TypeError, match="invalidate"):
        f.invalidate(1)  # type: ignore[call-arg]


SIGNATURES = [
    "def f(a, b=2): pass",
    "def f(a, /, b, *, c=3): pass",
    "def f(*args, **kwargs): pass",
    "def f(a, b=1, *args, c, d=4, **kw): pass",
    "def f(a=1, /, b=2, *, c=3): pass",
    "def f(): pass",
]


def _compile(src: str) -> Callable[..., Any]:
    ns: dict[str, Any] = {}
    exec(src, ns)
    return ns["f"]  # type: ignore[no-any-return]


@settings(max_examples=300, deadline=None)
@given(
    src=st.sampled_from(SIGNATURES),
    args=st.lists(st.integers(0, 3), max_size=4),
    kwargs=st.dictionaries(st.sampled_from(["a", "b", "c", "d", "e"]), st.integers(0, 3)),
)
def test_plan_binds_like_the_interpreter(src: str, args: list[int], kwargs: dict[str, int]) -> None:
    """The plan accepts exactly the calls Python accepts, and binds them as Signature.bind."""
    func = _compile(src)
    sig = inspect.signature(func)
    plan = Plan(func)
    try:
        bound = sig.bind(*args, **kwargs)
    except TypeError:
        with pytest.raises(BindError):
            plan.bind(tuple(args), kwargs)
        return
    bound.apply_defaults()
    expected = []
    for name, p in sig.parameters.items():
        v = bound.arguments[name]
        if p.kind is p.VAR_KEYWORD:
            v = tuple(sorted(v.items()))
        expected.append(v)
    assert plan.bind(tuple(args), kwargs) == tuple(expected)
    assert plan.names == tuple(sig.parameters)


def test_ignore_drops_arguments_and_rejects_unknown_names(mem_cache: mk.Cache) -> None:
    seen = Counter()

    @mk.cached(cache=mem_cache, ignore=("verbose",))
    def f(x: int, verbose: bool = False) -> int:
        seen(x)
        return x

    f(1, verbose=True)
    f(1, False)
    f(1)
    assert seen.n == 1
    with pytest.raises(ValueError, match="verbos"):

        @mk.cached(cache=mem_cache, ignore=("verbos",))
        def g(x: int, verbose: bool = False) -> int:
            return x


def test_key_function_builds_the_key_and_is_namespaced(mem_cache: mk.Cache) -> None:
    seen = Counter()

    @mk.cached(cache=mem_cache, key=lambda path, session=None: path.lower())
    def fetch(path: str, session: object = None) -> str:
        seen(path)
        return path.lower()

    @mk.cached(cache=mem_cache, key=lambda path, session=None: path.lower())
    def other(path: str, session: object = None) -> str:
        seen(path)
        return "other"

    assert fetch("A", session=object()) == "a"
    assert fetch("a", object()) == "a"
    assert seen.n == 1
    assert other("a") == "other"  # same key parts, another function: its own entry
    assert seen.n == 2


def test_unencodable_argument_error_names_it(mem_cache: mk.Cache) -> None:
    @mk.cached(cache=mem_cache)
    def f(x: int, conn: object) -> int:
        return x

    with pytest.raises(TypeError, match=r"argument 'conn'.*key=.*ignore=\('conn',\)"):
        f(1, object())
    with pytest.raises(TypeError, match=r"argument 'conn' \(at \['k'\]\)"):
        f(1, {"k": object()})


def test_signature_wraps_and_introspection(mem_cache: mk.Cache) -> None:
    def load(path: str, *, limit: int = 10) -> list[str]:
        """Load lines."""
        return [path] * limit

    f = mk.cached(cache=mem_cache)(load)
    assert inspect.signature(f) == inspect.signature(load)
    assert f.__wrapped__ is load
    assert f.__name__ == "load"
    assert f.__doc__ == "Load lines."
    assert f.cache is mem_cache
    assert not inspect.iscoroutinefunction(f)


# -- keys of data arguments ---------------------------------------------------------------------


def test_numpy_arguments(mem_cache: mk.Cache) -> None:
    seen = Counter()

    @mk.cached(cache=mem_cache)
    def total(a: np.ndarray) -> float:
        seen(1)
        return float(a.sum())

    base = np.arange(100, dtype=np.float64).reshape(10, 10)
    total(base)
    other = base.copy()
    other[3, 4] += 1
    total(other)
    assert seen.n == 2  # one element differs: another key
    view = base.T  # non-contiguous
    assert not view.flags.c_contiguous
    total(view)
    total(np.ascontiguousarray(view))
    assert seen.n == 3  # a view and a copy with equal content are one key
    total(base.copy())
    assert seen.n == 3


def test_equal_scalars_share_one_memory_entry(mem_cache: mk.Cache) -> None:
    """The fast lane's (token, *args) and the plan's normalised key are one memory key."""
    seen = Counter()

    @mk.cached(cache=mem_cache)
    def f(i: int, name: str = "a") -> int:
        seen(i)
        return i

    f(5)  # binds through the plan (a default is filled in)
    f(5, "a")  # the fast lane
    f(np.int64(5), "a")  # a numpy scalar normalises to the int
    f(5.0, name="a")
    f(i=True * 5)
    assert seen.n == 1
    assert f.cache_info().tiers == {"memory": (4, 1)}


def test_fast_lane_follows_a_replaced_memory_tier(mem_cache: mk.Cache) -> None:
    seen = Counter()

    @mk.cached(cache=mem_cache)
    def f(x: int) -> str:
        seen(x)
        time.sleep(0.01)
        return "v" * x

    f(3), f(3)
    assert mem_cache.stats().saved_seconds > 0  # the hit credited the load time it saved
    mem_cache.memory_budget = 0  # no tier left: every call loads
    f(3), f(3)
    assert seen.n == 3
    mem_cache.memory_budget = "1MiB"  # a new, empty tier
    f(3), f(3), f(3)
    assert seen.n == 4
    assert f.invalidate(3) is True
    f(3)
    assert seen.n == 5


def test_dicts_in_different_orders_are_one_key(mem_cache: mk.Cache) -> None:
    seen = Counter()

    @mk.cached(cache=mem_cache)
    def f(options: dict[str, int]) -> int:
        seen(1)
        return sum(options.values())

    f({"a": 1, "b": 2, "c": 3})
    f({"c": 3, "a": 1, "b": 2})
    assert seen.n == 1
    f({"c": 3, "a": 1, "b": 4})
    assert seen.n == 2


def test_a_touched_file_is_a_new_key(mem_cache: mk.Cache, tmp_path: Path) -> None:
    seen = Counter()
    data = tmp_path / "data.txt"
    data.write_text("one")

    @mk.cached(cache=mem_cache)
    def read(p: Path) -> str:
        seen(1)
        return p.read_text()

    assert read(data) == "one"
    assert read(data) == "one"
    assert seen.n == 1
    data.write_text("two!")
    st_ = data.stat()
    os.utime(data, ns=(st_.st_atime_ns, st_.st_mtime_ns + 2_000_000_000))
    assert read(data) == "two!"
    assert seen.n == 2


def test_hash_files_keys_paths_by_content(mem_cache: mk.Cache, tmp_path: Path) -> None:
    seen = Counter()
    data = tmp_path / "data.bin"
    data.write_bytes(b"abc")

    @mk.cached(cache=mem_cache, hash_files=True)
    def read(p: Path) -> bytes:
        seen(1)
        return p.read_bytes()

    read(data)
    st_ = data.stat()
    os.utime(data, ns=(st_.st_atime_ns, st_.st_mtime_ns + 5_000_000_000))  # same content
    read(data)
    assert seen.n == 1


def test_typed_keeps_equal_numbers_apart(mem_cache: mk.Cache) -> None:
    loose, strict = Counter(), Counter()

    @mk.cached(cache=mem_cache)
    def f(x: float) -> str:
        loose(x)
        return type(x).__name__

    @mk.cached(cache=mem_cache, typed=True)
    def g(x: float) -> str:
        strict(x)
        return type(x).__name__

    for x in (1, 1.0, True):
        f(x)
        g(x)
    assert loose.n == 1
    assert strict.n == 3


# -- results, exceptions, ttl, copy -------------------------------------------------------------


def test_exceptions_are_not_cached_and_none_is(mem_cache: mk.Cache) -> None:
    seen = Counter()

    @mk.cached(cache=mem_cache)
    def flaky(x: int) -> int | None:
        seen(x)
        if seen.n == 1:
            raise RuntimeError("first call fails")
        return None

    with pytest.raises(RuntimeError):
        flaky(1)
    assert flaky(1) is None
    assert flaky(1) is None
    assert seen.n == 2


def test_ttl_expires_entries(mem_cache: mk.Cache) -> None:
    seen = Counter()

    @mk.cached(cache=mem_cache, ttl=0.2)
    def f(x: int) -> int:
        seen(x)
        return x

    f(1)
    f(1)
    assert seen.n == 1
    time.sleep(0.4)
    f(1)
    assert seen.n == 2


def test_ttl_accepts_strings_and_rejects_nonsense(mem_cache: mk.Cache) -> None:
    @mk.cached(cache=mem_cache, ttl="10m")
    def f(x: int) -> int:
        return x

    assert f(1) == 1
    with pytest.raises(ValueError, match="ttl"):
        mk.cached(cache=mem_cache, ttl="ten minutes")(lambda x: x)
    with pytest.raises(TypeError, match="ttl"):
        mk.cached(cache=mem_cache, ttl=[1])(lambda x: x)  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="positive"):
        mk.cached(cache=mem_cache, ttl=0)(lambda x: x)


def test_copy_returns_copies(mem_cache: mk.Cache) -> None:
    @mk.cached(cache=mem_cache, copy=True)
    def f(x: int) -> list[int]:
        return [x]

    first = f(1)
    first.append(99)
    assert f(1) == [1]

    @mk.cached(cache=mem_cache)
    def g(x: int) -> list[int]:
        return [x]

    assert g(1) is g(1)  # a memory hit returns the stored object itself, as functools does


# -- controls -----------------------------------------------------------------------------------


def test_cache_clear_drops_only_this_functions_entries(tiered: mk.Cache) -> None:
    fs, gs = Counter(), Counter()

    @mk.cached(cache=tiered)
    def f(x: int) -> int:
        fs(x)
        return x

    @mk.cached(cache=tiered)
    def g(x: int) -> int:
        gs(x)
        return -x

    f(1), g(1), f(2)
    f.cache_clear()
    f(1), g(1), f(2)
    assert fs.n == 4
    assert gs.n == 1
    assert f.cache_info().misses == 2  # counts restart with the generation


def test_cache_clear_reaches_a_fresh_wrapper_through_the_cache(tiered: mk.Cache) -> None:
    """The generation lives in the cache: a later process (a fresh wrapper) sees the clear."""
    seen = Counter()

    def f(x: int) -> int:
        seen(x)
        return x

    first = mk.cached(cache=tiered)(f)
    first(1)
    mk.cached(cache=tiered)(f)(1)
    assert seen.n == 1  # one namespace for one function
    first.cache_clear()
    mk.cached(cache=tiered)(f)(1)
    assert seen.n == 2


def test_invalidate_and_refresh(tiered: mk.Cache) -> None:
    value = {"v": 1}

    @mk.cached(cache=tiered)
    def f(x: int) -> int:
        return value["v"] + x

    assert f(1) == 2
    value["v"] = 10
    assert f(1) == 2
    assert f.invalidate(1) is True
    assert f.invalidate(1) is False
    assert f(1) == 11
    value["v"] = 100
    assert f.refresh(x=1) == 101
    assert f(1) == 101


def test_cache_info_counts_per_tier(tiered: mk.Cache) -> None:
    @mk.cached(cache=tiered)
    def f(x: int) -> str:
        return "v" * 1000 * x

    f(1), f(1), f(2)
    info = f.cache_info()
    assert (info.hits, info.misses) == (1, 2)
    assert info.maxsize == tiered.memory_budget
    assert info.currsize > 0
    assert info.tiers == {"memory": (1, 2), "disk": (0, 2)}
    tiered.close()  # reopens with an empty memory tier: the next hit comes from disk
    f(1)
    assert f.cache_info().tiers == {"memory": (1, 3), "disk": (1, 2)}


def test_disk_only_cache_hits_from_disk(disk_only: mk.Cache) -> None:
    seen = Counter()

    @mk.cached(cache=disk_only)
    def f(x: str) -> str:
        seen(x)
        return x * 2

    assert f("a") == "aa"
    assert f("a") == "aa"
    assert seen.n == 1
    info = f.cache_info()
    assert info.tiers == {"disk": (1, 1)}
    assert info.maxsize == 0


def test_cache_by_name_is_resolved_at_first_call() -> None:
    @mk.cached(cache="late-configured")
    def f(x: int) -> int:
        return x

    mk.configure({"caches": {"late-configured": {"memory": "3MiB", "disk": 0}}})
    assert f(1) == 1
    assert f.cache is mk.get_cache("late-configured")
    assert f.cache.memory_budget == 3 * 1024 * 1024


def test_bare_decorator_uses_the_default_cache() -> None:
    @mk.cached
    def f(x: int) -> int:
        return x + 1

    assert f(1) == 2
    assert f(1) == 2
    assert f.cache is mk.get_cache("default")
    assert f.cache_info().hits == 1


# -- concurrency --------------------------------------------------------------------------------


def test_sixteen_threads_on_one_missing_key_run_the_loader_once(tiered: mk.Cache) -> None:
    seen = Counter()
    barrier = threading.Barrier(16)

    @mk.cached(cache=tiered)
    def slow(x: int) -> int:
        seen(x)
        time.sleep(0.2)
        return x * 2

    results: list[int] = []

    def worker() -> None:
        barrier.wait()
        results.append(slow(21))

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert results == [42] * 16
    assert seen.n == 1


# -- code identity ------------------------------------------------------------------------------


def _module_from(source: str, name: str = "fp_mod") -> types.ModuleType:
    mod = types.ModuleType(name)
    exec(compile(textwrap.dedent(source), f"{name}.py", "exec"), mod.__dict__)
    return mod


FP_BASE = """
calls = []

def load(x):
    calls.append(x)
    return x * 2
"""


@pytest.mark.parametrize(
    ("edited", "hit"),
    [
        (FP_BASE, True),
        ("\n\n\n# moved down\n" + FP_BASE, True),
        (FP_BASE.replace("return x * 2", "return x * 2  # a comment"), True),
        (FP_BASE.replace("return x * 2", "return x * 3"), False),
        (FP_BASE.replace("calls.append(x)", "calls.append(x + 0)"), False),
    ],
    ids=["same", "moved", "comment", "edited-constant", "edited-logic"],
)
def test_code_changes_invalidate_and_moves_do_not(tiered: mk.Cache, edited: str, hit: bool) -> None:
    before = _module_from(FP_BASE)
    mk.cached(cache=tiered)(before.load)(5)
    after = _module_from(edited)
    mk.cached(cache=tiered)(after.load)(5)
    assert after.calls == ([] if hit else [5])


def test_version_pins_the_namespace_across_edits(tiered: mk.Cache) -> None:
    before = _module_from(FP_BASE)
    mk.cached(cache=tiered, version=3)(before.load)(5)
    after = _module_from(FP_BASE.replace("return x * 2", "return x * 2 + 0"))
    assert mk.cached(cache=tiered, version=3)(after.load)(5) == 10
    assert after.calls == []
    mk.cached(cache=tiered, version=4)(after.load)(5)
    assert after.calls == [5]


# -- across processes ---------------------------------------------------------------------------

PROC_MODULE = """
import json, sys
from pathlib import Path
import numpy as np
import memcache_kit as mk

CACHE = mk.Cache("xproc", memory="8MiB", disk="64MiB", directory=sys.argv[1])
calls = []

@mk.cached(cache=CACHE)
def features(path: Path, scale: float, opts: dict) -> list:
    calls.append(1)
    return [scale * 2, sorted(opts)]

@mk.cached(cache=CACHE)
def stats(a: np.ndarray, name: str = "x") -> float:
    calls.append(1)
    return float(a.sum())

if __name__ == "__main__":
    data = Path(sys.argv[2])
    out = [features(data, 1.5, {"b": 1, "a": 2}), stats(np.arange(1000.0)[::3], name="y")]
    print(json.dumps({"out": out, "calls": len(calls),
                      "disk": features.cache_info().tiers["disk"][0]
                              + stats.cache_info().tiers["disk"][0]}))
    CACHE.close()
"""


def test_a_value_cached_in_one_process_is_a_disk_hit_in_another(tmp_path: Path) -> None:
    import json

    module = tmp_path / "xproc_mod.py"
    module.write_text(PROC_MODULE)
    data = tmp_path / "input.txt"
    data.write_text("hello")
    directory = tmp_path / "shared"
    directory.mkdir(mode=0o700)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(tmp_path)])}
    env["PYTHONHASHSEED"] = "random"

    def run() -> dict[str, Any]:
        proc = subprocess.run(
            [sys.executable, str(module), str(directory), str(data)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        result: dict[str, Any] = json.loads(proc.stdout)
        return result

    first, second = run(), run()
    assert first["calls"] == 2 and first["disk"] == 0
    assert second["calls"] == 0 and second["disk"] == 2
    assert second["out"] == first["out"]


# -- methods ------------------------------------------------------------------------------------


def test_methods_on_two_instances_do_not_share_and_instances_die(mem_cache: mk.Cache) -> None:
    seen = Counter()

    class Model:
        def __init__(self, w: int) -> None:
            self.w = w

        @mk.cached(cache=mem_cache)
        def predict(self, x: int) -> int:
            seen(self.w, x)
            return self.w * x

    a, b = Model(2), Model(3)
    assert a.predict(10) == 20
    assert b.predict(10) == 30
    assert a.predict(10) == 20
    assert Model.predict(a, 10) == 20
    assert seen.n == 2
    held = len(mem_cache._memory)  # type: ignore[arg-type]
    ref = weakref.ref(a)
    del a
    gc.collect()
    assert ref() is None  # the cache never keeps an instance alive
    assert len(mem_cache._memory) == held - 1  # type: ignore[arg-type]  # its entries died too


def test_methods_do_not_write_token_entries_to_disk(tiered: mk.Cache) -> None:
    class Plain:
        def __init__(self) -> None:
            self.conn = threading.Lock()  # a state that cannot be encoded: a token

        @mk.cached(cache=tiered)
        def value(self) -> int:
            return 7

    assert Plain().value() == 7
    assert tiered.stats().tiers["disk"].items == 0


def test_an_instance_without_state_is_keyed_by_its_class(tiered: mk.Cache) -> None:
    class Stateless:
        @mk.cached(cache=tiered)
        def value(self) -> int:
            return 7

    assert Stateless().value() == 7
    assert Stateless().value() == 7
    assert Stateless.value.cache_info().hits == 1
    assert tiered.stats().tiers["disk"].items == 1
    s = Stateless()
    s.extra = 1  # type: ignore[attr-defined]  # now it has state (no dataclass): a token
    assert s.value() == 7


def test_bound_method_controls(mem_cache: mk.Cache) -> None:
    seen = Counter()

    class Model:
        @mk.cached(cache=mem_cache)
        def predict(self, x: int) -> int:
            seen(x)
            return x

    m = Model()
    m.predict(1)
    assert m.predict.invalidate(1) is True
    m.predict(1)
    assert seen.n == 2
    assert m.predict.refresh(1) == 1
    assert seen.n == 3
    assert m.predict.__name__ == "predict"
    assert list(inspect.signature(m.predict).parameters) == ["x"]
    assert m.predict.cache is mem_cache
    assert m.predict.cache_info().hits >= 0


@dataclasses.dataclass(frozen=True)
class Point:
    x: int
    y: int

    @mk.cached(cache=mk.Cache("dec-point", memory="1MiB", disk=None))
    def norm2(self) -> int:
        CALLS.append(self)
        return self.x**2 + self.y**2


class Pair(NamedTuple):
    a: int
    b: int

    @mk.cached(cache=mk.Cache("dec-pair", memory="1MiB", disk=None))
    def total(self) -> int:
        CALLS.append(self)
        return self.a + self.b


class Keyed:
    def __init__(self, name: str) -> None:
        self.name = name

    def __cache_key__(self) -> str:
        return self.name

    @mk.cached(cache=mk.Cache("dec-keyed", memory="1MiB", disk=None))
    def shout(self) -> str:
        CALLS.append(self)
        return self.name.upper()


CALLS: list[Any] = []


def test_instances_keyed_by_state_or_cache_key() -> None:
    CALLS.clear()
    assert Point(3, 4).norm2() == 25
    assert Point(3, 4).norm2() == 25  # equal state: one entry
    assert Pair(1, 2).total() == 3
    assert Pair(1, 2).total() == 3
    assert Keyed("a").shout() == "A"
    assert Keyed("a").shout() == "A"
    assert len(CALLS) == 3
    Keyed("b").shout()
    assert len(CALLS) == 4


def test_classmethod_and_staticmethod_in_both_orders(mem_cache: mk.Cache) -> None:
    seen = Counter()

    class Loader:
        scale = 2

        @classmethod
        @mk.cached(cache=mem_cache)
        def under(cls, x: int) -> int:
            seen("under", x)
            return cls.scale * x

        @mk.cached(cache=mem_cache)
        @classmethod
        def over(cls, x: int) -> int:
            seen("over", x)
            return cls.scale * x

        @staticmethod
        @mk.cached(cache=mem_cache)
        def s_under(x: int) -> int:
            seen("s_under", x)
            return x

        @mk.cached(cache=mem_cache)
        @staticmethod
        def s_over(x: int) -> int:
            seen("s_over", x)
            return x

    class Child(Loader):
        scale = 3

    for _ in range(2):
        assert Loader.under(5) == 10
        assert Loader().under(5) == 10
        assert Child.under(5) == 15
        assert Loader.over(5) == 10
        assert Child().over(5) == 15
        assert Loader.s_under(5) == 5
        assert Loader().s_under(5) == 5
        assert Loader.s_over(5) == 5
        assert Loader().s_over(5) == 5
    assert sorted(seen.calls) == sorted(
        [("under", 5), ("under", 5), ("over", 5), ("over", 5), ("s_under", 5), ("s_over", 5)]
    )


def test_cached_property(mem_cache: mk.Cache) -> None:
    seen = Counter()

    class Model:
        def __init__(self, n: int) -> None:
            self.n = n

        @mk.cached_property(cache=mem_cache)
        def weights(self) -> list[int]:
            seen(self.n)
            time.sleep(0.05)
            return list(range(self.n))

    m = Model(3)
    results: list[list[int]] = []

    def read(obj: Model = m) -> None:
        results.append(obj.weights)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    del read, threads
    assert results == [[0, 1, 2]] * 8
    assert seen.n == 1  # thread-safe: computed once
    assert "weights" not in vars(m)  # held by the cache, not the instance
    assert Model(4).weights == [0, 1, 2, 3]
    assert seen.n == 2
    del m.weights  # drops the entry
    assert m.weights == [0, 1, 2]
    assert seen.n == 3
    with pytest.raises(AttributeError, match="read-only"):
        m.weights = [1]  # type: ignore[misc]
    assert Model.weights.__wrapped__ is Model.weights.func  # the class gets the descriptor
    ref = weakref.ref(m)
    del m
    gc.collect()
    assert ref() is None


def test_cached_property_bare_uses_the_default_cache() -> None:
    class Box:
        def __init__(self) -> None:
            self.calls = 0

        @mk.cached_property
        def value(self) -> int:
            self.calls += 1
            return 42

    b = Box()
    assert b.value == 42
    assert b.value == 42
    assert b.calls == 1


def test_cached_property_with_slots_needs_a_weakref_or_a_cache_key(mem_cache: mk.Cache) -> None:
    class Slotted:
        __slots__ = ("__weakref__", "n")

        def __init__(self, n: int) -> None:
            self.n = n

        @mk.cached_property(cache=mem_cache)
        def double(self) -> int:
            return self.n * 2

    assert Slotted(2).double == 4

    class Sealed:
        __slots__ = ("n",)

        def __init__(self, n: int) -> None:
            self.n = n

        @mk.cached_property(cache=mem_cache)
        def double(self) -> int:
            return self.n * 2

    with pytest.raises(TypeError, match="__cache_key__"):
        Sealed(2).double  # noqa: B018


# -- static typing ------------------------------------------------------------------------------


def _mypy(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            "--cache-dir",
            os.devnull,
            "--config-file",
            os.devnull,
            str(path),
        ],
        cwd=ROOT,
        env={**os.environ, "MYPYPATH": str(ROOT / "src")},
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_mypy_sees_the_decorated_signatures() -> None:
    proc = _mypy(ROOT / "tests" / "typing_example.py")
    assert proc.returncode == 0, proc.stdout + proc.stderr


BAD_CALLS = """
from __future__ import annotations
import memcache_kit as mk

@mk.cached
def load(path: str, limit: int = 10) -> list[str]:
    return [path] * limit

@mk.cached(ttl="1h")
async def fetch(url: str) -> bytes:
    return url.encode()

class Model:
    @mk.cached
    def predict(self, x: float) -> float:
        return x

load(1)
load("a", limit="ten")
async def main() -> None:
    n: int = await fetch("u")
Model().predict("x")
"""


def test_mypy_reports_wrong_argument_types(tmp_path: Path) -> None:
    bad = tmp_path / "bad_calls.py"
    bad.write_text(BAD_CALLS)
    proc = _mypy(bad)
    assert proc.returncode == 1
    out = proc.stdout
    lines = [line.split(": error: ", 1)[1] for line in out.splitlines() if ": error: " in line]
    assert lines == [
        'Argument 1 to "__call__" of "CachedFunction" has incompatible type "int"; '
        'expected "str"  [arg-type]',
        'Argument "limit" to "__call__" of "CachedFunction" has incompatible type "str"; '
        'expected "int"  [arg-type]',
        'Incompatible types in assignment (expression has type "bytes", variable has type '
        '"int")  [assignment]',
        'Argument 1 to "__call__" of "CachedFunction" has incompatible type "str"; '
        'expected "float"  [arg-type]',
    ], out


# -- the disk-key memo of lower-tier hits --------------------------------------------------------


def test_disk_hits_of_remembered_keys_stay_distinct_and_follow_clear(disk_only: mk.Cache) -> None:
    """Repeated int/str calls reuse their disk keys (a memo): equal-looking arguments of other
    types, another function, and a clear() must still give their own entries."""
    seen = Counter()

    @mk.cached(cache=disk_only)
    def load(x: Any) -> tuple[str, Any]:
        seen(x)
        return (type(x).__name__, x)

    @mk.cached(cache=disk_only)
    def other(x: Any) -> str:
        return f"other {x!r}"

    args: list[Any] = [1, "1", 2, "a", b"1", None, 1.5, -(2**70)]
    for _ in range(3):  # the first round loads, the next two hit the disk (memo warm)
        for x in args:
            assert load(x) == (type(x).__name__, x)
            assert other(x) == f"other {x!r}"
    assert seen.calls == [(x,) for x in args], seen.calls  # one load each, first round only
    assert load.cache_info().tiers["disk"][0] > 0
    load.cache_clear()
    assert load(1) == ("int", 1) and load("a") == ("str", "a")
    assert seen.n == len(args) + 2  # reloaded after the clear: the memo did not outlive it
    assert other(1) == "other 1"  # the other function's entries are untouched

    @mk.cached(cache=disk_only, typed=True)
    def kind(x: Any) -> str:
        return type(x).__name__

    for _ in range(3):  # typed: 1 and True are two keys, memo or not
        assert [kind(1), kind(True), kind(1.0)] == ["int", "bool", "float"]


def test_disk_key_memo_is_bounded(disk_only: mk.Cache) -> None:
    @mk.cached(cache=disk_only)
    def square(x: int) -> int:
        return x * x

    for i in range(1500):
        assert square(i) == i * i
    for i in range(1500):  # disk hits: each fills the memo, which empties when full
        assert square(i) == i * i
    # The core is the decorator's private state: found through the wrapper's bound method.
    core = square.resolve_cache.__self__  # type: ignore[attr-defined]
    assert 0 < len(core._disk_memo) <= 512

    @mk.cached(cache=disk_only)
    def length(text: str) -> int:
        return len(text)

    big = "x" * 1_000_000
    for _ in range(3):  # disk hits, but a large argument is never kept by the memo
        assert length(big) == 1_000_000
    big_core = length.resolve_cache.__self__  # type: ignore[attr-defined]
    assert big_core._disk_memo == {}


def test_cache_parameters_report_the_budget_and_typed(mem_cache: mk.Cache) -> None:
    @mk.cached(cache=mem_cache, typed=True)
    def f(x: int) -> int:
        return x

    assert f.cache_parameters() == {"maxsize": 16 * 2**20, "typed": True}


@pytest.mark.parametrize("disk", [False, True])
def test_cache_stats_count_each_call_once(cache_dir: Path, disk: bool) -> None:
    # issue 16, item 3: a miss was counted twice (the wrapper's memory read, then the load's)
    cache = mk.Cache(
        "stats-once", memory="16MiB", disk="64MiB" if disk else None, directory=cache_dir
    )

    @mk.cached(cache=cache)
    def f(x: int, *, scale: int = 1) -> int:
        return x * scale

    for _ in range(3):
        for x in range(40):
            f(x, scale=2)  # a keyword: the bound path, not the fast lane
    info = f.cache_info()
    assert (info.hits, info.misses) == (80, 40)
    memory = cache.stats().tiers["memory"]
    assert (memory.hits, memory.misses) == (80, 40)
    assert cache.stats().hit_ratio == pytest.approx(80 / 120)
    cache.close()


def test_cache_stats_count_memory_only_calls_once() -> None:
    cache = mk.Cache("stats-once-local", memory="16MiB", disk=None)

    class Holder:
        def __init__(self) -> None:
            self.lock = threading.Lock()  # keyed by a token: the memory-only path

        @mk.cached(cache=cache)
        def f(self, x: int) -> int:
            return x

    h = Holder()
    for _ in range(3):
        for x in range(10):
            h.f(x)
    memory = cache.stats().tiers["memory"]
    assert (memory.hits, memory.misses) == (20, 10)
    cache.close()
