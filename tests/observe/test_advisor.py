"""The budget advisor against brute-force simulation: OrderedDict LRU for entry counts, the real
MemoryTier (byte budget) for sizes; plus the known figures of the shared real traces."""

from __future__ import annotations

import math
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memcache_kit._observe import advisor as _advisor
from memcache_kit._observe.advisor import (
    advise,
    advise_command,
    plot_advice,
    render_table,
    stack_distances,
)
from memcache_kit._observe.traces import Trace, read_trace
from memcache_kit._shapes import MISSING, Advice
from memcache_kit._tiers.memory.governor import Governor
from memcache_kit._tiers.memory.tier import MemoryTier

if TYPE_CHECKING:
    from conftest import SyntheticTraces


def lru_entries(keys: list[int], capacity: int) -> int:
    """Hits of an LRU of ``capacity`` entries (the reference the issue names)."""
    od: OrderedDict[int, None] = OrderedDict()
    hits = 0
    for k in keys:
        if k in od:
            od.move_to_end(k)
            hits += 1
        else:
            od[k] = None
            if len(od) > capacity:
                od.popitem(last=False)
    return hits


def real_tier(items: list[tuple[int, int, float]], budget: int) -> tuple[int, int, float]:
    """(hits, hit bytes, seconds saved) of the real memory tier serving get_or_load requests.

    The stored value is the size, so a request whose size differs from the stored entry's
    (the value changed) is a miss that re-sizes the entry through ``set``. A request's cost is
    its load seconds, or the last nonzero load seconds of its key."""
    tier = MemoryTier(budget, governor=Governor(cap=lambda: None))
    hits = hit_bytes = 0
    saved = 0.0
    last_cost: dict[int, float] = {}
    for key, size, secs in items:
        cost = secs if secs > 0 else last_cost.get(key, 0.0)
        if secs > 0:
            last_cost[key] = secs
        got = tier.get(key)
        if got is not MISSING and got == size:
            hits += 1
            hit_bytes += size
            saved += cost
        else:
            tier.set(key, size, size=size)
    return hits, hit_bytes, saved


def brute_distances(keys: list[int], weights: list[int]) -> list[int]:
    out = []
    last: dict[int, int] = {}
    for t, k in enumerate(keys):
        if k in last:
            seen = {keys[i]: weights[i] for i in range(last[k] + 1, t)}
            out.append(sum(seen.values()))
        else:
            out.append(-1)
        last[k] = t
    return out


# -- the engine --------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    keys=st.lists(st.integers(0, 12), min_size=1, max_size=80),
    weights=st.lists(st.integers(0, 50), min_size=80, max_size=80),
)
def test_stack_distances_match_brute_force(keys: list[int], weights: list[int]) -> None:
    w = weights[: len(keys)]
    prev, _ = _advisor.group(np.array(keys, dtype=np.int64))
    assert stack_distances(prev).tolist() == brute_distances(keys, [1] * len(keys))
    got = stack_distances(prev, np.array(w, dtype=np.int64)).tolist()
    assert got == brute_distances(keys, w)


# -- entry counts: exact at every budget -------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 15), min_size=1, max_size=120))
def test_entry_counts_equal_lru_simulation_at_every_budget(keys: list[int]) -> None:
    distinct = len(set(keys))
    budgets = list(range(0, distinct + 2))
    adv = advise(keys, budgets=budgets)
    assert [p.budget for p in adv.points] == budgets
    for p in adv.points:
        assert p.hit_ratio == pytest.approx(lru_entries(keys, p.budget) / len(keys), abs=1e-12)
        assert p.byte_hit_ratio == pytest.approx(p.hit_ratio, abs=1e-12)
    # The default points are exact too, and the recommendation is the smallest budget within
    # one point of the best.
    curve = advise(keys)
    best = max(p.hit_ratio for p in curve.points)
    for p in curve.points:
        assert p.hit_ratio == pytest.approx(lru_entries(keys, p.budget) / len(keys), abs=1e-12)
    want = min(b for b in range(1, distinct + 1) if lru_entries(keys, b) / len(keys) >= best - 0.01)
    assert curve.recommended == want


def test_entry_count_curve_on_keys_of_any_hashable_type() -> None:
    keys = ["a", "b", ("t", 1), "a", 2.5, "b", ("t", 1), -1, -2, -1]
    adv = advise(keys, budgets=[1, 2, 3, 4])
    codes = {k: i for i, k in enumerate(dict.fromkeys(keys))}
    ints = [codes[k] for k in keys]
    assert [p.hit_ratio for p in adv.points] == [lru_entries(ints, b) / 10 for b in (1, 2, 3, 4)]


# -- sizes: the real memory tier is the reference ----------------------------------------------

