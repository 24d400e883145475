"""Hot path v3 #12: a slice of a real, time-sorted cashtag stream replayed at full speed through broker + worker
(1-hour windows, 1 and 4 partitions): no post is counted late and every post is in its window."""

import gzip
import json
import re

import pytest

from monitor.data import default_data_dir
from monitor.kafka_io import create_topics, produce_raw, read_all

from .conftest import wait_until
from .helpers import check_windows_against_reference, tumbling_windows

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STREAM = default_data_dir() / "streams" / "stocknet_dev" / "posts.jsonl.gz"
N_POSTS = 2500


@pytest.mark.skipif(not STREAM.is_file(), reason="no ../shared/data/streams/stocknet_dev")
@pytest.mark.parametrize("partitions", [1, 4])
def test_in_order_real_stream_counts_nothing_late(broker, workers, partitions):
    import uuid

    from monitor.app import bytopic_name
    from monitor.config import Settings
    from monitor.detect.offline import parse_ts_ms

    tag = uuid.uuid4().hex[:6]
    s = Settings.load(None, env={}, bootstrap_servers=broker.bootstrap, app_id=f"rs-{tag}", partitions=partitions,
                      topic_raw=f"raw-{tag}", topic_scored=f"scored-{tag}", topic_dlq=f"dlq-{tag}",
                      topic_windows=f"windows-{tag}", topic_alerts=f"alerts-{tag}", topic_silences=f"silences-{tag}",
                      scorer="vader", grace_s=10, window_s=3600)
    create_topics(s, extra=[bytopic_name(s)])
    records = []
    with gzip.open(STREAM, "rb") as fh:
        for line in fh:
            records.append((json.loads(line)["id"], line.rstrip(b"\n")))
            if len(records) >= N_POSTS:
                break
    last_ms = parse_ts_ms(json.loads(records[-1][1])["created_at"])
    closer = {"id": "closer", "created_at": last_ms + 3 * 3_600_000, "text": "x", "topics": ["zz-closer"]}
    w = workers(s, env_extra={"MONITOR_WINDOW_S": "3600"})
    produce_raw(s.bootstrap_servers, s.topic_raw, [*records, ("closer", json.dumps(closer).encode())])
    ids = {i for i, _ in records}

    def scored_all():
        sc = [r["value"] for r in read_all(s.bootstrap_servers, s.topic_scored)]
        return sc if ids <= {v["id"] for v in sc} else None

    scored = wait_until(scored_all, timeout=300)
    assert scored, f"not every post was scored (log: {w.log})"
    scored = [v for v in scored if v["id"] in ids]
    keys = {(t, v["event_ms"] // 3_600_000 * 3_600_000) for v in scored for t in v["topics"]}
    windows = wait_until(lambda: (ws := tumbling_windows(s.bootstrap_servers, s.topic_windows))
                         and {(x["topic"], x["start_ms"]) for x in ws} >= keys and ws, timeout=180)
    if not windows:
        got = {(x["topic"], x["start_ms"]) for x in tumbling_windows(s.bootstrap_servers, s.topic_windows)}
        missing = sorted(keys - got)
        late = re.search(r"^monitor_late_events_total (\S+)", w.metrics(), re.M)
        pytest.fail(f"{len(missing)} of {len(keys)} windows never closed, e.g. {missing[:5]}; late events "
                    f"{late and late.group(1)} (log: {w.log})")
    report = check_windows_against_reference(scored, windows, size_ms=3_600_000)
    late = re.search(r"^monitor_late_events_total (\S+)", w.metrics(), re.M)
    assert late and float(late.group(1)) == 0.0, f"late events: {late and late.group(1)} (log: {w.log})"
    assert report["missed"] == 0 and report["double_counted"] == 0 and not report["mismatched"], report
