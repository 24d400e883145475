"""The ingest stage's adapter: a batch of raw events -> decode -> route -> text lane / media lane -> outputs.

    posts.raw batch ─► decode (pure) ─ invalid ─► posts.dlq
                       ├─ text-only / shed ─► duplicate-text cache ─► text executor ─► publish
                       └─ with media ─► MediaLane (bounded; full ─► shed) ─► media executor ─► publish
    publish: posts.scored (one record per post) + <app>-bytopic (one record per topic per batch)

Text never waits for image or audio work: the text lane runs on its own executor thread and the batch's media
posts are only *admitted* to the media lane before the batch is acknowledged. At-least-once is kept with Faust's
reference counts: a media event gets one extra reference when admitted, so the batch's acknowledgement does not
release it; the media lane releases it (`event.ack()`) after its outputs were handed to the producer. A commit
never passes a delivered record that is still unacknowledged (Faust's own rule let it pass one sitting right at the
committed offset: fixed in `monitor.faust_compat.patches.new_offset`), so a crash re-delivers a pending media post (and
the text posts after it: duplicates the windows skip by post id), never loses it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from monitor.aggregate.watermark import MAX_FUTURE_MS, PartitionWatermarks
from monitor.config import Settings
from monitor.faust_compat.progress import IngestProgress
from monitor.ingest.decode import DecodeFailure, decode_post
from monitor.ingest.records import bytopic_batches, dlq_value, scored_record, topic_event
from monitor.ingest.route import Router
from monitor.metrics import Metrics
from monitor.outbox import Outbox
from monitor.score.base import Scorer, ScoreResult
from monitor.score.cache import TextCache
from monitor.score.lanes import SHED_FETCH, SHED_FULL, SHED_TIMEOUT, LaneItem, MediaLane
from monitor.types import Post

log = logging.getLogger("monitor.ingest")
Item = tuple[Post, Any]  # a decoded post and its Faust event


def _lower_priority() -> None:
    """Media threads run at a lower CPU priority (Linux: nice is per thread), so text keeps its share."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        pass


