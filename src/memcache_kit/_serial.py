"""Serializers, signing and the on-disk format version (a leaf module).

A *sealed* blob is what the disk (and remote) tiers store for an entry::

    MAC 16 bytes | "MK" | format version u16 | len(serializer) u8 | len(meta) u32 | len(key) u16
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
    "Signer",
    "content_mac",
    "get_serializer",
    "mac_key",
    "register_serializer",
    "seal",
    "serializer_names",
    "signer",
    "unseal",
]

FORMAT_VERSION = 1
"""Bumped whenever the bytes on disk change meaning; entries of another version are misses."""

_MAGIC = b"MK"
_NAME_RE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_RESERVED = frozenset({"pickle", "json", "npy"})


@runtime_checkable
class Serializer(Protocol):
    """Turns values into bytes and back. ``loads`` only ever sees authenticated bytes."""

    @property
    def name(self) -> str: ...

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


def mac_key(secret: bytes) -> bytes:
    """The 32-byte BLAKE2b key derived from ``secret`` (any length of at least 16 bytes)."""
    if not isinstance(secret, bytes | bytearray) or len(secret) < 16:
        raise ValueError("the signing secret must be at least 16 bytes")
    return hashlib.blake2b(bytes(secret), digest_size=32, person=b"memcache_kit").digest()


class Signer:
    """Seals and unseals blobs with one secret.

    Holds keyed BLAKE2b states and copies them per blob: keying costs a compression, a copy
    does not (0.49 µs vs 0.73 µs per small blob here), and the hit path pays it on every read.
    """

    __slots__ = ("_base", "_content")

    def __init__(self, secret: bytes) -> None:
        key = mac_key(secret)
        self._base = hashlib.blake2b(key=key, digest_size=_MAC_SIZE)
        self._content = hashlib.blake2b(key=key, digest_size=_MAC_SIZE, person=b"content")

    def seal(self, payload: bytes, meta: bytes = b"", *, key: str, serializer: str) -> bytes:
        """Sign ``payload`` and ``meta`` for entry ``key``, written with ``serializer``."""
        name = serializer.encode("ascii")
        kb = key.encode("utf-8", "surrogatepass")
        head = _HEAD.pack(_MAGIC, FORMAT_VERSION, len(name), len(meta), len(kb))
        body = b"".join((name, meta, payload))
        h = self._base.copy()
        h.update(head)
        h.update(kb)
        h.update(body)
        return b"".join((h.digest(), head, body))

    def unseal(self, blob: bytes | memoryview, *, key: str) -> Sealed:
        """Check ``blob`` was sealed for ``key`` with this secret and format; else SealError."""
        view = memoryview(blob)
        if len(view) < _PREFIX:
            raise SealError("truncated", f"{len(view)} bytes")
        magic, version, name_len, meta_len, key_len = _HEAD.unpack_from(view, _MAC_SIZE)
        if magic != _MAGIC:
            raise SealError("format", "not a memcache_kit entry")
        if version != FORMAT_VERSION:
            raise SealError(
                "format", f"format version {version}, this library reads {FORMAT_VERSION}"
            )
        meta_at = _PREFIX + name_len
        payload_at = meta_at + meta_len
        if len(view) < payload_at:
            raise SealError("truncated", f"{len(view)} bytes")
        kb = key.encode("utf-8", "surrogatepass")
        # The header (with the key's length) comes first, so key and body cannot be re-split.
        h = self._base.copy()
        h.update(view[_MAC_SIZE:_PREFIX])
        h.update(kb)
        h.update(view[_PREFIX:])
        if key_len != len(kb) or not hmac.compare_digest(h.digest(), view[:_MAC_SIZE]):
            raise SealError(
                "forged", "authentication failed (wrong key, another entry's blob, edited)"
            )
        name = _names.get(view[_PREFIX:meta_at].tobytes())
        if name is None:
            name = str(view[_PREFIX:meta_at], "ascii", "replace")
        return Sealed(
            name, view[meta_at:payload_at].tobytes() if meta_len else b"", view[payload_at:]
        )

    def content_mac(self, key: str, data: bytes | bytearray | memoryview) -> str:
        """Keyed hash (hex) of large content kept outside the sealed blob, bound to ``key``."""
        h = self._content.copy()
        h.update(_prefix(key))
        h.update(data)
        return h.hexdigest()


_MAC_SIZE = 16
_HEAD = struct.Struct(">2sHBIH")
_PREFIX = _MAC_SIZE + _HEAD.size
_signers: dict[bytes, Signer] = {}


def signer(secret: bytes) -> Signer:
    """The (cached) :class:`Signer` of ``secret``."""
    s = _signers.get(secret)
    if s is None:
        s = Signer(secret)
        if len(_signers) > 64:
            _signers.clear()
        _signers[bytes(secret)] = s
    return s


def _prefix(key: str) -> bytes:
    kb = key.encode("utf-8", "surrogatepass")
    return len(kb).to_bytes(4, "big") + kb


_names = {n.encode(): n for n in ("pickle", "json", "npy")}


def seal(secret: bytes, payload: bytes, meta: bytes = b"", *, key: str, serializer: str) -> bytes:
    """Sign ``payload`` and ``meta`` for entry ``key``, written with ``serializer``.

    The blob: MAC (16 bytes) | "MK" | format version u16 | len(serializer) u8 | len(meta) u32
    | len(key) u16 | serializer name | meta | payload. The MAC covers the header, the key
    (not stored) and the rest.
    """
    return signer(secret).seal(payload, meta, key=key, serializer=serializer)


def unseal(secret: bytes, blob: bytes | memoryview, *, key: str) -> Sealed:
    """Check ``blob`` was sealed for ``key`` with ``secret`` and this format; raise SealError."""
    return signer(secret).unseal(blob, key=key)


def content_mac(secret: bytes, key: str, data: bytes | bytearray | memoryview) -> str:
    """Keyed hash (hex) of large content stored outside the sealed blob, bound to ``key``."""
    return signer(secret).content_mac(key, data)
