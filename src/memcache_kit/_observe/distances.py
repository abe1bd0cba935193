"""Stack distances of a trace in one pass: the exact LRU hit curve the advisor reads.

A request's stack distance is the weight (bytes, or 1 per entry) of the distinct keys used
since its key's previous use; an LRU cache of budget ``B`` hits exactly the requests whose
distance plus their own weight fits in ``B``. Computed with numpy (an optional extra, imported
on use).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._errors import need

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["group", "numpy_or_error", "stack_distances"]


def numpy_or_error() -> Any:
    return need("numpy", "numpy", "the budget advisor")


# -- stack distances ---------------------------------------------------------------------------


def group(keys: npt.NDArray[Any]) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    """``(prev, order)``: the index of each request's previous request of the same key (-1 for
    the first), and the stable order that groups requests by key (time order within a key)."""
    np = numpy_or_error()

    n = keys.shape[0]
    itype = np.int32 if n < 2**31 - 1 else np.int64
    order = np.argsort(keys, kind="stable").astype(itype)
    ks = keys[order]
    same = ks[1:] == ks[:-1]
    prev = np.full(n, -1, itype)
    prev[order[1:][same]] = order[:-1][same]
    return prev, order


def stack_distances(
    prev: npt.NDArray[Any], weights: npt.NDArray[np.int64] | None = None
) -> npt.NDArray[np.int64]:
    """For each request, the weight of the distinct *other* keys accessed since the previous
    request of its key (each key weighted by its latest access in between); -1 for a first
    request. ``weights=None`` weighs every access 1 (distances in entries).

    For request ``t`` of a key last requested at ``p`` (``next[i]``: the next request of the
    key requested at ``i``)::

        D[t] = sum of w[i] for p < i < t with next[i] > t     (each key's latest access)
             = F(t) - w[p] - X(p)                              F: the weight live before t
        X(p) = sum of w[i] for i < p with next[i] > next[p]    (keys live across the interval)

    ``F`` is a cumulative sum. ``X`` is, for each element of the sequence ``next``, the weight of
    the earlier elements with a larger value: per-element inversion counts, computed over the
    bits of the position by :func:`_inversions` in about 20 vectorized passes (O(n log n), no
    Python loop per request). A pure-Python Fenwick tree costs ~20 runs of an ``OrderedDict``
    LRU simulation on the same trace; this costs 1.2 to 2.3 (benchmarks/bench_advisor.py).
    """
    np = numpy_or_error()

    n = prev.shape[0]
    itype = prev.dtype
    t_idx = np.flatnonzero(prev >= 0).astype(itype)
    pos = prev[t_idx]  # the sequence next[.] restricted to keys seen again, in order of value
    m = pos.shape[0]
    out: npt.NDArray[Any] = np.full(n, -1, np.int64)
    if m == 0:
        return out
    if weights is None:
        # Counts fit the position type; narrower arrays halve the memory traffic.
        first = (prev < 0).astype(itype)
        live_before = np.cumsum(first, dtype=itype) - first
        nonext = np.ones(n, itype)
        nonext[pos] = 0
        cross_nonext = np.cumsum(nonext, dtype=itype) - nonext
        base = live_before[t_idx] - 1 - cross_nonext[pos]
        del first, live_before, nonext, cross_nonext
        seq_w = None
    else:
        w = weights.astype(np.int64, copy=False)
        delta = w.copy()
        delta[t_idx] -= w[pos]
        live_before = np.cumsum(delta) - delta
        wn = w.copy()
        wn[pos] = 0
        cross_nonext = np.cumsum(wn) - wn
        base = live_before[t_idx] - w[pos] - cross_nonext[pos]
        seq_w = w[pos]
    acc = _inversions(pos, seq_w, n)
    # After the last level the sequence is sorted by position: acc[k] belongs to the k-th
    # smallest position, whose next access is the request it answers for.
    nxt = np.empty(n, itype)
    nxt[pos] = t_idx
    out[t_idx] = base
    out[nxt[np.sort(pos)]] -= acc
    return out


def _inversions(seq: Any, seq_w: Any, n: int) -> Any:
    """For the sequence of positions ``seq`` (ordered by the value ``next``), the weight of the
    elements with a smaller position and a larger value, returned in position order.

    Top-down over the bits of the position: at each level the sequence is cut into blocks of
    equal high bits (contiguous, still ordered by value); within a block, an element with the
    current bit 1 gains the weight of the bit-0 elements after it; then each block is stably
    partitioned by the bit, which yields the next level's blocks.
    """
    np = numpy_or_error()

    m = seq.shape[0]
    itype = seq.dtype
    # Unit weights sum to at most m: the position type is wide enough and halves the traffic.
    acc = np.zeros(m, itype if seq_w is None else np.int64)
    idx = np.arange(m, dtype=itype)
    c1 = np.zeros(m + 1, itype)
    cz = None if seq_w is None else np.zeros(m + 1, np.int64)
    for b in range(int(n).bit_length() - 1, -1, -1):
        bid = seq >> (b + 1)
        bit = (seq >> b) & 1
        ones = bit.astype(np.bool_)
        cnt = np.bincount(bid, minlength=(n >> (b + 1)) + 1).astype(itype)
        ends = np.cumsum(cnt, dtype=itype)
        starts = ends - cnt
        np.cumsum(bit, out=c1[1:])
        ones_start = c1[starts]
        # Per element: ob = bit-1 elements before it in its block; for a bit-1 element,
        # after = ob + (block start + zeros in block) - idx = the bit-0 elements after it, and
        # its place in the partitioned block is idx + after; a bit-0 element moves to idx - ob.
        ob = c1[:-1] - ones_start[bid]
        ones_at = (starts + cnt - (c1[ends] - ones_start))[bid] + ob  # where bit-1 elements go
        if cz is None:
            acc += np.where(ones, ones_at - idx, 0)
        else:
            np.cumsum(np.where(ones, 0, seq_w), out=cz[1:])
            acc += np.where(ones, cz[ends][bid] - cz[1:], 0)
        dest = np.where(ones, ones_at, idx - ob)
        nseq = np.empty_like(seq)
        nseq[dest] = seq
        seq = nseq
        nacc = np.empty_like(acc)
        nacc[dest] = acc
        acc = nacc
        if seq_w is not None:
            nw = np.empty_like(seq_w)
            nw[dest] = seq_w
            seq_w = nw
    return acc
