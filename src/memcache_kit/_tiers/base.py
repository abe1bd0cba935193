"""The tier interface that ``Cache`` composes.

Keys: the memory tier takes any hashable *memory key* (see ``_keys.memory_key``); the disk and
remote tiers take the 32-hex-digit *disk key* string (``CacheKey.disk``). The contract suite in
``tests/tiers/test_tier_contract.py`` runs against every tier with string keys.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, NamedTuple, Protocol, runtime_checkable

from .._shapes import TierStats

__all__ = ["Degradable", "Evicted", "Tier"]


class Evicted(NamedTuple):
    """An entry the memory tier let go of; handed to ``on_evict`` outside the tier's lock."""

    key: Hashable
    value: Any
    expire_at: float | None
    meta: Any


@runtime_checkable
class Tier(Protocol):
    """A bounded key-value store with per-entry expiry.

    ``get`` returns ``MISSING`` for a miss, an expired entry, or an entry that cannot be read
    back faithfully (corrupt, forged, of another format version): never an exception, never a
    wrong value. ``set`` returns whether the value was stored; it declines (``False``) a value
    larger than the tier's budget, or one the tier cannot hold (unpicklable, tier degraded).
    """

    name: str

    @property
    def budget(self) -> int: ...

    @budget.setter
    def budget(self, value: int) -> None: ...

    def get(self, key: Any) -> Any: ...

    def set(self, key: Any, value: Any, *, expire_at: float | None = None) -> bool: ...

    def delete(self, key: Any) -> bool: ...

    def __contains__(self, key: object) -> bool: ...

    def clear(self) -> None: ...

    def stats(self) -> TierStats: ...

    def verify(self, repair: bool = False) -> tuple[list[str], int, dict[str, Any]]:
        """Check invariants; returns (problems, repaired count, details for the report)."""
        ...

    def close(self) -> None: ...


class Degradable(Protocol):
    """A lower tier's failure state, as its ``verify`` reports it: a tier that meets faults
    (a full disk, an unreachable server) degrades instead of raising."""

    @property
    def budget(self) -> int: ...
    @property
    def degraded(self) -> bool: ...
    @property
    def faults(self) -> dict[str, int]:
        """Faults met, by exception type."""
        ...

    @property
    def bad_entries(self) -> dict[str, int]:
        """Unusable entries met by reads, by kind (forged, format, truncated, ...)."""
        ...
