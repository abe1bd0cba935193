"""``record=``: a cache appends one access record per request (hits included) for the advisor,
from ``Cache(record=...)``, configuration and ``MEMCACHE_KIT_RECORD``."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import memcache_kit as mk
from memcache_kit._cache.cache import Cache
from memcache_kit._cache.parts import trace_hash
from memcache_kit._config import registry as _registry
from memcache_kit._keys import make_key
from memcache_kit._observe import record as _record
from memcache_kit._observe.traces import _records, read_bytes, read_trace


def records(path: Path) -> Any:
    return _records(read_bytes(path))


def kinds(path: Path) -> list[int]:
    return [int(k) for k in records(path)["kind"]]


def test_record_true_writes_a_per_process_trace_in_the_cache_directory(tmp_path: Path) -> None:
    c = Cache("rec", memory="1MiB", disk="16MiB", directory=tmp_path, record=True)
    c.set("a", b"x" * 1000)  # SET
    assert c.get("a") == b"x" * 1000  # memory hit
    assert c.get_or_load("b", lambda: b"y" * 500) == b"y" * 500  # miss, loaded
    assert c.get_or_load("b", lambda: b"z") == b"y" * 500  # memory hit
    assert c.get("nothing") is None  # a miss nothing loads
    c.memory_budget = 0
    c.memory_budget = "1MiB"
    assert c["a"] == b"x" * 1000  # disk hit
    c.close()
    path = tmp_path / "trace" / f"{os.getpid()}.mktrace"
    recs = records(path)
    assert [int(k) for k in recs["kind"]] == [
        _record.SET,
        _record.HIT_MEMORY,
        _record.MISS,
        _record.HIT_MEMORY,
        _record.MISS,
        _record.HIT_DISK,
    ]
    a, b, nothing = (trace_hash(make_key(k)) for k in ("a", "b", "nothing"))
    assert [int(k) for k in recs["key"]] == [a, a, b, b, nothing, a]
    sizes = [int(s) for s in recs["size"]]
    assert sizes[0] == sizes[1] == sizes[5] == mk.sizeof(b"x" * 1000)
    assert sizes[2] == sizes[3] == mk.sizeof(b"y" * 500)
    assert sizes[4] == 0
    seconds = [float(s) for s in recs["seconds"]]
    assert seconds[2] > 0 and seconds[0] == seconds[1] == seconds[3] == 0
    assert set(int(p) for p in recs["process"]) == {os.getpid() & 0xFFFF}
    # the advisor reads it
    trace = read_trace(path)
    assert len(trace) == 6 and trace.requests is not None and not trace.requests[0]


def test_record_to_a_path_and_async_paths(tmp_path: Path) -> None:
    path = tmp_path / "traces" / "run.mktrace"
    c = Cache("rec", memory="1MiB", disk=0, directory=tmp_path / "c", record=path)

    async def main() -> None:
        assert await c.aget_or_load(1, lambda: "one") == "one"
        assert await c.aget_or_load(1, lambda: "uno") == "one"
        assert await c.aget(2) is None

    asyncio.run(main())
    c.close()
    assert kinds(path) == [_record.MISS, _record.HIT_MEMORY, _record.MISS]


def test_two_caches_naming_one_file_share_its_recorder(tmp_path: Path) -> None:
    path = tmp_path / "shared.mktrace"
    a = Cache("a", disk=0, directory=tmp_path / "a", record=str(path))
    b = Cache("b", disk=0, directory=tmp_path / "b", record=path)
    assert a._recorder is b._recorder
    a.set(1, 1)
    b.set(2, 2)
    a.close()
    b.close()
    assert kinds(path) == [_record.SET, _record.SET]


def test_no_record_keeps_the_plain_hit_path(tmp_path: Path) -> None:
    c = Cache("plain", disk=0, directory=tmp_path)
    assert c._rec is None and c._recorder is None
    c.set("k", 1)
    assert c.get("k") == 1
    assert not (tmp_path / "trace").exists()
    c.close()


def test_configuration_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _registry._reset()
    try:
        target = tmp_path / "conf.mktrace"
        mk.configure(
            {
                "caches": {
                    "conf": {"directory": str(tmp_path / "conf"), "record": str(target)},
                    "flag": {"directory": str(tmp_path / "flag"), "record": True},
                }
            }
        )
        c = mk.get_cache("conf")
        c.set("k", np.zeros(10))
        f = mk.get_cache("flag")
        f.set("k", 1)
        env_target = tmp_path / "env.mktrace"
        monkeypatch.setenv("MEMCACHE_KIT_RECORD", str(env_target))
        e = mk.get_cache("from-env")
        e.set("k", 1)
        for cache in (c, f, e):
            cache.close()
        assert kinds(target) == [_record.SET]
        assert kinds(tmp_path / "flag" / "trace" / f"{os.getpid()}.mktrace") == [_record.SET]
        assert kinds(env_target) == [_record.SET]
    finally:
        _registry._reset()


def test_a_recording_cache_pickles_its_record_setting(tmp_path: Path) -> None:
    import pickle

    c = Cache("rec", disk=0, directory=tmp_path, record=True)
    d = pickle.loads(pickle.dumps(c))
    assert d._record is True and d._recorder is c._recorder  # same process, same file
    c.close()
    d.close()


def test_a_decorated_function_records_one_record_per_call(tmp_path: Path) -> None:
    """Loads through ``@mk.cached`` are one MISS each (not a probe miss and a load), and its
    memory and disk hits are recorded too: the advisor sees exactly the calls made."""
    c = Cache("recfn", memory="1MiB", disk="16MiB", directory=tmp_path, record=True)

    @mk.cached(cache=c)
    def square(x: int) -> int:
        return x * x

    for x in (1, 2, 1, 3, 2):
        assert square(x) == x * x
    c.memory_budget = 0
    c.memory_budget = "1MiB"
    assert square(3) == 9  # a disk hit
    c.close()
    got = kinds(tmp_path / "trace" / f"{os.getpid()}.mktrace")
    assert got == [
        _record.MISS,
        _record.MISS,
        _record.HIT_MEMORY,
        _record.MISS,
        _record.HIT_MEMORY,
        _record.HIT_DISK,
    ]


def test_an_array_is_recorded_at_one_size_whichever_tier_serves_it(tmp_path: Path) -> None:
    """A disk hit hands back a memmap, which memory charges almost nothing; the trace records
    the loaded array's size every time, or the advisor would read each hit as a new value."""
    c = Cache("recarr", memory="1MiB", disk="16MiB", directory=tmp_path, record=True)
    assert c.get_or_load("a", lambda: np.ones((64, 64))).sum() == 4096  # loaded
    c.memory_budget = 0
    c.memory_budget = "1MiB"
    assert c.get("a").sum() == 4096  # from disk: a memmap
    assert c.get("a").sum() == 4096  # from memory: the promoted memmap
    c.close()
    recs = records(tmp_path / "trace" / f"{os.getpid()}.mktrace")
    assert [int(k) for k in recs["kind"]] == [_record.MISS, _record.HIT_DISK, _record.HIT_MEMORY]
    assert {int(s) for s in recs["size"]} == {mk.sizeof(np.ones((64, 64)))}


_TRACED_RUN = """
import sys
import memcache_kit as mk
cache = mk.Cache("traced", memory="1MiB", disk="16MiB", directory=sys.argv[1], record=True)

@mk.cached(cache=cache)
def load(name):
    return name * 100

for name in ("alpha", "beta", "alpha"):
    load(name)
cache.set(("plain", 1), b"x")
cache.get(("plain", 1))
cache.close()
"""


def test_trace_keys_are_the_same_in_every_process_and_run(tmp_path: Path) -> None:
    """Two runs with different str-hash salts (and decorator tokens) name each key alike, so
    the advisor can read the traces of several workers or runs as one."""
    keys = []
    for seed in ("1", "2"):
        directory = tmp_path / seed
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run(
            [sys.executable, "-c", _TRACED_RUN, str(directory)], check=True, env=env, timeout=120
        )
        (path,) = (directory / "trace").glob("*.mktrace")
        keys.append([int(k) for k in records(path)["key"]])
    assert keys[0] == keys[1]
    assert len(keys[0]) == 5 and keys[0][0] == keys[0][2] != keys[0][1]
