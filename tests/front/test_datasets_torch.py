"""LazyDataset under a real torch DataLoader: fork and spawn workers share the disk tier."""

from __future__ import annotations

import functools
import os
import uuid
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset, Subset, default_collate

from memcache_kit._cache.cache import Cache
from memcache_kit._front.datasets import LazyDataset, worker_init_fn

MiB = 1 << 20
ITEMS = 96


@functools.cache
def _digits() -> np.ndarray:
    from sklearn.datasets import load_digits

    return load_digits().images.astype(np.float32)


@pytest.fixture
def digits_file(tmp_path: Path) -> str:
    # Workers read the images from a file, so a spawned worker does not import scikit-learn.
    path = tmp_path / "digits.npy"
    np.save(path, _digits())
    return str(path)


def load_digit(marker_dir: str, digits: str, i: int) -> np.ndarray:
    """The real item loader: one 8x8 digit image, leaving a marker per call."""
    Path(marker_dir, f"{i}-{os.getpid()}-{uuid.uuid4().hex}").touch()
    return np.load(digits, mmap_mode="r")[i] / 16.0


def scale(x: np.ndarray) -> np.ndarray:
    return x * 2.0


def strict_worker_init(record_dir: str, worker_id: int) -> None:
    # A collate warning in a worker would not reach the test's warning filter: raise there.
    warnings.simplefilter("error")
    worker_init_fn(worker_id)
    info = torch.utils.data.get_worker_info()
    assert info is not None
    budget = info.dataset.cache.memory_budget
    Path(record_dir, f"budget-{os.getpid()}-{budget}").touch()


def loads(marker_dir: Path) -> dict[int, int]:
    counts: dict[int, int] = {}
    for f in marker_dir.iterdir():
        i = int(f.name.split("-")[0])
        counts[i] = counts.get(i, 0) + 1
    return counts


class Uncached(Dataset[Any]):
    def __getitem__(self, i: int) -> np.ndarray:
        return scale(_digits()[i] / 16.0)

    def __len__(self) -> int:
        return ITEMS


def test_is_a_torch_dataset(cache_dir: Path, digits_file: str) -> None:
    with Cache("t", memory=MiB, disk=None) as c:
        ds = LazyDataset(
            [1, 2], functools.partial(load_digit, str(cache_dir), digits_file), cache=c
        )
        assert isinstance(ds, Dataset)
        assert isinstance(ds, LazyDataset)
        assert isinstance(ds[:1], Dataset)
        assert len(Subset(ds, [1])) == 1


@pytest.mark.parametrize(
    ("context", "persistent"),
    [
        ("fork", False),
        # Spawned workers start a fresh interpreter (torch import included): one round of them
        # in the default run, fresh workers per epoch in the stress run.
        ("spawn", True),
        pytest.param("spawn", False, marks=pytest.mark.stress),
    ],
)
def test_dataloader_workers_load_each_item_once(
    context: str, persistent: bool, tmp_path: Path, digits_file: str
) -> None:
    markers, records = tmp_path / "markers", tmp_path / "records"
    markers.mkdir()
    records.mkdir()
    directory = tmp_path / "cache"
    directory.mkdir(mode=0o700)
    with Cache("digits", memory=2 * MiB, disk=64 * MiB, directory=directory) as cache:
        ds = LazyDataset(
            list(range(ITEMS)),
            functools.partial(load_digit, str(markers), digits_file),
            cache=cache,
            transform=scale,
        )
        dl = DataLoader(
            ds,
            batch_size=16,
            num_workers=2,
            multiprocessing_context=context,
            persistent_workers=persistent,
            worker_init_fn=functools.partial(strict_worker_init, str(records)),
            timeout=120,
        )
        expected = list(DataLoader(Uncached(), batch_size=16))
        for _epoch in range(2):
            batches = list(dl)
            assert len(batches) == len(expected)
            for got, want in zip(batches, expected, strict=True):
                assert got.dtype == torch.float32
                assert torch.equal(got, want)
        assert loads(markers) == dict.fromkeys(range(ITEMS), 1)
        budgets = {int(f.name.split("-")[2]) for f in records.iterdir()}
        assert budgets == {MiB}  # each of the two workers got half of the 2 MiB
        # two workers, started once or once per epoch
        assert len(list(records.iterdir())) == (2 if persistent else 4)
        assert cache.memory_budget == 2 * MiB


def test_collate_takes_disk_memmaps_without_warning(tmp_path: Path, digits_file: str) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    directory = tmp_path / "cache"
    directory.mkdir(mode=0o700)
    loader = functools.partial(load_digit, str(markers), digits_file)
    with Cache("digits", memory=MiB, disk=16 * MiB, directory=directory) as warm:
        LazyDataset(list(range(8)), loader, cache=warm).prefetch(progress=False)
    with Cache("digits", memory=MiB, disk=16 * MiB, directory=directory) as cold:
        ds = LazyDataset(list(range(8)), loader, cache=cold)
        items = [ds[i] for i in range(8)]
        assert all(isinstance(x, np.memmap) for x in items)
        batch = default_collate(items)  # warnings are errors in this suite
        assert batch.shape == (8, 8, 8)
        assert torch.equal(batch, default_collate([_digits()[i] / 16.0 for i in range(8)]))
        assert next(iter(DataLoader(ds, batch_size=8))).shape == (8, 8, 8)
    assert loads(markers) == dict.fromkeys(range(8), 1)


def test_worker_init_fn_outside_a_worker_says_so() -> None:
    with pytest.raises(RuntimeError, match="only inside a DataLoader worker"):
        worker_init_fn(0)
