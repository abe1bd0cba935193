"""The budget advisor: hit ratio, byte hit ratio and load seconds saved at every memory budget.

The model is an LRU memory tier bounded in bytes, exactly as ``MemoryTier``: each request is a
``get_or_load``: a hit when the key is held with the same size, else a miss that stores the
value (``set``), evicting least recently used entries until it fits. From one pass over the
trace it computes every request's *stack distance* (the total size of the distinct keys
accessed since the previous request of its key, plus its own size); at budget ``B`` a request
hits iff its distance is at most ``B``. Rules that make this equal the real tier:

- **A value larger than the budget** is not stored (``MemoryTier.set`` refuses it): at budgets
  below its size it is a miss and it does not disturb the stack: it takes no room and evicts
  nothing. A key whose new size exceeds the budget drops its old entry (``set`` replaces it).
  Budgets below the largest value are computed by a pass that weighs such values 0.
- **A size that changes mid-trace** means the value changed: the request is a miss at every
  budget and the entry is replaced by one of the new size (as ``set`` re-sizes it).
- **Exact** for traces without sizes (entry counts), and with sizes whenever no key's value
  shrinks or grows past the budget. When one does, the real tier is left with free room that
  LRU does not refill until later misses, while the model counts it as used by older entries:
  the model is then an upper bound of the hit ratio. Measured on the adapt_size trace, where
  7 % of the requests change their key's size: at most 0.01 points above the real tier
  (tests/observe/test_advisor.py checks 0.5).

numpy is required (imported inside the functions); the ``plot`` extra adds matplotlib for
:func:`plot_advice`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .. import _sizes
from .._shapes import Advice, AdvicePoint
from .distances import group, numpy_or_error, stack_distances
from .traces import Trace, read_trace

if TYPE_CHECKING:
    pass

__all__ = [
    "advise",
    "advise_command",
    "load_trace",
    "plot_advice",
    "render_table",
    "stack_distances",
]

_GRID = 40
_SHARDS_BITS = 24  # SHARDS's modulus P = 2**24 (Waldspurger et al., FAST'15)


# -- traces in ---------------------------------------------------------------------------------


def load_trace(trace: Any, format: str | None = None) -> Trace:
    """A :class:`Trace` from a path, a ``Trace``, a numpy array of integer keys, or an iterable
    of keys or of ``(key, size)`` / ``(key, size, load_seconds)`` tuples."""
    np = numpy_or_error()
    if isinstance(trace, Trace):
        return trace
    if isinstance(trace, (str, os.PathLike)):
        return read_trace(trace, format)
    if format is not None:
        raise ValueError(
            f"format={format!r} applies to a trace file, not to {type(trace).__name__}"
        )
    if isinstance(trace, np.ndarray):
        if trace.ndim != 1 or trace.dtype.kind not in "iu":
            raise ValueError(
                f"a numpy trace must be a 1-d array of integer keys, got {trace.dtype} "
                f"with shape {trace.shape}"
            )
        return Trace(trace)
    if isinstance(trace, (bytes, bytearray)) or not isinstance(trace, Iterable):
        raise TypeError(
            f"advise() takes a path, a Trace, or an iterable of keys or (key, size[, seconds]) "
            f"tuples, not {type(trace).__name__}"
        )
    items = list(trace)
    if items and isinstance(items[0], tuple):
        width = len(items[0])
        bad = next((it for it in items if not isinstance(it, tuple) or len(it) != width), None)
        if width not in (2, 3) or bad is not None:
            raise ValueError(
                f"trace items must all be keys, or all (key, size) or (key, size, load_seconds) "
                f"tuples; got {items[0]!r} and {bad!r}"
            )
        keys = _dense_keys([it[0] for it in items])
        sizes = np.array([it[1] for it in items], dtype=np.int64)
        if sizes.size and sizes.min() < 0:
            raise ValueError(f"trace sizes must be >= 0 bytes, got {int(sizes.min())}")
        seconds = np.array([it[2] for it in items], dtype=np.float64) if width == 3 else None
        return Trace(keys, sizes, seconds)
    return Trace(_dense_keys(items))


def _dense_keys(keys: list[Any]) -> Any:
    np = numpy_or_error()
    if all(type(k) is int for k in keys):
        try:
            return np.array(keys, dtype=np.int64)
        except OverflowError:
            pass
    # Any hashable: number keys by first appearance (exact: hash() values may collide).
    ids: dict[Any, int] = {}
    return np.array([ids.setdefault(k, len(ids)) for k in keys], dtype=np.int64)


def _sample(tr: Trace, threshold: int) -> tuple[Trace, float | None]:
    """The requests whose key's hash falls below ``threshold / 2**24`` (SHARDS's spatial
    sampling), and an estimate of the number of distinct keys in the whole trace.

    The hash is Fibonacci hashing (the top bits of the key times the golden ratio): one
    multiply, which keeps the fixed cost of a sampled run low. The distinct keys are estimated
    by linear counting (Whang et al., 1990) over a nested sample eight times larger: the model
    scales distances by that estimate over the number of keys sampled, rather than by SHARDS's
    ``1 / rate``, because the share of keys a sample draws varies around the rate; this cut the
    mean error on scarab-recs and orm-busy by about a third (docs/advisor.md).
    """
    np = numpy_or_error()
    keys = tr.keys
    x = (keys.view(np.uint64) if keys.dtype.itemsize == 8 else keys.astype(np.uint64)) * (
        np.uint64(0x9E3779B97F4A7C15)
    )
    shift = 64 - _SHARDS_BITS
    wide_threshold = min(8 * threshold, 1 << _SHARDS_BITS)
    if wide_threshold < 1 << _SHARDS_BITS:
        wide = np.flatnonzero(x < np.uint64(wide_threshold << shift))
        x = x[wide]
    else:
        wide = np.arange(keys.shape[0])
    idx = wide[x < np.uint64(threshold << shift)]
    sub = Trace(
        keys[idx],
        None if tr.sizes is None else tr.sizes[idx],
        None if tr.seconds is None else tr.seconds[idx],
        None if tr.requests is None else tr.requests[idx],
    )
    # Linear counting: hash the wide sample again into a bitmap with at least twice as many
    # bits as requests, so it never saturates; the empty share gives the distinct count.
    lg = max(10, (2 * x.shape[0]).bit_length())
    x ^= x >> np.uint64(29)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    seen = np.zeros(1 << lg, np.bool_)
    seen[x >> np.uint64(64 - lg)] = True
    empty = (1 << lg) - int(np.count_nonzero(seen))
    distinct_wide = -(1 << lg) * math.log(empty / (1 << lg))
    return sub, distinct_wide * (1 << _SHARDS_BITS) / wide_threshold


# -- the curve ---------------------------------------------------------------------------------


class _Model:
    """Stack distances of one (possibly sampled) trace, and the curve they give at any budget.

    ``rate`` is the share of the key space sampled (1 when exact), which scales request counts
    and seconds; the distances of a sample are scaled by ``distinct`` (the estimated distinct
    keys of the whole trace) over the keys sampled, or by ``1 / rate`` without an estimate.
    """

    def __init__(self, tr: Trace, rate: float, distinct: float | None, n_requests: int) -> None:
        np = numpy_or_error()
        n = len(tr)
        self.rate = rate
        req = np.ones(n, np.bool_) if tr.requests is None else tr.requests.astype(np.bool_)
        self.prev, order = group(tr.keys)
        scale = 1.0
        if rate < 1:
            sampled_keys = int(np.count_nonzero(self.prev < 0))
            scale = distinct / sampled_keys if distinct and sampled_keys else 1 / rate
        self.scale = scale
        self.cost = _costs(tr.seconds, self.prev, order, n)
        self.unit = tr.sizes is None
        size = np.ones(n, np.int64) if tr.sizes is None else tr.sizes.astype(np.int64)
        self.size = size
        self.max_size = int(size.max()) if n else 0
        # A request can hit only when its key was seen before with the same size.
        eligible = req & (self.prev >= 0)
        if tr.sizes is not None:
            eligible &= size == size[np.maximum(self.prev, 0)]
        self.eligible = eligible
        dist = stack_distances(self.prev, tr.sizes)[eligible]
        cost = self.cost[eligible]
        if self.unit:
            # Distances are small integers: a histogram is cheaper than a sort.
            hist = np.bincount(dist)
            at = np.flatnonzero(hist)
            steps = at * scale + 1
            counts = hist[at].astype(np.float64)
            byts = counts
            costs = np.bincount(dist, weights=cost)[at] if tr.seconds is not None else None
        else:
            total = dist * scale + size[eligible] if scale != 1 else dist + size[eligible]
            o = np.argsort(total, kind="stable")
            total = total[o]
            first = np.flatnonzero(np.r_[total.size > 0, total[1:] != total[:-1]])
            steps = total[first]
            counts = np.diff(np.r_[first, total.size]).astype(np.float64)
            byts = np.add.reduceat(size[eligible][o], first) if first.size else counts
            costs = None
            if tr.seconds is not None:
                costs = np.add.reduceat(cost[o], first) if first.size else counts
        self.steps = steps
        self.counts = counts
        self.cum_hits = np.r_[0.0, np.cumsum(counts)]
        self.cum_bytes = np.r_[0.0, np.cumsum(byts)]
        self.cum_cost = None if costs is None else np.r_[0.0, np.cumsum(costs)]
        # SHARDS-adj: the expected minus the actual number of sampled requests is added to the
        # first bucket of the histogram, which removes most of the sampling bias.
        self.expected = n_requests * rate
        self.adj = self.expected - int(req.sum()) if rate < 1 else 0.0
        self.sample_bytes = float(size[req].sum())
        self._exact: dict[int, tuple[float, float, float]] = {}

    def _ratios(self, hits: float, hit_bytes: float, cost: float) -> tuple[float, float, float]:
        hr = hits / self.expected if self.expected else 0.0
        bhr = hit_bytes / self.sample_bytes if self.sample_bytes else 0.0
        return min(max(hr, 0.0), 1.0), min(max(bhr, 0.0), 1.0), cost / self.rate

    def lower(self, budget: int) -> tuple[float, float, float]:
        """The curve from the full stack distances: exact at budgets >= the largest value (and
        for unit sizes), below that a lower bound of the hit ratio."""
        if budget <= 0:
            return 0.0, 0.0, 0.0
        k = int(self.steps.searchsorted(budget, side="right"))
        adj = self.adj if k else 0.0
        cost = 0.0 if self.cum_cost is None else float(self.cum_cost[k])
        return self._ratios(float(self.cum_hits[k]) + adj, float(self.cum_bytes[k]), cost)

    def at(self, budget: int) -> tuple[float, float, float]:
        """The modelled (hit ratio, byte hit ratio, seconds saved) of an LRU tier of ``budget``."""
        if budget <= 0 or budget >= self.max_size:
            return self.lower(budget)
        got = self._exact.get(budget)
        if got is None:
            got = self._exact[budget] = self._below_max(budget)
        return got

    def _below_max(self, budget: int) -> tuple[float, float, float]:
        # Values larger than the budget are never stored: they weigh 0 in every other key's
        # distance, and the requests for them miss.
        np = numpy_or_error()
        size = self.size
        fits = size <= budget
        dist = stack_distances(self.prev, np.where(fits, size, 0))
        total = dist * self.scale + size if self.scale != 1 else dist + size
        hit = self.eligible & fits & (total <= budget)
        hits = int(np.count_nonzero(hit))
        adj = self.adj if hits else 0.0
        return self._ratios(hits + adj, float(size[hit].sum()), float(self.cost[hit].sum()))

    def smallest_reaching(self, target: float) -> int:
        """The smallest budget whose (lower-bound) hit ratio reaches ``target``."""
        if self.steps.size == 0:
            return 1
        need = target * self.expected - self.adj - 1e-9
        k = int(self.cum_hits.searchsorted(need, side="left"))
        k = min(max(k, 1), self.steps.size)
        return max(1, math.ceil(float(self.steps[k - 1])))

    def knees(self, grid: list[int]) -> list[int]:
        """Budgets where the hit ratio jumps by >= 1 point within 1 % of the budget: the
        budget where the jump completes, and the one just below where it starts."""
        np = numpy_or_error()
        if self.steps.size == 0:
            return []
        bins = np.floor(np.log(np.maximum(self.steps, 1.0)) / math.log(1.01)).astype(np.int64)
        edges = np.flatnonzero(np.r_[True, bins[1:] != bins[:-1]])
        mass = np.add.reduceat(self.counts, edges)
        out: list[int] = []
        for i in np.flatnonzero(mass >= 0.01 * self.expected):
            lo = float(self.steps[edges[i]])
            hi_i = edges[i + 1] - 1 if i + 1 < edges.size else self.steps.size - 1
            hi = float(self.steps[hi_i])
            out.extend((max(1, math.ceil(lo) - 1), math.ceil(hi)))
        top = grid[-1] if grid else 0
        return sorted({b for b in out if 0 < b <= top})


def _costs(seconds: Any, prev: Any, order: Any, n: int) -> Any:
    """Per request, the load seconds recorded with it or, when 0 (a hit when recorded), the last
    load seconds recorded earlier for its key."""
    np = numpy_or_error()
    if seconds is None:
        return np.zeros(n)
    v = seconds[order].astype(np.float64)
    start = prev[order] < 0
    idx = np.where((v > 0) | start, np.arange(n), 0)
    np.maximum.accumulate(idx, out=idx)
    cost = np.empty(n)
    cost[order] = v[idx]
    return cost


def _grid(lo: int, hi: int) -> list[int]:
    np = numpy_or_error()
    lo, hi = max(1, lo), max(1, lo, hi)
    return sorted({round(float(b)) for b in np.geomspace(lo, hi, _GRID)} | {lo, hi})


def advise(
    trace: Any,
    format: str | None = None,
    budgets: Iterable[int | str] | None = None,
    sample: float | None = None,
) -> Advice:
    """The modelled hit ratio, byte hit ratio and load seconds saved of an LRU memory tier at
    every budget, and the recommended budget.

    ``trace`` is a trace file (format from ``format=``, or detected; gzip, xz and bz2 opened
    transparently), a ``Trace`` (``_observe.traces``), a numpy array of integer keys, or
    an iterable of keys or of ``(key, size)`` / ``(key, size, load_seconds)`` tuples. Without
    sizes every entry counts 1, so budgets are entry counts.

    Points are at ~40 log-spaced budgets up to the one where every repeated request hits, plus
    the knees of the curve and the recommendation; or exactly at ``budgets`` (ints, or strings
    such as ``"512MiB"``). ``recommended`` is the smallest budget whose hit ratio is within one
    point (0.01) of the best (among ``budgets`` when given).

    ``sample`` (a rate in (0, 1]) models only the keys whose hash falls in a ``sample`` share of
    the hash space (SHARDS with its adjustment, Waldspurger et al., FAST'15, and distances
    scaled by the sampled share of the distinct keys): much faster, approximate;
    ``Advice.sampled`` is the rate used. The model's rules for values larger than the budget
    and for sizes that change are in the module docstring and docs/advisor.md.
    """
    tr = load_trace(trace, format)
    if len(tr) == 0:
        raise ValueError("the trace is empty: there is nothing to advise on")
    n_requests = len(tr) if tr.requests is None else int(tr.requests.sum())
    rate, distinct = 1.0, None
    if sample is not None:
        if isinstance(sample, bool) or not isinstance(sample, (int, float)) or not 0 < sample <= 1:
            raise ValueError(f"sample must be a rate in (0, 1], e.g. 0.01; got {sample!r}")
        threshold = max(1, round(sample * (1 << _SHARDS_BITS)))
        rate = threshold / (1 << _SHARDS_BITS)
        if rate < 1:
            tr, distinct = _sample(tr, threshold)
    model = _Model(tr, rate, distinct, n_requests)

    if budgets is not None:
        wanted = sorted({_sizes.parse_size(b) for b in budgets})
        if not wanted:
            raise ValueError("budgets is empty: give at least one budget, or None for a curve")
    else:
        lo = 1 if tr.sizes is None or len(tr) == 0 else int(max(1, tr.sizes.min()))
        hi = math.ceil(float(model.steps[-1])) if model.steps.size else lo
        grid = _grid(lo, hi)
        wanted = sorted(set(grid) | set(model.knees(grid)))
    values = {b: model.at(b) for b in wanted}
    best = max(v[0] for v in values.values())
    if budgets is None:
        rec = model.smallest_reaching(best - 0.01)
        values[rec] = model.at(rec)
    target = best - 0.01 - 1e-12
    rec = min(b for b, v in values.items() if v[0] >= target)
    points = [AdvicePoint(b, *values[b]) for b in sorted(values)]
    return Advice(points, rec, rate if sample is not None else None)


def advise_command(
    trace: str | os.PathLike[str],
    format: str | None = None,
    budgets: str | Iterable[int | str] | None = None,
    sample: float | None = None,
    plot: str | os.PathLike[str] | None = None,
) -> tuple[Advice, str]:
    """What ``memcache-kit advise`` does: read ``trace``, advise, optionally write the plot.

    ``budgets`` may be a comma-separated string (``"256MiB,1GiB"``). Returns the advice and its
    unit (``"bytes"``, or ``"entries"`` for a trace without sizes) for :func:`render_table`.
    """
    try:
        tr = load_trace(trace, format)
    except ValueError as e:
        # The command line spells the option --format.
        raise ValueError(str(e).replace("pass format=", "pass --format")) from None
    unit = "entries" if tr.sizes is None else "bytes"
    if isinstance(budgets, str):
        budgets = [b.strip() for b in budgets.split(",") if b.strip()]
    if unit == "entries" and budgets is not None:
        # Counts may have a multiplier ("1k", "2M"); "B", "i" (KiB) and "%" are bytes.
        sized = [b for b in budgets if isinstance(b, str) and any(c in b for c in "BbIi%")]
        if sized:
            raise ValueError(
                f"this trace has no sizes, so budgets are entry counts: give plain numbers "
                f"(--budgets 1000,50000), not {', '.join(map(repr, sized))}"
            )
    advice = advise(tr, budgets=budgets, sample=sample)
    if plot is not None:
        plot_advice(advice, plot, unit=unit, title=os.path.basename(os.fspath(trace)))
    return advice, unit


# -- showing advice ----------------------------------------------------------------------------


def _human(budget: int, unit: str) -> str:
    if unit == "entries":
        return f"{budget:,}"
    value = float(budget)
    for suffix in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or suffix == "TiB":
            return f"{value:.0f} {suffix}" if suffix == "B" else f"{value:.1f} {suffix}"
        value /= 1024
    raise AssertionError("unreachable")


def render_table(advice: Advice, unit: str = "bytes") -> str:
    """A plain-text table of the points (``unit``: ``"bytes"`` or ``"entries"``), the
    recommended budget marked with ``*``."""
    if unit not in ("bytes", "entries"):
        raise ValueError(f"unit must be 'bytes' or 'entries', got {unit!r}")
    head = f"{'budget':>14}  {'hit ratio':>9}  {'byte hits':>9}  {'seconds saved':>13}"
    lines = [head]
    for p in advice.points:
        mark = " *" if p.budget == advice.recommended else ""
        lines.append(
            f"{_human(p.budget, unit):>14}  {p.hit_ratio:>9.2%}  {p.byte_hit_ratio:>9.2%}  "
            f"{p.seconds_saved:>13.3f}{mark}"
        )
    sampled = f", sampled at rate {advice.sampled:g}" if advice.sampled is not None else ""
    lines.append(f"* recommended: {_human(advice.recommended, unit)}{sampled}")
    return "\n".join(lines)


def plot_advice(
    advice: Advice, path: str | os.PathLike[str], *, unit: str = "bytes", title: str | None = None
) -> None:
    """Write the hit-ratio and byte-hit-ratio curves as a PNG (needs the ``plot`` extra)."""
    if unit not in ("bytes", "entries"):
        raise ValueError(f"unit must be 'bytes' or 'entries', got {unit!r}")
    try:
        import matplotlib
    except ImportError:
        raise ImportError(
            "plot_advice needs matplotlib: pip install 'memcache_kit[plot]'"
        ) from None
    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    pts = [p for p in advice.points if p.budget > 0]
    if not pts:
        raise ValueError("this advice has no point with a positive budget to plot")
    fig = Figure(figsize=(7, 4), dpi=110)
    ax = fig.add_subplot()
    xs = [p.budget for p in pts]
    ax.plot(xs, [100 * p.hit_ratio for p in pts], marker=".", label="hit ratio")
    if unit == "bytes":
        ax.plot(xs, [100 * p.byte_hit_ratio for p in pts], marker=".", label="byte hit ratio")
    ax.axvline(advice.recommended, color="grey", linestyle="--", linewidth=1,
               label=f"recommended: {_human(advice.recommended, unit)}")  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("memory budget (bytes)" if unit == "bytes" else "memory budget (entries)")
    ax.set_ylabel("%")
    ax.set_ylim(0, 100)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper left")
    default = "LRU memory tier" + (f" (sampled at {advice.sampled:g})" if advice.sampled else "")
    ax.set_title(title or default)
    fig.tight_layout()
    fig.savefig(os.fspath(path), format="png")
