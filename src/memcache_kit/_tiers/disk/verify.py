"""``DiskTier.verify``: index ↔ files ↔ totals ↔ budget, and repair (drop what is wrong).

Checked: every row authenticates and is of this format; a row's data file exists, is a regular
file (not a symlink) of the recorded length and is the file its blob names; the row's size is
the recorded payload size; no data file is unreferenced (an orphan a killed writer left);
diskcache's ``size``/``count`` totals equal the rows; the bytes held fit the budget; SQLite's
``quick_check`` passes. With ``repair=True`` bad rows and orphans are removed, totals are
rewritten and the budget enforced; the count of repairs is returned.
"""

from __future__ import annotations

import json
import sqlite3
import stat
from pathlib import Path
from typing import Any, Protocol

from ..._serial import SealError, Signer
from ..base import Degradable
from . import index as ix
from .files import DATA_DIR, FileStore, is_data_name, writer_gone


class Tier(Degradable, Protocol):
    """What verification reads of the tier (``tier.DiskTier`` is one: it hands itself over;
    a protocol here, since the tier imports this module)."""

    directory: Path

    @property
    def _files(self) -> FileStore: ...
    @property
    def _signer(self) -> Signer: ...
    def _con(self) -> sqlite3.Connection: ...
    def _cull(self, target: int) -> None: ...
    def _flush(self, *, wait: bool = True) -> None: ...


__all__ = ["sweep_orphans", "verify"]


def _row_problem(
    tier: Tier, key: Any, raw: int, size: int, filename: Any, blob: Any
) -> tuple[str | None, str | None]:
    """(problem or None, data file name the row legitimately owns or None)."""
    if not raw or not isinstance(key, str):
        return f"row with a non-string key {key!r}", None
    if blob is None:
        return f"entry {key}: no blob", None
    try:
        sealed = tier._signer.unseal(blob, key=key)
    except SealError as exc:
        return f"entry {key}: {exc.kind} ({exc})", None
    if not sealed.meta:
        if filename is not None:
            return f"entry {key}: inline entry also names file {filename!r}", None
        if size != len(sealed.payload):
            return f"entry {key}: recorded size {size} != payload {len(sealed.payload)}", None
        return None, None
    try:
        info = json.loads(sealed.meta)
        name, length = info["f"], int(info["n"])
    except (ValueError, KeyError, TypeError):
        return f"entry {key}: unreadable metadata", None
    if not is_data_name(name) or filename != f"{DATA_DIR}/{name}":
        return f"entry {key}: file column {filename!r} does not match its blob ({name!r})", None
    try:
        st = tier._files.lstat(name)
    except FileNotFoundError:
        return f"entry {key}: data file {name} is missing", None
    if not stat.S_ISREG(st.st_mode):
        return f"entry {key}: data file {name} is not a regular file", name
    if st.st_size != length:
        return f"entry {key}: data file {name} has {st.st_size} bytes, recorded {length}", name
    if size != length:
        return f"entry {key}: row size {size} != file size {length}", name
    return None, name


