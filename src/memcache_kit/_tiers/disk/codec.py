"""Entries of the disk tier: values to sealed index records and back.

A record is a sealed blob (``_serial.Signer``) plus, for values above ``INLINE_MAX`` bytes and
for every numpy array, a data file. The blob's meta (JSON, authenticated) names the file and
its length; a ``.bin`` payload is covered by a keyed hash, a ``.npy`` file by its recorded
header (and, with ``verify_arrays``, a keyed hash of its content). ``decode`` raises
``SealError`` or :class:`BadEntry` for anything that cannot be returned faithfully, and never
deserializes bytes it has not authenticated.
"""

from __future__ import annotations

import errno
import json
import mmap
import os
import pickle
import stat
import sys
from typing import Any

from ..._serial import Serializer, Signer, get_serializer
from .files import FileStore, new_name, npy_parts, read_exact
from .index import Record

__all__ = ["INLINE_MAX", "BadEntry", "Codec", "TooLarge", "Unserializable"]

INLINE_MAX = 64 * 1024
"""Serialized values up to this many bytes live in the index row; larger ones in a file."""

_NOT_REGULAR = (errno.ELOOP, errno.ENOTDIR, errno.EISDIR)


class BadEntry(Exception):
    """An entry that cannot be returned faithfully; ``kind`` names how, for stats and logs."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


class TooLarge(Exception):
    """The value is larger than the tier's budget."""


class Unserializable(Exception):
    """The serializer refused the value (the original exception is ``__cause__``)."""


class Codec:
    """Turns values into :class:`Record` s (writing data files) and blobs back into values."""

    def __init__(
        self, signer: Signer, files: FileStore, serializer: Serializer, *, verify_arrays: bool
    ) -> None:
        self.signer = signer
        self.files = files
        self.serializer = serializer
        self.verify_arrays = verify_arrays

    # writing ----------------------------------------------------------------------------------
    def encode(self, key: str, value: Any, budget: int) -> Record:
        np = sys.modules.get("numpy")  # an array can only exist if numpy is imported
        if (
            np is not None
            and (type(value) is np.ndarray or type(value) is np.memmap)
            and not value.dtype.hasobject
            and value.dtype.itemsize > 0
        ):
            return self._encode_array(key, value, budget)
        ser = self.serializer
        try:
            payload = ser.dumps(value)
            if not isinstance(payload, bytes):
                payload = bytes(payload)
        except Exception as exc:
            raise Unserializable(f"{type(exc).__name__}: {exc}") from exc
        n = len(payload)
        if n > budget:
            raise TooLarge
        if n <= INLINE_MAX:
            return Record(self.signer.seal(payload, key=key, serializer=ser.name), n, None)
        name = new_name("bin")
        mac = self.signer.content_mac(key, payload)
        self.files.write(name, (payload,))
        meta = json.dumps({"f": name, "n": n, "m": mac}).encode()
        blob = self.signer.seal(b"", meta, key=key, serializer=ser.name)
        return Record(blob, n, f"data/{name}")

    def _encode_array(self, key: str, arr: Any, budget: int) -> Record:
        header, data, fortran = npy_parts(arr)
        n = len(header) + data.nbytes
        if n > budget:
            raise TooLarge
        name = new_name("npy")
        simple = arr.dtype.fields is None and arr.dtype.subdtype is None
        info: dict[str, Any] = {
            "f": name,
            "n": n,
            "o": len(header),
            "h": header.decode("latin-1"),
            "d": arr.dtype.str if simple else None,
            "s": list(arr.shape),
            "F": fortran,
        }
        if self.verify_arrays:
            info["c"] = self.signer.content_mac(key, data.view("u1").data)
        self.files.write(name, (header, data))
        blob = self.signer.seal(b"", json.dumps(info).encode(), key=key, serializer="npy")
        return Record(blob, n, f"data/{name}")

    # reading ----------------------------------------------------------------------------------
    def decode(self, key: str, blob: bytes) -> Any:
        sealed = self.signer.unseal(blob, key=key)
        if sealed.meta:
            return self._decode_file(key, sealed.serializer, sealed.meta)
        if sealed.serializer == "pickle":
            return pickle.loads(sealed.payload)
        return get_serializer(sealed.serializer).loads(bytes(sealed.payload))

    def _decode_file(self, key: str, serializer: str, meta: bytes) -> Any:
        try:
            info = json.loads(meta)
            name = info["f"]
            length = info["n"]
        except (ValueError, KeyError, TypeError) as exc:
            raise BadEntry("format", f"bad entry metadata: {exc}") from None
        try:
            fd = self.files.open_read(name)
        except FileNotFoundError:
            raise BadEntry("missing", f"data file {name} is gone") from None
        except OSError as exc:
            if exc.errno in _NOT_REGULAR:  # O_NOFOLLOW met a symlink, or a directory
                raise BadEntry("planted", f"data file {name} is not a regular file") from None
            raise
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise BadEntry("planted", f"data file {name} is not a regular file")
            if st.st_size != length:
                kind = "truncated" if st.st_size < length else "planted"
                raise BadEntry(kind, f"data file {name} has {st.st_size} bytes, expected {length}")
            if serializer == "npy":
                return self._open_array(key, fd, info)
            data = read_exact(fd, length)
            if self.signer.content_mac(key, data) != info.get("m"):
                raise BadEntry("forged", f"data file {name} fails authentication")
            if serializer == "pickle":
                return pickle.loads(data)
            return get_serializer(serializer).loads(bytes(data))
        finally:
            os.close(fd)

    def _open_array(self, key: str, fd: int, info: dict[str, Any]) -> Any:
        import numpy as np

        offset = info["o"]
        header = info["h"].encode("latin-1")
        if os.pread(fd, offset, 0) != header:
            raise BadEntry("header", "the .npy header differs from its index entry")
        dtype = _dtype(np, info, header)
        if dtype.hasobject:
            raise BadEntry("header", "the .npy file asks for pickled objects")
        if self.verify_arrays:
            expected = info.get("c")
            if expected is None:
                raise BadEntry("unverified", "stored without a content hash (verify_arrays)")
            with mmap.mmap(fd, 0, access=mmap.ACCESS_READ) as m, memoryview(m) as view:
                ok = self.signer.content_mac(key, view[offset:]) == expected
            if not ok:
                raise BadEntry("content", "array content fails its keyed hash")
        # Map the descriptor we checked (np.load would reopen the path: a window for a swap).
        with os.fdopen(fd, "rb", closefd=False) as f:
            return np.memmap(
                f, dtype=dtype, mode="c", offset=offset, shape=tuple(info["s"]),
                order="F" if info["F"] else "C",
            )  # fmt: skip


def _dtype(np: Any, info: dict[str, Any], header: bytes) -> Any:
    if info.get("d"):
        return np.dtype(info["d"])
    import ast

    # Structured dtypes: parse the (authenticated) header text as numpy itself does.
    text = header[header.index(b"{") :].decode("latin-1")
    return np.lib.format.descr_to_dtype(ast.literal_eval(text)["descr"])
