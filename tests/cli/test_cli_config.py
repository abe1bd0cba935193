"""``memcache-kit config check|show`` through the real entry points, in subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

GOOD = """
total_memory = "64MiB"

[caches.features]
memory = "8MiB"
disk = "32MiB"
ttl = "7d"
"""

BAD = """
[caches.features]
memroy = "8MiB"
durability = "fsync"
"""


def run(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "memcache_kit", *args],
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_a_bad_file_exits_non_zero_and_names_each_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(BAD)
    out = run("config", "check", "bad.toml", cwd=tmp_path)
    assert out.returncode == 1
    text = " ".join(out.stdout.split())
    assert f"{bad} [caches.features]: unknown key 'memroy'; did you mean 'memory'?" in text
    assert "durability = 'fsync': allowed: 'fast', 'strict'" in text


def test_check_a_toml_syntax_error(tmp_path: Path) -> None:
    (tmp_path / "broken.toml").write_text("[caches.features\nmemory = 1\n")
    out = run("config", "check", "broken.toml", "--json", cwd=tmp_path)
    assert out.returncode == 1
    report = json.loads(out.stdout)
    assert report["ok"] is False
    (problem,) = report["sources"][0]["problems"]
    assert "TOML syntax error" in problem and "line 1" in problem


def test_check_a_good_file(tmp_path: Path) -> None:
    (tmp_path / "good.toml").write_text(GOOD)
    out = run("config", "check", "good.toml", cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.startswith("OK ")


def test_check_the_discovered_sources(tmp_path: Path) -> None:
    (tmp_path / "memcache_kit.toml").write_text(GOOD)
    sub = tmp_path / "sub"
    sub.mkdir()
    out = run("config", "check", cwd=sub)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"OK {tmp_path / 'memcache_kit.toml'}" in out.stdout
    assert "OK environment" in out.stdout
    out = run("config", "check", cwd=sub, env={"MEMCACHE_KIT__FEATURES__DISK": "-1GiB"})
    assert out.returncode == 1
    assert "MEMCACHE_KIT__FEATURES__DISK='-1GiB'" in out.stdout


def test_show_json_names_where_each_value_came_from(tmp_path: Path) -> None:
    (tmp_path / "memcache_kit.toml").write_text(GOOD)
    out = run(
        "config", "show", "--json", cwd=tmp_path, env={"MEMCACHE_KIT__FEATURES__MEMORY": "4MiB"}
    )
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    toml = str(tmp_path / "memcache_kit.toml")
    assert info["files"] == [{"found_by": "memcache_kit.toml", "path": toml}]
    assert info["settings"]["total_memory"] == {"value": 64 * 2**20, "raw": "64MiB", "source": toml}
    keys = info["caches"]["features"]["keys"]
    assert keys["memory"] == {
        "value": 4 * 2**20,
        "raw": "4MiB",
        "source": "MEMCACHE_KIT__FEATURES__MEMORY",
    }
    assert keys["disk"]["source"] == toml
    assert keys["ttl"]["value"] == 7 * 86400.0
    assert keys["durability"] == {"value": "fast", "raw": "fast", "source": "default"}
    assert set(info["caches"]) == {"default", "features"}


def test_show_as_tables_and_its_errors(tmp_path: Path) -> None:
    (tmp_path / "memcache_kit.toml").write_text(GOOD)
    out = run("config", "show", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "cache 'features'" in out.stdout
    assert "8MiB (8,388,608 bytes)" in out.stdout
    (tmp_path / "memcache_kit.toml").write_text(BAD)
    out = run("config", "show", cwd=tmp_path)
    assert out.returncode == 1
    assert "unknown key 'memroy'" in " ".join(out.stderr.split())


def test_the_console_script_is_the_same_entry_point(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "memcache-kit"
    (tmp_path / "bad.toml").write_text(BAD)
    out = subprocess.run(
        [str(script), "config", "check", "bad.toml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1
    assert "unknown key 'memroy'" in out.stdout
    helptext = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, timeout=120
    ).stdout
    assert "config" in helptext and "demo" in helptext


def test_import_does_not_pull_heavy_packages() -> None:
    code = textwrap.dedent(
        """
        import sys, memcache_kit._cli.commands
        heavy = {"numpy", "pandas", "torch", "redis", "matplotlib", "rich"} & set(sys.modules)
        print(sorted(heavy))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_show_prints_an_environment_note_as_a_line_not_a_python_warning(tmp_path: Path) -> None:
    # issue 16, item 12: a did-you-mean about an environment variable came out as a raw
    # "…/registry.py:282: CacheWarning: ..." line
    (tmp_path / "memcache_kit.toml").write_text('[caches.features]\nmemory = "1MiB"\n')
    env = {**os.environ, "MEMCACHE_KIT__FEATURS__MEMORY": "1GiB", "COLUMNS": "200"}
    out = subprocess.run(
        [sys.executable, "-m", "memcache_kit", "config", "show"],
        env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stderr.startswith("note: environment variable MEMCACHE_KIT__FEATURS__MEMORY")
    assert "Did you mean 'features'?" in out.stderr
    assert "CacheWarning" not in out.stderr and ".py:" not in out.stderr
