"""Serializers, signing (seal/unseal) and the process-wide settings (the HMAC key)."""

from __future__ import annotations

import stat
import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from memcache_kit import ConfigError, register_serializer
from memcache_kit._serial import (
    FORMAT_VERSION,
    SealError,
    Serializer,
    content_mac,
    get_serializer,
    seal,
    serializer_names,
    unseal,
)
from memcache_kit._settings import Settings

SECRET = b"s" * 32
OTHER = b"o" * 32
KEY = "0123456789abcdef0123456789abcdef"


# serializers --------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [None, 1, 2.5, "é", [1, "a"], {"a": {"b": [1, 2]}}])
def test_builtin_serializers_round_trip(value: object) -> None:
    for name in ("pickle", "json"):
        ser = get_serializer(name)
        assert isinstance(ser, Serializer)
        assert ser.name == name
        data = ser.dumps(value)
        assert isinstance(data, bytes)
        assert ser.loads(data) == value


def test_pickle_keeps_types_json_does_not() -> None:
    value = {"t": (1, 2), "s": {3}}
    assert get_serializer("pickle").loads(get_serializer("pickle").dumps(value)) == value
    with pytest.raises(TypeError):
        get_serializer("json").dumps(value)


def test_unknown_serializer_lists_known_ones() -> None:
    with pytest.raises(ConfigError) as info:
        get_serializer("yaml")
    message = str(info.value)
    assert "'yaml'" in message and "pickle" in message and "json" in message


def test_register_serializer() -> None:
    register_serializer("upper-text", lambda v: v.upper().encode(), lambda b: b.decode())
    ser = get_serializer("upper-text")
    assert ser.loads(ser.dumps("abc")) == "ABC"
    assert "upper-text" in serializer_names()
    register_serializer("upper-text", lambda v: v.encode(), lambda b: b.decode())  # replaces
    assert get_serializer("upper-text").dumps("abc") == b"abc"


@pytest.mark.parametrize("name", ["", "has space", "a/b", "x" * 65, 3])
def test_register_serializer_rejects_bad_names(name: object) -> None:
    with pytest.raises(ValueError, match="serializer name"):
        register_serializer(name, bytes, bytes)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["pickle", "json", "npy"])
def test_builtin_names_cannot_be_replaced(name: str) -> None:
    with pytest.raises(ValueError, match="built in"):
        register_serializer(name, bytes, bytes)


def test_register_serializer_needs_callables() -> None:
    with pytest.raises(TypeError):
        register_serializer("nope", b"x", bytes)  # type: ignore[arg-type]


# signing ------------------------------------------------------------------------------------
def test_seal_round_trip() -> None:
    blob = seal(SECRET, b"payload", b"meta", key=KEY, serializer="pickle")
    sealed = unseal(SECRET, blob, key=KEY)
    assert sealed.serializer == "pickle"
    assert sealed.meta == b"meta"
    assert bytes(sealed.payload) == b"payload"


def test_wrong_secret_is_forged() -> None:
    blob = seal(SECRET, b"payload", key=KEY, serializer="pickle")
    with pytest.raises(SealError) as info:
        unseal(OTHER, blob, key=KEY)
    assert info.value.kind == "forged"


def test_blob_copied_under_another_key_is_rejected() -> None:
    blob = seal(SECRET, b"payload", key=KEY, serializer="pickle")
    with pytest.raises(SealError) as info:
        unseal(SECRET, blob, key="f" * 32)
    assert info.value.kind == "forged"


def test_other_format_version_is_format() -> None:
    blob = bytearray(seal(SECRET, b"payload", key=KEY, serializer="pickle"))
    struct.pack_into(">H", blob, 18, FORMAT_VERSION + 1)
    with pytest.raises(SealError) as info:
        unseal(SECRET, bytes(blob), key=KEY)
    assert info.value.kind == "format"
    assert str(FORMAT_VERSION + 1) in str(info.value)


def test_foreign_bytes_and_truncation() -> None:
    with pytest.raises(SealError) as info:
        unseal(SECRET, b"\x80\x05" + b"x" * 40, key=KEY)
    assert info.value.kind == "format"
    blob = seal(SECRET, b"payload" * 10, b"meta" * 10, key=KEY, serializer="pickle")
    with pytest.raises(SealError) as info:
        unseal(SECRET, blob[:10], key=KEY)
    assert info.value.kind == "truncated"
    with pytest.raises(SealError) as info:
        unseal(SECRET, blob[:40], key=KEY)
    assert info.value.kind == "truncated"
    with pytest.raises(SealError):
        unseal(SECRET, blob[:-1], key=KEY)


