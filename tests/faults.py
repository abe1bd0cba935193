"""Fault injection at the disk tier's I/O boundary, for tests.

The disk tier does every file operation through ``tier._files`` (a ``FileStore``) and every
database call through ``tier._h`` (its per-process ``Handles``: the diskcache index and the
per-thread SQLite connections). :func:`inject` wraps both with proxies that raise a fault at
every ``every``-th operation, cycling through the kinds in ``kinds``:

- ``"ENOSPC"``, ``"EIO"``, ``"EACCES"``: ``OSError`` with that errno (a full disk, a failing
  device, a directory that became read-only);
- ``"locked"``: ``sqlite3.OperationalError("database is locked")``.

``Injector.injected`` counts what was raised, by kind; ``Injector.enabled`` switches it off and
on (a stateful test flips it), ``Injector.every = 1`` makes every operation fail.
"""

from __future__ import annotations

import errno
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from memcache_kit._tiers.disk.tier import DiskTier

__all__ = ["KINDS", "Injector", "inject", "make_fault"]

KINDS = ("ENOSPC", "EIO", "EACCES", "locked")


def make_fault(kind: str) -> BaseException:
    if kind == "locked":
        return sqlite3.OperationalError("database is locked")
    code = getattr(errno, kind)
    import os

    return OSError(code, f"injected: {os.strerror(code)}")


class Injector:
    """Counts operations; every ``every``-th one raises the next kind of fault."""

    def __init__(self, every: int = 3, kinds: Iterable[str] = KINDS) -> None:
        self.every = every
        self.kinds = tuple(kinds)
        self.enabled = True
        self.ops = 0
        self.injected: Counter[str] = Counter()
        self._next = 0
        self._lock = threading.Lock()

    def tick(self, where: str) -> None:
        if not self.enabled:
            return
        with self._lock:
            self.ops += 1
            if self.ops % self.every:
                return
            kind = self.kinds[self._next % len(self.kinds)]
            self._next += 1
            self.injected[kind] += 1
        raise make_fault(kind)

    def wrap(self, fn: Callable[..., Any], where: str) -> Callable[..., Any]:
        def faulty(*args: Any, **kwargs: Any) -> Any:
            self.tick(where)
            return fn(*args, **kwargs)

        return faulty


class _Proxy:
    """Delegates every attribute; callables named in ``calls`` go through the injector."""

    _calls: frozenset[str] = frozenset()

    def __init__(self, inner: Any, inj: Injector) -> None:
        object.__setattr__(self, "_inner", inner)
        object.__setattr__(self, "_inj", inj)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name in self._calls and callable(attr):
            return self._inj.wrap(attr, f"{type(self._inner).__name__}.{name}")
        return attr

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._inner, name, value)


class FaultyFiles(_Proxy):
    _calls = frozenset({"open", "write", "open_read", "unlink", "lstat", "listdir"})


class FaultyCursor(_Proxy):
    _calls = frozenset({"execute", "executemany", "fetchone", "fetchall"})


class FaultyConnection(_Proxy):
    _calls = frozenset({"execute", "executemany", "commit"})

    def cursor(self) -> FaultyCursor:
        return FaultyCursor(self._inner.cursor(), self._inj)


class FaultyIndex(_Proxy):
    """The diskcache index: its writes and reads (``set``, ``delete``, ``clear``, ...)."""

    _calls = frozenset({"set", "get", "delete", "clear", "touch", "add", "pop", "cull"})


class _FaultyLocal:
    def __init__(self, handles: FaultyHandles) -> None:
        self._handles = handles

    @property
    def cur(self) -> FaultyCursor:
        return FaultyCursor(self._handles._real.local.cur, self._handles._inj)


class FaultyHandles:
    """Stands in for ``tier._h``: the same lock and lifecycle, faulty database objects."""

    def __init__(self, real: Any, inj: Injector) -> None:
        self._real = real
        self._inj = inj

    @property
    def lock(self) -> Any:
        return self._real.lock

    @property
    def local(self) -> _FaultyLocal:
        return _FaultyLocal(self)

    def con(self) -> FaultyConnection:
        self._inj.tick("connect")
        return FaultyConnection(self._real.con(), self._inj)

    def index(self) -> FaultyIndex:
        return FaultyIndex(self._real.index(), self._inj)

    def drop(self) -> None:
        self._real.drop()

    def forked(self) -> None:
        self._real.forked()


def inject(tier: DiskTier, inj: Injector, *, files: bool = True, db: bool = True) -> Injector:
    """Route ``tier``'s file and/or database calls through ``inj``."""
    if files:
        tier._files = FaultyFiles(tier._files, inj)  # type: ignore[assignment]
    if db:
        tier._h = FaultyHandles(tier._h, inj)  # type: ignore[assignment]
    return inj


def summary(request: Any, line: str) -> None:
    """Show ``line`` in the test run's output (CI logs), past pytest's capture.

    The terminal reporter writes to the real stdout; under xdist workers have none, so the
    line goes to the captured output (shown with ``-s`` or ``-rP``)."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        print(line)
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        reporter.write_line(line)
