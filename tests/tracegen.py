"""Synthetic access traces, written in each real format the trace readers know.

The tests run from a bare clone (nothing beside it), so they do not read the reference traces
in ``../shared/data/``: those are for the benchmarks, which check the published figures on
them (``benchmarks/bench_advisor.py``). What a test needs of a real trace is its file format
and the statistical shape of real workloads (a skewed popularity, a loop, heavy-tailed sizes),
which these generators make, seeded, so every expectation is exact.

Formats: ``keys`` (one integer per line, ``*`` markers, as the LIRS traces), ``be-int64`` and
``be-int32`` (headerless big-endian keys: scarab, corda, cache2k), ``time-id-size`` (adapt_size)
and ``oracle-general`` (libCacheSim's ``<IQIq`` records). Compression by name: ``.gz``, ``.xz``,
``.bz2``.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import struct
from pathlib import Path

import numpy as np
import numpy.typing as npt

__all__ = [
    "loop_keys",
    "sizes_for",
    "write_binary_keys",
    "write_keys",
    "write_oracle_general",
    "write_time_id_size",
    "zipf_keys",
]


def zipf_keys(n: int, distinct: int, *, a: float = 0.9, seed: int = 1) -> npt.NDArray[np.int64]:
    """``n`` requests over ``distinct`` keys, the key of rank ``r`` drawn with probability
    proportional to ``r ** -a`` (the finite-population Zipf of web and storage traces; ``a``
    0.6 to 1), keys scattered over 64 bits as real ids are."""
    rng = np.random.default_rng(seed)
    weights = np.arange(1, distinct + 1, dtype=np.float64) ** -a
    ranks = rng.choice(distinct, size=n, p=weights / weights.sum())
    ids = rng.permutation(distinct).astype(np.int64) * 2_654_435_761 + 12_345
    return ids[ranks]


def loop_keys(loop: int, repeats: int) -> npt.NDArray[np.int64]:
    """A loop over ``loop`` keys, ``repeats`` times (lirs/loop's shape: LRU gets nothing below
    the loop's length)."""
    return np.tile(np.arange(1000, 1000 + loop, dtype=np.int64), repeats)


def sizes_for(keys: npt.NDArray[np.int64], *, seed: int = 2) -> npt.NDArray[np.int64]:
    """A size per key, heavy-tailed (log-normal, 64 B to 4 MB), the same at every request."""
    uniq, inverse = np.unique(keys, return_inverse=True)
    rng = np.random.default_rng(seed)
    per_key = np.clip(rng.lognormal(8.5, 2.0, uniq.size), 64, 4 << 20).astype(np.int64)
    return per_key[inverse]


def _write(path: Path, data: bytes) -> Path:
    opener = {".gz": gzip.open, ".xz": lzma.open, ".bz2": bz2.open}.get(path.suffix)
    if opener is None:
        path.write_bytes(data)
    else:
        with opener(path, "wb") as f:
            f.write(data)
    return path


def write_keys(path: Path, keys: npt.NDArray[np.int64], *, marker_every: int = 0) -> Path:
    """One key per line; a ``*`` marker line every ``marker_every`` keys (0: none)."""
    lines = []
    for i, k in enumerate(keys.tolist()):
        if marker_every and i and i % marker_every == 0:
            lines.append("*")
        lines.append(str(k))
    return _write(path, ("\n".join(lines) + "\n").encode())


def write_binary_keys(path: Path, keys: npt.NDArray[np.int64], width: int) -> Path:
    """Headerless big-endian signed keys of ``width`` bytes (8 or 4)."""
    dtype = ">i8" if width == 8 else ">i4"
    return _write(path, np.asarray(keys, dtype=dtype).tobytes())


def write_time_id_size(
    path: Path, keys: npt.NDArray[np.int64], sizes: npt.NDArray[np.int64]
) -> Path:
    """``time id size`` per line (adapt_size's request.trace)."""
    rows = (
        f"{t} {k} {s}" for t, (k, s) in enumerate(zip(keys.tolist(), sizes.tolist(), strict=True))
    )
    return _write(path, ("\n".join(rows) + "\n").encode())


def write_oracle_general(
    path: Path, keys: npt.NDArray[np.int64], sizes: npt.NDArray[np.int64]
) -> Path:
    """libCacheSim's oracleGeneral records: ``<IQIq`` (time, key, size, next access)."""
    recs = (
        struct.pack("<IQIq", t, k & (2**64 - 1), s, -1)
        for t, (k, s) in enumerate(zip(keys.tolist(), sizes.tolist(), strict=True))
    )
    return _write(path, b"".join(recs))
