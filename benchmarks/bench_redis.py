"""The Redis tier's own get/set (tier level, no local tiers) vs raw redis-py on the same bytes,
then a full remote hit through ``Cache``: the memory and disk misses, the remote read, and the
promotion into memory and disk (both cleared before each call), next to the tier-level get.

Starts a private redis-server on a free loopback port in a temporary directory and stops it at
the end. Small value: 100 bytes; large: an 8 MB float64 array (one chunk, its MAC checked on
read). "raw" is redis-py's GET/SET of the same payload bytes on an equally configured client.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time

from benchmarks._util import per_call, table


def _start(directory: str) -> tuple[subprocess.Popen[bytes], int]:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not os.path.exists(binary):
        raise SystemExit("redis-server is not installed: `apt-get install redis-server`")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", directory]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as c:
                c.sendall(b"PING\r\n")
                if c.recv(16).startswith(b"+PONG"):
                    return proc, port
        except OSError:
            time.sleep(0.02)
    proc.kill()
    raise SystemExit("redis-server did not start")


def main() -> None:
    import pickle

    import numpy as np
    import redis

    os.environ.setdefault("MEMCACHE_KIT_SECRET", "benchmark-secret-0123456789abcdef")
    from memcache_kit._tiers.redis.tier import RedisTier

    with tempfile.TemporaryDirectory() as tmp:
        proc, port = _start(tmp)
        try:
            url = f"redis://127.0.0.1:{port}/0"
            tier = RedisTier(url, 1 << 30, namespace="bench", timeout=5.0)
            raw = redis.Redis(host="127.0.0.1", port=port, socket_timeout=5.0)
            small = os.urandom(100)
            arr = np.random.default_rng(0).random(1_000_000)  # 8 MB
            raw.set("raw:small", pickle.dumps(small, protocol=5))
            raw.set("raw:large", arr.tobytes())
            tier.set("0" * 32, small)
            tier.set("1" * 32, arr)
            assert tier.get("0" * 32) == small
            assert np.array_equal(tier.get("1" * 32), arr)

            rows: list[tuple[str, float, str]] = []
            for label, ours, theirs in (
                ("get 100 B", lambda: tier.get("0" * 32), lambda: raw.get("raw:small")),
                (
                    "get 8 MB array",
                    lambda: tier.get("1" * 32),
                    lambda: np.frombuffer(raw.get("raw:large"), dtype=np.float64),  # type: ignore[arg-type]
                ),
                (
                    "set 100 B",
                    lambda: tier.set("2" * 32, small),
                    lambda: raw.set("raw:s2", small),
                ),
                (
                    "set 8 MB array",
                    lambda: tier.set("3" * 32, arr),
                    lambda: raw.set("raw:l2", arr.tobytes()),
                ),
            ):
                # Alternate short rounds and keep each side's best: the loopback round trip
                # drifts with the machine's load far more than the two sides differ.
                a = b = float("inf")
                for _ in range(5):
                    a = min(a, per_call(ours, repeat=2, budget=0.2))
                    b = min(b, per_call(theirs, repeat=2, budget=0.2))
                rows.append((f"RedisTier {label}", a, f"{a / b:.2f}x raw"))
                rows.append((f"redis-py  {label}", b, "1.00x"))
            # The tier's own CPU on a hit, without the round trip: unseal (MAC) + unpickle.
            blob: bytes = raw.get(tier.keys.entry("0" * 32))  # type: ignore[assignment]
            sk = tier._seal_key("0" * 32)
            decode = per_call(lambda: pickle.loads(tier._signer.unseal(blob, key=sk).payload))
            rows.append(("RedisTier decode 100 B (no I/O)", decode, ""))
            table("Redis tier vs raw redis-py (loopback, same server)", rows)
            table("A full remote hit through Cache (local tiers miss, value promoted)",
                  _through_cache(url, tmp, small, arr, rows))  # fmt: skip
            tier.close()
            raw.close()
        finally:
            proc.kill()
            proc.wait(timeout=10)


def _through_cache(
    url: str, tmp: str, small: bytes, arr: object, tier_rows: list[tuple[str, float, str]]
) -> list[tuple[str, float, str]]:
    from memcache_kit import Cache
    from memcache_kit._keys import make_key

    tier_get = {label: secs for label, secs, _ in tier_rows if label.startswith("RedisTier get")}
    writer = Cache("bench-cache", memory=0, disk=0, directory=f"{tmp}/w", remote=url)
    writer.set("small", small)
    writer.set("large", arr)
    rows: list[tuple[str, float, str]] = []
    # memory and disk on, emptied before each get: miss, miss, remote hit, promote into both
    reader = Cache("bench-cache", memory="256MiB", disk="1GiB", directory=f"{tmp}/r", remote=url)
    # memory and disk off: miss straight to the remote tier, nothing to promote into
    bare = Cache("bench-cache", memory=0, disk=0, directory=f"{tmp}/b", remote=url)
    assert reader._memory is not None and reader._disk is not None
    mem, disk = reader._memory, reader._disk

    def promoted(key: str) -> object:
        # Drop the local copies the previous call promoted (the tiers' own delete, cheap).
        mem.delete(key)
        disk.delete(make_key(key).disk)
        return reader.get(key)

    for key, label in (("small", "100 B"), ("large", "8 MB array")):
        full = min(
            per_call(lambda key=key: promoted(key), repeat=2, budget=0.3)  # type: ignore[misc]
            for _ in range(3)
        )
        direct = min(
            per_call(lambda key=key: bare.get(key), repeat=2, budget=0.3)  # type: ignore[misc]
            for _ in range(3)
        )
        base = tier_get[
            f"RedisTier get {label}" if label == "100 B" else "RedisTier get 8 MB array"
        ]
        rows.append(
            (f"Cache get {label}, local tiers off", direct, f"{direct / base:.2f}x tier get")
        )
        rows.append((f"Cache get {label}, promoted to memory+disk", full,
                     f"{full / base:.2f}x tier get"))  # fmt: skip
    for c in (writer, reader, bare):
        c.close()
    return rows


if __name__ == "__main__":
    main()
