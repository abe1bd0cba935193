"""Storage tiers: ``memory/`` (cachetools, bounded in bytes), ``disk/`` (diskcache) and
``redis/`` (the remote tier), over the small interface in ``base``.

A tier never imports ``_cache`` or anything in front of it; ``Cache`` composes them. This face
gives the interface; each tier is reached through its own room's face (``_tiers.memory`` ...).
"""

from __future__ import annotations

from .base import Evicted, Tier

__all__ = ["Evicted", "Tier"]
