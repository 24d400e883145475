"""Pure cores of the hot path v2: media-lane admission, duplicate-text cache, hashtag budget, watermarks merged
over workers, per-topic batching of window events, webhook give-up horizon."""

from __future__ import annotations

import asyncio
import random

from monitor.alert.delivery import RetryPolicy, Target, deliver
from monitor.ingest.records import bytopic_batches
from monitor.ingest.route import FOLDED_HASHTAGS, HashtagBudget, Router
from monitor.outbox import encode
from monitor.score.cache import TextCache
from monitor.score.lanes import LaneItem, MediaLane


# --- media lane ----------------------------------------------------------------------------------------------
def test_media_lane_refuses_when_full_counting_busy_items():
    lane = MediaLane(capacity=2, max_wait_s=10)
    assert lane.offer(LaneItem(1000, 0.0, "a"))
    assert lane.offer(LaneItem(2000, 0.0, "b"))
    assert not lane.offer(LaneItem(3000, 0.0, "c"))  # full: the caller sheds it
    batch, expired = lane.take(1, now=1.0)
    assert [i.payload for i in batch] == ["a"] and expired == []
    assert not lane.offer(LaneItem(3000, 1.0, "c"))  # "a" is being encoded: still counts
    lane.done(batch)
    assert lane.offer(LaneItem(3000, 1.0, "c"))


def test_media_lane_has_a_byte_budget_counting_busy_items():
    """#31: a few huge media posts cannot hold gigabytes: the lane refuses past `max_bytes` (queued + encoding),
    but always admits one post into an empty lane (a single post larger than the budget is still enriched)."""
    mb = 2**20
    lane = MediaLane(capacity=100, max_wait_s=10, max_bytes=10 * mb)
    assert lane.offer(LaneItem(1, 0.0, "a", 6 * mb))
    assert not lane.offer(LaneItem(2, 0.0, "b", 6 * mb))  # 12 MiB > 10: shed
    assert lane.offer(LaneItem(3, 0.0, "c", 3 * mb))
    batch, _ = lane.take(2, now=1.0)
    assert lane.nbytes() == 9 * mb and not lane.offer(LaneItem(4, 1.0, "d", 2 * mb))  # busy items count
    lane.done(batch)
    assert lane.offer(LaneItem(5, 1.0, "huge", 50 * mb))  # empty lane: admitted
    assert not lane.offer(LaneItem(6, 1.0, "tiny", 1))


def test_media_lane_expires_items_that_waited_too_long_and_holds_the_oldest_event_time():
    lane = MediaLane(capacity=10, max_wait_s=5)
    lane.offer(LaneItem(5000, 0.0, "old"))
    lane.offer(LaneItem(1000, 4.0, "young"))
    assert lane.oldest_event_ms() == 1000
    assert lane.oldest_wait_s(6.0) == 6.0
    batch, expired = lane.take(4, now=6.0)
    assert [i.payload for i in expired] == ["old"]
    assert [i.payload for i in batch] == ["young"]
    assert lane.oldest_event_ms() == 1000  # busy items still hold the watermark
    lane.done(batch)
    assert lane.oldest_event_ms() is None and len(lane) == 0


# --- duplicate-text cache --------------------------------------------------------------------------------------
def test_text_cache_normalises_and_counts_hits():
    c = TextCache(max_entries=10, max_bytes=10_000)
    assert c.get("RT @bob: Great   results! https://t.co/x") is None
    c.put("RT @bob: Great   results! https://t.co/x", (0.1, 0.2, 0.7))
    assert c.get("great results!") == (0.1, 0.2, 0.7)
    assert c.get("poor results!") is None
    assert c.hits == 1 and c.misses == 2
    assert abs(c.hit_ratio - 1 / 3) < 1e-9


def test_text_cache_is_bounded_by_entries_and_bytes():
    c = TextCache(max_entries=3, max_bytes=10_000)
    for i in range(10):
        c.put(f"text number {i}", (1.0, 0.0, 0.0))
    assert len(c) == 3
    assert c.get("text number 9") is not None and c.get("text number 0") is None
    small = TextCache(max_entries=1000, max_bytes=2_000)
    for i in range(500):
        small.put(f"{i} " + "x" * 100, (1.0, 0.0, 0.0))
    assert len(small) < 500
    assert small.bytes <= 2_000


