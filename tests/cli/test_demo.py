"""``memcache-kit demo`` in a subprocess, small: its figures hold and it leaves nothing behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ITEMS = 12


def demo(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "memcache_kit", "demo", "--directory", str(tmp_path / "c"), *args],
        env={**os.environ, "COLUMNS": "200", "MEMCACHE_KIT_DEMO_ITEMS": str(ITEMS)},
        cwd=work,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_demo_figures(tmp_path: Path) -> None:
    out = demo(tmp_path, "--json")
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert r["items"] == ITEMS
    assert r["memory_budget"] <= r["working_set"] // 4
    p1, p2, p3 = r["passes"]
    # Every item is loaded once, in pass 1; pass 2 and a new process never call the loader.
    assert (p1["loads"], p2["loads"], p3["loads"]) == (ITEMS, 0, 0)
    for p in r["passes"]:
        assert p["peak_held"] <= r["memory_budget"]
        # Every request is a loader call or a hit in exactly one tier.
        assert p["loads"] + p["memory_hits"] + p["disk_hits"] == p["requests"] == ITEMS
    assert p3["memory_hits"] == 0 and p3["disk_hits"] == ITEMS  # a new process: all from disk
    mem = r["stats"]["tiers"]["memory"]
    assert mem["spills"] <= mem["evictions"] and mem["evictions"] > 0
    assert r["stats"]["tiers"]["disk"]["items"] == ITEMS
    assert r["saved_seconds"] > 0
    advice = r["advice"]
    assert advice["points"] and advice["recommended"] in [p["budget"] for p in advice["points"]]
    # Two shuffled passes: an LRU tier gets every second-pass request at the working set.
    best = max(p["hit_ratio"] for p in advice["points"])
    assert abs(best - 0.5) < 1e-9
    assert r["working_set"] // 2 < advice["recommended"] <= r["working_set"] + ITEMS * 4096
    assert advice["at_budget"]["budget"] == r["memory_budget"]
    # The model beside what the tier really served (issue 16, item 11): the same requests.
    mem_stats = r["stats"]["tiers"]["memory"]
    served = mem_stats["hits"] / (mem_stats["hits"] + mem_stats["misses"])
    assert advice["measured_hit_ratio"] == pytest.approx(served)


def test_demo_prints_and_leaves_nothing_outside_its_directory(tmp_path: Path) -> None:
    before = set(tmp_path.iterdir())
    out = demo(tmp_path)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for line in (
        "Passes over the working set",
        "memory budget 3 MiB; held at most",
        "loader time saved",
        "Advisor: an LRU memory tier",
        "recommended memory budget:",
        f"cache directory: {tmp_path / 'c'}",
    ):
        assert line in text
    assert set(tmp_path.iterdir()) - before <= {tmp_path / "c", tmp_path / "work"}
    assert list((tmp_path / "work").iterdir()) == []
    # XDG_CONFIG_HOME points into a temp dir (conftest): the demo made no key file there.
    config = Path(os.environ["XDG_CONFIG_HOME"])
    assert not list(config.rglob("secret"))
    # Run again: it replaces its own earlier cache directory.
    assert demo(tmp_path, "--json").returncode == 0


def test_demo_refuses_a_directory_that_is_not_its_own(tmp_path: Path) -> None:
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "precious.txt").write_text("keep me")
    out = demo(tmp_path)
    assert out.returncode != 0
    assert "refusing to use" in out.stderr
    assert (tmp_path / "c" / "precious.txt").read_text() == "keep me"
