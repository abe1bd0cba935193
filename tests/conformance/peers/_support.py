"""The three helpers of CPython's ``test.support`` that its ``TestLRU`` uses, so the vendored
suite runs on a Python installed without its test package."""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any


class support:
    @staticmethod
    def setswitchinterval(interval: float) -> None:
        sys.setswitchinterval(interval)


class threading_helper:
    @staticmethod
    def requires_working_threading() -> Callable[[Any], Any]:
        return lambda f: f

    @staticmethod
    @contextlib.contextmanager
    def start_threads(threads: list[threading.Thread]) -> Iterator[None]:
        started = []
        try:
            for t in threads:
                t.start()
                started.append(t)
            yield
        finally:
            for t in started:
                t.join(timeout=120)
                if t.is_alive():
                    raise AssertionError(f"{t.name} did not finish")
