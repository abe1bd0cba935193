"""The Redis tier against a real redis-server: the tier contract, processes sharing it, single
flight across processes, forged entries, TTL, outages and restarts, namespaces, chunked arrays,
budget accounting that heals when Redis drops entries on its own, and fork."""

# ruff: noqa: F811 - the redis_server fixture is imported, then named by the tests that use it

from __future__ import annotations

import json
import logging
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
from test_tier_contract import (  # noqa: F401 - the contract suite, collected here (below)
    BUDGET,
    key,
    test_budget_is_held,
    test_budget_resize,
    test_clear,
    test_delete,
    test_entry_expires_later,
    test_expired_entry_is_a_miss,
    test_get_missing_is_MISSING,
    test_none_is_a_value,
    test_overwrite_replaces,
    test_set_get_round_trip,
    test_stats_counters,
    test_too_large_is_declined,
    test_too_large_replaces_older_value,
    test_verify_shape,
)

from memcache_kit._errors import ConfigError
from memcache_kit._serial import seal
from memcache_kit._shapes import MISSING
from memcache_kit._tiers.base import Tier
from memcache_kit._tiers.redis.tier import RedisTier
from redis_server import RedisServer, redis_server  # noqa: F401 - registers the fixture

# The contract suite's tests, imported above, are collected here with this module's `make` and
# `tier` fixtures (test_is_a_tier is rewritten below: it checks the contract module's own table).

SECRET = "test-secret-shared-by-every-machine"
SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.fixture(autouse=True)
def _shared_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMCACHE_KIT_SECRET", SECRET)


@pytest.fixture
def make(redis_server: RedisServer) -> Iterator[Any]:
    """The contract suite's factory, for the Redis tier (one namespace per tier made)."""
    made: list[RedisTier] = []

    def factory(tmp: Path | None = None, budget: int = BUDGET, **kw: Any) -> RedisTier:
        kw.setdefault("namespace", f"ns{len(made)}")
        tier = RedisTier(redis_server.url, budget, **kw)
        made.append(tier)
        return tier

    yield factory
    for tier in made:
        problems, _, _ = tier.verify()
        assert problems == [], f"{tier.namespace}: {problems}"
        tier.close()


@pytest.fixture
def tier(make: Any) -> RedisTier:
    t: RedisTier = make()
    return t


def _keys(server: RedisServer, pattern: str = "*") -> list[bytes]:
    return sorted(server.client().scan_iter(match=pattern))


def test_is_a_tier(tier: RedisTier) -> None:
    assert isinstance(tier, Tier)
    assert tier.name == "remote"


# -- configuration ------------------------------------------------------------------------------


def test_needs_a_shared_secret(redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEMCACHE_KIT_SECRET")
    with pytest.raises(ConfigError, match="MEMCACHE_KIT_SECRET"):
        RedisTier(redis_server.url, BUDGET, namespace="x")
    # an explicit secret is enough
    t = RedisTier(redis_server.url, BUDGET, namespace="x", secret=SECRET.encode())
    assert t.set(key(1), "v") and t.get(key(1)) == "v"
    t.close()


@pytest.mark.parametrize("url", ["http://127.0.0.1:6379", "127.0.0.1:6379", "", "memcached://x"])
def test_bad_url_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="redis://"):
        RedisTier(url, BUDGET, namespace="x")


@pytest.mark.parametrize("ns", ["", "a b", "x{y}", "-x", "a*", "é"])
def test_bad_namespace_is_refused(ns: str) -> None:
    with pytest.raises(ValueError, match="namespace"):
        RedisTier("redis://127.0.0.1:1/0", BUDGET, namespace=ns)


def test_bad_budget_and_timeout_are_refused() -> None:
    with pytest.raises(ValueError, match="budget"):
        RedisTier("redis://127.0.0.1:1/0", -1, namespace="x")
    with pytest.raises(ValueError, match="remote_timeout"):
        RedisTier("redis://127.0.0.1:1/0", BUDGET, namespace="x", timeout=0)


