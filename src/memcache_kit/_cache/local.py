"""Entries that live in this process's memory tier only (``LocalKey``).

An instance that has neither ``__cache_key__()`` nor an encodable state is keyed by an
``InstanceToken`` (``_keys.binding``), valid in this process only; its entries never reach a lower
tier and die with the instance. A decorated function whose identity cannot be encoded (a closure
over an unencodable value) keeps all its entries here too. ``Cache`` has no such entries of its
own, so single flight for them lives here, mirroring ``Cache._get_or_load``.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar, cast

from .._keys import CacheKey
from .._shapes import MISSING
from .cache import Cache
from .flight import Abandoned, Flight

__all__ = ["LocalKey", "memory_only", "memory_only_key", "memory_only_load", "amemory_only_load"]

R = TypeVar("R")


def memory_only(*_: object) -> str:
    raise RuntimeError("memcache_kit bug: a memory-only entry reached a lower tier")


class LocalKey(CacheKey):
    """The key of an entry that lives in this process's memory tier only: keyed by an instance
    token, or by a function whose identity cannot be encoded. It has no disk key."""

    __slots__ = ()

    def __init__(self, mem: Hashable, label: str) -> None:
        super().__init__(mem, memory_only, label)


def memory_only_key(key: CacheKey) -> bool:
    return type(key) is LocalKey


def memory_only_load(
    cache: Cache, key: CacheKey, loader: Callable[[], R], ttl: Any, memory_checked: bool = False
) -> R:
    """``get_or_load`` for entries keyed by an instance token: this process's memory only.
    ``memory_checked``: the caller's own read just missed (and was counted)."""
    tier = cache._memory
    while True:
        value = _look(cache, key, memory_checked)
        memory_checked = False
        if value is not MISSING:
            return cast(R, value)
        call, leader = _flight.begin(key.mem)
        if leader:
            break
        try:
            return cast(R, call.wait())
        except Abandoned:
            continue
    with _flight.leading(key.mem, call):
        value = loader()
        if tier is not None:
            tier.set(key.mem, value, expire_at=cache._expire_at(ttl))
        call.set_result(value)
        return value


async def amemory_only_load(
    cache: Cache,
    key: CacheKey,
    loader: Callable[[], Awaitable[Any]],
    ttl: Any,
    memory_checked: bool = False,
) -> Any:
    tier = cache._memory
    while True:
        value = _look(cache, key, memory_checked)
        memory_checked = False
        if value is not MISSING:
            return value
        call, leader = _flight.begin(key.mem)
        if leader:
            break
        try:
            return await call.wait_async()
        except Abandoned:
            continue
    with _flight.leading(key.mem, call):
        value = await loader()
        if tier is not None:
            tier.set(key.mem, value, expire_at=cache._expire_at(ttl))
        call.set_result(value)
        return value


def _look(cache: Cache, key: CacheKey, peek: bool) -> Any:
    if not peek:
        return cache._mem_get(key.mem)
    tier = cache._memory
    return MISSING if tier is None else tier.peek(key.mem)


# Single flight for memory-only entries (their memory keys hold per-process tokens, so one
# table serves every cache). Cache has no memory-only entries of its own; this mirrors its
# _get_or_load for them.
_flight = Flight()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_flight.after_fork)
