"""The command line (``memcache-kit`` and ``python -m memcache_kit``): ``commands``,
``configure`` (``config show|check``), the ``demo`` and ``targets`` (the NAME or DIR a command
opens). Nothing imports this package but ``__main__`` and the console script."""

from __future__ import annotations

from .commands import main

__all__ = ["main"]
