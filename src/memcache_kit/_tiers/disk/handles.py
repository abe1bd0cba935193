"""Per-process handles of a disk tier: the diskcache index and per-thread SQLite connections.

SQLite connections must not cross ``os.fork()``: after a fork the child gets fresh handles,
opened lazily, and the inherited ones are kept referenced (never closed or used), so the child
never touches SQLite state that belongs to its parent (design "Processes"; a DataLoader forks
its workers after the cache exists).
"""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import diskcache

from . import index as ix

__all__ = ["GATE", "Handles", "gated"]

_ABANDONED: list[Any] = []
_LIVE: weakref.WeakSet[Handles] = weakref.WeakSet()


class ForkGate:
    """Keeps ``os.fork()`` out of SQLite calls, and SQLite calls out of a fork.

    SQLite keeps the lock state of every open database file in process-global memory. A fork
    while another thread is inside a write transaction copies "this process holds the write
    lock" into the child, where no thread will ever release it: the child's own connections
    then get "database is locked" forever (diskcache retries for 60 s). So every SQLite call
    of the tier runs inside this gate (re-entrant per thread), and the ``before`` fork hook
    waits for the calls in flight to finish (bounded) and holds new ones off until the fork is
    done.

    Entering takes no lock: each thread counts its depth in a cell of its own (thread-local,
    so it is dropped with its thread), raised *before* it reads ``_forking``, while the forker
    sets ``_forking`` *before* it reads the cells (the GIL orders both). So either the forker
    sees the thread inside, and waits, or the thread sees the fork coming, and steps back out
    to wait. (A Condition per call cost a disk hit ~1.5 µs, a tenth of it.)
    """

    WAIT = 10.0
    _POLL = 0.005

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        # One depth cell per thread, held by its thread-local (so it goes with the thread) and
        # seen by the forker through a weak set; cells are added under _register_lock.
        self._local = threading.local()
        self._cells: weakref.WeakSet[_Depth] = weakref.WeakSet()
        self._register_lock = threading.Lock()
        self._forking = False
        self._forker: int | None = None

    def __enter__(self) -> None:
        try:
            cell: _Depth = self._local.cell
        except AttributeError:
            cell = self._register()
        cell.n += 1
        # The forking thread passes: other fork hooks may still use the tier.
        if self._forking and cell.n == 1 and self._forker != threading.get_ident():
            self._wait_out(cell)

    def _register(self) -> _Depth:
        cell = self._local.cell = _Depth()
        with self._register_lock:
            self._cells.add(cell)
        return cell

    def _wait_out(self, cell: _Depth) -> None:
        with self._cond:
            while self._forking:
                cell.n -= 1
                self._cond.notify_all()
                self._cond.wait()
                cell.n += 1

    def __exit__(self, *exc: object) -> None:
        cell: _Depth = self._local.cell
        cell.n -= 1
        if self._forking and not cell.n:
            with self._cond:
                self._cond.notify_all()

    def _busy(self) -> bool:
        mine = getattr(self._local, "cell", None)
        with self._register_lock:
            cells = list(self._cells)
        return any(cell.n for cell in cells if cell is not mine)

    def before_fork(self) -> None:
        self._cond.acquire()
        self._forker = threading.get_ident()
        self._forking = True
        # A thread that forks from inside the gate does not wait for itself; a thread stuck
        # inside SQLite is not waited for past the bound.
        deadline = time.monotonic() + self.WAIT
        while self._busy():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._cond.wait(min(left, self._POLL))

    def after_fork_in_parent(self) -> None:
        self._forking = False
        self._forker = None
        self._cond.notify_all()
        self._cond.release()

    def after_fork_in_child(self) -> None:
        # Only the forking thread survives the fork; it keeps its own depth.
        mine = getattr(self._local, "cell", None)
        self._cond = threading.Condition(threading.Lock())
        self._register_lock = threading.Lock()
        self._cells = weakref.WeakSet([mine] if mine is not None else [])
        self._forking = False
        self._forker = None


class _Depth:
    """How deep one thread is inside the gate (written by that thread only)."""

    __slots__ = ("__weakref__", "n")

    def __init__(self) -> None:
        self.n = 0


GATE = ForkGate()


def _after_fork_in_child() -> None:
    GATE.after_fork_in_child()
    for handles in list(_LIVE):
        handles.forked()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=GATE.before_fork,
        after_in_parent=GATE.after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )


class Handles:
    """The index (``diskcache.Cache``) and one connection + cursor per thread, per process.

    ``_cons`` holds every live connection strongly, so that a fork (which frees the other threads'
    thread-local storage in the child before any hook runs) never closes the parent's
    connections in the child.

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
        local = self.local  # read once: a concurrent drop() replaces it
        con: sqlite3.Connection | None = getattr(local, "con", None)
        if con is None:
            con = self._connect(local)
        return con

    def cursor(self) -> sqlite3.Cursor:
        """The calling thread's reusable cursor (opening its connection if need be)."""
        local = self.local
        cur: sqlite3.Cursor | None = getattr(local, "cur", None)
        if cur is None:
            self._connect(local)
            cur = local.cur
        return cur

    def _connect(self, local: threading.local) -> sqlite3.Connection:
        con = ix.connect(self.directory, strict=self.strict)
        local.con = con
        local.cur = con.cursor()
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
        """Let go of this process's handles; later calls reopen them.

        Never closes a connection under a thread that is using it (closing a ``sqlite3``
        connection while another thread runs a statement on it crashes the process): the
        calling thread's own connection is closed here; every other one is only let go of, and
        closes when its last reference goes: at once for a thread that is not inside the tier,
        when its statement ends for one that is (its frame holds the connection until then).
        Those threads' next calls open fresh connections.
        """
        own: sqlite3.Connection | None = getattr(self.local, "con", None)
        self._cons = []
        self.local = threading.local()
        dc, self._dc = self._dc, None
        if own is not None:
            with contextlib.suppress(Exception):
                own.close()
        if dc is not None:
            with contextlib.suppress(Exception):
                dc.close()  # diskcache closes the calling thread's connection only


_F = TypeVar("_F", bound=Callable[..., Any])


def gated(method: _F) -> _F:
    """Run ``method`` inside the fork gate (its SQLite calls never straddle an ``os.fork()``)."""

    @functools.wraps(method)
    def inside(*args: Any, **kwargs: Any) -> Any:
        with GATE:
            return method(*args, **kwargs)

    return cast(_F, inside)
