"""``mk.Cache``: semantics of the tier stack (design "Semantics", "How data flows", "Shapes")."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import memcache_kit as mk
from memcache_kit._cache import options as _cache_env

KiB = 1024


def make(d: Path, **kw: Any) -> mk.Cache:
    kw.setdefault("memory", 64 * KiB)
    kw.setdefault("disk", "64MiB")
    return mk.Cache("t", directory=d, **kw)


def payload(i: int, n: int = 4 * KiB) -> bytes:
    return i.to_bytes(4, "little") * (n // 4)


def reader(d: Path) -> mk.Cache:
    """A second, disk-only view of the same directory: what another process would see."""
    return mk.Cache("t", memory=0, disk="64MiB", directory=d)


# -- basics ---------------------------------------------------------------------------------------


def test_get_set_delete_contains(cache_dir: Path) -> None:
    with make(cache_dir) as c:
        assert c.get("k") is None
        assert c.get("k", "dflt") == "dflt"
        assert "k" not in c
        c.set("k", "v")
        assert c.get("k") == "v"
        assert c["k"] == "v"
        assert "k" in c
        c[("a", 1)] = [1, 2]
        assert c[("a", 1)] == [1, 2]
        assert c.delete("k") is True
        assert c.delete("k") is False
        del c[("a", 1)]
        with pytest.raises(KeyError):
            del c[("a", 1)]
        with pytest.raises(KeyError):
            c["missing"]
        assert c.verify().ok


def test_keys_of_many_kinds(cache_dir: Path) -> None:
    with make(cache_dir) as c:
        keys: list[Any] = [
            1,
            "1",
            b"1",
            1.5,
            None,
            (1, "a"),
            ("a", (1, 2)),
            frozenset({1}),
            Path("p"),
        ]
        for i, k in enumerate(keys):
            c.set(k, i)
        for i, k in enumerate(keys):
            assert c.get(k) == i, k
        # equal numbers are one key (typed=False, as functools)
        assert c.get(1.0) == 0
        assert c.get(True) == 0


def test_unencodable_key_raises_type_error(cache_dir: Path) -> None:
    with make(cache_dir) as c, pytest.raises(TypeError):
        c.set(object(), 1)


def test_cached_none_is_a_value(cache_dir: Path) -> None:
    calls = []
    with make(cache_dir) as c:
        c.set("n", None)
        assert c.get("n", "dflt") is None
        assert "n" in c
        assert c.get_or_load("n", lambda: calls.append(1)) is None
        assert calls == []


# -- what a hit returns ---------------------------------------------------------------------------


def test_memory_hit_returns_the_stored_object(cache_dir: Path) -> None:
    value = {"a": [1, 2, 3]}
    with make(cache_dir) as c:
        c.set("k", value)
        assert c.get("k") is value
        assert c.get_or_load("k", dict) is value


def test_copy_true_returns_copies(cache_dir: Path) -> None:
    value = {"a": [1, 2, 3]}
    arr = np.arange(10.0)
    with make(cache_dir, copy=True) as c:
        c.set("k", value)
        got = c.get("k")
        assert got == value and got is not value
        got["a"].append(4)
        assert c.get("k") == {"a": [1, 2, 3]}
        c.set("arr", arr)
        a = c.get("arr")
        assert isinstance(a, np.ndarray) and a is not arr
        a[0] = 99
        assert c.get("arr")[0] == 0
        assert c.get_or_load("k", dict) == value


def test_numpy_from_disk_is_copy_on_write(cache_dir: Path) -> None:
    arr = np.arange(100_000, dtype=np.float64)
    with make(cache_dir, memory=0) as c:
        c.set("arr", arr)
        got = c.get("arr")
        np.testing.assert_array_equal(got, arr)
        got[0] = -1  # writable by the caller, never written back
        np.testing.assert_array_equal(c.get("arr"), arr)


# -- tiers: write-through, promotion, write-back, spill -------------------------------------------


def test_write_through_reaches_disk_at_once(cache_dir: Path) -> None:
    with make(cache_dir) as c:
        c.set("k", "v")
        assert reader(cache_dir).get("k") == "v"
        s = c.stats()
        assert s.tiers["memory"].items == 1 and s.tiers["disk"].items == 1


def test_evicted_entries_come_back_from_disk_and_are_promoted(cache_dir: Path) -> None:
    with make(cache_dir) as c:
        for i in range(100):
            c.set(i, payload(i))
        s = c.stats()
        assert s.tiers["memory"].bytes <= 64 * KiB
        assert s.tiers["memory"].evictions > 0
        # under write-through every eviction is a spill: the value stays on disk
        assert s.tiers["memory"].spills == s.tiers["memory"].evictions
        assert c.get(0) == payload(0)  # a disk hit, promoted
        s = c.stats()
        assert s.tiers["disk"].hits == 1
        assert s.tiers["memory"].promotions == 1
        assert c.get(0) == payload(0)  # now a memory hit
        assert c.stats().tiers["disk"].hits == 1
        assert all(c.get(i) == payload(i) for i in range(100))
        assert c.verify().ok


def test_write_back_writes_on_eviction_and_close(cache_dir: Path) -> None:
    c = make(cache_dir, write_through=False)
    for i in range(100):
        c.set(i, payload(i))
    s = c.stats()
    evicted = s.tiers["memory"].evictions
    assert evicted > 0
    assert s.tiers["memory"].spills == evicted
    assert s.tiers["disk"].writes == evicted  # only what was evicted reached disk so far
    r = reader(cache_dir)
    assert r.get(0) == payload(0)  # spilled
    assert r.get(99) is None  # still only in memory
    assert c.verify().ok
    c.close()
    assert all(r.get(i) == payload(i) for i in range(100))


def test_write_back_overwrite_is_not_shadowed_by_old_disk_copy(cache_dir: Path) -> None:
    with make(cache_dir) as c:
        c.set("k", "old")
    with make(cache_dir, write_through=False) as c:
        c.set("k", "new")
        for i in range(100):  # push "k" out: it spills over the old copy
            c.set(i, payload(i))
        assert c.get("k") == "new"
    assert reader(cache_dir).get("k") == "new"


def test_spill_false_forgets_evicted_entries(cache_dir: Path) -> None:
    with make(cache_dir) as c:
        c.set("k", "old")  # an older copy on disk
    with make(cache_dir, write_through=False, spill=False) as c:
        c.set("k", "new")
        for i in range(100):
            c.set(i, payload(i))
        s = c.stats().tiers["memory"]
        assert s.evictions > 0 and s.spills == 0
        # forgotten, and the older disk copy does not come back in its place
        assert c.get("k") is None
        assert c.get(0) is None
        assert c.verify().ok


def test_write_back_flushes_at_interpreter_exit(cache_dir: Path) -> None:
    script = textwrap.dedent(
        f"""
        import memcache_kit as mk
        c = mk.Cache("t", memory="1MiB", disk="64MiB", directory={str(cache_dir)!r},
                     write_through=False)
        c.set("k", "written at exit")
        c.set(("a", 1), list(range(10)))
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    r = reader(cache_dir)
    assert r.get("k") == "written at exit"
    assert r.get(("a", 1)) == list(range(10))


