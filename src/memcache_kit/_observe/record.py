"""The access-trace recorder: an append-only file of fixed-size binary records.

The file is a 16-byte header (``MAGIC``, a format version, the record size) followed by records
of :data:`RECORD_SIZE` bytes, little-endian ``<QQfHBx``: the key's 64-bit hash, the value's size
in bytes, the load seconds (float32; 0 on a hit), a 16-bit process tag (the recording process's
pid modulo 65536) and a one-byte kind (:data:`MISS`, :data:`HIT_MEMORY`, ...).

Why these choices:

- ``record()`` only packs one record and appends it to an in-memory ``bytearray`` (one C call,
  atomic under the GIL, so concurrent threads never interleave bytes of two records). Buffers
  go to disk in blocks of whole records, at ``flush()``, ``close()`` and interpreter exit.
- Several processes may record into one file: it is opened with ``O_APPEND`` and every block is
  one ``os.write`` of whole records, which Linux and macOS apply atomically at the end of a
  local file, so blocks of different processes never interleave inside a record. (On a network
  filesystem ``O_APPEND`` is not atomic: give each process its own file there.) The process tag
  lets a reader keep one process's records, as each process has its own memory tier.
- A fork child drops the records its parent had buffered (the parent writes them) and takes its
  own tag.
- A reader ignores a truncated last record (a crash mid-write); nothing else can tear a record.

A leaf module: it imports nothing of the package, so ``_cache`` may import it.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import struct
import threading
import weakref
from collections.abc import Callable
from typing import Final

__all__ = [
    "HEADER_SIZE",
    "HIT_DISK",
    "HIT_MEMORY",
    "HIT_REMOTE",
    "MAGIC",
    "MISS",
    "RECORD_SIZE",
    "SET",
    "VERSION",
    "Recorder",
    "record_dtype_spec",
]

MAGIC: Final = b"MKTRACE\x00"
VERSION: Final = 1
HEADER_SIZE: Final = 16
_HEADER: Final = struct.Struct("<8sHH4x")
_RECORD: Final = struct.Struct("<QQfHBx")
RECORD_SIZE: Final = _RECORD.size

# Record kinds. MISS is a request the loader served; HIT_* a request a tier served; SET a write
# that was not a request (``cache.set``): the advisor moves the key to the top of its LRU stack
# without counting a hit or a miss.
MISS: Final = 0
HIT_MEMORY: Final = 1
HIT_DISK: Final = 2
HIT_REMOTE: Final = 3
SET: Final = 4

_MASK64: Final = (1 << 64) - 1
_DEFAULT_BLOCK: Final = 64 * 1024


def record_dtype_spec() -> list[tuple[str, str]]:
    """The numpy dtype fields of one record (for readers: ``np.dtype(record_dtype_spec())``)."""
    return [("key", "<u8"), ("size", "<u8"), ("seconds", "<f4"), ("process", "<u2"),
            ("kind", "u1"), ("_pad", "u1")]  # fmt: skip


def _header() -> bytes:
    return _HEADER.pack(MAGIC, VERSION, RECORD_SIZE)


class Recorder:
    """Append access records to ``path`` (created with a header when it does not exist).

    ``record(key_hash, size, load_seconds, kind)`` is the hot call: thread-safe, no I/O except
    when the buffer reaches ``block_bytes``. Records buffered at interpreter exit are written by
    an ``atexit`` hook; ``close()`` writes them at once. A record made after ``close()`` is
    dropped. Errors writing the file (disk full, permissions) raise from ``flush()``/``close()``
    and from the ``record()`` call that fills a block.
    """

    def __init__(self, path: str | os.PathLike[str], *, block_bytes: int = _DEFAULT_BLOCK) -> None:
        if isinstance(block_bytes, bool) or not isinstance(block_bytes, int) or block_bytes < 1:
            raise ValueError(f"block_bytes must be a positive int, got {block_bytes!r}")
        self.path = os.fspath(path)
        self._limit = max(RECORD_SIZE, block_bytes - block_bytes % RECORD_SIZE)
        self._buf = bytearray()
        self._lock = threading.Lock()
        self._tag = os.getpid() & 0xFFFF
        self._closed = False
        self._fd = _open_with_header(self.path)
        self.record = self._bind()  # type: ignore[method-assign,assignment]
        _live.add(self)

    def record(self, key_hash: int, size: int, load_seconds: float = 0.0, kind: int = MISS) -> None:
        """Buffer one record. ``key_hash`` may be any int (it is reduced modulo 2**64, so
        Python's signed ``hash()`` works); ``size`` is the value's size in bytes (the stored
        entry's on a hit); ``load_seconds`` what the loader took (0 on a hit)."""
        self._bind()(key_hash, size, load_seconds, kind)  # replaced per instance by _bind()

    def _bind(self) -> Callable[[int, int, float, int], None]:
        # A closure: no attribute lookups on the hot path (cheaper than a method).
        buf, pack, tag, limit, flush = self._buf, _RECORD.pack, self._tag, self._limit, self.flush

        def record(key_hash: int, size: int, load_seconds: float = 0.0, kind: int = MISS) -> None:
            # bytearray.extend is one C call: a whole record or nothing, whatever other threads
            # do, and the buffer object is never replaced (flush cuts it in place).
            buf.extend(pack(key_hash & _MASK64, size, load_seconds, tag, kind))
            if len(buf) >= limit:
                flush()

        return record

    def flush(self) -> None:
        """Write the buffered records to the file (one ``os.write`` of whole records)."""
        with self._lock:
            buf = self._buf
            # Copy, then cut exactly what was copied: records appended meanwhile stay buffered.
            data = bytes(buf)
            del buf[: len(data)]
            if self._closed or not data:
                return
            view = memoryview(data)
            while view:
                # A short write to a local file happens only when the disk fills; write the rest.
                written = os.write(self._fd, view)
                view = view[written:]

    def close(self) -> None:
        """Write what is buffered and close the file (idempotent)."""
        if self._closed:
            return
        try:
            self.flush()
        finally:
            with self._lock:
                self._closed = True
                os.close(self._fd)
            _live.discard(self)

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"Recorder({self.path!r}, {state})"

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()
        # The parent still holds (and will write) what was buffered before the fork.
        del self._buf[:]
        self._tag = os.getpid() & 0xFFFF
        self.record = self._bind()  # type: ignore[method-assign,assignment]


def _open_with_header(path: str) -> int:
    """Open ``path`` for appending; create it with its header atomically when it is new."""
    flags = os.O_WRONLY | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        pass
    else:
        _check_existing(path)
        return fd
    # Write the header to a temporary file and link it in place: two processes creating the
    # file at once must not both write a header, nor append records before it exists.
    tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, _header())
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        _check_existing(path)
    finally:
        os.unlink(tmp)
    return os.open(path, flags)


def _check_existing(path: str) -> None:
    with open(path, "rb") as f:
        head = f.read(HEADER_SIZE)
    if not head:
        raise ValueError(f"cannot record to {path!r}: the file exists and is empty (no header)")
    magic, version, size = _HEADER.unpack(head) if len(head) == HEADER_SIZE else (head, 0, 0)
    if magic != MAGIC:
        raise ValueError(
            f"cannot record to {path!r}: it exists and is not a memcache_kit trace "
            f"(header {head[:8]!r}); choose a new path or delete it"
        )
    if version != VERSION or size != RECORD_SIZE:
        raise ValueError(
            f"cannot record to {path!r}: it is a trace of format version {version} "
            f"(record size {size}); this memcache_kit writes version {VERSION}"
        )


_live: weakref.WeakSet[Recorder] = weakref.WeakSet()


@atexit.register
def _flush_all() -> None:
    for rec in list(_live):
        # At exit nobody can act on an error; a lost tail of a trace is acceptable.
        with contextlib.suppress(OSError):
            rec.close()


def _after_fork_in_child() -> None:
    for rec in list(_live):
        rec._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