# -- sharing between processes ------------------------------------------------------------------


def _run(code: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MEMCACHE_KIT_SECRET": SECRET, "PYTHONPATH": SRC}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


_PRELUDE = """
import sys, json, time
from memcache_kit._tiers.redis import RedisTier
from memcache_kit._shapes import MISSING
url, ns, k = sys.argv[1], sys.argv[2], sys.argv[3]
tier = RedisTier(url, 10**9, namespace=ns)
"""


def test_two_processes_share_values(redis_server: RedisServer) -> None:
    writer = _run(
        _PRELUDE
        + """
import numpy as np
assert tier.set(k, {"answer": 42, "text": "from the writer"})
assert tier.set(k[::-1], np.arange(1_000_000, dtype=np.int64))
""",
        redis_server.url, "shared", key(7),
    )  # fmt: skip
    assert writer.returncode == 0, writer.stderr
    reader = _run(
        _PRELUDE
        + """
arr = tier.get(k[::-1])
print(json.dumps([tier.get(k), int(arr.sum()), arr.dtype.str, list(arr.shape)]))
""",
        redis_server.url, "shared", key(7),
    )  # fmt: skip
    assert reader.returncode == 0, reader.stderr
    value, total, dtype, shape = json.loads(reader.stdout)
    assert value == {"answer": 42, "text": "from the writer"}
    assert total == sum(range(1_000_000))
    assert (dtype, shape) == (np.dtype(np.int64).str, [1_000_000])


_FLIGHT = (
    _PRELUDE
    + """
import os
runs, ready, go = sys.argv[4], sys.argv[5], sys.argv[6]
open(ready + str(os.getpid()), "w").close()
while not os.path.exists(go):
    time.sleep(0.005)

def loader():
    with open(runs, "a") as f:
        f.write(f"{os.getpid()}\\n")
    time.sleep(1.0)
    return "loaded once"

value, here = tier.load_once(k, loader, lease=5, timeout=60)
print(json.dumps([value, here]))
"""
)


def test_single_flight_across_processes(redis_server: RedisServer, tmp_path: Path) -> None:
    n = 4
    runs, ready, go = tmp_path / "runs", tmp_path / "ready-", tmp_path / "go"
    env = {**os.environ, "MEMCACHE_KIT_SECRET": SECRET, "PYTHONPATH": SRC}
    args = [redis_server.url, "flight", key(3), str(runs), str(ready), str(go)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _FLIGHT, *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("ready-*"))) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    outputs = [p.communicate(timeout=90) for p in procs]
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err
    results = [json.loads(out) for out, _ in outputs]
    assert [r[0] for r in results] == ["loaded once"] * n
    assert sum(r[1] for r in results) == 1
    assert len(runs.read_text().splitlines()) == 1


def test_killed_lock_holder_blocks_at_most_one_lease(
    redis_server: RedisServer,
    make: Any,
) -> None:
    lease = 1.0
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _PRELUDE
            + """
import os, signal
lk = tier.lock(k, lease=float(sys.argv[4]), timeout=5)
assert lk.acquire()
print("held", flush=True)
time.sleep(float(sys.argv[4]) * 1.5)   # long enough for at least one renewal
os.kill(os.getpid(), signal.SIGKILL)
""",
            redis_server.url,
            "ns0",
            key(9),
            str(lease),
        ],
        env={**os.environ, "MEMCACHE_KIT_SECRET": SECRET, "PYTHONPATH": SRC},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "held"
    tier: RedisTier = make(namespace="ns0")
    # the holder renews: a waiter that gives up before the holder dies does not get the lock
    with tier.lock(key(9), lease=lease, timeout=0.2) as early:
        assert not early.held
    assert holder.wait(timeout=30) == -signal.SIGKILL
    holder.stdout.close()
    lock_name = tier.keys.lock(key(9))
    assert redis_server.client().pttl(lock_name) <= lease * 1000  # at most one lease left
    with tier.lock(key(9), lease=lease, timeout=30) as lk:
        # bounded by the lease (1 s), not by the 30 s timeout: generous against a slow machine
        assert lk.held
        assert lk.waited < 10
    assert redis_server.client().exists(lock_name) == 0


