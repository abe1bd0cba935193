"""``cached`` and ``cached_property``: memoize expensive loaders in a ``Cache``.

Keys (design "Keys", "A decorated function's entries"): a call is bound to the signature by a
plan computed once (``_binding.Plan``); the bound values are the key's *parts*, keyed by
``_keys.namespaced_key`` within the function's namespace (module, qualname, code fingerprint or
``version=``, generation). The memory key starts with ``token``, an object made per function and
generation, so memory keys of different functions never meet; when every part is an
int/str/bytes/None it is ``(token, *parts)``, which for an all-positional call is
``(token, *args)``: the wrappers' fast lane builds it without binding. The disk key digests the
namespace and the parts' canonical encoding, so it is the same in every process and run.

``cache_clear()`` bumps a generation counter stored in the function's cache under a reserved
key (so processes that resolve the function later start in the new generation) and replaces
the memory token; the old entries become unreachable and age out of every tier by LRU.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy as _copy
import functools
import inspect
import itertools
import os
import threading
import time
from collections.abc import Awaitable, Callable, Collection, Hashable, Iterator
from typing import Any, Concatenate, Final, Generic, ParamSpec, Protocol, TypeVar, cast, overload

from . import _keys
from ._binding import BindError, InstanceToken, Plan, receiver_part
from ._cache import Cache
from ._flight import Abandoned, Flight
from ._keys import CacheKey
from ._registry import get_cache
from ._shapes import MISSING, USE_DEFAULT, CacheInfo, UseDefault
from ._sizes import parse_duration
from ._tiers.memory import Lane

__all__ = ["CachedClassMethod", "CachedFunction", "CachedProperty", "cached", "cached_property"]

R = TypeVar("R")
TTL = float | int | str | None

# Types whose Python equality is exactly equality of canonical encodings, typed or not, and
# which _keys.namespaced_mem keeps as they are. Floats and bools are not here: 1 == 1.0 == True
# is one key only when typed=False.
SIMPLE: Final = frozenset({int, str, bytes, type(None)})
_FORMAT: Final = "memcache_kit.cached/1"
_NOARG: Final = object()  # "no first positional argument" in the one-parameter wrapper


class CachedCore(Generic[R]):
    """Everything one decorated function needs; its wrappers close over one instance."""

    def __init__(
        self,
        func: Callable[..., R],
        *,
        cache: Cache | str,
        ttl: TTL | UseDefault,
        version: Any,
        key: Callable[..., Any] | None,
        ignore: Collection[str],
        typed: bool,
        copy: bool,
        hash_files: bool,
        receiver: bool,
    ) -> None:
        if not isinstance(cache, str | Cache):
            raise TypeError(
                f"cached(cache={cache!r}): give a cache name (str) or a memcache_kit.Cache"
            )
        if isinstance(ignore, str):
            ignore = (ignore,)
        self.func = func
        self.is_async = inspect.iscoroutinefunction(func)
        self.receiver = receiver
        self.key_fn = key
        self.typed = typed
        self.copy = copy
        self.hash_files = hash_files
        self.ttl: TTL | UseDefault = USE_DEFAULT if ttl is USE_DEFAULT else _ttl(ttl)
        self.module = getattr(func, "__module__", None) or "__main__"
        self.qualname = getattr(func, "__qualname__", None) or repr(func)
        self.plan = Plan(func, ignore)
        if receiver and self.plan.npos == 0:
            raise TypeError(f"{self.qualname}() is used as a method but takes no 'self' argument")
        if version is not None:
            try:
                _keys.encode(version)
            except TypeError as e:
                raise TypeError(f"cached(version={version!r}): {e}") from e
        self.version = version
        self.identity: tuple[Any, ...] = ()  # computed at resolution (fingerprinting costs)
        # The fast lane: all-positional calls of int/str/bytes/None bind to ``args`` itself.
        self.fast_arity = (
            self.plan.npos if (self.plan.simple and not receiver and key is None) else -1
        )
        self.cache_spec = cache
        self.cache: Cache | None = None
        self.token: object = None
        self.namespace = b""
        self._lock = threading.Lock()
        self.hits = 0  # memory-tier hits
        self.lower_hits = 0  # hits below memory (disk, remote)
        self.misses = 0  # calls that ran the function
        self._on_resolve: list[Callable[[CachedCore[R]], None]] = []
        self.hit_readers: list[Callable[[], int]] = []  # hits counted by the wrappers' fast lane
        self.before_learn: list[Callable[[], None]] = []  # credit those hits at the old mean
        # Mean seconds a load of this function took: what the fast lane credits to the cache's
        # saved_seconds per hit (a per-key lookup of the cost would cost the hit ~0.1 µs).
        self.mean_cost = [0.0]

    # resolution and generations ---------------------------------------------------------------
    def resolve(self) -> Cache:
        """The cache, resolved at first use (so configuring after import works)."""
        cache = self.cache
        if cache is not None:
            return cache
        with self._lock:
            if self.cache is None:
                spec = self.cache_spec
                cache = get_cache(spec) if isinstance(spec, str) else spec
                if self.version is not None:
                    marker: tuple[Any, ...] = ("version", self.version)
                else:
                    marker = ("code", _keys.fingerprint(self.func))
                self.identity = (_FORMAT, self.module, self.qualname, marker)
                generation = cache.get(self._generation_key(), 0)
                self._enter(cache, generation if isinstance(generation, int) else 0)
            assert self.cache is not None
            return self.cache

    def _generation_key(self) -> tuple[Any, ...]:
        return ("memcache_kit.generation", *self.identity)

    def _enter(self, cache: Cache, generation: int) -> None:
        self.token = object()
        self.namespace = _keys.encode((*self.identity, generation))
        self.cache = cache  # published last: readers that see it see the token too
        for hook in self._on_resolve:
            hook(self)

    def clear(self) -> None:
        cache = self.resolve()
        with self._lock:
            gen_key = self._generation_key()
            generation = cache.get(gen_key, 0)
            generation = (generation if isinstance(generation, int) else 0) + 1
            cache.set(gen_key, generation, ttl=None)
            self.hits = self.lower_hits = self.misses = 0
            self._enter(cache, generation)

    # keys -------------------------------------------------------------------------------------
    def make_key(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> CacheKey:
        """The ``CacheKey`` of a call; ``BindError`` when the call does not fit the signature."""
        cache = self.resolve()
        portable = True
        if self.key_fn is not None:
            parts: tuple[Any, ...] = (self.key_fn(*args, **kwargs),)
        else:
            parts = self.plan.bind(args, kwargs)
            if self.receiver:
                part, portable = receiver_part(parts[0], _keys.encode)
                parts = (part, *parts[1:])
        typed, hash_files = self.typed, self.hash_files
        if portable:
            try:
                key = _keys.namespaced_key(
                    self.namespace, self.token, parts, typed=typed, hash_files=hash_files
                )
            except TypeError as e:
                raise self._unencodable(e, 0) from e
            # namespaced_key's memory key is (token, normalised parts). When every normalised
            # part is an int/str/bytes/None, flatten it to (token, *parts): what the wrappers'
            # fast lane builds from ``args``, and a tuple less to hash on every lookup. The
            # flattening depends only on the normalised parts, so equal encodings still give
            # equal memory keys; a flat key never equals a nested one (a simple part is never
            # a tuple, and a flat key of two or more parts is longer).
            inner = key.mem[1]  # type: ignore[index]
            if type(inner) is tuple and SIMPLE.issuperset(map(type, inner)):
                return CacheKey((self.token, *inner), lambda: key.disk, lambda: key.label)
            return key
        try:
            rest = _keys.namespaced_mem(None, parts[1:], typed=typed, hash_files=hash_files)
        except TypeError as e:
            raise self._unencodable(e, 1) from e
        # Keyed by an instance token: this process's memory tier only (see _memory_only_load).
        mem = (self.token, parts[0], rest)
        tier = cache._memory
        if tier is not None:
            parts[0].entries[mem] = tier.delete  # dropped when the instance dies
        return CacheKey(mem, _memory_only, self.qualname)

    def _unencodable(self, error: TypeError, offset: int) -> TypeError:
        # The encoder's path ("[2]['a']") locates the culprit within the parts; map its first
        # index to the parameter it came from.
        path: str = getattr(error, "path", "") or ""
        index, rest = -1, ""
        if path.startswith("[") and "]" in path:
            with contextlib.suppress(ValueError):
                index = int(path[1 : path.index("]")]) + offset
                rest = path[path.index("]") + 1 :]
        culprit = getattr(error, "type", None)
        of = f" of type {culprit.__qualname__}" if isinstance(culprit, type) else ""
        names = self.plan.names
        if self.key_fn is not None:
            where, hint = "the key= function's result", "return encodable parts from key="
        elif self.receiver and index == 0:
            where = f"{names[0]!r}"
            hint = "define __cache_key__() on its class, or pass key=... to build the key"
        elif 0 <= index < len(names):
            name = names[index]
            where = f"argument {name!r}" + (f" (at {rest})" if rest else "")
            hint = f"pass key=... to build the key yourself, or ignore=({name!r},) to leave it out"
        else:
            where = "an argument"
            hint = "pass key=... to build the key yourself, or ignore=(...) to leave it out"
        return TypeError(
            f"{self.module}.{self.qualname}(): {where}{of} cannot be part of a cache key; "
            f"{hint}. ({error})"
        )

    # calls ------------------------------------------------------------------------------------
    def call(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> R:
        try:
            key = self.make_key(args, kwargs)
        except BindError:
            return self.func(*args, **kwargs)  # raises Python's own TypeError for the call
        cache = self.cache
        assert cache is not None
        value = cache._mem_get(key.mem)
        if value is not MISSING:
            self.hits += 1
            return cast(R, self._out(cache, key.mem, value))
        ran = False

        def load() -> R:
            nonlocal ran
            ran = True
            started = time.perf_counter()
            value = self.func(*args, **kwargs)
            self._learn(time.perf_counter() - started)
            return value

        if _memory_only_key(key):
            value = _memory_only_load(cache, key, load, self.ttl)
        else:
            value = cache._get_or_load(key, load, self.ttl)
        self._count(ran)
        return value if not self.copy or cache._copy else _copy.deepcopy(value)

    async def acall(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            key = self.make_key(args, kwargs)
        except BindError:
            return await self.func(*args, **kwargs)  # type: ignore[misc]
        cache = self.cache
        assert cache is not None
        value = cache._mem_get(key.mem)
        if value is not MISSING:
            self.hits += 1
            return self._out(cache, key.mem, value)
        ran = False

        async def load() -> Any:
            nonlocal ran
            ran = True
            started = time.perf_counter()
            value = await self.func(*args, **kwargs)  # type: ignore[misc]
            self._learn(time.perf_counter() - started)
            return value

        if _memory_only_key(key):
            value = await _amemory_only_load(cache, key, load, self.ttl)
        else:
            value = await cache._aget_or_load(key, load, self.ttl)
        self._count(ran)
        return value if not self.copy or cache._copy else _copy.deepcopy(value)

    def _out(self, cache: Cache, mem: Hashable, value: Any) -> Any:
        # A memory hit: what Cache._get does (credit the saved load time, copy when asked).
        if cache._costs:
            cache._credit(mem)
        if self.copy or cache._copy:
            return _copy.deepcopy(value)
        return value

    def _learn(self, seconds: float) -> None:
        for credit in self.before_learn:
            credit()
        mean = self.mean_cost
        mean[0] += (seconds - mean[0]) / (self.misses + 1)

    def _count(self, ran: bool) -> None:
        if ran:
            self.misses += 1
        else:
            self.lower_hits += 1

    def invalidate(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        """Drop one entry from every tier; whether there was one."""
        key = self._key_or_error("invalidate", args, kwargs)
        assert self.cache is not None
        if _memory_only_key(key):
            tier = self.cache._memory
            return tier.delete(key.mem) if tier is not None else False
        return self.cache._delete(key)

    def refresh(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> R:
        """Run the function now and overwrite its entry."""
        key = self._key_or_error("refresh", args, kwargs)
        value = self.func(*args, **kwargs)
        self.misses += 1
        self._store(key, value)
        return value if not self.copy else _copy.deepcopy(value)

    async def arefresh(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        key = self._key_or_error("refresh", args, kwargs)
        value = await self.func(*args, **kwargs)  # type: ignore[misc]
        self.misses += 1
        await asyncio.to_thread(self._store, key, value)
        return value if not self.copy else _copy.deepcopy(value)

    def _store(self, key: CacheKey, value: Any) -> None:
        cache = self.cache
        assert cache is not None
        if _memory_only_key(key):
            tier = cache._memory
            if tier is not None:
                tier.set(key.mem, value, expire_at=cache._expire_at(self.ttl))
        else:
            cache._set(key, value, self.ttl)

    def _key_or_error(self, what: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> CacheKey:
        try:
            return self.make_key(args, kwargs)
        except BindError:
            pass
        sig = inspect.signature(self.func)
        try:
            sig.bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"{self.qualname}.{what}(): {e}") from None
        raise TypeError(f"{self.qualname}.{what}(): arguments do not fit {sig}")

    def info(self) -> CacheInfo:
        cache = self.resolve()
        stats = cache.stats()
        memory = stats.tiers.get("memory")
        memory_on = memory is not None and memory.budget > 0
        lower = [name for name in stats.tiers if name != "memory"]
        hits = self.hits + sum(reader() for reader in self.hit_readers)
        tiers: dict[str, tuple[int, int]] = {}
        if memory_on:
            tiers["memory"] = (hits, self.lower_hits + self.misses)
        if lower:
            tiers[lower[0]] = (self.lower_hits, self.misses)
        return CacheInfo(
            hits=hits + self.lower_hits,
            misses=self.misses,
            maxsize=memory.budget if memory is not None else 0,
            currsize=memory.bytes if memory is not None else 0,
            tiers=tiers,
        )


def _memory_only_key(key: CacheKey) -> bool:
    mem: Any = key.mem
    return len(mem) == 3 and isinstance(mem[1], InstanceToken)


def _memory_only(*_: object) -> str:
    raise RuntimeError("memcache_kit bug: a memory-only entry reached a lower tier")


def _memory_only_load(cache: Cache, key: CacheKey, loader: Callable[[], R], ttl: Any) -> R:
    """``get_or_load`` for entries keyed by an instance token: this process's memory only."""
    tier = cache._memory
    while True:
        value = cache._mem_get(key.mem)
        if value is not MISSING:
            return cast(R, value)
        call, leader = _flight.begin(key.mem)
        if leader:
            break
        call.check_wait(blocking=True)
        try:
            return cast(R, call.result())
        except Abandoned:
            continue
    try:
        value = loader()
        if tier is not None:
            tier.set(key.mem, value, expire_at=cache._expire_at(ttl))
        call.set_result(value)
        return value
    except Exception as e:
        call.set_exception(e)
        raise
    except BaseException:
        call.set_exception(Abandoned())
        raise
    finally:
        _flight.end(key.mem, call)


