"""mk.report(cache): the memory tier's contents by type, adding up to stats()."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

import memcache_kit as mk
from memcache_kit._cache import handle
from memcache_kit._observe.report import MemoryReport, TypeRow, report


def test_report_by_type_adds_up_to_the_tier() -> None:
    c = mk.Cache("rep", memory="4MiB", disk=None)
    for i in range(3):
        c.set(("a", i), np.zeros(10_000))
    c.set("d", {"x": [1, 2, 3]})
    c.set("b", b"z" * 5000)
    r = report(c)
    mem = c.stats().tiers["memory"]
    assert (r.items, r.bytes, r.budget) == (mem.items, mem.bytes, mem.budget)
    assert r.types[0] == TypeRow("numpy.ndarray", 3, r.types[0].bytes, r.types[0].share)
    assert {t.type for t in r.types} == {"numpy.ndarray", "dict", "bytes"}
    assert sum(t.count for t in r.types) == 5
    assert sum(t.bytes for t in r.types) == mem.bytes
    assert abs(sum(t.share for t in r.types) - 1) < 1e-9
    assert [t.bytes for t in r.types] == sorted((t.bytes for t in r.types), reverse=True)
    assert r.deep is None
    d = json.loads(json.dumps(r.to_dict()))
    assert d["types"][0]["type"] == "numpy.ndarray"
    text = str(r)
    assert "numpy.ndarray" in text and "'rep'" in text


def test_deep_uses_pympler_to_show_what_containers_hold() -> None:
    c = mk.Cache("rep", memory="4MiB", disk=None)
    c.set("d", {"k": [f"s{i}" for i in range(100)]})
    r = report(c, deep=True)
    assert r.deep is not None
    names = {t.type for t in r.deep}
    assert {"dict", "list", "str"} <= names
    assert next(t for t in r.deep if t.type == "str").count >= 100
    assert "pympler" in str(r)


def test_a_cache_without_memory_tier_reports_nothing() -> None:
    c = mk.Cache("rep", memory=0, disk=None)
    r = report(c)
    assert r == MemoryReport("rep", 0, 0, 0, [], None)
    assert "tier off" in str(r)


def test_report_of_a_closed_cache_is_empty_and_does_not_reopen_it(tmp_path: Path) -> None:
    cache = mk.Cache("closed", memory="1MiB", disk="4MiB", directory=tmp_path)
    cache.set("a", b"x" * 1000)
    cache.close()
    r = report(cache)
    assert r.items == 0 and r.types == []
    assert handle(cache).memory_tier() is None  # still closed
