"""The canonical key encoder (a pure leaf module): ``encode(obj)`` -> bytes.

The same value gives the same bytes in every process, run and machine. Every value is a one-byte
tag followed by length-prefixed content, so encodings are prefix-free and two different values
never share bytes (large content is replaced by its 128-bit XXH3 hash). numpy and torch values
are encoded by ``arrays``, pandas, polars and pyarrow values by ``frames``: each registers its
lookup with ``register_library``, and ``fingerprint`` registers how callables are identified
(they import this module, so it cannot import them). ``_keys`` re-exports what the rest of the
package uses.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import os
import pathlib
import stat
import struct
import types
import uuid
from collections.abc import Callable
from typing import Any, Final

import xxhash

from .labels import _optional_loaded, short_repr

__all__ = [
    "FILE_CHUNK",
    "HASH_OVER",
    "KEY_FORMAT",
    "NUMERIC_HANDLERS",
    "Handler",
    "UnencodableKeyError",
    "class_id",
    "digest",
    "encode",
]

#: str/bytes longer than this (in encoded bytes) are replaced by their 128-bit hash.
HASH_OVER: Final = 1024
#: Files are hashed in chunks of this size with ``hash_files=True``.
FILE_CHUNK: Final = 1 << 20

_digest = xxhash.xxh3_128_digest
_hexdigest = xxhash.xxh3_128_hexdigest
_pack_d = struct.Struct(">d").pack
_unpack_d = struct.Struct(">d").unpack
_NAN_BITS: Final = b"\x7f\xf8\x00\x00\x00\x00\x00\x00"

Handler = Callable[[Any, bool, bool], bytes]


class UnencodableKeyError(TypeError):
    """A key part has no canonical encoding. ``path`` locates it within the key (``[2]['a']``)."""

    def __init__(self, message: str, path: str, type_: type) -> None:
        super().__init__(message)
        self.path = path
        self.type = type_


class _Unencodable(Exception):
    """Raised inside the encoder; containers add their segment of the path as it unwinds."""

    def __init__(self, obj: Any, reason: str = "") -> None:
        super().__init__(reason)
        self.type = type(obj)
        self.reason = reason
        self.path: list[str] = []


def _error(e: _Unencodable) -> UnencodableKeyError:
    path = "".join(reversed(e.path))
    where = f"key part {path}" if path else "key"
    reason = f" ({e.reason})" if e.reason else ""
    return UnencodableKeyError(
        f"cannot encode {where}: {e.type!r} has no canonical encoding{reason}. Keys may be "
        "None, bool, int, float, complex, str, bytes, tuples, lists, dicts, sets, dataclasses, "
        "namedtuples, enums, paths, dates, numpy/pandas/polars/pyarrow/torch data, or objects "
        "with a __cache_key__() method returning such a value. For a decorated function, pass "
        "key= (a function of the arguments returning an encodable value) or ignore= (argument "
        "names to leave out of the key).",
        path,
        e.type,
    )


# ---------------------------------------------------------------------------------------------
# Primitive encoders. Each handler is ``(obj, typed, hash_files) -> bytes``.

_LEN: Final = tuple(bytes((i,)) for i in range(255))


def _len(n: int) -> bytes:
    """Self-delimiting length: one byte below 255, else 0xFF and 8 bytes."""
    if n < 255:
        return _LEN[n]
    return b"\xff" + n.to_bytes(8, "big")


def _int_bytes(n: int) -> bytes:
    size = (n.bit_length() + 8) >> 3
    return b"i" + _len(size) + n.to_bytes(size, "big", signed=True)


_SMALL_INTS: Final = {i: _int_bytes(i) for i in range(-256, 1024)}


def _e_int(o: Any, typed: bool, hf: bool) -> bytes:
    n = int.__int__(o)
    b = _SMALL_INTS.get(n)
    return b if b is not None else _int_bytes(n)


def _e_none(o: Any, typed: bool, hf: bool) -> bytes:
    return b"N"


def _e_bool(o: Any, typed: bool, hf: bool) -> bytes:
    if typed:
        return b"b\x01" if o else b"b\x00"
    return _SMALL_INTS[1 if o else 0]


def _float_bits(x: float, *, signed_zero: bool) -> bytes:
    if x != x:
        return _NAN_BITS  # every NaN is one key
    if not signed_zero and x == 0.0:
        x = 0.0
    return _pack_d(x)


def _e_float(o: Any, typed: bool, hf: bool) -> bytes:
    x = float.__float__(o) if type(o) is not float else o
    if typed:
        return b"f" + _float_bits(x, signed_zero=True)
    if x.is_integer():  # 1.0 == 1 and -0.0 == 0, as for functools
        return _e_int(int(x), typed, hf)
    return b"f" + _float_bits(x, signed_zero=False)


def _e_complex(o: Any, typed: bool, hf: bool) -> bytes:
    z = complex(o)
    if not typed and z.imag == 0:
        return _e_float(z.real, typed, hf)
    return b"c" + _float_bits(z.real, signed_zero=typed) + _float_bits(z.imag, signed_zero=typed)


def _e_str(o: Any, typed: bool, hf: bool) -> bytes:
    b: bytes = o.encode("utf-8", "surrogatepass")
    if len(b) > HASH_OVER:
        return b"S" + _digest(b)
    return b"s" + _len(len(b)) + b


def _e_bytes(o: Any, typed: bool, hf: bool) -> bytes:
    b = o if type(o) is bytes else bytes(o)
    if len(b) > HASH_OVER:
        return b"Y" + _digest(b)
    return b"y" + _len(len(b)) + b


def _s(text: str) -> bytes:
    return _e_str(text, False, False)


def _enc(o: Any, typed: bool, hf: bool) -> bytes:
    h = _TABLE.get(type(o))
    if h is None:
        h = _resolve(type(o))
    return h(o, typed, hf)


def _items(seq: Any, typed: bool, hf: bool, seg: Callable[[int, Any], str]) -> list[bytes]:
    try:
        return [_enc(x, typed, hf) for x in seq]
    except _Unencodable:
        pass
    for i, x in enumerate(seq):  # find the culprit again, only on the error path
        try:
            _enc(x, typed, hf)
        except _Unencodable as e:
            e.path.append(seg(i, x))
            raise
    raise AssertionError("unreachable")  # pragma: no cover


def _index_seg(i: int, x: Any) -> str:
    return f"[{i}]"


def _e_tuple(o: Any, typed: bool, hf: bool) -> bytes:
    return b"t" + _len(len(o)) + b"".join(_items(o, typed, hf, _index_seg))


def _e_list(o: Any, typed: bool, hf: bool) -> bytes:
    return b"l" + _len(len(o)) + b"".join(_items(o, typed, hf, _index_seg))


def _e_set(o: Any, typed: bool, hf: bool) -> bytes:
    encoded = _items(o, typed, hf, lambda i, x: "{" + short_repr(x, 30) + "}")
    encoded.sort()  # set order is hash order, which varies between runs
    return b"e" + _len(len(encoded)) + b"".join(encoded)


def _e_dict(o: Any, typed: bool, hf: bool) -> bytes:
    pairs = []
    for k, v in o.items():
        try:
            ek = _enc(k, typed, hf)
        except _Unencodable as e:
            e.path.append(f"<key {short_repr(k, 30)}>")
            raise
        try:
            pairs.append((ek, _enc(v, typed, hf)))
        except _Unencodable as e:
            e.path.append(f"[{short_repr(k, 30)}]")
            raise
    pairs.sort()
    return b"d" + _len(len(pairs)) + b"".join(k + v for k, v in pairs)


_CLASS_IDS: dict[type, bytes] = {}


def class_id(t: type) -> bytes:
    """Module and qualified name of a class: its identity across processes."""
    cid = _CLASS_IDS.get(t)
    if cid is None:
        cid = _enc(getattr(t, "__module__", None), False, False) + _s(t.__qualname__)
        if len(_CLASS_IDS) > 4096:
            _CLASS_IDS.clear()
        _CLASS_IDS[t] = cid
    return cid


def _fields(o: Any, names: Any, typed: bool, hf: bool) -> bytes:
    out = [b"C", class_id(type(o)), _len(len(names))]
    for name in names:
        try:
            out.append(_s(name) + _enc(getattr(o, name), typed, hf))
        except _Unencodable as e:
            e.path.append(f".{name}")
            raise
    return b"".join(out)


def _e_namedtuple(o: Any, typed: bool, hf: bool) -> bytes:
    return _fields(o, type(o)._fields, typed, hf)


def _e_dataclass(o: Any, typed: bool, hf: bool) -> bytes:
    return _fields(o, [f.name for f in dataclasses.fields(o)], typed, hf)


def _e_enum(o: Any, typed: bool, hf: bool) -> bytes:
    name = o.name
    tail = _s(name) if name is not None else _enc(o.value, typed, hf)
    return b"E" + class_id(type(o)) + tail


def _e_cache_key(o: Any, typed: bool, hf: bool) -> bytes:
    try:
        inner = _enc(o.__cache_key__(), typed, hf)
    except _Unencodable as e:
        e.path.append(".__cache_key__()")
        raise
    return b"K" + class_id(type(o)) + inner


def _e_type(o: Any, typed: bool, hf: bool) -> bytes:
    return b"T" + class_id(o)


def _e_module(o: Any, typed: bool, hf: bool) -> bytes:
    return b"U" + _s(o.__name__)


def _e_ellipsis(o: Any, typed: bool, hf: bool) -> bytes:
    return b"."


def _e_range(o: Any, typed: bool, hf: bool) -> bytes:
    return b"r" + _e_int(o.start, typed, hf) + _e_int(o.stop, typed, hf) + _e_int(o.step, typed, hf)


def _e_slice(o: Any, typed: bool, hf: bool) -> bytes:
    return b"_" + _e_tuple((o.start, o.stop, o.step), typed, hf)


def _e_datetime(o: Any, typed: bool, hf: bool) -> bytes:
    # isoformat is canonical for date, time and datetime (with offset and microseconds); fold
    # distinguishes the two wall-clock readings of a repeated hour.
    fold = getattr(o, "fold", 0)
    return b"z" + class_id(type(o)) + _s(o.isoformat()) + _LEN[fold]


def _e_timedelta(o: Any, typed: bool, hf: bool) -> bytes:
    return (
        b"z"
        + class_id(type(o))
        + _e_int(o.days, False, hf)
        + _e_int(o.seconds, False, hf)
        + (_e_int(o.microseconds, False, hf))
    )


def _e_by_str(o: Any, typed: bool, hf: bool) -> bytes:
    return b"z" + class_id(type(o)) + _s(str(o))  # Decimal, UUID: str is their canonical form


def _e_path(o: Any, typed: bool, hf: bool) -> bytes:
    if not isinstance(o, pathlib.Path):  # a PurePath names no file on this machine
        flavour = b"w" if isinstance(o, pathlib.PureWindowsPath) else b"x"
        return b"p" + flavour + _s(str(o))
    path = os.path.abspath(os.fspath(o))
    head = b"P" + _s(path)
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return head + b"m"
    if stat.S_ISDIR(st.st_mode):
        return head + b"d" + _e_int(st.st_mtime_ns, False, hf)
    if hf and stat.S_ISREG(st.st_mode):
        return head + b"h" + _e_int(st.st_size, False, hf) + _hash_file(path)
    return head + b"f" + _e_int(st.st_size, False, hf) + _e_int(st.st_mtime_ns, False, hf)


def _hash_file(path: str) -> bytes:
    h = xxhash.xxh3_128()
    with open(path, "rb") as f:
        while chunk := f.read(FILE_CHUNK):
            h.update(chunk)
    return h.digest()


# Filled by the modules that know optional libraries' types (``arrays``, ``frames``) and by
# ``fingerprint``, which identifies callables: each imports this module, so this one cannot
# import them. The package's face imports all three, so they are filled before any use.
_LIBRARIES: list[Callable[[type], Handler | None]] = []
_CALLABLE_IDENTITY: list[Callable[[Any], bytes]] = []


def register_library(handler_for: Callable[[type], Handler | None]) -> None:
    """Add a lookup of encoders for an optional library's types (``None``: not one of its)."""
    _LIBRARIES.append(handler_for)


