"""The table of intended differences is the docs' "Differences" sections, and names real tests."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

from adapter import DIFFERENCES

ROOT = Path(__file__).resolve().parents[2]
HEADINGS = {
    "docs/decorators.md": "## Differences from functools",
    "docs/lazy.md": "## Differences from lazy-object-proxy",
}
sys.path.insert(0, str(Path(__file__).parent / "peers"))


def bullets(page: str) -> list[str]:
    """The bullets of the page's Differences section, each joined into one line."""
    text = (ROOT / page).read_text()
    heading = HEADINGS[page]
    assert heading in text, f"{page} has no section {heading!r}"
    section = text.split(heading, 1)[1]
    section = re.split(r"\n## ", section, maxsplit=1)[0]
    items: list[str] = []
    for line in section.splitlines():
        if line.startswith("- "):
            items.append(line[2:].strip())
        elif line.startswith("  ") and items and line.strip():
            items[-1] += " " + line.strip()
    return items


def test_each_page_states_exactly_the_tables_differences() -> None:
    for page in HEADINGS:
        said = {d.says for d in DIFFERENCES.values() if d.page == page}
        assert said, page
        assert set(bullets(page)) == said, page


def test_every_listed_test_exists() -> None:
    modules = {
        "test_cpython_lru.py": importlib.import_module("cpython_lru").TestLRU,
        "test_lazy_object_proxy.py": importlib.import_module("test_lazy_object_proxy"),
        "test_documented.py": importlib.import_module("test_documented"),
    }
    for name in DIFFERENCES:
        file, *path = name.split("::")
        owner = modules[file]
        assert hasattr(owner, path[-1].split("[")[0]), name
