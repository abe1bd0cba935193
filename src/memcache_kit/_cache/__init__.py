"""``Cache``: a stack of tiers (memory -> disk -> remote) with single flight and statistics.

Parts: ``cache`` (the class: opening, budgets, the public API, stats, verify), ``aio`` (the
asyncio face), ``spill`` (striped write locks, what the memory tier lets go of), ``flight``
(single flight in and across processes), ``parts`` (entry states, the memory-hit closure),
``options`` (argument checks, directories, process hooks), ``local`` (entries that never
leave this process's memory).
"""

from __future__ import annotations

from .cache import Cache
from .local import amemory_only_load, memory_only, memory_only_key, memory_only_load

__all__ = ["Cache", "amemory_only_load", "memory_only", "memory_only_key", "memory_only_load"]
