"""Shared fixtures: every test runs with private cache/config directories, never the user's."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

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
