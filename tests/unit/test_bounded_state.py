"""#30.7: per-topic state stays bounded — idle detector rows are forgotten (pure adapter over a dict table)."""

import asyncio
from typing import Any

from prometheus_client import CollectorRegistry

from monitor.aggregate.windows import empty_counts, window_stat
from monitor.config import Settings
from monitor.detect.stage import EVICT_EVERY, DetectStage
from monitor.metrics import Metrics

DAY = 86_400_000


class _Outbox:
    def __init__(self) -> None:
        self.sent: list[Any] = []

    async def send_confirmed(self, records: list[tuple[str, bytes | None, Any]]) -> None:
        self.sent.extend(records)


def _window(topic: str, start: int) -> dict[str, Any]:
    c = {**empty_counts(), "n": 10, "neu": 10}
    return window_stat(topic, "tumbling", start, start + 60_000, c, start + 60_000)


def test_idle_detector_state_is_forgotten_per_partition_and_never_while_firing():
    s = Settings.load(None, env={})
    table: dict[str, Any] = {}
    stage = DetectStage(s, Metrics(CollectorRegistry()), _Outbox(), table)

    async def run() -> None:
        for i in range(300):  # one-off topics seen once, on partitions 0 and 1
            await stage.on_window(_window(f"ONE{i}", 0), partition=i % 2)
        table["ONE0"]["rate_signal"]["life"]["firing"] = True  # an open incident is kept
        start = 31 * DAY
        while stage.seen % EVICT_EVERY:
            await stage.on_window(_window("LIVE", start), partition=0)
            start += 60_000

    asyncio.run(run())
    left = set(table)
    assert "LIVE" in left and "ONE0" in left
    assert not any(t.startswith("ONE") and int(t[3:]) % 2 == 0 for t in left - {"ONE0"})  # partition 0: forgotten
    assert sum(1 for t in left if t.startswith("ONE") and int(t[3:]) % 2 == 1) == 150  # partition 1: not its sweep


# --- the aggregation table: only what changed is written (aggregate.persist) -------------------------------------
class _Table(dict):
    """A dict that measures what a Faust table would write to its changelog (JSON bytes per key set)."""

    def __init__(self) -> None:
        super().__init__()
        self.bytes = 0

    def __setitem__(self, key: str, value: Any) -> None:
        import json

        self.bytes += len(key) + len(json.dumps(value))
        super().__setitem__(key, value)


def _aggregate(table: _Table):
    from types import SimpleNamespace

    from monitor.aggregate.stage import AggregateStage

    s = Settings.load(None, env={}, partitions=1, topic_windows="windows", window_s=3600, grace_s=10)
    stage = AggregateStage(s, Metrics(CollectorRegistry()), _Outbox(), table)
    stage.committed_of = lambda _p: 0

    def batch(offset: int, ids: list[str], ts: int = 60_000) -> list[Any]:
        value = {"topic": "BUSY", "events": [{"id": i, "ts": ts, "label": "negative", "score": -1.0} for i in ids]}
        msg = SimpleNamespace(partition=0, offset=offset, timestamp=1.0, incref=lambda: None)
        return [SimpleNamespace(value=value, message=msg)]

    return stage, batch


def test_changelog_bytes_per_batch_stay_bounded_as_an_open_bucket_grows():
    """#30.7: 200 batches of 100 posts into one open 1-hour bucket. Written whole (before), batch 200 wrote ~200x
    what batch 1 did; now each batch writes its own ids plus one partial chunk."""
    table = _Table()
    stage, batch = _aggregate(table)
    per_batch: list[int] = []

    async def run() -> None:
        for k in range(200):
            before = table.bytes
            await stage.on_batch(batch(k, [f"post-{k}-{i}" for i in range(100)]))
            per_batch.append(table.bytes - before)

    asyncio.run(run())
    assert max(per_batch[-20:]) < 3 * max(per_batch[:5]), (per_batch[:5], per_batch[-5:])
    assert stage.load("BUSY")["open"]["0"]["n"] == 20_000


def test_restored_state_keeps_its_dedup_and_closing_deletes_the_chunks():
    from monitor.aggregate import persist

    table = _Table()
    stage, batch = _aggregate(table)

    async def run() -> None:
        await stage.on_batch(batch(0, [f"p{i}" for i in range(1500)]))
        stage.on_assign()  # a rebalance: the in-memory states are read from the table again
        await stage.on_batch(batch(1, [f"p{i}" for i in range(1400, 1600)]))  # 100 redelivered, 100 new

    asyncio.run(run())
    bucket = stage.load("BUSY")["open"]["0"]
    assert bucket["n"] == 1600 and len(bucket["ids"]) == 1600
    assert sum(1 for k in table if persist.is_chunk_key(k)) == 4  # 1600 ids in chunks of 512
    tick = {"tick": 1, "src": "w", "idle": False, "parts": {"0": [3 * 3_600_000, False]}}

    async def close() -> None:
        from types import SimpleNamespace

        msg = SimpleNamespace(partition=0, offset=2, timestamp=1.0, incref=lambda: None)
        await stage.on_batch([SimpleNamespace(value=tick, message=msg)])

    asyncio.run(close())
    [w] = [v for t, k, v in stage.outbox.sent if v["kind"] == "tumbling" and v["n"]]
    assert w["n"] == 1600
    assert not any(persist.is_chunk_key(k) for k in table)


def test_id_chunks_go_to_the_changelog_partition_of_their_topic():
    from aiokafka.partitioner import DefaultPartitioner

    from monitor.aggregate import persist
    from monitor.faust_compat import patches as faust_patches

    class T:
        def partition_for_key(self, key: Any) -> int | None:
            return None

    t = T()
    faust_patches.co_partition(t, 8, lambda k: k.split(persist.SEP, 1)[0] if persist.is_chunk_key(k) else None)
    for topic in ("AAPL", "TSLA", "_all", "brand", "x" * 40):
        expect = DefaultPartitioner()(topic.encode(), list(range(8)), list(range(8)))
        assert t.partition_for_key(persist.chunk_key(topic, "0", 3)) == expect
        assert t.partition_for_key(topic) is None  # the producer's own partitioner: the same partition
