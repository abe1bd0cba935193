"""The disk tier: diskcache with its own byte budget, ``.npy`` arrays, authenticated pickles.

STUB: the disk helper replaces this file. Signatures are the contract.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from .._shapes import TierStats

__all__ = ["DiskTier"]


class DiskTier:
    """Keys are disk-key strings (32 hex digits). Any unreadable entry is a miss."""

    name = "disk"

    def __init__(
        self,
        directory: str | Path,
        budget: int,
        *,
        serializer: str = "pickle",
        durability: Literal["fast", "strict"] = "fast",
        verify_arrays: bool = False,
        allow_shared_directory: bool = False,
        secret: bytes | None = None,
    ) -> None:
        raise NotImplementedError

    directory: Path

    @property
    def budget(self) -> int:
        raise NotImplementedError

    @budget.setter
    def budget(self, value: int) -> None:
        raise NotImplementedError

    def get(self, key: str) -> Any:
        raise NotImplementedError

    def set(self, key: str, value: Any, *, expire_at: float | None = None, label: str = "") -> bool:
        raise NotImplementedError

    def delete(self, key: str) -> bool:
        raise NotImplementedError

    def __contains__(self, key: object) -> bool:
        raise NotImplementedError

    def clear(self) -> None:
        raise NotImplementedError

    def stats(self) -> TierStats:
        raise NotImplementedError

    def verify(self, repair: bool = False) -> tuple[list[str], int, dict[str, Any]]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError
