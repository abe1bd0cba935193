"""Opening, closing and resizing a ``Cache``'s tiers.

``close()`` flushes what only memory holds and closes the tiers; the next operation reopens
them (``_check_open``). Setting a budget resizes at once: shrinking evicts, 0 closes the tier,
more than 0 opens it.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable
from typing import Any

from .._errors import ConfigError
from .._keys import CacheKey
from .._observe import stats as _observe
from .._tiers.disk import DiskTier
from .._tiers.memory import MemoryTier
from .._tiers.redis import RedisTier
from . import options as env
from .parts import flush_and_close, hit_path, no_memory, recording_reader, weak_evict
from .state import CacheState

__all__ = ["Tiers"]

Size = int | str | None


class Tiers(CacheState):
    """Opening, closing and resizing the tiers (mixed into ``Cache``)."""

    def _open(self) -> None:
        # Spills and promotions are the memory tier's counters: they restart with it.
        self._spills = self._promotions = 0
        if self._memory_bytes:
            self._set_memory_tier(MemoryTier(self._memory_bytes, on_evict=weak_evict(self)))
        if self._disk_bytes and not self._on_network:
            self._disk = DiskTier(
                self._directory,
                self._disk_bytes,
                serializer=self._serializer,
                durability=self._durability,
                verify_arrays=self._verify_arrays,
                allow_shared_directory=self._allow_shared,
            )
        if self._remote_url is not None and self._remote_bytes:
            self._remote = self._open_remote()
        self._arm()
        self._closed = False

    def _open_remote(self) -> RedisTier:
        assert self._remote_url is not None
        try:
            return RedisTier(
                self._remote_url,
                self._remote_bytes,
                namespace=self._name,
                timeout=self._remote_timeout,
                serializer=self._serializer,
            )
        except ConfigError as e:
            raise ConfigError(f"cache {self._name!r} (remote={self._remote_url!r}): {e}") from None

    def _set_memory_tier(self, tier: MemoryTier | None) -> None:
        self._memory = tier
        mem_get: Callable[[Hashable], Any] = tier.get if tier is not None else no_memory
        if self._rec is not None and tier is not None:
            # Only a recording cache pays for recording on its hit path.
            mem_get = recording_reader(tier, self._rec)
        self._mem_get = mem_get
        self.get = hit_path(self, self._mem_get)

    def _arm(self) -> None:
        """(Re)register the flush that runs at close, at garbage collection or at exit."""
        if self._finalizer is not None:
            self._finalizer.detach()
        self._finalizer = weakref.finalize(
            self, flush_and_close, self._memory, self._disk, self._pending, self._remote,
            self._recorder,
        )  # fmt: skip

    def _reopen(self) -> None:
        with self._stat_lock:
            if self._closed:
                self._open()

    def close(self) -> None:
        """Write what only memory holds to disk (write-back), then close both tiers.

        Idempotent. The cache stays usable: the next operation reopens its tiers (with an
        empty memory tier), as ``diskcache`` does.
        """
        if self._closed:
            return
        _observe.closing(self)  # its counters, while the tiers are still there
        self._closed = True
        self._set_memory_tier(None)
        fin, self._finalizer = self._finalizer, None
        self._disk = None
        self._remote = None
        if fin is not None:
            fin()

    @property
    def memory_budget(self) -> int:
        """Bytes; 0 when the memory tier is off. Setting it resizes at once."""
        return self._memory_bytes

    @memory_budget.setter
    def memory_budget(self, value: Size) -> None:
        new = env.budget(value, "memory")
        self._memory_bytes = new
        if self._closed:
            return
        tier = self._memory
        if tier is not None and new:
            tier.budget = new  # shrinking evicts now, through _on_evict
        elif tier is not None:
            self._set_memory_tier(None)
            self._arm()
            self._on_evict(tier.drain())
            tier.close()
        elif new:
            self._set_memory_tier(MemoryTier(new, on_evict=weak_evict(self)))
            self._arm()

    @property
    def disk_budget(self) -> int:
        """Bytes; 0 when the disk tier is off (or on a network filesystem, memory-only)."""
        return self._disk_bytes if not self._on_network else 0

    @disk_budget.setter
    def disk_budget(self, value: Size) -> None:
        new = env.budget(value, "disk", self._directory)
        self._disk_bytes = new
        if self._closed or self._on_network:
            return
        tier = self._disk
        if tier is not None and new:
            tier.budget = new
        elif tier is not None:
            self._disk = None
            self._arm()
            tier.close()
        elif new:
            self._open_disk_only()

    def _open_disk_only(self) -> None:
        self._disk = DiskTier(
            self._directory,
            self._disk_bytes,
            serializer=self._serializer,
            durability=self._durability,
            verify_arrays=self._verify_arrays,
            allow_shared_directory=self._allow_shared,
        )
        self._arm()

    @property
    def remote_budget(self) -> int:
        """Bytes of the remote tier (0: off or none configured). Setting it applies at once:
        shrinking evicts this namespace's least recently used entries in Redis."""
        return self._remote_bytes

    @remote_budget.setter
    def remote_budget(self, value: Size) -> None:
        if self._remote_url is None and env.budget(value, "remote"):
            raise ValueError(
                f"cache {self._name!r} has no remote tier, so remote_budget={value!r} cannot "
                "apply: only 0 or None (give remote='redis://...' when building the cache)"
            )
        new = env.remote_budget(value, self._remote_url)
        self._remote_bytes = new
        if self._closed or self._remote_url is None:
            return
        tier = self._remote
        if tier is not None and new:
            tier.budget = new
        elif tier is not None:
            self._remote = None
            self._arm()
            tier.close()
        elif new:
            self._remote = self._open_remote()
            self._arm()

    def _in_memory(self, key: CacheKey) -> bool:
        """Whether the memory tier holds ``key`` now (no hit counted, recency untouched)."""
        mem = self._memory
        return mem is not None and key.mem in mem

    def _check_open(self) -> None:
        if self._closed:
            self._reopen()
