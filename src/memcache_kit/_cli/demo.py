"""``memcache-kit demo``: a real workload that shows budgets held, hits per tier and time saved.

An expensive loader "decodes" deterministic ~1 MiB images (a few FFT-based blurs of seeded
noise, ~10-30 ms each), behind ``mk.cached`` on a cache whose memory budget is a quarter of the
working set. Each pass reads every item once in a new shuffled order, as a training epoch does:
pass 1 is cold, pass 2 is served from memory and disk, and pass 3 runs in a fresh process that
finds everything on disk. The cache records its access trace (``record=True``), and the budget
advisor reads it back and says which memory budget would have been worth it.

Everything it writes lives in the directory it names (the cache, its statistics files and the
trace). When no HMAC key exists yet it signs with a key made for this run only, passed to its
child process in the environment, so that it leaves no key file behind either.

``--items N`` (or ``MEMCACHE_KIT_DEMO_ITEMS``) makes it smaller; ``--json`` prints its figures
as one JSON object instead of tables (what tests/cli/test_demo.py checks).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from .._errors import need

ITEMS = 96
SIDE = 512  # 512 x 512 float32 = 1 MiB an item
ITEM_BYTES = SIDE * SIDE * 4
DISK = "1GiB"
MARKER = ".memcache-kit-demo"


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


def memory_budget(items: int) -> int:
    """A quarter of the working set (at least two items)."""
    return max(2, items // 4) * ITEM_BYTES


def _order(items: int, epoch: int) -> list[int]:
    order = list(range(items))
    random.Random(epoch).shuffle(order)
    return order


def _open_cache(directory: Path, items: int) -> tuple[Any, bool]:
    """The demo's cache, recording its trace when this version of ``Cache`` can."""
    import memcache_kit as mk

    kwargs: dict[str, Any] = {"memory": memory_budget(items), "disk": DISK, "directory": directory}
    try:
        return mk.Cache("demo", record=True, **kwargs), True
    except (ValueError, TypeError):  # a Cache without record=True: build the trace ourselves
        return mk.Cache("demo", **kwargs), False


def _workload(
    directory: Path, items: int, epochs: list[int], progress: Any = None
) -> dict[str, Any]:
    """Read every item once per epoch; return per-pass figures, the stats and the trace."""
    import memcache_kit as mk

    cache, recorded = _open_cache(directory, items)
    load = mk.cached(cache=cache)(_decode)
    trace: list[tuple[int, int, float]] = []  # (key, size, load seconds) when not recorded
    cost: dict[int, float] = {}
    results: list[dict[str, Any]] = []
    for epoch in epochs:
        before = cache.stats()
        peak = 0
        task = None if progress is None else progress.add_task(f"pass {epoch}", total=items)
        started = time.perf_counter()
        for i in _order(items, epoch):
            t0 = time.perf_counter()
            loads = cache.stats().loads
            img = load(i)
            now = cache.stats()
            if now.loads > loads:
                cost[i] = time.perf_counter() - t0
            if img.shape != (SIDE, SIDE):
                raise RuntimeError(f"item {i} came back with shape {img.shape}")
            trace.append((i, ITEM_BYTES, cost.get(i, 0.0)))
            peak = max(peak, now.tiers["memory"].bytes)
            if task is not None:
                progress.advance(task)
        seconds = time.perf_counter() - started
        after = cache.stats()
        mem, disk = after.tiers["memory"], after.tiers["disk"]
        results.append(
            {
                "seconds": seconds,
                "requests": items,
                "loads": after.loads - before.loads,
                "memory_hits": mem.hits - before.tiers["memory"].hits,
                "disk_hits": disk.hits - before.tiers["disk"].hits,
                "spills": mem.spills - before.tiers["memory"].spills,
                "evictions": mem.evictions - before.tiers["memory"].evictions,
                "peak_held": peak,
            }
        )
    stats = cache.stats().to_dict()
    from .._observe import stats as _observe

    _observe.register(cache)  # idempotent: Cache.__init__ registers it too
    _observe.closing(cache)  # its counters reach <directory>/stats/ at exit
    cache.close()  # flushes the recorder, too
    return {"passes": results, "stats": stats, "recorded": recorded, "trace": trace}


def _child(directory: str, items: int, epoch: int) -> None:
    out = _workload(Path(directory), items, [epoch])
    del out["trace"]
    print(json.dumps(out))


