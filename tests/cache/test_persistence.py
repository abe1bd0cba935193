"""Across processes: a new process sees the disk tier, a fork works on both sides, and files
tampered with on disk come back as misses without ever running code."""

from __future__ import annotations

import os
import pickle
import sqlite3
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import memcache_kit as mk


def make(d: Path, **kw: Any) -> mk.Cache:
    kw.setdefault("memory", "1MiB")
    kw.setdefault("disk", "64MiB")
    return mk.Cache("p", directory=d, **kw)


def run(code: str, **env: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )
    return out.stdout.strip()


def test_a_value_set_in_one_process_is_a_disk_hit_in_the_next(cache_dir: Path) -> None:
    run(
        f"""
        import memcache_kit as mk, numpy as np
        c = mk.Cache("p", memory="1MiB", disk="64MiB", directory={str(cache_dir)!r})
        c.set(("answer", 1), {{"x": 42}})
        c.set("arr", np.arange(1000.0))
        c.get_or_load("loaded", lambda: "once")
        """
    )
    out = run(
        f"""
        import json, memcache_kit as mk, numpy as np
        c = mk.Cache("p", memory="1MiB", disk="64MiB", directory={str(cache_dir)!r})
        a = c.get(("answer", 1))
        arr = c.get("arr")
        loaded = c.get_or_load("loaded", lambda: "again")
        s = c.stats()
        print(json.dumps([a, float(arr.sum()), loaded, s.tiers["disk"].hits, s.loads]))
        """
    )
    assert out.splitlines()[-1] == '[{"x": 42}, 499500.0, "once", 3, 0]'


def test_pickled_cache_rebuilds_in_a_spawned_process(cache_dir: Path) -> None:
    with make(cache_dir) as c:
        c.set("k", "from the parent")
        blob = pickle.dumps(c)
    out = run(
        f"""
        import pickle, memcache_kit as mk
        c = pickle.loads({blob!r})
        print(c.name, c.memory_budget, c.get("k"))
        """
    )
    assert out.splitlines()[-1] == "p 1048576 from the parent"


@pytest.mark.parametrize("write_through", [True, False])
def test_fork_parent_and_child_both_work(cache_dir: Path, write_through: bool) -> None:
    c = make(cache_dir, write_through=write_through)
    c.set("before", "fork")
    c.get_or_load("loaded", lambda: 1)
    with warnings.catch_warnings():
        # Python 3.12 warns about fork() in a process with threads (pytest-timeout's).
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: report through the exit code, never raise past here
        code = 1
        try:
            ok = c.get("before") == "fork"
            c.set("child", "wrote this")
            ok = ok and c.get_or_load("child-loaded", lambda: 2) == 2
            ok = ok and c.verify().ok
            c.close()
            code = 0 if ok else 3
        finally:
            os._exit(code)
    c.set("parent", "wrote this")
    assert c.get("before") == "fork"
    assert c.get_or_load("parent-loaded", lambda: 3) == 3
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert c.get("child") == "wrote this"  # from disk: the child closed (flushed) its cache
    assert c.verify().ok
    c.close()


# -- tampering -----------------------------------------------------------------------------------


class Boom:
    """Unpickling this would create the marker file: the payload must never run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


def data_files(d: Path) -> list[Path]:
    return sorted(p for p in (d / "data").iterdir() if p.is_file())


def filled(d: Path) -> dict[str, Any]:
    values: dict[str, Any] = {
        "small": {"a": 1},
        "big": b"x" * 200_000,  # a .bin file
        "arr": np.arange(50_000, dtype=np.float64),  # a .npy file
    }
    with make(d, memory=0) as c:
        for k, v in values.items():
            c.set(k, v)
    return values


def read_all(d: Path, keys: list[str]) -> dict[str, Any]:
    with make(d) as c:
        return {k: c.get(k, "MISS") for k in keys}


def test_truncated_and_garbage_files_are_misses(cache_dir: Path, caplog: Any) -> None:
    values = filled(cache_dir)
    files = data_files(cache_dir)
    assert len(files) == 2
    for f in files:
        if f.suffix == ".npy":
            f.write_bytes(f.read_bytes()[:100])  # truncated
        else:
            f.write_bytes(os.urandom(f.stat().st_size))  # same length, garbage
    got = read_all(cache_dir, list(values))
    assert got == {"small": {"a": 1}, "big": "MISS", "arr": "MISS"}


def test_deleted_files_are_misses(cache_dir: Path) -> None:
    values = filled(cache_dir)
    for f in data_files(cache_dir):
        f.unlink()
    got = read_all(cache_dir, list(values))
    assert got["big"] == "MISS" and got["arr"] == "MISS"


def test_a_malicious_pickle_never_runs(cache_dir: Path, tmp_path: Path) -> None:
    values = filled(cache_dir)
    marker = tmp_path / "pwned"
    evil = pickle.dumps(Boom(marker))
    # in place of a data file
    for f in data_files(cache_dir):
        f.write_bytes(evil)
    # in place of every index row's sealed blob
    con = sqlite3.connect(cache_dir / "cache.db")
    with con:
        con.execute("UPDATE Cache SET value = ?", (evil,))
    con.close()
    # and planted as a new row and a stray file
    (cache_dir / "data" / "planted.bin").write_bytes(evil)
    got = read_all(cache_dir, [*values, "planted"])
    assert set(got.values()) == {"MISS"}
    assert not marker.exists()
    with make(cache_dir) as c:
        c.verify(repair=True)
        assert c.get("small") is None
        c.set("small", "fresh")  # the cache keeps working over a tampered directory
        assert c.get("small") == "fresh"
    assert not marker.exists()


def test_rows_from_another_key_are_misses(cache_dir: Path) -> None:
    values = filled(cache_dir)
    con = sqlite3.connect(cache_dir / "cache.db")
    with con:
        rows = dict(con.execute("SELECT key, value FROM Cache").fetchall())
        keys = sorted(rows)
        # swap the sealed blobs of two entries: each is authentic, but for the other key
        con.execute("UPDATE Cache SET value = ? WHERE key = ?", (rows[keys[1]], keys[0]))
        con.execute("UPDATE Cache SET value = ? WHERE key = ?", (rows[keys[0]], keys[1]))
    con.close()
    with make(cache_dir, memory=0) as c:
        got = {k: c.get(k, "MISS") for k in values}
    misses = [k for k, g in got.items() if isinstance(g, str) and g == "MISS"]
    assert len(misses) == 2  # the two swapped rows; never the other key's value
    (kept,) = set(values) - set(misses)
    assert np.array_equal(got[kept], values[kept]) if kept == "arr" else got[kept] == values[kept]
