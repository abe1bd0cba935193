"""What ``Cache`` needs to know about its surroundings: argument checks, the default directory,
network filesystems, and the process hooks (fork, exit).
"""

from __future__ import annotations

import os
import re
import warnings
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import _sizes
from .._errors import CacheWarning

__all__ = [
    "NETWORK_FILESYSTEMS",
    "REMOTE_SCHEMES",
    "UNLIMITED",
    "budget",
    "check_remote",
    "recorder",
    "remote_budget",
    "default_directory",
    "filesystem_type",
    "on_fork",
    "ttl_seconds",
    "warn_network_filesystem",
]

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")

# SQLite's locking is unreliable on these (https://www.sqlite.org/lockingv3.html, "How To
# Corrupt Your Database Files"): the disk tier goes memory-only unless told otherwise.
NETWORK_FILESYSTEMS = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb",
        "smb2",
        "smb3",
        "smbfs",
        "9p",
        "afs",
        "ceph",
        "glusterfs",
        "lustre",
        "gpfs",
        "beegfs",
        "davfs",
        "fuse.sshfs",
        "fuse.glusterfs",
        "fuse.s3fs",
        "fuse.rclone",
        "fuse.gcsfuse",
        "fuse.cephfs",
    }
)


def check_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"cache name {name!r} is not allowed: use letters, digits, '_', '-' and '.', "
            "not starting with '.' or '-' (e.g. 'features', 'images-v2')"
        )
    return name


def check_options(
    *,
    name: object,
    policy: object,
    record: object,
    durability: object,
    network_filesystem: object,
    lock_timeout: object,
    **flags: object,
) -> None:
    """Reject what ``Cache(...)`` cannot honour, naming the argument and what is allowed."""
    check_name(name)
    if policy != "lru":
        raise ValueError(f"policy {policy!r} is not supported: the only policy is 'lru'")
    if not isinstance(record, bool | str | os.PathLike) or (
        isinstance(record, str) and not record.strip()
    ):
        raise TypeError(f"record must be True, False or the path of a trace file, not {record!r}")
    if durability not in ("fast", "strict"):
        raise ValueError(f"durability {durability!r} is not allowed: use 'fast' or 'strict'")
    if network_filesystem not in ("memory-only", "allow"):
        raise ValueError(
            f"network_filesystem {network_filesystem!r} is not allowed: "
            "use 'memory-only' or 'allow'"
        )
    if isinstance(lock_timeout, bool) or not isinstance(lock_timeout, int | float):
        raise TypeError(f"lock_timeout must be seconds, not {lock_timeout!r}")
    if not lock_timeout >= 0:
        raise ValueError(f"lock_timeout {lock_timeout!r} must be >= 0 seconds")
    for flag, v in flags.items():
        if not isinstance(v, bool):
            raise TypeError(f"{flag} must be True or False, not {v!r}")


REMOTE_SCHEMES = ("redis://", "rediss://", "redis+cluster://", "rediss+cluster://", "unix://")
UNLIMITED = 2**62
"""The remote budget of a cache given ``remote`` without ``remote_budget``: bounded by the
server's ``maxmemory`` alone."""


def check_remote(url: object, timeout: object) -> str | None:
    """The remote URL (or None), after checking it and ``remote_timeout``."""
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise ValueError(f"remote_timeout is seconds > 0 per Redis call, not {timeout!r}")
    if url is None or url is False:
        return None
    if not isinstance(url, str) or not url.startswith(REMOTE_SCHEMES):
        raise ValueError(
            f"remote {url!r} is not a Redis URL: use redis://host:port/db, rediss://host:port/db "
            "(TLS), redis+cluster://host:port or unix:///path/to/redis.sock"
        )
    return url


def remote_budget(value: object, url: str | None) -> int:
    """Bytes of the remote budget: None means no budget of our own when a URL is given."""
    if value is None and url is not None:
        return UNLIMITED
    n = budget(value, "remote")
    if n and url is None:
        raise ValueError(
            f"remote_budget={value!r} needs a remote tier: give remote='redis://host:port/db'"
        )
    return n


