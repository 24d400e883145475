"""The Faust app: the only place where stages are wired together.

posts.raw ─ingest agent─► decode (pure) ─► route (pure) ─► score (executor thread, micro-batches)
            │ invalid ─► posts.dlq                       └─► posts.scored (key = post id)
            └─► <app_id>-bytopic (key = topic; + watermark ticks to every partition)
<app_id>-bytopic ─aggregate agent─► tumbling buckets per topic (pure core, changelog-backed table,
            idempotent by post id) ─► closed tumbling + hopping windows ─► sentiment.windows (key = topic)

Delivery: at-least-once. Faust flushes the producer before it commits offsets, and every output of a batch
is handed to the producer before the batch is acknowledged, so a crash re-delivers rather than loses;
window counts are idempotent by post id. exactly_once is not used (unsupported by the embedded broker).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import faust

from monitor import __version__, faust_patches
from monitor.aggregate.watermark import PartitionWatermarks
from monitor.aggregate.windows import ScoredEvent, WindowConfig, add_event, close_windows, is_idle, new_state
from monitor.config import Settings
from monitor.detect.engine import process_volume, process_window
from monitor.detect.lifecycle import LifecycleConfig
from monitor.detect.rate import RateConfig
from monitor.detect.volume import VolumeConfig
from monitor.ingest.decode import DecodeFailure, decode_post
from monitor.ingest.route import Router
from monitor.metrics import Metrics
from monitor.score.base import Scorer
from monitor.types import Post

log = logging.getLogger("monitor.app")
MAX_FUTURE_MS = 5 * 60_000  # event times further ahead of the wall clock do not move the watermark


def bytopic_name(settings: Settings) -> str:
    return f"{settings.app_id}-bytopic"


def window_config(settings: Settings) -> WindowConfig:
    return WindowConfig(settings.window_s * 1000, settings.hop_size_s * 1000, settings.hop_step_s * 1000,
                        settings.grace_s * 1000)


def dlq_value(reason: str, detail: str, raw: bytes | None, topic: str, partition: int, offset: int,
              post_id: str | None) -> dict[str, Any]:
    return {"reason": reason, "detail": detail, "original_b64": base64.b64encode(raw or b"").decode(),
            "source_topic": topic, "partition": partition, "offset": offset, "post_id": post_id,
            "time": datetime.now(UTC).isoformat()}


def negative_drivers(by_modality: dict[str, list[float]], contributions: dict[str, float]) -> list[str]:
    """Modalities that carried the negative evidence: negative is their strongest class and (when the fusion
    recorded contributions) they hold at least 15 % of the attention."""
    return [m for m, v in by_modality.items()
            if v and v[0] == max(v) and (not contributions or contributions.get(m, 0.0) >= 0.15)]


def broker_credentials(settings: Settings) -> Any:
    """Faust credentials from the settings (None for PLAINTEXT)."""
    proto = settings.security_protocol
    if proto.startswith("SASL"):
        return faust.SASLCredentials(username=settings.sasl_username, password=settings.sasl_password,
                                     mechanism=settings.sasl_mechanism or "PLAIN", ssl_context=settings.ssl_context())
    if proto == "SSL":
        return faust.SSLCredentials(settings.ssl_context())
    return None


def build_app(settings: Settings, metrics: Metrics, scorer_factory: Callable[[], Scorer]) -> faust.App:
    faust_patches.install()
    app = faust.App(
        settings.app_id,
        broker=[f"kafka://{h}" for h in settings.bootstrap_servers.split(",")],
        store="memory://",
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.session_timeout_s / 3),
        broker_commit_interval=settings.commit_interval_s,
        table_standby_replicas=0,
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
        producer_max_request_size=16 * 1024 * 1024,
        broker_credentials=broker_credentials(settings),
        consumer_max_fetch_size=16 * 1024 * 1024,
    )
    raw_topic = app.topic(settings.topic_raw, key_serializer="raw", value_serializer="raw")
    scored_topic = app.topic(settings.topic_scored, key_serializer="raw", value_serializer="json")
    dlq_topic = app.topic(settings.topic_dlq, key_serializer="raw", value_serializer="json")
    windows_topic = app.topic(settings.topic_windows, key_type=str, key_serializer="raw", value_serializer="json")
    alerts_topic = app.topic(settings.topic_alerts, key_type=str, key_serializer="raw", value_serializer="json")
    bytopic = app.topic(bytopic_name(settings), key_type=str, key_serializer="raw", value_serializer="json",
                        partitions=settings.partitions)
    # key = topic (raw utf-8 bytes, like the bytopic records), so the producer's partitioner puts a topic's
    # changelog entries in the partition of its events: state recovers where the topic's events are consumed
    state_table = app.Table("window-state", default=None, partitions=settings.partitions, use_partitioner=True,
                            key_type=str)
    detector_table = app.Table("detector-state", default=None, partitions=settings.partitions, use_partitioner=True,
                               key_type=str)
    rate_cfg = RateConfig(warmup_windows=settings.detect_warmup_windows, min_posts=settings.detect_min_posts,
                          p_threshold=settings.detect_p_threshold, min_ratio=settings.detect_min_ratio)
    life_cfg = LifecycleConfig(resolve_windows=settings.alert_resolve_windows,
                               cooldown_ms=settings.alert_cooldown_s * 1000)
    volume_cfg = VolumeConfig(warmup_windows=max(settings.detect_warmup_windows, 10))
    volume_life = LifecycleConfig(resolve_windows=settings.alert_resolve_windows,
                                  cooldown_ms=settings.volume_cooldown_s * 1000)
    router = Router(settings.keywords, settings.catch_all_topic)
    wcfg = window_config(settings)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scorer")
    pwm = PartitionWatermarks(settings.watermark_idle_s)
    # agg_wm: watermark per partition of the by-topic topic (a topic's events, ticks and state share one)
    holder: dict[str, Any] = {"scorer": None, "wm": 0, "last_tick": 0.0, "agg_wm": {}, "assigned": 0}
    app.monitor_state = holder  # type: ignore[attr-defined]  # readiness / tests

    def get_scorer() -> Scorer:
        if holder["scorer"] is None:
            holder["scorer"] = scorer_factory()
            metrics.model_info.info({"name": holder["scorer"].name, "version": holder["scorer"].version})
        return holder["scorer"]

    metrics.build_info.info({"version": __version__})

    @app.on_partitions_assigned.connect
    async def _assigned(sender: Any, assigned: Any, **kw: Any) -> None:  # noqa: ARG001
        holder["assigned"] = len(assigned)
        metrics.assigned_partitions.set(len(assigned))
        pwm.assign([tp.partition for tp in assigned if tp.topic == settings.topic_raw], time.monotonic())

    @app.on_partitions_revoked.connect
    async def _revoked(sender: Any, revoked: Any, **kw: Any) -> None:  # noqa: ARG001
        holder["assigned"] = 0
        metrics.assigned_partitions.set(0)
        metrics.consumer_lag.clear()

    def readiness() -> dict[str, bool]:
        """Broker connected and partitions assigned (a group assignment needs the broker), models loaded."""
        return {"models_loaded": holder["scorer"] is not None, "partitions_assigned": holder["assigned"] > 0}

    app.monitor_readiness = readiness  # type: ignore[attr-defined]

    @app.task
    async def load_models() -> None:
        await asyncio.get_running_loop().run_in_executor(pool, get_scorer)
        log.info("scorer ready: %s", holder["scorer"].version)

    async def send_dlq(reason: str, detail: str, raw: bytes | None, msg: Any, post_id: str | None) -> None:
        metrics.posts_dead_lettered.labels(reason).inc()
        await dlq_topic.send(key=(post_id or "").encode() or None,
                             value=dlq_value(reason, detail, raw, msg.topic, msg.partition, msg.offset, post_id),
                             force=True)

    @app.agent(raw_topic)
    async def ingest(stream: Any) -> None:
        loop = asyncio.get_running_loop()
        async for events in stream.take_events(settings.batch_size, within=settings.batch_max_wait_s):
            metrics.posts_received.inc(len(events))
            posts: list[tuple[Post, Any]] = []
            for ev in events:
                result = decode_post(ev.value, settings.limits, settings.allow_remote_media,
                                     settings.remote_media_allowlist)
                if isinstance(result, DecodeFailure):
                    await send_dlq(result.reason, result.detail, ev.value, ev.message, result.post_id)
                else:
                    posts.append((result, ev))
            if posts:
                await score_and_publish(loop, posts)

    async def score_and_publish(loop: asyncio.AbstractEventLoop, posts: list[tuple[Post, Any]]) -> None:
        metrics.inflight_batches.inc()
        metrics.encoder_queue.inc(len(posts))
        try:
            await _score_and_publish(loop, posts)
        finally:
            metrics.inflight_batches.dec()

    async def _score_and_publish(loop: asyncio.AbstractEventLoop, posts: list[tuple[Post, Any]]) -> None:
        scorer = await loop.run_in_executor(pool, get_scorer)
        t0 = time.perf_counter()
        try:
            results = await loop.run_in_executor(pool, scorer.score, [p for p, _ in posts])
        except Exception as exc:  # noqa: BLE001 - scorer bug: every post of the batch to the DLQ, worker lives
            log.exception("scorer failed on a batch")
            for p, ev in posts:
                await send_dlq("scorer_error", f"{type(exc).__name__}: {exc}"[:300], ev.value, ev.message, p.id)
            return
        finally:
            metrics.encoder_queue.dec(len(posts))
        by_mod: dict[str, float] = {}
        for r in results:
            for m, sec in r.seconds_by_modality.items():
                by_mod[m] = by_mod.get(m, 0.0) + sec
        for m, sec in by_mod.items():
            metrics.scorer_seconds.labels(m).observe(sec)
        if not by_mod:
            metrics.scorer_seconds.labels("text").observe(time.perf_counter() - t0)
        metrics.batch_size.observe(len(posts))
        now = time.time()
        for (post, ev), res in zip(posts, results, strict=True):
            if res.error:
                await send_dlq(res.reason, res.error, ev.value, ev.message, post.id)
                continue
            topics = router.topics(post.text, post.topics)
            probs = dict(zip(("negative", "neutral", "positive"), res.probs, strict=True)) if res.probs else {}
            latency = max(0.0, now - ev.message.timestamp) if ev.message.timestamp else 0.0
            ts = post.event_ms
            await scored_topic.send(key=post.id.encode(), force=True, value={
                "id": post.id, "topics": topics, "event_ms": ts, "source": post.source, "probs": probs,
                "label": res.label, "modalities": res.modalities, "model": res.model, "latency_s": latency,
                "text": (post.text or "")[:280], "by_modality": res.by_modality, "evidence": res.evidence,
                "contributions": res.contributions})
            score = probs.get("positive", 0.0) - probs.get("negative", 0.0)
            value = {"id": post.id, "ts": ts, "label": res.label, "score": score}
            if res.label == "negative":  # explanation material travels with negatives only
                value.update({"pn": probs["negative"], "src": post.source, "tx": (post.text or "")[:140],
                              "mod": negative_drivers(res.by_modality, res.contributions) or res.modalities})
            for t in topics:
                await bytopic.send(key=t, force=True, value={**value, "topic": t})
            metrics.posts_scored.labels(res.label).inc()
            for t in topics:
                metrics.topic_posts.labels(metrics.topic_label(t), res.label).inc()
            if res.probs:
                metrics.model_confidence.labels(res.label).observe(max(res.probs))
            metrics.processing_seconds.observe(latency)
            pwm.observe(ev.message.partition, min(ts, int(now * 1000) + MAX_FUTURE_MS), time.monotonic())

    @app.timer(settings.tick_interval_s)
    async def tick() -> None:
        """Propagate this worker's event-time watermark to every aggregation partition (when it moved)."""
        wm = holder["wm"] = pwm.value(time.monotonic())
        if wm and wm != holder["last_tick"]:
            holder["last_tick"] = wm
            for p in range(settings.partitions):
                await bytopic.send(key=None, value={"tick": wm}, partition=p, force=True)

    @app.timer(settings.lag_interval_s)
    async def consumer_lag() -> None:
        """Per assigned partition: high watermark minus the next offset to read. Passive: reads the consumer's own
        bookkeeping (the high watermark of the last fetch, the last offset read); sends no request and never moves a
        position (an active position() probe raced with Faust's seek to committed offsets after a rebalance)."""
        consumer = app.consumer
        try:
            for tp in list(consumer.assignment()):
                hw = consumer.highwater(tp)
                read = consumer._read_offset.get(tp)  # noqa: SLF001 - Faust's own per-partition read position
                if hw is None:
                    continue
                nxt = (read + 1) if read is not None else consumer._committed_offset.get(tp)  # noqa: SLF001
                if nxt is not None:
                    metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(max(0, hw - nxt))
        except Exception as exc:  # noqa: BLE001 - a metrics probe never takes the worker down
            log.debug("consumer lag probe failed: %s", exc)

    @app.agent(bytopic)
    async def aggregate(stream: Any) -> None:
        part_wm: dict[int, int] = holder["agg_wm"]
        async for events in stream.take_events(500, within=0.5):
            touched: dict[str, dict[str, Any]] = {}
            for e in events:
                v, part = e.value, e.message.partition
                if "tick" in v:
                    part_wm[part] = max(part_wm.get(part, 0), int(v["tick"]))
                    continue
                topic = v["topic"]
                if topic not in touched:
                    touched[topic] = state_table.get(topic) or new_state()
                    touched[topic]["p"] = part
                ev = ScoredEvent(v["id"], topic, int(v["ts"]), v["label"], float(v["score"]),
                                 float(v.get("pn", 0.0)), v.get("src", ""), v.get("tx", ""), tuple(v.get("mod", ())))
                outcome = add_event(touched[topic], ev, part_wm.get(part, 0), wcfg)
                if outcome == "late":
                    metrics.late_events.inc()
                elif outcome == "duplicate":
                    metrics.duplicates_skipped.inc()
            metrics.watermark.set(min(part_wm.values(), default=0) / 1000)
            now_ms = int(time.time() * 1000)
            changed = set(touched)
            for topic in list(state_table.keys()):
                if topic not in touched:
                    touched[topic] = state_table[topic]
            for topic, state in touched.items():
                closed = close_windows(state, topic, part_wm.get(state.get("p", -1), 0), wcfg, now_ms)
                for w in closed:
                    await windows_topic.send(key=topic.encode(), value=w, force=True)
                    label = metrics.topic_label(topic)
                    metrics.windows_emitted.labels(w["kind"]).inc()
                    metrics.window_negative_rate.labels(label, w["kind"]).set(w["negative_rate"])
                    metrics.window_posts.labels(label, w["kind"]).set(w["n"])
                    metrics.window_closed_ts.labels(label).set(now_ms / 1000)
                if not closed and topic not in changed:
                    continue
                if is_idle(state):
                    if topic in state_table:
                        del state_table[topic]
                else:
                    state_table[topic] = state

    @app.agent(windows_topic)
    async def detect(stream: Any) -> None:
        """Closed tumbling windows -> count-aware spike detector + lifecycle -> alerts topic (state changes)."""
        async for w in stream:
            if w.get("kind") != "tumbling":
                continue
            topic = w["topic"]
            state = detector_table.get(topic) or {}
            rate_state, rate_record = process_window(state.get("rate_signal"), w, rate_cfg, life_cfg)
            vol_state, vol_record = process_volume(state.get("volume_signal"), w, volume_cfg, volume_life)
            for record in (rate_record, vol_record):
                if record:
                    await alerts_topic.send(key=topic.encode(), value=record, force=True)
                    metrics.alerts.labels(record["status"]).inc()
                    log.warning("alert %s: %s", record["status"], record["summary"])
            if rate_state is not None or vol_state is not None:
                detector_table[topic] = {"rate_signal": rate_state or state.get("rate_signal"),
                                         "volume_signal": vol_state or state.get("volume_signal")}

    if settings.webhooks:
        from monitor.alert.delivery import RetryPolicy, Target, deliver

        targets = [Target(**t) for t in settings.webhooks]
        policy = RetryPolicy()

        @app.agent(alerts_topic)
        async def notify(stream: Any) -> None:
            """Deliver every alert state change to every webhook; acknowledged only after all answered."""
            import aiohttp

            async with aiohttp.ClientSession() as session:
                async for event in stream.events():
                    record, msg = event.value, event.message
                    log.info("delivering alert %s/%s (partition %d, offset %d)", record.get("fingerprint"),
                             record.get("status"), msg.partition, msg.offset)
                    verdicts = await asyncio.gather(*(deliver(session, t, record, policy, metrics) for t in targets))
                    log.info("alert %s/%s: %s", record.get("fingerprint"), record.get("status"), verdicts)

    return app
