"""End to end with the real programs on loopback: embedded broker + worker + real Prometheus scraping it + real
Alertmanager routing to a local webhook receiver. A replayed spike must page through both paths: the
Prometheus-side rule (via Alertmanager) and the worker's own detector (signed webhook). Every PromQL expression
of every dashboard panel then runs against this Prometheus."""

import json
import random
import subprocess
import threading
import urllib.request
from pathlib import Path

import pytest

from monitor.kafka_io import read_all
from monitor.ops.dashboards import panel_queries
from monitor.ops.rules import RuleWindows
from monitor.synth.replay import produce_paced

from .conftest import wait_until
from .helpers import BASE_MS, INVALID, closer
from .promstack import PromStack

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]

TEXT = {"negative": "terrible awful crash, I hate this", "neutral": "the meeting is on Tuesday",
        "positive": "great wonderful gains, love it"}
# short windows so that a spike shows within a test's minute; same rule code as deploy/prometheus/rules
TEST_WINDOWS = RuleWindows(short="20s", long="3m", interval="1s", spike_for="0s", spike_z=4.0, spike_min_posts=50)


def paced_spike_stream(seed: int = 5) -> list[tuple[str | None, bytes]]:
    """SPK: 10 calm minutes (30 posts/min, 20 % negative), 3 spike minutes (60/min, 90 %), 4 calm; CALM alongside."""
    rng = random.Random(seed)
    out = []
    for minute in range(17):
        for topic in ("SPK", "CALM"):
            spike = topic == "SPK" and 10 <= minute < 13
            n, neg = (60, 0.9) if spike else (30, 0.2)
            for j in range(n):
                label = "negative" if rng.random() < neg else rng.choice(["neutral", "positive"])
                pid = f"{topic}-{minute:02d}-{j:02d}"
                ts = BASE_MS + minute * 60_000 + j * (59_000 // n)
                out.append((pid, json.dumps({"id": pid, "created_at": ts,
                                             "text": f"${topic} {TEXT[label]}"}).encode()))
    out.sort(key=lambda kv: json.loads(kv[1])["created_at"])
    return out[:200] + [(None, v) for v, _ in INVALID[:3]] + out[200:]


def test_prometheus_and_worker_alerts_end_to_end(stream_settings, workers, tmp_path):
    from monitor.alert.receiver import WebhookReceiver

    s = stream_settings
    worker_hook = WebhookReceiver(secret="k3y")
    am_hook = WebhookReceiver()
    hooks = [{"url": worker_hook.url, "secret": "k3y", "format": "alertmanager", "name": "desk"}]
    w = workers(s, env_extra={"MONITOR_DETECT_WARMUP_WINDOWS": "5", "MONITOR_ALERT_RESOLVE_WINDOWS": "1",
                              "MONITOR_WEBHOOKS": json.dumps(hooks)})
    stack = PromStack(tmp_path, [f"127.0.0.1:{w.metrics_port}"], am_hook.url, TEST_WINDOWS,
                      ("deploy/prometheus/rules/recording.yml",)).start()
    try:
        assert wait_until(lambda: stack.query('up{job="sentiment-monitor"} == 1')["data"]["result"], 60), w.log
        ready = wait_until(lambda: _ready(w.metrics_port), 90)
        assert ready, f"worker never ready: {w.log}"
        # a real scrape passes promtool's metric lint
        lint = subprocess.run(["promtool", "check", "metrics"], input=w.metrics(), capture_output=True, text=True)
        assert lint.returncode == 0, lint.stdout + lint.stderr

        stream = paced_spike_stream()
        prod = threading.Thread(target=produce_paced, args=(s.bootstrap_servers, s.topic_raw, stream, 25.0))
        prod.start()

        def am_spike():
            return [a for p in am_hook.received for a in p["alerts"]
                    if a["labels"].get("alertname") == "MonitorNegativeSentimentSpike" and a["status"] == "firing"]

        fired = wait_until(am_spike, 150, 1.0)
        prod.join()
        assert fired, f"no Prometheus-side spike via Alertmanager; rules: {stack.alerts()}; log {w.log}"
        assert {a["labels"]["topic"] for a in fired} == {"SPK"}
        assert all(a["labels"]["severity"] == "page" for a in fired)
        assert am_hook.received[0]["version"] == "4" and am_hook.received[0]["receiver"] == "test"

        from monitor.kafka_io import produce_raw

        produce_raw(s.bootstrap_servers, s.topic_raw, [closer()])
        own = wait_until(lambda: [p for p in worker_hook.received if p["status"] == "firing"], 120)
        assert own, f"the worker's own alert did not arrive: {read_all(s.bootstrap_servers, s.topic_alerts)}"
        assert own[0]["alerts"][0]["labels"]["topic"] == "SPK" and worker_hook.bad_signatures == 0
        assert not [a for a in stack.alerts() if a["labels"]["alertname"] in
                    ("MonitorWorkerDown", "MonitorDeadLetterRatioHigh")]

        # every dashboard query runs without error; the core panels return data
        empty, errors = [], []
        for name in ("overview.json", "sentiment.json"):
            d = json.loads((ROOT / "dashboards" / name).read_text())
            for title, expr in panel_queries(d):
                q = expr.replace("$__rate_interval", "1m").replace("$topic", ".*")
                res = stack.query(q)
                if res.get("status") != "success":
                    errors.append((title, res.get("error")))
                elif not res["data"]["result"]:
                    empty.append(title)
        assert not errors, errors
        core = {"Ingest and scoring rate", "Dead-lettered by reason", "End-to-end latency (broker timestamp to scored)",
                "Batch size (mean posts per micro-batch)", "Consumer lag by topic", "Negative share per topic (5 m)",
                "Volume per topic", "Top topics by negative posts (1 h)", "Workers up", "Models in use",
                "Alert deliveries by outcome", "Model confidence (share of posts per top-probability bucket)"}
        assert not core & set(empty), sorted(core & set(empty))
    finally:
        stack.stop()
        worker_hook.close()
        am_hook.close()


def _ready(port: int) -> bool:
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2).status == 200
    except OSError:
        return False
