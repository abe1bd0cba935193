"""The fronts: what users put in front of a ``Cache``.

``decorators`` (``cached``, ``cached_property``) over ``core`` (one decorated function's keys,
counts and calls) and ``wrappers`` (the function wrappers with the memory-hit fast lane,
methods, the property descriptor); ``lazy`` (proxies); ``datasets`` (``LazyDataset``,
``worker_init_fn``) and ``arrays`` (``open_array``, ``materialize``).

The fronts use a ``Cache`` through its public API and the handle ``_cache`` documents
(``_cache.door``), never through its private attributes.
"""

from __future__ import annotations

from .arrays import materialize, open_array
from .datasets import LazyDataset, worker_init_fn
from .decorators import cached, cached_property
from .lazy import is_loaded, lazy

__all__ = [
    "LazyDataset",
    "cached",
    "cached_property",
    "is_loaded",
    "lazy",
    "materialize",
    "open_array",
    "worker_init_fn",
]
