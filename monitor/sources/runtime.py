"""What every connector process shares: the one producer path to posts.raw (validated with the worker's own
decoder; what it rejects goes to the dead-letter topic with the reason), filters, metrics, checkpoint timing,
backoff and a stop signal. Adapters call `emit`, `malformed`, `checkpoint`."""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from kafka.errors import KafkaTimeoutError

from monitor.config import Settings
from monitor.ingest.decode import DecodeFailure, decode_post
from monitor.ingest.records import dlq_value
from monitor.metrics import SourceMetrics
from monitor.sources.common import Backoff, Checkpoint, Filter, MediaPolicy

log = logging.getLogger("monitor.sources")


class DeliveryFailed(Exception):
    """Records handed to the producer were not acknowledged by the broker (after its retries)."""


_STOP = object()


class Publisher:
    """posts.raw producer (kafka-python, the project's `kafka_io.producer` with the security settings).

    Never blocks the caller's event loop (#30.9): kafka-python's `send()` can block for `max_block_ms` (60 s) on
    missing metadata or a full buffer, so records go through a queue to one sender thread, and `send` returns a
    `concurrent.futures.Future` at once (done when the broker acknowledged the record, failed when it did not).

    Two ways to know a record is durable:
    - per record (#30.4): await the futures `send` returned — the HTTP endpoint answers each request from its own
      records only (`track=False` keeps them out of the shared list below);
    - per connector: `flush()` raises DeliveryFailed if any tracked record since the previous flush failed
      (kafka-python's own flush() returns even then), so no checkpoint moves past a post the broker lacks.
    """

    def __init__(self, settings: Settings) -> None:
        from monitor.kafka_io import producer

        self.s = settings
        self.p = producer(settings.bootstrap_servers, **settings.kafka_python_kwargs())
        self.failures: list[str] = []
        self._lock = threading.Lock()
        self._q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="publisher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._q.get()
            if item is _STOP:
                return
            if isinstance(item, threading.Event):  # a flush marker: everything before it was handed over
                item.set()
                continue
            topic, key, value, fut, track = item
            self._hand_over(topic, key, value, fut, track)

    def _hand_over(self, topic: str, key: bytes | None, value: bytes, fut: Future[Any], track: bool) -> None:
        def failed(exc: BaseException) -> None:
            if track:
                with self._lock:
                    self.failures.append(f"{topic}: {type(exc).__name__}: {exc}")
            if not fut.done():
                fut.set_exception(exc)

        marker = self.s.fault_produce_marker
        if marker and marker.encode() in value:
            failed(KafkaTimeoutError(f"fault injection: record with {marker!r} not acknowledged"))
            return
        try:
            kf = self.p.send(topic, key=key, value=value)
        except Exception as exc:  # noqa: BLE001 - metadata timeout, record too large, closed producer
            failed(exc)
            return
        kf.add_callback(lambda md: fut.done() or fut.set_result(md))
        kf.add_errback(failed)

    def _send(self, topic: str, key: bytes | None, value: bytes, track: bool = True) -> Future[Any]:
        fut: Future[Any] = Future()
        self._q.put((topic, key, value, fut, track))
        return fut

    def send(self, key: str | None, value: bytes, track: bool = True) -> Future[Any]:
        return self._send(self.s.topic_raw, key.encode() if key else None, value, track)

    def dead_letter(self, source: str, reason: str, detail: str, raw: bytes, post_id: str | None) -> Future[Any]:
        rec = dlq_value(reason, detail, raw, f"source:{source}", -1, -1, post_id)
        return self._send(self.s.topic_dlq, (post_id or "").encode() or None, json.dumps(rec).encode())

    def flush(self, timeout_s: float | None = None) -> None:
        """Blocking: every record sent before this call handed to the producer and answered by the broker."""
        handed = threading.Event()
        self._q.put(handed)
        handed.wait(timeout_s)
        self.p.flush(timeout=timeout_s)
        with self._lock:
            failed, self.failures = self.failures, []
        if failed:
            raise DeliveryFailed(f"{len(failed)} record(s) not acknowledged, e.g. {failed[0]}")

    def close(self) -> None:
        handed = threading.Event()
        self._q.put(handed)
        handed.wait(30)
        self._q.put(_STOP)
        self._thread.join(5)
        self.p.flush()
        self.p.close()


