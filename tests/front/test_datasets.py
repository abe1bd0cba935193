"""LazyDataset without DataLoader: indexing, slicing, transforms, keys, prefetch; arrays."""

from __future__ import annotations

import functools
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from memcache_kit._cache.cache import Cache
from memcache_kit._front.datasets import LazyDataset, materialize, open_array

MiB = 1 << 20


def load_square(marker_dir: str, i: int) -> np.ndarray:
    Path(marker_dir, f"{i}-{os.getpid()}-{random.random()}").touch()
    return np.full((4, 4), i, dtype=np.float32)


def load_other(marker_dir: str, i: int) -> np.ndarray:
    return np.full((4, 4), -i, dtype=np.float32)


def load_ragged(i: int) -> np.ndarray:
    return np.zeros(i + 1)


def loads(marker_dir: Path) -> dict[int, int]:
    counts: dict[int, int] = {}
    for f in marker_dir.iterdir():
        i = int(f.name.split("-")[0])
        counts[i] = counts.get(i, 0) + 1
    return counts


@pytest.fixture
def markers(tmp_path: Path) -> Path:
    d = tmp_path / "markers"
    d.mkdir()
    return d


@pytest.fixture
def cache(cache_dir: Path) -> Iterator[Cache]:
    c = Cache("datasets", memory=16 * MiB, disk=64 * MiB, directory=cache_dir)
    yield c
    c.close()


@pytest.fixture
def ds(markers: Path, cache: Cache) -> LazyDataset:
    return LazyDataset(list(range(10)), functools.partial(load_square, str(markers)), cache=cache)


def test_items_load_on_first_access_only(ds: LazyDataset, markers: Path) -> None:
    assert len(ds) == 10
    assert loads(markers) == {}
    assert ds[3][0, 0] == 3
    assert ds[3][0, 0] == 3
    assert ds[-1][0, 0] == 9
    assert loads(markers) == {3: 1, 9: 1}
    assert [int(x[0, 0]) for x in ds] == list(range(10))
    assert loads(markers) == dict.fromkeys(range(10), 1)


def test_indexing_errors(ds: LazyDataset) -> None:
    with pytest.raises(IndexError, match="index 10 is out of range for 10 items"):
        ds[10]
    with pytest.raises(IndexError, match="out of range"):
        ds[-11]
    with pytest.raises(TypeError, match="integers or slices, not str"):
        ds["a"]
    assert ds[np.int64(2)][0, 0] == 2


def test_slices_give_new_datasets(ds: LazyDataset, markers: Path) -> None:
    part = ds[2:8:2]
    assert isinstance(part, LazyDataset)
    assert len(part) == 3
    assert [int(x[0, 0]) for x in part] == [2, 4, 6]
    assert [int(x[0, 0]) for x in part[::-1]] == [6, 4, 2]
    assert part[-1][0, 0] == 6
    assert len(ds[20:]) == 0
    assert int(ds[4][0, 0]) == 4
    assert loads(markers) == {2: 1, 4: 1, 6: 1}  # the view shares the parent's entries


def jitter(x: np.ndarray) -> np.ndarray:
    return x + np.random.default_rng().random(x.shape)


def test_transform_runs_after_the_cache_and_is_not_cached(markers: Path, cache: Cache) -> None:
    ds = LazyDataset(
        [1, 2], functools.partial(load_square, str(markers)), cache=cache, transform=jitter
    )
    a, b = ds[0], ds[0]
    assert not np.array_equal(a, b)
    assert np.all((a >= 1) & (a < 2))
    assert loads(markers) == {1: 1}
    assert np.array_equal(ds.load(0), np.full((4, 4), 1, dtype=np.float32))


def test_items_are_keyed_by_loader_and_description(markers: Path, cache: Cache) -> None:
    square = functools.partial(load_square, str(markers))
    a = LazyDataset([5, 6], square, cache=cache)
    b = LazyDataset([6, 5, 7], square, cache=cache)
    other = LazyDataset([5], functools.partial(load_other, str(markers)), cache=cache)
    assert a[0][0, 0] == 5 and b[1][0, 0] == 5
    assert other[0][0, 0] == -5
    assert a.item_key(0).disk == b.item_key(1).disk != other.item_key(0).disk
    explicit = LazyDataset([5], square, cache=cache, key="squares-v2")
    assert explicit.item_key(0).disk != a.item_key(0).disk
    assert explicit[0][0, 0] == 5
    assert loads(markers) == {5: 2}


