"""The synthetic source: the demo's stream as a connector (`monitor ingest synthetic`, `type: synthetic` in a
`monitor up` sources file).

Posts from `generate` (eight topics, 2 % invalid posts, a few image and audio posts sized for a 2-core CPU, the
three injected spikes of the demo when asked) are produced in event time compressed by `speedup`: the post of event
time t is sent at wall time t / speedup after the start. With `replay_bluesky`, one post in 50 is a Bluesky fixture
frame mapped by the real connector's mapper. On stop the produced counts are written to `counts_file` (the demo
accounts for every post with them).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.synth.stream import CPU_AUDIO_SHARE, CPU_IMAGE_SHARE, StreamSpec, demo_spikes, generate


@dataclass
class SyntheticOptions:
    rate: float = 40.0  # posts per wall second
    speedup: float = 20.0  # event seconds per wall second
    seed: int = 7
    start_ms: int = 0  # event time of the first post (0: `spikes_over_s` * speedup before now, on a minute)
    spikes_over_s: float = 0.0  # spread the demo's three spikes over this many wall seconds (0 = no spikes)
    replay_bluesky: bool = False
    duration_s: float = 0.0  # 0 = until stopped
    image_share: float = CPU_IMAGE_SHARE
    audio_share: float = CPU_AUDIO_SHARE


def stream_spec(o: SyntheticOptions, now_ms: int | None = None) -> StreamSpec:
    """The generator's spec for these options (the demo's live view rebuilds the same one)."""
    event_total = o.spikes_over_s * o.speedup
    now = int(time.time() * 1000) if now_ms is None else now_ms
    start = o.start_ms or (now - int(event_total * 1000)) // 60_000 * 60_000
    spec = StreamSpec(seed=o.seed, rate_per_event_s=o.rate / o.speedup, image_share=o.image_share,
                      audio_share=o.audio_share, start_ms=start)
    spec.spikes = demo_spikes(event_total) if o.spikes_over_s else []
    return spec


def bluesky_replay() -> Iterator[Callable[[int], tuple[str, bytes]]]:
    """An endless iterator of functions event_ms -> (key, posts.raw value): the Bluesky connector's fixture frames
    (monitor/sources/fixtures/jetstream.jsonl) mapped by the connector's own mapper, re-timed onto the stream's
    event clock, ids suffixed per round so each replayed post is a new post."""
    from monitor.sources import bluesky

    frames = [json.loads(line) for line in (Path(bluesky.__file__).parent / "fixtures" / "jetstream.jsonl")
              .read_text().splitlines()]
    posts = []
    for f in frames:
        try:
            posts.append(bluesky.map_jetstream(f))
        except bluesky.NotAPost:
            continue
    for rnd in itertools.count():
        for p in posts:
            def make(event_ms: int, p: dict[str, Any] = p, rnd: int = rnd) -> tuple[str, bytes]:
                post = {**p, "id": f"{p['id']}#{rnd}", "created_at": event_ms}
                return post["id"], json.dumps(post).encode()
            yield make


def run_synthetic(o: SyntheticOptions, spec: StreamSpec, send: Callable[[str | None, bytes], None],
                  stop: threading.Event, idle: Callable[[], None] | None = None) -> Counter[str]:
    """Produce until `duration_s`, `stop` or forever; `idle` runs while waiting for the next post's time."""
    produced: Counter[str] = Counter()
    gen = generate(spec, 10**12)
    replay = bluesky_replay() if o.replay_bluesky else None
    t0 = time.monotonic()

    def over() -> bool:
        return stop.is_set() or bool(o.duration_s and time.monotonic() - t0 >= o.duration_s)

    while not over():
        item = next(gen)
        due = t0 + (item["event_ms"] - spec.start_ms) / 1000 / o.speedup
        while not over() and time.monotonic() < due:
            time.sleep(min(0.05, max(0.0, due - time.monotonic())))
            if idle is not None:
                idle()
        if over():
            break
        send(item["key"], item["value"])
        produced["valid" if item["valid"] else "invalid"] += 1
        if replay and sum(produced.values()) % 50 == 0:
            key, value = next(replay)(item["event_ms"])
            send(key, value)
            produced["valid"] += 1
    return produced


def args_for(o: SyntheticOptions) -> list[str]:
    """`monitor ingest synthetic` arguments for these options (the demo starts its source with them)."""
    out = ["synthetic", "--rate", str(o.rate), "--speedup", str(o.speedup), "--seed", str(o.seed),
           "--start-ms", str(o.start_ms), "--spikes-over", str(o.spikes_over_s)]
    if (o.image_share, o.audio_share) != (CPU_IMAGE_SHARE, CPU_AUDIO_SHARE):
        out += ["--image-share", str(o.image_share), "--audio-share", str(o.audio_share)]
    if o.replay_bluesky:
        out.append("--replay-bluesky")
    if o.duration_s:
        out += ["--duration", str(o.duration_s)]
    return out
