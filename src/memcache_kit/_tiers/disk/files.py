"""Files of the disk tier: private directories, atomic writes, reads that never follow links.

Every file operation of the tier goes through :class:`FileStore`, relative to one directory
file descriptor opened without following links, so a symlink planted in the cache directory is
never followed and a fault-injecting test can wrap one small object.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import re
import stat
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = [
    "DATA_DIR",
    "FileStore",
    "UnsafeDirectory",
    "ensure_directory",
    "is_data_name",
    "new_name",
    "npy_parts",
    "read_exact",
    "writer_gone",
]

DATA_DIR = "data"
"""Large values and arrays live flat in ``<cache dir>/data``: one level, one directory fd."""

# <32 hex>-<writer pid>.<npy|bin>[.tmp]: the pid lets verify() tell a file a live writer is
# about to index from one a killed writer left behind.
_NAME_RE = re.compile(r"([0-9a-f]{32})-([0-9]{1,10})\.(npy|bin)(\.tmp)?")
_PENDING_SECONDS = 600.0


class UnsafeDirectory(PermissionError):
    """A cache directory owned by someone else or writable by group/others."""


def new_name(suffix: str) -> str:
    """A fresh data-file name; never reused, so an overwrite never touches a file in use."""
    return f"{os.urandom(16).hex()}-{os.getpid()}.{suffix}"


def is_data_name(name: str, *, temp: bool | None = False) -> bool:
    """Whether ``name`` is one this tier writes (``temp=None`` accepts both kinds)."""
    m = _NAME_RE.fullmatch(name)
    if m is None:
        return False
    return temp is None or bool(m.group(4)) == temp


def writer_gone(name: str, mtime: float) -> bool:
    """Whether a data file no entry points to is garbage (its writer is dead, or it is old)."""
    m = _NAME_RE.fullmatch(name)
    if m is None:
        return True
    if time.time() - mtime > _PENDING_SECONDS:
        return True
    pid = int(m.group(2))
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def ensure_directory(path: Path, *, allow_shared: bool) -> None:
    """Create ``path`` (mode 0700) or check an existing one is ours and private."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.makedirs(path, 0o700, exist_ok=True)
    st = os.stat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise NotADirectoryError(f"cache directory {str(path)!r} exists and is not a directory")
    if allow_shared:
        return
    if st.st_uid != os.getuid():
        raise UnsafeDirectory(
            f"cache directory {str(path)!r} is owned by uid {st.st_uid}, not by you (uid "
            f"{os.getuid()}): whoever owns it can plant entries. Use a directory of your own, or "
            "set allow_shared_directory = true if you trust its owner."
        )
    if st.st_mode & 0o022:
        raise UnsafeDirectory(
            f"cache directory {str(path)!r} has mode {oct(stat.S_IMODE(st.st_mode))}: group or "
            f"others can write to it and plant entries. Fix it with `chmod 700 {path}`, or set "
            "allow_shared_directory = true if you trust everyone who can write there."
        )


def _write_all(fd: int, data: Any) -> None:
    if not isinstance(data, bytes | bytearray | memoryview):
        # A contiguous numpy array: ndarray.tofile (one fwrite) writes 256 MB in ~70 % of the
        # time os.write of the same buffer takes here (benchmarks/bench_disk.py).
        with os.fdopen(fd, "wb", closefd=False) as f:
            data.tofile(f)
        return
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


class DirFd:
    """An open directory descriptor, closed when the last reference to it goes."""

    __slots__ = ("fd",)

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __del__(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


class FileStore:
    """The data directory of one tier, addressed through a directory file descriptor."""

    def __init__(self, root: Path, *, shared: bool, strict: bool) -> None:
        self.root = root
        self.path = root / DATA_DIR
        self.shared = shared
        self.strict = strict
        self._dir: DirFd | None = None

    def dir(self) -> DirFd:
        """The open data directory; its descriptor stays open while the caller holds this
        object (so every use below keeps it in a local for the duration of its calls)."""
        d = self._dir
        if d is None:
            d = self.open()
        return d

    def open(self) -> DirFd:
        """(Re)open the data directory; it must be a real directory, private unless shared."""
        ensure_directory(self.path, allow_shared=self.shared)
        fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        self._dir = d = DirFd(fd)
        return d

    def close(self) -> None:
        """Let go of the directory: its descriptor closes once no caller holds it (closing it
        under a thread about to use it could point that thread's ``openat`` at whatever file
        took the number next)."""
        self._dir = None

    def write(self, name: str, parts: Iterable[Any]) -> None:
        """Write ``name`` atomically: a temp file, then rename (fsync both with strict).

        ``parts`` are bytes-like, or 1-d contiguous numpy arrays (written with ``tofile``)."""
        held = self.dir()
        dir_fd = held.fd
        tmp = name + ".tmp"
        mode = 0o666 if self.shared else 0o600
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(tmp, flags, mode, dir_fd=dir_fd)
        try:
            for part in parts:
                _write_all(fd, part)
            if self.strict:
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            self.unlink(tmp)
            raise
        os.close(fd)
        try:
            os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            self.unlink(tmp)
            raise
        if self.strict:
            os.fsync(dir_fd)

    def open_read(self, name: str) -> int:
        """A read descriptor for ``name``; raises ``OSError(ELOOP)`` for a symlink."""
        held = self.dir()
        return os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=held.fd)

    def unlink(self, name: str) -> bool:
        """Remove ``name`` (a symlink itself, never its target); False if it was not there."""
        held = self.dir()
        try:
            os.unlink(name, dir_fd=held.fd)
        except FileNotFoundError:
            return False
        except IsADirectoryError:
            return False
        return True

    def lstat(self, name: str) -> os.stat_result:
        held = self.dir()
        return os.stat(name, dir_fd=held.fd, follow_symlinks=False)

    def listdir(self) -> list[str]:
        held = self.dir()
        return os.listdir(held.fd)


def read_exact(fd: int, n: int) -> bytearray:
    """Read exactly ``n`` bytes from the start of ``fd`` (``EIO``-like error if it is short)."""
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = os.preadv(fd, [view[got:]], got)
        if k == 0:
            raise OSError(errno.EIO, "file shorter than its index entry")
        got += k
    return buf


def npy_parts(arr: Any) -> tuple[bytes, Any, bool]:
    """The ``.npy`` header, the data as a 1-d contiguous array (no copy when ``arr`` is C- or
    Fortran-contiguous) and the Fortran flag."""
    import numpy as np

    if arr.flags.c_contiguous:
        fortran, flat = False, arr.reshape(-1)
    elif arr.flags.f_contiguous:
        fortran, flat = True, arr.T.reshape(-1)
    else:
        fortran, flat = False, np.ascontiguousarray(arr).reshape(-1)
    header_dict = {
        "descr": np.lib.format.dtype_to_descr(arr.dtype),
        "fortran_order": fortran,
        "shape": arr.shape,
    }
    bio = io.BytesIO()
    try:
        np.lib.format.write_array_header_1_0(bio, header_dict)
    except ValueError:  # header over 64 KiB (huge structured dtypes): format 2.0
        bio = io.BytesIO()
        np.lib.format.write_array_header_2_0(bio, header_dict)
    return bio.getvalue(), np.asarray(flat), fortran
