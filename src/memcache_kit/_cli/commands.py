"""The command line: ``memcache-kit`` and ``python -m memcache_kit``.

Built on typer with rich output. Commands so far: ``config show``, ``config check`` and
``demo``; the CLI issue adds ``stats``, ``ls``, ``clear``, ``verify`` and ``advise`` to ``app``.
Every command exits non-zero on error, and ``--json`` prints machine-readable output.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from .configure import config_app
from .targets import directory_of, fail, make_console, open_target

__all__ = ["app", "main"]

app = typer.Typer(
    name="memcache-kit",
    help="Tiered caches within honest memory budgets: inspect, configure and demo.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
)
app.add_typer(config_app, name="config")


def _print_version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"memcache-kit {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """Tiered caches within honest memory budgets: inspect, configure and demo."""


# -- figures -------------------------------------------------------------------------------------


def _human(n: float) -> str:
    value = float(n)
    for suffix in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or suffix == "TiB":
            return f"{value:.0f} {suffix}" if suffix == "B" else f"{value:.1f} {suffix}"
        value /= 1024
    raise AssertionError("unreachable")


def _ago(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def _short_when(t: float) -> str:
    """The time of day for today's times, the date for older ones (fits an 80-column row)."""
    same_day = time.localtime(t)[:3] == time.localtime()[:3]
    return time.strftime("%H:%M:%S" if same_day else "%Y-%m-%d", time.localtime(t))


# -- stats ---------------------------------------------------------------------------------------


def _tier_table(title: str, stats: dict[str, Any]) -> Any:
    """One column per tier, one row per figure: readable at 80 columns (a row per tier needs
    ten columns)."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    table.add_column("")
    tiers = stats["tiers"]
    for name in tiers:
        table.add_column(name, justify="right")

    def ratio(t: dict[str, Any]) -> str:
        requests = t["hits"] + t["misses"]
        return f"{t['hits'] / requests:.1%}" if requests else "-"

    rows: list[tuple[str, Any]] = [
        ("hits", lambda t: f"{t['hits']:,}"),
        ("misses", lambda t: f"{t['misses']:,}"),
        ("hit ratio", ratio),
        ("evictions", lambda t: f"{t['evictions']:,}"),
        ("spills", lambda t: f"{t['spills']:,}"),
        ("promotions", lambda t: f"{t['promotions']:,}"),
        ("used / budget", lambda t: f"{_human(t['bytes'])} / {_human(t['budget'])}"),
        ("items", lambda t: f"{t['items']:,}"),
    ]
    for label, cell in rows:
        table.add_row(label, *(cell(t) for t in tiers.values()))
    return table


@app.command("stats")
def stats_command(
    target: Annotated[
        str | None,
        typer.Argument(help="A configured cache NAME or a cache DIR (default: default)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Per-tier hits, misses, hit ratio, evictions, spills, promotions, bytes used / budget,
    items and load time saved, summed over every process that used the directory and per
    process (from the statistics files each process keeps in ``<dir>/stats/``)."""
    from .._observe import read_stats

    directory = directory_of(target)
    info = read_stats(directory)
    if (directory / "cache.db").is_file():
        # The shared disk tier's occupancy now, rather than as the last process saw it.
        cache = open_target(str(directory))
        disk = cache.stats().tiers.get("disk")
        cache.close()
        if disk is not None and info["total"] is not None and "disk" in info["total"]["tiers"]:
            info["total"]["tiers"]["disk"].update(bytes=disk.bytes, items=disk.items)
    if as_json:
        typer.echo(json.dumps(info, indent=2, sort_keys=True))
        return
    console = make_console()
    total = info["total"]
    if total is None:
        console.print(f"no process has recorded statistics in {directory} yet")
        return
    n = len(info["processes"])
    console.print(_tier_table(f"{directory}: {n} process(es), summed", total))
    console.print(
        f"loads {total['loads']:,} taking {total['load_seconds']:.2f} s; "
        f"load time saved by hits {total['saved_seconds']:.2f} s"
    )
    from rich.table import Table

    hosts = {str(p["host"]) for p in info["processes"]}
    one_host = len(hosts) == 1  # then the host is in the title, not in a column of its own
    table = Table(title=f"per process on {next(iter(hosts))}" if one_host else "per process")
    cols = ("pid", "alive", "started", "updated", "requests", "hit ratio", "loads", "saved s")
    for col in cols if one_host else ("host", *cols):
        left = col in ("host", "started", "updated")
        table.add_column(col, justify="left" if left else "right", no_wrap=True)
    for p in info["processes"]:
        s = p["stats"]
        first = next(iter(s["tiers"].values()), {"hits": 0, "misses": 0})
        requests = first["hits"] + first["misses"]
        hits = sum(t["hits"] for t in s["tiers"].values())
        row = [
            str(p["pid"]), {True: "yes", False: "no", None: "?"}[p["alive"]],
            _short_when(p["started"]), _short_when(p["updated"]), f"{requests:,}",
            f"{hits / requests:.1%}" if requests else "-", f"{s['loads']:,}",
            f"{s['saved_seconds']:.2f}",
        ]  # fmt: skip
        table.add_row(*(row if one_host else [str(p["host"]), *row]))
    console.print(table)


