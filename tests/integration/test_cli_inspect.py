"""`monitor alerts list|tail`, `posts tail`, `windows tail`, `verify --ids` and `monitor broker` against a real
embedded broker: records produced straight to the topics, the CLI run as a subprocess."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from monitor.config import Settings
from monitor.inspect import broker_reachable
from monitor.kafka_io import produce_raw, read_all

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
T0 = 1764410400000  # 2025-11-29 10:00:00 UTC


def env_of(s: Settings) -> dict[str, str]:
    return {**os.environ, "MONITOR_TOPIC_SCORED": s.topic_scored, "MONITOR_TOPIC_WINDOWS": s.topic_windows,
            "MONITOR_TOPIC_ALERTS": s.topic_alerts, "MONITOR_TOPIC_DLQ": s.topic_dlq, "MONITOR_TOPIC_RAW": s.topic_raw}


def cli(s: Settings, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    res = subprocess.run([sys.executable, "-m", "monitor.cli", *args, "--bootstrap-servers", s.bootstrap_servers],
                         env=env_of(s), capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert "Traceback" not in res.stderr, res.stderr
    return res


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(x) for x in text.splitlines() if x.strip()]


def produce(s: Settings, topic: str, values: list[dict[str, Any]], key: str) -> None:
    produce_raw(s.bootstrap_servers, topic, [(v[key], json.dumps(v).encode()) for v in values])


def alert(topic: str, status: str, start_min: int, end_min: int, signal_: str = "negative_rate") -> dict[str, Any]:
    iso = lambda m: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(T0 / 1000 + 60 * m))  # noqa: E731
    return {"fingerprint": f"{topic}-{start_min}", "topic": topic, "signal": signal_, "status": status,
            "startsAt": iso(start_min), "endsAt": iso(end_min) if status == "resolved" else None,
            "window": {"start": iso(end_min - 1), "end": iso(end_min), "n": 50, "negatives": 30},
            "observed_rate": 0.6, "baseline_rate": 0.12, "silenced": False,
            "summary": f"negative share of {topic} 60% (30/50 in 1 min) vs baseline 12%"}


def scored(pid: str, label: str, topics: list[str], minute: int = 0) -> dict[str, Any]:
    probs = {"negative": 0.9, "neutral": 0.05, "positive": 0.05} if label == "negative" else {
        "negative": 0.05, "neutral": 0.05, "positive": 0.9}
    return {"id": pid, "topics": topics, "event_ms": T0 + minute * 60_000 + 1, "source": "rss", "probs": probs,
            "label": label, "modalities": ["text"], "model": "vader", "latency_s": 0.1, "text": f"post {pid}",
            "lane": "text", "media_shed": False}


def window(topic: str, kind: str, minute: int) -> dict[str, Any]:
    size = 60_000 if kind == "tumbling" else 300_000
    return {"topic": topic, "kind": kind, "start_ms": T0 + minute * 60_000, "end_ms": T0 + minute * 60_000 + size,
            "n": 40, "negatives": 10, "neutrals": 20, "positives": 10, "negative_rate": 0.25, "mean_score": -0.1,
            "unscored": 0, "closed_at_ms": T0 + (minute + 2) * 60_000}


def test_alerts_list_json_table_filters_and_tail(stream_settings):
    s = stream_settings
    records = [alert("ACME", "resolved", 0, 45), alert("ACME", "firing", 0, 5), alert("BETA", "firing", 10, 12)]
    produce(s, s.topic_alerts, records, "fingerprint")
    res = cli(s, "alerts", "list", "--json")
    assert res.returncode == 0, res.stderr
    assert json_lines(res.stdout) == [records[1], records[2], records[0]]  # by the time of the state change
    res = cli(s, "alerts", "list", "--json", "--topic", "acme", "--status", "resolved")
    assert json_lines(res.stdout) == [records[0]]
    table = cli(s, "alerts", "list").stdout.splitlines()
    assert table[0].startswith("time (UTC)") and len(table) == 4
    assert "2025-11-29 10:45:00  resolved" in table[3] and "60.0 %" in table[3] and "45 min" in table[3]
    res = cli(s, "alerts", "tail", "--from-beginning", "--json", "--limit", "2", "--timeout", "60")
    assert res.returncode == 0 and len(json_lines(res.stdout)) == 2


def test_alerts_tail_follows_only_new_state_changes(stream_settings):
    s = stream_settings
    produce(s, s.topic_alerts, [alert("OLD", "firing", 0, 3)], "fingerprint")
    proc = subprocess.Popen([sys.executable, "-m", "monitor.cli", "alerts", "tail", "--limit", "1", "--timeout",
                             "90", "--bootstrap-servers", s.bootstrap_servers], env=env_of(s), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("time (UTC)")  # positioned at the end: listening
        produce(s, s.topic_alerts, [alert("NEW", "firing", 20, 22)], "fingerprint")
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "NEW" in out and "OLD" not in out and len(out.splitlines()) == 1


def test_posts_tail_label_topic_limit_and_timeout(stream_settings):
    s = stream_settings
    posts = [scored("n1", "negative", ["ACME"]), scored("p1", "positive", ["ACME"]),
             scored("n2", "negative", ["BETA"]), scored("p2", "positive", ["BETA"]),
             scored("n3", "negative", ["ACME", "brand"])]
    produce(s, s.topic_scored, posts, "id")
    res = cli(s, "posts", "tail", "--from-beginning", "--label", "negative", "--limit", "3", "--json",
              "--timeout", "60")
    assert res.returncode == 0 and sorted(p["id"] for p in json_lines(res.stdout)) == ["n1", "n2", "n3"]
    t0 = time.monotonic()
    res = cli(s, "posts", "tail", "--from-beginning", "--topic", "$acme", "--label", "negative", "--limit", "10",
              "--json", "--timeout", "6")
    assert res.returncode == 0 and sorted(p["id"] for p in json_lines(res.stdout)) == ["n1", "n3"]
    assert time.monotonic() - t0 < 40  # --timeout ended it short of --limit
    table = cli(s, "posts", "tail", "--from-beginning", "--label", "positive", "--limit", "2").stdout.splitlines()
    assert len(table) == 3 and table[0].startswith("time (UTC)") and all(" positive " in x for x in table[1:])


def test_windows_tail_topic_and_kind(stream_settings):
    s = stream_settings
    wins = [window("A", "tumbling", 0), window("B", "tumbling", 0), window("A", "hopping", 0),
            window("A", "tumbling", 1)]
    produce(s, s.topic_windows, wins, "topic")
    res = cli(s, "windows", "tail", "--topic", "A", "--from-beginning", "--json", "--limit", "2", "--timeout", "60")
    got = json_lines(res.stdout)
    assert res.returncode == 0 and sorted(w["start_ms"] for w in got) == [T0, T0 + 60_000]
    assert all(w["topic"] == "A" and w["kind"] == "tumbling" for w in got)
    res = cli(s, "windows", "tail", "--topic", "A", "--kind", "hopping", "--from-beginning", "--limit", "1",
              "--timeout", "60")
    rows = res.stdout.splitlines()
    assert len(rows) == 2 and "2025-11-29 10:00:00  5 min" in rows[1] and "25.0 %" in rows[1]


def test_verify_ids_reports_only_those_ids(stream_settings, tmp_path):
    s = stream_settings
    produce(s, s.topic_scored, [scored("mine-1", "negative", ["A"]), scored("demo-1", "neutral", ["A"]),
                                scored("demo-2", "neutral", ["B"])], "id")
    ids = tmp_path / "ids.txt"
    ids.write_text("mine-1\nmine-2\n")
    res = cli(s, "verify", "--ids", str(ids), "--json", timeout=300)
    rep = json.loads(res.stdout)
    assert res.returncode == 1 and len(res.stdout.splitlines()) == 1  # mine-2 was never scored
    assert [(p["id"], p["status"]) for p in rep["posts"]] == [("mine-1", "scored"), ("mine-2", "lost")]
    assert rep["produced"] == 2 and rep["scored"] == 1 and "demo" not in res.stdout


def test_monitor_broker_serves_an_address_others_use_and_stops_on_sigterm(broker, tmp_path):
    busy = subprocess.run([sys.executable, "-m", "monitor.cli", "broker", "--port", str(broker.port)],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert busy.returncode == 1 and busy.stderr.startswith("monitor: error:") and "already in use" in busy.stderr
    proc = subprocess.Popen([sys.executable, "-m", "monitor.cli", "broker", "--port", "0"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        m = re.search(r" on (127\.0\.0\.1:\d+)", first)
        assert m, first + (proc.stderr.read() if proc.poll() is not None else "")
        address = m.group(1)
        assert f"--bootstrap-servers {address}" in proc.stdout.readline()
        s = Settings.load(None, env={}, bootstrap_servers=address)
        res = subprocess.run([sys.executable, "-m", "monitor.cli", "topics", "create", "--bootstrap-servers",
                              address], capture_output=True, text=True, timeout=60, cwd=ROOT,
                             env={k: v for k, v in os.environ.items() if not k.startswith("MONITOR_TOPIC")})
        assert res.returncode == 0 and "(all existed)" in res.stdout, res  # `monitor broker` created them
        produce_raw(address, s.topic_raw, [("k", b'{"id": "x1"}')])
        assert [r["value"]["id"] for r in read_all(address, s.topic_raw)] == ["x1"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert broker_reachable(address, timeout_s=1.0) is not None  # the broker process is gone
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_missing_topic_is_one_line_saying_how_to_create_it(stream_settings):
    s = stream_settings
    res = subprocess.run([sys.executable, "-m", "monitor.cli", "posts", "tail", "--timeout", "5",
                          "--bootstrap-servers", s.bootstrap_servers], env={**env_of(s), "MONITOR_TOPIC_SCORED":
                                                                            "no-such-topic"},
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 1 and len(lines) == 1, res.stderr
    assert "topic no-such-topic does not exist" in lines[0] and "monitor topics create" in lines[0]


def test_broker_rss_worker_and_posts_tail_without_the_demo(tmp_path):
    """#31: a new user's path without the demo — `monitor broker`, `monitor worker`, `monitor ingest rss` on a local
    feed, then `monitor posts tail` prints the feed's posts, scored."""
    from .fake_sources import FakeSources

    fake = FakeSources()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    broker = subprocess.Popen([sys.executable, "-m", "monitor.cli", "broker", "--port", "0"], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    procs: list[subprocess.Popen[str]] = []
    try:
        assert broker.stdout is not None
        m = re.search(r" on (127\.0\.0\.1:\d+)", broker.stdout.readline())
        assert m, broker.stderr.read() if broker.poll() is not None else "no address"
        address = m.group(1)
        from monitor.broker import free_port

        env = {**env, "MONITOR_BOOTSTRAP_SERVERS": address, "MONITOR_SCORER": "vader",
               "MONITOR_METRICS_PORT": str(free_port())}
        procs.append(subprocess.Popen([sys.executable, "-m", "monitor.cli", "worker"], cwd=tmp_path, env=env,
                                      stdout=subprocess.DEVNULL, stderr=open(tmp_path / "worker.log", "w")))  # noqa: SIM115
        rss = subprocess.run([sys.executable, "-m", "monitor.cli", "ingest", "rss", "--feed", f"{fake.base}/feed.xml",
                              "--max-posts", "2", "--checkpoint", str(tmp_path / "rss.json")], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=120)
        assert rss.returncode == 0 and "Traceback" not in rss.stderr, rss.stderr[-2000:]
        tail = subprocess.run([sys.executable, "-m", "monitor.cli", "posts", "tail", "--from-beginning", "--limit",
                               "2", "--timeout", "120", "--json"], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=180)
        rows = json_lines(tail.stdout)
        assert tail.returncode == 0 and len(rows) == 2, (tail.stderr[-2000:], (tmp_path / "worker.log").read_text()[-2000:])
        assert all(r["id"].startswith("rss:127.0.0.1:") and r["label"] in ("negative", "neutral", "positive")
                   for r in rows), rows
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
            p.wait(60)
        broker.send_signal(signal.SIGTERM)
        broker.wait(30)
