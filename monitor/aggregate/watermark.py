"""Event-time watermark of one ingest worker over the raw partitions it owns (pure; wall time injected).

The watermark is the minimum, over *active* partitions, of the highest event time seen in each, so a partition
that is behind (a backlog after a restart, a slow producer) holds it back instead of having its events declared
late. A partition with no event for `idle_s` seconds of wall time *and no backlog* (the consumer has read up to the
partition's end offset) is idle and does not hold it back (Flink's "withIdleness", made backlog-aware); a freshly
assigned partition holds it back until its first event or until it is caught up and quiet. Without the backlog
check, a partition whose first fetch after a restart took longer than `idle_s` (a loaded machine) was declared
idle, the others' watermark closed its windows, and its backlog then arrived late: posts missing from windows
(the kill -9 reliability test, 1 run in 4 under two busy loops). The value never decreases.
"""

from __future__ import annotations

from collections.abc import Iterable

MAX_FUTURE_MS = 5 * 60_000  # event times further ahead of the wall clock neither move a watermark nor open a bucket


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

    def snapshot(self, now: float, hold: dict[int, int] | None = None, caught_up: set[int] | None = None
                 ) -> dict[int, tuple[int, bool]]:
        """Per owned partition: (highest event time published, idle?), for the ticks. A freshly assigned partition
        with no event yet reports 0 (holds back) until it turns idle. `hold`: per partition, an event time still
        pending (the media lane) that caps the reported value. `caught_up`: the partitions whose consumer has no
        backlog; only those can be idle (None: no backlog information, every quiet partition may be idle)."""
        out: dict[int, tuple[int, bool]] = {}
        for p, (ts, wall) in self.parts.items():
            wm = ts or 0
            if hold and p in hold:
                wm = min(wm, hold[p] - 1)
            quiet = now - wall >= self.idle_s and not (hold and p in hold)
            out[p] = (max(0, wm), quiet and (caught_up is None or p in caught_up))
        return out

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


class RawPartitionWatermarks:
    """Watermark of one aggregation partition from the per-raw-partition progress that ingest workers tick
    (pure; never decreases).

    Every tick carries, for each raw partition its sender owns, the highest event time published from it and
    whether it is idle. The value is the minimum over the raw partitions that are not idle, each at the highest
    value any owner reported (a new owner re-reading a backlog reports lower values first; those events are
    duplicates or newer). A raw partition whose owner died keeps its last value until the next owner reports,
    so a takeover can never let the watermark run past the dead owner's unpublished backlog; a lagging worker's
    partitions hold the watermark back (the minimum over workers). `n_partitions`: the raw topic's partition
    count; until every partition has reported, the watermark holds.
    """

    def __init__(self, n_partitions: int) -> None:
        self.n = n_partitions
        self.parts: dict[int, tuple[int, bool]] = {}
        self.at: dict[int, float] = {}  # time of the tick that set each partition's idle flag
        self.current = 0

    def tick(self, parts: dict[int, tuple[int, bool]], at: float = 0.0) -> None:
        """Apply one tick sent at `at` (the record's timestamp). A tick older than the one that last set a
        partition's idle flag (a re-read or redelivered tick) only raises values: an old "idle" must not come
        back after newer ticks said the partition is active, or the others' progress would close its windows."""
        for p, (wm, idle) in parts.items():
            prev = self.parts.get(p)
            if prev is not None and at < self.at.get(p, 0.0):
                self.parts[p] = (max(wm, prev[0]), prev[1])
                continue
            self.parts[p] = (max(wm, prev[0]) if prev else wm, idle)
            self.at[p] = at

    def value(self) -> int:
        if len(self.parts) < self.n:
            return self.current
        active = [wm for wm, idle in self.parts.values() if not idle]
        candidate = min(active) if active else max((wm for wm, _ in self.parts.values()), default=0)
        self.current = max(self.current, candidate)
        return self.current