def test_write_back_flushes_when_collected(cache_dir: Path) -> None:
    c = make(cache_dir, write_through=False)
    c.set("k", "v")
    del c
    import gc

    gc.collect()
    assert reader(cache_dir).get("k") == "v"


def test_memory_only_and_disk_only(cache_dir: Path) -> None:
    with mk.Cache("m", memory="1MiB", disk=None, directory=cache_dir) as m:
        m.set("k", "v")
        assert m.get("k") == "v"
        assert m.disk_budget == 0
        assert set(m.stats().tiers) == {"memory"}
    with mk.Cache("d", memory=0, disk="1MiB", directory=cache_dir / "d") as d:
        d.set("k", "v")
        assert d.get("k") == "v"
        assert d.memory_budget == 0
        assert set(d.stats().tiers) == {"disk"}


def test_default_directory_is_under_the_user_cache_dir(tmp_path: Path) -> None:
    import platformdirs

    with mk.Cache("named", memory="1MiB", disk="1MiB") as c:
        assert c.directory == Path(platformdirs.user_cache_dir("memcache_kit")) / "named"
        c.set("k", 1)
        assert c.directory.is_dir()


# -- sizes ----------------------------------------------------------------------------------------


def test_value_larger_than_memory_goes_straight_to_disk(cache_dir: Path) -> None:
    big = payload(7, 200 * KiB)
    with make(cache_dir) as c:
        c.set("small", "s")
        c.set("big", big)
        s = c.stats()
        assert s.tiers["memory"].items == 1  # "small" was not pushed out
        assert s.tiers["memory"].evictions == 0
        assert c.get("big") == big
        assert c.stats().tiers["memory"].promotions == 0  # too large to promote


