"""The memory tier: byte-bounded LRU, eviction hook outside the lock, TTL, memmap bound, the
process-wide governor, threads and fork."""

from __future__ import annotations

import contextlib
import os
import random
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memcache_kit._shapes import MISSING
from memcache_kit._tiers.base import Evicted
from memcache_kit._tiers.memory.governor import Governor
from memcache_kit._tiers.memory.tier import MemoryTier


def keys_of(evicted: list[Evicted]) -> list[Any]:
    return [e.key for e in evicted]


def tier_keys(tier: MemoryTier) -> list[Any]:
    """Keys from least to most recently used (what drain would return), without draining."""
    return list(tier._order)


def assert_clean(tier: MemoryTier) -> None:
    problems, repaired, _ = tier.verify()
    assert problems == [] and repaired == 0


# -- LRU in bytes ------------------------------------------------------------------------------


def test_lru_order_in_bytes() -> None:
    evicted: list[Evicted] = []
    tier = MemoryTier(10, on_evict=evicted.extend)
    assert tier.set("a", "A", size=4)
    assert tier.set("b", "B", size=4)
    assert tier.get("a") == "A"  # "b" is now least recently used
    assert tier.set("c", "C", size=4)  # 12 > 10: "b" goes
    assert keys_of(evicted) == ["b"]
    assert tier_keys(tier) == ["a", "c"]
    assert tier.set("d", "D", size=7)  # 15 > 10: "a" (4) is not enough, "c" goes too
    assert keys_of(evicted) == ["b", "a", "c"]
    assert tier_keys(tier) == ["d"]
    s = tier.stats()
    assert (s.bytes, s.items, s.budget, s.evictions, s.writes) == (7, 1, 10, 3, 4)
    assert_clean(tier)


def test_get_counts_hits_and_misses_and_returns_the_stored_object() -> None:
    tier = MemoryTier(100)
    value = ["payload"]
    tier.set(1, value, size=10)
    assert tier.get(1) is value
    assert tier.get(2) is MISSING
    assert tier.get(1) is value
    s = tier.stats()
    assert (s.hits, s.misses, s.spills, s.promotions) == (2, 1, 0, 0)


def test_a_cached_none_is_a_value() -> None:
    tier = MemoryTier(100)
    tier.set("k", None, size=1)
    assert tier.get("k") is None
    assert "k" in tier


def test_overwrite_replaces_without_evicting_itself() -> None:
    evicted: list[Evicted] = []
    tier = MemoryTier(10, on_evict=evicted.extend)
    tier.set("a", 1, size=4)
    tier.set("b", 2, size=4)
    tier.set("a", 3, size=6)  # replaces a's 4 bytes with 6: 10 fits, nothing evicted
    assert evicted == []
    assert tier.get("a") == 3 and tier.stats().bytes == 10
    tier.set("b", 4, size=8)  # 6 + 8 > 10: "a" is evicted, never the old "b"
    assert keys_of(evicted) == ["a"]
    assert tier.get("b") == 4
    assert_clean(tier)


def test_too_large_value_is_refused_and_removes_the_older_entry() -> None:
    evicted: list[Evicted] = []
    tier = MemoryTier(10, on_evict=evicted.extend)
    tier.set("a", "old", size=5)
    tier.set("b", "keep", size=5)
    assert tier.set("a", "new", size=11) is False
    assert "a" not in tier and tier.get("b") == "keep"
    assert evicted == []  # a stale value is not handed on (it would be spilled)
    assert tier.set("c", "exact", size=10) is True  # equal to the budget fits
    assert_clean(tier)


def test_zero_budget_stores_nothing() -> None:
    tier = MemoryTier(0)
    assert tier.set("a", 1, size=0) is False
    assert len(tier) == 0


