"""Hostile cache directories and bad input, through the public ``Cache`` (issue 7, items 3, 6).

Files planted in a cache directory are never executed, followed or loaded: each is a miss,
counted (``cache._disk.bad_entries``) and logged once per kind. Unsafe directories are refused,
the key file is private and outside every cache directory, key rotation turns old entries into
misses, network filesystems go memory-only. The tier-level versions of the plant tests are in
tests/tiers/test_disk_tier.py.
"""

from __future__ import annotations

import logging
import os
import pickle
import sqlite3
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import memcache_kit as mk
from memcache_kit._cache import options as _cache_env
from memcache_kit._errors import CacheWarning
from memcache_kit._keys import make_key
from memcache_kit._settings import settings
from memcache_kit._tiers.disk.tier import DiskTier


class Evil:
    """Unpickling it creates ``marker``: proof that planted code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


def disk(cache: mk.Cache) -> DiskTier:
    assert cache._disk is not None
    return cache._disk


def data_file(cache: mk.Cache, key: Any) -> Path:
    con = sqlite3.connect(disk(cache).directory / "cache.db")
    try:
        (name,) = con.execute(
            "SELECT filename FROM Cache WHERE key = ?", (make_key(key).disk,)
        ).fetchone()
    finally:
        con.close()
    return Path(disk(cache).directory / name)


def set_blob(cache: mk.Cache, key: Any, blob: bytes) -> None:
    con = sqlite3.connect(disk(cache).directory / "cache.db")
    with con:
        con.execute("UPDATE Cache SET value = ? WHERE key = ?", (blob, make_key(key).disk))
    con.close()


def plant_raw_pickle(cache: mk.Cache, tmp: Path) -> None:
    cache.set("k", "x")
    set_blob(cache, "k", pickle.dumps(Evil(tmp / "pwned")))  # no signature at all


def plant_forged(cache: mk.Cache, tmp: Path) -> None:
    from memcache_kit._serial import seal

    cache.set("k", "x")
    blob = seal(
        b"attacker-key-0123456789abcdef",
        pickle.dumps(Evil(tmp / "pwned")),
        key=make_key("k").disk,
        serializer="pickle",
    )
    set_blob(cache, "k", blob)


def plant_pickle_file(cache: mk.Cache, tmp: Path) -> None:
    cache.set("k", b"z" * 200_000)
    path = data_file(cache, "k")
    evil = pickle.dumps(Evil(tmp / "pwned"))
    path.write_bytes(evil + b"." * (path.stat().st_size - len(evil)))


def plant_symlink(cache: mk.Cache, tmp: Path) -> None:
    cache.set("k", np.arange(100.0))
    path = data_file(cache, "k")
    outside = tmp / "outside.npy"
    outside.write_bytes(path.read_bytes())
    path.unlink()
    path.symlink_to(outside)


def plant_npy_shape(cache: mk.Cache, tmp: Path) -> None:
    cache.set("k", np.arange(12.0))
    path = data_file(cache, "k")
    data = path.read_bytes()
    path.write_bytes(data.replace(b"'shape': (12,), ", b"'shape': (3, 4),"))


def plant_npy_objects(cache: mk.Cache, tmp: Path) -> None:
    cache.set("k", np.arange(12.0))
    path = data_file(cache, "k")
    data = path.read_bytes()
    path.write_bytes(data.replace(b"'descr': '<f8'", b"'descr': '|O' "))


def plant_huge(cache: mk.Cache, tmp: Path) -> None:
    cache.set("k", np.arange(10.0))
    with open(data_file(cache, "k"), "ab") as f:
        f.truncate(1 << 32)  # sparse: 4 GiB where 208 bytes were recorded


PLANTS: dict[str, Callable[[mk.Cache, Path], None]] = {
    "raw pickle, no signature": plant_raw_pickle,
    "forged signature": plant_forged,
    "pickle in a data file": plant_pickle_file,
    "symlink out of the cache": plant_symlink,
    "npy header disagrees": plant_npy_shape,
    "npy asks for pickled objects": plant_npy_objects,
    "huge file": plant_huge,
}


@pytest.mark.parametrize("plant", list(PLANTS), ids=list(PLANTS))
def test_planted_entry_is_a_miss_counted_and_warned_once(
    plant: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="memcache_kit")
    directory = tmp_path / "c"
    writer = mk.Cache("h", memory="1MiB", disk="64MiB", directory=directory)
    PLANTS[plant](writer, tmp_path)
    writer.close()
    cache = mk.Cache("h", memory="1MiB", disk="64MiB", directory=directory)
    assert cache.get("k", "MISS") == "MISS"
    assert cache.get_or_load("k", lambda: "loaded") == "loaded"
    assert sum(disk(cache).bad_entries.values()) == 1, disk(cache).bad_entries
    warned = [r for r in caplog.records if "unusable" in r.getMessage()]
    assert len(warned) == 1, [r.getMessage() for r in warned]
    assert not (tmp_path / "pwned").exists()
    if plant == "symlink out of the cache":
        assert (tmp_path / "outside.npy").exists()
    cache.verify(repair=True)
    assert cache.verify().ok
    cache.close()


def test_same_kind_twice_is_logged_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="memcache_kit")
    cache = mk.Cache("h", memory="1MiB", disk="64MiB", directory=tmp_path / "c")
    for key in ("a", "b", "c"):
        cache.set(key, "x")
        set_blob(cache, key, pickle.dumps(Evil(tmp_path / "pwned")))
    reader = mk.Cache("h", memory="1MiB", disk="64MiB", directory=tmp_path / "c")
    assert [reader.get(k, "MISS") for k in ("a", "b", "c")] == ["MISS"] * 3
    assert sum(disk(reader).bad_entries.values()) == 3
    assert len([r for r in caplog.records if "unusable" in r.getMessage()]) == 1
    assert not (tmp_path / "pwned").exists()
    reader.close()
    cache.close()


def test_stray_files_are_never_opened(tmp_path: Path) -> None:
    cache = mk.Cache("h", memory="1MiB", disk="64MiB", directory=tmp_path / "c")
    cache.set("k", b"v" * 100_000)
    data = disk(cache).directory / "data"
    (data / "evil.pkl").write_bytes(pickle.dumps(Evil(tmp_path / "pwned")))
    (data / ("0" * 32 + "-1.bin")).write_bytes(pickle.dumps(Evil(tmp_path / "pwned")))
    (data / "link").symlink_to("/etc/passwd")
    assert cache.get("k") == b"v" * 100_000
    report = cache.verify()
    assert not report.ok  # reported as stray/orphan files ...
    cache.verify(repair=True)
    assert (tmp_path / "pwned").exists() is False  # ... and never unpickled
    assert Path("/etc/passwd").exists()
    cache.close()


def test_directory_writable_by_others_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "c"
    directory.mkdir(mode=0o700)
    directory.chmod(0o777)
    with pytest.raises(PermissionError, match="writable"):
        mk.Cache("h", memory="1MiB", disk="4MiB", directory=directory)
    directory.chmod(0o770)
    with pytest.raises(PermissionError, match="writable"):
        mk.Cache("h", memory="1MiB", disk="4MiB", directory=directory)
    cache = mk.Cache(
        "h", memory="1MiB", disk="4MiB", directory=directory, allow_shared_directory=True
    )
    cache.set("k", 1)
    assert cache.get("k") == 1
    cache.close()


def test_directory_of_another_user_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "c"
    directory.mkdir(mode=0o700)
    if os.geteuid() == 0:
        os.chown(directory, 12345, 12345)
        with pytest.raises(PermissionError, match="owned by"):
            mk.Cache("h", memory="1MiB", disk="4MiB", directory=directory)
        cache = mk.Cache(
            "h", memory="1MiB", disk="4MiB", directory=directory, allow_shared_directory=True
        )
        cache.close()
    else:  # pragma: no cover - CI runs as root; a non-root user cannot chown
        with pytest.raises(PermissionError):
            mk.Cache("h", memory="1MiB", disk="4MiB", directory=Path("/"))


def test_key_file_is_private_and_outside_the_cache(tmp_path: Path) -> None:
    settings.reset()
    cache = mk.Cache("h", memory="1MiB", disk="4MiB", directory=tmp_path / "c")
    cache.set("k", "v")
    key_file = settings.key_file()
    assert key_file.exists()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert cache.directory not in key_file.parents
    cache.close()


def test_key_rotation_makes_old_entries_misses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("MEMCACHE_KIT_SECRET", "a" * 32)
    cache = mk.Cache("h", memory="1MiB", disk="4MiB", directory=tmp_path / "c")
    cache.set("small", "v")
    cache.set("big", b"b" * 200_000)
    cache.close()
    monkeypatch.setenv("MEMCACHE_KIT_SECRET", "b" * 32)
    rotated = mk.Cache("h", memory="1MiB", disk="4MiB", directory=tmp_path / "c")
    assert rotated.get("small", "MISS") == "MISS"
    assert rotated.get("big", "MISS") == "MISS"
    assert rotated.get_or_load("small", lambda: "new") == "new"
    rotated.close()


def test_network_filesystem_goes_memory_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "c"
    mounts = tmp_path / "mounts"
    mounts.write_text(
        "proc /proc proc rw 0 0\n"
        f"server:/export {os.path.realpath(tmp_path)} nfs4 rw,relatime 0 0\n"
    )
    monkeypatch.setattr(_cache_env, "MOUNTS", str(mounts))
    monkeypatch.setattr(_cache_env, "_warned_dirs", set())
    with pytest.warns(CacheWarning, match="network filesystem"):
        cache = mk.Cache("nfs", memory="1MiB", disk="4MiB", directory=directory)
    assert cache._disk is None
    cache.set("k", "v")
    assert cache.get("k") == "v"
    cache.close()
    allowed = mk.Cache(
        "nfs", memory="1MiB", disk="4MiB", directory=directory, network_filesystem="allow"
    )
    assert allowed._disk is not None
    allowed.close()


# -- bad input ------------------------------------------------------------------------------


def test_unpicklable_value_stays_in_memory_warned_once(tmp_path: Path) -> None:
    cache = mk.Cache("h", memory="1MiB", disk="4MiB", directory=tmp_path / "c")
    with pytest.warns(CacheWarning, match="serialized"):
        cache.set("lock", threading.Lock())
        cache.set("lock2", threading.Lock())
    assert cache.get("lock") is not None and cache.get("lock2") is not None
    assert disk(cache).stats().items == 0
    cache.close()


def test_unencodable_keys_raise_clear_type_errors(tmp_path: Path) -> None:
    cache = mk.Cache("h", memory="1MiB", disk="4MiB", directory=tmp_path / "c")
    for bad in (object(), threading.Lock(), {"a": object()}, (1, threading.Lock())):
        for op in (lambda b: cache.set(b, 1), cache.get, lambda b: cache.get_or_load(b, int)):
            with pytest.raises(TypeError, match=r"cannot encode key.*Keys may be"):
                op(bad)
    cache.close()


@pytest.mark.parametrize(
    "budget", ["-1", "12 parsecs", "1e400", -5, "999999999TiB", float("nan"), [1], "200%"]
)
def test_absurd_budgets_are_rejected_at_configure(budget: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        mk.configure({"caches": {"x": {"memory": budget}}})