async def _amemory_only_load(
    cache: Cache, key: CacheKey, loader: Callable[[], Awaitable[Any]], ttl: Any
) -> Any:
    tier = cache._memory
    while True:
        value = cache._mem_get(key.mem)
        if value is not MISSING:
            return value
        call, leader = _flight.begin(key.mem)
        if leader:
            break
        call.check_wait(blocking=False)
        try:
            return await asyncio.wrap_future(call)
        except Abandoned:
            continue
    try:
        value = await loader()
        if tier is not None:
            tier.set(key.mem, value, expire_at=cache._expire_at(ttl))
        call.set_result(value)
        return value
    except Exception as e:
        call.set_exception(e)
        raise
    except BaseException:
        call.set_exception(Abandoned())
        raise
    finally:
        _flight.end(key.mem, call)


# Single flight for memory-only entries (their memory keys hold per-process tokens, so one
# table serves every cache). Cache has no memory-only entries of its own; this mirrors its
# _get_or_load for them.
_flight = Flight()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_flight.after_fork)


def _ttl(ttl: TTL) -> float | None:
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, int | float | str):
        raise TypeError(f"ttl={ttl!r}: give seconds (a number), a string like '10m', or None")
    try:
        seconds = parse_duration(ttl)
    except ValueError as e:
        raise ValueError(f"ttl={ttl!r}: {e}") from e
    if not seconds > 0:
        raise ValueError(f"ttl={ttl!r} must be positive (or None: never expires)")
    return seconds