def test_bad_budget_and_size_are_rejected_with_the_input() -> None:
    with pytest.raises(ValueError, match="-1"):
        MemoryTier(-1)
    tier = MemoryTier(10)
    with pytest.raises(ValueError, match="'10'"):
        tier.budget = "10"  # type: ignore[assignment]
    with pytest.raises(ValueError, match="-3"):
        tier.set("a", 1, size=-3)
    with pytest.raises(ValueError, match=r"2\.5"):
        MemoryTier(10, sizer=lambda v: 2.5).set("a", 1)  # type: ignore[arg-type, return-value]


def test_sizer_runs_once_per_set_and_never_on_a_hit() -> None:
    calls: list[Any] = []

    def sizer(v: Any) -> int:
        calls.append(v)
        return 3

    tier = MemoryTier(100, sizer=sizer)
    tier.set("a", "x")
    for _ in range(5):
        tier.get("a")
    assert calls == ["x"]
    tier.set("b", "y", size=7)  # an explicit size skips the sizer
    assert calls == ["x"] and tier.stats().bytes == 10


def test_default_sizer_is_memcache_kit_sizeof() -> None:
    from memcache_kit import _sizes

    tier = MemoryTier(1 << 20)
    value = b"x" * 10_000
    tier.set("a", value)
    assert tier.stats().bytes == _sizes.sizeof(value) >= 10_000


def test_delete_clear_drain() -> None:
    evicted: list[Evicted] = []
    tier = MemoryTier(100, on_evict=evicted.extend)
    for i in range(4):
        tier.set(i, f"v{i}", size=5, meta={"dirty": i % 2 == 0})
    assert tier.delete(1) is True and tier.delete(1) is False
    tier.get(0)
    drained = tier.drain()
    assert [(e.key, e.value, e.meta) for e in drained] == [
        (2, "v2", {"dirty": True}),
        (3, "v3", {"dirty": False}),
        (0, "v0", {"dirty": True}),
    ]
    assert len(tier) == 0 and tier.stats().bytes == 0
    tier.set("x", 1, size=1)
    tier.clear()
    assert len(tier) == 0 and evicted == []
    assert_clean(tier)
    tier.close()
    assert len(tier) == 0


def test_meta_is_opaque_and_handed_back_on_eviction() -> None:
    evicted: list[Evicted] = []
    tier = MemoryTier(10, on_evict=evicted.extend)
    tier.set("a", 1, size=6, meta=("disk-key", True))
    assert tier.get_meta("a") == ("disk-key", True)
    assert tier.get_meta("zz") is MISSING
    assert tier.set_meta("a", ("disk-key", False)) is True
    assert tier.set_meta("zz", 1) is False
    assert tier.metas() == [("disk-key", False)]
    tier.set("b", 2, size=6)
    assert evicted == [Evicted("a", 1, None, ("disk-key", False))]


def test_peek_does_not_touch_recency_or_counters() -> None:
    tier = MemoryTier(10)
    tier.set("a", 1, size=5)
    tier.set("b", 2, size=5)
    assert tier.peek("a") == 1 and tier.peek("c") is MISSING
    tier.set("c", 3, size=5)
    assert "a" not in tier  # peek did not make "a" recent
    assert tier.stats().hits == 0


# -- resize and the hook outside the lock --------------------------------------------------------


def test_budget_shrink_evicts_at_once_and_on_evict_runs_outside_the_lock() -> None:
    seen: list[list[Any]] = []
    tier: MemoryTier

    def on_evict(evicted: list[Evicted]) -> None:
        # Another thread must be able to write to the tier while we are inside the hook.
        done = threading.Event()

        def writer() -> None:
            tier.set(("from-hook", len(seen)), 0, size=1)
            done.set()

        t = threading.Thread(target=writer)
        t.start()
        t.join(timeout=10)
        assert done.is_set(), "on_evict was called with the tier's lock held"
        seen.append(keys_of(evicted))

    tier = MemoryTier(100, on_evict=on_evict)
    for i in range(10):
        tier.set(i, i, size=10)
    tier.get(0)
    tier.budget = 35
    assert seen == [[1, 2, 3, 4, 5, 6, 7]]
    assert tier.budget == 35
    assert tier_keys(tier) == [8, 9, 0, ("from-hook", 0)]
    assert tier.stats().bytes <= 35
    tier.budget = 1000  # growing evicts nothing
    assert len(seen) == 1 and tier.budget == 1000
    assert_clean(tier)


