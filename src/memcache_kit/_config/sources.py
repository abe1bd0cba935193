"""Configuration sources: files, ``pyproject.toml`` tables and the environment, each read into
a validated ``Layer``; layers merged and resolved into the effective settings of a cache."""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import _sizes
from .._errors import ConfigError

__all__ = [
    "check_effective",
    "discover",
    "env_layer",
    "file_layer",
    "find_upward",
    "mapping_layer",
    "merge",
    "read_toml",
    "resolve",
    "resolve_top",
]

from .values import (
    CACHE_KEYS,
    ENV_PREFIX,
    NAME_PATTERN,
    TOP_KEYS,
    Layer,
    Origin,
    Validator,
    Value,
    _Ctx,
    _existing,
    _Invalid,
    _suggest,
    _unknown,
    cache_defaults,
    directory_problem,
    normalize_name,
    sharing_problem,
    top_defaults,
)

# -- sources -> layers -------------------------------------------------------------------------


def _check_table(
    table: Mapping[str, Any],
    keys: dict[str, Validator],
    origin: Origin,
    tname: str,
    cache: str | None,
    errors: list[str],
    source: str,
) -> dict[str, Value]:
    out: dict[str, Value] = {}
    ctx = _Ctx(origin, cache, table)
    for key, raw in table.items():
        validator = keys.get(key)
        if validator is None:
            where = f"{origin.label} [{'.'.join(p for p in (origin.prefix, tname) if p)}]"
            if not (origin.prefix or tname):
                where = f"{origin.label} (top level)"
            errors.append(f"{where}: {_unknown(key, keys, cache is None)}")
            continue
        try:
            out[key] = Value(validator(raw, ctx), raw, source)
        except _Invalid as e:
            errors.append(f"{origin.where(tname, key, raw)}: {e}")
    return out


def mapping_layer(data: Mapping[str, Any], origin: Origin, source: str) -> tuple[Layer, list[str]]:
    """Validate a mapping of the file's shape; returns the layer and every problem found."""
    errors: list[str] = []
    layer = Layer()
    if not isinstance(data, Mapping):
        return layer, [f"{origin.label}: expected a table (mapping), got {type(data).__name__}"]
    top = {k: v for k, v in data.items() if k != "caches"}
    layer.top = _check_table(top, TOP_KEYS, origin, "", None, errors, source)
    caches = data.get("caches", {})
    if not isinstance(caches, Mapping):
        errors.append(f"{origin.where('', 'caches', caches)}: expected a table of caches")
        return layer, errors
    for name, table in caches.items():
        tname = f"caches.{name}"
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            full = ".".join(p for p in (origin.prefix, tname) if p)
            errors.append(
                f"{origin.label} [{full}]: cache name {name!r} is not allowed "
                "(letters, digits, '_', '-' and '.', not starting with '.' or '-')"
            )
            continue
        if not isinstance(table, Mapping):
            errors.append(f"{origin.where('caches', name, table)}: expected a table of keys")
            continue
        layer.caches[name] = _check_table(table, CACHE_KEYS, origin, tname, name, errors, source)
    return layer, errors


def read_toml(path: Path, label: str | None = None) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{label or path}: TOML syntax error: {e}") from None
    except OSError as e:
        raise ConfigError(f"{label or path}: cannot read the file: {e.strerror}") from None


def file_layer(path: Path, source: str | None = None) -> tuple[Layer, list[str]]:
    """A ``memcache_kit.toml`` file, or the ``[tool.memcache_kit]`` table of a pyproject.toml."""
    path = path.expanduser().absolute()
    data = read_toml(path)
    origin = Origin(str(path), base=path.parent)
    if path.name == "pyproject.toml":
        origin = Origin(str(path), prefix="tool.memcache_kit", base=path.parent)
        tool = data.get("tool", {})
        data = tool.get("memcache_kit", {}) if isinstance(tool, Mapping) else {}
    return mapping_layer(data, origin, source or str(path))


def find_upward(start: Path, filename: str) -> Path | None:
    for d in (start, *start.parents):
        candidate = d / filename
        if candidate.is_file():
            return candidate
    return None


def has_tool_table(pyproject: Path) -> bool:
    tool = read_toml(pyproject).get("tool", {})
    return isinstance(tool, Mapping) and "memcache_kit" in tool


