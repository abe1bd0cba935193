"""A LazyDataset whose items total 10x the memory budget stays within the budget (RssAnon)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

MiB = 1 << 20
BUDGET = 16 * MiB
ITEM = 4 * MiB
ITEMS = 40  # 160 MiB of items: 10x the budget
SLACK = 64 * MiB

SCRIPT = r"""
import gc, json, sys
import numpy as np
from memcache_kit._cache import Cache
from memcache_kit._front.datasets import LazyDataset

mode, directory, budget, item, items = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])


def rss_anon():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no RssAnon in /proc/self/status")


def load(i):
    return np.full(item // 8, i, dtype=np.float64)


cache = Cache("memory-test", memory=budget, disk=4 * items * item, directory=directory)
# Built before the baseline: with torch installed, the first LazyDataset imports it.
ds = LazyDataset(list(range(items)), load, cache=cache)
plain = {}
gc.collect()
base = peak = rss_anon()
for epoch in range(2):
    if mode == "lazy":
        for x in ds:
            assert x[0] == x[-1]
            peak = max(peak, rss_anon())
    else:
        for i in range(items):
            x = plain.get(i)
            if x is None:
                x = plain[i] = load(i)
            assert x[0] == x[-1]
            peak = max(peak, rss_anon())
print(json.dumps({"growth": peak - base, "memory_bytes": cache.stats().tiers["memory"].bytes}))
"""


def _growth(mode: str, tmp_path: Path) -> dict[str, int]:
    directory = tmp_path / mode
    directory.mkdir(mode=0o700)
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode, str(directory), str(BUDGET), str(ITEM), str(ITEMS)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert out.returncode == 0, out.stderr
    result: dict[str, int] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_lazy_dataset_stays_within_budget_where_a_dict_does_not(tmp_path: Path) -> None:
    lazy = _growth("lazy", tmp_path)
    assert lazy["growth"] < BUDGET + SLACK, lazy
    assert lazy["memory_bytes"] <= BUDGET
    plain = _growth("dict", tmp_path)
    assert plain["growth"] > BUDGET + SLACK, plain