sized_items = st.lists(st.tuples(st.integers(0, 9), st.integers(0, 3)), min_size=1, max_size=80)


@settings(max_examples=150, deadline=None)
@given(
    items=sized_items,
    key_sizes=st.lists(st.integers(1, 30), min_size=10, max_size=10),
    seconds=st.lists(st.sampled_from([0.0, 0.5, 2.0]), min_size=80, max_size=80),
)
def test_sizes_equal_the_real_memory_tier_when_sizes_do_not_change(
    items: list[tuple[int, int]], key_sizes: list[int], seconds: list[float]
) -> None:
    # One size per key: values larger than small budgets are included (sizes up to 30).
    trace = [(k, key_sizes[k], seconds[i]) for i, (k, _) in enumerate(items)]
    total = sum(s for _, s, _ in trace)
    budgets = sorted({0, 1, 2, 5, 10, 17, 29, 30, 31, 45, 60, 100, 200, 300})
    adv = advise(trace, budgets=budgets)
    for p in adv.points:
        hits, hit_bytes, saved = real_tier(trace, p.budget)
        assert p.hit_ratio == pytest.approx(hits / len(trace), abs=1e-12), p
        assert p.byte_hit_ratio == pytest.approx(hit_bytes / total, abs=1e-12), p
        assert p.seconds_saved == pytest.approx(saved, abs=1e-9), p


@settings(max_examples=150, deadline=None)
@given(
    keys=st.lists(st.integers(0, 7), min_size=1, max_size=80),
    sizes=st.lists(st.integers(1, 25), min_size=80, max_size=80),
)
def test_changing_sizes_bound_the_real_tier_from_above(keys: list[int], sizes: list[int]) -> None:
    trace = [(k, sizes[i]) for i, k in enumerate(keys)]
    full = [(k, s, 0.0) for k, s in trace]
    budgets = [1, 3, 8, 15, 24, 25, 26, 40, 80, 200]
    shrinks = any(
        s < prev for (k, s), prev in zip(trace, _previous_sizes(trace), strict=True) if prev
    )
    for p in advise(trace, budgets=budgets).points:
        hits, _, _ = real_tier(full, p.budget)
        model = p.hit_ratio * len(trace)
        # LRU does not refill the room a shrinking (or dropped) entry frees: the model may
        # count a hit there that the real tier misses, never the other way round.
        assert model >= hits - 1e-9, p
        if not shrinks and p.budget >= max(sizes[: len(keys)]):
            assert model == pytest.approx(hits, abs=1e-9), p


def _previous_sizes(trace: list[tuple[int, int]]) -> list[int]:
    last: dict[int, int] = {}
    out = []
    for k, s in trace:
        out.append(last.get(k, 0))
        last[k] = s
    return out


def test_a_value_larger_than_the_budget_is_a_miss_and_evicts_nothing() -> None:
    # j(1), x(5), j(1): at budget 4 x is never stored, so j stays and hits; at budget 5 x is
    # stored and evicts j. The real tier is not a stack algorithm here, and neither is the model.
    trace = [("j", 1), ("x", 5), ("j", 1), ("x", 5)]
    adv = advise(trace, budgets=[4, 5, 6])
    got = {p.budget: p.hit_ratio * 4 for p in adv.points}
    assert got == {4: 1, 5: 0, 6: 2}
    for b, hits in got.items():
        assert real_tier([(hash(k), s, 0.0) for k, s in trace], b)[0] == hits


def test_a_changed_size_is_a_miss_that_resizes() -> None:
    trace = [("a", 2), ("a", 2), ("a", 3), ("a", 3), ("b", 9), ("a", 3)]
    adv = advise(trace, budgets=[3, 11, 12])
    got = {p.budget: round(p.hit_ratio * 6) for p in adv.points}
    # budget 3: hits at 1, 3, 5 (b is larger than the budget and leaves a alone)
    assert got == {3: 3, 11: 2, 12: 3}


def test_recorded_kinds_count_sets_as_updates_not_requests() -> None:
    # A SET moves its key to the top without being a hit or a miss.
    keys = np.array([1, 2, 1, 3, 1], dtype=np.int64)
    requests = np.array([True, True, False, True, True])
    tr = Trace(keys, np.ones(5, np.int64), None, requests)
    adv = advise(tr, budgets=[2])
    # requests: 1 (miss), 2 (miss), 3 (miss), 1 (hit: the SET refreshed it, distance 2)
    assert adv.points[0].hit_ratio == pytest.approx(1 / 4)


# -- traces of real shape (synthetic twins of the shared traces: conftest.py) -----------------
# The published figures on the real traces themselves (scarab-recs: LRU 75.91 % at 100,000
# entries; the sampled advisor's error on scarab-recs and orm-busy) are checked by
# benchmarks/bench_advisor.py, which reads ../shared/data.


