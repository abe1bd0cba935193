"""``cached`` and ``cached_property``.

STUB: the decorators helper replaces this file.
"""

from __future__ import annotations

from typing import Any

__all__ = ["cached", "cached_property"]


def cached(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError


class cached_property:  # noqa: N801 - named like functools.cached_property
    def __init__(self, func: Any) -> None:
        raise NotImplementedError
