"""Observing caches: what ``Cache`` records and the tools that read it.

The parts ``Cache`` itself uses sit below it and are this face: ``stats`` (per-process
statistics files, merged by ``memcache-kit stats``), ``record`` (the access-trace recorder) and
``traces`` (trace readers). ``report`` (``mk.report``) and ``advisor`` (``mk.advise``) stand in
front of ``Cache``, beside the fronts: they are imported as ``_observe.report`` and
``_observe.advisor`` by the public face and the CLI, never from here (that would make ``Cache``
import them).
"""

from __future__ import annotations

from . import record, stats
from .record import Recorder
from .stats import read_stats
from .traces import Trace, read_trace

__all__ = ["Recorder", "Trace", "read_stats", "read_trace", "record", "stats"]
