"""Single flight across the processes of one machine: a per-key lock file in the cache directory.

``fcntl.flock`` on ``<cache dir>/locks/<key>.lock``. The kernel drops a process's locks when it
dies, however it dies (SIGKILL included), so a killed loader never blocks the others: the lease
is the holder's life, and nothing has to renew it. A holder that hangs is bounded by the
waiters' ``timeout``, after which they load by themselves.

One file per key, not a striped set: with stripes, a loader that asks for another key of its own
stripe (a decorated function calling another) would wait for itself until the timeout. Files do
not pile up: the holder unlinks its file before unlocking it, and a waiter that wins the lock on
a file that was unlinked (its inode no longer behind the path) starts again on the new one.
A killed holder leaves its file behind, unlocked; the next holder of that key removes it.

Waiters poll with ``LOCK_NB`` and a growing pause instead of a blocking ``flock``: a blocking
call cannot be given up after a timeout without signals. Where ``fcntl`` is missing (Windows)
the lock is never held and callers load by themselves (single flight within the process still
holds).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
from pathlib import Path
from types import TracebackType

from ..locks import acquire_by_polling

__all__ = ["LOCK_DIR", "FileLock", "lock_path"]

LOCK_DIR = "locks"
_POLL_MIN = 0.002
_POLL_MAX = 0.1

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]


def lock_path(directory: Path, key: str) -> Path:
    """The lock file of ``key`` (disk keys are hex digests already; anything else is hashed)."""
    name = key if key.isalnum() and len(key) <= 100 else hashlib.blake2b(key.encode()).hexdigest()
    return directory / LOCK_DIR / f"{name}.lock"


class FileLock:
    """An exclusive lock on one key, shared by every process that opens the same directory.

    ``with FileLock(directory, key, timeout=60) as lk:``; ``lk.held`` says whether this process
    got it (False after waiting ``timeout`` in vain, or when the lock directory is unusable:
    load anyway), ``lk.waited`` how long it waited. Release from any thread of the process.
    """

    def __init__(self, directory: Path, key: str, *, timeout: float) -> None:
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout >= 0:
            raise ValueError(f"a lock timeout is seconds >= 0, not {timeout!r}")
        self.path = lock_path(directory, key)
        self.timeout = float(timeout)
        self.held = False
        self.waited = 0.0
        self._fd = -1

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(
        self,
        et: type[BaseException] | None,
        ev: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def acquire(self) -> bool:
        """Take the lock, waiting up to ``timeout``; returns ``held``."""
        return acquire_by_polling(self, _POLL_MIN, _POLL_MAX)

    def try_acquire(self) -> bool | None:
        """One attempt that never waits: True when this process now holds the lock, False when
        another one does, None when the lock cannot be had at all (no ``fcntl``, an unusable
        lock directory: read-only, deleted, full), so the caller should load without it. A few
        system calls on a local directory: cheap enough for an event loop's thread."""
        if fcntl is None:
            return None
        try:
            while True:
                fd = self._open()
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError as e:
                    os.close(fd)
                    if e.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                        raise
                    return False
                if self._still_linked(fd):
                    self._fd = fd
                    self.held = True
                    return True
                os.close(fd)  # its holder unlinked it before we got it: use the new file
        except OSError:
            return None

    def _open(self) -> int:
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
        try:
            return os.open(self.path, flags, 0o600)
        except FileNotFoundError:
            os.makedirs(self.path.parent, mode=0o700, exist_ok=True)
            return os.open(self.path, flags, 0o600)

    def _still_linked(self, fd: int) -> bool:
        try:
            st = os.stat(self.path, follow_symlinks=False)
        except FileNotFoundError:
            return False
        mine = os.fstat(fd)
        return (st.st_ino, st.st_dev) == (mine.st_ino, mine.st_dev)

    def release(self) -> None:
        """Unlink the file, then unlock it (in that order: see the module docstring)."""
        if not self.held:
            return
        self.held = False
        fd, self._fd = self._fd, -1
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        os.close(fd)  # closing the only descriptor drops the flock
