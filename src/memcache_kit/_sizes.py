"""Sizes and durations: parsing budgets, and measuring what a value keeps alive (a leaf module).

``sizeof`` charges a value for the memory it keeps alive. Large containers are not walked in
full: past ``_EXACT_N`` children a random sample is sized and extrapolated (see ``sizeof`` for the
error bound), so one call costs at most about ``_BUDGET`` object visits whatever the value's size.
numpy, pandas, polars, pyarrow and torch are recognised by module name, never imported here.
"""

from __future__ import annotations

import array
import gc
import math
import mmap
import operator
import os
import random
import re
import shutil
import sys
import types
from collections import deque
from collections.abc import Callable, Sequence
from fractions import Fraction
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "compact",
    "is_memmap",
    "parse_duration",
    "parse_size",
    "physical_memory",
    "register_sizer",
    "sizeof",
]

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


# ---------------------------------------------------------------------------------------------
# sizeof: dispatch

Sizer = Callable[[Any], int]
_Handler = Callable[["_Walk", Any, int, int], None]

_registered: dict[type, Sizer] = {}
_SCALARS = (int, str, float, bytes)
_FAST_SCALARS = True  # False once a sizer is registered for a scalar type or one of its bases
_handlers: dict[type, _Handler] = {}


def register_sizer(cls: type, fn: Callable[[Any], int]) -> None:
    """Size instances of ``cls`` (and subclasses) with ``fn``, taken at its word.

    Registered sizers win over the built-in ones, including inside containers:
    ``register_sizer(T, lambda v: 1)`` charges each ``T`` one unit, so a byte budget of N
    becomes a count bound. ``fn`` must return a non-negative int.
    """
    if not isinstance(cls, type):
        raise TypeError(f"register_sizer: expected a class, got {cls!r}")
    if not callable(fn):
        raise TypeError(f"register_sizer: expected a callable for {cls.__qualname__}, got {fn!r}")
    global _FAST_SCALARS
    _registered[cls] = fn
    _handlers.clear()  # a cached MRO lookup may now resolve differently
    _FAST_SCALARS = not any(k in _registered for t in _SCALARS for k in t.__mro__)


def sizeof(obj: Any) -> int:
    """Bytes that ``obj`` keeps alive, counting each distinct object once.

    Exact for bytes, bytearray, str, numbers (shared singletons such as None, True and small ints
    cost 0), numpy arrays (a view is charged for the base it keeps alive; a memmap only for its
    object overhead), torch tensors (their storage) and pyarrow/polars objects (their buffers);
    pandas objects are sized from their arrays, sampling the elements of object columns.

    Containers (list, tuple, dict, set, frozenset, deque, the attributes of plain objects, numpy
    object arrays) with up to 256 children are walked in full. Larger ones are estimated from a
    stratified random sample of children (16 at first, doubling up to 2048): the sample grows until
    the estimated standard error of the total is at most 2.5 % of it (inflated for small samples),
    so the estimate lies within ±10 % of a full walk except in about 1 case in 1 000 when child
    sizes are not heavy-tailed (600 random shapes measured: largest error 6.8 %, median 1 %).

    Not guaranteed: a child far larger than the rest may be missed (or hit and weighted n/k
    times); an object referenced by a few children is charged, in expectation, once per child that
    references it (objects reached by two sampled children are recognised as shared and counted
    once). One call visits on the order of 50 000 objects at most; past that budget, children are
    charged shallowly. Other objects fall back to ``pympler.asizeof`` with a depth limit of 8.
    Repeated calls on an unchanged value return the same number (the sample is seeded).
    """
    walk = _Walk()
    walk.visit(obj, _BUDGET, 0)
    return max(0, round(walk.sums[0]))


def _handler_for(t: type) -> _Handler:
    h = _handlers.get(t)
    if h is None:
        h = _handlers[t] = _resolve(t)
    return h


def _resolve(t: type) -> _Handler:
    for klass in t.__mro__:
        fn = _registered.get(klass)
        if fn is not None:
            return _registered_handler(fn, klass)
    if issubclass(t, type) or t in _FREE_TYPES:
        return _free
    for klass in t.__mro__:
        h = _BUILTIN.get(klass)
        if h is not None:
            return h
        root = klass.__module__.partition(".")[0]
        if root in _LIBRARIES:
            lib = _LIBRARIES[root](t)
            if lib is not None:
                return lib
    if _plain_instance(t):
        return _instance
    return _pympler


