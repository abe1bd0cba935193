"""The asyncio face of ``Cache``: nothing here blocks the event loop on disk I/O.

Memory hits are answered inline (a few dictionary operations); disk reads, sync loaders and
writes that reach disk run in worker threads (``asyncio.to_thread``). Tasks and threads share
one in-flight table (``flight``), so a key loads once whichever side asks.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

from .._keys import CacheKey, make_key
from .._shapes import MISSING, USE_DEFAULT, UseDefault
from .flight import Abandoned, SharedLock
from .parts import STRIPES, copy_out, mem_key
from .state import TTL, CacheState, T

if TYPE_CHECKING:
    pass

__all__ = ["AsyncMixin"]


class AsyncMixin(CacheState):
    """``aget``, ``aget_or_load`` and their ``CacheKey`` forms, mixed into ``Cache``."""

    async def aget(self, key: Any, default: Any = None) -> Any:
        """``get`` for coroutines: disk reads run in a worker thread, never on the loop."""
        mk = mem_key(key)
        value = self._mem_get(mk)
        if value is MISSING:
            ckey = make_key(key)
            value = await self._aget_below(ckey)
            if value is MISSING:
                self._missed(ckey)
                return default
        elif self._costs:
            self._credit(mk)
        return copy_out(value) if self._copy else value

    async def aget_or_load(
        self,
        key: Any,
        loader: Callable[[], T | Awaitable[T]],
        ttl: TTL | UseDefault = USE_DEFAULT,
    ) -> T:
        """``get_or_load`` for coroutines; ``loader`` may be sync (run in a thread) or async."""
        mk = mem_key(key)
        value = self._mem_get(mk)
        if value is MISSING:
            return await self._aget_or_load(make_key(key), loader, ttl, memory_checked=True)
        if self._costs:
            self._credit(mk)
        return cast(T, copy_out(value) if self._copy else value)

    async def _aget_or_load(
        self,
        key: CacheKey,
        loader: Callable[[], T | Awaitable[T]],
        ttl: TTL | UseDefault = USE_DEFAULT,
        *,
        memory_checked: bool = False,
    ) -> T:
        seconds = self._ttl_seconds(ttl)
        stripe = hash(key.mem) % STRIPES
        while True:
            version = self._versions[stripe]
            if memory_checked:
                value = await self._alook_again(key)
            else:
                value = await self._aget(key)
            if value is not MISSING:
                return cast(T, value)
            memory_checked = False
            call, leader = self._flight.begin(key.mem)
            if not leader:
                try:
                    value = await call.wait_async()
                except Abandoned:
                    continue
                self._followed(key, value)
                return cast(T, self._out(value))
            break
        with self._flight.leading(key.mem, call):
            value = MISSING
            if self._versions[stripe] != version:
                value = await asyncio.to_thread(self._recheck, key, stripe, version)
            if value is MISSING:
                # The cross-process wait polls from the loop; the look after it is disk I/O.
                lock = await self._ashared_lock(key)
                try:
                    if lock is not None:
                        value = await asyncio.to_thread(self._get_below, key, quiet=True)
                    if value is MISSING:
                        value = await self._aload(key, loader, seconds)
                finally:
                    if lock is not None:
                        await _release(lock)
            call.set_result(value)
            return cast(T, self._out(value))

    async def _aload(
        self, key: CacheKey, loader: Callable[[], T | Awaitable[T]], seconds: float | None
    ) -> Any:
        started = time.perf_counter()
        if inspect.iscoroutinefunction(loader):
            value = await loader()
        else:
            value = await asyncio.to_thread(loader)
            if inspect.isawaitable(value):
                value = await value
        cost = time.perf_counter() - started
        self._loaded(key, value, cost)
        expire_at = None if seconds is None else time.time() + seconds
        if self._disk is not None or self._remote is not None:
            await asyncio.to_thread(self._store, key, value, expire_at, cost)
        else:
            self._store(key, value, expire_at, cost)
        return value

    async def _aget(self, key: CacheKey) -> Any:
        value = self._mem_get(key.mem)
        if value is MISSING:
            return await self._aget_below(key)
        if self._costs:
            self._credit(key.mem)
        return copy_out(value) if self._copy else value

    async def _alook_again(self, key: CacheKey) -> Any:
        mem = self._memory
        if mem is not None:
            value = mem.peek(key.mem)
            if value is not MISSING:
                return self._out(value)
        return await self._aget_below(key)

    async def _aget_below(self, key: CacheKey) -> Any:
        if self._disk is None and self._remote is None and not self._pending and not self._closed:
            return MISSING
        return await asyncio.to_thread(self._get_below, key)


async def _release(lock: SharedLock) -> None:
    # Releasing a Redis lock is a network call; a lock file's is two system calls.
    if type(lock).__name__ == "FileLock":
        lock.release()
    else:
        await asyncio.to_thread(lock.release)
