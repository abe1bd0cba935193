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
import logging
import os
import sqlite3
import stat
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import diskcache

from ..._errors import CacheWarning
from ..._serial import SealError, Signer, get_serializer, signer
from ..._settings import settings
from ..._shapes import MISSING, TierStats
from . import index as ix
from .codec import INLINE_MAX, BadEntry, Codec, TooLarge, Unserializable
from .files import FileStore, UnsafeDirectory, ensure_directory
from .handles import GATE, Handles, gated
from .health import Health
from .index import DiskEntry
from .stale import Stale
from .verify import sweep_orphans, verify

__all__ = ["DiskEntry", "DiskTier", "INLINE_MAX"]

log = logging.getLogger("memcache_kit")

FLUSH_READS = 1024
FLUSH_SECONDS = 5.0
_FAULTS = (OSError, sqlite3.Error, diskcache.Timeout)
_time = time.time


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
        self.durability = durability
        self.verify_arrays = bool(verify_arrays)
        self.allow_shared_directory = bool(allow_shared_directory)
        self._strict = durability == "strict"
        self._codec = Codec(
            signer(settings.secret_key() if secret is None else bytes(secret)),
            FileStore(self.directory, shared=self.allow_shared_directory, strict=self._strict),
            get_serializer(serializer),
            verify_arrays=self.verify_arrays,
        )
        self._h = Handles(self.directory, strict=self._strict)
        self._atimes: dict[str, float] = {}
        self._reads = 0
        self._flush_due = 0.0
        self._hits = self._misses = self._evictions = self._writes = 0
        self._bad_counts: dict[str, int] = {}
        self._logged: set[str] = set()
        self._unserializable: set[str] = set()
        self._last_totals = (0, 0)
        self._stale = Stale()
        self._health = Health(self.directory)
        ensure_directory(self.directory, allow_shared=self.allow_shared_directory)
        self._check_db_file()
        try:
            self._open()
        except _FAULTS as exc:
            self._fault("open", exc)
            self._health.disable(exc)

    @property
    def _files(self) -> FileStore:
        """The file operations (a seam: fault-injection tests wrap it)."""
        return self._codec.files

    @_files.setter
    def _files(self, files: FileStore) -> None:
        self._codec.files = files

    @property
    def _signer(self) -> Signer:
        return self._codec.signer

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

    @gated
    def _open(self) -> None:
        with self._h.lock:
            ensure_directory(self.directory, allow_shared=self.allow_shared_directory)
            self._files.open()
            if not self.allow_shared_directory:
                ix.make_private(self.directory)
            self._h.index()
            ix.prepare_schema(self._con())

    def _index(self) -> diskcache.Cache:
        return self._h.index()

    def _con(self) -> sqlite3.Connection:
        return self._h.con()

    def _drop_handles(self) -> None:
        self._h.drop()
        with contextlib.suppress(OSError):
            self._files.close()

    @gated
    def close(self) -> None:
        """Write pending access times and release handles (the tier reopens if used again)."""
        with contextlib.suppress(*_FAULTS):
            self._flush()
        with self._h.lock:
            self._drop_handles()

    # failures ---------------------------------------------------------------------------------
    @property
    def degraded(self) -> bool:
        """True while the tier is disabled after repeated disk failures (it re-probes later)."""
        return self._health.degraded

    def _fault(self, op: str, exc: BaseException) -> None:
        self._health.fault(op, exc)

    def _probe(self) -> bool:
        """While degraded: False until the back-off passes; then reopen and let one op try."""
        if time.monotonic() < self._health.retry_at:
            return False
        with self._h.lock:
            if not self._health.probe_due():
                return False
            try:
                self._drop_handles()
                self._open()
            except (*_FAULTS, UnsafeDirectory) as exc:
                self._health.fault("probe", exc)
                return False
        return True

    def _recovered(self) -> None:
        self._health.ok()
        if self._stale:
            try:
                self._purge_stale()
            except _FAULTS as exc:
                self._fault("purge", exc)

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

    @gated
    def _drop_row(self, key: str, blob: Any) -> None:
        """Delete ``key``'s row only if it still holds ``blob`` (a newer write stays)."""
        for filename in ix.drop_row(self._con(), key, blob):
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

    @gated
    def _cull(self, target: int) -> None:
        con = self._con()
        con.execute("BEGIN IMMEDIATE")
        try:
            pending, self._atimes = self._atimes, {}
            ix.record_atimes(con, pending)
            gone = ix.cull(con, target, _time())
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        self._evictions += gone.rows
        for filename in gone.files:
            ix.remove_data_file(str(self.directory), filename)

    # access times -----------------------------------------------------------------------------
    @gated
    def _flush(self, *, wait: bool = True) -> None:
        """Write pending access times. ``wait=False`` (from a read) gives up at once if
        another writer holds the lock: a read never waits for a write lock."""
        self._reads = 0
        self._flush_due = _time() + FLUSH_SECONDS
        pending, self._atimes = self._atimes, {}
        if not pending:
            return
        try:
            ix.write_atimes(self._con(), pending, wait=wait)
        except _FAULTS:
            if len(pending) < 100_000:  # keep them for the next try, bounded
                pending.update(self._atimes)
                self._atimes = pending
            raise

    # reads ------------------------------------------------------------------------------------
    def get(self, key: str) -> Any:
        return self.get_entry(key)[0]

    def get_entry(self, key: str) -> tuple[Any, float | None]:
        """``(value, expire_at)`` in one read (``(MISSING, None)`` for a miss): a promotion
        needs the entry's expiry, and asking for it separately cost a second query per hit."""
        if type(key) is not str:
            raise TypeError(f"disk tier keys are str, not {type(key).__name__}")
        if (self._health.degraded and not self._probe()) or (
            self._stale and self._stale.is_stale(key)
        ):
            self._misses += 1
            return MISSING, None
        now = _time()
        try:
            cur = self._h.local.cur
        except AttributeError:
            cur = None
        try:
            with GATE:
                if cur is None:
                    cur = self._h.cursor()
                row = cur.execute(ix.SQL_GET, (key, now)).fetchone()
        except _FAULTS as exc:
            self._fault("get", exc)
            self._misses += 1
            return MISSING, None
        if self._health.failures:
            self._recovered()
        if row is None:
            self._misses += 1
            return MISSING, None
        blob, expire_at = row
        try:
            value = self._codec.decode(key, blob)
        except SealError as exc:
            self._bad(key, exc.kind, str(exc), blob)
            return MISSING, None
        except BadEntry as exc:
            self._bad(key, exc.kind, str(exc), blob)
            return MISSING, None
        except _FAULTS as exc:
            self._fault("read", exc)
            self._misses += 1
            return MISSING, None
        except Exception as exc:  # authenticated, yet the serializer cannot rebuild it
            self._bad(key, "unreadable", f"{type(exc).__name__}: {exc}", blob)
            return MISSING, None
        self._hits += 1
        self._atimes[key] = now
        self._reads += 1
        if self._reads >= FLUSH_READS or now > self._flush_due:
            with contextlib.suppress(*_FAULTS):
                self._flush(wait=False)
        return value, expire_at

    @gated
    def __contains__(self, key: object) -> bool:
        if (
            type(key) is not str
            or (self._health.degraded and not self._probe())
            or self._stale.is_stale(key)
        ):
            return False
        try:
            row = self._con().execute(ix.SQL_GET, (key, _time())).fetchone()
        except _FAULTS as exc:
            self._fault("contains", exc)
            return False
        if self._health.failures:  # a probe that worked: without this the tier stays off
            self._recovered()
        if row is None:
            return False
        try:
            self._signer.unseal(row[0], key=key)
        except SealError:
            return False
        return True

    # writes -----------------------------------------------------------------------------------
    def set(self, key: str, value: Any, *, expire_at: float | None = None, label: str = "") -> bool:
        if type(key) is not str:
            raise TypeError(f"disk tier keys are str, not {type(key).__name__}")
        if self._health.degraded and not self._probe():
            self._stale.mark(key)
            return False
        now = _time()
        if expire_at is not None and expire_at <= now:
            self.delete(key)
            return True
        # Every way of declining drops the older value: it must never come back in place of
        # the one that was not stored.
        try:
            record = self._codec.encode(key, value, self._budget)
        except TooLarge:
            self._forget(key)
            return False
        except Unserializable as exc:
            self._warn_unserializable(key, value, exc)
            self._forget(key)
            return False
        except _FAULTS as exc:
            self._fault("write", exc)
            self._forget(key)
            return False
        expire = None if expire_at is None else max(expire_at - _time(), 1e-6)
        try:
            with GATE:
                self._index().set(key, record, expire=expire, tag=label or None)
        except _FAULTS as exc:
            if record.filename:
                ix.remove_data_file(str(self.directory), record.filename)
            self._fault("set", exc)
            self._forget(key)
            return False
        self._writes += 1
        if self._stale:
            self._stale.discard(key)
        if self._health.failures:
            self._recovered()
        try:
            with GATE:
                size, count = ix.totals(self._con())
                self._last_totals = (size, count)
                if size > self._budget:
                    self._cull(self._budget)
        except _FAULTS as exc:
            self._fault("cull", exc)
        return True

    def _warn_unserializable(self, key: str, value: Any, exc: Exception) -> None:
        what = f"{type(value).__module__}.{type(value).__qualname__}"
        if what in self._unserializable:
            return
        self._unserializable.add(what)
        warnings.warn(
            f"a {what} value (key {key}) cannot be serialized with "
            f"{self._codec.serializer.name!r} ({exc}); it is not stored on disk. Further {what} "
            "values are skipped silently.",
            CacheWarning,
            stacklevel=3,
        )

    @gated
    def delete(self, key: str) -> bool:
        if type(key) is not str:
            raise TypeError(f"disk tier keys are str, not {type(key).__name__}")
        self._atimes.pop(key, None)
        if self._health.degraded and not self._probe():
            self._stale.mark(key)
            return False
        try:
            deleted = bool(self._index().delete(key))
        except _FAULTS as exc:
            self._fault("delete", exc)
            self._stale.mark(key)
            return False
        if self._stale:
            self._stale.discard(key)
        if self._health.failures:
            self._recovered()
        return deleted

    @gated
    def _forget(self, key: str) -> None:
        """Drop ``key``'s older entry after a declined set (a success here is no sign that the
        disk recovered: deleting works on a full disk)."""
        self._atimes.pop(key, None)
        try:
            self._index().delete(key)
        except _FAULTS:
            self._stale.mark(key)
        else:
            self._stale.discard(key)

    @gated
    def _purge_stale(self) -> None:
        self._stale.purge(self._index())

    @gated
    def expire_at(self, key: str) -> float | None:
        """When ``key``'s entry expires (None: never, or no such entry)."""
        try:
            row = self._con().execute(ix.SQL_EXPIRE, (key,)).fetchone()
        except _FAULTS as exc:
            self._fault("expire_at", exc)
            return None
        if self._health.failures:
            self._recovered()
        return None if row is None else row[0]

    @gated
    def clear(self) -> None:
        self._atimes = {}
        try:
            self._index().clear()
        except _FAULTS as exc:
            self._fault("clear", exc)
            self._stale.overflowed()
            return
        self._stale.reset()
        with contextlib.suppress(*_FAULTS):
            sweep_orphans(self)

    # observing --------------------------------------------------------------------------------
    @gated
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
        return dict(self._health.counts)

    def entries(self) -> Iterator[DiskEntry]:
        """Every row (expired ones too), least recently used first."""
        with contextlib.suppress(*_FAULTS):
            self._flush()
        with GATE:
            rows = ix.entry_rows(self._con())
        return ix.entries(rows)

    @gated
    def verify(self, repair: bool = False) -> tuple[list[str], int, dict[str, Any]]:
        return verify(self, repair)


def _check_budget(value: object) -> int:
    if type(value) is not int or value < 0:
        raise ValueError(f"a disk budget is a number of bytes >= 0, not {value!r}")
    return value
