"""Without an optional extra, each feature that needs it says so in one line naming the extra
(issue 16, item 5). The package is really absent for the child process: its import is blocked
(``sys.modules[name] = None`` makes ``import name`` fail as a missing package does)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def without(module: str, code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    script = f"import sys\nsys.modules[{module!r}] = None\n" + textwrap.dedent(code)
    return subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip


def test_the_demo_without_numpy_says_which_extra(tmp_path: Path) -> None:
    out = without(
        "numpy",
        """
        sys.argv = ["memcache-kit", "demo", "--directory", sys.argv[1] + "/demo"]
        from memcache_kit._cli import main
        main()
        """,
        tmp_path,
    )
    assert out.returncode == 1
    assert out.stderr.strip() == (
        "error: the demo (its items are numpy arrays) needs numpy: "
        "pip install 'memcache_kit[numpy]'"
    )
    assert not (tmp_path / "demo").exists()


@pytest.mark.parametrize(
    ("module", "code", "says"),
    [
        (
            "redis",
            "mk.Cache('r', memory='1MiB', disk=None, remote='redis://127.0.0.1:1/0')",
            "a remote tier (remote=...) needs redis: pip install 'memcache_kit[redis]'",
        ),
        (
            "numpy",
            "mk.open_array(sys.argv[1] + '/a.npy')",
            "open_array() needs numpy: pip install 'memcache_kit[numpy]'",
        ),
        (
            "numpy",
            "mk.materialize([1, 2], sys.argv[1] + '/a.npy')",
            "materialize() needs numpy: pip install 'memcache_kit[numpy]'",
        ),
    ],
)
def test_a_feature_without_its_extra_raises_one_line(
    tmp_path: Path, module: str, code: str, says: str
) -> None:
    out = without(
        module,
        f"""
        import memcache_kit as mk
        try:
            {code}
        except ImportError as e:
            print(type(e).__name__, e)
        """,
        tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"MissingExtra {says}"
