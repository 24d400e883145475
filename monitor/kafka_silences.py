"""The silences topic's Kafka adapter: write a silence, read the ones in force, follow the topic (worker task).

A silence is one record on the compacted silences topic, key = topic (or `*`), value = {topic, starts_ms,
until_ms, comment, created_by, created_at}; `monitor silence expire` writes {expired: true}. Every worker follows
the whole topic from the beginning (no consumer group), so all of them apply the same silences, and a restarted
worker gets them back before it detects anything new. The pure parts are `monitor.detect.silences` and
`monitor.detect.controls`."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from monitor.config import Settings
from monitor.detect.controls import apply_silence_record

log = logging.getLogger("monitor.silences")


def write(settings: Settings, topic: str, value: dict[str, Any]) -> None:
    from monitor.kafka_io import producer

    p = producer(settings.bootstrap_servers, **settings.kafka_python_kwargs())
    try:
        p.send(settings.topic_silences, key=topic.encode(), value=json.dumps(value).encode()).get(timeout=10)
    finally:
        p.close()


def current(settings: Settings) -> dict[str, dict[str, Any]]:
    """Silences in force after folding the whole topic (expired ones dropped by event time = now)."""
    from monitor.kafka_io import read_all

    out: dict[str, dict[str, Any]] = {}
    for r in read_all(settings.bootstrap_servers, settings.topic_silences, timeout_s=10.0, idle_s=1.0,
                      **settings.kafka_python_kwargs()):
        if r["key"] is not None and isinstance(r["value"], dict | type(None)):
            apply_silence_record(out, r["key"], r["value"])
    now_ms = int(time.time() * 1000)
    return {k: v for k, v in out.items() if int(v.get("until_ms", 0)) > now_ms}


async def follow(settings: Settings, silences: dict[str, dict[str, Any]], on_change: Any = None) -> None:
    """Worker task: keep `silences` equal to the folded silences topic (reconnects on errors, never raises)."""
    from monitor.kafka_follow import follow_topics

    def on_batch(batch: Any) -> None:
        for msgs in batch.values():
            for msg in msgs:
                try:
                    value = json.loads(msg.value) if msg.value is not None else None
                except ValueError:
                    log.warning("silences: ignoring a record that is not JSON (offset %d)", msg.offset)
                    continue
                if msg.key is not None and (value is None or isinstance(value, dict)):
                    apply_silence_record(silences, msg.key.decode(), value)
                    log.info("silences now: %s", sorted(silences))
                    if on_change:
                        on_change(len(silences))

    await follow_topics(settings, [settings.topic_silences], on_batch, "silences")
