"""Lazy proxies: ``lazy(loader, *args, cache=..., **kwargs)`` and ``is_loaded(proxy)``.

A proxy holds a *recipe* (loader, arguments, key, cache) and never the value: every use asks the
cache for it. See ``LazyProxy`` for why, and docs/lazy.md for the contract.
"""

from __future__ import annotations

import functools
import math
import operator
import reprlib
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar, cast

from lazy_object_proxy.slots import Proxy as _SlotsProxy

from .. import _keys, _sizes
from .._cache import Cache, Handle, handle
from .._config import get_cache
from .._keys import CacheKey
from .._shapes import USE_DEFAULT, UseDefault

__all__ = ["LazyProxy", "is_loaded", "lazy"]

T = TypeVar("T")
TTL = float | int | str | None

# Entries of proxies built with an explicit ``key=`` live under this namespace, apart from every
# loader's namespace (a loader's identity never encodes to these bytes).
EXPLICIT_NAMESPACE = b"memcache_kit.lazy:explicit-key"


def namespace_of(loader: Callable[..., Any], key: Any, what: str) -> bytes:
    """The namespace of ``loader``'s entries (its identity), or the explicit-key namespace."""
    if key is not None:
        return EXPLICIT_NAMESPACE
    try:
        return _keys.loader_identity(loader)
    except TypeError as e:
        raise TypeError(
            f"{what}: cannot key the entries of loader {loader!r}: {e}; pass key=... to name "
            "them yourself"
        ) from e


def entry_key(namespace: bytes, token: Hashable, parts: Any, what: str) -> CacheKey:
    """The ``CacheKey`` of ``parts`` under ``namespace``; unencodable parts name ``what``."""
    try:
        return _keys.namespaced_key(namespace, token, parts)
    except TypeError as e:
        raise TypeError(f"{what}: {e}; pass key=... to name the entry yourself") from e


def resolve_cache(spec: str | Cache) -> Cache:
    return get_cache(spec) if isinstance(spec, str) else spec


def check_cache_spec(spec: object, what: str) -> str | Cache:
    if isinstance(spec, str | Cache):
        return spec
    raise TypeError(
        f"{what}: cache={spec!r} is not allowed: give a cache name (str) or a memcache_kit.Cache"
    )


def in_memory(cache: Cache, key: CacheKey) -> bool:
    """Whether this process's memory tier holds ``key`` now (no load, no promotion, no stats)."""
    return handle(cache).in_memory(key)


class _Recipe(Generic[T]):
    """What a proxy knows: enough to fetch the value from the cache, or to load it again."""

    __slots__ = ("args", "cache", "call", "ckey", "door", "key", "kwargs", "loader", "ttl")

    def __init__(
        self,
        loader: Callable[..., T],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        cache: str | Cache,
        key: Any,
        ttl: TTL | UseDefault,
    ) -> None:
        self.loader = loader
        self.args = args
        self.kwargs = kwargs
        self.cache: str | Cache = cache
        self.key = key
        self.ttl = ttl
        # Keys are built at lazy() time so that an unencodable argument fails at the call site,
        # not at some distant first use; the loader itself runs only at first use.
        ns = namespace_of(loader, key, "lazy()")
        parts = key if key is not None else (args, kwargs)
        self.ckey = entry_key(ns, ns, parts, "lazy()")
        self.call: Callable[[], T] = functools.partial(loader, *args, **kwargs)
        self.door: Handle | None = None  # the cache's handle, once resolved

    def get_cache(self) -> Cache:
        cache = self.cache
        if isinstance(cache, str):
            # Named caches resolve at first use (design: "Named caches"); a race only repeats
            # the registry lookup, which returns the one instance.
            cache = self.cache = get_cache(cache)
        return cache

    def value(self) -> T:
        door = self.door
        if door is None:
            door = self.door = handle(self.get_cache())
        return door.get_or_load(self.ckey, self.call, self.ttl)

    def describe(self) -> str:
        name = getattr(self.loader, "__qualname__", None) or repr(self.loader)
        shown = [reprlib.repr(a) for a in self.args]
        shown += [f"{k}={reprlib.repr(v)}" for k, v in self.kwargs.items()]
        return f"{name}({', '.join(shown)})"

    def cache_name(self) -> str:
        c = self.cache
        return c if isinstance(c, str) else str(getattr(c, "name", "?"))


def _restore(
    loader: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    cache: str | Cache,
    key: Any,
    ttl: TTL | UseDefault,
) -> LazyProxy:
    return LazyProxy(_Recipe(loader, args, kwargs, cache, key, ttl))


