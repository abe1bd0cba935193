"""``memcache-kit demo``: a real workload that shows budgets held, hits per tier and time saved.

An expensive loader "decodes" deterministic ~1 MiB images (a few FFT-based blurs of seeded
noise, ~10-30 ms each), behind ``mk.cached`` on a cache whose memory budget is well below the
working set. Pass 1 is cold, pass 2 is served from memory and disk, and pass 3 runs in a fresh
process that finds everything on disk. Everything it writes lives in the directory it names.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

ITEMS = 96
SIDE = 512  # 512 x 512 float32 = 1 MiB an item
MEMORY = "24MiB"
DISK = "1GiB"


def _decode(i: int) -> Any:
    """The expensive loader: deterministic noise, blurred in the frequency domain."""
    import numpy as np

    rng = np.random.default_rng(i)
    img = rng.standard_normal((SIDE, SIDE)).astype(np.float32)
    fy = np.fft.fftfreq(SIDE)[:, None]
    fx = np.fft.rfftfreq(SIDE)[None, :]
    for sigma in (2.0, 4.0, 8.0):
        kernel = np.exp(-(fx**2 + fy**2) * (2 * np.pi * sigma) ** 2 / 2)
        img = np.fft.irfft2(np.fft.rfft2(img) * kernel, s=img.shape).astype(np.float32)
    return img


def _run_pass(load: Any, order: list[int]) -> float:
    from tqdm import tqdm

    started = time.perf_counter()
    for i in tqdm(order, desc="  reading", unit="item", leave=False, disable=None):
        img = load(i)
        assert img.shape == (SIDE, SIDE)
    return time.perf_counter() - started


def _workload(directory: Path, passes: int) -> dict[str, Any]:
    """Run ``passes`` passes over every item; return per-pass figures and the cache's stats."""
    import memcache_kit as mk

    cache = mk.Cache("demo", memory=MEMORY, disk=DISK, directory=directory)
    load = mk.cached(cache=cache)(_decode)
    order = list(range(ITEMS))
    results: list[dict[str, Any]] = []
    tracemalloc.start()
    for n in range(passes):
        before = cache.stats()
        seconds = _run_pass(load, order)
        after = cache.stats()
        current, _peak = tracemalloc.get_traced_memory()
        results.append(
            {
                "seconds": seconds,
                "loads": after.loads - before.loads,
                "memory_hits": after.tiers["memory"].hits - before.tiers["memory"].hits,
                "disk_hits": after.tiers["disk"].hits - before.tiers["disk"].hits,
                "held": after.tiers["memory"].bytes,
                "traced": current,
            }
        )
        if n == 0:
            tracemalloc.reset_peak()
    stats = cache.stats().to_dict()
    cache.close()
    return {"passes": results, "stats": stats}


def _child(directory: str) -> None:
    print(json.dumps(_workload(Path(directory), passes=1)))


def main(directory: str | Path | None = None) -> None:
    """Run the demo; prints its figures with rich."""
    from rich.console import Console
    from rich.table import Table

    import memcache_kit as mk

    console = Console()
    root = Path(directory) if directory else Path.cwd() / ".demo-cache"
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(mode=0o700, parents=True)
    budget = mk.parse_size(MEMORY)
    console.rule("[bold]memcache_kit demo")
    console.print(
        f"{ITEMS} items of {SIDE * SIDE * 4 / 2**20:.0f} MiB from an expensive loader; "
        f"memory budget {MEMORY} (a quarter of the working set), disk {DISK} in {root}"
    )

    console.print("[bold]This process:[/] pass 1 (cold), then pass 2")
    here = _workload(root, passes=2)
    console.print("[bold]A fresh process[/] opens the same directory: pass 3")
    env = dict(os.environ)
    out = subprocess.run(
        [sys.executable, "-c", f"from memcache_kit._demo import _child; _child({str(root)!r})"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    there = json.loads(out.stdout.strip().splitlines()[-1])

    table = Table(title="Passes over the working set")
    for col in ("pass", "seconds", "loader calls", "memory hits", "disk hits", "memory held"):
        table.add_column(col, justify="right")
    rows = [("1 (cold)", here["passes"][0]), ("2 (warm)", here["passes"][1])]
    rows.append(("3 (new process)", there["passes"][0]))
    for label, p in rows:
        table.add_row(
            label,
            f"{p['seconds']:.2f}",
            str(p["loads"]),
            str(p["memory_hits"]),
            str(p["disk_hits"]),
            f"{p['held'] / 2**20:.1f} MiB",
        )
    console.print(table)

    mem = here["stats"]["tiers"]["memory"]
    disk = here["stats"]["tiers"]["disk"]
    cold = here["passes"][0]["seconds"]
    warm = here["passes"][1]["seconds"]
    console.print(
        f"memory budget {budget / 2**20:.0f} MiB; held at most {mem['bytes'] / 2**20:.1f} MiB "
        f"by the tier's account; traced by tracemalloc after pass 2: "
        f"{here['passes'][1]['traced'] / 2**20:.1f} MiB"
    )
    console.print(
        f"memory tier: {mem['evictions']} evictions, of which {mem['spills']} spills "
        f"(still on disk); disk tier: {disk['items']} items, {disk['bytes'] / 2**20:.1f} MiB, "
        f"{disk['promotions']} promotions"
    )
    console.print(
        f"time: pass 1 {cold:.2f} s, pass 2 {warm:.2f} s ({cold / max(warm, 1e-9):.1f}x faster), "
        f"new process {there['passes'][0]['seconds']:.2f} s; loader time saved "
        f"{here['stats']['saved_seconds'] + there['stats']['saved_seconds']:.2f} s"
    )
    console.print(f"cache directory: {root} (remove it when done: rm -r {root})")
