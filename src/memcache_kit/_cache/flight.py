"""Single flight within a process: one loader per key, shared by threads and asyncio tasks.

The first caller to miss a key becomes its *leader* and runs the loader; every other caller
that misses the same key while it runs waits on the leader's ``concurrent.futures.Future``
(threads block on ``result()``; a task awaits a future of its own that the leader's settles,
``Call.wait_async``), so threads and tasks share one table and one loader run. The leader
publishes the value or the exception, then leaves the table: exceptions are handed to the
waiters of that run and never cached.

Cancelling a waiting task cancels that waiter only: the shared future is never cancelled, so
neither the leader nor the other waiters see it. A leader that is interrupted (task cancelled,
``KeyboardInterrupt``) *abandons* its run: the waiters do not inherit its cancellation, they
retry and one of them becomes the next leader.

Across processes (design "Processes"), only a leader takes a second, shared lock before it
loads (:func:`shared_lock`): the remote tier's lease lock in Redis when the cache has one, else
a lock file in the disk tier's directory. Threads of one process therefore never queue on the
shared lock; they wait on their leader's future. A task waits for the shared lock without
holding a worker thread (:func:`ashared_lock`): it polls from the event loop, and a lock that
a worker thread took for a task that is gone is released at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Hashable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .._tiers.disk import FileLock

if TYPE_CHECKING:
    from .._tiers.redis import RedisTier

__all__ = ["LEASE", "Abandoned", "Call", "Flight", "SharedLock", "ashared_lock", "shared_lock"]

LEASE = 30.0
"""Seconds of the Redis lock's lease, renewed every third of it while the loader runs: a killed
holder blocks the others for at most this long (a lock file needs no lease: the kernel drops
it when its holder dies)."""


class SharedLock(Protocol):
    held: bool
    waited: float
    timeout: float

    def try_acquire(self) -> bool | None: ...  # see _tiers.locks
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


async def ashared_lock(
    key: str, remote: RedisTier | None, directory: Path | None, timeout: float
) -> SharedLock | None:
    """:func:`shared_lock` for a task: the wait occupies no worker thread for long.

    A lock file is tried from the event loop itself (a non-blocking ``flock``: a few system
    calls on a local directory); a Redis lock is tried in a worker thread, one round trip at a
    time. Between tries the task sleeps, so a thousand waiting tasks cost the loop nothing and
    leave the default executor to others. A task cancelled while a try runs in a thread gets
    no lock: if that try took it, it is released at once.
    """
    if remote is not None:
        rlock = remote.lock(key, lease=LEASE, timeout=timeout)
        await _poll(rlock, in_thread=True)
        if rlock.held or not remote.degraded or directory is None:
            return rlock
    if directory is None:
        return None
    flock = FileLock(directory, key, timeout=timeout)
    await _poll(flock, in_thread=False)
    return flock


_POLL_MIN = 0.002
_POLL_MAX = 0.1


async def _poll(lock: SharedLock, *, in_thread: bool) -> None:
    started = time.monotonic()
    deadline = started + lock.timeout
    pause = _POLL_MIN
    try:
        while (await _try_in_thread(lock) if in_thread else lock.try_acquire()) is False:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            await asyncio.sleep(min(pause, left))
            pause = min(pause * 1.5, _POLL_MAX)
    finally:
        lock.waited = time.monotonic() - started


async def _try_in_thread(lock: SharedLock) -> bool | None:
    attempt = asyncio.get_running_loop().run_in_executor(None, lock.try_acquire)
    try:
        return await asyncio.shield(attempt)
    except asyncio.CancelledError:
        # The try goes on in its thread: a lock it takes belongs to no one, so let it go.
        attempt.add_done_callback(lambda done: _release_if_taken(lock, done))
        raise


def _release_if_taken(lock: SharedLock, attempt: asyncio.Future[bool | None]) -> None:
    if not attempt.cancelled() and attempt.exception() is None and attempt.result():
        # Releasing a Redis lock is a network call: not on the event loop's thread.
        threading.Thread(target=lock.release, name="memcache_kit-release", daemon=True).start()


class Abandoned(Exception):
    """The leader stopped without a result (cancelled or interrupted): waiters retry."""


class Call(Future[Any]):
    """One in-flight load; remembers who leads it to refuse a wait that could never end."""

    def __init__(self) -> None:
        super().__init__()
        self.thread = threading.get_ident()
        self.task = _current_task()
        self.agent: object = self.task if self.task is not None else self.thread

    def wait(self) -> Any:
        """The load's value (or its exception) for a thread; raises ``RuntimeError`` instead
        of waiting for a load that can only finish after this wait (see ``check_wait``)."""
        self.check_wait(blocking=True)
        me = _enter_wait(self)
        try:
            return self.result()
        finally:
            _leave_wait(me)

    async def wait_async(self) -> Any:
        """The load's value (or its exception) for a task, through a future of the task's own:
        cancelling the task cancels only its wait, never the shared future that the leader,
        the other tasks and threads wait on."""
        self.check_wait(blocking=False)
        loop = asyncio.get_running_loop()
        mine: asyncio.Future[Any] = loop.create_future()

        def settle(call: Future[Any]) -> None:
            with contextlib.suppress(RuntimeError):  # the waiter's loop is closed: no one waits
                loop.call_soon_threadsafe(_copy_outcome, call, mine)

        me = _enter_wait(self)
        try:
            self.add_done_callback(settle)
            return await mine
        finally:
            _leave_wait(me)

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


# The wait-for graph of every flight in the process: which call each waiting thread or task
# (its *agent*) waits for. A call's leader is an agent too; a wait whose chain of leaders leads
# back to the waiter is a cycle (A's loader waits for B's key while B's loader waits for A's)
# that would never end: the wait that closes it raises instead, and the error reaches the
# other waits of the cycle as their loads fail.
_waits_lock = threading.Lock()
_waiting: dict[object, Call] = {}


def _enter_wait(call: Call) -> object:
    task = _current_task()
    me: object = task if task is not None else threading.get_ident()
    with _waits_lock:
        owner, hops = call.agent, 0
        while owner is not me and owner != me:
            nxt = _waiting.get(owner)
            if nxt is None or nxt.done() or hops > len(_waiting):
                break
            owner, hops = nxt.agent, hops + 1
        else:
            raise RuntimeError(
                "circular get_or_load: this load waits for a key whose loader waits, "
                f"through {hops + 1} load(s) in other threads or tasks, for a key this load "
                "leads (each would wait for the other forever)"
            )
        _waiting[me] = call
    return me


def _leave_wait(me: object) -> None:
    with _waits_lock:
        _waiting.pop(me, None)


def _after_fork_in_child() -> None:
    # The parent's waits do not exist in the child, and the lock may have been held at fork.
    global _waits_lock
    _waits_lock = threading.Lock()
    _waiting.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _copy_outcome(call: Future[Any], mine: asyncio.Future[Any]) -> None:
    if mine.done():  # the waiter was cancelled meanwhile
        return
    if call.cancelled():
        mine.set_exception(Abandoned())
        return
    exc = call.exception()
    if exc is not None:
        mine.set_exception(exc)
    else:
        mine.set_result(call.result())


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
