"""The small pieces ``Cache`` is made of: entry states and metas, the memory-hit closure,
eviction and exit hooks. Nothing here holds a strong reference to a ``Cache``."""

from __future__ import annotations

import contextlib
import copy as _copy
import dataclasses
import sys
import time
import weakref
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

from .. import _sizes
from .._keys import CacheKey, memory_key
from .._observe import record as _record
from .._shapes import MISSING, Missing, TierStats
from .._tiers import Evicted
from .._tiers.disk import DiskTier
from .._tiers.memory import MemoryTier

if TYPE_CHECKING:
    from .._observe import Recorder
    from .._tiers.redis import RedisTier

# States of a memory entry relative to the disk tier (kept in the entry's meta).
DIRTY = 0  # write-back: only in memory so far
ON_DISK = 1  # the same value is on disk (written through, spilled, or promoted from there)
MEMORY_ONLY = 2  # the disk tier declined it (unpicklable, too large, no disk tier)

STRIPES = 64
# Bookkeeping bytes per memory entry beyond its value, for ``stats().key_bytes``: the tier's
# entry object and its slots in the data, recency and size dicts, our meta, and a small key.
# An estimate (sys.getsizeof of each part on CPython 3.11), not a measurement of each entry.
ENTRY_OVERHEAD = 400


class Meta:
    """What ``Cache`` keeps with each memory entry: its prepared key, its state relative to
    the disk tier, and the seconds its load cost (for ``saved_seconds``)."""

    __slots__ = ("cost", "key", "state")

    def __init__(self, key: CacheKey, state: int, cost: float) -> None:
        self.key = key
        self.state = state
        self.cost = cost


def no_memory(key: Hashable) -> Missing:
    return MISSING


def copy_out(value: Any) -> Any:
    np = sys.modules.get("numpy")
    if np is not None and isinstance(value, np.ndarray):
        return value.copy()
    return _copy.deepcopy(value)


def mem_key(key: Any) -> Hashable:
    t = type(key)
    if t is int or t is str:
        return key  # type: ignore[no-any-return]
    if t is tuple:
        for x in key:
            tx = type(x)
            if tx is not str and tx is not int:
                return memory_key(key)
        return key  # type: ignore[no-any-return]
    return memory_key(key)


def hit_path(cache: Any, mem_get: Callable[[Hashable], Any]) -> Callable[[Any, Any], Any]:
    """``Cache.get`` as a closure over what a memory hit needs (measured in
    benchmarks/bench_cache.py: each attribute lookup on ``self`` costs about 20 ns of a
    ~300 ns hit). It holds the cache weakly, so the cache can still be collected."""
    costs, saved, copy = cache._costs, cache._saved, cache._copy
    ref = weakref.ref(cache)

    def get(key: Any, default: Any = None) -> Any:
        t = type(key)
        if t is int or t is str:
            mk = key
        elif t is tuple:
            # A tuple of exact ints and strs is its own memory key (as _keys.memory_key).
            mk = key
            for x in key:
                tx = type(x)
                if tx is not str and tx is not int:
                    mk = memory_key(key)
                    break
        else:
            mk = memory_key(key)
        value = mem_get(mk)
        if value is MISSING:
            c = ref()
            if c is None:
                return default
            return c._get_miss(key, default)
        if costs:
            cost = costs.get(mk)
            if cost:
                saved[0] += cost
        return copy_out(value) if copy else value

    get.__doc__ = type(cache).get.__doc__
    return get


def trace_size(value: Any, charged: int | None = None) -> int:
    """The size a trace records for ``value``: what it costs once loaded.

    A memmap promoted from disk is charged almost nothing by the memory tier (it holds no
    resident data), but the advisor answers "how much memory would hold these values", and a
    loader hands back the array itself: so a memmap is recorded at its array's bytes."""
    if _sizes.is_memmap(value):
        # The bytes plus an owning array's header, exactly what sizeof charges the array a
        # loader returns: a size that changed between records would read as a new value.
        np = sys.modules["numpy"]
        header = _sizes.sizeof(np.empty((0,) * value.ndim, dtype=value.dtype))
        return int(value.nbytes) + header
    return charged if charged is not None else _sizes.sizeof(value)


def trace_hash(key: CacheKey) -> int:
    """The key's id in access traces: the leading 64 bits of its disk key, the same in every
    process and every run, so the traces of DataLoader workers or of successive runs describe
    one key space. (``hash()`` of the memory key is neither: str hashing is salted per process,
    and a decorated function's memory key holds a per-process token.) A key that never leaves
    this process's memory (a method of an unhashable instance) keeps ``hash()``."""
    try:
        return int(key.disk[:16], 16)
    except (RuntimeError, ValueError):
        return hash(key.mem)


