"""Public result shapes and the typed sentinels shared by every layer.

A leaf module: it imports nothing of the package. Every shape is a frozen dataclass with
``to_dict()``; the CLI's ``--json`` prints exactly ``to_dict()``.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any, Final

__all__ = [
    "MISSING",
    "Advice",
    "AdvicePoint",
    "CacheInfo",
    "CacheStats",
    "Missing",
    "TierStats",
    "UseDefault",
    "USE_DEFAULT",
    "VerifyReport",
]


class Missing(enum.Enum):
    """The type of :data:`MISSING`: "no value here" (a cached ``None`` is a value)."""

    MISSING = "MISSING"

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = Missing.MISSING


class UseDefault(enum.Enum):
    """The type of :data:`USE_DEFAULT`: "use the cache's default" (e.g. for ``ttl``)."""

    USE_DEFAULT = "USE_DEFAULT"

    def __repr__(self) -> str:
        return "USE_DEFAULT"


USE_DEFAULT: Final = UseDefault.USE_DEFAULT


class _ToDict:
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary of this shape (nested shapes become dictionaries)."""
        return dataclasses.asdict(self)  # type: ignore[call-overload, no-any-return]


@dataclasses.dataclass(frozen=True)
class TierStats(_ToDict):
    """Counters and occupancy of one tier.

    An eviction is a *spill* when the value remains available in a lower tier;
    ``evictions - spills`` values were dropped.
    """

    hits: int = 0
    misses: int = 0
    evictions: int = 0
    spills: int = 0
    promotions: int = 0
    writes: int = 0
    bytes: int = 0
    items: int = 0
    budget: int = 0


@dataclasses.dataclass(frozen=True)
class CacheStats(_ToDict):
    """What ``Cache.stats()`` returns: per-tier counters and the loader's cost and savings."""

    name: str
    tiers: dict[str, TierStats]
    loads: int = 0
    load_seconds: float = 0.0
    saved_seconds: float = 0.0
    key_bytes: int = 0

    @property
    def hits(self) -> int:
        """Hits in any tier."""
        return sum(t.hits for t in self.tiers.values())

    @property
    def hit_ratio(self) -> float:
        """Requests served by some tier, over all requests (0 when there were none)."""
        first = next(iter(self.tiers.values()), None)
        if first is None:
            return 0.0
        requests = first.hits + first.misses
        return self.hits / requests if requests else 0.0


@dataclasses.dataclass(frozen=True)
class VerifyReport(_ToDict):
    """What ``Cache.verify()`` found (and repaired, with ``repair=True``)."""

    ok: bool
    problems: list[str]
    repaired: int
    tiers: dict[str, dict[str, Any]]


@dataclasses.dataclass(frozen=True)
class AdvicePoint(_ToDict):
    """The modelled outcome of an LRU memory tier at one budget (ratios in 0..1)."""

    budget: int
    hit_ratio: float
    byte_hit_ratio: float
    seconds_saved: float


@dataclasses.dataclass(frozen=True)
class Advice(_ToDict):
    """A miss-ratio curve and the recommended budget (smallest within 1 point of the best)."""

    points: list[AdvicePoint]
    recommended: int
    sampled: float | None = None


@dataclasses.dataclass(frozen=True)
class CacheInfo(_ToDict):
    """``cache_info()`` of a decorated function: functools' fields plus per-tier (hits, misses)."""

    hits: int
    misses: int
    maxsize: int
    currsize: int
    tiers: dict[str, tuple[int, int]]
