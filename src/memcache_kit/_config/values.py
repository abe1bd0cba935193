"""Configuration values: the shape of the file, the validator of every key and the defaults.

Each source (a TOML file, a ``configure()`` mapping, the environment; read in ``sources``)
becomes a :class:`Layer` of validated values, each of which remembers where it came from, so
errors and ``memcache-kit config show`` can name it.
"""

from __future__ import annotations

import difflib
import functools
import os
import re
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import _serial, _settings, _sizes
from .._cache import REMOTE_SCHEMES
from .._cache import default_directory as _cache_directory

__all__ = [
    "CACHE_KEYS",
    "TOP_KEYS",
    "NAME_PATTERN",
    "Layer",
    "Origin",
    "Value",
    "cache_defaults",
    "default_directory",
    "normalize_name",
]

ENV_PREFIX = "MEMCACHE_KIT__"
_OFF = ("0", "false", "none")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


@dataclass(frozen=True)
class Value:
    """A validated value, the input it came from, and its source (for errors and ``show``)."""

    value: Any
    raw: Any
    source: str


@dataclass
class Layer:
    """One source's validated values: top-level keys and per-cache tables."""

    top: dict[str, Value] = field(default_factory=dict)
    caches: dict[str, dict[str, Value]] = field(default_factory=dict)


@dataclass(frozen=True)
class Origin:
    """Where a table comes from: what error messages and ``show`` call it."""

    label: str  # "/path/memcache_kit.toml", "configure() mapping", "environment"
    prefix: str = ""  # table prefix inside the file: "tool.memcache_kit" for pyproject.toml
    base: Path | None = None  # relative directories resolve against this (the file's folder)
    env: bool = False

    def where(self, table: str, key: str, raw: Any, var: str | None = None) -> str:
        if var is not None:
            return f"environment variable {var}={raw!r}"
        full = ".".join(p for p in (self.prefix, table) if p)
        place = f"[{full}]" if full else "(top level)"
        return f"{self.label} {place}: {key} = {raw!r}"


class _Invalid(Exception):
    """A value is wrong; the caller adds source, table and key."""


# -- validators: raw input -> normalized value, raising _Invalid(problem) ------------------------


@dataclass(frozen=True)
class _Ctx:
    origin: Origin
    cache: str | None
    table: Mapping[str, Any]


def _is_off(raw: Any) -> bool:
    if raw is False or (isinstance(raw, int) and not isinstance(raw, bool) and raw == 0):
        return True
    return isinstance(raw, str) and raw.strip().lower() in _OFF


def _bytes(raw: Any, of: str, path: Path | None) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise _Invalid("expected a size such as 512MiB, 2GiB or 25%, or 0/false/'none' (off)")
    if isinstance(raw, float):
        if not raw.is_integer():
            raise _Invalid("a size in bytes must be a whole number; write e.g. '1.5GiB'")
        raw = int(raw)
    if isinstance(raw, int) and raw < 0:
        raise _Invalid("a budget cannot be negative; use 0, false or 'none' to turn a tier off")
    if isinstance(raw, str) and raw.strip().startswith("-"):
        raise _Invalid("a budget cannot be negative; use 0, false or 'none' to turn a tier off")
    try:
        if of == "disk":
            n = _sizes.parse_size(raw, of="disk", path=str(_existing(path)) if path else None)
        else:
            n = _sizes.parse_size(raw, of="memory")
    except ValueError as e:
        raise _Invalid(str(e)) from None
    if n < 0:
        raise _Invalid("a budget cannot be negative; use 0, false or 'none' to turn a tier off")
    return n


@functools.cache
def _physical() -> int:
    return _sizes.parse_size("100%", of="memory")


def _memory(raw: Any, ctx: _Ctx) -> int:
    if _is_off(raw):
        return 0
    n = _bytes(raw, "memory", None)
    if n > 4 * _physical():
        raise _Invalid(
            f"{n} bytes is more than 4x this machine's memory ({_physical()} bytes); "
            "write a size such as '2GiB' or a share such as '25%'"
        )
    return n


def _total_memory(raw: Any, ctx: _Ctx) -> int | None:
    n = _memory(raw, ctx)
    return n or None


def _disk(raw: Any, ctx: _Ctx) -> int:
    if _is_off(raw):
        return 0
    where: Path | None = None
    if isinstance(ctx.table.get("directory"), str):
        try:
            where = _path(ctx.table["directory"], ctx)
        except _Invalid:
            where = None
    if where is None and ctx.cache is not None:
        where = default_directory(ctx.cache)
    return _bytes(raw, "disk", where)


