"""Keys: how values and calls become cache keys (a leaf: imports nothing of the package above).

Parts: ``encode`` (the canonical encoder: ``encode(obj)`` -> bytes, the same in every
process, run and machine), ``arrays`` (numpy, torch) and ``frames`` (pandas, polars, pyarrow),
which register their encoders with ``encode``, ``labels`` (short labels of keys), ``cachekey``
(memory keys and ``CacheKey``: memory key + lazy disk key + label), ``fingerprint`` (code
fingerprints and loader identities), ``binding`` (how a call's arguments become key parts) and
``callee`` (what a decorated callable is: its receiver, its name, its identity).
"""

from __future__ import annotations

from . import arrays, frames  # noqa: F401  (they register their encoders with ``encode``)
from .binding import BindError, InstanceToken, Plan, receiver_part
from .cachekey import CacheKey, make_key, memory_key, namespaced_key, namespaced_mem
from .callee import NO_RECEIVER, Callee, IdentityError, describe
from .encode import (
    FILE_CHUNK,
    HASH_OVER,
    KEY_FORMAT,
    NUMERIC_HANDLERS,
    Handler,
    UnencodableKeyError,
    class_id,
    digest,
    encode,
)
from .fingerprint import TRANSPARENT, fingerprint, loader_identity
from .labels import short_repr

__all__ = [
    "FILE_CHUNK",
    "HASH_OVER",
    "KEY_FORMAT",
    "NO_RECEIVER",
    "NUMERIC_HANDLERS",
    "TRANSPARENT",
    "BindError",
    "CacheKey",
    "Callee",
    "Handler",
    "IdentityError",
    "InstanceToken",
    "Plan",
    "UnencodableKeyError",
    "class_id",
    "describe",
    "digest",
    "encode",
    "fingerprint",
    "loader_identity",
    "make_key",
    "memory_key",
    "namespaced_key",
    "namespaced_mem",
    "receiver_part",
    "short_repr",
]
