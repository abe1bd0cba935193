"""Exceptions raised by memcache_kit (a leaf module)."""

from __future__ import annotations

__all__ = ["CacheWarning", "ConfigError"]


class ConfigError(ValueError):
    """An invalid configuration value; the message names its source, the key and what is allowed."""


class CacheWarning(UserWarning):
    """Something was not cached as asked (an unpicklable value kept in memory only, ...)."""
