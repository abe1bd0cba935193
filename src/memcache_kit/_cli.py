"""The command line: ``memcache-kit`` and ``python -m memcache_kit``.

STUB: replaced by the demo/CLI work.
"""

from __future__ import annotations


def main() -> None:
    raise SystemExit("not implemented yet")
