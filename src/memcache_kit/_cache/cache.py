"""``Cache``: a stack of tiers (memory → disk → remote) with single flight and statistics.

Flow (design "How data flows"): lookups go memory → disk → remote; a hit below is promoted
(copied) into the tiers above it and stays where it was. Writes go to memory and, by default,
through to disk at once; with ``write_through=False`` a value reaches disk when the memory tier
evicts it (a *spill*) and when the cache is closed or collected or the interpreter exits. The
remote tier (Redis) is always written through: it exists to share values between machines.

Single flight: threads and tasks of the process share one loader run per key (``flight``);
when the cache shares a tier with other processes, the run's leader also takes the key's
cross-process lock (Redis lease lock, or a lock file in the cache directory) and looks below
again before it loads (``loading``).

The class is assembled from parts by concept over one declared state (``state``): ``tiers``,
``lookups``, ``writes``, ``loading`` and ``aio``; this module holds the constructor, the public
API and observing. The fronts reach it only through that API and ``door.Handle``.

Locks: the memory tier has its own lock and never does I/O under it. ``Cache`` adds 64 striped
per-key locks that order the writes, deletes, promotions and spills of one key across threads,
so that a slow disk write can never publish an older value over a newer one. Spills are queued
while the thread holds a stripe and run after it lets go, so stripes never nest.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

from .._keys import make_key
from .._observe import stats as _observe
from .._shapes import MISSING, USE_DEFAULT, CacheStats, TierStats, UseDefault, VerifyReport
from .._tiers import Evicted
from .._tiers.disk import DiskTier
from .._tiers.memory import MemoryTier
from .._tiers.redis import RedisTier
from . import options as env
from .aio import AsyncMixin
from .flight import Flight
from .loading import Loading
from .lookups import Lookups
from .parts import ENTRY_OVERHEAD, STRIPES, copy_out, mem_key, no_memory, replace, verify_inclusive
from .tiers import Tiers
from .writes import Writes

__all__ = ["Cache"]

log = logging.getLogger("memcache_kit")
_DEBUG = logging.DEBUG

T = TypeVar("T")
Size = int | str | None
TTL = float | int | str | None


class Cache(Tiers, Lookups, Loading, Writes, AsyncMixin):
    """A named stack of tiers, each with a byte budget (ints are bytes; strings are parsed).

    ``memory`` and ``disk`` are budgets (``0`` or ``None`` turns a tier off); ``directory``
    defaults to ``<user cache dir>/memcache_kit/<name>``. ``remote`` is a Redis URL shared by
    every process and machine that uses the cache's name (``remote_budget``: its bytes, None for
    the server's ``maxmemory`` alone; ``remote_timeout``: seconds per Redis call). ``record``
    (True or a path) appends an access trace for the advisor. See ``docs/caches.md``.
    """

    def __init__(
        self,
        name: str = "default",
        memory: Size = "256MiB",
        disk: Size = "1GiB",
        *,
        directory: str | Path | None = None,
        ttl: TTL = None,
        serializer: str = "pickle",
        copy: bool = False,
        write_through: bool = True,
        spill: bool = True,
        durability: Literal["fast", "strict"] = "fast",
        verify_arrays: bool = False,
        allow_shared_directory: bool = False,
        network_filesystem: Literal["memory-only", "allow"] = "memory-only",
        lock_timeout: float = 60.0,
        policy: Literal["lru"] = "lru",
        record: bool | str | Path = False,
        remote: str | None = None,
        remote_budget: Size = None,
        remote_timeout: float = 0.5,
    ) -> None:
        env.check_options(
            name=name,
            policy=policy,
            record=record,
            durability=durability,
            network_filesystem=network_filesystem,
            lock_timeout=lock_timeout,
            copy=copy,
            write_through=write_through,
            spill=spill,
            verify_arrays=verify_arrays,
            allow_shared_directory=allow_shared_directory,
        )
        self._name = name
        self._named = False  # the registry's instance of this name (set by the registry)
        self._directory = (
            Path(directory).expanduser().absolute()
            if directory is not None
            else env.default_directory(name)
        )
        self._memory_bytes = env.budget(memory, "memory")
        self._disk_bytes = env.budget(disk, "disk", self._directory)
        self._ttl = env.ttl_seconds(ttl)
        self._serializer = serializer
        self._copy = copy
        self._write_through = write_through
        self._spill = spill
        self._durability: Literal["fast", "strict"] = durability
        self._verify_arrays = verify_arrays
        self._allow_shared = allow_shared_directory
        self._network_filesystem = network_filesystem
        self._lock_timeout = float(lock_timeout)
        self._remote_url = env.check_remote(remote, remote_timeout)
        self._remote_bytes = env.remote_budget(remote_budget, self._remote_url)
        self._remote_timeout = float(remote_timeout)
        self._record = record
        self._rec: Callable[[int, int, float, int], None] | None = None
        self._on_network = False
        if self._disk_bytes and network_filesystem == "memory-only":
            fstype = env.filesystem_type(self._directory)
            if fstype in env.NETWORK_FILESYSTEMS:
                env.warn_network_filesystem(name, self._directory, fstype)
                self._on_network = True
        self._flight = Flight()
        self._stripes = [threading.Lock() for _ in range(STRIPES)]
        self._versions = [0] * STRIPES
        self._tls = threading.local()
        self._pending: dict[Hashable, Evicted] = {}  # evicted, on their way to disk
        self._costs: dict[Hashable, float] = {}  # load seconds of memory entries that cost any
        # Load seconds of entries this process loaded that now live only below memory, so a
        # disk hit is credited with the load it saved too (bounded: see _remember_below).
        self._below_costs: OrderedDict[Hashable, float] = OrderedDict()
        self._stat_lock = threading.Lock()
        self._loads = 0
        self._load_seconds = 0.0
        self._saved = [0.0]  # a cell the hit path adds to without a reference to self
        self._spills = 0
        self._promotions = 0
        self._disk_promotions = 0
        self._warned: set[str] = set()
        self._memory: MemoryTier | None = None
        self._disk: DiskTier | None = None
        self._remote: RedisTier | None = None
        self._mem_get: Callable[[Hashable], Any] = no_memory
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._closed = False
        self._recorder = env.recorder(record, self._directory)
        if self._recorder is not None:
            self._rec = self._recorder.record
        self._open()
        env.on_fork(self)
        _observe.register(self)  # per-process statistics files, for `memcache-kit stats DIR`

    # -- opening and closing ---------------------------------------------------------------

    def __enter__(self) -> Cache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _reset_after_fork(self) -> None:
        # Threads of the parent do not exist here: their loads and held stripes never finish.
        self._flight.after_fork()
        self._stripes = [threading.Lock() for _ in range(STRIPES)]
        self._tls = threading.local()
        self._stat_lock = threading.Lock()

    def __reduce__(self) -> tuple[Any, ...]:
        # The resolved settings, never the contents: the receiver builds its own memory tier
        # and opens the same disk directory.
        return (_rebuild, (self._name, self._settings(), self._named))

    def _settings(self) -> dict[str, Any]:
        return {
            "memory": self._memory_bytes,
            "disk": self._disk_bytes,
            "directory": str(self._directory),
            "ttl": self._ttl,
            "serializer": self._serializer,
            "copy": self._copy,
            "write_through": self._write_through,
            "spill": self._spill,
            "durability": self._durability,
            "verify_arrays": self._verify_arrays,
            "allow_shared_directory": self._allow_shared,
            "network_filesystem": self._network_filesystem,
            "lock_timeout": self._lock_timeout,
            "record": self._record,
            "remote": self._remote_url,
            "remote_budget": self._remote_bytes
            if self._remote_url is None or self._remote_bytes != env.UNLIMITED
            else None,
            "remote_timeout": self._remote_timeout,
        }

    def __repr__(self) -> str:
        remote = f", remote={self._remote_url!r}" if self._remote_url is not None else ""
        return (
            f"Cache({self._name!r}, memory={self.memory_budget}, disk={self.disk_budget}, "
            f"directory={str(self._directory)!r}{remote})"
        )

    # -- properties ------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name

    @property
    def directory(self) -> Path:
        """The disk tier's directory (even when the disk tier is off)."""
        return self._directory

    # -- the public API --------------------------------------------------------------------

    def get(self, key: Any, default: Any = None) -> Any:
        """The value for ``key``, or ``default``. A memory hit returns the stored object.

        (Each instance replaces this method with the closure ``_hit_path`` builds, which does
        the same with fewer attribute lookups; this body is its reference.)
        """
        mk = mem_key(key)
        value = self._mem_get(mk)
        if value is MISSING:
            return self._get_miss(key, default)
        if self._costs:
            self._credit(mk)
        return copy_out(value) if self._copy else value

    def _get_miss(self, key: Any, default: Any) -> Any:
        ckey = make_key(key)
        value = self._get_below(ckey)
        if value is MISSING:
            self._missed(ckey)
            return default
        return value

    def __getitem__(self, key: Any) -> Any:
        value = self.get(key, MISSING)
        if value is MISSING:
            raise KeyError(key)
        return value

    def __setitem__(self, key: Any, value: Any) -> None:
        self._set(make_key(key), value)

    def __delitem__(self, key: Any) -> None:
        if not self._delete(make_key(key)):
            raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        mk = mem_key(key)
        mem = self._memory
        if mem is not None and mk in mem:
            return True
        if mk in self._pending:
            return True
        self._check_open()
        disk, remote = self._disk, self._remote
        if disk is None and remote is None:
            return False
        dk = make_key(key).disk
        return (disk is not None and dk in disk) or (remote is not None and dk in remote)

    def set(self, key: Any, value: Any, ttl: TTL | UseDefault = USE_DEFAULT) -> None:
        """Store ``value`` (ttl omitted: the cache's default; ``None``: never expires)."""
        self._set(make_key(key), value, ttl)

    def delete(self, key: Any) -> bool:
        """Remove ``key`` from every tier; whether any tier held it."""
        return self._delete(make_key(key))

    def get_or_load(
        self, key: Any, loader: Callable[[], T], ttl: TTL | UseDefault = USE_DEFAULT
    ) -> T:
        """The cached value, or ``loader()``'s, stored; one ``loader()`` per key at a time."""
        mk = mem_key(key)
        value = self._mem_get(mk)
        if value is MISSING:
            return self._get_or_load(make_key(key), loader, ttl, memory_checked=True)
        if self._costs:
            self._credit(mk)
        return cast(T, copy_out(value) if self._copy else value)

    def clear(self) -> None:
        """Remove every entry from every tier."""
        self._check_open()
        # Every stripe: a write or promotion that already reached disk must not publish its
        # memory copy (marked "on disk") after the disk was cleared; the versions it bumps
        # turn a disk read in flight away from promoting what was cleared.
        with self._all_stripes():
            mem, disk, remote = self._memory, self._disk, self._remote
            if mem is not None:
                mem.clear()
            self._pending.clear()
            self._costs.clear()
            self._below_costs.clear()
            if disk is not None:
                disk.clear()
            if remote is not None:
                remote.clear()  # this cache's namespace only

    # -- the internal API (decorators, proxies, datasets) ----------------------------------

    # -- the machinery ---------------------------------------------------------------------

    # -- observing -------------------------------------------------------------------------

    def stats(self) -> CacheStats:
        """Per-tier counters, loads, seconds spent loading and saved by hits, bookkeeping."""
        tiers: dict[str, TierStats] = {}
        mem, disk, remote = self._memory, self._disk, self._remote
        if mem is not None:
            s = mem.stats()
            tiers["memory"] = replace(s, spills=self._spills, promotions=self._promotions)
        if disk is not None:
            d = disk.stats()
            tiers["disk"] = replace(d, promotions=d.promotions + self._disk_promotions)
        if remote is not None:
            tiers["remote"] = remote.stats()
        items = tiers["memory"].items if "memory" in tiers else 0
        return CacheStats(
            name=self._name,
            tiers=tiers,
            loads=self._loads,
            load_seconds=self._load_seconds,
            saved_seconds=self._saved[0],
            key_bytes=items * ENTRY_OVERHEAD + len(self._costs) * 100,
        )

    def verify(self, repair: bool = False) -> VerifyReport:
        """Every tier's own checks, plus: under write-through every memory entry is on disk."""
        self._check_open()
        problems: list[str] = []
        repaired = 0
        details: dict[str, dict[str, Any]] = {}
        mem, disk, remote = self._memory, self._disk, self._remote
        tiers: tuple[tuple[str, Any], ...] = (("memory", mem), ("disk", disk), ("remote", remote))
        for tier_name, tier in tiers:
            if tier is None:
                continue
            p, r, d = tier.verify(repair)
            problems += [f"{tier_name}: {x}" for x in p]
            repaired += r
            details[tier_name] = d
        if mem is not None and disk is not None and self._write_through:
            p, r = verify_inclusive(mem, disk, repair)
            problems += p
            repaired += r
        return VerifyReport(ok=not problems, problems=problems, repaired=repaired, tiers=details)


# Installed by the registry, which this module may not import: turns a named cache unpickled
# in another process (a spawned worker) into that process's instance of the name.
_adopter: list[Callable[[str, dict[str, Any]], Cache]] = []


def set_adopter(adopt: Callable[[str, dict[str, Any]], Cache]) -> None:
    """Let the registry of named caches adopt a named cache unpickled in this process."""
    _adopter[:] = [adopt]


def _rebuild(name: str, settings: dict[str, Any], named: bool = False) -> Cache:
    if named and _adopter:
        return _adopter[0](name, settings)
    return Cache(name, **settings)
