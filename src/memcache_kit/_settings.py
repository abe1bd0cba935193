"""Process-wide settings every ``Cache`` reads: the HMAC key and ``total_memory`` (a leaf module).

The registry fills :data:`settings` from configuration; ``Cache`` and the tiers only read it.
Nothing here persists in a cache directory: the key lives outside every cache directory, so a
planted or copied cache cannot bring its own key.
"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

__all__ = ["SECRET_ENV", "Settings", "settings"]

SECRET_ENV = "MEMCACHE_KIT_SECRET"
_MIN_SECRET = 16


class Settings:
    """One object per process. The registry (configuration) fills it; ``Cache`` reads it."""

    total_memory: int | None
    secret_file: Path | None

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.total_memory = None
        self.secret_file = None
        self._cached: tuple[tuple[str | None, Path | None, Path], bytes] | None = None

    def reset(self) -> None:
        """Back to the defaults (no ``total_memory``, no ``secret_file``) and forget the key."""
        with self._lock:
            self.total_memory = None
            self.secret_file = None
            self._cached = None

    def key_file(self) -> Path:
        """Where the per-user key file lives (created by :meth:`secret_key` on first use)."""
        import platformdirs

        return Path(platformdirs.user_config_dir("memcache_kit")) / "secret"

    def secret_key(self) -> bytes:
        """The HMAC key: ``MEMCACHE_KIT_SECRET``, else ``secret_file``, else a per-user key file
        created on first use with mode 0600, outside every cache directory.

        The key is cached; it is looked up again when the environment variable or
        ``secret_file`` changes, and after :meth:`reset`.
        """
        env = os.environ.get(SECRET_ENV) or None
        secret_file = None if self.secret_file is None else Path(self.secret_file).expanduser()
        default_file = self.key_file() if env is None and secret_file is None else Path()
        source = (env, secret_file, default_file)
        cached = self._cached
        if cached is not None and cached[0] == source:
            return cached[1]
        with self._lock:
            if env is not None:
                if len(env) < _MIN_SECRET:
                    raise ValueError(
                        f"{SECRET_ENV} is {len(env)} characters long; use at least {_MIN_SECRET}, "
                        "e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`"
                    )
                key = env.encode("utf-8")
            elif secret_file is not None:
                key = _read_key_file(secret_file, what="secret_file")
            else:
                key = _load_or_create_key_file(default_file)
            self._cached = (source, key)
            return key


def _check_private(path: Path, st: os.stat_result, what: str) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise PermissionError(
            f"{what} {str(path)!r} is not a regular file; refusing to use it as a key"
        )
    if st.st_uid != os.getuid():
        raise PermissionError(
            f"{what} {str(path)!r} is owned by uid {st.st_uid}, not by you (uid {os.getuid()}); "
            "refusing a key someone else controls. Remove it or point secret_file elsewhere."
        )
    if st.st_mode & 0o077:
        raise PermissionError(
            f"{what} {str(path)!r} has mode {oct(stat.S_IMODE(st.st_mode))}: it is readable or "
            f"writable by group or others, so the key is not secret. Fix with `chmod 600 {path}`."
        )


def _read_key_file(path: Path, *, what: str) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} {str(path)!r} does not exist") from None
    except OSError as exc:
        raise PermissionError(
            f"cannot open {what} {str(path)!r} without following links: {exc}"
        ) from None
    with os.fdopen(fd, "rb") as f:
        _check_private(path, os.fstat(f.fileno()), what)
        key = f.read(1 << 16).strip()
    if len(key) < _MIN_SECRET:
        raise ValueError(
            f"{what} {str(path)!r} holds {len(key)} bytes; a key needs at least {_MIN_SECRET}"
        )
    return key


def _load_or_create_key_file(path: Path) -> bytes:
    """Read the per-user key, creating it atomically (0600 file in a 0700 directory) if absent."""
    try:
        return _read_key_file(path, what="key file")
    except FileNotFoundError:
        pass
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        # Hex text, so stripping a newline a user adds by hand never changes the key.
        os.write(fd, os.urandom(32).hex().encode("ascii") + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        # link() fails if another process created the file first: then theirs wins, and every
        # process of this user ends up with the same key.
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)
    return _read_key_file(path, what="key file")


settings = Settings()
