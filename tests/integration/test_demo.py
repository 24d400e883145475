"""The demo end to end: `monitor demo` = `monitor up`'s stack + the synthetic source, every post accounted for."""

import json
import subprocess
import sys

import pytest

from monitor.broker import free_port

pytestmark = pytest.mark.slow


def test_demo_accounts_for_every_post_through_the_up_stack(tmp_path):
    summary, logs = tmp_path / "summary.json", tmp_path / "logs"
    res = subprocess.run([sys.executable, "-m", "monitor.cli", "demo", "--duration", "35", "--rate", "15",
                          "--scorer", "vader", "--ui-port", "0", "--metrics-port", str(free_port()),
                          "--summary-json", str(summary), "--log-dir", str(logs)],
                         capture_output=True, text=True, timeout=400)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    s = json.loads(summary.read_text())
    posts = s["posts"]
    assert posts["produced"] > 300 and posts["lost"] == 0 and not posts["counts_incomplete"], posts
    assert posts["scored"] + posts["dead_lettered"] == posts["produced"]
    assert posts["invalid"] > 0 and posts["dead_lettered"] >= posts["invalid"]
    assert s["windows_emitted"] > 0 and s["worker_exit_code"] == 0
    # the processes of `monitor up`, each with its log
    assert (logs / "worker.log").is_file() and (logs / "source-1-synthetic.log").is_file()
    assert "webhook receiver" in res.stdout and "--secret" in res.stdout
