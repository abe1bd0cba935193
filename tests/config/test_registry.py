"""Named caches: one instance per name, live budget changes, the process-wide cap, processes."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import memcache_kit as mk
from memcache_kit._config import registry as _registry
from memcache_kit._errors import CacheWarning
from memcache_kit._settings import settings as process_settings

KiB = 2**10
MiB = 2**20


@pytest.fixture(autouse=True)
def _fresh_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    _registry._reset()
    yield
    _registry._reset()


def memory_bytes(cache: mk.Cache) -> int:
    return cache.stats().tiers["memory"].bytes


def test_one_instance_per_name_across_threads() -> None:
    got: list[mk.Cache] = []
    barrier = threading.Barrier(8)

    def grab() -> None:
        barrier.wait()
        got.append(mk.get_cache("shared"))

    threads = [threading.Thread(target=grab) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(got) == 8
    assert all(c is got[0] for c in got)
    assert mk.get_cache("shared") is got[0]
    assert mk.get_cache("other") is not got[0]


def test_a_plain_cache_is_not_configured(cache_dir: Path) -> None:
    mk.configure({"caches": {"plain": {"memory": "1MiB"}}})
    with mk.Cache("plain", memory="2MiB", disk=None, directory=cache_dir) as own:
        assert own.memory_budget == 2 * MiB
        assert own is not mk.get_cache("plain")


def test_a_forked_child_keeps_its_own_instances(tmp_path: Path) -> None:
    # In a fresh interpreter: forking the test runner itself would fork xdist's threads too.
    script = textwrap.dedent(
        """
        import os, memcache_kit as mk
        mk.configure({"caches": {"f": {"memory": "1MiB", "disk": 0}}})
        parent = mk.get_cache("f")
        parent.set("k", "from parent")
        pid = os.fork()
        if pid == 0:
            child = mk.get_cache("f")
            ok = child is parent and child.get("k") == "from parent"
            child.set("k", "from child")
            ok = ok and mk.get_cache("g") is mk.get_cache("g")  # the registry lock works
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
        assert mk.get_cache("f").get("k") == "from parent"  # memory tiers are per process
        print("ok")
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_configure_resizes_a_live_cache_at_once(cache_dir: Path) -> None:
    mk.configure({"caches": {"live": {"memory": "1MiB", "disk": 0}}})
    cache = mk.get_cache("live")
    for i in range(16):
        cache.set(i, b"x" * (50 * KiB))
    assert memory_bytes(cache) > 256 * KiB
    mk.configure({"caches": {"live": {"memory": "256KiB"}}})  # no warning: budgets apply live
    assert cache.memory_budget == 256 * KiB
    assert memory_bytes(cache) <= 256 * KiB
    assert mk.get_cache("live") is cache


def test_configure_changes_disk_budget_of_a_live_cache(cache_dir: Path) -> None:
    mk.configure({"caches": {"d": {"memory": "1MiB", "disk": "8MiB", "directory": str(cache_dir)}}})
    cache = mk.get_cache("d")
    mk.configure({"caches": {"d": {"disk": "4MiB"}}})
    assert cache.disk_budget == 4 * MiB


def test_other_changes_to_a_live_cache_warn_and_wait(cache_dir: Path, tmp_path: Path) -> None:
    cache = mk.get_cache("live")
    other = tmp_path / "elsewhere"
    with pytest.warns(
        CacheWarning, match=r"live cache 'live' keeps its current settings for directory=.*ttl='1h'"
    ):
        mk.configure({"caches": {"live": {"ttl": "1h", "directory": str(other)}}})
    assert mk.get_cache("live") is cache
    # A cache built afterwards gets them.
    mk.configure({"caches": {"later": {"ttl": "1h", "directory": str(other)}}})
    keys = _registry.describe()["caches"]["later"]["keys"]
    assert keys["ttl"]["value"] == 3600.0
    assert keys["directory"]["value"] == str(other)


