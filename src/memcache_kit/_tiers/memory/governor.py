"""The process-wide memory governor: every memory tier together stays within ``total_memory``.

Each live memory tier registers here (weakly). A tier stamps every entry with a tick of the one
process-wide :data:`clock` on each set and hit, so the least recently used entry of the whole
process is the oldest of the tiers' LRU heads. When the sum of the tiers' bytes exceeds
``settings.total_memory``, :meth:`Governor.enforce` evicts those heads, oldest first.

Locking: the governor's lock orders concurrent enforcements (two threads must not both free the
same excess); under it the governor takes one tier's lock at a time, never two (a tier never
waits for the governor while holding its own lock, so there is no cycle). ``on_evict`` callbacks
run after every lock is released, in the calling thread.
"""

from __future__ import annotations

import itertools
import os
import threading
import weakref
from collections.abc import Callable, Hashable
from typing import Any, Protocol

from ... import _settings

__all__ = ["Governor", "clock", "governor"]

clock = itertools.count(1)
"""The process-wide access clock; ``next(clock)`` is atomic under the GIL."""


class Governed(Protocol):
    """What the governor needs of a tier (``MemoryTier`` implements it)."""

    def governed_bytes(self) -> int:
        """Bytes the tier holds (read without its lock)."""
        ...

    def lru_head(self) -> tuple[int, Hashable] | None:
        """The tick and key of the tier's least recently used entry, or ``None`` when empty."""
        ...

    def evict_lru(self, excess: int, older_than: int | None) -> tuple[list[Any], int]:
        """Under the tier's lock, evict LRU entries (at least one) until ``excess`` bytes are
        freed or the head is not older than ``older_than``; returns (evicted, bytes freed)."""
        ...

    def dispatch(self, evicted: list[Any]) -> None:
        """Hand evicted entries to the tier's ``on_evict`` (called with no lock held)."""
        ...


class Governor:
    """Knows every live memory tier; evicts the process's least recently used entries first."""

    def __init__(self, cap: Callable[[], int | None] | None = None) -> None:
        # ``cap`` replaces ``settings.total_memory`` (tests run a private governor with it).
        self._cap = cap
        self._tiers: weakref.WeakSet[Any] = weakref.WeakSet()
        # Reentrant: an on_evict callback may set into a tier, which checks the cap again.
        self._lock = threading.RLock()

    @property
    def cap(self) -> int | None:
        """``settings.total_memory`` now (it may change at run time)."""
        if self._cap is not None:
            return self._cap()
        return _settings.settings.total_memory

    def register(self, tier: Governed) -> None:
        with self._lock:
            self._tiers.add(tier)

    def unregister(self, tier: Governed) -> None:
        with self._lock:
            self._tiers.discard(tier)

    def tiers(self) -> list[Governed]:
        return list(self._tiers)

    def total_bytes(self) -> int:
        return sum(t.governed_bytes() for t in list(self._tiers))

    def enforce(self) -> int:
        """Evict across all tiers until their bytes fit ``total_memory``; returns how many.

        Call after the cap changes; tiers call it after each insert. Without a cap it does
        nothing.
        """
        cap = self.cap
        if cap is None:
            return 0
        out: list[tuple[Governed, list[Any]]] = []
        count = 0
        with self._lock:
            while True:
                tiers: list[Governed] = list(self._tiers)
                excess = sum(t.governed_bytes() for t in tiers) - cap
                if excess <= 0:
                    break
                heads: list[tuple[int, int, Governed]] = []
                for i, t in enumerate(tiers):
                    head = t.lru_head()  # one tier's lock at a time
                    if head is not None:
                        heads.append((head[0], i, t))
                if not heads:
                    break
                heads.sort(key=lambda h: (h[0], h[1]))
                victim = heads[0][2]
                # Evict a run from one tier while its head stays older than every other head.
                older_than = heads[1][0] if len(heads) > 1 else None
                evicted, _freed = victim.evict_lru(excess, older_than)
                if evicted:
                    out.append((victim, evicted))
                    count += len(evicted)
        for tier, evicted in out:
            tier.dispatch(evicted)
        return count

    def _after_fork_in_child(self) -> None:
        # The lock may have been held by a thread that does not exist in the child.
        self._lock = threading.RLock()


governor = Governor()
"""The one governor of the process."""

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=governor._after_fork_in_child)
