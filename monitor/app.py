"""The Faust app: wiring only. Each stage is a module with a pure core and one thin adapter:

posts.raw ─ingest agent─► ingest.stage: decode (pure) ─► route (pure) ─► text lane  (executor; duplicate cache)
            │ invalid ─► posts.dlq                                     └► media lane (bounded executor; sheds)
            └─► posts.scored (key = post id) + <app_id>-bytopic (one record per topic per batch; + watermark ticks)
<app_id>-bytopic ─aggregate agent─► aggregate.stage: tumbling buckets per topic (aggregate.windows, table) ─►
            closed tumbling + hopping windows ─► sentiment.windows (key = topic)
sentiment.windows ─detect agent─► detect.stage (detect.engine) ─► alerts
alerts ─notify agent─► alert.stage: webhooks (alert.delivery); given up ─► posts.dlq

Delivery: at-least-once. Faust flushes the producer before it commits offsets, and every output of a batch is
handed to the producer before the batch's events are acknowledged (media events: when the media lane is done),
so a crash re-delivers rather than loses; window counts are idempotent by post id. exactly_once is not used
(unsupported by the embedded broker).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import faust

from monitor import __version__
from monitor.aggregate.stage import AggregateStage
from monitor.config import Settings
from monitor.detect.stage import DetectStage
from monitor.faust_compat import committed_offset, read_offset
from monitor.faust_compat import patches as faust_patches
from monitor.faust_compat.ordered_stream import OrderedStream
from monitor.faust_compat.ordering import OrderGate
from monitor.ingest.stage import IngestStage
from monitor.metrics import Metrics
from monitor.outbox import Outbox
from monitor.score.base import Scorer

log = logging.getLogger("monitor.app")


def bytopic_name(settings: Settings) -> str:
    return f"{settings.app_id}-bytopic"


def broker_credentials(settings: Settings) -> Any:
    """Faust credentials from the settings (None for PLAINTEXT)."""
    proto = settings.security_protocol
    if proto.startswith("SASL"):
        return faust.SASLCredentials(username=settings.sasl_username, password=settings.sasl_password,
                                     mechanism=settings.sasl_mechanism or "PLAIN", ssl_context=settings.ssl_context())
    if proto == "SSL":
        return faust.SSLCredentials(settings.ssl_context())
    return None


def topic_key_partitioner(key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
    """Partition of a table changelog key. Table keys are JSON (`"acme"`) while the by-topic and windows records
    carry the raw topic (`acme`): hashing the decoded key puts a topic's state in the partition of its records,
    so whoever consumes a topic's records also recovers its state (before: other workers did, and after a takeover
    two workers updated one topic's windows)."""
    from aiokafka.partitioner import DefaultPartitioner

    if key and key[:1] == b'"' and key[-1:] == b'"':
        try:
            key = json.loads(key).encode()
        except ValueError:
            pass
    return DefaultPartitioner()(key, all_partitions, available)


def make_faust_app(settings: Settings) -> faust.App:
    if settings.state_dir:
        Path(settings.state_dir).mkdir(parents=True, exist_ok=True)  # Faust makes only the last level
    return faust.App(
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
        **({"datadir": settings.state_dir} if settings.state_dir else {}),
        producer_max_request_size=16 * 1024 * 1024,
        producer_linger=0.005,
        producer_partitioner=topic_key_partitioner,
        # Tansu's end offset = base offset of the last batch + 1 (measured): changelog recovery would stop before
        # the last records of a multi-record batch. One record per batch (still many batches per request).
        producer_max_batch_size=1 if settings.single_record_batches else 16384,
        broker_credentials=broker_credentials(settings),
        consumer_max_fetch_size=16 * 1024 * 1024,
        stream_buffer_maxsize=max(4096, 2 * settings.ingest_batch_size),
    )


