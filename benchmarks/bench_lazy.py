"""Lazy proxies: attribute access and an operator through memcache_kit.lazy vs the peers.

memcache_kit's proxy looks its value up in the cache on every use (a memory hit), so that an
evicted value is not kept alive by the proxy; the resolved proxies of wrapt and
lazy-object-proxy hold their value. The rows show what that lookup costs.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import lazy_object_proxy
import wrapt
from lazy_object_proxy.slots import Proxy as SlotsProxy

from benchmarks._util import per_call, table
from memcache_kit._cache.cache import Cache
from memcache_kit._front.lazy import lazy


class Model:
    def __init__(self) -> None:
        self.size = 3
        self.items = [1, 2, 3]

    def __len__(self) -> int:
        return 3


def make_model() -> Model:
    return Model()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp, "cache")
        directory.mkdir(mode=0o700)
        cache = Cache("bench-lazy", memory="64MiB", disk="64MiB", directory=directory)
        plain = Model()
        candidates = {
            "plain object": plain,
            "wrapt.ObjectProxy": wrapt.ObjectProxy(plain),
            "lazy_object_proxy.Proxy (C, resolved)": lazy_object_proxy.Proxy(make_model),
            "lazy_object_proxy slots Proxy (resolved)": SlotsProxy(make_model),
            "memcache_kit.lazy (cache lookup per use)": lazy(make_model, cache=cache),
        }
        for p in candidates.values():
            _ = p.size  # resolve / load once
        for what, op in (("attribute access p.size", lambda p: p.size), ("len(p)", len)):
            rows = []
            base = 0.0
            for label, p in candidates.items():
                secs = per_call(lambda p=p, op=op: op(p))
                base = base or secs
                rows.append((label, secs, f"{secs / base:6.1f}x plain"))
            table(what, rows)
        cache.close()


if __name__ == "__main__":
    main()
