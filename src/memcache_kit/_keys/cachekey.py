"""Memory keys and ``CacheKey``, built on the canonical encoder (``encode``).

- ``memory_key(obj)``: the in-process hashable form used by the memory tier; two keys have equal
  memory keys exactly when their canonical encodings are equal (``typed=False``).
- ``CacheKey``: memory key + lazily computed disk key (32 hex digits) + a short label.
- ``namespaced_key``: the same within a namespace (a decorated function, a loader, a dataset).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from typing import Any, Final

from .encode import (
    _SPACE_HEAD,
    _TABLE,
    NUMERIC_HANDLERS,
    _e_bytes,
    _e_str,
    _e_tuple,
    _hexdigest,
    _len,
    _resolve,
    _unpack_d,
    digest,
    encode,
)
from .labels import short_repr

__all__ = ["CacheKey", "make_key", "memory_key", "namespaced_key", "namespaced_mem"]


class _EncodedMarker:
    """The first element of a memory key built from an encoding; users cannot produce it."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<encoded>"

    def __reduce__(self) -> str:
        return "_ENCODED"


_ENCODED: Final = _EncodedMarker()
_NOT: Final = object()  # "not a plain scalar" in the memory-key normaliser


# ---------------------------------------------------------------------------------------------
# Memory keys

_SCALAR_TAGS: Final = frozenset(b"ifsyN")


def _decode_scalar(enc: bytes) -> Any:
    """The Python scalar whose encoding is ``enc``, or ``_NOT`` (only for flat scalars)."""
    tag = enc[0]
    if tag not in _SCALAR_TAGS:
        return _NOT
    if tag == 78:  # N
        return None
    if tag == 102:  # f: only finite floats are their own key (NaN != NaN)
        x: float = _unpack_d(enc[1:9])[0]
        return x if math.isfinite(x) else _NOT
    n = enc[1]
    start = 2 if n < 255 else 10
    body = enc[start:]
    if tag == 105:  # i
        return int.from_bytes(body, "big", signed=True)
    if tag == 115:  # s
        return body.decode("utf-8", "surrogatepass")
    return bytes(body)


def _scalar(x: Any, typed: bool, hf: bool) -> Any:
    """``x`` normalised to a plain hashable scalar with the same encoding equality, or ``_NOT``."""
    t = type(x)
    if t is int or t is str or t is bytes or x is None:
        return x
    if t is float:
        if x.is_integer():
            return _NOT if typed else int(x)
        return x if math.isfinite(x) and not typed else _NOT
    if typed:
        return _NOT
    if t is bool:
        return int(x)
    h = _TABLE.get(t)
    if h is None:
        h = _resolve(t)
    if h is _e_str:  # str subclasses (np.str_): a large one is hashed, so compare the str
        return str.__str__(x)
    if h is _e_bytes:
        return bytes(x)
    if h in NUMERIC_HANDLERS:
        return _decode_scalar(h(x, False, hf))
    return _NOT


# Element types that are their own memory key inside a tuple. A dict: `in` on it is the fastest
# membership test measured for the hit path (faster than chained `is` comparisons).
_PLAIN: Final[dict[type, bool]] = {str: True, int: True}
_OWN: Final[dict[type, bool]] = {str: True, int: True, bytes: True}


def _mem_tuple(obj: tuple[Any, ...], typed: bool, hf: bool) -> Hashable:
    out = []
    for x in obj:
        n = _scalar(x, typed, hf)
        if n is _NOT:
            return (_ENCODED, encode(obj, typed=typed, hash_files=hf))
        out.append(n)
    return tuple(out)


def _mem(obj: Any, typed: bool, hf: bool) -> Hashable:
    t = type(obj)
    if t is tuple:
        for x in obj:
            if type(x) not in _PLAIN:
                return _mem_tuple(obj, typed, hf)
        return obj  # type: ignore[no-any-return]
    n = _scalar(obj, typed, hf)
    if n is not _NOT:
        return n  # type: ignore[no-any-return]
    if not typed and isinstance(obj, tuple) and _TABLE.get(t) is _e_tuple:
        return _mem_tuple(tuple(obj), typed, hf)  # a plain tuple subclass encodes as a tuple
    return (_ENCODED, encode(obj, typed=typed, hash_files=hf))