class IngestStage:
    def __init__(self, settings: Settings, metrics: Metrics, outbox: Outbox, scorer_factory: Callable[[], Scorer],
                 bytopic: str) -> None:
        self.s = settings
        self.metrics = metrics
        self.outbox = outbox
        self.bytopic = bytopic
        self.scorer_factory = scorer_factory
        self.scorer: Scorer | None = None
        self.router = Router(settings.keywords, settings.catch_all_topic, max_hashtags=settings.max_hashtag_topics,
                             on_fold=lambda kind: metrics.topics_folded.labels(kind).inc(),
                             max_cashtags=settings.max_cashtag_topics, max_explicit=settings.max_explicit_topics,
                             pinned=[*settings.monitored_topics, *settings.topic_overrides])
        self.pwm = PartitionWatermarks(settings.watermark_idle_s)
        self.progress = IngestProgress(settings.ingest_stall_s)
        self.fault_dropped = False
        self.cache = TextCache(settings.text_cache_entries, settings.text_cache_mb * 1024 * 1024)
        self.lane = MediaLane(settings.media_lane_capacity, settings.media_max_wait_s,
                              int(settings.media_lane_max_mb * 2**20))
        self.text_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="text-lane")
        self.media_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="media-lane",
                                             initializer=_lower_priority)
        self.wake = asyncio.Event()
        self.text_lag_s = 0.0

    # --- models -------------------------------------------------------------------------------------------
    def load(self) -> Scorer:
        if self.scorer is None:
            self.scorer = self.scorer_factory()
            self.metrics.model_info.info({"name": self.scorer.name, "version": self.scorer.version})
        return self.scorer

    @property
    def text_scorer(self) -> Any:
        return getattr(self.load(), "text", self.scorer)

    @property
    def has_media_lane(self) -> bool:
        return hasattr(self.load(), "text")  # a MultimodalScorer (media encoders installed and enabled)

    # --- the batch ----------------------------------------------------------------------------------------
    async def on_batch(self, events: list[Any]) -> None:
        """The batch, marked in progress (`IngestProgress.begin_batch`): a stage busy on a long batch is never
        taken for a stalled one (#30.13). A record the fault injection drops is dropped before the stage."""
        if self.s.fault_drop_raw_marker and not self.fault_dropped:
            events = self._fault_drop(events, self.s.fault_drop_raw_marker.encode())
        with self.progress.batch(events):  # received: from now on being processed, not missing
            await self._on_batch(events)

    async def _on_batch(self, events: list[Any]) -> None:
        """Decode, dead-letter, admit media, score text. Returns once every text output and every media
        admission is done: the caller's acknowledgement of the batch is then safe."""
        self.progress.last_batch = time.monotonic()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self.text_pool, self.load)
        self.metrics.posts_received.inc(len(events))
        text: list[Item] = []
        shed: list[Item] = []
        media_ok = self.has_media_lane
        now = time.monotonic()
        for ev in events:
            res = decode_post(ev.value, self.s.limits, self.s.allow_remote_media, self.s.remote_media_allowlist)
            if isinstance(res, DecodeFailure):
                await self.send_dlq(res.reason, res.detail, ev, res.post_id)
            elif res.media and media_ok:
                if self.lane.offer(LaneItem(res.event_ms, now, (res, ev), len(ev.value or b""))):
                    ev.message.incref()  # released by the media lane once its outputs are produced
                    self.wake.set()
                else:
                    shed.append((res, ev))
            else:
                text.append((res, ev))
        self.metrics.media_lane_posts.set(len(self.lane))
        if events:
            ts = [e.message.timestamp for e in events if e.message.timestamp]
            self.text_lag_s = max(0.0, time.time() - min(ts)) if ts else 0.0  # Faust: seconds
            self.metrics.lane_lag_seconds.labels("text").set(self.text_lag_s)
        if text or shed:
            await self.score_text(text, shed, SHED_FULL)
        done = time.monotonic()
        for ev in events:  # every record of the batch is now published, dead-lettered or in the media lane
            self.progress.finished(ev.message.partition, ev.message.offset, done)
        self.progress.last_batch = done

    def _fault_drop(self, events: list[Any], marker: bytes) -> list[Any]:
        """Fault injection (tests): drop the first record with `marker`, unacknowledged (never committed)."""
        kept = []
        for ev in events:
            if not self.fault_dropped and isinstance(ev.value, bytes) and marker in ev.value:
                ev.message.incref()  # never released: the offset is not committed, like a record lost in flight
                self.fault_dropped = True
                log.warning("fault injection: dropped raw record %s:%d", ev.message.partition, ev.message.offset)
                continue
            kept.append(ev)
        return kept

    async def score_text(self, items: list[Item], shed: list[Item], reason: str) -> None:
        """Text lane: cache hits answered at once, the rest scored on the text executor, then published."""
        allitems = items + shed
        results: list[ScoreResult | None] = [None] * len(allitems)
        misses: list[int] = []
        for k, (post, _) in enumerate(allitems):
            probs = self.cache.get(post.text) if post.text and post.text.strip() else None
            if probs is None:
                misses.append(k)
            else:
                results[k] = ScoreResult(probs, _label(probs), ["text"], self.text_scorer.version, cached=True)
        self._cache_metrics(len(allitems) - len(misses), sum(1 for k in misses if allitems[k][0].text))
        if misses:
            scored = await self._run(self.text_pool, self.text_scorer.score, [allitems[k] for k in misses])
            # a failed batch: its misses went to the DLQ (`_run`); the cache hits are still published below
            for k, r in zip(misses, scored or [], strict=False):
                results[k] = r
                post = allitems[k][0]
                if r.probs and not r.error and r.modalities == ["text"] and post.text:
                    self.cache.put(post.text, r.probs)
        for k in range(len(items), len(allitems)):
            res = results[k]
            if res is None:
                continue
            res.shed_reason = reason
            for m in allitems[k][0].media:
                self.metrics.media_shed.labels(m.kind, reason).inc()
        keep = [k for k, r in enumerate(results) if r is not None]
        await self.publish([allitems[k] for k in keep], [results[k] for k in keep], "text")  # type: ignore[misc]

    def _cache_metrics(self, hits: int, misses: int) -> None:
        if hits:
            self.metrics.text_cache.labels("hit").inc(hits)
        if misses:
            self.metrics.text_cache.labels("miss").inc(misses)
        self.metrics.text_cache_hit_ratio.set(self.cache.hit_ratio)

    async def _run(self, pool: ThreadPoolExecutor, fn: Callable[[list[Post]], list[ScoreResult]],
                   items: list[Item]) -> list[ScoreResult] | None:
        """Score on an executor; a scorer bug sends every post of the batch to the DLQ (the worker lives)."""
        self.metrics.inflight_batches.inc()
        self.metrics.encoder_queue.inc(len(items))
        t0 = time.perf_counter()
        try:
            results = await asyncio.get_running_loop().run_in_executor(pool, fn, [p for p, _ in items])
        except Exception as exc:  # noqa: BLE001
            log.exception("scorer failed on a batch")
            for p, ev in items:
                await self.send_dlq("scorer_error", f"{type(exc).__name__}: {exc}"[:300], ev, p.id)
            return None
        finally:
            self.metrics.inflight_batches.dec()
            self.metrics.encoder_queue.dec(len(items))
        by_mod: dict[str, float] = {}
        for r in results:
            for m, sec in r.seconds_by_modality.items():
                by_mod[m] = by_mod.get(m, 0.0) + sec
        for m, sec in by_mod.items():
            self.metrics.scorer_seconds.labels(m).observe(sec)
        if not by_mod:
            self.metrics.scorer_seconds.labels("text").observe(time.perf_counter() - t0)
        self.metrics.batch_size.observe(len(items))
        return results

    async def publish(self, items: list[Item], results: list[ScoreResult], lane: str) -> None:
        now = time.time()
        pairs: list[tuple[list[str], dict[str, Any]]] = []
        m = self.metrics
        by_label: dict[str, int] = {}  # counters incremented once per batch and label, not once per post
        by_topic: dict[tuple[str, str], int] = {}
        freshness = m.event_to_scored_seconds.labels(lane)
        for (post, ev), res in zip(items, results, strict=True):
            if res.error:
                await self.send_dlq(res.reason, res.error, ev, post.id)
                continue
            if res.shed_reason == SHED_FETCH:  # shed by the scorer itself (a dead media link), not by the lane
                for md in post.media:
                    m.media_shed.labels(md.kind, SHED_FETCH).inc()
            topics = self.router.topics(post.text, post.topics)
            latency = max(0.0, now - ev.message.timestamp) if ev.message.timestamp else 0.0  # seconds
            await self.outbox.send(self.s.topic_scored, post.id.encode(),
                                   scored_record(post, res, topics, latency, lane))
            pairs.append((topics, topic_event(post, res)))
            by_label[res.label] = by_label.get(res.label, 0) + 1
            for t in topics:
                key = (t, res.label)
                by_topic[key] = by_topic.get(key, 0) + 1
            if res.probs:
                m.model_confidence.labels(res.label).observe(max(res.probs))
            m.processing_seconds.observe(latency)
            freshness.observe(max(0.0, now - post.event_ms / 1000))
        for label, n in by_label.items():
            m.posts_scored.labels(label).inc(n)
        for (topic, label), n in by_topic.items():
            m.topic_posts.labels(m.topic_label(topic), label).inc(n)
        for topic, rec in bytopic_batches(pairs).items():
            await self.outbox.send(self.bytopic, topic.encode(), rec)
        # Only now may these event times move the watermark: a tick (sent by the timer whenever this coroutine
        # awaits) must never reach an aggregation partition ahead of the events it covers, or their window could
        # close without them.
        mono, cap = time.monotonic(), int(now * 1000) + MAX_FUTURE_MS
        for (post, ev), res in zip(items, results, strict=True):
            if not res.error:
                self.pwm.observe(ev.message.partition, min(post.event_ms, cap), mono)

    async def send_dlq(self, reason: str, detail: str, ev: Any, post_id: str | None) -> None:
        self.metrics.posts_dead_lettered.labels(reason).inc()
        msg = ev.message
        await self.outbox.send(self.s.topic_dlq, (post_id or "").encode() or None,
                               dlq_value(reason, detail, ev.value, msg.topic, msg.partition, msg.offset, post_id))

    # --- the media lane -----------------------------------------------------------------------------------
    async def media_loop(self) -> None:
        """Forever: take media batches from the lane, shed the ones that waited too long, encode, publish, ack."""
        while True:
            if not self.lane.queue:
                self.wake.clear()
                try:
                    await asyncio.wait_for(self.wake.wait(), timeout=1.0)
                except TimeoutError:
                    pass
            batch, expired = self.lane.take(self.s.media_batch_size, time.monotonic())
            if expired:
                items = [i.payload for i in expired]
                await self.score_text([], items, SHED_TIMEOUT)
                self._release(expired)
            if batch:
                items = [i.payload for i in batch]
                results = await self._run(self.media_pool, self.load().score, items)
                if results is not None:
                    await self.publish(items, results, "media")
                self._release(batch)
            self.metrics.media_lane_posts.set(len(self.lane))
            self.metrics.lane_lag_seconds.labels("media").set(self.lane_age_s())

    def _release(self, items: list[LaneItem]) -> None:
        self.lane.done(items)
        for it in items:
            it.payload[1].ack()

    def lane_age_s(self) -> float:
        """Age (now - broker timestamp) of the oldest post pending in the media lane."""
        ts = [i.payload[1].message.timestamp for i in (*self.lane.queue, *self.lane.busy)]
        ts = [t for t in ts if t]
        return max(0.0, time.time() - min(ts)) if ts else 0.0  # Faust message timestamps are seconds

    def partition_progress(self, now: float, caught_up: set[int] | None = None) -> dict[int, tuple[int, bool]]:
        """Per owned raw partition: highest published event time (capped by media posts still pending in the
        lane, so their window cannot close before they are scored) and idleness (only for partitions in
        `caught_up`, i.e. without a backlog): the content of a tick."""
        hold: dict[int, int] = {}
        for it in (*self.lane.queue, *self.lane.busy):
            part = it.payload[1].message.partition
            hold[part] = min(hold.get(part, it.event_ms), it.event_ms)
        return self.pwm.snapshot(now, hold, caught_up)

    def watermark(self, now: float) -> int:
        """This worker's event-time watermark, held back by the media posts still pending in the lane."""
        wm = self.pwm.value(now)
        hold = self.lane.oldest_event_ms()
        return min(wm, hold - 1) if hold is not None and wm else wm


def _label(probs: tuple[float, float, float]) -> str:
    from monitor import LABELS

    return LABELS[max(range(3), key=lambda i: probs[i])]
