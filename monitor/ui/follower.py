"""Kafka -> Store: read sentiment.windows, alerts and posts.scored (no consumer group, from the earliest retained
record; negative posts only are kept), prune by age every minute. Reconnects on errors, never raises.

SQLite work never runs on the event loop (the pages and the Kafka fetches share it): each fetched batch is decoded
and written in one transaction by one writer thread, in fetch order; so is the prune."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from monitor.config import Settings
from monitor.ui.store import Store

log = logging.getLogger("monitor.ui")
MAX_PENDING = 8  # batches queued for the writer before the follower waits for it (bounded memory)


class StoreWriter:
    """One worker thread that applies the follower's batches to the store in order. `submit` never blocks the loop
    unless `max_pending` batches are already waiting (then it waits for the oldest: backpressure on the reader)."""

    def __init__(self, max_pending: int = MAX_PENDING) -> None:
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ui-store")
        self.pending: deque[Future[Any]] = deque()
        self.max_pending = max_pending

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        while self.pending and self.pending[0].done():
            _report(self.pending.popleft())
        if len(self.pending) >= self.max_pending:
            oldest = self.pending.popleft()
            oldest.exception()  # waits; the writer is max_pending batches behind the reader
            _report(oldest)
        self.pending.append(self.pool.submit(fn, *args))

    async def close(self) -> None:
        """Let the queued writes finish (off the loop), then stop the thread."""
        while self.pending:
            fut = self.pending.popleft()
            await asyncio.wrap_future(fut)
            _report(fut)
        self.pool.shutdown(wait=False)


def _report(fut: Future[Any]) -> None:
    if fut.exception() is not None:
        exc = fut.exception()
        log.warning("ui: store write failed (%s: %s)", type(exc).__name__, exc)


def write_batch(store: Store, records: list[tuple[str, str, int, bytes | None]]) -> int:
    """In the writer thread: decode (kind, topic, offset, raw) records, then one transaction for all of them."""
    values: list[tuple[str, dict[str, Any]]] = []
    for kind, topic, offset, raw in records:
        try:
            value = json.loads(raw) if raw is not None else None
        except ValueError as exc:  # one odd record must not restart the follower from the beginning
            log.warning("ui: skipping %s offset %d (%s: %s)", topic, offset, type(exc).__name__, exc)
            continue
        if isinstance(value, dict):
            values.append((kind, value))
    return store.add_batch(values) if values else 0


async def follow(settings: Settings, store: Store) -> None:
    from monitor.kafka_follow import follow_topics

    kinds = {settings.topic_windows: "window", settings.topic_alerts: "alert", settings.topic_scored: "post"}
    writer = StoreWriter()
    last_prune = [0.0]

    def on_batch(batch: Any) -> None:
        records = [(kinds[tp.topic], tp.topic, m.offset, m.value) for tp, msgs in batch.items() for m in msgs]
        if records:
            writer.submit(write_batch, store, records)

    def prune() -> None:
        if time.monotonic() - last_prune[0] > 60:
            writer.submit(store.prune, int(time.time() * 1000))
            last_prune[0] = time.monotonic()

    try:
        await follow_topics(settings, list(kinds), on_batch, "ui", on_idle=prune)
    finally:
        await writer.close()