def _path(raw: Any, ctx: _Ctx) -> Path:
    if not isinstance(raw, str | os.PathLike) or not str(raw).strip():
        raise _Invalid("expected a path (a string such as '~/.cache/myproject/features')")
    p = Path(os.path.expandvars(str(raw))).expanduser()
    if not p.is_absolute():
        p = (ctx.origin.base or Path.cwd()) / p
    return Path(os.path.normpath(p))


def _existing(p: Path) -> Path:
    """``p`` or its nearest existing ancestor."""
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _directory(raw: Any, ctx: _Ctx) -> Path:
    p = _path(raw, ctx)
    problem = directory_problem(p)
    if problem:
        raise _Invalid(problem)
    return p


def directory_problem(p: Path) -> str | None:
    """Why ``p`` cannot hold a disk tier (ignoring sharing), or None when it can."""
    if p.exists():
        if not p.is_dir():
            return f"{str(p)!r} exists and is not a directory"
        if not os.access(p, os.W_OK | os.X_OK):
            return f"the directory {str(p)!r} is not writable by this user"
        return None
    parent = _existing(p)
    if not parent.is_dir():
        return f"{str(parent)!r} is not a directory, so {str(p)!r} cannot be created"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"{str(p)!r} cannot be created: {str(parent)!r} is not writable by this user"
    return None


def sharing_problem(p: Path) -> str | None:
    """Why ``p`` is unsafe to trust (others may write it), or None."""
    try:
        st = p.stat()
    except FileNotFoundError:
        return None
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return (
            f"the directory {str(p)!r} is writable by group or others (mode "
            f"{stat.S_IMODE(st.st_mode):o}); run chmod 700 on it, or set "
            "allow_shared_directory = true if every writer is trusted"
        )
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        return (
            f"the directory {str(p)!r} belongs to another user (uid {st.st_uid}); "
            "set allow_shared_directory = true if that user is trusted"
        )
    return None


def _secret_file(raw: Any, ctx: _Ctx) -> Path:
    p = _path(raw, ctx)
    # Read it now, with the checks signing will apply (exists, yours, mode 0600, long enough),
    # so a bad key file fails here rather than at the first disk write.
    try:
        _settings._read_key_file(p, what="secret_file")
    except (OSError, ValueError) as e:
        raise _Invalid(str(e)) from None
    return p


def _ttl(raw: Any, ctx: _Ctx) -> float | None:
    if raw is False or (isinstance(raw, str) and raw.strip().lower() in ("none", "false")):
        return None
    seconds = _seconds(raw, "ttl")
    if seconds <= 0:
        raise _Invalid("a ttl must be more than 0 seconds; write 'none' for no expiry")
    return seconds