def test_text_cache_keeps_recently_used_entries():
    c = TextCache(max_entries=2, max_bytes=10_000)
    c.put("a", (1.0, 0.0, 0.0))
    c.put("b", (0.0, 1.0, 0.0))
    assert c.get("a") is not None  # "a" is now the most recent
    c.put("c", (0.0, 0.0, 1.0))
    assert c.get("a") is not None and c.get("b") is None


# --- hashtag budget -------------------------------------------------------------------------------------------
def test_hashtag_budget_bounds_topics_and_folds_the_rest():
    folded: list[int] = []
    r = Router(max_hashtags=3, on_fold=lambda kind: folded.append(kind))
    seen: set[str] = set()
    for i in range(200):
        seen.update(r.topics(f"post #tag{i} #common"))
    hashtags = {t for t in seen if t.startswith("tag") or t == "common"}
    assert len(hashtags) <= 3
    assert FOLDED_HASHTAGS in seen and folded
    assert "common" in seen


def test_hashtag_budget_lets_a_loud_new_tag_displace_quiet_ones():
    b = HashtagBudget(2, decay_every=64)
    for t in ("quiet1", "quiet2"):
        assert b.admit(t)
    assert not b.admit("loud")
    for _ in range(200):
        b.admit("loud")
    assert b.admit("loud")


def test_configured_keywords_and_pinned_topics_are_never_folded():
    r = Router({"brand": ["acme"]}, max_hashtags=1, max_cashtags=1, pinned=["TSLA"])
    r.topics("#one $AAPL")
    assert set(r.topics("$TSLA acme #two")) >= {"TSLA", "brand"}


