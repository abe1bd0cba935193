"""``sizeof`` and ``register_sizer``: what a value keeps alive, walked and sampled (a leaf).

Large containers are not walked in full: past ``_EXACT_N`` children a random sample is sized
and extrapolated (see ``sizeof`` for the error bound), so one call costs at most about
``_BUDGET`` object visits whatever the value's size. Builtins and plain instances are sized
in ``builtins``; numpy, pandas, polars, pyarrow and torch in ``libraries``, by module
name.
"""

from __future__ import annotations

import math
import operator
import random
import sys
from collections.abc import Callable, Sequence
from itertools import pairwise
from typing import Any, ClassVar

__all__ = ["Sizer", "register_sizer", "sizeof"]

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


class Dispatch:
    """What the walk dispatches to, filled at import by ``builtins`` (the sizers of builtins
    and plain objects, and the fallbacks) and ``libraries`` (by a type's top-level module).
    Both import this module, so it cannot import them; the package's face imports both before
    anything is sized."""

    builtin: ClassVar[dict[type, _Handler]] = {}
    free_types: ClassVar[set[type]] = set()
    libraries: ClassVar[dict[str, Callable[[type], _Handler | None]]] = {}
    free: ClassVar[_Handler]
    instance: ClassVar[_Handler]
    pympler: ClassVar[_Handler]
    plain_instance: ClassVar[Callable[[type], bool]]


def _resolve(t: type) -> _Handler:
    d = Dispatch
    for klass in t.__mro__:
        fn = _registered.get(klass)
        if fn is not None:
            return _registered_handler(fn, klass)
    if issubclass(t, type) or t in d.free_types:
        return d.free
    for klass in t.__mro__:
        h = d.builtin.get(klass)
        if h is not None:
            return h
        module = klass.__module__  # a proxy class's may be a property: then no library's
        root = module.partition(".")[0] if isinstance(module, str) else ""
        if root in d.libraries:
            lib = d.libraries[root](t)
            if lib is not None:
                return lib
    if d.plain_instance(t):
        return d.instance
    return d.pympler


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
        if obj is None or obj is True or obj is False:
            return
        if t in _MAYBE_FREE and _free_singleton(obj):
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
        col: Sequence[Any],
        budget: int,
        depth: int,
        own: int,
        mapping: dict[Any, Any] | None = None,
    ) -> None:
        """Charge the children of a container whose own size is ``own``: child ``i`` is
        ``col[i]``, and with a ``mapping`` (``col`` its keys) also ``mapping[col[i]]``.

        A dict's values are looked up for the sampled keys only: listing them all would cost as
        much as the whole sample on a dict of a thousand entries."""
        n = len(col)
        if n <= 0:
            return
        width = 1 if mapping is None else 2
        if n <= _EXACT_N and n * width <= budget:
            child_budget = (budget - n * width) // (n * width)
            for child in col:
                self.visit(child, child_budget, depth + 1)
                if mapping is not None:
                    self.visit(dict.__getitem__(mapping, child), child_budget, depth + 1)
            return
        k_max = min(n, _K_MAX, max(budget, _K_SHALLOW))
        child_budget = (budget - k_max) // k_max if budget >= k_max else -1
        level = len(self.open)
        self.open.append(True)
        self.level_parent.append(self.group)
        parent, picked = self.group, list[tuple[int, int]]()
        seen, owner, sums, log = self.seen, self.owner, self.sums, self.log
        levels = self.level
        fast = _FAST_SCALARS
        getsizeof = sys.getsizeof
        getitem = dict.__getitem__
        strata = _Strata(n, min(_K0, k_max))
        batch = strata.first()
        while True:
            for i in batch:
                g = len(sums)  # self.group is set only around calls that read it
                sums.append(0.0)
                levels.append(level)
                picked.append((i, g))
                acc = 0
                child = col[i]
                row = (child,) if mapping is None else (child, getitem(mapping, child))
                for child in row:
                    # Scalars inline: this loop is most of the time sizeof() takes.
                    t = type(child)
                    if t is int and fast:
                        if -5 <= child <= 256:
                            continue
                    elif not (t is str or t is float or t is bytes) or not fast:
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
                    size = getsizeof(child)
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
_FIRST: dict[tuple[int, int], tuple[int, ...]] = {}  # (n, k) -> the first sample: see first()
_FIRST_MAX = 4096


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
        # The stream position depends on n alone, so this sample is a function of (n, k):
        # computed once per container length (it costs as much as sampling 8 children).
        first = _FIRST.get((n, k))
        if first is None:
            b = [-(-j * n // k) for j in range(k + 1)]  # ceil(j*n/k): strata are never empty
            first = tuple(
                b[j] + int(u * (b[j + 1] - b[j])) for j, u in enumerate(_RANDOM[pos : pos + k])
            )
            if len(_FIRST) >= _FIRST_MAX:
                _FIRST.clear()
            _FIRST[n, k] = first
        self.sample = list(first)
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


_MAYBE_FREE = frozenset({int, str, bytes, tuple, type(Ellipsis), type(NotImplemented)})


# CPython allocates an int below 2**30 as a whole PyLongObject struct, padded to 8 bytes, while
# sys.getsizeof reports the unpadded size (28 bytes, allocated 32; measured with tracemalloc).
_ONE_DIGIT_INT = sys.getsizeof(1)
_MEDIUM_INT = (_ONE_DIGIT_INT + 7) // 8 * 8
