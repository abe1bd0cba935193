"""One contract suite for every tier (``_tiers.base.Tier``), run with string keys.

Each tier is built by a factory in ``TIERS``; the Redis tier joins by adding one. Every test
ends with the tier's own ``verify()`` reporting no problem (the ``tier`` fixture's teardown).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from memcache_kit._shapes import MISSING, TierStats
from memcache_kit._tiers.base import Tier
from memcache_kit._tiers.disk.tier import DiskTier
from memcache_kit._tiers.memory.tier import MemoryTier

BUDGET = 1_000_000

Factory = Callable[[Path, int], Any]


def _memory(tmp: Path, budget: int) -> MemoryTier:
    return MemoryTier(budget)


def _disk(tmp: Path, budget: int) -> DiskTier:
    return DiskTier(tmp / "disk", budget)


TIERS: dict[str, Factory] = {"memory": _memory, "disk": _disk}


def key(i: int) -> str:
    """A disk-key shaped string (32 hex digits), accepted by every tier."""
    return f"{i:032x}"


@pytest.fixture(params=sorted(TIERS))
def make(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Factory]:
    made: list[Any] = []

    def factory(tmp: Path = tmp_path, budget: int = BUDGET) -> Any:
        tier = TIERS[request.param](tmp, budget)
        made.append(tier)
        return tier

    yield factory  # type: ignore[misc]
    for tier in made:
        problems, _, _ = tier.verify()
        assert problems == [], f"{tier.name}: {problems}"
        tier.close()


@pytest.fixture
def tier(make: Factory, tmp_path: Path) -> Any:
    return make(tmp_path, BUDGET)


def test_is_a_tier(tier: Any) -> None:
    assert isinstance(tier, Tier)
    assert tier.name in TIERS


def test_get_missing_is_MISSING(tier: Any) -> None:
    assert tier.get(key(1)) is MISSING
    assert key(1) not in tier


def test_set_get_round_trip(tier: Any) -> None:
    values: list[Any] = [b"bytes", "text", 12, 1.5, None, [1, 2], {"a": (1, 2)}]
    for i, v in enumerate(values):
        assert tier.set(key(i), v) is True
    for i, v in enumerate(values):
        assert tier.get(key(i)) == v
        assert key(i) in tier


def test_none_is_a_value(tier: Any) -> None:
    tier.set(key(1), None)
    assert tier.get(key(1)) is None
    assert key(1) in tier


def test_overwrite_replaces(tier: Any) -> None:
    tier.set(key(1), "old")
    tier.set(key(1), "new")
    assert tier.get(key(1)) == "new"
    assert tier.stats().items == 1


def test_delete(tier: Any) -> None:
    tier.set(key(1), "v")
    assert tier.delete(key(1)) is True
    assert tier.get(key(1)) is MISSING
    assert tier.delete(key(1)) is False


def test_clear(tier: Any) -> None:
    for i in range(10):
        tier.set(key(i), i)
    tier.clear()
    assert all(tier.get(key(i)) is MISSING for i in range(10))
    assert tier.stats().items == 0
    assert tier.stats().bytes == 0


def test_expired_entry_is_a_miss(tier: Any) -> None:
    tier.set(key(1), "gone", expire_at=time.time() - 1)
    tier.set(key(2), "stays", expire_at=time.time() + 3600)
    assert tier.get(key(1)) is MISSING
    assert key(1) not in tier
    assert tier.get(key(2)) == "stays"


def test_entry_expires_later(tier: Any) -> None:
    tier.set(key(1), "short", expire_at=time.time() + 0.05)
    time.sleep(0.2)
    assert tier.get(key(1)) is MISSING


def test_budget_is_held(make: Factory, tmp_path: Path) -> None:
    tier = make(tmp_path, 200_000)
    for i in range(50):
        assert tier.set(key(i), bytes(10_000) + bytes([i]))
        assert tier.stats().bytes <= 200_000
    s = tier.stats()
    assert s.evictions > 0
    assert 0 < s.items < 50
    # the most recent entry survives
    assert tier.get(key(49)) == bytes(10_000) + bytes([49])


def test_budget_resize(tier: Any) -> None:
    for i in range(40):
        tier.set(key(i), bytes(10_000) + bytes([i]))
    assert tier.budget == BUDGET
    tier.budget = 100_000
    assert tier.budget == 100_000
    assert tier.stats().bytes <= 100_000
    tier.budget = BUDGET
    assert tier.stats().budget == BUDGET


def test_too_large_is_declined(tier: Any) -> None:
    assert tier.set(key(1), bytes(BUDGET * 2)) is False
    assert tier.get(key(1)) is MISSING
    assert tier.stats().items == 0


def test_too_large_replaces_older_value(tier: Any) -> None:
    tier.set(key(1), "small")
    assert tier.set(key(1), bytes(BUDGET * 2)) is False
    # never the stale value in place of the one that did not fit
    assert tier.get(key(1)) is MISSING


def test_stats_counters(tier: Any) -> None:
    tier.set(key(1), "v" * 100)
    tier.get(key(1))
    tier.get(key(2))
    s = tier.stats()
    assert isinstance(s, TierStats)
    assert (s.hits, s.misses, s.writes, s.items) == (1, 1, 1, 1)
    assert s.bytes > 0
    assert s.budget == BUDGET
    assert set(s.to_dict()) == {
        "hits",
        "misses",
        "evictions",
        "spills",
        "promotions",
        "writes",
        "bytes",
        "items",
        "budget",
    }


def test_verify_shape(tier: Any) -> None:
    tier.set(key(1), "v")
    problems, repaired, details = tier.verify(repair=True)
    assert problems == []
    assert isinstance(repaired, int)
    assert isinstance(details, dict)
