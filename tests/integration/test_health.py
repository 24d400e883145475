"""/healthz and /readyz reflect reality: broker unreachable -> not ready (clear error, retries); then ready."""

import json
import urllib.error
import urllib.request

import pytest

from monitor.broker import free_port

from .conftest import wait_until

pytestmark = pytest.mark.integration


def get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=3) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError:
        return 0, b""


def test_not_ready_while_broker_unreachable(stream_settings, workers):
    dead = stream_settings.model_copy(update={"bootstrap_servers": f"127.0.0.1:{free_port()}"})
    w = workers(dead)
    assert wait_until(lambda: get(w.metrics_port, "/healthz")[0] == 200, 20)
    code, body = get(w.metrics_port, "/readyz")
    assert code == 503 and json.loads(body)["checks"]["broker_connected"] is False
    assert wait_until(lambda: b"unreachable" in w.log.read_bytes(), 20), "no clear error in the log"
    assert w.proc.poll() is None  # still retrying, not dead


def test_ready_on_a_real_broker(stream_settings, workers):
    w = workers(stream_settings)
    assert wait_until(lambda: get(w.metrics_port, "/readyz")[0] == 200, 60), w.log
    checks = json.loads(get(w.metrics_port, "/readyz")[1])["checks"]
    assert checks == {"broker_connected": True, "models_loaded": True, "partitions_assigned": True}
    assert b"monitor_build_info" in get(w.metrics_port, "/metrics")[1]
    w.stop()
    assert w.proc.returncode == 0  # SIGTERM: graceful shutdown
