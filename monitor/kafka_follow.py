"""Follow Kafka topics from their earliest retained record without a consumer group (aiokafka), for readers that
fold whole topics into local state: the worker's silences, the UI's store. Reconnects after any error; never
raises (except cancellation)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from monitor.config import Settings

log = logging.getLogger(__name__)


async def follow_topics(settings: Settings, topics: Sequence[str], on_batch: Callable[[Any], None], name: str,
                        on_idle: Callable[[], None] | None = None, retry_s: float = 5.0) -> None:
    """Call `on_batch({TopicPartition: [ConsumerRecord, ...]})` for every fetched batch (and `on_idle()` after each
    poll, batch or not). A failed connection or handler logs and restarts from the earliest record."""
    from aiokafka import AIOKafkaConsumer

    while True:
        consumer = AIOKafkaConsumer(*topics, bootstrap_servers=settings.bootstrap_servers, group_id=None,
                                    auto_offset_reset="earliest", enable_auto_commit=False,
                                    **settings.aiokafka_kwargs())
        try:
            await consumer.start()
            while True:
                batch = await consumer.getmany(timeout_ms=500, max_records=2000)
                if batch:
                    on_batch(batch)
                if on_idle:
                    on_idle()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the owner keeps working with the state it has
            log.warning("%s reader failed (%s); retrying in %.0f s", name, exc, retry_s)
            await asyncio.sleep(retry_s)
        finally:
            await consumer.stop()
