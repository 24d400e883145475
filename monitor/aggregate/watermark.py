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

    def all_idle(self, now: float) -> bool:
        """Every owned partition idle (or none owned): this worker should not hold other workers back."""
        return all(now - wall >= self.idle_s for _, wall in self.parts.values())

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


class SourceWatermarks:
    """Watermark of one aggregation partition from the ticks of every ingest worker (pure; wall time injected).

    Each worker ("source") ticks its own watermark (and whether all its raw partitions are idle). The partition's
    watermark is the *minimum* over the live, non-idle sources, so the posts of a lagging worker are not declared
    late; idle sources do not hold it back, and a source silent for `ttl_s` (a stopped or killed worker, whose
    partitions another worker now owns) is forgotten. With only idle sources, the maximum of their watermarks.
    Never decreases.
    """

    def __init__(self, ttl_s: float = 10.0) -> None:
        self.ttl_s = ttl_s
        self.sources: dict[str, tuple[int, bool, float]] = {}
        self.current = 0

    def tick(self, source: str, watermark: int, idle: bool, now: float) -> None:
        prev = self.sources.get(source)
        self.sources[source] = (max(watermark, prev[0]) if prev else watermark, idle, now)

    def value(self, now: float) -> int:
        self.sources = {s: v for s, v in self.sources.items() if now - v[2] <= self.ttl_s}
        active = [wm for wm, idle, _ in self.sources.values() if not idle]
        if active:
            candidate = min(active)
        else:
            candidate = max((wm for wm, _, _ in self.sources.values()), default=0)
        self.current = max(self.current, candidate)
        return self.current
