"""A negative spike in one topic -> the live worker publishes one firing alert (and no alert for a calm topic)."""

import json
import random

import pytest

from monitor.kafka_io import produce_raw, read_all
from monitor.types import AlertRecord

from .conftest import wait_until
from .helpers import BASE_MS, closer

pytestmark = pytest.mark.integration

TEXT = {"negative": "terrible awful crash, I hate this",
        "recall": "terrible recall of faulty brakes, awful", "neutral": "the meeting is on Tuesday",
        "positive": "great wonderful gains, love it"}


def spike_stream(seed: int = 3) -> list[tuple[str, bytes]]:
    rng = random.Random(seed)
    out = []
    for minute in range(14):
        for topic in ("SPK", "CALM"):
            neg = 0.9 if (topic == "SPK" and 10 <= minute < 12) else 0.2
            for j in range(30):
                label = "negative" if rng.random() < neg else rng.choice(["neutral", "positive"])
                if label == "negative" and neg > 0.5 and j % 2:
                    label = "recall"  # the spike's story: a term that was not there before
                pid = f"{topic}-{minute:02d}-{j:02d}"
                ts = BASE_MS + minute * 60_000 + j * 1_900
                out.append((pid, json.dumps({"id": pid, "created_at": ts, "text": f"${topic} {TEXT[label]}"}).encode()))
    return sorted(out, key=lambda kv: json.loads(kv[1])["created_at"])


def test_spike_raises_one_alert_delivered_through_a_flaky_webhook(stream_settings, workers):
    from monitor.alert.receiver import WebhookReceiver

    s = stream_settings
    receiver = WebhookReceiver(secret="k3y", fail_first=2)
    hooks = [{"url": receiver.url, "secret": "k3y", "format": "alertmanager", "name": "it"}]
    w = workers(s, env_extra={"MONITOR_DETECT_WARMUP_WINDOWS": "5", "MONITOR_ALERT_RESOLVE_WINDOWS": "1",
                              "MONITOR_WEBHOOKS": json.dumps(hooks)})
    produce_raw(s.bootstrap_servers, s.topic_raw, [*spike_stream(), closer()])
    alerts = wait_until(lambda: [r["value"] for r in read_all(s.bootstrap_servers, s.topic_alerts)
                                 if r["value"]["status"] == "resolved"], timeout=120)
    assert alerts, f"no resolved alert (log: {w.log})"
    records = [r["value"] for r in read_all(s.bootstrap_servers, s.topic_alerts)]
    assert {r["topic"] for r in records} == {"SPK"}, records
    for r in records:
        AlertRecord.model_validate(r)
    firing = [r for r in records if r["status"] == "firing"]
    assert len(firing) == 1 and firing[0]["observed_rate"] > 0.6 and firing[0]["baseline_rate"] < 0.35
    from monitor.detect.engine import iso

    assert firing[0]["startsAt"] in (iso(BASE_MS + 10 * 60_000), iso(BASE_MS + 11 * 60_000))
    assert alerts[0]["fingerprint"] == firing[0]["fingerprint"]
    # explanations: top negative posts of the window, the term that rose, modality breakdown
    top = firing[0]["top_posts"]
    assert 1 <= len(top) <= 5 and all(p["id"].startswith("SPK-1") and p["text"] for p in top)
    assert [p["p_negative"] for p in top] == sorted((p["p_negative"] for p in top), reverse=True)
    assert {"recall", "faulty", "brakes"} & {t["term"] for t in firing[0]["rising_terms"][:3]}
    assert firing[0]["modalities"].get("text", 0) >= 15

    got = wait_until(lambda: len(receiver.received) >= 2, timeout=30)
    receiver.close()
    assert got, f"webhook did not receive both state changes (log: {w.log})"
    assert receiver.requests >= 4 and receiver.bad_signatures == 0  # 2 refused with 503, then retried
    statuses = [(p["status"], p["alerts"][0]["labels"]["topic"], p["alerts"][0]["fingerprint"]) for p in receiver.received]
    assert statuses == [("firing", "SPK", firing[0]["fingerprint"]), ("resolved", "SPK", firing[0]["fingerprint"])]


@pytest.mark.slow
def test_pending_delivery_survives_worker_crash(stream_settings, workers):
    """Receiver down -> worker killed (-9) with undelivered alerts -> receiver up, new worker: alerts arrive.

    Regression test for a Faust race (monitor/faust_compat/patches.py): the alerts partition had no committed offset, the
    restarted worker's early fetch ran before the seek to committed offsets and the pending alerts were skipped."""
    from monitor.alert.receiver import WebhookReceiver

    s = stream_settings
    receiver = WebhookReceiver(secret="k3y")
    receiver.down = True
    hooks = [{"url": receiver.url, "secret": "k3y", "format": "raw", "name": "it"}]
    env = {"MONITOR_DETECT_WARMUP_WINDOWS": "5", "MONITOR_ALERT_RESOLVE_WINDOWS": "1",
           "MONITOR_WEBHOOKS": json.dumps(hooks)}
    w1 = workers(s, env_extra=env)
    produce_raw(s.bootstrap_servers, s.topic_raw, [*spike_stream(), closer()])
    assert wait_until(lambda: len(read_all(s.bootstrap_servers, s.topic_alerts)) >= 2, timeout=120), w1.log
    assert wait_until(lambda: receiver.requests >= 2, timeout=30)  # it tried, and was refused
    w1.kill9()
    assert receiver.received == []
    receiver.down = False
    w2 = workers(s, env_extra=env)
    got = wait_until(lambda: len({(p["fingerprint"], p["status"]) for p in receiver.received}) >= 2, timeout=150)
    receiver.close()
    assert got, (f"pending deliveries lost across the crash: requests={receiver.requests} "
                 f"received={[(p['status'], p['fingerprint']) for p in receiver.received]} "
                 f"alerts topic={[(r['partition'], r['offset'], r['value']['status']) for r in read_all(s.bootstrap_servers, s.topic_alerts)]} "  # noqa: E501
                 f"w2 log tail={w2.log.read_text()[-3000:]}")
    assert {p["status"] for p in receiver.received} == {"firing", "resolved"}


