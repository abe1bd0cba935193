"""memcache_kit: tiered caching and lazy loading within honest memory budgets.

The public API is exactly ``__all__``; the code lives in private modules.
"""

from __future__ import annotations

from ._cache import Cache
from ._config import configure, get_cache
from ._errors import CacheWarning, ConfigError
from ._front import (
    LazyDataset,
    cached,
    cached_property,
    is_loaded,
    lazy,
    materialize,
    open_array,
    worker_init_fn,
)
from ._observe.advisor import advise
from ._observe.report import MemoryReport, report
from ._serial import register_serializer
from ._shapes import Advice, AdvicePoint, CacheInfo, CacheStats, TierStats, VerifyReport
from ._sizes import parse_size, register_sizer, sizeof

__version__ = "0.1.0"

__all__ = [
    "Advice",
    "AdvicePoint",
    "Cache",
    "CacheInfo",
    "CacheStats",
    "CacheWarning",
    "ConfigError",
    "LazyDataset",
    "MemoryReport",
    "TierStats",
    "VerifyReport",
    "__version__",
    "advise",
    "cached",
    "cached_property",
    "configure",
    "get_cache",
    "is_loaded",
    "lazy",
    "materialize",
    "open_array",
    "parse_size",
    "register_serializer",
    "register_sizer",
    "report",
    "sizeof",
    "worker_init_fn",
]
