"""Kafka -> Store: read sentiment.windows, alerts and posts.scored (no consumer group, from the earliest retained
record; negative posts only are kept), prune by age every minute. Reconnects on errors, never raises."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from monitor.config import Settings
from monitor.ui.store import Store

log = logging.getLogger("monitor.ui")


async def follow(settings: Settings, store: Store) -> None:
    from monitor.kafka_follow import follow_topics

    handlers = {settings.topic_windows: store.add_window, settings.topic_alerts: store.add_alert,
                settings.topic_scored: store.add_post}
    last_prune = [0.0]

    def on_batch(batch: Any) -> None:
        for tp, msgs in batch.items():
            for m in msgs:
                _apply(handlers[tp.topic], m.value, tp.topic, m.offset)

    def prune() -> None:
        if time.monotonic() - last_prune[0] > 60:
            store.prune(int(time.time() * 1000))
            last_prune[0] = time.monotonic()

    await follow_topics(settings, list(handlers), on_batch, "ui", on_idle=prune)


def _apply(add: Any, raw: bytes | None, topic: str, offset: int) -> None:
    try:
        value = json.loads(raw) if raw is not None else None
        if isinstance(value, dict):
            add(value)
    except Exception as exc:  # noqa: BLE001 - one odd record must not restart the follower from the beginning
        log.warning("ui: skipping %s offset %d (%s: %s)", topic, offset, type(exc).__name__, exc)
