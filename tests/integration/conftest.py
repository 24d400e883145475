"""Real embedded broker (Tansu) over the wire + real worker processes. No mocks."""

import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from monitor.broker import EmbeddedBroker, free_port
from monitor.config import Settings
from monitor.kafka_io import create_topics


@pytest.fixture(scope="module")
def broker():
    b = EmbeddedBroker().start()
    yield b
    b.stop()


class WorkerProc:
    def __init__(self, settings: Settings, log_dir: Path, env_extra: dict | None = None) -> None:
        self.settings = settings
        self.metrics_port = free_port()
        self.log = log_dir / f"worker-{uuid.uuid4().hex[:6]}.log"
        env = {**os.environ, "MONITOR_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
               "MONITOR_APP_ID": settings.app_id, "MONITOR_METRICS_PORT": str(self.metrics_port),
               "MONITOR_SCORER": settings.scorer, "MONITOR_PARTITIONS": str(settings.partitions),
               "MONITOR_TOPIC_RAW": settings.topic_raw, "MONITOR_TOPIC_SCORED": settings.topic_scored,
               "MONITOR_TOPIC_DLQ": settings.topic_dlq, "MONITOR_TOPIC_WINDOWS": settings.topic_windows,
               "MONITOR_TOPIC_ALERTS": settings.topic_alerts, "MONITOR_GRACE_S": str(settings.grace_s),
               "MONITOR_TOPIC_SILENCES": settings.topic_silences,
               **(env_extra or {})}
        self.proc = subprocess.Popen([sys.executable, "-m", "monitor.cli", "worker", "--loglevel", "info"], env=env,
                                     stdout=open(self.log, "wb"), stderr=subprocess.STDOUT)

    def metrics(self) -> str:
        return urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).read().decode()

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture
def stream_settings(broker):
    """Fresh topic names and app id per test, on the module's broker."""
    tag = uuid.uuid4().hex[:6]
    s = Settings.load(None, env={}, bootstrap_servers=broker.bootstrap, app_id=f"it-{tag}", partitions=2,
                      topic_raw=f"raw-{tag}", topic_scored=f"scored-{tag}", topic_dlq=f"dlq-{tag}",
                      topic_windows=f"windows-{tag}", topic_alerts=f"alerts-{tag}", topic_silences=f"silences-{tag}",
                      scorer="vader", grace_s=10)
    from monitor.app import bytopic_name

    create_topics(s, extra=[bytopic_name(s)])
    return s


@pytest.fixture
def workers(tmp_path):
    started: list[WorkerProc] = []

    def start(settings: Settings, **kw) -> WorkerProc:
        w = WorkerProc(settings, tmp_path, **kw)
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()


def wait_until(pred, timeout: float, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    return last
