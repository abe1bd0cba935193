"""Storage tiers: memory (cachetools), disk (diskcache) and remote (Redis).

A tier never imports ``_cache`` or anything in front of it.
"""
