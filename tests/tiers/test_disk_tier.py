"""The disk tier: round trips, memmaps, TTL, budget and LRU, persistence, fork, hostile files,
permissions, serializers, faults and verify()."""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
import pickle
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
import warnings
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from memcache_kit import CacheWarning, register_serializer
from memcache_kit._serial import FORMAT_VERSION, seal
from memcache_kit._shapes import MISSING, TierStats
from memcache_kit._tiers.base import Tier
from memcache_kit._tiers.disk.tier import INLINE_MAX, DiskTier

SECRET = b"test-secret-0123456789abcdef-xyz"
K = [f"{i:032x}" for i in range(200)]
SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.fixture
def tier(cache_dir: Path) -> Iterator[DiskTier]:
    t = DiskTier(cache_dir, 64 * 1024 * 1024, secret=SECRET)
    yield t
    t.close()


def db(tier: DiskTier) -> sqlite3.Connection:
    return sqlite3.connect(tier.directory / "cache.db", isolation_level=None)


def row_blob(tier: DiskTier, key: str) -> bytes:
    (blob,) = db(tier).execute("SELECT value FROM Cache WHERE key = ?", (key,)).fetchone()
    return bytes(blob)


def set_blob(tier: DiskTier, key: str, blob: bytes) -> None:
    db(tier).execute("UPDATE Cache SET value = ? WHERE key = ?", (blob, key))


def data_file(tier: DiskTier, key: str) -> Path:
    (name,) = db(tier).execute("SELECT filename FROM Cache WHERE key = ?", (key,)).fetchone()
    return tier.directory / name


def assert_clean(tier: DiskTier) -> None:
    problems, repaired, _ = tier.verify()
    assert problems == [] and repaired == 0


@dataclasses.dataclass(frozen=True)
class Point:
    x: int
    y: float


