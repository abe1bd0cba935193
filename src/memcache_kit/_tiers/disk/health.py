"""Failure policy of the disk tier: consecutive faults disable it, a back-off re-probes it.

A failing disk (ENOSPC, EIO, EACCES, "database is locked", a directory deleted under a running
process) must never reach a caller. Each fault is counted; after ``fail_limit`` in a row the
tier is *degraded*: one WARNING, then reads miss and writes are skipped without touching the
disk until ``retry_at``, when one operation is let through as a probe. Each failed probe
doubles the back-off (up to ``backoff_max``); the first success re-enables the tier.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

__all__ = ["Health"]

log = logging.getLogger("memcache_kit")


class Health:
    """Fault counters and the degraded/back-off state of one tier."""

    def __init__(
        self, where: Path, *, fail_limit: int = 5, backoff: float = 1.0, backoff_max: float = 60.0
    ) -> None:
        self.where = where
        self.fail_limit = fail_limit
        self.failures = 0
        self.counts: dict[str, int] = {}
        self.degraded = False
        self.backoff = self.backoff_min = backoff
        self.backoff_max = backoff_max
        self.retry_at = 0.0

    def fault(self, op: str, exc: BaseException) -> None:
        kind = type(exc).__name__
        self.counts[kind] = self.counts.get(kind, 0) + 1
        self.failures += 1
        if self.degraded:  # a failed probe
            self.backoff = min(self.backoff * 2, self.backoff_max)
            self.retry_at = time.monotonic() + self.backoff
        elif self.failures >= self.fail_limit:
            self.disable(exc)
        else:
            log.debug("memcache_kit disk tier %s: %s failed: %r", self.where, op, exc)

    def disable(self, exc: BaseException) -> None:
        if self.degraded:
            return
        self.degraded = True
        self.retry_at = time.monotonic() + self.backoff
        log.warning(
            "memcache_kit disk tier %s disabled after %d consecutive failures (last: %s: %s); "
            "reads miss and writes are skipped until it is re-probed in %.0f s",
            self.where,
            self.failures,
            type(exc).__name__,
            exc,
            self.backoff,
        )

    def probe_due(self) -> bool:
        """While degraded: whether the back-off has passed; claims the probe (call it under
        the tier's lock, so only one caller probes)."""
        now = time.monotonic()
        if now < self.retry_at:
            return False
        self.retry_at = now + self.backoff
        return True

    def ok(self) -> bool:
        """An operation succeeded; returns whether the tier was degraded until now."""
        self.failures = 0
        if not self.degraded:
            return False
        self.degraded = False
        self.backoff = self.backoff_min
        log.warning("memcache_kit disk tier %s works again; re-enabled", self.where)
        return True
