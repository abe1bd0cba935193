"""Sizes and durations: ``parse`` (budgets and durations from strings, physical memory) and
``sizeof`` (what a value keeps alive): ``walk`` (the sampled walk, ``register_sizer``) with
``builtins`` (builtins and plain objects) and ``libraries`` (numpy, pandas, polars, pyarrow,
torch, recognised by module name and never imported here). A leaf: imports nothing of the
package above it."""

from __future__ import annotations

from .libraries import compact, is_memmap
from .parse import parse_duration, parse_size, physical_memory
from .walk import Sizer, register_sizer, sizeof

__all__ = [
    "Sizer",
    "compact",
    "is_memmap",
    "parse_duration",
    "parse_size",
    "physical_memory",
    "register_sizer",
    "sizeof",
]
