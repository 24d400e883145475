"""Native memory of one scorer path alone (a soak diagnosis: docs/operations.md#soak).

Scores synthetic posts (`monitor.synth.stream`, the demo's media) through the worker's scorer in batches of 4 for
SECS seconds, calls malloc_trim every 10 batches and prints the RSS after it. MODE: image | audio | text.

    MODE=audio SECS=560 .venv/bin/python scripts/media_memory.py
"""

from __future__ import annotations

import os
import time

from monitor.config import Settings
from monitor.ingest.decode import decode_post
from monitor.memory import malloc_trim, rss_bytes
from monitor.score.factory import build_scorer
from monitor.synth.stream import StreamSpec, generate
from monitor.types import Post
from monitor.worker import limit_malloc_arenas


def main() -> None:
    limit_malloc_arenas(2)  # as the worker does
    mode = os.environ.get("MODE", "audio")
    secs = float(os.environ.get("SECS", "300"))
    settings = Settings()
    scorer = build_scorer(settings)
    spec = StreamSpec(seed=11, invalid_share=0.0, image_share=0.9 if mode == "image" else 0.0,
                      audio_share=0.9 if mode == "audio" else 0.0)
    posts: list[Post] = []
    for item in generate(spec, 1500):
        post = decode_post(item["value"], settings.limits)
        if isinstance(post, Post) and (mode == "text" or post.media):
            posts.append(post)
    print(f"{len(posts)} {mode} posts", flush=True)
    t0, i, batches = time.time(), 0, 0
    while time.time() - t0 < secs:
        scorer.score(posts[i:i + 4] or posts[:4])
        i = (i + 4) % len(posts)
        batches += 1
        if batches % 10 == 0:
            malloc_trim()
            print(f"{time.time() - t0:6.0f} s  batches {batches:5d}  rss {rss_bytes() / 2**20:7.1f} MB", flush=True)


if __name__ == "__main__":
    main()