class LazyProxy(_SlotsProxy):  # type: ignore[misc]
    """A transparent proxy whose value lives in a cache.

    Why a per-access cache lookup and not a resolved proxy that an eviction hook un-resolves
    (``del proxy.__wrapped__``): benchmarks/bench_lazy.py measures ``len(p)`` at about 1.2x a
    plain object through a resolved C proxy, 4x through a resolved slots proxy and 8x through
    this one (attribute access: 10x, 18x, 30x; the lookup is a memory hit in ``_get_or_load``).
    But a resolved proxy keeps its value alive whenever no hook fires: values larger than the
    memory budget (never stored in memory, so never evicted), entries dropped by ``delete``,
    ``clear`` or expiry, and a hook would need a registry of every live proxy per key. Each of
    those would hold memory outside every budget. The lookup needs nothing from the
    cache but the handle's ``get_or_load``, and a used proxy never holds more than the
    operation in flight.
    The pure-Python slots implementation is the one that routes every dunder through
    ``__wrapped__`` (the C one reads its stored target directly), so it is the base here.
    """

    __slots__ = ("_mk_recipe",)

    def __init__(self, recipe: _Recipe[Any]) -> None:
        object.__setattr__(self, "_mk_recipe", recipe)

    @property
    def __wrapped__(self) -> Any:
        recipe: _Recipe[Any] = object.__getattribute__(self, "_mk_recipe")
        return recipe.value()

    @__wrapped__.setter
    def __wrapped__(self, target: Any) -> None:
        # In-place operators end by assigning their result here. For mutable values (lists,
        # arrays) that result is the cached object itself, already changed in place; anything
        # else would silently rebind one proxy away from the cache, so it is refused.
        recipe: _Recipe[Any] = object.__getattribute__(self, "_mk_recipe")
        if target is not recipe.value():
            raise TypeError(
                f"cannot rebind the lazy value of {recipe.describe()}: an in-place operator on "
                f"an immutable value ({type(target).__name__}) would replace it; write "
                "`x = proxy + ...` to get a new value instead"
            )

    @property
    def __resolved__(self) -> bool:
        return is_loaded(self)

    @property
    def __factory__(self) -> Callable[..., Any]:
        """The loader (with its arguments bound, when it has any)."""
        recipe: _Recipe[Any] = object.__getattribute__(self, "_mk_recipe")
        return recipe.call if recipe.args or recipe.kwargs else recipe.loader

    def __repr__(self) -> str:
        recipe: _Recipe[Any] = object.__getattribute__(self, "_mk_recipe")
        where = f"cache {recipe.cache_name()!r}"
        if not is_loaded(self):
            return f"<lazy {recipe.describe()} in {where}, not loaded>"
        return f"<lazy {recipe.describe()} in {where} = {reprlib.repr(recipe.value())}>"

    def __reduce__(self) -> tuple[Any, ...]:
        recipe: _Recipe[Any] = object.__getattribute__(self, "_mk_recipe")
        # The cache travels as an instance, whose own pickling sends its resolved settings: a
        # spawned process then rebuilds the same tiers instead of reading its own configuration.
        cache = recipe.get_cache()
        return _restore, (recipe.loader, recipe.args, recipe.kwargs, cache, recipe.key, recipe.ttl)

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        return self.__reduce__()

    # Forwarded beyond what lazy_object_proxy's slots proxy forwards (each would otherwise
    # raise, or, for the class checks, answer False without a word).
    def __call__(*args: Any, **kwargs: Any) -> Any:
        # ``self`` is positional-only, so a keyword named ``self`` reaches the value.
        proxy, *rest = args
        return type(proxy).__wrapped__.fget(proxy)(*rest, **kwargs)

    def __complex__(self) -> complex:
        return complex(self.__wrapped__)

    def __trunc__(self) -> Any:
        return math.trunc(self.__wrapped__)

    def __floor__(self) -> Any:
        return math.floor(self.__wrapped__)

    def __ceil__(self) -> Any:
        return math.ceil(self.__wrapped__)

    def __length_hint__(self) -> int:
        return operator.length_hint(self.__wrapped__)

    def __instancecheck__(self, instance: Any) -> bool:
        return isinstance(instance, self.__wrapped__)

    def __subclasscheck__(self, subclass: Any) -> bool:
        return issubclass(subclass, self.__wrapped__)

    # copy looks these up on the instance, where __getattr__ would forward to the value's own.
    def __copy__(self) -> LazyProxy:
        return LazyProxy(object.__getattribute__(self, "_mk_recipe"))

    def __deepcopy__(self, memo: dict[int, Any]) -> LazyProxy:
        return self.__copy__()


def _proxy_size(proxy: LazyProxy) -> int:
    """What a proxy keeps alive: itself, its recipe and the recipe's arguments; never its value
    (that lives in the cache, charged there) nor the cache it names."""
    recipe: _Recipe[Any] = object.__getattribute__(proxy, "_mk_recipe")
    own = object.__sizeof__(proxy) + object.__sizeof__(recipe) + object.__sizeof__(recipe.ckey)
    return own + _sizes.sizeof((recipe.args, recipe.kwargs, recipe.key))


_sizes.register_sizer(LazyProxy, _proxy_size)


def lazy(
    loader: Callable[..., T],
    *args: Any,
    cache: str | Cache = "default",
    key: Any = None,
    ttl: TTL | UseDefault = USE_DEFAULT,
    **kwargs: Any,
) -> T:
    """A proxy for ``loader(*args, **kwargs)`` that runs nothing until first use.

    The value lives in ``cache`` (a name resolved through ``get_cache`` at first use, or a
    ``Cache``) under the loader's identity and the arguments, or under ``key`` when given. Every
    use fetches it from the cache, so an evicted value comes back from the disk tier or by
    running the loader again, and concurrent first uses run the loader once.
    """
    if not callable(loader):
        raise TypeError(f"lazy(): loader {loader!r} is not callable")
    spec = check_cache_spec(cache, "lazy()")
    return cast(T, LazyProxy(_Recipe(loader, args, kwargs, spec, key, ttl)))


def is_loaded(proxy: object) -> bool:
    """Whether ``proxy``'s value is in this process's memory tier now; never loads it."""
    if not issubclass(type(proxy), LazyProxy):
        raise TypeError(
            f"is_loaded() takes a proxy from memcache_kit.lazy(), not {type(proxy).__name__}"
        )
    recipe: _Recipe[Any] = object.__getattribute__(proxy, "_mk_recipe")
    return in_memory(recipe.get_cache(), recipe.ckey)