def build_app(settings: Settings, metrics: Metrics, scorer_factory: Callable[[], Scorer]) -> faust.App:
    faust_patches.install(head_wait_s=2 * settings.ingest_stall_s)  # the stages re-read a hole after stall_s
    app = make_faust_app(settings)
    raw_topic = app.topic(settings.topic_raw, key_serializer="raw", value_serializer="raw")
    windows_topic = app.topic(settings.topic_windows, key_type=str, key_serializer="raw", value_serializer="json")
    alerts_topic = app.topic(settings.topic_alerts, key_type=str, key_serializer="raw", value_serializer="json")
    bytopic = app.topic(bytopic_name(settings), key_type=str, key_serializer="raw", value_serializer="json",
                        partitions=settings.partitions)
    # key = topic (raw utf-8 bytes, like the bytopic records), so the producer's partitioner puts a topic's
    # changelog entries in the partition of its events: state recovers where the topic's events are consumed
    state_table = app.Table("window-state", default=None, partitions=settings.partitions, use_partitioner=True,
                            key_type=str)
    from monitor.aggregate import persist

    faust_patches.co_partition(state_table, settings.partitions,
                               lambda k: k.split(persist.SEP, 1)[0] if persist.is_chunk_key(k) else None)
    detector_table = app.Table("detector-state", default=None, partitions=settings.partitions, use_partitioner=True,
                               key_type=str)
    outbox = Outbox(app, metrics, settings)
    outbox.install_flush()
    ingest_stage = IngestStage(settings, metrics, outbox, scorer_factory, bytopic_name(settings))
    aggregate_stage = AggregateStage(settings, metrics, outbox, state_table)
    detect_stage = DetectStage(settings, metrics, outbox, detector_table)
    aggregate_stage.committed_of = lambda p: _committed(app, bytopic_name(settings), p)
    holder: dict[str, Any] = {"assigned": 0, "ingest": ingest_stage, "aggregate": aggregate_stage, "ordered": {}}
    app.monitor_state = holder  # type: ignore[attr-defined]  # readiness / tests
    metrics.build_info.info({"version": __version__})

    _wire_rebalance(app, settings, metrics, ingest_stage, holder)
    _wire_ingest(app, settings, metrics, ingest_stage, outbox, raw_topic)
    _wire_downstream(app, settings, metrics, outbox, aggregate_stage, detect_stage,
                     (bytopic, windows_topic, alerts_topic))
    return app


def _wire_rebalance(app: faust.App, settings: Settings, metrics: Metrics, ingest_stage: IngestStage,
                    holder: dict[str, Any]) -> None:
    """Partition assignment signals and the readiness probe."""
    @app.on_partitions_assigned.connect
    async def _assigned(sender: Any, assigned: Any, **kw: Any) -> None:  # noqa: ARG001
        holder["assigned"] = len(assigned)
        metrics.assigned_partitions.set(len(assigned))
        raw = {tp.partition for tp in assigned if tp.topic == settings.topic_raw}
        ingest_stage.pwm.assign(raw, time.monotonic())
        ingest_stage.progress.assign(raw, time.monotonic())
        holder["aggregate"].progress.assign({tp.partition for tp in assigned if tp.topic == bytopic_name(settings)},
                                            time.monotonic())
        holder["aggregate"].on_assign()
        for ordered in holder["ordered"].values():
            ordered.gate.assign({tp.partition for tp in assigned if tp.topic == ordered.topic}, time.monotonic())

    @app.on_partitions_revoked.connect
    async def _revoked(sender: Any, revoked: Any, **kw: Any) -> None:  # noqa: ARG001
        holder["assigned"] = 0
        faust_patches.on_revoked()
        metrics.assigned_partitions.set(0)
        metrics.consumer_lag.clear()

    def readiness() -> dict[str, bool]:
        """Broker connected and partitions assigned (a group assignment needs the broker), models loaded."""
        return {"models_loaded": ingest_stage.scorer is not None, "partitions_assigned": holder["assigned"] > 0}

    app.monitor_readiness = readiness  # type: ignore[attr-defined]