def test_value_larger_than_every_tier_is_returned_not_stored(cache_dir: Path) -> None:
    big = payload(1, 512 * KiB)
    calls = []

    def load() -> bytes:
        calls.append(1)
        return big

    with make(cache_dir, disk=256 * KiB) as c:
        with pytest.warns(mk.CacheWarning, match="fits no tier"):
            assert c.get_or_load("big", load) is big
        assert c.get_or_load("big", load) is big  # loaded again, warned only once
        assert len(calls) == 2
        assert "big" not in c


def test_overwrite_with_a_too_large_value_drops_the_old_one(cache_dir: Path) -> None:
    with make(cache_dir, disk=256 * KiB) as c:
        c.set("k", "old")
        with pytest.warns(mk.CacheWarning):
            c.set("k", payload(1, 512 * KiB))
        assert c.get("k") is None
        assert reader(cache_dir).get("k") is None


def test_unpicklable_values_stay_in_memory_with_one_warning(cache_dir: Path) -> None:
    with make(cache_dir) as c:
        with pytest.warns(mk.CacheWarning):
            c.set("lock", threading.Lock())
        c.set("lock2", threading.Lock())  # no second warning (warnings are errors here)
        assert isinstance(c.get("lock"), type(threading.Lock()))
        assert reader(cache_dir).get("lock") is None
        assert c.verify().ok


def test_small_numpy_views_are_stored_compact(cache_dir: Path) -> None:
    base = np.zeros(1_000_000)  # 8 MB
    view = base[:10]
    with make(cache_dir, memory="1MiB") as c:
        c.set("v", view)
        assert c.stats().tiers["memory"].bytes < 64 * KiB
        np.testing.assert_array_equal(c.get("v"), view)


# -- ttl ------------------------------------------------------------------------------------------


def test_ttl(cache_dir: Path) -> None:
    with make(cache_dir, ttl="1h") as c:
        c.set("short", 1, ttl=0.05)
        c.set("default", 2)
        c.set("forever", 3, ttl=None)
        c.set("str", 4, ttl="10m")
        time.sleep(0.2)
        assert c.get("short") is None
        assert c.get("default") == 2
        assert c.get("forever") == 3
        assert c.get("str") == 4
        assert reader(cache_dir).get("short") is None


def test_default_ttl_expires(cache_dir: Path) -> None:
    with make(cache_dir, ttl=0.05) as c:
        c.set("a", 1)
        c.set("b", 2, ttl=None)
        assert c.get_or_load("c", lambda: 3) == 3
        time.sleep(0.2)
        assert c.get("a") is None
        assert c.get("c") is None
        assert c.get("b") == 2


def test_bad_ttl(cache_dir: Path) -> None:
    with make(cache_dir) as c:
        with pytest.raises(ValueError):
            c.set("k", 1, ttl=-1)
        with pytest.raises(ValueError):
            c.set("k", 1, ttl="soon")


# -- get_or_load ----------------------------------------------------------------------------------


def test_get_or_load_stores_and_counts(cache_dir: Path) -> None:
    with make(cache_dir) as c:
        assert c.get_or_load("k", lambda: time.sleep(0.01) or 5) == 5
        assert c.get_or_load("k", lambda: 6) == 5
        s = c.stats()
        assert s.loads == 1
        assert s.load_seconds > 0
        assert s.saved_seconds > 0  # the hit saved what the load cost
        assert reader(cache_dir).get("k") == 5


