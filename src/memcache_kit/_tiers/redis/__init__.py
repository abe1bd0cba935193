"""The remote tier: Redis through redis-py (imported only when a remote tier is opened),
shared by every machine that uses the cache's name.

Parts: ``tier`` (``RedisTier``), ``scripts`` (key layout and Lua), ``lock`` (the lease lock
for single flight across machines), ``verify``.
"""

from __future__ import annotations

from .tier import NOMINAL_MS, RedisTier

__all__ = ["NOMINAL_MS", "RedisTier"]
