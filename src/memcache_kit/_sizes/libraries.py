"""Sizers for optional libraries (numpy, pandas, polars, pyarrow, torch), recognised by module
name and never imported here; and the memory tier's helpers for numpy memmaps and views (a leaf).
"""

from __future__ import annotations

import mmap
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .builtins import _leaf
from .walk import Dispatch, _Handler

if TYPE_CHECKING:
    from .walk import _Walk

__all__ = ["LIBRARIES", "compact", "is_memmap"]

# ---------------------------------------------------------------------------------------------
# sizeof: optional libraries, recognised by module name and never imported here.
# Their wrappers' __sizeof__ often adds the data size, so the shell is object.__sizeof__.


def _numpy_handler(t: type) -> _Handler | None:
    np = sys.modules.get("numpy")
    if np is None:
        return None
    return _ndarray if issubclass(t, np.ndarray) else _leaf


def _ndarray(walk: _Walk, obj: Any, budget: int, depth: int) -> None:
    # An array that owns its data reports header + data; a view reports its header only, and is
    # charged for what its base chain keeps alive (each link once, so a base shared by many views
    # counts once). The chain ends in an owning array, a buffer (bytes, memoryview) or an mmap.
    walk.charge(obj, sys.getsizeof(obj))
    np = sys.modules["numpy"]
    a = obj
    while True:
        base = a.base
        if base is None:
            break
        if not isinstance(base, np.ndarray):
            walk.visit(base, budget, depth + 1)
            break
        if not walk.first_sight(base):
            break
        walk.charge(base, sys.getsizeof(base))
        a = base
    if a.dtype.hasobject and budget >= 0 and a.size:
        flat = a.reshape(-1) if a.flags.c_contiguous else a.ravel()
        walk.children(flat, budget, depth, sys.getsizeof(a))


def _pandas_handler(t: type) -> _Handler | None:
    pd = sys.modules.get("pandas")
    if pd is None:
        return None
    if issubclass(t, pd.DataFrame):
        return _pandas_frame
    if issubclass(t, pd.Series):
        return _pandas_series
    if issubclass(t, pd.Index):
        return _pandas_index
    if issubclass(t, pd.api.extensions.ExtensionArray):
        return _pandas_array
    if hasattr(t, "_ndarray") or hasattr(t, "_pa_array") or hasattr(t, "codes"):
        return _pandas_array
    return None


# Python objects around a frame's arrays (BlockManager, blocks, flags, caches), measured with
# tracemalloc on pandas 2.2-3.x: a fixed part plus a little per block.
_PD_FRAME_OVERHEAD = 2400
_PD_SERIES_OVERHEAD = 1000
_PD_BLOCK_OVERHEAD = 300
_PD_INDEX_OVERHEAD = 200


def _pandas_frame(walk: _Walk, obj: Any, budget: int, depth: int) -> None:
    blocks = getattr(getattr(obj, "_mgr", None), "blocks", None)
    if blocks is None:  # an unfamiliar pandas: its own (slow but exact) count
        walk.charge(obj, int(obj.memory_usage(deep=True, index=True).sum()))
        return
    walk.charge(obj, _PD_FRAME_OVERHEAD + _PD_BLOCK_OVERHEAD * len(blocks))
    share = budget // (len(blocks) + 2) if budget >= 0 else -1
    for blk in blocks:
        _pandas_values(walk, blk.values, share, depth)
    walk.visit(obj.index, share, depth + 1)
    walk.visit(obj.columns, share, depth + 1)


def _pandas_series(walk: _Walk, obj: Any, budget: int, depth: int) -> None:
    walk.charge(obj, _PD_SERIES_OVERHEAD)
    share = budget // 2 if budget >= 0 else -1
    _pandas_values(walk, obj._values, share, depth)
    walk.visit(obj.index, share, depth + 1)