def test_a_disk_hit_is_credited_with_the_load_it_saved(cache_dir: Path) -> None:
    """Evicted from memory but kept on disk, an entry's disk hit saves its load time too; so
    does every later hit once it is promoted, and a deleted entry earns nothing more."""
    for memory in ("1MiB", 0):
        with mk.Cache("credit", memory=memory, disk="16MiB", directory=cache_dir) as c:
            c.clear()
            assert c.get_or_load("k", lambda: time.sleep(0.02) or b"v" * 1000) == b"v" * 1000
            load = c.stats().load_seconds
            c.memory_budget = 0  # evicts (a spill: the value stays on disk)
            c.memory_budget = memory
            assert c.get("k") == b"v" * 1000  # a disk hit
            first = c.stats().saved_seconds
            assert first == pytest.approx(load)
            assert c.get("k") == b"v" * 1000  # a memory hit after promotion, or disk again
            assert c.stats().saved_seconds == pytest.approx(2 * load)
            c.delete("k")
            c.set("k", b"w")  # a set costs no load: its hits save nothing
            c.memory_budget = 0
            c.memory_budget = memory
            assert c.get("k") == b"w"
            assert c.stats().saved_seconds == pytest.approx(2 * load)


def test_loader_exceptions_are_not_cached(cache_dir: Path) -> None:
    with make(cache_dir) as c:

        def boom() -> int:
            raise ValueError("no")

        with pytest.raises(ValueError, match="no"):
            c.get_or_load("k", boom)
        assert c.get_or_load("k", lambda: 1) == 1


def test_recursive_load_of_the_same_key_raises(cache_dir: Path) -> None:
    with make(cache_dir) as c:
        with pytest.raises(RuntimeError, match="recursive"):
            c.get_or_load("k", lambda: c.get_or_load("k", lambda: 1))
        assert c.get_or_load("k", lambda: 2) == 2


# -- budgets --------------------------------------------------------------------------------------


def test_budgets_read_and_resize(cache_dir: Path) -> None:
    with make(cache_dir, memory="1MiB", disk="10MiB") as c:
        assert c.memory_budget == 1024 * KiB
        assert c.disk_budget == 10 * 1024 * KiB
        assert c.remote_budget == 0
        for i in range(200):
            c.set(i, payload(i))
        c.memory_budget = "100KiB"
        assert c.memory_budget == 100 * KiB
        s = c.stats().tiers["memory"]
        assert s.bytes <= 100 * KiB and s.budget == 100 * KiB
        assert c.get(0) == payload(0)
        c.memory_budget = 0
        assert c.memory_budget == 0
        assert "memory" not in c.stats().tiers
        assert c.get(1) == payload(1)  # from disk
        c.memory_budget = "1MiB"
        assert c.get(2) == payload(2)
        assert c.get(2) == payload(2)
        assert c.stats().tiers["memory"].hits == 1
        c.disk_budget = "2MiB"
        assert c.stats().tiers["disk"].budget == 2 * 1024 * KiB
        c.remote_budget = 0
        with pytest.raises(ValueError, match="remote"):
            c.remote_budget = "1GiB"
        with pytest.raises(ValueError):
            c.memory_budget = "lots"
        assert c.verify().ok


def test_write_back_entries_spill_when_memory_turned_off(cache_dir: Path) -> None:
    with make(cache_dir, write_through=False) as c:
        c.set("k", "v")
        c.memory_budget = 0
        assert reader(cache_dir).get("k") == "v"


