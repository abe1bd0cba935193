"""Access-trace readers: a registry of format name → reader, each returning numpy arrays.

A reader is a function ``(data: bytes) -> Trace`` given the whole (decompressed) file. gzip, xz
and bz2 files are recognised by their magic bytes and opened transparently. The format comes
from ``format=``, or is detected when that is unambiguous: memcache_kit's own recordings by their
header, a name containing ``oracleGeneral``, and text files by their number of columns (one:
``keys``; three: ``time-id-size``). Headerless binary keys (``be-int64``, ``be-int32``) cannot be
told apart from their bytes, so they need ``format=``.

numpy is required here (imported inside the functions that need it).
"""

from __future__ import annotations

import bz2
import dataclasses
import gzip
import lzma
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import record as _record

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["Trace", "detect_format", "formats", "read_bytes", "read_trace", "register_reader"]


@dataclasses.dataclass(frozen=True, eq=False)
class Trace:
    """One trace in memory: a key per request, and optionally sizes, load seconds and kinds.

    ``keys`` are int64 or uint64 (hashes or raw integer keys); ``sizes`` bytes (int64), or
    ``None`` for "every entry is one unit"; ``seconds`` the load seconds recorded with each
    request (float64) or ``None``; ``requests`` marks which records are requests (``False``
    for writes that are not requests, e.g. ``cache.set``), ``None`` when all are.
    """

    keys: npt.NDArray[Any]
    sizes: npt.NDArray[np.int64] | None = None
    seconds: npt.NDArray[np.float64] | None = None
    requests: npt.NDArray[np.bool_] | None = None

    def __len__(self) -> int:
        return int(self.keys.shape[0])


Reader = Callable[[bytes], Trace]
_READERS: dict[str, Reader] = {}


def register_reader(name: str, reader: Reader) -> None:
    """Add (or replace) the reader for format ``name``."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"a trace format name must be a non-empty str, got {name!r}")
    _READERS[name] = reader


def formats() -> list[str]:
    """The registered format names."""
    return sorted(_READERS)


# -- opening ---------------------------------------------------------------------------------

_COMPRESSED: dict[bytes, Callable[[str], Any]] = {
    b"\x1f\x8b": gzip.open,
    b"\xfd7zXZ\x00": lzma.open,
    b"BZh": bz2.open,
}


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    """The file's content, decompressed when it is gzip, xz or bz2 (by its magic bytes)."""
    p = os.fspath(path)
    with open(p, "rb") as f:
        head = f.read(8)
        for magic, opener in _COMPRESSED.items():
            if head.startswith(magic):
                with opener(p) as z:
                    data: bytes = z.read()
                return data
        f.seek(0)
        return f.read()


def detect_format(data: bytes, name: str = "") -> str:
    """The format of ``data`` (a decompressed file called ``name``), when it is unambiguous."""
    if data.startswith(_record.MAGIC):
        return "record"
    if "oraclegeneral" in os.path.basename(name).lower():
        return "oracle-general"
    head = data[:8192]
    if b"\x00" not in head:
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError:
            text = ""
        lines = [ln.split() for ln in text.splitlines()[:-1] if ln.strip() not in ("", "*")]
        widths = {len(ln) for ln in lines}
        if widths == {1}:
            return "keys"
        if widths == {3} and all(_is_int(f) for ln in lines for f in (ln[0], ln[2])):
            return "time-id-size"
    raise ValueError(
        f"cannot tell the format of trace {name or '<bytes>'!r}: pass format= one of "
        f"{', '.join(formats())} (headerless binary keys need 'be-int64' or 'be-int32')"
    )


def _is_int(s: str) -> bool:
    try:
        int(s)
    except ValueError:
        return False
    return True


