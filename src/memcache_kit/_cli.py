"""The command line: ``memcache-kit`` and ``python -m memcache_kit``.

Built on typer with rich output. Commands so far: ``config show``, ``config check`` and
``demo``; the CLI issue adds ``stats``, ``ls``, ``clear``, ``verify`` and ``advise`` to ``app``.
Every command exits non-zero on error, and ``--json`` prints machine-readable output.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ._errors import ConfigError

__all__ = ["app", "main"]

app = typer.Typer(
    name="memcache-kit",
    help="Tiered caches within honest memory budgets: inspect, configure and demo.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Show or check the configuration (files, environment).")
app.add_typer(config_app, name="config")


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def _fail(message: str) -> typer.Exit:
    _console(stderr=True).print(f"[bold red]error:[/] {message}", markup=True)
    return typer.Exit(code=1)


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
    from rich.markup import escape
    from rich.table import Table

    from ._registry import describe

    try:
        info = describe()
    except ConfigError as e:
        raise _fail(str(e)) from None
    if as_json:
        typer.echo(json.dumps(info, indent=2, sort_keys=True))
        return
    console = _console()
    if info["files"]:
        for f in info["files"]:
            console.print(f"file: {escape(f['path'])}  (found by {escape(f['found_by'])})")
    else:
        console.print("no configuration files found; defaults and the environment apply")
    table = Table(title="process-wide settings")
    for col in ("key", "value", "source"):
        table.add_column(col)
    for key, entry in info["settings"].items():
        table.add_row(key, escape(_shown(key, entry)), escape(entry["source"]))
    console.print(table)
    for name, cache in info["caches"].items():
        live = " (live in this process)" if cache["live"] else ""
        table = Table(title=f"cache {name!r}{live}")
        for col in ("key", "value", "source"):
            table.add_column(col)
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

    from ._registry import check

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
        console = _console()
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


@app.command("demo")
def demo(
    directory: Annotated[
        Path | None,
        typer.Option(help="Where the demo's cache lives (default: ./.demo-cache)."),
    ] = None,
) -> None:
    """Run a real workload and show budgets held, hits per tier and time saved."""
    from . import _demo

    _demo.main(directory)


def main() -> None:
    """The console-script entry point (``memcache-kit``)."""
    app()
