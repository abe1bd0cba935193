"""Checking and summarizing what the memory tier holds: ``problems`` (bytes accounted against
the entries' sizes, the recency and size indexes against the data, the memmap index and its
bound, the budget), ``rebuild`` (make the bookkeeping agree with the data again) and
``by_type`` (what ``mk.report`` shows). Called by the tier under its lock."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Any, Protocol

from .hit import _LAST, Entry

__all__ = ["by_type", "problems", "rebuild"]


class Store(Protocol):
    """What these checks read of the tier (``MemoryTier`` is one; a protocol here, since the
    tier imports this module)."""

    _data: dict[Hashable, Entry]
    _order: OrderedDict[Hashable, None]
    _lru: Any  # cachetools' LRUCache: its size index and totals are checked and rebuilt
    _memmaps: dict[Hashable, Entry]
    _max_memmaps: int

    def _remove(self, key: Hashable, entry: Entry) -> None: ...


def problems(t: Store) -> list[str]:
    """What disagrees in the tier's bookkeeping (empty: all is well)."""
    found: list[str] = []
    data, order, lru = t._data, t._order, t._lru
    sizes: dict[Hashable, int] = vars(lru)["_Cache__size"]
    # list() first: hashing keys may run Python code while readers move_to_end.
    data_keys, order_keys, size_keys = set(data), set(list(order)), set(sizes)
    if data_keys != order_keys:
        found.append(
            f"recency index differs from data: {len(order_keys - data_keys)} stale, "
            f"{len(data_keys - order_keys)} missing"
        )
    if data_keys != size_keys:
        found.append(f"size index differs from data ({len(size_keys ^ data_keys)} keys)")
    bad_sizes = sum(1 for k, e in data.items() if sizes.get(k) != e.size)
    if bad_sizes:
        found.append(f"{bad_sizes} entries' recorded sizes differ from their own")
    held = sum(e.size for e in data.values())
    if lru.currsize != held:
        found.append(f"bytes accounted {lru.currsize} != sum of entry sizes {held}")
    mm = {k for k, e in data.items() if e.memmap}
    if mm != set(t._memmaps):
        found.append(f"memmap index holds {len(t._memmaps)}, data holds {len(mm)}")
    if len(mm) > t._max_memmaps:
        found.append(f"{len(mm)} memmaps held, bound is {t._max_memmaps}")
    if held > lru.maxsize:
        found.append(f"{held} bytes held exceed the budget {lru.maxsize}")
    return found


def rebuild(t: Store) -> int:
    """Make cachetools' indexes and the memmap index agree with the data dict (under the
    tier's lock); how many things were fixed. What it evicts waits in ``t._lru.evicted``."""
    data, order = t._data, t._order
    sizes: dict[Hashable, int] = vars(t._lru)["_Cache__size"]
    fixed = 0
    _LAST[0] = None  # the order may change below
    # list(order) first: lock-free readers may move_to_end while we look.
    for k in [k for k in list(order) if k not in data]:
        del order[k]
        fixed += 1
    for k in [k for k in data if k not in order]:
        order[k] = None
        fixed += 1
    for k in [k for k in sizes if k not in data]:
        del sizes[k]
        fixed += 1
    for k, e in data.items():
        if sizes.get(k) != e.size:
            sizes[k] = e.size
            fixed += 1
    total = sum(sizes.values())
    if t._lru.currsize != total:
        t._lru._Cache__currsize = total
        fixed += 1
    memmaps = {k: e for k, e in data.items() if e.memmap}
    if memmaps.keys() != t._memmaps.keys():
        t._memmaps = memmaps
        fixed += 1
    while t._lru.currsize > t._lru.maxsize:
        t._lru.popitem()
    while len(t._memmaps) > t._max_memmaps:
        k, e = min(t._memmaps.items(), key=lambda kv: kv[1].tick)
        t._remove(k, e)
        t._lru.evicted.append((k, e))
    return fixed


def by_type(entries: list[Entry]) -> dict[str, tuple[int, int]]:
    """Type name -> (count, bytes) of ``entries``, largest first."""
    out: dict[str, list[int]] = {}
    for e in entries:
        t = type(e.value)
        name = t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"
        acc = out.setdefault(name, [0, 0])
        acc[0] += 1
        acc[1] += e.size
    ranked = sorted(out.items(), key=lambda kv: (-kv[1][1], kv[0]))
    return {name: (n, b) for name, (n, b) in ranked}