class CachedProperty(Generic[R]):
    """What ``@cached_property`` makes: a data descriptor reading its value from the cache."""

    def __init__(
        self,
        func: Callable[[Any], R],
        /,
        *,
        cache: Cache | str = "default",
        ttl: TTL | UseDefault = USE_DEFAULT,
        version: Any = None,
        copy: bool = False,
    ) -> None:
        if not callable(func):
            raise TypeError(f"cached_property decorates a method, not {func!r}")
        self.func = func
        self.core: CachedCore[R] = CachedCore(
            func,
            cache=cache,
            ttl=ttl,
            version=version,
            key=None,
            ignore=(),
            typed=False,
            copy=copy,
            hash_files=False,
            receiver=True,
        )
        self.attrname: str | None = None
        functools.update_wrapper(self, func)  # type: ignore[arg-type]

    @overload
    def __get__(self, instance: None, owner: type[Any] | None = None) -> CachedProperty[R]: ...

    @overload
    def __get__(self, instance: object, owner: type[Any] | None = None) -> R: ...

    def __get__(self, instance: object, owner: type[Any] | None = None) -> Any:
        if instance is None:
            return self
        return self.core.call((instance,), {})

    def __set_name__(self, owner: type, name: str) -> None:
        self.attrname = name

    def __set__(self, instance: object, value: Any) -> None:
        raise AttributeError(
            f"cached_property {self.attrname or self.func.__name__!r} is read-only; "
            "'del obj.attr' drops the cached value"
        )

    def __delete__(self, instance: object) -> None:
        self.core.invalidate((instance,), {})