@dataclass
class Offered:
    ok: bool
    post_id: str | None
    reason: str | None
    detail: str | None
    future: Future[Any] | None = None


@dataclass
class SourceRun:
    name: str
    settings: Settings
    checkpoint: Checkpoint
    filter: Filter = field(default_factory=Filter)
    metrics: SourceMetrics = field(default_factory=SourceMetrics)
    backoff: Backoff = field(default_factory=Backoff)
    checkpoint_every_s: float = 1.0
    max_posts: int = 0  # stop after this many posts (tests, one-shot runs); 0 = run until stopped
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    publisher: Any = None
    published: int = 0
    _last_cp: float = 0.0

    def __post_init__(self) -> None:
        if self.publisher is None:
            self.publisher = Publisher(self.settings)

    @property
    def policy(self) -> MediaPolicy:
        return MediaPolicy(self.settings.allow_remote_media, tuple(self.settings.remote_media_allowlist))

    def emit(self, post: dict[str, Any]) -> bool:
        """Filter, validate like the worker does, publish. True when published (handed to the producer)."""
        return self.offer(post).ok

    def offer(self, post: Any, dead_letter: bool = True, track: bool = True) -> Offered:
        """`emit` with the outcome: why a post was refused, or the future of its broker acknowledgement.
        `dead_letter=False`: a malformed post is only reported (the HTTP endpoint answers it to its client);
        `track=False`: its delivery is known from the future only, not from `flush()`."""
        if not isinstance(post, dict):
            post = {"_": post}  # the decoder says what is wrong with it
        raw = json.dumps(post, ensure_ascii=False).encode()
        checked = decode_post(raw, self.settings.limits, self.settings.allow_remote_media,
                              self.settings.remote_media_allowlist)
        if isinstance(checked, DecodeFailure):
            pid = post.get("id")
            if dead_letter:
                self.malformed(checked.reason, checked.detail, raw, pid if isinstance(pid, str) else None)
            else:
                self.metrics.malformed.labels(self.name).inc()
            return Offered(False, None, checked.reason, checked.detail)
        if not self.filter.keep(checked.text or "", checked.author):
            self.metrics.filtered.labels(self.name).inc()
            return Offered(False, None, "filtered", "dropped by the connector's filters")
        fut = self.publisher.send(post["id"], raw) if track else self.publisher.send(post["id"], raw, track=False)
        self.published += 1
        self.metrics.posts.labels(self.name).inc()
        if "media_uris" in post.get("meta", {}):
            self.metrics.media_skipped.labels(self.name).inc(len(post["meta"]["media_uris"]))
        self.metrics.lag_seconds.labels(self.name).set(max(0.0, time.time() - checked.event_ms / 1000))
        if self.max_posts and self.published >= self.max_posts:
            self.stop.set()
        return Offered(True, checked.id, None, None, fut)

    def malformed(self, reason: str, detail: str, raw: bytes, post_id: str | None = None) -> None:
        log.warning("%s: %s: %s", self.name, reason, detail[:200])
        self.metrics.malformed.labels(self.name).inc()
        self.publisher.dead_letter(self.name, reason, detail, raw, post_id)

    def ignored(self) -> None:
        self.metrics.ignored.labels(self.name).inc()

    async def save(self, state: dict[str, Any], force: bool = False) -> None:
        """Flush the producer (every post before this point acknowledged by the broker), then write the checkpoint.
        At most every `checkpoint_every_s` unless forced."""
        now = time.monotonic()
        if not force and now - self._last_cp < self.checkpoint_every_s:
            return
        await asyncio.get_running_loop().run_in_executor(None, self.publisher.flush)
        await self.checkpoint.save_async(state)  # fsync off the loop (#30.9)
        self._last_cp = now
        self.metrics.checkpoints.labels(self.name).inc()

    async def pause(self, seconds: float) -> None:
        """Sleep unless stopped first."""
        try:
            await asyncio.wait_for(self.stop.wait(), timeout=max(0.0, seconds))
        except TimeoutError:
            pass