def verify(tier: Tier, repair: bool) -> tuple[list[str], int, dict[str, Any]]:
    problems: list[str] = []
    repaired = 0
    details: dict[str, Any] = {
        "directory": str(tier.directory),
        "budget": tier.budget,
        "degraded": tier.degraded,
        "bad_entries": tier.bad_entries,
        "faults": tier.faults,
    }
    try:
        tier._flush()
        con = tier._con()
        (check,) = con.execute("PRAGMA quick_check").fetchone()
        if check != "ok":
            problems.append(f"index database: quick_check says {check}")
        # One read transaction: rows and totals from the same snapshot, whatever other
        # processes write meanwhile.
        con.execute("BEGIN")
        try:
            rows = con.execute(
                "SELECT rowid, key, raw, size, filename, value FROM Cache"
            ).fetchall()
            snapshot = ix.totals(con)
        finally:
            con.execute("COMMIT")
        bad_rows: list[tuple[int, Any]] = []
        owned: set[str] = set()
        total = 0
        for rowid, key, raw, size, filename, blob in rows:
            problem, name = _row_problem(tier, key, raw, size, filename, blob)
            if problem is None:
                total += size
                if name is not None:
                    owned.add(name)
            else:
                problems.append(problem)
                bad_rows.append((rowid, name))
        if repair and bad_rows:
            con.execute("BEGIN IMMEDIATE")
            try:
                con.executemany("DELETE FROM Cache WHERE rowid = ?", [(r,) for r, _ in bad_rows])
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            for _, name in bad_rows:
                if name is not None:
                    tier._files.unlink(name)
            repaired += len(bad_rows)
        orphans, strays = _scan_files(tier, owned)
        for name in orphans:
            problems.append(f"orphan data file {name} (no entry points to it)")
        for name in strays:
            problems.append(f"unexpected file {DATA_DIR}/{name} in the cache directory")
        if repair:
            for name in orphans + strays:
                if tier._files.unlink(name):
                    repaired += 1
        size, count = snapshot
        if repair and bad_rows:
            size, count = ix.totals(con)
        live_rows = len(rows) - (len(bad_rows) if repair else 0)
        live_size = total + (0 if repair else sum(_sizes(rows, bad_rows)))
        if size != live_size or count != live_rows:
            problems.append(
                f"totals: index says {size} bytes in {count} entries, rows hold {live_size} "
                f"bytes in {live_rows}"
            )
            if repair:
                con.execute("BEGIN IMMEDIATE")
                con.execute("UPDATE Settings SET value = ? WHERE key = 'size'", (live_size,))
                con.execute("UPDATE Settings SET value = ? WHERE key = 'count'", (live_rows,))
                con.execute("COMMIT")
                repaired += 1
        size, count = ix.totals(con)
        if size > tier.budget:
            problems.append(f"budget exceeded: {size} bytes held, budget {tier.budget}")
            if repair:
                tier._cull(tier.budget)
                repaired += 1
                size, count = ix.totals(con)
        details.update(
            items=count, bytes=size, files=len(owned), orphans=len(orphans) + len(strays)
        )
    except tier_faults() as exc:
        problems.append(f"disk tier unavailable: {type(exc).__name__}: {exc}")
    return problems, repaired, details


def _sizes(rows: list[Any], bad_rows: list[tuple[int, Any]]) -> list[int]:
    bad = {r for r, _ in bad_rows}
    return [row[3] or 0 for row in rows if row[0] in bad]


def _scan_files(tier: Tier, owned: set[str]) -> tuple[list[str], list[str]]:
    """(orphans: our names no row owns and no live writer is about to, strays: other names)."""
    orphans: list[str] = []
    strays: list[str] = []
    for name in tier._files.listdir():
        if name in owned:
            continue
        if not is_data_name(name, temp=None):
            try:
                st = tier._files.lstat(name)
            except FileNotFoundError:
                continue
            if not stat.S_ISDIR(st.st_mode):
                strays.append(name)
            continue
        try:
            mtime = tier._files.lstat(name).st_mtime
        except FileNotFoundError:
            continue
        if writer_gone(name, mtime):
            orphans.append(name)
    return orphans, strays


def sweep_orphans(tier: Tier) -> int:
    """Remove data files no row owns whose writer is gone (after ``clear``)."""
    con = tier._con()
    owned = {
        f.partition("/")[2]
        for (f,) in con.execute("SELECT filename FROM Cache WHERE filename IS NOT NULL")
    }
    orphans, _ = _scan_files(tier, owned)
    return sum(tier._files.unlink(name) for name in orphans)


def tier_faults() -> tuple[type[BaseException], ...]:
    import diskcache

    return (OSError, sqlite3.Error, diskcache.Timeout)
