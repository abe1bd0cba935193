"""Per-process statistics files, so that ``memcache-kit stats DIR`` sees every process.

Each process that uses a cache directory keeps one file there, ``<dir>/stats/<host>-<pid>.json``,
holding the counters of its caches on that directory (``Cache.stats().to_dict()``), its pid,
host, start and last-update times. One daemon thread per process rewrites the files every
:data:`INTERVAL` seconds, and an ``atexit`` hook writes them a last time; a fork child starts
its own thread and counts only what it did after the fork.

Why this shape:

- Nothing runs on the hit path: the counters already exist, and only the flusher reads them.
- A file per process, rewritten whole (temp file, then rename, mode 0600), so a reader never
  sees a torn file and no two processes ever write one file: no lock is needed.
- Caches are held by weak references: registering never keeps a cache alive.
- A cache that has served no request and written nothing writes no file, so inspecting a
  directory (``memcache-kit ls``, ``verify``) does not show up as a process that used it.
- A fork child inherits its parent's counters. It subtracts the counters its parent last
  flushed (at most :data:`INTERVAL` seconds before the fork), so a directory's sum counts the
  parent's earlier requests once. Nothing is read at the fork itself: a fork hook that took
  locks or did I/O (SQLite, Redis) could deadlock against the tiers' own fork hooks.

Imports only leaves; ``_cache`` calls :func:`register` from ``Cache.__init__``.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import socket
import threading
import time
import weakref
from pathlib import Path
from typing import Any, Final, Protocol

__all__ = [
    "INTERVAL",
    "STATS_DIR",
    "ProcessStats",
    "closing",
    "flush",
    "read_stats",
    "register",
]

INTERVAL: Final = 5.0
STATS_DIR: Final = "stats"
# Counters add up across processes; occupancy (bytes, items, budget) of the memory tier adds up
# too (each process has its own), but a disk tier's occupancy is one shared directory's.
COUNTERS: Final = ("hits", "misses", "evictions", "spills", "promotions", "writes")
_TOP_COUNTERS: Final = ("loads", "load_seconds", "saved_seconds")


class _Observed(Protocol):
    @property
    def directory(self) -> Path: ...

    @property
    def name(self) -> str: ...

    def stats(self) -> Any: ...


_lock = threading.Lock()
_caches: dict[int, weakref.ref[_Observed]] = {}
_baselines: dict[int, dict[str, Any]] = {}  # id(cache) -> counters at the fork (child only)
_last_raw: dict[int, dict[str, Any]] = {}  # id(cache) -> its counters at the last flush
_closed: dict[int, tuple[Path, dict[str, Any]]] = {}  # id(cache) -> its counters at close
_started = time.time()
_thread: threading.Thread | None = None
_wake = threading.Event()


def register(cache: _Observed) -> None:
    """Record ``cache``'s counters in ``<cache.directory>/stats/`` from now on (cheap, once)."""
    key = id(cache)

    def forget(_: object, key: int = key) -> None:
        _caches.pop(key, None)
        _last_raw.pop(key, None)
        _baselines.pop(key, None)

    with _lock:
        _caches[key] = weakref.ref(cache, forget)
    _ensure_thread()


def closing(cache: _Observed) -> None:
    """Keep ``cache``'s counters as they are now, for this process's file: call it from
    ``Cache.close()`` before the tiers go (a closed cache reports no tiers)."""
    key = id(cache)
    with _lock:
        if key not in _caches:
            return
    try:
        d = _counted(key, cache.stats().to_dict())
    except Exception:  # statistics must never break close()
        return
    if _active(d):
        with _lock:
            _closed[key] = (Path(cache.directory), d)


def _counted(key: int, d: dict[str, Any]) -> dict[str, Any]:
    base = _baselines.get(key)
    return d if base is None else _subtract(d, base)


def _ensure_thread() -> None:
    global _thread
    with _lock:
        if _thread is not None and _thread.is_alive():
            return
        _thread = threading.Thread(target=_run, name="memcache_kit-stats", daemon=True)
        _thread.start()


def _run() -> None:
    while not _wake.wait(INTERVAL):
        flush()


def _live() -> list[tuple[int, _Observed]]:
    with _lock:
        refs = list(_caches.items())
    return [(k, c) for k, r in refs if (c := r()) is not None]


def _active(d: dict[str, Any]) -> bool:
    return bool(d.get("loads")) or any(
        t.get("hits") or t.get("misses") or t.get("writes") for t in d["tiers"].values()
    )


