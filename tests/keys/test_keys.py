"""The canonical key encoder: stability, injectivity, semantics of equal values, memory keys."""

from __future__ import annotations

import collections
import dataclasses
import datetime
import decimal
import enum
import math
import os
import pathlib
import subprocess
import sys
import textwrap
import uuid
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memcache_kit._keys import (
    CacheKey,
    UnencodableKeyError,
    encode,
    make_key,
    memory_key,
    namespaced_key,
    namespaced_mem,
)
from memcache_kit._keys import arrays as _keys_ext


class Color(enum.Enum):
    RED = 1
    BLUE = 2


class Level(enum.IntEnum):
    LOW = 1


@dataclasses.dataclass(frozen=True)
class Point:
    x: int
    y: Any


Pair = collections.namedtuple("Pair", "a b")


class Foo:
    pass


class Keyed:
    def __init__(self, ident: str) -> None:
        self.ident = ident

    def __cache_key__(self) -> Any:
        return ("keyed", self.ident)


# ---------------------------------------------------------------------------------------------
# Distinct values never share bytes; equal values (as keys) always do


DISTINCT: list[Any] = [
    None,
    0,
    1,
    -1,
    2**100,
    -(2**100),
    0.5,
    -0.5,
    float("inf"),
    float("-inf"),
    float("nan"),
    1 + 2j,
    "",
    "a",
    "1",
    b"",
    b"a",
    "x" * 2000,
    "x" * 2001,
    b"x" * 2000,
    (),
    [],
    {},
    set(),
    (1,),
    [1],
    ((1,),),
    (1, 2),
    (2, 1),
    [1, 2],
    ("a", "b"),
    ("ab",),
    {"a": 1},
    {"a": 2},
    {1: "a"},
    {1, 2},
    {1, 3},
    Color.RED,
    Color.BLUE,
    Level.LOW,
    Point(1, 2),
    Point(1, 3),
    Pair(1, 2),
    Pair(2, 1),
    Keyed("a"),
    Keyed("b"),
    pathlib.PurePosixPath("a/b"),
    pathlib.PureWindowsPath("a/b"),
    datetime.date(2024, 1, 2),
    datetime.datetime(2024, 1, 2),
    datetime.timedelta(seconds=1),
    decimal.Decimal("1.5"),
    uuid.UUID(int=5),
    range(3),
    slice(1, 2),
    Ellipsis,
    int,
    str,
    Foo,
]


def test_distinct_values_have_distinct_encodings() -> None:
    encodings = [encode(v) for v in DISTINCT]
    for i, a in enumerate(encodings):
        for j in range(i + 1, len(encodings)):
            assert a != encodings[j], (DISTINCT[i], DISTINCT[j])


@pytest.mark.parametrize(
    "group",
    [
        [1, 1.0, True, np.int64(1), np.float64(1.0), np.uint8(1), np.bool_(True), complex(1, 0)],
        [0, 0.0, -0.0, False, np.float32(-0.0)],
        [0.5, np.float64(0.5), np.float32(0.5), np.float16(0.5)],
        [float("nan"), -float("nan"), np.float64("nan"), np.float32("nan")],
        ["abc", np.str_("abc")],
        [b"abc", bytearray(b"abc"), memoryview(b"abc"), np.bytes_(b"abc")],
        [{1}, frozenset({1}), {1.0}],
        [{"a": 1, "b": 2}, {"b": 2, "a": 1}, collections.OrderedDict(b=2, a=1)],
        [(1, "a"), (True, "a"), (1.0, np.str_("a"))],
        [[1, [2.0]], [True, [2]]],
    ],
)
def test_equal_values_share_one_encoding(group: list[Any]) -> None:
    assert len({encode(v) for v in group}) == 1
    assert len({make_key(v).disk for v in group}) == 1
    mems = [memory_key(v) for v in group]
    assert all(m == mems[0] and hash(m) == hash(mems[0]) for m in mems)


def test_order_does_not_matter_for_dicts_and_sets() -> None:
    words = [f"w{i}" for i in range(50)]
    assert encode(set(words)) == encode(set(reversed(words)))
    assert encode(dict.fromkeys(words, 1)) == encode(dict.fromkeys(reversed(words), 1))
    assert encode({(1, 2): "a", "k": [1]}) == encode({"k": [1], (1, 2): "a"})


