"""Canonical encodings of pandas, polars and pyarrow values (registered with ``encode``; no
library is imported here: types are recognised once their module is loaded).

Frames are keyed by their labels, dtypes and values, column by column, from the columns'
buffers where they have them (hashed with XXH3-128, as arrays are in ``arrays``).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import xxhash

from .arrays import ARRAY_CHUNK, _dtype_bytes, _e_ndarray, _raw, _shape, _tag
from .encode import Handler, _e_int, _e_str, _enc, _len, _s, _Unencodable, register_library

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


def handler_for(t: type) -> Handler | None:
    """The encoder for a pandas, polars or pyarrow type, or ``None`` to fall through."""
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
    return None


register_library(handler_for)
