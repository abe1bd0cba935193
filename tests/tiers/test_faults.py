"""Faults at the disk tier's I/O boundary degrade, never crash (issue 7, item 2).

ENOSPC, EIO, EACCES and "database is locked" are injected at every N-th file and database
operation (tests/faults.py) under a real ``Cache``; callers keep getting correct values (from
memory, or by loading), a tier that keeps failing is disabled with one WARNING and re-probed,
and nothing is lost from the memory tier.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import traceback
import warnings
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

import memcache_kit as mk
from faults import KINDS, Injector, inject
from memcache_kit._tiers.disk.tier import DiskTier

ABSENT = object()


def disk_of(cache: mk.Cache) -> DiskTier:
    tier = cache._disk
    assert tier is not None
    return tier


def disabled_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "memcache_kit" and r.levelno == logging.WARNING and "disabled" in r.message
    ]


@pytest.mark.parametrize("every", [2, 3, 7])
@pytest.mark.parametrize("write_through", [True, False])
def test_values_stay_correct_under_every_kind_of_fault(
    tmp_path: Path, every: int, write_through: bool, caplog: pytest.LogCaptureFixture
) -> None:
    # A memory budget far below the working set: values are spilled, evicted and read back
    # from disk all the time, so faults hit every path.
    cache = mk.Cache(
        "faults", memory="48KiB", disk="8MiB", directory=tmp_path / "c", write_through=write_through
    )
    inj = inject(disk_of(cache), Injector(every))
    model: dict[int, bytes] = {}
    loads = 0

    def loader(k: int) -> bytes:
        nonlocal loads
        loads += 1
        return model.setdefault(k, bytes([k % 251]) * 3000 + str(k).encode())

    for n in range(1500):
        k = (n * 7919) % 97
        op = n % 5
        if op == 0:
            model[k] = os.urandom(3000)
            cache.set(k, model[k])
        elif op == 1:
            got = cache.get(k, ABSENT)
            assert got is ABSENT or got == model.get(k), k
        elif op == 2:
            assert cache.get_or_load(k, lambda k=k: loader(k)) == model[k]
        elif op == 3 and n % 15 == 3:
            cache.delete(k)
            model.pop(k, None)
            assert cache.get(k, ABSENT) is ABSENT
        else:
            got = cache.get(k, ABSENT)
            assert got is ABSENT or got == model.get(k), k
    assert sum(inj.injected.values()) > 50
    assert set(inj.injected) == set(KINDS), inj.injected
    assert len(disabled_warnings(caplog)) <= 1 + disk_of(cache).faults.get("probe", 0)
    inj.enabled = False
    disk_of(cache)._health.retry_at = 0.0
    for k, v in model.items():
        got = cache.get(k, ABSENT)
        assert got is ABSENT or got == v
    cache.close()


def test_decorated_function_under_faults(tmp_path: Path) -> None:
    cache = mk.Cache("dec", memory="16KiB", disk="4MiB", directory=tmp_path / "c")
    inj = inject(disk_of(cache), Injector(2))
    calls: list[int] = []

    @mk.cached(cache=cache)
    def square(x: int) -> bytes:
        calls.append(x)
        return str(x * x).encode() * 500

    for _rep in range(3):
        for x in range(60):
            assert square(x) == str(x * x).encode() * 500
    assert sum(inj.injected.values()) > 20
    assert len(calls) >= 60  # each at least once; more is fine: faults turn hits into loads
    cache.close()


def test_failing_tier_is_disabled_once_and_reprobed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="memcache_kit")
    cache = mk.Cache("dead", memory="4MiB", disk="4MiB", directory=tmp_path / "c")
    tier = disk_of(cache)
    inj = inject(tier, Injector(every=1))
    values = {k: os.urandom(1000) for k in range(200)}
    for k, v in values.items():
        cache.set(k, v)
        assert cache.get(k) == v
        assert cache.get_or_load(("l", k), lambda v=v: v) == v
    assert tier.degraded
    assert len(disabled_warnings(caplog)) == 1, caplog.text
    # Nothing lost from the memory tier while the disk was failing.
    for k, v in values.items():
        assert cache.get(k) == v
    # While degraded the disk is not touched (no hammering a dead disk).
    ops = inj.ops
    for k in range(200):
        cache.get(("absent", k))
    assert inj.ops == ops
    # A failed probe doubles the back-off and does not warn again.
    tier._health.retry_at = 0.0
    cache.get(("absent", "probe"))
    assert tier.degraded and tier._health.backoff == 2.0
    assert len(disabled_warnings(caplog)) == 1
    # The disk heals: the next probe re-enables the tier, and writes reach it again.
    inj.enabled = False
    tier._health.retry_at = 0.0
    cache.set("after", b"x" * 100)
    assert not tier.degraded
    assert "works again" in caplog.text
    assert tier.get(cache_disk_key(cache, "after")) == b"x" * 100
    assert cache.verify(repair=True) is not None
    assert cache.verify().ok, cache.verify().problems
    cache.close()


def cache_disk_key(cache: mk.Cache, key: Any) -> str:
    from memcache_kit._keys import make_key

    return make_key(key).disk  # type: ignore[no-any-return]


def test_directory_deleted_under_a_running_cache(tmp_path: Path) -> None:
    cache = mk.Cache("gone", memory="1MiB", disk="4MiB", directory=tmp_path / "c")
    values = {k: os.urandom(2000) for k in range(100)}
    for k, v in values.items():
        cache.set(k, v)
    shutil.rmtree(tmp_path / "c")
    for k, v in values.items():
        assert cache.get(k) == v or cache.get(k) is None
        assert cache.get_or_load(k, lambda v=v: v) == v
        cache.set(("new", k), v)
        assert cache.get(("new", k)) == v
    cache.delete(3)
    assert cache.get(3) is None
    cache.close()


def read_only_run(directory: Path) -> None:
    cache = mk.Cache("ro", memory="64KiB", disk="4MiB", directory=directory)
    for k in range(300):
        v = str(k).encode() * 300
        cache.set(k, v)
        assert cache.get(k) in (v, None)
        assert cache.get_or_load(("l", k), lambda v=v: v) == v
    assert cache.get("old") in (b"old" * 100, None)
    cache.close()


def test_read_only_directory() -> None:
    """A directory the process cannot write (0500). Root ignores the mode bits, so as root a
    forked child drops to ``nobody`` (uid 65534) and opens a directory that user owns."""
    # Under /tmp, not tmp_path: pytest's base directory is 0700 root, which nobody cannot cross.
    base = Path(tempfile.mkdtemp(prefix="mk-ro-"))
    directory = base / "c"
    seed = mk.Cache("ro", memory="1MiB", disk="4MiB", directory=directory)
    seed.set("old", b"old" * 100)
    seed.close()
    root = os.geteuid() == 0
    if root:
        os.chmod(base, 0o711)
        for where, dirs, files in os.walk(directory):
            for name in [*dirs, *files]:
                os.chown(os.path.join(where, name), 65534, 65534)
        os.chown(directory, 65534, 65534)
    directory.chmod(0o500)
    (directory / "data").chmod(0o500)
    try:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child reports through its exit status
            code = 1
            try:
                if root:
                    os.setgid(65534)
                    os.setuid(65534)
                with warnings.catch_warnings():
                    warnings.simplefilter("error")
                    read_only_run(directory)
                code = 0
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        shutil.rmtree(base)


def test_read_only_by_injection(tmp_path: Path) -> None:
    """The same as seen by root: every file write and database call fails with EACCES."""
    cache = mk.Cache("ro2", memory="64KiB", disk="4MiB", directory=tmp_path / "c")
    inj = inject(disk_of(cache), Injector(every=1, kinds=("EACCES",)))
    for k in range(300):
        v = str(k).encode() * 300
        cache.set(k, v)
        assert cache.get(k) in (v, None)
        assert cache.get_or_load(("l", k), lambda v=v: v) == v
    assert inj.injected["EACCES"] > 0
    cache.close()


class CacheWithFaults(RuleBasedStateMachine):
    """A model of ``Cache`` (a dict) while faults come and go at the disk boundary."""

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="mk-fsm-"))
        self.cache = mk.Cache("fsm", memory="24KiB", disk="2MiB", directory=self.dir / "c")
        self.inj = inject(disk_of(self.cache), Injector(every=3))
        self.model: dict[int, bytes] = {}

    keys = st.integers(0, 30)

    @rule(k=keys, n=st.integers(1, 6000))
    def set(self, k: int, n: int) -> None:
        v = os.urandom(n)
        self.cache.set(k, v)
        self.model[k] = v

    @rule(k=keys)
    def get(self, k: int) -> None:
        got = self.cache.get(k, ABSENT)
        assert got is ABSENT or got == self.model.get(k)

    @rule(k=keys)
    def get_or_load(self, k: int) -> None:
        fresh = os.urandom(100)
        got = self.cache.get_or_load(k, lambda: fresh)
        if k in self.model:
            # The cache may have lost it to a fault: then it loads the fresh value.
            assert got == self.model[k] or got == fresh
        else:
            assert got == fresh
        self.model[k] = got

    @rule(k=keys)
    def delete(self, k: int) -> None:
        self.cache.delete(k)
        self.model.pop(k, None)
        assert self.cache.get(k, ABSENT) is ABSENT

    @rule(every=st.integers(1, 5), on=st.booleans())
    def faults(self, every: int, on: bool) -> None:
        self.inj.every = every
        self.inj.enabled = on
        if not on:
            disk_of(self.cache)._health.retry_at = 0.0

    @invariant()
    def memory_within_budget(self) -> None:
        mem = self.cache._memory
        assert mem is not None and mem.stats().bytes <= mem.stats().budget

    def teardown(self) -> None:
        self.inj.enabled = False
        disk_of(self.cache)._health.retry_at = 0.0
        for k, v in self.model.items():
            got = self.cache.get(k, ABSENT)
            assert got is ABSENT or got == v
        self.cache.verify(repair=True)
        report = self.cache.verify()
        self.cache.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        assert report.ok, report.problems


TestCacheWithFaults = CacheWithFaults.TestCase
TestCacheWithFaults.settings = settings(
    max_examples=40,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