def _wire_ingest(app: faust.App, settings: Settings, metrics: Metrics, ingest_stage: IngestStage, outbox: Outbox,
                 raw_topic: Any) -> None:
    """posts.raw -> ingest stage (text lane, media lane), watermark ticks, consumer lag."""
    worker_id = uuid.uuid4().hex[:12]

    @app.task
    async def load_models() -> None:
        scorer = await asyncio.get_running_loop().run_in_executor(ingest_stage.text_pool, ingest_stage.load)
        log.info("scorer ready: %s", scorer.version)

    @app.task
    async def media_lane() -> None:
        await ingest_stage.media_loop()

    @app.agent(raw_topic)
    async def ingest(stream: Any) -> None:
        async for events in stream.take_events(settings.ingest_batch_size, within=settings.batch_max_wait_s):
            await ingest_stage.on_batch(events)

    @app.timer(settings.tick_interval_s)
    async def tick() -> None:
        """Send this worker's progress per owned raw partition (highest published event time, idle?) to every
        aggregation partition; `tick` (this worker's own watermark) is informational."""
        now = time.monotonic()
        parts = ingest_stage.partition_progress(now, raw_caught_up(app, settings, ingest_stage))
        if parts:
            value = {"tick": ingest_stage.watermark(now), "src": worker_id, "idle": ingest_stage.pwm.all_idle(now),
                     "parts": {str(p): [wm, idle] for p, (wm, idle) in parts.items()}}
            for p in range(settings.partitions):
                await outbox.send(bytopic_name(settings), None, value, partition=p)

    @app.timer(settings.lag_interval_s)
    async def consumer_lag() -> None:
        measure_lag(app, metrics, ingest_stage, settings)
        await reread_stalled(app, settings.topic_raw, ingest_stage.progress, metrics.ingest_rereads.inc,
                             settings.ingest_stall_s)
        await reread_stalled(app, bytopic_name(settings), app.monitor_state["aggregate"].progress,
                             metrics.aggregate_rereads.inc, settings.ingest_stall_s)


def _wire_downstream(app: faust.App, settings: Settings, metrics: Metrics, outbox: Outbox,
                     aggregate_stage: AggregateStage, detect_stage: DetectStage, topics: tuple[Any, Any, Any]
                     ) -> None:
    """bytopic -> aggregate -> sentiment.windows -> detect -> alerts -> deliver; the silences follower."""
    bytopic, windows_topic, alerts_topic = topics

    @app.agent(bytopic)
    async def aggregate(stream: Any) -> None:
        async for events in stream.take_events(1000, within=0.5):
            await aggregate_stage.on_batch(events)

    @app.task
    async def silences() -> None:
        from monitor import kafka_silences as silences_io

        await silences_io.follow(settings, detect_stage.silences, metrics.silences.set)

    detect_in = _ordered(app, settings, metrics, "detect", settings.topic_windows)

    @app.timer(settings.lag_interval_s)
    async def ordered_holes() -> None:
        for ordered in list(app.monitor_state["ordered"].values()):  # type: ignore[attr-defined]
            try:
                await ordered.poll(app)
            except Exception as exc:  # noqa: BLE001 - a probe never takes the worker down (retried next tick)
                log.warning("%s: hole poll failed: %s", ordered.stage, exc)

    detect_in.handle = lambda ev: detect_stage.on_window(ev.value, ev.message.partition)

    @app.agent(windows_topic)
    async def detect(stream: Any) -> None:
        async for event in stream.events():
            await detect_in.on_event(event)

    if settings.webhooks:
        from monitor.alert.stage import DeliverStage

        deliver_stage = DeliverStage(settings, metrics, outbox)
        deliver_in = _ordered(app, settings, metrics, "deliver", settings.topic_alerts)

        @app.agent(alerts_topic)
        async def notify(stream: Any) -> None:
            import aiohttp

            async with aiohttp.ClientSession() as session:
                deliver_in.handle = lambda ev: deliver_stage.on_alert(session, ev.value, ev.message, ev.ack)
                try:
                    async for event in stream.events():
                        await deliver_in.on_event(event)
                finally:
                    await deliver_stage.close()  # undelivered alerts stay unacknowledged: read again


def _ordered(app: faust.App, settings: Settings, metrics: Metrics, stage: str, topic: str) -> OrderedStream:
    """The windows / alerts agents take their records in offset order, with a hole hold (monitor.faust_compat.ordering)."""
    ordered = OrderedStream(stage, topic, OrderGate(settings.ingest_stall_s, 4 * settings.ingest_stall_s),
                            lambda p: _committed(app, topic, p), metrics)
    ordered.fault_drop_first = settings.fault_drop_ordered_stage == stage
    app.monitor_state["ordered"][stage] = ordered  # type: ignore[attr-defined]  # rebalance + hole timer
    faust_patches.BEFORE_WAIT_EMPTY[stage] = ordered.release_held
    return ordered


