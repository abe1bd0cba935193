"""Lookups and promotion: memory, then disk, then remote; a hit below is copied up.

The reads below memory run without the key's stripe (reads of one key do not queue behind each
other); the promotion takes it and gives up when a write to the stripe happened meanwhile, so
a value read before a ``set`` or ``delete`` never lands in a tier above after it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Hashable
from typing import Any

from .._keys import CacheKey
from .._observe import record as _record
from .._shapes import MISSING, Missing
from .parts import (
    MEMORY_ONLY,
    ON_DISK,
    STRIPES,
    Meta,
    copy_out,
    remote_expire_at,
    trace_hash,
    trace_size,
)
from .state import CacheState

__all__ = ["Lookups"]

log = logging.getLogger("memcache_kit")
_DEBUG = logging.DEBUG


class Lookups(CacheState):
    """Lookups and promotion (mixed into ``Cache``)."""

    def _get(self, key: CacheKey) -> Any | Missing:
        value = self._lookup(key)
        if value is MISSING:
            self._missed(key)
        return value

    def _lookup(self, key: CacheKey) -> Any | Missing:
        """``_get`` without recording a miss: ``get_or_load`` records the load instead, so a
        loaded key is one request in the trace, not two."""
        value = self._mem_get(key.mem)
        if value is MISSING:
            return self._get_below(key)
        if self._costs:
            self._credit(key.mem)
        return copy_out(value) if self._copy else value

    def _missed(self, key: CacheKey) -> None:
        """A lookup that no tier served and nothing loaded (``get``'s default)."""
        if log.isEnabledFor(_DEBUG):
            log.debug("memcache_kit %s: miss %s", self._name, key.label or key.mem)
        rec = self._rec
        if rec is not None:
            rec(trace_hash(key), 0, 0.0, _record.MISS)

    def _followed(self, key: CacheKey, value: Any) -> None:
        """A caller served by another thread's load of the same key (a hit for the advisor:
        the value is in memory by now)."""
        rec = self._rec
        if rec is not None:
            rec(trace_hash(key), trace_size(value), 0.0, _record.HIT_MEMORY)

    def _recheck(self, key: CacheKey, stripe: int, version: int) -> Any:
        """Look again, for a new leader: a leader that just left may have stored the value.

        Only when a write touched the key's stripe since the first look (so a plain miss is
        counted once per tier).
        """
        if self._versions[stripe] == version:
            return MISSING
        return self._look_again(key)

    def _look_again(self, key: CacheKey, *, quiet: bool = False) -> Any:
        """Memory peeked (no hit or miss counted), then the tiers below (``quiet``: counting
        nothing there either, see ``_get_below``)."""
        mem = self._memory
        if mem is not None:
            value = mem.peek(key.mem)
            if value is not MISSING:
                return self._out(value)
        return self._get_below(key, quiet=quiet)

    def _out(self, value: Any) -> Any:
        return copy_out(value) if self._copy else value

    def _credit(self, mk: Hashable) -> None:
        cost = self._costs.get(mk)
        if cost:
            self._saved[0] += cost

    def _get_below(self, key: CacheKey, *, quiet: bool = False) -> Any:
        """A memory miss: the value in transit to disk, else the disk's, else the remote's,
        promoted into the tiers above where it was found.

        The reads run without the stripe (reads of one key do not queue behind each other);
        the promotion takes it and gives up if a write to the stripe happened since, so a value
        read before a ``set`` or ``delete`` never lands in a tier above after it. ``quiet``
        (a leader looking again after the cross-process lock) asks each tier whether it holds
        the key before reading it, so the first look's miss is not counted twice.
        """
        if self._closed:
            self._reopen()
        mk = key.mem
        if self._pending:
            pending = self._pending.get(mk)
            if pending is not None:
                exp = pending.expire_at
                if exp is None or exp > time.time():
                    return self._out(pending.value)
                return MISSING  # expired on its way to disk: it will not be written
        disk, remote = self._disk, self._remote
        if disk is None and remote is None:
            return MISSING
        i = hash(mk) % STRIPES
        version = self._versions[i]
        value: Any = MISSING
        expire_at: float | None = None
        if disk is not None and (not quiet or key.disk in disk):
            value, expire_at = disk.get_entry(key.disk)
        if value is not MISSING:
            kind = _record.HIT_DISK
        elif remote is not None and (not quiet or key.disk in remote):
            value = remote.get(key.disk)
            if value is MISSING:
                return MISSING
            kind = _record.HIT_REMOTE
            expire_at = None  # asked of Redis only if the value is promoted
        else:
            return MISSING
        cost = self._below_costs.pop(mk, 0.0)
        if cost:
            self._saved[0] += cost
        self._promote(key, value, expire_at, kind, i, version, cost)
        self._run_queued()
        rec = self._rec
        if rec is not None:
            rec(trace_hash(key), trace_size(value), 0.0, kind)
        return self._out(value)

    def _promote(
        self,
        key: CacheKey,
        value: Any,
        expire_at: float | None,
        kind: int,
        i: int,
        version: int,
        cost: float = 0.0,
    ) -> None:
        mem, disk, mk = self._memory, self._disk, key.mem
        from_remote = kind == _record.HIT_REMOTE
        if cost and mem is None:
            self._remember_below(mk, cost)  # every later lower-tier hit saves it again
        if mem is None and not (from_remote and disk is not None):
            return
        if from_remote and self._remote is not None:
            # Outside the stripe: a network round trip.
            expire_at = remote_expire_at(self._remote, key.disk, self._ttl)
        with self._stripes[i]:
            self._tls.held = True
            try:
                if self._versions[i] != version or mk in self._pending:
                    return
                if mem is not None and mk in mem:
                    return
                state = ON_DISK if disk is not None else MEMORY_ONLY
                if from_remote and disk is not None:
                    if disk.set(key.disk, value, expire_at=expire_at, label=key.label):
                        self._disk_promotions += 1
                    else:
                        state = MEMORY_ONLY
                meta = Meta(key, state, cost)
                if mem is not None and mem.set(mk, value, expire_at=expire_at, meta=meta):
                    self._promotions += 1
                    if cost:
                        self._costs[mk] = cost
                elif cost:
                    self._remember_below(mk, cost)
                if log.isEnabledFor(_DEBUG):
                    where = "remote" if from_remote else "disk"
                    log.debug(
                        "memcache_kit %s: promote %s from %s", self._name, key.label or mk, where
                    )
            finally:
                self._tls.held = False