def _prepare(root: Path) -> None:
    if root.exists():
        if (root / MARKER).exists() or (root / "cache.db").exists():
            shutil.rmtree(root)
        elif any(root.iterdir()):
            raise SystemExit(f"refusing to use {str(root)!r}: it is not empty and not a demo cache")
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    (root / MARKER).touch(mode=0o600)


def _secret_env() -> dict[str, str]:
    """A per-run HMAC key when the user has none yet: the demo creates no key file."""
    from .._settings import SECRET_ENV, settings

    if os.environ.get(SECRET_ENV) or settings.secret_file or settings.key_file().exists():
        return {}
    import secrets

    return {SECRET_ENV: secrets.token_hex(32)}


def _advise(out: dict[str, Any], root: Path, items: int) -> dict[str, Any]:
    from .._observe.advisor import advise, load_trace

    budget = memory_budget(items)
    files = sorted((root / "trace").glob(f"{os.getpid()}.*")) if out["recorded"] else []
    trace: Any = out["trace"]
    source = "the demo's own access sequence"  # until the recorded one is complete
    if files:
        recorded = load_trace(files[0])
        # Only a trace with one record per request is this workload; until the decorator's
        # hit path records every hit, the demo's own sequence stands in for it.
        if len(recorded) == len(out["trace"]):
            trace, source = recorded, f"the trace recorded in {files[0]}"
        else:
            source += (
                f" ({files[0].name} holds {len(recorded)} records for {len(out['trace'])} requests)"
            )
    advice = advise(trace)
    here = advise(trace, budgets=[budget]).points[0]
    mem = out["stats"]["tiers"]["memory"]
    requests = mem["hits"] + mem["misses"]
    return {
        "source": source,
        "recommended": advice.recommended,
        "points": [p.to_dict() for p in advice.points],
        "at_budget": here.to_dict(),
        # What the memory tier really served over the same requests, beside the model's.
        "measured_hit_ratio": mem["hits"] / requests if requests else 0.0,
    }


def run(directory: str | Path | None = None, items: int | None = None) -> dict[str, Any]:
    """Run the demo and return its figures (``main`` prints them)."""
    return _run(directory, items, console=None)


def _run(directory: str | Path | None, items: int | None, console: Any) -> dict[str, Any]:
    n = items if items is not None else int(os.environ.get("MEMCACHE_KIT_DEMO_ITEMS", ITEMS))
    if n < 2:
        raise SystemExit(f"--items {n}: the demo needs at least 2 items")
    root = (Path(directory) if directory else Path.cwd() / ".demo-cache").expanduser().absolute()
    _prepare(root)
    secret = _secret_env()
    os.environ.update(secret)  # this process only; the child gets it below
    progress_cm: Any = nullcontext(None)
    if console is not None and console.is_terminal:
        from rich.progress import Progress

        progress_cm = Progress(console=console, transient=True)
    try:
        with progress_cm as progress:
            here = _workload(root, n, [1, 2], progress)
        if console is not None:
            console.print("[bold]A fresh process[/] opens the same directory: pass 3")
        code = (
            "from memcache_kit._cli.demo import _child; "
            f"_child({str(root)!r}, {n}, 3)"
        )  # fmt: skip
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env={**os.environ, **secret},
            check=False,
        )
        if out.returncode != 0:
            raise RuntimeError(f"the demo's second process failed:\n{out.stderr}")
        there = json.loads(out.stdout.strip().splitlines()[-1])
        if console is not None:
            console.print("[bold]Asking the advisor[/] about the trace of passes 1 and 2")
        advice = _advise(here, root, n)
    finally:
        for k in secret:
            os.environ.pop(k, None)
    passes = here["passes"] + there["passes"]
    return {
        "directory": str(root),
        "items": n,
        "item_bytes": ITEM_BYTES,
        "working_set": n * ITEM_BYTES,
        "memory_budget": memory_budget(n),
        "disk_budget": DISK,
        "passes": passes,
        "stats": here["stats"],
        "stats_new_process": there["stats"],
        "saved_seconds": here["stats"]["saved_seconds"] + there["stats"]["saved_seconds"],
        "trace_recorded": here["recorded"],
        "advice": advice,
        "one_run_key": bool(secret),
    }


