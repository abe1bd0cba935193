"""``Cache`` with a remote tier on a real redis-server: lookups memory → disk → remote, promotion,
write-through of loads and sets, delete and clear (this namespace only), TTL as Redis expiry,
stats and verify, the shared secret, budgets from configuration, an outage."""

# ruff: noqa: F811 - the redis_server fixture is imported, then named by the tests that use it

from __future__ import annotations

import asyncio
import logging
import pickle
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import memcache_kit as mk
from memcache_kit._cache.cache import Cache
from memcache_kit._config import registry as _registry
from memcache_kit._errors import ConfigError
from memcache_kit._keys import make_key
from redis_server import RedisServer, redis_server  # noqa: F401 - registers the fixture

SECRET = "test-secret-shared-by-every-machine"


@pytest.fixture(autouse=True)
def _shared_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMCACHE_KIT_SECRET", SECRET)


@pytest.fixture
def caches(tmp_path: Path, redis_server: RedisServer) -> Iterator[Any]:
    """A factory of caches on the test's Redis: each gets its own directory (a "machine")."""
    made: list[Cache] = []

    def make(name: str = "shared", **kw: Any) -> Cache:
        kw.setdefault("directory", tmp_path / f"m{len(made)}")
        kw.setdefault("remote", redis_server.url)
        c = Cache(name, **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        report = c.verify()
        assert report.ok, report.problems
        c.close()


def test_a_value_set_on_one_machine_is_a_remote_hit_on_another(caches: Any) -> None:
    a, b = caches(), caches()
    a.set("k", {"v": 1})
    assert b.get("k") == {"v": 1}
    s = b.stats()
    assert s.tiers["remote"].hits == 1
    assert s.tiers["disk"].misses == 1
    # promoted into memory and disk: the next read is a memory hit, the disk holds a copy
    assert s.tiers["memory"].promotions == 1
    assert s.tiers["disk"].promotions == 1
    assert b.get("k") == {"v": 1}
    assert b.stats().tiers["memory"].hits == 1
    assert b.stats().tiers["remote"].hits == 1
    assert b._disk is not None and b._disk.get(mk_disk("k")) == {"v": 1}


def mk_disk(key: Any) -> str:
    return make_key(key).disk


def test_remote_hit_with_local_tiers_off(caches: Any) -> None:
    a = caches(memory=0, disk=0)
    b = caches(memory=0, disk=0)
    arr = np.arange(2_000_000, dtype=np.float32)  # 8 MB: stored in chunks
    assert a.get_or_load("arr", lambda: arr) is arr
    got = b.get_or_load("arr", lambda: pytest.fail("loaded again"))
    np.testing.assert_array_equal(got, arr)
    assert b.stats().loads == 0
    assert a.stats().tiers["remote"].writes == 1


def test_loads_are_written_through_and_load_once_across_caches(caches: Any) -> None:
    a, b = caches(), caches()
    calls: list[int] = []
    assert a.get_or_load(1, lambda: calls.append(1) or "one") == "one"
    assert b.get_or_load(1, lambda: calls.append(2) or "uno") == "one"
    assert calls == [1]
    assert 1 in b


def test_delete_and_clear_reach_the_remote_tier_of_this_namespace_only(
    caches: Any, redis_server: RedisServer
) -> None:
    a, b = caches("one"), caches("one")
    other = caches("two")
    a.set("x", 1)
    a.set("y", 2)
    other.set("x", "other's")
    assert b.get("x") == 1
    assert a.delete("x")
    # b's memory tier may still serve its copy (memory tiers are per process); a fresh one misses
    fresh = caches("one")
    assert fresh.get("x") is None
    a.clear()
    assert fresh.get("y") is None
    assert caches("two").get("x") == "other's"


def test_ttl_becomes_a_redis_expiry(caches: Any, redis_server: RedisServer) -> None:
    a = caches(ttl="1h")
    a.set("t", "v")
    a.set("forever", "v", ttl=None)
    r = redis_server.client()
    assert 0 < r.pttl(f"mk:{{shared}}:v1:e:{mk_disk('t')}") <= 3600 * 1000
    # no ttl: the tier's nominal expiry of 100 years (evictable under volatile-* policies)
    assert r.pttl(f"mk:{{shared}}:v1:e:{mk_disk('forever')}") > 50 * 365 * 86_400_000
    # the promoted copy keeps the remote entry's expiry
    b = caches(ttl=None)
    assert b.get("t") == "v"
    assert b._memory is not None
    meta_exp = b._memory._live_entry(mk_mem("t"))
    assert meta_exp is not None and meta_exp.expire_at is not None
    assert b.get("forever") == "v"
    entry = b._memory._live_entry(mk_mem("forever"))
    assert entry is not None and entry.expire_at is None


def mk_mem(key: Any) -> Any:
    from memcache_kit._cache.parts import mem_key

    return mem_key(key)


def test_an_expired_remote_entry_is_a_miss(caches: Any) -> None:
    import time

    a = caches(memory=0, disk=0)
    a.set("short", 1, ttl=0.2)
    time.sleep(0.4)
    assert a.get("short") is None


def test_stats_and_verify_include_the_remote_tier(caches: Any) -> None:
    a = caches(remote_budget="1MiB")
    a.set("a", b"x" * 1000)
    s = a.stats()
    assert set(s.tiers) == {"memory", "disk", "remote"}
    assert s.tiers["remote"].items == 1
    assert s.tiers["remote"].budget == 2**20
    report = a.verify()
    assert report.ok and "remote" in report.tiers


def test_remote_budget_reads_and_resizes(caches: Any) -> None:
    a = caches(remote_budget="2MiB")
    assert a.remote_budget == 2 * 2**20
    for i in range(10):
        a.set(i, b"x" * 200_000)
    a.remote_budget = "600KB"
    assert a.remote_budget == 600_000
    assert a.stats().tiers["remote"].bytes <= 600_000
    a.remote_budget = 0
    assert "remote" not in a.stats().tiers
    a.remote_budget = "1MiB"
    assert "remote" in a.stats().tiers
    unbounded = caches()
    assert unbounded.remote_budget > 2**60  # the server's maxmemory alone bounds it


def test_pickling_sends_the_remote_settings(caches: Any) -> None:
    a = caches(remote_budget="1MiB", remote_timeout=0.25)
    a.set("p", 1)
    b = pickle.loads(pickle.dumps(a))
    try:
        assert b._remote_url == a._remote_url
        assert b.remote_budget == 2**20 and b._remote_timeout == 0.25
        b.memory_budget = 0
        b.disk_budget = 0
        assert b.get("p") == 1
    finally:
        b.close()


def test_no_shared_secret_is_a_clear_error(
    tmp_path: Path, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MEMCACHE_KIT_SECRET")
    with pytest.raises(ConfigError, match=r"cache 'nosecret' .*MEMCACHE_KIT_SECRET"):
        Cache("nosecret", directory=tmp_path, remote=redis_server.url)


def test_configuration_builds_and_resizes_the_remote_tier(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    _registry._reset()
    try:
        mk.configure(
            {
                "caches": {
                    "team": {
                        "directory": str(tmp_path / "team"),
                        "remote": redis_server.url,
                        "remote_budget": "4MiB",
                        "remote_timeout": 0.25,
                    }
                }
            }
        )
        c = mk.get_cache("team")
        assert c.remote_budget == 4 * 2**20 and c._remote_timeout == 0.25
        c.set("k", "v")
        mk.configure({"caches": {"team": {"remote_budget": "8MiB"}}})
        assert c.remote_budget == 8 * 2**20
        assert c.stats().tiers["remote"].budget == 8 * 2**20
    finally:
        _registry._reset()


def test_redis_down_degrades_with_one_warning_then_recovers(
    caches: Any, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    a = caches(remote_timeout=0.2)
    a.set("before", 1)
    redis_server.kill()
    with caplog.at_level(logging.WARNING, logger="memcache_kit"):
        for i in range(5):
            assert a.get_or_load(("down", i), lambda i=i: i) == i
            assert a.get(("down", i)) == i
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "unreachable" in warnings[0].getMessage()
    redis_server.start()
    assert a._remote is not None
    a._remote._health.retry_at = 0  # do not wait for the back-off in a test
    a.set("after", 2)
    fresh = caches(memory=0, disk=0)
    assert fresh.get("after") == 2


def test_a_task_cancelled_waiting_for_the_remote_lock_leaves_no_lock(
    caches: Any, redis_server: RedisServer
) -> None:
    """Issue 13, item 3, with the Redis lease lock: a leader cancelled while it waits for
    another machine's lock takes no lock with it, so the next load starts at once."""
    a, b = caches("rlock"), caches("rlock")
    key = make_key("k").disk
    holder = a._remote.lock(key, lease=30, timeout=0)  # another machine's load
    assert holder.acquire()

    async def main() -> None:
        task = asyncio.create_task(b.aget_or_load("k", lambda: "from-b"))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        holder.release()
        await asyncio.sleep(0.5)  # a wait that outlived the task would hold the lock by now

    asyncio.run(main())
    assert not redis_server.client().exists(a._remote.keys.lock(key))
    t0 = time.monotonic()
    assert a.get_or_load("k", lambda: "from-a") == "from-a"
    assert time.monotonic() - t0 < 2.0
