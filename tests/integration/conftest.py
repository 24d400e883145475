"""Real embedded broker (Tansu) over the wire + real worker processes. No mocks."""

import time
import uuid
from pathlib import Path

import pytest

from monitor.broker import EmbeddedBroker, free_port
from monitor.config import Settings
from monitor.harness import WorkerProcess
from monitor.kafka_io import create_topics


@pytest.fixture(scope="module")
def broker():
    b = EmbeddedBroker().start()
    yield b
    b.stop()


class WorkerProc(WorkerProcess):
    """A worker of one test: log in the test's tmp dir (shown in assertion messages), its own metrics port."""

    def __init__(self, settings: Settings, log_dir: Path, env_extra: dict | None = None) -> None:
        super().__init__(settings, log=log_dir / f"worker-{uuid.uuid4().hex[:6]}.log", loglevel="info",
                         env_extra=env_extra, metrics_port=free_port())


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
