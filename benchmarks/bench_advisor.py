"""Budget advisor vs LRU simulation on scarab-recs (1.2 M requests), and the recorder's cost.

Reading and parsing the traces are excluded from every figure: the keys are loaded once, and
the reference simulation runs on the same in-memory key list. The reference is the one the
issue names: an ``OrderedDict`` with ``move_to_end``/``popitem(last=False)`` at one budget. The
exact advisor gives the whole curve (every budget); the sampled one models 1 % of the keys.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks._util import per_call, table

# The reference traces live beside the checkout (../shared/data/traces, as CI lays them out),
# or wherever MEMCACHE_KIT_TRACES points; they are never copied into the project.
TRACES = Path(
    os.environ.get("MEMCACHE_KIT_TRACES")
    or Path(__file__).resolve().parents[2] / "shared" / "data" / "traces"
)
RATE = 0.01


def _lru(keys: list[int], capacity: int) -> int:
    od: OrderedDict[int, None] = OrderedDict()
    move, pop = od.move_to_end, od.popitem
    hits = 0
    for k in keys:
        if k in od:
            move(k)
            hits += 1
        else:
            od[k] = None
            if len(od) > capacity:
                pop(False)
    return hits


def _best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _mae(trace: Any) -> tuple[float, float, int]:
    """Sampled time, and its mean absolute error (points) against the exact curve at 20
    log-spaced budgets from where the sample holds 100 entries to the end of the curve."""
    import numpy as np

    from memcache_kit._observe.advisor import advise

    t_s, sampled = _best(lambda: advise(trace, sample=RATE), 5)
    top = sampled.points[-1].budget
    budgets = sorted({round(b) for b in np.geomspace(100 / RATE, top, 20)})
    exact = advise(trace, budgets=budgets).points
    got = advise(trace, budgets=budgets, sample=RATE).points
    errs = [abs(a.hit_ratio - b.hit_ratio) for a, b in zip(got, exact, strict=True)]
    return t_s, 100 * sum(errs) / len(errs), len(errs)


def main() -> None:
    from memcache_kit._observe.advisor import advise
    from memcache_kit._observe.record import Recorder
    from memcache_kit._observe.traces import read_trace
    from memcache_kit._tiers.memory.governor import Governor
    from memcache_kit._tiers.memory.tier import MemoryTier

    if not (TRACES / "scarab").is_dir():
        print(
            f"reference traces not found at {TRACES}: put the shared data's traces/ folder "
            "there (beside the checkout, as ../shared/data/traces) or set MEMCACHE_KIT_TRACES "
            "to it; the advisor benchmark measures on them and is skipped without them"
        )
        return
    scarab = read_trace(TRACES / "scarab" / "scarab-recs.trace.xz", "be-int64")
    keys = scarab.keys.tolist()
    n = len(keys)

    t_ref, hits = _best(lambda: _lru(keys, 100_000), 2)
    t_exact, curve = _best(lambda: advise(scarab), 2)
    at = next(p for p in advise(scarab, budgets=[100_000]).points)
    t_sampled, mae_scarab, n_scarab = _mae(scarab)
    print(
        f"scarab-recs: {n:,} requests; LRU at 100,000 entries: simulation {hits / n:.2%}, "
        f"advisor {at.hit_ratio:.2%}; exact curve: {len(curve.points)} points, "
        f"recommended {curve.recommended:,} entries"
    )
    table(
        "scarab-recs, whole trace (seconds per run; parsing excluded)",
        [
            ("OrderedDict LRU, one budget", t_ref, "1.00x"),
            ("OrderedDict LRU, 20 budgets", 20 * t_ref, "20.00x (20 x the run above)"),
            ("advisor exact, every budget", t_exact, f"{t_exact / t_ref:.2f}x one run (<= 3)"),
            (
                f"advisor sampled {RATE:g}",
                t_sampled,
                f"{t_sampled / t_ref:.3f}x one run; "
                f"exact/sampled {t_exact / t_sampled:.0f}x (>= 50)",
            ),
        ],
    )

    orm = read_trace(TRACES / "cache2k" / "orm-busy.trace.xz", "be-int32")
    t_orm_exact, _ = _best(lambda: advise(orm), 1)
    t_orm_sampled, mae_orm, n_orm = _mae(orm)
    print(f"sampled at {RATE:g}: mean absolute error over budgets holding >= 100 sampled entries")
    print(f"  scarab-recs  {mae_scarab:.2f} points over {n_scarab} budgets (<= 1)")
    print(
        f"  orm-busy     {mae_orm:.2f} points over {n_orm} budgets (<= 1); {len(orm):,} requests, "
        f"exact {t_orm_exact:.2f} s, sampled {t_orm_sampled * 1e3:.1f} ms "
        f"({t_orm_exact / t_orm_sampled:.0f}x)"
    )

    tier = MemoryTier(1 << 20, governor=Governor(cap=lambda: None))
    tier.set("k", b"v" * 100, size=100)
    with tempfile.TemporaryDirectory() as d:
        rec = Recorder(os.path.join(d, "trace.mkt"))
        record = rec.record
        key_hash = hash(("features", 12345))
        t_rec = per_call(lambda: record(key_hash, 4096, 0.0))
        rec.close()
    get = tier.get
    t_hit = per_call(lambda: get("k"))
    table(
        "recording (per call; the lambda's own call is in both)",
        [
            ("MemoryTier.get hit", t_hit, "1.00x"),
            ("Recorder.record", t_rec, f"{t_rec / t_hit:.2f}x a hit ({t_rec * 1e9:.0f} ns)"),
        ],
    )
