"""Keys whose older entry may still be on disk: a write or delete of them could not reach it.

Until ``purge`` has removed the older entries (when the disk works again), reads of those keys
miss, so a value that was overwritten or deleted while the disk failed never comes back. The
set is bounded (``STALE_MAX``); past the bound it *overflows* and every read misses until the
next purge.
"""

from __future__ import annotations

from typing import Any

__all__ = ["STALE_MAX", "Stale"]

STALE_MAX = 100_000


class Stale(set[str]):
    """The stale keys. Truthy exactly when there is something to purge (an overflow holds the
    sentinel ``""``), so the hit path's ``if stale`` stays one C-level test."""

    __slots__ = ("overflow",)

    def __init__(self) -> None:
        super().__init__()
        self.overflow = False

    def is_stale(self, key: str) -> bool:
        return self.overflow or key in self

    def mark(self, key: str) -> None:
        """A write or delete of ``key`` could not reach the disk."""
        if len(self) < STALE_MAX:
            self.add(key)
        else:
            self.overflowed()

    def overflowed(self) -> None:
        """Every key is to be treated as stale (the bound was passed, or a clear failed)."""
        self.add("")
        self.overflow = True

    def reset(self) -> None:
        self.clear()
        self.overflow = False

    def purge(self, index: Any) -> None:
        """Remove the stale keys' older entries from ``index`` (a ``diskcache.Cache``); after
        an overflow, everything in it."""
        if self.overflow:
            index.clear()
            self.reset()
            return
        for key in list(self):
            index.delete(key)
            self.discard(key)
