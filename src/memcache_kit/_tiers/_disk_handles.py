"""Per-process handles of a disk tier: the diskcache index and per-thread SQLite connections.

SQLite connections must not cross ``os.fork()``: after a fork the child gets fresh handles,
opened lazily, and the inherited ones are kept referenced (never closed or used), so the child
never touches SQLite state that belongs to its parent (design "Processes"; a DataLoader forks
its workers after the cache exists).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import weakref
from pathlib import Path
from typing import Any

import diskcache

from . import _disk_index as ix

__all__ = ["Handles"]

_ABANDONED: list[Any] = []
_LIVE: weakref.WeakSet[Handles] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for handles in list(_LIVE):
        handles.forked()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class Handles:
    """The index (``diskcache.Cache``) and one connection + cursor per thread, per process.

    ``local.cur`` is the calling thread's reusable cursor once :meth:`con` has run in it (a
    reused cursor saves ~0.3 µs a hit over ``con.execute``, benchmarks/bench_disk.py).
    """

    def __init__(self, directory: Path, *, strict: bool) -> None:
        self.directory = directory
        self.strict = strict
        self.lock = threading.RLock()
        self.local = threading.local()
        self._cons: list[sqlite3.Connection] = []
        self._dc: diskcache.Cache | None = None
        self._pid = os.getpid()
        _LIVE.add(self)

    def index(self) -> diskcache.Cache:
        dc = self._dc
        if dc is None or self._pid != os.getpid():
            with self.lock:
                if self._pid != os.getpid():  # forked without the at-fork hook
                    self.forked()
                dc = self._dc
                if dc is None:
                    dc = self._dc = ix.open_index(self.directory, strict=self.strict)
        return dc

    def con(self) -> sqlite3.Connection:
        con: sqlite3.Connection | None = getattr(self.local, "con", None)
        if con is None:
            con = ix.connect(self.directory, strict=self.strict)
            self.local.con = con
            self.local.cur = con.cursor()
            with self.lock:
                self._cons.append(con)
        return con

    def forked(self) -> None:
        _ABANDONED.extend((self._dc, self.local, self._cons))
        self._dc = None
        self.local = threading.local()
        self._cons = []
        self.lock = threading.RLock()
        self._pid = os.getpid()

    def drop(self) -> None:
        """Close this process's handles; later calls reopen them."""
        cons, self._cons = self._cons, []
        self.local = threading.local()
        for con in cons:
            with contextlib.suppress(Exception):
                con.close()
        dc, self._dc = self._dc, None
        if dc is not None:
            with contextlib.suppress(Exception):
                dc.close()
