"""Large values in Redis: split into authenticated chunks, read back into one buffer each.

Pickle protocol 5 hands over a large array's own memory (out-of-band buffers); the chunks are
memoryview slices of it, which redis-py writes to the socket as they are, so a write copies
nothing in Python. The sealed header (``header``) lists the chunks and a keyed hash of each; a
read (``read``) fetches them into one preallocated ``bytearray`` per buffer and checks each.
Pure functions: the tier passes in how to name, fetch and authenticate a chunk.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from typing import Any

from ..._serial import Serializer, get_serializer
from ..._shapes import MISSING

__all__ = ["CHUNK_SIZE", "INLINE_MAX", "BadChunk", "ReadFailed", "dumps", "header", "read"]

CHUNK_SIZE = 8 * 1024 * 1024
"""Bytes per chunk of a large value (Redis handles 8 MiB strings without fuss)."""
INLINE_MAX = 512 * 1024
"""Serialized values up to this many bytes are one Redis string; larger ones are chunked."""
_GROUP_BYTES = 32 << 20  # at most ~32 MiB of replies held at once


class BadChunk(Exception):
    """A chunk or the header fails authentication or does not fit (a forged entry)."""


class ReadFailed(Exception):
    """Redis did not answer a chunk read (a miss, not a forgery)."""


def dumps(ser: Serializer, value: Any) -> tuple[bytes, list[memoryview]]:
    """``value`` serialized: the main bytes and, for pickle, its large out-of-band buffers."""
    if ser.name != "pickle":
        out = ser.dumps(value)
        return (out if isinstance(out, bytes) else bytes(out)), []
    oob: list[pickle.PickleBuffer] = []
    main = pickle.dumps(value, protocol=5, buffer_callback=oob.append)
    if not oob:
        return main, []
    views = [b.raw() for b in oob]
    if len(main) + sum(v.nbytes for v in views) <= INLINE_MAX:
        # Small arrays: one in-band string beats a header plus a chunk round trip.
        return pickle.dumps(value, protocol=5), []
    return main, views


def header(
    main: bytes, oob: list[memoryview], chunk_size: int, token: str, mac: Callable[[int, Any], str]
) -> tuple[bytes, bytes, list[memoryview]]:
    """The bytes sealed inline, the header and the chunks of a value too large to inline."""
    inline_main = len(main) <= INLINE_MAX
    buffers = oob if inline_main else [memoryview(main), *oob]
    pieces = [
        buf[off : off + chunk_size] for buf in buffers for off in range(0, len(buf), chunk_size)
    ]
    macs = [mac(i, p) for i, p in enumerate(pieces)]
    meta = {"t": token, "c": chunk_size, "L": [len(b) for b in buffers], "m": macs}
    meta["p"] = 0 if inline_main else 1
    head = json.dumps(meta, separators=(",", ":")).encode()
    return (main if inline_main else b""), head, pieces


def read(
    serializer: str,
    meta: bytes,
    payload: memoryview,
    *,
    name: Callable[[str, int], str],
    mget: Callable[[list[str]], list[Any]],
    mac: Callable[[str, int, Any], str],
) -> Any:
    """The value a chunked entry's header ``meta`` describes, or ``MISSING`` when a chunk is
    gone (evicted, overwritten); ``BadChunk`` when one fails authentication. ``name(token, i)``
    names chunk ``i``; ``mget`` fetches chunks (raising ``ReadFailed``); ``mac(token, i, data)``
    is chunk ``i``'s keyed hash."""
    import hmac

    try:
        info = json.loads(meta)
        token, size, lengths, macs = info["t"], info["c"], info["L"], info["m"]
        inline_main = not info["p"]
    except (ValueError, KeyError, TypeError) as exc:
        raise BadChunk(f"bad header: {exc}") from None
    buffers = [bytearray(n) for n in lengths]
    plan = [(b, off) for b, n in enumerate(lengths) for off in range(0, n, size)]
    if len(plan) != len(macs):
        raise BadChunk("chunk count differs from the header")
    group = max(1, _GROUP_BYTES // size)
    for start in range(0, len(plan), group):
        names = [name(token, i) for i in range(start, min(start + group, len(plan)))]
        for i, piece in enumerate(mget(names), start):
            if piece is None:
                return MISSING
            b, off = plan[i]
            want = min(size, lengths[b] - off)
            if len(piece) != want or not hmac.compare_digest(mac(token, i, piece), str(macs[i])):
                raise BadChunk(f"chunk {i} fails authentication")
            buffers[b][off : off + want] = piece
    main: Any = payload if inline_main else buffers.pop(0)
    if serializer == "pickle":
        return pickle.loads(main, buffers=buffers)
    return get_serializer(serializer).loads(bytes(main))