def test_list_and_tuple_differ_like_python() -> None:
    assert encode([1]) != encode((1,))
    assert memory_key([1]) != memory_key((1,))


def test_typed_keeps_number_types_apart() -> None:
    values = [1, 1.0, True, np.int64(1), np.int32(1), np.float64(1.0)]
    assert len({encode(v, typed=True) for v in values}) == len(values)
    assert encode(0.0, typed=True) != encode(-0.0, typed=True)
    assert encode(1, typed=True) == encode(1, typed=True)
    assert encode(float("nan"), typed=True) == encode(-float("nan"), typed=True)


def test_large_str_and_bytes_are_hashed() -> None:
    big = "é" * 100_000
    assert len(encode(big)) < 40
    assert len(encode(big.encode())) < 40
    assert encode(big) != encode(big[:-1] + "e")
    assert len(encode("x" * 1024)) > 1024  # at the threshold: still inline


def test_lone_surrogates_are_encodable_and_distinct() -> None:
    assert encode("\ud800") != encode("\ud801")
    assert encode("\ud83d\ude00") != encode("\U0001f600")


def test_int_subclass_enum_and_namedtuple_are_keyed_by_class() -> None:
    assert encode(Level.LOW) != encode(1)
    assert encode(Pair(1, 2)) != encode((1, 2))
    assert memory_key(Pair(1, 2)) != memory_key((1, 2))
    assert b"Pair" in encode(Pair(1, 2))


def test_cache_key_method_is_used() -> None:
    assert encode(Keyed("a")) == encode(Keyed("a"))
    assert encode(Keyed("a")) != encode(("keyed", "a"))
    assert Keyed("a") != Keyed("a")  # identity-equal objects, yet one key: __cache_key__ decides


# ---------------------------------------------------------------------------------------------
# Stability across processes

STABLE_SOURCE = textwrap.dedent(
    """
    import collections, dataclasses, datetime, enum, pathlib
    import numpy as np

    class Color(enum.Enum):
        RED = 1

    @dataclasses.dataclass
    class Point:
        x: int
        y: object

    Pair = collections.namedtuple("Pair", "a b")

    VALUES = [
        None, True, 0, 1, -7, 2**200, 0.1, -2.5, float("nan"), "héllo", b"\\x00\\xff",
        (1, "a"), [1, [2, (3,)]], {"b": 1, "a": [2]}, {"x", "y", "z", "w"},
        frozenset({"p", "q"}), Point(1, {"k"}), Pair("a", 2.5), datetime.date(2020, 2, 29),
        pathlib.PurePosixPath("/a/b"), "s" * 5000,
        np.arange(24, dtype=np.float64).reshape(4, 6)[:, ::2], np.int64(5),
        np.array(["a", None, 1.5], dtype=object),
    ]
    """
)


def test_encoding_is_stable_across_processes() -> None:
    script = STABLE_SOURCE + textwrap.dedent(
        """
        from memcache_kit._keys import make_key, encode
        import xxhash
        for v in VALUES:
            print(make_key(v).disk, xxhash.xxh3_128_hexdigest(encode(v, typed=True)))
        """
    )
    outputs = []
    for seed in ("1", "2"):  # different str hashes: set order differs, keys must not
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        )
        outputs.append(out.stdout)
    assert outputs[0] == outputs[1]
    assert len(outputs[0].split()) == 2 * 24