class Evil:
    """Unpickling it would create ``marker``: proof that planted code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


# basics -------------------------------------------------------------------------------------
def test_is_a_tier(tier: DiskTier) -> None:
    assert isinstance(tier, Tier)
    assert tier.name == "disk"
    assert tier.budget == 64 * 1024 * 1024


VALUES: list[Any] = [
    None,
    0,
    -(2**100),
    3.5,
    float("inf"),
    "",
    "héllo ✓",
    b"",
    b"\x00" * 10,
    b"x" * (INLINE_MAX + 1),  # a data file
    "y" * (3 * INLINE_MAX),
    (1, "a", None),
    [1, [2, [3]]],
    {"a": 1, "b": {"c": [1, 2]}},
    {1, 2, 3},
    frozenset({"a"}),
    Point(1, 2.0),
    Decimal("1.10"),
    list(range(50_000)),  # a large pickle
    np.float64(2.5),
    np.array([1, 2, 3], dtype=object),  # object arrays go through pickle
]


@pytest.mark.parametrize("value", VALUES, ids=[type(v).__name__ for v in VALUES])
def test_round_trip(tier: DiskTier, value: Any) -> None:
    assert tier.set(K[0], value)
    got = tier.get(K[0])
    if isinstance(value, np.ndarray):
        assert got.tolist() == value.tolist()
    else:
        assert got == value and type(got) is type(value)
    assert K[0] in tier
    assert_clean(tier)


def test_miss_and_delete(tier: DiskTier) -> None:
    assert tier.get(K[1]) is MISSING
    assert K[1] not in tier
    assert tier.delete(K[1]) is False
    tier.set(K[1], b"x" * (INLINE_MAX * 2))
    path = data_file(tier, K[1])
    assert path.exists()
    assert tier.delete(K[1]) is True
    assert tier.get(K[1]) is MISSING
    assert not path.exists()
    assert_clean(tier)


def test_cached_none_is_a_value(tier: DiskTier) -> None:
    tier.set(K[0], None)
    assert tier.get(K[0]) is None


def test_overwrite_replaces_and_removes_old_file(tier: DiskTier) -> None:
    tier.set(K[0], np.arange(1000.0))
    old = data_file(tier, K[0])
    tier.set(K[0], np.arange(5))
    assert not old.exists()
    assert tier.get(K[0]).tolist() == list(range(5))
    tier.set(K[0], "small now")
    assert tier.get(K[0]) == "small now"
    assert list((tier.directory / "data").iterdir()) == []
    assert_clean(tier)


def test_non_string_keys(tier: DiskTier) -> None:
    with pytest.raises(TypeError):
        tier.get(1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        tier.set(b"k", 1)  # type: ignore[arg-type]
    assert 1 not in tier


def test_stats(tier: DiskTier) -> None:
    tier.set(K[0], b"a" * 100)
    tier.set(K[1], np.zeros(100))
    tier.get(K[0])
    tier.get(K[2])
    s = tier.stats()
    assert isinstance(s, TierStats)
    assert (s.hits, s.misses, s.writes, s.items) == (1, 1, 2, 2)
    assert s.bytes == len(pickle.dumps(b"a" * 100, protocol=5)) + 128 + 800
    assert s.budget == tier.budget


def test_entries_lists_rows(tier: DiskTier) -> None:
    tier.set(K[0], "a", label="first")
    tier.set(K[1], "b", expire_at=time.time() + 100)
    rows = {e.key: e for e in tier.entries()}
    assert rows[K[0]].label == "first" and rows[K[0]].expire_at is None
    assert rows[K[1]].expire_at is not None and rows[K[1]].size > 0
    assert rows[K[0]].stored_at <= rows[K[0]].last_access


# arrays -------------------------------------------------------------------------------------
ARRAYS = [
    np.arange(12.0).reshape(3, 4),
    np.asfortranarray(np.arange(12, dtype=np.int32).reshape(3, 4)),
    np.arange(20)[::3],  # not contiguous: stored as a contiguous copy
    np.array([True, False]),
    np.array([1 + 2j], dtype=np.complex64),
    np.array(["2024-01-01"], dtype="datetime64[ns]"),
    np.array(["ab", "cde"]),
    np.arange(5, dtype=">i4"),
    np.zeros(3, dtype=[("a", "<i4"), ("b", "<f8", (2,))]),
    np.zeros((0, 3)),
    np.array(7.0),
]


@pytest.mark.parametrize("arr", ARRAYS, ids=[str(a.dtype) + str(a.shape) for a in ARRAYS])
def test_arrays_come_back_as_memmaps(tier: DiskTier, arr: np.ndarray) -> None:
    assert tier.set(K[0], arr)
    got = tier.get(K[0])
    assert type(got) is np.memmap
    assert got.dtype == arr.dtype and got.shape == arr.shape
    np.testing.assert_array_equal(got, arr)
    assert data_file(tier, K[0]).suffix == ".npy"
    np.testing.assert_array_equal(np.load(data_file(tier, K[0]), allow_pickle=False), arr)
    assert_clean(tier)


def test_memmaps_are_copy_on_write(tier: DiskTier) -> None:
    tier.set(K[0], np.arange(10.0))
    path = data_file(tier, K[0])
    before = path.read_bytes()
    got = tier.get(K[0])
    assert got.flags.writeable
    got[:] = -1
    got.flush()
    assert path.read_bytes() == before
    np.testing.assert_array_equal(tier.get(K[0]), np.arange(10.0))


def test_memmap_input_is_stored(tier: DiskTier) -> None:
    tier.set(K[0], np.arange(100.0))
    tier.set(K[1], tier.get(K[0]))
    np.testing.assert_array_equal(tier.get(K[1]), np.arange(100.0))


def test_verify_arrays_checks_content(cache_dir: Path) -> None:
    t = DiskTier(cache_dir, 1 << 24, secret=SECRET, verify_arrays=True)
    t.set(K[0], np.arange(100.0))
    np.testing.assert_array_equal(t.get(K[0]), np.arange(100.0))
    path = data_file(t, K[0])
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # same length, same header, other numbers
    path.write_bytes(bytes(data))
    assert t.get(K[0]) is MISSING
    assert t.bad_entries == {"content": 1}
    plain = DiskTier(cache_dir, 1 << 24, secret=SECRET)
    plain.set(K[1], np.arange(3.0))  # written without a content hash
    assert t.get(K[1]) is MISSING
    assert t.bad_entries["unverified"] == 1
    t.close()
    plain.close()


# TTL ----------------------------------------------------------------------------------------
def test_ttl(tier: DiskTier) -> None:
    tier.set(K[0], "short", expire_at=time.time() + 0.3)
    tier.set(K[1], "long", expire_at=time.time() + 60)
    tier.set(K[2], "forever")
    assert tier.get(K[0]) == "short"
    time.sleep(0.5)
    assert tier.get(K[0]) is MISSING
    assert K[0] not in tier
    assert tier.get(K[1]) == "long" and tier.get(K[2]) == "forever"


def test_already_expired_is_not_kept(tier: DiskTier) -> None:
    tier.set(K[0], "old")
    assert tier.set(K[0], "new", expire_at=time.time() - 1)
    assert tier.get(K[0]) is MISSING


# budget and eviction ------------------------------------------------------------------------
def value_of(size: int, tag: int) -> bytes:
    return bytes([tag % 256]) * (size - 30)


def test_budget_is_held_in_lru_order(cache_dir: Path) -> None:
    one = len(pickle.dumps(value_of(1000, 0), protocol=5))
    t = DiskTier(cache_dir, 10 * one, secret=SECRET)
    for i in range(10):
        t.set(K[i], value_of(1000, i))
    assert t.stats().items == 10
    assert t.get(K[0]) == value_of(1000, 0)  # K0 is now the most recent read
    for i in range(10, 15):
        t.set(K[i], value_of(1000, i))
        assert t.stats().bytes <= t.budget
    assert t.get(K[0]) == value_of(1000, 0)
    assert [t.get(K[i]) for i in range(1, 6)] == [MISSING] * 5
    assert all(t.get(K[i]) is not MISSING for i in range(6, 15))
    assert t.stats().evictions == 5
    assert_clean(t)
    t.close()


def test_budget_shrink_culls_at_once(tier: DiskTier) -> None:
    for i in range(20):
        tier.set(K[i], np.zeros(1000))  # 8128 bytes each
    tier.budget = 5 * 8128
    s = tier.stats()
    assert s.items == 5 and s.bytes <= 5 * 8128
    assert len(list((tier.directory / "data").iterdir())) == 5
    assert_clean(tier)
    with pytest.raises(ValueError, match="number of bytes"):
        tier.budget = -1


def test_value_larger_than_budget_is_declined(cache_dir: Path) -> None:
    t = DiskTier(cache_dir, 10_000, secret=SECRET)
    assert t.set(K[0], b"x" * 20_000) is False
    assert t.set(K[1], np.zeros(5000)) is False
    assert t.get(K[0]) is MISSING and t.stats().items == 0
    assert list((cache_dir / "data").iterdir()) == []
    t.close()


def test_unpicklable_is_declined_with_one_warning(tier: DiskTier) -> None:
    with pytest.warns(CacheWarning, match="cannot be serialized"):
        assert tier.set(K[0], lambda: 1) is False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert tier.set(K[1], lambda: 2) is False
    assert tier.get(K[0]) is MISSING


# persistence, processes, fork ---------------------------------------------------------------
def run_python(code: str) -> str:
    env = {**os.environ, "PYTHONPATH": SRC}
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return out.stdout


def test_persists_across_reopen(cache_dir: Path) -> None:
    t = DiskTier(cache_dir, 1 << 24, secret=SECRET)
    t.set(K[0], {"a": 1})
    t.set(K[1], np.arange(5.0))
    t.get(K[0])
    t.close()
    t2 = DiskTier(cache_dir, 1 << 24, secret=SECRET)
    assert t2.get(K[0]) == {"a": 1}
    np.testing.assert_array_equal(t2.get(K[1]), np.arange(5.0))
    t2.close()


def test_persists_across_processes(cache_dir: Path) -> None:
    t = DiskTier(cache_dir, 1 << 24, secret=SECRET)
    t.set(K[0], ("from parent", 1))
    out = run_python(
        f"""
        import numpy as np
        from memcache_kit._tiers.disk import DiskTier
        t = DiskTier({str(cache_dir)!r}, 1 << 24, secret={SECRET!r})
        print(t.get({K[0]!r}))
        t.set({K[1]!r}, np.arange(3))
        t.set({K[2]!r}, "from child")
        t.close()
        """
    )
    assert "('from parent', 1)" in out
    assert t.get(K[2]) == "from child"  # the same open tier sees the other process's writes
    assert t.get(K[1]).tolist() == [0, 1, 2]
    t.close()


def test_fork_child_reads_and_writes(tier: DiskTier) -> None:
    tier.set(K[0], "parent")
    assert tier.get(K[0]) == "parent"  # connections are open before the fork
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            ok = tier.get(K[0]) == "parent" and tier.set(K[1], "child")
            ok = ok and tier.set(K[2], np.arange(4)) and tier.get(K[1]) == "child"
            code = 0 if ok else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert tier.get(K[1]) == "child"
    assert tier.get(K[2]).tolist() == [0, 1, 2, 3]
    tier.set(K[3], "parent after fork")
    assert tier.get(K[3]) == "parent after fork"
    assert_clean(tier)


def test_threads(tier: DiskTier) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def work(i: int) -> bool:
        key = K[i % 20]
        tier.set(key, (key, i) if i % 3 else np.full(100, i))
        got = tier.get(key)
        return got is MISSING or isinstance(got, np.ndarray) or got[0] == key

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(work, range(400)))
    assert_clean(tier)


# hostile directory --------------------------------------------------------------------------
def test_forged_entry_is_a_miss_logged_once(
    tier: DiskTier, caplog: pytest.LogCaptureFixture
) -> None:
    tier.set(K[0], "good")
    tier.set(K[1], "good")
    for k in K[:2]:
        set_blob(
            tier,
            k,
            seal(b"attacker-secret-0123456789", pickle.dumps("bad"), key=k, serializer="pickle"),
        )
    with caplog.at_level(logging.WARNING, logger="memcache_kit"):
        assert tier.get(K[0]) is MISSING
        assert tier.get(K[1]) is MISSING
    assert len([r for r in caplog.records if "forged" in r.getMessage()]) == 1
    assert tier.bad_entries == {"forged": 2}
    assert tier.stats().items == 0  # dropped
    assert_clean(tier)


def test_malicious_pickle_never_runs(tier: DiskTier, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = pickle.dumps(Evil(marker))
    tier.set(K[0], "x")
    set_blob(tier, K[0], evil)  # a raw pickle where a sealed blob belongs
    assert tier.get(K[0]) is MISSING
    tier.set(K[1], "x")
    set_blob(tier, K[1], seal(b"guessed-secret-0123456789", evil, key=K[1], serializer="pickle"))
    assert tier.get(K[1]) is MISSING
    tier.set(K[2], b"z" * (INLINE_MAX * 2))  # a data file: swap in the evil pickle, padded
    path = data_file(tier, K[2])
    size = path.stat().st_size
    path.write_bytes(evil + b"." * (size - len(evil)))
    assert tier.get(K[2]) is MISSING
    assert tier.verify(repair=True)[0] == []
    assert not marker.exists()
    assert tier.bad_entries == {"format": 1, "forged": 2}


def test_blob_copied_to_another_key_is_a_miss(tier: DiskTier) -> None:
    tier.set(K[0], "zero")
    tier.set(K[1], "one")
    set_blob(tier, K[1], row_blob(tier, K[0]))
    assert tier.get(K[1]) is MISSING
    assert tier.get(K[0]) == "zero"


def test_other_format_version_is_a_miss(tier: DiskTier) -> None:
    tier.set(K[0], "v")
    blob = bytearray(row_blob(tier, K[0]))
    blob[18:20] = (FORMAT_VERSION + 1).to_bytes(2, "big")
    set_blob(tier, K[0], bytes(blob))
    assert tier.get(K[0]) is MISSING
    assert tier.bad_entries == {"format": 1}


def test_truncated_blob_and_file(tier: DiskTier) -> None:
    tier.set(K[0], "v" * 100)
    set_blob(tier, K[0], row_blob(tier, K[0])[:30])
    assert tier.get(K[0]) is MISSING
    tier.set(K[1], np.arange(1000.0))
    path = data_file(tier, K[1])
    path.write_bytes(path.read_bytes()[:500])
    assert tier.get(K[1]) is MISSING
    assert tier.bad_entries == {"truncated": 2}
    assert not path.exists()  # dropped with its row
    assert_clean(tier)


def test_missing_file_is_a_miss(tier: DiskTier) -> None:
    tier.set(K[0], np.arange(10))
    data_file(tier, K[0]).unlink()
    assert tier.verify()[0]  # reported before it is read
    assert tier.get(K[0]) is MISSING
    assert tier.bad_entries == {"missing": 1}
    assert_clean(tier)


def test_huge_planted_file_is_a_miss(tier: DiskTier) -> None:
    tier.set(K[0], np.arange(10.0))
    with open(data_file(tier, K[0]), "ab") as f:
        f.truncate(1 << 30)  # sparse: 1 GiB where 208 bytes were recorded
    assert tier.get(K[0]) is MISSING
    assert tier.bad_entries == {"planted": 1}


def test_symlink_is_not_followed(tier: DiskTier, tmp_path: Path) -> None:
    tier.set(K[0], np.arange(10.0))
    path = data_file(tier, K[0])
    outside = tmp_path / "outside.npy"
    outside.write_bytes(path.read_bytes())  # identical bytes: only following it would "hit"
    path.unlink()
    path.symlink_to(outside)
    assert tier.get(K[0]) is MISSING
    assert tier.bad_entries == {"planted": 1}
    assert outside.exists()  # the link was removed, never its target
    assert not path.is_symlink()


def test_npy_with_other_header_is_a_miss(tier: DiskTier) -> None:
    tier.set(K[0], np.arange(12.0))
    path = data_file(tier, K[0])
    data = path.read_bytes()
    reshaped = data.replace(b"'shape': (12,), ", b"'shape': (3, 4),")
    assert len(reshaped) == len(data) and reshaped != data
    path.write_bytes(reshaped)
    assert tier.get(K[0]) is MISSING
    tier.set(K[1], np.arange(12.0))
    path = data_file(tier, K[1])
    data = path.read_bytes()
    objects = data.replace(b"'descr': '<f8'", b"'descr': '|O' ")
    assert len(objects) == len(data) and objects != data
    path.write_bytes(objects)
    assert tier.get(K[1]) is MISSING
    assert tier.bad_entries == {"header": 2}


def test_key_rotation_turns_old_entries_into_misses(cache_dir: Path) -> None:
    old = DiskTier(cache_dir, 1 << 24, secret=SECRET)
    old.set(K[0], "old")
    old.set(K[1], np.arange(3))
    old.close()
    new = DiskTier(cache_dir, 1 << 24, secret=b"rotated-secret-0123456789abcdef")
    assert new.get(K[0]) is MISSING and new.get(K[1]) is MISSING
    assert new.bad_entries == {"forged": 2}
    new.set(K[0], "new")
    assert new.get(K[0]) == "new"
    assert_clean(new)
    new.close()


def test_secret_defaults_to_the_settings_key(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEMCACHE_KIT_SECRET", "env-secret-0123456789")
    t = DiskTier(cache_dir, 1 << 20)
    t.set(K[0], "v")
    t.close()
    assert DiskTier(cache_dir, 1 << 20, secret=b"env-secret-0123456789").get(K[0]) == "v"


# permissions --------------------------------------------------------------------------------
def test_directory_is_created_private(tmp_path: Path) -> None:
    d = tmp_path / "new" / "cache"
    t = DiskTier(d, 1 << 20, secret=SECRET)
    t.set(K[0], np.arange(3))
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    assert stat.S_IMODE((d / "data").stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in (d / "data").iterdir())
    t.close()


def test_the_index_is_private_whatever_the_umask(tmp_path: Path) -> None:
    # issue 16, item 12: cache.db was created 0644 (SQLite follows the umask)
    old = os.umask(0o022)
    try:
        d = tmp_path / "cache"
        t = DiskTier(d, 1 << 20, secret=SECRET)
        t.set(K[0], "v")
        index = [d / n for n in ("cache.db", "cache.db-wal", "cache.db-shm") if (d / n).exists()]
        assert d / "cache.db" in index
        assert {stat.S_IMODE(p.stat().st_mode) for p in index} == {0o600}
        t.close()
        (d / "cache.db").chmod(0o644)  # as an earlier version left it
        t = DiskTier(d, 1 << 20, secret=SECRET)
        assert t.get(K[0]) == "v"
        assert stat.S_IMODE((d / "cache.db").stat().st_mode) == 0o600
        t.close()
    finally:
        os.umask(old)


def test_group_writable_directory_is_refused(cache_dir: Path) -> None:
    cache_dir.chmod(0o770)
    with pytest.raises(PermissionError) as info:
        DiskTier(cache_dir, 1 << 20, secret=SECRET)
    message = str(info.value)
    assert str(cache_dir) in message and "allow_shared_directory" in message
    t = DiskTier(cache_dir, 1 << 20, secret=SECRET, allow_shared_directory=True)
    t.set(K[0], 1)
    assert t.get(K[0]) == 1
    t.close()


def test_directory_of_another_user_is_refused(tmp_path: Path) -> None:
    if os.getuid() == 0:
        target = tmp_path / "theirs"
        target.mkdir(mode=0o700)
        os.chown(target, 65534, 65534)
    else:
        target = Path("/")  # owned by root; refused before anything is written
    with pytest.raises(PermissionError, match="not by you"):
        DiskTier(target, 1 << 20, secret=SECRET)


def test_planted_index_symlink_is_refused(cache_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "elsewhere.db").write_bytes(b"")
    (cache_dir / "cache.db").symlink_to(tmp_path / "elsewhere.db")
    with pytest.raises(PermissionError, match="not a regular file"):
        DiskTier(cache_dir, 1 << 20, secret=SECRET)


# serializers --------------------------------------------------------------------------------
def test_json_serializer(cache_dir: Path) -> None:
    t = DiskTier(cache_dir, 1 << 24, serializer="json", secret=SECRET)
    t.set(K[0], {"a": [1, 2]})
    assert t.get(K[0]) == {"a": [1, 2]}
    t.set(K[1], np.arange(3.0))  # arrays always go as .npy
    assert type(t.get(K[1])) is np.memmap
    big = {"k": "v" * (INLINE_MAX + 10)}
    t.set(K[2], big)
    assert t.get(K[2]) == big
    with pytest.warns(CacheWarning, match="'json'"):
        assert t.set(K[3], {1, 2}) is False
    t.close()


def test_registered_serializer(cache_dir: Path) -> None:
    register_serializer("reverse", lambda v: v[::-1].encode(), lambda b: b.decode()[::-1])
    t = DiskTier(cache_dir, 1 << 24, serializer="reverse", secret=SECRET)
    t.set(K[0], "hello")
    assert row_blob(t, K[0]).endswith(b"olleh")
    assert t.get(K[0]) == "hello"
    t.close()


def test_unknown_serializer_is_a_clear_error(cache_dir: Path) -> None:
    with pytest.raises(ValueError, match="unknown serializer 'nope'"):
        DiskTier(cache_dir, 1 << 20, serializer="nope", secret=SECRET)


def test_durability_strict(cache_dir: Path) -> None:
    t = DiskTier(cache_dir, 1 << 24, durability="strict", secret=SECRET)
    t.set(K[0], np.arange(10))
    t.set(K[1], b"b" * (INLINE_MAX + 1))
    assert t.get(K[0]).tolist() == list(range(10))
    assert_clean(t)
    t.close()
    with pytest.raises(ValueError, match="durability"):
        DiskTier(cache_dir, 1 << 20, durability="sometimes", secret=SECRET)  # type: ignore[arg-type]


# faults -------------------------------------------------------------------------------------
class FailingWrites:
    """Wraps the tier's FileStore: every write fails with ``err`` while ``failing``."""

    def __init__(self, inner: Any, err: int) -> None:
        self.inner, self.err, self.failing = inner, err, True

    def write(self, name: str, parts: Any) -> None:
        if self.failing:
            raise OSError(self.err, os.strerror(self.err))
        self.inner.write(name, parts)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.mark.parametrize("err", [errno.ENOSPC, errno.EIO, errno.EACCES])
