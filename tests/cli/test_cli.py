"""``memcache-kit stats|ls|clear|verify|advise`` through the real entry points, in subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import SyntheticTraces

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / ".venv" / "bin" / "memcache-kit"

FILL = textwrap.dedent(
    """
    import os, sys, time
    import memcache_kit as mk
    from memcache_kit._observe import stats as _observe

    c = mk.Cache("cli", memory="64KiB", disk="64MiB", directory=sys.argv[1])
    _observe.register(c)
    tag = sys.argv[2]
    for i, size in enumerate((100, 300_000, 2_000, 90_000)):
        c.get_or_load((tag, i), lambda size=size: b"v" * size)
        time.sleep(0.01)  # distinct store and access times
    c.get((tag, 2))
    c.get((tag, 0))
    """
)


def run(
    *args: str, script: bool = False, stdin: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    cmd = [str(SCRIPT)] if script else [sys.executable, "-m", "memcache_kit"]
    return subprocess.run(
        [*cmd, *args],
        env={**os.environ, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
        input=stdin,
        cwd=cwd,
    )


def fill(directory: Path, tag: str) -> None:
    subprocess.run([sys.executable, "-c", FILL, str(directory), tag], check=True, timeout=120)


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    d = tmp_path / "c"
    fill(d, "a")
    return d


def test_the_console_script_and_module_are_the_same_program(cache_dir: Path) -> None:
    a = run("ls", str(cache_dir), "--json", script=True)
    b = run("ls", str(cache_dir), "--json")
    assert a.returncode == b.returncode == 0, a.stderr + b.stderr
    assert [r["key"] for r in json.loads(a.stdout)] == [r["key"] for r in json.loads(b.stdout)]
    assert run("--help", script=True).returncode == 0


def test_stats_sums_two_processes_and_lists_each(cache_dir: Path) -> None:
    fill(cache_dir, "b")
    out = run("stats", str(cache_dir), "--json")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert len(info["processes"]) == 2
    total = info["total"]
    assert total["loads"] == 8
    mem = total["tiers"]["memory"]
    assert mem["hits"] + mem["misses"] == 12
    assert sum(p["stats"]["tiers"]["memory"]["hits"] for p in info["processes"]) == mem["hits"]
    assert total["tiers"]["disk"]["items"] == 8  # the directory now, not a sum
    text = run("stats", str(cache_dir)).stdout
    assert "2 process(es), summed" in text and "per process" in text and "memory" in text


def test_stats_of_a_directory_nobody_used(tmp_path: Path) -> None:
    out = run("stats", str(tmp_path), "--json")
    assert out.returncode == 0
    assert json.loads(out.stdout) == {"directory": str(tmp_path), "processes": [], "total": None}
    missing = run("stats", str(tmp_path / "nope"))
    assert missing.returncode == 1 and "is not a directory" in missing.stderr


def test_ls_sorts_and_limits(cache_dir: Path) -> None:
    rows = json.loads(run("ls", str(cache_dir), "--json", "--sort", "size").stdout)
    assert [r["size"] for r in rows] == sorted((r["size"] for r in rows), reverse=True)
    assert len(rows) == 4 and all(r["tier"] == "disk" for r in rows)
    assert set(rows[0]) >= {"key", "label", "size", "tier", "age", "last_access", "stored_at"}
    by_age = json.loads(run("ls", str(cache_dir), "--json", "--sort", "age").stdout)
    assert [r["stored_at"] for r in by_age] == sorted(r["stored_at"] for r in by_age)
    by_access = json.loads(run("ls", str(cache_dir), "--json", "--sort", "access").stdout)
    times = [r["last_access"] for r in by_access]
    assert times == sorted(times, reverse=True)
    top = json.loads(run("ls", str(cache_dir), "--json", "--sort", "size", "--limit", "2").stdout)
    assert [r["key"] for r in top] == [r["key"] for r in rows[:2]]
    bad = run("ls", str(cache_dir), "--sort", "colour")
    assert bad.returncode == 1 and "--sort 'colour'" in bad.stderr
    assert "entries, by size" in run("ls", str(cache_dir), "--sort", "size").stdout


def test_ls_of_something_that_is_not_a_cache(tmp_path: Path) -> None:
    out = run("ls", str(tmp_path))
    assert out.returncode == 1 and "not a cache directory" in out.stderr


def test_clear_asks_and_refuses_without_yes_when_not_interactive(cache_dir: Path) -> None:
    out = run("clear", str(cache_dir), stdin="y\n")
    assert out.returncode == 1 and "pass --yes" in out.stderr
    assert len(json.loads(run("ls", str(cache_dir), "--json").stdout)) == 4


def test_clear_older_than_removes_only_old_entries(cache_dir: Path) -> None:
    time.sleep(6)  # the new entries are at most a few seconds old when clear looks
    fill(cache_dir, "new")
    out = run("clear", str(cache_dir), "--older-than", "5s", "--yes", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["removed"] == 4
    left = json.loads(run("ls", str(cache_dir), "--json").stdout)
    assert len(left) == 4
    bad = run("clear", str(cache_dir), "--older-than", "soon", "--yes")
    assert bad.returncode == 1 and "--older-than 'soon'" in bad.stderr


def test_clear_a_tier(cache_dir: Path) -> None:
    out = run("clear", str(cache_dir), "--tier", "disk", "--yes")
    assert out.returncode == 0, out.stderr
    assert json.loads(run("ls", str(cache_dir), "--json").stdout) == []
    remote = run("clear", str(cache_dir), "--tier", "remote", "--yes")
    assert remote.returncode == 1 and "no remote tier" in remote.stderr
    bad = run("clear", str(cache_dir), "--tier", "tape", "--yes")
    assert bad.returncode == 1 and "allowed: 'disk', 'remote'" in bad.stderr


def test_verify_and_repair_a_damaged_directory(cache_dir: Path) -> None:
    ok = run("verify", str(cache_dir), "--json")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert json.loads(ok.stdout)["ok"] is True
    # Damage: a large entry's data file disappears.
    data = sorted((cache_dir / "data").iterdir(), key=lambda p: p.stat().st_size)
    data[-1].unlink()
    bad = run("verify", str(cache_dir), "--json")
    assert bad.returncode == 1
    report = json.loads(bad.stdout)
    assert report["ok"] is False and report["problems"]
    fixed = run("verify", str(cache_dir), "--repair", "--json")
    assert json.loads(fixed.stdout)["repaired"] >= 1
    assert json.loads(fixed.stdout)["ok_after_repair"] is True
    assert fixed.returncode == 0  # everything was repaired (issue 16, item 12)
    data = sorted((cache_dir / "data").iterdir(), key=lambda p: p.stat().st_size)
    data[-1].unlink()
    text = run("verify", str(cache_dir), "--repair")
    assert text.returncode == 0 and "OK now" in text.stdout, text.stdout + text.stderr
    again = run("verify", str(cache_dir))
    assert again.returncode == 0 and "OK" in again.stdout


def test_a_named_cache_resolves_through_configuration(tmp_path: Path) -> None:
    directory = tmp_path / "named"
    (tmp_path / "memcache_kit.toml").write_text(
        f'[caches.feat]\nmemory = "1MiB"\ndisk = "8MiB"\ndirectory = "{directory}"\n'
    )
    fill(directory, "n")
    out = run("ls", "feat", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert len(json.loads(out.stdout)) == 4
    assert json.loads(run("stats", "feat", "--json", cwd=tmp_path).stdout)["total"]["loads"] == 4


def test_advise_on_a_real_trace_with_json_and_plot(tmp_path: Path, traces: SyntheticTraces) -> None:
    multi2 = traces / "lirs" / "multi2.trace.gz"
    png = tmp_path / "curve.png"
    out = run("advise", str(multi2), "--json", "--plot", str(png))
    assert out.returncode == 0, out.stderr
    advice = json.loads(out.stdout)
    assert set(advice) == {"points", "recommended", "sampled"}
    budgets = [p["budget"] for p in advice["points"]]
    assert budgets == sorted(budgets) and advice["recommended"] in budgets
    ratios = [p["hit_ratio"] for p in advice["points"]]
    assert ratios == sorted(ratios) and ratios[0] >= 0 and ratios[-1] <= 1
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = run("advise", str(multi2), "--budgets", "100,1000,3000")
    assert table.returncode == 0, table.stderr
    assert "recommended budget" in table.stdout and "entries" in table.stdout
    exact = json.loads(run("advise", str(multi2), "--budgets", "100,1000,3000", "--json").stdout)
    assert [p["budget"] for p in exact["points"]] == [100, 1000, 3000]
    sampled = json.loads(run("advise", str(multi2), "--sample", "0.5", "--json").stdout)
    assert sampled["sampled"] == pytest.approx(0.5, rel=0.01)


def test_advise_errors_are_clear(tmp_path: Path, traces: SyntheticTraces) -> None:
    multi2 = traces / "lirs" / "multi2.trace.gz"
    missing = run("advise", str(tmp_path / "none.trace"))
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    bad = run("advise", str(multi2), "--sample", "7")
    assert bad.returncode == 1 and "sample must be a rate" in bad.stderr
    fmt = run("advise", str(multi2), "--format", "nonsense")
    assert fmt.returncode == 1 and "nonsense" in fmt.stderr
    # issue 16, item 12: byte budgets on a trace without sizes are refused, not read as counts
    sized = run("advise", str(multi2), "--budgets", "64MB")
    assert sized.returncode == 1
    assert "no sizes, so budgets are entry counts" in sized.stderr and "'64MB'" in sized.stderr
    unknown = tmp_path / "mystery.bin"
    unknown.write_bytes(bytes(range(7)) * 3)
    guess = run("advise", str(unknown))
    assert guess.returncode == 1 and "pass --format" in guess.stderr, guess.stderr


def test_advise_prints_one_row_per_budget_label(traces: SyntheticTraces) -> None:
    multi2 = traces / "lirs" / "multi2.trace.gz"
    every = json.loads(run("advise", str(multi2), "--json").stdout)
    out = run("advise", str(multi2))
    assert out.returncode == 0, out.stderr
    rows = [ln for ln in out.stdout.splitlines() if ln.startswith("│") and "%" in ln]
    labels = [r.split("│")[1].strip() for r in rows]
    assert len(labels) == len(set(labels)) <= 25
    assert len(every["points"]) > len(rows)  # --json keeps every point
    assert any("recommended" in r for r in rows)


def on_a_terminal(args: list[str], answer: str) -> subprocess.CompletedProcess[str]:
    """Run with stdin on a pseudo-terminal (so ``clear`` asks), answering ``answer``."""
    import pty

    master, slave = pty.openpty()
    try:
        os.write(master, answer.encode() + b"\n")
        return subprocess.run(
            [sys.executable, "-m", "memcache_kit", *args],
            stdin=slave,
            env={**os.environ, "COLUMNS": "200"},
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        os.close(slave)
        os.close(master)


def test_clear_on_a_terminal_asks_first(cache_dir: Path) -> None:
    no = on_a_terminal(["clear", str(cache_dir)], "n")
    # Declining is the user's answer, not an error (issue 16, item 12).
    assert no.returncode == 0 and "nothing removed" in no.stdout
    assert "error" not in no.stdout + no.stderr
    assert "Remove everything in every tier of cache 'c'" in no.stdout
    assert len(json.loads(run("ls", str(cache_dir), "--json").stdout)) == 4
    yes = on_a_terminal(["clear", str(cache_dir)], "y")
    assert yes.returncode == 0, yes.stderr
    assert json.loads(run("ls", str(cache_dir), "--json").stdout) == []


@pytest.mark.parametrize("command", ["ls", "stats", "verify", "clear"])
def test_a_name_that_does_not_exist_creates_nothing(tmp_path: Path, command: str) -> None:
    # issue 16, item 8: reading a cache must not create one (nor a key file) because of a typo
    home = Path(os.environ["XDG_CACHE_HOME"])
    existing = home / "memcache_kit" / "features"
    fill(existing, "f")
    before = sorted(p.relative_to(home) for p in home.rglob("*"))
    args = [command, "featurs"] + (["--yes"] if command == "clear" else [])
    out = run(*args, cwd=tmp_path)
    assert out.returncode == 1
    assert "no cache named 'featurs' (known: features); did you mean 'features'?" in out.stderr
    assert "Traceback" not in out.stderr
    assert sorted(p.relative_to(home) for p in home.rglob("*")) == before
    assert list(tmp_path.iterdir()) == []


def test_a_bare_stats_on_a_new_machine_creates_nothing(tmp_path: Path) -> None:
    home = Path(os.environ["XDG_CACHE_HOME"])
    data = Path(os.environ["XDG_DATA_HOME"])
    out = run("stats", cwd=tmp_path)
    assert out.returncode == 1
    assert "no cache named 'default' (known: none yet)" in out.stderr
    assert list(home.rglob("*")) == [] and list(data.rglob("*")) == []


def test_version() -> None:
    import memcache_kit as mk

    out = run("--version")
    assert out.returncode == 0
    assert out.stdout.strip() == f"memcache-kit {mk.__version__}"


def test_stats_and_config_show_read_at_80_columns(cache_dir: Path, tmp_path: Path) -> None:
    # issue 16, item 12: nothing is cut ("…") in an 80-column terminal
    fill(cache_dir, "b")
    narrow = {**os.environ, "COLUMNS": "80"}
    deep = tmp_path / ("a-long-directory-name-" * 6) / "cache"
    (tmp_path / "memcache_kit.toml").write_text(f'[caches.x]\ndirectory = "{deep}"\n')
    for args in (["stats", str(cache_dir)], ["config", "show"]):
        out = subprocess.run(
            [sys.executable, "-m", "memcache_kit", *args],
            env=narrow, capture_output=True, text=True, timeout=120, cwd=tmp_path,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert "…" not in out.stdout, out.stdout
        # Tables fit; a bare path longer than the terminal stays whole on its line.
        rows = [ln for ln in out.stdout.splitlines() if ln[:1] in "┏┃┡│└"]
        assert rows and max(map(len, rows)) <= 80
