"""CPython's own ``lru_cache`` tests (``peers/cpython_lru.py``) against ``mk.cached``."""

from __future__ import annotations

import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "peers"))

import cpython_lru
from adapter import functools_like


@functools_like.lru_cache()
def mk_cached_func(x: int, y: int) -> int:
    return 3 * x + y


class TestLRUMemcacheKit(cpython_lru.TestLRU, unittest.TestCase):  # type: ignore[misc]
    module = functools_like
    cached_func = (mk_cached_func,)

    @module.lru_cache()
    def cached_meth(self, x: int, y: int) -> int:
        return 3 * x + y

    @staticmethod
    @module.lru_cache()
    def cached_staticmeth(x: int, y: int) -> int:
        return 3 * x + y
