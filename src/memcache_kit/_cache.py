"""``Cache``: a stack of tiers (memory → disk → remote) with single flight and statistics.

STUB: the cache helper replaces this file. Signatures are the contract; the private methods
taking a ``CacheKey`` are what decorators, proxies and datasets call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

from ._keys import CacheKey
from ._shapes import MISSING, USE_DEFAULT, CacheStats, Missing, UseDefault, VerifyReport

__all__ = ["Cache"]

T = TypeVar("T")
Size = int | str | None
TTL = float | int | str | None


class Cache:
    """A named stack of tiers, each with a byte budget (ints are bytes; strings are parsed)."""

    def __init__(
        self,
        name: str = "default",
        memory: Size = "256MiB",
        disk: Size = "1GiB",
        *,
        directory: str | Path | None = None,
        ttl: TTL = None,
        serializer: str = "pickle",
        copy: bool = False,
        write_through: bool = True,
        spill: bool = True,
        durability: Literal["fast", "strict"] = "fast",
        verify_arrays: bool = False,
        allow_shared_directory: bool = False,
        network_filesystem: Literal["memory-only", "allow"] = "memory-only",
        lock_timeout: float = 60.0,
        policy: Literal["lru"] = "lru",
        record: bool | str | Path = False,
    ) -> None:
        raise NotImplementedError

    # public API (see design.md) -------------------------------------------------------------
    def get(self, key: Any, default: Any = None) -> Any: raise NotImplementedError
    def set(self, key: Any, value: Any, ttl: TTL | UseDefault = USE_DEFAULT) -> None: raise NotImplementedError
    def delete(self, key: Any) -> bool: raise NotImplementedError
    def get_or_load(self, key: Any, loader: Callable[[], T], ttl: TTL | UseDefault = USE_DEFAULT) -> T: raise NotImplementedError
    async def aget(self, key: Any, default: Any = None) -> Any: raise NotImplementedError
    async def aget_or_load(self, key: Any, loader: Callable[[], T | Awaitable[T]], ttl: TTL | UseDefault = USE_DEFAULT) -> T: raise NotImplementedError
    def stats(self) -> CacheStats: raise NotImplementedError
    def verify(self, repair: bool = False) -> VerifyReport: raise NotImplementedError
    def clear(self) -> None: raise NotImplementedError
    def close(self) -> None: raise NotImplementedError

    # internal API for the front (decorators, proxies, datasets) -----------------------------
    def _get(self, key: CacheKey) -> Any | Missing: raise NotImplementedError
    def _set(self, key: CacheKey, value: Any, ttl: TTL | UseDefault = USE_DEFAULT) -> None: raise NotImplementedError
    def _delete(self, key: CacheKey) -> bool: raise NotImplementedError
    def _get_or_load(self, key: CacheKey, loader: Callable[[], T], ttl: TTL | UseDefault = USE_DEFAULT) -> T: raise NotImplementedError
    async def _aget_or_load(self, key: CacheKey, loader: Callable[[], T | Awaitable[T]], ttl: TTL | UseDefault = USE_DEFAULT) -> T: raise NotImplementedError


_ = MISSING
