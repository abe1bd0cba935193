"""The peers' APIs, spelled with memcache_kit: what their own test suites (in ``peers/``) run.

- ``functools_like``: ``lru_cache(maxsize, typed)`` is ``mk.cached`` on a memory-only cache of
  its own (``maxsize=0``: no memory tier); ``cache_info()`` is the function's own, cut to
  functools' four fields. CPython's ``TestLRU`` runs against it (``test_cpython_lru.py``).
- ``lop_like``: ``Proxy(factory)`` is ``mk.lazy(factory, key=<a key of its own>)`` in a
  memory-only cache, so every proxy is independent as a lazy-object-proxy is.
  lazy-object-proxy's suite runs against it (``peers/test_lazy_object_proxy.py``).

``DIFFERENCES`` lists every peer test that memcache_kit answers differently *on purpose*, each
with the sentence of the docs page that states the difference; ``conftest.py`` marks them
strict xfail (a listed test that starts passing fails the run), and ``test_differences.py``
checks that the docs pages' "Differences" sections say exactly these sentences. A test that is
not listed must pass.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from typing import Any, NamedTuple

import memcache_kit as mk
from memcache_kit._front.lazy import LazyProxy


class Difference(NamedTuple):
    page: str  # the docs page whose "Differences" section states it
    says: str  # the sentence there (a bullet of that section)


# -- functools ---------------------------------------------------------------------------------

_caches = itertools.count()


def _lru_cache(maxsize: Any = 128, typed: bool = False) -> Any:
    if callable(maxsize) and not isinstance(maxsize, int):
        return _lru_cache(128, typed)(maxsize)
    if maxsize is not None and not isinstance(maxsize, int):
        raise TypeError("Expected first argument to be an integer, a callable, or None")

    def decorate(func: Callable[..., Any]) -> Any:
        memory = 0 if maxsize is not None and maxsize <= 0 else "64MiB"
        cache = mk.Cache(f"conformance-lru-{next(_caches)}", memory=memory, disk=None)
        wrapper = mk.cached(cache=cache, typed=typed)(func)
        info = wrapper.cache_info

        def cache_info() -> functools._CacheInfo:
            i = info()
            return functools._CacheInfo(i.hits, i.misses, i.maxsize, i.currsize)

        wrapper.cache_info = cache_info  # type: ignore[attr-defined]
        return wrapper

    return decorate


class functools_like:
    lru_cache = staticmethod(_lru_cache)
    _CacheInfo = functools._CacheInfo
    partial = functools.partial
    WRAPPER_ASSIGNMENTS = functools.WRAPPER_ASSIGNMENTS


# -- lazy-object-proxy -------------------------------------------------------------------------

LAZY_CACHE = mk.Cache("conformance-lazy", memory="64MiB", disk=None)
_keys = itertools.count()


class Proxy(LazyProxy):
    """``lazy_object_proxy.Proxy(factory)``: ``mk.lazy(factory)`` under a key of its own."""

    __slots__ = ()

    def __init__(self, factory: Callable[[], Any]) -> None:
        made = mk.lazy(factory, cache=LAZY_CACHE, key=("conformance", next(_keys)))
        super().__init__(object.__getattribute__(made, "_mk_recipe"))


class lop_like:
    kind = "memcache_kit"
    subclass = False
    Proxy = Proxy


# -- the intended differences ------------------------------------------------------------------

DECORATORS = "docs/decorators.md"
LAZY = "docs/lazy.md"

_BYTES = Difference(
    DECORATORS,
    "`cache_info().maxsize` and `currsize` are the memory tier's budget and occupancy in "
    "bytes, shared by every function of the cache, not a count of one function's entries; "
    "`cache_parameters()` reports the same budget.",
)
_BOUND = Difference(
    DECORATORS,
    "A call is bound to the signature before it is keyed: `f(3)` and `f(x=3)` are one key, "
    "and so are `f(a=1, b=2)` and `f(b=2, a=1)`, `**kwargs` included (functools keys each "
    "spelling apart).",
)
_ENCODED = Difference(
    DECORATORS,
    "Arguments are keyed by their canonical encoding, not by `hash()` and `==`: lists, dicts "
    "and sets are keys (by content), and an object with no encoding (no `__cache_key__()`) "
    "raises `TypeError` instead of being hashed.",
)
_TYPED = Difference(
    DECORATORS,
    "`typed=True` keeps equal numbers of different types apart inside tuples and other "
    "containers too, not only at the top level.",
)
_IN_CACHE = Difference(
    LAZY,
    "The value lives in the cache, not in the proxy: it stays there (until evicted or "
    "expired) after the proxy is gone, and `__wrapped__` cannot be assigned or deleted.",
)
_IN_PLACE = Difference(
    LAZY,
    "An in-place operator on an immutable value (`p += 1` on an int) raises `TypeError`: it "
    "would rebind one proxy away from the cache; write `x = p + 1`.",
)
_FACTORY = Difference(
    LAZY,
    "A proxy is made by `mk.lazy(loader, ...)` and its loader is fixed: `__factory__` is "
    "read-only, and a proxy made by `__new__` alone, without a loader, is not usable.",
)
_PICKLE = Difference(
    LAZY,
    "Pickling a proxy sends its recipe (loader, arguments, cache settings), not its value: "
    "the loader must be picklable, and pickling never runs it.",
)
_REPR = Difference(
    LAZY,
    "`repr(p)` shows the loader, its arguments and the cache (and the value, once loaded), "
    "in memcache_kit's own format, and never loads it.",
)
_PATHLIKE = Difference(
    LAZY,
    "`isinstance(p, os.PathLike)` is true for every proxy (the check reads the proxy's own "
    "class, which must define `__fspath__` for `open(p)` to work); `os.fspath(p)` raises "
    "`TypeError` unless the value is a path.",
)

_LRU = "test_cpython_lru.py::TestLRUMemcacheKit::"
_LOP = "test_lazy_object_proxy.py::"

DIFFERENCES: dict[str, Difference] = {
    **{
        _LRU + name: _BYTES
        for name in (
            "test_lru",
            "test_lru_no_args",
            "test_lru_bug_35780",
            "test_lru_cache_parameters",
            "test_lru_cache_threaded",
            "test_lru_cache_threaded2",
            "test_lru_method",
            "test_lru_with_keyword_args",
            "test_lru_with_keyword_args_maxsize_none",
            "test_lru_with_maxsize_none",
        )
    },
    _LRU + "test_lru_with_types": _BOUND,
    _LRU + "test_kwargs_order": _BOUND,
    _LRU + "test_lru_type_error": _ENCODED,
    _LRU + "test_lru_hash_only_once": _ENCODED,
    _LRU + "test_need_for_rlock": _ENCODED,
    _LRU + "test_lru_cache_typed_is_not_recursive": _TYPED,
    **{
        _LOP + name: _IN_CACHE
        for name in (
            "test_set_wrapped",
            "test_del_wrapped",
            "test_set_wrapped_regular",
            "test_set_wrapped_via_new",
            "test_garbage_collection_count",
        )
    },
    **{
        _LOP + f"test_i{op}": _IN_PLACE
        for op in [
            "add",
            "sub",
            "mul",
            "div",
            "floordiv",
            "mod",
            "pow",
            "lshift",
            "rshift",
            "and",
            "xor",
            "or",
        ]
    },
    **{
        _LOP + name: _FACTORY
        for name in (
            "test_new",
            "test_resolved_new",
            "test_patching_the_factory",
            "test_patching_the_factory_with_none",
            "test_deleting_the_factory",
        )
    },
    _LOP + "test_pickling": _PICKLE,  # every parameter
    _LOP + "test_pickling_exception": _PICKLE,
    _LOP + "test_repr": _REPR,
    "test_documented.py::test_a_proxy_of_a_non_path_is_not_path_like": _PATHLIKE,
}
