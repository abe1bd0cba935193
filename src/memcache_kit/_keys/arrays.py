"""Canonical encodings of numpy, pandas, polars, pyarrow and torch values (a leaf).

Imported by ``encode`` the first time it meets a type from one of those libraries, so
``import memcache_kit`` imports none of them; the libraries themselves are taken from
``sys.modules`` (a value of their type exists, so they are imported already).

Array content is hashed with XXH3-128 straight from the array's memory when it is C-contiguous,
else in contiguous chunks of rows (``ARRAY_CHUNK`` bytes at most are copied at a time), so a view
and a contiguous copy with equal content hash alike. Frames are keyed by their labels, dtypes and
values, column by column, from the columns' buffers where they have them.
"""

from __future__ import annotations

import ctypes
import sys
from typing import Any, Final

import xxhash

from .encode import (
    NUMERIC_HANDLERS,
    Handler,
    _e_bytes,
    _e_complex,
    _e_float,
    _e_int,
    _e_str,
    _e_tuple,
    _enc,
    _items,
    _len,
    _s,
    _Unencodable,
    class_id,
    register_library,
)

__all__ = ["ARRAY_CHUNK", "handler_for", "hash_array"]

#: Largest contiguous copy made while hashing a non-contiguous array (bytes).
ARRAY_CHUNK: Final = 4 << 20


def handler_for(t: type) -> Handler | None:
    """The encoder for a numpy or torch type, or ``None`` to fall through (registered with
    ``encode.register_library`` below; pandas, polars and pyarrow are ``frames``')."""
    np = sys.modules.get("numpy")
    if np is not None:
        if issubclass(t, np.ndarray):
            ma = sys.modules.get("numpy.ma")
            if ma is not None and issubclass(t, ma.MaskedArray):
                return _e_masked
            return _e_ndarray
        if issubclass(t, np.generic):
            if issubclass(t, np.str_):
                return _e_str
            if issubclass(t, np.bytes_):
                return _e_bytes
            return _e_npscalar
        if issubclass(t, np.dtype):
            return _e_npdtype
    torch = sys.modules.get("torch")
    if torch is not None:
        if issubclass(t, torch.Tensor):
            return _e_torch
        if issubclass(t, (torch.dtype, torch.device)):
            return _e_torch_meta
    return None


def _tag(name: str) -> bytes:
    return b"X" + _s(name)


def _shape(shape: Any) -> bytes:
    return _e_tuple(tuple(int(d) for d in shape), False, False)


# ---------------------------------------------------------------------------------------------
# numpy


def _dtype_bytes(dt: Any) -> bytes:
    if dt.fields is None and dt.subdtype is None:
        return _s(dt.str)  # byte order, kind, size and unit: '<f8', '<M8[ns]', '<U5'
    return b"<" + _enc(dt.descr, True, False)  # field names, offsets and types


def _raw(a: Any) -> memoryview:
    """The bytes of a C-contiguous array, without copying."""
    np = sys.modules["numpy"]
    if a.nbytes == 0:
        return memoryview(b"")
    return memoryview(a.reshape(-1).view(np.uint8))


def hash_array(a: Any) -> bytes:
    """XXH3-128 of an array's content in C order; equal for a view and its contiguous copy."""
    if a.dtype.fields is not None:  # per field: padding bytes between fields are garbage
        h = xxhash.xxh3_128()
        for name in a.dtype.names:
            h.update(hash_array(a[name]))
        return h.digest()
    if a.flags.c_contiguous:
        return xxhash.xxh3_128_digest(_raw(a))
    h = xxhash.xxh3_128()
    _feed(h, a)
    return h.digest()


def _feed(h: Any, a: Any) -> None:
    np = sys.modules["numpy"]
    if a.flags.c_contiguous:
        h.update(_raw(a))
        return
    n = a.shape[0]
    if a.nbytes <= ARRAY_CHUNK or n == 0:
        h.update(_raw(np.ascontiguousarray(a)))
        return
    row = a.nbytes // n
    if row <= ARRAY_CHUNK:
        k = ARRAY_CHUNK // row
        for i in range(0, n, k):
            h.update(_raw(np.ascontiguousarray(a[i : i + k])))
    else:
        for i in range(n):
            _feed(h, a[i])