def test_a_large_skewed_trace_matches_exact_lru(traces: SyntheticTraces) -> None:
    name = "scarab/scarab-recs.trace.xz"
    tr = read_trace(traces / name, "be-int64")
    keys = traces.keys[name].tolist()
    assert len(tr) == len(keys)
    adv = advise(tr, budgets=[30_000])
    assert adv.points[0].hit_ratio == pytest.approx(
        lru_entries(keys, 30_000) / len(keys), abs=1e-12
    )
    # The default curve ends where every repeated request hits (OPT and LRU agree there).
    curve = advise(tr)
    assert curve.points[-1].hit_ratio == pytest.approx(1 - len(set(keys)) / len(keys))
    assert curve.sampled is None


def test_lirs_loop_gets_nothing_below_its_loop_length(traces: SyntheticTraces) -> None:
    tr = read_trace(traces / "lirs" / "loop.trace.gz")
    keys = tr.keys.tolist()
    loop = len(set(keys))
    adv = advise(tr)
    below = [p for p in adv.points if p.budget < loop]
    assert below and all(p.hit_ratio == 0 for p in below)
    # The knee is a point of the curve: the budget just below the loop and the loop itself.
    at = {p.budget: p.hit_ratio for p in adv.points}
    assert at[loop - 1] == 0 and at[loop] > 0.99
    assert adv.recommended == loop
    assert at[loop] == pytest.approx(lru_entries(keys, loop) / len(keys))


@pytest.mark.parametrize(
    "name",
    ["adapt_size/request.trace.xz", "libcachesim/cloudPhysicsIO.oracleGeneral.bin"],
)
def test_sized_real_traces_match_the_real_memory_tier(traces: SyntheticTraces, name: str) -> None:
    tr = read_trace(traces / name)
    assert tr.sizes is not None
    n = 30_000  # a slice keeps the pure-Python reference fast
    items = list(zip(tr.keys[:n].tolist(), tr.sizes[:n].tolist(), [0.0] * n, strict=True))
    curve = advise(items)
    budgets = [*[p.budget for p in curve.points][::5], curve.recommended]
    for p in advise(items, budgets=budgets).points:
        hits, hit_bytes, _ = real_tier(items, p.budget)
        assert abs(p.hit_ratio - hits / n) <= 0.005, p
        assert abs(p.byte_hit_ratio - hit_bytes / sum(s for _, s, _ in items)) <= 0.005, p


def test_sampled_error_on_scarab_recs(traces: SyntheticTraces) -> None:
    tr = read_trace(traces / "scarab" / "scarab-recs.trace.xz", "be-int64")
    _check_sampled(tr, 0.01)


def test_sampled_error_on_orm_busy(traces: SyntheticTraces) -> None:
    tr = read_trace(traces / "cache2k" / "orm-busy.trace.xz", "be-int32")
    _check_sampled(tr, 0.01)


def _check_sampled(tr: Trace, rate: float) -> None:
    sampled = advise(tr, sample=rate)
    assert sampled.sampled == pytest.approx(rate, rel=1e-4)
    # 20 log-spaced budgets from where the sample holds 100 entries to the end of the curve.
    top = sampled.points[-1].budget
    budgets = sorted({round(b) for b in np.geomspace(100 / rate, top, 20)})
    exact = advise(tr, budgets=budgets).points
    got = advise(tr, budgets=budgets, sample=rate).points
    mae = sum(abs(a.hit_ratio - b.hit_ratio) for a, b in zip(got, exact, strict=True)) / len(got)
    assert mae <= 0.01


def test_sampled_with_sizes_on_adapt_size(traces: SyntheticTraces) -> None:
    tr = read_trace(traces / "adapt_size" / "request.trace.xz")
    sampled = advise(tr, sample=0.1)
    exact = advise(tr, budgets=[p.budget for p in sampled.points]).points
    errs = [abs(a.hit_ratio - b.hit_ratio) for a, b in zip(sampled.points, exact, strict=True)]
    # A small trace with heavy-tailed sizes: rougher than entry counts (docs/advisor.md: 0.8
    # points on the real AdaptSize trace, 2.0 on this synthetic twin, a few large values taking
    # a share of the sample's bytes that is not the rate). A broken scaling is off by tens.
    assert sum(errs) / len(errs) <= 0.03


# -- the shape of the answer -------------------------------------------------------------------