# -- the public wrappers -------------------------------------------------------------------------

P = ParamSpec("P")
P2 = ParamSpec("P2")
S = TypeVar("S")
R_co = TypeVar("R_co", covariant=True)
S_contra = TypeVar("S_contra", contravariant=True)


class CachedFunction(Protocol[P, R_co]):
    """What ``@cached`` returns: the function, with its signature, plus cache controls.

    For an ``async def`` function ``R_co`` is the coroutine type, so ``await f(x)`` and
    ``await f.refresh(x)`` have the function's result type.
    """

    @property
    def __wrapped__(self) -> Callable[P, R_co]: ...

    @property
    def cache(self) -> Cache: ...

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co: ...

    def cache_info(self) -> CacheInfo: ...

    def cache_clear(self) -> None: ...

    def invalidate(self, *args: P.args, **kwargs: P.kwargs) -> bool: ...

    def refresh(self, *args: P.args, **kwargs: P.kwargs) -> R_co: ...

    # Binding, for type checkers: through the class a method is unbound; through an
    # instance it binds its first parameter.
    @overload
    def __get__(self, instance: None, owner: type[Any] | None, /) -> CachedFunction[P, R_co]: ...

    @overload
    def __get__(
        self: CachedFunction[Concatenate[S, P2], R_co], instance: S, owner: type[Any] | None, /
    ) -> CachedFunction[P2, R_co]: ...


