"""The access recorder: round trip, threads, processes, fork, exit, torn tails."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from memcache_kit._observe import record as _record
from memcache_kit._observe.advisor import advise
from memcache_kit._observe.record import HEADER_SIZE, MAGIC, RECORD_SIZE, Recorder
from memcache_kit._observe.traces import read_trace

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _run(code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )


def test_round_trip_through_the_advisor(tmp_path: Path) -> None:
    p = tmp_path / "trace.mkt"
    rec = Recorder(p, block_bytes=RECORD_SIZE * 3)  # small blocks: several flushes
    for i in range(100):
        rec.record(hash(("k", i % 10)), 1000 + i % 10, 0.5 if i < 10 else 0.0)
    rec.close()
    rec.close()  # idempotent
    data = p.read_bytes()
    assert data.startswith(MAGIC) and len(data) == HEADER_SIZE + 100 * RECORD_SIZE
    tr = read_trace(p)
    assert len(tr) == 100 and tr.sizes is not None and tr.seconds is not None
    assert tr.seconds[:10].tolist() == [0.5] * 10
    adv = advise(p, budgets=[10_045, 20_000])
    # Ten keys of ~1 KB: a budget holding all ten hits every repeat.
    assert adv.points[0].hit_ratio == pytest.approx(0.9)
    assert adv.points[0].seconds_saved == pytest.approx(90 * 0.5)


def test_appending_to_an_existing_recording(tmp_path: Path) -> None:
    p = tmp_path / "t.mkt"
    with Recorder(p) as r:
        r.record(1, 1)
    with Recorder(p) as r:
        r.record(2, 2)
    assert read_trace(p).keys.tolist() == [1, 2]


def test_a_file_that_is_not_a_recording_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "notes.txt"
    p.write_text("my notes, please keep them\n")
    with pytest.raises(ValueError, match="not a memcache_kit trace"):
        Recorder(p)
    assert p.read_text() == "my notes, please keep them\n"
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        Recorder(empty)
    with pytest.raises(ValueError, match="block_bytes"):
        Recorder(tmp_path / "x", block_bytes=0)


def test_a_truncated_last_record_is_ignored(tmp_path: Path) -> None:
    p = tmp_path / "t.mkt"
    with Recorder(p) as r:
        for i in range(5):
            r.record(i, 10)
    with open(p, "r+b") as f:
        f.truncate(HEADER_SIZE + 4 * RECORD_SIZE + 7)
    assert read_trace(p).keys.tolist() == [0, 1, 2, 3]


def test_records_after_close_are_dropped(tmp_path: Path) -> None:
    p = tmp_path / "t.mkt"
    rec = Recorder(p, block_bytes=RECORD_SIZE)
    rec.record(1, 1)
    rec.close()
    rec.record(2, 2)  # fills a block: flush sees the recorder closed and drops it
    assert read_trace(p).keys.tolist() == [1]
    assert "closed" in repr(rec)


def test_concurrent_threads_write_whole_records(tmp_path: Path) -> None:
    p = tmp_path / "t.mkt"
    rec = Recorder(p, block_bytes=RECORD_SIZE * 7)
    n_threads, per_thread = 8, 5000

    def work(t: int) -> None:
        for i in range(per_thread):
            # The size encodes the key, so a torn or mixed record would not match.
            rec.record(t * 1_000_000 + i, (t * 1_000_000 + i) * 3, float(t), _record.MISS)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    rec.close()
    assert (p.stat().st_size - HEADER_SIZE) % RECORD_SIZE == 0
    tr = read_trace(p)
    assert tr.sizes is not None and tr.seconds is not None
    keys = tr.keys.astype(np.int64)
    assert (tr.sizes == keys * 3).all()
    assert (tr.seconds == keys // 1_000_000).all()
    # The buffer is cut exactly where it was copied: no record is lost, none duplicated.
    assert len(tr) == n_threads * per_thread == np.unique(keys).size


def test_several_processes_append_to_one_file(tmp_path: Path) -> None:
    p = tmp_path / "shared.mkt"
    code = f"""
from memcache_kit._observe.record import Recorder
rec = Recorder({str(p)!r}, block_bytes=24 * 5)
for i in range(3000):
    rec.record(i, i + 1)
rec.close()
"""
    procs = [
        subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": SRC})
        for _ in range(4)
    ]
    assert all(pr.wait(timeout=120) == 0 for pr in procs)
    data = p.read_bytes()
    assert data.count(MAGIC) == 1 and (len(data) - HEADER_SIZE) % RECORD_SIZE == 0
    tr = read_trace(p)
    assert len(tr) == 4 * 3000
    assert tr.sizes is not None and (tr.sizes == tr.keys.astype(np.int64) + 1).all()
    for pr in procs:
        mine = read_trace(p, process=pr.pid)
        assert mine.keys.tolist() == list(range(3000))  # each process's own order survives


def test_unclosed_recorders_are_flushed_at_exit(tmp_path: Path) -> None:
    p = tmp_path / "exit.mkt"
    out = _run(
        f"from memcache_kit._observe.record import Recorder\n"
        f"r = Recorder({str(p)!r})\n"
        f"for i in range(10): r.record(i, 1)\n"
    )
    assert out.returncode == 0, out.stderr
    assert read_trace(p).keys.tolist() == list(range(10))


def test_a_fork_child_does_not_write_its_parents_buffer(tmp_path: Path) -> None:
    p = tmp_path / "fork.mkt"
    out = _run(
        f"import os\n"
        f"from memcache_kit._observe.record import Recorder\n"
        f"r = Recorder({str(p)!r})\n"
        f"r.record(1, 1)\n"
        f"pid = os.fork()\n"
        f"if pid == 0:\n"
        f"    r.record(2, 2); r.close(); os._exit(0)\n"
        f"os.waitpid(pid, 0)\n"
        f"r.record(3, 3); r.close()\n"
        f"print(pid)\n"
    )
    assert out.returncode == 0, out.stderr
    child = int(out.stdout.strip())
    assert sorted(read_trace(p).keys.tolist()) == [1, 2, 3]
    assert read_trace(p, process=child).keys.tolist() == [2]


def test_importing_the_recorder_imports_no_numpy() -> None:
    out = _run(
        "import sys, memcache_kit._observe.record, memcache_kit._observe.traces\n"
        "import memcache_kit._observe.advisor\n"
        "print('numpy' in sys.modules, 'matplotlib' in sys.modules)"
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]
