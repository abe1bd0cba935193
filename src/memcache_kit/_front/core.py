"""``CachedCore``: what one decorated function (or method, or cached property) needs.

Keys (design "Keys", "A decorated function's entries"): a call is bound to the signature by a
plan computed once (``_keys.binding.Plan``); the bound values are the key's *parts*, keyed by
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
import inspect
import threading
import time
import warnings
from collections.abc import Callable, Collection, Hashable
from typing import Any, Final, Generic, TypeVar, cast

from .. import _keys
from .._cache import Cache, Handle, LocalKey, handle, memory_only_key
from .._config import get_cache
from .._errors import CacheWarning
from .._keys import NO_RECEIVER, BindError, CacheKey, InstanceToken, Plan, describe, receiver_part
from .._shapes import MISSING, USE_DEFAULT, CacheInfo, UseDefault
from .._sizes import parse_duration

__all__ = ["SIMPLE", "TTL", "CachedCore"]

R = TypeVar("R")
TTL = float | int | str | None

# Types whose Python equality is exactly equality of canonical encodings, typed or not, and
# which _keys.namespaced_mem keeps as they are. Floats and bools are not here: 1 == 1.0 == True
# is one key only when typed=False.
SIMPLE: Final = frozenset({int, str, bytes, type(None)})
_DISK_MEMO_MAX: Final = 512
_MEMO_STR_MAX: Final = 256
_MEMO_INT_BOUND: Final = 2**64
_FORMAT: Final = "memcache_kit.cached/1"


class _Inside(threading.local):
    machinery = False  # this thread is inside CachedCore.call's own work (not the function)


_inside: Final = _Inside()


def _memoizable(parts: tuple[Any, ...]) -> bool:
    """Whether the disk key of ``parts`` may be remembered: ints and strs only (key
    normalisation leaves them as they are), and small ones, since the memo keeps them alive
    outside the memory budget (a 10 MB str argument must not be held 512 times)."""
    for p in parts:
        t = type(p)
        if t is str:
            if len(p) > _MEMO_STR_MAX:
                return False
        elif t is not int or not -_MEMO_INT_BOUND < p < _MEMO_INT_BOUND:
            return False
    return True


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
        # What the callable is (_keys.callee): a bound method or a callable object carries
        # its receiver, keyed at every call as a method's ``self`` is.
        self.callee = callee = describe(func)
        self.is_async = callee.is_async
        self.bound = callee.receiver
        self.receiver = receiver or self.bound is not NO_RECEIVER
        self.key_fn = key
        self.typed = typed
        self.copy = copy
        self.hash_files = hash_files
        self.ttl: TTL | UseDefault = USE_DEFAULT if ttl is USE_DEFAULT else _ttl(ttl)
        self.module = callee.module
        self.qualname = callee.qualname
        self.plan = Plan(func, ignore)
        if receiver and self.plan.npos == 0:
            raise TypeError(f"{self.qualname}() is used as a method but takes no 'self' argument")
        # Whether entries may go below memory: False when the identity cannot be encoded (a
        # closure over an unencodable value); known at resolution.
        self.portable = True
        if version is not None:
            try:
                _keys.encode(version)
            except TypeError as e:
                raise TypeError(f"cached(version={version!r}): {e}") from e
        self.version = version
        self.identity: tuple[Any, ...] = ()  # computed at resolution (fingerprinting costs)
        # The fast lane: all-positional calls of int/str/bytes/None bind to ``args`` itself.
        self.fast_arity = (
            self.plan.npos if (self.plan.simple and not self.receiver and key is None) else -1
        )
        self.cache_spec = cache
        self.cache: Cache | None = None
        self.door: Handle | None = None  # the cache's handle (set with ``cache``)
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
        # The disk keys of recent calls whose arguments are all int/str (flat memory key ->
        # disk key): a lower-tier hit then skips encoding and hashing the arguments, a third
        # of its time. Bounded; emptied when full.
        self._disk_memo: dict[tuple[Any, ...], str] = {}

    # resolution and generations ---------------------------------------------------------------
    def resolve(self) -> Cache:
        """The cache, resolved at first use (so configuring after import works)."""
        cache = self.cache
        if cache is not None:
            return cache
        with self._lock:
            if self.cache is None:
                # Resolution encodes and fingerprints: calls it makes of cached functions (a
                # cached ``len`` installed in builtins) run uncached, as in ``call``.
                inside, was = _inside, _inside.machinery
                inside.machinery = True
                try:
                    self._resolve()
                finally:
                    inside.machinery = was
            assert self.cache is not None
            return self.cache

    def _resolve(self) -> None:
        spec = self.cache_spec
        cache = get_cache(spec) if isinstance(spec, str) else spec
        try:
            marker = self.callee.marker(self.version)
        except TypeError as e:
            # Said once, and only where it changes something: a cache with a tier below.
            self.portable = False
            if handle(cache).has_lower_tier():
                self._warn_memory_only(e)
            marker = ("memory-only",)
        self.identity = (_FORMAT, self.module, self.qualname, marker)
        generation = _peek(cache, self._generation_key()) if self.portable else 0
        self._enter(cache, generation if isinstance(generation, int) else 0)

    def _warn_memory_only(self, error: TypeError) -> None:
        warnings.warn(
            f"{self.module}.{self.qualname}: its entries stay in this process's memory tier: "
            f"{error}. Capture values that can be encoded (or define __cache_key__() on their "
            "class), or pass version=... to vouch that its captured values do not change "
            "what it computes",
            CacheWarning,
            stacklevel=7,
        )

    def _generation_key(self) -> tuple[Any, ...]:
        return ("memcache_kit.generation", *self.identity)

    def _enter(self, cache: Cache, generation: int) -> None:
        self._disk_memo = {}  # its keys hold the old token
        self.token = object()
        self.namespace = _keys.encode((*self.identity, generation))
        self.door = handle(cache)
        self.cache = cache  # published last: readers that see it see the token too
        for hook in self._on_resolve:
            hook(self)

    def clear(self) -> None:
        cache = self.resolve()
        with self._lock:
            generation = 0
            if self.portable:  # a memory-only function's new token is enough
                gen_key = self._generation_key()
                generation = _peek(cache, gen_key)
                generation = (generation if isinstance(generation, int) else 0) + 1
                cache.set(gen_key, generation, ttl=None)
            self.hits = self.lower_hits = self.misses = 0
            self._enter(cache, generation)

    # keys -------------------------------------------------------------------------------------
    def make_key(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> CacheKey:
        """The ``CacheKey`` of a call; ``BindError`` when the call does not fit the signature."""
        self.resolve()
        portable = self.portable
        bound = self.bound
        if self.key_fn is not None:
            # The key= function sees the call's arguments (a class-body method's ``self``
            # among them); a bound receiver is keyed beside its result.
            parts: tuple[Any, ...] = (self.key_fn(*args, **kwargs),)
            keyed = bound is not NO_RECEIVER
            if keyed:
                parts = (bound, *parts)
        else:
            parts = self.plan.bind(args, kwargs)
            keyed = self.receiver
            if bound is not NO_RECEIVER:
                parts = (bound, *parts)
        if keyed:
            part, by_state = receiver_part(parts[0], _keys.encode)
            parts = (part, *parts[1:])
            portable = portable and by_state
        typed, hash_files = self.typed, self.hash_files
        if portable:
            plain = _memoizable(parts)
            if plain:
                flat = (self.token, *parts)
                disk = self._disk_memo.get(flat)
                if disk is not None:
                    return CacheKey(flat, disk, lambda: _keys.short_repr(parts))
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
                flat = (self.token, *inner)
                if plain:  # then inner is parts: the memo above finds this key next time
                    return CacheKey(flat, lambda: self._memo_disk(flat, key), lambda: key.label)
                return CacheKey(flat, lambda: key.disk, lambda: key.label)
            return key
        head = parts[0]
        if not isinstance(head, InstanceToken):
            # The function's identity cannot be encoded: keyed as it would be, in memory only.
            try:
                mem = _keys.namespaced_mem(self.token, parts, typed=typed, hash_files=hash_files)
            except TypeError as e:
                raise self._unencodable(e, 0) from e
            inner = mem[1]  # type: ignore[index]
            if type(inner) is tuple and SIMPLE.issuperset(map(type, inner)):
                mem = (self.token, *inner)  # what the fast lane builds
            return LocalKey(mem, self.qualname)
        try:
            rest = _keys.namespaced_mem(None, parts[1:], typed=typed, hash_files=hash_files)
        except TypeError as e:
            raise self._unencodable(e, 1) from e
        # Keyed by an instance token: this process's memory tier only (see _memory_only_load).
        mem = (self.token, head, rest)
        assert self.door is not None
        head.entries[mem] = self.door.delete_local  # dropped when the instance dies
        return LocalKey(mem, self.qualname)

    def _memo_disk(self, flat: tuple[Any, ...], key: CacheKey) -> str:
        disk = key.disk
        memo = self._disk_memo
        if len(memo) >= _DISK_MEMO_MAX:
            memo.clear()
        memo[flat] = disk
        return disk

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
        inside = _inside
        if inside.machinery:
            # Called by the cache's own work on another call (a cached builtin such as
            # ``len`` installed in builtins, or a key's ``__cache_key__``/``__eq__`` calling a
            # cached function): runs uncached, instead of waiting for itself or recursing.
            return self.func(*args, **kwargs)
        inside.machinery = True
        try:
            try:
                key = self.make_key(args, kwargs)
            except BindError:
                inside.machinery = False
                return self.func(*args, **kwargs)  # raises Python's own TypeError for the call
            door = self.door
            assert door is not None
            value = door.mem_get(key.mem)
            if value is not MISSING:
                self.hits += 1
                return cast(R, self._out(door, key.mem, value))
            ran = False

            def load() -> R:
                nonlocal ran
                ran = True
                inside.machinery = False  # the function itself may call cached functions
                try:
                    started = time.perf_counter()
                    value = self.func(*args, **kwargs)
                    self._learn(time.perf_counter() - started)
                finally:
                    inside.machinery = True
                return value

            if memory_only_key(key):
                value = door.get_or_load_local(key, load, self.ttl, memory_checked=True)
            else:
                value = door.get_or_load(key, load, self.ttl, memory_checked=True)
            self._count(ran)
            return value if not self.copy or door.copies else _copy.deepcopy(value)
        finally:
            inside.machinery = False

    async def acall(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        inside = _inside
        if inside.machinery:  # see call(); only the steps before the first await are marked
            return await self.func(*args, **kwargs)  # type: ignore[misc]
        inside.machinery = True
        try:
            key = self.make_key(args, kwargs)
        except BindError:
            key = None
        finally:
            inside.machinery = False
        if key is None:
            return await self.func(*args, **kwargs)  # type: ignore[misc]
        door = self.door
        assert door is not None
        value = door.mem_get(key.mem)
        if value is not MISSING:
            self.hits += 1
            return self._out(door, key.mem, value)
        ran = False

        async def load() -> Any:
            nonlocal ran
            ran = True
            started = time.perf_counter()
            value = await self.func(*args, **kwargs)  # type: ignore[misc]
            self._learn(time.perf_counter() - started)
            return value

        if memory_only_key(key):
            value = await door.aget_or_load_local(key, load, self.ttl, memory_checked=True)
        else:
            value = await door.aget_or_load(key, load, self.ttl, memory_checked=True)
        self._count(ran)
        return value if not self.copy or door.copies else _copy.deepcopy(value)

    def _out(self, door: Handle, mem: Hashable, value: Any) -> Any:
        # A memory hit: credited with the saved load time; copied when either side asks.
        if self.copy and not door.copies:
            return _copy.deepcopy(door.hit(mem, value))
        return door.hit(mem, value)

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
        assert self.door is not None
        if memory_only_key(key):
            return self.door.delete_local(key.mem)
        return self.door.delete(key)

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
        door = self.door
        assert door is not None
        if memory_only_key(key):
            door.set_local(key.mem, value, self.ttl)
        else:
            door.set(key, value, self.ttl)

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

    def parameters(self) -> dict[str, Any]:
        """functools' ``cache_parameters()``: the memory budget (bytes) and ``typed``."""
        memory = self.resolve().stats().tiers.get("memory")
        return {"maxsize": memory.budget if memory is not None else 0, "typed": self.typed}

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


def _peek(cache: Cache, key: Any) -> Any:
    """Read the cache's bookkeeping entry ``key`` (0 when absent) without it counting as a
    request anywhere (statistics, a recorded trace): they show the function's calls only."""
    value = handle(cache).peek(_keys.make_key(key))
    return 0 if value is MISSING else value
