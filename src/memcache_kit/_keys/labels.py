"""Short, safe labels of keys (for ``ls`` and error messages), and the test of whether a type
belongs to an optional library without importing one (a leaf)."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import pathlib
import sys
from typing import Any, Final

__all__ = ["short_repr"]

_OPTIONAL_ROOTS: Final = frozenset({"numpy", "pandas", "polars", "pyarrow", "torch"})


def _optional_loaded(t: type) -> bool:
    """Whether ``t`` may belong to an optional library; never imports one."""
    if _root(t) in _OPTIONAL_ROOTS:
        return True
    # Subclasses defined elsewhere (a GeoDataFrame, an astropy Quantity).
    return any(sys.modules.get(name) is not None for name in _OPTIONAL_ROOTS) and any(
        _root(b) in _OPTIONAL_ROOTS for b in t.__mro__[1:]
    )


def _root(t: type) -> str:
    return str(getattr(t, "__module__", None) or "").partition(".")[0]


def short_repr(obj: Any, limit: int = 80) -> str:
    """A short, safe summary of a key for ``ls``: never runs a large or failing ``__repr__``."""
    text = _summary(obj, 3)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _summary(obj: Any, depth: int) -> str:
    t = type(obj)
    if obj is None or t is bool or t is float or t is complex:
        return repr(obj)
    if t is int:
        return repr(obj) if obj.bit_length() < 200 else f"<int of {obj.bit_length()} bits>"
    if t is str or t is bytes or t is bytearray:
        return repr(obj[:60]) + ("…" if len(obj) > 60 else "")
    if t is memoryview:
        return f"<memoryview of {obj.nbytes} bytes>"
    if t in (tuple, list, set, frozenset) or t is dict:
        if depth == 0:
            return "(…)" if t is tuple else "[…]" if t is list else "{…}"
        items = list(obj.items() if t is dict else obj)[:6]
        if t is dict:
            body = ", ".join(
                f"{_summary(k, depth - 1)}: {_summary(v, depth - 1)}" for k, v in items
            )
        else:
            body = ", ".join(_summary(x, depth - 1) for x in items)
        if len(obj) > 6:
            body += ", …"
        if t is tuple:
            return f"({body},)" if len(obj) == 1 else f"({body})"
        if t is list:
            return f"[{body}]"
        return f"{t.__name__}({{{body}}})" if t is not dict else f"{{{body}}}"
    shape = getattr(obj, "shape", None)
    if isinstance(shape, tuple) and _optional_loaded(t):
        dtype = getattr(obj, "dtype", None)
        return (
            f"{t.__name__}({dtype}, {tuple(shape)})"
            if dtype is not None
            else (f"{t.__name__}{tuple(shape)}")
        )
    if isinstance(obj, (pathlib.PurePath, enum.Enum, datetime.date, datetime.time)) or (
        t.__module__ == "builtins"
    ):
        return repr(obj)
    names = getattr(t, "_fields", None) if isinstance(obj, tuple) else None
    if names is None and dataclasses.is_dataclass(obj):
        names = [f.name for f in dataclasses.fields(obj)]
    if names is not None and depth:
        body = ", ".join(f"{n}={_summary(getattr(obj, n), depth - 1)}" for n in list(names)[:6])
        return f"{t.__name__}({body})"
    return f"<{t.__name__}>"
