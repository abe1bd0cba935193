"""Configuration sources, their precedence, and every validation error (issue 5)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import memcache_kit as mk
from memcache_kit._config import registry as _registry
from memcache_kit._errors import CacheWarning, ConfigError
from memcache_kit._settings import settings

MiB = 2**20


@pytest.fixture(autouse=True)
def _fresh_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts with no named caches, no configuration and a cwd without files."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    _registry._reset()
    yield
    _registry._reset()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True)
    return path


def cache_conf(name: str, **keys: Any) -> dict[str, Any]:
    return {"caches": {name: keys}}


def sources(name: str) -> dict[str, str]:
    info = _registry.describe()
    return {k: v["source"] for k, v in info["caches"][name]["keys"].items()}


# -- defaults and each source ----------------------------------------------------------------


def test_defaults_from_the_design(tmp_path: Path) -> None:
    cache = mk.get_cache()
    assert cache.memory_budget == 256 * MiB
    assert cache.disk_budget == 2**30
    keys = _registry.describe()["caches"]["default"]["keys"]
    expected = Path(os.environ["XDG_CACHE_HOME"]) / "memcache_kit" / "default"
    assert keys["directory"]["value"] == str(expected)
    assert {v["source"] for v in keys.values()} == {"default"}
    assert keys["serializer"]["value"] == "pickle"
    assert keys["durability"]["value"] == "fast"
    assert keys["lock_timeout"]["value"] == 60.0
    assert keys["write_through"]["value"] is True


def test_memcache_kit_toml_found_from_a_subdirectory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(
        tmp_path / "proj" / "memcache_kit.toml",
        """
        [caches.features]
        memory = "8MiB"
        disk = "16MiB"
        directory = "features-cache"   # relative to this file's folder
        """,
    )
    sub = tmp_path / "proj" / "a" / "b"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    cache = mk.get_cache("features")
    assert (cache.memory_budget, cache.disk_budget) == (8 * MiB, 16 * MiB)
    keys = _registry.describe()["caches"]["features"]["keys"]
    assert keys["directory"]["value"] == str(tmp_path / "proj" / "features-cache")
    assert keys["memory"]["source"] == str(tmp_path / "proj" / "memcache_kit.toml")


def test_pyproject_tool_table_found_from_a_subdirectory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(
        tmp_path / "pkg" / "pyproject.toml",
        """
        [project]
        name = "demo"

        [tool.memcache_kit]
        total_memory = "64MiB"

        [tool.memcache_kit.caches.features]
        memory = "4MiB"
        disk = false
        """,
    )
    sub = tmp_path / "pkg" / "src" / "demo"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    cache = mk.get_cache("features")
    assert (cache.memory_budget, cache.disk_budget) == (4 * MiB, 0)
    assert settings.total_memory == 64 * MiB


def test_nearest_pyproject_without_the_table_configures_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "outer" / "pyproject.toml", '[tool.memcache_kit.caches.x]\nmemory = "1MiB"\n')
    write(tmp_path / "outer" / "inner" / "pyproject.toml", '[project]\nname = "inner"\n')
    monkeypatch.chdir(tmp_path / "outer" / "inner")
    assert mk.get_cache("x").memory_budget == 256 * MiB


def test_precedence_of_every_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "proj"
    write(
        root / "pyproject.toml",
        """
        [tool.memcache_kit.caches.features]
        memory = "1MiB"
        disk = "11MiB"
        ttl = "1h"
        lock_timeout = 5
        spill = false
        """,
    )
    write(
        root / "memcache_kit.toml",
        """
        [caches.features]
        memory = "2MiB"
        disk = "12MiB"
        ttl = "2h"
        lock_timeout = 6
        """,
    )
    named = write(
        tmp_path / "elsewhere" / "team.toml",
        """
        [caches.features]
        memory = "3MiB"
        disk = "13MiB"
        ttl = "3h"
        """,
    )
    monkeypatch.chdir(root)
    monkeypatch.setenv("MEMCACHE_KIT_CONFIG", str(named))
    mk.configure(cache_conf("features", memory="4MiB", disk="14MiB"))
    monkeypatch.setenv("MEMCACHE_KIT__FEATURES__MEMORY", "5MiB")

    cache = mk.get_cache("features")
    assert cache.memory_budget == 5 * MiB  # environment beats configure()
    assert cache.disk_budget == 14 * MiB  # configure() beats MEMCACHE_KIT_CONFIG
    info = _registry.describe()
    keys = info["caches"]["features"]["keys"]
    assert keys["ttl"]["value"] == 3 * 3600.0  # MEMCACHE_KIT_CONFIG beats memcache_kit.toml
    assert keys["lock_timeout"]["value"] == 6.0  # memcache_kit.toml beats pyproject.toml
    assert keys["spill"]["value"] is False  # pyproject.toml beats the defaults
    assert keys["durability"]["value"] == "fast"
    src = {k: v["source"] for k, v in keys.items()}
    assert src["memory"] == "MEMCACHE_KIT__FEATURES__MEMORY"
    assert src["disk"] == "configure()"
    assert src["ttl"] == str(named)
    assert src["lock_timeout"] == str(root / "memcache_kit.toml")
    assert src["spill"] == str(root / "pyproject.toml")
    assert src["durability"] == "default"
    assert [f["found_by"] for f in info["files"]] == [
        "pyproject.toml [tool.memcache_kit]",
        "memcache_kit.toml",
        "MEMCACHE_KIT_CONFIG",
    ]


def test_environment_overrides_in_a_fresh_process(tmp_path: Path) -> None:
    write(
        tmp_path / "memcache_kit.toml",
        """
        total_memory = "32MiB"
        [caches.my-feats]
        memory = "2MiB"
        disk = "4MiB"
        """,
    )
    env = dict(os.environ)
    env["MEMCACHE_KIT__MY_FEATS__MEMORY"] = "3MiB"  # '-' is written '_', any case
    env["memcache_kit__My_Feats__DISK"] = "none"
    env["MEMCACHE_KIT__TOTAL_MEMORY"] = "48MiB"
    code = (
        "import memcache_kit as mk; from memcache_kit._settings import settings;"
        "c = mk.get_cache('my-feats');"
        "print(c.memory_budget, c.disk_budget, settings.total_memory)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(3 * MiB), "0", str(48 * MiB)]


def test_environment_with_monkeypatch_is_read_when_a_cache_is_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MEMCACHE_KIT__DEFAULT__MEMORY", "1MiB")
    monkeypatch.setenv("MEMCACHE_KIT__DEFAULT__COPY", "yes")
    mk.get_cache()
    keys = _registry.describe()["caches"]["default"]["keys"]
    assert keys["memory"]["value"] == MiB
    assert keys["copy"] == {"value": True, "raw": "yes", "source": "MEMCACHE_KIT__DEFAULT__COPY"}


def test_environment_declares_an_undeclared_cache_and_warns_when_close(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write(Path.cwd() / "memcache_kit.toml", '[caches.features]\nmemory = "2MiB"\n')
    monkeypatch.setenv("MEMCACHE_KIT__FEATRUES__MEMORY", "1MiB")
    with pytest.warns(
        CacheWarning,
        match=r"MEMCACHE_KIT__FEATRUES__MEMORY.*'featrues'.*"
        r"Did you mean 'features'\?",
    ):
        cache = mk.get_cache("featrues")
    assert cache.memory_budget == MiB
    assert mk.get_cache("features").memory_budget == 2 * MiB


def test_environment_declaring_a_distinct_cache_does_not_warn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MEMCACHE_KIT__EMBEDDINGS__DISK", "0")
    info = _registry.describe()  # warnings are errors here: none may be raised
    assert info["caches"]["embeddings"]["keys"]["disk"]["value"] == 0
    assert mk.get_cache("embeddings").disk_budget == 0


# -- configure() -----------------------------------------------------------------------------


def test_configure_merges_over_earlier_calls(tmp_path: Path) -> None:
    mk.configure(cache_conf("a", memory="1MiB", disk="3MiB"))
    mk.configure(cache_conf("a", disk="2MiB"))
    mk.configure({"caches": {"b": {"memory": 0}}})
    a = mk.get_cache("a")
    assert (a.memory_budget, a.disk_budget) == (MiB, 2 * MiB)
    assert mk.get_cache("b").memory_budget == 0


def test_configure_a_file_and_the_pyproject_form(tmp_path: Path) -> None:
    f = write(tmp_path / "conf" / "mine.toml", '[caches.a]\nmemory = "3MiB"\n')
    p = write(tmp_path / "conf" / "pyproject.toml", "[tool.memcache_kit.caches.b]\ndisk = 0\n")
    mk.configure(f)
    mk.configure(str(p))
    assert mk.get_cache("a").memory_budget == 3 * MiB
    assert mk.get_cache("b").disk_budget == 0
    assert sources("a")["memory"] == f"configure({f})"


def test_configure_after_a_decorator_named_the_cache() -> None:
    # Decorators and proxies resolve their cache name through get_cache at first use, so a
    # configure() after they were defined, but before they run, decides the budgets.
    @mk.cached(cache="late")
    def double(x: int) -> int:
        return 2 * x

    mk.configure(cache_conf("late", memory="5MiB", disk=False))
    assert double(21) == 42
    assert double.cache_info().maxsize == 5 * MiB
    cache = mk.get_cache("late")
    assert (cache.memory_budget, cache.disk_budget) == (5 * MiB, 0)


@pytest.mark.parametrize("off", [0, False, "none", "NONE", "0", "false"])
def test_a_tier_is_off_with_zero_false_or_none(off: Any) -> None:
    mk.configure(cache_conf("off", memory=off, disk=off))
    cache = mk.get_cache("off")
    assert (cache.memory_budget, cache.disk_budget) == (0, 0)


def test_sizes_accept_what_parse_size_accepts() -> None:
    mk.configure(cache_conf("s", memory="1.5MiB", disk=12345678))
    mk.configure(cache_conf("t", memory="1%", disk="1%"))
    s = mk.get_cache("s")
    assert (s.memory_budget, s.disk_budget) == (mk.parse_size("1.5MiB"), 12345678)
    assert mk.get_cache("t").memory_budget == mk.parse_size("1%")


def test_total_memory_and_secret_file_reach_the_settings(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("k" * 32)
    secret.chmod(0o600)
    mk.configure({"total_memory": "40MiB", "secret_file": str(secret)})
    assert settings.total_memory == 40 * MiB
    assert settings.secret_file == secret
    mk.configure({"total_memory": "none"})
    assert settings.total_memory is None


def test_environment_beats_configure_for_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMCACHE_KIT__TOTAL_MEMORY", "20MiB")
    mk.configure({"total_memory": "40MiB"})
    assert settings.total_memory == 20 * MiB


# -- validation errors: source, key, value, what is allowed ----------------------------------


def configure_error(source: Any) -> str:
    with pytest.raises(ConfigError) as info:
        mk.configure(source)
    assert isinstance(info.value, ValueError)
    return str(info.value)


def test_unknown_cache_key_suggests_the_close_one() -> None:
    msg = configure_error(cache_conf("f", memroy="1MiB"))
    assert msg.startswith("configure() mapping [caches.f]: unknown key 'memroy'")
    assert "did you mean 'memory'?" in msg
    assert "allowed: allow_shared_directory, copy, directory" in msg


def test_unknown_top_level_keys() -> None:
    msg = configure_error({"total_memroy": "1GiB"})
    assert "configure() mapping (top level): unknown key 'total_memroy'" in msg
    assert "did you mean 'total_memory'?" in msg
    assert "did you mean 'caches'?" in configure_error({"cache": {}})
    msg = configure_error({"memory": "1GiB"})
    assert "'memory' is a per-cache key: put it under [caches.NAME]" in msg
    msg = configure_error(cache_conf("f", total_memory="1GiB"))
    assert "'total_memory' is a top-level key" in msg


def test_every_problem_is_reported_at_once() -> None:
    msg = configure_error(cache_conf("f", memory="lots", durability="fsync"))
    assert "memory = 'lots'" in msg
    assert "durability = 'fsync': allowed: 'fast', 'strict'" in msg


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("memory", "12 parsecs", "memory = '12 parsecs': "),
        ("memory", -1, "cannot be negative"),
        ("disk", "-5MiB", "cannot be negative"),
        ("memory", True, "expected a size"),
        ("memory", "100000TiB", "more than 4x this machine's memory"),
        ("memory", 1.5, "whole number"),
        ("ttl", "7 fortnights", "ttl = '7 fortnights': "),
        ("ttl", 0, "write 'none' for no expiry"),
        ("serializer", "yaml", "unknown serializer"),
        ("copy", "yes", "copy = 'yes': expected true or false"),
        ("write_through", 1, "expected true or false"),
        ("durability", "fsync", "allowed: 'fast', 'strict'"),
        ("network_filesystem", "sure", "allowed: 'memory-only', 'allow'"),
        ("policy", "lfu", "allowed: 'lru'"),
        ("lock_timeout", 0, "lock_timeout must be more than 0 seconds"),
        ("lock_timeout", "soon", "lock_timeout = 'soon': "),
        ("record", 3, "expected true, false or the path of a trace file"),
        ("remote", "http://127.0.0.1:6379/0", "not a Redis URL"),
        ("remote", "redis://", "no host"),
        ("remote_budget", "lots", "lots"),
        ("remote_timeout", 0, "remote_timeout must be more than 0 seconds"),
        ("directory", 42, "expected a path"),
    ],
)
def test_each_bad_value_is_named_with_its_source_and_key(
    key: str, value: Any, expected: str
) -> None:
    msg = configure_error(cache_conf("f", **{key: value}))
    assert msg.startswith(f"configure() mapping [caches.f]: {key} = {value!r}: ")
    assert expected in msg


def test_a_directory_that_is_a_file_or_under_a_file(tmp_path: Path) -> None:
    f = tmp_path / "plain"
    f.write_text("x")
    assert "exists and is not a directory" in configure_error(cache_conf("f", directory=str(f)))
    msg = configure_error(cache_conf("f", directory=str(f / "sub")))
    assert "is not a directory, so" in msg and "cannot be created" in msg


def test_a_directory_others_can_write_is_refused_unless_shared_is_allowed(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o770)
    msg = configure_error(cache_conf("f", directory=str(shared)))
    assert f"cache 'f': directory {str(shared)!r} (from configure())" in msg
    assert "writable by group or others (mode 770); run chmod 700" in msg
    mk.configure(cache_conf("f", directory=str(shared), allow_shared_directory=True))
    # A memory-only cache never opens its directory.
    mk.configure(cache_conf("g", directory=str(shared), disk=0))


def test_a_directory_that_cannot_be_used(tmp_path: Path) -> None:
    d = tmp_path / "theirs"
    d.mkdir(mode=0o700)
    if os.getuid() == 0:
        # root can write anywhere; what must still be refused is another user's directory.
        os.chown(d, 65534, 65534)
        msg = configure_error(cache_conf("f", directory=str(d)))
        assert "belongs to another user (uid 65534)" in msg
    else:
        d.chmod(0o500)
        msg = configure_error(cache_conf("f", directory=str(d / "sub")))
        assert "is not writable by this user" in msg
    assert "configure()" in msg


def test_a_secret_file_is_checked_at_once(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    msg = configure_error({"secret_file": str(secret)})
    assert msg.startswith(f"configure() mapping (top level): secret_file = {str(secret)!r}: ")
    assert "does not exist" in msg
    secret.write_text("k" * 32)
    secret.chmod(0o644)
    assert "chmod 600" in configure_error({"secret_file": str(secret)})
    secret.chmod(0o600)
    secret.write_text("short")
    assert "at least 16" in configure_error({"secret_file": str(secret)})


def test_a_bad_cache_name_and_a_bad_argument() -> None:
    msg = configure_error({"caches": {"../etc": {"memory": "1MiB"}}})
    assert "cache name '../etc' is not allowed" in msg
    with pytest.raises(TypeError, match="a path to a TOML file or a mapping"):
        mk.configure(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cache name 'a/b' is not allowed"):
        mk.get_cache("a/b")
    assert "no such file" in configure_error("missing.toml")


def test_toml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    f = write(tmp_path / "bad.toml", '[caches.f]\nmemory = "1MiB"\ndisk = \n')
    msg = configure_error(f)
    assert msg.startswith(f"{f}: TOML syntax error: ")
    assert "line 3" in msg


def test_errors_in_a_file_name_the_file_and_table(tmp_path: Path) -> None:
    f = write(tmp_path / "conf.toml", '[caches.features]\nmemory = "2 GB-ish"\n')
    msg = configure_error(f)
    assert msg.startswith(f"{f} [caches.features]: memory = '2 GB-ish': ")
    p = write(tmp_path / "pyproject.toml", "[tool.memcache_kit.caches.features]\nspil = true\n")
    msg = configure_error(p)
    assert f"{p} [tool.memcache_kit.caches.features]: unknown key 'spil'" in msg
    assert "did you mean 'spill'?" in msg


def test_discovered_files_are_validated_at_the_first_get_cache() -> None:
    toml = write(Path.cwd() / "memcache_kit.toml", '[caches.features]\nmemroy = "1MiB"\n')
    mk.configure(cache_conf("other", memory="1MiB"))  # files are not read here
    with pytest.raises(ConfigError, match=r"unknown key 'memroy'; did you mean 'memory'") as e:
        mk.get_cache("other")
    assert str(e.value).startswith(f"{toml} [caches.features]")
    toml.write_text('[caches.features]\nmemory = "1MiB"\n')  # fixed: the next call reads again
    assert mk.get_cache("features").memory_budget == MiB


def test_memcache_kit_config_naming_a_missing_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMCACHE_KIT_CONFIG", "nowhere.toml")
    with pytest.raises(ConfigError, match=r"MEMCACHE_KIT_CONFIG='nowhere.toml': no such file"):
        mk.get_cache()


@pytest.mark.parametrize(
    ("var", "value", "expected"),
    [
        ("MEMCACHE_KIT__A__B__C", "1", "malformed name; write MEMCACHE_KIT__<KEY> or"),
        ("MEMCACHE_KIT__FEATURES__MEMROY", "1MiB", "unknown key 'memroy'; did you mean 'memory'"),
        (
            "MEMCACHE_KIT__MEMORY",
            "1MiB",
            "per-cache keys are written MEMCACHE_KIT__<CACHE>__MEMORY",
        ),
        ("MEMCACHE_KIT__TOTAL_MEMROY", "1MiB", "did you mean 'total_memory'"),
        ("MEMCACHE_KIT__FEATURES__MEMORY", "abc", "MEMCACHE_KIT__FEATURES__MEMORY='abc': "),
        ("MEMCACHE_KIT__FEATURES__SPILL", "maybe", "expected true or false (or 1/0, yes/no"),
    ],
)
def test_malformed_environment_variables(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError) as e:
        mk.get_cache()
    msg = str(e.value)
    assert msg.startswith(f"environment variable {var}")
    assert expected in msg


def test_remote_and_record_keys_are_accepted(tmp_path: Path) -> None:
    from memcache_kit._config import sources as _config
    from memcache_kit._config import values

    layer, errors = _config.mapping_layer(
        cache_conf(
            "team",
            remote="rediss://user:pw@cache-host:6380/2",
            remote_budget="8GiB",
            remote_timeout=0.25,
            record="traces/run.mktrace",
        ),
        values.Origin("test", base=tmp_path),
        "test",
    )
    assert errors == []
    t = layer.caches["team"]
    assert t["remote"].value == "rediss://user:pw@cache-host:6380/2"
    assert t["remote_budget"].value == 8 * 2**30
    assert t["remote_timeout"].value == 0.25
    assert t["record"].value == tmp_path / "traces" / "run.mktrace"
    for url in ("redis+cluster://a:7000", "unix:///run/redis.sock", "redis://h:6379/0"):
        _, errs = _config.mapping_layer(cache_conf("x", remote=url), values.Origin("t"), "t")
        assert errs == [], url
    for off in (False, "none", 0):
        layer, errs = _config.mapping_layer(cache_conf("x", remote=off), values.Origin("t"), "t")
        assert errs == [] and layer.caches["x"]["remote"].value is None


def test_remote_and_record_from_the_environment() -> None:
    from memcache_kit._config import sources as _config

    layer, errors, _ = _config.env_layer(
        {
            "MEMCACHE_KIT__TEAM__REMOTE": "redis://127.0.0.1:6379/0",
            "MEMCACHE_KIT__TEAM__REMOTE_BUDGET": "1GiB",
            "MEMCACHE_KIT__TEAM__REMOTE_TIMEOUT": "2",
            "MEMCACHE_KIT__TEAM__RECORD": "true",
        },
        {"team"},
    )
    assert errors == []
    t = layer.caches["team"]
    assert t["remote_budget"].value == 2**30 and t["remote_timeout"].value == 2.0
    assert t["record"].value is True