_recorders: dict[str, Any] = {}


def recorder(record: bool | str | os.PathLike[str], directory: Path) -> Any:
    """The process's ``Recorder`` for ``record`` (one per file, shared by the caches that
    name it), or None. ``True`` means ``<directory>/trace/<pid>.mktrace``."""
    if record is False:
        return None
    from .._observe import Recorder

    if record is True:
        path = directory / "trace" / f"{os.getpid()}.mktrace"
        os.makedirs(path.parent, mode=0o700, exist_ok=True)
    else:
        path = Path(os.fspath(record)).expanduser().absolute()
        path.parent.mkdir(parents=True, exist_ok=True)
    key = str(path)
    rec = _recorders.get(key)
    if rec is None or rec._closed:
        rec = _recorders[key] = Recorder(path)
    return rec


def default_directory(name: str) -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("memcache_kit")) / name


def existing_ancestor(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def budget(value: object, what: str, directory: Path | None = None) -> int:
    """Bytes of a tier budget: ``0``, ``None``, ``False`` and ``"none"`` turn the tier off."""
    if value is None or value is False:
        return 0
    if value is True:
        raise ValueError(
            f"{what} budget {value!r} is not a size: give bytes or a string like '1GiB'"
        )
    if isinstance(value, str) and value.strip().lower() in ("none", "off", "false"):
        return 0
    if not isinstance(value, int | str):
        raise TypeError(
            f"{what} budget must be an int of bytes or a string like '512MiB', "
            f"not {type(value).__name__} ({value!r})"
        )
    if what == "disk":
        anchor = existing_ancestor(directory) if directory is not None else None
        return _sizes.parse_size(value, of="disk", path=str(anchor) if anchor else None)
    return _sizes.parse_size(value, of="memory")


def ttl_seconds(value: object) -> float | None:
    """Seconds of a ttl (``None``: never expires)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"ttl must be seconds, a string like '10m', or None, not {value!r}")
    seconds = _sizes.parse_duration(value)
    if not seconds > 0:
        raise ValueError(f"ttl {value!r} must be positive (or None for never expires)")
    return seconds


def _unescape(field: str) -> str:
    # /proc/mounts escapes space, tab, newline and backslash as octal (\040 ...).
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


MOUNTS = "/proc/mounts"


def filesystem_type(path: Path, mounts: str | None = None) -> str | None:
    """The filesystem type of the mount holding ``path`` (longest mount-point prefix), or
    None where ``/proc/mounts`` cannot be read (not Linux)."""
    try:
        with open(mounts or MOUNTS, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    target = os.path.realpath(existing_ancestor(path))
    best, best_type = "", None
    for line in lines:
        fields = line.split()
        if len(fields) < 3:
            continue
        point = _unescape(fields[1]).rstrip("/") or "/"
        inside = target == point or target.startswith(point if point == "/" else point + "/")
        if inside and len(point) >= len(best):
            best, best_type = point, fields[2]
    return best_type


_warned_dirs: set[str] = set()


def warn_network_filesystem(name: str, directory: Path, fstype: str) -> None:
    key = str(directory)
    if key in _warned_dirs:
        return
    _warned_dirs.add(key)
    warnings.warn(
        f"cache {name!r}: {str(directory)!r} is on a network filesystem ({fstype}), where "
        "SQLite's locking is unreliable; the cache runs memory-only. Give "
        "network_filesystem='allow' to use the disk tier there anyway, or choose a local "
        "directory.",
        CacheWarning,
        stacklevel=4,
    )


_fork_hooks: weakref.WeakSet[Any] = weakref.WeakSet()


def on_fork(obj: Any) -> None:
    """Call ``obj._reset_after_fork()`` in the child after every ``os.fork()``."""
    _fork_hooks.add(obj)


def _after_fork_in_child() -> None:
    for obj in list(_fork_hooks):
        hook: Callable[[], None] = obj._reset_after_fork
        hook()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
