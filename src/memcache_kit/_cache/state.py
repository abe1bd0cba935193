"""What the parts of ``Cache`` share: its attributes, declared once, and (for the type
checker) the methods each part calls on the others.

``Cache`` is one class assembled from parts by concept, each a mixin over this state:
``tiers`` (opening, closing, resizing), ``lookups`` (lookups and promotion), ``writes`` (writes,
deletes, striped locks and spills), ``loading`` (``get_or_load`` with single flight) and ``aio``
(the asyncio face); ``cache`` holds the constructor, the public API and observing. Every part
reads the attributes below; only ``Cache.__init__`` and the parts that own a piece of state
assign them.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from .._keys import CacheKey
from .._shapes import CacheStats, Missing, UseDefault
from .._tiers import Evicted
from .._tiers.disk import DiskTier
from .._tiers.memory import MemoryTier
from .._tiers.redis import RedisTier
from .flight import Flight, SharedLock

__all__ = ["TTL", "CacheState", "T"]

T = TypeVar("T")
TTL = float | int | str | None  # seconds, "10m"-style strings, or None: never expires


class CacheState:
    """The attributes of a ``Cache`` (set in ``Cache.__init__``)."""

    # settings
    _name: str
    _named: bool  # the registry's instance of this name
    _directory: Path
    _memory_bytes: int
    _disk_bytes: int
    _ttl: float | None
    _serializer: str
    _copy: bool
    _write_through: bool
    _spill: bool
    _durability: Literal["fast", "strict"]
    _verify_arrays: bool
    _allow_shared: bool
    _network_filesystem: Literal["memory-only", "allow"]
    _lock_timeout: float
    _remote_url: str | None
    _remote_bytes: int
    _remote_timeout: float
    _record: bool | str | Path
    _on_network: bool
    # tiers and their hooks
    _memory: MemoryTier | None
    _disk: DiskTier | None
    _remote: RedisTier | None
    _mem_get: Callable[[Hashable], Any]  # the memory tier's read (or one that always misses)
    _finalizer: weakref.finalize[Any, Any] | None
    _closed: bool
    _recorder: Any
    _rec: Callable[[int, int, float, int], None] | None
    # single flight and write ordering
    _flight: Flight
    _stripes: list[threading.Lock]
    _versions: list[int]
    _tls: threading.local
    _pending: dict[Hashable, Evicted]  # evicted, on their way to disk
    # accounting
    _costs: dict[Hashable, float]  # load seconds of memory entries that cost any
    _below_costs: OrderedDict[Hashable, float]
    _stat_lock: threading.Lock
    _loads: int
    _load_seconds: float
    _saved: list[float]  # a cell the hit path adds to without a reference to the cache
    _spills: int
    _promotions: int
    _disk_promotions: int
    _warned: set[str]

    if TYPE_CHECKING:
        # the class's own (cache.py), and what other parts call of each part
        @property
        def name(self) -> str: ...
        @property
        def directory(self) -> Path: ...
        def stats(self) -> CacheStats: ...
        @property
        def memory_budget(self) -> int: ...
        @property
        def disk_budget(self) -> int: ...
        def _check_open(self) -> None: ...
        def _credit(self, mk: Hashable) -> None: ...
        def _expire_at(self, ttl: TTL | UseDefault) -> float | None: ...
        def _followed(self, key: CacheKey, value: Any) -> None: ...
        def _get_below(self, key: CacheKey, *, quiet: bool = False) -> Any: ...
        def _loaded(self, key: CacheKey, value: Any, cost: float) -> None: ...
        def _look_again(self, key: CacheKey, *, quiet: bool = False) -> Any: ...
        def _lookup(self, key: CacheKey) -> Any | Missing: ...
        def _missed(self, key: CacheKey) -> None: ...
        def _on_evict(self, entries: list[Evicted]) -> None: ...
        def _out(self, value: Any) -> Any: ...
        def _recheck(self, key: CacheKey, stripe: int, version: int) -> Any: ...
        def _remember_below(self, mk: Hashable, cost: float) -> None: ...
        def _reopen(self) -> None: ...
        def _run_queued(self) -> None: ...
        def _shared_lock(self, key: CacheKey) -> SharedLock | None: ...
        async def _ashared_lock(self, key: CacheKey) -> SharedLock | None: ...
        def _store(
            self, key: CacheKey, value: Any, expire_at: float | None, cost: float
        ) -> None: ...
        def _ttl_seconds(self, ttl: TTL | UseDefault) -> float | None: ...
