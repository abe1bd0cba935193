"""Single flight within a process: one loader per key, shared by threads and asyncio tasks.

The first caller to miss a key becomes its *leader* and runs the loader; every other caller
that misses the same key while it runs waits on the leader's ``concurrent.futures.Future``
(threads block on ``result()``, tasks ``await asyncio.wrap_future``), so threads and tasks
share one table and one loader run. The leader publishes the value or the exception, then
leaves the table: exceptions are handed to the waiters of that run and never cached.

A leader that is interrupted (task cancelled, ``KeyboardInterrupt``) *abandons* its run: the
waiters do not inherit its cancellation, they retry and one of them becomes the next leader.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Hashable
from concurrent.futures import Future
from typing import Any

__all__ = ["Abandoned", "Call", "Flight"]


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

    def __len__(self) -> int:
        return len(self._calls)

    def after_fork(self) -> None:
        # The parent's loads do not run in the child and its lock may have been held at fork:
        # start empty with a fresh lock.
        self._lock = threading.Lock()
        self._calls = {}