def register_callable_identity(identity: Callable[[Any], bytes]) -> None:
    """Set how callables are identified (``fingerprint.loader_identity``)."""
    _CALLABLE_IDENTITY[:] = [identity]


def _e_callable(o: Any, typed: bool, hf: bool) -> bytes:
    try:
        b = _CALLABLE_IDENTITY[0](o)
    except TypeError as exc:
        raise _Unencodable(o, str(exc).split(". ")[0]) from None
    return b"L" + _len(len(b)) + b


_TABLE: dict[type, Handler] = {
    type(None): _e_none,
    bool: _e_bool,
    int: _e_int,
    float: _e_float,
    complex: _e_complex,
    str: _e_str,
    bytes: _e_bytes,
    bytearray: _e_bytes,
    memoryview: _e_bytes,
    tuple: _e_tuple,
    list: _e_list,
    dict: _e_dict,
    set: _e_set,
    frozenset: _e_set,
    type: _e_type,
    types.ModuleType: _e_module,
    type(...): _e_ellipsis,
    range: _e_range,
    slice: _e_slice,
    datetime.datetime: _e_datetime,
    datetime.date: _e_datetime,
    datetime.time: _e_datetime,
    datetime.timedelta: _e_timedelta,
    decimal.Decimal: _e_by_str,
    uuid.UUID: _e_by_str,
    types.FunctionType: _e_callable,
    types.BuiltinFunctionType: _e_callable,
    types.MethodType: _e_callable,
}