def _seconds(raw: Any, key: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise _Invalid("expected seconds or a duration such as '30s', '10m', '1h', '7d'")
    try:
        return float(_sizes.parse_duration(raw))
    except ValueError as e:
        raise _Invalid(str(e)) from None


def _lock_timeout(raw: Any, ctx: _Ctx) -> float:
    seconds = _seconds(raw, "lock_timeout")
    if seconds <= 0:
        raise _Invalid("lock_timeout must be more than 0 seconds, e.g. 60 or '2m'")
    return seconds


def _serializer(raw: Any, ctx: _Ctx) -> str:
    if not isinstance(raw, str):
        raise _Invalid("expected a serializer name: 'pickle', 'json' or a registered name")
    try:
        _serial.get_serializer(raw)
    except (KeyError, ValueError, LookupError) as e:
        raise _Invalid(e.args[0] if e.args and isinstance(e.args[0], str) else str(e)) from None
    return raw


_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def _bool(raw: Any, ctx: _Ctx) -> bool:
    if isinstance(raw, bool):
        return raw
    if ctx.origin.env and isinstance(raw, str) and raw.strip().lower() in _TRUE + _FALSE:
        return raw.strip().lower() in _TRUE
    allowed = "true or false" + (" (or 1/0, yes/no, on/off)" if ctx.origin.env else "")
    raise _Invalid(f"expected {allowed}")


def _choice(*allowed: str) -> Callable[[Any, _Ctx], str]:
    def check(raw: Any, ctx: _Ctx) -> str:
        if isinstance(raw, str) and raw.strip().lower() in allowed:
            return raw.strip().lower()
        raise _Invalid("allowed: " + ", ".join(repr(a) for a in allowed))

    return check


def _record(raw: Any, ctx: _Ctx) -> bool | Path:
    if isinstance(raw, bool):
        return raw
    if ctx.origin.env and isinstance(raw, str) and raw.strip().lower() in _TRUE + _FALSE:
        return raw.strip().lower() in _TRUE
    if isinstance(raw, str) and raw.strip():
        return _path(raw, ctx)
    raise _Invalid(
        "expected true, false or the path of a trace file (true writes "
        "<directory>/trace/<pid>.mktrace)"
    )


def _remote(raw: Any, ctx: _Ctx) -> str | None:
    if _is_off(raw):
        return None
    if not isinstance(raw, str) or not raw.startswith(REMOTE_SCHEMES):
        raise _Invalid(
            "not a Redis URL: use redis://host:port/db, rediss://host:port/db (TLS), "
            "redis+cluster://host:port or unix:///path/to/redis.sock"
        )
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as e:
        raise _Invalid(f"not a valid URL ({e})") from None
    if parts.scheme != "unix" and not parts.hostname:
        raise _Invalid("the URL has no host: write e.g. redis://127.0.0.1:6379/0")
    if parts.scheme == "unix" and not parts.path:
        raise _Invalid("a unix:// URL needs the socket's path: unix:///run/redis/redis.sock")
    db = parts.path.strip("/")
    if parts.scheme.startswith("redis") and db and not db.isdigit():
        raise _Invalid(f"the database {db!r} is not a number: write e.g. redis://host:6379/0")
    del port
    return raw


def _remote_budget(raw: Any, ctx: _Ctx) -> int:
    if _is_off(raw):
        return 0
    return _bytes(raw, "memory", None)


def _remote_timeout(raw: Any, ctx: _Ctx) -> float:
    seconds = _seconds(raw, "remote_timeout")
    if seconds <= 0:
        raise _Invalid("remote_timeout must be more than 0 seconds per Redis call, e.g. 0.5")
    return seconds


Validator = Callable[[Any, _Ctx], Any]

TOP_KEYS: dict[str, Validator] = {"total_memory": _total_memory, "secret_file": _secret_file}

CACHE_KEYS: dict[str, Validator] = {
    "memory": _memory,
    "disk": _disk,
    "directory": _directory,
    "ttl": _ttl,
    "serializer": _serializer,
    "copy": _bool,
    "write_through": _bool,
    "spill": _bool,
    "durability": _choice("fast", "strict"),
    "verify_arrays": _bool,
    "allow_shared_directory": _bool,
    "network_filesystem": _choice("memory-only", "allow"),
    "lock_timeout": _lock_timeout,
    "policy": _choice("lru"),
    "record": _record,
    "remote": _remote,
    "remote_budget": _remote_budget,
    "remote_timeout": _remote_timeout,
}

# What get_cache builds with when no source sets a key (the design's table).
_DEFAULTS: dict[str, tuple[Any, Any]] = {
    "memory": (256 * 2**20, "256MiB"),
    "disk": (2**30, "1GiB"),
    "ttl": (None, "none"),
    "serializer": ("pickle", "pickle"),
    "copy": (False, False),
    "write_through": (True, True),
    "spill": (True, True),
    "durability": ("fast", "fast"),
    "verify_arrays": (False, False),
    "allow_shared_directory": (False, False),
    "network_filesystem": ("memory-only", "memory-only"),
    "lock_timeout": (60.0, 60),
    "policy": ("lru", "lru"),
    "record": (False, False),
    "remote": (None, "none"),
    "remote_budget": (None, "none"),
    "remote_timeout": (0.5, 0.5),
}


def default_directory(name: str) -> Path:
    # The same place Cache(name) uses without directory=, so `config show` tells the truth.
    return _cache_directory(name)


def cache_defaults(name: str) -> dict[str, Value]:
    d = default_directory(name)
    out: dict[str, Value] = {}
    for k, (v, raw) in _DEFAULTS.items():
        out[k] = Value(v, raw, "default")
        if k == "disk":
            out["directory"] = Value(d, str(d), "default")
    return out


def top_defaults() -> dict[str, Value]:
    return {
        "total_memory": Value(None, "none", "default"),
        "secret_file": Value(None, "per-user key file", "default"),
    }


def normalize_name(name: str) -> str:
    """How the environment spells a cache name: case-insensitive, ``-`` written ``_``."""
    return name.lower().replace("-", "_")


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _unknown(key: str, allowed: dict[str, Validator], top: bool) -> str:
    names = sorted([*allowed, "caches"] if top else allowed)
    hint = _suggest(key, names)
    if top and key in CACHE_KEYS:
        hint = f"; {key!r} is a per-cache key: put it under [caches.NAME], e.g. [caches.default]"
    elif not top and key in TOP_KEYS:
        hint = f"; {key!r} is a top-level key: put it above the [caches.*] tables"
    return f"unknown key {key!r}{hint} (allowed: {', '.join(names)})"
