"""``mk.report(cache)``: what a cache's memory tier holds, by type.

The counts and bytes come from the memory tier's own accounting (``items_by_type()``: the bytes
each entry is charged against the budget), so the report adds up to ``stats()``'s figures.
With ``deep=True``, pympler's ``summary`` of the objects the values reach (bounded) shows what
containers such as dicts and lists are made of, which the per-type totals cannot.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .._cache import handle
from .._shapes import CacheStats

__all__ = ["MemoryReport", "TypeRow", "report"]

_DEEP_LIMIT = 100_000  # objects walked by deep=True: a bound on time, not a sample


@dataclasses.dataclass(frozen=True)
class TypeRow:
    """One type of value: how many entries, the bytes charged for them, their share (0..1)."""

    type: str
    count: int
    bytes: int
    share: float


@dataclasses.dataclass(frozen=True)
class MemoryReport:
    """What ``mk.report(cache)`` returns; ``str()`` is a table, ``to_dict()`` is JSON-ready."""

    name: str
    budget: int
    bytes: int
    items: int
    types: list[TypeRow]
    deep: list[TypeRow] | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (rows become dictionaries)."""
        return dataclasses.asdict(self)

    def __str__(self) -> str:
        used = f"{_human(self.bytes)} of {_human(self.budget)}" if self.budget else "tier off"
        lines = [f"memory tier of cache {self.name!r}: {self.items} items, {used}"]
        lines += _rows(self.types, "bytes charged")
        if self.deep is not None:
            lines.append("reachable from the values (pympler summary, deep sizes not charged):")
            lines += _rows(self.deep, "bytes (shallow)")
        return "\n".join(lines)

    def __rich__(self) -> Any:
        from rich.console import Group
        from rich.table import Table

        used = f"{_human(self.bytes)} of {_human(self.budget)}" if self.budget else "tier off"
        tables = []
        for title, rows in ((f"{self.name!r}: {self.items} items, {used}", self.types),
                            ("reachable from the values (pympler)", self.deep)):  # fmt: skip
            if rows is None:
                continue
            t = Table(title=title)
            for col in ("type", "count", "bytes", "share"):
                t.add_column(col, justify="left" if col == "type" else "right")
            for r in rows:
                t.add_row(r.type, f"{r.count:,}", _human(r.bytes), f"{r.share:.1%}")
            tables.append(t)
        return Group(*tables)


def _rows(rows: list[TypeRow], what: str) -> list[str]:
    out = [f"  {'type':<40} {'count':>9} {what:>16} {'share':>7}"]
    out += [f"  {r.type:<40} {r.count:>9,} {_human(r.bytes):>16} {r.share:>7.1%}" for r in rows]
    return out


def _human(n: int) -> str:
    value = float(n)
    for suffix in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.0f} {suffix}" if suffix == "B" else f"{value:.1f} {suffix}"
        value /= 1024
    return f"{value:.1f} TiB"


def _table(by_type: dict[str, tuple[int, int]]) -> list[TypeRow]:
    total = sum(b for _, b in by_type.values())
    rows = [TypeRow(t, n, b, b / total if total else 0.0) for t, (n, b) in by_type.items()]
    return sorted(rows, key=lambda r: (-r.bytes, -r.count, r.type))


def _deep(values: list[Any]) -> list[TypeRow]:
    from pympler import muppy, summary

    seen: set[int] = set()
    objs: list[Any] = []
    todo = list(values)
    while todo and len(objs) < _DEEP_LIMIT:
        o = todo.pop()
        if id(o) in seen or isinstance(o, type):
            continue
        seen.add(id(o))
        objs.append(o)
        todo.extend(muppy.get_referents(o))
    rows = summary.summarize(objs)  # type: ignore[no-untyped-call]  # [name, count, size]
    by_type = {str(name): (int(n), int(size)) for name, n, size in rows}
    return _table(by_type)[:20]


def report(cache: Any, *, deep: bool = False) -> MemoryReport:
    """What ``cache``'s memory tier holds, by type: count, bytes charged, share of the bytes.

    ``deep=True`` adds pympler's summary of the objects the values reach (up to 100,000 of
    them), e.g. what a dict of lists is made of; it costs time in proportion.
    """
    stats: CacheStats = cache.stats()
    mem = stats.tiers.get("memory")
    door = handle(cache)
    if mem is None or door.memory_tier() is None:  # off, or closed: nothing held
        return MemoryReport(stats.name, 0, 0, 0, [], [] if deep else None)
    rows = _table(door.memory_items_by_type())
    deep_rows = None
    if deep:
        deep_rows = _deep(door.memory_values())
    return MemoryReport(stats.name, mem.budget, mem.bytes, mem.items, rows, deep_rows)
