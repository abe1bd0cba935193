"""Canonical key encoding (a pure leaf module).

STUB: the keys helper replaces this file. Signatures are the contract.

- ``encode(obj)``: canonical bytes, the same in every process, run and machine.
- ``memory_key(obj)``: the in-process hashable form used by the memory tier; two keys have equal
  memory keys exactly when their canonical encodings are equal.
- ``CacheKey``: memory key + lazily computed disk key (32 hex digits) + a short label.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

__all__ = ["CacheKey", "encode", "fingerprint", "make_key", "memory_key"]


def encode(obj: Any, *, typed: bool = False, hash_files: bool = False) -> bytes:
    """Canonical bytes of ``obj``; raises ``TypeError`` for what cannot be encoded."""
    raise NotImplementedError


def memory_key(obj: Any) -> Hashable:
    """The memory tier's key for a ``Cache`` key (exact int/str/bytes keys are their own)."""
    raise NotImplementedError


class CacheKey:
    """A prepared key: ``mem`` for the memory tier, ``disk`` (lazy) for the tiers below."""

    __slots__ = ("_disk", "_label", "_make_disk", "_make_label", "mem")

    def __init__(
        self,
        mem: Hashable,
        disk: str | Callable[[], str],
        label: str | Callable[[], str] = "",
    ) -> None:
        raise NotImplementedError

    @property
    def disk(self) -> str:
        raise NotImplementedError

    @property
    def label(self) -> str:
        raise NotImplementedError


def make_key(obj: Any) -> CacheKey:
    """The ``CacheKey`` of a plain ``Cache`` key (no namespace)."""
    raise NotImplementedError


def fingerprint(func: Callable[..., Any]) -> str:
    """A fingerprint of a function's compiled code: bytecode, constants and names, recursively
    through nested code objects; not line numbers, comments or docstrings."""
    raise NotImplementedError
