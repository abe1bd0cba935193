"""Canonical encodings of numpy, pandas, polars, pyarrow and torch values (a leaf).

Imported by ``_keys_encode`` the first time it meets a type from one of those libraries, so
``import memcache_kit`` imports none of them; the libraries themselves are taken from
``sys.modules`` (a value of their type exists, so they are imported already).

Array content is hashed with XXH3-128 straight from the array's memory when it is C-contiguous,
else in contiguous chunks of rows (``ARRAY_CHUNK`` bytes at most are copied at a time), so a view
and a contiguous copy with equal content hash alike. Frames are keyed by their labels, dtypes and
values, column by column, from the columns' buffers where they have them.
"""

from __future__ import annotations

import ctypes
import importlib
import sys
from typing import Any, Final

import xxhash

from ._keys_encode import (
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
)

__all__ = ["ARRAY_CHUNK", "handler_for", "hash_array"]

#: Largest contiguous copy made while hashing a non-contiguous array (bytes).
ARRAY_CHUNK: Final = 4 << 20


def handler_for(t: type) -> Handler | None:
    """The encoder for a type of an optional library, or ``None`` to fall through."""
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
    pd = sys.modules.get("pandas")
    if pd is not None:
        for base, h in (
            (pd.DataFrame, _e_pd_frame),
            (pd.Series, _e_pd_series),
            (pd.Index, _e_pd_index),
            (pd.Timestamp, _e_pd_timestamp),
            (pd.Timedelta, _e_pd_timedelta),
            (pd.Period, _e_pd_period),
            (pd.Interval, _e_pd_interval),
            (type(pd.NaT), _e_pd_nat),
            (type(pd.NA), _e_pd_na),
            (pd.api.extensions.ExtensionArray, _e_pd_array),
        ):
            if issubclass(t, base):
                return h
    pl = sys.modules.get("polars")
    if pl is not None:
        if issubclass(t, pl.DataFrame):
            return _e_pl_frame
        if issubclass(t, pl.Series):
            return _e_pl_series
    pa = sys.modules.get("pyarrow")
    if pa is not None:
        if issubclass(t, (pa.Table, pa.RecordBatch)):
            return _e_pa_table
        if issubclass(t, (pa.Array, pa.ChunkedArray)):
            return _e_pa_array
        if issubclass(t, pa.Scalar):
            return _e_pa_scalar
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
# pandas


def _pd_values(obj: Any, typed: bool, hf: bool) -> bytes:
    """The values of a Series or Index (not its labels)."""
    np = sys.modules["numpy"]
    pd = sys.modules["pandas"]
    dt = obj.dtype
    if isinstance(dt, np.dtype):
        return _e_ndarray(obj.to_numpy(copy=False), typed, hf)
    arr = obj.array
    name = _s(str(dt))
    if isinstance(dt, pd.CategoricalDtype):
        return (
            b"c"
            + _pd_index(arr.categories, typed, hf)
            + _e_int(int(bool(arr.ordered)), False, hf)
            + _e_ndarray(arr.codes, typed, hf)
        )
    if isinstance(arr, (pd.arrays.IntegerArray, pd.arrays.FloatingArray, pd.arrays.BooleanArray)):
        npdt = dt.numpy_dtype
        values = arr.to_numpy(dtype=npdt, na_value=npdt.type(0))
        return (
            b"k"
            + name
            + _e_ndarray(np.asarray(arr.isna()), typed, hf)
            + (_e_ndarray(values, typed, hf))
        )
    if isinstance(dt, pd.DatetimeTZDtype):  # UTC instants are unique even across DST changes
        utc = np.asarray(arr.tz_convert("UTC").tz_localize(None))
        return b"k" + name + _e_ndarray(utc, typed, hf)
    if hasattr(arr, "__arrow_array__") and sys.modules.get("pyarrow") is not None:
        pa = sys.modules["pyarrow"]
        chunked = pa.chunked_array(arr.__arrow_array__())
        return b"a" + name + _arrow_column(chunked.chunks, chunked.type, hf)
    return b"g" + name + _e_ndarray(np.asarray(arr, dtype=object), typed, hf)


def _pd_index(ix: Any, typed: bool, hf: bool) -> bytes:
    pd = sys.modules["pandas"]
    if isinstance(ix, pd.MultiIndex):
        levels = [_pd_values(ix.get_level_values(i), typed, hf) for i in range(ix.nlevels)]
        return b"M" + _enc(list(ix.names), typed, hf) + _len(len(levels)) + b"".join(levels)
    if isinstance(ix, pd.RangeIndex):
        return b"I" + _enc(ix.name, typed, hf) + _range_values(ix)
    return b"I" + _enc(ix.name, typed, hf) + _pd_values(ix, typed, hf)


