"""What ``@cached`` and ``@cached_property`` return: function wrappers with the memory-hit
fast lane, cached methods bound like functions, and the cached-property descriptor. Each
closes over one ``CachedCore``."""

from __future__ import annotations

import functools
import inspect
import itertools
import time
from collections.abc import Callable, Hashable, Iterator
from typing import Any, Final, Generic, TypeVar, overload

from .. import _keys
from .._cache import Cache, Handle, Lane
from .._shapes import USE_DEFAULT, CacheInfo, UseDefault
from .core import SIMPLE, TTL, CachedCore

__all__ = ["CachedMethod", "CachedProperty", "function_wrapper"]

R = TypeVar("R")
_NO_TIER: Final = object()  # a wrapper's lane before it has looked at any tier


def _attach(target: Any, core: CachedCore[Any]) -> None:
    target.cache_info = core.info
    target.cache_parameters = core.parameters
    target.cache_clear = core.clear
    if core.is_async:

        async def refresh(*args: Any, **kwargs: Any) -> Any:
            return await core.arefresh(args, kwargs)

        target.refresh = refresh
    else:
        target.refresh = lambda *args, **kwargs: core.refresh(args, kwargs)
    target.invalidate = lambda *args, **kwargs: core.invalidate(args, kwargs)


def function_wrapper(core: CachedCore[Any]) -> Callable[..., Any]:
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
    tier: object = _NO_TIER  # the tier the lane is of (None: the cache has no memory tier)
    door: Handle | None = None  # the cache's handle, once the function is resolved
    now = time.time

    def attach(fold: bool) -> None:
        # Take a lane of the cache's current memory tier. Assigned in the reverse order of
        # the hit path's reads (data, last, move, tick, lane), so a racing hit that sees the
        # new data dict also sees its lane; one that sees an old dict with a new move misses
        # (the key is not in the new recency index).
        nonlocal data, move, tick, last, lane, tier
        assert door is not None
        old = lane
        # The handle inlines the tier's hit only when the cache's own memory read is the
        # tier's plain ``get``: a cache that wraps it (recording an access trace, copying
        # hits) must see every hit, so then every call goes through ``core.call``.
        tier = door.memory_tier()
        new = door.lane(core.mean_cost)
        old.credit()
        if new is None:
            lane = _IDLE
            tick, move, last, data = _IDLE_TICKS, _no_move, [None], _NO_DATA
        else:
            lane = new
            tick, move, last, data = new.tick, new.move, new.last, new.data
        if fold:  # same generation, new tier: the function keeps the hits it had
            core.hits += old.hits

    def on_resolve(c: CachedCore[Any]) -> None:
        nonlocal tok, door
        door = c.door
        tok = c.token
        attach(False)  # a new generation counts its hits from 0

    def missed() -> None:
        # The cache replaces its memory tier when it reopens or is resized from 0 (a
        # replaced tier is drained first, so an old lane can only miss).
        if door is not None and door.memory_tier() is not tier:
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
    if not isinstance(getattr(core.func, "__qualname__", None), str):  # a partial, an object
        wrapper.__qualname__ = wrapper.__name__ = core.qualname
    setattr(wrapper, _keys.TRANSPARENT, core.func)  # identified as what it computes
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


class CachedMethod:
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

    def __reduce__(self) -> str:
        # By reference, as functions pickle (module + qualname): a process pool gets the
        # class's own cached method, with its own cache, not a copy of this one's state.
        return self._core.qualname


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

    def cache_parameters(self) -> dict[str, Any]:
        return self._core.parameters()

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

    def __reduce__(self) -> tuple[Any, ...]:
        # As a bound method pickles: its receiver, and the method looked up on it again.
        return getattr, (self.__self__, self._core.func.__name__)


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
