"""``cached`` and ``cached_property``: memoize expensive loaders in a ``Cache`` (the public face).

What one decorated function needs (keys, generations, calls, statistics) is ``CachedCore`` in
``core``; what the decorators return (function wrappers with the memory-hit fast lane,
cached methods, the cached-property descriptor) is in ``wrappers``; entries keyed by a
per-instance token, memory only, in ``_cache.local``.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Collection
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar, overload

from .._cache import Cache
from .._shapes import USE_DEFAULT, CacheInfo, UseDefault
from .core import TTL, CachedCore
from .wrappers import CachedMethod, CachedProperty, function_wrapper

__all__ = ["CachedClassMethod", "CachedFunction", "CachedProperty", "cached", "cached_property"]

R = TypeVar("R")


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

    def cache_parameters(self) -> dict[str, Any]: ...

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


def _in_class_body(func: Callable[..., Any]) -> bool:
    if not isinstance(func, types.FunctionType):
        return False  # a bound method, builtin, partial or callable object: not in a class body
    parts = func.__qualname__.split(".")
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
        return CachedMethod(core, classmethod_=True)
    if isinstance(func, CachedProperty | CachedMethod) or not callable(func):
        raise TypeError(f"cached() decorates functions and methods, not {func!r}")
    method = _in_class_body(func) and _first_param(func) in ("self", "cls")
    core = CachedCore(func, receiver=method, **options)
    return CachedMethod(core) if method else function_wrapper(core)


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
