"""Single flight across machines: a per-key lease lock in Redis.

``SET lock token NX PX lease`` takes it; only the holder's token releases it (a Lua
compare-and-delete) or extends it (compare-and-``PEXPIRE``, from a background thread every third
of the lease while the loader runs). A holder that dies stops renewing, so it blocks the others
for at most one lease. Waiters poll with a growing pause and give up after ``timeout``: they then
load themselves. Each Redis call is bounded by the tier's socket timeout; the wait for another
machine's loader is bounded by ``timeout`` alone.
"""

from __future__ import annotations

import logging
import os
import threading
from types import TracebackType
from typing import Any, Protocol

from ..locks import acquire_by_polling
from .scripts import Keys


class Remote(Protocol):
    """What the lock uses of its tier (``tier.Remote`` is one; a protocol here, since the
    tier imports this module)."""

    keys: Keys
    timeout: float

    def _command(self, op: str, name: str, *args: Any, **kwargs: Any) -> Any: ...
    def _script(self, op: str, name: str, keys: list[str], args: list[Any]) -> Any: ...


__all__ = ["RemoteLock"]

log = logging.getLogger("memcache_kit")

_POLL_MIN = 0.005
_POLL_MAX = 0.25


class RemoteLock:
    """A lease lock on one key of a :class:`Remote` namespace; use it as a context manager.

    After ``acquire()`` (or entering the ``with`` block), ``held`` says whether this process
    owns the lock. ``held`` is False when the wait timed out or Redis could not be reached: the
    caller should load the value itself (and may still store it). Either way, look the key up
    again first: the previous holder has usually stored it.
    """

    def __init__(self, tier: Remote, key: str, *, lease: float, timeout: float) -> None:
        if isinstance(lease, bool) or not isinstance(lease, int | float) or not lease >= 0.01:
            raise ValueError(f"a lock lease is seconds >= 0.01, not {lease!r}")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout >= 0:
            raise ValueError(f"a lock timeout is seconds >= 0, not {timeout!r}")
        self.tier = tier
        self.key = key
        self.name = tier.keys.lock(key)
        self.lease = float(lease)
        self.timeout = float(timeout)
        self.held = False
        self.waited = 0.0
        self.lost = False
        self._token = os.urandom(16).hex()
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def __enter__(self) -> RemoteLock:
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
        """One attempt (one Redis round trip): True when this process now holds the lock (and
        renews its lease), False when another one does, None when Redis cannot be reached (the
        tier is degraded: load locally)."""
        lease_ms = max(1, int(self.lease * 1000))
        ok = self.tier._command("lock", "set", self.name, self._token, nx=True, px=lease_ms)
        if ok is _FAILED:
            return None
        if not ok:
            return False
        self.held = True
        self._start_renewing()
        return True

    def release(self) -> None:
        """Stop renewing and delete the lock if this process still holds it."""
        if not self.held:
            return
        self.held = False
        self._stop.set()
        if self._renewer is not None and self._renewer is not threading.current_thread():
            self._renewer.join(timeout=self.tier.timeout * 2 + 0.1)
        self.tier._script("release", "lock_release", [self.name], [self._token])

    def _start_renewing(self) -> None:
        t = threading.Thread(target=self._renew, name=f"memcache_kit-lease-{self.key[:8]}")
        t.daemon = True
        self._renewer = t
        t.start()

    def _renew(self) -> None:
        lease_ms = max(1, int(self.lease * 1000))
        pid = os.getpid()
        while not self._stop.wait(self.lease / 3):
            if os.getpid() != pid:  # pragma: no cover - a thread does not survive fork
                return
            done: Any = self.tier._script(
                "renew", "lock_renew", [self.name], [self._token, lease_ms]
            )
            if done == 0:
                # Our lease ran out (a pause longer than the lease) and someone else may hold
                # it now: keep loading, but stop extending a lock that is not ours.
                self.lost = True
                log.debug("memcache_kit remote lock %s: lease lost while loading", self.name)
                return


class _Failed:
    """What ``Remote._command`` returns when the call failed (a miss, not an error)."""

    def __repr__(self) -> str:
        return "FAILED"


_FAILED: Any = _Failed()
