"""End to end in a real browser: a spike on the real broker -> the worker's alert -> `monitor ui` -> headless
Chromium renders the live table (its script runs under the page's CSP) and the incident page; a post carrying
<script> / onerror= payloads is shown as text and nothing of it executes. A realistic stream (a product recall that
resolves, an outage still firing, calm and quiet topics) checks the live page's order and the incident page's facts,
axis, posts and runbook link. Screenshots are saved (MONITOR_UI_SCREENSHOTS=docs/images writes the README's)."""

import json
import os
import random
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from contextlib import contextmanager
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


def browse(url: str, shot: Path | None = None, height: int = 1100) -> str:
    """The DOM after the page's scripts ran (3 s of virtual time), and optionally a screenshot."""
    base = [chromium(), "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--hide-scrollbars", f"--window-size=1280,{height}", "--virtual-time-budget=4000"]
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


# ---- a realistic incident -------------------------------------------------------------------------------------------
NEG = ["{t} support kept me on hold for an hour, useless and rude", "{t} app crashed again this morning, frustrating",
       "not happy with the {t} update, the battery is worse", "{t} delivery was late and the box was damaged"]
NEU = ["{t} earnings call is scheduled for Thursday", "anyone know when {t} opens the new store?",
       "{t} annual meeting is on Friday at 10", "reading the {t} quarterly report tonight",
       "{t} is hosting a developer event next month"]
POS = ["really happy with my new {t} headphones, great sound", "{t} customer service was excellent today",
       "love the new {t} design, nice work", "{t} dividend raise, good news for holders"]
RECALL = ["{t} recall: brakes fail on the new e-scooter, this is terrible",
          "furious about the {t} scooter recall, awful handling of the brakes issue",
          "{t} recalls 200k scooters over faulty brakes. Horrible.",
          "my kid's {t} scooter brakes failed yesterday, scary and unacceptable",
          "dumping {t} after the brakes recall, worst management ever",
          "the {t} recall hotline is a disaster, nobody answers"]
OUTAGE = ["{t} cloud outage again, angry customers everywhere", "{t} is down for 3 hours, terrible reliability",
          "another {t} outage, our whole team is stuck, awful",
          "{t} status page says all good while everything is broken, ridiculous"]
# topic: (posts per minute, story of its spike, spike minutes)
TOPICS = {"$AAPL": (40, None, ()), "$ACME": (28, RECALL, range(10, 15)), "$TSLA": (12, None, ()),
          "$NOVA": (10, OUTAGE, range(22, 27)), "#earnings": (4, None, ())}
LAST_MINUTE = 26


def realistic_stream(seed: int = 7) -> list[tuple[str, bytes]]:
    """27 minutes of five topics (about 15 % negative), a recall story on $ACME (minutes 10-14, resolved after) and
    an outage on $NOVA up to the last closed window (still firing); two hashtags seen only 50 minutes before the
    stream (quiet topics); one post far enough ahead to close minute 26, not 27 (no empty window resolves $NOVA)."""
    rng = random.Random(seed)
    posts = []
    for minute in range(LAST_MINUTE + 1):
        for tag, (base, story, spike) in TOPICS.items():  # volume drifts, and rises with the story
            per_min = round(base * rng.uniform(0.7, 1.3) * (1.8 if minute in spike else 1.0))
            for j in range(per_min):
                if minute in spike and rng.random() < 0.85:
                    pool = story
                else:
                    pool = rng.choices([NEG, NEU, POS], weights=[15, 50, 35])[0]
                posts.append({"id": f"{tag[1:]}-{minute:02d}-{j:02d}", "source": rng.choice(["bluesky", "mastodon"]),
                              "created_at": BASE_MS + minute * 60_000 + j * 60_000 // per_min + rng.randrange(500),
                              "text": rng.choice(pool).format(t=tag)})
    for k, tag in enumerate(("#afl", "#oldnews")):
        posts += [{"id": f"old-{k}-{j}", "source": "mastodon", "created_at": BASE_MS - 50 * 60_000 + j * 7_000,
                   "text": f"{tag} {rng.choice(NEU).format(t='the club')}"} for j in range(3)]
    posts.append({"id": "closer-27", "created_at": BASE_MS + (LAST_MINUTE + 1) * 60_000 + 30_000, "text": "x",
                  "topics": ["zz-closer"]})
    posts.sort(key=lambda p: p["created_at"])
    return [(p["id"], json.dumps(p).encode()) for p in posts]


@contextmanager
def ui_process(s, port: int, log: Path):  # noqa: ANN001, ANN201
    env = {**os.environ, "MONITOR_BOOTSTRAP_SERVERS": s.bootstrap_servers, "MONITOR_TOPIC_WINDOWS": s.topic_windows,
           "MONITOR_TOPIC_ALERTS": s.topic_alerts, "MONITOR_TOPIC_SCORED": s.topic_scored}
    ui = subprocess.Popen([sys.executable, "-m", "monitor.cli", "ui", "--port", str(port)], env=env,
                          stdout=subprocess.DEVNULL, stderr=open(log, "wb"))  # noqa: SIM115
    try:
        yield ui
    finally:
        ui.terminate()
        ui.wait(10)


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:  # noqa: S310
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except OSError:
        return 0, ""


def test_live_and_incident_pages_of_a_realistic_incident(stream_settings, workers, tmp_path):
    s = stream_settings
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    w = workers(s, env_extra={"MONITOR_DETECT_WARMUP_WINDOWS": "5", "MONITOR_UI_BASE_URL": base})
    produce_raw(s.bootstrap_servers, s.topic_raw, realistic_stream())

    def alerts() -> dict:
        return {(r["value"]["topic"], r["value"]["status"]): r["value"]
                for r in read_all(s.bootstrap_servers, s.topic_alerts)}

    got = wait_until(lambda: (a := alerts()) and ("ACME", "resolved") in a and ("NOVA", "firing") in a and a, 180)
    assert got and ("NOVA", "resolved") not in got, f"alerts {sorted(got or {})} (log: {w.log})"
    acme, nova = got[("ACME", "resolved")], got[("NOVA", "firing")]
    with ui_process(s, port, tmp_path / "ui.log"):
        def ready() -> bool:
            status, body = fetch(f"{base}/api/topics")
            return status == 200 and '"NOVA"' in body and '"AAPL"' in body and "afl" in body and \
                "ACME recall" in fetch(acme["incident_url"])[1]

        assert wait_until(ready, 60), (tmp_path / "ui.log").read_text()[-2000:]
        shots = Path(os.environ.get("MONITOR_UI_SCREENSHOTS", tmp_path))
        shots.mkdir(parents=True, exist_ok=True)
        live = browse(f"{base}/", shots / "live-page.png", height=900)
        check_live_page(live)
        page = browse(acme["incident_url"], shots / "incident-page.png", height=1600)
        check_incident_page(page, base)
        assert "so far" in fetch(nova["incident_url"])[1]  # still firing: its duration runs to now
        index = fetch(f"{base}/incidents")[1]
        assert index.index(f"/incidents/{nova['fingerprint']}") < index.index(f"/incidents/{acme['fingerprint']}")
        assert acme["fingerprint"] not in fetch(f"{base}/incidents?topic=NOVA")[1]
    for shot in ("live-page.png", "incident-page.png"):
        assert 10_000 < (shots / shot).stat().st_size < 300_000, shot


def check_live_page(dom: str) -> None:
    """After the page's script ran: the firing topic first, then by volume; the quiet hashtags folded; the recent
    alert state changes (refreshed by the script) above the table."""
    shown = re.search(r'data-alerts="(\d+)"', dom)  # set by the script: NOVA firing, ACME firing and resolved
    assert 'data-refreshed="' in dom and shown and int(shown.group(1)) >= 3, dom[:400]
    recent = dom.split('id="alerts"', 1)[1].split("</ul>", 1)[0]
    assert ">NOVA</a>" in recent and ">ACME</a>" in recent
    table = dom.split('<table id="topics"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'<th scope="row">([^<]+)</th>', table)
    assert rows[:3] == ["NOVA", "AAPL", "ACME"], rows
    assert 'class="firing" href="/incidents/' in table.split("</tr>", 2)[1]  # the first body row is firing
    quiet = dom.split('<details id="quiet"', 1)[1].split("</details>", 1)[0]
    assert re.search(r'quiet-count">2<', quiet) and ">afl<" in quiet and ">oldnews<" in quiet
    assert dom.index('id="alerts"') < dom.index('<table id="topics"')


def check_incident_page(dom: str, base: str) -> None:
    """Peak, duration, posts involved, a time axis with at least 3 ticks, top posts, a runbook link that works."""
    facts = dict(re.findall(r'<dd id="fact-([a-z]+)">([^<]*)</dd>', dom))
    assert re.fullmatch(r"\d+%", facts["peak"]) and int(facts["peak"][:-1]) >= 60, facts
    assert re.fullmatch(r"\d+ min", facts["duration"]) and facts["status"] == "resolved", facts
    assert re.fullmatch(r"\d+ negative of \d+ posts in \d+ windows", facts["posts"]), facts
    assert re.fullmatch(r"\d+%", facts["observed"]) and facts["evidence"].startswith("p ≈ "), facts
    ticks = re.findall(r'<text class="tick"[^>]*>(\d\d:\d\d)</text>', dom)
    assert len(ticks) >= 3 and "posts/window" in dom, ticks
    posts = dom.split('<table id="posts"', 1)[1].split("</table>", 1)[0]
    assert posts.count("<tr>") >= 4 and "recall" in posts and "OCR" not in posts  # no OCR column: none had any
    terms = dom.split('<ol id="terms">', 1)[1].split("</ol>", 1)[0]
    assert re.findall(r"<li>(\w+)", terms)[0] in ("recall", "brakes", "scooter", "recalls"), terms
    link = re.search(r'id="link-runbook" href="([^"]+)"', dom)
    assert link and link.group(1) == "/runbooks/negative-rate"
    status, body = fetch(base + link.group(1))
    assert status == 200 and "Runbook: negative-rate alert" in body
