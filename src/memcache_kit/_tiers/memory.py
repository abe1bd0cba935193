"""The memory tier: an LRU bounded in bytes on cachetools' ``LRUCache``.

STUB: the memory-tier helper replaces this file. Signatures are the contract.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from .._shapes import TierStats
from .base import Evicted

__all__ = ["MemoryTier"]


class MemoryTier:
    """Thread-safe byte-bounded LRU; lock-free reads under the GIL; no I/O under its lock.

    ``on_evict`` receives the entries it let go of (budget pressure, resize, the process-wide
    governor), called in the thread that caused the eviction after the lock is released.
    ``meta`` is opaque to the tier and handed back on eviction (``Cache`` keeps the disk key
    and a dirty flag there).
    """

    name = "memory"

    def __init__(
        self,
        budget: int,
        *,
        sizer: Callable[[Any], int] | None = None,
        on_evict: Callable[[list[Evicted]], None] | None = None,
        max_memmaps: int = 1024,
    ) -> None:
        raise NotImplementedError

    @property
    def budget(self) -> int:
        raise NotImplementedError

    @budget.setter
    def budget(self, value: int) -> None:
        raise NotImplementedError

    def get(self, key: Hashable) -> Any:
        """The value, or ``MISSING`` (absent or expired)."""
        raise NotImplementedError

    def set(
        self,
        key: Hashable,
        value: Any,
        *,
        expire_at: float | None = None,
        size: int | None = None,
        meta: Any = None,
    ) -> bool:
        """Store; ``False`` (not stored) when the value is larger than the budget."""
        raise NotImplementedError

    def get_meta(self, key: Hashable) -> Any:
        """The ``meta`` stored with ``key``, or ``MISSING``."""
        raise NotImplementedError

    def delete(self, key: Hashable) -> bool:
        raise NotImplementedError

    def __contains__(self, key: object) -> bool:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError

    def clear(self) -> None:
        raise NotImplementedError

    def drain(self) -> list[Evicted]:
        """Remove and return every entry (for write-back flush at close)."""
        raise NotImplementedError

    def stats(self) -> TierStats:
        raise NotImplementedError

    def verify(self, repair: bool = False) -> tuple[list[str], int, dict[str, Any]]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError
