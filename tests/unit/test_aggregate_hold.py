"""The aggregation stage holds a partition's windows while a record before a processed one never arrived."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from monitor.aggregate.stage import AggregateStage
from monitor.config import Settings
from monitor.metrics import Metrics

MIN = 60_000


class Outbox:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []

    async def send(self, topic: str, key: bytes | None, value: Any, partition: int | None = None) -> Any:
        self.sent.append((topic, value))
        fut = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut

    async def send_confirmed(self, records: list[tuple[str, bytes | None, Any]]) -> None:
        for topic, key, value in records:
            await self.send(topic, key, value)


def ev(offset: int, value: dict, partition: int = 0) -> Any:
    msg = SimpleNamespace(partition=partition, offset=offset, timestamp=1000.0 + offset, incref=lambda: None)
    return SimpleNamespace(value=value, message=msg)


def record(*ids_and_ts: tuple[str, int]) -> dict:
    return {"topic": "_all", "events": [{"id": i, "ts": ts, "label": "negative", "score": -1.0} for i, ts in ids_and_ts]}


TICK = {"tick": 1, "src": "w", "idle": False, "parts": {"0": [10 * MIN, False]}}


def windows(out: Outbox) -> list[dict]:
    return [v for t, v in out.sent if t == "windows" and v["kind"] == "tumbling" and v["n"]]


def run(batches: list[list[Any]], committed: int | None = 0) -> Outbox:
    s = Settings.load(None, env={}, partitions=1, topic_windows="windows", grace_s=10)
    out = Outbox()
    stage = AggregateStage(s, Metrics(), out, {})
    stage.committed_of = lambda _p: committed

    async def go() -> None:
        for b in batches:
            await stage.on_batch(b)
    asyncio.run(go())
    return out


def test_windows_wait_for_a_record_that_never_arrived_then_close_with_it() -> None:
    first, lost = record(("a", 5_000)), record(("b", 6_000))
    out = run([[ev(0, first), ev(2, TICK)]])  # offset 1 (post b) was fetched but never delivered
    assert windows(out) == []  # held: without the hold, minute 0 closed with 1 post of 2
    out = run([[ev(0, first), ev(2, TICK)], [ev(1, lost)]])  # the re-read brings it
    [w] = windows(out)
    assert (w["start_ms"], w["n"]) == (0, 2)


def test_without_a_hole_windows_close_at_once() -> None:
    out = run([[ev(0, record(("a", 5_000))), ev(1, record(("b", 6_000))), ev(2, TICK)]])
    [w] = windows(out)
    assert (w["start_ms"], w["n"]) == (0, 2)


def test_an_old_event_for_a_new_topic_stays_late_while_held() -> None:
    """While held, lateness is judged against the watermark the partition had when the hole appeared, not 0: a
    redelivered old post of a topic without state must not open (and later emit) a bucket long closed."""
    old_tick = {"tick": 1, "src": "w", "idle": False, "parts": {"0": [10 * MIN, False]}}
    stale = {"topic": "$OLD", "events": [{"id": "z", "ts": 1_000, "label": "neutral", "score": 0.0}]}
    out = run([[ev(0, old_tick)], [ev(2, stale), ev(3, TICK)], [ev(1, record(("b", 9 * MIN)))]])
    assert [w for w in windows(out) if w["topic"] == "$OLD"] == []


def test_a_held_partition_revoked_meanwhile_is_not_closed_short() -> None:
    s = Settings.load(None, env={}, partitions=1, topic_windows="windows", grace_s=10)
    out = Outbox()
    stage = AggregateStage(s, Metrics(), out, {})
    stage.committed_of = lambda _p: 0

    async def go() -> None:
        await stage.on_batch([ev(0, record(("a", 5_000))), ev(2, TICK)])  # 1 missing: held
        stage.progress.assign(set(), now=0.0)  # partition 0 revoked (its new owner re-reads the record)
        await stage.on_batch([])
    asyncio.run(go())
    assert windows(out) == []