def test_hit_path_does_not_wait_for_the_lock() -> None:
    tier = MemoryTier(100)
    tier.set("k", "v", size=1)
    got: list[Any] = []
    with tier._lock:
        t = threading.Thread(target=lambda: got.append(tier.get("k")))
        t.start()
        t.join(timeout=10)
    assert got == ["v"]


def test_locked_read_path_for_free_threaded_builds() -> None:
    tier = MemoryTier(100)
    tier.set("a", 1, size=1)
    tier.set("b", 2, size=1, expire_at=time.time() - 1)
    tier.set("c", 3, size=1)
    assert tier._get_locked("a") == 1  # now most recent
    assert tier._get_locked("b") is MISSING and "b" not in tier
    assert tier._get_locked("zz") is MISSING
    assert tier_keys(tier) == ["c", "a"]
    assert tier.stats().hits == 1 and tier.stats().misses == 2


# -- TTL ----------------------------------------------------------------------------------------


def test_expired_entries_are_misses_removed_lazily_through_on_evict() -> None:
    evicted: list[Evicted] = []
    tier = MemoryTier(100, on_evict=evicted.extend)
    past, future = time.time() - 1, time.time() + 3600
    tier.set("old", "x", size=5, expire_at=past, meta="m")
    tier.set("new", "y", size=5, expire_at=future)
    assert "old" not in tier and tier.get_meta("old") is MISSING and tier.peek("old") is MISSING
    assert len(tier) == 2  # not yet removed: removal is lazy
    assert tier.get("old") is MISSING
    assert evicted == [Evicted("old", "x", past, "m")]
    assert len(tier) == 1 and tier.stats().bytes == 5
    assert tier.get("new") == "y"
    assert tier.stats().misses == 1 and tier.stats().evictions == 1
    assert_clean(tier)


# -- memmaps ------------------------------------------------------------------------------------


def _memmap(path: Path, fill: float) -> Any:
    import numpy as np

    mm = np.memmap(path, dtype="float64", mode="w+", shape=(16,))
    mm[:] = fill
    mm.flush()
    return np.memmap(path, dtype="float64", mode="r", shape=(16,))


def test_memmap_count_is_bounded_least_recently_used_first(tmp_path: Path) -> None:
    import numpy as np

    evicted: list[Evicted] = []
    tier = MemoryTier(1 << 20, on_evict=evicted.extend, max_memmaps=2)
    maps = [_memmap(tmp_path / f"m{i}.dat", i) for i in range(3)]
    tier.set("m0", maps[0])
    tier.set("plain", np.zeros(4))  # not a memmap: does not count
    tier.set("m1", maps[1])
    tier.get("m0")
    tier.set("m2", maps[2])
    assert keys_of(evicted) == ["m1"]
    assert {"m0", "m2", "plain"} == set(tier_keys(tier))
    assert float(tier.get("m2")[0]) == 2.0
    assert tier.verify()[2]["memmaps"] == 2
    tier.delete("m0")
    tier.set("m3", _memmap(tmp_path / "m3.dat", 3))  # room again: nothing evicted
    assert keys_of(evicted) == ["m1"]
    assert_clean(tier)


def test_no_memmaps_at_all(tmp_path: Path) -> None:
    tier = MemoryTier(1 << 20, max_memmaps=0)
    assert tier.set("m", _memmap(tmp_path / "m.dat", 1.0)) is False
    assert tier.set("x", b"bytes") is True


# -- verify and repair --------------------------------------------------------------------------