def _registered_handler(fn: Sizer, klass: type) -> _Handler:
    def handler(walk: _Walk, obj: Any, budget: int, depth: int) -> None:
        raw = fn(obj)
        try:
            size = operator.index(raw)  # ints, and numpy integers
        except TypeError:
            size = -1
        if size < 0 or isinstance(raw, bool):
            raise TypeError(
                f"the sizer registered for {klass.__qualname__} returned {raw!r}; "
                "it must return a non-negative int"
            )
        walk.charge(obj, size)

    return handler


# ---------------------------------------------------------------------------------------------
# sizeof: the walk

_EXACT_N = 256  # containers with at most this many children are walked in full
_K0 = 16  # first sample of a larger container
_K_MAX = 2048  # largest sample of one container
_K_SHALLOW = 8  # sample of a container reached when the visit budget is spent
_REL_SE = 0.025  # stop sampling when the standard error is at most this fraction of the total
_SMALL_K = 1.5  # inflates the standard error of small samples, whose variance estimate is rough
_BUDGET = 50_000  # object visits per sizeof() call, divided among the children walked
_MAX_DEPTH = 100  # nesting below this is charged shallowly (the walk recurses)
_SEED = 0x5EED  # a seeded sample makes sizeof() repeatable for the same value


class _Walk:
    """One sizeof() call: objects seen, and bytes per group.

    A *group* is one sampled child of a sampled container (group 0 is the root). Bytes found under
    a group are scaled by n/k when its container's estimate is made. An object reached from two
    sibling groups is shared: it moves, with everything charged beneath it, out of the group that
    found it first (where it would be scaled) into their common parent (where it counts once).
    """

    __slots__ = (
        "group",
        "level",
        "level_parent",
        "log",
        "open",
        "owner",
        "seen",
        "storages",
        "sums",
    )

    def __init__(self) -> None:
        self.seen: set[int] = set()
        # id -> (group, bytes of it and all charged beneath it, its span in ``log``): only for
        # objects charged inside a sampled group, the ones that may have to move.
        self.owner: dict[int, tuple[int, float, int, int]] = {}
        self.log: list[int] = []  # ids in the order charged: a subtree is a contiguous span
        self.sums: list[float] = [0.0]
        self.level_parent: list[int] = []  # the group a sampled level's container is in
        self.level: list[int] = [-1]
        self.open: list[bool] = []
        self.storages: set[tuple[str, int]] = set()
        self.group = 0

    def visit(self, obj: Any, budget: int, depth: int) -> None:
        t = type(obj)
        if (t is int or t is str or t is float or t is bytes) and _FAST_SCALARS:
            # The hot path: most of what a large container holds. Inlined for speed.
            if _free_singleton(obj):
                return
            i = id(obj)
            if i in self.seen:
                self.first_sight(obj)
                return
            self.seen.add(i)
            size = sys.getsizeof(obj)
            if t is int and size == _ONE_DIGIT_INT:
                size = _MEDIUM_INT
            g = self.group
            self.sums[g] += size
            if g:
                self.owner[i] = (g, size, 0, 0)
                self.log.append(i)
            return
        if obj is None or obj is True or obj is False or _free_singleton(obj):
            return
        if not self.first_sight(obj):
            return
        handler = _handler_for(t)
        g = self.group
        if not g:
            handler(self, obj, budget if depth <= _MAX_DEPTH else -1, depth)
            return
        before, start = self.sums[g], len(self.log)
        handler(self, obj, budget if depth <= _MAX_DEPTH else -1, depth)
        self.owner[id(obj)] = (g, self.sums[g] - before, start, len(self.log))

    def first_sight(self, obj: Any) -> bool:
        """True the first time ``obj`` is met; later, moves it if it turns out shared."""
        i = id(obj)
        if i not in self.seen:
            self.seen.add(i)
            return True
        own = self.owner.get(i)
        if own is None or own[0] == self.group:
            return False
        ancestors = set()
        g = self.group
        while g >= 0:
            ancestors.add(g)
            g = self.level_parent[self.level[g]] if g else -1
        first, size, start, end = own
        if first in ancestors:
            return False
        g = first
        while g not in ancestors:
            if not self.open[self.level[g]]:
                return False  # that estimate is already made; leave it
            g = self.level_parent[self.level[g]] if g else -1
        self.sums[first] -= size
        self.sums[g] += size
        owner = self.owner
        for j in (i, *self.log[start:end]):
            o = owner.get(j)
            if o is not None and o[0] == first:
                if g:
                    owner[j] = (g, *o[1:])
                else:
                    del owner[j]
        return False

    def charge(self, obj: Any, size: int) -> None:
        g = self.group
        self.sums[g] += size
        if g:
            i = id(obj)
            self.owner[i] = (g, size, 0, 0)
            self.log.append(i)

    def children(
        self,
        columns: tuple[Sequence[Any], ...],
        budget: int,
        depth: int,
        own: int,
    ) -> None:
        """Charge the children of a container whose own size is ``own``: child ``i`` is
        ``col[i]`` for each of the equally long ``columns`` (a dict has keys and values)."""
        n = len(columns[0])
        if n <= 0:
            return
        if n <= _EXACT_N and n * len(columns) <= budget:
            child_budget = (budget - n * len(columns)) // (n * len(columns))
            for col in columns:
                for child in col:
                    self.visit(child, child_budget, depth + 1)
            return
        k_max = min(n, _K_MAX, max(budget, _K_SHALLOW))
        child_budget = (budget - k_max) // k_max if budget >= k_max else -1
        level = len(self.open)
        self.open.append(True)
        self.level_parent.append(self.group)
        parent, picked = self.group, list[tuple[int, int]]()
        seen, owner, sums, log = self.seen, self.owner, self.sums, self.log
        levels = self.level
        strata = _Strata(n, min(_K0, k_max))
        batch = strata.first()
        while True:
            for i in batch:
                g = len(sums)  # self.group is set only around calls that read it
                sums.append(0.0)
                levels.append(level)
                picked.append((i, g))
                acc = 0
                for col in columns:
                    child = col[i]
                    # Scalars inline: this loop is most of the time sizeof() takes.
                    t = type(child)
                    if t is int and _FAST_SCALARS:
                        if -5 <= child <= 256:
                            continue
                    elif not (t is str or t is float or t is bytes) or not _FAST_SCALARS:
                        self.group = g
                        self.visit(child, child_budget, depth + 1)
                        self.group = parent
                        continue
                    elif t is not float and len(child) <= 1 and _free_singleton(child):
                        continue
                    ci = id(child)
                    if ci in seen:
                        self.group = g
                        self.first_sight(child)
                        self.group = parent
                        continue
                    seen.add(ci)
                    size = sys.getsizeof(child)
                    if t is int and size == _ONE_DIGIT_INT:
                        size = _MEDIUM_INT
                    acc += size
                    owner[ci] = (g, size, 0, 0)
                    log.append(ci)
                sums[g] += acc
            k = len(picked)
            if 2 * k > k_max:
                break
            # One sample per stratum: the successive-difference variance estimator follows
            # trends along the container (sorted keys, growing strings) instead of counting
            # them as noise, so ordered data needs fewer samples.
            picked.sort()
            vals = [sums[g] for _, g in picked]
            mean = math.fsum(vals) / k
            var = math.fsum((b - a) ** 2 for a, b in pairwise(vals)) / (2 * (k - 1))
            se = n * math.sqrt(var / k * (1 - k / n))
            if se * (1 + _SMALL_K / math.sqrt(k - 1)) <= _REL_SE * (n * mean + own):
                break
            batch = strata.split()
        self.open[level] = False
        sums[parent] += n * math.fsum(sums[g] for _, g in picked) / len(picked)


