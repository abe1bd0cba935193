"""Single flight for ``get_or_load``: one loader run per key in the process (``flight``), and
across processes that share a tier, the key's cross-process lock taken by the run's leader,
who looks below again before it loads.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, cast

from .. import _sizes
from .._keys import CacheKey
from .._observe import record as _record
from .._shapes import MISSING, USE_DEFAULT, UseDefault
from . import options as env
from .flight import Abandoned, SharedLock, ashared_lock, shared_lock
from .parts import STRIPES, trace_hash
from .state import TTL, CacheState, T

__all__ = ["Loading"]

log = logging.getLogger("memcache_kit")
_DEBUG = logging.DEBUG


class Loading(CacheState):
    """``get_or_load`` with single flight, and load accounting (mixed into ``Cache``)."""

    def _get_or_load(
        self,
        key: CacheKey,
        loader: Callable[[], T],
        ttl: TTL | UseDefault = USE_DEFAULT,
        *,
        memory_checked: bool = False,
    ) -> T:
        seconds = self._ttl_seconds(ttl)
        stripe = hash(key.mem) % STRIPES
        while True:
            version = self._versions[stripe]
            # After the caller's own memory miss, memory is peeked (not counted twice) but
            # after the snapshot, so a write that lands in between is found or re-checked.
            value = self._look_again(key) if memory_checked else self._lookup(key)
            if value is not MISSING:
                return cast(T, value)
            memory_checked = False
            call, leader = self._flight.begin(key.mem)
            if not leader:
                try:
                    value = call.wait()
                except Abandoned:
                    continue
                self._followed(key, value)
                return cast(T, self._out(value))
            break
        with self._flight.leading(key.mem, call):
            value = self._recheck(key, stripe, version)
            if value is MISSING:
                lock = self._shared_lock(key)
                try:
                    if lock is not None:
                        # Another process may have stored it while this one waited (or just
                        # before it took the lock).
                        value = self._get_below(key, quiet=True)
                    if value is MISSING:
                        value = self._load(key, loader, seconds)
                finally:
                    if lock is not None:
                        lock.release()
            call.set_result(value)
            return cast(T, self._out(value))

    def _load(self, key: CacheKey, loader: Callable[[], T], seconds: float | None) -> T:
        if log.isEnabledFor(_DEBUG):
            log.debug("memcache_kit %s: miss %s: loading", self._name, key.label or key.mem)
        started = time.perf_counter()
        value = loader()
        cost = time.perf_counter() - started
        self._loaded(key, value, cost)
        expire_at = None if seconds is None else time.time() + seconds
        self._store(key, value, expire_at, cost)
        return value

    def _loaded(self, key: CacheKey, value: Any, cost: float) -> None:
        self._count_load(cost)
        if log.isEnabledFor(_DEBUG):
            log.debug("memcache_kit %s: load %s: %.6f s", self._name, key.label or key.mem, cost)
        rec = self._rec
        if rec is not None:
            rec(trace_hash(key), _sizes.sizeof(value), cost, _record.MISS)

    def _shared_lock(self, key: CacheKey) -> SharedLock | None:
        """The key's cross-process lock, when the cache shares a tier (see ``flight``)."""
        remote, disk = self._remote, self._disk
        if remote is None and disk is None:
            return None
        directory = self._directory if disk is not None else None
        return self._gave_up(key, shared_lock(key.disk, remote, directory, self._lock_timeout))

    async def _ashared_lock(self, key: CacheKey) -> SharedLock | None:
        """``_shared_lock`` for a task: waits without holding a worker thread."""
        remote, disk = self._remote, self._disk
        if remote is None and disk is None:
            return None
        directory = self._directory if disk is not None else None
        lock = await ashared_lock(key.disk, remote, directory, self._lock_timeout)
        return self._gave_up(key, lock)

    def _gave_up(self, key: CacheKey, lock: SharedLock | None) -> SharedLock | None:
        if lock is not None and not lock.held and lock.waited and log.isEnabledFor(_DEBUG):
            log.debug(
                "memcache_kit %s: gave up waiting %.1f s for another process's load of %s; "
                "loading here",
                self._name, lock.waited, key.label or key.mem,
            )  # fmt: skip
        return lock

    def _count_load(self, seconds: float) -> None:
        with self._stat_lock:
            self._loads += 1
            self._load_seconds += seconds

    def _ttl_seconds(self, ttl: TTL | UseDefault) -> float | None:
        return self._ttl if ttl is USE_DEFAULT else env.ttl_seconds(ttl)

    def _expire_at(self, ttl: TTL | UseDefault) -> float | None:
        seconds = self._ttl_seconds(ttl)
        return None if seconds is None else time.time() + seconds
