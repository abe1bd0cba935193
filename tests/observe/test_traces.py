"""Trace readers on every real format (synthetic twins of the shared traces, conftest.py),
detection, and compression."""

from __future__ import annotations

import bz2
import gzip
import lzma
import struct
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from memcache_kit._observe import traces as _traces
from memcache_kit._observe.record import Recorder
from memcache_kit._observe.traces import Trace, detect_format, formats, read_bytes, read_trace

if TYPE_CHECKING:
    from conftest import SyntheticTraces


@pytest.mark.parametrize(
    ("name", "fmt", "sized"),
    [
        ("lirs/multi2.trace.gz", None, False),
        ("lirs/loop.trace.gz", None, False),
        ("adapt_size/request.trace.xz", None, True),
        ("libcachesim/cloudPhysicsIO.oracleGeneral.bin", None, True),
        ("scarab/scarab-recs.trace.xz", "be-int64", False),
        ("corda/trace_vaultservice.gz", "be-int64", False),
        ("cache2k/orm-busy.trace.xz", "be-int32", False),
    ],
)
def test_traces_in_every_real_format_read_back_exactly(
    traces: SyntheticTraces, name: str, fmt: str | None, sized: bool
) -> None:
    tr = read_trace(traces / name, fmt)
    assert tr.keys.dtype.kind in "iu" and tr.keys.ndim == 1
    assert np.array_equal(tr.keys.astype(np.int64), traces.keys[name])
    assert (tr.sizes is not None) == sized
    if tr.sizes is not None:
        assert tr.sizes.dtype == np.int64 and tr.sizes.shape == tr.keys.shape
        assert np.array_equal(tr.sizes, traces.sizes[name])
        assert tr.sizes.min() >= 1


def test_oracle_general_fields_are_little_endian_records(tmp_path: Path) -> None:
    recs = [(1, 2**40 + 5, 512, 3), (2, 7, 4096, -1), (3, 2**40 + 5, 512, -1)]
    p = tmp_path / "small.oracleGeneral.bin"
    p.write_bytes(b"".join(struct.pack("<IQIq", *r) for r in recs))
    tr = read_trace(p)
    assert tr.keys.tolist() == [2**40 + 5, 7, 2**40 + 5]
    assert tr.sizes is not None and tr.sizes.tolist() == [512, 4096, 512]


def test_lirs_markers_are_skipped(tmp_path: Path) -> None:
    p = tmp_path / "t.trace"
    p.write_text("5\n*\n6\n 5 \n\n*\n")
    assert read_trace(p).keys.tolist() == [5, 6, 5]


def test_text_keys_that_are_not_integers_are_hashed(tmp_path: Path) -> None:
    p = tmp_path / "t.keys"
    p.write_text("alpha\nbeta\nalpha\n")
    keys = read_trace(p, "keys").keys.tolist()
    assert keys[0] == keys[2] != keys[1]


def test_time_id_size_rejects_ragged_lines(tmp_path: Path) -> None:
    p = tmp_path / "t.txt"
    p.write_text("1 2 3\n4 5\n")
    with pytest.raises(ValueError, match="expected 'time id size'"):
        read_trace(p, "time-id-size")


@pytest.mark.parametrize("opener", [gzip.open, lzma.open, bz2.open])
def test_compressed_files_are_opened_by_their_magic_bytes(tmp_path: Path, opener: object) -> None:
    p = tmp_path / "keys.dat"  # no telling suffix: the magic bytes decide
    with opener(p, "wb") as f:  # type: ignore[operator]
        f.write(b"1\n2\n1\n")
    assert read_bytes(p) == b"1\n2\n1\n"
    assert read_trace(p).keys.tolist() == [1, 2, 1]


def test_big_endian_binary_keys(tmp_path: Path) -> None:
    p64 = tmp_path / "k64"
    p64.write_bytes(np.array([-1, 2**40, 3], dtype=">i8").tobytes() + b"\x00\x01")
    assert read_trace(p64, "be-int64").keys.tolist() == [-1, 2**40, 3]  # a torn tail is ignored
    p32 = tmp_path / "k32"
    p32.write_bytes(np.array([-7, 9], dtype=">i4").tobytes())
    assert read_trace(p32, "be-int32").keys.tolist() == [-7, 9]


def test_detection_and_its_limits(tmp_path: Path, traces: SyntheticTraces) -> None:
    assert detect_format(b"1\n2\n*\n3\n", "x") == "keys"
    assert detect_format(b"1 10 100\n2 11 200\n3 10 100\n", "x") == "time-id-size"
    assert detect_format(b"\x00" * 24, "cloud.oracleGeneral.bin") == "oracle-general"
    with pytest.raises(ValueError, match="be-int64' or 'be-int32'"):
        read_trace(traces / "scarab" / "scarab-recs.trace.xz")
    with pytest.raises(ValueError, match="unknown trace format 'csv'"):
        read_trace(traces / "lirs" / "multi2.trace.gz", "csv")
    rec = tmp_path / "r.mkt"
    with Recorder(rec) as r:
        r.record(1, 10)
    assert detect_format(read_bytes(rec), str(rec)) == "record"


def test_recordings_read_back_with_kinds_and_processes(
    tmp_path: Path, traces: SyntheticTraces
) -> None:
    from memcache_kit._observe import record as _record

    p = tmp_path / "r.mkt"
    with Recorder(p) as r:
        r.record(-1, 100, 0.25, _record.MISS)
        r.record(-1, 100, 0.0, _record.HIT_MEMORY)
        r.record(5, 7, 0.0, _record.SET)
    tr = read_trace(p)
    assert tr.keys.dtype == np.uint64 and tr.keys.tolist() == [2**64 - 1, 2**64 - 1, 5]
    assert tr.sizes is not None and tr.sizes.tolist() == [100, 100, 7]
    assert tr.seconds is not None and tr.seconds.tolist() == [0.25, 0.0, 0.0]
    assert tr.requests is not None and tr.requests.tolist() == [True, True, False]
    import os

    mine = read_trace(p, process=os.getpid())
    assert len(mine) == 3
    assert len(read_trace(p, process=os.getpid() + 1)) == 0
    with pytest.raises(ValueError, match="process= needs a memcache_kit recording"):
        read_trace(traces / "lirs" / "multi2.trace.gz", process=1)


def test_readers_are_pluggable(tmp_path: Path) -> None:
    def csv_keys(data: bytes) -> Trace:
        return Trace(np.array([int(x) for x in data.split(b",")], dtype=np.int64))

    _traces.register_reader("csv-keys", csv_keys)
    try:
        assert "csv-keys" in formats()
        p = tmp_path / "k.csv"
        p.write_text("3,4,3")
        assert read_trace(p, "csv-keys").keys.tolist() == [3, 4, 3]
    finally:
        _traces._READERS.pop("csv-keys")
    with pytest.raises(ValueError, match="non-empty str"):
        _traces.register_reader("", csv_keys)