def memory_key(obj: Any) -> Hashable:
    """The memory tier's key for a ``Cache`` key: equal exactly when the encodings are equal.

    Exact int, str and bytes are their own key; a tuple of those is itself; other plain scalars
    are normalised (``True`` -> 1, ``2.0`` -> 2, ``np.int64(3)`` -> 3); anything else becomes
    ``(<encoded>, encode(obj))``.
    """
    t = type(obj)
    if t in _OWN:
        return obj  # type: ignore[no-any-return]
    if t is tuple:
        for x in obj:
            if type(x) not in _PLAIN:
                return _mem_tuple(obj, False, False)
        return obj  # type: ignore[no-any-return]
    return _mem(obj, False, False)


def namespaced_mem(
    mem_token: Hashable, parts: Any, *, typed: bool = False, hash_files: bool = False
) -> Hashable:
    """``namespaced_key(...).mem`` without building the ``CacheKey`` (the decorator hit path)."""
    if type(parts) is tuple:
        for x in parts:
            if type(x) not in _PLAIN:
                return (mem_token, _mem_tuple(parts, typed, hash_files))
        return (mem_token, parts)
    return (mem_token, _mem(parts, typed, hash_files))


# ---------------------------------------------------------------------------------------------
# CacheKey


class CacheKey:
    """A prepared key: ``mem`` for the memory tier, ``disk`` (lazy) for the tiers below.

    ``disk`` and ``label`` accept a string or a thunk computed at most once on first use (two
    threads racing compute the same value). Until then the key holds a reference to the value it
    was made from.
    """

    __slots__ = ("_disk", "_label", "_make_disk", "_make_label", "mem")

    def __init__(
        self,
        mem: Hashable,
        disk: str | Callable[[], str],
        label: str | Callable[[], str] = "",
    ) -> None:
        self.mem = mem
        if isinstance(disk, str):
            self._disk: str | None = disk
            self._make_disk: Callable[[], str] | None = None
        else:
            self._disk = None
            self._make_disk = disk
        if isinstance(label, str):
            self._label: str | None = label
            self._make_label: Callable[[], str] | None = None
        else:
            self._label = None
            self._make_label = label

    @property
    def disk(self) -> str:
        d = self._disk
        if d is None:
            make = self._make_disk
            assert make is not None  # set by __init__ whenever _disk is None
            d = self._disk = make()
            self._make_disk = None
        return d

    @property
    def label(self) -> str:
        s = self._label
        if s is None:
            make = self._make_label
            assert make is not None
            try:
                s = make()
            except Exception:  # a label is informative only; a broken __repr__ must not fail a get
                s = "<key>"
            s = self._label = s[:80]
            self._make_label = None
        return s

    def __repr__(self) -> str:
        return f"CacheKey({self.label!r})"


def make_key(obj: Any) -> CacheKey:
    """The ``CacheKey`` of a plain ``Cache`` key (no namespace)."""
    mem = memory_key(obj)
    if type(mem) is tuple and len(mem) == 2 and mem[0] is _ENCODED:
        # The memory tier keeps CacheKeys beside its entries: a thunk must not keep a large key
        # (an array argument) alive, so the label of a structured key is made now.
        enc: bytes = mem[1]
        return CacheKey(mem, lambda: digest(enc), short_repr(obj))
    return CacheKey(mem, lambda: digest(encode(mem)), lambda: short_repr(mem))


def namespaced_key(
    namespace: bytes,
    mem_token: Hashable,
    parts: Any,
    *,
    typed: bool = False,
    hash_files: bool = False,
    label: str = "",
) -> CacheKey:
    """The key of a decorated call, proxy or dataset item: ``parts`` within ``namespace``.

    ``namespace`` is typically ``loader_identity(func)`` (plus a version); ``mem_token`` is any
    small hashable standing for it in this process (e.g. an ``object()`` made at decoration), so
    the memory key stays cheap: ``(mem_token, normalised parts)``. The disk key is the digest of
    the key format, a domain byte, the length-prefixed namespace and ``encode(parts)``, so it
    never collides with a plain ``Cache`` key nor with another namespace.
    """
    mem = namespaced_mem(mem_token, parts, typed=typed, hash_files=hash_files)
    head = _SPACE_HEAD + _len(len(namespace)) + namespace
    inner = mem[1]  # type: ignore[index]
    if type(inner) is tuple and len(inner) == 2 and inner[0] is _ENCODED:
        enc: bytes = inner[1]
        return CacheKey(mem, lambda: _hexdigest(head + enc), label or short_repr(parts))
    # Plain scalars: the normalised parts encode exactly as the parts do, and hold nothing large.
    return CacheKey(
        mem,
        lambda: _hexdigest(head + encode(inner, typed=typed)),
        label or (lambda: short_repr(inner)),
    )
