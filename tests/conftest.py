"""Shared fixtures: every test runs with private cache/config directories, never the user's."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _isolated_user_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Point platformdirs (XDG on Linux) at fresh directories and drop memcache_kit's env vars."""
    root = tmp_path_factory.mktemp("home")
    for var in ("XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        d = root / var.lower()
        d.mkdir(mode=0o700)
        monkeypatch.setenv(var, str(d))
    for var in list(os.environ):
        if var.startswith("MEMCACHE_KIT") and var != "MEMCACHE_KIT_REQUIRE_REDIS":
            monkeypatch.delenv(var)
    from memcache_kit._config import registry as _registry

    _registry._reset()
    yield
    _registry._reset()


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    """A fresh private (0700) directory for one cache."""
    d = tmp_path / "cache"
    d.mkdir(mode=0o700)
    return d


class SyntheticTraces:
    """Synthetic twins of the reference traces (``tests/tracegen.py``), one per real format,
    at the same relative paths as in ``../shared/data/traces``; ``keys[name]`` and
    ``sizes[name]`` are what each file holds."""

    def __init__(self, root: Path) -> None:
        import numpy as np

        import tracegen as g

        self.root = root
        self.keys: dict[str, Any] = {}
        self.sizes: dict[str, Any] = {}
        specs: list[tuple[str, Any, Any]] = [
            # name, keys, writer(path, keys) -> path
            (
                "lirs/multi2.trace.gz",
                g.zipf_keys(26_000, 5_700, seed=3),
                lambda p, k: g.write_keys(p, k, marker_every=1000),
            ),
            ("lirs/loop.trace.gz", g.loop_keys(1_500, 150), g.write_keys),
            (
                "scarab/scarab-recs.trace.xz",
                g.zipf_keys(1_250_000, 260_000, a=0.8, seed=4),
                lambda p, k: g.write_binary_keys(p, k, 8),
            ),
            (
                "corda/trace_vaultservice.gz",
                g.zipf_keys(40_000, 25_000, seed=5),
                lambda p, k: g.write_binary_keys(p, k, 8),
            ),
            (
                "cache2k/orm-busy.trace.xz",
                (g.zipf_keys(800_000, 76_000, a=0.9, seed=6) % 2**31).astype(np.int64),
                lambda p, k: g.write_binary_keys(p, k, 4),
            ),
        ]
        for name, keys, write in specs:
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            write(path, keys)
            self.keys[name] = keys
        for name, keys, write in [
            ("adapt_size/request.trace.xz", g.zipf_keys(60_000, 36_000, a=0.8, seed=7),
             g.write_time_id_size),
            ("libcachesim/cloudPhysicsIO.oracleGeneral.bin",
             g.zipf_keys(50_000, 20_000, seed=8), g.write_oracle_general),
        ]:  # fmt: skip
            sizes = g.sizes_for(keys)
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            write(path, keys, sizes)
            self.keys[name], self.sizes[name] = keys, sizes

    def __truediv__(self, name: str) -> Path:
        return self.root / name


@pytest.fixture(scope="session")
def traces(tmp_path_factory: pytest.TempPathFactory) -> SyntheticTraces:
    """The synthetic traces, written once per test session (and per xdist worker)."""
    return SyntheticTraces(tmp_path_factory.mktemp("traces"))