def test_importing_keys_does_not_import_optional_libraries() -> None:
    code = (
        "import sys, memcache_kit._keys as k\n"
        "k.encode([1, 'a', {2: 3.5}]); k.make_key(('a', 1)).disk\n"
        "bad = [m for m in ('numpy', 'pandas', 'polars', 'pyarrow', 'torch') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------------------------
# numpy


def test_numpy_one_differing_element_changes_the_key() -> None:
    a = np.random.default_rng(0).random((300, 200))
    b = a.copy()
    b[150, 100] = np.nextafter(b[150, 100], 2)
    assert encode(a) != encode(b)
    assert encode(a) == encode(a.copy())


def test_numpy_view_and_copy_share_a_key() -> None:
    a = np.arange(60, dtype=np.int32).reshape(6, 10)
    for view in (a[:, ::3], a[::2], a.T, a[1:4, 2:5], np.asfortranarray(a)):
        assert not view.flags.c_contiguous or view is not a
        assert encode(view) == encode(np.ascontiguousarray(view))


def test_numpy_large_non_contiguous_view_is_hashed_in_chunks() -> None:
    n = _keys_ext.ARRAY_CHUNK // 8  # rows of 16 float64: the view spans several chunks
    a = np.random.default_rng(1).random((n, 16))
    view = a[:, ::2]
    assert encode(view) == encode(np.ascontiguousarray(view))
    wide = np.random.default_rng(2).random((3, _keys_ext.ARRAY_CHUNK // 4))[:, ::2]
    assert encode(wide) == encode(np.ascontiguousarray(wide))  # one row exceeds a chunk


def test_numpy_dtype_and_shape_are_part_of_the_key() -> None:
    a = np.arange(6, dtype=np.int64)
    assert encode(a) != encode(a.astype(np.float64))
    assert encode(a) != encode(a.reshape(2, 3))
    assert encode(a.view(np.uint8)) != encode(a)
    assert encode(np.array(1.5)) != encode(1.5)
    assert encode(np.zeros((0, 3))) != encode(np.zeros((3, 0)))


def test_numpy_object_structured_masked_datetime_arrays() -> None:
    obj = np.array(["a", 1, None, (2, 3)], dtype=object)
    assert encode(obj) == encode(obj.copy())
    assert encode(obj) != encode(np.array(["a", 1, None, (2, 4)], dtype=object))
    with pytest.raises(TypeError, match=r"\[2\]"):
        encode(np.array([1, 2, Foo()], dtype=object))
    words = np.array(["ab", "c", "é\ud800"], dtype=object)
    assert encode(words) == encode(words.copy())
    strings = np.array(["x", "yz"], dtype=np.dtypes.StringDType())  # pointers: by content
    assert encode(strings) == encode(strings.copy()) != encode(strings[::-1])
    assert encode(words) != encode(np.array(["a", "bc", "é\ud800"], dtype=object))
    assert encode(words) != encode(np.array(["ab", "c", 1], dtype=object))
    assert encode(np.array(["a", "b"], dtype=object)) != encode(np.array(["a", "b"]))
    rec = np.zeros(3, dtype=[("a", "i1"), ("b", "f8")])  # padded when aligned
    rec2 = rec.copy()
    rec2["b"][1] = 1
    assert encode(rec) == encode(rec.copy()) != encode(rec2)
    ma = np.ma.masked_array([1, 2, 3], mask=[0, 1, 0])
    ma2 = np.ma.masked_array([1, 99, 3], mask=[0, 1, 0])
    assert encode(ma) == encode(ma2)  # a masked slot's content does not matter
    assert encode(ma) != encode(np.ma.masked_array([1, 2, 3], mask=[0, 0, 0]))
    d = np.array(["2024-01-01", "2024-01-02"], dtype="datetime64[ns]")
    assert encode(d) != encode(d.astype("datetime64[s]"))
    assert encode(np.dtype("f8")) != encode(np.dtype("f4"))


def test_numpy_scalars_as_memory_keys() -> None:
    assert memory_key(np.int64(3)) == 3 and type(memory_key(np.int64(3))) is int
    assert memory_key(np.float64(2.0)) == 2
    assert memory_key((np.float32(0.5), "a")) == (0.5, "a")


# ---------------------------------------------------------------------------------------------
# pandas, polars, pyarrow, torch


def test_pandas_frames_series_and_indexes() -> None:
    import pandas as pd

    df = pd.DataFrame(
        {
            "a": np.arange(5, dtype=np.int64),
            "b": ["x", "y", None, "z", "w"],
            "c": pd.array([1, None, 3, 4, 5], dtype="Int64"),
            "d": pd.Categorical(["u", "v", "u", "u", "v"]),
            "e": pd.date_range("2024-01-01", periods=5, tz="Europe/Paris"),
        }
    )
    assert encode(df) == encode(df.copy())
    changed = df.copy()
    changed.loc[3, "a"] = 99
    assert encode(changed) != encode(df)
    assert encode(df[["b", "a"]]) != encode(df[["a", "b"]])
    renamed = df.rename(columns={"a": "A"})
    assert encode(renamed) != encode(df)
    na_moved = df.copy()
    na_moved["c"] = pd.array([1, 2, None, 4, 5], dtype="Int64")
    assert encode(na_moved) != encode(df)
    # A RangeIndex and the equal int64 index are one key.
    assert encode(df) == encode(df.set_axis(pd.Index(np.arange(5, dtype=np.int64)), axis=0))
    s = pd.Series([1.5, 2.5], name="s")
    assert encode(s) == encode(s.copy()) != encode(s.rename("t"))
    assert encode(pd.Index(["a", "b"])) != encode(pd.Index(["b", "a"]))
    mi = pd.MultiIndex.from_tuples([(1, "a"), (2, "b")], names=["n", "l"])
    assert encode(mi) == encode(mi.copy())
    assert encode(pd.Timestamp("2024-01-01")) != encode(pd.Timestamp("2024-01-01", tz="UTC"))
    assert encode([pd.NA, pd.NaT]) == encode([pd.NA, pd.NaT])
    with pytest.raises(TypeError, match=r"\['obj'\]"):
        encode(pd.DataFrame({"obj": [Foo()]}))


def test_polars_and_pyarrow_tables() -> None:
    import polars as pl
    import pyarrow as pa

    df = pl.DataFrame({"a": [1, 2, None], "b": ["x", None, "zz"], "c": [0.5, 1.5, 2.5]})
    assert encode(df) == encode(df.clone())
    assert encode(df) != encode(df.with_columns(pl.col("a").fill_null(0)))
    assert encode(df) != encode(df.with_columns(pl.Series("b", ["x", "", "zz"])))
    assert encode(df["a"]) != encode(df["c"])
    table = pa.table({"a": [1, 2, None], "b": ["x", None, "zz"]})
    chunked = pa.concat_tables([table.slice(0, 1), table.slice(1)])
    assert chunked.column("a").num_chunks == 2
    assert encode(table) == encode(chunked)  # chunking is not content
    large = table.cast(pa.schema([("a", pa.int64()), ("b", pa.large_string())]))
    assert encode(table) == encode(large)
    assert encode(table) != encode(pa.table({"a": [1, 2, 3], "b": ["x", None, "zz"]}))
    arr = pa.array([1.5, None, 3.0])
    assert encode(arr) == encode(pa.chunked_array([arr.slice(0, 2), arr.slice(2)]))
    assert encode(table.to_batches()[0]) == encode(table)


def test_torch_tensors() -> None:
    import torch

    t = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    assert encode(t) == encode(t.clone())
    assert encode(t.t()) == encode(t.t().contiguous())
    assert encode(t) != encode(t.to(torch.float64))
    b = t.to(torch.bfloat16)
    b2 = b.clone()
    b2[0, 0] = 7
    assert encode(b) != encode(b2)
    assert encode(torch.float32) != encode(torch.float16)
    assert encode(t.requires_grad_()) == encode(t.detach())


# ---------------------------------------------------------------------------------------------
# Paths


def test_path_key_changes_when_the_file_is_touched(tmp_path: pathlib.Path) -> None:
    f = tmp_path / "data.csv"
    f.write_text("a,b\n")
    before = encode(f)
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert encode(f) != before
    assert encode(f) == encode(pathlib.Path(str(f)))
    assert encode(f) != encode(str(f))


def test_relative_and_absolute_paths_are_one_key(tmp_path: pathlib.Path) -> None:
    (tmp_path / "x").write_text("1")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert encode(pathlib.Path("x")) == encode(tmp_path / "x")
    finally:
        os.chdir(cwd)


def test_missing_path_and_directory(tmp_path: pathlib.Path) -> None:
    missing = tmp_path / "nope.txt"
    key = encode(missing)
    assert key.endswith(b"m")
    missing.write_text("now here")
    assert encode(missing) != key
    d = tmp_path / "dir"
    d.mkdir()
    key_d = encode(d)
    st = d.stat()
    os.utime(d, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert encode(d) != key_d


def test_hash_files_keys_by_content(tmp_path: pathlib.Path) -> None:
    f = tmp_path / "blob.bin"
    f.write_bytes(os.urandom(3 * 1024 * 1024 + 5))  # several 1 MiB chunks
    key = encode(f, hash_files=True)
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert encode(f, hash_files=True) == key  # touched, same content
    data = bytearray(f.read_bytes())
    data[-1] ^= 1
    f.write_bytes(bytes(data))
    assert encode(f, hash_files=True) != key


# ---------------------------------------------------------------------------------------------
# Errors


def test_unencodable_names_type_and_path() -> None:
    with pytest.raises(TypeError) as info:
        encode([1, 2, {"a": Foo()}])
    msg = str(info.value)
    assert "[2]['a']" in msg and "Foo" in msg
    assert "key=" in msg and "ignore=" in msg and "__cache_key__" in msg
    assert isinstance(info.value, UnencodableKeyError)
    assert info.value.path == "[2]['a']" and info.value.type is Foo


@pytest.mark.parametrize(
    ("value", "where"),
    [
        (Foo(), "cannot encode key:"),
        ({Foo(): 1}, "<key <Foo>>"),
        (Point(1, Foo()), ".y"),
        ((1, (2, [Foo()])), "[1][1][0]"),
        ({"s": {1, 2, (Foo(),)}}, "['s']"),
        (object(), "cannot encode key:"),
    ],
)
def test_unencodable_cases(value: Any, where: str) -> None:
    with pytest.raises(TypeError) as info:
        encode(value)
    assert where in str(info.value)


def _double(x: int) -> int:
    return 2 * x


def _triple(x: int) -> int:
    return 3 * x


def test_functions_and_classes_are_keyed_by_identity() -> None:
    assert encode(_double) == encode(_double)
    assert encode(_double) != encode(_triple)
    assert encode(len) != encode(print)
    assert encode(Foo) != encode(Point)
    assert encode(Foo) == encode(Foo)


def test_self_referencing_value_is_a_type_error() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(TypeError, match="contains itself"):
        encode(loop)


def test_memory_key_raises_the_same_error() -> None:
    with pytest.raises(TypeError, match=r"\[1\]"):
        memory_key((1, Foo()))


# ---------------------------------------------------------------------------------------------
# Memory keys, CacheKey, namespaced keys


def test_memory_key_fast_paths() -> None:
    k = ("abc", 12)
    assert memory_key(k) is k
    assert memory_key("abc") == "abc"
    assert memory_key(7) == 7
    assert memory_key(b"x") == b"x"
    assert memory_key((True, "a")) == (1, "a")
    assert memory_key(2.0) == 2 and type(memory_key(2.0)) is int
    assert memory_key(2.5) == 2.5
    assert memory_key(None) is None
    assert memory_key(bytearray(b"x")) == b"x"
    encoded = memory_key([1])
    assert isinstance(encoded, tuple) and encoded[1] == encode([1])


class _Sub(tuple):  # type: ignore[type-arg]
    pass


def test_memory_key_of_plain_tuple_subclass_matches_tuple() -> None:
    assert encode(_Sub((1, "a"))) == encode((1, "a"))
    assert memory_key(_Sub((1, "a"))) == memory_key((1, "a"))


def test_cache_key_is_lazy_and_memoized() -> None:
    calls = []

    def make() -> str:
        calls.append(1)
        return "0" * 32

    key = CacheKey(1, make, "one")
    assert calls == []
    assert key.disk == "0" * 32 and key.disk == "0" * 32
    assert calls == [1]
    assert key.label == "one"
    assert CacheKey(1, "f" * 32).disk == "f" * 32


def test_make_key_disk_and_label() -> None:
    key = make_key(("features", 3))
    assert len(key.disk) == 32 and int(key.disk, 16) >= 0
    assert key.disk == make_key(("features", 3.0)).disk
    assert key.disk != make_key(("features", 4)).disk
    assert key.label == "('features', 3)"
    big = make_key(np.zeros((1000, 1000)))
    assert big.label == "ndarray(float64, (1000, 1000))"
    assert len(make_key("x" * 10_000).label) <= 80

    class Loud:
        def __cache_key__(self) -> int:
            return 1

        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    assert make_key(Loud()).label == "<Loud>"
    assert make_key(Point(1, "a")).label == "Point(x=1, y='a')"


def test_namespaced_keys() -> None:
    token = object()
    key = namespaced_key(b"ns1", token, (1, "a"))
    assert key.mem == (token, (1, "a"))
    assert key.mem == namespaced_mem(token, (1, "a"))
    assert key.disk == namespaced_key(b"ns1", object(), (1.0, "a")).disk
    assert key.disk != namespaced_key(b"ns2", token, (1, "a")).disk
    assert key.disk != make_key((1, "a")).disk
    # The namespace is length-prefixed: moving bytes between it and the parts changes the key.
    assert namespaced_key(b"ab", token, "c").disk != namespaced_key(b"a", token, "bc").disk
    typed = namespaced_key(b"ns1", token, (1.0,), typed=True)
    assert typed.mem != namespaced_key(b"ns1", token, (1,), typed=True).mem
    assert typed.disk != namespaced_key(b"ns1", token, (1,), typed=True).disk
    listed = namespaced_key(b"ns1", token, [1, 2], label="f(1, 2)")
    assert listed.label == "f(1, 2)"
    assert listed.mem == namespaced_mem(token, [1, 2])


# ---------------------------------------------------------------------------------------------
# Properties

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70).map(float),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.text(min_size=1020, max_size=1030),
    st.binary(max_size=8),
    st.sampled_from([np.int64(1), np.float64(0.5), np.float32(2.0), np.bool_(False), np.str_("a")]),
)
_hashables = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=4), st.binary(max_size=4)),
    lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=3),
    max_leaves=6,
)
values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=4).map(tuple)
        | st.dictionaries(_hashables, inner, max_size=3)
        | st.frozensets(_hashables, max_size=3)
        | st.sets(_hashables, max_size=3)
    ),
    max_leaves=12,
)


