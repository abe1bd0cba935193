"""Writes and spills: storing, deleting, and what ``Cache`` does with the entries its memory
tier lets go of.

A write holds its key's stripe (one of 64 locks), so that a slow disk write can never publish
an older value over a newer one; it writes the remote tier, then disk (write-through, or when
the value is too large for memory), then memory.

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
import time
import warnings
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .. import _sizes
from .._errors import CacheWarning
from .._keys import CacheKey
from .._observe import record as _record
from .._shapes import MISSING, USE_DEFAULT, UseDefault
from .._tiers import Evicted
from .._tiers.disk import DiskTier
from .parts import DIRTY, MEMORY_ONLY, ON_DISK, STRIPES, Meta, disk_warned, trace_hash
from .state import TTL, CacheState

if TYPE_CHECKING:
    from .._tiers.disk import DiskTier

__all__ = ["Writes"]

log = logging.getLogger("memcache_kit")


# How many load costs of entries living below memory a cache remembers (~100 B each).
BELOW_COSTS_MAX = 1 << 16


class Writes(CacheState):
    """Writes, deletes, striped per-key write locks and the spill queue (mixed into
    ``Cache``)."""

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

    @contextmanager
    def _all_stripes(self) -> Iterator[None]:
        """Hold every stripe, for an operation on all keys at once (``clear``): no write,
        delete, promotion or spill of any key runs meanwhile. Taken in index order; every
        other path holds at most one stripe, so this cannot deadlock."""
        tls, locks, versions = self._tls, self._stripes, self._versions
        for lock in locks:
            lock.acquire()
        for i in range(STRIPES):
            versions[i] += 1
        tls.held = True
        try:
            yield
        finally:
            for i in range(STRIPES):
                versions[i] += 1
            tls.held = False
            for lock in reversed(locks):
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

    def _set(self, key: CacheKey, value: Any, ttl: TTL | UseDefault = USE_DEFAULT) -> None:
        self._store(key, value, self._expire_at(ttl), 0.0)
        rec = self._rec
        if rec is not None:
            rec(trace_hash(key), _sizes.sizeof(value), 0.0, _record.SET)

    def _delete(self, key: CacheKey) -> bool:
        self._check_open()
        with self._stripe(key.mem):
            mem, disk, remote = self._memory, self._disk, self._remote
            found = mem.delete(key.mem) if mem is not None else False
            pending = self._pending.pop(key.mem, None)
            live = pending is not None and pending.value is not MISSING
            found = (live and not _expired(pending.expire_at)) or found  # type: ignore[union-attr]
            self._costs.pop(key.mem, None)
            self._below_costs.pop(key.mem, None)
            if disk is not None:
                found = disk.delete(key.disk) or found
            if remote is not None:
                found = remote.delete(key.disk) or found
        return found

    def _store(self, key: CacheKey, value: Any, expire_at: float | None, cost: float) -> None:
        self._check_open()
        value = _sizes.compact(value)
        mem, disk, remote = self._memory, self._disk, self._remote
        size = _sizes.sizeof(value) if mem is not None else 0
        fits = mem is not None and size <= mem.budget
        shared = False
        with self._stripe(key.mem):
            if remote is not None:
                # Always written through: the remote tier exists to share values right away.
                shared = remote.set(key.disk, value, expire_at=expire_at)
            self._pending.pop(key.mem, None)
            state = MEMORY_ONLY if disk is None else DIRTY
            if disk is not None and (self._write_through or not fits):
                state = self._write_disk(disk, key, value, expire_at)
            stored = False
            if mem is not None:
                if fits:
                    meta = Meta(key, state, cost)
                    stored = mem.set(key.mem, value, expire_at=expire_at, size=size, meta=meta)
                else:
                    mem.delete(key.mem)  # an older, smaller value must not shadow this one
                if not stored and state == DIRTY and disk is not None:
                    # the memory tier refused after all (the process-wide cap): straight down
                    state = self._write_disk(disk, key, value, expire_at)
            self._below_costs.pop(key.mem, None)
            if stored and cost:
                self._costs[key.mem] = cost
            else:
                self._costs.pop(key.mem, None)
                if cost and state == ON_DISK:
                    self._remember_below(key.mem, cost)
        if (
            not stored
            and state != ON_DISK
            and not shared
            and (mem is not None or disk is not None)
            and not disk_warned(disk, value)
        ):
            self._warn_once(
                "not-stored",
                f"cache {self._name!r}: a {type(value).__name__} value ({size} bytes in memory) "
                f"fits no tier (memory budget {self.memory_budget}, disk budget "
                f"{self.disk_budget}, or the disk tier cannot serialize it); it is returned but "
                "not stored. Further such values are not reported.",
            )

    def _write_disk(
        self, disk: DiskTier, key: CacheKey, value: Any, expire_at: float | None
    ) -> int:
        if disk.set(key.disk, value, expire_at=expire_at, label=key.label):
            return ON_DISK
        # Declined (too large for the disk budget, unserializable, tier degraded): an older
        # value there must not come back in place of this one.
        disk.delete(key.disk)
        return MEMORY_ONLY

    def _warn_once(self, what: str, message: str) -> None:
        if what in self._warned:
            return
        self._warned.add(what)
        warnings.warn(message, CacheWarning, stacklevel=4)


def _expired(expire_at: float | None) -> bool:
    return expire_at is not None and expire_at <= time.time()