def test_lease_is_renewed_while_loading(make: Any) -> None:
    a: RedisTier = make(namespace="lease")
    b: RedisTier = make(namespace="lease")
    with a.lock(key(1), lease=1.0, timeout=1) as held:
        assert held.held
        with b.lock(key(1), lease=1.0, timeout=3.0) as other:
            assert not other.held  # three leases long, yet the holder kept it
            assert other.waited >= 3.0
        assert not held.lost
    with b.lock(key(1), lease=1.0, timeout=1) as after:
        assert after.held  # released at the end of the block, not left to expire


def test_lock_only_released_by_its_owner(make: Any, redis_server: RedisServer) -> None:
    a: RedisTier = make(namespace="own")
    lk = a.lock(key(1), lease=5, timeout=0)
    assert lk.acquire()
    stolen = redis_server.client()
    stolen.set(a.keys.lock(key(1)), b"someone else", px=5000)
    lk.release()  # must not delete the other holder's lock
    assert stolen.get(a.keys.lock(key(1))) == b"someone else"


def test_lock_waiter_gives_up_when_redis_is_down(redis_server: RedisServer, caplog: Any) -> None:
    tier = RedisTier(redis_server.url, BUDGET, namespace="down", timeout=0.2)
    redis_server.kill()
    with caplog.at_level(logging.WARNING, logger="memcache_kit"):
        value, here = tier.load_once(key(1), lambda: "local", timeout=30)
    assert (value, here) == ("local", True)
    assert [r.levelno for r in caplog.records] == [logging.WARNING]


# -- trust ----------------------------------------------------------------------------------------


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


def test_forged_entries_are_misses_never_unpickled(
    tier: RedisTier,
    redis_server: RedisServer,
    tmp_path: Path,
    caplog: Any,
) -> None:
    marker = tmp_path / "pwned"
    evil = pickle.dumps(_Evil(marker), protocol=5)
    raw = redis_server.client()
    # a bare pickle, a blob sealed with another secret, and a valid blob of another key
    raw.set(tier.keys.entry(key(1)), evil)
    other = seal(b"an attacker's secret 123", evil, key=f"{tier.namespace}\x00{key(2)}",
                 serializer="pickle")  # fmt: skip
    raw.set(tier.keys.entry(key(2)), other)
    tier.set(key(3), "genuine")
    raw.set(tier.keys.entry(key(4)), raw.get(tier.keys.entry(key(3))))
    with caplog.at_level(logging.WARNING, logger="memcache_kit"):
        for _ in range(2):
            assert tier.get(key(1)) is MISSING
        assert tier.get(key(2)) is MISSING
        assert tier.get(key(4)) is MISSING
        assert key(2) not in tier
    assert not marker.exists()
    assert tier.get(key(3)) == "genuine"
    assert tier.bad_entries == {"format": 1, "forged": 2}
    # one warning per kind, and each bad entry was dropped
    assert len(caplog.records) == 2
    assert all(r.levelno == logging.WARNING for r in caplog.records)
    assert raw.exists(*(tier.keys.entry(key(i)) for i in (1, 2, 4))) == 0
    tier.verify(repair=True)


def test_blob_copied_from_another_namespace_is_forged(make: Any, redis_server: RedisServer) -> None:
    a: RedisTier = make(namespace="alpha")
    b: RedisTier = make(namespace="beta")
    a.set(key(1), "alpha's")
    raw = redis_server.client()
    raw.set(b.keys.entry(key(1)), raw.get(a.keys.entry(key(1))))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(logging.getLogger("memcache_kit"), "disabled", True)
        assert b.get(key(1)) is MISSING
    assert b.bad_entries == {"forged": 1}
    b.verify(repair=True)