def _e_ndarray(a: Any, typed: bool, hf: bool) -> bytes:
    np = sys.modules["numpy"]
    dt = a.dtype
    head = b"A" + _dtype_bytes(dt) + _shape(a.shape)
    if dt.hasobject or dt.kind == "T":  # pointers in memory: encode the elements they point to
        if dt.fields is not None:
            return head + b"o" + _enc(a.tolist(), typed, hf)
        flat = a.ravel() if dt.kind == "O" else a.ravel().astype(object)
        items = flat.tolist()
        if items and set(map(type, items)) == {str}:
            # All exact str (a text column): code-point lengths and the joined text determine
            # the strings, and cost C loops only (~15x faster than element by element).
            lengths = np.fromiter(map(len, items), dtype=np.int64, count=len(items))
            text = "".join(items).encode("utf-8", "surrogatepass")
            return head + b"O" + hash_array(lengths) + xxhash.xxh3_128_digest(text)

        def seg(i: int, x: Any) -> str:
            return str(list(map(int, np.unravel_index(i, a.shape)))) if a.ndim else "[()]"

        return head + b"o" + b"".join(_items(items, typed, hf, seg))
    return head + b"h" + hash_array(a)


def _e_masked(a: Any, typed: bool, hf: bool) -> bytes:
    np = sys.modules["numpy"]
    mask = np.ma.getmaskarray(a)
    data = np.array(np.ma.getdata(a))
    if mask.any():  # masked slots hold anything; zero them so they do not enter the key
        data[mask] = np.zeros((), dtype=data.dtype)
    return _tag("numpy.ma") + _e_ndarray(data, typed, hf) + _e_ndarray(mask, typed, hf)


def _e_npscalar(x: Any, typed: bool, hf: bool) -> bytes:
    np = sys.modules["numpy"]
    dt = x.dtype
    kind = dt.kind
    if not typed:  # numpy numbers equal Python numbers, as for ==
        if kind in "biu":
            return _e_int(int(x), False, hf)
        if kind == "f" and (dt.itemsize <= 8 or float(x) == x or x != x):
            return _e_float(float(x), False, hf)
        if kind == "c" and (dt.itemsize <= 16 or complex(x) == x):
            return _e_complex(complex(x), False, hf)
    if kind in "fc" and dt.itemsize > 8 * (2 if kind == "c" else 1):
        # long double: padding bytes are undefined; its shortest unique decimal is canonical
        text = str(np.format_float_scientific(x.real, unique=True))
        if kind == "c":
            text += "," + str(np.format_float_scientific(x.imag, unique=True))
        return b"n" + _dtype_bytes(dt) + _s(text)
    raw: bytes = x.tobytes()
    return b"n" + _dtype_bytes(dt) + _len(len(raw)) + raw


NUMERIC_HANDLERS.add(_e_npscalar)


def _e_npdtype(x: Any, typed: bool, hf: bool) -> bytes:
    return _tag("numpy.dtype") + _dtype_bytes(x)


# ---------------------------------------------------------------------------------------------
# torch (raw memory of a CPU contiguous copy; no numpy needed, any dtype incl. bfloat16)


def _e_torch(t: Any, typed: bool, hf: bool) -> bytes:
    torch = sys.modules["torch"]
    x = t.detach()
    if x.device.type == "meta":
        raise _Unencodable(t, "a meta tensor has no content")
    if x.layout != torch.strided:
        x = x.to_dense()
    x = x.cpu()
    if x.is_conj():
        x = x.resolve_conj()
    if x.is_neg():
        x = x.resolve_neg()
    x = x.contiguous()
    size = x.numel() * x.element_size()
    if size:
        content = xxhash.xxh3_128_digest((ctypes.c_char * size).from_address(x.data_ptr()))
    else:
        content = xxhash.xxh3_128_digest(b"")
    return _tag("torch.Tensor") + _s(str(x.dtype)) + _shape(x.shape) + content


def _e_torch_meta(x: Any, typed: bool, hf: bool) -> bytes:
    return b"X" + class_id(type(x)) + _s(str(x))


register_library(handler_for)
