"""``Cache``: a stack of tiers (memory → disk → remote) with single flight and statistics.

Flow (design "How data flows"): lookups go memory → disk → remote; a hit below is promoted
(copied) into the tiers above it and stays where it was. Writes go to memory and, by default,
through to disk at once; with ``write_through=False`` a value reaches disk when the memory tier
evicts it (a *spill*) and when the cache is closed or collected or the interpreter exits. The
remote tier (Redis) is always written through: it exists to share values between machines.

Single flight: threads and tasks of the process share one loader run per key (``_flight``);
when the cache shares a tier with other processes, the run's leader also takes the key's
cross-process lock (Redis lease lock, or a lock file in the cache directory) and looks below
again before it loads.

The front (decorators, proxies, datasets) calls the ``CacheKey`` methods (``_get``, ``_set``,
``_delete``, ``_get_or_load``, ``_aget_or_load``) and reads, for its own hit path,
``_memory``, ``_mem_get`` (the memory tier's ``get``, or a function that always misses),
``_copy``, ``_costs`` with ``_credit``, the ``_saved`` cell and ``_expire_at``: keep them.

Locks: the memory tier has its own lock and never does I/O under it. ``Cache`` adds 64 striped
per-key locks that order the writes, deletes, promotions and spills of one key across threads,
so that a slow disk write can never publish an older value over a newer one. Spills are queued
while the thread holds a stripe and run after it lets go, so stripes never nest.
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

from .. import _sizes
from .._errors import CacheWarning, ConfigError
from .._keys import CacheKey, make_key
from .._observe import record as _record
from .._observe import stats as _observe
from .._shapes import (
    MISSING,
    USE_DEFAULT,
    CacheStats,
    Missing,
    TierStats,
    UseDefault,
    VerifyReport,
)
from .._tiers import Evicted
from .._tiers.disk import DiskTier
from .._tiers.memory import MemoryTier
from .._tiers.redis import RedisTier
from . import options as env
from .aio import AsyncMixin
from .flight import (
    Abandoned,
    Flight,
    SharedLock,
    shared_lock,
)
from .parts import (
    DIRTY,
    ENTRY_OVERHEAD,
    MEMORY_ONLY,
    ON_DISK,
    STRIPES,
    Meta,
    copy_out,
    disk_warned,
    flush_and_close,
    hit_path,
    mem_key,
    no_memory,
    recording_reader,
    remote_expire_at,
    replace,
    trace_hash,
    trace_size,
    verify_inclusive,
    weak_evict,
)
from .spill import SpillMixin

__all__ = ["Cache"]

log = logging.getLogger("memcache_kit")
_DEBUG = logging.DEBUG

T = TypeVar("T")
Size = int | str | None
TTL = float | int | str | None


class Cache(SpillMixin, AsyncMixin):
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

    def _open(self) -> None:
        # Spills and promotions are the memory tier's counters: they restart with it.
        self._spills = self._promotions = 0
        if self._memory_bytes:
            self._set_memory_tier(MemoryTier(self._memory_bytes, on_evict=weak_evict(self)))
        if self._disk_bytes and not self._on_network:
            self._disk = DiskTier(
                self._directory,
                self._disk_bytes,
                serializer=self._serializer,
                durability=self._durability,
                verify_arrays=self._verify_arrays,
                allow_shared_directory=self._allow_shared,
            )
        if self._remote_url is not None and self._remote_bytes:
            self._remote = self._open_remote()
        self._arm()
        self._closed = False

    def _open_remote(self) -> RedisTier:
        assert self._remote_url is not None
        try:
            return RedisTier(
                self._remote_url,
                self._remote_bytes,
                namespace=self._name,
                timeout=self._remote_timeout,
                serializer=self._serializer,
            )
        except ConfigError as e:
            raise ConfigError(f"cache {self._name!r} (remote={self._remote_url!r}): {e}") from None

    def _set_memory_tier(self, tier: MemoryTier | None) -> None:
        self._memory = tier
        mem_get: Callable[[Hashable], Any] = tier.get if tier is not None else no_memory
        if self._rec is not None and tier is not None:
            # Only a recording cache pays for recording on its hit path.
            mem_get = recording_reader(tier, self._rec)
        self._mem_get = mem_get
        self.get = hit_path(self, self._mem_get)  # type: ignore[method-assign,assignment]

    def _arm(self) -> None:
        """(Re)register the flush that runs at close, at garbage collection or at exit."""
        if self._finalizer is not None:
            self._finalizer.detach()
        self._finalizer = weakref.finalize(
            self, flush_and_close, self._memory, self._disk, self._pending, self._remote,
            self._recorder,
        )  # fmt: skip

    def _reopen(self) -> None:
        with self._stat_lock:
            if self._closed:
                self._open()

    def close(self) -> None:
        """Write what only memory holds to disk (write-back), then close both tiers.

        Idempotent. The cache stays usable: the next operation reopens its tiers (with an
        empty memory tier), as ``diskcache`` does.
        """
        if self._closed:
            return
        _observe.closing(self)  # its counters, while the tiers are still there
        self._closed = True
        self._set_memory_tier(None)
        fin, self._finalizer = self._finalizer, None
        self._disk = None
        self._remote = None
        if fin is not None:
            fin()

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

    @property
    def memory_budget(self) -> int:
        """Bytes; 0 when the memory tier is off. Setting it resizes at once."""
        return self._memory_bytes

    @memory_budget.setter
    def memory_budget(self, value: Size) -> None:
        new = env.budget(value, "memory")
        self._memory_bytes = new
        if self._closed:
            return
        tier = self._memory
        if tier is not None and new:
            tier.budget = new  # shrinking evicts now, through _on_evict
        elif tier is not None:
            self._set_memory_tier(None)
            self._arm()
            self._on_evict(tier.drain())
            tier.close()
        elif new:
            self._set_memory_tier(MemoryTier(new, on_evict=weak_evict(self)))
            self._arm()

    @property
    def disk_budget(self) -> int:
        """Bytes; 0 when the disk tier is off (or on a network filesystem, memory-only)."""
        return self._disk_bytes if not self._on_network else 0

    @disk_budget.setter
    def disk_budget(self, value: Size) -> None:
        new = env.budget(value, "disk", self._directory)
        self._disk_bytes = new
        if self._closed or self._on_network:
            return
        tier = self._disk
        if tier is not None and new:
            tier.budget = new
        elif tier is not None:
            self._disk = None
            self._arm()
            tier.close()
        elif new:
            self._open_disk_only()

    def _open_disk_only(self) -> None:
        self._disk = DiskTier(
            self._directory,
            self._disk_bytes,
            serializer=self._serializer,
            durability=self._durability,
            verify_arrays=self._verify_arrays,
            allow_shared_directory=self._allow_shared,
        )
        self._arm()

    @property
    def remote_budget(self) -> int:
        """Bytes of the remote tier (0: off or none configured). Setting it applies at once:
        shrinking evicts this namespace's least recently used entries in Redis."""
        return self._remote_bytes

    @remote_budget.setter
    def remote_budget(self, value: Size) -> None:
        if self._remote_url is None and env.budget(value, "remote"):
            raise ValueError(
                f"cache {self._name!r} has no remote tier, so remote_budget={value!r} cannot "
                "apply: only 0 or None (give remote='redis://...' when building the cache)"
            )
        new = env.remote_budget(value, self._remote_url)
        self._remote_bytes = new
        if self._closed or self._remote_url is None:
            return
        tier = self._remote
        if tier is not None and new:
            tier.budget = new
        elif tier is not None:
            self._remote = None
            self._arm()
            tier.close()
        elif new:
            self._remote = self._open_remote()
            self._arm()

    def _in_memory(self, key: CacheKey) -> bool:
        """Whether the memory tier holds ``key`` now (no hit counted, recency untouched)."""
        mem = self._memory
        return mem is not None and key.mem in mem

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
        for i in range(STRIPES):  # a disk read in flight must not promote what was cleared
            self._versions[i] += 1
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

    def _get(self, key: CacheKey) -> Any | Missing:
        value = self._lookup(key)
        if value is MISSING:
            self._missed(key)
        return value

    def _lookup(self, key: CacheKey) -> Any | Missing:
        """``_get`` without recording a miss: ``get_or_load`` records the load instead, so a
        loaded key is one request in the trace, not two."""
        value = self._mem_get(key.mem)
        if value is MISSING:
            return self._get_below(key)
        if self._costs:
            self._credit(key.mem)
        return copy_out(value) if self._copy else value

    def _set(self, key: CacheKey, value: Any, ttl: TTL | UseDefault = USE_DEFAULT) -> None:
        self._store(key, value, self._expire_at(ttl), 0.0)
        rec = self._rec
        if rec is not None:
            rec(trace_hash(key), _sizes.sizeof(value), 0.0, _record.SET)

    def _delete(self, key: CacheKey) -> bool:
        self._check_open()
        with self._stripe(key.mem):
            mem, disk, remote = self._memory, self._disk, self._remote
            found = mem.delete(key.mem) if mem is not None else False
            found = self._pending.pop(key.mem, None) is not None or found
            self._costs.pop(key.mem, None)
            self._below_costs.pop(key.mem, None)
            if disk is not None:
                found = disk.delete(key.disk) or found
            if remote is not None:
                found = remote.delete(key.disk) or found
        return found

    def _get_or_load(
        self,
        key: CacheKey,
        loader: Callable[[], T],
        ttl: TTL | UseDefault = USE_DEFAULT,
        *,
        memory_checked: bool = False,
    ) -> T:
        seconds = self._ttl_seconds(ttl)
        stripe = hash(key.mem) % STRIPES
        while True:
            version = self._versions[stripe]
            # After the caller's own memory miss, memory is peeked (not counted twice) but
            # after the snapshot, so a write that lands in between is found or re-checked.
            value = self._look_again(key) if memory_checked else self._lookup(key)
            if value is not MISSING:
                return cast(T, value)
            memory_checked = False
            call, leader = self._flight.begin(key.mem)
            if not leader:
                call.check_wait(blocking=True)
                try:
                    value = call.result()
                except Abandoned:
                    continue
                self._followed(key, value)
                return cast(T, self._out(value))
            break
        with self._flight.leading(key.mem, call):
            value = self._recheck(key, stripe, version)
            if value is MISSING:
                lock = self._shared_lock(key)
                try:
                    if lock is not None:
                        # Another process may have stored it while this one waited (or just
                        # before it took the lock).
                        value = self._get_below(key, quiet=True)
                    if value is MISSING:
                        value = self._load(key, loader, seconds)
                finally:
                    if lock is not None:
                        lock.release()
            call.set_result(value)
            return cast(T, self._out(value))

    # -- the machinery ---------------------------------------------------------------------

    def _load(self, key: CacheKey, loader: Callable[[], T], seconds: float | None) -> T:
        if log.isEnabledFor(_DEBUG):
            log.debug("memcache_kit %s: miss %s: loading", self._name, key.label or key.mem)
        started = time.perf_counter()
        value = loader()
        cost = time.perf_counter() - started
        self._loaded(key, value, cost)
        expire_at = None if seconds is None else time.time() + seconds
        self._store(key, value, expire_at, cost)
        return value

    def _loaded(self, key: CacheKey, value: Any, cost: float) -> None:
        self._count_load(cost)
        if log.isEnabledFor(_DEBUG):
            log.debug("memcache_kit %s: load %s: %.6f s", self._name, key.label or key.mem, cost)
        rec = self._rec
        if rec is not None:
            rec(trace_hash(key), _sizes.sizeof(value), cost, _record.MISS)

    def _missed(self, key: CacheKey) -> None:
        """A lookup that no tier served and nothing loaded (``get``'s default)."""
        if log.isEnabledFor(_DEBUG):
            log.debug("memcache_kit %s: miss %s", self._name, key.label or key.mem)
        rec = self._rec
        if rec is not None:
            rec(trace_hash(key), 0, 0.0, _record.MISS)

    def _followed(self, key: CacheKey, value: Any) -> None:
        """A caller served by another thread's load of the same key (a hit for the advisor:
        the value is in memory by now)."""
        rec = self._rec
        if rec is not None:
            rec(trace_hash(key), trace_size(value), 0.0, _record.HIT_MEMORY)

    def _shared_lock(self, key: CacheKey) -> SharedLock | None:
        """The key's cross-process lock, when the cache shares a tier (see ``_flight``)."""
        remote, disk = self._remote, self._disk
        if remote is None and disk is None:
            return None
        directory = self._directory if disk is not None else None
        lock = shared_lock(key.disk, remote, directory, self._lock_timeout)
        if lock is not None and not lock.held and lock.waited and log.isEnabledFor(_DEBUG):
            log.debug(
                "memcache_kit %s: gave up waiting %.1f s for another process's load of %s; "
                "loading here",
                self._name, lock.waited, key.label or key.mem,
            )  # fmt: skip
        return lock

    def _recheck(self, key: CacheKey, stripe: int, version: int) -> Any:
        """Look again, for a new leader: a leader that just left may have stored the value.

        Only when a write touched the key's stripe since the first look (so a plain miss is
        counted once per tier).
        """
        if self._versions[stripe] == version:
            return MISSING
        return self._look_again(key)

    def _look_again(self, key: CacheKey) -> Any:
        """Memory peeked (no hit or miss counted), then the tiers below."""
        mem = self._memory
        if mem is not None:
            value = mem.peek(key.mem)
            if value is not MISSING:
                return self._out(value)
        return self._get_below(key)

    def _out(self, value: Any) -> Any:
        return copy_out(value) if self._copy else value

    def _credit(self, mk: Hashable) -> None:
        cost = self._costs.get(mk)
        if cost:
            self._saved[0] += cost

    def _count_load(self, seconds: float) -> None:
        with self._stat_lock:
            self._loads += 1
            self._load_seconds += seconds

    def _check_open(self) -> None:
        if self._closed:
            self._reopen()

    def _ttl_seconds(self, ttl: TTL | UseDefault) -> float | None:
        return self._ttl if ttl is USE_DEFAULT else env.ttl_seconds(ttl)

    def _expire_at(self, ttl: TTL | UseDefault) -> float | None:
        seconds = self._ttl_seconds(ttl)
        return None if seconds is None else time.time() + seconds

    def _get_below(self, key: CacheKey, *, quiet: bool = False) -> Any:
        """A memory miss: the value in transit to disk, else the disk's, else the remote's,
        promoted into the tiers above where it was found.

        The reads run without the stripe (reads of one key do not queue behind each other);
        the promotion takes it and gives up if a write to the stripe happened since, so a value
        read before a ``set`` or ``delete`` never lands in a tier above after it. ``quiet``
        (a leader looking again after the cross-process lock) asks each tier whether it holds
        the key before reading it, so the first look's miss is not counted twice.
        """
        if self._closed:
            self._reopen()
        mk = key.mem
        if self._pending:
            pending = self._pending.get(mk)
            if pending is not None:
                return self._out(pending.value)
        disk, remote = self._disk, self._remote
        if disk is None and remote is None:
            return MISSING
        i = hash(mk) % STRIPES
        version = self._versions[i]
        value: Any = MISSING
        expire_at: float | None = None
        if disk is not None and (not quiet or key.disk in disk):
            value, expire_at = disk.get_entry(key.disk)
        if value is not MISSING:
            kind = _record.HIT_DISK
        elif remote is not None and (not quiet or key.disk in remote):
            value = remote.get(key.disk)
            if value is MISSING:
                return MISSING
            kind = _record.HIT_REMOTE
            expire_at = None  # asked of Redis only if the value is promoted
        else:
            return MISSING
        cost = self._below_costs.pop(mk, 0.0)
        if cost:
            self._saved[0] += cost
        self._promote(key, value, expire_at, kind, i, version, cost)
        self._run_queued()
        rec = self._rec
        if rec is not None:
            rec(trace_hash(key), trace_size(value), 0.0, kind)
        return self._out(value)

    def _promote(
        self,
        key: CacheKey,
        value: Any,
        expire_at: float | None,
        kind: int,
        i: int,
        version: int,
        cost: float = 0.0,
    ) -> None:
        mem, disk, mk = self._memory, self._disk, key.mem
        from_remote = kind == _record.HIT_REMOTE
        if cost and mem is None:
            self._remember_below(mk, cost)  # every later lower-tier hit saves it again
        if mem is None and not (from_remote and disk is not None):
            return
        if from_remote and self._remote is not None:
            # Outside the stripe: a network round trip.
            expire_at = remote_expire_at(self._remote, key.disk, self._ttl)
        with self._stripes[i]:
            self._tls.held = True
            try:
                if self._versions[i] != version or mk in self._pending:
                    return
                if mem is not None and mk in mem:
                    return
                state = ON_DISK if disk is not None else MEMORY_ONLY
                if from_remote and disk is not None:
                    if disk.set(key.disk, value, expire_at=expire_at, label=key.label):
                        self._disk_promotions += 1
                    else:
                        state = MEMORY_ONLY
                meta = Meta(key, state, cost)
                if mem is not None and mem.set(mk, value, expire_at=expire_at, meta=meta):
                    self._promotions += 1
                    if cost:
                        self._costs[mk] = cost
                elif cost:
                    self._remember_below(mk, cost)
                if log.isEnabledFor(_DEBUG):
                    where = "remote" if from_remote else "disk"
                    log.debug(
                        "memcache_kit %s: promote %s from %s", self._name, key.label or mk, where
                    )
            finally:
                self._tls.held = False

    def _store(self, key: CacheKey, value: Any, expire_at: float | None, cost: float) -> None:
        self._check_open()
        value = _sizes.compact(value)
        mem, disk, remote = self._memory, self._disk, self._remote
        size = _sizes.sizeof(value) if mem is not None else 0
        fits = mem is not None and size <= mem.budget
        shared = False
        with self._stripe(key.mem):
            if remote is not None:
                # Always written through: the remote tier exists to share values right away.
                shared = remote.set(key.disk, value, expire_at=expire_at)
            self._pending.pop(key.mem, None)
            state = MEMORY_ONLY if disk is None else DIRTY
            if disk is not None and (self._write_through or not fits):
                state = self._write_disk(disk, key, value, expire_at)
            stored = False
            if mem is not None:
                if fits:
                    meta = Meta(key, state, cost)
                    stored = mem.set(key.mem, value, expire_at=expire_at, size=size, meta=meta)
                else:
                    mem.delete(key.mem)  # an older, smaller value must not shadow this one
                if not stored and state == DIRTY and disk is not None:
                    # the memory tier refused after all (the process-wide cap): straight down
                    state = self._write_disk(disk, key, value, expire_at)
            self._below_costs.pop(key.mem, None)
            if stored and cost:
                self._costs[key.mem] = cost
            else:
                self._costs.pop(key.mem, None)
                if cost and state == ON_DISK:
                    self._remember_below(key.mem, cost)
        if (
            not stored
            and state != ON_DISK
            and not shared
            and (mem is not None or disk is not None)
            and not disk_warned(disk, value)
        ):
            self._warn_once(
                "not-stored",
                f"cache {self._name!r}: a {type(value).__name__} value ({size} bytes in memory) "
                f"fits no tier (memory budget {self.memory_budget}, disk budget "
                f"{self.disk_budget}, or the disk tier cannot serialize it); it is returned but "
                "not stored. Further such values are not reported.",
            )

    def _write_disk(
        self, disk: DiskTier, key: CacheKey, value: Any, expire_at: float | None
    ) -> int:
        if disk.set(key.disk, value, expire_at=expire_at, label=key.label):
            return ON_DISK
        # Declined (too large for the disk budget, unserializable, tier degraded): an older
        # value there must not come back in place of this one.
        disk.delete(key.disk)
        return MEMORY_ONLY

    def _warn_once(self, what: str, message: str) -> None:
        if what in self._warned:
            return
        self._warned.add(what)
        warnings.warn(message, CacheWarning, stacklevel=4)

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
