"""The ``memcache_kit`` logger: one-line DEBUG events for miss, load, promote, evict and spill
(never on a memory hit), and one WARNING for a degraded tier or a corrupt entry (the tiers' own,
not repeated by the cache)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from memcache_kit._cache.cache import Cache


def messages(caplog: pytest.LogCaptureFixture, level: int = logging.DEBUG) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == "memcache_kit" and r.levelno == level
    ]


def test_debug_events_for_miss_load_promote_evict_and_spill(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    c = Cache("logs", memory=3000, disk="16MiB", directory=tmp_path, write_through=False)
    with caplog.at_level(logging.DEBUG, logger="memcache_kit"):
        c.get_or_load("a", lambda: b"x" * 1000)
        caplog.clear()
        assert c.get("a") == b"x" * 1000  # a memory hit logs nothing
        assert messages(caplog) == []
        assert c.get("missing") is None
        c.get_or_load("b", lambda: b"y" * 1000)
        c.get_or_load("c", lambda: b"z" * 1000)  # evicts "a" (write-back: spilled to disk)
        c.memory_budget = 0
        c.memory_budget = 3000
        assert c.get("c") == b"z" * 1000  # promoted from disk
    lines = messages(caplog)
    assert all("\n" not in line for line in lines)
    assert any(line.startswith("memcache_kit logs: miss") for line in lines)
    assert any(line.startswith("memcache_kit logs: load") for line in lines)
    assert any(line.startswith("memcache_kit logs: evict") for line in lines)
    assert any(line.startswith("memcache_kit logs: spill") for line in lines)
    assert any(line.startswith("memcache_kit logs: promote") and "from disk" in line
               for line in lines)  # fmt: skip
    c.close()


def test_no_debug_work_when_the_level_is_higher(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    c = Cache("quiet", memory="1MiB", disk=0, directory=tmp_path)
    with caplog.at_level(logging.INFO, logger="memcache_kit"):
        c.get_or_load("a", lambda: 1)
        c.get("nothing")
    assert caplog.records == []
    c.close()


def test_a_corrupt_disk_entry_warns_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    c = Cache("corrupt", memory=0, disk="16MiB", directory=tmp_path)
    for i in range(3):
        c.set(i, "value" * 1000)
    c.close()
    # damage every stored row's signature: each read is a corrupt entry
    import sqlite3

    db = next(p for p in tmp_path.rglob("*.db"))
    con = sqlite3.connect(db)  # diskcache's index: the sealed values are in Cache.value
    assert con.execute("update Cache set value = x'00112233445566778899'").rowcount == 3
    con.commit()
    con.close()
    c = Cache("corrupt", memory=0, disk="16MiB", directory=tmp_path)
    with caplog.at_level(logging.WARNING, logger="memcache_kit"):
        for i in range(3):
            assert c.get(i) is None
    warned = messages(caplog, logging.WARNING)
    assert len(warned) == 1, warned
    assert "corrupt" in warned[0] or "unusable" in warned[0] or "forged" in warned[0], warned
    c.close()
