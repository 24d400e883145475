"""Event-time watermark of one ingest worker over the raw partitions it owns (pure; wall time injected).

The watermark is the minimum, over *active* partitions, of the highest event time seen in each, so a partition
that is behind (a backlog after a restart, a slow producer) holds it back instead of having its events declared
late. A partition with no event for `idle_s` seconds of wall time is idle and does not hold it back (Flink's
"withIdleness"); a freshly assigned partition holds it back until its first event or until it turns idle.
The value never decreases.
"""

from __future__ import annotations

from collections.abc import Iterable


class PartitionWatermarks:
    def __init__(self, idle_s: float = 5.0) -> None:
        self.idle_s = idle_s
        self.parts: dict[int, tuple[int | None, float]] = {}
        self.current = 0

    def assign(self, partitions: Iterable[int], now: float) -> None:
        keep = set(partitions)
        self.parts = {p: self.parts.get(p, (None, now)) for p in keep}

    def observe(self, partition: int, event_ms: int, now: float) -> None:
        seen, _ = self.parts.get(partition, (None, now))
        self.parts[partition] = (event_ms if seen is None else max(seen, event_ms), now)

    def value(self, now: float) -> int:
        active = [ts for ts, wall in self.parts.values() if now - wall < self.idle_s]
        if any(ts is None for ts in active):
            return self.current
        if active:
            candidate = min(ts for ts in active if ts is not None)
        else:
            candidate = max((ts for ts, _ in self.parts.values() if ts is not None), default=0)
        self.current = max(self.current, candidate)
        return self.current