def test_tampered_chunk_is_a_miss(make: Any, redis_server: RedisServer, caplog: Any) -> None:
    tier: RedisTier = make(namespace="chunks", chunk_size=1 << 20, budget=10**8)
    arr = np.arange(600_000, dtype=np.float64)  # 4.8 MB: five chunks
    assert tier.set(key(1), arr)
    raw = redis_server.client()
    chunks = _keys(redis_server, tier.keys.prefix + "c:*")
    assert len(chunks) == 5
    piece = bytearray(raw.get(chunks[2]))
    piece[100] ^= 1
    raw.set(chunks[2], bytes(piece))
    with caplog.at_level(logging.WARNING, logger="memcache_kit"):
        assert tier.get(key(1)) is MISSING
    assert tier.bad_entries == {"forged": 1}
    assert "chunk" in caplog.records[0].getMessage()
    assert _keys(redis_server, tier.keys.prefix + "c:*") == []  # dropped with its entry


# -- TTL, namespaces, chunking, budget ----------------------------------------------------------


def test_ttl_is_a_redis_expiry(tier: RedisTier, redis_server: RedisServer) -> None:
    raw = redis_server.client()
    tier.set(key(1), "short", expire_at=time.time() + 0.4)
    tier.set(key(2), bytes(2_000_000), expire_at=time.time() + 0.4)  # chunked
    tier.set(key(3), "forever")
    assert 0 < raw.pttl(tier.keys.entry(key(1))) <= 400
    for name in _keys(redis_server, tier.keys.prefix + "c:*"):
        assert 0 < raw.pttl(name) <= 400  # chunks live exactly as long as their entry
    # no TTL: a nominal 100-year expiry, so volatile-* maxmemory policies may evict it
    assert raw.pttl(tier.keys.entry(key(3))) > 50 * 365 * 86_400_000
    assert raw.pttl(tier.keys.sizes) == -1  # bookkeeping never expires
    assert tier.get(key(1)) == "short"
    time.sleep(0.6)
    assert tier.get(key(1)) is MISSING
    assert tier.get(key(2)) is MISSING
    s = tier.stats()  # the expired entries' records are healed away
    assert s.items == 1
    assert s.evictions == 0


def test_namespaces_are_isolated(make: Any, redis_server: RedisServer) -> None:
    a: RedisTier = make(namespace="cache-a")
    b: RedisTier = make(namespace="cache-b", budget=10**8)
    a.set(key(1), "a's")
    b.set(key(1), "b's")
    b.set(key(2), bytes(1_000_000))
    assert (a.get(key(1)), b.get(key(1))) == ("a's", "b's")
    assert a.get(key(2)) is MISSING
    a.clear()
    assert a.get(key(1)) is MISSING
    assert b.get(key(1)) == "b's"
    assert b.get(key(2)) == bytes(1_000_000)
    assert a.stats().items == 0
    assert b.stats().items == 2
    assert _keys(redis_server, "mk:{cache-a}:*") == []
    assert all(k.startswith((b"mk:{cache-b}:", b"mk:{cache-a}:")) for k in _keys(redis_server))


@pytest.mark.parametrize(
    "value",
    [
        np.arange(2_500_000, dtype=np.float64),  # 20 MB, out-of-band buffer
        np.asfortranarray(np.arange(1_200_000, dtype=np.int32).reshape(1200, 1000)),
        np.arange(3_000_000, dtype=np.uint8)[::3],  # non-contiguous: pickled in band
        bytes(range(256)) * 12_000,  # a large in-band pickle
        {"a": np.ones((800, 800)), "b": np.zeros(900_000, dtype=np.float32), "c": [1, 2]},
    ],
    ids=["float64-20MB", "fortran", "strided", "bytes", "dict-of-arrays"],
)
def test_large_values_round_trip_in_chunks(
    make: Any, redis_server: RedisServer, value: Any
) -> None:
    tier: RedisTier = make(namespace="big", chunk_size=4 << 20, budget=10**9)
    assert tier.set(key(1), value)
    assert len(_keys(redis_server, tier.keys.prefix + "c:*")) >= 1
    back = tier.get(key(1))
    if isinstance(value, np.ndarray):
        assert back.dtype == value.dtype
        assert back.shape == value.shape
        np.testing.assert_array_equal(back, value)
        back[(0,) * back.ndim] = 7  # writable, and owned by the caller
    elif isinstance(value, dict):
        assert set(back) == set(value)
        np.testing.assert_array_equal(back["a"], value["a"])
        np.testing.assert_array_equal(back["b"], value["b"])
        assert back["c"] == [1, 2]
    else:
        assert back == value
    assert tier.stats().bytes >= 1_000_000


