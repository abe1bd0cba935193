"""Run every ``benchmarks/bench_*.py`` (or those named on the command line) in one process.

Each module exposes ``main() -> None`` that prints its own table with ratios to the peers.
Results are printed, never committed: they go stale.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    wanted = [a.removeprefix("bench_").removesuffix(".py") for a in argv]
    if wanted:
        names = [n for n in names if n.removeprefix("bench_") in wanted]
    for name in names:
        started = time.perf_counter()
        print(f"\n=== {name} ===", flush=True)
        importlib.import_module(f"benchmarks.{name}").main()
        print(f"({name}: {time.perf_counter() - started:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