@given(
    payload=st.binary(max_size=300),
    meta=st.binary(max_size=50),
    key=st.text(min_size=1, max_size=40),
    flip=st.integers(min_value=0),
)
def test_every_byte_is_authenticated(payload: bytes, meta: bytes, key: str, flip: int) -> None:
    blob = seal(SECRET, payload, meta, key=key, serializer="json")
    sealed = unseal(SECRET, blob, key=key)
    assert (sealed.serializer, sealed.meta, bytes(sealed.payload)) == ("json", meta, payload)
    tampered = bytearray(blob)
    tampered[flip % len(blob)] ^= 0x01
    with pytest.raises(SealError):
        unseal(SECRET, bytes(tampered), key=key)


def test_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        seal(b"short", b"x", key=KEY, serializer="pickle")


def test_content_mac_is_keyed_and_bound_to_the_key() -> None:
    mac = content_mac(SECRET, KEY, b"data")
    assert mac == content_mac(SECRET, KEY, memoryview(b"data"))
    assert mac != content_mac(OTHER, KEY, b"data")
    assert mac != content_mac(SECRET, "f" * 32, b"data")
    assert mac != content_mac(SECRET, KEY, b"datb")


# settings -----------------------------------------------------------------------------------
def test_secret_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    s = Settings()
    monkeypatch.setenv("MEMCACHE_KIT_SECRET", "a-long-enough-secret")
    assert s.secret_key() == b"a-long-enough-secret"
    monkeypatch.setenv("MEMCACHE_KIT_SECRET", "another-long-secret!")
    assert s.secret_key() == b"another-long-secret!"  # a changed variable is seen
    monkeypatch.setenv("MEMCACHE_KIT_SECRET", "short")
    with pytest.raises(ValueError, match="at least 16"):
        s.secret_key()


def test_per_user_key_file_is_created_private_and_reused() -> None:
    s = Settings()
    key = s.secret_key()
    path = s.key_file()
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert len(key) == 64  # 32 random bytes, hex
    assert Settings().secret_key() == key  # another "process" reads the same file
    s.reset()
    assert s.secret_key() == key
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_group_readable_key_file_is_refused() -> None:
    s = Settings()
    s.secret_key()
    s.key_file().chmod(0o640)
    s.reset()
    with pytest.raises(PermissionError, match="chmod 600"):
        s.secret_key()


def test_symlinked_key_file_is_refused(tmp_path: Path) -> None:
    s = Settings()
    real = tmp_path / "real"
    real.write_text("x" * 64)
    real.chmod(0o600)
    s.key_file().parent.mkdir(parents=True, mode=0o700, exist_ok=True)
    s.key_file().symlink_to(real)
    with pytest.raises(PermissionError, match="without following links"):
        s.secret_key()


def test_secret_file_setting(tmp_path: Path) -> None:
    s = Settings()
    f = tmp_path / "secret"
    f.write_text("my-configured-secret-value\n")
    f.chmod(0o600)
    s.secret_file = f
    assert s.secret_key() == b"my-configured-secret-value"
    f.chmod(0o644)
    s.secret_file = tmp_path / "secret"  # same path: still cached until reset
    s.reset()
    s.secret_file = f
    with pytest.raises(PermissionError, match="readable or writable by group or others"):
        s.secret_key()
    s.secret_file = tmp_path / "absent"
    with pytest.raises(FileNotFoundError, match="absent"):
        s.secret_key()
    short = tmp_path / "short"
    short.write_text("tiny")
    short.chmod(0o600)
    s.secret_file = short
    with pytest.raises(ValueError, match="at least 16"):
        s.secret_key()


def test_reset_restores_defaults() -> None:
    s = Settings()
    s.total_memory = 123
    s.secret_file = Path("/nowhere")
    s.reset()
    assert s.total_memory is None and s.secret_file is None


def test_settings_module_is_a_leaf() -> None:
    import memcache_kit._serial as serial_mod
    import memcache_kit._settings as settings_mod

    for mod in (settings_mod, serial_mod):
        source = Path(mod.__file__ or "").read_text()
        imports = [line for line in source.splitlines() if line.startswith("from .")]
        assert all(line.startswith(("from ._errors", "from ._shapes")) for line in imports)