class CachedClassMethod(Protocol[S_contra, P, R_co]):
    """What ``@cached`` returns for a function whose first parameter is ``cls: type[S]``: a
    classmethod under ``@classmethod`` (in either order), binding its class for type checkers."""

    def __call__(self, cls: type[S_contra], /, *args: P.args, **kwargs: P.kwargs) -> R_co: ...

    def __get__(
        self, instance: Any, owner: type[Any] | None = None, /
    ) -> CachedFunction[P, R_co]: ...


class _PropertyDecorator(Protocol):
    def __call__(self, func: Callable[[Any], R], /) -> CachedProperty[R]: ...


@overload
def cached_property(func: Callable[[Any], R], /) -> CachedProperty[R]: ...


@overload
def cached_property(
    *,
    cache: Cache | str = "default",
    ttl: TTL | UseDefault = USE_DEFAULT,
    version: Any = None,
    copy: bool = False,
) -> _PropertyDecorator: ...


def cached_property(
    func: Any = None,
    /,
    *,
    cache: Cache | str = "default",
    ttl: TTL | UseDefault = USE_DEFAULT,
    version: Any = None,
    copy: bool = False,
) -> Any:
    """A property computed once per instance and held by the cache (so it can be evicted).

    ``@cached_property`` or ``@cached_property(cache=..., ttl=..., version=..., copy=...)``.
    Instances are keyed like ``self`` of a cached method; ``del obj.prop`` drops the entry.
    Concurrent first reads compute the value once (the cache's single flight).
    """
    options = {"cache": cache, "ttl": ttl, "version": version, "copy": copy}
    if func is None:
        return lambda f: CachedProperty(f, **options)
    return CachedProperty(func, **options)


