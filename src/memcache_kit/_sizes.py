"""Sizes and durations: parsing budgets, and measuring what a value keeps alive (a leaf module).

STUB: the sizes helper replaces this file. Signatures are the contract.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

__all__ = ["parse_duration", "parse_size", "register_sizer", "sizeof"]


def parse_size(value: int | str, *, of: Literal["memory", "disk"] = "memory", path: str | None = None) -> int:
    """Bytes from an int or a string like "1.5GiB", "512M", "25%" (of physical memory / of the
    filesystem at ``path`` for ``of="disk"``). Raises ``ValueError`` quoting the input and showing
    valid examples."""
    raise NotImplementedError


def parse_duration(value: int | float | str) -> float:
    """Seconds from a number or a string like "30s", "10m", "1h", "7d". Raises ``ValueError``."""
    raise NotImplementedError


def sizeof(obj: Any) -> int:
    """Bytes that ``obj`` keeps alive (fast exact paths, pympler as the bounded fallback)."""
    raise NotImplementedError


def register_sizer(cls: type, fn: Callable[[Any], int]) -> None:
    """Size instances of ``cls`` (and subclasses) with ``fn``, taken at its word."""
    raise NotImplementedError
