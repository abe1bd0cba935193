"""The disk tier (diskcache with its own byte budget, ``.npy`` arrays, authenticated pickles)
and the per-key lock files that give single flight across the processes of one machine.

Parts: ``tier`` (``DiskTier``), ``codec`` (values to sealed index records), ``files`` (private
directories, atomic writes), ``handles`` (per-process connections, the fork gate), ``health``
(failure policy), ``index`` (the diskcache index), ``verify``, ``lease`` (lock files).
"""

from __future__ import annotations

from .lease import FileLock, lock_path
from .tier import INLINE_MAX, DiskEntry, DiskTier

__all__ = ["INLINE_MAX", "DiskEntry", "DiskTier", "FileLock", "lock_path"]
