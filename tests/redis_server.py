"""A real ``redis-server`` on a free loopback port, as pytest fixtures.

Import the fixtures into a test module (``from redis_server import redis_server  # noqa: F401``).
Without the binary the tests skip with how to install it, unless ``MEMCACHE_KIT_REQUIRE_REDIS``
is set (CI sets it): then they fail.
"""

from __future__ import annotations

import gc
import os
import random
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

__all__ = ["RedisServer", "redis_server", "redis_binary"]

REQUIRE_ENV = "MEMCACHE_KIT_REQUIRE_REDIS"


def redis_binary() -> str:
    """Path of redis-server, or skip (fail when ``MEMCACHE_KIT_REQUIRE_REDIS`` is set)."""
    found = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None
    )
    if found is None:
        message = "redis-server is not installed: `apt-get install redis-server` to run these tests"
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(f"{message} ({REQUIRE_ENV} is set)")
        pytest.skip(message)
    return found


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _free_port() -> int:
    # Below the kernel's ephemeral range, and with port + 10000 free too: a cluster node also
    # listens there (its bus port), and redis refuses cluster ports above 55535.
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(20000, 30000)
        if _bindable(port) and _bindable(port + 10000):
            return port
    raise RuntimeError("no free loopback port pair for redis-server")


class RedisServer:
    """One redis-server process in ``directory``; ``kill()``/``start()`` keep the port."""

    def __init__(self, binary: str, directory: Path) -> None:
        self.binary = binary
        self.directory = directory
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._clients: list[Any] = []

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, *extra: str) -> None:
        args = [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.directory),
            "--daemonize", "no",
            *extra,
        ]  # fmt: skip
        log = open(self.directory / "redis.log", "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                text = (self.directory / "redis.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}:\n{text}")
            if self.ping():
                return
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"redis-server on port {self.port} did not answer PING in 15 s")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL the server (no shutdown, no save) and wait for it."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)

    def restart(self, *extra: str) -> None:
        self.kill()
        self.start(*extra)

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections stay open, nothing answers."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def resume_if_paused(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)

    def client(self) -> Any:
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)
        self._clients.append(client)
        return client

    def close_clients(self) -> None:
        """Close every client ``client()`` handed out (their sockets would otherwise be left to
        the garbage collector, which warns in whichever later test it happens to run)."""
        clients, self._clients = self._clients, []
        for client in clients:
            client.close()


@pytest.fixture
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A fresh, empty redis-server for one test; killed at teardown."""
    binary = redis_binary()
    last: Exception | None = None
    for _ in range(3):  # another process may take the free port between probe and bind
        server = RedisServer(binary, tmp_path_factory.mktemp("redis"))
        try:
            server.start()
        except RuntimeError as exc:
            last = exc
            continue
        try:
            yield server
        finally:
            server.resume_if_paused()
            server.close_clients()
            server.kill()
            # A socket this test left open is reported here, against this test, not at random in
            # whichever later test the garbage collector happens to run.
            gc.collect()
        return
    raise RuntimeError(f"could not start redis-server: {last}")