# Checked in order for types not in _TABLE; the first match wins (so __cache_key__ beats
# everything, IntEnum is an enum before it is an int, a namedtuple before a tuple).
_SUBCLASS_HANDLERS: Final[tuple[tuple[type, Handler], ...]] = (
    (bool, _e_bool),
    (int, _e_int),
    (float, _e_float),
    (complex, _e_complex),
    (str, _e_str),
    (bytes, _e_bytes),
    (bytearray, _e_bytes),
    (tuple, _e_tuple),
    (list, _e_list),
    (dict, _e_dict),
    (set, _e_set),
    (frozenset, _e_set),
    (type, _e_type),
    (datetime.datetime, _e_datetime),
    (datetime.date, _e_datetime),
    (datetime.time, _e_datetime),
    (datetime.timedelta, _e_timedelta),
)


def _unencodable(o: Any, typed: bool, hf: bool) -> bytes:
    raise _Unencodable(o)


def _resolve(t: type) -> Handler:
    """Find (and remember) the handler for a type not in the exact-type table."""
    h = _find_handler(t)
    if len(_TABLE) > 4096:  # classes made in a loop must not grow the table forever
        _TABLE.clear()
        _TABLE.update(_BASE_TABLE)
    _TABLE[t] = h
    return h


def _find_handler(t: type) -> Handler:
    if callable(getattr(t, "__cache_key__", None)):
        return _e_cache_key
    if issubclass(t, enum.Enum):
        return _e_enum
    if _optional_loaded(t):
        for library in _LIBRARIES:
            h = library(t)
            if h is not None:
                return h
    if issubclass(t, tuple) and hasattr(t, "_fields"):
        return _e_namedtuple
    if dataclasses.is_dataclass(t):
        return _e_dataclass
    if issubclass(t, pathlib.PurePath):
        return _e_path
    for base, h in _SUBCLASS_HANDLERS:
        if issubclass(t, base):
            return h
    if issubclass(t, type):
        return _e_type
    if t.__module__ == "builtins" and t.__name__ in _BUILTIN_CALLABLES:
        return _e_callable
    import functools

    if issubclass(t, functools.partial):
        return _e_callable
    return _unencodable


