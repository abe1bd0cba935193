"""The public face is exactly ``__all__`` (style: one public face, private rooms)."""

from __future__ import annotations

import subprocess
import sys

import memcache_kit


def test_all_is_sorted_and_exported() -> None:
    assert memcache_kit.__all__ == sorted(memcache_kit.__all__)
    public = {n for n in dir(memcache_kit) if not n.startswith("_")} | {"__version__"}
    modules = {"annotations"}
    assert set(memcache_kit.__all__) == public - modules
    for name in memcache_kit.__all__:
        assert getattr(memcache_kit, name) is not None


def test_import_pulls_no_optional_library() -> None:
    code = (
        "import sys, memcache_kit\n"
        "heavy = {'numpy', 'pandas', 'torch', 'redis', 'matplotlib', 'polars', 'pyarrow'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
