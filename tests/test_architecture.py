"""The house rules of docs/architecture.md, read from the source with ``ast``.

1. Imports run one way, from the user's front door to the leaves (the layers below), and
   never in a cycle, counting every import: at module level, inside functions and under
   ``TYPE_CHECKING`` (a type-only cycle is still two modules that need each other).
2. A module outside a subpackage uses it through its face (the ``__init__``), never by
   importing one of its modules.
3. Nothing outside ``_cache/`` reads an underscore attribute of a ``Cache``: the fronts, the
   CLI and the report use its public API and the handle ``_cache`` documents.

Each check is a pure function of a source tree, so the tests below also run it on a copy with a
deliberate violation planted, to show that it can fail.
"""

from __future__ import annotations

import ast
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "memcache_kit"

# Layers, front door first: a module may import modules of a lower layer, and of its own layer
# only within its own room (the longest prefix below). The leaves may import each other.
LAYERS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (8, ("__main__",)),
    (7, ("_cli",)),  # the command line uses the public face, as a user would
    (6, ("",)),
    (5, ("_front", "_observe.advisor", "_observe.report")),
    (4, ("_config",)),
    (3, ("_cache",)),
    (2, ("_observe",)),
    (1, ("_tiers.memory", "_tiers.disk", "_tiers.redis", "_tiers")),
    (0, ("_keys", "_sizes", "_serial", "_shapes", "_errors", "_settings")),
)
LEAF = 0
# Rooms every module of the same layer may use (the tier interface, the locks' polling).
SHARED = {"_tiers", "_tiers.base", "_tiers.locks"}
# Modules that stand in front of ``Cache`` inside a room below it: imported by their own name.
FRONT_MODULES = {"_observe.advisor", "_observe.report"}


@dataclass(frozen=True)
class Import:
    importer: str  # module name inside the package ("" is the package's __init__)
    line: int
    statement_module: str  # X of "from X import ..." or of "import X"
    target: str  # the module this import runs (a submodule when a name is one)
    names: tuple[str, ...]

    def where(self, root: Path) -> str:
        return f"{_path_of(root, self.importer)}:{self.line}"


def _modules(root: Path) -> dict[str, Path]:
    found = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _path_of(root: Path, module: str) -> str:
    path = _modules(root)[module]
    return str(path.relative_to(root.parent))


def _is_package(root: Path, module: str) -> bool:
    return root.joinpath(*module.split("."), "__init__.py").is_file() or module == ""


def _parent(module: str) -> str:
    return module.rpartition(".")[0]


def imports(root: Path) -> Iterator[Import]:
    modules = _modules(root)
    for module, path in sorted(modules.items()):
        package = module if _is_package(root, module) else _parent(module)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".") if package else []
                    base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                    mod = ".".join([*filter(None, base), *filter(None, [node.module or ""])])
                elif node.module and node.module.split(".")[0] == "memcache_kit":
                    mod = node.module.partition(".")[2]
                else:
                    continue
                for alias in node.names:
                    sub = f"{mod}.{alias.name}" if mod else alias.name
                    target = sub if sub in modules else mod
                    yield Import(module, node.lineno, mod, target, (alias.name,))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == "memcache_kit":
                        mod = alias.name.partition(".")[2]
                        yield Import(module, node.lineno, mod, mod, ())


def _layer(module: str) -> tuple[int, str]:
    best: tuple[int, str] | None = None
    for rank, prefixes in LAYERS:
        for p in prefixes:
            inside = module == p or (p != "" and module.startswith(p + "."))
            if inside and (best is None or len(p) > len(best[1])):
                best = (rank, p)
    assert best is not None, module
    return best


def _executed(imp: Import) -> list[str]:
    """The modules an import runs: its target and the packages above it that are not the
    importer's own (Python runs a package's __init__ before any module in it)."""
    out = [imp.target]
    parts = imp.target.split(".")
    for i in range(1, len(parts)):
        pkg = ".".join(parts[:i])
        own = imp.importer == pkg or imp.importer.startswith(pkg + ".")
        if not own:
            out.append(pkg)
    return out


def direction_problems(root: Path) -> list[str]:
    problems = []
    for imp in imports(root):
        rank, room = _layer(imp.importer)
        t_rank, t_room = _layer(imp.target)
        if t_rank < rank or (t_rank == rank and (room == t_room or rank == LEAF)):
            continue
        if t_rank == rank and (t_room in SHARED or imp.target in SHARED):
            continue
        problems.append(
            f"{imp.where(root)}: {imp.importer or 'memcache_kit'} (layer {rank}, {room or '/'}) "
            f"imports {imp.target} (layer {t_rank}, {t_room}): against the direction"
        )
    return problems


def face_problems(root: Path) -> list[str]:
    problems = []
    for imp in imports(root):
        x = imp.statement_module
        if _is_package(root, x):
            sub = imp.target
            if sub != x and not _inside(imp.importer, x) and sub not in FRONT_MODULES:
                exported = _face_names(root, x)
                if sub.rpartition(".")[2] not in exported:
                    problems.append(
                        f"{imp.where(root)}: imports the module {sub}, which the face of "
                        f"{x or 'memcache_kit'} does not export"
                    )
            continue
        if x in FRONT_MODULES or _inside(imp.importer, _parent(x)):
            continue
        problems.append(
            f"{imp.where(root)}: imports {x} from outside {_parent(x)}: use its face "
            f"({_parent(x)}/__init__.py)"
        )
    return problems


def _inside(module: str, package: str) -> bool:
    return package == "" or module == package or module.startswith(package + ".")