def test_verify_finds_and_repairs_broken_bookkeeping() -> None:
    evicted: list[Evicted] = []
    tier = MemoryTier(20, on_evict=evicted.extend)
    for i in range(4):
        tier.set(i, i, size=5)
    assert_clean(tier)
    tier._order.pop(2)  # a torn write: in data, not in the recency index
    tier._lru._Cache__currsize += 7  # type: ignore[attr-defined]
    tier._memmaps["ghost"] = tier._data[0]
    problems, repaired, _ = tier.verify()
    assert repaired == 0 and len(problems) == 3
    assert any("recency index" in p for p in problems)
    assert any("bytes accounted 27" in p for p in problems)
    assert any("memmap index" in p for p in problems)
    problems, repaired, _ = tier.verify(repair=True)
    assert problems and repaired >= 3
    assert_clean(tier)
    assert set(tier_keys(tier)) == {0, 1, 2, 3} and tier.stats().bytes == 20
    assert evicted == []


def test_items_by_type() -> None:
    tier = MemoryTier(1000)
    tier.set("a", "s", size=10)
    tier.set("b", "t", size=20)
    tier.set("c", b"u", size=5)
    tier.set("d", Path("x"), size=100)
    assert tier.items_by_type() == {
        "pathlib.PosixPath" if os.name == "posix" else "pathlib.WindowsPath": (1, 100),
        "str": (2, 30),
        "bytes": (1, 5),
    }


# -- the governor -------------------------------------------------------------------------------