def _range_values(r: Any) -> bytes:
    """A RangeIndex keyed as the int64 array it stands for, built a chunk at a time."""
    np = sys.modules["numpy"]
    n = len(r)
    dt = np.dtype(np.int64)
    h = xxhash.xxh3_128()
    step = ARRAY_CHUNK // 8
    for i in range(0, n, step):
        m = min(step, n - i)
        start = r.start + i * r.step
        h.update(_raw(np.arange(start, start + m * r.step, r.step, dtype=dt)))
    return b"A" + _dtype_bytes(dt) + _shape((n,)) + b"h" + h.digest()


def _labelled(what: str, f: Any) -> bytes:
    try:
        return f()  # type: ignore[no-any-return]
    except _Unencodable as e:
        e.path.append(what)
        raise


def _e_pd_frame(df: Any, typed: bool, hf: bool) -> bytes:
    out = [
        _tag("pandas.DataFrame"),
        _labelled(".columns", lambda: _pd_index(df.columns, typed, hf)),
        _labelled(".index", lambda: _pd_index(df.index, typed, hf)),
        _len(df.shape[1]),
    ]
    for col, s in df.items():
        out.append(_labelled(f"[{col!r}]", lambda s=s: _pd_values(s, typed, hf)))
    return b"".join(out)


def _e_pd_series(s: Any, typed: bool, hf: bool) -> bytes:
    return (
        _tag("pandas.Series")
        + _labelled(".name", lambda: _enc(s.name, typed, hf))
        + _labelled(".index", lambda: _pd_index(s.index, typed, hf))
        + _pd_values(s, typed, hf)
    )


def _e_pd_index(ix: Any, typed: bool, hf: bool) -> bytes:
    return _tag("pandas.Index") + _pd_index(ix, typed, hf)


def _e_pd_array(arr: Any, typed: bool, hf: bool) -> bytes:
    pd = sys.modules["pandas"]
    return _tag("pandas.array") + _pd_values(pd.Series(arr, copy=False), typed, hf)


def _e_pd_timestamp(x: Any, typed: bool, hf: bool) -> bytes:
    tz = None if x.tz is None else str(x.tz)
    return _tag("pandas.Timestamp") + _e_int(x.value, False, hf) + _enc(tz, False, hf)


def _e_pd_timedelta(x: Any, typed: bool, hf: bool) -> bytes:
    return _tag("pandas.Timedelta") + _e_int(x.value, False, hf)


def _e_pd_period(x: Any, typed: bool, hf: bool) -> bytes:
    return _tag("pandas.Period") + _s(str(x)) + _s(x.freqstr)


def _e_pd_interval(x: Any, typed: bool, hf: bool) -> bytes:
    return _tag("pandas.Interval") + _enc((x.left, x.right, x.closed), typed, hf)


def _e_pd_nat(x: Any, typed: bool, hf: bool) -> bytes:
    return _tag("pandas.NaT")


def _e_pd_na(x: Any, typed: bool, hf: bool) -> bytes:
    return _tag("pandas.NA")


# ---------------------------------------------------------------------------------------------
# polars (needs numpy for numeric columns, not pyarrow)


def _pl_values(s: Any, hf: bool) -> bytes:
    np = sys.modules.get("numpy")
    pl = sys.modules["polars"]
    if np is None:
        raise _Unencodable(s, "encoding a polars Series needs numpy installed")
    dt = s.dtype
    out = [_s(str(dt)), _e_int(s.len(), False, hf), _e_int(s.null_count(), False, hf)]
    if s.null_count():
        out.append(_e_ndarray(s.is_null().to_numpy(), False, hf))
    if isinstance(dt, (pl.Categorical, pl.Enum)):
        s = s.cast(pl.String)
        dt = pl.String
    if dt == pl.String:
        lengths = s.str.len_bytes().fill_null(0).to_numpy()
        data = s.fill_null("").str.join("").item()
        out.append(_e_ndarray(lengths.astype(np.int64), False, hf) + _e_str(data, False, hf))
    elif dt == pl.Null:
        pass
    elif dt.is_numeric() or dt.is_temporal() or dt == pl.Boolean:
        phys = s.to_physical()
        if dt.is_decimal():
            out.append(_enc(s.to_list(), False, hf))
        else:
            filled = phys.fill_null(False if dt == pl.Boolean else 0)
            out.append(_e_ndarray(filled.to_numpy(), False, hf))
    else:
        out.append(_enc(s.to_list(), False, hf))
    return b"".join(out)


