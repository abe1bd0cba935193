"""The disk tier's index: a ``diskcache.Cache`` whose rows hold sealed blobs.

diskcache owns the schema, the write transactions of ``set``/``delete``/``clear``, the per-row
expiry, the ``size``/``count`` totals (kept by its triggers) and the life of the data files a
row names (removed after the transaction that drops the row commits). We give it a ``Disk``
that stores our pre-built record as a raw blob and reports the payload's size, so
``Settings.size`` is exactly the payload bytes the tier holds.

Reads, batched access-time updates and culling run on our own per-thread SQLite connection:
``diskcache.Cache.get`` costs ~9 µs for a raw blob here, a bare indexed ``SELECT`` ~5 µs,
which leaves room for the MAC check inside diskcache's own time (benchmarks/bench_disk.py).
"""

from __future__ import annotations

import contextlib
import os
import os.path as op
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import diskcache
from diskcache.core import MODE_RAW

from .files import DATA_DIR, is_data_name

__all__ = [
    "drop_row",
    "record_atimes",
    "write_atimes",
    "DiskEntry",
    "entries",
    "entry_rows",
    "DBNAME",
    "IndexDisk",
    "Record",
    "SQL_ATIME",
    "SQL_BY_AGE",
    "SQL_EXPIRE",
    "SQL_GET",
    "SQL_TOTALS",
    "connect",
    "open_index",
]

DBNAME = "cache.db"
TIMEOUT = 10.0

SQL_GET = (
    "SELECT value, expire_time FROM Cache"
    " WHERE key = ? AND raw = 1 AND (expire_time IS NULL OR expire_time > ?)"
)
SQL_EXPIRE = "SELECT expire_time FROM Cache WHERE key = ? AND raw = 1"
SQL_ATIME = "UPDATE Cache SET access_time = ? WHERE key = ? AND raw = 1 AND access_time < ?"
SQL_BY_AGE = "SELECT rowid, size, filename FROM Cache ORDER BY access_time, rowid LIMIT ?"
SQL_EXPIRED = (
    "SELECT rowid, size, filename FROM Cache"
    " WHERE expire_time IS NOT NULL AND expire_time <= ? LIMIT 1000"
)
SQL_TOTALS = "SELECT key, value FROM Settings WHERE key IN ('size', 'count')"


class Record(NamedTuple):
    """What the tier hands to ``diskcache.Cache.set``: the sealed blob, the payload size, and
    the data file the row owns (``data/<name>``) or None."""

    blob: bytes
    size: int
    filename: str | None


class IndexDisk(diskcache.Disk):  # type: ignore[misc]
    """Stores :class:`Record` values; removes only files whose names this tier writes."""

    def store(self, value: Any, read: bool, key: Any = None) -> tuple[int, int, str | None, Any]:
        if type(value) is not Record:
            raise TypeError("the disk tier's index only stores Record values")
        return value.size, MODE_RAW, value.filename, sqlite3.Binary(value.blob)

    def fetch(self, mode: int, filename: str | None, value: Any, read: bool) -> Any:
        return bytes(value) if value is not None else None

    def remove(self, file_path: str) -> None:
        # The filename column is not authenticated: a planted row must not be able to make us
        # delete ``../../something``; only names this tier generates are ever removed.
        remove_data_file(self._directory, file_path)


def remove_data_file(directory: str, file_path: str | None) -> None:
    """Unlink ``<directory>/data/<name>`` if ``file_path`` is ``data/<a name we write>``."""
    if not file_path:
        return
    head, _, name = file_path.partition("/")
    if head != DATA_DIR or not is_data_name(name):
        return
    with contextlib.suppress(OSError):
        os.unlink(op.join(directory, DATA_DIR, name))


def make_private(directory: Path) -> None:
    """Create the index file 0600 before SQLite does (it would use the umask, 0644 by default;
    its -wal and -shm files take the database file's mode), and take group and other bits off
    an index an earlier version created."""
    for name in (DBNAME, DBNAME + "-wal", DBNAME + "-shm"):
        flags = os.O_RDWR | os.O_NOFOLLOW | (os.O_CREAT if name == DBNAME else 0)
        try:
            fd = os.open(directory / name, flags, 0o600)
        except FileNotFoundError:
            continue
        try:
            if os.fstat(fd).st_mode & 0o077:
                os.fchmod(fd, 0o600)
        finally:
            os.close(fd)