class _NaN:
    """Stands in for every NaN so that == models "one key for all NaNs"."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _NaN)

    def __hash__(self) -> int:
        return 7


def _model(v: Any) -> Any:
    """A value whose Python == is the intended key equality."""
    t = type(v)
    if isinstance(v, np.generic):
        v = v.item()  # numpy's == broadcasts against lists; the key model is Python's ==
        t = type(v)
    if isinstance(v, float) and math.isnan(v):
        return _NaN()
    if t is list:
        return [_model(x) for x in v]
    if t is tuple:
        return ("tuple", *(_model(x) for x in v))
    if t is dict:
        return {k: _model(x) for k, x in v.items()}
    return v


@settings(max_examples=400, deadline=None)
@given(values, values)
def test_encode_is_injective_and_memory_key_agrees(a: Any, b: Any) -> None:
    ea, eb = encode(a), encode(b)
    assert (ea == eb) == (_model(a) == _model(b))
    ma, mb = memory_key(a), memory_key(b)
    assert (ma == mb) == (ea == eb)
    assert hash(ma) == hash(memory_key(a))


def _twin(v: Any) -> Any:
    """An equal value built differently (other number types, other containers' order)."""
    t = type(v)
    if t is int and not isinstance(v, bool) and abs(v) < 2**53:
        return float(v)
    if t is bool:
        return int(v)
    if t is list:
        return [_twin(x) for x in v]
    if t is tuple:
        return tuple(_twin(x) for x in v)
    if t is dict:
        return dict(reversed(list(v.items())))
    if t is set:
        return frozenset(v)
    if t is str:
        return np.str_(v)
    return v


@settings(max_examples=300, deadline=None)
@given(values)
def test_equal_twins_share_encoding_and_memory_key(v: Any) -> None:
    w = _twin(v)
    assert encode(v) == encode(w)
    assert memory_key(v) == memory_key(w)
    assert make_key(v).disk == make_key(w).disk


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.integers(), st.text(max_size=5)), max_size=4).map(tuple))
def test_tuples_of_int_and_str_are_their_own_memory_key(t: tuple[Any, ...]) -> None:
    assert memory_key(t) is t


