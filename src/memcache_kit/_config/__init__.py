"""Configuration and named caches: ``values`` (the file's shape, validation of every key, files
and the environment) and ``registry`` (``get_cache``, ``configure``: the process's one
instance of each named cache, filled from the layers of configuration).

The process-wide settings object itself is the leaf ``_settings``, since tiers read it; the
registry fills it."""

from __future__ import annotations

from .registry import check, configure, describe, disk_directory, get_cache, known_names

__all__ = ["check", "configure", "describe", "disk_directory", "get_cache", "known_names"]
