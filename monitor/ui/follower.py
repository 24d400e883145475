"""Kafka -> Store: read sentiment.windows, alerts and posts.scored (no consumer group, from the earliest retained
record; negative posts only are kept), prune by age every minute. Reconnects on errors, never raises."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from monitor.config import Settings
from monitor.ui.store import Store

log = logging.getLogger("monitor.ui")


async def follow(settings: Settings, store: Store, ready: asyncio.Event | None = None) -> None:
    from aiokafka import AIOKafkaConsumer

    handlers = {settings.topic_windows: store.add_window, settings.topic_alerts: store.add_alert,
                settings.topic_scored: store.add_post}
    while True:
        consumer = AIOKafkaConsumer(*handlers, bootstrap_servers=settings.bootstrap_servers, group_id=None,
                                    auto_offset_reset="earliest", enable_auto_commit=False,
                                    security_protocol=settings.security_protocol,
                                    sasl_mechanism=settings.sasl_mechanism or "PLAIN",
                                    sasl_plain_username=settings.sasl_username,
                                    sasl_plain_password=settings.sasl_password, ssl_context=settings.ssl_context())
        try:
            await consumer.start()
            if ready:
                ready.set()
            last_prune = 0.0
            while True:
                batch = await consumer.getmany(timeout_ms=500, max_records=2000)
                for tp, msgs in batch.items():
                    add = handlers[tp.topic]
                    for m in msgs:
                        _apply(add, m.value, tp.topic, m.offset)
                if time.monotonic() - last_prune > 60:
                    store.prune(int(time.time() * 1000))
                    last_prune = time.monotonic()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the page keeps serving what it has
            log.warning("ui follower failed (%s); retrying in 5 s", exc)
            await asyncio.sleep(5.0)
        finally:
            await consumer.stop()


def _apply(add: Any, raw: bytes | None, topic: str, offset: int) -> None:
    try:
        value = json.loads(raw) if raw is not None else None
        if isinstance(value, dict):
            add(value)
    except Exception as exc:  # noqa: BLE001 - one odd record must not restart the follower from the beginning
        log.warning("ui: skipping %s offset %d (%s: %s)", topic, offset, type(exc).__name__, exc)
