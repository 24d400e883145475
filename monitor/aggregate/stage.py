"""The aggregation stage's adapter: by-topic records -> idempotent tumbling buckets (table) -> closed windows.

Input records (key = topic): {"topic", "events": [compact event, ...]} from the ingest stage, and watermark ticks
{"tick", "src", "idle", "parts": {raw partition: [highest published event time, idle]}} that every ingest worker
sends to every partition. The pure cores are `aggregate.windows` (buckets, closing) and
`aggregate.watermark.RawPartitionWatermarks` (minimum over the raw partitions, whoever owns them: a lagging worker
holds it back, a dead worker's unpublished backlog too, until the next owner reports).
Window closing runs for the topics a batch touched and, when a partition's watermark moved, for the topics that
live in that partition, not for every key of the table on every batch.

Windows never close past a record the stage did not receive: the stage keeps the contiguous frontier of the
by-topic offsets it processed (`faust_compat.progress`). When a later record of a partition arrives while an earlier one
never did (the consumer fetched it but it never reached the stream: seen after a restart), the partition's windows
are *held* (events are still counted) until the record arrives; the adapter re-reads the partition from the
frontier after `ingest_stall_s` (`monitor_aggregate_rereads_total`). Without the hold, the watermark ticks after
the lost record closed its window first and the record, re-read later, was late: a CI run once emitted a window
8 posts short (`tests/integration/test_crash.py`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from monitor.aggregate import persist
from monitor.aggregate.watermark import MAX_FUTURE_MS, RawPartitionWatermarks
from monitor.aggregate.windows import ScoredEvent, WindowConfig, add_event, close_windows, is_idle, new_state
from monitor.config import Settings
from monitor.faust_compat.progress import IngestProgress
from monitor.metrics import Metrics
from monitor.outbox import Outbox

log = logging.getLogger("monitor.aggregate")


def window_config(settings: Settings) -> WindowConfig:
    return WindowConfig(settings.window_s * 1000, settings.hop_size_s * 1000, settings.hop_step_s * 1000,
                        settings.grace_s * 1000)


def events_of(value: dict[str, Any]) -> list[dict[str, Any]]:
    """The compact events of one by-topic record (batched; a single-event record from older versions too)."""
    if "events" in value:
        return [{**e, "topic": value["topic"]} for e in value["events"]]
    return [value]


def scored_event(v: dict[str, Any]) -> ScoredEvent:
    return ScoredEvent(v["id"], v["topic"], int(v["ts"]), v["label"], float(v["score"]), float(v.get("pn", 0.0)),
                       v.get("src", ""), v.get("tx", ""), tuple(v.get("mod", ())))


class AggregateStage:
    def __init__(self, settings: Settings, metrics: Metrics, outbox: Outbox, table: Any) -> None:
        self.s = settings
        self.metrics = metrics
        self.outbox = outbox
        self.table = table
        self.cfg = window_config(settings)
        self.wms: dict[int, RawPartitionWatermarks] = {}
        self.progress = IngestProgress(settings.ingest_stall_s)  # by-topic offsets processed, per partition
        self.committed_of: Callable[[int], int | None] = lambda _p: None  # the consumer's committed offset
        self.held: set[int] = set()  # partitions whose window closing waits for a missing record
        self.held_wm: dict[int, int] = {}  # per held partition: its watermark when the hole appeared
        self.fault_dropped = False
        self.late_logged = 0
        self.live: dict[str, dict[str, Any]] = {}  # topic -> state with its ids (the table holds it split: persist)

    def on_assign(self) -> None:
        """A rebalance: the table may have been recovered from the changelog: read states from it again."""
        self.live.clear()

    def load(self, topic: str) -> dict[str, Any] | None:
        state = self.live.get(topic)
        if state is None:
            stored = self.table.get(topic)
            if stored is None:
                return None
            state = self.live[topic] = persist.restore(topic, stored, self.table.get)
        return state

    def save(self, topic: str, state: dict[str, Any], gone: dict[str, int]) -> None:
        for key, value in persist.writes(topic, state, gone).items():
            if value is not None:
                self.table[key] = value
            elif key in self.table:
                del self.table[key]
        self.live[topic] = state

    def partition_wm(self, part: int, now: float) -> int:  # noqa: ARG002 - wall time not needed any more
        return self.wms.setdefault(part, RawPartitionWatermarks(self.s.partitions)).value()

    async def on_batch(self, events: list[Any]) -> None:
        """The batch, marked in progress (`IngestProgress.begin_batch`): a stage busy on a long batch is never
        taken for a stalled one (#30.13). A record the fault injection drops is dropped before the stage."""
        if self.s.fault_drop_bytopic_key and not self.fault_dropped:
            events = self._fault_drop(events, self.s.fault_drop_bytopic_key)
        with self.progress.batch(events):  # received: from now on being processed, not missing
            await self._on_batch(events)

    async def _on_batch(self, events: list[Any]) -> None:
        now = time.monotonic()
        self.progress.last_batch = now
        touched: dict[str, dict[str, Any]] = {}
        cap_ms = int(time.time() * 1000) + MAX_FUTURE_MS  # the ingest stage caps the watermark the same way
        before = {p: w.current for p, w in self.wms.items()}
        holes = self._track(events, now)
        waiting = holes | self.held  # this batch may bring the missing record: its events are not late either
        for e in events:
            v, part = e.value, e.message.partition
            if "tick" in v:
                self.wms.setdefault(part, RawPartitionWatermarks(self.s.partitions)).tick(
                    {int(p): (int(wm), bool(idle)) for p, (wm, idle) in v.get("parts", {}).items()},
                    at=e.message.timestamp or 0.0)
                continue
            # held partition: lateness against the watermark its topics were last closed at, not the current one
            wm = self.held_wm.get(part, 0) if part in waiting else self.partition_wm(part, now)
            for ev in events_of(v):
                topic = ev["topic"]
                if topic not in touched:
                    touched[topic] = self.load(topic) or new_state()
                    touched[topic]["p"] = part
                outcome = add_event(touched[topic], scored_event(ev), wm, self.cfg, cap_ms)
                if outcome == "late":
                    self.metrics.late_events.inc()
                    self.late_logged += 1
                    if self.late_logged <= 20:  # the first few, with what made them late
                        st = touched[topic]
                        log.warning("late event: topic %s event %s (by-topic %d:%d) watermark %s; topic next %s "
                                    "done %s wm %s", topic, ev.get("ts"), part, e.message.offset, wm,
                                    st.get("next"), st.get("done"), st.get("wm"))
                elif outcome == "duplicate":
                    self.metrics.duplicates_skipped.inc()
        moved = {p for p in self.wms if self.partition_wm(p, now) != before.get(p)}
        # the missing record arrived: close what waited for it (a partition revoked meanwhile is not closed here:
        # its new owner holds the complete state)
        released = (self.held - holes) & set(self.progress.parts)
        self.held = holes
        self.held_wm = {p: wm for p, wm in self.held_wm.items() if p in holes}
        moved |= released
        self.metrics.watermark.set(min((w.current for w in self.wms.values()), default=0) / 1000)
        self.metrics.windows_held.set(len(holes))
        changed = set(touched)
        if moved:
            for topic in list(self.table.keys()):
                if topic not in touched and not persist.is_chunk_key(topic):
                    if self.table[topic].get("p", -1) in moved:
                        touched[topic] = self.load(topic) or new_state()
        await self.close(touched, changed, holes)
        self.progress.last_batch = time.monotonic()

    def _track(self, events: list[Any], now: float) -> set[int]:
        """Mark the batch's records processed; return the partitions with a hole before them (see the module
        docstring), warning once per partition when a hole appears."""
        committed = {p: self.committed_of(p) for p in {*self.progress.parts, *(e.message.partition for e in events)}}
        for e in events:
            self.progress.next_offset(e.message.partition, committed[e.message.partition], now)  # place the frontier
            self.progress.finished(e.message.partition, e.message.offset, now)
        holes = {p for p in self.progress.parts if self.progress.has_hole(p, committed[p], now)}
        for p in holes - self.held:
            self.held_wm[p] = self.wms[p].current if p in self.wms else 0  # before this batch's ticks
            log.warning("by-topic partition %d: a record before offset %s never reached the aggregation stage; "
                        "holding its windows until it is re-read", p, min(self.progress.parts[p].ahead))
        return holes

    def _fault_drop(self, events: list[Any], key: str) -> list[Any]:
        """Fault injection (tests): drop the first by-topic record of topic `key`, unacknowledged."""
        kept = []
        for e in events:
            if not self.fault_dropped and isinstance(e.value, dict) and e.value.get("topic") == key:
                e.message.incref()  # never released: not committed, like a record lost in flight
                self.fault_dropped = True
                log.warning("fault injection: dropped by-topic record %d:%d", e.message.partition, e.message.offset)
                continue
            kept.append(e)
        return kept

    async def close(self, touched: dict[str, dict[str, Any]], changed: set[str], holes: set[int] = frozenset()
                    ) -> None:
        now_ms = int(time.time() * 1000)
        m = self.metrics
        records: list[tuple[str, bytes | None, Any]] = []
        closed_any: dict[str, bool] = {}
        gone: dict[str, dict[str, int]] = {}
        for topic, state in touched.items():
            p = state.get("p", -1)
            if p in holes:  # counted, not closed: a record of this partition is missing
                closed_any[topic] = False
                continue
            wm = self.wms[p].current if p in self.wms else 0
            saved_before = {b: bucket.get("saved", 0) for b, bucket in state["open"].items()}
            closed = close_windows(state, topic, wm, self.cfg, now_ms)
            gone[topic] = {b: n for b, n in saved_before.items() if b not in state["open"]}
            closed_any[topic] = bool(closed)
            for w in closed:
                records.append((self.s.topic_windows, topic.encode(), w))
                label = m.topic_label(topic)
                m.windows_emitted.labels(w["kind"]).inc()
                m.window_negative_rate.labels(label, w["kind"]).set(w["negative_rate"])
                m.window_posts.labels(label, w["kind"]).set(w["n"])
                m.window_closed_ts.labels(label).set(now_ms / 1000)
        if records:
            # a closed bucket leaves the table (its changelog) only once its window record is on the broker: after a
            # kill -9 the changelog could otherwise say "closed" for a window that was never delivered, and the
            # restarted worker would never emit it (the open crash race: "windows did not close after restart");
            # a refused window record is sent again until acknowledged, never skipped (#30.6)
            await self.outbox.send_confirmed(records)
        for topic, state in touched.items():
            if not closed_any[topic] and topic not in changed:
                continue
            if is_idle(state):
                for key in persist.writes(topic, state, gone.get(topic)):  # nothing open: only chunk deletions
                    if key in self.table:
                        del self.table[key]
                self.live.pop(topic, None)
            else:
                self.save(topic, state, gone.get(topic, {}))  # only what changed: see aggregate.persist