class _Decorator(Protocol):
    @overload
    def __call__(
        self, func: Callable[Concatenate[type[S], P], R], /
    ) -> CachedClassMethod[S, P, R]: ...

    @overload
    def __call__(self, func: Callable[P, R], /) -> CachedFunction[P, R]: ...


def _attach(target: Any, core: CachedCore[Any]) -> None:
    target.cache_info = core.info
    target.cache_clear = core.clear
    if core.is_async:

        async def refresh(*args: Any, **kwargs: Any) -> Any:
            return await core.arefresh(args, kwargs)

        target.refresh = refresh
    else:
        target.refresh = lambda *args, **kwargs: core.refresh(args, kwargs)
    target.invalidate = lambda *args, **kwargs: core.invalidate(args, kwargs)


def _function(core: CachedCore[Any]) -> Callable[..., Any]:
    """A plain function wrapper (a real ``def``/``async def``, so introspection sees one)."""
    n = -1 if core.copy else core.fast_arity
    # The hit path's state, in closure cells (a cell read is cheaper than an attribute): the
    # memory key's token and the memory tier's lane (see MemoryTier.lane).
    tok: object = None
    data: dict[Hashable, Any] = _NO_DATA
    move: Callable[[Hashable], None] = _no_move
    tick: Iterator[int] = _IDLE_TICKS
    last: list[Any] = [None]
    lane: Lane | _Idle = _IDLE
    tier: object = _NOARG  # the tier the lane is of (never None: None means "no tier")
    cache: Cache | None = None
    now = time.time

    def attach(fold: bool) -> None:
        # Take a lane of the cache's current memory tier. Assigned in the reverse order of
        # the hit path's reads (data, last, move, tick, lane), so a racing hit that sees the
        # new data dict also sees its lane; one that sees an old dict with a new move misses
        # (the key is not in the new recency index).
        nonlocal data, move, tick, last, lane, tier
        assert cache is not None
        old = lane
        current = cache._memory
        new = current.lane() if current is not None and not cache._copy else None
        tier = current
        old.credit()
        if new is None:
            lane = _IDLE
            tick, move, last, data = _IDLE_TICKS, _no_move, [None], _NO_DATA
        else:
            new.saved, new.cost = cache._saved, core.mean_cost
            lane = new
            tick, move, last, data = new.tick, new.move, new.last, new.data
        if fold:  # same generation, new tier: the function keeps the hits it had
            core.hits += old.hits

    def on_resolve(c: CachedCore[Any]) -> None:
        nonlocal tok, cache
        cache = c.cache
        tok = c.token
        attach(False)  # a new generation counts its hits from 0

    def missed() -> None:
        # The cache replaces its memory tier when it reopens or is resized from 0 (a
        # replaced tier is drained first, so an old lane can only miss).
        if cache is not None and cache._memory is not tier:
            attach(True)

    core._on_resolve.append(on_resolve)
    core.hit_readers.append(lambda: lane.hits)
    core.before_learn.append(lambda: lane.credit())

    # The hit path (design "The hit path"): for an all-positional call of int/str/bytes/None
    # values the memory key is (token, *args), built from the arguments as given (what
    # make_key makes of them), then the memory tier's hit inlined through its lane: one dict
    # lookup and, unless the entry is already the process's most recent, one move_to_end and
    # the governor's tick; one count serves the function and the tier, and the saved seconds
    # are credited from it in batches (benchmarks/bench_decorators.py: each of these steps
    # costs ~15 % of a hit). A miss, an expired entry or any other call goes through
    # ``core.call``, which binds with the plan and asks the tier (counting the miss).
    if core.is_async:

        async def awrapper(*args: Any, **kwargs: Any) -> Any:
            if not kwargs and len(args) == n and SIMPLE.issuperset(map(type, args)):
                k = (tok, *args)
                try:
                    entry = data[k]
                    if entry is not last[0]:
                        move(k)
                        entry.tick = next(tick)
                        last[0] = entry
                except KeyError:
                    pass
                else:
                    exp = entry.expire_at
                    if exp is None or exp > now():
                        lane.hits += 1
                        return entry.value
                missed()
            return await core.acall(args, kwargs)

        return _finish(awrapper, core)

    if n == 1:
        # One parameter: the wrapper takes exactly that parameter (its name, kind and
        # default), so a call needs no ``*args``/``**kwargs`` packing (~15 % of a hit).
        def wrapper1(a: Any, /) -> Any:
            if type(a) in SIMPLE:
                k = (tok, a)
                try:
                    entry = data[k]
                    if entry is not last[0]:
                        move(k)
                        entry.tick = next(tick)
                        last[0] = entry
                except KeyError:
                    pass
                else:
                    exp = entry.expire_at
                    if exp is None or exp > now():
                        lane.hits += 1
                        return entry.value
                missed()
            return core.call((a,), {})

        if _take_signature(wrapper1, core.func):
            return _finish(wrapper1, core)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not kwargs and len(args) == n and SIMPLE.issuperset(map(type, args)):
            k = (tok, *args)
            try:
                entry = data[k]
                if entry is not last[0]:
                    move(k)
                    entry.tick = next(tick)
                    last[0] = entry
            except KeyError:
                pass
            else:
                exp = entry.expire_at
                if exp is None or exp > now():
                    lane.hits += 1
                    return entry.value
            missed()
        return core.call(args, kwargs)

    return _finish(wrapper, core)


