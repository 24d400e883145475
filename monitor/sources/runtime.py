"""What every connector process shares: the one producer path to posts.raw (validated with the worker's own
decoder; what it rejects goes to the dead-letter topic with the reason), filters, metrics, checkpoint timing,
backoff and a stop signal. Adapters call `emit`, `malformed`, `checkpoint`."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from monitor.config import Settings
from monitor.ingest.decode import DecodeFailure, decode_post
from monitor.ingest.records import dlq_value
from monitor.metrics import SourceMetrics
from monitor.sources.common import Backoff, Checkpoint, Filter, MediaPolicy

log = logging.getLogger("monitor.sources")


class DeliveryFailed(Exception):
    """Records handed to the producer were not acknowledged by the broker (after its retries)."""


class Publisher:
    """posts.raw producer (kafka-python, the project's `kafka_io.producer` with the security settings).
    kafka-python's flush() returns even when records failed after their retries: every send carries an errback,
    and `flush()` raises DeliveryFailed if any record since the previous flush failed, so no checkpoint moves past
    a post the broker does not have and the HTTP endpoint never answers 202 for one."""

    def __init__(self, settings: Settings) -> None:
        from monitor.kafka_io import producer

        self.s = settings
        self.p = producer(settings.bootstrap_servers, **settings.kafka_python_kwargs())
        self.failures: list[str] = []

    def _send(self, topic: str, key: bytes | None, value: bytes) -> None:
        fut = self.p.send(topic, key=key, value=value)
        fut.add_errback(lambda exc: self.failures.append(f"{topic}: {type(exc).__name__}: {exc}"))

    def send(self, key: str, value: bytes) -> None:
        self._send(self.s.topic_raw, key.encode(), value)

    def dead_letter(self, source: str, reason: str, detail: str, raw: bytes, post_id: str | None) -> None:
        rec = dlq_value(reason, detail, raw, f"source:{source}", -1, -1, post_id)
        self._send(self.s.topic_dlq, (post_id or "").encode() or None, json.dumps(rec).encode())

    def flush(self) -> None:
        self.p.flush()
        if self.failures:
            failed, self.failures = self.failures, []
            raise DeliveryFailed(f"{len(failed)} record(s) not acknowledged, e.g. {failed[0]}")

    def close(self) -> None:
        self.p.flush()
        self.p.close()


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
        """Filter, validate like the worker does, publish. True when published."""
        if not self.filter.keep(post.get("text") or "", post.get("author")):
            self.metrics.filtered.labels(self.name).inc()
            return False
        raw = json.dumps(post, ensure_ascii=False).encode()
        checked = decode_post(raw, self.settings.limits, self.settings.allow_remote_media,
                              self.settings.remote_media_allowlist)
        if isinstance(checked, DecodeFailure):
            self.malformed(checked.reason, checked.detail, raw, post.get("id"))
            return False
        self.publisher.send(post["id"], raw)
        self.published += 1
        self.metrics.posts.labels(self.name).inc()
        if "media_uris" in post.get("meta", {}):
            self.metrics.media_skipped.labels(self.name).inc(len(post["meta"]["media_uris"]))
        self.metrics.lag_seconds.labels(self.name).set(max(0.0, time.time() - checked.event_ms / 1000))
        if self.max_posts and self.published >= self.max_posts:
            self.stop.set()
        return True

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
        self.checkpoint.save(state)
        self._last_cp = now
        self.metrics.checkpoints.labels(self.name).inc()

    async def pause(self, seconds: float) -> None:
        """Sleep unless stopped first."""
        try:
            await asyncio.wait_for(self.stop.wait(), timeout=max(0.0, seconds))
        except TimeoutError:
            pass
