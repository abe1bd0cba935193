"""Whether Redis is reachable, for one remote tier.

The first connection error or timeout degrades the tier with one WARNING: reads miss and writes
are skipped without a network call until ``retry_at``, when one caller probes (a ``PING``);
each failed probe doubles the back-off (up to ``backoff_max``) and the first success re-enables
the tier, logged at INFO. A command error (e.g. OOM under ``maxmemory noeviction``) is not an
outage: the tier counts and logs it and stays on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

__all__ = ["Outage"]

log = logging.getLogger("memcache_kit")


class Outage:
    """The degraded/back-off state of one remote tier."""

    def __init__(self, where: str, namespace: str, backoff: float, backoff_max: float = 60.0):
        self.where = where  # the URL without its password
        self.namespace = namespace
        self.degraded = False
        self.backoff = self.backoff_min = backoff
        self.backoff_max = backoff_max
        self.retry_at = 0.0
        self._lock = threading.Lock()

    def down(self, op: str, exc: BaseException) -> None:
        """Redis did not answer ``op``: degrade (or, already degraded, back off further)."""
        self.retry_at = time.monotonic() + self.backoff
        if self.degraded:
            self.backoff = min(self.backoff * 2, self.backoff_max)
            return
        self.degraded = True
        log.warning(
            "memcache_kit remote tier %s (namespace %r) is unreachable (%s failed: %s: %s); "
            "reads miss and writes are skipped, re-probing in %.1f s",
            self.where, self.namespace, op, type(exc).__name__, exc, self.backoff,
        )  # fmt: skip

    def probe(self, ping: Callable[[], bool]) -> bool:
        """Whether the tier may be used now: when the back-off has passed, one caller runs
        ``ping`` (which reports its own failure) and re-enables the tier if it answers."""
        if time.monotonic() < self.retry_at or not self._lock.acquire(blocking=False):
            return False
        try:
            if not self.degraded:
                return True
            if not ping():
                return False
            self.degraded = False
            self.backoff = self.backoff_min
            log.info(
                "memcache_kit remote tier %s (namespace %r) is reachable again; re-enabled",
                self.where,
                self.namespace,
            )
            return True
        finally:
            self._lock.release()

    def after_fork(self) -> None:
        # Another thread of the parent may have held the probe lock at the fork.
        self._lock = threading.Lock()