def _take_signature(wrapper: Callable[..., Any], func: Callable[..., Any]) -> bool:
    """Give a one-parameter ``wrapper(a, /)`` the name, kind and default of ``func``'s one
    parameter; ``False`` (leave it) when that is not possible."""
    try:
        (param,) = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return False
    P = inspect.Parameter
    code = wrapper.__code__
    taken = {*code.co_varnames[1:], *code.co_cellvars, *code.co_freevars}
    if param.kind not in (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD) or param.name in taken:
        return False
    wrapper.__code__ = code.replace(
        co_posonlyargcount=int(param.kind is P.POSITIONAL_ONLY),
        co_varnames=(param.name, *code.co_varnames[1:]),
    )
    if param.default is not P.empty:
        wrapper.__defaults__ = (param.default,)
    return True


class _Idle:
    """The lane of no memory tier: its dict is empty, so its count never moves."""

    __slots__ = ("hits",)

    def __init__(self) -> None:
        self.hits = 0

    def credit(self) -> None:
        pass


_IDLE: Final = _Idle()
_IDLE_TICKS: Final = itertools.count()
_NO_DATA: Final[dict[Hashable, Any]] = {}


def _no_move(key: Hashable) -> None:
    raise KeyError(key)


def _finish(wrapper: Callable[..., Any], core: CachedCore[Any]) -> Callable[..., Any]:
    functools.update_wrapper(wrapper, core.func)
    _attach(wrapper, core)
    target: Any = wrapper
    if isinstance(core.cache_spec, Cache):
        target.cache = core.cache_spec
    else:
        # A function cannot have a lazy attribute: ``cache`` appears at resolution (first
        # call, cache_info(), ...); resolve_cache() resolves it on demand.
        core._on_resolve.append(lambda c: setattr(wrapper, "cache", c.cache))
    target.resolve_cache = core.resolve
    return wrapper


class _CachedMethod:
    """A cached method (or classmethod): binds like a function, keys ``self`` as designed."""

    def __init__(self, core: CachedCore[Any], *, classmethod_: bool = False) -> None:
        self._core = core
        self._classmethod = classmethod_
        functools.update_wrapper(self, core.func)
        _attach(self, core)

    @property
    def cache(self) -> Cache:
        return self._core.resolve()

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        if self._classmethod:
            return _Bound(self._core, owner if owner is not None else type(instance))
        if instance is None:
            return self
        return _Bound(self._core, instance)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        core = self._core
        return core.acall(args, kwargs) if core.is_async else core.call(args, kwargs)

    def __repr__(self) -> str:
        return f"<cached method {self._core.qualname}>"


