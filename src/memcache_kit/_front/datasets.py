"""``LazyDataset`` (map-style, a torch ``Dataset`` when torch is installed) and ``worker_init_fn``.

torch is imported only when a dataset is built and torch is installed; ``import memcache_kit``
never imports it. Arrays: ``open_array`` and ``materialize`` live in ``arrays``.
"""

from __future__ import annotations

import importlib.util
import operator
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .._cache import Cache, Handle, handle
from .._keys import CacheKey
from .._shapes import USE_DEFAULT, UseDefault
from .arrays import materialize, open_array
from .lazy import TTL, check_cache_spec, entry_key, namespace_of, resolve_cache

__all__ = ["LazyDataset", "materialize", "open_array", "worker_init_fn"]


class LazyDataset:
    """A map-style dataset over item descriptions (paths, ids, rows), loaded through a cache.

    ``ds[i]`` is ``transform(value)`` where ``value`` is ``loader(source[i])`` from the cache,
    loaded on first access; ``transform`` runs on every access and is never cached. Items are
    keyed by the loader's identity (or ``key``) and their description. When torch is installed,
    every instance is also a ``torch.utils.data.Dataset`` (see ``__new__``).
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> LazyDataset:
        # torch's Dataset is a plain class (no ABC), so ``register`` cannot make isinstance hold;
        # instead an instance is made of a subclass that also derives from it, built on the first
        # dataset (importing torch then, never at ``import memcache_kit``). Pickling goes through
        # ``__reduce__`` and this constructor, so a spawned worker makes the same choice.
        if cls is LazyDataset and _torch_installed():
            cls = _torch_class() or cls
        return super().__new__(cls)

    def __init__(
        self,
        source: Sequence[Any],
        loader: Callable[[Any], Any],
        cache: str | Cache = "default",
        transform: Callable[[Any], Any] | None = None,
        key: Any = None,
        *,
        ttl: TTL | UseDefault = USE_DEFAULT,
        _index: range | None = None,
    ) -> None:
        if not callable(loader):
            raise TypeError(f"LazyDataset(): loader {loader!r} is not callable")
        if transform is not None and not callable(transform):
            raise TypeError(f"LazyDataset(): transform {transform!r} is not callable")
        if not (hasattr(source, "__len__") and hasattr(source, "__getitem__")):
            raise TypeError(
                f"LazyDataset(): source must be a sequence (len() and [i]) of item descriptions, "
                f"not {type(source).__name__}; wrap an iterable in list(...)"
            )
        self._source = source
        self._loader = loader
        self._cache_spec = check_cache_spec(cache, "LazyDataset()")
        self._transform = transform
        self._key = key
        self._ttl = ttl
        self._index = range(len(source)) if _index is None else _index
        self._namespace = namespace_of(loader, key, "LazyDataset()")
        self._cache: Cache | None = None
        self._door: Handle | None = None  # the resolved cache's handle (see _load)
        self._pid = -1  # the process that last checked its worker budget (see _cache_here)

    # -- the sequence ------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._index)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return self._view(self._index[i])
        value = self._load(self._position(i))
        t = self._transform
        return value if t is None else t(value)

    def __iter__(self) -> Iterator[Any]:
        for i in range(len(self._index)):
            yield self[i]

    def __repr__(self) -> str:
        name = getattr(self._loader, "__qualname__", None) or repr(self._loader)
        spec = self._cache_spec
        cache = spec if isinstance(spec, str) else getattr(spec, "name", "?")
        return f"LazyDataset({len(self)} items, loader={name}, cache={cache!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # The cache travels as an instance, whose pickling sends its resolved settings, so a
        # spawned DataLoader worker reattaches to the same disk tier with its own memory tier.
        return _restore, (
            self._source,
            self._loader,
            self._resolved_cache(),
            self._transform,
            self._key,
            self._ttl,
            self._index,
        )

    # -- loading -----------------------------------------------------------------------------

    @property
    def cache(self) -> Cache:
        """The cache holding this dataset's items (a named cache resolves on first use)."""
        return self._resolved_cache()

    def item_key(self, i: int) -> CacheKey:
        """The cache key of item ``i`` (position in this dataset)."""
        return self._key_at(self._position(i))

    def load(self, i: int) -> Any:
        """Item ``i`` as the cache holds it, without ``transform``."""
        return self._load(self._position(i))

    def _position(self, i: Any) -> int:
        try:
            return self._index[operator.index(i)]
        except IndexError:
            raise IndexError(
                f"LazyDataset index {i!r} is out of range for {len(self)} items"
            ) from None
        except TypeError:
            raise TypeError(
                f"LazyDataset indices must be integers or slices, not {type(i).__name__}"
            ) from None

    def _key_at(self, pos: int) -> CacheKey:
        desc = self._source[pos]
        parts = (self._key, desc) if self._key is not None else desc
        return entry_key(self._namespace, self._namespace, parts, f"LazyDataset item {pos}")

    def _load(self, pos: int) -> Any:
        desc = self._source[pos]
        parts = (self._key, desc) if self._key is not None else desc
        key = entry_key(self._namespace, self._namespace, parts, f"LazyDataset item {pos}")
        loader = self._loader
        door = self._door
        if door is None or self._pid != os.getpid():
            door = self._door = handle(self._cache_here())
        return door.get_or_load(key, lambda: loader(desc), self._ttl)

    def _resolved_cache(self) -> Cache:
        cache = self._cache
        if cache is None:
            cache = self._cache = resolve_cache(self._cache_spec)
        return cache

    def _cache_here(self) -> Cache:
        cache = self._resolved_cache()
        pid = os.getpid()
        if self._pid != pid:
            # First access in this process: in a DataLoader worker, give it its share of the
            # memory budget (worker_init_fn does the same earlier; the split happens once).
            self._pid = pid
            _split_budget_in_worker(cache)
        return cache

    def _view(self, index: range) -> LazyDataset:
        view = LazyDataset(
            self._source,
            self._loader,
            self._cache_spec,
            self._transform,
            self._key,
            ttl=self._ttl,
            _index=index,
        )
        view._cache = self._cache
        return view

    # -- warming -----------------------------------------------------------------------------

    def prefetch(
        self,
        indices: Iterable[int] | None = None,
        workers: int | None = None,
        progress: bool | None = None,
    ) -> int:
        """Load the given items (default: all) into the cache; returns how many were loaded.

        ``workers`` threads (default: up to 8) call the loader; items already cached are
        skipped. A tqdm progress bar shows on a terminal (``progress=None``), always with
        ``True``, never with ``False``.
        """
        positions = [self._position(i) for i in (range(len(self)) if indices is None else indices)]
        if workers is None:
            workers = min(8, os.cpu_count() or 1)
        if not isinstance(workers, int) or workers < 1:
            raise ValueError(f"prefetch(): workers={workers!r} is not allowed: give an int >= 1")
        show = sys.stderr.isatty() if progress is None else bool(progress)
        cache = self._cache_here()
        door = handle(cache)
        loader = self._loader
        loaded = 0
        count_lock = threading.Lock()

        def warm(pos: int) -> None:
            nonlocal loaded
            desc = self._source[pos]

            def load() -> Any:
                nonlocal loaded
                value = loader(desc)
                with count_lock:
                    loaded += 1
                return value

            door.get_or_load(self._key_at(pos), load, self._ttl)

        from tqdm.auto import tqdm

        with tqdm(total=len(positions), disable=not show, desc="prefetch", unit="item") as bar:
            if workers == 1:
                for pos in positions:
                    warm(pos)
                    bar.update()
            else:
                with ThreadPoolExecutor(workers, thread_name_prefix="memcache_kit-prefetch") as ex:
                    for _ in ex.map(warm, positions):
                        bar.update()
        return loaded


