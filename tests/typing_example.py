"""Checked with ``mypy --strict`` by tests/test_decorators.py: decorated signatures stay visible.

Not collected as a test module (its name does not start with ``test_``); it runs nothing at
import except decoration.
"""

from __future__ import annotations

from pathlib import Path

import memcache_kit as mk


@mk.cached
def load_text(path: Path, *, encoding: str = "utf-8") -> str:
    return path.read_text(encoding=encoding)


@mk.cached(cache="features", ttl="1h", version=2, ignore=("verbose",))
def features(name: str, scale: float = 1.0, verbose: bool = False) -> list[float]:
    return [scale] * len(name)


@mk.cached(ttl=60)
async def fetch(url: str, retries: int = 3) -> bytes:
    return url.encode() * retries


class Model:
    def __init__(self, w: float) -> None:
        self.w = w

    @mk.cached
    def predict(self, x: float) -> float:
        return self.w * x

    @mk.cached_property
    def weights(self) -> list[float]:
        return [self.w]

    @classmethod
    @mk.cached
    def default(cls, size: int) -> list[int]:
        return [0] * size

    @mk.cached
    @classmethod
    def ones(cls, size: int) -> list[int]:
        return [1] * size

    @staticmethod
    @mk.cached
    def tokens(text: str) -> list[str]:
        return text.split()


def uses() -> None:
    text: str = load_text(Path("x.txt"), encoding="latin-1")
    again: str = load_text.refresh(Path("x.txt"))
    dropped: bool = load_text.invalidate(Path("x.txt"))
    info: mk.CacheInfo = load_text.cache_info()
    hits: int = info.hits
    tiers: dict[str, tuple[int, int]] = info.tiers
    load_text.cache_clear()
    cache: mk.Cache = load_text.cache
    vec: list[float] = features("abc", 2.0, verbose=True)
    m = Model(2.0)
    y: float = m.predict(3.0)
    y2: float = Model.predict(m, 3.0)
    w: list[float] = m.weights
    zeros: list[int] = Model.default(3)
    zeros2: list[int] = m.default(3)
    ones: list[int] = Model.ones(3)
    ones_info: mk.CacheInfo = Model.ones.cache_info()
    words: list[str] = Model.tokens("a b")
    print(text, again, dropped, hits, tiers, cache, vec, y, y2, w, zeros, zeros2, ones)
    print(ones_info, words)


async def async_uses() -> None:
    body: bytes = await fetch("https://example.org", retries=1)
    fresh: bytes = await fetch.refresh("https://example.org")
    print(body, fresh)
