"""mk.sizeof against pympler.asizeof.asizeof: time per call, and each one's size as a share of
what the object really takes (tracemalloc, plus pyarrow's pool for arrow-backed columns)."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable
from typing import Any

from benchmarks._util import per_call


def _cases() -> list[tuple[str, Callable[[], Any]]]:
    import numpy as np
    import pandas as pd

    return [
        ("list of 100k ints", lambda: [i * 1000 for i in range(100_000)]),
        ("dict of 1k str->int", lambda: {f"k{i}": i for i in range(1000)}),
        ("dict of 10k str->list", lambda: {f"k{i}": list(range(10)) for i in range(10_000)}),
        ("8 MB float64 array", lambda: np.ones(1_000_000)),
        # A view and frombuffer keep their 8 MB base alive: built together, tracemalloc sees it.
        ("view of an 8 MB array", lambda: np.ones(1_000_000)[::2]),
        ("frombuffer over 8 MB", lambda: np.frombuffer(bytes(8_000_000), dtype=np.float64)),
        (
            "DataFrame 100k float+str",
            lambda: pd.DataFrame(
                {"x": np.arange(100_000, dtype=float), "s": [f"s{i}" for i in range(100_000)]}
            ),
        ),
        (
            "DataFrame 100k float+object str",
            lambda: pd.DataFrame(
                {
                    "x": np.arange(100_000, dtype=float),
                    "s": pd.Series([f"s{i}" for i in range(100_000)], dtype=object),
                }
            ),
        ),
    ]


def _measured(build: Callable[[], Any]) -> tuple[Any, int]:
    import pyarrow as pa

    gc.collect()
    tracemalloc.start()
    arrow0 = pa.total_allocated_bytes()
    before = tracemalloc.get_traced_memory()[0]
    obj = build()
    taken = tracemalloc.get_traced_memory()[0] - before + pa.total_allocated_bytes() - arrow0
    tracemalloc.stop()
    return obj, taken


def main() -> None:
    import sys

    from pympler.asizeof import asizeof

    import memcache_kit as mk

    cases = _cases()
    for _, build in cases:  # first use of pandas/arrow fills caches that are not the object's
        build()
    header = f"{'object':<32} {'mk.sizeof':>11} {'asizeof':>11} {'speedup':>8}"
    print(f"{header}   {'mk %':>6} {'asz %':>6}")
    for name, build in cases:
        obj, taken = _measured(build)
        t_mk = per_call(lambda obj=obj: mk.sizeof(obj), repeat=3, budget=0.3)
        t_asz = per_call(lambda obj=obj: asizeof(obj), repeat=3, budget=0.3)
        s_mk, s_asz = mk.sizeof(obj), asizeof(obj)
        print(
            f"{name:<32} {t_mk * 1e3:>8.3f} ms {t_asz * 1e3:>8.3f} ms {t_asz / t_mk:>7.1f}x"
            f"   {100 * s_mk / taken:>5.1f}% {100 * s_asz / taken:>5.1f}%",
            flush=True,
        )
        del obj
    print(
        "mk % / asz %: size reported as a share of what tracemalloc (+ the arrow pool) sees\n"
        "building the object take (for the view and frombuffer, that includes the base).\n"
        f"(python {sys.version.split()[0]})"
    )
