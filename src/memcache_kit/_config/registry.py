"""Named caches and configuration: ``get_cache``, ``configure``, files and the environment.

Precedence, highest first: the environment (``MEMCACHE_KIT__<KEY>``,
``MEMCACHE_KIT__<CACHE>__<KEY>``); ``configure()``; the file named by ``MEMCACHE_KIT_CONFIG``;
``memcache_kit.toml`` from the working directory upward; ``[tool.memcache_kit]`` in the nearest
``pyproject.toml``; the defaults. Validation lives in ``values``, reading sources in ``sources``.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._cache import Cache, handle, set_adopter
from .._errors import CacheWarning, ConfigError
from .._settings import settings
from .._tiers.memory import governor
from . import sources, values
from .values import Layer, Origin, Value

__all__ = ["configure", "get_cache"]

# Keys handed to Cache(...).
_CACHE_ARGS = (
    "memory",
    "disk",
    "directory",
    "ttl",
    "serializer",
    "copy",
    "write_through",
    "spill",
    "durability",
    "verify_arrays",
    "allow_shared_directory",
    "network_filesystem",
    "lock_timeout",
    "policy",
    "record",
    "remote",
    "remote_budget",
    "remote_timeout",
)
_BUDGETS = {"memory": "memory_budget", "disk": "disk_budget", "remote_budget": "remote_budget"}
RECORD_ENV = "MEMCACHE_KIT_RECORD"

_lock = threading.RLock()
_caches: dict[str, Cache] = {}
_built: dict[str, dict[str, Value]] = {}  # what each live cache was built with
_configured = Layer()  # every configure() call, merged
_files: list[tuple[str, Path, Layer]] | None = None  # discovered at the first get_cache
_noted: set[str] = set()  # "did you mean" warnings already given
_applied: set[str] = set()  # process-wide settings configuration has set
_UNSET = object()
_told: dict[str, dict[str, Any]] = {}  # changes a live cache was warned it keeps out


def _after_fork_in_child() -> None:
    # Another thread may have held the lock at fork; the child's copy would never be released.
    # The child keeps the inherited instances (each Cache reopens its connections after a fork).
    global _lock
    _lock = threading.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def get_cache(name: str = "default") -> Cache:
    """The process's one instance of the named cache, built from configuration or defaults.

    The first call reads and validates the configuration files found on their own (their
    errors name the file); the environment is read whenever a cache is built.
    """
    cache = _caches.get(name)
    if cache is not None:
        return cache
    if not isinstance(name, str) or not values.NAME_PATTERN.match(name):
        raise ValueError(
            f"cache name {name!r} is not allowed: use letters, digits, '_', '-' and '.', "
            "not starting with '.' or '-'"
        )
    with _lock:
        cache = _caches.get(name)
        if cache is not None:
            return cache
        files, env = _discovered(), _env()
        _apply_settings(sources.resolve_top([*files, _configured], env))
        eff = sources.resolve(name, [*files, _configured], env)
        sources.check_effective(name, eff)
        args = {k: eff[k].value for k in _CACHE_ARGS}
        record = _record_env()
        if record is not None:
            args["record"] = record
        cache = Cache(name, **args)
        handle(cache).mark_named()
        _caches[name] = cache
        _built[name] = eff
        return cache


def disk_directory(name: str) -> Path | None:
    """The directory the named cache's disk tier uses, from configuration and defaults,
    without building the cache or creating anything (None: it has no disk tier)."""
    if not isinstance(name, str) or not values.NAME_PATTERN.match(name):
        raise ValueError(f"cache name {name!r} is not allowed")
    with _lock:
        cache = _caches.get(name)
        if cache is not None:
            return Path(cache.directory) if cache.directory is not None else None
        eff = sources.resolve(name, [*_discovered(), _configured], _env())
    if not eff["disk"].value:
        return None
    directory = eff["directory"].value
    return Path(directory) if directory is not None else values.default_directory(name)


def known_names() -> list[str]:
    """Names of caches that exist on this machine for this user: configured ones whose
    directory holds a cache, and the caches in the default cache root."""
    with _lock:
        files = _discovered()
        declared = {"default", *_configured.caches, *_caches}.union(
            *(layer.caches for layer in files)
        )
    found = set()
    for name in declared:
        directory = disk_directory(name)
        if directory is not None and (directory / "cache.db").is_file():
            found.add(name)
    root = values.default_directory("default").parent
    if root.is_dir():
        found.update(p.name for p in root.iterdir() if (p / "cache.db").is_file())
    return sorted(found)


def _adopt(name: str, settings: dict[str, Any]) -> Cache:
    """A named cache unpickled here (sent to a spawned worker, say): the process's instance of
    that name when it has one with the same settings; else the rebuilt cache becomes that
    instance, so ``get_cache(name)`` in the worker (a decorator's ``cache="name"``) finds it
    instead of building a second memory tier over the same directory. A process whose instance
    of the name differs keeps it, and the rebuilt cache stays independent."""
    with _lock:
        cache = _caches.get(name)
        if cache is not None and handle(cache).settings() == settings:
            return cache
        eff: dict[str, Value] | None = None
        if cache is None and values.NAME_PATTERN.match(name):
            # As get_cache() would: the process-wide settings (the secret file that signed
            # the entries) from configuration, and what configure() later compares with.
            try:
                files, env = _discovered(), _env()
                _apply_settings(sources.resolve_top([*files, _configured], env))
                eff = sources.resolve(name, [*files, _configured], env)
            except ConfigError:
                eff = None  # get_cache() here would raise it; the rebuilt cache still works
        rebuilt = Cache(name, **settings)
        if eff is not None:
            handle(rebuilt).mark_named()
            _caches[name] = rebuilt
            _built[name] = eff
        return rebuilt


set_adopter(_adopt)


def configure(source: str | Path | Mapping[str, Any]) -> None:
    """Validate ``source`` (a TOML file or a mapping of the same shape) at once and merge it.

    Later calls override earlier ones key by key. Budget changes reach live caches at once;
    other changes apply to named caches built afterwards (a ``CacheWarning`` names each live
    cache that keeps its old settings). ``total_memory`` and ``secret_file`` apply at once.
    """
    global _configured
    layer = _load(source)
    notes: list[str] = []
    with _lock:
        merged = sources.merge(_configured, layer)
        files = [f[2] for f in _files] if _files is not None else []
        env = _env()
        for name in layer.caches:
            sources.check_effective(name, sources.resolve(name, [*files, merged], env))
        _configured = merged
        _apply_settings(sources.resolve_top([*files, merged], env))
        for name, cache in list(_caches.items()):
            notes += _update_live(name, cache, sources.resolve(name, [*files, merged], env))
    for note in notes:
        warnings.warn(note, CacheWarning, stacklevel=2)


def _load(source: str | Path | Mapping[str, Any]) -> Layer:
    if isinstance(source, Mapping):
        layer, errors = sources.mapping_layer(source, Origin("configure() mapping"), "configure()")
    elif isinstance(source, str | os.PathLike):
        path = Path(source).expanduser().absolute()
        if not path.is_file():
            raise ConfigError(f"configure({str(source)!r}): no such file ({str(path)!r})")
        layer, errors = sources.file_layer(path, source=f"configure({path})")
    else:
        raise TypeError(
            f"configure() takes a path to a TOML file or a mapping, not {type(source).__name__}"
        )
    if errors:
        raise ConfigError("\n".join(errors))
    return layer


def _update_live(name: str, cache: Cache, new: dict[str, Value]) -> list[str]:
    old = _built[name]
    kept: list[str] = []
    for key in _CACHE_ARGS:
        if new[key].value == old[key].value:
            continue
        if key in _BUDGETS:
            try:
                setattr(cache, _BUDGETS[key], new[key].value)
            except ValueError as e:
                kept.append(f"{key}={new[key].raw!r} ({e})")
                continue
            old[key] = new[key]
        elif _told.setdefault(name, {}).get(key, _UNSET) != new[key].value:
            # Say it once per new value, not at every later configure() call.
            _told[name][key] = new[key].value
            kept.append(f"{key}={new[key].raw!r}")
    if not kept:
        return []
    return [
        f"memcache_kit.configure(): the live cache {name!r} keeps its current settings for "
        f"{', '.join(kept)}; they apply to caches built afterwards (the next process, or "
        "configure() before the first get_cache)"
    ]


def _record_env() -> bool | Path | None:
    """``MEMCACHE_KIT_RECORD``: a trace file every named cache appends to (``1``/``true``: each
    cache's own ``<directory>/trace/<pid>.mktrace``; ``0``/``false``: off), or None (unset)."""
    raw = os.environ.get(RECORD_ENV, "").strip()
    if not raw:
        return None
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    return Path(raw).expanduser().absolute()


def _discovered() -> list[Layer]:
    """The files found on their own, read once per process (a failed read is retried)."""
    global _files
    if _files is None:
        found: list[tuple[str, Path, Layer]] = []
        errors: list[str] = []
        for kind, path in sources.discover(Path.cwd(), os.environ):
            layer, errs = sources.file_layer(path)
            errors += errs
            found.append((kind, path, layer))
        if errors:
            raise ConfigError("\n".join(errors))
        _files = found
    return [f[2] for f in _files]


def _declared() -> set[str]:
    names = {"default", *_configured.caches, *_caches}
    for _, _, layer in _files or []:
        names.update(layer.caches)
    return {values.normalize_name(n) for n in names}


def _env() -> Layer:
    layer, errors, notes = sources.env_layer(os.environ, _declared())
    if errors:
        raise ConfigError("\n".join(errors))
    for note in notes:
        if note not in _noted:
            _noted.add(note)
            warnings.warn(note, CacheWarning, stacklevel=3)
    return layer


def _apply_settings(top: dict[str, Value]) -> None:
    # A default leaves the settings alone until configuration has set them once, so code that
    # fills ``settings`` directly (tests, embedding applications) is not undone by get_cache.
    for key in ("total_memory", "secret_file"):
        v = top[key]
        if v.source == "default" and key not in _applied:
            continue
        _applied.add(key)
        if getattr(settings, key) != v.value:
            setattr(settings, key, v.value)
            if key == "total_memory":
                _enforce_total_memory()


def _enforce_total_memory() -> None:
    governor.enforce()


# -- for the command line and tests ------------------------------------------------------------


def _plain(v: Any) -> Any:
    return str(v) if isinstance(v, Path) else v


def describe() -> dict[str, Any]:
    """The effective configuration and where each value came from (``config show``)."""
    with _lock:
        files = _discovered()
        env = _env()
        layers = [*files, _configured]
        top = sources.resolve_top(layers, env)
        declared = {"default", *_configured.caches, *_caches}.union(
            *(layer.caches for layer in files)
        )
        known = {values.normalize_name(n) for n in declared}
        names = sorted(declared | {n for n in env.caches if n not in known})
        return {
            "files": [{"found_by": k, "path": str(p)} for k, p, _ in _files or []],
            "settings": {k: _entry(v) for k, v in top.items()},
            "caches": {
                n: {
                    "live": n in _caches,
                    "keys": {k: _entry(v) for k, v in sources.resolve(n, layers, env).items()},
                }
                for n in names
            },
        }


def _entry(v: Value) -> dict[str, Any]:
    return {"value": _plain(v.value), "raw": _plain(v.raw), "source": v.source}


def check(path: str | Path | None = None) -> list[tuple[str, list[str]]]:
    """Validate one file, or every source found on its own: [(source, problems)]."""
    results: list[tuple[str, list[str]]] = []
    if path is not None:
        p = Path(path).expanduser().absolute()
        targets = [("file", p)]
    else:
        try:
            targets = sources.discover(Path.cwd(), os.environ)
        except ConfigError as e:
            return [("MEMCACHE_KIT_CONFIG", [str(e)])]
    layers: list[Layer] = []
    for _, p in targets:
        if not p.is_file():
            results.append((str(p), [f"{p}: no such file"]))
            continue
        try:
            layer, errors = sources.file_layer(p)
        except ConfigError as e:
            results.append((str(p), [str(e)]))
            continue
        layers.append(layer)
        for name in layer.caches:
            try:
                sources.check_effective(name, sources.resolve(name, [layer], None))
            except ConfigError as e:
                errors.append(f"{p}: {e}")
        results.append((str(p), errors))
    if path is None:
        names = {"default"}.union(*(layer.caches for layer in layers))
        declared = {values.normalize_name(n) for n in names}
        _, errors, notes = sources.env_layer(os.environ, declared)
        results.append(("environment", errors + [f"warning: {n}" for n in notes]))
    return results


def _reset() -> None:
    """Forget every named cache and all configuration (tests); closes the live caches."""
    global _configured, _files
    with _lock:
        caches = list(_caches.values())
        _caches.clear()
        _built.clear()
        _told.clear()
        _applied.clear()
        _configured = Layer()
        _files = None
        _noted.clear()
        settings.reset()
    for cache in caches:
        cache.close()
