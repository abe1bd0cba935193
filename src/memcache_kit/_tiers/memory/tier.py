"""The memory tier: an LRU bounded in bytes on cachetools' ``LRUCache``.

Byte accounting and eviction order are cachetools' own (``LRUCache(maxsize=budget,
getsizeof=...)``, each value wrapped in an ``Entry`` that carries its size, measured once per
set). The hit path does not go through cachetools' Python-level ``__getitem__``: it reads
cachetools' own dictionaries (the data dict and the recency ``OrderedDict``) directly, one dict
lookup and one ``move_to_end``, each a single C call and so atomic under the GIL (both skipped
when the entry is already the process's most recent; see ``hit``, which also gives
fronts a ``Lane`` to run the same hit inline). Measured on CPython 3.11 on a loaded 2-core
machine (benchmarks/bench_memory.py): about 0.13 µs a hit against 0.41 µs for
``with lock: lru[k]``. We chose this over a second recency index of our own beside cachetools:
that costs the same on a hit but doubles the per-entry bookkeeping and must be kept in step
with cachetools' order on every write. The private names are checked at construction (an
upgrade that renames them fails loudly there, never silently later).

A lock-free reader racing a writer may see a hit as a miss (the key is in one dict and not yet
in the other), never a wrong value: an entry object is immutable apart from its access tick.
Writers take an ``RLock``; on a free-threaded build reads take it too.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from itertools import count
from typing import Any, Final

from cachetools import LRUCache

from ... import _sizes
from ..._shapes import MISSING, TierStats
from ..base import Evicted
from .governor import Governor, clock, governor
from .hit import _LAST, Entry, Lane, reader
from .verify import by_type, problems, rebuild

__all__ = ["Lane", "MemoryTier"]

_GIL: Final = bool(getattr(sys, "_is_gil_enabled", lambda: True)())


def _entry_size(entry: Entry) -> int:
    return entry.size


class _LRU(LRUCache[Hashable, Entry]):
    """cachetools' LRU that records what its own budget pressure evicts."""

    def __init__(self, maxsize: int) -> None:
        super().__init__(maxsize, getsizeof=_entry_size)
        self.evicted: list[tuple[Hashable, Entry]] = []

    def popitem(self) -> tuple[Hashable, Entry]:
        while True:
            try:
                item = super().popitem()
            except RuntimeError as e:
                # cachetools finds the oldest key with next(iter(order)): a lock-free reader's
                # move_to_end between the two calls makes next() raise, before anything changed.
                if _MUTATED not in str(e):
                    raise
                continue
            self.evicted.append(item)
            return item


def _oldest(order: OrderedDict[Hashable, None]) -> Hashable:
    """The least recently used key (``StopIteration`` when empty), safe against lock-free
    readers moving keys between ``iter()`` and ``next()``."""
    while True:
        try:
            return next(iter(order))
        except RuntimeError as e:
            if _MUTATED not in str(e):
                raise


_MUTATED: Final = "mutated during iteration"


def _internals(lru: _LRU) -> tuple[dict[Hashable, Entry], OrderedDict[Hashable, None]]:
    state = vars(lru)
    try:
        return state["_Cache__data"], state["_LRUCache__order"]
    except KeyError:
        import cachetools

        raise RuntimeError(
            f"cachetools {cachetools.__version__} has changed the private layout of LRUCache "
            "that memcache_kit's memory tier reads on its hit path; install cachetools 8.x"
        ) from None


def _is_memmap(value: Any) -> bool:
    if "numpy" not in sys.modules:
        return False
    check = getattr(_sizes, "is_memmap", None)
    if check is not None:
        return bool(check(value))
    return any(c.__name__ == "memmap" for c in type(value).__mro__)


def _check_budget(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"memory budget must be a non-negative int of bytes, got {value!r}")
    return value


