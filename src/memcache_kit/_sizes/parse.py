"""Parsing budgets and durations (``"1.5GiB"``, ``"25%"``, ``"10m"``) and finding the physical
memory (or the cgroup limit when it is lower). Measuring values is ``walk``'s."""

from __future__ import annotations

import math
import os
import re
import shutil
import sys
from fractions import Fraction
from pathlib import Path
from typing import Literal

__all__ = ["parse_duration", "parse_size", "physical_memory"]

# ---------------------------------------------------------------------------------------------
# Parsing sizes and durations

_UNITS: dict[str, int] = {"": 1}
for _i, _p in enumerate("kmgt", start=1):
    _UNITS[_p] = 1000**_i
    _UNITS[_p + "i"] = 1024**_i
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(?:([kmgt]i?)b?|(b?))\s*$", re.IGNORECASE)
_PERCENT_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*%\s*$")
_SIZE_EXAMPLES = (
    "give bytes as an int, or a string such as '512MiB', '1.5GB', '64k', '2Ti' or '25%'"
)


def parse_size(
    value: int | float | str,
    *,
    of: Literal["memory", "disk"] = "memory",
    path: str | os.PathLike[str] | None = None,
) -> int:
    """Bytes from an int or a string like ``"1.5GiB"``, ``"512M"``, ``"25%"``.

    ``k M G T`` (with or without ``B``) are powers of 1000 and ``Ki Mi Gi Ti`` (with or without
    ``B``) powers of 1024, case-insensitive; plain digits are bytes. A percentage is of physical
    memory (or the cgroup limit, if lower) for ``of="memory"``, and of the size of the filesystem
    holding ``path`` (its nearest existing parent; the user cache directory when ``path`` is None)
    for ``of="disk"``. Raises ``ValueError`` quoting the input and showing valid examples.
    """
    if of not in ("memory", "disk"):
        raise ValueError(f"parse_size(of={of!r}): expected 'memory' or 'disk'")
    if isinstance(value, bool):
        raise ValueError(f"invalid size {value!r}: a bool is not a size; {_SIZE_EXAMPLES}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"invalid size {value!r}: must not be negative; {_SIZE_EXAMPLES}")
        return value
    if isinstance(value, float):
        # TOML writes 1e9 as a float; accept it when it is a whole number of bytes.
        if math.isfinite(value) and value >= 0 and value.is_integer():
            return int(value)
        raise ValueError(f"invalid size {value!r}: expected whole bytes; {_SIZE_EXAMPLES}")
    if not isinstance(value, str):
        raise ValueError(f"invalid size {value!r}: expected an int or a string; {_SIZE_EXAMPLES}")
    m = _PERCENT_RE.match(value)
    if m:
        pct = Fraction(m.group(1))
        if pct > 100:
            raise ValueError(f"invalid size {value!r}: a percentage must be at most 100%")
        whole = physical_memory() if of == "memory" else _filesystem_size(path)
        return int(whole * pct / 100)
    m = _SIZE_RE.match(value)
    if not m:
        raise ValueError(f"invalid size {value!r}: {_SIZE_EXAMPLES}")
    number = Fraction(m.group(1))
    unit = (m.group(2) or "").lower()
    if not unit and number.denominator != 1:
        raise ValueError(f"invalid size {value!r}: a byte count must be whole; {_SIZE_EXAMPLES}")
    return int(number * _UNITS[unit])


_DURATION_UNITS: dict[str, float] = {}
for _names, _secs in (
    (("ms", "msec", "millisecond", "milliseconds"), 0.001),
    (("", "s", "sec", "secs", "second", "seconds"), 1.0),
    (("m", "min", "mins", "minute", "minutes"), 60.0),
    (("h", "hr", "hrs", "hour", "hours"), 3600.0),
    (("d", "day", "days"), 86400.0),
    (("w", "week", "weeks"), 604800.0),
):
    for _n in _names:
        _DURATION_UNITS[_n] = _secs
_DURATION_PART = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)", re.IGNORECASE)
_DURATION_EXAMPLES = (
    "give seconds as a number, or a string such as '30s', '500ms', '10m', '1.5h', '7d' or '1h30m'"
)


