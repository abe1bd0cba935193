"""``memcache-kit config show`` and ``config check``: the effective configuration and where
each value came from, and validation of the files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from .._errors import ConfigError
from .targets import fail, make_console

__all__ = ["config_app"]

config_app = typer.Typer(help="Show or check the configuration (files, environment).")


def _shown(key: str, entry: dict[str, Any]) -> str:
    value, raw = entry["value"], entry["raw"]
    if value is None:
        return "none" if raw in (None, "none", False) else str(raw)
    if isinstance(value, bool):
        return json.dumps(value)
    if key in ("memory", "disk", "total_memory") and isinstance(value, int):
        return str(value) if raw == value else f"{raw} ({value:,} bytes)"
    if key in ("ttl", "lock_timeout") and isinstance(value, float):
        return f"{value:g} s" if raw == value else f"{raw} ({value:g} s)"
    return str(value)


@config_app.command("show")
def config_show(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Print the effective configuration and where each value came from."""
    import warnings

    from rich.markup import escape
    from rich.table import Table

    from .._config import describe
    from .._errors import CacheWarning

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", CacheWarning)
            info = describe()
    except ConfigError as e:
        raise fail(str(e)) from None
    for w in caught:  # a did-you-mean about the environment: a line of its own, not a warning
        make_console(stderr=True).print(f"note: {w.message}", markup=False)
    if as_json:
        typer.echo(json.dumps(info, indent=2, sort_keys=True))
        return
    console = make_console()
    if info["files"]:
        for f in info["files"]:
            console.print(f"file: {escape(f['path'])}  (found by {escape(f['found_by'])})")
    else:
        console.print("no configuration files found; defaults and the environment apply")
    table = Table(title="process-wide settings")
    for col in ("key", "value", "source"):
        table.add_column(col, overflow="fold")  # paths wrap, never cut
    for key, entry in info["settings"].items():
        table.add_row(key, escape(_shown(key, entry)), escape(entry["source"]))
    console.print(table)
    for name, cache in info["caches"].items():
        live = " (live in this process)" if cache["live"] else ""
        table = Table(title=f"cache {name!r}{live}")
        for col in ("key", "value", "source"):
            table.add_column(col, overflow="fold")
        for key, entry in cache["keys"].items():
            style = "dim" if entry["source"] == "default" else None
            table.add_row(key, escape(_shown(key, entry)), escape(entry["source"]), style=style)
        console.print(table)


@config_app.command("check")
def config_check(
    path: Annotated[
        Path | None,
        typer.Argument(help="A memcache_kit.toml or pyproject.toml; default: the files found."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Validate a configuration file (or every source found on its own); exit 1 on errors."""
    from rich.markup import escape

    from .._config import check

    results = check(path)
    failed = any(not p.startswith("warning:") for _, problems in results for p in problems)
    if as_json:
        report = [
            {
                "source": s,
                "ok": not any(not p.startswith("warning:") for p in problems),
                "problems": problems,
            }
            for s, problems in results
        ]
        typer.echo(json.dumps({"ok": not failed, "sources": report}, indent=2))
    else:
        console = make_console()
        if not results:
            console.print("no configuration files found; nothing to check")
        for source, problems in results:
            if not problems:
                console.print(f"[green]OK[/] {escape(source)}")
                continue
            console.print(f"[red]problems[/] in {escape(source)}:")
            for problem in problems:
                console.print(f"  - {escape(problem)}")
    if failed:
        raise typer.Exit(code=1)
