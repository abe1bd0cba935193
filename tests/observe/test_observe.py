"""Per-process statistics files: written atomically and privately, summed across processes,
fork-aware, nothing for a cache that did nothing."""

from __future__ import annotations

import gc
import json
import os
import socket
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import memcache_kit as mk
from memcache_kit._observe import stats as _observe

WORKER = textwrap.dedent(
    """
    import sys
    import memcache_kit as mk
    from memcache_kit._observe import stats as _observe

    c = mk.Cache("obs", memory="1MiB", disk="16MiB", directory=sys.argv[1])
    _observe.register(c)
    for i in range(int(sys.argv[2])):
        c.get_or_load((sys.argv[3], i), lambda: b"x" * 1000)
    for i in range(int(sys.argv[2])):
        c.get((sys.argv[3], i))
    if sys.argv[3] == "close":
        _observe.closing(c)  # what Cache.close() calls: the counters as they were at close
        c.close()
    """
)


def work(directory: Path, n: int, close: bool = False) -> None:
    subprocess.run(
        [sys.executable, "-c", WORKER, str(directory), str(n), "close" if close else "keep"],
        check=True,
        timeout=120,
    )


def test_two_processes_are_recorded_and_summed(tmp_path: Path) -> None:
    work(tmp_path, 3)
    work(tmp_path, 5, close=True)  # a closed cache's counters still reach the file at exit
    info = _observe.read_stats(tmp_path)
    procs = info["processes"]
    assert len(procs) == 2
    assert sorted(p["stats"]["loads"] for p in procs) == [3, 5]
    assert all(p["host"] == socket.gethostname() and p["alive"] is False for p in procs)
    assert all(p["started"] <= p["updated"] for p in procs)
    total = info["total"]
    assert total["loads"] == 8
    assert total["tiers"]["memory"]["hits"] == 8
    assert total["tiers"]["memory"]["misses"] == 8
    # The shared disk tier's occupancy is the directory's (as the last process saw it), not
    # the sum over processes.
    assert total["tiers"]["disk"]["items"] == 8
    assert total["tiers"]["disk"]["writes"] == 8
    for f in (tmp_path / "stats").iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
        assert f.name.endswith(".json") and not f.name.startswith(".")
    assert stat.S_IMODE((tmp_path / "stats").stat().st_mode) == 0o700


def test_an_idle_cache_writes_nothing(tmp_path: Path) -> None:
    work(tmp_path, 0)
    assert _observe.read_stats(tmp_path) == {
        "directory": str(tmp_path),
        "processes": [],
        "total": None,
    }


def test_flush_in_process_and_a_collected_cache_is_forgotten(tmp_path: Path) -> None:
    c = mk.Cache("obs", memory="1MiB", disk="16MiB", directory=tmp_path)
    _observe.register(c)
    _observe.register(c)  # twice is once
    c.set("a", 1)
    c.get("a")
    _observe.flush()
    (proc,) = _observe.read_stats(tmp_path)["processes"]
    assert proc["pid"] == os.getpid() and proc["alive"] is True
    assert proc["stats"]["tiers"]["memory"]["hits"] == 1
    assert len(proc["caches"]) == 1
    c.close()
    del c
    gc.collect()
    ids = set(_observe._caches)
    assert all(r() is not None for k, r in _observe._caches.items() if k in ids)


def test_unreadable_files_are_skipped(tmp_path: Path) -> None:
    work(tmp_path, 2)
    (tmp_path / "stats" / "broken.json").write_text("{not json")
    (tmp_path / "stats" / "other.json").write_text(json.dumps({"pid": 1}))
    assert len(_observe.read_stats(tmp_path)["processes"]) == 1


def test_a_fork_child_counts_only_its_own_requests(tmp_path: Path) -> None:
    c = mk.Cache("obs", memory="1MiB", disk="16MiB", directory=tmp_path)
    _observe.register(c)
    for i in range(4):
        c.get_or_load(i, lambda: b"y")
    _observe.flush()  # the child subtracts what its parent last flushed
    pid = os.fork()
    if pid == 0:  # the child: one more load, then its own file
        code = 1
        try:
            c.get_or_load(99, lambda: b"z")
            _observe.flush()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    _observe.flush()
    by_pid = {p["pid"]: p["stats"] for p in _observe.read_stats(tmp_path)["processes"]}
    assert by_pid[os.getpid()]["loads"] == 4
    assert by_pid[pid]["loads"] == 1
    assert by_pid[pid]["tiers"]["memory"]["misses"] == 1
    c.close()