def test_environment_keeps_its_value_over_configure_for_a_live_cache(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MEMCACHE_KIT__PINNED__MEMORY", "3MiB")
    cache = mk.get_cache("pinned")
    mk.configure({"caches": {"pinned": {"memory": "1MiB"}}})  # no warning, no change
    assert cache.memory_budget == 3 * MiB


def test_run_time_resize_through_the_property() -> None:
    mk.configure({"caches": {"r": {"memory": "1MiB", "disk": 0}}})
    cache = mk.get_cache("r")
    for i in range(16):
        cache.set(i, b"y" * (50 * KiB))
    cache.memory_budget = "128KiB"
    assert cache.memory_budget == 128 * KiB
    assert memory_bytes(cache) <= 128 * KiB
    cache.memory_budget = "2MiB"
    for i in range(16):
        cache.set(i, b"y" * (50 * KiB))
    assert memory_bytes(cache) > 128 * KiB


def test_total_memory_enforced_on_live_caches_at_once() -> None:
    mk.configure({"caches": {n: {"memory": "1MiB", "disk": 0} for n in "abc"}})
    caches = [mk.get_cache(n) for n in "abc"]
    for c in caches:
        for i in range(10):
            c.set(i, b"z" * (50 * KiB))
    assert sum(memory_bytes(c) for c in caches) > 1 * MiB
    mk.configure({"total_memory": "512KiB"})
    assert sum(memory_bytes(c) for c in caches) <= 512 * KiB


CAP = 300 * KiB


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 2),  # which cache
            st.integers(0, 40),  # key
            st.integers(1, 120 * KiB),  # value size
        ),
        min_size=1,
        max_size=60,
    )
)
def test_total_memory_caps_three_caches_together(ops: list[tuple[int, int, int]]) -> None:
    _registry._reset()
    mk.configure(
        {
            "total_memory": CAP,
            "caches": {n: {"memory": "200KiB", "disk": 0} for n in ("one", "two", "three")},
        }
    )
    caches = [mk.get_cache(n) for n in ("one", "two", "three")]
    try:
        for which, key, size in ops:
            caches[which].set(key, b"v" * size)
            total = sum(memory_bytes(c) for c in caches)
            assert total <= CAP
            assert all(memory_bytes(c) <= 200 * KiB for c in caches)
    finally:
        _registry._reset()


def _worker(cache: mk.Cache) -> tuple[int, int, Any, str, bool, bool]:
    # The worker never saw the parent's configure(): without the unpickled cache, its
    # get_cache("spawned") would build a second cache from the defaults.
    again = pickle.loads(pickle.dumps(cache))
    return (
        cache.memory_budget,
        cache.disk_budget,
        cache.get("from-parent"),
        cache.name,
        mk.get_cache(cache.name) is cache,
        again is cache,
    )


def test_a_spawned_worker_rebuilds_a_configured_cache(cache_dir: Path) -> None:
    mk.configure(
        {
            "caches": {
                "spawned": {
                    "memory": "3MiB",
                    "disk": "5MiB",
                    "directory": str(cache_dir),
                    "ttl": "1h",
                }
            }
        }
    )
    cache = mk.get_cache("spawned")
    cache.set("from-parent", [1, 2, 3])  # written through to the shared disk tier
    assert pickle.loads(pickle.dumps(cache)) is cache  # here: the process's instance itself
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        got = pool.apply(_worker, (cache,))
    # There, the unpickled cache became the worker's instance of the name.
    assert got == (3 * MiB, 5 * MiB, [1, 2, 3], "spawned", True, True)


def test_an_unpickled_named_cache_keeps_a_different_local_instance(tmp_path: Path) -> None:
    """A process whose own instance of the name has other settings keeps it; the unpickled
    cache is then an independent instance with the sender's settings."""
    sent = mk.get_cache("twice")
    state = pickle.dumps(sent)
    _registry._reset()
    mk.configure({"caches": {"twice": {"memory": "1MiB", "directory": str(tmp_path / "t")}}})
    local = mk.get_cache("twice")
    got = pickle.loads(state)
    assert got is not local and mk.get_cache("twice") is local
    assert got.directory == sent.directory != local.directory
    got.close()


def test_an_unpickled_plain_cache_stays_independent(cache_dir: Path) -> None:
    plain = mk.Cache("plain-name", memory="1MiB", disk="4MiB", directory=cache_dir)
    again = pickle.loads(pickle.dumps(plain))
    assert again is not plain and again.directory == plain.directory
    assert mk.get_cache("plain-name") is not again  # a plain cache never becomes the named one
    again.close()
    plain.close()


def test_reset_settings_between_tests_does_not_leak() -> None:
    assert process_settings.total_memory is None
    mk.configure({"total_memory": "64MiB"})
    assert process_settings.total_memory == 64 * MiB
    _registry._reset()
    assert process_settings.total_memory is None
    assert os.environ.get("MEMCACHE_KIT__TOTAL_MEMORY") is None