_RANDOM: list[float] = []  # one seeded stream shared by all calls: seeding per call costs 5 µs


class _Strata:
    """A stratified random sample of ``range(n)``: ``k`` equal strata, one random index in each;
    ``split()`` halves every stratum and draws in the half that has no index yet. The draws come
    from one seeded stream, so sizeof() of the same value is repeatable."""

    __slots__ = ("k", "n", "pos", "rng", "sample")

    def __init__(self, n: int, k: int) -> None:
        if not _RANDOM:
            rng0 = random.Random(_SEED)
            _RANDOM.extend(rng0.random() for _ in range(4096))
        self.n, self.k, self.pos = n, k, n * 2654435761 % 2048
        self.rng: random.Random | None = None
        self.sample: list[int] = []

    def _draw(self, lo: int, hi: int) -> int:
        """A random integer in [lo, hi)."""
        if self.pos < len(_RANDOM):
            u = _RANDOM[self.pos]
            self.pos += 1
        else:
            self.rng = self.rng or random.Random(_SEED ^ self.n)
            u = self.rng.random()
        return lo + int(u * (hi - lo))

    def first(self) -> list[int]:
        n, k, pos = self.n, self.k, self.pos
        if pos + k > len(_RANDOM):
            self.sample = [self._draw(-(-j * n // k), -(-(j + 1) * n // k)) for j in range(k)]
            return self.sample
        self.pos += k
        b = [-(-j * n // k) for j in range(k + 1)]  # ceil(j*n/k): strata are never empty
        self.sample = [
            b[j] + int(u * (b[j + 1] - b[j])) for j, u in enumerate(_RANDOM[pos : pos + k])
        ]
        return self.sample

    def split(self) -> list[int]:
        n, k2 = self.n, 2 * self.k
        new = []
        for j, i in enumerate(self.sample):
            lo, mid, hi = (-(-m * n // k2) for m in (2 * j, 2 * j + 1, 2 * j + 2))
            new.append(self._draw(mid, hi) if i < mid else self._draw(lo, mid))
        self.sample = sorted(self.sample + new)
        self.k = k2
        return new


def _free_singleton(obj: Any) -> bool:
    # CPython shares these process-wide; a value holding one keeps nothing extra alive.
    t = type(obj)
    if t is int:
        return bool(-5 <= obj <= 256)
    if t is str:
        return len(obj) == 0 or (len(obj) == 1 and ord(obj) < 256)
    if t is bytes:
        return len(obj) <= 1
    if t is tuple:
        return len(obj) == 0
    return obj is Ellipsis or obj is NotImplemented


_FREE_TYPES = {
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.ModuleType,
    types.CodeType,
    types.MethodWrapperType,
    types.WrapperDescriptorType,
    types.MethodDescriptorType,
    types.GetSetDescriptorType,
    types.MemberDescriptorType,
}


def _free(walk: _Walk, obj: Any, budget: int, depth: int) -> None:
    """Classes, functions and modules belong to the program, not to the value."""


def _leaf(walk: _Walk, obj: Any, budget: int, depth: int) -> None:
    walk.charge(obj, sys.getsizeof(obj))


# CPython allocates an int below 2**30 as a whole PyLongObject struct, padded to 8 bytes, while
# sys.getsizeof reports the unpadded size (28 bytes, allocated 32; measured with tracemalloc).
_ONE_DIGIT_INT = sys.getsizeof(1)
_MEDIUM_INT = (_ONE_DIGIT_INT + 7) // 8 * 8


def _int(walk: _Walk, obj: Any, budget: int, depth: int) -> None:
    size = sys.getsizeof(obj)
    walk.charge(obj, _MEDIUM_INT if size == _ONE_DIGIT_INT else size)


def _sequence(walk: _Walk, obj: Any, budget: int, depth: int) -> None:
    own = sys.getsizeof(obj)
    walk.charge(obj, own)
    if budget < 0:
        return
    seq = obj if isinstance(obj, list | tuple) else list(obj)
    walk.children((seq,), budget, depth, own)


def _set(walk: _Walk, obj: Any, budget: int, depth: int) -> None:
    own = sys.getsizeof(obj)
    walk.charge(obj, own)
    if budget < 0 or not obj:
        return
    if len(obj) <= _EXACT_N and len(obj) <= budget:
        child_budget = (budget - len(obj)) // len(obj)
        for child in obj:
            walk.visit(child, child_budget, depth + 1)
        return
    seq = list(obj)
    walk.children((seq,), budget, depth, own)


def _dict(walk: _Walk, obj: Any, budget: int, depth: int) -> None:
    own = sys.getsizeof(obj)
    walk.charge(obj, own)
    if budget < 0 or not obj:
        return
    n = len(obj)
    if n <= _EXACT_N and 2 * n <= budget:
        child_budget = (budget - 2 * n) // (2 * n)
        for key, value in obj.items():
            walk.visit(key, child_budget, depth + 1)
            walk.visit(value, child_budget, depth + 1)
        return
    keys, values = list(obj), list(obj.values())
    walk.children((keys, values), budget, depth, own)


def _memoryview(walk: _Walk, obj: memoryview, budget: int, depth: int) -> None:
    walk.charge(obj, sys.getsizeof(obj))
    try:
        base = obj.obj
    except ValueError:  # released
        return
    walk.visit(base, budget, depth + 1)


def _mmap(walk: _Walk, obj: Any, budget: int, depth: int) -> None:
    # Mapped pages belong to the page cache, which the kernel reclaims: nothing resident.
    walk.charge(obj, sys.getsizeof(obj))


_BUILTIN: dict[type, _Handler] = {
    bytes: _leaf,
    bytearray: _leaf,
    str: _leaf,
    int: _int,
    float: _leaf,
    complex: _leaf,
    range: _leaf,
    array.array: _leaf,
    list: _sequence,
    tuple: _sequence,
    deque: _sequence,
    dict: _dict,
    set: _set,
    frozenset: _set,
    memoryview: _memoryview,
    mmap.mmap: _mmap,
}


def _plain_instance(t: type) -> bool:
    return getattr(t, "__sizeof__", None) is object.__sizeof__ and (
        t.__dictoffset__ != 0 or bool(_slot_names(t))
    )


_slots_cache: dict[type, tuple[str, ...]] = {}


def _slot_names(t: type) -> tuple[str, ...]:
    names = _slots_cache.get(t)
    if names is None:
        found: list[str] = []
        for klass in t.__mro__:
            slots = klass.__dict__.get("__slots__", ())
            for s in (slots,) if isinstance(slots, str) else slots:
                if s not in ("__dict__", "__weakref__") and s not in found:
                    found.append(s)
        names = _slots_cache[t] = tuple(found)
    return names


# Python 3.11 and 3.12 keep an instance's attribute values in an array outside the object until
# something asks for __dict__ (asking would allocate a dict, so sizeof() does not). Measured with
# tracemalloc on 3.11: 8 bytes a value plus 16 to 20; getsizeof() counts none of it.
_MANAGED_DICT = 1 << 4  # Py_TPFLAGS_MANAGED_DICT
_VALUES_ARRAY = (3, 11) <= sys.version_info[:2] < (3, 13)


def _instance(walk: _Walk, obj: Any, budget: int, depth: int) -> None:
    t = type(obj)
    size = sys.getsizeof(obj)
    # The GC's view of the object lists its attribute and slot values (or its __dict__ once one
    # exists) without creating anything.
    refs = [r for r in gc.get_referents(obj) if r is not t]
    if (
        _VALUES_ARRAY
        and t.__flags__ & _MANAGED_DICT
        and not (len(refs) == 1 and type(refs[0]) is dict)
    ):
        size += 8 * len(refs) + 18
    walk.charge(obj, size)
    if budget < 0:
        return
    for r in refs:
        walk.visit(r, budget // max(len(refs), 1), depth + 1)


_PYMPLER_LIMIT = 8  # recursion depth for pympler: bounds its time on unknown objects


def _pympler(walk: _Walk, obj: Any, budget: int, depth: int) -> None:
    from pympler import asizeof

    try:
        size = asizeof.asizeof(  # type: ignore[no-untyped-call]
            obj, limit=_PYMPLER_LIMIT if budget >= 0 else 0
        )
    except Exception:  # pympler cannot size every C type; its shallow size is the honest floor
        size = sys.getsizeof(obj, 0)
    walk.charge(obj, int(size))


# ---------------------------------------------------------------------------------------------
# sizeof: optional libraries, recognised by module name and never imported here.
# Their wrappers' __sizeof__ often adds the data size, so the shell is object.__sizeof__.


def _numpy_handler(t: type) -> _Handler | None:
    np = sys.modules.get("numpy")
    if np is None:
        return None
    return _ndarray if issubclass(t, np.ndarray) else _leaf


def _ndarray(walk: _Walk, obj: Any, budget: int, depth: int) -> None:
    # An array that owns its data reports header + data; a view reports its header only, and is
    # charged for what its base chain keeps alive (each link once, so a base shared by many views
    # counts once). The chain ends in an owning array, a buffer (bytes, memoryview) or an mmap.
    walk.charge(obj, sys.getsizeof(obj))
    np = sys.modules["numpy"]
    a = obj
    while True:
        base = a.base
        if base is None:
            break
        if not isinstance(base, np.ndarray):
            walk.visit(base, budget, depth + 1)
            break
        if not walk.first_sight(base):
            break
        walk.charge(base, sys.getsizeof(base))
        a = base
    if a.dtype.hasobject and budget >= 0 and a.size:
        flat = a.reshape(-1) if a.flags.c_contiguous else a.ravel()
        walk.children((flat,), budget, depth, sys.getsizeof(a))


def _pandas_handler(t: type) -> _Handler | None:
    pd = sys.modules.get("pandas")
    if pd is None:
        return None
    if issubclass(t, pd.DataFrame):
        return _pandas_frame
    if issubclass(t, pd.Series):
        return _pandas_series
    if issubclass(t, pd.Index):
        return _pandas_index
    if hasattr(t, "_ndarray") or hasattr(t, "_pa_array") or hasattr(t, "codes"):
        return _pandas_array
    return None


# Python objects around a frame's arrays (BlockManager, blocks, flags, caches), measured with
# tracemalloc on pandas 2.2-3.x: a fixed part plus a little per block.
_PD_FRAME_OVERHEAD = 2400
_PD_SERIES_OVERHEAD = 1000
_PD_BLOCK_OVERHEAD = 300
_PD_INDEX_OVERHEAD = 200


def _pandas_frame(walk: _Walk, obj: Any, budget: int, depth: int) -> None:
    blocks = getattr(getattr(obj, "_mgr", None), "blocks", None)
    if blocks is None:  # an unfamiliar pandas: its own (slow but exact) count
        walk.charge(obj, int(obj.memory_usage(deep=True, index=True).sum()))
        return
    walk.charge(obj, _PD_FRAME_OVERHEAD + _PD_BLOCK_OVERHEAD * len(blocks))
    share = budget // (len(blocks) + 2) if budget >= 0 else -1
    for blk in blocks:
        _pandas_values(walk, blk.values, share, depth)
    walk.visit(obj.index, share, depth + 1)
    walk.visit(obj.columns, share, depth + 1)


def _pandas_series(walk: _Walk, obj: Any, budget: int, depth: int) -> None:
    walk.charge(obj, _PD_SERIES_OVERHEAD)
    share = budget // 2 if budget >= 0 else -1
    _pandas_values(walk, obj._values, share, depth)
    walk.visit(obj.index, share, depth + 1)


def _pandas_index(walk: _Walk, obj: Any, budget: int, depth: int) -> None:
    walk.charge(obj, _PD_INDEX_OVERHEAD)
    if type(obj).__name__ in ("RangeIndex",):
        return
    if hasattr(obj, "levels") and hasattr(obj, "codes"):  # MultiIndex
        for part in (*obj.levels, *obj.codes):
            walk.visit(part, budget // 4 if budget >= 0 else -1, depth + 1)
        return
    _pandas_values(walk, obj._values, budget, depth)


def _pandas_array(walk: _Walk, obj: Any, budget: int, depth: int) -> None:
    walk.charge(obj, sys.getsizeof(obj))
    _pandas_values(walk, obj, budget, depth, charged=True)


def _pandas_values(
    walk: _Walk, values: Any, budget: int, depth: int, *, charged: bool = False
) -> None:
    """The arrays behind a block, Series or Index: numpy arrays, or pandas extension arrays."""
    np = sys.modules["numpy"]
    if isinstance(values, np.ndarray):
        walk.visit(values, budget, depth + 1)
        return
    if not charged and not walk.first_sight(values):
        return
    parts = [
        getattr(values, name)
        for name in ("_ndarray", "_pa_array", "_data", "_mask", "codes", "categories")
        if hasattr(values, name)
    ]
    if not parts:
        walk.charge(values, int(getattr(values, "nbytes", sys.getsizeof(values))))
        return
    for part in parts:
        walk.visit(part, budget // len(parts) if budget >= 0 else -1, depth + 1)


def _polars_handler(t: type) -> _Handler | None:
    return _polars if hasattr(t, "estimated_size") else None


def _polars(walk: _Walk, obj: Any, budget: int, depth: int) -> None:
    walk.charge(obj, object.__sizeof__(obj) + int(obj.estimated_size()))


def _pyarrow_handler(t: type) -> _Handler | None:
    if hasattr(t, "get_total_buffer_size"):
        return _pyarrow
    pa = sys.modules.get("pyarrow")
    if pa is not None and issubclass(t, pa.Buffer):
        return _pyarrow_buffer
    return None


def _pyarrow(walk: _Walk, obj: Any, budget: int, depth: int) -> None:
    # Total buffer size, not nbytes: a slice keeps its parent's whole buffers alive.
    walk.charge(obj, object.__sizeof__(obj) + int(obj.get_total_buffer_size()))


def _pyarrow_buffer(walk: _Walk, obj: Any, budget: int, depth: int) -> None:
    walk.charge(obj, object.__sizeof__(obj) + int(obj.size))


def _torch_handler(t: type) -> _Handler | None:
    torch = sys.modules.get("torch")
    if torch is None or not issubclass(t, torch.Tensor):
        return None
    return _tensor


def _tensor(walk: _Walk, obj: Any, budget: int, depth: int) -> None:
    size = object.__sizeof__(obj)  # Tensor.__sizeof__ adds the data, charged below
    try:
        storage = obj.untyped_storage()
        key = (str(storage.device), int(storage.data_ptr()))
        if key not in walk.storages:  # views share their storage: charge it once
            walk.storages.add(key)
            size += int(storage.nbytes())
    except (RuntimeError, NotImplementedError):  # sparse, nested or meta tensors
        size += int(obj.element_size() * obj.nelement())
    walk.charge(obj, size)


_LIBRARIES: dict[str, Callable[[type], _Handler | None]] = {
    "numpy": _numpy_handler,
    "pandas": _pandas_handler,
    "polars": _polars_handler,
    "pyarrow": _pyarrow_handler,
    "torch": _torch_handler,
}


# ---------------------------------------------------------------------------------------------
# Helpers for the memory tier: memmaps and compact copies of small views

_COMPACT_MAX = 64 * 1024**2  # views larger than this are kept as they are (a copy costs time)


def is_memmap(obj: Any) -> bool:
    """True for a ``np.memmap`` or an array whose base chain ends in an mmap (no resident data)."""
    np = sys.modules.get("numpy")
    if np is None or not isinstance(obj, np.ndarray):
        return False
    a: Any = obj
    while True:
        if isinstance(a, np.memmap | mmap.mmap):
            return True
        if isinstance(a, memoryview):
            try:
                a = a.obj
            except ValueError:
                return False
            continue
        if not isinstance(a, np.ndarray):
            return False
        a = a.base


def compact(value: Any) -> Any:
    """A compact contiguous copy of a numpy view that keeps alive a base much larger than itself
    (the view's bytes at most half the base's, and at most 64 MiB); otherwise ``value`` itself.

    Memmaps are never copied. The copy keeps the view's subclass and read-only flag.
    """
    np = sys.modules.get("numpy")
    if np is None or not isinstance(value, np.ndarray) or value.base is None:
        return value
    if is_memmap(value) or value.dtype.hasobject or value.nbytes > _COMPACT_MAX:
        return value
    base_bytes = _base_nbytes(value)
    if base_bytes is None or value.nbytes * 2 > base_bytes:
        return value
    copy = value.copy(order="C")
    if not value.flags.writeable:
        copy.flags.writeable = False
    return copy


def _base_nbytes(arr: Any) -> int | None:
    np = sys.modules["numpy"]
    a: Any = arr
    while isinstance(a, np.ndarray) and a.base is not None:
        a = a.base
    if isinstance(a, np.ndarray):
        return int(a.nbytes)
    if isinstance(a, memoryview):
        return a.nbytes
    if isinstance(a, bytes | bytearray):
        return len(a)
    try:
        return memoryview(a).nbytes
    except TypeError:
        return None