def recording_reader(
    mem: MemoryTier, rec: Callable[[int, int, float, int], None]
) -> Callable[[Hashable], Any]:
    """The memory tier's ``get`` that also records each hit (key hash, the entry's size).

    The size comes from the tier's lane (one more dict lookup on a hit); on a free-threaded
    build, which has no lane, from the sizer."""
    get = mem.get
    lane = mem.lane()
    data: dict[Hashable, Any] | None = lane.data if lane is not None else None
    kind = _record.HIT_MEMORY

    def recording_get(key: Hashable) -> Any:
        value = get(key)
        if value is not MISSING:
            entry = data.get(key) if data is not None else None
            meta = entry.meta if entry is not None else mem.get_meta(key)
            h = trace_hash(meta.key) if isinstance(meta, Meta) else hash(key)
            rec(h, trace_size(value, entry.size if entry is not None else None), 0.0, kind)
        return value

    recording_get.__doc__ = get.__doc__
    return recording_get


def metas(mem: MemoryTier) -> list[Meta]:
    return [m for m in mem.metas() if isinstance(m, Meta)]


def replace(s: TierStats, **changes: int) -> TierStats:
    return dataclasses.replace(s, **changes)


def weak_evict(cache: Any) -> Callable[[list[Evicted]], None]:
    ref = weakref.ref(cache)

    def on_evict(entries: list[Evicted]) -> None:
        c = ref()
        if c is not None:
            c._on_evict(entries)

    return on_evict


def flush_and_close(
    mem: MemoryTier | None,
    disk: DiskTier | None,
    pending: dict[Hashable, Evicted],
    remote: RedisTier | None = None,
    recorder: Recorder | None = None,
) -> None:
    """Write-back flush: entries only memory holds go to disk; then the tiers close and the
    access trace is written out (the recorder stays open: other caches may share it)."""
    try:
        if mem is not None and disk is not None:
            now = time.time()
            for e in [*pending.values(), *mem.drain()]:
                meta = e.meta
                if not isinstance(meta, Meta) or meta.state != DIRTY or e.value is MISSING:
                    continue
                if e.expire_at is not None and e.expire_at <= now:
                    continue
                disk.set(meta.key.disk, e.value, expire_at=e.expire_at, label=meta.key.label)
            pending.clear()
    finally:
        if mem is not None:
            mem.close()
        if disk is not None:
            disk.close()
        if remote is not None:
            remote.close()
        if recorder is not None:
            with contextlib.suppress(OSError):
                recorder.flush()


def verify_inclusive(mem: MemoryTier, disk: DiskTier, repair: bool) -> tuple[list[str], int]:
    """Under write-through every memory entry marked on disk is there (while the disk tier
    has evicted nothing: its own LRU may let go of copies whose memory twin is hot)."""
    if disk.stats().evictions:
        return [], 0  # the disk tier's own LRU may have let go of cold copies
    missing = [m for m in metas(mem) if m.state == ON_DISK and m.key.disk not in disk]
    if not missing:
        return [], 0
    fixed = 0
    if repair:
        for m in missing:
            value = mem.peek(m.key.mem)
            if value is not MISSING and disk.set(m.key.disk, value, label=m.key.label):
                fixed += 1
    return [
        f"{len(missing)} memory entries written through are missing from disk "
        "(deleted by another process, or lost)"
    ], fixed


def disk_warned(disk: DiskTier | None, value: Any) -> bool:
    """Whether the disk tier has already warned that it cannot serialize ``value``'s type (so
    the cache does not say it twice)."""
    seen: set[str] = getattr(disk, "_unserializable", set())
    return f"{type(value).__module__}.{type(value).__qualname__}" in seen


def remote_expire_at(remote: RedisTier, key: str, default_ttl: float | None) -> float | None:
    """When a remote entry expires, for its promoted copies: Redis's own expiry (PEXPIRETIME,
    Redis 7), else the cache's default ttl from now."""
    from .._tiers.redis import NOMINAL_MS

    ms = remote._command("get", "pexpiretime", remote.keys.entry(key))
    if isinstance(ms, int) and ms > 0:
        if ms >= time.time() * 1000 + NOMINAL_MS // 2:
            return None  # the nominal expiry of an entry without ttl
        return ms / 1000
    return None if default_ttl is None else time.time() + default_ttl