def main(
    directory: str | Path | None = None, items: int | None = None, as_json: bool = False
) -> None:
    """Run the demo; prints its figures with rich (or as one JSON object)."""
    from rich.console import Console

    need("numpy", "numpy", "the demo (its items are numpy arrays)")  # before anything runs

    if as_json:
        print(json.dumps(_run(directory, items, console=None), indent=2))
        return
    console = Console(highlight=False)
    n = items if items is not None else int(os.environ.get("MEMCACHE_KIT_DEMO_ITEMS", ITEMS))
    console.rule("[bold]memcache_kit demo")
    console.print(
        f"{n} items of {ITEM_BYTES / 2**20:.0f} MiB from an expensive loader, behind mk.cached; "
        f"memory budget {memory_budget(n) / 2**20:.0f} MiB (a quarter of the working set), "
        f"disk {DISK}. [bold]This process:[/] pass 1 (cold), then pass 2, each in a new order"
    )
    r = _run(directory, items, console)
    _show(console, r)


def _show(console: Any, r: dict[str, Any]) -> None:
    from rich.table import Table

    from .._observe.advisor import _human

    mib = 2**20
    table = Table(title="Passes over the working set")
    for col in ("pass", "seconds", "loader calls", "memory hits", "disk hits", "spills",
                "memory held (peak)"):  # fmt: skip
        table.add_column(col, justify="right")
    for label, p in zip(("1 (cold)", "2 (warm)", "3 (new process)"), r["passes"], strict=True):
        table.add_row(
            label, f"{p['seconds']:.2f}", str(p["loads"]), str(p["memory_hits"]),
            str(p["disk_hits"]), str(p["spills"]), f"{p['peak_held'] / mib:.1f} MiB",
        )  # fmt: skip
    console.print(table)
    mem, disk = r["stats"]["tiers"]["memory"], r["stats"]["tiers"]["disk"]
    peak = max(p["peak_held"] for p in r["passes"])
    console.print(
        f"memory budget {r['memory_budget'] / mib:.0f} MiB; held at most {peak / mib:.1f} MiB "
        f"(the tier's own account, after every read); working set {r['working_set'] / mib:.0f} MiB"
    )
    console.print(
        f"memory tier: {mem['evictions']} evictions, of which {mem['spills']} spills (already "
        f"on disk); disk tier: {disk['items']} items, {disk['bytes'] / mib:.1f} MiB, "
        f"{mem['promotions']} promotions into memory"
    )
    p1, p2, p3 = r["passes"]
    console.print(
        f"time: pass 1 {p1['seconds']:.2f} s, pass 2 {p2['seconds']:.2f} s "
        f"({p1['seconds'] / max(p2['seconds'], 1e-9):.1f}x faster), new process "
        f"{p3['seconds']:.2f} s; loader time saved {r['saved_seconds']:.2f} s"
    )
    a = r["advice"]
    at = a["at_budget"]
    table = Table(title=f"Advisor: an LRU memory tier, modelled on {a['source']}")
    for col in ("budget", "hit ratio", "seconds saved", ""):
        table.add_column(col, justify="right")
    points = a["points"]
    step = max(1, len(points) // 8)
    shown = {p["budget"]: p for p in points[::step]}
    shown.update({p["budget"]: p for p in points if p["budget"] == a["recommended"]})
    shown[at["budget"]] = at
    for b in sorted(shown):
        p = shown[b]
        mark = {a["recommended"]: "recommended", r["memory_budget"]: "the demo's budget"}
        table.add_row(
            _human(b, "bytes"), f"{p['hit_ratio']:.1%}", f"{p['seconds_saved']:.2f}",
            mark.get(b, ""), style="bold green" if b == a["recommended"] else None,
        )  # fmt: skip
    console.print(table)
    console.print(
        f"recommended memory budget: {_human(a['recommended'], 'bytes')} "
        f"(at the demo's {r['memory_budget'] / mib:.0f} MiB the model gives a memory hit ratio "
        f"of {at['hit_ratio']:.1%}); see `memcache-kit advise` for any trace"
    )
    measured = a["measured_hit_ratio"]
    if measured > at["hit_ratio"] + 0.02:
        console.print(
            f"the cache itself served {measured:.1%} of those requests from memory, more than "
            "the model: an item promoted from disk comes back as a memmap, which the tier "
            "charges only its object overhead (its pages are the OS page cache's), so the "
            "second pass's misses do not push out the items already in memory, as they do in "
            "a model that charges every item its full size"
        )
    elif measured < at["hit_ratio"] - 0.02:
        console.print(
            f"the cache itself served {measured:.1%} of those requests from memory, less than "
            "the model: the tier also charges keys and per-entry bookkeeping, which the "
            "model leaves out"
        )
    if r["one_run_key"]:
        console.print("entries were signed with a key made for this run (no key file created)")
    console.print(
        f"cache directory: {r['directory']} (remove it when done: rm -r {r['directory']})"
    )
