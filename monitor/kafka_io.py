"""Thin kafka-python adapters: topic creation, producing posts, reading a topic to its end."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from monitor.config import Settings


def create_topics(settings: Settings, extra: Iterable[str] = ()) -> list[str]:
    """Create the service's topics if missing (idempotent). Returns the names created."""
    names = [settings.topic_raw, settings.topic_scored, settings.topic_dlq, settings.topic_windows,
             settings.topic_alerts, *extra]
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers, client_id="monitor-admin",
                             bootstrap_timeout_ms=5000, request_timeout_ms=10000, **settings.kafka_python_kwargs())
    try:
        existing = set(admin.list_topics())
        new = [NewTopic(n, settings.partitions, settings.replication_factor) for n in names if n not in existing]
        if settings.topic_silences not in existing:  # one small compacted partition: every worker reads all of it
            new.append(NewTopic(settings.topic_silences, 1, settings.replication_factor,
                                topic_configs={"cleanup.policy": "compact"}))
        if new:
            try:
                admin.create_topics(new)
            except TopicAlreadyExistsError:
                pass
        return [t.name for t in new]
    finally:
        admin.close()


def producer(bootstrap: str, **kw: Any) -> KafkaProducer:
    return KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, retries=5,
                         max_request_size=16 * 1024 * 1024, **kw)


def produce_raw(bootstrap: str, topic: str, values: Iterable[tuple[str | None, bytes]], **client_kw: Any) -> int:
    """Send (key, value bytes) pairs and flush. Returns the number sent. `client_kw`: security settings
    (`Settings.kafka_python_kwargs()`)."""
    p = producer(bootstrap, **client_kw)
    n = 0
    for key, value in values:
        p.send(topic, key=key.encode() if key else None, value=value)
        n += 1
    p.flush()
    p.close()
    return n


def read_all(bootstrap: str, topic: str, timeout_s: float = 10.0, idle_s: float = 1.5,
             **client_kw: Any) -> list[dict[str, Any]]:
    """Read every record of `topic` from the beginning (no group, no commits) until its end offsets are reached.

    Returns dicts: key, value (parsed JSON when possible, else bytes), partition, offset, timestamp.
    """
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                      client_id=f"reader-{uuid.uuid4().hex[:6]}", consumer_timeout_ms=int(idle_s * 1000),
                      **client_kw)
    try:
        parts = c.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        if not tps:
            return []
        c.assign(tps)
        c.seek_to_beginning(*tps)
        end = c.end_offsets(tps)
        out: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout_s
        empty_at_end = 0
        while time.monotonic() < deadline:
            at_end = all(c.position(tp) >= end[tp] for tp in tps)
            # Tansu can report an end offset below the last record (seen: 449 with 451 records, after a
            # multi-record batch): past the reported end, stop only after two fetches brought nothing
            batch = c.poll(timeout_ms=300 if at_end else 500)
            if at_end and not any(batch.values()):
                empty_at_end += 1
                if empty_at_end >= 2:
                    break
                continue
            empty_at_end = 0
            for tp, msgs in batch.items():
                for m in msgs:
                    try:
                        value: Any = json.loads(m.value) if m.value is not None else None
                    except ValueError:
                        value = m.value
                    out.append({"key": m.key.decode() if m.key else None, "value": value,
                                "partition": tp.partition, "offset": m.offset, "timestamp": m.timestamp})
        return out
    finally:
        c.close()
