"""#30.7 through the worker: 100,000 posts, each with a different cashtag. The monitored set stays bounded (top-N
by volume plus the folded `_cashtags` topic), the fold is counted, every post is still counted once, and the
worker's memory does not grow with the number of distinct cashtags. Real broker, real worker."""

import json
import re
import time

import pytest

from monitor.kafka_io import produce_raw
from monitor.soak import proc_rss_mb

from .conftest import wait_until
from .helpers import BASE_MS, closer, tumbling_windows
from .test_pipeline import metric

pytestmark = [pytest.mark.integration, pytest.mark.slow]

N = 100_000


def _tag(i: int) -> str:
    return "".join(chr(65 + (i // 26 ** k) % 26) for k in range(4))


def test_100k_distinct_cashtags_stay_bounded(stream_settings, workers):
    s = stream_settings
    w = workers(s, env_extra={"MONITOR_MAX_CASHTAG_TOPICS": "50"})
    posts = []
    for i in range(N):
        text = f"${_tag(i)} looks weak" + (" and $LOUD too" if i % 4 == 0 else "")
        pid = f"c{i:06d}"
        posts.append((pid, json.dumps({"id": pid, "created_at": BASE_MS + (i * 240_000) // N, "text": text}).encode()))
    produce_raw(s.bootstrap_servers, s.topic_raw, [*posts, closer()])

    def done() -> str | None:
        m = w.metrics()
        scored = sum(float(v) for v in re.findall(r'^monitor_posts_scored_total\{label="\w+"\} (\S+)$', m, re.M))
        return m if scored >= N + 1 else None

    t0 = time.monotonic()
    m = wait_until(done, timeout=600, interval=2.0)
    assert m, f"not all scored in {time.monotonic() - t0:.0f} s (log: {w.log})"
    folded = metric(m, "monitor_topics_folded_total", '{kind="cashtag"}')
    assert folded >= N - 2 * 50 - 1000, folded
    def counted(ws: list[dict]) -> int:  # every post is in a window of its own cashtag or of the folded one
        return sum(x["n"] + x["unscored"] for x in ws if x["topic"] == "_cashtags" or x["topic"].isupper())

    windows = wait_until(lambda: (lambda ws: ws if counted(ws) >= N else None)(
        tumbling_windows(s.bootstrap_servers, s.topic_windows)), timeout=180, interval=2.0)
    last = tumbling_windows(s.bootstrap_servers, s.topic_windows)
    assert windows, f"{counted(last)} of {N} posts in windows (log: {w.log})"
    topics = {x["topic"] for x in windows}
    assert {"LOUD", "_cashtags"} <= topics and len(topics) <= 3 * 50 + 5, len(topics)  # not one per cashtag
    assert proc_rss_mb(w.pid) < 1500, proc_rss_mb(w.pid)
