"""N valid + M invalid posts in -> exactly N scored and M dead-lettered; windows equal a pure reference."""

import re

import pytest

from monitor.kafka_io import produce_raw, read_all
from monitor.types import DlqRecord, ScoredPost, WindowStat

from .conftest import wait_until
from .helpers import INVALID, check_windows_against_reference, closer, make_posts, tumbling_windows

pytestmark = pytest.mark.integration


def metric(text: str, name: str, labels: str = "") -> float:
    """The sample's value; a series that is not exported fails the test (a missing series is not a zero)."""
    m = re.search(rf"^{re.escape(name)}{re.escape(labels)} (\S+)$", text, re.M)
    assert m, f"metric {name}{labels} is not exported"
    return float(m.group(1))


def test_scored_dlq_windows_metrics(stream_settings, workers):
    s = stream_settings
    w = workers(s)
    posts = make_posts(150)
    produce_raw(s.bootstrap_servers, s.topic_raw, [*posts, *[(None, v) for v, _ in INVALID]])
    n_valid = len(posts)

    def done():
        sc = read_all(s.bootstrap_servers, s.topic_scored)
        dl = read_all(s.bootstrap_servers, s.topic_dlq)
        return (sc, dl) if len({r["value"]["id"] for r in sc}) >= n_valid and len(dl) >= len(INVALID) else None

    res = wait_until(done, timeout=90)
    assert res, f"pipeline did not finish (log: {w.log})"
    scored, dlq = res
    assert len(scored) == n_valid and len({r["value"]["id"] for r in scored}) == n_valid
    assert sorted(r["value"]["reason"] for r in dlq) == sorted(reason for _, reason in INVALID)
    for r in dlq:
        assert r["value"]["detail"] and r["value"]["source_topic"] == s.topic_raw and r["value"]["offset"] >= 0
    rec = scored[0]["value"]
    assert set(rec["probs"]) == {"negative", "neutral", "positive"} and rec["model"].startswith("vader")
    assert rec["topics"] and rec["latency_s"] >= 0
    # produce -> scored latency in seconds (broker timestamps are ms, Faust's message timestamps seconds)
    assert all(0 <= r["value"]["latency_s"] < 90 for r in scored), max(r["value"]["latency_s"] for r in scored)
    assert {r["value"]["lane"] for r in scored} == {"text"} and not any(r["value"]["media_shed"] for r in scored)
    for r in scored:  # what went over the wire is the schema in monitor/types.py, field for field
        ScoredPost.model_validate(r["value"])
    for r in dlq:
        DlqRecord.model_validate(r["value"])

    produce_raw(s.bootstrap_servers, s.topic_raw, [closer()])
    values = [r["value"] for r in scored]
    ref_keys = {(t, v["event_ms"] // 60_000 * 60_000) for v in values for t in v["topics"]}

    def windows_ready():
        ws = tumbling_windows(s.bootstrap_servers, s.topic_windows)
        return ws if {(w["topic"], w["start_ms"]) for w in ws} >= ref_keys else None

    windows = wait_until(windows_ready, timeout=60)
    assert windows, f"windows did not close (log: {w.log})"
    for r in read_all(s.bootstrap_servers, s.topic_windows):
        WindowStat.model_validate(r["value"])
    report = check_windows_against_reference(values, windows)
    assert report["double_counted"] == 0 and report["missed"] == 0 and not report["mismatched"], report
    assert report["windows"] >= 4 * 3  # 4 minutes x at least 3 topics

    m = w.metrics()
    assert metric(m, "monitor_posts_received_total") == n_valid + len(INVALID) + 1
    assert metric(m, "monitor_posts_dead_lettered_total", '{reason="bad_base64"}') == 1
    assert metric(m, "monitor_posts_dead_lettered_total", '{reason="too_large"}') == 1
    scored_total = sum(float(x) for x in re.findall(r'^monitor_posts_scored_total\{label="\w+"\} (\S+)$', m, re.M))
    assert scored_total == n_valid + 1
    assert metric(m, "monitor_batch_size_sum") == n_valid + 1
    assert metric(m, "monitor_late_events_total") == 0
    assert 'monitor_window_negative_ratio{kind="tumbling",topic="AAPL"}' in m