def test_bad_arguments(cache: Cache) -> None:
    with pytest.raises(TypeError, match="source must be a sequence"):
        LazyDataset(iter([1, 2]), load_ragged, cache=cache)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not callable"):
        LazyDataset([1], 3, cache=cache)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"cache=1\.5 is not allowed"):
        LazyDataset([1], load_ragged, cache=1.5)  # type: ignore[arg-type]
    ds = LazyDataset([object()], load_ragged, cache=cache)
    with pytest.raises(TypeError, match="LazyDataset item 0"):
        ds[0]


def test_arrays_from_disk_are_writable_copy_on_write_memmaps(
    ds: LazyDataset, cache: Cache, cache_dir: Path
) -> None:
    ds.prefetch(progress=False)
    with Cache("datasets", memory=16 * MiB, disk=64 * MiB, directory=cache_dir) as fresh:
        again = LazyDataset(ds._source, ds._loader, cache=fresh)
        item = again[7]
        assert isinstance(item, np.memmap)
        assert item.flags.writeable
        item[0, 0] = 100
        with Cache("datasets", memory=16 * MiB, disk=64 * MiB, directory=cache_dir) as third:
            assert LazyDataset(ds._source, ds._loader, cache=third)[7][0, 0] == 7


def test_prefetch_warms_the_cache_once(
    ds: LazyDataset, markers: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert ds.prefetch([1, 2, 3], workers=2, progress=False) == 3
    assert ds.prefetch(workers=4, progress=False) == 7
    assert ds.prefetch(progress=False) == 0
    assert loads(markers) == dict.fromkeys(range(10), 1)
    assert capsys.readouterr().err == ""
    assert ds.prefetch(workers=1, progress=True) == 0
    assert "prefetch" in capsys.readouterr().err
    with pytest.raises(ValueError, match="workers=0 is not allowed"):
        ds.prefetch(workers=0)


def test_open_array_maps_without_reading(tmp_path: Path) -> None:
    path = tmp_path / "big.npy"
    np.save(path, np.arange(1_000_000, dtype=np.int64).reshape(1000, 1000))
    arr = open_array(path)
    assert isinstance(arr, np.memmap)
    assert not arr.flags.writeable
    assert arr[500, 7] == 500_007
    assert np.array_equal(arr[10:12, :3], [[10_000, 10_001, 10_002], [11_000, 11_001, 11_002]])
    cow = open_array(path, mode="c")
    cow[0, 0] = -1
    assert open_array(path)[0, 0] == 0
    with pytest.raises(ValueError, match="mode='w' is not allowed"):
        open_array(path, mode="w")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"only \.npy files"):
        open_array(tmp_path / "x.npz")


def test_materialize_writes_once_and_reuses(ds: LazyDataset, markers: Path, tmp_path: Path) -> None:
    path = tmp_path / "train.npy"
    arr = materialize(ds, path)
    assert isinstance(arr, np.memmap) and arr.shape == (10, 4, 4) and arr.dtype == np.float32
    assert np.array_equal(arr[:, 0, 0], np.arange(10))
    assert arr.flags.writeable
    stamp = path.stat().st_mtime_ns
    again = materialize(ds, path)
    assert path.stat().st_mtime_ns == stamp
    assert np.array_equal(again, arr)
    assert loads(markers) == dict.fromkeys(range(10), 1)
    with pytest.raises(FileExistsError, match="another dataset"):
        materialize(ds[:5], path)
    assert materialize(ds[:5], path, overwrite=True).shape == (5, 4, 4)


def test_materialize_refuses_what_it_cannot_write(tmp_path: Path, cache: Cache) -> None:
    stranger = tmp_path / "mine.npy"
    np.save(stranger, np.zeros(3))
    items = [np.zeros((2, 2)), np.ones((2, 2))]
    with pytest.raises(FileExistsError, match="did not write"):
        materialize(items, stranger, key="x")
    with pytest.raises(TypeError, match="pass key="):
        materialize(items, tmp_path / "plain.npy")
    assert materialize(items, tmp_path / "plain.npy", key="two")[1, 1, 1] == 1
    ragged = LazyDataset([1, 2], load_ragged, cache=cache)
    with pytest.raises(ValueError, match=r"item 1 has shape \(3,\)"):
        materialize(ragged, tmp_path / "ragged.npy")
    assert not (tmp_path / "ragged.npy").exists()
    assert not list(tmp_path.glob(".ragged*"))


def test_importing_the_module_imports_no_optional_library() -> None:
    code = (
        "import sys, memcache_kit._front.datasets, memcache_kit._front.lazy\n"
        "print(sorted({'numpy', 'torch', 'pandas'} & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
