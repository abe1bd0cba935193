"""The disk tier: diskcache with its own byte budget, ``.npy`` arrays, authenticated pickles.

Layout of a cache directory (0700)::

    cache.db (+ -wal, -shm)   diskcache's SQLite index; each row holds a sealed blob
    data/<hex>-<pid>.npy      numpy arrays, read back as copy-on-write memmaps
    data/<hex>-<pid>.bin      serialized values above INLINE_MAX bytes

A row's blob is sealed (``_serial.seal``): it carries the format version, the serializer name
and, for values held in a file, the file's name, length, ``.npy`` header and a keyed hash of a
serialized payload. Anything that fails those checks is a miss, counted and logged once per
kind, and the row is dropped. Reads never write: access times are batched in memory.
"""

from __future__ import annotations

import contextlib
import json
import logging
import mmap
import os
import sqlite3
import stat
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, NamedTuple

import diskcache

from .._errors import CacheWarning
from .._serial import SealError, Serializer, get_serializer, signer
from .._settings import settings
from .._shapes import MISSING, TierStats
from . import _disk_index as ix
from ._disk_files import FileStore, UnsafeDirectory, ensure_directory, new_name, npy_parts
from ._disk_files import read_exact as _read_exact

__all__ = ["DiskEntry", "DiskTier", "INLINE_MAX"]

log = logging.getLogger("memcache_kit")

INLINE_MAX = 64 * 1024
"""Serialized values up to this many bytes live in the index row; larger ones in a file."""

FLUSH_READS = 1024
FLUSH_SECONDS = 5.0
_FAULTS = (OSError, sqlite3.Error, diskcache.Timeout)
_time = time.time


class DiskEntry(NamedTuple):
    """One row, as ``entries()`` lists it (for ``memcache-kit ls``)."""

    key: str
    label: str
    size: int
    stored_at: float
    last_access: float
    expire_at: float | None


