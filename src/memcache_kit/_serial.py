"""Serializers, signing and the on-disk format version (a leaf module).

STUB: the disk/serial helper replaces this file. Signatures are the contract.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["FORMAT_VERSION", "register_serializer"]

FORMAT_VERSION = 1


def register_serializer(name: str, dumps: Callable[[Any], bytes], loads: Callable[[bytes], Any]) -> None:
    """Make ``serializer = name`` available to caches built afterwards."""
    raise NotImplementedError
