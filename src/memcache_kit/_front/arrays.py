"""``open_array`` (a ``.npy`` as a numpy memmap) and ``materialize`` (a dataset into one ``.npy``).

numpy is imported inside the functions: ``import memcache_kit`` must not import it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from .._errors import need
from .._keys import CacheKey, encode

if TYPE_CHECKING:
    import numpy as np

__all__ = ["materialize", "open_array"]

_MODES = ("r", "r+", "c")
_SIDECAR_FORMAT = 1


def open_array(
    path: str | os.PathLike[str], mode: Literal["r", "r+", "c"] = "r"
) -> np.memmap[Any, Any]:
    """The ``.npy`` file at ``path`` as a numpy memmap: slicing reads only the pages it touches.

    ``mode``: ``"r"`` read-only, ``"r+"`` writes go to the file, ``"c"`` copy-on-write (writable
    in memory, never written back; use it for arrays handed to torch's collate).
    """
    need("numpy", "numpy", "open_array()")
    import numpy as np

    if mode not in _MODES:
        raise ValueError(f"open_array(): mode={mode!r} is not allowed: use one of {_MODES}")
    p = Path(path)
    if p.suffix != ".npy":
        raise ValueError(
            f"open_array({str(path)!r}): only .npy files can be memory-mapped; for .npz, "
            "np.load() the archive and save the arrays you slice as .npy files"
        )
    arr = np.load(p, mmap_mode=mode, allow_pickle=False)
    if not isinstance(arr, np.memmap):
        # np.load returns a plain array for empty files, which cannot be mapped.
        return np.memmap(p, dtype=arr.dtype, mode=mode, shape=arr.shape, offset=0)
    return arr


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".memcache_kit.json")


@runtime_checkable
class KeyedDataset(Protocol):
    """A dataset that knows its items' cache keys and loads them untransformed:
    ``LazyDataset`` (a protocol here, since ``datasets`` imports this module)."""

    def __len__(self) -> int: ...
    def item_key(self, i: int) -> CacheKey: ...
    def load(self, i: int) -> Any: ...


def _identity_of(ds: Sequence[Any], key: Any) -> str:
    h = hashlib.blake2b(digest_size=16)
    if key is not None:
        try:
            h.update(b"key\0" + encode(key))
        except TypeError as e:
            raise TypeError(f"materialize(): key={key!r} cannot be encoded: {e}") from e
    elif isinstance(ds, KeyedDataset):
        h.update(b"lazy\0")
        for i in range(len(ds)):
            h.update(ds.item_key(i).disk.encode())
    else:
        raise TypeError(
            f"materialize(): cannot tell whether a {type(ds).__name__} has changed since the "
            "last call; pass key=... (any encodable value naming its content) or a LazyDataset"
        )
    return h.hexdigest()


def materialize(
    ds: Sequence[Any],
    path: str | os.PathLike[str],
    *,
    key: Any = None,
    overwrite: bool = False,
) -> np.memmap[Any, Any]:
    """Write the equal-shaped arrays of ``ds`` into one ``.npy`` once; return it as a memmap.

    Items are streamed into the file (``np.lib.format.open_memmap``) and never held together in
    memory. A ``LazyDataset`` contributes its items as the cache holds them (``transform`` is
    not applied, so augmentations stay per epoch). A second call with the same dataset (same
    items and keys, or the same ``key``) reuses the file; a file written for other content, or
    not by ``materialize``, is an error unless ``overwrite=True``. The memmap is copy-on-write
    (mode ``"c"``): writable, never written back, accepted by torch's collate.
    """
    need("numpy", "numpy", "materialize()")
    import numpy as np

    p = Path(path)
    if p.suffix != ".npy":
        raise ValueError(f"materialize(): path {str(path)!r} must end in .npy")
    n = len(ds)
    if n == 0:
        raise ValueError("materialize(): the dataset is empty; there is no shape to write")
    ident = _identity_of(ds, key)
    side = _sidecar(p)
    if p.exists():
        try:
            meta = json.loads(side.read_text())
        except (OSError, ValueError):
            meta = None
        if isinstance(meta, dict) and meta.get("dataset") == ident:
            arr = open_array(p, "c")
            if arr.shape[0] == n and meta.get("format") == _SIDECAR_FORMAT:
                return arr
        if not overwrite:
            why = "another dataset" if meta is not None else "a file materialize() did not write"
            raise FileExistsError(
                f"materialize(): {str(p)!r} holds {why}; pass overwrite=True to replace it, or "
                "choose another path"
            )

    get = ds.load if isinstance(ds, KeyedDataset) else ds.__getitem__
    first = np.asarray(get(0))
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    try:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=first.dtype, shape=(n, *first.shape))
        out[0] = first
        del first
        for i in range(1, n):
            item = np.asarray(get(i))
            if item.shape != out.shape[1:] or item.dtype != out.dtype:
                raise ValueError(
                    f"materialize(): item {i} has shape {item.shape} and dtype {item.dtype}, "
                    f"but item 0 has {out.shape[1:]} and {out.dtype}; every item must match"
                )
            out[i] = item
        out.flush()
        del out
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    side_tmp = side.with_name(side.name + f".{os.getpid()}.tmp")
    side_tmp.write_text(json.dumps({"format": _SIDECAR_FORMAT, "dataset": ident, "items": n}))
    os.replace(side_tmp, side)
    return open_array(p, "c")