def test_failing_disk_degrades_then_recovers(
    tier: DiskTier, err: int, caplog: pytest.LogCaptureFixture
) -> None:
    tier.set(K[0], "kept")
    faulty = FailingWrites(tier._files, err)
    tier._files = faulty  # type: ignore[assignment]
    tier._health.backoff = tier._health.backoff_min = 0.2
    with caplog.at_level(logging.WARNING, logger="memcache_kit"):
        for i in range(10):
            assert tier.set(K[1 + i], np.arange(10)) is False
    assert tier.degraded
    assert len([r for r in caplog.records if "disabled" in r.getMessage()]) == 1
    assert tier.get(K[0]) is MISSING  # disabled: a quick miss, no disk access
    faulty.failing = False
    time.sleep(0.3)
    assert tier.get(K[0]) == "kept"  # re-probed after the back-off
    assert not tier.degraded
    tier._files = faulty.inner
    assert tier.set(K[1], np.arange(3))
    assert tier.faults == {"OSError": 10} or sum(tier.faults.values()) >= 5


def test_directory_deleted_under_a_running_tier(tier: DiskTier) -> None:
    import shutil

    tier.set(K[0], np.arange(3))
    tier.set(K[1], "small")
    shutil.rmtree(tier.directory)
    for i in range(10):  # never raises
        tier.get(K[i % 2])
        tier.set(K[2 + i], np.arange(3))
    tier._health.retry_at = 0.0
    tier._probe()
    assert tier.set(K[50], "again")
    assert tier.get(K[50]) == "again"