# -- arguments ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"policy": "lfu"}, ValueError, "policy 'lfu'"),
        ({"record": 3}, TypeError, "record must be"),
        ({"remote": "http://x"}, ValueError, "not a Redis URL"),
        ({"remote_timeout": 0}, ValueError, "remote_timeout"),
        ({"remote_budget": "1GiB"}, ValueError, "needs a remote tier"),
        ({"durability": "paranoid"}, ValueError, "durability"),
        ({"network_filesystem": "maybe"}, ValueError, "network_filesystem"),
        ({"memory": "lots"}, ValueError, "lots"),
        ({"disk": -5}, ValueError, "-5"),
        ({"lock_timeout": -1}, ValueError, "lock_timeout"),
        ({"copy": "yes"}, TypeError, "copy"),
        ({"ttl": "soon"}, ValueError, "soon"),
    ],
)
def test_bad_arguments(cache_dir: Path, kwargs: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        make(cache_dir, **kwargs)


@pytest.mark.parametrize("name", ["", "../up", ".hidden", "a/b", "-x"])
def test_bad_names(cache_dir: Path, name: str) -> None:
    with pytest.raises(ValueError, match="name"):
        mk.Cache(name, directory=cache_dir)


def test_off_spellings(cache_dir: Path) -> None:
    for off in (0, None, "none", False):
        with mk.Cache("t", memory=off, disk="1MiB", directory=cache_dir) as c:  # type: ignore[arg-type]
            assert c.memory_budget == 0


def test_network_filesystem_goes_memory_only(
    cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mounts = tmp_path / "mounts"
    mounts.write_text(
        "/dev/sda1 / ext4 rw 0 0\n"
        f"server:/export {cache_dir.parent} nfs4 rw 0 0\n"
        f"/dev/sdb1 {tmp_path / 'elsewhere'} ext4 rw 0 0\n"
    )
    assert _cache_env.filesystem_type(cache_dir, str(mounts)) == "nfs4"
    assert _cache_env.filesystem_type(Path("/usr"), str(mounts)) == "ext4"
    monkeypatch.setattr(_cache_env, "MOUNTS", str(mounts))
    with pytest.warns(mk.CacheWarning, match="network filesystem"):
        c = make(cache_dir)
    assert c.disk_budget == 0
    c.set("k", "v")
    assert c.get("k") == "v"
    assert set(c.stats().tiers) == {"memory"}
    c.close()
    with make(cache_dir, network_filesystem="allow") as c2:
        assert c2.disk_budget > 0


def test_mount_points_with_escaped_spaces(tmp_path: Path) -> None:
    d = tmp_path / "with space"
    d.mkdir()
    mounts = tmp_path / "mounts"
    escaped = str(d).replace(" ", "\\040")
    mounts.write_text(f"/dev/sda1 / ext4 rw 0 0\nsrv:/x {escaped} cifs rw 0 0\n")
    assert _cache_env.filesystem_type(d / "sub", str(mounts)) == "cifs"


# -- pickling, closing ----------------------------------------------------------------------------


def test_pickle_sends_settings_not_contents(cache_dir: Path) -> None:
    with make(cache_dir, ttl="1h", write_through=True, copy=True) as c:
        c.set("k", "v")
        c2 = pickle.loads(pickle.dumps(c))
        assert c2 is not c
        assert (c2.name, c2.memory_budget, c2.disk_budget, c2.directory) == (
            c.name,
            c.memory_budget,
            c.disk_budget,
            c.directory,
        )
        assert c2._settings() == c._settings()
        assert c2.stats().tiers["memory"].items == 0  # its own memory tier
        assert c2.get("k") == "v"  # the same disk
        c2.close()


def test_close_is_idempotent_and_the_cache_reopens(cache_dir: Path) -> None:
    c = make(cache_dir)
    c.set("k", "v")
    c.close()
    c.close()
    assert c.get("k") == "v"  # reopened; the value comes from disk
    c.set("k2", "v2")
    assert c.get("k2") == "v2"
    assert c.verify().ok
    c.close()


def test_context_manager_closes(cache_dir: Path) -> None:
    with make(cache_dir, write_through=False) as c:
        c.set("k", "v")
    assert reader(cache_dir).get("k") == "v"


def test_clear(cache_dir: Path) -> None:
    with make(cache_dir) as c:
        for i in range(50):
            c.set(i, payload(i))
        c.clear()
        assert all(c.get(i) is None for i in range(50))
        assert reader(cache_dir).get(1) is None


# -- stats and verify -----------------------------------------------------------------------------


def test_stats_shape(cache_dir: Path) -> None:
    with make(cache_dir) as c:
        c.get_or_load("k", lambda: "v")
        c.get("k")
        c.get("missing")
        s = c.stats()
        assert isinstance(s, mk.CacheStats)
        assert s.name == "t"
        assert list(s.tiers) == ["memory", "disk"]
        assert all(isinstance(t, mk.TierStats) for t in s.tiers.values())
        assert s.loads == 1
        assert s.key_bytes > 0
        assert s.tiers["memory"].hits >= 1
        d = s.to_dict()
        assert json.loads(json.dumps(d)) == d
        assert set(d) == {
            "name",
            "tiers",
            "loads",
            "load_seconds",
            "saved_seconds",
            "key_bytes",
        }
        assert set(d["tiers"]["memory"]) >= {"hits", "misses", "spills", "promotions", "budget"}


def test_verify_shape(cache_dir: Path) -> None:
    with make(cache_dir) as c:
        c.set("k", "v")
        r = c.verify(repair=True)
        assert isinstance(r, mk.VerifyReport)
        assert r.ok and r.problems == []
        assert set(r.tiers) == {"memory", "disk"}
        assert json.loads(json.dumps(r.to_dict())) == r.to_dict()


def test_verify_finds_memory_entries_missing_from_disk(cache_dir: Path) -> None:
    with make(cache_dir) as c:
        c.set("k", "v")
        reader(cache_dir).delete("k")  # another process deletes it
        r = c.verify()
        assert not r.ok
        assert "missing from disk" in r.problems[0]
        assert c.verify(repair=True).repaired == 1
        assert c.verify().ok
        assert reader(cache_dir).get("k") == "v"


def test_a_promoted_entry_keeps_its_expiry(cache_dir: Path) -> None:
    with make(cache_dir) as c:
        c.set("k", "v", ttl=0.3)
        c.memory_budget = 0  # drop the memory copy
        c.memory_budget = 64 * KiB
        assert c.get("k") == "v"  # from disk, promoted
        assert c.stats().tiers["memory"].promotions == 1
        time.sleep(0.5)
        assert c.get("k") is None


def test_a_miss_is_counted_once_per_tier(cache_dir: Path) -> None:
    with make(cache_dir) as c:
        c.get_or_load("k", lambda: 1)
        c.get("absent")
        s = c.stats()
        assert (s.tiers["memory"].misses, s.tiers["disk"].misses) == (2, 2)
        c.get_or_load("k", lambda: 2)
        s = c.stats()
        assert (s.tiers["memory"].hits, s.tiers["memory"].misses) == (1, 2)
        assert s.hit_ratio == 1 / 3


# -- small internal API and warnings --------------------------------------------------------------


def test_in_memory_does_not_count_or_touch(cache_dir: Path) -> None:
    from memcache_kit._keys import make_key

    c = make(cache_dir)
    c.set("k", 1)
    before = c.stats().tiers["memory"]
    assert c._in_memory(make_key("k")) and not c._in_memory(make_key("other"))
    after = c.stats().tiers["memory"]
    assert (after.hits, after.misses) == (before.hits, before.misses)
    c.memory_budget = 0
    assert not c._in_memory(make_key("k"))
    c.close()


def test_an_unpicklable_value_larger_than_memory_warns_once(cache_dir: Path) -> None:
    c = mk.Cache("warn", memory=1000, disk="16MiB", directory=cache_dir)
    big = [threading.Lock() for _ in range(100)]  # unpicklable, larger than the memory budget
    with pytest.warns(mk.CacheWarning) as caught:
        assert c.get_or_load("locks", lambda: big) is big
    assert len(caught) == 1, [str(w.message) for w in caught]
    c.close()


# -- expired entries are absent everywhere (issue 12, item 7) -------------------------------------


@pytest.mark.parametrize("disk", [None, "64MiB"])
@pytest.mark.parametrize("write_through", [True, False])
def test_an_expired_entry_is_absent_for_delete_too(
    cache_dir: Path, disk: str | None, write_through: bool
) -> None:
    c = mk.Cache(
        "expiry", memory="16MiB", disk=disk, directory=cache_dir, write_through=write_through
    )
    c.set("k", 1, ttl=0.05)
    time.sleep(0.1)
    assert "k" not in c
    assert c.delete("k") is False
    with pytest.raises(KeyError):
        del c["k"]
    c.set("k", 2, ttl=0.05)
    time.sleep(0.1)
    with pytest.raises(KeyError):
        del c["k"]
    c.close()


def test_invalidate_of_an_expired_call_is_false(cache_dir: Path) -> None:
    c = mk.Cache("expiry-f", memory="16MiB", disk=None)

    @mk.cached(cache=c, ttl=0.05)
    def f(x: int) -> int:
        return x

    f(1)
    time.sleep(0.1)
    assert f.invalidate(1) is False
    c.close()
