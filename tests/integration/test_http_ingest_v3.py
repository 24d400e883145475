"""HTTP ingest under concurrency and broker trouble (#30.4, #30.9): each request is answered from its own records
only, and a broker outage neither hangs the endpoint nor /healthz. Real broker (Tansu), real HTTP, real process."""

import concurrent.futures
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

import pytest

from monitor.broker import EmbeddedBroker, free_port
from monitor.config import Settings
from monitor.kafka_io import create_topics, read_all

from .conftest import wait_until

pytestmark = pytest.mark.integration


def _post(url: str, body: bytes, token: str = "t0k", timeout: float = 60) -> tuple[int, dict, float]:
    req = urllib.request.Request(url, data=body, method="POST", headers={  # noqa: S310
        "Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    t0 = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:  # noqa: S310
            return r.status, json.loads(r.read()), time.monotonic() - t0
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read()), time.monotonic() - t0


def _healthz(port: int) -> float | None:
    t0 = time.monotonic()
    try:
        ok = urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).status == 200  # noqa: S310
    except OSError:
        return None
    return time.monotonic() - t0 if ok else None


def _start(s: Settings, port: int, tmp_path, env_extra: dict | None = None) -> subprocess.Popen:
    env = {**os.environ, "MONITOR_TOPIC_RAW": s.topic_raw, "MONITOR_TOPIC_DLQ": s.topic_dlq, **(env_extra or {})}
    proc = subprocess.Popen([sys.executable, "-m", "monitor.cli", "ingest", "http", "--port", str(port), "--token",
                             "t0k", "--bootstrap-servers", s.bootstrap_servers, "--checkpoint",
                             str(tmp_path / f"http-{port}.json")], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    assert wait_until(lambda: _healthz(port) is not None or proc.poll() is not None, 30) and proc.poll() is None, \
        proc.stderr.read1(3000) if proc.poll() is not None else "not up"
    return proc


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_concurrent_requests_are_answered_from_their_own_deliveries(stream_settings, tmp_path):
    """20 concurrent requests, every other one carrying a post whose delivery fails (fault injection): each failing
    request gets a 503, every other request a 202, and every post of a 202 is on the broker."""
    s = stream_settings
    port = free_port()
    proc = _start(s, port, tmp_path, {"MONITOR_FAULT_PRODUCE_MARKER": "NOT-ACKED"})
    url = f"http://127.0.0.1:{port}/ingest"
    try:
        def body(r: int) -> bytes:
            posts = [{"id": f"r{r}-{i}", "created_at": 1764410400000, "text": f"$ACME post {i}"} for i in range(20)]
            if r % 2:
                posts[10]["text"] = "$ACME NOT-ACKED"
            return json.dumps(posts).encode()

        for _ in range(3):
            with concurrent.futures.ThreadPoolExecutor(20) as ex:
                answers = list(ex.map(lambda r: _post(url, body(r)), range(20)))
            codes = [a[0] for a in answers]
            assert codes == [202 if r % 2 == 0 else 503 for r in range(20)], codes
        on_broker = {r["value"]["id"] for r in read_all(s.bootstrap_servers, s.topic_raw)}
        for r in range(0, 20, 2):
            assert {f"r{r}-{i}" for i in range(20)} <= on_broker
    finally:
        _stop(proc)


def test_broker_outage_neither_hangs_ingest_nor_healthz(tmp_path):
    """The endpoint's broker goes away: /healthz answers in well under a second throughout, and a POST answers
    503 within the acknowledgement timeout (10 s) instead of holding the client for kafka-python's 60-120 s."""
    b = EmbeddedBroker().start()
    tag = uuid.uuid4().hex[:6]
    s = Settings.load(None, env={}, bootstrap_servers=b.bootstrap, topic_raw=f"raw-{tag}", topic_dlq=f"dlq-{tag}",
                      partitions=1)
    create_topics(s)
    port = free_port()
    proc = _start(s, port, tmp_path)
    url = f"http://127.0.0.1:{port}/ingest"
    try:
        ok = {"id": "o1", "created_at": 1764410400000, "text": "$ACME fine"}
        assert _post(url, json.dumps(ok).encode())[0] == 202
        b.stop()
        with concurrent.futures.ThreadPoolExecutor(4) as ex:
            posts = [ex.submit(_post, url, json.dumps({**ok, "id": f"x{i}"}).encode()) for i in range(3)]
            time.sleep(1.0)
            health = [_healthz(port) for _ in range(5)]
            answers = [f.result() for f in posts]
        assert all(h is not None and h < 1.0 for h in health), health
        assert [a[0] for a in answers] == [503] * 3, answers
        assert all(a[2] < 20 for a in answers), [a[2] for a in answers]
        assert "not acknowledged" in answers[0][1]["detail"]
    finally:
        _stop(proc)
        b.stop()
