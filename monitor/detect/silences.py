"""Silences by topic: thin Kafka adapters around `detect.controls`.

A silence is one record on the compacted silences topic, key = topic (or `*`), value = {topic, starts_ms,
until_ms, comment, created_by, created_at}; `monitor silence expire` writes {expired: true}. Every worker follows
the whole topic from the beginning (no consumer group), so all of them apply the same silences, and a restarted
worker gets them back before it detects anything new."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

from monitor.config import Settings
from monitor.detect.controls import apply_silence_record

log = logging.getLogger("monitor.silences")


def parse_duration(text: str) -> float:
    """Seconds in '90s', '15m', '2h', '1d' (or a bare number of seconds)."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    t = text.strip().lower()
    try:
        value = float(t[:-1]) * units[t[-1]] if t and t[-1] in units else float(t)
    except ValueError:
        raise ValueError(f"duration: expected e.g. 90s, 15m, 2h, 1d; got {text!r}") from None
    if value <= 0:
        raise ValueError("duration must be > 0")
    return value


def silence_record(topic: str, duration_s: float, comment: str, created_by: str, now_s: float | None = None
                   ) -> dict[str, Any]:
    now = time.time() if now_s is None else now_s
    return {"topic": topic, "starts_ms": int(now * 1000), "until_ms": int((now + duration_s) * 1000),
            "comment": comment, "created_by": created_by,
            "created_at": datetime.fromtimestamp(now, tz=UTC).isoformat().replace("+00:00", "Z")}


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
