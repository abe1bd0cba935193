"""Process-wide settings every ``Cache`` reads: the HMAC key and ``total_memory`` (a leaf module).

STUB: the disk/serial helper replaces this file. Signatures are the contract.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["Settings", "settings"]


class Settings:
    """One object per process. The registry (configuration) fills it; ``Cache`` reads it."""

    total_memory: int | None = None
    secret_file: Path | None = None

    def secret_key(self) -> bytes:
        """The HMAC key: ``MEMCACHE_KIT_SECRET``, else ``secret_file``, else a per-user key file
        created on first use with mode 0600, outside every cache directory."""
        raise NotImplementedError


settings = Settings()