def _face_names(root: Path, package: str) -> set[str]:
    init = root.joinpath(*filter(None, package.split(".")), "__init__.py")
    for node in ast.parse(init.read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return {ast.literal_eval(e) for e in node.value.elts}  # type: ignore[attr-defined]
    return set()


def cycles(root: Path) -> list[str]:
    graph: dict[str, dict[str, Import]] = {}
    for imp in imports(root):
        for target in _executed(imp):
            if target != imp.importer:
                graph.setdefault(imp.importer, {}).setdefault(target, imp)
    # Tarjan's strongly connected components; each component of two or more is a cycle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    out = []
    for comp in found:
        members = set(comp)
        edges = [
            f"{imp.where(root)} ({src} -> {dst})"
            for src in comp
            for dst, imp in graph.get(src, {}).items()
            if dst in members
        ]
        out.append("cycle " + " <-> ".join(comp) + ": " + "; ".join(edges))
    return out


# -- the door into Cache --------------------------------------------------------------------


def cache_private_names(root: Path) -> set[str]:
    """Underscore attributes a ``Cache`` has: assigned as ``self._x`` or defined as ``_x`` in
    the classes of ``_cache/``."""
    names: set[str] = set()
    for path in (root / "_cache").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ClassDef):
                continue
            for sub in ast.walk(node):
                if isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef):
                    if sub.name.startswith("_") and not sub.name.startswith("__"):
                        names.add(sub.name)
                elif isinstance(sub, ast.AnnAssign) and isinstance(sub.target, ast.Name):
                    if sub.target.id.startswith("_") and not sub.target.id.startswith("__"):
                        names.add(sub.target.id)
                elif (
                    isinstance(sub, ast.Attribute)
                    and isinstance(sub.value, ast.Name)
                    and sub.value.id == "self"
                    and sub.attr.startswith("_")
                    and not sub.attr.startswith("__")
                ):
                    names.add(sub.attr)
    return names


def private_reach(root: Path) -> list[str]:
    names = cache_private_names(root)
    problems = []
    for module, path in sorted(_modules(root).items()):
        if _inside(module, "_cache"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            attr = None
            if isinstance(node, ast.Attribute) and node.attr in names:
                if not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                    attr = node.attr
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("getattr", "setattr", "hasattr")
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
                and node.args[1].value in names
            ):
                attr = str(node.args[1].value)
            if attr is not None:
                problems.append(
                    f"{path.relative_to(root.parent)}:{node.lineno}: reads {attr}, a private "
                    "attribute of Cache: use its public API or the handle (_cache.door)"
                )
    return problems


# -- the tests ------------------------------------------------------------------------------


def test_no_import_cycles() -> None:
    assert cycles(SRC) == []


def test_imports_run_from_the_front_door_to_the_leaves() -> None:
    assert direction_problems(SRC) == []


def test_subpackages_are_used_through_their_faces() -> None:
    assert face_problems(SRC) == []


def test_nothing_outside_cache_reads_its_private_attributes() -> None:
    assert cache_private_names(SRC) >= {"_memory", "_disk", "_get_or_load", "_costs"}
    assert private_reach(SRC) == []


def test_every_module_has_a_layer_and_stays_short() -> None:
    long = []
    for module, path in _modules(SRC).items():
        _layer(module)  # raises for a module no layer names
        n = len(path.read_text().splitlines())
        if n > 520:
            long.append(f"{path.relative_to(SRC.parent)}: {n} lines")
    assert long == []


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    copy = tmp_path / "memcache_kit"
    shutil.copytree(SRC, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def _plant(tree: Path, module: str, line: str) -> None:
    path = tree.joinpath(*module.split(".")).with_suffix(".py")
    if not path.exists():
        path = tree.joinpath(*module.split("."), "__init__.py")
    path.write_text(path.read_text() + "\n" + line + "\n")


def test_a_planted_cycle_is_named(tree: Path) -> None:
    _plant(tree, "_keys.labels", "from .cachekey import CacheKey")
    found = cycles(tree)
    assert any("_keys.cachekey" in c and "_keys.labels" in c for c in found), found
    assert any("labels.py" in c for c in found)


def test_a_planted_type_only_cycle_is_named(tree: Path) -> None:
    _plant(
        tree,
        "_tiers.memory.hit",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .tier import MemoryTier",
    )
    assert any("_tiers.memory.hit" in c for c in cycles(tree))


def test_an_import_against_the_direction_is_named(tree: Path) -> None:
    _plant(tree, "_tiers.disk.tier", "def _f() -> None:\n    from ..._cache import Cache")
    found = direction_problems(tree)
    assert len(found) == 1 and "_tiers.disk.tier" in found[0] and "_cache" in found[0], found
    _plant(tree, "_sizes.walk", "from .._front import lazy")
    assert any("_sizes.walk" in p for p in direction_problems(tree))


def test_a_tier_importing_another_tier_is_named(tree: Path) -> None:
    _plant(tree, "_tiers.memory.tier", "from ..disk import DiskTier")
    assert any("_tiers.memory.tier" in p for p in direction_problems(tree))


def test_an_import_past_a_face_is_named(tree: Path) -> None:
    _plant(tree, "_front.core", "from .._tiers.disk.tier import DiskTier")
    found = face_problems(tree)
    assert len(found) == 1 and "_tiers.disk.tier" in found[0], found


def test_a_private_reach_into_cache_is_named(tree: Path) -> None:
    _plant(tree, "_front.lazy", "def _f(cache: object) -> object:\n    return cache._memory")
    _plant(tree, "_cli.commands", "def _g(c: object) -> object:\n    return getattr(c, '_disk')")
    found = private_reach(tree)
    assert len(found) == 2, found
    assert any("lazy.py" in p and "reads _memory" in p for p in found), found
    assert any("commands.py" in p and "reads _disk" in p for p in found), found
