"""The door between the fronts and ``Cache`` (design: "The door between the fronts and Cache").

Decorators, lazy proxies and datasets (``_front``), the CLI, the report and the registry use a
``Cache`` through its public API and through this handle, never through the cache's private
attributes (``tests/test_architecture.py`` holds that). A handle keeps no state of its own, so
it always sees the cache's current tiers: a cache replaces its memory tier when it reopens
after ``close()`` or when its memory budget goes from 0 to more.

Keys here are ``CacheKey``s that the front built, namespaced by its function, loader or
dataset (``_keys``). Entries keyed by a per-instance token (a method of an instance that has no
portable key) live in this process's memory tier only: the ``*_local`` methods.

What each front uses:

- the hit: ``mem_get`` (the memory tier's counted read), ``hit`` (what a memory hit returns:
  credited with its load time, copied when the cache copies), ``copies``; the decorators'
  inlined hit takes a ``lane`` of the current memory tier and notices a new tier by
  ``memory_tier()``;
- keyed operations: ``lookup``, ``set``, ``delete``, ``get_or_load``, ``aget_or_load``,
  ``in_memory``;
- the registry: ``settings``, ``mark_named``; the CLI: ``disk_entries``, ``has_tier``,
  ``clear_tier``, ``delete_disk_older_than``; the report: ``memory_items_by_type``,
  ``memory_values``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import TYPE_CHECKING, Any, TypeVar

from .._keys import CacheKey
from .._shapes import USE_DEFAULT, Missing, UseDefault
from .._tiers.disk import DiskEntry
from .._tiers.memory import Lane
from . import local
from .parts import copy_out

if TYPE_CHECKING:
    from .cache import Cache

__all__ = ["Handle", "handle"]

T = TypeVar("T")
TTL = float | int | str | None
AsyncLoader = Callable[[], T | Awaitable[T]]


def handle(cache: Cache) -> Handle:
    """The handle of ``cache`` (cheap: a front keeps the one it took)."""
    return Handle(cache)


class Handle:
    """What a front may do with a ``Cache`` beyond its public API (see the module docstring)."""

    __slots__ = ("cache",)

    def __init__(self, cache: Cache) -> None:
        self.cache = cache

    # -- the memory hit -------------------------------------------------------------------

    def mem_get(self, mk: Hashable) -> Any:
        """The memory tier's read of ``mk`` (a hit or a miss counted; ``MISSING`` on a miss)."""
        return self.cache._mem_get(mk)

    def hit(self, mk: Hashable, value: Any) -> Any:
        """What a memory hit of ``mk`` returns: ``value`` credited with the load time it saved,
        and copied when the cache copies its hits."""
        c = self.cache
        if c._costs:
            c._credit(mk)
        return copy_out(value) if c._copy else value

    @property
    def copies(self) -> bool:
        """Whether the cache's hits return copies (``copy=True``)."""
        return self.cache._copy

    def memory_tier(self) -> object | None:
        """The current memory tier, as an opaque identity (None: the tier is off or closed)."""
        return self.cache._memory

    def lane(self, cost: list[float]) -> Lane | None:
        """A lane of the current memory tier for a front's inlined hit, crediting ``cost[0]``
        seconds to the cache's ``saved_seconds`` per hit; None when the hit may not be
        inlined: no memory tier, a cache that records its hits or copies them (every hit
        must then go through ``mem_get`` and ``hit``), or a build without lanes."""
        c = self.cache
        tier = c._memory
        if tier is None or c._mem_get is not tier.get or c._copy:
            return None
        new = tier.lane()
        if new is not None:
            new.saved, new.cost = c._saved, cost
        return new

    def in_memory(self, key: CacheKey) -> bool:
        """Whether the memory tier holds ``key`` now (no hit counted, recency untouched)."""
        return self.cache._in_memory(key)

    # -- keyed operations -----------------------------------------------------------------

    def lookup(self, key: CacheKey) -> Any | Missing:
        """Every tier's value of ``key`` (promoted up), or ``MISSING``; a miss is not recorded
        in an access trace (the caller loads next, or reads bookkeeping)."""
        return self.cache._lookup(key)

    def set(self, key: CacheKey, value: Any, ttl: TTL | UseDefault = USE_DEFAULT) -> None:
        self.cache._set(key, value, ttl)

    def delete(self, key: CacheKey) -> bool:
        return self.cache._delete(key)

    def get_or_load(
        self,
        key: CacheKey,
        loader: Callable[[], T],
        ttl: TTL | UseDefault = USE_DEFAULT,
        *,
        memory_checked: bool = False,
    ) -> T:
        """The value of ``key``, loaded once if no tier has it. ``memory_checked``: the caller
        has just missed the memory tier through ``mem_get`` (that miss was counted)."""
        return self.cache._get_or_load(key, loader, ttl, memory_checked=memory_checked)

    async def aget_or_load(
        self,
        key: CacheKey,
        loader: AsyncLoader[T],
        ttl: TTL | UseDefault = USE_DEFAULT,
        *,
        memory_checked: bool = False,
    ) -> T:
        """``get_or_load`` for coroutines (``loader`` sync, run in a thread, or async)."""
        return await self.cache._aget_or_load(key, loader, ttl, memory_checked=memory_checked)

    def peek(self, key: CacheKey) -> Any | Missing:
        """Every tier's value of ``key``, or ``MISSING``, counting no hit or miss anywhere (for
        bookkeeping entries, such as a decorated function's generation)."""
        c = self.cache
        if c._closed:
            c._reopen()
        return c._look_again(key, quiet=True)

    # -- entries of this process's memory only --------------------------------------------

    def get_or_load_local(
        self, key: CacheKey, loader: Callable[[], T], ttl: Any, *, memory_checked: bool = False
    ) -> T:
        return local.memory_only_load(self.cache, key, loader, ttl, memory_checked)

    async def aget_or_load_local(
        self,
        key: CacheKey,
        loader: Callable[[], Awaitable[Any]],
        ttl: Any,
        *,
        memory_checked: bool = False,
    ) -> Any:
        return await local.amemory_only_load(self.cache, key, loader, ttl, memory_checked)

    def set_local(self, mk: Hashable, value: Any, ttl: TTL | UseDefault) -> None:
        tier = self.cache._memory
        if tier is not None:
            tier.set(mk, value, expire_at=self.cache._expire_at(ttl))

    def delete_local(self, mk: Hashable) -> bool:
        tier = self.cache._memory
        return tier.delete(mk) if tier is not None else False

    # -- the registry's -------------------------------------------------------------------

    def settings(self) -> dict[str, Any]:
        """The resolved settings a pickled cache sends (what ``Cache(name, **settings)``
        rebuilds)."""
        return self.cache._settings()

    def mark_named(self) -> None:
        """Make the cache the registry's instance of its name (pickles say so)."""
        self.cache._named = True

    # -- the CLI's and the report's -------------------------------------------------------

    def has_lower_tier(self) -> bool:
        """Whether the cache keeps entries below memory (disk or remote), now."""
        c = self.cache
        return c._disk is not None or c._remote is not None

    def has_tier(self, name: str) -> bool:
        c = self.cache
        c._check_open()
        return {"memory": c._memory, "disk": c._disk, "remote": c._remote}[name] is not None

    def disk_entries(self) -> list[DiskEntry]:
        """The disk tier's entries (``[]`` without a disk tier)."""
        self.cache._check_open()
        disk = self.cache._disk
        return list(disk.entries()) if disk is not None else []

    def delete_disk_older_than(self, cutoff: float) -> int:
        """Remove the disk entries stored before ``cutoff`` (a time); how many were removed."""
        self.cache._check_open()
        disk = self.cache._disk
        if disk is None:
            return 0
        old = [e.key for e in disk.entries() if e.stored_at < cutoff]
        return sum(bool(disk.delete(k)) for k in old)

    def clear_tier(self, name: str) -> None:
        """Remove every entry of one lower tier (``"disk"`` or ``"remote"``: this cache's
        namespace only)."""
        c = self.cache
        c._check_open()
        tier = {"disk": c._disk, "remote": c._remote}[name]
        if tier is not None:
            tier.clear()

    def memory_items_by_type(self) -> dict[str, tuple[int, int]]:
        tier = self.cache._memory
        return tier.items_by_type() if tier is not None else {}

    def memory_values(self) -> list[Any]:
        """The values the memory tier holds now (strong references: for a one-off report)."""
        tier = self.cache._memory
        return tier.values() if tier is not None else []