def test_golden_encodings_do_not_drift() -> None:
    # Disk keys outlive processes and releases: a change here must bump KEY_FORMAT.
    assert encode(None) == b"N"
    assert encode(1) == encode(1.0) == b"i\x01\x01"
    assert encode(-129) == b"i\x02\xff\x7f"
    assert encode(0.5) == b"f?\xe0\x00\x00\x00\x00\x00\x00"
    assert encode("ab") == b"s\x02ab"
    assert encode(b"ab") == b"y\x02ab"
    assert encode((1, "a")) == b"t\x02i\x01\x01s\x01a"
    assert encode([None]) == b"l\x01N"
    assert encode({"b": 1, "a": 2}) == b"d\x02s\x01ai\x01\x02s\x01bi\x01\x01"
    assert encode({2, 1}) == b"e\x02i\x01\x01i\x01\x02"
    assert make_key(("features", 3)).disk == "4ffd50fc4234242522604de5bb194288"


def test_cache_keys_do_not_keep_large_keys_alive() -> None:
    import gc
    import weakref

    arr = np.zeros(1000)
    ref = weakref.ref(arr)
    keys = [make_key(arr), namespaced_key(b"ns", object(), (arr, 1))]
    del arr
    gc.collect()
    assert ref() is None
    assert all(len(k.disk) == 32 and k.label for k in keys)