class BadEntry(Exception):
    """An entry that cannot be returned faithfully; ``kind`` names how, for stats and logs."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


class _NotStored(Exception):
    pass


# Connections and handles a forked child inherited: kept referenced so the child never closes
# (and so never touches) SQLite state that belongs to its parent.
_ABANDONED: list[Any] = []
_LIVE: weakref.WeakSet[DiskTier] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for tier in list(_LIVE):
        tier._forked()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class DiskTier:
    """Keys are disk-key strings (32 hex digits). Any unreadable entry is a miss."""

    name = "disk"
    directory: Path

    def __init__(
        self,
        directory: str | Path,
        budget: int,
        *,
        serializer: str = "pickle",
        durability: Literal["fast", "strict"] = "fast",
        verify_arrays: bool = False,
        allow_shared_directory: bool = False,
        secret: bytes | None = None,
    ) -> None:
        if durability not in ("fast", "strict"):
            raise ValueError(f"durability must be 'fast' or 'strict', not {durability!r}")
        self.directory = Path(directory).expanduser().absolute()
        self._budget = _check_budget(budget)
        self._serializer: Serializer = get_serializer(serializer)
        self.durability = durability
        self.verify_arrays = bool(verify_arrays)
        self.allow_shared_directory = bool(allow_shared_directory)
        self._signer = signer(settings.secret_key() if secret is None else bytes(secret))
        self._strict = durability == "strict"
        self._files = FileStore(
            self.directory, shared=self.allow_shared_directory, strict=self._strict
        )
        self._lock = threading.RLock()
        self._local = threading.local()
        self._cons: list[sqlite3.Connection] = []
        self._dc: diskcache.Cache | None = None
        self._pid = os.getpid()
        self._atimes: dict[str, float] = {}
        self._reads = 0
        self._flush_due = 0.0
        self._hits = self._misses = self._evictions = self._writes = 0
        self._bad_counts: dict[str, int] = {}
        self._logged: set[str] = set()
        self._unserializable: set[str] = set()
        self._last_totals = (0, 0)
        # failure handling: consecutive faults, then disabled with a back-off
        self._fail_limit = 5
        self._failures = 0
        self._fault_counts: dict[str, int] = {}
        self._degraded = False
        self._backoff = self._backoff_min = 1.0
        self._backoff_max = 60.0
        self._retry_at = 0.0
        ensure_directory(self.directory, allow_shared=self.allow_shared_directory)
        self._check_db_file()
        _LIVE.add(self)
        try:
            self._open()
        except _FAULTS as exc:
            self._fault("open", exc)
            self._disable(exc)

    # lifecycle ------------------------------------------------------------------------------
    def _check_db_file(self) -> None:
        for name in (ix.DBNAME, ix.DBNAME + "-wal", ix.DBNAME + "-shm"):
            try:
                st = os.lstat(self.directory / name)
            except FileNotFoundError:
                continue
            if not stat.S_ISREG(st.st_mode):
                raise UnsafeDirectory(
                    f"{str(self.directory / name)!r} is not a regular file (a symlink?); "
                    "refusing to open a planted index"
                )

    def _open(self) -> None:
        with self._lock:
            ensure_directory(self.directory, allow_shared=self.allow_shared_directory)
            self._files.open()
            self._dc = ix.open_index(self.directory, strict=self._strict)
            ix.prepare_schema(self._con())

    def _index(self) -> diskcache.Cache:
        dc = self._dc
        if dc is None or self._pid != os.getpid():
            with self._lock:
                if self._pid != os.getpid():
                    self._forked()
                dc = self._dc
                if dc is None:
                    dc = self._dc = ix.open_index(self.directory, strict=self._strict)
        return dc

    def _con(self) -> sqlite3.Connection:
        con: sqlite3.Connection | None = getattr(self._local, "con", None)
        if con is None:
            con = ix.connect(self.directory, strict=self._strict)
            self._local.con = con
            # A reused cursor saves ~0.3 µs a hit over con.execute (benchmarks/bench_disk.py).
            self._local.cur = con.cursor()
            with self._lock:
                self._cons.append(con)
        return con

    def _forked(self) -> None:
        _ABANDONED.extend((self._dc, self._local, self._cons))
        self._dc = None
        self._local = threading.local()
        self._cons = []
        self._lock = threading.RLock()
        self._files.forget()
        self._pid = os.getpid()

    def _drop_handles(self) -> None:
        cons, self._cons = self._cons, []
        self._local = threading.local()
        for con in cons:
            with contextlib.suppress(Exception):
                con.close()
        dc, self._dc = self._dc, None
        if dc is not None:
            with contextlib.suppress(Exception):
                dc.close()
        with contextlib.suppress(OSError):
            self._files.close()

    def close(self) -> None:
        """Write pending access times and release handles (the tier reopens if used again)."""
        with contextlib.suppress(*_FAULTS):
            self._flush()
        with self._lock:
            self._drop_handles()

    # failures ---------------------------------------------------------------------------------
    @property
    def degraded(self) -> bool:
        """True while the tier is disabled after repeated disk failures (it re-probes later)."""
        return self._degraded

    def _fault(self, op: str, exc: BaseException) -> None:
        kind = type(exc).__name__
        self._fault_counts[kind] = self._fault_counts.get(kind, 0) + 1
        self._failures += 1
        if self._degraded:
            self._backoff = min(self._backoff * 2, self._backoff_max)
            self._retry_at = time.monotonic() + self._backoff
        elif self._failures >= self._fail_limit:
            self._disable(exc)
        else:
            log.debug("memcache_kit disk tier %s: %s failed: %r", self.directory, op, exc)

    def _disable(self, exc: BaseException) -> None:
        if self._degraded:
            return
        self._degraded = True
        self._retry_at = time.monotonic() + self._backoff
        log.warning(
            "memcache_kit disk tier %s disabled after %d consecutive failures (last: %s: %s); "
            "reads miss and writes are skipped until it is re-probed in %.0f s",
            self.directory,
            self._failures,
            type(exc).__name__,
            exc,
            self._backoff,
        )

    def _probe(self) -> bool:
        """While degraded: False until the back-off passes; then reopen and let one op try."""
        if time.monotonic() < self._retry_at:
            return False
        with self._lock:
            if time.monotonic() < self._retry_at:
                return False
            self._retry_at = time.monotonic() + self._backoff
            try:
                self._drop_handles()
                self._open()
            except _FAULTS as exc:
                self._fault("probe", exc)
                return False
            except UnsafeDirectory as exc:
                self._fault("probe", exc)
                return False
        return True

    def _recovered(self) -> None:
        self._failures = 0
        if self._degraded:
            self._degraded = False
            self._backoff = self._backoff_min
            log.warning("memcache_kit disk tier %s works again; re-enabled", self.directory)

    def _bad(self, key: str, kind: str, detail: str, blob: Any) -> None:
        self._misses += 1
        self._bad_counts[kind] = self._bad_counts.get(kind, 0) + 1
        if kind not in self._logged:
            self._logged.add(kind)
            log.warning(
                "memcache_kit disk tier %s: entry %s is unusable (%s: %s); treated as a miss and "
                "dropped. Further %r entries are counted (verify() shows them), not logged.",
                self.directory,
                key,
                kind,
                detail,
                kind,
            )
        with contextlib.suppress(*_FAULTS):
            self._drop_row(key, blob)

    def _drop_row(self, key: str, blob: Any) -> None:
        """Delete ``key``'s row only if it still holds ``blob`` (a newer write stays)."""
        con = self._con()
        con.execute("BEGIN IMMEDIATE")
        try:
            rows = con.execute(
                "SELECT rowid, filename FROM Cache WHERE key = ? AND raw = 1 AND value = ?",
                (key, blob),
            ).fetchall()
            con.executemany("DELETE FROM Cache WHERE rowid = ?", [(r[0],) for r in rows])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        for _, filename in rows:
            ix.remove_data_file(str(self.directory), filename)

    # budget -----------------------------------------------------------------------------------
    @property
    def budget(self) -> int:
        return self._budget

    @budget.setter
    def budget(self, value: int) -> None:
        value = _check_budget(value)
        shrink = value < self._budget
        self._budget = value
        if shrink:
            with contextlib.suppress(*_FAULTS):
                self._cull(value)

    def _cull(self, target: int) -> None:
        con = self._con()
        con.execute("BEGIN IMMEDIATE")
        try:
            self._write_atimes(con)
            gone = ix.cull(con, target, _time())
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        self._evictions += gone.rows
        for filename in gone.files:
            ix.remove_data_file(str(self.directory), filename)

    # access times -----------------------------------------------------------------------------
    def _write_atimes(self, con: sqlite3.Connection) -> None:
        pending, self._atimes = self._atimes, {}
        if pending:
            con.executemany(ix.SQL_ATIME, [(t, k, t) for k, t in pending.items()])

    def _flush(self) -> None:
        self._reads = 0
        self._flush_due = _time() + FLUSH_SECONDS
        if not self._atimes:
            return
        con = self._con()
        pending = self._atimes
        try:
            con.execute("BEGIN IMMEDIATE")
            try:
                self._write_atimes(con)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        except _FAULTS:
            if len(pending) < 100_000:  # keep them for the next try, bounded
                pending.update(self._atimes)
                self._atimes = pending
            raise

    # reads ------------------------------------------------------------------------------------
    def get(self, key: str) -> Any:
        if type(key) is not str:
            raise TypeError(f"disk tier keys are str, not {type(key).__name__}")
        if self._degraded and not self._probe():
            self._misses += 1
            return MISSING
        now = _time()
        try:
            cur = self._local.cur
        except AttributeError:
            cur = None
        try:
            if cur is None:
                self._con()
                cur = self._local.cur
            row = cur.execute(ix.SQL_GET, (key, now)).fetchone()
        except _FAULTS as exc:
            self._fault("get", exc)
            self._misses += 1
            return MISSING
        if self._failures:
            self._recovered()
        if row is None:
            self._misses += 1
            return MISSING
        blob = row[0]
        try:
            sealed = self._signer.unseal(blob, key=key)
            if sealed.meta:
                value = self._load_file(key, sealed.serializer, sealed.meta)
            elif sealed.serializer == "pickle":
                import pickle

                value = pickle.loads(sealed.payload)
            else:
                value = get_serializer(sealed.serializer).loads(bytes(sealed.payload))
        except SealError as exc:
            self._bad(key, exc.kind, str(exc), blob)
            return MISSING
        except BadEntry as exc:
            self._bad(key, exc.kind, str(exc), blob)
            return MISSING
        except _FAULTS as exc:
            self._fault("read", exc)
            self._misses += 1
            return MISSING
        except Exception as exc:  # authenticated, yet the serializer cannot rebuild it
            self._bad(key, "unreadable", f"{type(exc).__name__}: {exc}", blob)
            return MISSING
        self._hits += 1
        self._atimes[key] = now
        self._reads += 1
        if self._reads >= FLUSH_READS or now > self._flush_due:
            with contextlib.suppress(*_FAULTS):
                self._flush()
        return value

    def _load_file(self, key: str, serializer: str, meta: bytes) -> Any:
        try:
            info = json.loads(meta)
            name = info["f"]
            length = info["n"]
        except (ValueError, KeyError, TypeError) as exc:
            raise BadEntry("format", f"bad entry metadata: {exc}") from None
        try:
            fd = self._files.open_read(name)
        except FileNotFoundError:
            raise BadEntry("missing", f"data file {name} is gone") from None
        except OSError as exc:
            if exc.errno in (40, 20, 21):  # ELOOP (a symlink), ENOTDIR, EISDIR
                raise BadEntry("planted", f"data file {name} is not a regular file") from None
            raise
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise BadEntry("planted", f"data file {name} is not a regular file")
            if st.st_size != length:
                kind = "truncated" if st.st_size < length else "planted"
                raise BadEntry(kind, f"data file {name} has {st.st_size} bytes, expected {length}")
            if serializer == "npy":
                return self._open_array(key, fd, info)
            data = _read_exact(fd, length)
            if self._signer.content_mac(key, data) != info.get("m"):
                raise BadEntry("forged", f"data file {name} fails authentication")
            if serializer == "pickle":
                import pickle

                return pickle.loads(data)
            return get_serializer(serializer).loads(bytes(data))
        finally:
            os.close(fd)

    def _open_array(self, key: str, fd: int, info: dict[str, Any]) -> Any:
        import numpy as np

        offset = info["o"]
        header = info["h"].encode("latin-1")
        if os.pread(fd, offset, 0) != header:
            raise BadEntry("header", "the .npy header differs from its index entry")
        dtype = _dtype(np, info, header)
        if dtype.hasobject:
            raise BadEntry("header", "the .npy file asks for pickled objects")
        if self.verify_arrays:
            expected = info.get("c")
            if expected is None:
                raise BadEntry("unverified", "stored without a content hash (verify_arrays)")
            with mmap.mmap(fd, 0, access=mmap.ACCESS_READ) as m, memoryview(m) as view:
                ok = self._signer.content_mac(key, view[offset:]) == expected
            if not ok:
                raise BadEntry("content", "array content fails its keyed hash")
        # Map the descriptor we checked (np.load would reopen the path, a window for a swap).
        with os.fdopen(fd, "rb", closefd=False) as f:
            return np.memmap(
                f, dtype=dtype, mode="c", offset=offset, shape=tuple(info["s"]),
                order="F" if info["F"] else "C",
            )  # fmt: skip

    def __contains__(self, key: object) -> bool:
        if type(key) is not str or (self._degraded and not self._probe()):
            return False
        try:
            row = self._con().execute(ix.SQL_GET, (key, _time())).fetchone()
            if row is None:
                return False
            self._signer.unseal(row[0], key=key)
        except SealError:
            return False
        except _FAULTS as exc:
            self._fault("contains", exc)
            return False
        return True

    # writes -----------------------------------------------------------------------------------
    def set(self, key: str, value: Any, *, expire_at: float | None = None, label: str = "") -> bool:
        if type(key) is not str:
            raise TypeError(f"disk tier keys are str, not {type(key).__name__}")
        if self._degraded and not self._probe():
            return False
        now = _time()
        if expire_at is not None and expire_at <= now:
            self.delete(key)
            return True
        try:
            record = self._record(key, value)
        except _NotStored:
            return False
        except _FAULTS as exc:
            self._fault("write", exc)
            return False
        expire = None if expire_at is None else max(expire_at - _time(), 1e-6)
        try:
            self._index().set(key, record, expire=expire, tag=label or None)
        except _FAULTS as exc:
            if record.filename:
                ix.remove_data_file(str(self.directory), record.filename)
            self._fault("set", exc)
            return False
        self._writes += 1
        if self._failures:
            self._recovered()
        try:
            size, count = ix.totals(self._con())
            self._last_totals = (size, count)
            if size > self._budget:
                self._cull(self._budget)
        except _FAULTS as exc:
            self._fault("cull", exc)
        return True

    def _record(self, key: str, value: Any) -> ix.Record:
        np = sys.modules.get("numpy")
        if (
            np is not None
            and (type(value) is np.ndarray or type(value) is np.memmap)
            and not value.dtype.hasobject
            and value.dtype.itemsize > 0
        ):
            return self._array_record(key, value)
        ser = self._serializer
        try:
            payload = ser.dumps(value)
            if not isinstance(payload, bytes):
                payload = bytes(payload)
        except Exception as exc:
            self._warn_unserializable(key, value, exc)
            raise _NotStored from None
        n = len(payload)
        if n > self._budget:
            raise _NotStored
        if n <= INLINE_MAX:
            return ix.Record(self._signer.seal(payload, key=key, serializer=ser.name), n, None)
        name = new_name("bin")
        mac = self._signer.content_mac(key, payload)
        self._files.write(name, (payload,))
        meta = json.dumps({"f": name, "n": n, "m": mac}).encode()
        blob = self._signer.seal(b"", meta, key=key, serializer=ser.name)
        return ix.Record(blob, n, f"data/{name}")

    def _array_record(self, key: str, arr: Any) -> ix.Record:
        header, data, fortran = npy_parts(arr)
        n = len(header) + data.nbytes
        if n > self._budget:
            raise _NotStored
        name = new_name("npy")
        info: dict[str, Any] = {
            "f": name,
            "n": n,
            "o": len(header),
            "h": header.decode("latin-1"),
            "d": arr.dtype.str if arr.dtype.fields is None and arr.dtype.subdtype is None else None,
            "s": list(arr.shape),
            "F": fortran,
        }
        if self.verify_arrays:
            info["c"] = self._signer.content_mac(key, data)
        self._files.write(name, (header, data))
        blob = self._signer.seal(b"", json.dumps(info).encode(), key=key, serializer="npy")
        return ix.Record(blob, n, f"data/{name}")

    def _warn_unserializable(self, key: str, value: Any, exc: Exception) -> None:
        what = f"{type(value).__module__}.{type(value).__qualname__}"
        if what in self._unserializable:
            return
        self._unserializable.add(what)
        warnings.warn(
            f"a {what} value (key {key}) cannot be serialized with {self._serializer.name!r} "
            f"({type(exc).__name__}: {exc}); it is not stored on disk. Further {what} values are "
            "skipped silently.",
            CacheWarning,
            stacklevel=4,
        )

    def delete(self, key: str) -> bool:
        if type(key) is not str:
            raise TypeError(f"disk tier keys are str, not {type(key).__name__}")
        self._atimes.pop(key, None)
        if self._degraded and not self._probe():
            return False
        try:
            deleted = bool(self._index().delete(key))
        except _FAULTS as exc:
            self._fault("delete", exc)
            return False
        if self._failures:
            self._recovered()
        return deleted

    def clear(self) -> None:
        self._atimes = {}
        try:
            self._index().clear()
            from ._disk_verify import sweep_orphans

            sweep_orphans(self)
        except _FAULTS as exc:
            self._fault("clear", exc)

    # observing --------------------------------------------------------------------------------
    def stats(self) -> TierStats:
        with contextlib.suppress(*_FAULTS):
            self._last_totals = ix.totals(self._con())
        size, count = self._last_totals
        return TierStats(
            hits=self._hits,
            misses=self._misses,
            evictions=self._evictions,
            writes=self._writes,
            bytes=size,
            items=count,
            budget=self._budget,
        )

    @property
    def bad_entries(self) -> dict[str, int]:
        """Unusable entries met by reads, by kind (forged, format, missing, planted, ...)."""
        return dict(self._bad_counts)

    @property
    def faults(self) -> dict[str, int]:
        """Disk faults met, by exception type."""
        return dict(self._fault_counts)

    def entries(self) -> Iterator[DiskEntry]:
        """Every row (expired ones too), least recently used first."""
        with contextlib.suppress(*_FAULTS):
            self._flush()
        rows = (
            self._con()
            .execute(
                "SELECT key, tag, size, store_time, access_time, expire_time FROM Cache"
                " WHERE raw = 1 ORDER BY access_time, rowid"
            )
            .fetchall()
        )
        for key, tag, size, stored, access, expire in rows:
            if isinstance(key, str):
                yield DiskEntry(
                    key, tag if isinstance(tag, str) else "", size, stored, access, expire
                )

    def verify(self, repair: bool = False) -> tuple[list[str], int, dict[str, Any]]:
        from ._disk_verify import verify

        return verify(self, repair)


def _check_budget(value: object) -> int:
    if type(value) is not int or value < 0:
        raise ValueError(f"a disk budget is a number of bytes >= 0, not {value!r}")
    return value


def _dtype(np: Any, info: dict[str, Any], header: bytes) -> Any:
    if info.get("d"):
        return np.dtype(info["d"])
    import ast

    # Structured dtypes: parse the (authenticated) header text as numpy itself does.
    text = header[header.index(b"{") :].decode("latin-1")
    return np.lib.format.descr_to_dtype(ast.literal_eval(text)["descr"])