def parse_duration(value: int | float | str) -> float:
    """Seconds from a number or a string like ``"30s"``, ``"500ms"``, ``"10m"``, ``"1.5h"``,
    ``"7d"`` (also ``"1h30m"``; plain numbers are seconds). Raises ``ValueError`` quoting the input.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"invalid duration {value!r}: {_DURATION_EXAMPLES}")
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"invalid duration {value!r}: must be finite and not negative")
        return float(value)
    total, pos, text = 0.0, 0, value.strip()
    parts, bare = 0, False
    while pos < len(text):
        m = _DURATION_PART.match(text, pos)
        unit = m.group(2).lower() if m else None
        if m is None or unit not in _DURATION_UNITS:
            raise ValueError(f"invalid duration {value!r}: {_DURATION_EXAMPLES}")
        total += float(m.group(1)) * _DURATION_UNITS[unit]
        pos, parts, bare = m.end(), parts + 1, bare or unit == ""
    if not parts or (bare and parts > 1) or not math.isfinite(total):
        raise ValueError(f"invalid duration {value!r}: {_DURATION_EXAMPLES}")
    return total


def physical_memory() -> int:
    """Bytes of physical memory this process may use: the host's RAM, or the cgroup (v2
    ``memory.max``, v1 ``memory.limit_in_bytes``) limit when that is lower."""
    total = _host_memory()
    limit = _cgroup_limit()
    return min(total, limit) if limit is not None else total


def _host_memory() -> int:
    if hasattr(os, "sysconf") and "SC_PHYS_PAGES" in os.sysconf_names:
        pages, page = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        if pages > 0 and page > 0:
            return int(pages * page)
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import ctypes

        class _Status(ctypes.Structure):
            _fields_ = [
                ("dwLength", ctypes.c_ulong),
                ("dwMemoryLoad", ctypes.c_ulong),
                ("ullTotalPhys", ctypes.c_ulonglong),
                ("rest", ctypes.c_ulonglong * 6),
            ]

        status = _Status()
        status.dwLength = ctypes.sizeof(_Status)
        if ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status)):  # type: ignore[attr-defined]
            return int(status.ullTotalPhys)
    raise OSError("cannot determine physical memory; give the memory budget in bytes, not '%'")


_UNLIMITED = 1 << 60  # cgroup v1 reports "no limit" as a huge page-aligned number


def _cgroup_limit(
    root: Path = Path("/sys/fs/cgroup"), proc_cgroup: Path = Path("/proc/self/cgroup")
) -> int | None:
    """The lowest memory limit on this process's cgroup and its ancestors, or None."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None
    candidates: list[Path] = []
    for line in lines:
        _, controllers, rel = [*line.split(":", 2), "", ""][:3]
        if controllers == "":  # v2: one unified hierarchy
            candidates += [d / "memory.max" for d in _cgroup_dirs(root, rel)]
        elif "memory" in controllers.split(","):
            mount = root / "memory"
            candidates += [d / "memory.limit_in_bytes" for d in _cgroup_dirs(mount, rel)]
    limits: list[int] = []
    for f in candidates:
        try:
            text = f.read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < _UNLIMITED:
            limits.append(int(text))
    return min(limits) if limits else None


def _cgroup_dirs(mount: Path, rel: str) -> list[Path]:
    # Inside a container the cgroup path is often not visible under the mount: then the mount
    # root is the container's own cgroup, so check it as well as every visible ancestor.
    dirs = [mount]
    parts = [p for p in rel.strip().split("/") if p]
    for i in range(1, len(parts) + 1):
        dirs.append(mount.joinpath(*parts[:i]))
    return dirs


def _filesystem_size(path: str | os.PathLike[str] | None) -> int:
    if path is None:
        import platformdirs

        p = Path(platformdirs.user_cache_dir())
    else:
        p = Path(path).expanduser()
    p = p.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return shutil.disk_usage(p).total
