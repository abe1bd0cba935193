"""A hypothesis state machine drives ``Cache`` against a dict under tiny budgets.

Values are ``Blob``s whose size the sizer takes at its word, so the memory tier's budget is
exercised exactly. After every step: the memory budget holds and ``verify()`` is clean. With
the disk tier on and spilling, no key is ever lost between tiers: every key set (and not
deleted or expired) reads back its latest value; with ``spill=False`` a key may be forgotten,
but never comes back with an older value.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

import memcache_kit as mk

MEMORY = 1_000


class Blob:
    """A value that claims ``size`` bytes in memory (tiny on disk)."""

    __slots__ = ("size", "tag")

    def __init__(self, tag: int, size: int) -> None:
        self.tag = tag
        self.size = size

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Blob) and (self.tag, self.size) == (other.tag, other.size)

    def __hash__(self) -> int:
        return hash((self.tag, self.size))

    def __repr__(self) -> str:
        return f"Blob({self.tag}, {self.size})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Blob, (self.tag, self.size))


mk.register_sizer(Blob, lambda b: b.size)

keys = st.one_of(st.integers(0, 12), st.sampled_from(["a", "b", ("t", 1), ("t", 2)]))
sizes = st.one_of(st.integers(1, 400), st.just(MEMORY + 1))  # some larger than memory


class CacheModel(RuleBasedStateMachine):
    write_through = True
    spill = True

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="mk-stateful-"))
        self.cache = self._open()
        self.model: dict[Any, Blob] = {}
        self.tags = 0

    def _open(self) -> mk.Cache:
        return mk.Cache(
            "model",
            memory=MEMORY,
            disk="64MiB",
            directory=self.dir / "c",
            write_through=self.write_through,
            spill=self.spill,
        )

    def teardown(self) -> None:
        self.cache.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _blob(self, size: int) -> Blob:
        self.tags += 1
        return Blob(self.tags, size)

    def _check(self, key: Any, got: Any) -> None:
        if key in self.model:
            if self.spill:
                assert got == self.model[key], (key, got, self.model[key])
            else:
                assert got is None or got == self.model[key], (key, got, self.model[key])
                if got is None:
                    del self.model[key]  # forgotten: fine once, but never an older value
        else:
            assert got is None, (key, got)

    @rule(key=keys, size=sizes)
    def set(self, key: Any, size: int) -> None:
        blob = self._blob(size)
        self.cache.set(key, blob)
        self.model[key] = blob

    @rule(key=keys)
    def get(self, key: Any) -> None:
        self._check(key, self.cache.get(key))

    @rule(key=keys, size=sizes)
    def get_or_load(self, key: Any, size: int) -> None:
        blob = self._blob(size)
        got = self.cache.get_or_load(key, lambda: blob)
        if key not in self.model or (not self.spill and got is blob):
            self.model[key] = blob
        self._check(key, got)

    @rule(key=keys)
    def delete(self, key: Any) -> None:
        existed = self.cache.delete(key)
        if self.spill:
            assert existed == (key in self.model)
        self.model.pop(key, None)

    @rule(key=keys)
    def contains(self, key: Any) -> None:
        present = key in self.cache
        if self.spill:
            assert present == (key in self.model)
        elif not present:
            self.model.pop(key, None)

    @rule(budget=st.sampled_from([200, 500, MEMORY]))
    def resize(self, budget: int) -> None:
        self.cache.memory_budget = budget
        assert self.cache.stats().tiers["memory"].bytes <= budget

    @precondition(lambda self: self.cache.memory_budget < MEMORY)
    @rule()
    def restore_budget(self) -> None:
        self.cache.memory_budget = MEMORY

    @rule()
    def reopen(self) -> None:
        self.cache.close()
        self.cache = self._open()

    @rule()
    def read_everything(self) -> None:
        for key in list(self.model):
            self._check(key, self.cache.get(key))

    @rule()
    def clear(self) -> None:
        self.cache.clear()
        self.model.clear()

    @invariant()
    def memory_budget_is_held(self) -> None:
        s = self.cache.stats().tiers["memory"]
        assert s.bytes <= s.budget <= MEMORY

    @invariant()
    def verify_is_clean(self) -> None:
        report = self.cache.verify()
        assert report.ok, report.problems


class WriteBack(CacheModel):
    write_through = False


class WriteBackNoSpill(CacheModel):
    write_through = False
    spill = False


MACHINES = {"write_through": CacheModel, "write_back": WriteBack, "no_spill": WriteBackNoSpill}


@pytest.mark.parametrize("mode", sorted(MACHINES))
def test_cache_against_a_dict(mode: str) -> None:
    run_state_machine_as_test(
        MACHINES[mode],
        settings=settings(max_examples=40, stateful_step_count=40, deadline=None),
    )
