"""``Cache``: a stack of tiers (memory -> disk -> remote) with single flight and statistics.

Parts: ``cache`` (the class: opening, budgets, the public API, stats, verify), ``aio`` (the
asyncio face), ``spill`` (striped write locks, what the memory tier lets go of), ``flight``
(single flight in and across processes), ``parts`` (entry states, the memory-hit closure),
``options`` (argument checks, directories, process hooks), ``local`` (entries that never
leave this process's memory), ``door`` (the handle: what the fronts use beyond the public
API). ``Lane`` is re-exported for the decorators' inlined hit, which takes one through the
handle.
"""

from __future__ import annotations

from .._tiers.memory import Lane
from .cache import Cache, set_adopter
from .door import Handle, handle
from .local import LocalKey, memory_only, memory_only_key
from .options import REMOTE_SCHEMES, default_directory

__all__ = [
    "REMOTE_SCHEMES",
    "Cache",
    "Handle",
    "Lane",
    "LocalKey",
    "default_directory",
    "handle",
    "memory_only",
    "memory_only_key",
    "set_adopter",
]
