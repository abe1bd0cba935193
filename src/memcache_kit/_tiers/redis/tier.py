"""The remote tier: Redis (through redis-py), shared by every machine that uses the namespace.

Values are sealed exactly as on disk (``_serial``): the MAC is checked before anything is
deserialized, so a value forged in Redis is a miss, never unpickled. Values larger than
``INLINE_MAX`` go as authenticated chunks without copies (``chunks``). Budget, TTL, eviction
and the bookkeeping live in ``scripts``; the lease lock in ``lock``; clients in ``connect``.
Every Redis error is a miss or a declined write: the tier degrades with one WARNING, re-probes
with back-off and logs its recovery at INFO (``health``).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import pickle
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from ..._errors import need
from ..._serial import SealError, Serializer, get_serializer, mac_key, signer
from ..._shapes import MISSING, TierStats
from . import chunks
from . import scripts as lua
from .chunks import CHUNK_SIZE, INLINE_MAX
from .connect import check_arguments, close_client, connect, safe_url, shared_secret
from .health import Outage
from .lock import _FAILED, RemoteLock
from .verify import verify

__all__ = ["CHUNK_SIZE", "INLINE_MAX", "RedisTier", "RemoteLock"]

log = logging.getLogger("memcache_kit")

FLUSH_READS = 256
FLUSH_SECONDS = 2.0
_MISSED_MAX = 4096
_PROVISIONAL_MS = 600_000
NOMINAL_MS = 100 * 365 * 86_400_000
"""The Redis expiry of an entry without TTL (100 years): evictable under volatile-* policies."""
_LIVE: weakref.WeakSet[RedisTier] = weakref.WeakSet()
_ABANDONED: list[Any] = []  # a forked child's inherited clients: never closed by the child


def _after_fork_in_child() -> None:
    for tier in list(_LIVE):
        tier._forked()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class RedisTier:
    """Keys are disk-key strings; entries live under ``mk:{namespace}:v1:``.

    ``timeout`` bounds every Redis call (connect and each reply); ``secret`` defaults to the
    process's HMAC key, which must then come from ``MEMCACHE_KIT_SECRET`` or ``secret_file``
    (the same on every machine), not from the per-user key file.
    """

    name = "remote"

    def __init__(
        self,
        url: str,
        budget: int,
        *,
        namespace: str,
        timeout: float = 0.5,
        secret: bytes | None = None,
        serializer: str = "pickle",
        chunk_size: int = CHUNK_SIZE,
        reprobe: float = 1.0,
    ) -> None:
        check_arguments(url, namespace, timeout, chunk_size)
        redis = need("redis", "redis", "a remote tier (remote=...)")

        self.url = url
        self.namespace = namespace
        self.timeout = float(timeout)
        self.chunk_size = chunk_size
        self.keys = lua.Keys(namespace)
        self._budget = _check_budget(budget)
        self._serializer: Serializer = get_serializer(serializer)
        secret_bytes = shared_secret() if secret is None else bytes(secret)
        self._signer = signer(secret_bytes)
        # Chunks use HMAC-SHA256 (OpenSSL, SHA extensions): twice BLAKE2b's speed on 8 MB here.
        self._chunk_key = hashlib.blake2b(
            mac_key(secret_bytes), digest_size=32, person=b"mk-redis-chunk"
        ).digest()
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._down_errors: tuple[type[BaseException], ...] = (
            redis.ConnectionError,
            redis.TimeoutError,
            OSError,
        )
        self._client_obj: Any = None
        self._scripts: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._atimes: dict[str, None] = {}
        self._missed: dict[str, None] = {}
        self._reads = 0
        self._flush_due = time.monotonic() + FLUSH_SECONDS
        self._hits = self._misses = self._evictions = self._writes = 0
        self._last_totals = (0, 0)
        self._bad_counts: dict[str, int] = {}
        self._fault_counts: dict[str, int] = {}
        self._logged: set[str] = set()
        self._health = Outage(safe_url(url), namespace, float(reprobe))
        _LIVE.add(self)

    # connection -------------------------------------------------------------------------------
    def _client(self) -> Any:
        client = self._client_obj
        if client is None or self._pid != os.getpid():
            with self._lock:
                if self._pid != os.getpid():
                    self._forked()
                client = self._client_obj
                if client is None:
                    client = self._client_obj = connect(self.url, self.timeout)
                    self._scripts = {}
        return client

    def _forked(self) -> None:
        # redis-py's pools reset themselves in a child (they compare pids); a fresh client also
        # drops our script handles and locks, which another thread may have held at fork.
        _ABANDONED.append(self._client_obj)
        self._client_obj = None
        self._scripts = {}
        self._lock = threading.Lock()
        self._health.after_fork()
        self._atimes = {}
        self._missed = {}
        self._pid = os.getpid()

    def close(self) -> None:
        """Send pending access times and close the connections (reopened if used again)."""
        self._flush()
        with self._lock:
            client, self._client_obj = self._client_obj, None
            self._scripts = {}
        if client is not None and self._pid == os.getpid():
            close_client(client, self._errors)

    # failures ---------------------------------------------------------------------------------
    @property
    def degraded(self) -> bool:
        """True while Redis is unreachable: reads miss, writes are skipped, re-probed later."""
        return self._health.degraded

    @property
    def faults(self) -> dict[str, int]:
        """Redis errors met, by exception type."""
        return dict(self._fault_counts)

    @property
    def bad_entries(self) -> dict[str, int]:
        """Unusable entries met by reads, by kind (forged, format, truncated, incomplete, ...)."""
        return dict(self._bad_counts)

    def _usable(self) -> bool:
        return not self._health.degraded or self._health.probe(self._ping)

    def _fault(self, op: str, exc: BaseException) -> None:
        kind = type(exc).__name__
        self._fault_counts[kind] = self._fault_counts.get(kind, 0) + 1
        if isinstance(exc, self._down_errors):
            self._health.down(op, exc)
        elif kind not in self._logged:
            # A command error (e.g. OOM under maxmemory noeviction) is not an outage: log it
            # once per kind and keep the tier on.
            self._logged.add(kind)
            log.warning(
                "memcache_kit remote tier %s (namespace %r): %s failed: %s: %s; the value is "
                "not stored. Further %s errors are counted, not logged.",
                safe_url(self.url), self.namespace, op, kind, exc, kind,
            )  # fmt: skip

    def _ping(self) -> bool:
        try:
            self._client().ping()
        except self._errors as exc:
            self._fault("probe", exc)
            return False
        return True

    def _command(self, op: str, name: str, *args: Any, **kwargs: Any) -> Any:
        """``client.<name>(...)``, or ``_FAILED`` (logged, counted) when Redis fails."""
        if not self._usable():
            return _FAILED
        try:
            return getattr(self._client(), name)(*args, **kwargs)
        except self._errors as exc:
            self._fault(op, exc)
            return _FAILED

    def _script(self, op: str, name: str, keys: list[str], args: list[Any]) -> Any:
        """Run one of ``scripts`` (EVALSHA, loading it after a restart), or ``_FAILED``."""
        if not self._usable():
            return _FAILED
        try:
            client = self._client()
            script = self._scripts.get(name)
            if script is None:
                script = self._scripts[name] = client.register_script(getattr(lua, name.upper()))
            return script(keys=keys, args=args)
        except self._errors as exc:
            self._fault(op, exc)
            return _FAILED

    def _books(self, name: str, op: str, *args: Any) -> Any:
        return self._script(op, name, self.keys.books(), [self.keys.prefix, *args])

    def _bad(self, key: str, kind: str, detail: str, blob: bytes) -> None:
        self._misses += 1
        self._bad_counts[kind] = self._bad_counts.get(kind, 0) + 1
        if "bad:" + kind not in self._logged:
            self._logged.add("bad:" + kind)
            log.warning(
                "memcache_kit remote tier (namespace %r): entry %s is unusable (%s: %s); treated "
                "as a miss and dropped. Further %r entries are counted, not logged.",
                self.namespace, key, kind, detail, kind,
            )  # fmt: skip
        self._books("drop_if", "drop", key, blob)

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
            self._totals(cull=True)

    def _totals(self, *, cull: bool = False) -> tuple[int, int]:
        r = self._books("stats", "stats", self._budget if cull else -1)
        if r is not _FAILED:
            self._evictions += int(r[0])
            self._last_totals = (int(r[1]), int(r[2]))
        return self._last_totals

    # access times -----------------------------------------------------------------------------
    def _flush(self) -> None:
        self._reads = 0
        self._flush_due = time.monotonic() + FLUSH_SECONDS
        hits, self._atimes = self._atimes, {}
        missed, self._missed = self._missed, {}
        if hits or missed:
            self._books("touch", "touch", len(hits), *hits, *missed)

    def _note(self, key: str, hit: bool) -> None:
        if hit:
            self._atimes.pop(key, None)
            self._atimes[key] = None
        elif len(self._missed) < _MISSED_MAX:
            self._missed[key] = None
        self._reads += 1
        if self._reads >= FLUSH_READS or time.monotonic() > self._flush_due:
            self._flush()

    # reads ------------------------------------------------------------------------------------
    def get(self, key: str) -> Any:
        if type(key) is not str:
            raise TypeError(f"remote tier keys are str, not {type(key).__name__}")
        blob = self._command("get", "get", self.keys.entry(key))
        if blob is _FAILED:
            self._misses += 1
            return MISSING
        if blob is None:
            self._misses += 1
            self._note(key, False)
            return MISSING
        try:
            sealed = self._signer.unseal(blob, key=self._seal_key(key))
            if sealed.meta:
                value = chunks.read(
                    sealed.serializer,
                    sealed.meta,
                    sealed.payload,
                    name=lambda token, i: self.keys.chunk(key, token, i),
                    mget=self._mget,
                    mac=lambda token, i, data: self._chunk_mac(key, token, i, data),
                )
                if value is MISSING:
                    self._bad(
                        key, "incomplete", "a chunk is missing (evicted or overwritten)", blob
                    )
                    return MISSING
            elif sealed.serializer == "pickle":
                value = pickle.loads(sealed.payload)
            else:
                value = get_serializer(sealed.serializer).loads(bytes(sealed.payload))
        except SealError as exc:
            self._bad(key, exc.kind, str(exc), blob)
            return MISSING
        except chunks.BadChunk as exc:
            self._bad(key, "forged", str(exc), blob)
            return MISSING
        except chunks.ReadFailed:
            self._misses += 1
            return MISSING
        except Exception as exc:  # authenticated, yet the serializer cannot rebuild it
            self._bad(key, "unreadable", f"{type(exc).__name__}: {exc}", blob)
            return MISSING
        self._hits += 1
        self._note(key, True)
        return value

    def _mget(self, names: list[str]) -> list[Any]:
        got = self._command("get", "mget", names)
        if got is _FAILED:
            raise chunks.ReadFailed
        return list(got)

    def __contains__(self, key: object) -> bool:
        if type(key) is not str:
            return False
        blob = self._command("contains", "get", self.keys.entry(key))
        if blob is _FAILED or blob is None:
            return False
        try:
            self._signer.unseal(blob, key=self._seal_key(key))
        except SealError:
            return False
        return True

    # writes -----------------------------------------------------------------------------------
    def set(self, key: str, value: Any, *, expire_at: float | None = None) -> bool:
        if type(key) is not str:
            raise TypeError(f"remote tier keys are str, not {type(key).__name__}")
        if not self._usable():
            return False
        if expire_at is not None and expire_at <= time.time():
            self.delete(key)
            return True
        try:
            main, oob = chunks.dumps(self._serializer, value)
        except Exception as exc:
            self._unserializable(key, value, exc)
            return False
        size = len(main) + sum(len(b) for b in oob)
        if size > self._budget:
            self.delete(key)  # never leave the older value in place of one that did not fit
            return False
        pxat = 0 if expire_at is None else max(1, int(expire_at * 1000))
        name = self._serializer.name
        sk = self._seal_key(key)
        if not oob and len(main) <= INLINE_MAX:
            blob = self._signer.seal(main, key=sk, serializer=name)
            token, count, chunked = "", 0, 0
        else:
            token = os.urandom(8).hex()
            inline, head, pieces = chunks.header(
                main, oob, self.chunk_size, token, lambda i, p: self._chunk_mac(key, token, i, p)
            )
            blob = self._signer.seal(inline, head, key=sk, serializer=name)
            count = len(pieces)
            chunked = sum(len(p) for p in pieces)
            if not self._write_chunks(key, token, pieces):
                return False
        size = len(blob) + chunked
        r = self._books("set", "set", key, blob, size, token, count, pxat, self._budget, NOMINAL_MS)
        if r is _FAILED:
            return False
        self._writes += 1
        self._evictions += int(r[0])
        self._last_totals = (int(r[1]), int(r[2]))
        return True

    def _write_chunks(self, key: str, token: str, pieces: list[Any]) -> bool:
        if not self._usable():
            return False
        try:
            pipe = self._client().pipeline(transaction=False)
            for i, piece in enumerate(pieces):
                name = self.keys.chunk(key, token, i)
                # Provisional expiry: the set script gives the chunks their entry's lifetime;
                # chunks of a writer that died before it ran vanish on their own.
                pipe.set(name, piece, px=_PROVISIONAL_MS)
            pipe.execute()
        except self._errors as exc:
            self._fault("set", exc)
            return False
        return True

    def _unserializable(self, key: str, value: Any, exc: Exception) -> None:
        what = f"{type(value).__module__}.{type(value).__qualname__}"
        if "ser:" + what in self._logged:
            return
        self._logged.add("ser:" + what)
        log.warning(
            "memcache_kit remote tier: a %s value (key %s) cannot be serialized with %r (%s: %s); "
            "it is not stored remotely. Further %s values are skipped silently.",
            what, key, self._serializer.name, type(exc).__name__, exc, what,
        )  # fmt: skip

    def delete(self, key: str) -> bool:
        if type(key) is not str:
            raise TypeError(f"remote tier keys are str, not {type(key).__name__}")
        self._atimes.pop(key, None)
        r = self._books("delete", "delete", key)
        return r is not _FAILED and int(r) == 1

    def clear(self) -> None:
        """Delete every key of this namespace (SCAN, then UNLINK in batches); others stay."""
        self._atimes = {}
        self._missed = {}
        if not self._usable():
            return
        try:
            client = self._client()
            batch: list[Any] = []
            for name in client.scan_iter(match=self.keys.prefix + "*", count=1000):
                batch.append(name)
                if len(batch) >= 500:
                    client.unlink(*batch)
                    batch = []
            if batch:
                client.unlink(*batch)
        except self._errors as exc:
            self._fault("clear", exc)
            return
        self._last_totals = (0, 0)

    # single flight ----------------------------------------------------------------------------
    def lock(self, key: str, *, lease: float = 30.0, timeout: float = 60.0) -> RemoteLock:
        """A lease lock on ``key`` shared by every process on every machine using this namespace.

        ``with tier.lock(k, lease=30, timeout=60) as lk:`` waits (up to ``timeout``) for the
        lock; ``lk.held`` says whether this process got it. The holder's lease is renewed every
        ``lease / 3`` until the block ends, so a crashed holder blocks others for one lease at
        most. See :meth:`load_once` for the full pattern.
        """
        if type(key) is not str:
            raise TypeError(f"remote tier keys are str, not {type(key).__name__}")
        return RemoteLock(self, key, lease=lease, timeout=timeout)

    def load_once(
        self,
        key: str,
        loader: Callable[[], Any],
        *,
        expire_at: float | None = None,
        lease: float = 30.0,
        timeout: float = 60.0,
    ) -> tuple[Any, bool]:
        """The value of ``key``, running ``loader`` at most once across processes and machines
        that share this namespace. Returns ``(value, loaded_here)``.

        A hit returns at once. On a miss, take the key's lock; whoever holds it looks again (the
        previous holder has usually stored the value), else loads and stores before releasing.
        A caller that waited ``timeout`` in vain, or cannot reach Redis, loads by itself.
        """
        value = self.get(key)
        if value is not MISSING:
            return value, False
        with self.lock(key, lease=lease, timeout=timeout):
            value = self.get(key)
            if value is not MISSING:
                return value, False
            value = loader()
            self.set(key, value, expire_at=expire_at)
        return value, True

    # observing --------------------------------------------------------------------------------
    def stats(self) -> TierStats:
        with contextlib.suppress(*self._errors):
            self._flush()
        size, count = self._totals()
        return TierStats(
            hits=self._hits,
            misses=self._misses,
            evictions=self._evictions,
            writes=self._writes,
            bytes=size,
            items=count,
            budget=self._budget,
        )

    def verify(self, repair: bool = False) -> tuple[list[str], int, dict[str, Any]]:
        return verify(self, repair)

    # keys -------------------------------------------------------------------------------------
    def _seal_key(self, key: str) -> str:
        # Binding the namespace too: a blob copied into another cache's namespace is forged.
        return f"{self.namespace}\x00{key}"

    def _chunk_mac(self, key: str, token: str, i: int, data: Any) -> str:
        """Keyed hash of chunk ``i``, bound to its namespace, key and write (token)."""
        label = f"{self.namespace}\x00{key}\x00{token}\x00{i}\x00".encode()
        h = hmac.new(self._chunk_key, label, "sha256")
        h.update(data)
        return h.hexdigest()[:32]


def _check_budget(value: object) -> int:
    if type(value) is not int or value < 0:
        raise ValueError(f"a remote budget is a number of bytes >= 0, not {value!r}")
    return value
