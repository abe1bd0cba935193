"""Serializers, signing and the on-disk format version (a leaf module).

A *sealed* blob is what the disk (and remote) tiers store for an entry::

    magic "MK" | format version u16 | len(serializer) u8 | len(meta) u32 | MAC 16 bytes
    | serializer name | meta | payload

The MAC is keyed BLAKE2b over everything but itself, plus the entry's key, so a valid blob copied
under another key, a blob of another format version and a forged or truncated one all fail
:func:`unseal` with :class:`SealError`. Callers deserialize only what :func:`unseal` returned,
so nothing is ever unpickled before its MAC checks out.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import pickle
import re
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, runtime_checkable

from ._errors import ConfigError

__all__ = [
    "FORMAT_VERSION",
    "SealError",
    "Sealed",
    "Serializer",
    "content_mac",
    "get_serializer",
    "mac_key",
    "register_serializer",
    "seal",
    "serializer_names",
    "unseal",
]

FORMAT_VERSION = 1
"""Bumped whenever the bytes on disk change meaning; entries of another version are misses."""

_MAGIC = b"MK"
_HEADER = struct.Struct(">2sHBI16s")
_MAC_SIZE = 16
_NAME_RE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_RESERVED = frozenset({"pickle", "json", "npy"})


@runtime_checkable
class Serializer(Protocol):
    """Turns values into bytes and back. ``loads`` only ever sees authenticated bytes."""

    name: str

    def dumps(self, obj: Any) -> bytes: ...

    def loads(self, data: bytes) -> Any: ...


@dataclass(frozen=True)
class FunctionSerializer:
    """A :class:`Serializer` made of two functions (what :func:`register_serializer` builds)."""

    name: str
    dumps: Callable[[Any], bytes]
    loads: Callable[[bytes], Any]


def _pickle_dumps(obj: Any) -> bytes:
    return pickle.dumps(obj, protocol=5)


def _json_dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), allow_nan=True).encode("utf-8")


_lock = threading.Lock()
_serializers: dict[str, Serializer] = {
    "pickle": FunctionSerializer("pickle", _pickle_dumps, pickle.loads),
    "json": FunctionSerializer("json", _json_dumps, json.loads),
}


def register_serializer(
    name: str, dumps: Callable[[Any], bytes], loads: Callable[[bytes], Any]
) -> None:
    """Make ``serializer = name`` available to caches built afterwards.

    ``name`` is 1-64 letters, digits, ``_ . -``; ``pickle``, ``json`` and ``npy`` are built in
    and cannot be replaced. Registering a name again replaces it. The name is recorded (and
    authenticated) with every entry, so a process reading the entry must have it registered
    too, or the entry is a miss.
    """
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise ValueError(
            f"serializer name {name!r} is not allowed: use 1-64 letters, digits, '_', '.' or '-'"
        )
    if name in _RESERVED:
        raise ValueError(f"serializer name {name!r} is built in; register yours under another name")
    if not callable(dumps) or not callable(loads):
        raise TypeError(f"register_serializer({name!r}, dumps, loads) needs two callables")
    with _lock:
        _serializers[name] = FunctionSerializer(name, dumps, loads)


def get_serializer(name: str) -> Serializer:
    """The serializer registered as ``name``; a :class:`ConfigError` lists the known ones."""
    try:
        return _serializers[name]
    except (KeyError, TypeError):
        known = ", ".join(sorted(_serializers))
        raise ConfigError(
            f"unknown serializer {name!r}; known: {known} (add one with mk.register_serializer)"
        ) from None


def serializer_names() -> list[str]:
    """Names of every registered serializer."""
    return sorted(_serializers)


# Signing ------------------------------------------------------------------------------------


class SealError(Exception):
    """A blob failed authentication or its format check. ``kind`` says how, for stats and logs:
    ``"format"`` (another format version or not ours), ``"truncated"`` or ``"forged"``."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind


class Sealed(NamedTuple):
    """What :func:`unseal` returns; ``payload`` is a view into the blob (no copy)."""

    serializer: str
    meta: bytes
    payload: memoryview


_mac_keys: dict[bytes, bytes] = {}


def mac_key(secret: bytes) -> bytes:
    """The 32-byte BLAKE2b key derived from ``secret`` (any length; cached per secret)."""
    key = _mac_keys.get(secret)
    if key is None:
        if not isinstance(secret, bytes | bytearray) or len(secret) < 16:
            raise ValueError("the signing secret must be at least 16 bytes")
        key = hashlib.blake2b(bytes(secret), digest_size=32, person=b"memcache_kit").digest()
        if len(_mac_keys) > 64:
            _mac_keys.clear()
        _mac_keys[bytes(secret)] = key
    return key


def _prefix(key: str) -> bytes:
    kb = key.encode("utf-8", "surrogatepass")
    return len(kb).to_bytes(4, "big") + kb


def seal(secret: bytes, payload: bytes, meta: bytes = b"", *, key: str, serializer: str) -> bytes:
    """Sign ``payload`` and ``meta`` for entry ``key``, written with ``serializer``."""
    name = serializer.encode("ascii")
    head = struct.pack(">2sHBI", _MAGIC, FORMAT_VERSION, len(name), len(meta))
    body = b"".join((name, meta, payload))
    h = hashlib.blake2b(_prefix(key), key=mac_key(secret), digest_size=_MAC_SIZE)
    h.update(head)
    h.update(body)
    return b"".join((head, h.digest(), body))


def unseal(secret: bytes, blob: bytes | memoryview, *, key: str) -> Sealed:
    """Check ``blob`` was sealed for ``key`` with ``secret`` and this format; raise SealError."""
    view = memoryview(blob)
    if len(view) < _HEADER.size:
        raise SealError("truncated", f"{len(view)} bytes")
    magic, version, name_len, meta_len, mac = _HEADER.unpack_from(view)
    if magic != _MAGIC:
        raise SealError("format", "not a memcache_kit entry")
    if version != FORMAT_VERSION:
        raise SealError("format", f"format version {version}, this library reads {FORMAT_VERSION}")
    body = _HEADER.size
    if len(view) < body + name_len + meta_len:
        raise SealError("truncated", f"{len(view)} bytes")
    h = hashlib.blake2b(_prefix(key), key=mac_key(secret), digest_size=_MAC_SIZE)
    h.update(view[: body - _MAC_SIZE])
    h.update(view[body:])
    if not hmac.compare_digest(h.digest(), mac):
        raise SealError("forged", "authentication failed (wrong key, another entry's blob, edited)")
    meta_at = body + name_len
    payload_at = meta_at + meta_len
    return Sealed(
        bytes(view[body:meta_at]).decode("ascii", "replace"),
        bytes(view[meta_at:payload_at]),
        view[payload_at:],
    )


def content_mac(secret: bytes, key: str, data: bytes | memoryview) -> str:
    """Keyed hash (hex) of large content stored outside the sealed blob, bound to ``key``."""
    h = hashlib.blake2b(_prefix(key), key=mac_key(secret), digest_size=_MAC_SIZE, person=b"content")
    h.update(data)
    return h.hexdigest()