def test_silenced_topic_still_alerts_on_the_topic_but_pages_nobody(stream_settings, workers):
    """`monitor silence add` (CLI -> compacted silences topic) -> the worker marks the topic's alerts `silenced` and
    its delivery stage sends no webhook; `list` / `expire` read and end it."""
    import os
    import subprocess
    import sys

    from monitor.alert.receiver import WebhookReceiver

    s = stream_settings
    env = {**os.environ, "MONITOR_TOPIC_SILENCES": s.topic_silences}

    def cli(*args: str) -> str:
        return subprocess.run([sys.executable, "-m", "monitor.cli", "silence", *args, "--bootstrap-servers",
                               s.bootstrap_servers, "--json"], env=env, check=True, capture_output=True,
                              text=True).stdout

    cli("add", "--topic", "SPK", "--duration", "2h", "--comment", "planned recall announcement")
    listed = json.loads(cli("list"))
    assert set(listed) == {"SPK"} and listed["SPK"]["comment"] == "planned recall announcement"
    receiver = WebhookReceiver(secret="k3y")
    hooks = [{"url": receiver.url, "secret": "k3y", "format": "raw", "name": "it"}]
    w = workers(s, env_extra={"MONITOR_DETECT_WARMUP_WINDOWS": "5", "MONITOR_ALERT_RESOLVE_WINDOWS": "1",
                              "MONITOR_WEBHOOKS": json.dumps(hooks)})
    def scrape() -> str:
        try:
            return w.metrics()
        except OSError:  # metrics server not up yet
            return ""

    assert wait_until(lambda: "monitor_silences 1.0" in scrape(), timeout=90), w.log.read_text()[-2000:]
    produce_raw(s.bootstrap_servers, s.topic_raw, [*spike_stream(), closer()])
    done = wait_until(lambda: [r["value"] for r in read_all(s.bootstrap_servers, s.topic_alerts)
                               if r["value"]["status"] == "resolved"], timeout=120)
    assert done, f"no resolved alert (log: {w.log})"
    records = [r["value"] for r in read_all(s.bootstrap_servers, s.topic_alerts)]
    firing = [r for r in records if r["status"] == "firing"]
    assert len(firing) == 1 and firing[0]["topic"] == "SPK" and all(r["silenced"] for r in records)
    assert firing[0]["silence"]["comment"] == "planned recall announcement"
    assert firing[0]["runbook_url"].endswith("negative-rate.md") and "var-topic=SPK" in firing[0]["dashboardURL"]
    assert firing[0]["time_to_detect_s"] >= 60 and firing[0]["confidence"] == "high"
    # both state changes were published as silenced; the delivery stage (which reads them from the alerts topic
    # within a second, see the first test) calls no webhook
    assert wait_until(lambda: 'monitor_alerts_silenced_total{signal="negative_rate"} 2.0' in scrape(), timeout=30)
    assert not wait_until(lambda: receiver.requests > 0, timeout=8)
    receiver.close()
    cli("expire", "--topic", "SPK")
    assert json.loads(cli("list")) == {}


def test_a_dead_receiver_does_not_delay_a_live_one(stream_settings, workers):
    """#30.8: one receiver answers 503 to everything (retried for an hour), the other is live: the live one gets
    the firing alert and its resolution within seconds of each reaching the alerts topic, in order."""
    import time

    from monitor.alert.receiver import WebhookReceiver

    s = stream_settings
    dead, live = WebhookReceiver(secret="k3y"), WebhookReceiver(secret="k3y")
    dead.down = True
    hooks = [{"url": dead.url, "secret": "k3y", "format": "alertmanager", "name": "dead"},
             {"url": live.url, "secret": "k3y", "format": "alertmanager", "name": "live"}]
    w = workers(s, env_extra={"MONITOR_DETECT_WARMUP_WINDOWS": "5", "MONITOR_ALERT_RESOLVE_WINDOWS": "1",
                              "MONITOR_WEBHOOKS": json.dumps(hooks)})
    produce_raw(s.bootstrap_servers, s.topic_raw, [*spike_stream(), closer()])
    on_topic = wait_until(lambda: [r["value"]["status"] for r in read_all(s.bootstrap_servers, s.topic_alerts)]
                          == ["firing", "resolved"], timeout=120)
    assert on_topic, f"no firing + resolved pair (log: {w.log})"
    t0 = time.monotonic()
    got = wait_until(lambda: len(live.received) >= 2, timeout=30, interval=0.2)
    waited = time.monotonic() - t0
    live.close()
    dead.close()
    assert got, f"the live receiver waited behind the dead one: {len(live.received)} of 2 (log: {w.log})"
    assert [p["status"] for p in live.received] == ["firing", "resolved"] and waited < 15
    assert dead.requests >= 1 and dead.received == []  # the dead one was tried (and is retried meanwhile)
