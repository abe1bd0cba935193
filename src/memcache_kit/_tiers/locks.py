"""What the tiers' cross-process locks share: a lock is tried without waiting
(``try_acquire``), and waiting is polling with a growing pause, here for threads and in
``_cache.flight.ashared_lock`` for tasks."""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["Pollable", "acquire_by_polling"]


class Pollable(Protocol):
    timeout: float
    held: bool
    waited: float

    def try_acquire(self) -> bool | None:
        """True: now held; False: another holder; None: cannot be had (load without it)."""
        ...


def acquire_by_polling(lock: Pollable, pause_min: float, pause_max: float) -> bool:
    """Try ``lock`` until it is held, cannot be had, or its ``timeout`` passes, sleeping
    between tries (``pause_min``, growing by half each time up to ``pause_max``); sets
    ``lock.waited``; returns ``lock.held``."""
    started = time.monotonic()
    deadline = started + lock.timeout
    pause = pause_min
    while lock.try_acquire() is False:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        time.sleep(min(pause, left))
        pause = min(pause * 1.5, pause_max)
    lock.waited = time.monotonic() - started
    return lock.held