def open_index(directory: Path, *, strict: bool) -> diskcache.Cache:
    """Open (creating) the diskcache index with every setting given explicitly.

    diskcache persists settings in the store and re-applies them to later openers; passing all
    of them each time keeps a past caller's choice from silently coming back.
    """
    return diskcache.Cache(
        str(directory),
        timeout=TIMEOUT,
        disk=IndexDisk,
        eviction_policy="none",  # we cull by access time ourselves, see DiskTier._cull
        size_limit=2**62,
        cull_limit=10,  # expired rows removed per set
        statistics=0,
        tag_index=0,
        sqlite_synchronous=2 if strict else 1,
        sqlite_journal_mode="wal",
        sqlite_mmap_size=2**26,
        sqlite_cache_size=2**13,
        disk_min_file_size=2**31,
        disk_pickle_protocol=5,
    )


def connect(directory: Path, *, strict: bool) -> sqlite3.Connection:
    """A connection of our own to the index (autocommit; transactions are explicit)."""
    con = sqlite3.connect(
        str(directory / DBNAME), timeout=TIMEOUT, isolation_level=None, check_same_thread=False
    )
    con.execute(f"PRAGMA synchronous = {2 if strict else 1}")
    con.execute("PRAGMA mmap_size = 67108864")
    return con


def prepare_schema(con: sqlite3.Connection) -> None:
    """The access-time index our culling needs (diskcache only makes it for its LRU policy)."""
    con.execute("CREATE INDEX IF NOT EXISTS Cache_access_time ON Cache (access_time)")


def totals(con: sqlite3.Connection) -> tuple[int, int]:
    """(payload bytes, rows) as diskcache's triggers keep them."""
    found = dict(con.execute(SQL_TOTALS).fetchall())
    return int(found.get("size", 0)), int(found.get("count", 0))


class Evicted(NamedTuple):
    rows: int
    size: int
    files: list[str]


def cull(con: sqlite3.Connection, target: int, now: float) -> Evicted:
    """Inside an open transaction: drop expired rows, then least-recently-used rows until the
    payload bytes are at most ``target``. Returns what went (files to unlink after COMMIT)."""
    files: list[str] = []
    dropped = 0
    freed = 0
    expired = con.execute(SQL_EXPIRED, (now,)).fetchall()
    while expired:
        con.executemany("DELETE FROM Cache WHERE rowid = ?", [(r[0],) for r in expired])
        dropped += len(expired)
        freed += sum(r[1] for r in expired)
        files.extend(r[2] for r in expired if r[2])
        expired = con.execute(SQL_EXPIRED, (now,)).fetchall()
    size, _ = totals(con)
    while size > target:
        rows = con.execute(SQL_BY_AGE, (256,)).fetchall()
        if not rows:
            break
        victims = []
        for rowid, row_size, filename in rows:
            if size <= target:
                break
            victims.append((rowid,))
            size -= row_size
            freed += row_size
            if filename:
                files.append(filename)
        con.executemany("DELETE FROM Cache WHERE rowid = ?", victims)
        dropped += len(victims)
    return Evicted(dropped, freed, files)


class DiskEntry(NamedTuple):
    """One row, as ``entries()`` lists it (for ``memcache-kit ls``)."""

    key: str
    label: str
    size: int
    stored_at: float
    last_access: float
    expire_at: float | None


def entry_rows(con: sqlite3.Connection) -> list[Any]:
    return con.execute(
        "SELECT key, tag, size, store_time, access_time, expire_time FROM Cache"
        " WHERE raw = 1 ORDER BY access_time, rowid"
    ).fetchall()


def entries(rows: list[Any]) -> Iterator[DiskEntry]:
    for key, tag, size, stored, access, expire in rows:
        if isinstance(key, str):
            yield DiskEntry(key, tag if isinstance(tag, str) else "", size, stored, access, expire)


def record_atimes(con: sqlite3.Connection, pending: dict[str, float]) -> None:
    """Write access times inside the caller's transaction (a time only moves forward)."""
    if pending:
        con.executemany(SQL_ATIME, [(t, k, t) for k, t in pending.items()])


def write_atimes(con: sqlite3.Connection, pending: dict[str, float], *, wait: bool) -> None:
    """Write access times in a transaction of their own; ``wait=False`` gives up at once when
    another writer holds the lock (``sqlite3.OperationalError``)."""
    if not wait:
        con.execute("PRAGMA busy_timeout = 0")
    try:
        con.execute("BEGIN IMMEDIATE")
    finally:
        if not wait:
            con.execute(f"PRAGMA busy_timeout = {int(TIMEOUT * 1000)}")
    try:
        record_atimes(con, pending)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def drop_row(con: sqlite3.Connection, key: str, blob: Any) -> list[str | None]:
    """Delete ``key``'s row only if it still holds ``blob`` (a newer write stays); the data
    files the dropped rows named."""
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
    return [filename for _, filename in rows]