OPS = st.lists(
    st.tuples(
        st.sampled_from(["set", "set", "get", "delete"]),
        st.integers(0, 2),  # tier
        st.integers(0, 7),  # key
        st.integers(1, 40),  # size
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(cap=st.integers(1, 120), ops=OPS)
def test_governor_evicts_the_globally_least_recently_used(
    cap: int, ops: list[tuple[str, int, int, int]]
) -> None:
    box = [cap]
    gov = Governor(cap=lambda: box[0])
    evicted: list[tuple[int, int]] = []

    def hook(i: int) -> Any:
        return lambda ev: evicted.extend((i, e.key) for e in ev)

    # Per-tier budgets never bind here: every eviction is the governor's.
    tiers = [MemoryTier(10_000, on_evict=hook(i), governor=gov) for i in range(3)]
    model: OrderedDict[tuple[int, int], int] = OrderedDict()
    for op, t, k, size in ops:
        expected: list[tuple[int, int]] = []
        if op == "set":
            stored = tiers[t].set(k, (t, k, size), size=size)
            model.pop((t, k), None)
            assert stored == (size <= cap)
            if stored:
                model[(t, k)] = size
                while sum(model.values()) > cap:
                    expected.append(model.popitem(last=False)[0])
        elif op == "get":
            got = tiers[t].get(k)
            if (t, k) in model:
                assert got[:2] == (t, k)
                model.move_to_end((t, k))
            else:
                assert got is MISSING
        else:
            assert tiers[t].delete(k) == ((t, k) in model)
            model.pop((t, k), None)
        assert evicted == expected
        evicted.clear()
        assert sum(x.stats().bytes for x in tiers) <= cap
        assert gov.total_bytes() == sum(model.values())
        for i, tier in enumerate(tiers):
            assert tier_keys(tier) == [k for (j, k) in model if j == i]
    # Lowering the cap takes effect at the next enforce(), again oldest first.
    box[0] = cap // 2
    expected = []
    while sum(model.values()) > box[0]:
        expected.append(model.popitem(last=False)[0])
    assert gov.enforce() == len(expected)
    assert evicted == expected
    for tier in tiers:
        assert_clean(tier)


_PROCESS_GOVERNOR = """
import gc
from memcache_kit import _settings
from memcache_kit._tiers.memory.governor import governor
from memcache_kit._tiers.memory import MemoryTier

evicted = []
tiers = [MemoryTier(1000, on_evict=evicted.extend) for _ in range(3)]
assert governor.tiers() and all(t in governor.tiers() for t in tiers)
for i in range(30):
    tiers[i % 3].set(i, i, size=10)
assert evicted == []  # no cap: only per-tier budgets bind
_settings.settings.total_memory = 100
assert governor.enforce() == 20
assert sorted(e.key for e in evicted) == list(range(20)), evicted  # the oldest, across tiers
tiers[0].set("big", 0, size=50)  # the tier checks the cap after its own insert
assert governor.total_bytes() <= 100
assert [e.key for e in evicted[20:]] == [20, 21, 22, 23, 24]
assert tiers[0].set("huge", 0, size=101) is False  # larger than the cap: not stored
_settings.settings.total_memory = None
assert governor.enforce() == 0
for t in tiers:
    assert t.verify()[0] == []
del t, tiers
gc.collect()
assert governor.tiers() == [] and governor.total_bytes() == 0  # dead tiers leave
print("ok")
"""


def test_process_governor_reads_total_memory_at_run_time() -> None:
    # A fresh interpreter: the process-wide governor must see only this test's tiers.
    out = subprocess.run(
        [sys.executable, "-c", _PROCESS_GOVERNOR], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


# -- threads ------------------------------------------------------------------------------------


def test_thread_hammer_keeps_the_budget_and_the_bookkeeping() -> None:
    budgets = [200, 500, 1000]
    evicted_count = [0]
    count_lock = threading.Lock()

    def on_evict(ev: list[Evicted]) -> None:
        for e in ev:
            assert e.value[0] == e.key  # never a value under the wrong key
        with count_lock:
            evicted_count[0] += len(ev)

    tier = MemoryTier(1000, on_evict=on_evict)
    errors: list[BaseException] = []
    stop = threading.Event()

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for n in range(20_000):
                k = rng.randrange(64)
                r = rng.random()
                if r < 0.6:
                    v = tier.get(k)
                    assert v is MISSING or v[0] == k
                elif r < 0.9:
                    tier.set(k, (k, n), size=rng.randrange(1, 60))
                elif r < 0.985:
                    tier.delete(k)
                elif r < 0.99:
                    # Under the lock, with lock-free readers moving keys meanwhile.
                    assert tier.verify()[0] == []
                else:
                    tier.budget = rng.choice(budgets)
        except BaseException as e:
            errors.append(e)

    def watcher() -> None:
        while not stop.is_set():
            s = tier.stats()  # taken under the lock: a consistent view
            if s.bytes > s.budget:
                errors.append(AssertionError(f"{s.bytes} bytes over budget {s.budget}"))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    w = threading.Thread(target=watcher)
    w.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    stop.set()
    w.join(timeout=10)
    assert errors == []
    assert_clean(tier)
    s = tier.stats()
    assert s.bytes <= s.budget
    assert s.evictions >= evicted_count[0] > 0
    assert s.hits + s.misses > 0


# -- fork ---------------------------------------------------------------------------------------


def _run_child(body: Any) -> int:
    """Fork; run ``body()`` in the child (exit 0 on success); return the child's exit code."""
    # Python 3.12+ warns when a process with threads forks; that is the situation under test.
    expected = (
        pytest.warns(DeprecationWarning, match="fork")
        if sys.version_info >= (3, 12)
        else contextlib.nullcontext()
    )
    with expected:  # the parent alone warns: the child leaves through os._exit inside
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            code = 1
            try:
                code = 0 if body() else 2
            finally:
                os._exit(code)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    return -9  # the child hung: a deadlock


def test_child_uses_the_tier_after_fork_while_a_parent_thread_held_the_lock() -> None:
    tier = MemoryTier(100)
    for i in range(5):
        tier.set(i, i, size=10)
    holding, release = threading.Event(), threading.Event()

    def holder() -> None:
        with tier._lock:
            tier._order.pop(3)  # torn mid-write when the fork happens
            holding.set()
            release.wait(30)
            tier._order[3] = None

    t = threading.Thread(target=holder)
    t.start()
    assert holding.wait(10)

    def child() -> bool:
        tier.set("child", 1, size=10)
        tier.budget = 30
        ok = tier.get("child") == 1 and tier.verify()[0] == []
        return ok and tier.stats().bytes <= 30

    try:
        code = _run_child(child)
    finally:
        release.set()
        t.join(timeout=10)
    assert code == 0
    assert_clean(tier)  # the parent is untouched
    assert len(tier) == 5
