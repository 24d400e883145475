"""kill -9 of a worker mid-stream, then restart: every post scored or dead-lettered, no window double-counted."""

import random
import threading
import time

import pytest

from monitor.app import bytopic_name
from monitor.kafka_io import produce_raw, read_all
from monitor.synth.replay import produce_paced

from .conftest import wait_until
from .helpers import (
    INVALID,
    check_windows_against_reference,
    closer,
    diagnose_missed,
    make_posts,
    tumbling_windows,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.parametrize("trial", range(2))
def test_kill9_and_restart(stream_settings, workers, trial):
    s = stream_settings
    rng = random.Random(trial)
    posts = make_posts(500, seed=trial, span_ms=300_000, prefix=f"k{trial}-")
    items = [*posts[:250], *[(None, v) for v, _ in INVALID[:4]], *posts[250:]]
    w1 = workers(s)
    assert wait_until(lambda: "monitor_build_info" in _safe_metrics(w1), 30)
    producer = threading.Thread(target=produce_paced, args=(s.bootstrap_servers, s.topic_raw, items, 80.0))
    producer.start()
    # mid-stream: once the first worker is visibly processing, at a random moment
    assert wait_until(lambda: len(read_all(s.bootstrap_servers, s.topic_scored)) >= 20, 60), f"no progress: {w1.log}"
    time.sleep(rng.uniform(0.0, 2.5))
    w1.kill9()
    w2 = workers(s)
    producer.join()
    produce_raw(s.bootstrap_servers, s.topic_raw, [closer()])

    def all_accounted():
        sc = read_all(s.bootstrap_servers, s.topic_scored)
        dl = read_all(s.bootstrap_servers, s.topic_dlq)
        ids = {r["value"]["id"] for r in sc}
        return (sc, dl) if ids >= {pid for pid, _ in posts} and len({(r["partition"], r["offset"]) for r in dl}) >= 4 else None

    res = wait_until(all_accounted, timeout=150, interval=1.0)
    assert res, f"posts lost after kill -9 (logs: {w1.log}, {w2.log})"
    scored, dlq = res
    values = list({r["value"]["id"]: r["value"] for r in scored}.values())
    ref_keys = {(t, v["event_ms"] // 60_000 * 60_000) for v in values for t in v["topics"] if t != "zz-closer"}
    windows = wait_until(lambda: (lambda ws: ws if {(w["topic"], w["start_ms"]) for w in ws} >= ref_keys else None)(
        tumbling_windows(s.bootstrap_servers, s.topic_windows)), timeout=60)
    assert windows, "windows did not close after restart"
    report = check_windows_against_reference(values, windows)
    if report["missed"] or report["mismatched"]:
        report["diagnosis"] = diagnose_missed(s.bootstrap_servers, bytopic_name(s), values, windows, report,
                                              s.grace_s * 1000)
        report["logs"] = [str(w1.log), str(w2.log)]
    assert report["double_counted"] == 0 and report["missed"] == 0 and not report["mismatched"], report
    from monitor.verify import account

    # INVALID[:4]: two without a usable id (invalid_json, schema) and two with ids x3, x4
    acc = account([pid for pid, _ in posts] + ["x3", "x4"], [r["value"] for r in scored],
                  [r["value"] for r in dlq], windows, anonymous_invalid=2, skip_topics=["zz-closer"])
    assert acc["lost"] == 0 and acc["double_counted"] == 0 and acc["missed_in_windows"] == 0, acc
    assert acc["scored"] == len(posts) and acc["dead_lettered"] == 4, acc


def _safe_metrics(w):
    try:
        return w.metrics()
    except OSError:
        return ""