def _subtract(now: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    out = dict(now)
    for k in _TOP_COUNTERS:
        out[k] = now.get(k, 0) - base.get(k, 0)
    tiers = {}
    for name, t in now["tiers"].items():
        b = base["tiers"].get(name, {})
        tiers[name] = {**t, **{c: t.get(c, 0) - b.get(c, 0) for c in COUNTERS}}
    out["tiers"] = tiers
    return out


def flush() -> None:
    """Write this process's file in every directory its registered caches use (never raises
    on I/O errors: statistics must not break the program)."""
    by_dir: dict[Path, list[dict[str, Any]]] = {}
    with _lock:
        final = dict(_closed)
    for key, cache in _live():
        try:
            raw = cache.stats().to_dict()
        except Exception:  # a broken cache has nothing to say
            continue
        if raw["tiers"]:
            _last_raw[key] = raw
        d = _counted(key, raw)
        if d["tiers"] and _active(d):  # a closed cache has no tiers: its final record stands
            final.pop(key, None)  # reopened after close: its counters go on from there
            by_dir.setdefault(Path(cache.directory), []).append(d)
    for directory, d in final.values():
        by_dir.setdefault(directory, []).append(d)
    now = time.time()
    for directory, caches in by_dir.items():
        if not directory.is_dir():  # a memory-only cache creates no directory: none here
            continue
        record = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started": _started,
            "updated": now,
            "stats": _merge(caches),
            "caches": caches,
        }
        with contextlib.suppress(OSError):
            _write(directory / STATS_DIR, f"{record['host']}-{record['pid']}.json", record)


def _write(folder: Path, name: str, record: dict[str, Any]) -> None:
    folder.mkdir(mode=0o700, exist_ok=True)
    tmp = folder / f".{name}.{threading.get_ident()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(record, f, sort_keys=True)
        os.replace(tmp, folder / name)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _merge(stats: list[dict[str, Any]]) -> dict[str, Any]:
    """Sum ``CacheStats.to_dict()`` records: counters add up; the memory tier's occupancy adds
    up (one per process); the disk tier's is the shared directory's, taken from the last."""
    out: dict[str, Any] = {
        "name": ",".join(sorted({s["name"] for s in stats})),
        "tiers": {},
        "loads": 0,
        "load_seconds": 0.0,
        "saved_seconds": 0.0,
        "key_bytes": 0,
    }
    for s in stats:
        for k in (*_TOP_COUNTERS, "key_bytes"):
            out[k] += s.get(k, 0)
        for name, t in s["tiers"].items():
            acc = out["tiers"].setdefault(name, dict.fromkeys(t, 0))
            for field, value in t.items():
                if field in COUNTERS or name == "memory":
                    acc[field] = acc.get(field, 0) + value
                else:
                    acc[field] = value
    out["tiers"] = _ordered(out["tiers"])
    return out


def _ordered(tiers: dict[str, Any]) -> dict[str, Any]:
    # Lookup order (memory, disk, remote): JSON files keep their keys sorted.
    rank = {"memory": 0, "disk": 1, "remote": 2}
    return {k: tiers[k] for k in sorted(tiers, key=lambda k: (rank.get(k, 3), k))}


class ProcessStats(dict[str, Any]):
    """One process's record: ``host``, ``pid``, ``started``, ``updated``, ``alive``, ``stats``
    (its caches summed, in the shape of ``CacheStats.to_dict()``) and ``caches``."""


def read_stats(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """Every process's record in ``directory`` and their sum.

    Returns ``{"directory": str, "processes": [record, ...], "total": stats}``, processes
    oldest update first; ``total`` has the shape of ``CacheStats.to_dict()`` (``name`` joins the
    names seen). Unreadable files are skipped. ``alive`` is whether the pid still runs on this
    host (``None`` for another host).
    """
    folder = Path(directory) / STATS_DIR
    records: list[dict[str, Any]] = []
    host = socket.gethostname()
    names = sorted(os.listdir(folder)) if folder.is_dir() else []
    for name in names:
        if not name.endswith(".json") or name.startswith("."):
            continue
        try:
            rec = json.loads((folder / name).read_text())
            rec["stats"]["tiers"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        rec["alive"] = _alive(rec.get("pid")) if rec.get("host") == host else None
        rec["stats"]["tiers"] = _ordered(rec["stats"]["tiers"])
        records.append(ProcessStats(rec))
    records.sort(key=lambda r: r.get("updated", 0))
    total = _merge([r["stats"] for r in records]) if records else None
    return {"directory": str(directory), "processes": records, "total": total}


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _after_fork_in_child() -> None:
    global _lock, _thread, _wake, _started
    _lock = threading.Lock()
    _wake = threading.Event()
    _started = time.time()
    _baselines.clear()
    _baselines.update(_last_raw)
    _closed.clear()
    # The thread's first flush comes INTERVAL seconds later, long after the other fork hooks.
    _thread = None
    if _caches:
        _thread = threading.Thread(target=_run, name="memcache_kit-stats", daemon=True)
        _thread.start()


atexit.register(flush)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