def test_large_json_value_is_chunked(make: Any, redis_server: RedisServer) -> None:
    tier: RedisTier = make(namespace="json", serializer="json", chunk_size=1 << 20, budget=10**9)
    value = {"rows": list(range(400_000))}
    assert tier.set(key(1), value)
    assert len(_keys(redis_server, tier.keys.prefix + "c:*")) >= 2
    assert tier.get(key(1)) == value


def test_overwrite_of_a_chunked_value_drops_its_chunks(
    make: Any, redis_server: RedisServer
) -> None:
    tier: RedisTier = make(namespace="ow", chunk_size=1 << 20, budget=10**9)
    tier.set(key(1), np.zeros(500_000))
    first = _keys(redis_server, tier.keys.prefix + "c:*")
    tier.set(key(1), np.ones(500_000))
    second = _keys(redis_server, tier.keys.prefix + "c:*")
    assert len(first) == len(second) == 4
    assert not set(first) & set(second)
    np.testing.assert_array_equal(tier.get(key(1)), np.ones(500_000))
    tier.set(key(1), "small now")
    assert _keys(redis_server, tier.keys.prefix + "c:*") == []
    assert tier.delete(key(1))
    assert tier.stats().bytes == 0


def test_budget_culls_least_recently_used(make: Any, redis_server: RedisServer) -> None:
    tier: RedisTier = make(namespace="lru", chunk_size=1 << 20, budget=3_500_000)
    for i in range(3):
        assert tier.set(key(i), np.full(125_000, i, dtype=np.float64))  # 1 MB each
    tier.get(key(0))  # key(1) is now the least recently used
    tier.stats()  # sends the batched access times
    assert tier.set(key(3), np.full(125_000, 3, dtype=np.float64))
    s = tier.stats()
    assert s.evictions == 1
    assert s.items == 3
    assert s.bytes <= 3_500_000
    assert tier.get(key(1)) is MISSING
    assert [int(tier.get(key(i))[0]) for i in (0, 2, 3)] == [0, 2, 3]
    # the evicted entry's chunks went with it
    assert not [n for n in _keys(redis_server, tier.keys.prefix + "c:*") if key(1).encode() in n]
    tier.budget = 1_500_000
    assert tier.stats().bytes <= 1_500_000
    assert tier.stats().items == 1


def test_accounting_heals_when_redis_drops_entries(make: Any, redis_server: RedisServer) -> None:
    tier: RedisTier = make(namespace="heal", budget=10**8)
    for i in range(5):
        tier.set(key(i), f"value {i}" * 100)
    raw = redis_server.client()
    raw.delete(tier.keys.entry(key(1)), tier.keys.entry(key(2)))  # as maxmemory eviction would
    assert tier.get(key(1)) is MISSING
    assert tier.get(key(2)) is MISSING
    s = tier.stats()  # the misses' records are forgotten with the next batch
    assert s.items == 3
    assert s.evictions == 0  # not our evictions
    assert tier.verify() == ([], 0, tier.verify()[2])
    raw.delete(tier.keys.entry(key(3)))  # not read since: a stale record, repaired by verify
    problems, repaired, details = tier.verify(repair=True)
    assert problems == []
    assert repaired == 1
    assert details["stale"] == 1
    assert tier.stats().items == 2


