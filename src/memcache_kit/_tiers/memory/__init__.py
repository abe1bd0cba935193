"""The memory tier: an LRU bounded in bytes on cachetools' ``LRUCache``, its lock-free hit
path and the lanes through which a front runs that hit inline, and the process-wide governor
that holds every memory tier of the process within ``total_memory``.

Parts: ``tier`` (``MemoryTier``), ``hit`` (entries, the hit closure, ``Lane``), ``governor``.
"""

from __future__ import annotations

from .governor import Governor, governor
from .hit import Lane
from .tier import MemoryTier

__all__ = ["Governor", "Lane", "MemoryTier", "governor"]
