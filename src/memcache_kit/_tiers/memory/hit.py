"""The memory tier's hit path: its entries, ``get`` as a closure, and the lanes through which a
front (the decorators) runs the same hit inline.

Measured in benchmarks/bench_memory.py and bench_decorators.py: on CPython 3.11 each attribute
lookup, Python-level call, counter or tick on this path costs 5-15 % of a hit, so ``get`` is a
closure over the tier's dicts, and a front may copy the steps into its own closure (``Lane``)
instead of calling ``get``.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Hashable
from itertools import count
from typing import Any, Final, Protocol

from ..._shapes import MISSING
from .governor import clock


class Store(Protocol):
    """What the hit path reads of its tier (``MemoryTier`` is one: it hands itself over)."""

    _data: dict[Hashable, Entry]
    _move: Callable[..., None]  # OrderedDict.move_to_end
    _hits: count[int]
    _misses: count[int]
    _retired_hits: int

    def _expire(self, key: Hashable, entry: Entry) -> Any: ...
    def get(self, key: Hashable) -> Any: ...


__all__ = ["Entry", "Lane", "Store", "reader"]


class Entry:
    """What the tier stores per key. Only ``tick`` changes after creation (racy by design)."""

    __slots__ = ("expire_at", "memmap", "meta", "size", "tick", "value")

    def __init__(
        self, value: Any, expire_at: float | None, meta: Any, size: int, memmap: bool
    ) -> None:
        self.value = value
        self.expire_at = expire_at
        self.meta = meta
        self.size = size
        self.memmap = memmap
        self.tick = next(clock)


# The entry most recently touched (set or hit) in any memory tier of the process. A hit on it
# changes nothing: it is already last in its tier's recency order and holds the newest tick, so
# the hit skips ``move_to_end`` and the tick (measured: a repeated hit of one key, the common
# memoization pattern, costs about 40 % less). Every path that moves an entry to the end sets
# it; every removal clears it, so it never keeps an evicted value alive (a lock-free hit racing
# a removal may park one removed entry here until the next access). Races between lock-free
# hits can leave a recency order slightly off, as two racing ``move_to_end`` calls can; never a
# wrong value.
_LAST: Final[list[Any]] = [None]


class Lane:
    """A front's own copy of the hit path for one tier (``MemoryTier.lane``).

    ``data`` and ``move`` are the tier's data dict and its recency ``move_to_end``, ``tick`` the
    governor's process-wide clock and ``last`` the process-wide most recent entry cell;
    ``hits`` counts the hits the front served through them. The tier adds ``hits`` to its own
    in ``stats()``, so a decorator's hit is counted once, for the function and for the tier
    alike. ``saved`` and ``cost`` (set by the front) credit ``cost[0]`` seconds per hit to the
    cell ``saved`` in batches (``credit``), not per hit: the tier credits before ``stats()``
    reports, the front before its mean cost changes. When the front lets go of a lane its hits
    are credited and folded into the tier's total.
    """

    __slots__ = (
        "__weakref__",
        "_credited",
        "_tier",
        "cost",
        "data",
        "hits",
        "last",
        "move",
        "saved",
        "tick",
    )

    def __init__(self, tier: Store) -> None:
        self.data = tier._data
        self.move = tier._move
        self.tick = clock
        self.last = _LAST
        self.hits = 0
        self.saved: list[float] | None = None
        self.cost: list[float] = [0.0]
        self._credited = 0
        self._tier = weakref.ref(tier)

    def credit(self) -> None:
        """Add ``cost[0]`` to ``saved[0]`` for each hit not credited yet.

        Lock-free, like the hit counts themselves: two threads crediting at once may both
        credit the same hits (a lock here could be held across a fork by the stats thread,
        or re-entered by ``__del__`` from the garbage collector)."""
        hits = self.hits
        fresh = hits - self._credited
        if fresh > 0:
            self._credited = hits
            saved = self.saved
            if saved is not None:
                saved[0] += fresh * self.cost[0]

    def __del__(self) -> None:
        self.credit()
        tier = self._tier()
        if tier is not None and self.hits:
            tier._retired_hits += self.hits


def reader(tier: Store) -> Callable[[Hashable], Any]:
    """``MemoryTier.get`` as a closure: the hit is one dict lookup and one ``move_to_end``
    (each a single C call, atomic under the GIL) and a tick, both skipped when the entry is
    already the most recent (``_LAST``), an expiry check that reads the clock only for
    entries with a ttl, and a count (benchmarks/bench_memory.py)."""
    data, move, hits, misses = tier._data, tier._move, tier._hits, tier._misses
    ref = weakref.ref(tier)  # the tier holds this closure: no cycle
    now = time.time
    last = _LAST

    def get(key: Hashable) -> Any:
        try:
            entry = data[key]
            if entry is not last[0]:
                move(key)
                entry.tick = next(clock)
                last[0] = entry
        except KeyError:
            next(misses)
            return MISSING
        exp = entry.expire_at
        if exp is not None and exp <= now():
            owner = ref()
            return MISSING if owner is None else owner._expire(key, entry)
        next(hits)
        return entry.value

    get.__doc__ = type(tier).get.__doc__
    return get
