"""Exceptions raised by memcache_kit (a leaf module)."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["CacheWarning", "ConfigError", "MissingExtra", "need"]


class ConfigError(ValueError):
    """An invalid configuration value; the message names its source, the key and what is allowed."""


class CacheWarning(UserWarning):
    """Something was not cached as asked (an unpicklable value kept in memory only, ...)."""


class MissingExtra(ImportError):
    """A feature needs an optional package that is not installed; the message is one line
    naming the extra to install."""


def need(module: str, extra: str, feature: str) -> ModuleType:
    """Import ``module`` for ``feature``, or raise ``MissingExtra`` naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtra(
            f"{feature} needs {module.partition('.')[0]}: pip install 'memcache_kit[{extra}]'"
        ) from None
