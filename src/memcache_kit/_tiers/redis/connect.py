"""Connections to Redis: clients from URLs (standalone or cluster), closing every socket they
opened, URLs safe to log, and the secret every machine of a remote tier must share."""

from __future__ import annotations

import contextlib
import os
import re
from typing import Any

from ..._errors import ConfigError
from ..._settings import SECRET_ENV, settings

__all__ = ["SCHEMES", "check_arguments", "close_client", "connect", "safe_url", "shared_secret"]

SCHEMES = ("redis://", "rediss://", "unix://", "redis+cluster://", "rediss+cluster://")
NAMESPACE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,199}")


def check_arguments(url: object, namespace: object, timeout: object, chunk_size: object) -> None:
    """Reject what a remote tier cannot be given, naming the argument and what is allowed."""
    if not isinstance(url, str) or not url.startswith(SCHEMES):
        raise ValueError(
            f"remote URL {url!r} is not supported: use redis://host:port/db, rediss:// (TLS), "
            "unix:///path.sock or redis+cluster://host:port"
        )
    if not isinstance(namespace, str) or not NAMESPACE.fullmatch(namespace):
        raise ValueError(
            f"remote namespace {namespace!r} is not allowed: use 1-200 letters, digits, "
            "'_', '-' and '.', not starting with '.' or '-'"
        )
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise ValueError(f"remote_timeout is seconds > 0 per Redis call, not {timeout!r}")
    if type(chunk_size) is not int or chunk_size < 1024:
        raise ValueError(f"chunk_size is bytes >= 1024, not {chunk_size!r}")


def shared_secret() -> bytes:
    """The process key, refusing the per-user key file: other machines would not share it."""
    if not os.environ.get(SECRET_ENV) and settings.secret_file is None:
        raise ConfigError(
            "a remote tier needs a secret shared by every machine that uses it: set "
            f"{SECRET_ENV} (at least 16 characters) or `secret_file` in the configuration to "
            "the same value everywhere. The per-user key file that memory and disk tiers "
            "create on their own differs on each machine, so remote entries written elsewhere "
            "would all be rejected as forged."
        )
    return settings.secret_key()


def connect(url: str, timeout: float) -> Any:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    # One quick retry on a broken connection (e.g. after a server restart), none on a timeout:
    # a call then waits at most `timeout` for a server that does not answer.
    retry = Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,))
    options: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": retry,
    }
    if "+cluster://" in url:
        from redis.cluster import RedisCluster

        plain = url.replace("+cluster://", "://", 1)
        return RedisCluster.from_url(plain, **options)
    return redis.Redis.from_url(url, **options)


def close_client(client: Any, errors: tuple[type[BaseException], ...]) -> None:
    """Close ``client`` and every socket it opened.

    A standalone client's idle connections close now; one that another thread is using
    finishes its command and closes when it is collected (``Connection.__del__``), so closing
    the tier never pulls a socket from under a running command. A cluster client's ``close()``
    reaches only the nodes in its current map; the startup nodes' connections are disconnected
    here too, or the garbage collector would find their sockets open."""
    manager = getattr(client, "nodes_manager", None)
    if manager is None:
        with contextlib.suppress(*errors):
            client.connection_pool.disconnect(inuse_connections=False)
        return
    with contextlib.suppress(*errors):
        client.close()
    nodes = [*manager.nodes_cache.values(), *manager.startup_nodes.values()]
    for node in nodes:
        conn = node.redis_connection
        if conn is not None:
            with contextlib.suppress(*errors):
                conn.connection_pool.disconnect()


def safe_url(url: str) -> str:
    """``url`` without its password, for logs."""
    return re.sub(r"//([^:/@]*):[^@/]*@", r"//\1:***@", url)