def test_cashtags_and_explicit_topics_are_budgeted_by_volume():
    """#30.7: 100,000 distinct one-off cashtags and explicit topics: at most N of each are topics, the rest fold
    into `_cashtags` / `_topics` (counted per kind); a loud ticker keeps its own topic."""
    from monitor.ingest.route import FOLDED_CASHTAGS, FOLDED_TOPICS

    folded: dict[str, int] = {}
    r = Router(max_cashtags=50, max_explicit=20, on_fold=lambda k: folded.__setitem__(k, folded.get(k, 0) + 1))
    seen: set[str] = set()
    for i in range(100_000):
        tag = "".join(chr(65 + (i // 26 ** k) % 26) for k in range(4))
        seen.update(r.topics(f"${tag} and $LOUD" if i % 3 == 0 else f"${tag}", [f"t{i}"] if i % 10 == 0 else []))
    cashtags = {t for t in seen if t.isupper() and not t.startswith("_")}
    assert len(r.budgets["cashtag"].admitted) <= 50 and len(r.budgets["explicit"].admitted) <= 20  # at a time
    assert "LOUD" in cashtags and len(cashtags) <= 3 * 50  # over the whole run: some churn, never 100,000
    assert {FOLDED_CASHTAGS, FOLDED_TOPICS} <= seen and len([t for t in seen if t.startswith("t")]) <= 3 * 20
    assert folded["cashtag"] > 90_000 and folded["explicit"] > 9_000
    assert "LOUD" in r.topics("$LOUD again")


# --- by-topic batching and encoding ---------------------------------------------------------------------------
def test_bytopic_batches_one_record_per_topic_in_order():
    out = bytopic_batches([(["A", "B"], {"id": 1}), (["A"], {"id": 2}), (["_all"], {"id": 3})])
    assert list(out) == ["A", "B", "_all"]
    assert out["A"] == {"topic": "A", "events": [{"id": 1}, {"id": 2}]}
    assert out["B"]["events"] == [{"id": 1}]


def test_outbox_encoding_is_compact_utf8_json():
    import json

    import numpy as np

    raw = encode({"text": "café ☕", "p": np.float32(0.5), "v": np.array([1, 2])})
    assert b" " not in raw.replace("café ☕".encode(), b"")
    assert json.loads(raw) == {"text": "café ☕", "p": 0.5, "v": [1, 2]}


# --- webhook give-up horizon ----------------------------------------------------------------------------------
def test_webhook_gives_up_after_the_horizon_instead_of_retrying_forever():
    """A receiver that always answers 503: without the horizon `deliver` retries forever (wait_for fails it)."""
    from tests.unit.test_alert_delivery import RECORD, Receiver

    r = Receiver(fail_first=10**9)
    policy = RetryPolicy(base_s=0.05, cap_s=0.1, max_attempts=0, horizon_s=0.6)

    async def go() -> str:
        import aiohttp

        async with aiohttp.ClientSession() as s:
            return await asyncio.wait_for(deliver(s, Target(url=r.url), RECORD, policy, rng=random.Random(0)), 10)

    try:
        assert asyncio.run(go()) == "give_up"
    finally:
        r.close()
    assert len(r.requests) >= 3


# --- per-raw-partition watermarks (takeover-safe) -------------------------------------------------------------
def test_raw_partition_watermark_is_the_minimum_over_partitions_whoever_owns_them():
    from monitor.aggregate.watermark import RawPartitionWatermarks

    w = RawPartitionWatermarks(3)
    w.tick({0: (100_000, False), 1: (90_000, False)})  # worker A owns 0 and 1
    assert w.value() == 0  # partition 2 has not reported yet: hold
    w.tick({2: (40_000, False)})  # worker B (lagging) owns 2
    assert w.value() == 40_000
    w.tick({2: (95_000, False)})
    assert w.value() == 90_000


def test_a_dead_owners_partition_holds_the_watermark_until_the_next_owner_reports():
    """With per-worker watermarks that expire (the first v2 design), the survivor's watermark took over 10 s
    after the kill and the dead worker's unpublished backlog became late: posts missing from windows."""
    from monitor.aggregate.watermark import RawPartitionWatermarks

    w = RawPartitionWatermarks(2)
    w.tick({0: (200_000, False)})  # survivor
    w.tick({1: (50_000, False)})  # the worker that is then killed; it never ticks again
    for _ in range(100):
        w.tick({0: (300_000, False)})
    assert w.value() == 50_000
    w.tick({0: (300_000, False), 1: (20_000, False)})  # new owner re-reads the backlog from the committed offset
    assert w.value() == 50_000  # max per partition: re-read events do not pull it back
    w.tick({1: (120_000, False)})
    assert w.value() == 120_000
    w.tick({1: (120_000, True)})  # partition 1 idle: no longer holds back
    assert w.value() == 300_000


def test_ingest_snapshot_holds_pending_media_and_fresh_partitions():
    from monitor.aggregate.watermark import PartitionWatermarks

    pw = PartitionWatermarks(idle_s=5)
    pw.assign([0, 1], now=0.0)
    pw.observe(0, 100_000, now=1.0)
    snap = pw.snapshot(2.0, hold={0: 60_000})
    assert snap[0] == (59_999, False)  # capped by a media post still pending in the lane
    assert snap[1] == (0, False)  # no event yet, not idle yet: holds back
    assert pw.snapshot(10.0)[1] == (0, True)


def test_table_keys_land_in_the_partition_of_their_topic_records():
    """Window/detector state (JSON keys) must live in the partition of the topic's raw-keyed records."""
    import json

    from aiokafka.partitioner import DefaultPartitioner

    from monitor.app import topic_key_partitioner

    parts = list(range(12))
    for topic in ("acme", "AAPL", "_all", "café", "zz-closer", "q\"uote"):
        assert topic_key_partitioner(json.dumps(topic).encode(), parts, parts) == \
            DefaultPartitioner()(topic.encode(), parts, parts)


def test_malloc_arena_cap_applies_on_glibc_and_yields_to_the_environment(monkeypatch):
    import platform

    from monitor.worker import limit_malloc_arenas

    assert limit_malloc_arenas(0) is False
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_malloc_arenas(2) is False  # the operator's environment wins
    monkeypatch.delenv("MALLOC_ARENA_MAX")
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert limit_malloc_arenas(2) is True


def test_memory_housekeeper_trims_and_traces(tmp_path):
    import json
    import platform

    from monitor.memory import Housekeeper, malloc_trim, rss_bytes

    assert rss_bytes() > 10 * 2**20
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        junk = [bytearray(1000) for _ in range(50_000)]  # ~50 MB of small blocks, then freed
        del junk
        assert malloc_trim() is True  # glibc handed the freed pages back (it could not fail before)
    trace = tmp_path / "trace.jsonl"
    hk = Housekeeper(3600, trim=True, trace_path=str(trace))
    first = hk.step()
    assert first["rss_before"] > 0 and first["rss_after"] > 0
    keep = [bytearray(1024) for _ in range(20_000)]  # ~20 MB allocated after tracing started  # noqa: F841
    second = hk.step()
    lines = [json.loads(x) for x in trace.read_text().splitlines()]
    assert len(lines) == 2 and "grew" not in lines[0] and second["grew"]
    assert sum(g["kb"] for g in second["grew"]) > 15_000  # the growth is attributed to this file's line
    assert any("test_hot_path.py" in g["where"] for g in second["grew"])
    import tracemalloc

    tracemalloc.stop()


def test_a_stale_tick_does_not_bring_back_an_old_idle_flag():
    """A re-read (or redelivered) tick saying "partition 1 idle" must not undo the newer ticks that said it is
    active again: the others' progress would close its windows before its events arrive."""
    from monitor.aggregate.watermark import RawPartitionWatermarks

    w = RawPartitionWatermarks(2)
    w.tick({0: (50_000, False), 1: (40_000, True)}, at=10.0)
    w.tick({0: (300_000, False), 1: (60_000, False)}, at=11.0)  # partition 1 active again, behind
    assert w.value() == 60_000
    w.tick({0: (50_000, False), 1: (40_000, True)}, at=10.0)  # the old tick again (a re-read of the topic)
    assert w.value() == 60_000 and w.parts[1] == (60_000, False)
    w.tick({1: (70_000, True)}, at=12.0)  # a newer idle flag applies
    assert w.value() == 300_000


def test_cache_hits_are_published_when_the_scorer_fails_on_their_batch():
    """Hot path v3 #2: a batch whose misses make the scorer fail used to drop its duplicate-text cache hits
    (neither published nor dead-lettered, yet acknowledged). Now the misses go to the DLQ and the hits are scored."""
    import asyncio
    import json
    from types import SimpleNamespace

    from monitor.config import Settings
    from monitor.ingest.stage import IngestStage
    from monitor.metrics import Metrics
    from monitor.score.factory import build_scorer

    class RecordingOutbox:  # the stage's only output port: records what it would hand to the producer
        def __init__(self) -> None:
            self.sent: list[tuple[str, dict]] = []

        async def send(self, topic, key, value, partition=None):
            self.sent.append((topic, value))
            fut = asyncio.get_running_loop().create_future()
            fut.set_result(None)
            return fut

    def event(offset: int, post: dict) -> SimpleNamespace:
        msg = SimpleNamespace(partition=0, offset=offset, timestamp=None, topic="raw", incref=lambda: None)
        return SimpleNamespace(value=json.dumps(post).encode(), message=msg, ack=lambda: None)

    class FailingScorer:  # a scorer bug that takes the whole batch down (not the per-post retry path)
        def __init__(self) -> None:
            self.inner = build_scorer(s)
            self.name, self.version = self.inner.name, self.inner.version

        def score(self, posts):
            if any("BOOM" in (p.text or "") for p in posts):
                raise RuntimeError("scorer bug")
            return self.inner.score(posts)

    s = Settings(scorer="vader", media_encoders=False)
    out = RecordingOutbox()
    stage = IngestStage(s, Metrics(), out, FailingScorer, "bytopic")

    async def run() -> None:
        await stage.on_batch([event(0, {"id": "a", "created_at": 1000, "text": "great results, love it"})])
        await stage.on_batch([event(1, {"id": "b", "created_at": 2000, "text": "great results, love it"}),
                              event(2, {"id": "c", "created_at": 3000, "text": "BOOM goes the scorer"})])

    asyncio.run(run())
    scored = [v["id"] for t, v in out.sent if t == s.topic_scored]
    dlq = [v.get("post_id") for t, v in out.sent if t == s.topic_dlq]
    assert scored == ["a", "b"] and dlq == ["c"], (scored, dlq)