def _positions(app: faust.App, topic: str) -> list[tuple[Any, int | None, int | None]]:
    """(tp, high watermark of the last fetch, committed offset) per assigned partition of `topic`: the consumer's
    own bookkeeping, passive (no request, never moves a position). A partition never committed reports its first
    offset (where the consumer starts reading it)."""
    consumer = app.consumer
    out = []
    for tp in list(consumer.assignment()):
        if tp.topic == topic:
            committed = committed_offset(consumer, tp)
            if committed is None:  # never committed: read from its beginning (faust_patches)
                committed = faust_patches.START_OFFSETS.get((tp.topic, tp.partition))
            out.append((tp, consumer.highwater(tp), committed))
    return out


def _committed(app: faust.App, topic: str, partition: int) -> int | None:
    """The consumer's committed offset of one partition (None before the first seek or when unknown)."""
    try:
        return next((c for tp, _, c in _positions(app, topic) if tp.partition == partition), None)
    except Exception:  # noqa: BLE001 - consumer not started: unknown
        return None


def raw_caught_up(app: faust.App, settings: Settings, ingest_stage: IngestStage) -> set[int]:
    """Raw partitions whose every record up to the last known high watermark the ingest stage has *finished*
    (faust_compat.progress). A partition whose high watermark is not known yet is not caught up."""
    try:
        now = time.monotonic()
        return {tp.partition for tp, hw, committed in _positions(app, settings.topic_raw)
                if ingest_stage.progress.caught_up(tp.partition, hw, committed, now)}
    except Exception as exc:  # noqa: BLE001 - no information: nothing counts as caught up (holds, never loses)
        log.debug("caught-up probe failed: %s", exc)
        return set()


async def reread_stalled(app: faust.App, topic: str, progress: Any, count: Callable[[], None], stall_s: float
                         ) -> None:
    """Re-read a partition of `topic` whose records were fetched but never reached its stage (faust_compat.progress):
    the raw topic for the ingest stage, the by-topic topic for the aggregation stage."""
    now = time.monotonic()
    try:
        positions = _positions(app, topic)
    except Exception as exc:  # noqa: BLE001 - a probe never takes the worker down
        log.debug("stall probe failed: %s", exc)
        return
    for tp, hw, committed in positions:
        offset = progress.stalled(tp.partition, hw, committed, now)
        if offset is None:
            continue
        log.warning("partition %s:%d has records up to offset %d that its stage never received "
                    "(no progress for %.0f s, committed %s): re-reading from offset %d",
                    tp.topic, tp.partition, hw - 1, stall_s, committed, offset)
        # never seek a partition mid-rebalance or no longer ours: aiokafka's fetcher then found the partition gone
        # from its records (KeyError(TopicPartition) in fetched_records) and its task died (#30.13)
        if getattr(app, "rebalancing", False) or tp not in app.consumer.assignment():
            log.info("re-read of %s:%d skipped: rebalancing or no longer assigned", tp.topic, tp.partition)
            continue
        count()
        try:
            await app.consumer.seek(tp, offset)
        except Exception as exc:  # noqa: BLE001 - retried at the next probe
            log.warning("re-read of %s:%d failed: %s", tp.topic, tp.partition, exc)


def measure_lag(app: faust.App, metrics: Metrics, ingest_stage: IngestStage, settings: Settings) -> None:
    """Per assigned partition: high watermark minus the next offset to read. Passive: reads the consumer's own
    bookkeeping (the high watermark of the last fetch, the last offset read); sends no request and never moves a
    position (an active position() probe raced with Faust's seek to committed offsets after a rebalance).
    Freshness in seconds per lane: the text lane's is reset to 0 when the raw partitions have no lag."""
    consumer = app.consumer
    try:
        raw_lag = 0
        for tp in list(consumer.assignment()):
            hw = consumer.highwater(tp)
            read = read_offset(consumer, tp)
            if hw is None:
                continue
            committed = committed_offset(consumer, tp)
            nxt = (read + 1) if read is not None else committed
            if tp.topic == settings.topic_raw:  # raw: what the ingest stage finished, not only what was fetched
                nxt = ingest_stage.progress.next_offset(tp.partition, committed, time.monotonic())
            if nxt is not None:
                lag = max(0, hw - nxt)
                metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(lag)
                if tp.topic == settings.topic_raw:
                    raw_lag += lag
        if raw_lag == 0:
            metrics.lane_lag_seconds.labels("text").set(0.0)
        metrics.lane_lag_seconds.labels("media").set(ingest_stage.lane_age_s())
    except Exception as exc:  # noqa: BLE001 - a metrics probe never takes the worker down
        log.debug("consumer lag probe failed: %s", exc)
