"""Spilling: what ``Cache`` does with the entries its memory tier lets go of.

Under write-through an evicted entry is already on disk: it is dropped (and counted as a
spill). Under write-back it is *dirty*: it waits in ``_pending`` (where reads still find it)
until it is written to disk under its key's stripe, unless a newer write or a delete of the
key came first. ``spill=False`` (or an expired entry) deletes the older disk copy instead, so
it can never come back in place of the value that was forgotten.

The memory tier calls ``on_evict`` in the thread that caused the eviction, after releasing
its lock. That thread may hold a stripe (evictions happen inside ``set``): the spills are then
queued and run when it lets go, so stripes never nest and never deadlock.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from .._shapes import MISSING
from .._tiers import Evicted
from .parts import (
    DIRTY,
    ON_DISK,
    STRIPES,
    Meta,
)

if TYPE_CHECKING:
    from .._tiers.disk import DiskTier

__all__ = ["SpillMixin"]

log = logging.getLogger("memcache_kit")

# How many load costs of entries living below memory a cache remembers (~100 B each).
BELOW_COSTS_MAX = 1 << 16


class SpillMixin:
    """Striped per-key write locks and the spill queue, mixed into ``Cache``."""

    _tls: threading.local
    _stripes: list[threading.Lock]
    _versions: list[int]
    _pending: dict[Hashable, Evicted]
    _costs: dict[Hashable, float]
    _below_costs: OrderedDict[Hashable, float]
    _disk: DiskTier | None
    _spill: bool
    _spills: int
    _name: str

    def _remember_below(self, mk: Hashable, cost: float) -> None:
        """Keep the load cost of an entry that left memory but stays on disk (or remote), so
        a later lower-tier hit is credited with the load it saved."""
        below = self._below_costs
        below[mk] = cost
        if len(below) > BELOW_COSTS_MAX:
            with contextlib.suppress(KeyError):  # another thread trimmed it first
                below.popitem(last=False)

    @contextmanager
    def _stripe(self, mk: Hashable) -> Iterator[None]:
        """Hold ``mk``'s stripe for a write; spills queued meanwhile run after it is released.

        Each write bumps the stripe's version as it starts and as it ends, so a reader that
        went to disk without the stripe can tell that a write may have raced it (see
        ``Cache._get_below`` and ``Cache._recheck``).
        """
        tls = self._tls
        i = hash(mk) % STRIPES
        lock = self._stripes[i]
        lock.acquire()
        self._versions[i] += 1
        tls.held = True
        try:
            yield
        finally:
            # Bumped again at the end: a reader that looked while the write ran must see a
            # change once it is done (the first bump alone would already be in its snapshot).
            self._versions[i] += 1
            tls.held = False
            lock.release()
        self._run_queued()

    def _run_queued(self) -> None:
        tls = self._tls
        queued: list[Evicted] | None = getattr(tls, "queued", None)
        if queued:
            tls.queued = []
            for e in queued:
                self._spill_one(e)

    def _on_evict(self, entries: list[Evicted]) -> None:
        """The memory tier let go of ``entries`` (called outside its lock)."""
        now = time.time()
        debug = log.isEnabledFor(logging.DEBUG)
        for e in entries:
            meta = e.meta
            cost = self._costs.pop(e.key, None)
            if debug:
                label = meta.key.label if isinstance(meta, Meta) else ""
                log.debug("memcache_kit %s: evict %s from memory", self._name, label or e.key)
            if not isinstance(meta, Meta):
                continue
            if meta.state == ON_DISK:
                self._spills += 1
                if cost:
                    self._remember_below(e.key, cost)
                continue
            if meta.state != DIRTY or self._disk is None:
                continue
            if (e.expire_at is not None and e.expire_at <= now) or not self._spill:
                # Forgotten: an older copy on disk must not come back in its place.
                e = Evicted(e.key, MISSING, e.expire_at, meta)
            elif cost:
                self._remember_below(e.key, cost)
            self._pending[e.key] = e
            # Between the memory tier letting go and this line, the value was in neither
            # place: a reader that looked then sees the stripe change and looks again.
            self._versions[hash(e.key) % STRIPES] += 1
            tls = self._tls
            if getattr(tls, "held", False):
                queued: list[Evicted] | None = getattr(tls, "queued", None)
                if queued is None:
                    queued = tls.queued = []
                queued.append(e)
            else:
                self._spill_one(e)

    def _spill_one(self, e: Evicted) -> None:
        meta: Meta = e.meta
        with self._stripe(e.key):
            if self._pending.get(e.key) is not e:
                return  # overwritten or deleted meanwhile
            disk = self._disk
            try:
                if disk is None:
                    return
                if e.value is MISSING:
                    disk.delete(meta.key.disk)
                elif disk.set(meta.key.disk, e.value, expire_at=e.expire_at, label=meta.key.label):
                    self._spills += 1
                    if log.isEnabledFor(logging.DEBUG):
                        log.debug(
                            "memcache_kit %s: spill %s to disk", self._name,
                            meta.key.label or e.key,
                        )  # fmt: skip
                else:
                    disk.delete(meta.key.disk)
            finally:
                if self._pending.get(e.key) is e:
                    del self._pending[e.key]