@pytest.mark.parametrize("policy", ["volatile-lru", "allkeys-lru"])
def test_server_eviction_under_maxmemory(redis_server: RedisServer, policy: str) -> None:
    redis_server.restart("--maxmemory", "8mb", "--maxmemory-policy", policy)
    tier = RedisTier(redis_server.url, 10**9, namespace="maxmem", chunk_size=1 << 20)
    for i in range(40):
        assert tier.set(key(i), os.urandom(500_000))
    got = [tier.get(key(i)) for i in range(40)]
    assert any(v is MISSING for v in got)  # Redis evicted some behind the tier's back
    for v in got:
        assert v is MISSING or len(v) == 500_000
    tier.stats()
    if policy == "volatile-lru":
        # only entries carry an expiry: the bookkeeping survives, and only records go stale
        assert tier.verify()[0] == []
    tier.verify(repair=True)
    assert tier.verify()[0] == []
    tier.close()


def test_verify_finds_and_repairs_strays(tier: RedisTier, redis_server: RedisServer) -> None:
    tier.set(key(1), "kept")
    raw = redis_server.client()
    raw.set(tier.keys.chunk(key(2), "deadbeef", 0), b"orphan")
    raw.set(tier.keys.entry(key(3)), b"unaccounted")
    raw.hincrby(tier.keys.acct, "bytes", 5)
    problems, repaired, _ = tier.verify()
    assert len(problems) == 3 and repaired == 0
    problems, repaired, _ = tier.verify(repair=True)
    assert len(problems) == 3 and repaired >= 3
    assert tier.verify()[0] == []
    assert tier.get(key(1)) == "kept"


def test_unpicklable_value_is_declined_with_one_log(tier: RedisTier, caplog: Any) -> None:
    with caplog.at_level(logging.WARNING, logger="memcache_kit"):
        assert tier.set(key(1), lambda: 1) is False
        assert tier.set(key(2), lambda: 2) is False
    assert tier.get(key(1)) is MISSING
    assert len(caplog.records) == 1
    assert "cannot be serialized" in caplog.records[0].getMessage()


def test_keys_must_be_strings(tier: RedisTier) -> None:
    for call in (tier.get, tier.delete, lambda k: tier.set(k, 1), lambda k: tier.lock(k)):
        with pytest.raises(TypeError, match="remote tier keys are str"):
            call(cast(Any, b"bytes key"))
    assert 1 not in tier


def test_importing_the_tier_does_not_import_redis() -> None:
    code = "import sys, memcache_kit._tiers.redis.tier; print('redis' in sys.modules)"
    assert _run(code).stdout.strip() == "False"


# -- outages --------------------------------------------------------------------------------------


def test_server_killed_then_restarted(redis_server: RedisServer, caplog: Any) -> None:
    tier = RedisTier(redis_server.url, BUDGET, namespace="outage", timeout=0.3, reprobe=0.1)
    assert tier.set(key(1), "before")
    caplog.set_level(logging.INFO, logger="memcache_kit")
    redis_server.kill()
    for i in range(20):
        assert tier.get(key(1)) is MISSING
        assert tier.set(key(i), i) is False
        assert key(1) not in tier
        assert tier.delete(key(1)) is False
        tier.stats()
    assert tier.degraded
    warned = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warned) == 1
    assert "unreachable" in warned[0].getMessage()
    redis_server.start()
    deadline = time.monotonic() + 30
    while not tier.set(key(1), "after") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert tier.get(key(1)) == "after"
    assert not tier.degraded
    infos = [r for r in caplog.records if r.levelno == logging.INFO]
    assert len(infos) == 1
    assert "reachable again" in infos[0].getMessage()
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 1
    tier.close()


def test_restart_between_calls_reconnects_quietly(redis_server: RedisServer, caplog: Any) -> None:
    tier = RedisTier(redis_server.url, BUDGET, namespace="restart")
    tier.set(key(1), "lost with the restart")
    redis_server.restart()  # no persistence: an empty server on the same port
    with caplog.at_level(logging.WARNING, logger="memcache_kit"):
        assert tier.get(key(1)) is MISSING
        assert tier.set(key(1), "again")  # scripts are loaded again on their own
        assert tier.get(key(1)) == "again"
    assert caplog.records == []
    assert tier.verify()[0] == []
    tier.close()


