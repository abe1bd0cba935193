"""Single flight within a process: one loader per key, shared by threads and asyncio tasks.

The first caller to miss a key becomes its *leader* and runs the loader; every other caller
that misses the same key while it runs waits on the leader's ``concurrent.futures.Future``
(threads block on ``result()``, tasks ``await asyncio.wrap_future``), so threads and tasks
share one table and one loader run. The leader publishes the value or the exception, then
leaves the table: exceptions are handed to the waiters of that run and never cached.

A leader that is interrupted (task cancelled, ``KeyboardInterrupt``) *abandons* its run: the
waiters do not inherit its cancellation, they retry and one of them becomes the next leader.

Across processes (design "Processes"), only a leader takes a second, shared lock before it
loads (:func:`shared_lock`): the remote tier's lease lock in Redis when the cache has one, else
a lock file in the disk tier's directory. Threads of one process therefore never queue on the
shared lock; they wait on their leader's future.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Hashable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .._tiers.disk import FileLock

if TYPE_CHECKING:
    from .._tiers.redis import RedisTier

__all__ = ["LEASE", "Abandoned", "Call", "Flight", "SharedLock", "shared_lock"]

LEASE = 30.0
"""Seconds of the Redis lock's lease, renewed every third of it while the loader runs: a killed
holder blocks the others for at most this long (a lock file needs no lease: the kernel drops
it when its holder dies)."""


class SharedLock(Protocol):
    held: bool
    waited: float

    def release(self) -> None: ...


def shared_lock(
    key: str, remote: RedisTier | None, directory: Path | None, timeout: float
) -> SharedLock | None:
    """Take the cross-process lock of ``key``, waiting up to ``timeout``: None when the cache
    shares no tier; otherwise a lock whose ``held`` is False when the wait was in vain (the
    caller then loads by itself) and which the caller must ``release()``.

    The remote lock spans machines, so it alone serves when Redis answers; while Redis is
    unreachable the lock file (same machine only) stands in.
    """
    if remote is not None:
        rlock = remote.lock(key, lease=LEASE, timeout=timeout)
        rlock.acquire()
        if rlock.held or not remote.degraded or directory is None:
            return rlock
    if directory is None:
        return None
    flock = FileLock(directory, key, timeout=timeout)
    flock.acquire()
    return flock


class Abandoned(Exception):
    """The leader stopped without a result (cancelled or interrupted): waiters retry."""


class Call(Future[Any]):
    """One in-flight load; remembers who leads it to refuse a wait that could never end."""

    def __init__(self) -> None:
        super().__init__()
        self.thread = threading.get_ident()
        self.task = _current_task()

    def check_wait(self, *, blocking: bool) -> None:
        """Raise instead of waiting for a load that can only finish after this wait."""
        if self.thread != threading.get_ident():
            return
        if not blocking:
            if self.task is not None and self.task is _current_task():
                raise RuntimeError(
                    "recursive aget_or_load: the loader of this key asked for the same key again"
                )
            return
        if self.task is None:
            raise RuntimeError(
                "recursive get_or_load: the loader of this key asked for the same key again "
                "(it would wait for itself forever)"
            )
        raise RuntimeError(
            "get_or_load() called from inside the event loop while a task of that loop "
            "loads the same key (it would block the loop forever): use "
            "'await cache.aget_or_load(...)' there"
        )


def _current_task() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:  # no running loop in this thread
        return None


class Flight:
    """The in-flight table: key → ``Call``. Its lock guards dictionary operations only."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[Hashable, Call] = {}

    def begin(self, key: Hashable) -> tuple[Call, bool]:
        """The call for ``key`` and whether the caller leads it (it must then ``end`` it)."""
        with self._lock:
            call = self._calls.get(key)
            if call is not None:
                return call, False
            call = self._calls[key] = Call()
            return call, True

    def end(self, key: Hashable, call: Call) -> None:
        with self._lock:
            if self._calls.get(key) is call:
                del self._calls[key]

    @contextlib.contextmanager
    def leading(self, key: Hashable, call: Call) -> Iterator[None]:
        """The leader's side of ``call`` (it sets the result itself): an exception reaches the
        waiters; an interruption (KeyboardInterrupt, a cancelled task) reaches them as
        ``Abandoned``, so they retry; the flight ends whatever happens."""
        try:
            yield
        except Exception as e:
            call.set_exception(e)
            raise
        except BaseException:
            call.set_exception(Abandoned())
            raise
        finally:
            self.end(key, call)

    def __len__(self) -> int:
        return len(self._calls)

    def after_fork(self) -> None:
        # The parent's loads do not run in the child and its lock may have been held at fork:
        # start empty with a fresh lock.
        self._lock = threading.Lock()
        self._calls = {}