def env_layer(environ: Mapping[str, str], declared: set[str]) -> tuple[Layer, list[str], list[str]]:
    """``MEMCACHE_KIT__<KEY>`` and ``MEMCACHE_KIT__<CACHE>__<KEY>``: (layer, errors, notes).

    Cache names are matched case-insensitively with ``-`` written ``_`` (``declared`` holds the
    normalized names other sources declare); ``notes`` are "did you mean" warnings for an
    undeclared name close to a declared one.
    """
    layer = Layer()
    errors: list[str] = []
    notes: list[str] = []
    origin = Origin("environment", env=True)
    for var in sorted(environ):
        if not var.upper().startswith(ENV_PREFIX):
            continue
        raw = environ[var]
        parts = var[len(ENV_PREFIX) :].split("__")
        if len(parts) == 1 and parts[0]:
            key = parts[0].lower()
            if key not in TOP_KEYS:
                hint = _suggest(key, sorted(TOP_KEYS))
                if key in CACHE_KEYS:
                    hint = f"; per-cache keys are written MEMCACHE_KIT__<CACHE>__{key.upper()}"
                errors.append(
                    f"environment variable {var}: unknown top-level key {key!r}{hint} "
                    f"(top-level keys: {', '.join(sorted(TOP_KEYS))})"
                )
                continue
            ctx = _Ctx(origin, None, {})
            try:
                layer.top[key] = Value(TOP_KEYS[key](raw, ctx), raw, var)
            except _Invalid as e:
                errors.append(f"{origin.where('', key, raw, var)}: {e}")
            continue
        if len(parts) != 2 or not all(parts):
            errors.append(
                f"environment variable {var}: malformed name; write MEMCACHE_KIT__<KEY> or "
                "MEMCACHE_KIT__<CACHE>__<KEY> (names case-insensitive, '-' written '_')"
            )
            continue
        name, key = normalize_name(parts[0]), parts[1].lower()
        if key not in CACHE_KEYS:
            errors.append(f"environment variable {var}: {_unknown(key, CACHE_KEYS, False)}")
            continue
        table = layer.caches.setdefault(name, {})
        ctx = _Ctx(origin, name, {})
        try:
            table[key] = Value(CACHE_KEYS[key](raw, ctx), raw, var)
        except _Invalid as e:
            errors.append(f"{origin.where('', key, raw, var)}: {e}")
        if name not in declared:
            close = difflib.get_close_matches(name, sorted(declared), n=1, cutoff=0.6)
            if close:
                notes.append(
                    f"environment variable {var} names cache {name!r}, which no configuration "
                    f"declares; it is declared now. Did you mean {close[0]!r}?"
                )
    return layer, errors, notes


def merge(low: Layer, high: Layer) -> Layer:
    """``high`` over ``low``, key by key (a new Layer; inputs untouched)."""
    out = Layer(dict(low.top), {n: dict(t) for n, t in low.caches.items()})
    out.top.update(high.top)
    for name, table in high.caches.items():
        out.caches.setdefault(name, {}).update(table)
    return out


def resolve(name: str, layers: list[Layer], env: Layer | None) -> dict[str, Value]:
    """The effective settings of cache ``name``: defaults, then ``layers`` low to high, then env."""
    eff = cache_defaults(name)
    for layer in layers:
        eff.update(layer.caches.get(name, {}))
    if env is not None:
        eff.update(env.caches.get(normalize_name(name), {}))
    disk = eff["disk"]
    # A share of "the filesystem" means the one the effective directory lives on.
    if isinstance(disk.raw, str) and disk.raw.strip().endswith("%"):
        n = _sizes.parse_size(disk.raw, of="disk", path=str(_existing(eff["directory"].value)))
        eff["disk"] = Value(n, disk.raw, disk.source)
    return eff


def resolve_top(layers: list[Layer], env: Layer | None) -> dict[str, Value]:
    eff = top_defaults()
    for layer in [*layers, *([env] if env else [])]:
        eff.update(layer.top)
    return eff


def check_effective(name: str, eff: Mapping[str, Value]) -> None:
    """Checks that span keys: a disk tier needs a usable, private (or allowed) directory."""
    if not eff["disk"].value:
        return
    d: Value = eff["directory"]
    path = Path(d.value)
    problem = directory_problem(path)
    if problem is None and not eff["allow_shared_directory"].value:
        problem = sharing_problem(path)
    if problem:
        src = d.source if d.source != "default" else "the default directory"
        raise ConfigError(f"cache {name!r}: directory {str(path)!r} (from {src}): {problem}")


def discover(cwd: Path, environ: Mapping[str, str]) -> list[tuple[str, Path]]:
    """Files found on their own, lowest precedence first: (what found it, path)."""
    found: list[tuple[str, Path]] = []
    pyproject = find_upward(cwd, "pyproject.toml")
    if pyproject is not None and has_tool_table(pyproject):
        found.append(("pyproject.toml [tool.memcache_kit]", pyproject))
    toml = find_upward(cwd, "memcache_kit.toml")
    if toml is not None:
        found.append(("memcache_kit.toml", toml))
    named = environ.get("MEMCACHE_KIT_CONFIG")
    if named:
        path = (cwd / Path(named).expanduser()).absolute()
        if not path.is_file():
            raise ConfigError(
                f"environment variable MEMCACHE_KIT_CONFIG={named!r}: no such file "
                f"({str(path)!r}); point it at a memcache_kit.toml or unset it"
            )
        found.append(("MEMCACHE_KIT_CONFIG", path))
    return found