_BUILTIN_CALLABLES: Final = frozenset({"method_descriptor", "wrapper_descriptor", "method-wrapper"})


_BASE_TABLE: Final = dict(_TABLE)


def encode(obj: Any, *, typed: bool = False, hash_files: bool = False) -> bytes:
    """Canonical bytes of ``obj``; raises ``TypeError`` for what cannot be encoded."""
    try:
        return _enc(obj, typed, hash_files)
    except _Unencodable as e:
        raise _error(e) from None
    except RecursionError:
        raise UnencodableKeyError(
            f"cannot encode key: {type(obj)!r} is nested too deeply or contains itself; "
            "pass key= to the decorator or define __cache_key__()",
            "",
            type(obj),
        ) from None


#: Hashed in front of every disk key: a release that changes the encoding bumps it, so entries
#: written under the old encoding become misses, never wrong hits.
KEY_FORMAT: Final = b"mk1"
_PLAIN_HEAD: Final = KEY_FORMAT + b"\x01"
_SPACE_HEAD: Final = KEY_FORMAT + b"\x00"


def digest(data: bytes) -> str:
    """The 32-hex-digit disk key of a plain ``Cache`` key whose encoding is ``data``."""
    return _hexdigest(_PLAIN_HEAD + data)


#: Handlers whose encodings may be plain numbers (``arrays`` adds its numpy scalar handler).
NUMERIC_HANDLERS: set[Handler] = {_e_int, _e_float, _e_complex, _e_bool}