def test_frozen_server_costs_one_timeout(redis_server: RedisServer, caplog: Any) -> None:
    tier = RedisTier(redis_server.url, BUDGET, namespace="slow", timeout=0.2, reprobe=60)
    tier.set(key(1), "v")
    redis_server.pause()
    try:
        with caplog.at_level(logging.WARNING, logger="memcache_kit"):
            t0 = time.monotonic()
            assert tier.get(key(1)) is MISSING
            first = time.monotonic() - t0
            t0 = time.monotonic()
            for _ in range(10):
                assert tier.get(key(1)) is MISSING
            rest = time.monotonic() - t0
    finally:
        redis_server.resume()
    assert first < 5  # one socket timeout (0.2 s), not a hang; generous for a loaded machine
    assert rest < 5  # degraded: no further waits until the re-probe
    assert len(caplog.records) == 1
    assert "TimeoutError" in caplog.records[0].getMessage()


def test_password_is_not_logged(tmp_path: Path, caplog: Any) -> None:
    tier = RedisTier("redis://user:hunter2@127.0.0.1:1/0", BUDGET, namespace="pw", timeout=0.2)
    with caplog.at_level(logging.WARNING, logger="memcache_kit"):
        assert tier.get(key(1)) is MISSING
    assert "hunter2" not in caplog.text
    assert "user:***@" in caplog.text


# -- fork and threads ---------------------------------------------------------------------------


def test_works_after_fork(tier: RedisTier) -> None:
    tier.set(key(1), "parent's")
    assert tier.get(key(1)) == "parent's"  # the parent has a pooled connection now
    r, w = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads
        pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            ok = tier.get(key(1)) == "parent's" and tier.set(key(2), "child's")
            os.write(w, b"ok" if ok else b"no")
        finally:
            os._exit(0)
    os.close(w)
    assert os.read(r, 2) == b"ok"
    os.close(r)
    os.waitpid(pid, 0)
    assert tier.get(key(2)) == "child's"
    assert tier.get(key(1)) == "parent's"


def test_threads_hammer_one_namespace(make: Any) -> None:
    tier: RedisTier = make(namespace="hammer", budget=200_000)
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(200):
                k = key((t * 7 + i) % 50)
                tier.set(k, bytes(5_000) + bytes([i % 256]))
                v = tier.get(k)
                assert v is MISSING or len(v) == 5_001
                if i % 17 == 0:
                    tier.delete(k)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert tier.stats().bytes <= 200_000


# -- Redis Cluster ------------------------------------------------------------------------------


def test_cluster_url(redis_server: RedisServer) -> None:
    """A one-node cluster owning every slot: the scripts and chunks work under cluster rules."""
    redis_server.restart("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
    raw = redis_server.client()
    raw.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
    deadline = time.monotonic() + 30
    while b"cluster_state:ok" not in raw.execute_command("CLUSTER", "INFO"):
        assert time.monotonic() < deadline, "the one-node cluster did not come up"
        time.sleep(0.05)
    url = f"redis+cluster://127.0.0.1:{redis_server.port}"
    tier = RedisTier(url, 10**8, namespace="clustered", chunk_size=1 << 20)
    assert tier.set(key(1), {"x": 1})
    assert tier.set(key(2), np.arange(400_000, dtype=np.float64))
    assert tier.get(key(1)) == {"x": 1}
    np.testing.assert_array_equal(tier.get(key(2)), np.arange(400_000, dtype=np.float64))
    value, here = tier.load_once(key(3), lambda: "once")
    assert (value, here) == ("once", True)
    assert tier.delete(key(1))
    assert tier.stats().items == 2
    assert tier.verify()[0] == []
    tier.clear()
    assert tier.stats().items == 0
    tier.close()
