"""Real Prometheus and Alertmanager (Debian packages) on loopback with temp data dirs, for end-to-end tests."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from monitor.broker import free_port
from monitor.ops.rules import RuleWindows, render_rules


def _binary(*names: str) -> str:
    for n in names:
        if path := shutil.which(n):
            return path
    raise RuntimeError(f"none of {names} installed: run scripts/system-deps.sh")


def _wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


class PromStack:
    def __init__(self, workdir: Path, scrape_targets: list[str], webhook_url: str, windows: RuleWindows,
                 extra_rule_files: tuple[str, ...] = ()) -> None:
        self.dir = workdir
        self.am_port, self.prom_port = free_port(), free_port()
        self.procs: list[subprocess.Popen] = []
        am_cfg = {"route": {"receiver": "test", "group_by": ["alertname", "topic"], "group_wait": "1s",
                            "group_interval": "2s", "repeat_interval": "1h"},
                  "receivers": [{"name": "test", "webhook_configs": [{"url": webhook_url, "send_resolved": True}]}]}
        (workdir / "alertmanager.yml").write_text(yaml.safe_dump(am_cfg))
        rules = [str(Path(f).resolve()) for f in extra_rule_files]
        for name, text in render_rules(windows).items():
            (workdir / f"test-{name}").write_text(text)
            rules.append(str(workdir / f"test-{name}"))
        prom_cfg = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"}, "rule_files": rules,
                    "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{self.am_port}"]}]}]},
                    "scrape_configs": [{"job_name": "sentiment-monitor",
                                        "static_configs": [{"targets": scrape_targets}]}]}
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(prom_cfg))
        self.prom_url = f"http://127.0.0.1:{self.prom_port}"
        self.am_url = f"http://127.0.0.1:{self.am_port}"

    def start(self) -> PromStack:
        am = _binary("prometheus-alertmanager", "alertmanager")
        prom = _binary("prometheus")
        self.procs.append(subprocess.Popen(
            [am, f"--config.file={self.dir / 'alertmanager.yml'}", f"--storage.path={self.dir / 'am-data'}",
             f"--web.listen-address=127.0.0.1:{self.am_port}", "--cluster.listen-address="],
            stdout=open(self.dir / "alertmanager.log", "wb"), stderr=subprocess.STDOUT))
        self.procs.append(subprocess.Popen(
            [prom, f"--config.file={self.dir / 'prometheus.yml'}", f"--storage.tsdb.path={self.dir / 'prom-data'}",
             f"--web.listen-address=127.0.0.1:{self.prom_port}"],
            stdout=open(self.dir / "prometheus.log", "wb"), stderr=subprocess.STDOUT))
        _wait_http(f"{self.am_url}/-/ready")
        _wait_http(f"{self.prom_url}/-/ready")
        return self

    def query(self, expr: str) -> dict[str, Any]:
        url = f"{self.prom_url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            return json.loads(urllib.request.urlopen(url, timeout=10).read())
        except urllib.error.HTTPError as e:  # 400/422: a PromQL error, with its message in the body
            return json.loads(e.read())

    def alerts(self) -> list[dict[str, Any]]:
        url = f"{self.prom_url}/api/v1/alerts"
        return json.loads(urllib.request.urlopen(url, timeout=10).read())["data"]["alerts"]

    def stop(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
