"""Thin producer adapter shared by the stages: JSON values handed straight to a Kafka producer.

Cheaper than `faust.Topic.send` per record (no FutureMessage / serializer layers). Two modes:

* `batched_outputs` (default; the restart race once seen with it on was Faust's fetch loop across a seek, fixed in
  `faust_patches`): a dedicated aiokafka producer with normal batching (linger 5 ms) carries every stage output except alerts (see
  `via_faust`). Faust's own producer keeps one record per batch for the table changelogs (the embedded broker's
  end offsets make multi-record batches unsafe for table recovery, not for stream topics), so the hot path no
  longer pays a batch header, CRC and broker append per record. At-least-once is kept: `install_flush` makes
  Faust's producer flush this one first whenever it flushes, and Faust flushes before it commits any offset; the
  producer stops after Faust's (the last commit included).
* otherwise (`batched_outputs: false`): records go through Faust's producer (`app.producer`).

A stage hands every output of a batch to the producer before the batch's events are acknowledged. A record the
broker refuses is logged and counted (`monitor_produce_errors_total{topic}`), never ignored silently.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson

log = logging.getLogger(__name__)


def encode(value: Any) -> bytes:
    """Compact UTF-8 JSON (orjson: ~5x the stdlib encoder; numpy scalars and arrays serialise as numbers)."""
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)


class Outbox:
    def __init__(self, app: Any, metrics: Any, settings: Any = None) -> None:
        self.app = app
        self.metrics = metrics
        self.settings = settings if settings is not None and settings.batched_outputs else None
        # Alerts keep Faust's one-record-per-batch producer: they are rare, each must be delivered, and after a
        # restart Faust can skip the earlier records of a batch fetched before its seek to the committed offsets
        # (its read offset is already past them): seen once with a firing + resolved pair in one batch
        # (tests/integration/test_alerts.py::test_pending_delivery_survives_worker_crash).
        self.via_faust = {settings.topic_alerts} if settings is not None else set()
        self._producer: Any = None
        self._starting: asyncio.Lock | None = None
        self._closed = False
        self._fault_topic = getattr(settings, "fault_produce_fail_topic", None)
        self._faults_left = 2

    async def send_confirmed(self, records: list[tuple[str, bytes | None, Any]]) -> None:
        """Send `records` (topic, key, value) and return only once the broker acknowledged every one (#30.6).

        A stage moves its state (a bucket leaves the table, a detector says "fired") only after this returns, so a
        refused record cannot be lost for good. On a failure every record from the first refused one on is sent
        again, in order (per-topic order is what the consumers rely on; the detector and the windows ignore a
        repeat), after a capped exponential pause, until the broker takes them: the stage holds its partition
        meanwhile (visible as consumer lag and `monitor_produce_errors_total`), and a stop or crash before that
        leaves its input unacknowledged, so it is read again."""
        todo, attempt = list(records), 0
        while todo:
            futs = [await self.send(topic, key, value) for topic, key, value in todo]
            await asyncio.gather(*futs, return_exceptions=True)
            first = next((i for i, f in enumerate(futs) if f.cancelled() or f.exception() is not None), None)
            if first is None:
                return
            todo = todo[first:]
            pause = min(30.0, 0.2 * 2 ** attempt)
            attempt += 1
            log.error("%d record(s) to %s not acknowledged (attempt %d): sending them again in %.1f s",
                      len(todo), todo[0][0], attempt, pause)
            await asyncio.sleep(pause)

    async def _own(self) -> Any:
        if self._producer is None:
            from aiokafka import AIOKafkaProducer

            self._starting = self._starting or asyncio.Lock()
            async with self._starting:
                if self._producer is None:
                    s = self.settings
                    producer = AIOKafkaProducer(bootstrap_servers=s.bootstrap_servers, acks="all", linger_ms=5,
                                                max_batch_size=256 * 1024, max_request_size=16 * 1024 * 1024,
                                                client_id=f"{s.app_id}-outputs", **s.aiokafka_kwargs())
                    await producer.start()
                    self._producer = producer
        return self._producer

    async def send(self, topic: str, key: bytes | None, value: Any, partition: int | None = None) -> Any:
        """Hand one record to the producer; returns its delivery future (already watched for errors)."""
        if self._fault_topic == topic and self._faults_left > 0:
            self._faults_left -= 1
            fut: Any = asyncio.get_running_loop().create_future()
            fut.set_exception(RuntimeError(f"fault injection: record to {topic} refused"))
        elif self.settings is None or topic in self.via_faust:
            fut = await self.app.producer.send(topic, key, encode(value), partition, None, None)
        else:
            if self._closed:
                raise RuntimeError("outbox producer already stopped")
            fut = await (await self._own()).send(topic, encode(value), key=key, partition=partition)
        fut.add_done_callback(lambda f, t=topic: self._done(f, t))
        return fut

    async def flush(self) -> None:
        if self._producer is not None and not self._closed:
            await self._producer.flush()

    async def close(self) -> None:
        if self._producer is not None and not self._closed:
            self._closed = True
            await self._producer.flush()
            await self._producer.stop()

    def install_flush(self) -> None:
        """Faust's producer flushes (before every commit) and stops after this one's records are delivered."""
        if self.settings is None:
            return
        faust_producer = self.app.producer
        faust_flush, faust_on_stop = faust_producer.flush, faust_producer.on_stop

        async def flush() -> None:
            await self.flush()
            await faust_flush()

        async def on_stop() -> None:
            await self.close()
            await faust_on_stop()

        faust_producer.flush = flush
        faust_producer.on_stop = on_stop

    def _done(self, fut: Any, topic: str) -> None:
        if fut.cancelled():
            return
        exc = fut.exception()
        if exc is not None:
            self.metrics.produce_errors.labels(topic).inc()
            log.error("producing to %s failed: %s: %s", topic, type(exc).__name__, exc)