class MemoryTier:
    """Thread-safe byte-bounded LRU; lock-free reads under the GIL; no I/O under its lock.

    ``on_evict`` receives the entries it let go of (budget pressure, resize, the memmap bound,
    expiry, the process-wide governor), called in the thread that caused the eviction after
    the lock is released. ``meta`` is opaque to the tier and handed back on eviction (``Cache``
    keeps the disk key and a dirty flag there). ``delete``, ``clear`` and overwrites are not
    evictions: they do not call ``on_evict``.
    """

    name = "memory"

    def __init__(
        self,
        budget: int,
        *,
        sizer: Callable[[Any], int] | None = None,
        on_evict: Callable[[list[Evicted]], None] | None = None,
        max_memmaps: int = 1024,
        governor: Governor = governor,
    ) -> None:
        budget = _check_budget(budget)
        if isinstance(max_memmaps, bool) or not isinstance(max_memmaps, int) or max_memmaps < 0:
            raise ValueError(f"max_memmaps must be a non-negative int, got {max_memmaps!r}")
        self._lru = _LRU(budget)
        self._data, self._order = _internals(self._lru)
        self._move = self._order.move_to_end
        self._lock = threading.RLock()
        self._sizer = sizer
        self._on_evict = on_evict
        self._max_memmaps = max_memmaps
        self._memmaps: dict[Hashable, Entry] = {}
        self._hits = count()
        self._misses = count()
        self._lanes: weakref.WeakSet[Lane] = weakref.WeakSet()
        self._retired_hits = 0
        self._evictions = 0
        self._writes = 0
        if _GIL:
            self.get = reader(self)  # type: ignore[method-assign,assignment]
        else:
            # Free-threaded build: dict and OrderedDict operations are no longer atomic.
            self.get = self._get_locked  # type: ignore[method-assign]
        self._governor = governor
        governor.register(self)
        _live.add(self)

    # -- reading ---------------------------------------------------------------------------

    def get(self, key: Hashable) -> Any:
        """The value, or ``MISSING`` (absent or expired).

        Each instance replaces this method with the closure ``hit.reader`` builds (same
        steps, no attribute lookups on ``self``), or with ``_get_locked`` on a free-threaded
        build.
        """
        return reader(self)(key)

    def lane(self) -> Lane | None:
        """The tier's hit path for a front that inlines it, or ``None`` when reads must take
        the lock (free-threaded build).

        The front's hit, lock-free under the GIL like ``get``: ``entry = lane.data[key]``; then,
        unless ``entry is lane.last[0]``, ``lane.move(key)`` (either may raise ``KeyError``: a
        miss), ``entry.tick = next(lane.tick)`` (the governor's recency) and
        ``lane.last[0] = entry``; an entry whose ``expire_at`` is not ``None`` and has passed is
        a miss; on a hit ``lane.hits += 1``, and the value is ``entry.value``. A front that
        misses calls ``get``, which counts the miss (and drops an expired entry). Holding a
        lane of a tier that ``Cache`` has since replaced is harmless: a replaced tier is
        drained, so its lane only misses.
        """
        if not _GIL:
            return None
        lane = Lane(self)
        with self._lock:  # stats() lists the lanes under it (a WeakSet iterates in Python)
            self._lanes.add(lane)
        return lane

    def _get_locked(self, key: Hashable) -> Any:
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                next(self._misses)
                return MISSING
            exp = entry.expire_at
            if exp is None or exp > time.time():
                self._move(key)
                entry.tick = next(clock)
                _LAST[0] = entry
                next(self._hits)
                return entry.value
        return self._expire(key, entry)

    def _expire(self, key: Hashable, entry: Entry) -> Any:
        next(self._misses)
        with self._lock:
            if self._data.get(key) is not entry:
                return MISSING
            self._remove(key, entry)
            self._evictions += 1
        self.dispatch([Evicted(key, entry.value, entry.expire_at, entry.meta)])
        return MISSING

    def _live_entry(self, key: Any) -> Entry | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        exp = entry.expire_at
        if exp is not None and exp <= time.time():
            return None
        return entry

    def get_meta(self, key: Hashable) -> Any:
        """The ``meta`` stored with ``key``, or ``MISSING``. Does not count as an access."""
        entry = self._live_entry(key)
        return MISSING if entry is None else entry.meta

    def metas(self) -> list[Any]:
        """The ``meta`` of every entry (a snapshot, in no particular order)."""
        return [e.meta for e in list(self._data.values())]

    def peek(self, key: Hashable) -> Any:
        """The value without counting a hit or refreshing recency, or ``MISSING``."""
        entry = self._live_entry(key)
        return MISSING if entry is None else entry.value

    def __contains__(self, key: object) -> bool:
        return self._live_entry(key) is not None

    def __len__(self) -> int:
        return len(self._data)

    # -- writing ---------------------------------------------------------------------------

    def set(
        self,
        key: Hashable,
        value: Any,
        *,
        expire_at: float | None = None,
        size: int | None = None,
        meta: Any = None,
    ) -> bool:
        """Store; ``False`` (not stored) when the value is larger than the budget or than
        ``total_memory``. An older entry under ``key`` is replaced (or, when the new value is
        not stored, removed), without ``on_evict``."""
        if size is None:
            # Measured outside the lock: a sizer may take milliseconds on a large container.
            size = self._sizer(value) if self._sizer is not None else _sizes.sizeof(value)
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValueError(f"a value's size must be a non-negative int of bytes, got {size!r}")
        memmap = _is_memmap(value)
        entry = Entry(value, expire_at, meta, size, memmap)
        cap = self._governor.cap
        lru = self._lru
        with self._lock:
            old = self._data.get(key)
            if old is not None:
                self._remove(key, old)
            budget = lru.maxsize
            fits = budget > 0 and size <= budget and (cap is None or size <= cap)
            fits = fits and (not memmap or self._max_memmaps > 0)
            if fits:
                lru[key] = entry
                entry.tick = next(clock)  # stamped in order with the insertion
                _LAST[0] = entry
                self._writes += 1
                evicted = self._collect()
                if memmap:
                    self._memmaps[key] = entry
                    while len(self._memmaps) > self._max_memmaps:
                        k, e = min(self._memmaps.items(), key=lambda kv: kv[1].tick)
                        self._remove(k, e)
                        evicted.append(Evicted(k, e.value, e.expire_at, e.meta))
                self._evictions += len(evicted)
            else:
                evicted = []
        if evicted:
            self.dispatch(evicted)
        if fits and cap is not None:
            self._governor.enforce()
        return fits

    def set_meta(self, key: Hashable, meta: Any) -> bool:
        """Replace the ``meta`` of a stored entry (e.g. mark it clean once it is on disk)."""
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                return False
            entry.meta = meta
            return True

    def delete(self, key: Hashable) -> bool:
        """Drop ``key``; whether it was present (an expired entry is dropped but was not)."""
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                return False
            self._remove(key, entry)
            exp = entry.expire_at
            return exp is None or exp > time.time()

    def clear(self) -> None:
        with self._lock:
            _LAST[0] = None
            self._lru.clear()
            self._memmaps.clear()

    def drain(self) -> list[Evicted]:
        """Remove and return every entry, least recently used first (for write-back flush at
        close). Not counted as evictions; ``on_evict`` is not called."""
        with self._lock:
            entries = [(k, self._data[k]) for k in list(self._order)]
            _LAST[0] = None
            self._lru.clear()
            self._memmaps.clear()
        return [Evicted(k, e.value, e.expire_at, e.meta) for k, e in entries]

    def close(self) -> None:
        """Drop every entry (``Cache`` drains what must reach disk first)."""
        self.clear()

    @property
    def budget(self) -> int:
        return int(self._lru.maxsize)

    @budget.setter
    def budget(self, value: int) -> None:
        """Resize now: shrinking evicts at once (through ``on_evict``)."""
        value = _check_budget(value)
        with self._lock:
            self._lru._Cache__maxsize = value  # type: ignore[attr-defined]
            while self._lru.currsize > value:
                self._lru.popitem()
            evicted = self._collect()
            self._evictions += len(evicted)
        if evicted:
            self.dispatch(evicted)

    # -- helpers (callers hold the lock unless said otherwise) -------------------------------

    def _remove(self, key: Hashable, entry: Entry) -> None:
        if _LAST[0] is entry:
            _LAST[0] = None
        del self._lru[key]
        if entry.memmap:
            self._memmaps.pop(key, None)

    def _collect(self) -> list[Evicted]:
        """Evicted entries that cachetools' own budget pressure popped."""
        popped = self._lru.evicted
        if not popped:
            return []
        self._lru.evicted = []
        out = []
        for k, e in popped:
            if e is _LAST[0]:
                _LAST[0] = None
            if e.memmap:
                self._memmaps.pop(k, None)
            out.append(Evicted(k, e.value, e.expire_at, e.meta))
        return out

    def dispatch(self, evicted: list[Evicted]) -> None:
        """Hand ``evicted`` to ``on_evict``; called with no lock held, in the calling thread."""
        if self._on_evict is not None and evicted:
            self._on_evict(evicted)

    # -- the governor's view (governor.Governed) ---------------------------------------------

    def governed_bytes(self) -> int:
        return int(self._lru.currsize)

    def lru_head(self) -> tuple[int, Hashable] | None:
        with self._lock:
            try:
                key = _oldest(self._order)
            except StopIteration:
                return None
            return self._data[key].tick, key

    def evict_lru(self, excess: int, older_than: int | None) -> tuple[list[Evicted], int]:
        out: list[Evicted] = []
        freed = 0
        with self._lock:
            while freed < excess:
                try:
                    key = _oldest(self._order)
                except StopIteration:
                    break
                entry = self._data[key]
                if out and older_than is not None and entry.tick >= older_than:
                    break
                self._remove(key, entry)
                freed += entry.size
                out.append(Evicted(key, entry.value, entry.expire_at, entry.meta))
            self._evictions += len(out)
        return out, freed

    # -- observing -------------------------------------------------------------------------

    def stats(self) -> TierStats:
        with self._lock:
            lanes = list(self._lanes)
        for lane in lanes:
            lane.credit()  # so the saved seconds read after this are current
        with self._lock:
            lanes_hits = sum(lane.hits for lane in lanes)
            return TierStats(
                hits=_count_value(self._hits) + self._retired_hits + lanes_hits,
                misses=_count_value(self._misses),
                evictions=self._evictions,
                writes=self._writes,
                bytes=int(self._lru.currsize),
                items=len(self._data),
                budget=int(self._lru.maxsize),
            )

    def values(self) -> list[Any]:
        """The values held now (a snapshot; strong references, for a one-off report)."""
        return [e.value for e in list(self._data.values())]

    def items_by_type(self) -> dict[str, tuple[int, int]]:
        """Type name → (count, bytes) of what the tier holds, largest first (for ``mk.report``)."""
        return by_type(list(self._data.values()))  # one C call: a snapshot under the GIL

    def verify(self, repair: bool = False) -> tuple[list[str], int, dict[str, Any]]:
        """Check bytes accounted == sum of entry sizes, recency index == data, the memmap count
        and the budget; with ``repair``, rebuild the bookkeeping from the stored entries."""
        repaired = 0
        evicted: list[Evicted] = []
        lru = self._lru
        with self._lock:
            found = problems(self)
            if found and repair:
                repaired = rebuild(self)
                evicted = self._collect()
                self._evictions += len(evicted)
            details = {
                "bytes": int(lru.currsize),
                "items": len(self._data),
                "budget": int(lru.maxsize),
                "memmaps": len(self._memmaps),
                "max_memmaps": self._max_memmaps,
            }
        if evicted:
            self.dispatch(evicted)
        return found, repaired, details

    def _after_fork_in_child(self) -> None:
        old = self._lock
        held = not old.acquire(blocking=False)
        if not held:
            old.release()
        self._lock = threading.RLock()
        if held:
            # A thread that does not exist in the child may have been mid-write: repair now.
            with self._lock:
                # What the rebuild evicts is handed to on_evict by the next set.
                rebuild(self)


def _count_value(counter: count[int]) -> int:
    # itertools.count cannot be read without advancing it; its repr is "count(N)".
    return int(repr(counter)[6:-1])


_live: weakref.WeakSet[MemoryTier] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for tier in list(_live):
        tier._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
