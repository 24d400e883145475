"""#30.6: a stage's state moves only after the broker acknowledged its outputs. The worker's first two records to
the windows (resp. alerts) topic are refused (fault injection at the producer): every window, and the alert, must
still reach the broker, and the table must not have moved past them. Real broker (Tansu), real worker."""

import pytest

from monitor.kafka_io import produce_raw, read_all

from .conftest import wait_until
from .helpers import check_windows_against_reference, closer, make_posts, tumbling_windows
from .test_alerts import spike_stream

pytestmark = pytest.mark.integration


def test_refused_window_records_are_sent_again_not_lost(stream_settings, workers):
    s = stream_settings
    w = workers(s, env_extra={"MONITOR_FAULT_PRODUCE_FAIL_TOPIC": s.topic_windows})
    posts = make_posts(120, seed=7)
    produce_raw(s.bootstrap_servers, s.topic_raw, [*posts, closer()])
    scored = wait_until(lambda: (lambda r: r if len({x["value"]["id"] for x in r}) >= len(posts) + 1 else None)(
        read_all(s.bootstrap_servers, s.topic_scored)), timeout=90)
    assert scored, f"not scored (log: {w.log})"
    values = [r["value"] for r in scored]
    ref_keys = {(t, v["event_ms"] // 60_000 * 60_000) for v in values for t in v["topics"] if t != "zz-closer"}

    def ready():
        ws = tumbling_windows(s.bootstrap_servers, s.topic_windows)
        return ws if {(x["topic"], x["start_ms"]) for x in ws} >= ref_keys else None

    windows = wait_until(ready, timeout=60)
    got = {(x["topic"], x["start_ms"]) for x in tumbling_windows(s.bootstrap_servers, s.topic_windows)}
    assert windows, f"windows lost after a refused produce: missing {sorted(ref_keys - got)[:5]} (log: {w.log})"
    report = check_windows_against_reference(values, windows)
    assert report["missed"] == 0 and report["double_counted"] == 0 and not report["mismatched"], report
    assert "not acknowledged (attempt 1)" in w.log.read_text()


def test_a_refused_alert_is_sent_again_not_lost(stream_settings, workers):
    s = stream_settings
    w = workers(s, env_extra={"MONITOR_DETECT_WARMUP_WINDOWS": "5", "MONITOR_ALERT_RESOLVE_WINDOWS": "1",
                              "MONITOR_FAULT_PRODUCE_FAIL_TOPIC": s.topic_alerts})
    produce_raw(s.bootstrap_servers, s.topic_raw, [*spike_stream(), closer()])
    got = wait_until(lambda: {r["value"]["status"] for r in read_all(s.bootstrap_servers, s.topic_alerts)}
                     >= {"firing", "resolved"}, timeout=120)
    assert got, f"the refused alert never reached the broker (log: {w.log})"
    firing = [r["value"] for r in read_all(s.bootstrap_servers, s.topic_alerts) if r["value"]["status"] == "firing"]
    assert {a["topic"] for a in firing} == {"SPK"}
    assert "not acknowledged (attempt 1)" in w.log.read_text()
