"""`monitor replay`: produce a JSONL file or a synthetic stream to the raw topic at a chosen rate."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from monitor.config import Settings
from monitor.kafka_io import producer


def jsonl_items(path: Path) -> Iterator[tuple[str | None, bytes]]:
    with open(path, "rb") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            key = None
            try:
                obj = json.loads(line)
                key = obj.get("id") if isinstance(obj, dict) and isinstance(obj.get("id"), str) else None
            except ValueError:
                pass  # invalid lines are produced as they are: the worker dead-letters them
            yield key, line


def produce_paced(bootstrap: str, topic: str, items: Iterable[tuple[str | None, bytes]], rate: float,
                  **client_kw: Any) -> int:
    p = producer(bootstrap, **client_kw)
    t0 = time.monotonic()
    n = 0
    for key, value in items:
        if rate > 0:
            wait = t0 + n / rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        p.send(topic, key=key.encode() if key else None, value=value)
        n += 1
    p.flush()
    p.close()
    return n


def replay(settings: Settings, path: Path | None, synthetic: int | None, rate: float, seed: int,
           invalid_share: float) -> int:
    if path is not None:
        items: Iterable[tuple[str | None, bytes]] = jsonl_items(path)
    else:
        from monitor.synth.stream import StreamSpec, demo_spikes, generate

        n = synthetic or 0
        spec = StreamSpec(seed=seed, invalid_share=invalid_share)
        spec.spikes = demo_spikes(n / spec.rate_per_event_s)
        items = ((it["key"], it["value"]) for it in generate(spec, n))
    return produce_paced(settings.bootstrap_servers, settings.topic_raw, items, rate, **settings.kafka_python_kwargs())
