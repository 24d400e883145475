"""Silences by topic (pure): parsing a duration and building a silence record; the Kafka adapter that writes, reads
and follows the silences topic is `monitor.kafka_silences`.

A silence is one record on the compacted silences topic, key = topic (or `*`), value = {topic, starts_ms,
until_ms, comment, created_by, created_at}; `monitor silence expire` writes {expired: true}. Every worker follows
the whole topic from the beginning (no consumer group), so all of them apply the same silences, and a restarted
worker gets them back before it detects anything new."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any


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