class _Bound:
    """A cached method bound to its instance (or class): ``obj.method.invalidate(x)`` works."""

    __slots__ = ("__self__", "_core")

    def __init__(self, core: CachedCore[Any], receiver: object) -> None:
        self._core = core
        self.__self__ = receiver

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        core = self._core
        if core.is_async:
            return core.acall((self.__self__, *args), kwargs)
        return core.call((self.__self__, *args), kwargs)

    @property
    def __wrapped__(self) -> Any:
        return self._core.func.__get__(self.__self__)

    def __getattr__(self, name: str) -> Any:
        # __name__, __qualname__, __doc__, __module__, ...: those of the function.
        return getattr(self._core.func, name)

    @property
    def cache(self) -> Cache:
        return self._core.resolve()

    def cache_info(self) -> CacheInfo:
        return self._core.info()

    def cache_clear(self) -> None:
        self._core.clear()

    def invalidate(self, *args: Any, **kwargs: Any) -> bool:
        return self._core.invalidate((self.__self__, *args), kwargs)

    def refresh(self, *args: Any, **kwargs: Any) -> Any:
        core = self._core
        if core.is_async:
            return core.arefresh((self.__self__, *args), kwargs)
        return core.refresh((self.__self__, *args), kwargs)

    def __repr__(self) -> str:
        return f"<bound cached method {self._core.qualname} of {self.__self__!r}>"


def _in_class_body(func: Callable[..., Any]) -> bool:
    parts = getattr(func, "__qualname__", "").split(".")
    return len(parts) >= 2 and parts[-2] != "<locals>"


def _first_param(func: Callable[..., Any]) -> str | None:
    code = getattr(func, "__code__", None)
    if code is None or not code.co_argcount:
        return None
    name: str = code.co_varnames[0]
    return name


def _decorate(func: Any, options: dict[str, Any]) -> Any:
    if isinstance(func, staticmethod):
        return staticmethod(_decorate(func.__func__, options))
    if isinstance(func, classmethod):
        core = CachedCore(func.__func__, receiver=True, **options)
        return _CachedMethod(core, classmethod_=True)
    if isinstance(func, CachedProperty | _CachedMethod) or not callable(func):
        raise TypeError(f"cached() decorates functions and methods, not {func!r}")
    method = _in_class_body(func) and _first_param(func) in ("self", "cls")
    core = CachedCore(func, receiver=method, **options)
    return _CachedMethod(core) if method else _function(core)


@overload
def cached(func: Callable[Concatenate[type[S], P], R], /) -> CachedClassMethod[S, P, R]: ...


@overload
def cached(func: Callable[P, R], /) -> CachedFunction[P, R]: ...


@overload
def cached(
    *,
    cache: Cache | str = "default",
    ttl: TTL | UseDefault = USE_DEFAULT,
    version: Any = None,
    key: Callable[..., Any] | None = None,
    ignore: Collection[str] = (),
    typed: bool = False,
    copy: bool = False,
    hash_files: bool = False,
) -> _Decorator: ...


def cached(
    func: Any = None,
    /,
    *,
    cache: Cache | str = "default",
    ttl: TTL | UseDefault = USE_DEFAULT,
    version: Any = None,
    key: Callable[..., Any] | None = None,
    ignore: Collection[str] = (),
    typed: bool = False,
    copy: bool = False,
    hash_files: bool = False,
) -> Any:
    """Memoize a function, coroutine function or method in a ``Cache`` (see docs/decorators.md).

    ``cache`` is a ``Cache`` or a name resolved by ``get_cache`` at the first call. ``ttl``
    (seconds or "10m"/"7d"; ``None`` = never expires) overrides the cache's default for this
    function's entries. ``version`` replaces the code fingerprint in the namespace. ``key`` is
    called with the same arguments and returns the key's parts; ``ignore`` names arguments
    left out of the key. ``typed`` keys 1, 1.0 and True apart. ``copy`` returns deep copies.
    ``hash_files`` keys ``Path`` arguments by content instead of size and mtime.
    """
    options = {
        "cache": cache,
        "ttl": ttl,
        "version": version,
        "key": key,
        "ignore": tuple(ignore) if not isinstance(ignore, str) else (ignore,),
        "typed": typed,
        "copy": copy,
        "hash_files": hash_files,
    }
    if func is not None:
        return _decorate(func, options)
    return lambda f: _decorate(f, options)