def read_trace(
    path: str | os.PathLike[str], format: str | None = None, *, process: int | None = None
) -> Trace:
    """Read a trace file (compressed or not) in ``format`` (detected when ``None``).

    ``process`` keeps only the records of one process (by pid) from a memcache_kit recording.
    """
    if format is not None and format not in _READERS:
        raise ValueError(f"unknown trace format {format!r}; known: {', '.join(formats())}")
    data = read_bytes(path)
    fmt = format if format is not None else detect_format(data, os.fspath(path))
    if process is None:
        return _READERS[fmt](data)
    if fmt != "record":
        raise ValueError(f"process= needs a memcache_kit recording, not format {fmt!r}")
    return _record_process_filter(data, process & 0xFFFF)


# -- the readers -----------------------------------------------------------------------------


def _hash_tokens(tokens: list[bytes]) -> npt.NDArray[np.int64]:
    """Integer keys as int64; anything else hashed (xxh3, 64 bits) to int64."""
    import numpy as np

    try:
        return np.array(tokens, dtype=np.bytes_).astype(np.int64)
    except (ValueError, OverflowError):
        import xxhash

        h = np.array([xxhash.xxh3_64_intdigest(t) for t in tokens], dtype=np.uint64)
        return h.view(np.int64)


def _read_keys(data: bytes) -> Trace:
    lines = [ln.strip() for ln in data.split(b"\n")]
    return Trace(_hash_tokens([ln for ln in lines if ln and ln != b"*"]))


def _read_time_id_size(data: bytes) -> Trace:
    import numpy as np

    rows = [ln.split() for ln in data.split(b"\n") if ln.strip()]
    bad = next((r for r in rows if len(r) != 3), None)
    if bad is not None:
        raise ValueError(f"time-id-size trace: expected 'time id size' per line, got {bad!r}")
    keys = _hash_tokens([r[1] for r in rows])
    sizes = np.array([r[2] for r in rows], dtype=np.bytes_).astype(np.int64)
    return Trace(keys, sizes)


def _read_oracle_general(data: bytes) -> Trace:
    import numpy as np

    dt = np.dtype([("time", "<u4"), ("key", "<u8"), ("size", "<u4"), ("next", "<i8")])
    recs = np.frombuffer(data, dtype=dt, count=len(data) // dt.itemsize)
    return Trace(recs["key"].astype(np.uint64), recs["size"].astype(np.int64))


def _binary_keys(dtype: str) -> Reader:
    def read(data: bytes) -> Trace:
        import numpy as np

        width = np.dtype(dtype).itemsize
        return Trace(np.frombuffer(data, dtype=dtype, count=len(data) // width).astype(np.int64))

    return read


def _records(data: bytes) -> Any:
    import numpy as np

    magic, version, size = _record._HEADER.unpack_from(data)
    if magic != _record.MAGIC or version != _record.VERSION or size != _record.RECORD_SIZE:
        raise ValueError(
            f"memcache_kit trace of format version {version} (record size {size}); "
            f"this version reads version {_record.VERSION}"
        )
    body = len(data) - _record.HEADER_SIZE
    # A truncated last record (a crash mid-write) is ignored.
    count = body // _record.RECORD_SIZE
    dt = np.dtype(_record.record_dtype_spec())
    return np.frombuffer(data, dtype=dt, count=count, offset=_record.HEADER_SIZE)


def _trace_of_records(recs: Any) -> Trace:
    import numpy as np

    kinds = recs["kind"]
    requests = kinds != _record.SET
    return Trace(
        recs["key"].astype(np.uint64),
        recs["size"].astype(np.int64),
        recs["seconds"].astype(np.float64),
        None if bool(requests.all()) else requests,
    )


def _read_record(data: bytes) -> Trace:
    return _trace_of_records(_records(data))


def _record_process_filter(data: bytes, tag: int) -> Trace:
    recs = _records(data)
    return _trace_of_records(recs[recs["process"] == tag])


register_reader("keys", _read_keys)
register_reader("time-id-size", _read_time_id_size)
register_reader("oracle-general", _read_oracle_general)
register_reader("be-int64", _binary_keys(">i8"))
register_reader("be-int32", _binary_keys(">i4"))
register_reader("record", _read_record)
