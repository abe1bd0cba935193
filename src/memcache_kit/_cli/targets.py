"""What a command works on: a cache NAME (only one that exists: reading never creates) or a
cache DIR, opened for inspection; and the commands' console and error exit."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer

from .._errors import ConfigError

__all__ = ["directory_of", "fail", "make_console", "open_target"]


def make_console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def fail(message: str) -> typer.Exit:
    from rich.markup import escape

    # The message is text, not markup: "[numpy]" in a pip command must print as it is.
    make_console(stderr=True).print(f"[bold red]error:[/] {escape(message)}", markup=True)
    return typer.Exit(code=1)


_HUGE = 1 << 60  # a disk budget no directory reaches: opening for inspection never evicts


def _is_dir_target(target: str) -> bool:
    return os.sep in target or target in (".", "..") or Path(target).is_dir()


def open_target(target: str | None) -> Any:
    """A ``Cache`` for NAME (through ``get_cache``) or DIR (opened with a budget that never
    culls, memory tier off); exits 1 with a message when neither works."""
    from .._cache import Cache
    from .._config import get_cache

    target = target or "default"
    try:
        if not _is_dir_target(target):
            _must_exist(target)
            return get_cache(target)
        path = Path(target).expanduser().absolute()
        if not (path / "cache.db").is_file():
            raise fail(f"{str(path)!r} is not a cache directory (no cache.db in it)")
        return Cache(path.name, memory=0, disk=_HUGE, directory=path)
    except (ConfigError, ValueError, TypeError, OSError) as e:
        raise fail(f"cannot open {target!r}: {e}") from None


def _must_exist(name: str) -> None:
    """Refuse a NAME whose cache was never created here: a command that reads a cache must not
    create one (a directory, a key file) because of a typo."""
    import difflib

    from .._config import disk_directory, known_names

    directory = disk_directory(name)
    if directory is None or (directory / "cache.db").is_file():
        return  # no disk tier (memory or remote only), or a cache that exists
    known = known_names()
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    listed = ", ".join(known) if known else "none yet"
    raise fail(f"no cache named {name!r} (known: {listed}){hint}")


def directory_of(target: str | None) -> Path:
    target = target or "default"
    if _is_dir_target(target):
        path = Path(target).expanduser().absolute()
        if not path.is_dir():
            raise fail(f"{str(path)!r} is not a directory")
        return path
    return Path(open_target(target).directory)
