"""Named caches and configuration: ``get_cache``, ``configure``, files and the environment.

STUB: the config helper replaces this file. Signatures are the contract.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._cache import Cache

__all__ = ["configure", "get_cache"]


def get_cache(name: str = "default") -> Cache:
    """The process's one instance of the named cache, built from configuration or defaults."""
    raise NotImplementedError


def configure(source: str | Path | Mapping[str, Any]) -> None:
    """Validate ``source`` (a TOML file or a mapping of the same shape) at once and merge it."""
    raise NotImplementedError