# verify -------------------------------------------------------------------------------------
def test_verify_clean_and_details(tier: DiskTier) -> None:
    tier.set(K[0], "a")
    tier.set(K[1], np.arange(10))
    problems, repaired, details = tier.verify()
    assert problems == [] and repaired == 0
    assert details["items"] == 2 and details["files"] == 1 and details["orphans"] == 0
    assert details["bytes"] == tier.stats().bytes


def test_verify_repair(tier: DiskTier) -> None:
    tier.set(K[0], "a")
    tier.set(K[1], np.arange(10))
    tier.set(K[2], np.arange(20))
    tier.set(K[3], "d")
    data = tier.directory / "data"
    (data / f"{'a' * 32}-999999.npy").write_bytes(b"orphan")  # a dead writer's file
    (data / f"{'b' * 32}-999999.bin.tmp").write_bytes(b"half")  # an unfinished write
    (data / "planted.txt").write_bytes(b"?")
    data_file(tier, K[2]).unlink()
    set_blob(tier, K[3], b"garbage")
    db(tier).execute("UPDATE Settings SET value = value + 5 WHERE key = 'size'")
    problems, repaired, _ = tier.verify()
    assert len(problems) == 6 and repaired == 0
    problems, repaired, _ = tier.verify(repair=True)
    assert len(problems) == 6 and repaired == 6
    assert_clean(tier)
    assert tier.get(K[0]) == "a" and tier.get(K[1]).tolist() == list(range(10))
    assert sorted(p.name for p in data.iterdir()) == [data_file(tier, K[1]).name]


