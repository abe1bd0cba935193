"""``RedisTier.verify``: the namespace's bookkeeping against the keys Redis actually holds.

Records whose entry Redis dropped on its own (TTL, ``maxmemory`` eviction, a restart) are
*stale*, expected and not a problem: ``repair`` forgets them. Problems are what the scripts never
leave behind: entries without a record (never culled), chunks no record points at, a byte total
that disagrees with the records, a recency index that disagrees with them, bytes over budget.
Writers running meanwhile can make a fresh entry's chunks look orphaned for a moment: verify a
namespace while it is quiet.
"""

from __future__ import annotations

from typing import Any, Protocol

from ..base import Degradable
from .lock import _FAILED, Remote


class Tier(Remote, Degradable, Protocol):
    """What verification reads of the tier (``tier.RedisTier`` is one; a protocol here, since
    the tier imports this module)."""

    url: str
    namespace: str
    _errors: tuple[type[BaseException], ...]
    _evictions: int

    def _usable(self) -> bool: ...
    def _flush(self) -> None: ...
    def _client(self) -> Any: ...
    def _fault(self, op: str, exc: BaseException) -> None: ...
    def _books(self, name: str, op: str, *args: Any) -> Any: ...
    def _totals(self, *, cull: bool = False) -> tuple[int, int]: ...


__all__ = ["verify"]


def verify(tier: Tier, repair: bool) -> tuple[list[str], int, dict[str, Any]]:
    problems: list[str] = []
    repaired = 0
    details: dict[str, Any] = {"url": tier.url, "namespace": tier.namespace}
    if not tier._usable():
        return [f"remote tier {tier.namespace!r}: Redis is unreachable"], 0, details
    tier._flush()
    k = tier.keys
    try:
        client = tier._client()
        entries: set[str] = set()
        chunks: dict[tuple[str, str], list[bytes]] = {}
        n = len(k.prefix)
        for raw in client.scan_iter(match=k.prefix + "*", count=1000):
            name = raw.decode("utf-8", "surrogateescape")
            rest = name[n:]
            if rest.startswith("e:"):
                entries.add(rest[2:])
            elif rest.startswith("c:"):
                parts = rest[2:].split(":")
                chunks.setdefault((parts[0], parts[1] if len(parts) > 1 else ""), []).append(raw)
        records = {
            f.decode(): v.decode() for f, v in client.hgetall(k.sizes).items()
        }  # key -> "size:token:count"
        lru = {m.decode() for m in client.zrange(k.lru, 0, -1)}
        total = int(client.hget(k.acct, "bytes") or 0)
    except tier._errors as exc:
        tier._fault("verify", exc)
        return [f"remote tier {tier.namespace!r}: Redis failed during verify: {exc}"], 0, details

    parsed: dict[str, tuple[int, str, int]] = {}
    for key, rec in records.items():
        try:
            size, token, count = rec.split(":")
            parsed[key] = (int(size), token, int(count))
        except ValueError:
            problems.append(f"entry {key}: unreadable record {rec!r}")
    stale = sorted(set(records) - entries)
    unaccounted = sorted(entries - set(records))
    orphans = [
        names
        for (key, token), names in chunks.items()
        if key not in parsed or parsed[key][1] != token
    ]
    details.update(
        entries=len(entries),
        records=len(records),
        stale=len(stale),
        bytes=total,
        budget=tier.budget,
        bad_entries=tier.bad_entries,
        faults=tier.faults,
        degraded=tier.degraded,
    )
    if unaccounted:
        problems.append(f"{len(unaccounted)} entries have no size record (never culled)")
    if orphans:
        problems.append(f"{sum(map(len, orphans))} chunks belong to no entry")
    live_sum = sum(v[0] for key, v in parsed.items() if key in records)
    if live_sum != total:
        problems.append(f"byte total {total} differs from the records' sum {live_sum}")
    if lru != set(records):
        problems.append("the recency index and the size records list different keys")
    if total > tier.budget:
        problems.append(f"budget exceeded: {total} bytes held, budget {tier.budget}")
    if not repair:
        return problems, 0, details

    for key in stale:
        if tier._books("delete", "verify", key) is not _FAILED:
            repaired += 1
    try:
        for key in unaccounted:
            client.unlink(k.entry(key))
            repaired += 1
        for names in orphans:
            client.unlink(*names)
            repaired += len(names)
        records_now = {f.decode(): v.decode() for f, v in client.hgetall(k.sizes).items()}
        live = sum(int(r.split(":")[0]) for r in records_now.values() if r.count(":") == 2)
        if int(client.hget(k.acct, "bytes") or 0) != live:
            client.hset(k.acct, "bytes", live)
            repaired += 1
        lru_now = {m.decode() for m in client.zrange(k.lru, 0, -1)}
        extra = lru_now - set(records_now)
        if extra:
            client.zrem(k.lru, *extra)
            repaired += len(extra)
        missing = set(records_now) - lru_now
        if missing:
            client.zadd(k.lru, dict.fromkeys(missing, 0))
            repaired += len(missing)
    except tier._errors as exc:
        tier._fault("verify", exc)
        problems.append(f"repair stopped: {exc}")
        return problems, repaired, details
    before = tier._evictions
    tier._totals(cull=True)
    repaired += tier._evictions - before
    return problems, repaired, details
