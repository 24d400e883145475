"""`monitor up` on the embedded broker with a local RSS feed and the HTTP source: one process tree, the sources'
posts scored by its worker, the live page up, Ctrl-C stops everything. Real broker, real processes, real HTTP."""

import json
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from monitor.broker import free_port
from monitor.kafka_io import read_all

from .conftest import wait_until
from .fake_sources import FakeSources

pytestmark = pytest.mark.integration


def _get(url: str) -> int | None:
    try:
        return urllib.request.urlopen(url, timeout=2).status  # noqa: S310 - loopback
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


def test_up_runs_sources_worker_and_page_and_stops_on_ctrl_c(tmp_path):
    fake = FakeSources()
    http_port, ui_port, metrics_port = free_port(), free_port(), free_port()
    (tmp_path / "sources.yaml").write_text(
        f"sources:\n"
        f"  - type: rss\n    feed: [{fake.base}/feed.xml]\n    interval: 5\n"
        f"  - type: http\n    port: {http_port}\n"
        f"settings:\n  grace_s: 5\n")
    proc = subprocess.Popen([sys.executable, "-m", "monitor.cli", "up", "--sources", str(tmp_path / "sources.yaml"),
                             "--ui-port", str(ui_port), "--metrics-port", str(metrics_port), "--scorer", "vader",
                             "--log-dir", str(tmp_path / "logs")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            cwd=tmp_path)
    out: list[str] = []
    try:
        while not any("Ctrl-C" in line for line in out):
            line = proc.stdout.readline().decode()
            assert line, "monitor up exited early:\n" + "".join(out)
            out.append(line)
        bootstrap = re.search(r"broker (\S+)", "".join(out)).group(1)
        assert any(f"127.0.0.1:{ui_port}" in line for line in out)
        assert wait_until(lambda: _get(f"http://127.0.0.1:{http_port}/healthz") == 200, 60), "http source not up"
        posts = [{"id": f"u{i}", "created_at": int(time.time() * 1000) - 60_000, "text": f"$ACME terrible recall {i}"}
                 for i in range(5)]
        req = urllib.request.Request(f"http://127.0.0.1:{http_port}/ingest", data=json.dumps(posts).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
        assert urllib.request.urlopen(req, timeout=30).status == 202  # noqa: S310

        def scored() -> set[str] | None:
            ids = {r["value"]["id"] for r in read_all(bootstrap, "posts.scored")}
            return ids if {p["id"] for p in posts} <= ids and any(i.startswith("rss:") for i in ids) else None

        got = wait_until(scored, 120, interval=1.0)
        assert got, f"posts of both sources not scored (logs: {tmp_path / 'logs'})"
        assert wait_until(lambda: _get(f"http://127.0.0.1:{ui_port}/") == 200, 60), "live page not up"
        assert wait_until(lambda: _get(f"http://127.0.0.1:{metrics_port}/metrics") == 200, 30)
    finally:
        proc.send_signal(signal.SIGINT)
        rest = proc.communicate(timeout=90)[0].decode()
    assert proc.returncode == 0, rest[-2000:]
    assert "stopping" in rest
    for port in (http_port, ui_port, metrics_port):  # every child gone
        assert _get(f"http://127.0.0.1:{port}/healthz") is None


@pytest.mark.parametrize("body,needle", [
    ("sources:\n  - type: telegram\n", "type: one of"),
    ("sources:\n  - type: rss\n", "source 1 (rss)"),  # --feed is required
    ("nonsense: 1\n", "unknown top-level keys"),
])
def test_a_bad_sources_file_is_one_line_and_exit_2(tmp_path, body, needle):
    (tmp_path / "s.yaml").write_text(body)
    res = subprocess.run([sys.executable, "-m", "monitor.cli", "up", "--sources", str(tmp_path / "s.yaml")],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert res.returncode == 2 and needle in res.stderr and "Traceback" not in res.stderr, res.stderr


def test_embedded_broker_cannot_trim():
    """What bounds the embedded broker's memory, measured: nothing. Tansu 0.6.0 (memory storage) ignores
    `retention.ms` and drops the connection on Kafka DeleteRecords, so `monitor up` on it keeps every record.
    If this test fails, Tansu learnt to trim: use it in `monitor up` (delete what every consumer committed)."""
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import NewTopic

    from monitor.broker import EmbeddedBroker

    b = EmbeddedBroker().start()
    try:
        admin = KafkaAdminClient(bootstrap_servers=b.bootstrap)
        admin.create_topics([NewTopic("trim", 1, 1, topic_configs={"retention.ms": "1000",
                                                                     "retention.bytes": "10000"})])
        p = KafkaProducer(bootstrap_servers=b.bootstrap)
        for _ in range(2000):
            p.send("trim", b"x" * 200)
        p.flush()
        tp = TopicPartition("trim", 0)
        with pytest.raises(Exception):  # noqa: B017, PT011 - Tansu closes the connection
            admin.delete_records({tp: 1000})
        time.sleep(3)
        c = KafkaConsumer(bootstrap_servers=b.bootstrap)
        assert c.beginning_offsets([tp])[tp] == 0  # retention trimmed nothing either
    finally:
        b.stop()


@pytest.mark.slow
def test_a_new_user_runs_up_and_follows_an_incident(tmp_path):
    """#31 "done when": `monitor up` with a local RSS feed and the HTTP source; a realistic recall story posted to
    the HTTP source raises an incident; `monitor alerts list` prints it; in headless Chromium the live page lists the
    firing topic first and the incident page shows peak, duration, an axis, top posts and a working runbook link."""
    from .test_ui_browser import browse, check_incident_page, realistic_stream

    fake = FakeSources()
    http_port, ui_port, metrics_port = free_port(), free_port(), free_port()
    (tmp_path / "sources.yaml").write_text(
        f"sources:\n  - type: rss\n    feed: [{fake.base}/feed.xml]\n    interval: 30\n"
        f"  - type: http\n    port: {http_port}\nsettings:\n  detect_warmup_windows: 5\n")
    proc = subprocess.Popen([sys.executable, "-m", "monitor.cli", "up", "--sources", str(tmp_path / "sources.yaml"),
                             "--ui-port", str(ui_port), "--metrics-port", str(metrics_port), "--scorer", "vader",
                             "--log-dir", str(tmp_path / "logs")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            cwd=tmp_path)
    base = f"http://127.0.0.1:{ui_port}"
    try:
        head = ""
        while "Ctrl-C" not in head:
            line = proc.stdout.readline().decode()
            assert line, "monitor up exited early:\n" + head
            head += line
        bootstrap = re.search(r"broker (\S+)", head).group(1)
        assert wait_until(lambda: _get(f"http://127.0.0.1:{http_port}/healthz") == 200, 60), "http source not up"
        posts = [json.loads(v) for _, v in realistic_stream()]
        for k in range(0, len(posts), 500):
            req = urllib.request.Request(f"http://127.0.0.1:{http_port}/ingest", method="POST",
                                         data=json.dumps(posts[k:k + 500]).encode(),
                                         headers={"Content-Type": "application/json"})
            assert urllib.request.urlopen(req, timeout=60).status == 202  # noqa: S310

        def listed() -> list[dict] | None:
            res = subprocess.run([sys.executable, "-m", "monitor.cli", "alerts", "list", "--json",
                                  "--bootstrap-servers", bootstrap], capture_output=True, text=True, timeout=60)
            rows = [json.loads(x) for x in res.stdout.splitlines() if x.strip()]
            got = {(r["topic"], r["status"]) for r in rows}
            return rows if {("ACME", "resolved"), ("NOVA", "firing")} <= got else None

        rows = wait_until(listed, 240, interval=3.0)
        assert rows, f"`monitor alerts list` never showed the incidents (logs: {tmp_path / 'logs'})"
        acme = next(r for r in rows if (r["topic"], r["status"]) == ("ACME", "resolved"))
        assert acme["incident_url"].startswith(base + "/incidents/")

        def live_ready() -> str | None:
            dom = browse(f"{base}/")
            return dom if 'data-refreshed="' in dom and ">NOVA<" in dom else None

        dom = wait_until(live_ready, 90, interval=3.0)
        assert dom, f"live page never showed NOVA (logs: {tmp_path / 'logs'})"
        table = dom.split('<table id="topics"', 1)[1].split("</table>", 1)[0]
        assert re.findall(r'<th scope="row">([^<]+)</th>', table)[0] == "NOVA"  # the firing topic first
        assert wait_until(lambda: "ACME recall" in (urllib.request.urlopen(  # noqa: S310
            acme["incident_url"], timeout=5).read().decode()), 60)
        check_incident_page(browse(acme["incident_url"]), base)
    finally:
        proc.send_signal(signal.SIGINT)
        rest = proc.communicate(timeout=120)[0].decode()
    assert proc.returncode == 0, rest[-2000:]