def test_verify_repairs_budget(tier: DiskTier) -> None:
    for i in range(5):
        tier.set(K[i], np.zeros(100))
    tier._budget = 1000  # as if another process with a smaller budget had written
    problems, _, _ = tier.verify()
    assert any("budget" in p for p in problems)
    tier.verify(repair=True)
    assert tier.stats().bytes <= 1000
    assert_clean(tier)


def test_clear(tier: DiskTier) -> None:
    for i in range(5):
        tier.set(K[i], np.arange(i + 1))
        tier.set(K[10 + i], str(i))
    tier.clear()
    assert tier.stats().items == 0 and tier.stats().bytes == 0
    assert list((tier.directory / "data").iterdir()) == []
    assert all(tier.get(K[i]) is MISSING for i in range(15))
    assert_clean(tier)


def test_close_then_reuse(tier: DiskTier) -> None:
    tier.set(K[0], 1)
    tier.close()
    tier.close()
    assert tier.get(K[0]) == 1
    assert tier.set(K[1], 2)


def test_write_skipped_while_degraded_never_lets_the_old_value_back(tier: DiskTier) -> None:
    tier.set(K[0], "old")
    tier.set(K[1], "other")
    faulty = FailingWrites(tier._files, errno.EIO)
    tier._files = faulty  # type: ignore[assignment]
    tier._health.backoff = tier._health.backoff_min = 0.2
    for i in range(5):
        tier.set(K[10 + i], np.arange(3))
    assert tier.degraded
    assert tier.set(K[0], "new") is False  # skipped: the disk tier is off
    faulty.failing = False
    time.sleep(0.3)
    assert tier.get(K[1]) == "other"  # the probe re-enables the tier...
    assert tier.get(K[0]) is MISSING  # ...and "old" was dropped, not served
    assert K[0] not in tier


def test_declined_set_drops_the_older_value(tier: DiskTier) -> None:
    tier.set(K[0], "old")
    with pytest.warns(CacheWarning):
        assert tier.set(K[0], lambda: 0) is False
    assert tier.get(K[0]) is MISSING


def test_expire_at(tier: DiskTier) -> None:
    when = time.time() + 100
    tier.set(K[0], 1, expire_at=when)
    tier.set(K[1], 2)
    assert tier.expire_at(K[0]) == pytest.approx(when, abs=0.1)
    assert tier.expire_at(K[1]) is None
    assert tier.expire_at(K[2]) is None


@pytest.mark.timeout(8)  # a read waiting for the lock would wait 10 s per batch
def test_reads_never_wait_for_a_write_lock(tier: DiskTier) -> None:
    tier.set(K[0], "v")
    other = db(tier)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    for _ in range(3000):
        assert tier.get(K[0]) == "v"
    pending = tier._atimes[K[0]]  # the access time waits for a later batch
    assert not tier.degraded
    other.execute("ROLLBACK")
    tier.close()
    (atime,) = db(tier).execute("SELECT access_time FROM Cache").fetchone()
    assert atime == pending
    assert not tier._atimes