def _pandas_index(walk: _Walk, obj: Any, budget: int, depth: int) -> None:
    walk.charge(obj, _PD_INDEX_OVERHEAD)
    if type(obj).__name__ in ("RangeIndex",):
        return
    if hasattr(obj, "levels") and hasattr(obj, "codes"):  # MultiIndex
        for part in (*obj.levels, *obj.codes):
            walk.visit(part, budget // 4 if budget >= 0 else -1, depth + 1)
        return
    _pandas_values(walk, obj._values, budget, depth)


def _pandas_array(walk: _Walk, obj: Any, budget: int, depth: int) -> None:
    # pandas' __sizeof__ adds the data (Categorical's, its codes), which its parts charge below.
    walk.charge(obj, object.__sizeof__(obj))
    _pandas_values(walk, obj, budget, depth, charged=True)


def _pandas_values(
    walk: _Walk, values: Any, budget: int, depth: int, *, charged: bool = False
) -> None:
    """The arrays behind a block, Series or Index: numpy arrays, or pandas extension arrays."""
    np = sys.modules["numpy"]
    if isinstance(values, np.ndarray):
        walk.visit(values, budget, depth + 1)
        return
    if not charged and not walk.first_sight(values):
        return
    parts = [
        getattr(values, name)
        for name in ("_ndarray", "_pa_array", "_data", "_mask", "codes", "categories")
        if hasattr(values, name)
    ]
    if not parts:
        walk.charge(values, int(getattr(values, "nbytes", sys.getsizeof(values))))
        return
    for part in parts:
        walk.visit(part, budget // len(parts) if budget >= 0 else -1, depth + 1)


def _polars_handler(t: type) -> _Handler | None:
    return _polars if hasattr(t, "estimated_size") else None


def _polars(walk: _Walk, obj: Any, budget: int, depth: int) -> None:
    walk.charge(obj, object.__sizeof__(obj) + int(obj.estimated_size()))


def _pyarrow_handler(t: type) -> _Handler | None:
    if hasattr(t, "get_total_buffer_size"):
        return _pyarrow
    pa = sys.modules.get("pyarrow")
    if pa is not None and issubclass(t, pa.Buffer):
        return _pyarrow_buffer
    return None


def _pyarrow(walk: _Walk, obj: Any, budget: int, depth: int) -> None:
    # Total buffer size, not nbytes: a slice keeps its parent's whole buffers alive.
    walk.charge(obj, object.__sizeof__(obj) + int(obj.get_total_buffer_size()))


def _pyarrow_buffer(walk: _Walk, obj: Any, budget: int, depth: int) -> None:
    walk.charge(obj, object.__sizeof__(obj) + int(obj.size))


def _torch_handler(t: type) -> _Handler | None:
    torch = sys.modules.get("torch")
    if torch is None or not issubclass(t, torch.Tensor):
        return None
    return _tensor


def _tensor(walk: _Walk, obj: Any, budget: int, depth: int) -> None:
    size = object.__sizeof__(obj)  # Tensor.__sizeof__ adds the data, charged below
    try:
        storage = obj.untyped_storage()
        key = (str(storage.device), int(storage.data_ptr()))
        if key not in walk.storages:  # views share their storage: charge it once
            walk.storages.add(key)
            size += int(storage.nbytes())
    except (RuntimeError, NotImplementedError):  # sparse, nested or meta tensors
        size += int(obj.element_size() * obj.nelement())
    walk.charge(obj, size)


LIBRARIES: dict[str, Callable[[type], _Handler | None]] = {
    "numpy": _numpy_handler,
    "pandas": _pandas_handler,
    "polars": _polars_handler,
    "pyarrow": _pyarrow_handler,
    "torch": _torch_handler,
}
Dispatch.libraries.update(LIBRARIES)


# ---------------------------------------------------------------------------------------------
# Helpers for the memory tier: memmaps and compact copies of small views

_COMPACT_MAX = 64 * 1024**2  # views larger than this are kept as they are (a copy costs time)


def is_memmap(obj: Any) -> bool:
    """True for a ``np.memmap`` or an array whose base chain ends in an mmap (no resident data)."""
    np = sys.modules.get("numpy")
    if np is None or not isinstance(obj, np.ndarray):
        return False
    a: Any = obj
    while True:
        if isinstance(a, np.memmap | mmap.mmap):
            return True
        if isinstance(a, memoryview):
            try:
                a = a.obj
            except ValueError:
                return False
            continue
        if not isinstance(a, np.ndarray):
            return False
        a = a.base


def compact(value: Any) -> Any:
    """A compact contiguous copy of a numpy view that keeps alive a base much larger than itself
    (the view's bytes at most half the base's, and at most 64 MiB); otherwise ``value`` itself.

    Memmaps are never copied. The copy keeps the view's subclass and read-only flag.
    """
    np = sys.modules.get("numpy")
    if np is None or not isinstance(value, np.ndarray) or value.base is None:
        return value
    if is_memmap(value) or value.dtype.hasobject or value.nbytes > _COMPACT_MAX:
        return value
    base_bytes = _base_nbytes(value)
    if base_bytes is None or value.nbytes * 2 > base_bytes:
        return value
    copy = value.copy(order="C")
    if not value.flags.writeable:
        copy.flags.writeable = False
    return copy


def _base_nbytes(arr: Any) -> int | None:
    np = sys.modules["numpy"]
    a: Any = arr
    while isinstance(a, np.ndarray) and a.base is not None:
        a = a.base
    if isinstance(a, np.ndarray):
        return int(a.nbytes)
    if isinstance(a, memoryview):
        return a.nbytes
    if isinstance(a, bytes | bytearray):
        return len(a)
    try:
        return memoryview(a).nbytes
    except TypeError:
        return None