# -- ls ------------------------------------------------------------------------------------------

_SORTS = {
    "size": (lambda e: -e["size"]),
    "age": (lambda e: e["stored_at"]),
    "access": (lambda e: -e["last_access"]),
    "key": (lambda e: (e["label"], e["key"])),
}


@app.command("ls")
def ls_command(
    target: Annotated[str | None, typer.Argument(help="A cache NAME or DIR.")] = None,
    sort: Annotated[
        str,
        typer.Option(
            help="size (largest first), age (oldest first), access (most recent first) or key."
        ),
    ] = "access",
    limit: Annotated[int | None, typer.Option(help="Show at most N entries.", min=0)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The entries of the disk tier: key summary, size, tier, age and last access."""
    from rich.markup import escape
    from rich.table import Table

    if sort not in _SORTS:
        raise fail(f"--sort {sort!r}: allowed: {', '.join(map(repr, _SORTS))}")
    from .._cache import handle

    cache = open_target(target)
    door = handle(cache)
    if not door.has_tier("disk"):
        raise fail(f"cache {cache.name!r} has no disk tier: nothing outlives its process to list")
    now = time.time()
    try:
        rows: list[dict[str, Any]] = [
            {
                "key": e.key,
                "label": e.label,
                "size": e.size,
                "tier": "disk",
                "stored_at": e.stored_at,
                "last_access": e.last_access,
                "expire_at": e.expire_at,
                "age": now - e.stored_at,
            }
            for e in door.disk_entries()
        ]
    finally:
        cache.close()
    total = len(rows)
    rows.sort(key=_SORTS[sort])
    if limit is not None:
        rows = rows[:limit]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=f"{cache.directory}: {len(rows)} of {total} entries, by {sort}")
    for col in ("key", "size", "tier", "age", "last access"):
        table.add_column(col, justify="right" if col in ("size", "age") else "left")
    for r in rows:
        label = r["label"] or r["key"][:12]
        table.add_row(
            escape(label), _human(r["size"]), r["tier"], _ago(r["age"]), _when(r["last_access"])
        )
    make_console().print(table)


# -- clear ---------------------------------------------------------------------------------------


@app.command("clear")
def clear_command(
    target: Annotated[str, typer.Argument(help="A cache NAME or DIR.")],
    tier: Annotated[
        str | None, typer.Option(help="Only this tier: disk or remote (default: every tier).")
    ] = None,
    older_than: Annotated[
        str | None, typer.Option(help="Only entries stored longer ago than this, e.g. 7d, 12h.")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Remove entries (all of them, or those older than --older-than); asks first unless --yes."""
    from .._sizes import parse_duration

    if tier not in (None, "disk", "remote"):
        raise fail(f"--tier {tier!r}: allowed: 'disk', 'remote'")
    cutoff = None
    if older_than is not None:
        try:
            cutoff = time.time() - parse_duration(older_than)
        except (ValueError, TypeError) as e:
            raise fail(f"--older-than {older_than!r}: {e}") from None
    from .._cache import handle

    cache = open_target(target)
    door = handle(cache)
    if tier == "remote" and not door.has_tier("remote"):
        raise fail(f"cache {cache.name!r} has no remote tier")
    if (tier == "disk" or cutoff is not None) and not door.has_tier("disk"):
        raise fail(f"cache {cache.name!r} has no disk tier")
    scope = "every tier" if tier is None else f"the {tier} tier"
    what = f"{scope} of cache {cache.name!r} in {cache.directory}"
    what = (f"entries older than {older_than} in " if cutoff else "everything in ") + what
    if not yes:
        if not sys.stdin.isatty():
            raise fail(f"refusing to remove {what} without confirmation: pass --yes")
        if not typer.confirm(f"Remove {what}?"):
            make_console().print("nothing removed")  # the user's answer, not an error
            cache.close()
            return
    removed: int | None = None
    if cutoff is not None:
        removed = door.delete_disk_older_than(cutoff)
    elif tier is not None:
        door.clear_tier(tier)
    else:
        cache.clear()
    cache.close()
    if as_json:
        typer.echo(json.dumps({"cleared": what, "removed": removed}))
    else:
        n = "" if removed is None else f" ({removed} entries)"
        make_console().print(f"removed {what}{n}")


# -- verify --------------------------------------------------------------------------------------


@app.command("verify")
def verify_command(
    target: Annotated[str | None, typer.Argument(help="A cache NAME or DIR.")] = None,
    repair: Annotated[bool, typer.Option(help="Fix what can be fixed (drop bad entries).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check every tier's invariants (``Cache.verify``); exit 1 if a problem was found."""
    from rich.markup import escape

    cache = open_target(target)
    try:
        report = cache.verify(repair=repair)
        # After a repair, what decides the exit code is whether anything is still wrong.
        after = cache.verify() if repair and not report.ok else report
    finally:
        cache.close()
    if as_json:
        shown = report.to_dict()
        if repair:
            shown["ok_after_repair"] = after.ok
        typer.echo(json.dumps(shown, indent=2, sort_keys=True))
    else:
        console = make_console()
        if report.ok:
            console.print(f"[green]OK[/] {escape(str(cache.directory))}")
        for p in report.problems:
            console.print(f"  - {escape(p)}")
        if repair:
            console.print(f"repaired: {report.repaired}")
            if not report.ok:
                state = "[green]OK[/] now" if after.ok else "[red]still broken[/]"
                console.print(f"{state}: {escape(str(cache.directory))}")
                for p in after.problems:
                    console.print(f"  - {escape(p)}")
    if not after.ok:
        raise typer.Exit(code=1)


# -- advise --------------------------------------------------------------------------------------


_MAX_ROWS = 24


def _rows(advice: Any, shown: Any) -> list[Any]:
    """The points worth a row: one per budget label (the curve has ~40 log-spaced points and
    its knees, several of which print alike), at most ``_MAX_ROWS`` evenly chosen, and always
    the recommended one. ``--json`` keeps every point."""
    by_label: dict[str, Any] = {}
    for p in advice.points:
        label = shown(p.budget)
        if label not in by_label or p.budget == advice.recommended:
            by_label[label] = p
    rows = list(by_label.values())
    if len(rows) > _MAX_ROWS:
        step = len(rows) / _MAX_ROWS
        keep = {rows[int(i * step)].budget for i in range(_MAX_ROWS)} | {rows[-1].budget}
        rows = [p for p in rows if p.budget in keep or p.budget == advice.recommended]
    return rows


@app.command("advise")
def advise_command(
    trace: Annotated[Path, typer.Argument(help="An access trace (gzip and xz are opened too).")],
    format: Annotated[
        str | None, typer.Option("--format", help="The trace format (default: detected).")
    ] = None,
    budgets: Annotated[
        str | None, typer.Option(help="Comma-separated budgets, e.g. 64MiB,256MiB,1GiB.")
    ] = None,
    sample: Annotated[
        float | None, typer.Option(help="Model a sample of the keys at this rate, e.g. 0.01.")
    ] = None,
    plot: Annotated[Path | None, typer.Option(help="Write the curve as a PNG here.")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print Advice.to_dict() as JSON.")
    ] = False,
) -> None:
    """Hit ratio, byte hit ratio and load seconds saved of an LRU memory tier at every budget,
    from a recorded trace, and the smallest budget within one point of the best."""
    from rich.table import Table

    from .._observe import advisor as _advisor

    if not trace.is_file():
        raise fail(f"trace {str(trace)!r} does not exist or is not a file")
    try:
        advice, unit = _advisor.advise_command(trace, format, budgets, sample, plot)
    except (ValueError, TypeError, OSError, ImportError) as e:
        raise fail(f"cannot advise on {str(trace)!r}: {e}") from None
    if as_json:
        typer.echo(json.dumps(advice.to_dict(), indent=2))
        return
    shown = (lambda b: f"{b:,}") if unit == "entries" else _human
    table = Table(title=f"LRU memory tier on {trace.name} (budgets in {unit})")
    for col in ("budget", "hit ratio", "byte hit ratio", "seconds saved", ""):
        table.add_column(col, justify="right")
    for p in _rows(advice, shown):
        mark = "recommended" if p.budget == advice.recommended else ""
        table.add_row(
            shown(p.budget), f"{p.hit_ratio:.2%}", f"{p.byte_hit_ratio:.2%}",
            f"{p.seconds_saved:.3f}", mark, style="bold green" if mark else None,
        )  # fmt: skip
    console = make_console()
    console.print(table)
    sampled = f" (sampled at rate {advice.sampled:g})" if advice.sampled is not None else ""
    best = max(p.hit_ratio for p in advice.points)
    console.print(
        f"recommended budget: {shown(advice.recommended)}{sampled}: the smallest within one "
        f"point of the best hit ratio shown ({best:.2%})"
    )
    if plot is not None:
        console.print(f"plot written to {plot}")


@app.command("demo")
def demo(
    directory: Annotated[
        Path | None,
        typer.Option(help="Where the demo's cache lives (default: ./.demo-cache)."),
    ] = None,
    items: Annotated[
        int | None,
        typer.Option(help="Items of 1 MiB (default 96, or MEMCACHE_KIT_DEMO_ITEMS).", min=2),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """Run a real workload and show budgets held, hits per tier, time saved and the advice."""
    from .._errors import MissingExtra
    from . import demo as _demo

    try:
        _demo.main(directory, items, as_json)
    except MissingExtra as e:
        raise fail(str(e)) from None


def main() -> None:
    """The console-script entry point (``memcache-kit``)."""
    app()
