"""End to end in a real browser: a spike on the real broker -> the worker's alert -> `monitor ui` -> headless
Chromium renders the live table (its script runs under the page's CSP) and the incident page; a post carrying
<script> / onerror= payloads is shown as text and nothing of it executes. Screenshots are saved."""

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from monitor.broker import free_port
from monitor.kafka_io import produce_raw, read_all

from .conftest import wait_until
from .helpers import BASE_MS, closer
from .test_alerts import spike_stream

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PAYLOAD = ("<script>document.body.setAttribute('data-pwned','script')</script>"
           "<img src=x onerror=\"document.body.setAttribute('data-pwned','img')\">")


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return name
    pytest.fail("no Chromium: scripts/system-deps.sh installs the Debian package `chromium`")


def browse(url: str, shot: Path | None = None) -> str:
    """The DOM after the page's scripts ran (3 s of virtual time), and optionally a screenshot."""
    base = [chromium(), "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--hide-scrollbars", "--window-size=1280,1100", "--virtual-time-budget=4000"]
    dom = subprocess.run([*base, "--dump-dom", url], capture_output=True, text=True, timeout=90)
    assert dom.returncode == 0, dom.stderr[-2000:]
    if shot:
        res = subprocess.run([*base, f"--screenshot={shot}", url], capture_output=True, text=True, timeout=90)
        assert res.returncode == 0 and shot.stat().st_size > 10_000, res.stderr[-2000:]
    return dom.stdout


def test_incident_page_in_a_real_browser(stream_settings, workers, tmp_path):
    s = stream_settings
    ui_port = free_port()
    w = workers(s, env_extra={"MONITOR_DETECT_WARMUP_WINDOWS": "5", "MONITOR_ALERT_RESOLVE_WINDOWS": "1",
                              "MONITOR_UI_BASE_URL": f"http://127.0.0.1:{ui_port}"})
    evil = {"id": "SPK-evil", "created_at": BASE_MS + 10 * 60_000 + 500, "source": "<b>src</b>",
            "text": f"$SPK terrible awful crash, I hate this {PAYLOAD}"}
    produce_raw(s.bootstrap_servers, s.topic_raw, [*spike_stream(), ("SPK-evil", json.dumps(evil).encode()),
                                                   closer()])
    resolved = wait_until(lambda: [r["value"] for r in read_all(s.bootstrap_servers, s.topic_alerts)
                                   if r["value"]["status"] == "resolved" and r["value"]["topic"] == "SPK"], 150)
    assert resolved, f"no resolved alert (log: {w.log})"
    fp = resolved[0]["fingerprint"]
    assert resolved[0]["incident_url"] == f"http://127.0.0.1:{ui_port}/incidents/{fp}"
    env = {**os.environ, "MONITOR_BOOTSTRAP_SERVERS": s.bootstrap_servers, "MONITOR_TOPIC_WINDOWS": s.topic_windows,
           "MONITOR_TOPIC_ALERTS": s.topic_alerts, "MONITOR_TOPIC_SCORED": s.topic_scored}
    ui = subprocess.Popen([sys.executable, "-m", "monitor.cli", "ui", "--port", str(ui_port)], env=env,
                          stdout=subprocess.DEVNULL, stderr=open(tmp_path / "ui.log", "wb"))  # noqa: SIM115
    try:
        def page_ready():
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/incidents/{fp}", timeout=3).read()  # noqa: S310
            except OSError:
                return None
            return body if b'id="chart"' in body and b"terrible awful crash" in body else None

        assert wait_until(page_ready, 60), (tmp_path / "ui.log").read_text()[-2000:]
        shots = Path(os.environ.get("MONITOR_UI_SCREENSHOTS", tmp_path))
        shots.mkdir(parents=True, exist_ok=True)
        index = browse(f"http://127.0.0.1:{ui_port}/", shots / "ui-topics.png")
        assert 'data-refreshed="2"' in index  # the live-table script ran (SPK and CALM rows from /api/topics)
        assert ">SPK<" in index and ">CALM<" in index
        inc = browse(resolved[0]["incident_url"], shots / "ui-incident.png")
        assert 'id="chart"' in inc and "baseline" in inc and "onset" in inc and "resolved" in inc
        assert "I hate this &lt;script&gt;document.body.setAttribute" in inc  # shown as text
        assert "&lt;b&gt;src&lt;/b&gt;" in inc and "<b>src</b>" not in inc
        assert "data-pwned" not in inc.split("<body", 1)[1].split(">", 1)[0]  # neither payload executed
        assert "<img src=\"x\"" not in inc and "recall" in inc  # rising term of the spike
    finally:
        ui.terminate()
        ui.wait(10)