def _restore(
    source: Sequence[Any],
    loader: Callable[[Any], Any],
    cache: Cache,
    transform: Callable[[Any], Any] | None,
    key: Any,
    ttl: TTL | UseDefault,
    index: range,
) -> LazyDataset:
    ds = LazyDataset(source, loader, cache, transform, key, ttl=ttl, _index=index)
    ds._cache = cache
    return ds


_torch_cls: type[LazyDataset] | None = None
_torch_ok: bool | None = None


def _torch_installed() -> bool:
    global _torch_ok
    if _torch_ok is None:
        _torch_ok = "torch" in sys.modules or importlib.util.find_spec("torch") is not None
    return _torch_ok


def _torch_class() -> type[LazyDataset] | None:
    global _torch_cls, _torch_ok
    if _torch_cls is None:
        try:
            from torch.utils.data import Dataset
        except ImportError:  # installed but broken: a plain dataset still works with DataLoader
            _torch_ok = False
            return None

        cls = type("LazyDataset", (LazyDataset, Dataset), {"__slots__": ()})
        cls.__module__ = LazyDataset.__module__
        cls.__qualname__ = "LazyDataset"
        cls.__doc__ = LazyDataset.__doc__
        _torch_cls = cls
    return _torch_cls


# -- DataLoader workers --------------------------------------------------------------------------

_split_lock = threading.Lock()
_split_done: dict[int, int] = {}  # id(cache) -> pid where its memory budget was split


def _split_budget_in_worker(cache: Cache) -> None:
    torch = sys.modules.get("torch")
    if torch is None:
        return
    info = torch.utils.data.get_worker_info()
    if info is None:
        return
    pid = os.getpid()
    with _split_lock:
        if _split_done.get(id(cache)) == pid:
            return
        _split_done[id(cache)] = pid
        budget = cache.memory_budget
        if budget > 0 and info.num_workers > 1:
            cache.memory_budget = max(1, budget // info.num_workers)


def _datasets_in(obj: Any, depth: int = 0) -> Iterator[LazyDataset]:
    # Wrappers (Subset, ConcatDataset, user classes) keep their inner datasets in these.
    if isinstance(obj, LazyDataset):
        yield obj
        return
    if depth > 8:
        return
    inner = getattr(obj, "dataset", None)
    if inner is not None:
        yield from _datasets_in(inner, depth + 1)
    for d in getattr(obj, "datasets", None) or ():
        yield from _datasets_in(d, depth + 1)


def worker_init_fn(worker_id: int) -> None:
    """For ``DataLoader(worker_init_fn=...)``: give this worker its share of the memory budget.

    Each worker process has its own memory tier; the disk tier is shared. The budget of every
    ``LazyDataset``'s cache reachable from the worker's dataset (through ``.dataset`` and
    ``.datasets`` of wrappers) is divided by ``num_workers``. A ``LazyDataset`` also does this on
    its first access in a worker, so the hook matters when other code runs before that.
    """
    from torch.utils.data import get_worker_info

    info = get_worker_info()
    if info is None:
        raise RuntimeError(
            f"worker_init_fn({worker_id!r}) runs only inside a DataLoader worker process"
        )
    for ds in _datasets_in(info.dataset):
        ds._cache_here()