def _e_pl_series(s: Any, typed: bool, hf: bool) -> bytes:
    return _tag("polars.Series") + _s(s.name) + _pl_values(s, hf)


def _e_pl_frame(df: Any, typed: bool, hf: bool) -> bytes:
    out = [_tag("polars.DataFrame"), _len(df.width)]
    for s in df.iter_columns():
        out.append(_s(s.name) + _labelled(f"[{s.name!r}]", lambda s=s: _pl_values(s, hf)))
    return b"".join(out)


# ---------------------------------------------------------------------------------------------
# pyarrow: keyed by type and values, independent of chunking and of string/binary offset width


def _arrow_type_name(t: Any) -> str:
    text = str(t)
    for a, b in (
        ("large_string", "string"),
        ("string_view", "string"),
        ("large_binary", "binary"),
        ("binary_view", "binary"),
        ("large_list", "list"),
    ):
        text = text.replace(a, b)
    return text


def _arrow_column(chunks: list[Any], typ: Any, hf: bool) -> bytes:
    pa = sys.modules["pyarrow"]
    import pyarrow.compute as pc

    np: Any = importlib.import_module("numpy")

    if pa.types.is_dictionary(typ):
        chunks = [c.dictionary_decode() for c in chunks]
        typ = typ.value_type
    n = sum(len(c) for c in chunks)
    nulls = sum(c.null_count for c in chunks)
    valid = xxhash.xxh3_128()
    vals = xxhash.xxh3_128()
    lens = xxhash.xxh3_128()
    stringy = pa.types.is_string(typ) or pa.types.is_large_string(typ)
    stringy = stringy or str(typ) == "string_view"
    binary = pa.types.is_binary(typ) or pa.types.is_large_binary(typ) or str(typ) == "binary_view"
    try:
        width = typ.bit_width
    except ValueError:
        width = 0
    for c in chunks:
        if nulls:
            valid.update(c.is_valid().to_numpy(zero_copy_only=False).view(np.uint8))
        if stringy or binary:
            c = c.cast(pa.large_string() if stringy else pa.large_binary())
            if c.null_count:
                c = pc.fill_null(c, "" if stringy else b"")
            bufs = c.buffers()
            offs = np.frombuffer(bufs[1], dtype=np.int64)[c.offset : c.offset + len(c) + 1]
            lens.update(np.diff(offs))
            if len(c) and bufs[2] is not None and offs[-1] > offs[0]:
                vals.update(memoryview(bufs[2])[offs[0] : offs[-1]])
        elif pa.types.is_boolean(typ):
            vals.update(c.fill_null(False).to_numpy(zero_copy_only=False).view(np.uint8))
        elif width and width % 8 == 0 and not pa.types.is_nested(typ):
            w = width // 8
            buf = c.buffers()[1]
            if buf is None or not len(c):
                continue
            data = np.frombuffer(buf, dtype=np.uint8)[c.offset * w : (c.offset + len(c)) * w]
            if c.null_count:  # null slots hold anything
                data = data.reshape(len(c), w).copy()
                data[~c.is_valid().to_numpy(zero_copy_only=False)] = 0
            vals.update(data)
        elif not pa.types.is_null(typ):
            for x in c.to_pylist():
                vals.update(_enc(x, False, hf))
    return (
        _s(_arrow_type_name(typ))
        + _e_int(n, False, hf)
        + _e_int(nulls, False, hf)
        + (valid.digest() if nulls else b"")
        + vals.digest()
        + lens.digest()
    )


def _e_pa_table(t: Any, typed: bool, hf: bool) -> bytes:
    out = [_tag("pyarrow.Table"), _len(t.num_columns)]
    for name, col in zip(t.column_names, t.columns, strict=True):
        chunks = col.chunks if hasattr(col, "chunks") else [col]
        out.append(_s(name) + _arrow_column(chunks, col.type, hf))
    return b"".join(out)


def _e_pa_array(a: Any, typed: bool, hf: bool) -> bytes:
    chunks = a.chunks if hasattr(a, "chunks") else [a]
    return _tag("pyarrow.Array") + _arrow_column(chunks, a.type, hf)


def _e_pa_scalar(x: Any, typed: bool, hf: bool) -> bytes:
    return _tag("pyarrow.Scalar") + _s(_arrow_type_name(x.type)) + _enc(x.as_py(), typed, hf)


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