def test_points_are_log_spaced_and_sorted_with_the_recommendation_among_them() -> None:
    rng = np.random.default_rng(7)
    keys = rng.zipf(1.3, 20_000) % 5000
    adv = advise(keys)
    budgets = [p.budget for p in adv.points]
    assert budgets == sorted(set(budgets))
    assert 30 <= len(budgets) <= 80
    assert adv.recommended in budgets
    assert all(0 <= p.hit_ratio <= 1 for p in adv.points)
    assert adv.to_dict()["points"][0].keys() == {
        "budget",
        "hit_ratio",
        "byte_hit_ratio",
        "seconds_saved",
    }


def test_budgets_accept_size_strings() -> None:
    adv = advise([(i % 7, 300) for i in range(100)], budgets=["1k", "1KiB", 2048, "2.5k"])
    assert [p.budget for p in adv.points] == [1000, 1024, 2048, 2500]
    assert adv.recommended == 2500


def test_seconds_saved_use_the_last_recorded_load_of_the_key() -> None:
    trace = [("a", 1, 2.0), ("a", 1, 0.0), ("b", 1, 1.0), ("a", 1, 0.0), ("b", 1, 0.0)]
    adv = advise(trace, budgets=[1, 2])
    assert [p.seconds_saved for p in adv.points] == [2.0, 5.0]


def test_bad_inputs_say_what_is_allowed(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="empty"):
        advise([])
    with pytest.raises(ValueError, match="sample must be a rate"):
        advise([1, 2, 1], sample=0)
    with pytest.raises(ValueError, match="sample must be a rate"):
        advise([1, 2, 1], sample=1.5)
    with pytest.raises(ValueError, match=r"all \(key, size\)"):
        advise([(1, 2), (1, 2, 3.0)])
    with pytest.raises(ValueError, match="sizes must be >= 0"):
        advise([(1, -2)])
    with pytest.raises(ValueError, match="invalid size"):
        advise([1, 2], budgets=["lots"])
    with pytest.raises(TypeError, match="iterable of keys"):
        advise(42)
    with pytest.raises(ValueError, match="format="):
        advise([1, 2], format="keys")
    bad = tmp_path / "t.txt"
    bad.write_text("1\n2\n")
    with pytest.raises(ValueError, match="unknown trace format 'nope'"):
        advise(bad, format="nope")


def test_sample_rate_one_is_exact() -> None:
    keys = [i % 13 for i in range(200)] + [i % 3 for i in range(50)]
    a = advise(keys, budgets=[2, 5, 13])
    b = advise(keys, budgets=[2, 5, 13], sample=1.0)
    assert [p.hit_ratio for p in a.points] == [p.hit_ratio for p in b.points]
    assert b.sampled == 1.0


def test_render_table_and_plot(tmp_path: Path) -> None:
    adv = advise([(i % 50, 1000 + (i % 50) * 10) for i in range(3000)])
    text = render_table(adv)
    assert "recommended" in text and "*" in text and "KiB" in text
    out = tmp_path / "curve.png"
    plot_advice(adv, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    entries = advise([i % 9 for i in range(100)])
    assert "recommended: 9" in render_table(entries, unit="entries")
    with pytest.raises(ValueError, match="unit must be"):
        render_table(entries, unit="pages")


def test_advice_is_a_frozen_shape() -> None:
    adv = advise([1, 2, 1, 2], budgets=[1, 2])
    assert isinstance(adv, Advice)
    assert adv.recommended == 2
    assert math.isclose(adv.points[1].hit_ratio, 0.5)


def test_advise_command_reads_budgets_lists_and_plots(
    tmp_path: Path, traces: SyntheticTraces
) -> None:
    adv, unit = advise_command(
        traces / "lirs" / "multi2.trace.gz", budgets="100, 1k,2000", plot=tmp_path / "p.png"
    )
    assert unit == "entries"
    assert [p.budget for p in adv.points] == [100, 1000, 2000]
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    adv, unit = advise_command(traces / "adapt_size" / "request.trace.xz", sample=0.5)
    assert unit == "bytes" and adv.sampled == 0.5


@settings(max_examples=100, deadline=None)
@given(
    keys=st.lists(st.integers(-(2**63), 2**63 - 1) | st.integers(0, 20), min_size=1, max_size=60),
    sized=st.booleans(),
    rate=st.sampled_from([0.001, 0.1, 0.5, 0.9]),
)
def test_sampled_mode_is_well_formed_on_any_trace(
    keys: list[int], sized: bool, rate: float
) -> None:
    trace: list[object] = [(k, 1 + abs(k) % 50) for k in keys] if sized else list(keys)
    adv = advise(trace, sample=rate)
    assert adv.sampled == pytest.approx(rate, rel=1e-4)
    assert adv.points and adv.recommended in [p.budget for p in adv.points]
    for p in adv.points:
        assert 0 <= p.hit_ratio <= 1 and 0 <= p.byte_hit_ratio <= 1 and p.seconds_saved == 0
