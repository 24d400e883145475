"""One process harness for the demo, the benches, the soak and the integration tests: fresh topic names on a
broker, the environment a worker subprocess reads its settings from, and a worker process that can be stopped
gracefully or killed. (Four copies of this lived in demo.py, bench.py, soak.py and tests/integration/conftest.py.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import urllib.request
import uuid
from pathlib import Path

from monitor.broker import free_port
from monitor.config import Settings

# the settings a scratch run changes or a harness user commonly sets: exported to the worker's environment
WORKER_ENV_FIELDS = ("bootstrap_servers", "app_id", "topic_raw", "topic_scored", "topic_dlq", "topic_windows",
                     "topic_alerts", "topic_silences", "metrics_port", "scorer", "partitions", "batch_size",
                     "grace_s")


def scratch_settings(settings: Settings, prefix: str) -> Settings:
    """Fresh app id, topic names and metrics port (one run never reads another run's records)."""
    tag = uuid.uuid4().hex[:6]
    return settings.model_copy(update={
        "app_id": f"{prefix}-{tag}", "topic_raw": f"{prefix}-raw-{tag}", "topic_scored": f"{prefix}-scored-{tag}",
        "topic_dlq": f"{prefix}-dlq-{tag}", "topic_windows": f"{prefix}-windows-{tag}",
        "topic_alerts": f"{prefix}-alerts-{tag}", "topic_silences": f"{prefix}-silences-{tag}",
        "metrics_port": free_port()})


def create_run_topics(s: Settings) -> None:
    from monitor.app import bytopic_name
    from monitor.kafka_io import create_topics

    create_topics(s, extra=[bytopic_name(s)])


def worker_env(s: Settings, extra: dict[str, str] | None = None) -> dict[str, str]:
    """os.environ + MONITOR_* for WORKER_ENV_FIELDS (and the device when set) + `extra` (wins)."""
    env = {**os.environ, **{f"MONITOR_{k.upper()}": str(getattr(s, k)) for k in WORKER_ENV_FIELDS}}
    if s.device:
        env["MONITOR_DEVICE"] = s.device
    return {**env, **(extra or {})}


class WorkerProcess:
    """`python -m monitor.cli worker` with the given settings; log to a file (or nowhere)."""

    def __init__(self, settings: Settings, log: Path | None = None, loglevel: str = "warning",
                 env_extra: dict[str, str] | None = None, metrics_port: int | None = None,
                 own_session: bool = False) -> None:
        """own_session: the worker does not receive the terminal's Ctrl-C (sent to the whole foreground process
        group); the parent stops it itself after draining (the demo)."""
        self.settings = settings
        self.metrics_port = metrics_port or settings.metrics_port
        self.log = log
        env = worker_env(settings, {"MONITOR_METRICS_PORT": str(self.metrics_port), **(env_extra or {})})
        if not settings.state_dir and "MONITOR_STATE_DIR" not in env:
            # Faust's data directory: one per app id under the temp dir (a restart of the same app finds it again),
            # not `<app_id>-data` in whatever directory the tests or the bench were started from
            env["MONITOR_STATE_DIR"] = str(Path(tempfile.gettempdir()) / "monitor-state" / settings.app_id)
        out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen([sys.executable, "-m", "monitor.cli", "worker", "--loglevel", loglevel],
                                     env=env, stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=own_session)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def poll(self) -> int | None:
        return self.proc.poll()

    def metrics(self, timeout: float = 5.0) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        return urllib.request.urlopen(url, timeout=timeout).read().decode()  # noqa: S310 - loopback

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM (graceful: in-flight outputs flushed, offsets committed), SIGKILL after `timeout`."""
        return stop_process(self.proc, timeout)


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> int | None:
    """SIGTERM, SIGKILL after `timeout`; the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    return proc.returncode
